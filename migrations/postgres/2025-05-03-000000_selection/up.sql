-- How a provider picks each request's account (`round_robin`, `fill_first` or
-- `weighted`), whether a conversation keeps the account of its previous turn, and
-- each account's weight under the `weighted` strategy.
ALTER TABLE providers ADD COLUMN selection_strategy TEXT NOT NULL DEFAULT 'round_robin';
ALTER TABLE providers ADD COLUMN session_affinity BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN weight INTEGER NOT NULL DEFAULT 1;
