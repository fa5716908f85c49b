//! Marker plans that run in the background: the factory gets the plan's id at once and follows
//! it (queued, running with the best marker so far, then done with the stored marker or failed
//! with the reason), so a search may take longer than one request may wait.
//!
//! A plan's row is all that any instance needs to answer for it: the instance running the plan
//! writes its progress and a heartbeat every [`HEARTBEAT`]; a queued or running plan whose
//! heartbeat is older than [`STALE_AFTER_MS`] belonged to an instance that stopped and reads
//! as interrupted. Its orders were never touched (a plan moves them only when it stores its
//! marker, see [`super::markers::record`]), so they can be planned again.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use super::markers::{Batch, Marker, Planned, Skipped};
use super::Error;
use crate::nest;
use crate::store::{get as column, new_id, now_ms, Store, TenantId};

/// How often the instance running a plan writes its progress.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A queued or running plan not heard from for this long is interrupted: several heartbeats
/// missed, so a busy database does not make a live plan look dead.
pub const STALE_AFTER_MS: i64 = 15_000;

/// Where a plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanState {
    /// Waiting for the instance's planning lane.
    Queued,
    /// Nesting; `best_density` and `best_length_mm` follow the best marker so far.
    Running,
    /// Stored: `marker_id` names the marker and its orders are planned.
    Done,
    /// Ended without a marker; `error` says why and nothing was stored.
    Failed,
    /// The instance running it stopped, or shut down before its turn; nothing was stored; plan
    /// again.
    Interrupted,
}

impl PlanState {
    /// Lowercase name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Done,
            Self::Failed,
            Self::Interrupted,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for PlanState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a plan failed, kept in the kind of [`Error`] a synchronous plan would have returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PlanFailure {
    /// A value of the request cannot be planned (e.g. a piece wider than the roll).
    Invalid {
        /// The field at fault.
        field: String,
        /// Why.
        message: String,
    },
    /// An order changed while the marker was nested.
    Conflict {
        /// What changed.
        message: String,
    },
    /// A failure of ours.
    Internal {
        /// What failed (logged, not shown to the caller).
        message: String,
    },
}

impl From<&Error> for PlanFailure {
    fn from(e: &Error) -> Self {
        match e {
            Error::Invalid { field, message } => Self::Invalid {
                field: field.clone(),
                message: message.clone(),
            },
            Error::Conflict(m) => Self::Conflict { message: m.clone() },
            other => Self::Internal {
                message: other.to_string(),
            },
        }
    }
}

/// A marker plan and how far it has got.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Plan {
    /// Plan id.
    pub id: String,
    /// Fabric planned.
    pub fabric: String,
    /// Queued, running, done, failed or interrupted.
    pub state: PlanState,
    /// The orders it nests (as read when the plan was asked for).
    pub order_ids: Vec<String>,
    /// Nesting time it has (s).
    pub time_limit_secs: f64,
    /// Nesting time spent so far (s).
    pub elapsed_secs: f64,
    /// Used roll length of the best marker so far (mm), once there is one.
    pub best_length_mm: Option<f64>,
    /// Density of the best marker so far (0-1), once there is one.
    pub best_density: Option<f64>,
    /// The stored marker, once done.
    pub marker_id: Option<String>,
    /// Orders left out of the marker because they no longer draft.
    pub skipped: Vec<Skipped>,
    /// Why it failed.
    #[serde(skip)]
    pub failure: Option<PlanFailure>,
    /// The factory asked it to end early and keep its best marker so far.
    pub stop_requested: bool,
    /// Who asked for it (`tenant/role`).
    pub created_by: String,
    /// When it was asked for, Unix milliseconds.
    pub created_at: i64,
    /// Last word from the instance running it, Unix milliseconds.
    pub heartbeat_at: i64,
}

/// How a plan ended, as kept in its `outcome` column.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Done { skipped: Vec<Skipped> },
    Failed(PlanFailure),
}

