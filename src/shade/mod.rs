//! Skin tone measurement and foundation shade matching (测肤).
//!
//! [`analyse`] takes a photo and the 468 FaceMesh points of the face, calibrates colour with a
//! ColorChecker in the frame when there is one (else estimates the illuminant and says so),
//! measures the skin, places it on the ITA and Monk scales, and matches it against a catalog.

pub mod catalog;
pub mod photo;
pub mod skin;
pub mod swatch;
pub mod tone;

use image::RgbImage;
use serde::{Deserialize, Serialize};

pub use catalog::{Blend, BrandMatches, Catalog, Shade, ShadeMatch};
pub use skin::{measure_skin, FaceRegions, RegionSample, SkinMeasurement, SkinRegion};
pub use swatch::draw_swatch;
pub use tone::{ita_deg, nearest_monk, ItaCategory, Undertone};

use crate::color::{
    self, chart_from_corners, estimate_illuminant, find_chart, ColorCorrection, CorrectionModel,
    Lab,
};

/// Best-match distance above which a two-shade blend is proposed.
pub const BLEND_ABOVE_DE00: f64 = 1.5;

/// Errors of the shade area.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The mesh does not have 468 points.
    #[error("face mesh has {0} points; expected 468 (MediaPipe FaceMesh)")]
    MeshSize(usize),
    /// The mesh has NaN or infinite coordinates.
    #[error("face mesh has non-finite coordinates")]
    MeshNotFinite,
    /// No region produced usable skin pixels.
    #[error(
        "no usable skin pixels in the face regions (face too small, covered, or badly exposed)"
    )]
    NoSkin,
    /// A custom catalog could not be read.
    #[error("shade catalog: {0}")]
    Catalog(String),
    /// The built-in catalog failed to parse (a packaging bug).
    #[error("built-in shade catalog is broken: {0}")]
    BuiltinCatalog(String),
    /// A colour-science step failed.
    #[error(transparent)]
    Color(#[from] color::Error),
    /// No face (with a mesh) was found in the photo.
    #[error(
        "no face found; use a well-lit, front-facing photo with the face filling a good part of the frame"
    )]
    NoFace,
    /// The face pipeline failed.
    #[error("face detection: {0}")]
    Vision(#[from] crate::vision::Error),
}

/// Options of [`analyse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadeOptions {
    /// Centres of chart patches 1, 6, 24, 19 (clockwise from "dark skin"), when the caller knows them.
    pub corners: Option<[[f64; 2]; 4]>,
    /// Look for a chart when no corners are given.
    pub find_chart: bool,
    /// Number of overall matches.
    pub top: usize,
    /// Number of matches per brand.
    pub per_brand: usize,
}

impl Default for ShadeOptions {
    fn default() -> Self {
        Self {
            corners: None,
            find_chart: true,
            top: 5,
            per_brand: 3,
        }
    }
}

/// Named conditions the caller should know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Warning {
    /// No chart: colour corrected by an illuminant estimate only.
    NoChart,
    /// Some chart patches were covered, clipped or inconsistent and left out of the fit.
    ChartPartlyHidden,
    /// The chart appears mirrored (front camera).
    ChartMirrored,
    /// The chart fit left a large residual (uneven light on the chart, or a glossy reflection).
    ChartPoorFit,
    /// The chart corners given could not be used; fell back to detection or estimation.
    ChartCornersUnusable,
    /// Many skin pixels are clipped.
    SkinOverexposed,
    /// The skin is very dark in the photo: noise and JPEG dominate.
    SkinUnderexposed,
    /// Few skin pixels: the face is small in the frame.
    FaceTooSmall,
    /// The face regions disagree (uneven light or make-up); some were left out.
    RegionsDisagree,
    /// Several faces are in the photo; the largest was measured.
    SeveralFaces,
}

