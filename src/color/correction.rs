//! Colour-correction transforms fitted to the 24 ColorChecker patches.
//!
//! Two models are fitted by least squares in linear RGB, camera -> reference:
//! - `linear`: a 3x3 matrix (9 parameters). Stable, exposure-invariant, but it cannot undo the
//!   non-linear tone curve and gamut mapping of a phone JPEG.
//! - `root_polynomial`: Finlayson, Mackiewicz and Hurlbert (2015) degree-2 root-polynomial terms
//!   (r, g, b, sqrt(rg), sqrt(gb), sqrt(rb)); 18 parameters, still exposure-invariant (every term
//!   scales linearly with exposure), and it absorbs part of the tone-curve error.
//!
//! With only 24 patches the extra parameters can overfit, so the model is chosen per photo by
//! leave-one-out error in CIEDE2000: each patch is predicted by a fit to the other 23 and the
//! model with the lower mean held-out error wins. The chart's skin patches (1, 2) are inside the
//! fitted set, so skin colours are interpolated, not extrapolated.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::chart::{reference_patches, PatchSample};
use super::space::{linear_srgb_to_lab, Lab};
use super::Error;

/// Which transform a correction applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionModel {
    /// 3x3 matrix on linear RGB.
    Linear,
    /// Degree-2 root-polynomial terms on linear RGB.
    RootPolynomial,
}

impl CorrectionModel {
    fn terms(self, c: [f64; 3]) -> Vec<f64> {
        let [r, g, b] = c.map(|v| v.max(0.0));
        match self {
            Self::Linear => vec![r, g, b],
            Self::RootPolynomial => vec![r, g, b, (r * g).sqrt(), (g * b).sqrt(), (r * b).sqrt()],
        }
    }

    fn n_terms(self) -> usize {
        match self {
            Self::Linear => 3,
            Self::RootPolynomial => 6,
        }
    }
}

/// A fitted camera-RGB -> reference-linear-sRGB transform with its fit statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColorCorrection {
    /// The model that was kept.
    pub model: CorrectionModel,
    /// Coefficients, one row of three (r, g, b outputs) per model term.
    pub coefficients: Vec<[f64; 3]>,
    /// Mean CIEDE2000 between corrected patches and their references (patches used in the fit).
    pub residual_de00: f64,
    /// Largest CIEDE2000 among the patches used in the fit.
    pub max_de00: f64,
    /// Mean leave-one-out CIEDE2000 of the kept model.
    pub loo_de00: f64,
    /// 1-based indices of patches left out of the fit (clipped, non-uniform, or outliers).
    pub excluded_patches: Vec<usize>,
}

impl ColorCorrection {
    /// Fits both models to the usable patches and keeps the one with the lower leave-one-out error.
    ///
    /// Patches whose residual stays far above the others (a finger, a reflection) are dropped,
    /// at most four, and the fit is repeated.
    pub fn fit(samples: &[PatchSample]) -> Result<Self, Error> {
        let refs = reference_patches();
        let mut excluded: Vec<usize> = samples
            .iter()
            .filter(|s| !s.usable)
            .map(|s| s.index)
            .collect();
        loop {
            let pairs: Vec<([f64; 3], [f64; 3], Lab)> = samples
                .iter()
                .filter(|s| !excluded.contains(&s.index))
                .filter_map(|s| {
                    let r = refs.get(s.index.checked_sub(1)?)?;
                    Some((s.linear_rgb, r.linear_rgb, r.lab))
                })
                .collect();
            if pairs.len() < 12 {
                return Err(Error::TooFewPatches(pairs.len()));
            }
            let mut best: Option<(f64, CorrectionModel)> = None;
            for model in [CorrectionModel::Linear, CorrectionModel::RootPolynomial] {
                if let Some(loo) = leave_one_out(model, &pairs) {
                    if best.is_none_or(|(b, _)| loo < b) {
                        best = Some((loo, model));
                    }
                }
            }
            let (loo, model) = best.ok_or(Error::SingularFit)?;
            let coefficients = solve(model, &pairs).ok_or(Error::SingularFit)?;
            let errs: Vec<(usize, f64)> = samples
                .iter()
                .filter(|s| !excluded.contains(&s.index))
                .filter_map(|s| {
                    let r = refs.get(s.index.checked_sub(1)?)?;
                    let out = predict(model, &coefficients, s.linear_rgb);
                    Some((s.index, linear_srgb_to_lab(out).de00(&r.lab)))
                })
                .collect();
            let mut sorted: Vec<f64> = errs.iter().map(|e| e.1).collect();
            sorted.sort_by(f64::total_cmp);
            let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
            let worst = errs.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((idx, e)) = worst {
                if e > (4.0 * median).max(6.0) && excluded.len() < 4 {
                    excluded.push(idx);
                    continue;
                }
            }
            excluded.sort_unstable();
            return Ok(Self {
                model,
                residual_de00: sorted.iter().sum::<f64>() / sorted.len().max(1) as f64,
                max_de00: sorted.last().copied().unwrap_or(0.0),
                coefficients,
                loo_de00: loo,
                excluded_patches: excluded,
            });
        }
    }

