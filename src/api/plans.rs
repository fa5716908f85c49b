//! Marker plans in the background: `POST /v1/factory/markers` with `Prefer: respond-async`
//! (RFC 7240) answers 202 with the plan at once, and the factory follows it at
//! `/v1/factory/plans/{id}`, so a search may run longer than one request may wait (up to the
//! 600 s any plan may have), and may ask it to stop early and keep its best marker so far.
//!
//! Each instance nests one background plan at a time (on `ATELIER_NEST_WORKERS` threads, so the
//! other requests keep their cores); a few more wait their turn, and beyond that a request is
//! answered 503 with `Retry-After`. When the instance shuts down, the plan nesting stops early and
//! stores its best marker, and the waiting ones are marked interrupted.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::auth::Principal;
use crate::nest;
use crate::orders::markers::{self, Batch, PlanRequest};
use crate::orders::plans::{self, Plan, PlanFailure, PlanState};
use crate::orders::Error;
use crate::store::TenantId;

use super::problem::{ApiError, Problem};
use super::AppState;

/// Background plans one instance takes at once: the one nesting and those waiting for it. Each
/// waiting plan holds its drafted request in memory and reaches its marker a full search later.
const MAX_ADMITTED: usize = 8;
/// Seconds a client is told to wait before asking again when the lane is full: about one plan.
const RETRY_WHEN_FULL_SECS: u64 = 30;
/// Seconds a client is told to wait between polls of a plan.
const POLL_AFTER_SECS: &str = "2";

/// The instance's lane for background plans.
#[derive(Clone)]
pub(crate) struct PlanLane {
    nesting: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    /// Set once when the instance shuts down.
    closing: Arc<watch::Sender<bool>>,
}

impl PlanLane {
    /// One plan nests at a time.
    pub(crate) fn new() -> Self {
        Self {
            nesting: Arc::new(Semaphore::new(1)),
            admitted: Arc::default(),
            closing: Arc::new(watch::channel(false).0),
        }
    }

    /// Shutting down: the plan nesting stops and stores its best marker so far, waiting ones are
    /// marked interrupted; waits for that up to `grace`.
    pub(crate) async fn close(&self, grace: Duration) {
        self.closing.send_replace(true);
        if tokio::time::timeout(grace, self.nesting.acquire())
            .await
            .is_err()
        {
            tracing::warn!("a marker plan was still storing its marker at shutdown");
        }
    }

    /// A place in the lane, or 503 when [`MAX_ADMITTED`] plans already hold one.
    fn admit(&self) -> Result<Ticket, ApiError> {
        let before = self.admitted.fetch_add(1, Ordering::SeqCst);
        metrics::gauge!("atelier_marker_plans_admitted").set((before + 1) as f64);
        let ticket = Ticket { lane: self.clone() };
        if before >= MAX_ADMITTED {
            metrics::counter!("atelier_marker_plans_rejected_total").increment(1);
            return Err(ApiError::Unavailable {
                message: format!(
                    "{before} marker plans are running or waiting on this instance; retry later"
                ),
                retry_after_secs: RETRY_WHEN_FULL_SECS,
            });
        }
        Ok(ticket)
    }
}

/// A plan's place in the lane, given back when the plan ends.
struct Ticket {
    lane: PlanLane,
}

impl Ticket {
    async fn turn(&self) -> Result<OwnedSemaphorePermit, Error> {
        self.lane
            .nesting
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Internal(format!("plan lane: {e}")))
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let left = self.lane.admitted.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("atelier_marker_plans_admitted").set(left as f64);
    }
}

/// Resolves once the lane is closing (never, should the lane be gone).
async fn closed(closing: &mut watch::Receiver<bool>) {
    if closing.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A marker plan as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanView {
    #[serde(flatten)]
    plan: Plan,
    /// Why a failed plan failed: the problem a synchronous plan would have answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Problem>,
}

impl From<Plan> for PlanView {
    fn from(plan: Plan) -> Self {
        let error = plan.failure.clone().map(|f| {
            ApiError::from(match f {
                PlanFailure::Invalid { field, message } => Error::Invalid { field, message },
                PlanFailure::Conflict { message } => Error::Conflict(message),
                PlanFailure::Internal { message } => Error::Internal(message),
            })
            .problem()
        });
        Self { plan, error }
    }
}

/// Listing options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PlanQuery {
    /// Most plans to return (1-500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// True when the request's `Prefer` headers ask for an asynchronous answer.
pub(super) fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all(HeaderName::from_static("prefer"))
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.split(';').next())
        .any(|token| token.trim().eq_ignore_ascii_case("respond-async"))
}

/// Checks and reads the plan's orders now (so a bad request is still answered 4xx), records the
/// plan and starts it; answers 202 with the plan.
pub(super) async fn start(
    state: AppState,
    who: &Principal,
    actor: String,
    request: PlanRequest,
) -> Result<Response, ApiError> {
    let ticket = state.plan_lane.admit()?;
    let batch = super::markers::gather(&state, who, &request).await?;
    let plan = plans::open(&state.store, &who.tenant_id, &actor, &batch).await?;
    let job = Job {
        state,
        factory: who.tenant_id.clone(),
        actor,
        id: plan.id.clone(),
        stop: nest::Stop::new(),
    };
    tokio::spawn(job.run(batch, ticket));
    Ok((
        StatusCode::ACCEPTED,
        [
            (header::LOCATION, format!("/v1/factory/plans/{}", plan.id)),
            (
                HeaderName::from_static("preference-applied"),
                "respond-async".to_owned(),
            ),
            (header::RETRY_AFTER, POLL_AFTER_SECS.to_owned()),
        ],
        Json(PlanView::from(plan)),
    )
        .into_response())
}

