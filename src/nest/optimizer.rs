//! The anytime search: a bottom-left construction gives a first feasible marker; then the roll
//! is repeatedly cut shorter at a random position and the resulting overlaps are removed with
//! guided local search (overlap minimisation with adaptive pair weights, Egeblad et al. 2007;
//! Umetani et al. 2009; Gardeyn & Vanden Berghe 2025). *Exploration* retries a failed length
//! from the overlapping marker after a disruption; *compression* always restarts from the best
//! marker with smaller cuts. The best feasible marker is kept throughout.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jagua_rs::entities::Layout as JLayout;
use jagua_rs::geometry::primitives::Rect;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::engine::{within_band, Engine, Pose, Shape, Snapshot, State};
use super::search::{search, SampleConfig};
use super::{Error, Layout, Problem};

/// Search settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Wall-clock budget in seconds; the best marker found by then is returned.
    pub time_limit: f64,
    /// Seed of the random number generator (same seed and budget, same kind of run).
    pub seed: u64,
    /// Searches run side by side, one per thread, sharing the best marker (at least 1).
    pub workers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            time_limit: 60.0,
            seed: 0,
            workers: 1,
        }
    }
}

/// What the search is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Building the first marker.
    Construct,
    /// Shortening the roll in big steps.
    Explore,
    /// Fine cuts of the best marker.
    Compress,
    /// Finished; the last report describes the returned layout.
    Done,
}

/// A progress report, sent on every improvement and a few times a second.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Current phase.
    pub phase: Phase,
    /// Time since the start.
    pub elapsed: Duration,
    /// The budget.
    pub time_limit: Duration,
    /// Length of the best feasible marker so far (0 before the first one).
    pub best_length: f64,
    /// Density of the best feasible marker so far.
    pub best_density: f64,
}

/// Share of the budget spent exploring; the rest compresses.
const EXPLORE_SHARE: f64 = 0.6;
/// Roll cuts relative to the length: the first, the bounds, and how they adapt.
const FIRST_STEP: f32 = 0.005;
const MAX_STEP: f32 = 0.01;
const MIN_STEP: f32 = 0.0002;
const STEP_GROW: f32 = 1.2;
const STEP_SHRINK: f32 = 0.5;
/// Exploration retries a failed length this many times, each after a disruption.
const EXPLORE_RETRIES: usize = 4;
/// Separation gives up after this many strikes of this many iterations without progress.
const SEPARATE_ITERATIONS: usize = 60;
const SEPARATE_STRIKES: usize = 2;
const SEPARATE_SAMPLES: SampleConfig = SampleConfig {
    container: 30,
    focused: 15,
    descents: 3,
};
const CONSTRUCT_SAMPLES: SampleConfig = SampleConfig {
    container: 150,
    focused: 0,
    descents: 3,
};
const REPORT_EVERY: Duration = Duration::from_millis(200);

/// What the workers share: the best feasible marker and the progress reports.
struct Shared<F> {
    best: Mutex<Option<(Vec<Pose>, f32)>>,
    reports: Mutex<Reports<F>>,
    start: Instant,
    limit: Duration,
}

struct Reports<F> {
    progress: F,
    last: Instant,
}

impl<F: FnMut(Progress)> Shared<F> {
    fn best(&self) -> Option<(Vec<Pose>, f32)> {
        self.best.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends a report on the best marker, at most every [`REPORT_EVERY`] unless `force`d.
    fn report(&self, engine: &Engine, problem: &Problem, phase: Phase, force: bool) {
        let mut reports = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if !force && now.duration_since(reports.last) < REPORT_EVERY {
            return;
        }
        reports.last = now;
        let best_length = self.best().map_or(0.0, |b| output_length(engine, b.1));
        let best_density = if best_length > 0.0 {
            problem.piece_area() / (best_length * problem.strip_width)
        } else {
            0.0
        };
        (reports.progress)(Progress {
            phase,
            elapsed: now.duration_since(self.start),
            time_limit: self.limit,
            best_length,
            best_density,
        });
    }
}

/// The marker length a collision-shape length stands for (the shapes are grown by half the gap).
fn output_length(engine: &Engine, length: f32) -> f64 {
    f64::from(length) - 2.0 * f64::from(engine.half_gap)
}

/// One worker's search.
struct Run<'a, F> {
    engine: &'a Engine,
    problem: &'a Problem,
    shared: &'a Shared<F>,
    rng: Xoshiro256PlusPlus,
    deadline: Instant,
    phase: Phase,
}

