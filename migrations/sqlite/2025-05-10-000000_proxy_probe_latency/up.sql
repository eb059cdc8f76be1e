-- The latency of a proxy's last health probe (TCP connect, tunnel handshake and, for an
-- https probe target, TLS): NULL until a probe succeeds, and again after one fails.
ALTER TABLE proxy_pool ADD COLUMN last_latency_ms BIGINT;
