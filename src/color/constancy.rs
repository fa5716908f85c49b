//! Illuminant estimation for photos without a chart.
//!
//! Method: general grey-world (Finlayson and Trezzi 2004 shades-of-grey with local smoothing,
//! van de Weijer, Gevers and Gijsenij 2007): the photo is box-averaged to about 200 pixels on its
//! long side (the smoothing), decoded to linear RGB, and the illuminant is the Minkowski p = 6 mean
//! of each channel. On the Gehler-Shi benchmark this family has a median angular error of about
//! 3.5 degrees against about 6.3 for grey-world and 4.5 for first-order grey-edge (Gijsenij et al.
//! 2011 survey), and it needs no training data. Near-clipped and near-black pixels carry no illuminant
//! information and are skipped. The Minkowski means are taken, and the von Kries gains applied,
//! in Bradford's sharpened LMS space rather than in sRGB: illuminant changes are close to diagonal
//! there (that is what the Bradford transform is built on), so a cast is undone without the hue
//! errors a diagonal correction in sRGB leaves on saturated colours like skin; callers pass the face outline to keep skin, which is far from
//! grey, out of the estimate. Strongly coloured surfaces are then dropped (pixels whose LMS
//! channels differ by more than 1.5x under the current estimate) and the estimate repeated twice.
//!
//! Without a chart the absolute exposure is unknown too: the level is set by taking the 98th
//! percentile of luminance (after the near-clipped cut) as a surface of 85 % reflectance. This
//! makes the result independent of camera exposure and cast, but it depends on the scene: a
//! portrait with no light surface in view comes out too light. Expect several ΔE00 of absolute
//! error (mostly in L*), hence the lower confidence reported downstream.

use image::RgbImage;
use nalgebra::{Matrix3, Vector3};
use serde::{Deserialize, Serialize};

use super::geometry::{bounds, point_in_polygon};
use super::space::{linear_srgb_to_xyz, srgb8_to_linear};
use super::Error;

/// Minkowski norm of the estimate.
const P: f64 = 6.0;
/// Largest ratio between LMS channels (relative to the estimate) of a pixel counted as neutral.
const NEUTRAL_SPREAD: f64 = 1.5;
/// Reflectance assumed for the light surfaces that set the exposure.
const WHITE_Y: f64 = 0.85;
/// Long side of the smoothed copy.
const SIDE: u32 = 200;

/// An estimated scene illuminant and the von Kries gains that neutralise it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IlluminantEstimate {
    /// Illuminant colour in camera linear RGB, scaled so that its luminance Y is 1.
    pub rgb: [f64; 3],
    /// Linear-sRGB matrix of the von Kries correction (diagonal in Bradford LMS).
    pub correction: [[f64; 3]; 3],
    /// Number of smoothed pixels that contributed.
    pub pixels: usize,
}

impl IlluminantEstimate {
    /// Applies the von Kries correction to a linear-RGB colour.
    pub fn apply(&self, c: [f64; 3]) -> [f64; 3] {
        self.correction
            .map(|row| row[0] * c[0] + row[1] * c[1] + row[2] * c[2])
    }
}

/// x^P for P = 6 without `powf` (it runs per pixel and channel).
fn pow6(x: f64) -> f64 {
    let c = x * x * x;
    c * c
}

/// Linear sRGB -> Bradford LMS (the sharpened cone space of the Bradford transform).
fn lms_from_linear_srgb() -> Matrix3<f64> {
    let bfd = Matrix3::new(
        0.8951, 0.2664, -0.1614, -0.7502, 1.7135, 0.0367, 0.0389, -0.0685, 1.0296,
    );
    let cols = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]].map(linear_srgb_to_xyz);
    bfd * Matrix3::from_fn(|r, c| cols[c][r])
}

