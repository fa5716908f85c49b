//! Saved measurement records (shops): what later orders refer to by id.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;

use crate::auth::Principal;
use crate::store::{MeasurementRecord, NewMeasurementRecord};

use super::problem::{ApiError, Problem};
use super::AppState;

/// Largest plausible value of any body measurement, in cm (stature of the tallest people, or kg).
const MAX_VALUE: f64 = 300.0;

/// Listing options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Most records to return (1-500, default 50).
    pub limit: Option<i64>,
}

/// Save a customer's measurement set.
#[utoipa::path(post, path = "/v1/measurement-records", tag = "measurements", request_body = NewMeasurementRecord,
    security(("bearer" = [])),
    responses((status = 201, body = MeasurementRecord), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Json(new): Json<NewMeasurementRecord>,
) -> Result<impl IntoResponse, ApiError> {
    validate(&new)?;
    let record = state.store.insert_record(&who.tenant_id, &new).await?;
    let location = format!("/v1/measurement-records/{}", record.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(record),
    ))
}

/// One of the caller's tenant's records.
#[utoipa::path(get, path = "/v1/measurement-records/{id}", tag = "measurements", security(("bearer" = [])),
    params(("id" = String, Path, description = "record id")),
    responses((status = 200, body = MeasurementRecord), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<MeasurementRecord>, ApiError> {
    Ok(Json(state.store.record(&who.tenant_id, &id).await?))
}

/// The caller's tenant's records, newest first.
#[utoipa::path(get, path = "/v1/measurement-records", tag = "measurements", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Vec<MeasurementRecord>), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<MeasurementRecord>>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 500"));
    }
    Ok(Json(state.store.records(&who.tenant_id, limit).await?))
}

fn validate(new: &NewMeasurementRecord) -> Result<(), ApiError> {
    if new.customer_ref.trim().is_empty() || new.customer_ref.len() > 200 {
        return Err(ApiError::invalid(
            "customer_ref",
            "must be 1-200 characters",
        ));
    }
    if new.source.trim().is_empty() || new.source.len() > 50 {
        return Err(ApiError::invalid("source", "must be 1-50 characters"));
    }
    if new.measurements.is_empty() {
        return Err(ApiError::invalid(
            "measurements",
            "must hold at least one value",
        ));
    }
    for (name, &value) in &new.measurements {
        let field = format!("measurements.{name}");
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(ApiError::invalid(
                field,
                "names are snake_case, e.g. chest_girth",
            ));
        }
        if !value.is_finite() || value <= 0.0 || value > MAX_VALUE {
            return Err(ApiError::invalid(
                field,
                format!("{value} is not a plausible body measurement (cm, or kg for weight)"),
            ));
        }
    }
    Ok(())
}
