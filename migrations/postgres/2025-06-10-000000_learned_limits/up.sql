-- What the upstream states about an account's binding limit window, learnt from its
-- rate-limit and subscription headers and quota errors by the stats writer: the window's
-- name, what is left of it, the share used, and when it resets. Keep in step with
-- migrations/sqlite.
ALTER TABLE account_quota_pattern ADD COLUMN limit_window TEXT;
ALTER TABLE account_quota_pattern ADD COLUMN remaining BIGINT;
ALTER TABLE account_quota_pattern ADD COLUMN used_percent DOUBLE PRECISION;
ALTER TABLE account_quota_pattern ADD COLUMN resets_at TIMESTAMPTZ;
