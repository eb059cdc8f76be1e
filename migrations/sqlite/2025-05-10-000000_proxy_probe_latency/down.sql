ALTER TABLE proxy_pool DROP COLUMN last_latency_ms;
