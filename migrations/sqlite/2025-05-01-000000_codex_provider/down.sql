PRAGMA defer_foreign_keys = ON;
-- Codex accounts go back to the `openai` provider they came from.
UPDATE accounts SET provider_id = 'openai'
    WHERE provider_id IN (SELECT id FROM providers WHERE kind = 'codex');
DELETE FROM model_mappings WHERE provider_id IN (SELECT id FROM providers WHERE kind = 'codex');
DELETE FROM providers WHERE kind = 'codex';
CREATE TABLE providers_old (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    kind                 TEXT NOT NULL CHECK (kind IN ('openai', 'anthropic', 'gemini', 'antigravity')),
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
INSERT INTO providers_old SELECT * FROM providers;
DROP TABLE providers;
ALTER TABLE providers_old RENAME TO providers;
