//! Webhooks (shops): register an endpoint to hear of every state change of the shop's orders.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};

use crate::auth::Principal;
use crate::webhooks::{self, NewWebhook, Webhook};

use super::problem::{ApiError, Problem};
use super::AppState;

/// Register an endpoint. Every state change of this shop's orders is POSTed to it as JSON
/// (`{"id","type":"order.state_changed","order_id","seq","from","to","actor","at"}`) with
/// `Atelier-Signature: sha256=<hex HMAC-SHA256 of the body keyed with the secret>`, retried with
/// backoff until it answers 2xx; receivers dedupe on `id`.
#[utoipa::path(post, operation_id = "create_webhook", path = "/v1/webhooks", tag = "orders", security(("bearer" = [])), request_body = NewWebhook,
    responses((status = 201, body = Webhook), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Json(new): Json<NewWebhook>,
) -> Result<impl IntoResponse, ApiError> {
    let hook = webhooks::register(&state.store, &who.tenant_id, &new).await?;
    let location = format!("/v1/webhooks/{}", hook.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(hook),
    ))
}

/// This shop's endpoints.
#[utoipa::path(get, operation_id = "list_webhooks", path = "/v1/webhooks", tag = "orders", security(("bearer" = [])),
    responses((status = 200, body = Vec<Webhook>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<Vec<Webhook>>, ApiError> {
    Ok(Json(webhooks::list(&state.store, &who.tenant_id).await?))
}

/// Remove an endpoint and the events still waiting for it.
#[utoipa::path(delete, operation_id = "delete_webhook", path = "/v1/webhooks/{id}", tag = "orders", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn remove(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    webhooks::remove(&state.store, &who.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