/// One background plan, from its turn in the lane to its stored marker.
struct Job {
    state: AppState,
    factory: TenantId,
    actor: String,
    id: String,
    /// Given when the factory asks the plan to end early (heard with a heartbeat).
    stop: nest::Stop,
}

impl Job {
    async fn run(self, batch: Batch, ticket: Ticket) {
        let result = self.nest_and_record(batch, &ticket).await;
        drop(ticket);
        if let Err(e) = result {
            tracing::warn!(plan = %self.id, error = %e, "marker plan failed");
            if let Err(e) = plans::fail(&self.state.store, &self.id, &e).await {
                // The heartbeat has stopped, so the plan reads as interrupted.
                tracing::error!(plan = %self.id, error = %e, "marker plan outcome not stored");
            }
        }
    }

    /// Waits for the plan's turn, nests and stores the marker with the plan's outcome.
    async fn nest_and_record(&self, batch: Batch, ticket: &Ticket) -> Result<(), Error> {
        let store = &self.state.store;
        let mut heartbeat = tokio::time::interval(plans::HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut closing = ticket.lane.closing.subscribe();
        let _turn = loop {
            tokio::select! {
                // A shutdown wins over a turn that comes at the same moment.
                biased;
                _ = closed(&mut closing) => return plans::interrupt(store, &self.id).await,
                turn = ticket.turn() => break turn?,
                _ = heartbeat.tick() => self.beat(PlanState::Queued, None).await,
            }
        };
        self.beat(PlanState::Running, None).await;
        let progress: Arc<Mutex<Option<nest::Progress>>> = Arc::default();
        let seen = progress.clone();
        let stop = self.stop.clone();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        // A thread of its own rather than tokio's blocking pool: the runtime waits for blocking
        // tasks when it shuts down, and a plan may have ten minutes left. This thread ends with
        // the process; the plan's heartbeat stops and it reads as interrupted.
        std::thread::Builder::new()
            .name("marker-plan".into())
            .spawn(move || {
                let planned = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    markers::lay_out(&batch, &stop, |p| {
                        if let Ok(mut slot) = seen.lock() {
                            *slot = Some(p);
                        }
                    })
                }));
                let _ = tx.send(planned);
            })
            .map_err(|e| Error::Internal(format!("starting the plan's thread: {e}")))?;
        let mut stopped_for_shutdown = false;
        let planned = loop {
            tokio::select! {
                planned = &mut rx => break planned,
                _ = heartbeat.tick() => {
                    let p = progress.lock().ok().and_then(|p| p.clone());
                    self.beat(PlanState::Running, p.as_ref()).await;
                }
                _ = closed(&mut closing), if !stopped_for_shutdown => {
                    stopped_for_shutdown = true;
                    self.stop.request();
                }
            }
        };
        let planned = match planned {
            Ok(Ok(planned)) => planned?,
            Ok(Err(_)) => return Err(Error::Internal("the plan's search panicked".into())),
            Err(_) => return Err(Error::Internal("the plan's thread ended unanswered".into())),
        };
        let last = progress.lock().ok().and_then(|p| p.clone());
        self.beat(PlanState::Running, last.as_ref()).await;
        plans::complete(store, &self.factory, &self.actor, &self.id, &planned).await?;
        Ok(())
    }

    /// Writes the plan's progress and passes on a stop the factory asked for. A missed heartbeat
    /// is logged, not fatal: the next one may land, and only several missed in a row make the
    /// plan read as interrupted.
    async fn beat(&self, state: PlanState, progress: Option<&nest::Progress>) {
        match plans::beat(&self.state.store, &self.id, state, progress).await {
            Ok(true) => self.stop.request(),
            Ok(false) => {}
            Err(e) => tracing::warn!(plan = %self.id, error = %e, "marker plan heartbeat failed"),
        }
    }
}

/// One of this factory's marker plans: queued, running (with the best marker so far), done
/// (with the stored marker's id), failed (with the problem) or interrupted (its instance stopped;
/// nothing was stored).
#[utoipa::path(get, operation_id = "get_plan", path = "/v1/factory/plans/{id}", tag = "factory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = PlanView), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<PlanView>, ApiError> {
    let plan = plans::plan(&state.store, &who.tenant_id, &id).await?;
    Ok(Json(plan.into()))
}

/// Ask a queued or running marker plan to end early and store the best marker it has found so
/// far (a queued one stores its first marker when its turn comes). Heard by the instance running
/// it within a heartbeat (2 s); follow the plan until it is done.
#[utoipa::path(post, operation_id = "stop_plan", path = "/v1/factory/plans/{id}/stop", tag = "factory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 202, body = PlanView, description = "the plan, with `stop_requested`"), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "the plan has already ended")))]
pub async fn stop(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let plan = plans::request_stop(&state.store, &who.tenant_id, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(PlanView::from(plan))).into_response())
}

/// This factory's marker plans, newest first.
#[utoipa::path(get, operation_id = "list_plans", path = "/v1/factory/plans", tag = "factory", security(("bearer" = [])), params(PlanQuery),
    responses((status = 200, body = Vec<PlanView>), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<PlanQuery>,
) -> Result<Json<Vec<PlanView>>, ApiError> {
    let limit = super::page_limit(q.limit, 50)?;
    let plans = plans::plans(&state.store, &who.tenant_id, limit).await?;
    Ok(Json(plans.into_iter().map(PlanView::from).collect()))
}
