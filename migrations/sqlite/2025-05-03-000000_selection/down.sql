ALTER TABLE accounts DROP COLUMN weight;
ALTER TABLE providers DROP COLUMN session_affinity;
ALTER TABLE providers DROP COLUMN selection_strategy;
