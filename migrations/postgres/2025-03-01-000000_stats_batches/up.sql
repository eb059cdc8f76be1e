-- One row per stats batch stage committed: the stats writer writes it in the same
-- transaction as the stage's rows (request logs, proxy-stats sums, account usage), and a
-- stage whose row exists is not written again. So a batch retried after a commit that was
-- reported as failed but had in fact succeeded is counted once. A stage is `logs`,
-- `proxy_stats` or `account_usage`, or one part of a split stage (`logs/17`,
-- `proxy_stats/3/openai/2025-03-01`). Rows older than a day are deleted by the writer.
CREATE TABLE stats_batches (
    batch_id   UUID NOT NULL,
    stage      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (batch_id, stage)
);
CREATE INDEX idx_stats_batches_created_at ON stats_batches (created_at);