/// The measured skin colour and its scales.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkinReport {
    /// CIELAB D65.
    pub lab: Lab,
    /// sRGB `#RRGGBB`.
    pub hex: String,
    /// Individual Typology Angle in degrees.
    pub ita: f64,
    /// ITA category.
    pub ita_category: ItaCategory,
    /// Nearest Monk Skin Tone, 1..10.
    pub monk: u8,
    /// CIEDE2000 to that Monk swatch.
    pub monk_de00: f64,
    /// Undertone from the hue angle.
    pub undertone: Undertone,
    /// CIELAB hue angle h_ab in degrees.
    pub hue_deg: f64,
}

/// How colour was corrected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionMethod {
    /// Colour-correction fit to a ColorChecker in the photo.
    Chart,
    /// Illuminant estimate (general grey-world) with a von Kries correction.
    Estimate,
}

/// The colour correction applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrectionReport {
    /// Chart fit or estimate.
    pub method: CorrectionMethod,
    /// Whether a chart was found (or given) and used.
    pub chart_found: bool,
    /// Mean CIEDE2000 of the chart fit, when a chart was used.
    pub residual_de00: Option<f64>,
    /// Transform fitted to the chart.
    pub model: Option<CorrectionModel>,
    /// Chart patches left out of the fit (1-based).
    pub excluded_patches: Vec<usize>,
    /// Chart corner patch centres (1, 6, 24, 19) in pixels.
    pub chart_corners: Option<[[f64; 2]; 4]>,
    /// Estimated illuminant (camera linear RGB, Y = 1) when no chart was used.
    pub illuminant_rgb: Option<[f64; 3]>,
}

/// Everything [`analyse`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadeReport {
    /// Skin colour and scales.
    pub skin: SkinReport,
    /// Colour correction.
    pub correction: CorrectionReport,
    /// 0..1: how far to trust the colour (chart fit quality, region agreement, exposure).
    pub confidence: f64,
    /// Nearest shades over the whole catalog.
    pub matches: Vec<ShadeMatch>,
    /// Nearest shades per brand, brands by their best match.
    pub matches_by_brand: Vec<BrandMatches>,
    /// Two-shade mix, when the best single shade is farther than 1.5 ΔE00 and a mix is closer.
    pub blend: Option<Blend>,
    /// Named conditions.
    pub warnings: Vec<Warning>,
    /// Per-region sampling results.
    pub regions: Vec<RegionSample>,
}

/// Measures skin and matches shades from a photo and the face's 468 FaceMesh points (pixels).
pub fn analyse(
    img: &RgbImage,
    mesh: &[[f32; 3]],
    catalog: &Catalog,
    options: &ShadeOptions,
) -> Result<ShadeReport, Error> {
    let face = FaceRegions::from_mesh(mesh)?;
    analyse_regions(img, &face, catalog, options)
}

enum Correction {
    Chart(ColorCorrection),
    Estimate(color::IlluminantEstimate),
}

