//! RFC 9457 problem details: the one shape every error response takes.
//!
//! Handlers return [`ApiError`]; anything else that answers with an error status (axum's extractor
//! rejections, tower-http's body limit and timeout, a caught panic, an unknown route) is rewritten
//! into the same shape by [`normalise`], so clients parse one format.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Media type of problem responses.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The problem types this service answers with: (status, slug, title). The slug makes the stable
/// `type` URI `/problems/<slug>`, documented at that path.
pub const PROBLEM_TYPES: &[(u16, &str, &str)] = &[
    (400, "bad-request", "The request is malformed"),
    (401, "unauthorized", "An API key is required"),
    (403, "forbidden", "This key's role may not use this route"),
    (404, "not-found", "No such resource"),
    (
        405,
        "method-not-allowed",
        "Method not allowed on this route",
    ),
    (
        408,
        "request-timeout",
        "The request took too long to arrive",
    ),
    (
        409,
        "conflict",
        "The request conflicts with the resource's state",
    ),
    (413, "payload-too-large", "The request body is too large"),
    (415, "unsupported-media-type", "Unsupported content type"),
    (
        422,
        "validation-failed",
        "The request is well-formed but its values cannot be used",
    ),
    (429, "too-many-requests", "Too many requests for this key"),
    (500, "internal", "Internal server error"),
    (503, "unavailable", "The service cannot answer now"),
];

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The field at fault, when one input value is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A stable snake_case code for the condition, when the status alone does not say it
    /// (e.g. `no_face`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl Problem {
    /// A problem of the type registered for `status`, with a request-specific `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let (slug, title) = PROBLEM_TYPES
            .iter()
            .find(|(s, _, _)| *s == status.as_u16())
            .map(|(_, slug, title)| (*slug, *title))
            .unwrap_or(("error", "Error"));
        Self {
            type_: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            code: None,
        }
    }

    /// Names the condition with a stable code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Names the input field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        resp
    }
}

