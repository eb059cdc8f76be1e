-- The `codex` provider kind: the ChatGPT Codex backend, for ChatGPT-plan OAuth accounts.
-- Accounts of the `openai` provider that hold a ChatGPT OAuth grant move to the built-in
-- `codex` provider at the next start (`crates/aigw-services/src/runtime.rs`): their
-- credentials are sealed at rest, so only the gateway, holding the key, can tell them
-- apart. Keep in step with migrations/sqlite.
ALTER TABLE providers DROP CONSTRAINT providers_kind_check;
ALTER TABLE providers ADD CONSTRAINT providers_kind_check
    CHECK (kind IN ('openai', 'anthropic', 'gemini', 'antigravity', 'codex'));
