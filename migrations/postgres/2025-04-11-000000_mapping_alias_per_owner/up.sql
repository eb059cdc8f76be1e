-- A model alias is unique per owner, not across every user: each user has their own
-- namespace of aliases, and the global ones (owner NULL, created by admins) have theirs.
-- A request resolves its key owner's alias first, then the global one. Two partial
-- indexes, because a unique (owner_id, alias) alone would let NULL owners repeat.
-- Keep in step with migrations/sqlite.
ALTER TABLE model_mappings DROP CONSTRAINT model_mappings_alias_key;
CREATE UNIQUE INDEX model_mappings_owner_alias_key
    ON model_mappings (owner_id, alias) WHERE owner_id IS NOT NULL;
CREATE UNIQUE INDEX model_mappings_global_alias_key
    ON model_mappings (alias) WHERE owner_id IS NULL;