/// Errors a handler can return; each maps to one status and problem type.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request.
    #[error("{0}")]
    BadRequest(String),
    /// Missing or invalid API key.
    #[error(transparent)]
    Unauthorized(crate::auth::Error),
    /// The key's role may not use the route.
    #[error("role {role} may not use this route (allowed: {allowed})")]
    Forbidden {
        /// The caller's role.
        role: crate::auth::Role,
        /// Roles allowed on the route.
        allowed: String,
    },
    /// Resource not found (or owned by another tenant, which is reported the same way).
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the resource's current state.
    #[error("{0}")]
    Conflict(String),
    /// An input value is unusable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// Why.
        message: String,
    },
    /// An uploaded input cannot be used: too large (413), not a supported type (415), or not
    /// usable content (422); names the part or field and a stable code.
    #[error("{field}: {message}")]
    Rejected {
        /// 413, 415 or 422.
        status: StatusCode,
        /// The part or field at fault.
        field: String,
        /// Stable snake_case code.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// Rate limit exceeded.
    #[error("rate limit exceeded; retry in {retry_after_secs} s")]
    TooManyRequests {
        /// Seconds until a request will be accepted.
        retry_after_secs: u64,
    },
    /// The service is not ready or is overloaded.
    #[error("{message}")]
    Unavailable {
        /// Why.
        message: String,
        /// Seconds after which a retry may succeed.
        retry_after_secs: u64,
    },
    /// A failure of ours; details are logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// An invalid value of `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        match e {
            crate::store::Error::NotFound(what) => Self::NotFound(what.to_owned()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<crate::orders::Error> for ApiError {
    fn from(e: crate::orders::Error) -> Self {
        use crate::orders::Error as E;
        match e {
            E::Invalid { field, message } => Self::Invalid { field, message },
            E::NotFound => Self::NotFound("order".into()),
            E::RecordNotFound => Self::NotFound("measurement record".into()),
            e @ E::IllegalTransition { .. } => Self::Conflict(e.to_string()),
            e @ E::KeyReused => Self::invalid("Idempotency-Key", e.to_string()),
            E::Store(s) => s.into(),
            E::Internal(m) => Self::Internal(m),
            E::MarkerNotFound => Self::NotFound("marker".into()),
            E::PlanNotFound => Self::NotFound("marker plan".into()),
            E::Conflict(m) => Self::Conflict(m),
        }
    }
}

impl From<crate::webhooks::Error> for ApiError {
    fn from(e: crate::webhooks::Error) -> Self {
        use crate::webhooks::Error as E;
        match e {
            E::Invalid { field, message } => Self::Invalid { field, message },
            E::NotFound => Self::NotFound("webhook".into()),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::auth::Error> for ApiError {
    fn from(e: crate::auth::Error) -> Self {
        match e {
            crate::auth::Error::Store(s) => s.into(),
            other => Self::Unauthorized(other),
        }
    }
}

impl ApiError {
    /// The problem document this error answers with.
    pub(crate) fn problem(&self) -> Problem {
        self.parts().0
    }

    /// The problem document and, for 429 and 503, the seconds after which to retry.
    fn parts(&self) -> (Problem, Option<u64>) {
        match self {
            ApiError::BadRequest(m) => (Problem::new(StatusCode::BAD_REQUEST, m), None),
            ApiError::Unauthorized(e) => {
                (Problem::new(StatusCode::UNAUTHORIZED, e.to_string()), None)
            }
            ApiError::Forbidden { .. } => {
                (Problem::new(StatusCode::FORBIDDEN, self.to_string()), None)
            }
            ApiError::NotFound(_) => (Problem::new(StatusCode::NOT_FOUND, self.to_string()), None),
            ApiError::Conflict(m) => (Problem::new(StatusCode::CONFLICT, m), None),
            ApiError::Invalid { field, message } => (
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{field}: {message}"),
                )
                .with_field(field),
                None,
            ),
            ApiError::Rejected {
                status,
                field,
                code,
                message,
            } => (
                Problem::new(*status, format!("{field}: {message}"))
                    .with_field(field)
                    .with_code(*code),
                None,
            ),
            ApiError::TooManyRequests { retry_after_secs } => (
                Problem::new(StatusCode::TOO_MANY_REQUESTS, self.to_string()),
                Some(*retry_after_secs),
            ),
            ApiError::Unavailable {
                message,
                retry_after_secs,
            } => (
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, message),
                Some(*retry_after_secs),
            ),
            ApiError::Internal(_) => (
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server failed to answer; the error is logged",
                ),
                None,
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(m) = &self {
            tracing::error!(error = %m, "internal error");
        }
        let (problem, retry_after) = self.parts();
        let mut resp = problem.into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Rewrites any error response that is not yet problem+json (extractor rejections, body limit,
/// timeout, unknown routes) into a problem of its status, keeping a short plain-text body as the
/// detail because axum's rejection messages say precisely what was wrong.
pub async fn normalise(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    // JSON bodies are deliberate answers (problems, or a status report such as `/readyz`'s).
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let detail = match status {
        StatusCode::NOT_FOUND => "no route matches this path".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "this route does not accept this method".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body exceeds the configured limit (ATELIER_MAX_BODY_BYTES)".to_owned()
        }
        StatusCode::SERVICE_UNAVAILABLE if text.is_empty() => {
            "the request did not finish within the configured timeout".to_owned()
        }
        _ if text.is_empty() => status.canonical_reason().unwrap_or("error").to_owned(),
        _ => text,
    };
    let mut new = Problem::new(status, detail).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    *new.extensions_mut() = parts.extensions;
    new
}

/// Turns a caught handler panic into a logged 500 problem.
pub fn panic_response(payload: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    tracing::error!(panic = %msg, "handler panicked");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the server failed to answer; the error is logged",
    )
    .into_response()
}
