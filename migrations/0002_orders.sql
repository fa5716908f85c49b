-- Manufacturing orders and their state history. An order snapshots the measurements it was placed
-- with, so later edits of a measurement record never change what is cut.
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    factory_tenant_id TEXT NOT NULL REFERENCES tenants(id),
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    customer_ref TEXT NOT NULL,
    garment TEXT NOT NULL,
    options TEXT NOT NULL,
    measurements TEXT NOT NULL,
    measurement_record_id TEXT,
    fabric TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    due_date TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, idempotency_key)
);

CREATE INDEX orders_by_tenant ON orders (tenant_id, created_at);
CREATE INDEX orders_by_factory ON orders (factory_tenant_id, state);

CREATE TABLE order_events (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders(id),
    seq BIGINT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    at BIGINT NOT NULL,
    UNIQUE (order_id, seq)
);
