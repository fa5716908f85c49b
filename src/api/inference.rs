//! What the model-backed routes share: running heavy work off the async workers, reading
//! multipart uploads, decoding images within limits, and mapping the library errors to problems.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::multipart::{Multipart, MultipartError};
use axum::http::StatusCode;

use crate::vision::{self, DecodeLimits, Vision};

use super::problem::ApiError;
use super::AppState;

/// Seconds a client should wait before retrying while the models load.
const RETRY_WHILE_LOADING_SECS: u64 = 10;

/// Seconds a client should wait before retrying when a model's queue is full: a queue drains in
/// well under a second.
const RETRY_WHEN_OVERLOADED_SECS: u64 = 1;

/// Runs `work` on tokio's blocking pool (model inference, drafting), never on an async worker.
/// At most [`AppState::heavy_task_limit`] run at once. Up to the configured queue capacity more
/// wait their turn (within the request timeout); beyond that a request is answered 503 with
/// `Retry-After` at once, so a burst cannot pile up work (and decoded photos) without limit.
pub async fn blocking<T, F>(state: &AppState, work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let _permit = match state.heavy_tasks.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            let waiting = Waiting::enter(state);
            if waiting.count > state.config.batching.queue_capacity {
                metrics::counter!("atelier_heavy_tasks_rejected_total").increment(1);
                return Err(ApiError::Unavailable {
                    message: format!(
                        "the service is at capacity ({} requests waiting); retry shortly",
                        waiting.count - 1
                    ),
                    retry_after_secs: RETRY_WHEN_OVERLOADED_SECS,
                });
            }
            state
                .heavy_tasks
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
        }
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(ApiError::Internal(format!("inference task panicked: {e}"))),
        Err(e) => Err(ApiError::Internal(format!("inference task failed: {e}"))),
    }
}

/// A request waiting for a heavy-task slot, counted while it waits.
struct Waiting<'a> {
    state: &'a AppState,
    count: usize,
}

impl<'a> Waiting<'a> {
    fn enter(state: &'a AppState) -> Self {
        let count = state.heavy_waiting.fetch_add(1, Ordering::AcqRel) + 1;
        metrics::gauge!("atelier_heavy_tasks_waiting").set(count as f64);
        Waiting { state, count }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let left = self.state.heavy_waiting.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!("atelier_heavy_tasks_waiting").set(left as f64);
    }
}

/// The shared vision pipelines, or 503 with Retry-After while they load.
pub fn vision(state: &AppState) -> Result<Arc<Vision>, ApiError> {
    state.vision().ok_or_else(|| ApiError::Unavailable {
        message: "the vision models are still loading; retry shortly".into(),
        retry_after_secs: RETRY_WHILE_LOADING_SECS,
    })
}

/// Image limits from the configuration.
pub fn decode_limits(state: &AppState) -> DecodeLimits {
    DecodeLimits {
        max_pixels: state.config.max_image_pixels,
        max_file_bytes: state.config.max_body_bytes as u64,
        ..DecodeLimits::default()
    }
}

/// The parts of a multipart request, by name (the last one wins when a name repeats).
pub struct Parts(HashMap<String, Vec<u8>>);

impl Parts {
    /// Reads every part of `multipart` into memory (the route's body limit bounds the total).
    pub async fn read(mut multipart: Multipart) -> Result<Self, ApiError> {
        let mut parts = HashMap::new();
        while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
            let Some(name) = field.name().map(str::to_owned) else {
                continue;
            };
            let bytes = field.bytes().await.map_err(multipart_error)?;
            parts.insert(name, bytes.to_vec());
        }
        Ok(Self(parts))
    }

    /// Whether a part named `name` was sent.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Takes the part `name`, or 422 naming it.
    pub fn take(&mut self, name: &str) -> Result<Vec<u8>, ApiError> {
        self.0
            .remove(name)
            .ok_or_else(|| ApiError::invalid(name, "this part is required"))
    }

    /// The part `name` as trimmed UTF-8 text, if sent.
    pub fn text(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.remove(name) {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes)
                .map(|s| Some(s.trim().to_owned()))
                .map_err(|_| ApiError::invalid(name, "must be UTF-8 text")),
        }
    }

    /// The part `name` parsed as a number, if sent.
    pub fn number(&mut self, name: &str) -> Result<Option<f64>, ApiError> {
        match self.text(name)? {
            None => Ok(None),
            Some(t) => match t.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                _ => Err(ApiError::invalid(name, format!("`{t}` is not a number"))),
            },
        }
    }
}

fn multipart_error(e: MultipartError) -> ApiError {
    let status = e.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::Rejected {
            status,
            field: "body".into(),
            code: "payload_too_large",
            message: e.body_text(),
        }
    } else {
        ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
    }
}

/// Decodes the image part `part` within the configured limits (call from a blocking thread).
pub fn decode(
    bytes: &[u8],
    part: &str,
    limits: &DecodeLimits,
) -> Result<image::RgbImage, ApiError> {
    if image::guess_format(bytes).is_err() {
        return Err(ApiError::Rejected {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            field: part.into(),
            code: "unsupported_image",
            message: "not a JPEG, PNG or WebP image".into(),
        });
    }
    vision::decode(bytes, limits).map_err(|e| vision_error(e, part))
}

/// Maps a vision error about the input `part` to 413/415/422, anything else to 500.
pub fn vision_error(e: vision::Error, part: &str) -> ApiError {
    if let vision::Error::Overloaded { .. } = e {
        return ApiError::Unavailable {
            message: e.to_string(),
            retry_after_secs: RETRY_WHEN_OVERLOADED_SECS,
        };
    }
    if !e.is_client_error() {
        return ApiError::Internal(e.to_string());
    }
    let (status, code) = match e {
        vision::Error::FileTooLarge { .. }
        | vision::Error::TooManyPixels { .. }
        | vision::Error::DecodeLimit(_) => (StatusCode::PAYLOAD_TOO_LARGE, "image_too_large"),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "undecodable_image"),
    };
    ApiError::Rejected {
        status,
        field: part.into(),
        code,
        message: e.to_string(),
    }
}

/// Maps a body-model error to a 422 naming the field (prefixed with `prefix`), or a 500.
pub fn body_error(e: crate::body::Error, prefix: &str) -> ApiError {
    use crate::body::Error as E;
    let named = |field: &str| {
        if prefix.is_empty() {
            field.to_owned()
        } else {
            format!("{prefix}{field}")
        }
    };
    if let E::Vision { view, .. } = &e {
        let view = *view;
        if let E::Vision { source, .. } = e {
            return vision_error(source, view);
        }
    }
    match &e {
        E::UnknownField { field }
        | E::InvalidValue { field, .. }
        | E::OutOfRange { field, .. }
        | E::Duplicate { field } => {
            // `sd.x` errors already carry their own prefix.
            let field = if field.starts_with("sd.") {
                field.split(' ').next().unwrap_or(field).to_owned()
            } else {
                named(field)
            };
            ApiError::invalid(field, e.to_string())
        }
        E::UnknownSex { .. } => ApiError::invalid("sex", e.to_string()),
        E::Mask { context, .. } => ApiError::invalid(format!("{context}_mask"), e.to_string()),
        E::Unmeasurable { view, code, .. } => ApiError::Rejected {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: (*view).into(),
            code,
            message: e.to_string(),
        },
        E::NoPerson { view } => ApiError::Rejected {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: (*view).into(),
            code: "no_person",
            message: e.to_string(),
        },
        E::Json { .. } => ApiError::BadRequest(e.to_string()),
        _ => ApiError::Internal(e.to_string()),
    }
}
