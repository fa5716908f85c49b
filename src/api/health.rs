//! Liveness, readiness, metrics and the problem-type documentation.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

use super::problem::{ApiError, PROBLEM_TYPES};
use super::AppState;

/// Liveness answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: &'static str,
}

/// Readiness answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: &'static str,
    /// Whether the vision models are loaded.
    pub models: bool,
    /// Whether the database answers.
    pub database: bool,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The models are loaded and the database answers.
#[utoipa::path(get, path = "/readyz", tag = "service", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness, description = "models loading or database unreachable")))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let models = state.models_ready();
    let database = state.store.ping().await.is_ok();
    let ready = models && database;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // A not-ready answer is a status report, not an error, so it stays plain JSON.
    (
        status,
        Json(Readiness {
            status: if ready { "ready" } else { "not ready" },
            models,
            database,
        }),
    )
}

/// Prometheus text exposition of the service's metrics.
#[utoipa::path(get, path = "/metrics", tag = "service", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        super::metrics::handle().render(),
    )
}

/// What a problem `type` of this service means.
#[utoipa::path(get, path = "/problems/{slug}", tag = "service", params(("slug" = String, Path, description = "problem type slug")),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = super::problem::Problem)))]
pub async fn problem_type(Path(slug): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let (status, _, title) = PROBLEM_TYPES
        .iter()
        .find(|(_, s, _)| *s == slug)
        .ok_or_else(|| ApiError::NotFound(format!("problem type {slug:?}")))?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{title} (HTTP {status}).\n"),
    ))
}