/// Nests the problem's pieces on its roll within `options.time_limit` seconds and returns the
/// shortest feasible marker found. `progress` is called on every improvement and a few times
/// a second (suited to a progress bar).
///
/// With several `workers`, each runs the whole search on its own thread from its own seed;
/// each new best marker is shared, and every worker's next cut starts from it, so the roll is
/// cut and separated that many times more often in the same time.
pub fn nest(
    problem: &Problem,
    options: &Options,
    progress: impl FnMut(Progress) + Send,
) -> Result<Layout, Error> {
    if !(options.time_limit.is_finite() && options.time_limit > 0.0) {
        return Err(Error::InvalidTimeLimit(options.time_limit));
    }
    let engine = Engine::new(problem)?;
    let start = Instant::now();
    let limit = Duration::from_secs_f64(options.time_limit.min(1e9));
    let shared = Shared {
        best: Mutex::new(None),
        reports: Mutex::new(Reports {
            progress,
            last: start,
        }),
        start,
        limit,
    };
    let work = |worker: u64| {
        let mut run = Run {
            engine: &engine,
            problem,
            shared: &shared,
            // Distinct streams for each worker; worker 0 runs as a single search would.
            rng: Xoshiro256PlusPlus::seed_from_u64(
                options
                    .seed
                    .wrapping_add(worker.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            ),
            deadline: start + limit,
            phase: Phase::Construct,
        };
        run.search()
    };
    let workers = options.workers.max(1) as u64;
    if workers == 1 {
        work(0)?;
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|k| scope.spawn(move || work(k))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::Engine {
                            what: "a search worker".into(),
                            message: "panicked".into(),
                        })
                    })
                })
                .collect::<Result<Vec<()>, Error>>()
        })?;
    }
    let (poses, _) = shared.best().ok_or_else(|| Error::Engine {
        what: "the search".into(),
        message: "no overlap-free marker was found".into(),
    })?;
    let placements = poses
        .iter()
        .enumerate()
        .filter_map(|(i, &p)| engine.placement(problem, i, p))
        .collect();
    let layout = Layout::from_placements(problem, placements);
    let mut reports = shared
        .reports
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    (reports.progress)(Progress {
        phase: Phase::Done,
        elapsed: start.elapsed(),
        time_limit: limit,
        best_length: layout.length,
        best_density: layout.density,
    });
    Ok(layout)
}

