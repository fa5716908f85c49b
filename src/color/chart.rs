//! ColorChecker Classic 24: reference values, automatic detection and robust patch sampling.
//!
//! Detection needs no template: the photo is downscaled, split into connected regions of nearly
//! constant colour, and the square-ish regions of similar size are searched for a 2-D lattice
//! (two neighbour vectors from one seed patch, every other patch assigned integer lattice
//! coordinates). A homography lattice -> image, refitted on the assigned patches, absorbs
//! rotation and perspective. The lattice is then matched to the 6 x 4 chart in each of the eight
//! orientations (mirrors included, for selfie cameras) and every placement that covers the found
//! patches; the order whose 24 colours a 3x3 linear colour fit explains best wins, so no colour
//! thresholds or white-balance assumptions are needed.
//!
//! Chart coordinates: patch centres at integer (column, row), column 0..5 left to right and row
//! 0..3 top to bottom as printed (patch 1 "dark skin" at (0, 0), patch 19 "white" at (0, 3)).

use std::sync::OnceLock;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::correction::linear_fit_residual;
use super::geometry::Homography;
use super::space::{linear_srgb_to_lab, srgb8_to_linear, Lab};
use super::Error;

const COLS: i32 = 6;
const ROWS: i32 = 4;
/// Longest side of the working copy used for detection.
const DETECT_SIDE: u32 = 800;
/// Largest colour step (8-bit units, after box averaging) inside one patch region.
const STEP: f32 = 7.0;
/// Mean CIEDE2000 of the linear fit above which a lattice is not a ColorChecker.
const MAX_FIT_DE00: f64 = 9.0;

/// One reference patch of the ColorChecker Classic 24 (X-Rite, after November 2014).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferencePatch {
    /// 1-based patch number as printed on the chart's back.
    pub index: usize,
    /// Patch name.
    pub name: String,
    /// Reference colour, adapted from the published D50 values to D65 with Bradford.
    pub lab: Lab,
    /// The same colour as linear sRGB (may be slightly outside 0..1: cyan is out of gamut).
    pub linear_rgb: [f64; 3],
}

/// The 24 reference patches in chart order, parsed once from `seeds/color/colorchecker24.csv`.
pub fn reference_patches() -> &'static [ReferencePatch] {
    static REFS: OnceLock<Vec<ReferencePatch>> = OnceLock::new();
    REFS.get_or_init(|| {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/seeds/color/colorchecker24.csv"
        ));
        text.lines()
            .skip(1)
            .filter_map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                let num = |i: usize| f.get(i).and_then(|s| s.trim().parse::<f64>().ok());
                let index = f.first()?.trim().parse().ok()?;
                let lab = Lab::from_d50(num(2)?, num(3)?, num(4)?);
                Some(ReferencePatch {
                    index,
                    name: f.get(1)?.to_string(),
                    linear_rgb: lab.to_linear_srgb(),
                    lab,
                })
            })
            .collect()
    })
}

/// The measured colour of one chart patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchSample {
    /// 1-based patch number.
    pub index: usize,
    /// Robust camera colour (25 % trimmed mean per channel of the inner region), linear RGB.
    pub linear_rgb: [f64; 3],
    /// Share of inner-region pixels more than 8 ΔE*ab away from the patch colour.
    pub outlier_share: f64,
    /// False when the patch is clipped or not uniform (covered, glare): left out of the fit.
    pub usable: bool,
}

/// How the chart was located.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartLocator {
    /// Found by [`find_chart`].
    Detected,
    /// From caller-supplied corner patches.
    Corners,
}

/// A located chart with its sampled patches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartFound {
    /// Image positions of the centres of patches 1, 6, 24 and 19 (the chart's corner patches
    /// clockwise from "dark skin"), in full-resolution pixels.
    pub corners: [[f64; 2]; 4],
    /// The 24 patch samples in chart order.
    pub patches: Vec<PatchSample>,
    /// Whether the chart appears mirrored (front cameras that flip the picture).
    pub mirrored: bool,
    /// Mean distance between neighbouring patch centres, in pixels.
    pub pitch_px: f64,
    /// How the chart was located.
    pub locator: ChartLocator,
}

