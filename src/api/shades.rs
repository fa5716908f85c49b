//! Shade matching (cosmetics counters): skin colour from a face photo, corrected with a colour
//! chart when one is in the picture, matched against a foundation catalog.

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::shade::photo::analyse_photo;
use crate::shade::{self, Catalog, ShadeOptions};

use super::inference::{self, Parts};
use super::problem::{ApiError, Problem};
use super::AppState;

/// Most overall matches a request may ask for.
const MAX_TOP: usize = 50;

/// The multipart form [`create`] reads, written by hand (see
/// [`super::measurements::form_schema`]).
pub fn form_schema() -> Schema {
    let part = |kind: Type, what: &str| {
        ObjectBuilder::new()
            .schema_type(kind)
            .description(Some(what))
    };
    ObjectBuilder::new()
        .property(
            "image",
            part(
                Type::String,
                "face photo (JPEG, PNG or WebP), read and discarded",
            )
            .content_media_type("image/*"),
        )
        .required("image")
        .property(
            "corners",
            part(
                Type::String,
                "x,y pixels of the centres of chart patches 1, 6, 24 and 19",
            )
            .pattern(Some(CORNERS_PATTERN)),
        )
        .property(
            "catalog",
            part(Type::String, "brand,product,shade and hex or L,a,b rows")
                .content_media_type("text/csv"),
        )
        .property(
            "top",
            part(Type::Integer, "overall matches to return (default 5)")
                .minimum(Some(1))
                .maximum(Some(MAX_TOP as f64)),
        )
        .into()
}

/// Eight comma-separated decimal numbers.
const CORNERS_PATTERN: &str = r"^\s*-?[0-9]+(\.[0-9]+)?(\s*,\s*-?[0-9]+(\.[0-9]+)?){7}\s*$";

/// Match foundation shades to the face in a photo.
///
/// Multipart parts: `image` (JPEG/PNG/WebP), optional `corners` (8 comma-separated numbers: the
/// centres of chart patches 1, 6, 24, 19 as x,y pixels), optional `catalog` (CSV:
/// brand,product,shade and hex or L,a,b; default the built-in catalog), optional `top` (1-50,
/// default 5). With several faces the largest is used and `several_faces` is added to the warnings.
#[utoipa::path(post, operation_id = "create_shade_match", path = "/v1/shade-matches", tag = "shades", security(("bearer" = [])),
    request_body(content = Object, content_type = "multipart/form-data",
        description = "image; corners, catalog (CSV) and top optional"),
    responses((status = 200, body = Object, description = "ShadeReport: skin, correction, confidence, matches, matches_by_brand, blend, warnings, regions"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem, description = "bad part, or code no_face / no_skin"),
        (status = 503, body = Problem, description = "models still loading (Retry-After)")))]
pub async fn create(
    State(state): State<AppState>,
    multipart: Multipart,
) -> Result<Json<shade::ShadeReport>, ApiError> {
    let mut parts = Parts::read(multipart).await?;
    let image = parts.take("image")?;
    let mut options = ShadeOptions::default();
    if let Some(text) = parts.text("corners")? {
        options.corners = Some(parse_corners(&text)?);
    }
    if let Some(text) = parts.text("top")? {
        match text.parse::<usize>() {
            Ok(n) if (1..=MAX_TOP).contains(&n) => options.top = n,
            _ => {
                return Err(ApiError::invalid(
                    "top",
                    format!("must be a whole number from 1 to {MAX_TOP}"),
                ))
            }
        }
    }
    let custom = match parts.take("catalog") {
        Ok(csv) => Some(
            Catalog::from_csv(csv.as_slice())
                .map_err(|e| ApiError::invalid("catalog", e.to_string()))?,
        ),
        Err(_) => None,
    };
    let vision = inference::vision(&state)?;
    let limits = inference::decode_limits(&state);
    let report = inference::blocking(&state, move || {
        let img = inference::decode(&image, "image", &limits)?;
        let builtin = Catalog::builtin().map_err(|e| ApiError::Internal(e.to_string()))?;
        let catalog = custom.as_ref().unwrap_or(builtin);
        analyse_photo(&vision.face, &img, catalog, &options)
            .map(|analysis| analysis.report)
            .map_err(|e| shade_error(e, options.corners.is_some()))
    })
    .await?;
    Ok(Json(report))
}

/// `x1,y1,...,x4,y4` -> four points.
fn parse_corners(text: &str) -> Result<[[f64; 2]; 4], ApiError> {
    let bad = || {
        ApiError::invalid(
            "corners",
            "must be 8 comma-separated numbers: x,y of the centres of chart patches 1, 6, 24 and 19",
        )
    };
    let numbers: Vec<f64> = text
        .split(',')
        .map(|t| t.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    if numbers.len() != 8 {
        return Err(bad());
    }
    let mut corners = [[0.0; 2]; 4];
    for (i, c) in corners.iter_mut().enumerate() {
        *c = [numbers[2 * i], numbers[2 * i + 1]];
    }
    Ok(corners)
}

fn shade_error(e: shade::Error, had_corners: bool) -> ApiError {
    use shade::Error as E;
    match e {
        E::NoSkin => ApiError::Rejected {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: "image".into(),
            code: "no_skin",
            message: e.to_string(),
        },
        E::NoFace => ApiError::Rejected {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: "image".into(),
            code: "no_face",
            message: e.to_string(),
        },
        E::Vision(v) => inference::vision_error(v, "image"),
        E::Catalog(_) => ApiError::invalid("catalog", e.to_string()),
        E::Color(_) if had_corners => ApiError::invalid("corners", e.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
}
