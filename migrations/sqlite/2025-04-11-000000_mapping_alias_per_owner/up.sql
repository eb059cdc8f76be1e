-- A model alias is unique per owner, not across every user: each user has their own
-- namespace of aliases, and the global ones (owner NULL, created by admins) have theirs.
-- A request resolves its key owner's alias first, then the global one. Two partial
-- indexes, because a unique (owner_id, alias) alone would let NULL owners repeat.
-- SQLite cannot drop a table constraint, so the table is rebuilt without it (no other
-- table references model_mappings). Keep in step with migrations/postgres.
CREATE TABLE model_mappings_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alias       TEXT NOT NULL,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    model_name  TEXT NOT NULL,
    description TEXT,
    enabled     BOOLEAN NOT NULL DEFAULT 1,
    priority    INTEGER NOT NULL DEFAULT 0,
    owner_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
);
INSERT INTO model_mappings_new
    (id, alias, provider_id, model_name, description, enabled, priority, owner_id,
     created_at, updated_at)
SELECT id, alias, provider_id, model_name, description, enabled, priority, owner_id,
       created_at, updated_at
FROM model_mappings;
DROP TABLE model_mappings;
ALTER TABLE model_mappings_new RENAME TO model_mappings;
CREATE INDEX idx_model_mappings_owner_id ON model_mappings (owner_id);
CREATE INDEX idx_model_mappings_provider_id ON model_mappings (provider_id);
CREATE UNIQUE INDEX model_mappings_owner_alias_key
    ON model_mappings (owner_id, alias) WHERE owner_id IS NOT NULL;
CREATE UNIQUE INDEX model_mappings_global_alias_key
    ON model_mappings (alias) WHERE owner_id IS NULL;
