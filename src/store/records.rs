//! Saved measurement records: a customer's measurement set kept by the shop that took it, which
//! later orders can refer to by id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{get, new_id, now_ms, Error, Store, TenantId};

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

impl Store {
    /// Saves a record for `tenant`.
    pub async fn insert_record(
        &self,
        tenant: &TenantId,
        new: &NewMeasurementRecord,
    ) -> Result<MeasurementRecord, Error> {
        let id = new_id();
        let created_at = now_ms();
        let json =
            serde_json::to_string(&new.measurements).map_err(|e| Error::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO measurement_records (id, tenant_id, customer_ref, source, measurements, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(&tenant.0)
        .bind(&new.customer_ref)
        .bind(&new.source)
        .bind(json)
        .bind(created_at)
        .execute(&self.pool)
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
    pub async fn record(&self, tenant: &TenantId, id: &str) -> Result<MeasurementRecord, Error> {
        let row = sqlx::query("SELECT id, customer_ref, source, measurements, created_at FROM measurement_records WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(&tenant.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound("measurement record"))?;
        decode_record(&row)
    }

    /// `tenant`'s records, newest first, at most `limit`.
    pub async fn records(
        &self,
        tenant: &TenantId,
        limit: i64,
    ) -> Result<Vec<MeasurementRecord>, Error> {
        let rows = sqlx::query(
            "SELECT id, customer_ref, source, measurements, created_at FROM measurement_records WHERE tenant_id = $1 ORDER BY created_at DESC, id LIMIT $2",
        )
        .bind(&tenant.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_record).collect()
    }
}

fn decode_record(row: &sqlx::any::AnyRow) -> Result<MeasurementRecord, Error> {
    let json: String = get(row, "measurements")?;
    Ok(MeasurementRecord {
        id: get(row, "id")?,
        customer_ref: get(row, "customer_ref")?,
        source: get(row, "source")?,
        measurements: serde_json::from_str(&json).map_err(|e| Error::Corrupt(e.to_string()))?,
        created_at: get(row, "created_at")?,
    })
}
