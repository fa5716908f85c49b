//! Skin sampling from the 468-point FaceMesh (MediaPipe canonical topology).
//!
//! Sampled: forehead band above the brows, both cheeks (below the eyes, beside the nose, above
//! the mouth corners) and the chin below the lower lip. Excluded: eyes, brows, lips and the
//! nose wings with the nostrils, each as a mesh polygon; hair is kept out by the forehead band
//! stopping well below the hairline and by the colour outlier test. The polygons were checked by
//! drawing them on the canonical face model (`mediapipe/modules/face_geometry/data/
//! canonical_face_model.obj`) and on the MediaPipe meshes of the test portraits.
//!
//! Per pixel: clipped pixels (a channel >= 250: specular highlight or over-exposure) are dropped;
//! then within each region pixels far from the region's median in L* (highlights, shadows),
//! chroma or hue (hair, stubble, lips, make-up edges) are dropped with MAD-based cuts. A region's
//! colour is the mean of its kept pixels in linear RGB (light adds linearly); regions whose
//! chromaticity disagrees with the others by more than 8 ΔE00 (a fringe, a beard) are left out;
//! regions are averaged with equal weights.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::Error;
use crate::color::geometry::{bounds, point_in_polygon, polygon_area};
use crate::color::space::{linear_srgb_to_lab, srgb8_to_linear};
use crate::color::Lab;

/// Number of FaceMesh landmarks.
pub const MESH_POINTS: usize = 468;

/// Forehead band between the brows and the hairline.
const FOREHEAD: &[usize] = &[
    104, 69, 108, 151, 337, 299, 333, 334, 296, 336, 9, 107, 66, 105,
];
/// Cheek on the image-left side (the subject's right).
const CHEEK_RIGHT: &[usize] = &[117, 118, 101, 36, 205, 187, 123, 116];
/// Cheek on the image-right side (the subject's left).
const CHEEK_LEFT: &[usize] = &[346, 347, 330, 266, 425, 411, 352, 345];
/// Chin below the lower lip.
const CHIN: &[usize] = &[18, 313, 421, 428, 199, 208, 201, 83];

/// Polygons never sampled: eyes, brows, lips, nose wings and nostrils.
const EXCLUDED: &[&[usize]] = &[
    &[
        33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
    ],
    &[
        362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398,
    ],
    &[70, 63, 105, 66, 107, 55, 65, 52, 53, 46],
    &[300, 293, 334, 296, 336, 285, 295, 282, 283, 276],
    &[
        61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185,
    ],
    &[
        48, 64, 98, 97, 2, 326, 327, 294, 278, 344, 440, 275, 4, 45, 220, 115,
    ],
];

/// Face outline (MediaPipe FACE_OVAL), used to keep skin out of illuminant estimation.
const FACE_OVAL: &[usize] = &[
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
];

/// Share by which sampled polygons are shrunk towards their centroid, to stay off their edges.
const SHRINK: f64 = 0.12;

/// A named polygon to sample, in image pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkinRegion {
    /// Region name (`forehead`, `cheek_left`, ...).
    pub name: String,
    /// Polygon vertices in image pixels.
    pub polygon: Vec<[f64; 2]>,
}

/// Sampling polygons and exclusion polygons derived from a face mesh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceRegions {
    /// Regions to sample.
    pub regions: Vec<SkinRegion>,
    /// Polygons whose pixels are never sampled.
    pub excluded: Vec<Vec<[f64; 2]>>,
    /// Outline of the whole face.
    pub face_outline: Vec<[f64; 2]>,
}

