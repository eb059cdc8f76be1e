-- The aigateway schema on SQLite. Timestamps are UTC RFC 3339 text with microseconds
-- (fixed width, so text order is time order; the column defaults write the same form),
-- JSON is text (checked with json_valid), UUIDs are hyphenated text.
-- Keep in step with migrations/postgres: one diesel schema serves both.

CREATE TABLE providers (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    kind                 TEXT NOT NULL CHECK (kind IN ('openai', 'anthropic', 'gemini', 'antigravity')),
    base_url             TEXT NOT NULL,
    fallback_base_urls   TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(fallback_base_urls)),
    supported_auth_types TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(supported_auth_types)),
    models               TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(models)),
    is_active            BOOLEAN NOT NULL DEFAULT 1,
    is_builtin           BOOLEAN NOT NULL DEFAULT 0,
    config               TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config)),
    created_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
);

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    username          TEXT NOT NULL,
    password_hash     TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('admin', 'user', 'provider')),
    access_key_hash   TEXT,
    access_key_prefix TEXT,
    is_active         BOOLEAN NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_access_key_hash_key UNIQUE (access_key_hash)
);

CREATE TABLE proxy_pool (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    url                  TEXT NOT NULL,
    protocol             TEXT NOT NULL DEFAULT 'http' CHECK (protocol IN ('http', 'https', 'socks5')),
    is_active            BOOLEAN NOT NULL DEFAULT 1,
    health_status        TEXT NOT NULL DEFAULT 'healthy' CHECK (health_status IN ('healthy', 'degraded', 'down')),
    max_accounts         BIGINT NOT NULL DEFAULT 0,
    current_accounts     BIGINT NOT NULL DEFAULT 0,
    last_used_at         TEXT,
    usage_count          BIGINT NOT NULL DEFAULT 0,
    priority             INTEGER NOT NULL DEFAULT 0,
    weight               INTEGER NOT NULL DEFAULT 1,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    max_failures         INTEGER NOT NULL DEFAULT 3,
    success_rate         REAL NOT NULL DEFAULT 100,
    avg_latency_ms       BIGINT NOT NULL DEFAULT 0,
    last_checked_at      TEXT,
    marked_down_at       TEXT,
    created_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    CONSTRAINT proxy_pool_url_key UNIQUE (url)
);
CREATE INDEX idx_proxy_pool_active_health ON proxy_pool (is_active, health_status);
CREATE INDEX idx_proxy_pool_priority ON proxy_pool (priority DESC, current_accounts);
CREATE INDEX idx_proxy_pool_marked_down_at ON proxy_pool (marked_down_at);

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    provider_id     TEXT NOT NULL REFERENCES providers (id),
    label           TEXT NOT NULL,
    auth_data       TEXT NOT NULL CHECK (json_valid(auth_data)),
    metadata        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    is_active       BOOLEAN NOT NULL DEFAULT 1,
    proxy_id        BIGINT REFERENCES proxy_pool (id) ON DELETE SET NULL,
    expires_at      TEXT,
    last_used_at    TEXT,
    usage_count     BIGINT NOT NULL DEFAULT 0,
    health_status   TEXT NOT NULL DEFAULT 'healthy' CHECK (health_status IN ('healthy', 'degraded', 'down')),
    failure_count   BIGINT NOT NULL DEFAULT 0,
    last_error_at   TEXT,
    last_error_msg  TEXT,
    last_success_at TEXT,
    created_by      TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
);
CREATE INDEX idx_accounts_provider_active ON accounts (provider_id, is_active);
CREATE INDEX idx_accounts_label ON accounts (label);
CREATE INDEX idx_accounts_proxy_id ON accounts (proxy_id);
CREATE INDEX idx_accounts_expires_at ON accounts (expires_at);
CREATE INDEX idx_accounts_health_status ON accounts (health_status);
CREATE INDEX idx_accounts_created_by ON accounts (created_by);

-- One row per (proxy, provider, UTC day). provider_id is '' for unattributed traffic so the
-- unique key holds (NULLs would never conflict) and the upsert can target it.
CREATE TABLE proxy_stats (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    proxy_id         BIGINT NOT NULL REFERENCES proxy_pool (id) ON DELETE CASCADE,
    provider_id      TEXT NOT NULL DEFAULT '',
    date             TEXT NOT NULL,
    request_count    BIGINT NOT NULL DEFAULT 0,
    success_count    BIGINT NOT NULL DEFAULT 0,
    error_count      BIGINT NOT NULL DEFAULT 0,
    total_latency_ms BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT proxy_stats_proxy_provider_date_key UNIQUE (proxy_id, provider_id, date)
);
CREATE INDEX idx_proxy_stats_date ON proxy_stats (date);

-- Request logs are history: no foreign keys, so deleting an account or key keeps its logs
-- and batch inserts do no lookups.
CREATE TABLE request_logs (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at               TEXT NOT NULL,
    request_id               TEXT NOT NULL,
    api_key_id               TEXT,
    provider_id              TEXT,
    model                    TEXT,
    upstream_model           TEXT,
    account_id               TEXT,
    proxy_id                 BIGINT,
    status_code              INTEGER NOT NULL,
    latency_ms               BIGINT NOT NULL,
    ttfb_ms                  BIGINT,
    input_tokens             BIGINT,
    output_tokens            BIGINT,
    cached_tokens            BIGINT,
    attempt                  INTEGER NOT NULL DEFAULT 1,
    switched_from_account_id TEXT,
    stream                   BOOLEAN NOT NULL DEFAULT 0,
    error_kind               TEXT,
    error_message            TEXT
);
CREATE INDEX idx_request_logs_created_at ON request_logs (created_at);
CREATE INDEX idx_request_logs_provider_created ON request_logs (provider_id, created_at);
CREATE INDEX idx_request_logs_account_created ON request_logs (account_id, created_at);

CREATE TABLE model_mappings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alias       TEXT NOT NULL,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    model_name  TEXT NOT NULL,
    description TEXT,
    enabled     BOOLEAN NOT NULL DEFAULT 1,
    priority    INTEGER NOT NULL DEFAULT 0,
    owner_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    CONSTRAINT model_mappings_alias_key UNIQUE (alias)
);
CREATE INDEX idx_model_mappings_owner_id ON model_mappings (owner_id);
CREATE INDEX idx_model_mappings_provider_id ON model_mappings (provider_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash     TEXT NOT NULL,
    key_prefix   TEXT NOT NULL,
    label        TEXT,
    is_active    BOOLEAN NOT NULL DEFAULT 1,
    last_used_at TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX idx_api_keys_user_id ON api_keys (user_id);

CREATE TABLE account_quota_pattern (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    model             TEXT NOT NULL,
    est_request_limit BIGINT,
    est_token_limit   BIGINT,
    confidence        REAL NOT NULL DEFAULT 0,
    sample_count      BIGINT NOT NULL DEFAULT 0,
    last_exhausted_at TEXT,
    last_reset_at     TEXT,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    CONSTRAINT account_quota_pattern_account_model_key UNIQUE (account_id, model)
);
