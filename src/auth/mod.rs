//! Tenants' API keys and roles: issuing keys, hashing them, and resolving a presented key to the
//! [`Principal`] a request acts as.
//!
//! Keys are 256 random bits, so a plain SHA-256 of the key is enough to store: unlike passwords
//! they cannot be guessed from a dictionary, and a deterministic hash lets the database find the
//! key by an index instead of comparing against every stored hash.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::{self, Store, TenantId};

/// Prefix of every key, so a leaked key is recognisable in logs and secret scanners.
const KEY_PREFIX: &str = "atk_";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A tailoring shop: measures customers, drafts patterns, places orders.
    Shop,
    /// A cosmetics counter: skin tone and shade matching.
    Counter,
    /// A factory: receives markers and cut files, moves orders through production.
    Factory,
    /// The operator: everything.
    Admin,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 4] = [Role::Shop, Role::Counter, Role::Factory, Role::Admin];

    /// The role's lowercase name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Shop => "shop",
            Role::Counter => "counter",
            Role::Factory => "factory",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::UnknownRole(s.to_owned()))
    }
}

/// Authentication failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `Authorization: Bearer` header.
    #[error("missing `Authorization: Bearer <key>` header")]
    MissingKey,
    /// The key is malformed, unknown or revoked.
    #[error("the API key is not valid")]
    InvalidKey,
    /// The role name is not one of shop, counter, factory, admin.
    #[error("unknown role {0:?} (expected shop, counter, factory or admin)")]
    UnknownRole(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Who a request acts as, resolved from its API key.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Principal {
    /// The key's id (not the key).
    pub key_id: String,
    /// The tenant all data access is scoped to.
    #[schema(value_type = String)]
    pub tenant_id: TenantId,
    /// The tenant's name.
    pub tenant_name: String,
    /// The key's role.
    pub role: Role,
}

/// A newly issued key: the only time the plaintext exists outside the caller's hands.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedKey {
    /// The secret key, shown once.
    pub key: String,
    /// The key's id.
    pub key_id: String,
    /// The tenant name.
    pub tenant: String,
    /// The role.
    pub role: Role,
}

/// SHA-256 of a key, lowercase hex: what the database stores.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Issues a new key for `tenant` (created if new) with `role`; only its hash is stored.
pub async fn issue_key(store: &Store, tenant: &str, role: Role) -> Result<IssuedKey, Error> {
    let tenant = store.tenant_by_name_or_create(tenant).await?;
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
    let prefix = key[..KEY_PREFIX.len() + 8].to_owned();
    let key_id = store
        .insert_key(&tenant.id, role.as_str(), &hash_key(&key), &prefix)
        .await?;
    Ok(IssuedKey {
        key,
        key_id,
        tenant: tenant.name,
        role,
    })
}

/// Resolves the value of an `Authorization` header to a principal.
pub async fn authenticate(store: &Store, authorization: Option<&str>) -> Result<Principal, Error> {
    let header = authorization.ok_or(Error::MissingKey)?;
    let (scheme, key) = header.trim().split_once(' ').ok_or(Error::MissingKey)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::MissingKey);
    }
    let key = key.trim();
    if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
        return Err(Error::InvalidKey);
    }
    let stored = store
        .key_by_hash(&hash_key(key))
        .await?
        .ok_or(Error::InvalidKey)?;
    let role = stored.role.parse().map_err(|_| Error::InvalidKey)?;
    Ok(Principal {
        key_id: stored.id,
        tenant_id: stored.tenant_id,
        tenant_name: stored.tenant_name,
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_by_name() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("owner".parse::<Role>().is_err());
    }

    #[test]
    fn hash_is_sha256_hex() {
        // Known SHA-256 of "abc" (FIPS 180-2 test vector).
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
