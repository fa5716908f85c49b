//! Where to put one copy: random samples over the roll and around the copy's current spot,
//! the best few refined by coordinate descent (sparrow's sample-then-descend scheme).

use jagua_rs::geometry::primitives::Rect;
use rand::{Rng, RngExt};

use super::engine::{Pose, Shape};

/// How many samples a placement search draws and refines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SampleConfig {
    pub container: usize,
    pub focused: usize,
    pub descents: usize,
}

/// First descent: steps from a quarter of the copy's smaller side down to 2 % of it;
/// the final one refines the winner from 1 % down to 0.1 %.
const COARSE_STEPS: (f32, f32) = (0.25, 0.02);
const FINE_STEPS: (f32, f32) = (0.01, 0.001);
const STEP_GROW: f32 = 1.1;
const STEP_SHRINK: f32 = 0.5;
/// Samples closer than this share of the copy's smaller side count as the same spot.
const DISTINCT_RATIO: f32 = 0.05;

/// Range of reference-point positions that keep the copy's bounding box inside `region`
/// (collapsed to the lower end when the copy is larger than the region).
fn range(lo: f32, hi: f32, b_lo: f32, b_hi: f32) -> (f32, f32) {
    let (a, b) = (lo - b_lo, hi - b_hi);
    (a, b.max(a))
}

fn sample_in(
    shape: &Shape,
    rot: usize,
    region: Rect,
    within: Option<Rect>,
    rng: &mut impl Rng,
) -> Pose {
    let bb = shape.bboxes[rot];
    let (mut x0, mut x1) = range(region.x_min, region.x_max, bb.x_min, bb.x_max);
    let (mut y0, mut y1) = range(region.y_min, region.y_max, bb.y_min, bb.y_max);
    if let Some(w) = within {
        x0 = x0.max(w.x_min).min(x1);
        x1 = x1.min(w.x_max).max(x0);
        y0 = y0.max(w.y_min).min(y1);
        y1 = y1.min(w.y_max).max(y0);
    }
    Pose {
        rot,
        x: if x1 > x0 {
            rng.random_range(x0..x1)
        } else {
            x0
        },
        y: if y1 > y0 {
            rng.random_range(y0..y1)
        } else {
            y0
        },
    }
}

/// The best `k` distinct samples seen so far, cheapest first.
struct Best {
    k: usize,
    min_distance: f32,
    samples: Vec<(Pose, f32)>,
}

impl Best {
    fn bound(&self) -> f32 {
        if self.samples.len() < self.k {
            f32::INFINITY
        } else {
            self.samples.last().map_or(f32::INFINITY, |s| s.1)
        }
    }

    fn report(&mut self, pose: Pose, cost: f32) {
        if !cost.is_finite() || cost > self.bound() {
            return;
        }
        let close = |p: &Pose| {
            p.rot == pose.rot
                && (p.x - pose.x).abs() < self.min_distance
                && (p.y - pose.y).abs() < self.min_distance
        };
        if let Some(idx) = self.samples.iter().position(|(p, _)| close(p)) {
            if cost < self.samples[idx].1 {
                self.samples.remove(idx);
            } else {
                return;
            }
        }
        let at = self.samples.partition_point(|s| s.1 <= cost);
        self.samples.insert(at, (pose, cost));
        self.samples.truncate(self.k);
    }
}

/// Searches a pose for a copy of `shape` inside `region`, minimising `cost(pose, bound)`
/// (which may return infinity for anything above `bound`). `current` is the copy's present
/// pose and cost, and `focus` its bounding box, around which extra samples are drawn.
pub(crate) fn search(
    shape: &Shape,
    current: Option<(Pose, f32)>,
    region: Rect,
    cfg: SampleConfig,
    cost: &mut impl FnMut(Pose, f32) -> f32,
    rng: &mut impl Rng,
) -> Option<(Pose, f32)> {
    let n_rot = shape.rotations_rad.len().max(1);
    let mut best = Best {
        k: cfg.descents.max(1),
        min_distance: shape.min_dim * DISTINCT_RATIO,
        samples: Vec::with_capacity(cfg.descents + 1),
    };
    if let Some((pose, c)) = current {
        best.report(pose, c);
        let bb = shape.bboxes[pose.rot];
        let (hw, hh) = (bb.width() / 2.0, bb.height() / 2.0);
        let window = Rect {
            x_min: pose.x - hw,
            y_min: pose.y - hh,
            x_max: pose.x + hw,
            y_max: pose.y + hh,
        };
        for _ in 0..cfg.focused {
            let p = sample_in(shape, rng.random_range(0..n_rot), region, Some(window), rng);
            let c = cost(p, best.bound());
            best.report(p, c);
        }
    }
    for _ in 0..cfg.container {
        let p = sample_in(shape, rng.random_range(0..n_rot), region, None, rng);
        let c = cost(p, best.bound());
        best.report(p, c);
    }
    let starts = best.samples.clone();
    for s in starts {
        let refined = descend(s, shape.min_dim, COARSE_STEPS, cost, rng);
        best.report(refined.0, refined.1);
    }
    let first = best.samples.first().copied()?;
    Some(descend(first, shape.min_dim, FINE_STEPS, cost, rng))
}

/// Coordinate descent along a random axis (horizontal, vertical or a diagonal): steps grow
/// after an improvement and halve otherwise, switching axis, until both fall below the limit.
fn descend(
    (mut pose, mut value): (Pose, f32),
    min_dim: f32,
    (init, limit): (f32, f32),
    cost: &mut impl FnMut(Pose, f32) -> f32,
    rng: &mut impl Rng,
) -> (Pose, f32) {
    let limit = min_dim * limit;
    let (mut sx, mut sy) = (min_dim * init, min_dim * init);
    let mut axis = rng.random_range(0..4u8);
    let mut rounds = 0;
    while (sx >= limit || sy >= limit) && rounds < 500 {
        rounds += 1;
        let (dx, dy) = match axis {
            0 => (sx, 0.0),
            1 => (0.0, sy),
            2 => (sx, sy),
            _ => (-sx, sy),
        };
        let a = Pose {
            x: pose.x + dx,
            y: pose.y + dy,
            ..pose
        };
        let b = Pose {
            x: pose.x - dx,
            y: pose.y - dy,
            ..pose
        };
        let (ca, cb) = (cost(a, value), cost(b, value));
        let (cand, c) = if ca <= cb { (a, ca) } else { (b, cb) };
        let better = c < value;
        if c <= value {
            pose = cand;
            value = c;
        }
        let m = if better { STEP_GROW } else { STEP_SHRINK };
        match axis {
            0 => sx *= m,
            1 => sy *= m,
            _ => {
                sx *= m.sqrt();
                sy *= m.sqrt();
            }
        }
        if !better {
            axis = rng.random_range(0..4u8);
        }
    }
    (pose, value)
}
