ALTER TABLE account_quota_pattern DROP COLUMN resets_at;
ALTER TABLE account_quota_pattern DROP COLUMN used_percent;
ALTER TABLE account_quota_pattern DROP COLUMN remaining;
ALTER TABLE account_quota_pattern DROP COLUMN limit_window;
