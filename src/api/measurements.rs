//! Body measurement (shops): every measurement with its uncertainty, from known values, from two
//! silhouettes, or from two photos (segmented here and never stored).

use axum::extract::{Multipart, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};

use crate::body::features::{estimate_with_features, mask_features};
use crate::body::model::Sex;
use crate::body::overlay as body_overlay;
use crate::body::photos::measure_photos;
use crate::body::predict::{self, Estimate, EstimateRequest};
use crate::body::silhouette::Mask as Silhouette;

use super::inference::{self, body_error, Parts};
use super::problem::{ApiError, Problem};
use super::AppState;

/// Stated height range accepted with photos or masks, cm.
const STATURE_RANGE: (f64, f64) = (50.0, 260.0);
/// Stated weight range accepted with photos or masks, kg.
const WEIGHT_RANGE: (f64, f64) = (20.0, 300.0);

/// The multipart form [`measure`] reads: photos or silhouettes (exactly one pair), the stated
/// height, and optional weight, sex and overlay. Written by hand because utoipa derives schemas
/// of JSON bodies, not of form parts read one at a time; `/openapi.json` puts it in place.
pub fn form_schema() -> Schema {
    let file = |media: &str, what: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type(media)
            .description(Some(what))
    };
    let number = |(lo, hi): (f64, f64), what: &str| {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .minimum(Some(lo))
            .maximum(Some(hi))
            .description(Some(what))
    };
    let words = |values: &[&str], what: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values.iter().copied()))
            .description(Some(what))
    };
    let parts = ObjectBuilder::new()
        .property(
            "front",
            file(
                "image/*",
                "front photo (JPEG, PNG or WebP), read and discarded",
            ),
        )
        .property("side", file("image/*", "side photo, facing left or right"))
        .property(
            "front_mask",
            file("image/png", "front silhouette, the person white"),
        )
        .property(
            "side_mask",
            file("image/png", "side silhouette, the person white"),
        )
        .property(
            "height_cm",
            number(STATURE_RANGE, "the person's height, cm"),
        )
        .required("height_cm")
        .property("weight_kg", number(WEIGHT_RANGE, "the person's weight, kg"))
        .property(
            "sex",
            words(&["male", "female"], "improves the estimate when given"),
        )
        .property(
            "overlay",
            words(
                &["true", "false"],
                "true: answer a PNG of what was measured instead",
            ),
        );
    let pair = |a: &str, b: &str| ObjectBuilder::new().required(a).required(b);
    AllOfBuilder::new()
        .item(parts)
        .item(
            OneOfBuilder::new()
                .item(pair("front", "side"))
                .item(pair("front_mask", "side_mask")),
        )
        .into()
}

/// Predict one person's whole measurement set from whatever is known (cm, kg for weight).
///
/// Body: `{"sex": "male"|"female" (optional), "values": {"stature": 178, "weight": 80, ...},
/// "sd": {"chest_girth": 1.5} (optional)}`; keys are measure names or ANSUR II columns.
#[utoipa::path(post, operation_id = "estimate_measurements", path = "/v1/measurements/estimate", tag = "measurements", security(("bearer" = [])),
    request_body = EstimateRequest,
    responses((status = 200, body = Object, description = "measurements [{name, ansur, value_cm, sd_cm, observed}] and warnings [{code, message}]"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn estimate(
    State(state): State<AppState>,
    Json(request): Json<EstimateRequest>,
) -> Result<Json<Estimate>, ApiError> {
    let model = state.body_model().map_err(|e| body_error(e, ""))?;
    let estimate = inference::blocking(&state, move || {
        predict::estimate(&model, &request).map_err(|e| body_error(e, "values."))
    })
    .await?;
    Ok(Json(estimate))
}

/// Measure a person from a front and a side photo, or from front and side silhouettes.
///
/// Multipart parts: either `front` and `side` (JPEG/PNG/WebP photos, read with the pose model and
/// discarded) or `front_mask` and `side_mask` (PNG, person white); plus `height_cm`, optional
/// `weight_kg` and `sex` (`male`/`female`). With `overlay` = `true` the answer is a PNG of both
/// views with the silhouettes, landmarks and measured lines instead of the JSON.
#[utoipa::path(post, operation_id = "measure_photos", path = "/v1/measurements", tag = "measurements", security(("bearer" = [])),
    request_body(content = Object, content_type = "multipart/form-data",
        description = "front + side photos, or front_mask + side_mask PNGs; height_cm; weight_kg, sex and overlay (true/false) optional"),
    responses((status = 200, body = Object, description = "measurements [{name, ansur, value_cm, sd_cm, observed}] and warnings [{code, message}]; image/png when overlay=true"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem, description = "models still loading (Retry-After)")))]
