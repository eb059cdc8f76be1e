-- The fallback base URL that served a request (without credentials); NULL when the
-- provider's primary base URL did, so the common row carries nothing more.
ALTER TABLE request_logs ADD COLUMN fallback_base_url TEXT;
