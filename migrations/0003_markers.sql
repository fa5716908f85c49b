-- Cutting markers: the pieces of several orders of one factory nested on one fabric. The layout
-- (fabric snapshot and every placement) is JSON; the link table lets an order sit in at most one
-- marker, so a retried or concurrent planning can never plan an order twice.
CREATE TABLE markers (
    id TEXT PRIMARY KEY,
    factory_tenant_id TEXT NOT NULL REFERENCES tenants(id),
    fabric TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('ready', 'claimed')),
    roll_width_mm DOUBLE PRECISION NOT NULL,
    length_mm DOUBLE PRECISION NOT NULL,
    density DOUBLE PRECISION NOT NULL,
    layout TEXT NOT NULL,
    claimed_by TEXT,
    claimed_at BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX markers_by_factory ON markers (factory_tenant_id, state, created_at);

CREATE TABLE marker_orders (
    marker_id TEXT NOT NULL REFERENCES markers(id),
    order_id TEXT NOT NULL REFERENCES orders(id) UNIQUE,
    PRIMARY KEY (marker_id, order_id)
);
