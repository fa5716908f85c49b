-- Marker plans that run in the background (`Prefer: respond-async`): what was asked, how far the
-- search has got, and how it ended. The instance running a plan refreshes `heartbeat_at` every
-- few seconds; a queued or running plan whose heartbeat stopped is reported interrupted (its
-- instance stopped); an instance shutting down marks the plans it leaves waiting interrupted. A plan touches its orders only when it stores its marker, so the orders of
-- an interrupted plan are still waiting and can be planned again. `stop_requested_at` is set when
-- the factory asks the plan to end early and keep its best marker so far; the instance running
-- it reads the request with its next heartbeat.
CREATE TABLE marker_plans (
    id TEXT PRIMARY KEY,
    factory_tenant_id TEXT NOT NULL REFERENCES tenants(id),
    fabric TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'interrupted')),
    order_ids TEXT NOT NULL,
    time_limit_secs DOUBLE PRECISION NOT NULL,
    elapsed_secs DOUBLE PRECISION NOT NULL,
    best_length_mm DOUBLE PRECISION,
    best_density DOUBLE PRECISION,
    marker_id TEXT REFERENCES markers(id),
    outcome TEXT,
    stop_requested_at BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

CREATE INDEX marker_plans_by_factory ON marker_plans (factory_tenant_id, created_at);