impl ChartFound {
    /// Outline of the chart's patch area (patch centres pushed out by half a pitch), for drawing.
    pub fn outline(&self) -> Vec<[f64; 2]> {
        outline_from_corners(&self.corners)
    }

    /// Number of patches left out as clipped or non-uniform.
    pub fn unusable_patches(&self) -> usize {
        self.patches.iter().filter(|p| !p.usable).count()
    }
}

/// Outline of the patch area of a chart given by its corner patch centres (1, 6, 24, 19).
pub fn outline_from_corners(corners: &[[f64; 2]; 4]) -> Vec<[f64; 2]> {
    match Homography::fit(&corner_chart_coords(), corners) {
        Some(h) => [[-0.5, -0.5], [5.5, -0.5], [5.5, 3.5], [-0.5, 3.5]]
            .iter()
            .map(|p| h.map(*p))
            .collect(),
        None => corners.to_vec(),
    }
}

fn corner_chart_coords() -> [[f64; 2]; 4] {
    let (c, r) = (f64::from(COLS - 1), f64::from(ROWS - 1));
    [[0.0, 0.0], [c, 0.0], [c, r], [0.0, r]]
}

/// Samples the chart whose corner patch centres the caller gives (patches 1, 6, 24, 19).
pub fn chart_from_corners(img: &RgbImage, corners: [[f64; 2]; 4]) -> Result<ChartFound, Error> {
    let h = Homography::fit(&corner_chart_coords(), &corners).ok_or(Error::BadCorners)?;
    sample_chart(img, &h, ChartLocator::Corners).ok_or(Error::BadCorners)
}

/// Looks for a ColorChecker Classic 24 anywhere in the photo; `None` when there is none.
pub fn find_chart(img: &RgbImage) -> Option<ChartFound> {
    let small = Small::new(img, DETECT_SIDE);
    let cands = candidates(&small);
    let lattice = best_lattice(&cands)?;
    let (h_small, _) = best_placement(&small, &lattice)?;
    // Small-image pixel centres map back to full-resolution pixel centres.
    let k = small.factor;
    let up = Homography(nalgebra::Matrix3::new(
        k,
        0.0,
        0.5 * k - 0.5,
        0.0,
        k,
        0.5 * k - 0.5,
        0.0,
        0.0,
        1.0,
    ));
    sample_chart(img, &up.compose(&h_small), ChartLocator::Detected)
}

/// Box-averaged working copy of the photo in 8-bit sRGB units.
struct Small {
    w: usize,
    h: usize,
    px: Vec<[f32; 3]>,
    factor: f64,
}

impl Small {
    fn new(img: &RgbImage, max_side: u32) -> Self {
        let k = img.width().max(img.height()).div_ceil(max_side).max(1) as usize;
        let full_w = img.width() as usize;
        let (w, h) = (full_w / k, img.height() as usize / k);
        // Average at most 4 x 4 pixels of each k x k block: enough against JPEG noise, and big
        // phone photos are not read in full.
        let taps: Vec<usize> = if k <= 4 {
            (0..k).collect()
        } else {
            (0..4).map(|i| (2 * i + 1) * k / 8).collect()
        };
        let norm = 1.0 / (taps.len() * taps.len()) as f32;
        let raw = img.as_raw();
        let mut px = vec![[0.0f32; 3]; w * h];
        for (y, row) in px.chunks_mut(w.max(1)).enumerate() {
            for dy in &taps {
                let start = (y * k + dy) * full_w * 3;
                let Some(line) = raw.get(start..start + w * k * 3) else {
                    continue;
                };
                for (out, block) in row.iter_mut().zip(line.chunks_exact(k * 3)) {
                    for dx in &taps {
                        if let Some(p) = block.get(dx * 3..dx * 3 + 3) {
                            for (o, v) in out.iter_mut().zip(p) {
                                *o += f32::from(*v);
                            }
                        }
                    }
                }
            }
            for out in row.iter_mut() {
                *out = out.map(|v| v * norm);
            }
        }
        Self {
            w,
            h,
            px,
            factor: k as f64,
        }
    }