impl FaceRegions {
    /// Builds the regions from 468 FaceMesh points `[x, y, z]` in image pixels.
    pub fn from_mesh(mesh: &[[f32; 3]]) -> Result<Self, Error> {
        if mesh.len() != MESH_POINTS {
            return Err(Error::MeshSize(mesh.len()));
        }
        if mesh.iter().any(|p| !(p[0].is_finite() && p[1].is_finite())) {
            return Err(Error::MeshNotFinite);
        }
        let poly = |idx: &[usize]| -> Vec<[f64; 2]> {
            idx.iter()
                .filter_map(|i| mesh.get(*i))
                .map(|p| [f64::from(p[0]), f64::from(p[1])])
                .collect()
        };
        let regions = [
            ("forehead", FOREHEAD),
            ("cheek_right", CHEEK_RIGHT),
            ("cheek_left", CHEEK_LEFT),
            ("chin", CHIN),
        ]
        .iter()
        .map(|(name, idx)| SkinRegion {
            name: (*name).to_string(),
            polygon: shrink(&poly(idx), SHRINK),
        })
        .collect();
        Ok(Self {
            regions,
            excluded: EXCLUDED.iter().map(|idx| poly(idx)).collect(),
            face_outline: poly(FACE_OVAL),
        })
    }
}

fn shrink(poly: &[[f64; 2]], by: f64) -> Vec<[f64; 2]> {
    let n = poly.len().max(1) as f64;
    let cx = poly.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = poly.iter().map(|p| p[1]).sum::<f64>() / n;
    poly.iter()
        .map(|p| [cx + (p[0] - cx) * (1.0 - by), cy + (p[1] - cy) * (1.0 - by)])
        .collect()
}

/// What one region gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionSample {
    /// Region name.
    pub name: String,
    /// Pixels inside the polygon and outside the exclusions.
    pub pixels: usize,
    /// Pixels dropped as clipped (a channel >= 250).
    pub clipped: usize,
    /// Pixels kept after the outlier cuts.
    pub kept: usize,
    /// Mean corrected colour of the kept pixels.
    pub lab: Option<Lab>,
    /// Whether the region went into the skin colour.
    pub used: bool,
}

/// The combined skin measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkinMeasurement {
    /// Robust skin colour (corrected).
    pub lab: Lab,
    /// Corrected linear sRGB of the skin colour.
    pub linear_rgb: [f64; 3],
    /// Per-region results.
    pub regions: Vec<RegionSample>,
    /// Largest CIEDE2000 between a used region and the combined colour.
    pub region_spread_de00: f64,
    /// Share of sampled pixels that were clipped.
    pub clipped_share: f64,
    /// Median L* of the kept pixels before correction (exposure check).
    pub raw_median_l: f64,
}

/// Most pixels looked at per region; larger regions are sampled on a regular stride.
const MAX_PIXELS_PER_REGION: f64 = 4000.0;

