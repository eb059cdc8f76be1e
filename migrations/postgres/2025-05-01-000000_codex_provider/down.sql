-- Codex accounts go back to the `openai` provider they came from.
UPDATE accounts SET provider_id = 'openai'
    WHERE provider_id IN (SELECT id FROM providers WHERE kind = 'codex');
DELETE FROM model_mappings WHERE provider_id IN (SELECT id FROM providers WHERE kind = 'codex');
DELETE FROM providers WHERE kind = 'codex';
ALTER TABLE providers DROP CONSTRAINT providers_kind_check;
ALTER TABLE providers ADD CONSTRAINT providers_kind_check
    CHECK (kind IN ('openai', 'anthropic', 'gemini', 'antigravity'));