    fn at(&self, p: [f64; 2]) -> Option<[f32; 3]> {
        let (x, y) = (p[0].round(), p[1].round());
        if !(x >= 0.0 && y >= 0.0 && x < self.w as f64 && y < self.h as f64) {
            return None;
        }
        self.px.get(y as usize * self.w + x as usize).copied()
    }
}

/// A square-ish region of near-constant colour.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    centre: [f64; 2],
    size: f64,
}

fn find_root(parent: &mut [u32], mut i: u32) -> u32 {
    while let Some(&p) = parent.get(i as usize) {
        if p == i {
            break;
        }
        let gp = parent.get(p as usize).copied().unwrap_or(p);
        if let Some(slot) = parent.get_mut(i as usize) {
            *slot = gp;
        }
        i = gp;
    }
    i
}

fn candidates(s: &Small) -> Vec<Candidate> {
    let n = s.w * s.h;
    let mut parent: Vec<u32> = (0..n as u32).collect();
    let close = |a: [f32; 3], b: [f32; 3]| (0..3).all(|c| (a[c] - b[c]).abs() < STEP);
    for y in 0..s.h {
        for x in 0..s.w {
            let i = y * s.w + x;
            let Some(&here) = s.px.get(i) else { continue };
            let join = |j: usize, parent: &mut Vec<u32>| {
                if let Some(&there) = s.px.get(j) {
                    if close(here, there) {
                        let (ri, rj) = (find_root(parent, i as u32), find_root(parent, j as u32));
                        if ri != rj {
                            if let Some(slot) = parent.get_mut(ri.max(rj) as usize) {
                                *slot = ri.min(rj);
                            }
                        }
                    }
                }
            };
            if x + 1 < s.w {
                join(i + 1, &mut parent);
            }
            if y + 1 < s.h {
                join(i + s.w, &mut parent);
            }
        }
    }
    // Moments per region: count, sums of x, y, x², y², xy. Roots get compact ids on first sight.
    let mut id = vec![u32::MAX; n];
    let mut moments: Vec<[f64; 6]> = Vec::new();
    for y in 0..s.h {
        for x in 0..s.w {
            let r = find_root(&mut parent, (y * s.w + x) as u32) as usize;
            let Some(slot) = id.get_mut(r) else { continue };
            if *slot == u32::MAX {
                *slot = moments.len() as u32;
                moments.push([0.0; 6]);
            }
            let Some(m) = moments.get_mut(*slot as usize) else {
                continue;
            };
            let (fx, fy) = (x as f64, y as f64);
            m[0] += 1.0;
            m[1] += fx;
            m[2] += fy;
            m[3] += fx * fx;
            m[4] += fy * fy;
            m[5] += fx * fy;
        }
    }
    let max_area = (n / 40) as f64;
    moments
        .iter()
        .filter(|m| m[0] >= 30.0 && m[0] <= max_area)
        .filter_map(|m| {
            let a = m[0];
            let (cx, cy) = (m[1] / a, m[2] / a);
            let vxx = m[3] / a - cx * cx;
            let vyy = m[4] / a - cy * cy;
            let vxy = m[5] / a - cx * cy;
            let det = vxx * vyy - vxy * vxy;
            if det <= 0.0 {
                return None;
            }
            // A filled parallelogram (a square under any affine view) has area = 12 sqrt(det);
            // ragged or hollow regions fall well below.
            let fill = a / (12.0 * det.sqrt());
            let tr = vxx + vyy;
            let disc = (tr * tr / 4.0 - det).max(0.0).sqrt();
            let elong = ((tr / 2.0 + disc) / (tr / 2.0 - disc).max(1e-9)).sqrt();
            (fill > 0.85 && fill < 1.12 && elong < 2.2).then_some(Candidate {
                centre: [cx, cy],
                size: a.sqrt(),
            })
        })
        .collect()
}