impl<F: FnMut(Progress)> Run<'_, F> {
    /// Construction, then exploration and compression until the deadline.
    fn search(&mut self) -> Result<(), Error> {
        let poses = self.construct()?;
        let mut state = State::new(self.engine, poses, self.engine.safe_length())?;
        let fitted = state.fitted_length();
        state.set_length(self.engine, fitted, fitted)?;
        self.record(&state);
        let mut step = FIRST_STEP;
        let explore_end = self.shared.start + self.shared.limit.mul_f64(EXPLORE_SHARE);
        self.shrink(&mut state, Phase::Explore, explore_end, &mut step)?;
        let deadline = self.deadline;
        self.shrink(&mut state, Phase::Compress, deadline, &mut step)
    }

    fn report(&self, force: bool) {
        self.shared
            .report(self.engine, self.problem, self.phase, force);
    }

    /// Keeps the state's marker if it is feasible and shorter than the best one.
    fn record(&mut self, state: &State) {
        if state.tracker.total_loss() > 0.0 {
            return;
        }
        let length = state.fitted_length();
        let improved = {
            let mut best = self.shared.best.lock().unwrap_or_else(|e| e.into_inner());
            let improved = best.as_ref().is_none_or(|b| length < b.1);
            if improved {
                *best = Some((state.poses.clone(), length));
            }
            improved
        };
        if improved {
            self.report(true);
        }
    }

    /// Bottom-left construction: largest copies first, each at the sampled and refined spot
    /// that ends leftmost; when time is up or no spot is found, next to the marker's end.
    fn construct(&mut self) -> Result<Vec<Pose>, Error> {
        let engine = self.engine;
        let length = engine.safe_length();
        let mut layout = JLayout::new(engine.container(length)?);
        let (band, tolerance) = (engine.band(length), engine.tolerance());
        let mut order: Vec<usize> = (0..engine.copies.len()).collect();
        order.sort_by(|&a, &b| {
            let (sa, sb) = (
                &engine.shapes[engine.copies[a].0],
                &engine.shapes[engine.copies[b].0],
            );
            sb.hull_area.total_cmp(&sa.hull_area)
        });
        let mut poses = vec![
            Pose {
                rot: 0,
                x: 0.0,
                y: 0.0
            };
            engine.copies.len()
        ];
        let mut frontier = 0.0f32;
        for &i in &order {
            let shape = &engine.shapes[engine.copies[i].0];
            let mut buf = shape.item.shape_cd().as_ref().clone();
            let mut clear_cost = |p: Pose, _bound: f32| {
                use jagua_rs::geometry::geo_traits::TransformableFrom;
                buf.transform_from(shape.item.shape_cd(), &p.transformation(shape));
                if !within_band(buf.bbox(), band, tolerance)
                    || layout.cde().detect_poly_collision(
                        &buf,
                        &jagua_rs::collision_detection::hazards::filter::NoFilter,
                    )
                {
                    f32::INFINITY
                } else {
                    let b = buf.bbox();
                    b.x_max + 0.01 * b.y_min
                }
            };
            let widest = shape.bboxes.iter().map(Rect::width).fold(0.0, f32::max);
            let region = Rect {
                x_min: 0.0,
                y_min: 0.0,
                x_max: (frontier + 2.0 * widest).min(length),
                y_max: engine.height,
            };
            let found = if Instant::now() < self.deadline {
                search(
                    shape,
                    None,
                    region,
                    CONSTRUCT_SAMPLES,
                    &mut clear_cost,
                    &mut self.rng,
                )
                .filter(|(_, c)| c.is_finite())
            } else {
                None
            };
            let pose = match found {
                Some((p, _)) => p,
                None => {
                    // Next to the end of the marker, in the rotation that fits, sliding on past defects.
                    let rot = (0..shape.bboxes.len())
                        .find(|&r| shape.bboxes[r].height() <= engine.height)
                        .unwrap_or(0);
                    let bb = shape.bboxes[rot];
                    // Centred across the roll so that it touches neither edge.
                    let mut p = Pose {
                        rot,
                        x: frontier - bb.x_min + 1e-3 * bb.width(),
                        y: (engine.height - bb.y_min - bb.y_max) / 2.0,
                    };
                    while !clear_cost(p, f32::INFINITY).is_finite()
                        && p.x + bb.x_max + bb.width() / 4.0 < length
                    {
                        p.x += bb.width() / 4.0;
                    }
                    p
                }
            };
            poses[i] = pose;
            let key = layout.place_item(
                &shape.item,
                jagua_rs::geometry::DTransformation::from(pose.transformation(shape)),
            );
            if let Some(pi) = layout.placed_items().get(key) {
                frontier = frontier.max(pi.shape().bbox().x_max);
            }
        }
        Ok(poses)
    }

    /// One pass of the separation local search: every overlapping copy, in random order,
    /// moves to the best spot found for it under the current weights.
    fn move_overlapping(&mut self, state: &mut State, until: Instant) {
        let n = state.poses.len();
        let mut order: Vec<usize> = (0..n).filter(|&i| state.tracker.loss(i) > 0.0).collect();
        order.shuffle(&mut self.rng);
        let region = Rect {
            x_min: 0.0,
            y_min: 0.0,
            x_max: state.length,
            y_max: self.engine.height,
        };
        for i in order {
            if Instant::now() >= until {
                return;
            }
            if state.tracker.loss(i) <= 0.0 {
                continue;
            }
            let engine = self.engine;
            let shape = &engine.shapes[engine.copies[i].0];
            let own = state.own_key(i);
            let current = state.poses[i];
            let current_cost = state.evaluate(engine, i, current, f32::INFINITY, own);
            let mut cost = |p: Pose, bound: f32| state.evaluate(engine, i, p, bound, own);
            let found = search(
                shape,
                Some((current, current_cost)),
                region,
                SEPARATE_SAMPLES,
                &mut cost,
                &mut self.rng,
            );
            if let Some((pose, _)) = found {
                state.move_copy(engine, i, pose);
            }
        }
    }

    /// Guided local search for an overlap-free marker at the state's length. Returns true when
    /// it found one (left in `state`); otherwise `state` holds the least-overlapping marker.
    fn separate(&mut self, state: &mut State, until: Instant) -> bool {
        let mut best: Snapshot = state.save();
        let mut best_loss = state.tracker.total_loss();
        if best_loss <= 0.0 {
            return true;
        }
        let mut strikes = 0;
        while strikes < SEPARATE_STRIKES && Instant::now() < until {
            let strike_start = state.tracker.total_loss();
            let mut stale = 0;
            while stale < SEPARATE_ITERATIONS && Instant::now() < until {
                self.move_overlapping(state, until);
                let loss = state.tracker.total_loss();
                if loss <= 0.0 {
                    return true;
                }
                if loss < best_loss {
                    if loss < 0.98 * best_loss {
                        stale = 0;
                    }
                    best_loss = loss;
                    best = state.save();
                } else {
                    stale += 1;
                }
                state.update_weights();
                self.report(false);
            }
            if strike_start * 0.98 <= best_loss {
                strikes += 1;
            } else {
                strikes = 0;
            }
            state.restore(&best);
        }
        false
    }

    /// Swaps two large copies of different pieces, a kick out of a local optimum.
    fn disrupt(&mut self, state: &mut State) {
        let engine = self.engine;
        let n = state.poses.len();
        if n < 2 {
            return;
        }
        let mut areas: Vec<f32> = engine
            .copies
            .iter()
            .map(|&(s, _)| engine.shapes[s].hull_area)
            .collect();
        areas.sort_by(|a, b| b.total_cmp(a));
        let total: f32 = areas.iter().sum();
        let mut acc = 0.0;
        let cutoff = areas
            .iter()
            .find(|&&a| {
                acc += a;
                acc > 0.75 * total
            })
            .copied()
            .unwrap_or(0.0);
        let large: Vec<usize> = (0..n)
            .filter(|&i| engine.shapes[engine.copies[i].0].hull_area >= cutoff)
            .collect();
        let Some(&a) = large.get(self.rng.random_range(0..large.len().max(1))) else {
            return;
        };
        let others: Vec<usize> = large
            .iter()
            .copied()
            .filter(|&j| engine.copies[j].0 != engine.copies[a].0)
            .collect();
        let b = if let Some(&b) = others.get(self.rng.random_range(0..others.len().max(1))) {
            b
        } else {
            (a + 1 + self.rng.random_range(0..n - 1)) % n
        };
        let (pa, pb) = (state.poses[a], state.poses[b]);
        let (sa, sb) = (
            &engine.shapes[engine.copies[a].0],
            &engine.shapes[engine.copies[b].0],
        );
        let na = Pose {
            rot: matching_rotation(sb, pb.rot, sa),
            ..pb
        };
        let nb = Pose {
            rot: matching_rotation(sa, pa.rot, sb),
            ..pa
        };
        state.move_copy(engine, a, na);
        state.move_copy(engine, b, nb);
    }

    /// Cuts the best marker shorter and separates, adapting the cut: larger after a success,
    /// halved after a failure. Exploration continues from a failed (overlapping) marker after
    /// a disruption, to leave a local optimum; compression always restarts from the best one.
    fn shrink(
        &mut self,
        state: &mut State,
        phase: Phase,
        until: Instant,
        step: &mut f32,
    ) -> Result<(), Error> {
        self.phase = phase;
        self.report(true);
        let mut retries = 0;
        while Instant::now() < until {
            let Some((poses, length)) = self.shared.best() else {
                return Ok(());
            };
            if retries > 0 {
                self.disrupt(state);
            } else {
                if (state.length - length).abs() > f32::EPSILON || state.poses != poses {
                    *state = State::new(self.engine, poses, length)?;
                }
                let split = self.rng.random_range(0.0..length);
                state.set_length(self.engine, length * (1.0 - *step), split)?;
            }
            let ok = self.separate(state, until);
            if ok {
                self.record(state);
                *step = (*step * STEP_GROW).min(MAX_STEP);
                retries = 0;
            } else if phase == Phase::Explore && retries < EXPLORE_RETRIES {
                retries += 1;
            } else {
                retries = 0;
                *step = (*step * STEP_SHRINK).max(MIN_STEP);
            }
        }
        Ok(())
    }
}

/// The rotation of `to` equal to rotation `rot` of `from`, or its first one.
fn matching_rotation(from: &Shape, rot: usize, to: &Shape) -> usize {
    let want = from.rotations_deg.get(rot).copied().unwrap_or(0.0);
    to.rotations_deg
        .iter()
        .position(|&r| (r - want).abs() < 1e-9)
        .unwrap_or(0)
}
