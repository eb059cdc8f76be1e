-- The `codex` provider kind: the ChatGPT Codex backend, for ChatGPT-plan OAuth accounts.
-- Accounts of the `openai` provider that hold a ChatGPT OAuth grant move to the built-in
-- `codex` provider at the next start (`crates/aigw-services/src/runtime.rs`): their
-- credentials are sealed at rest, so only the gateway, holding the key, can tell them
-- apart. Keep in step with migrations/postgres.
--
-- SQLite cannot change a CHECK constraint, so the table is rebuilt. Accounts and model
-- mappings reference it: their foreign keys are checked at commit, when `providers`
-- exists again with every row.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE providers_new (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    kind                 TEXT NOT NULL
        CHECK (kind IN ('openai', 'anthropic', 'gemini', 'antigravity', 'codex')),
    base_url             TEXT NOT NULL,
    fallback_base_urls   TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(fallback_base_urls)),
    supported_auth_types TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(supported_auth_types)),
    models               TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(models)),
    is_active            BOOLEAN NOT NULL DEFAULT 1,
    is_builtin           BOOLEAN NOT NULL DEFAULT 0,
    config               TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config)),
    created_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    credentials          TEXT
);
INSERT INTO providers_new
    (id, name, kind, base_url, fallback_base_urls, supported_auth_types, models, is_active,
     is_builtin, config, created_at, updated_at, credentials)
SELECT id, name, kind, base_url, fallback_base_urls, supported_auth_types, models, is_active,
       is_builtin, config, created_at, updated_at, credentials
FROM providers;
DROP TABLE providers;
ALTER TABLE providers_new RENAME TO providers;
