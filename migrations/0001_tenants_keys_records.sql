-- Tenants, their API keys (only a hash of each key is stored) and saved measurement records.
-- Portable SQL: it runs unchanged on SQLite and PostgreSQL. Times are Unix milliseconds.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    role TEXT NOT NULL CHECK (role IN ('shop', 'counter', 'factory', 'admin')),
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE measurement_records (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    customer_ref TEXT NOT NULL,
    source TEXT NOT NULL,
    measurements TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX measurement_records_by_tenant ON measurement_records (tenant_id, created_at);
