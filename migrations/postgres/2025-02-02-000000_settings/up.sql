-- Gateway-wide settings the instances share, e.g. the JWT signing secret generated
-- on first start. Values are written once (insert-if-absent) so concurrent
-- first starts agree on one value.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