/// Lattice coordinates assigned to candidates, with the lattice -> image homography.
struct Lattice {
    points: Vec<([i32; 2], [f64; 2])>,
    h: Homography,
}

fn best_lattice(cands: &[Candidate]) -> Option<Lattice> {
    let mut best: Option<Vec<([i32; 2], [f64; 2])>> = None;
    for a in cands {
        let similar = |b: &Candidate| b.size > 0.6 * a.size && b.size < 1.6 * a.size;
        let dist = |b: &Candidate| (b.centre[0] - a.centre[0]).hypot(b.centre[1] - a.centre[1]);
        let near: Vec<&Candidate> = cands
            .iter()
            .filter(|b| similar(b) && dist(b) > 0.8 * a.size && dist(b) < 2.5 * a.size)
            .collect();
        let Some(b1) = near.iter().min_by(|x, y| dist(x).total_cmp(&dist(y))) else {
            continue;
        };
        let u = [b1.centre[0] - a.centre[0], b1.centre[1] - a.centre[1]];
        let ul = u[0].hypot(u[1]);
        let b2 = near
            .iter()
            .filter(|b| {
                let v = [b.centre[0] - a.centre[0], b.centre[1] - a.centre[1]];
                let vl = v[0].hypot(v[1]);
                let cos = (u[0] * v[0] + u[1] * v[1]) / (ul * vl);
                cos.abs() < 0.4 && vl > 0.6 * ul && vl < 1.7 * ul
            })
            .min_by(|x, y| dist(x).total_cmp(&dist(y)));
        let Some(b2) = b2 else { continue };
        let v = [b2.centre[0] - a.centre[0], b2.centre[1] - a.centre[1]];
        let det = u[0] * v[1] - u[1] * v[0];
        if det.abs() < 1e-9 {
            continue;
        }
        let to_lattice = |p: [f64; 2]| {
            let (dx, dy) = (p[0] - a.centre[0], p[1] - a.centre[1]);
            [(dx * v[1] - dy * v[0]) / det, (u[0] * dy - u[1] * dx) / det]
        };
        let have = best.as_ref().map_or(0, Vec::len);
        let raw = assign(cands, a.size, to_lattice);
        // Windowing only removes points: skip hypotheses that cannot beat the best one.
        if raw.len() > have {
            let pts = best_window(raw);
            if pts.len() > have {
                best = Some(pts);
            }
        }
    }
    let mut points = best?;
    if points.len() < 10 {
        return None;
    }
    // Refit with a homography so perspective does not push far patches off the lattice.
    let mut h = None;
    for _ in 0..3 {
        let src: Vec<[f64; 2]> = points
            .iter()
            .map(|(l, _)| [f64::from(l[0]), f64::from(l[1])])
            .collect();
        let dst: Vec<[f64; 2]> = points.iter().map(|(_, p)| *p).collect();
        let fit = Homography::fit(&src, &dst)?;
        let inv = fit.inverse()?;
        let size = median(
            points
                .iter()
                .filter_map(|(_, p)| cands.iter().find(|c| c.centre == *p).map(|c| c.size)),
        )?;
        let again = best_window(assign(cands, size, |p| inv.map(p)));
        h = Some(fit);
        if again.len() < points.len() {
            break;
        }
        points = again;
    }
    Some(Lattice { points, h: h? })
}