/// Records a new queued plan of `batch` (already checked and read by
/// [`super::markers::gather`]).
pub async fn open(
    store: &Store,
    factory: &TenantId,
    actor: &str,
    batch: &Batch,
) -> Result<Plan, Error> {
    let id = new_id();
    let order_ids: Vec<&str> = batch.orders.iter().map(|o| o.id.as_str()).collect();
    let order_ids = serde_json::to_string(&order_ids)
        .map_err(|e| Error::Internal(format!("plan orders: {e}")))?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO marker_plans (id, factory_tenant_id, fabric, state, order_ids, time_limit_secs, elapsed_secs, created_by, created_at, heartbeat_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(&factory.0)
    .bind(&batch.fabric.id)
    .bind(PlanState::Queued.as_str())
    .bind(&order_ids)
    .bind(batch.time_limit_secs)
    .bind(0.0f64)
    .bind(actor)
    .bind(now)
    .bind(now)
    .execute(store.pool())
    .await?;
    plan(store, factory, &id).await
}

/// Heartbeat of a queued or running plan, with the search's progress once it runs. True when the
/// factory has asked the plan to stop.
pub async fn beat(
    store: &Store,
    id: &str,
    state: PlanState,
    progress: Option<&nest::Progress>,
) -> Result<bool, Error> {
    let best = progress.filter(|p| p.best_length > 0.0);
    let row = sqlx::query(
        "UPDATE marker_plans SET state = $1, elapsed_secs = $2, best_length_mm = $3, best_density = $4, heartbeat_at = $5 \
         WHERE id = $6 AND state IN ('queued', 'running') RETURNING stop_requested_at",
    )
    .bind(state.as_str())
    .bind(progress.map_or(0.0, |p| p.elapsed.as_secs_f64()))
    .bind(best.map(|p| p.best_length))
    .bind(best.map(|p| p.best_density))
    .bind(now_ms())
    .bind(id)
    .fetch_optional(store.pool())
    .await?;
    Ok(match row {
        Some(row) => column::<Option<i64>>(&row, "stop_requested_at")?.is_some(),
        None => false,
    })
}

/// Asks one of `factory`'s queued or running plans to end early and store the best marker it has
/// found (a queued one, once its turn comes, stores its first marker). The instance running it
/// hears of this with its next heartbeat. A plan that has ended is a conflict.
pub async fn request_stop(store: &Store, factory: &TenantId, id: &str) -> Result<Plan, Error> {
    let current = plan(store, factory, id).await?;
    if !matches!(current.state, PlanState::Queued | PlanState::Running) {
        return Err(Error::Conflict(format!(
            "marker plan {id} is {}; only a queued or running plan can be stopped",
            current.state
        )));
    }
    sqlx::query(
        "UPDATE marker_plans SET stop_requested_at = COALESCE(stop_requested_at, $1) \
         WHERE id = $2 AND factory_tenant_id = $3",
    )
    .bind(now_ms())
    .bind(id)
    .bind(&factory.0)
    .execute(store.pool())
    .await?;
    plan(store, factory, id).await
}

/// Stores a background plan's marker and marks the plan done, in one transaction (see
/// [`super::markers::record`] for what storing a marker does and when it is a conflict).
pub async fn complete(
    store: &Store,
    factory: &TenantId,
    actor: &str,
    id: &str,
    planned: &Planned,
) -> Result<Marker, Error> {
    super::markers::store_marker(store, factory, actor, planned, Some(id)).await
}

/// Marks plan `id` done with marker `marker_id`, inside the transaction that stores the marker.
pub(super) async fn done(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
    marker_id: &str,
    planned: &Planned,
) -> Result<(), Error> {
    let outcome = Outcome::Done {
        skipped: planned.skipped.clone(),
    };
    let outcome = serde_json::to_string(&outcome)
        .map_err(|e| Error::Internal(format!("plan outcome: {e}")))?;
    sqlx::query(
        "UPDATE marker_plans SET state = $1, outcome = $2, heartbeat_at = $3, marker_id = $4, \
         best_length_mm = $5, best_density = $6 WHERE id = $7",
    )
    .bind(PlanState::Done.as_str())
    .bind(&outcome)
    .bind(now_ms())
    .bind(marker_id)
    .bind(planned.length_mm)
    .bind(planned.density)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a queued or running plan interrupted: its instance is shutting down before it could
/// store a marker.
pub async fn interrupt(store: &Store, id: &str) -> Result<(), Error> {
    sqlx::query(
        "UPDATE marker_plans SET state = $1, heartbeat_at = $2 WHERE id = $3 AND state IN ('queued', 'running')",
    )
    .bind(PlanState::Interrupted.as_str())
    .bind(now_ms())
    .bind(id)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Ends a plan that stored no marker, keeping why (its best marker so far stays on record).
pub async fn fail(store: &Store, id: &str, error: &Error) -> Result<(), Error> {
    let outcome = serde_json::to_string(&Outcome::Failed(error.into()))
        .map_err(|e| Error::Internal(format!("plan outcome: {e}")))?;
    sqlx::query(
        "UPDATE marker_plans SET state = $1, outcome = $2, heartbeat_at = $3 WHERE id = $4",
    )
    .bind(PlanState::Failed.as_str())
    .bind(&outcome)
    .bind(now_ms())
    .bind(id)
    .execute(store.pool())
    .await?;
    Ok(())
}

const PLAN_COLUMNS: &str = "id, fabric, state, order_ids, time_limit_secs, elapsed_secs, best_length_mm, best_density, marker_id, outcome, stop_requested_at, created_by, created_at, heartbeat_at";

/// One of `factory`'s plans.
pub async fn plan(store: &Store, factory: &TenantId, id: &str) -> Result<Plan, Error> {
    let row = sqlx::query(&format!(
        "SELECT {PLAN_COLUMNS} FROM marker_plans WHERE id = $1 AND factory_tenant_id = $2"
    ))
    .bind(id)
    .bind(&factory.0)
    .fetch_optional(store.pool())
    .await?
    .ok_or(Error::PlanNotFound)?;
    decode(&row, now_ms())
}

/// `factory`'s plans, newest first, at most `limit`.
pub async fn plans(store: &Store, factory: &TenantId, limit: i64) -> Result<Vec<Plan>, Error> {
    let rows = sqlx::query(&format!(
        "SELECT {PLAN_COLUMNS} FROM marker_plans WHERE factory_tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(&factory.0)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    let now = now_ms();
    rows.iter().map(|r| decode(r, now)).collect()
}

fn decode(row: &AnyRow, now: i64) -> Result<Plan, Error> {
    let corrupt = |e: String| Error::Store(crate::store::Error::Corrupt(e));
    let stored: String = column(row, "state")?;
    let mut state =
        PlanState::parse(&stored).ok_or_else(|| corrupt(format!("plan state {stored:?}")))?;
    let heartbeat_at: i64 = column(row, "heartbeat_at")?;
    if matches!(state, PlanState::Queued | PlanState::Running)
        && now - heartbeat_at > STALE_AFTER_MS
    {
        state = PlanState::Interrupted;
    }
    let order_ids: String = column(row, "order_ids")?;
    let order_ids = serde_json::from_str(&order_ids).map_err(|e| corrupt(e.to_string()))?;
    let outcome: Option<String> = column(row, "outcome")?;
    let outcome: Option<Outcome> = outcome
        .map(|o| serde_json::from_str(&o))
        .transpose()
        .map_err(|e| corrupt(e.to_string()))?;
    let (skipped, failure) = match outcome {
        Some(Outcome::Done { skipped }) => (skipped, None),
        Some(Outcome::Failed(f)) => (Vec::new(), Some(f)),
        None => (Vec::new(), None),
    };
    Ok(Plan {
        id: column(row, "id")?,
        fabric: column(row, "fabric")?,
        state,
        order_ids,
        time_limit_secs: column(row, "time_limit_secs")?,
        elapsed_secs: column(row, "elapsed_secs")?,
        best_length_mm: column(row, "best_length_mm")?,
        best_density: column(row, "best_density")?,
        marker_id: column(row, "marker_id")?,
        skipped,
        failure,
        stop_requested: column::<Option<i64>>(row, "stop_requested_at")?.is_some(),
        created_by: column(row, "created_by")?,
        created_at: column(row, "created_at")?,
        heartbeat_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::fabric::Catalog;

    async fn read(store: &Store, id: &str, now: i64) -> Plan {
        let row = sqlx::query(&format!(
            "SELECT {PLAN_COLUMNS} FROM marker_plans WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap();
        decode(&row, now).unwrap()
    }

    /// A queued or running plan whose instance stopped beating reads as interrupted; an ended
    /// plan keeps its outcome however old, and a late heartbeat cannot revive it.
    #[tokio::test]
    async fn a_plan_not_heard_from_reads_as_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.unwrap();
        let factory = store.tenant_by_name_or_create("fac").await.unwrap().id;
        let fabric = Catalog::bundled().unwrap().iter().next().unwrap().clone();
        let batch = Batch {
            fabric,
            orders: Vec::new(),
            time_limit_secs: 5.0,
            defects: Vec::new(),
            workers: 1,
        };
        let opened = open(&store, &factory, "fac/factory", &batch).await.unwrap();
        assert_eq!(opened.state, PlanState::Queued);
        assert_eq!(opened.time_limit_secs, 5.0);
        assert!(!beat(&store, &opened.id, PlanState::Running, None)
            .await
            .unwrap());
        let running = plan(&store, &factory, &opened.id).await.unwrap();
        assert_eq!(running.state, PlanState::Running);
        let last = running.heartbeat_at;
        assert_eq!(
            read(&store, &opened.id, last + STALE_AFTER_MS).await.state,
            PlanState::Running
        );
        assert_eq!(
            read(&store, &opened.id, last + STALE_AFTER_MS + 1)
                .await
                .state,
            PlanState::Interrupted
        );
        // Another factory does not see it.
        let other = store.tenant_by_name_or_create("other").await.unwrap().id;
        assert!(matches!(
            plan(&store, &other, &opened.id).await,
            Err(Error::PlanNotFound)
        ));

        fail(&store, &opened.id, &Error::Conflict("order 7 moved".into()))
            .await
            .unwrap();
        assert!(!beat(&store, &opened.id, PlanState::Running, None)
            .await
            .unwrap());
        let failed = read(&store, &opened.id, i64::MAX / 2).await;
        assert_eq!(failed.state, PlanState::Failed);
        assert_eq!(
            failed.failure,
            Some(PlanFailure::Conflict {
                message: "order 7 moved".into()
            })
        );
        assert_eq!(plans(&store, &factory, 10).await.unwrap().len(), 1);
        // An ended plan cannot be stopped.
        assert!(matches!(
            request_stop(&store, &factory, &opened.id).await,
            Err(Error::Conflict(_))
        ));
    }
}
