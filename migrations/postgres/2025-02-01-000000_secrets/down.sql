-- Drops the sealed proxy credentials: those proxies lose their user and password.
ALTER TABLE proxy_pool DROP COLUMN credentials;
