//! The `/v1` guard: authenticates the bearer key, enforces the route's roles and the per-key rate
//! limit, and hands the handler a [`Principal`] whose tenant scopes all data access.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{self, Principal, Role};

use super::problem::ApiError;
use super::AppState;

/// Roles allowed on a group of routes.
pub type Allowed = &'static [Role];

/// Route layer for `from_fn_with_state((state, roles), guard)`.
pub async fn guard(
    State((state, allowed)): State<(AppState, Allowed)>,
    mut req: Request,
    next: Next,
) -> Response {
    // Owned before the await: the request body is not `Sync`, so a borrow of the request must not
    // live across it.
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match authorise(&state, allowed, header.as_deref()).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn authorise(
    state: &AppState,
    allowed: Allowed,
    header: Option<&str>,
) -> Result<Principal, ApiError> {
    let principal = auth::authenticate(&state.store, header).await?;
    if principal.role != Role::Admin && !allowed.contains(&principal.role) {
        let allowed = allowed
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ApiError::Forbidden {
            role: principal.role,
            allowed,
        });
    }
    if let Some(limiter) = &state.rate_limiter {
        if let Err(not_until) = limiter.check_key(&principal.key_id) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            return Err(ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
    }
    Ok(principal)
}
