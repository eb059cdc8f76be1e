DROP INDEX model_mappings_global_alias_key;
DROP INDEX model_mappings_owner_alias_key;
ALTER TABLE model_mappings ADD CONSTRAINT model_mappings_alias_key UNIQUE (alias);
