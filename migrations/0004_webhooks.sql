-- Webhooks: a shop's endpoints, and the outbox of order events to deliver to them. An outbox
-- row is written in the same transaction as the state change it reports, so no change goes
-- untold and no rolled-back change is told; delivery is at least once, retried with backoff.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX webhooks_by_tenant ON webhooks (tenant_id);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id),
    body TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL
);

CREATE INDEX outbox_due ON outbox (delivered_at, next_attempt_at);
