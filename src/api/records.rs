//! Saved measurement records (shops): what later orders refer to by id.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;

use crate::auth::Principal;
use crate::orders::records::{self, MeasurementRecord, NewMeasurementRecord};

use super::problem::{ApiError, Problem};
use super::AppState;

/// Listing options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Most records to return (1-500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Save a customer's measurement set.
#[utoipa::path(post, operation_id = "create_measurement_record", path = "/v1/measurement-records", tag = "measurements", request_body = NewMeasurementRecord,
    security(("bearer" = [])),
    responses((status = 201, body = MeasurementRecord), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Json(new): Json<NewMeasurementRecord>,
) -> Result<impl IntoResponse, ApiError> {
    let record = records::save(&state.store, &who.tenant_id, &new).await?;
    let location = format!("/v1/measurement-records/{}", record.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(record),
    ))
}

/// One of the caller's tenant's records.
#[utoipa::path(get, operation_id = "get_measurement_record", path = "/v1/measurement-records/{id}", tag = "measurements", security(("bearer" = [])),
    params(("id" = String, Path, description = "record id")),
    responses((status = 200, body = MeasurementRecord), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<MeasurementRecord>, ApiError> {
    Ok(Json(records::get(&state.store, &who.tenant_id, &id).await?))
}

/// The caller's tenant's records, newest first.
#[utoipa::path(get, operation_id = "list_measurement_records", path = "/v1/measurement-records", tag = "measurements", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Vec<MeasurementRecord>), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<MeasurementRecord>>, ApiError> {
    let limit = super::page_limit(q.limit, 50)?;
    Ok(Json(
        records::list(&state.store, &who.tenant_id, limit).await?,
    ))
}