pub async fn measure(
    State(state): State<AppState>,
    multipart: Multipart,
) -> Result<Response, ApiError> {
    let mut parts = Parts::read(multipart).await?;
    let stature = parts
        .number("height_cm")?
        .ok_or_else(|| ApiError::invalid("height_cm", "this part is required (cm)"))?;
    in_range("height_cm", stature, STATURE_RANGE, "cm")?;
    let weight = parts.number("weight_kg")?;
    if let Some(w) = weight {
        in_range("weight_kg", w, WEIGHT_RANGE, "kg")?;
    }
    let sex = match parts.text("sex")? {
        None => None,
        Some(s) if s.is_empty() => None,
        Some(s) => Sex::parse(&s, 0).map_err(|e| body_error(e, ""))?,
    };
    let overlay = match parts.text("overlay")?.as_deref() {
        None | Some("" | "false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "overlay",
                format!("`{other}` is not `true` or `false`"),
            ))
        }
    };
    let model = state.body_model().map_err(|e| body_error(e, ""))?;

    let photos = parts.has("front") || parts.has("side");
    let masks = parts.has("front_mask") || parts.has("side_mask");
    if photos && masks {
        return Err(ApiError::invalid(
            "front_mask",
            "send either photos (front, side) or masks (front_mask, side_mask), not both",
        ));
    }
    if !photos && !masks {
        return Err(ApiError::invalid(
            "front",
            "send photos (front, side) or masks (front_mask, side_mask)",
        ));
    }
    let (estimate, picture) = if masks {
        let front = parts.take("front_mask")?;
        let side = parts.take("side_mask")?;
        inference::blocking(&state, move || {
            let front = Silhouette::from_png(&front, "front").map_err(|e| body_error(e, ""))?;
            let side = Silhouette::from_png(&side, "side").map_err(|e| body_error(e, ""))?;
            let read = mask_features(&model, &front, &side, stature, sex)
                .map_err(|e| body_error(e, ""))?;
            let picture = overlay.then(|| body_overlay::draw_masks(&front, &side, &read.readings));
            let estimate = estimate_with_features(&model, stature, weight, sex, read)
                .map_err(|e| body_error(e, ""))?;
            Ok((estimate, picture))
        })
        .await?
    } else {
        let front = parts.take("front")?;
        let side = parts.take("side")?;
        let vision = inference::vision(&state)?;
        let limits = inference::decode_limits(&state);
        inference::blocking(&state, move || {
            let front = inference::decode(&front, "front", &limits)?;
            let side = inference::decode(&side, "side", &limits)?;
            let measured = measure_photos(&vision, &model, &front, &side, stature, weight, sex)
                .map_err(|e| body_error(e, ""))?;
            let picture = overlay.then(|| body_overlay::draw_photos(&front, &side, &measured));
            Ok((measured.estimate, picture))
        })
        .await?
    };
    match picture {
        None => Ok(Json(estimate).into_response()),
        Some(picture) => png_response(&picture),
    }
}

/// The picture as `image/png`.
fn png_response(picture: &image::RgbImage) -> Result<Response, ApiError> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| ApiError::Internal(format!("encoding the overlay: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], bytes.into_inner()).into_response())
}

fn in_range(field: &str, value: f64, (min, max): (f64, f64), unit: &str) -> Result<(), ApiError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("{value} {unit} is outside the plausible range {min}..{max} {unit}"),
        ))
    }
}
