-- Credentials in a provider's base URL (`https://user:password@host/v1`, as some
-- OpenAI-compatible upstreams behind basic auth need) are encrypted at rest like proxy
-- credentials: when the gateway holds a secret key, `base_url` keeps the URL without its
-- `user:password` and `credentials` holds them sealed (`aigw1:<key id>:<base64>`). NULL
-- means no credentials, or a row written in clear before encryption.
ALTER TABLE providers ADD COLUMN credentials TEXT;