/// Estimates the illuminant by general grey-world, skipping pixels inside `exclude` polygons.
pub fn estimate_illuminant(
    img: &RgbImage,
    exclude: &[Vec<[f64; 2]>],
) -> Result<IlluminantEstimate, Error> {
    let k = img.width().max(img.height()).div_ceil(SIDE).max(1);
    let (w, h) = (img.width() / k, img.height() / k);
    let taps: Vec<u32> = if k <= 4 {
        (0..k).collect()
    } else {
        (0..4).map(|i| (2 * i + 1) * k / 8).collect()
    };
    let norm = 1.0 / (taps.len() * taps.len()) as f64;
    let boxes: Vec<Option<[f64; 4]>> = exclude.iter().map(|p| bounds(p)).collect();
    let mut pixels: Vec<[f64; 3]> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let centre = [f64::from(x * k + k / 2), f64::from(y * k + k / 2)];
            let inside = |(poly, b): (&Vec<[f64; 2]>, &Option<[f64; 4]>)| {
                b.is_some_and(|b| {
                    centre[0] >= b[0] && centre[0] <= b[2] && centre[1] >= b[1] && centre[1] <= b[3]
                }) && point_in_polygon(centre, poly)
            };
            if exclude.iter().zip(&boxes).any(inside) {
                continue;
            }
            // At most 4 x 4 taps per block: big photos are not read in full.
            let mut lin = [0.0; 3];
            for dy in taps.iter() {
                for dx in taps.iter() {
                    let p = img.get_pixel(x * k + dx, y * k + dy).0;
                    let l = srgb8_to_linear(p);
                    for c in 0..3 {
                        lin[c] += l[c];
                    }
                }
            }
            let lin = lin.map(|v| v * norm);
            pixels.push(lin);
        }
    }
    let to_lms = lms_from_linear_srgb();
    let all: Vec<Vector3<f64>> = pixels
        .iter()
        .map(|p| to_lms * Vector3::new(p[0], p[1], p[2]))
        .collect();
    // Near-clipped and near-black pixels are cut relative to each channel's maximum, so the
    // same pixels are kept whatever the exposure and cast (the estimate stays equivariant).
    let top = Vector3::from_fn(|c, _| all.iter().map(|p| p[c]).fold(0.0, f64::max));
    let lms: Vec<Vector3<f64>> = all
        .into_iter()
        .filter(|p| (0..3).all(|c| p[c] < 0.9 * top[c] && p[c] > 0.01 * top[c]))
        .collect();
    let n = lms.len();
    if n < 50 {
        return Err(Error::TooLittleBackground(n));
    }
    let minkowski = |set: &[&Vector3<f64>]| {
        Vector3::from_fn(|c, _| {
            (set.iter().map(|p| pow6(p[c].max(0.0))).sum::<f64>() / set.len().max(1) as f64)
                .powf(1.0 / P)
        })
    };
    let mut e = minkowski(&lms.iter().collect::<Vec<_>>());
    // Strongly coloured surfaces (a red flag, a green wall) pull the estimate towards their hue:
    // re-estimate twice from the pixels that look nearly neutral under the current estimate.
    for _ in 0..2 {
        let neutral: Vec<&Vector3<f64>> = lms
            .iter()
            .filter(|p| {
                let q = Vector3::from_fn(|c, _| p[c] / e[c]);
                q.min() > 0.0 && q.max() / q.min() < NEUTRAL_SPREAD
            })
            .collect();
        if neutral.len() < 50 {
            break;
        }
        e = minkowski(&neutral);
    }
    let from_lms = to_lms.try_inverse().ok_or(Error::SingularFit)?;
    let e_rgb = from_lms * e;
    let y = linear_srgb_to_xyz([e_rgb[0], e_rgb[1], e_rgb[2]])[1];
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if !positive(y) || !e.iter().all(|v| positive(*v)) {
        return Err(Error::TooLittleBackground(n));
    }
    // Send the illuminant to the D65 white, channel by channel in LMS.
    let white = to_lms * Vector3::new(1.0, 1.0, 1.0);
    // Exposure: the 98th percentile of luminance among the kept pixels is taken as a light
    // surface of reflectance WHITE_Y (white-patch for the level only), so the result does not
    // depend on the camera's exposure, only on the scene.
    let mut lum: Vec<f64> = lms
        .iter()
        .map(|p| from_lms * p)
        .map(|c| linear_srgb_to_xyz([c[0], c[1], c[2]])[1])
        .collect();
    lum.sort_by(f64::total_cmp);
    let y98 = lum.get(lum.len() * 98 / 100).copied().unwrap_or(y);
    let target = y * WHITE_Y / y98;
    let gains = Matrix3::from_diagonal(&Vector3::from_fn(|c, _| target * white[c] / e[c]));
    let m = from_lms * gains * to_lms;
    Ok(IlluminantEstimate {
        rgb: [e_rgb[0] / y, e_rgb[1] / y, e_rgb[2] / y],
        correction: std::array::from_fn(|r| std::array::from_fn(|c| m[(r, c)])),
        pixels: n,
    })
}
