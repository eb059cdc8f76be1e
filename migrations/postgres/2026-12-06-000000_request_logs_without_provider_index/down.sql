CREATE INDEX idx_request_logs_provider_created ON request_logs (provider_id, created_at);
