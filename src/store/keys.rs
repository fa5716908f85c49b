//! API keys as stored: a hash, never the key itself.

use super::{get, new_id, now_ms, Error, Store, TenantId};

/// A stored API key with the tenant and role it grants.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// Key id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Owning tenant's name.
    pub tenant_name: String,
    /// Role name (`shop`, `counter`, `factory`, `admin`).
    pub role: String,
    /// First characters of the key, safe to show in listings and logs.
    pub prefix: String,
}

impl Store {
    /// Stores a new key's hash for `tenant` with `role`; returns the key id.
    pub async fn insert_key(
        &self,
        tenant: &TenantId,
        role: &str,
        key_hash: &str,
        prefix: &str,
    ) -> Result<String, Error> {
        let id = new_id();
        sqlx::query("INSERT INTO api_keys (id, tenant_id, role, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(&tenant.0)
            .bind(role)
            .bind(key_hash)
            .bind(prefix)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(id)
    }

    /// Finds the live (not revoked) key with this hash.
    pub async fn key_by_hash(&self, key_hash: &str) -> Result<Option<StoredKey>, Error> {
        let row = sqlx::query(
            "SELECT k.id, k.tenant_id, t.name AS tenant_name, k.role, k.prefix FROM api_keys k \
             JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StoredKey {
                id: get(&r, "id")?,
                tenant_id: TenantId(get(&r, "tenant_id")?),
                tenant_name: get(&r, "tenant_name")?,
                role: get(&r, "role")?,
                prefix: get(&r, "prefix")?,
            })
        })
        .transpose()
    }

    /// Revokes a key by id; returns whether a live key was revoked.
    pub async fn revoke_key(&self, id: &str) -> Result<bool, Error> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}
