//! Patterns (shops, factories): made-to-measure or GB/T 1335 graded cut files, and the garment list.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use utoipa::openapi::schema::{Array, ArrayBuilder, Object, ObjectBuilder, Type};

use crate::pattern::{self, Body, Format, GarmentInfo};

use super::inference;
use super::problem::{ApiError, Problem};
use super::AppState;

/// Most sizes one graded request may ask for.
const MAX_SIZES: usize = 40;

/// `POST /v1/patterns` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatternRequest {
    /// Garment name from `GET /v1/garments`.
    #[schema(schema_with = pattern::garment_schema)]
    pub garment: String,
    /// Body measurements in cm: a flat object (`{"chest_girth": 96, ...}`) or the answer of
    /// `POST /v1/measurements` (`{"measurements": [{"name", "value_cm", ...}]}`). Required unless
    /// `sizes` is given.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub measurements: Option<serde_json::Value>,
    /// Style and ease options in cm (defaults from the garment list).
    #[serde(default)]
    pub options: BTreeMap<String, f64>,
    /// `svg` (default), `pdf`, `pdf-roll`, `dxf-aama`, `hpgl` or `json`.
    #[serde(default)]
    #[schema(schema_with = format_schema)]
    pub format: Option<String>,
    /// GB/T 1335 size codes (e.g. `170/88A`): a graded set instead of one made-to-measure pattern.
    #[serde(default)]
    #[schema(schema_with = sizes_schema)]
    pub sizes: Option<Vec<String>>,
}

/// The file formats by name, `svg` by default here.
fn format_schema() -> Object {
    let mut schema = pattern::format_schema();
    schema.description = Some("The cut file's format (default `svg`).".into());
    schema
}

/// A list of GB/T 1335 size codes: 号/型 in whole cm and the body type.
fn sizes_schema() -> Array {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^\s*[0-9]{2,3}/[0-9]{2,3}[YABC]\s*$")),
        )
        .description(Some(
            "GB/T 1335 size codes (e.g. `170/88A`): a graded set instead of one made-to-measure pattern.",
        ))
        .min_items(Some(1))
        .max_items(Some(MAX_SIZES))
        .build()
}

/// Draft a garment for one body (or grade it over GB/T 1335 sizes) and return the cut file.
#[utoipa::path(post, operation_id = "create_pattern", path = "/v1/patterns", tag = "patterns", security(("bearer" = [])), request_body = PatternRequest,
    responses((status = 200, description = "the file (Content-Type by format, Content-Disposition names it)",
            content(("image/svg+xml"), ("application/pdf"), ("image/vnd.dxf"), ("application/vnd.hp-hpgl"), ("application/json"))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Json(request): Json<PatternRequest>,
) -> Result<Response, ApiError> {
    pattern::garment(&request.garment).map_err(pattern_error)?;
    let format: Format = request
        .format
        .as_deref()
        .unwrap_or("svg")
        .parse()
        .map_err(pattern_error)?;
    let body = match (&request.measurements, &request.sizes) {
        (Some(m), _) => Some(body_from(m)?),
        (None, Some(_)) => None,
        (None, None) => {
            return Err(ApiError::invalid(
                "measurements",
                "give the body measurements (cm), or `sizes` for a graded set",
            ))
        }
    };
    if let Some(sizes) = &request.sizes {
        if sizes.is_empty() || sizes.len() > MAX_SIZES {
            return Err(ApiError::invalid(
                "sizes",
                format!("give 1 to {MAX_SIZES} size codes"),
            ));
        }
        if body.is_some() {
            return Err(ApiError::invalid(
                "sizes",
                "give either measurements (made to measure) or sizes (graded), not both",
            ));
        }
    }
    let garment = request.garment.clone();
    let (export, label) = inference::blocking(&state, move || match (&body, &request.sizes) {
        (Some(body), _) => {
            let drafted =
                pattern::draft(&request.garment, body, &request.options).map_err(pattern_error)?;
            let export = pattern::export(&drafted, format).map_err(pattern_error)?;
            Ok((export, "mtm".to_owned()))
        }
        (None, Some(sizes)) => {
            let codes: Vec<&str> = sizes.iter().map(String::as_str).collect();
            let set = pattern::grade(&request.garment, &codes, &request.options)
                .map_err(pattern_error)?;
            let export = pattern::export_graded(&set, format).map_err(pattern_error)?;
            Ok((export, "graded".to_owned()))
        }
        (None, None) => Err(ApiError::invalid("measurements", "required")),
    })
    .await?;
    let filename = format!("{garment}-{label}.{}", export.extension);
    Ok((
        [
            (header::CONTENT_TYPE, export.media_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        export.bytes,
    )
        .into_response())
}

/// Every garment that can be drafted: pieces, required measurements, options with ranges.
#[utoipa::path(get, operation_id = "list_garments", path = "/v1/garments", tag = "patterns", security(("bearer" = [])),
    responses((status = 200, description = "JSON array of garments: name, title, pieces, measurements, options {name, default, min, max, doc}, sex, sized_by"),
        (status = 401, body = Problem)))]
pub async fn garments() -> Json<&'static [GarmentInfo]> {
    Json(pattern::garments())
}

/// Reads either measurement shape; entries of the measurement answer without `value_cm` (weight,
/// in kg) are not drafting inputs and are skipped.
fn body_from(value: &serde_json::Value) -> Result<Body, ApiError> {
    let mut value = value.clone();
    if let Some(list) = value
        .get_mut("measurements")
        .and_then(serde_json::Value::as_array_mut)
    {
        list.retain(|m| {
            m.get("value_cm").is_some_and(|v| !v.is_null()) || m.get("value").is_some()
        });
    }
    let bytes = serde_json::to_vec(&value).map_err(|e| ApiError::Internal(e.to_string()))?;
    Body::from_json(&bytes).map_err(pattern_error)
}

/// Pattern errors: input errors are 422 naming the request field, the rest 500.
fn pattern_error(e: pattern::Error) -> ApiError {
    use pattern::Error as E;
    let field = match &e {
        E::Measurement { field, .. } if field == "measurements" => "measurements".to_owned(),
        E::Measurement { field, .. } => format!("measurements.{field}"),
        E::MissingMeasurement { field } => format!("measurements.{field}"),
        E::UnknownGarment { .. } => "garment".into(),
        E::InvalidOption { option, .. } if option == "format" => "format".into(),
        E::UnknownOption { option, .. } | E::InvalidOption { option, .. } => {
            format!("options.{option}")
        }
        E::Size { .. } => "sizes".into(),
        E::Json(_) => "measurements".into(),
        // The measurements and options cannot make this piece.
        E::Geometry { .. } => "measurements".into(),
        E::Vit(_) | E::Export { .. } => return ApiError::Internal(e.to_string()),
    };
    ApiError::invalid(field, e.to_string())
}
