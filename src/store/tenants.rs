//! Tenants: a shop, counter or factory organisation owning keys and data.

use serde::Serialize;

use super::{get, new_id, now_ms, Error, Store, TenantId};

/// A tenant.
#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    /// Stable id.
    pub id: TenantId,
    /// Unique name chosen by the operator.
    pub name: String,
}

impl Store {
    /// Returns the tenant called `name`, creating it first if it does not exist.
    pub async fn tenant_by_name_or_create(&self, name: &str) -> Result<Tenant, Error> {
        if let Some(t) = self.tenant_by_name(name).await? {
            return Ok(t);
        }
        let inserted =
            sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(new_id())
                .bind(name)
                .bind(now_ms())
                .execute(&self.pool)
                .await;
        // Another process may have created it between the lookup and the insert.
        if let Err(e) = inserted {
            if self.tenant_by_name(name).await?.is_none() {
                return Err(e.into());
            }
        }
        self.tenant_by_name(name)
            .await?
            .ok_or(Error::NotFound("tenant"))
    }

    /// Looks a tenant up by name.
    pub async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, Error> {
        let row = sqlx::query("SELECT id, name FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Tenant {
                id: TenantId(get(&r, "id")?),
                name: get(&r, "name")?,
            })
        })
        .transpose()
    }

    /// All tenants, by name.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, Error> {
        let rows = sqlx::query("SELECT id, name FROM tenants ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Tenant {
                    id: TenantId(get(r, "id")?),
                    name: get(r, "name")?,
                })
            })
            .collect()
    }
}
