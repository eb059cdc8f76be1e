-- The generation of a user's session tokens: every token carries the value it was
-- issued under, and a token whose value is not the stored one is refused. Changing the
-- password, the role or disabling the user raises it, which signs out every session
-- issued before, on every instance at once (each management request reads the user row).
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