/// Samples skin in `regions` (skipping `excluded`), correcting each pixel with `correct`
/// (camera linear RGB -> calibrated linear sRGB).
pub fn measure_skin(
    img: &RgbImage,
    regions: &[SkinRegion],
    excluded: &[Vec<[f64; 2]>],
    correct: &dyn Fn([f64; 3]) -> [f64; 3],
) -> Result<SkinMeasurement, Error> {
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let mut samples = Vec::new();
    let mut pooled: Vec<([f64; 3], f64)> = Vec::new();
    let mut raw_l = Vec::new();
    let (mut total, mut clipped_total) = (0usize, 0usize);
    for region in regions {
        let Some(b) = bounds(&region.polygon) else {
            continue;
        };
        let stride = (polygon_area(&region.polygon) / MAX_PIXELS_PER_REGION)
            .sqrt()
            .max(1.0);
        let mut pixels = Vec::new();
        let (mut n, mut clipped) = (0usize, 0usize);
        let mut y = b[1].max(0.0).floor();
        while y <= b[3].min(h - 1.0) {
            let mut x = b[0].max(0.0).floor();
            while x <= b[2].min(w - 1.0) {
                let p = [x, y];
                if point_in_polygon(p, &region.polygon)
                    && !excluded.iter().any(|e| point_in_polygon(p, e))
                {
                    n += 1;
                    let px = img.get_pixel(x as u32, y as u32).0;
                    if px.iter().any(|v| *v >= 250) {
                        clipped += 1;
                    } else {
                        let lin = srgb8_to_linear(px);
                        raw_l.push(linear_srgb_to_lab(lin).l);
                        let corrected = correct(lin);
                        pixels.push((corrected, linear_srgb_to_lab(corrected)));
                    }
                }
                x += stride;
            }
            y += stride;
        }
        total += n;
        clipped_total += clipped;
        let kept = robust_subset(&pixels);
        let lab = mean_lab(kept.iter().map(|p| p.0));
        pooled.extend(kept.iter().map(|p| (p.0, 1.0)));
        samples.push(RegionSample {
            name: region.name.clone(),
            pixels: n,
            clipped,
            kept: kept.len(),
            lab,
            used: lab.is_some() && kept.len() >= 20,
        });
    }
    // Leave out regions whose chromaticity disagrees with the others (a fringe, a beard, make-up).
    // Lightness differences are shading and are kept: dropping on them would make the result jump
    // as the light changes.
    let labs: Vec<Lab> = samples
        .iter()
        .filter(|s| s.used)
        .filter_map(|s| s.lab)
        .collect();
    let centre = medoid(&labs).ok_or(Error::NoSkin)?;
    if labs.len() >= 3 {
        for s in samples.iter_mut() {
            if s.lab
                .is_some_and(|l| Lab::new(centre.l, l.a, l.b).de00(&centre) > 8.0)
            {
                s.used = false;
            }
        }
    }
    let used: Vec<&RegionSample> = samples.iter().filter(|s| s.used).collect();
    // Weight regions equally so a large forehead does not outvote both cheeks.
    let lins: Vec<[f64; 3]> = used
        .iter()
        .filter_map(|s| s.lab)
        .map(|l| l.to_linear_srgb())
        .collect();
    let n_used = lins.len().max(1) as f64;
    let linear_rgb: [f64; 3] =
        std::array::from_fn(|c| lins.iter().map(|v| v[c]).sum::<f64>() / n_used);
    if lins.is_empty() {
        return Err(Error::NoSkin);
    }
    let lab = linear_srgb_to_lab(linear_rgb);
    let spread = used
        .iter()
        .filter_map(|s| s.lab)
        .map(|l| l.de00(&lab))
        .fold(0.0, f64::max);
    raw_l.sort_by(f64::total_cmp);
    Ok(SkinMeasurement {
        lab,
        linear_rgb,
        regions: samples,
        region_spread_de00: spread,
        clipped_share: clipped_total as f64 / total.max(1) as f64,
        raw_median_l: raw_l.get(raw_l.len() / 2).copied().unwrap_or(0.0),
    })
}

/// Drops highlight, shadow and off-colour pixels by MAD cuts around the medians.
fn robust_subset(pixels: &[([f64; 3], Lab)]) -> Vec<([f64; 3], Lab)> {
    let stat = |f: &dyn Fn(&Lab) -> f64| -> (f64, f64) {
        let mut v: Vec<f64> = pixels.iter().map(|p| f(&p.1)).collect();
        v.sort_by(f64::total_cmp);
        let med = v.get(v.len() / 2).copied().unwrap_or(0.0);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
        dev.sort_by(f64::total_cmp);
        (med, 1.4826 * dev.get(dev.len() / 2).copied().unwrap_or(0.0))
    };
    let (ml, sl) = stat(&|l: &Lab| l.l);
    let (mc, sc) = stat(&|l: &Lab| l.chroma());
    let (mh, sh) = stat(&|l: &Lab| l.hue_deg());
    pixels
        .iter()
        .filter(|(_, l)| {
            (l.l - ml).abs() <= (2.0 * sl).max(3.0)
                && (l.chroma() - mc).abs() <= (2.5 * sc).max(3.0)
                && hue_gap(l.hue_deg(), mh) <= (2.5 * sh).max(6.0)
        })
        .copied()
        .collect()
}

fn hue_gap(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

fn mean_lab(lins: impl Iterator<Item = [f64; 3]>) -> Option<Lab> {
    let mut acc = [0.0; 3];
    let mut n = 0.0;
    for v in lins {
        for c in 0..3 {
            acc[c] += v[c];
        }
        n += 1.0;
    }
    (n > 0.0).then(|| linear_srgb_to_lab(acc.map(|v| v / n)))
}

/// The region colour with the smallest summed CIEDE2000 to the others.
fn medoid(labs: &[Lab]) -> Option<Lab> {
    labs.iter()
        .map(|a| (a, labs.iter().map(|b| a.de00(b)).sum::<f64>()))
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(a, _)| *a)
}
