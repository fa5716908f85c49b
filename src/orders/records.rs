//! Saved measurement records: a customer's measurement set kept by the shop that took it, which
//! later orders can refer to by id (the order copies the values, so a record is never changed
//! under an order).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{text, validate_measurements, Error};
use crate::store::{get as column, new_id, now_ms, Store, TenantId};

/// A measurement set to save.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct NewMeasurementRecord {
    /// The shop's own reference for the customer (no names needed).
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub customer_ref: String,
    /// Where the values came from, e.g. `photos`, `tape`, `estimate`.
    #[schema(min_length = 1, max_length = 50, pattern = r"\S")]
    pub source: String,
    /// Measurement name (snake_case) to value in cm (kg for `weight`).
    #[schema(schema_with = crate::body::values::schema)]
    pub measurements: BTreeMap<String, f64>,
}

/// A saved measurement set.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MeasurementRecord {
    /// Record id.
    pub id: String,
    /// The shop's reference for the customer.
    pub customer_ref: String,
    /// Where the values came from.
    pub source: String,
    /// Measurement name to value.
    pub measurements: BTreeMap<String, f64>,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

impl NewMeasurementRecord {
    /// Checks every field, naming the first one at fault.
    pub fn validate(&self) -> Result<(), Error> {
        text(&self.customer_ref, "customer_ref", 200)?;
        text(&self.source, "source", 50)?;
        validate_measurements(&self.measurements)
    }
}

/// Saves a record for `tenant`, once it passes [`NewMeasurementRecord::validate`].
pub async fn save(
    store: &Store,
    tenant: &TenantId,
    new: &NewMeasurementRecord,
) -> Result<MeasurementRecord, Error> {
    new.validate()?;
    let id = new_id();
    let created_at = now_ms();
    let json = serde_json::to_string(&new.measurements).map_err(|e| corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO measurement_records (id, tenant_id, customer_ref, source, measurements, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&tenant.0)
    .bind(&new.customer_ref)
    .bind(&new.source)
    .bind(json)
    .bind(created_at)
    .execute(store.pool())
    .await?;
    Ok(MeasurementRecord {
        id,
        customer_ref: new.customer_ref.clone(),
        source: new.source.clone(),
        measurements: new.measurements.clone(),
        created_at,
    })
}

/// One of `tenant`'s records; another tenant's record is reported as not found.
pub async fn get(store: &Store, tenant: &TenantId, id: &str) -> Result<MeasurementRecord, Error> {
    let row = sqlx::query("SELECT id, customer_ref, source, measurements, created_at FROM measurement_records WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(&tenant.0)
        .fetch_optional(store.pool())
        .await?
        .ok_or(Error::RecordNotFound)?;
    decode(&row)
}

/// `tenant`'s records, newest first, at most `limit`.
pub async fn list(
    store: &Store,
    tenant: &TenantId,
    limit: i64,
) -> Result<Vec<MeasurementRecord>, Error> {
    let rows = sqlx::query(
        "SELECT id, customer_ref, source, measurements, created_at FROM measurement_records WHERE tenant_id = $1 ORDER BY created_at DESC, id LIMIT $2",
    )
    .bind(&tenant.0)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(decode).collect()
}

fn corrupt(message: String) -> Error {
    Error::Store(crate::store::Error::Corrupt(message))
}

fn decode(row: &sqlx::any::AnyRow) -> Result<MeasurementRecord, Error> {
    let json: String = column(row, "measurements")?;
    Ok(MeasurementRecord {
        id: column(row, "id")?,
        customer_ref: column(row, "customer_ref")?,
        source: column(row, "source")?,
        measurements: serde_json::from_str(&json).map_err(|e| corrupt(e.to_string()))?,
        created_at: column(row, "created_at")?,
    })
}
