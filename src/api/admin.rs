//! Operator routes and the caller's own identity.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use crate::auth::{self, Principal, Role};

use super::problem::{ApiError, Problem};
use super::AppState;

/// A key to issue.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewKey {
    /// Tenant name; created if new (surrounding spaces are dropped).
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub tenant: String,
    /// Role of the key: shop, counter, factory or admin.
    #[schema(value_type = Role)]
    pub role: String,
}

/// A newly issued key, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedKeyBody {
    /// The secret key.
    pub key: String,
    /// Key id.
    pub key_id: String,
    /// Tenant name.
    pub tenant: String,
    /// Role.
    pub role: Role,
}

/// A tenant as listed to the operator.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantBody {
    /// Tenant id.
    pub id: String,
    /// Tenant name.
    pub name: String,
}

/// Who the presented key acts as.
#[utoipa::path(get, operation_id = "whoami", path = "/v1/me", tag = "service", security(("bearer" = [])), responses((status = 200, body = Principal), (status = 401, body = Problem)))]
pub async fn me(Extension(who): Extension<Principal>) -> Json<Principal> {
    Json(who)
}

/// Issue an API key (admin only); the key is returned once and only its hash is stored.
#[utoipa::path(post, operation_id = "create_key", path = "/v1/admin/keys", tag = "admin", security(("bearer" = [])), request_body = NewKey,
    responses((status = 201, body = IssuedKeyBody), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_key(
    State(state): State<AppState>,
    Json(new): Json<NewKey>,
) -> Result<(StatusCode, Json<IssuedKeyBody>), ApiError> {
    let tenant = new.tenant.trim();
    if tenant.is_empty() || tenant.chars().count() > 100 {
        return Err(ApiError::invalid("tenant", "must be 1-100 characters"));
    }
    let role: Role = new
        .role
        .parse()
        .map_err(|e: auth::Error| ApiError::invalid("role", e.to_string()))?;
    let issued = auth::issue_key(&state.store, tenant, role).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedKeyBody {
            key: issued.key,
            key_id: issued.key_id,
            tenant: issued.tenant,
            role: issued.role,
        }),
    ))
}

/// All tenants (admin only).
#[utoipa::path(get, operation_id = "list_tenants", path = "/v1/admin/tenants", tag = "admin", security(("bearer" = [])), responses((status = 200, body = Vec<TenantBody>), (status = 403, body = Problem)))]
pub async fn tenants(State(state): State<AppState>) -> Result<Json<Vec<TenantBody>>, ApiError> {
    let tenants = state.store.tenants().await?;
    Ok(Json(
        tenants
            .into_iter()
            .map(|t| TenantBody {
                id: t.id.0,
                name: t.name,
            })
            .collect(),
    ))
}
