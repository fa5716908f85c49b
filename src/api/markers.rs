//! Cutting markers for factories: plan one from waiting orders, list the queue, claim one,
//! download its cut file.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use crate::auth::Principal;
use crate::orders::markers::{self, Batch, Marker, MarkerState, PlanOutcome, PlanRequest};
use crate::pattern::Format;

use super::inference;
use super::plans::{self, PlanView};
use super::problem::{ApiError, Problem};
use super::AppState;

/// Time a plan needs besides nesting (reading and drafting the orders, storing the marker), kept
/// free within the request timeout.
const PLAN_OVERHEAD_SECS: f64 = 5.0;

/// Listing options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MarkerQuery {
    /// Only markers in this state (`ready` or `claimed`).
    pub state: Option<MarkerState>,
    /// Most markers to return (1-500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Cut-file options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CutFileQuery {
    /// `dxf-aama` (default), `svg`, `pdf` (a scaled one-page preview), `pdf-roll`, `hpgl` or
    /// `json`.
    #[param(schema_with = crate::pattern::format_schema)]
    pub format: Option<String>,
}

/// The longest nesting time a plan may ask for: the request timeout less the plan's overhead.
pub(super) fn plan_budget_secs(state: &AppState) -> f64 {
    state.config.request_timeout.as_secs_f64() - PLAN_OVERHEAD_SECS
}

/// Checks a plan request and reads its orders, to nest on this deployment's search threads.
pub(super) async fn gather(
    state: &AppState,
    who: &Principal,
    request: &PlanRequest,
) -> Result<Batch, ApiError> {
    let mut batch =
        markers::gather(&state.store, &state.config.fabrics, &who.tenant_id, request).await?;
    batch.workers = state.config.nest_workers;
    Ok(batch)
}

fn actor(who: &Principal) -> String {
    format!("{}/{}", who.tenant_name, who.role)
}

/// Plan a cutting marker: nest the pieces of this factory's received and patterned orders on one
/// fabric (all of them, earliest due first, or the `order_ids` given) and move those orders to
/// `planned`, all or nothing. Runs for `time_limit_secs` (default 10 s, and at most the request
/// timeout less 5 s). With `Prefer: respond-async` the plan runs in the background instead (up to
/// 600 s): the answer is 202 with the plan, to follow at `/v1/factory/plans/{id}`.
#[utoipa::path(post, operation_id = "plan_marker", path = "/v1/factory/markers", tag = "factory", security(("bearer" = [])), request_body = PlanRequest,
    params(("Prefer" = Option<String>, Header, description = "`respond-async`: plan in the background and answer 202 at once (RFC 7240)")),
    responses((status = 201, body = PlanOutcome, description = "the stored marker, and orders left out because they no longer draft"),
        (status = 202, body = PlanView, description = "with `Prefer: respond-async`: the plan, queued; `Location` names it",
            headers(("Location" = String, description = "the plan"), ("Preference-Applied" = String, description = "respond-async"))),
        (status = 409, body = Problem, description = "an order changed while the marker was planned, or is already planned"),
        (status = 422, body = Problem, description = "unknown fabric, bad time limit, order not waiting on this fabric, piece wider than the roll"),
        (status = 503, body = Problem, description = "with `Prefer: respond-async`: this instance's plans are full; retry after `Retry-After`")))]
pub async fn plan(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    Json(mut request): Json<PlanRequest>,
) -> Result<Response, ApiError> {
    if plans::prefers_async(&headers) {
        let actor = actor(&who);
        return plans::start(state, &who, actor, request).await;
    }
    let budget = plan_budget_secs(&state);
    let limit = *request
        .time_limit_secs
        .get_or_insert(markers::DEFAULT_TIME_LIMIT_SECS.min(budget));
    if limit.is_finite() && limit > 0.0 && limit > budget {
        return Err(ApiError::invalid(
            "time_limit_secs",
            format!(
                "{limit} s does not finish within the request timeout (ATELIER_REQUEST_TIMEOUT_SECS); at most {budget} s, or ask with `Prefer: respond-async`"
            ),
        ));
    }
    let batch = gather(&state, &who, &request).await?;
    let planned = inference::blocking(&state, move || {
        markers::lay_out(&batch, &Default::default(), |_| {}).map_err(ApiError::from)
    })
    .await?;
    let marker = markers::record(&state.store, &who.tenant_id, &actor(&who), &planned).await?;
    let location = format!("/v1/factory/markers/{}", marker.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(PlanOutcome {
            marker,
            skipped: planned.skipped,
        }),
    )
        .into_response())
}

/// This factory's markers, oldest first: the ready ones are its cutting queue.
#[utoipa::path(get, operation_id = "list_markers", path = "/v1/factory/markers", tag = "factory", security(("bearer" = [])), params(MarkerQuery),
    responses((status = 200, body = Vec<Marker>), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<MarkerQuery>,
) -> Result<Json<Vec<Marker>>, ApiError> {
    let limit = super::page_limit(q.limit, 100)?;
    Ok(Json(
        markers::markers(&state.store, &who.tenant_id, q.state, limit).await?,
    ))
}

/// One of this factory's markers.
#[utoipa::path(get, operation_id = "get_marker", path = "/v1/factory/markers/{id}", tag = "factory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Marker), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Marker>, ApiError> {
    Ok(Json(
        markers::marker(&state.store, &who.tenant_id, &id).await?,
    ))
}

/// Claim a ready marker for the calling key and move its orders to `cutting`. Exactly one of
/// several concurrent claims wins; the others get 409.
#[utoipa::path(post, operation_id = "claim_marker", path = "/v1/factory/markers/{id}/claim", tag = "factory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Marker), (status = 404, body = Problem), (status = 409, body = Problem, description = "already claimed")))]
pub async fn claim(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Marker>, ApiError> {
    Ok(Json(
        markers::claim(&state.store, &who.tenant_id, &id, &who.key_id, &actor(&who)).await?,
    ))
}

/// The marker's cut file: every piece where it was nested, each labelled with its order and
/// size (DXF-AAMA blocks with piece text; HPGL at 40 units/mm; SVG at 1:1; PDF a scaled
/// preview). Pieces of orders cancelled since planning are left out.
#[utoipa::path(get, operation_id = "get_marker_cut_file", path = "/v1/factory/markers/{id}/cut-file", tag = "factory", security(("bearer" = [])),
    params(("id" = String, Path), CutFileQuery),
    responses((status = 200, description = "the file (Content-Type by format, Content-Disposition names it)",
            content(("image/vnd.dxf"), ("image/svg+xml"), ("application/pdf"), ("application/vnd.hp-hpgl"), ("application/json"))),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "every order was cancelled"), (status = 422, body = Problem)))]
pub async fn cut_file(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<CutFileQuery>,
) -> Result<Response, ApiError> {
    let format: Format = q
        .format
        .as_deref()
        .unwrap_or("dxf-aama")
        .parse()
        .map_err(|e: crate::pattern::Error| ApiError::invalid("format", e.to_string()))?;
    let job = markers::cut_job(&state.store, &who.tenant_id, &id).await?;
    let export = inference::blocking(&state, move || {
        markers::cut_file(&job, format).map_err(ApiError::from)
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, export.media_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"marker-{id}.{}\"", export.extension),
            ),
        ],
        export.bytes,
    )
        .into_response())
}
