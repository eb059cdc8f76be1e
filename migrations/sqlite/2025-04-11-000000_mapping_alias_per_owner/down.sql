CREATE TABLE model_mappings_old (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alias       TEXT NOT NULL,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    model_name  TEXT NOT NULL,
    description TEXT,
    enabled     BOOLEAN NOT NULL DEFAULT 1,
    priority    INTEGER NOT NULL DEFAULT 0,
    owner_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    CONSTRAINT model_mappings_alias_key UNIQUE (alias)
);
INSERT INTO model_mappings_old
    (id, alias, provider_id, model_name, description, enabled, priority, owner_id,
     created_at, updated_at)
SELECT id, alias, provider_id, model_name, description, enabled, priority, owner_id,
       created_at, updated_at
FROM model_mappings;
DROP TABLE model_mappings;
ALTER TABLE model_mappings_old RENAME TO model_mappings;
CREATE INDEX idx_model_mappings_owner_id ON model_mappings (owner_id);
CREATE INDEX idx_model_mappings_provider_id ON model_mappings (provider_id);
