//! Orders: shops place and follow them; factories move them through production.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;

use crate::auth::{Principal, Role};
use crate::orders::fabric::Fabric;
use crate::orders::{self, Mover, NewOrder, Order, OrderEvent, OrderState, Viewer};

use super::problem::{ApiError, Problem};
use super::AppState;

/// Listing options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct OrderQuery {
    /// Only orders in this state.
    pub state: Option<OrderState>,
    /// Most orders to return (1-500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A state change requested by a factory.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StateChange {
    /// The next state: cutting, sewn or shipped.
    pub state: OrderState,
}

fn actor(who: &Principal) -> String {
    format!("{}/{}", who.tenant_name, who.role)
}

/// Place an order. The `Idempotency-Key` header is required: a retry with the same key and body
/// returns the first order (200, `Idempotent-Replayed: true`) instead of creating a second.
#[utoipa::path(post, operation_id = "create_order", path = "/v1/orders", tag = "orders", security(("bearer" = [])), request_body = NewOrder,
    params(("Idempotency-Key" = String, Header, description = "client-chosen unique key for this order request (visible ASCII)", min_length = 1, max_length = 200, pattern = "^[ -~]+$")),
    responses((status = 201, body = Order), (status = 200, body = Order, description = "replay of an earlier request with this key"),
        (status = 400, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    Json(new): Json<NewOrder>,
) -> Result<impl IntoResponse, ApiError> {
    let key = headers
        .get("idempotency-key")
        .ok_or_else(|| {
            ApiError::BadRequest("the Idempotency-Key header is required on POST /v1/orders".into())
        })?
        .to_str()
        .map_err(|_| {
            ApiError::BadRequest(
                "the Idempotency-Key header must be visible ASCII characters".into(),
            )
        })?;
    let created = orders::create(
        &state.orders,
        &state.config.fabrics,
        &who.tenant_id,
        key,
        &new,
    )
    .await?;
    let status = if created.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let location = format!("/v1/orders/{}", created.order.id);
    let replayed = if created.replayed { "true" } else { "false" };
    Ok((
        status,
        [
            (header::LOCATION, location),
            (
                header::HeaderName::from_static("idempotent-replayed"),
                replayed.to_owned(),
            ),
        ],
        Json(created.order),
    ))
}

/// The caller's tenant's orders.
#[utoipa::path(get, operation_id = "list_orders", path = "/v1/orders", tag = "orders", security(("bearer" = [])), params(OrderQuery), responses((status = 200, body = Vec<Order>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<OrderQuery>,
) -> Result<Json<Vec<Order>>, ApiError> {
    Ok(Json(
        orders::list(
            &state.store,
            &Viewer::Shop(who.tenant_id),
            q.state,
            super::page_limit(q.limit, 100)?,
        )
        .await?,
    ))
}

/// One of the caller's tenant's orders.
#[utoipa::path(get, operation_id = "get_order", path = "/v1/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Order), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    Ok(Json(
        orders::get(&state.store, &Viewer::Shop(who.tenant_id), &id).await?,
    ))
}

/// The state history of one of the caller's tenant's orders.
#[utoipa::path(get, operation_id = "list_order_events", path = "/v1/orders/{id}/events", tag = "orders", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Vec<OrderEvent>), (status = 404, body = Problem)))]
pub async fn events(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Vec<OrderEvent>>, ApiError> {
    let viewer = if who.role == Role::Factory {
        Viewer::Factory(who.tenant_id)
    } else {
        Viewer::Shop(who.tenant_id)
    };
    Ok(Json(orders::events(&state.store, &viewer, &id).await?))
}

/// Cancel an order before cutting starts.
#[utoipa::path(post, operation_id = "cancel_order", path = "/v1/orders/{id}/cancel", tag = "orders", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Order), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    Ok(Json(
        orders::cancel(&state.store, &who.tenant_id, &actor(&who), &id).await?,
    ))
}

/// The orders routed to the caller's factory.
#[utoipa::path(get, operation_id = "list_factory_orders", path = "/v1/factory/orders", tag = "factory", security(("bearer" = [])), params(OrderQuery), responses((status = 200, body = Vec<Order>)))]
pub async fn factory_list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<OrderQuery>,
) -> Result<Json<Vec<Order>>, ApiError> {
    Ok(Json(
        orders::list(
            &state.store,
            &Viewer::Factory(who.tenant_id),
            q.state,
            super::page_limit(q.limit, 100)?,
        )
        .await?,
    ))
}

/// One order routed to the caller's factory.
#[utoipa::path(get, operation_id = "get_factory_order", path = "/v1/factory/orders/{id}", tag = "factory", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Order), (status = 404, body = Problem)))]
pub async fn factory_get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    Ok(Json(
        orders::get(&state.store, &Viewer::Factory(who.tenant_id), &id).await?,
    ))
}

/// Move an order routed to the caller's factory to its next production state.
#[utoipa::path(post, operation_id = "move_factory_order", path = "/v1/factory/orders/{id}/state", tag = "factory", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = StateChange, responses((status = 200, body = Order), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn factory_move(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Json(change): Json<StateChange>,
) -> Result<Json<Order>, ApiError> {
    let mover = if who.role == Role::Admin {
        Mover::Admin
    } else {
        Mover::Factory
    };
    Ok(Json(
        orders::move_state(
            &state.store,
            &Viewer::Factory(who.tenant_id.clone()),
            mover,
            &actor(&who),
            &id,
            change.state,
        )
        .await?,
    ))
}

/// The fabrics orders may name, with the roll facts marker planning uses.
#[utoipa::path(get, operation_id = "list_fabrics", path = "/v1/fabrics", tag = "orders", security(("bearer" = [])),
    responses((status = 200, body = Vec<Fabric>), (status = 401, body = Problem)))]
pub async fn fabrics(State(state): State<AppState>) -> Json<Vec<Fabric>> {
    Json(state.config.fabrics.iter().cloned().collect())
}