    /// Maps a camera linear-RGB colour to corrected linear sRGB.
    pub fn apply(&self, camera: [f64; 3]) -> [f64; 3] {
        predict(self.model, &self.coefficients, camera)
    }
}

fn predict(model: CorrectionModel, coef: &[[f64; 3]], c: [f64; 3]) -> [f64; 3] {
    let t = model.terms(c);
    let mut out = [0.0; 3];
    for (ti, row) in t.iter().zip(coef) {
        for (o, k) in out.iter_mut().zip(row) {
            *o += ti * k;
        }
    }
    out
}

fn solve(model: CorrectionModel, pairs: &[([f64; 3], [f64; 3], Lab)]) -> Option<Vec<[f64; 3]>> {
    let n = model.n_terms();
    let x = DMatrix::from_fn(pairs.len(), n, |r, c| {
        pairs
            .get(r)
            .and_then(|p| model.terms(p.0).get(c).copied())
            .unwrap_or(0.0)
    });
    let xtx = x.transpose() * &x;
    // A tiny ridge keeps nearly collinear root terms solvable without changing a good fit.
    let ridge = xtx.trace() / n as f64 * 1e-9;
    let chol = (xtx + DMatrix::identity(n, n) * ridge).cholesky()?;
    let mut coef = vec![[0.0; 3]; n];
    for ch in 0..3 {
        let y = DVector::from_fn(pairs.len(), |r, _| pairs.get(r).map_or(0.0, |p| p.1[ch]));
        let beta = chol.solve(&(x.transpose() * y));
        for (row, b) in coef.iter_mut().zip(beta.iter()) {
            row[ch] = *b;
        }
    }
    Some(coef)
}

fn leave_one_out(model: CorrectionModel, pairs: &[([f64; 3], [f64; 3], Lab)]) -> Option<f64> {
    let mut total = 0.0;
    for k in 0..pairs.len() {
        let rest: Vec<_> = pairs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != k)
            .map(|(_, p)| *p)
            .collect();
        let coef = solve(model, &rest)?;
        let held = pairs.get(k)?;
        total += linear_srgb_to_lab(predict(model, &coef, held.0)).de00(&held.2);
    }
    Some(total / pairs.len() as f64)
}

/// Mean CIEDE2000 of a 3x3 linear fit of `camera` (24 patches, chart order) to the references;
/// the chart detector uses it to tell the right patch order from wrong ones.
pub(super) fn linear_fit_residual(camera: &[[f64; 3]]) -> Option<f64> {
    let refs = reference_patches();
    let pairs: Vec<([f64; 3], [f64; 3], Lab)> = camera
        .iter()
        .zip(refs)
        .map(|(c, r)| (*c, r.linear_rgb, r.lab))
        .collect();
    let coef = solve(CorrectionModel::Linear, &pairs)?;
    let total: f64 = pairs
        .iter()
        .map(|p| linear_srgb_to_lab(predict(CorrectionModel::Linear, &coef, p.0)).de00(&p.2))
        .sum();
    Some(total / pairs.len().max(1) as f64)
}
