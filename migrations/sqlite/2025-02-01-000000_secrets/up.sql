-- Proxy credentials encrypted at rest: when the gateway holds a secret key, `url` keeps
-- the proxy URL without its `user:password` and `credentials` holds them sealed
-- (AES-256-GCM, `aigw1:<key id>:<base64>`). NULL means the proxy has no credentials, or a
-- row written in clear before encryption (its `url` still carries them).
-- Account credentials need no column: a sealed `accounts.auth_data` is a JSON string.
ALTER TABLE proxy_pool ADD COLUMN credentials TEXT;