/// Keeps the lattice points inside the 6 x 4 (or 4 x 6) window that holds the most of them:
/// other square regions (tiles, labels) can line up with the chart's lattice.
fn best_window(points: Vec<([i32; 2], [f64; 2])>) -> Vec<([i32; 2], [f64; 2])> {
    let mut best: Option<([i32; 4], usize)> = None;
    for (ei, ej) in [(COLS, ROWS), (ROWS, COLS)] {
        for (l, _) in &points {
            for (i0, j0) in [
                (l[0], l[1]),
                (l[0] - ei + 1, l[1]),
                (l[0], l[1] - ej + 1),
                (l[0] - ei + 1, l[1] - ej + 1),
            ] {
                let win = [i0, i0 + ei - 1, j0, j0 + ej - 1];
                let n = points
                    .iter()
                    .filter(|(q, _)| {
                        q[0] >= win[0] && q[0] <= win[1] && q[1] >= win[2] && q[1] <= win[3]
                    })
                    .count();
                if best.is_none_or(|(_, m)| n > m) {
                    best = Some((win, n));
                }
            }
        }
    }
    match best {
        Some((w, _)) => points
            .into_iter()
            .filter(|(q, _)| q[0] >= w[0] && q[0] <= w[1] && q[1] >= w[2] && q[1] <= w[3])
            .collect(),
        None => points,
    }
}