/// [`analyse`] on explicit regions (for callers and tests without a mesh).
pub fn analyse_regions(
    img: &RgbImage,
    face: &FaceRegions,
    catalog: &Catalog,
    options: &ShadeOptions,
) -> Result<ShadeReport, Error> {
    let mut warnings = Vec::new();
    let chart = match options.corners {
        Some(c) => match chart_from_corners(img, c) {
            Ok(found) => Some(found),
            Err(_) => {
                warnings.push(Warning::ChartCornersUnusable);
                options.find_chart.then(|| find_chart(img)).flatten()
            }
        },
        None => options.find_chart.then(|| find_chart(img)).flatten(),
    };
    let fitted = chart
        .as_ref()
        .and_then(|c| ColorCorrection::fit(&c.patches).ok().map(|fit| (c, fit)))
        // A fit this poor means the lattice was not a chart, or the chart is unusable.
        .filter(|(_, fit)| fit.residual_de00 < 8.0);
    let (correction, report) = match fitted {
        Some((found, fit)) => {
            if !fit.excluded_patches.is_empty() {
                warnings.push(Warning::ChartPartlyHidden);
            }
            if found.mirrored {
                warnings.push(Warning::ChartMirrored);
            }
            if fit.residual_de00 > 3.0 {
                warnings.push(Warning::ChartPoorFit);
            }
            let report = CorrectionReport {
                method: CorrectionMethod::Chart,
                chart_found: true,
                residual_de00: Some(fit.residual_de00),
                model: Some(fit.model),
                excluded_patches: fit.excluded_patches.clone(),
                chart_corners: Some(found.corners),
                illuminant_rgb: None,
            };
            (Correction::Chart(fit), report)
        }
        None => {
            warnings.push(Warning::NoChart);
            let mut exclude = vec![face.face_outline.clone()];
            if let Some(c) = &chart {
                exclude.push(c.outline());
            }
            let est = estimate_illuminant(img, &exclude)?;
            let report = CorrectionReport {
                method: CorrectionMethod::Estimate,
                chart_found: false,
                residual_de00: None,
                model: None,
                excluded_patches: Vec::new(),
                chart_corners: None,
                illuminant_rgb: Some(est.rgb),
            };
            (Correction::Estimate(est), report)
        }
    };
    let apply = |c: [f64; 3]| match &correction {
        Correction::Chart(fit) => fit.apply(c),
        Correction::Estimate(est) => est.apply(c),
    };
    let skin = measure_skin(img, &face.regions, &face.excluded, &apply)?;

    let kept: usize = skin.regions.iter().filter(|r| r.used).map(|r| r.kept).sum();
    if skin.clipped_share > 0.15 {
        warnings.push(Warning::SkinOverexposed);
    }
    if skin.raw_median_l < 25.0 {
        warnings.push(Warning::SkinUnderexposed);
    }
    if kept < 400 {
        warnings.push(Warning::FaceTooSmall);
    }
    if skin.regions.iter().any(|r| !r.used) || skin.region_spread_de00 > 4.0 {
        warnings.push(Warning::RegionsDisagree);
    }
    let confidence = confidence(&report, &skin, &warnings);

    let lab = skin.lab;
    let ita = ita_deg(&lab);
    let (monk, monk_de00) = nearest_monk(&lab).unwrap_or((0, f64::NAN));
    let matches = catalog.top_k(&lab, options.top);
    let blend = match matches.first() {
        Some(best) if best.de00 > BLEND_ABOVE_DE00 => catalog
            .best_blend(&lab)
            .filter(|b| b.de00 < best.de00 - 0.1),
        _ => None,
    };
    Ok(ShadeReport {
        skin: SkinReport {
            hex: lab.to_hex(),
            ita,
            ita_category: ItaCategory::from_ita(ita),
            monk,
            monk_de00,
            undertone: Undertone::from_lab(&lab),
            hue_deg: lab.hue_deg(),
            lab,
        },
        correction: report,
        confidence,
        matches,
        matches_by_brand: catalog.top_k_per_brand(&lab, options.per_brand),
        blend,
        warnings,
        regions: skin.regions,
    })
}

/// Heuristic 0..1 confidence: a chart fit within the ~1 ΔE00 budget starts at 0.95, an
/// illuminant estimate (median error of a few degrees, i.e. 1-4 ΔE00 on skin) at 0.5; region
/// disagreement and exposure problems scale it down.
fn confidence(report: &CorrectionReport, skin: &SkinMeasurement, warnings: &[Warning]) -> f64 {
    let mut c = match (report.method, report.residual_de00) {
        (CorrectionMethod::Chart, Some(r)) => (0.95 - 0.08 * (r - 1.5).max(0.0)).clamp(0.5, 0.95),
        _ => 0.5,
    };
    c *= (3.0 / skin.region_spread_de00.max(3.0)).clamp(0.5, 1.0);
    for w in warnings {
        c *= match w {
            Warning::SkinOverexposed | Warning::SkinUnderexposed => 0.7,
            Warning::FaceTooSmall => 0.6,
            Warning::ChartPartlyHidden => 0.95,
            _ => 1.0,
        };
    }
    (c * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests;
