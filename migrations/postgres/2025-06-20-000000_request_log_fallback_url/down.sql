ALTER TABLE request_logs DROP COLUMN fallback_base_url;