/// Integer lattice positions of the candidates that sit close to a lattice node.
fn assign(
    cands: &[Candidate],
    size: f64,
    to_lattice: impl Fn([f64; 2]) -> [f64; 2],
) -> Vec<([i32; 2], [f64; 2])> {
    let mut taken: std::collections::HashMap<[i32; 2], ([f64; 2], f64)> =
        std::collections::HashMap::new();
    for c in cands {
        if c.size < 0.6 * size || c.size > 1.6 * size {
            continue;
        }
        let l = to_lattice(c.centre);
        let r = [l[0].round(), l[1].round()];
        let off = (l[0] - r[0]).hypot(l[1] - r[1]);
        if !(off < 0.25 && r[0].abs() <= 8.0 && r[1].abs() <= 8.0) {
            continue;
        }
        let key = [r[0] as i32, r[1] as i32];
        let better = taken.get(&key).is_none_or(|(_, o)| off < *o);
        if better {
            taken.insert(key, (c.centre, off));
        }
    }
    let mut out: Vec<([i32; 2], [f64; 2])> = taken.into_iter().map(|(k, v)| (k, v.0)).collect();
    out.sort_by_key(|(k, _)| *k);
    out
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Tries every orientation and placement of the 6 x 4 chart on the lattice; returns the chart ->
/// small-image homography whose patch colours fit the references best, with that fit's error.
fn best_placement(s: &Small, lat: &Lattice) -> Option<(Homography, f64)> {
    let (imin, imax, jmin, jmax) = lat.points.iter().fold(
        (i32::MAX, i32::MIN, i32::MAX, i32::MIN),
        |(a, b, c, d), (l, _)| (a.min(l[0]), b.max(l[0]), c.min(l[1]), d.max(l[1])),
    );
    let mut best: Option<(Homography, f64)> = None;
    for transpose in [false, true] {
        for sc in [1, -1] {
            for sr in [1, -1] {
                // Lattice extent of the chart along i and j for this orientation.
                let (ei, ej) = if transpose {
                    (ROWS, COLS)
                } else {
                    (COLS, ROWS)
                };
                for i0 in (imax - ei + 1)..=imin {
                    for j0 in (jmax - ej + 1)..=jmin {
                        // Chart (c, r) -> lattice (i, j), as an integer affine map.
                        let (di, dj) = (
                            if sc > 0 { 0 } else { COLS - 1 },
                            if sr > 0 { 0 } else { ROWS - 1 },
                        );
                        let m = if transpose {
                            nalgebra::Matrix3::new(
                                0.0,
                                f64::from(sr),
                                f64::from(i0 + if sr > 0 { 0 } else { ROWS - 1 }),
                                f64::from(sc),
                                0.0,
                                f64::from(j0 + if sc > 0 { 0 } else { COLS - 1 }),
                                0.0,
                                0.0,
                                1.0,
                            )
                        } else {
                            nalgebra::Matrix3::new(
                                f64::from(sc),
                                0.0,
                                f64::from(i0 + di),
                                0.0,
                                f64::from(sr),
                                f64::from(j0 + dj),
                                0.0,
                                0.0,
                                1.0,
                            )
                        };
                        let h = lat.h.compose(&Homography(m));
                        let Some(colours) = quick_colours(s, &h) else {
                            continue;
                        };
                        let Some(err) = linear_fit_residual(&colours) else {
                            continue;
                        };
                        if best.as_ref().is_none_or(|(_, e)| err < *e) {
                            best = Some((h, err));
                        }
                    }
                }
            }
        }
    }
    best.filter(|(_, e)| *e < MAX_FIT_DE00)
}

/// Mean linear colour of a small grid inside each patch, on the working copy.
fn quick_colours(s: &Small, h: &Homography) -> Option<Vec<[f64; 3]>> {
    let mut out = Vec::with_capacity(24);
    for r in 0..ROWS {
        for c in 0..COLS {
            let mut acc = [0.0; 3];
            let mut n = 0.0;
            for du in [-0.2, -0.1, 0.0, 0.1, 0.2] {
                for dv in [-0.2, -0.1, 0.0, 0.1, 0.2] {
                    let p = h.map([f64::from(c) + du, f64::from(r) + dv]);
                    let px = s.at(p)?;
                    let lin = srgb8_to_linear(px.map(|v| v.round().clamp(0.0, 255.0) as u8));
                    for k in 0..3 {
                        acc[k] += lin[k];
                    }
                    n += 1.0;
                }
            }
            out.push(acc.map(|v| v / n));
        }
    }
    Some(out)
}

/// Samples the inner region of each patch at full resolution through `h` (chart -> image).
fn sample_chart(img: &RgbImage, h: &Homography, locator: ChartLocator) -> Option<ChartFound> {
    let centre = |c: i32, r: i32| h.map([f64::from(c), f64::from(r)]);
    let mut pitch_sum = 0.0;
    let mut pitch_n = 0.0;
    for r in 0..ROWS {
        for c in 0..COLS - 1 {
            let (a, b) = (centre(c, r), centre(c + 1, r));
            pitch_sum += (a[0] - b[0]).hypot(a[1] - b[1]);
            pitch_n += 1.0;
        }
    }
    let pitch = pitch_sum / pitch_n;
    if !pitch.is_finite() || pitch < 4.0 {
        return None;
    }
    let grid = ((0.5 * pitch).round() as usize).clamp(4, 24);
    let mut patches = Vec::with_capacity(24);
    for r in 0..ROWS {
        for c in 0..COLS {
            let mut px: Vec<[u8; 3]> = Vec::with_capacity(grid * grid);
            for gy in 0..grid {
                for gx in 0..grid {
                    // Inner half of the pitch: clear of the black gaps even with a small misfit.
                    let du = -0.25 + 0.5 * (gx as f64 + 0.5) / grid as f64;
                    let dv = -0.25 + 0.5 * (gy as f64 + 0.5) / grid as f64;
                    let p = h.map([f64::from(c) + du, f64::from(r) + dv]);
                    let (x, y) = (p[0].round(), p[1].round());
                    if x >= 0.0
                        && y >= 0.0
                        && x < f64::from(img.width())
                        && y < f64::from(img.height())
                    {
                        px.push(img.get_pixel(x as u32, y as u32).0);
                    }
                }
            }
            if px.len() < grid * grid / 2 {
                return None;
            }
            patches.push(summarise_patch((r * COLS + c + 1) as usize, &px));
        }
    }
    let mid = h.map([2.5, 1.5]);
    let ex = h.map([3.5, 1.5]);
    let ey = h.map([2.5, 2.5]);
    let cross = (ex[0] - mid[0]) * (ey[1] - mid[1]) - (ex[1] - mid[1]) * (ey[0] - mid[0]);
    Some(ChartFound {
        corners: corner_chart_coords().map(|p| h.map(p)),
        patches,
        mirrored: cross < 0.0,
        pitch_px: pitch,
        locator,
    })
}

fn summarise_patch(index: usize, px: &[[u8; 3]]) -> PatchSample {
    let lin: Vec<[f64; 3]> = px.iter().map(|p| srgb8_to_linear(*p)).collect();
    let mut robust = [0.0; 3];
    for (k, out) in robust.iter_mut().enumerate() {
        let mut ch: Vec<f64> = lin.iter().map(|p| p[k]).collect();
        ch.sort_by(f64::total_cmp);
        let cut = ch.len() / 4;
        let kept = ch.get(cut..ch.len() - cut).unwrap_or(&ch);
        *out = kept.iter().sum::<f64>() / kept.len().max(1) as f64;
    }
    let centre_lab = linear_srgb_to_lab(robust);
    let off = lin
        .iter()
        .filter(|p| {
            let l = linear_srgb_to_lab(**p);
            (l.l - centre_lab.l)
                .hypot(l.a - centre_lab.a)
                .hypot(l.b - centre_lab.b)
                > 8.0
        })
        .count();
    let outlier_share = off as f64 / lin.len().max(1) as f64;
    let clipped = px.iter().filter(|p| p.iter().any(|v| *v >= 250)).count() * 4 > px.len();
    PatchSample {
        index,
        linear_rgb: robust,
        outlier_share,
        usable: !clipped && outlier_share < 0.25,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::color::correction::ColorCorrection;
    use crate::color::space::linear_to_srgb8;

    /// Paints a ColorChecker (reference colours, black surround) through `h` (chart -> image).
    pub(crate) fn paint_chart(img: &mut RgbImage, h: &Homography) {
        let inv = h.inverse().unwrap();
        let refs = reference_patches();
        for y in 0..img.height() {
            for x in 0..img.width() {
                let c = inv.map([f64::from(x), f64::from(y)]);
                if !(c[0] > -0.75 && c[0] < 5.75 && c[1] > -0.75 && c[1] < 3.75) {
                    continue;
                }
                let (col, row) = (c[0].round().clamp(0.0, 5.0), c[1].round().clamp(0.0, 3.0));
                let inside = (c[0] - col).abs() < 0.42 && (c[1] - row).abs() < 0.42;
                let colour = if inside {
                    linear_to_srgb8(refs[(row as usize) * 6 + col as usize].linear_rgb)
                } else {
                    [22, 22, 24]
                };
                img.put_pixel(x, y, image::Rgb(colour));
            }
        }
    }

    pub(crate) fn chart_at(corners: [[f64; 2]; 4]) -> Homography {
        Homography::fit(&corner_chart_coords(), &corners).unwrap()
    }

    fn portrait() -> RgbImage {
        let bytes = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/shade/face_woman_480.jpg"
        ));
        image::load_from_memory(bytes).unwrap().to_rgb8()
    }

    #[test]
    fn no_chart_in_portraits() {
        assert!(find_chart(&portrait()).is_none());
        let biden = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/shade/face_biden_480.jpg"
        ));
        assert!(find_chart(&image::load_from_memory(biden).unwrap().to_rgb8()).is_none());
    }

    #[test]
    fn any_orientation_including_mirrored_and_upside_down() {
        // The same physical corners listed from different start patches: rotated 180°, and the
        // chart seen mirrored (front camera), both with perspective.
        let quad = [[60.0, 250.0], [300.0, 230.0], [320.0, 390.0], [50.0, 400.0]];
        let cases = [
            ("upright", [0, 1, 2, 3], false),
            ("upside down", [2, 3, 0, 1], false),
            ("mirrored", [1, 0, 3, 2], true),
        ];
        for (name, order, mirrored) in cases {
            let corners = order.map(|i| quad[i]);
            let mut img = portrait();
            paint_chart(&mut img, &chart_at(corners));
            let found = find_chart(&img).unwrap_or_else(|| panic!("{name}: not found"));
            for (c, t) in found.corners.iter().zip(corners) {
                assert!(
                    (c[0] - t[0]).hypot(c[1] - t[1]) < 3.0,
                    "{name}: {c:?} vs {t:?}"
                );
            }
            assert_eq!(found.mirrored, mirrored, "{name}");
            let fit = ColorCorrection::fit(&found.patches).unwrap();
            assert!(fit.residual_de00 < 1.0, "{name}: {fit:?}");
        }
    }

    #[test]
    fn covered_patches_are_left_out() {
        let corners = [[60.0, 250.0], [300.0, 230.0], [320.0, 390.0], [50.0, 400.0]];
        let h = chart_at(corners);
        let mut img = portrait();
        paint_chart(&mut img, &h);
        // A thumb over patches 7 and 13 (column 0, rows 1-2).
        let [x0, y0] = h.map([-0.4, 0.6]);
        let [x1, y1] = h.map([0.4, 2.4]);
        for y in y0 as u32..y1 as u32 {
            for x in x0 as u32..x1 as u32 {
                img.put_pixel(x, y, image::Rgb([205, 150, 125]));
            }
        }
        let found = find_chart(&img).unwrap();
        let fit = ColorCorrection::fit(&found.patches).unwrap();
        assert!(
            fit.excluded_patches.contains(&7) && fit.excluded_patches.contains(&13),
            "{fit:?}"
        );
        assert!(fit.residual_de00 < 1.0);
    }

    fn hand_photo() -> RgbImage {
        let bytes = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/color/colorchecker_hand_640.jpg"
        ));
        image::load_from_memory(bytes).unwrap().to_rgb8()
    }

    #[test]
    fn references_are_24_patches_in_d65() {
        let refs = reference_patches();
        assert_eq!(refs.len(), 24);
        // The published sRGB rendering of "light skin" (#C5907F) is the D65 image of its D50 Lab.
        let light_skin = refs.get(1).unwrap();
        assert!(light_skin.lab.de00(&Lab::from_hex("#C5907F").unwrap()) < 1.0);
    }

    #[test]
    fn finds_the_chart_in_a_real_photo() {
        let img = hand_photo();
        let t = std::time::Instant::now();
        let chart = find_chart(&img).expect("chart");
        eprintln!("find_chart {:?}", t.elapsed());
        eprintln!(
            "{:?} pitch {} mirrored {}",
            chart.corners, chart.pitch_px, chart.mirrored
        );
        let fit = ColorCorrection::fit(&chart.patches).unwrap();
        eprintln!("{:?}", fit);
        // Corner patch centres read off the picture by hand (1, 6, 24, 19), within a third of a pitch.
        let truth = [
            [160.0, 188.0],
            [319.0, 187.0],
            [320.0, 278.0],
            [162.0, 282.0],
        ];
        for (c, t) in chart.corners.iter().zip(truth) {
            assert!(
                (c[0] - t[0]).hypot(c[1] - t[1]) < chart.pitch_px / 3.0,
                "{c:?} vs {t:?}"
            );
        }
        assert!(!chart.mirrored);
        assert!(fit.residual_de00 < 3.0);
        // The same corners given by hand sample the same patches.
        let given = chart_from_corners(&img, truth).unwrap();
        let fit2 = ColorCorrection::fit(&given.patches).unwrap();
        assert!(
            (fit2.residual_de00 - fit.residual_de00).abs() < 0.5,
            "{fit2:?}"
        );
        assert!(chart_from_corners(&img, [[0.0, 0.0]; 4]).is_err());
    }
}
