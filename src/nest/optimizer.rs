//! The anytime search: a bottom-left construction gives a first feasible marker; then the roll
//! is repeatedly cut shorter at a random position and the resulting overlaps are removed with
//! guided local search (overlap minimisation with adaptive pair weights, Egeblad et al. 2007;
//! Umetani et al. 2009; Gardeyn & Vanden Berghe 2025). *Exploration* retries a failed length
//! from the overlapping marker after a disruption; *compression* always restarts from the best
//! marker with smaller cuts. The best feasible marker is kept throughout. With several
//! threads, every separation round runs on all of them (see [`super::separate`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jagua_rs::entities::Layout as JLayout;
use jagua_rs::geometry::primitives::Rect;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::engine::{within_band, Engine, Pose, Shape, Snapshot, State};
use super::search::{search, SampleConfig};
use super::separate::Crew;
use super::{Error, Layout, Problem};

/// Search settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Wall-clock budget in seconds; the best marker found by then is returned.
    pub time_limit: f64,
    /// Seed of the random number generator (same seed and budget, same kind of run).
    pub seed: u64,
    /// Threads of the search (at least 1): each separation round moves the overlapping pieces
    /// on every thread from the same marker, and the round keeps the best outcome.
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

/// Ends a running search early, as if its time limit had come: it returns its best marker so far.
/// Clones share one signal, so one can be handed to whoever decides (a signal handler, another
/// request) while the search holds another.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// A signal not yet given.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the search to end; it does so after its current separation round.
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the search was asked to end.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
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

/// Share of the budget spent exploring; the rest compresses. Exploration finds most of its
/// gains early and then mostly fails at big cuts, while fine cuts keep paying off.
const EXPLORE_SHARE: f64 = 0.4;
/// Roll cuts relative to the length: the first, the bounds, and how they adapt. The smallest
/// cut, 0.002 %, lets compression creep on where cuts of 0.02 % no longer succeed.
const FIRST_STEP: f32 = 0.005;
const MAX_STEP: f32 = 0.01;
const MIN_STEP: f32 = 0.000_02;
const STEP_GROW: f32 = 1.2;
const STEP_SHRINK: f32 = 0.5;
/// Exploration retries a failed length this many times, each after a disruption.
const EXPLORE_RETRIES: usize = 4;
/// Separation gives up after this many strikes of this many iterations without progress.
const SEPARATE_ITERATIONS: usize = 60;
const SEPARATE_STRIKES: usize = 2;
const CONSTRUCT_SAMPLES: SampleConfig = SampleConfig {
    container: 150,
    focused: 0,
    descents: 3,
};
const REPORT_EVERY: Duration = Duration::from_millis(200);
/// How much longer the roll gets each time the first marker cannot be made overlap-free.
const SETTLE_GROWTH: f32 = 1.25;

/// The marker length a collision-shape length stands for (the shapes are inflated).
fn output_length(engine: &Engine, length: f32) -> f64 {
    f64::from(length) - 2.0 * f64::from(engine.inflation)
}

/// The search's state between its phases.
struct Run<'a, F> {
    engine: &'a Engine,
    problem: &'a Problem,
    rng: Xoshiro256PlusPlus,
    crew: Crew,
    start: Instant,
    limit: Duration,
    deadline: Instant,
    phase: Phase,
    /// The best feasible marker: its poses and collision-shape length.
    best: Option<(Vec<Pose>, f32)>,
    progress: F,
    last_report: Instant,
    stop: Stop,
}

/// Nests the problem's pieces on its roll within `options.time_limit` seconds and returns the
/// shortest feasible marker found. `progress` is called on every improvement and a few times
/// a second (suited to a progress bar).
///
/// With several `workers`, every separation round runs on that many threads from the same
/// marker, each moving the overlapping pieces in its own order with its own samples, and the
/// round keeps the outcome with the least weighted overlap.
pub fn nest(
    problem: &Problem,
    options: &Options,
    progress: impl FnMut(Progress),
) -> Result<Layout, Error> {
    nest_with_stop(problem, options, &Stop::new(), progress)
}

/// [`nest`], ending early with the best marker so far once `stop` is requested. A stop before
/// the first overlap-free marker exists waits for it (construction and its settling are quick).
pub fn nest_with_stop(
    problem: &Problem,
    options: &Options,
    stop: &Stop,
    progress: impl FnMut(Progress),
) -> Result<Layout, Error> {
    if !(options.time_limit.is_finite() && options.time_limit > 0.0) {
        return Err(Error::InvalidTimeLimit(options.time_limit));
    }
    let engine = Engine::new(problem)?;
    let mut run = Run::new(&engine, problem, options, stop.clone(), progress);
    run.search()?;
    let (poses, _) = run.best.take().ok_or_else(|| Error::Engine {
        what: "the search".into(),
        message: "no overlap-free marker was found".into(),
    })?;
    let placements = poses
        .iter()
        .enumerate()
        .filter_map(|(i, &p)| engine.placement(problem, i, p))
        .collect();
    let layout = Layout::from_placements(problem, placements);
    (run.progress)(Progress {
        phase: Phase::Done,
        elapsed: run.start.elapsed(),
        time_limit: run.limit,
        best_length: layout.length,
        best_density: layout.density,
    });
    Ok(layout)
}

impl<'a, F: FnMut(Progress)> Run<'a, F> {
    fn new(
        engine: &'a Engine,
        problem: &'a Problem,
        options: &Options,
        stop: Stop,
        progress: F,
    ) -> Self {
        let start = Instant::now();
        let limit = Duration::from_secs_f64(options.time_limit.min(1e9));
        Run {
            engine,
            problem,
            rng: Xoshiro256PlusPlus::seed_from_u64(options.seed),
            crew: Crew::new(options.workers, options.seed),
            start,
            limit,
            deadline: start + limit,
            phase: Phase::Construct,
            best: None,
            progress,
            last_report: start,
            stop,
        }
    }

    /// Whether the search goes on until `until`: neither that time has come nor a stop was asked.
    fn goes_on(&self, until: Instant) -> bool {
        !self.stop.is_requested() && Instant::now() < until
    }

    /// Construction, then exploration and compression until the deadline.
    fn search(&mut self) -> Result<(), Error> {
        let poses = self.construct()?;
        let mut state = State::new(self.engine, poses, self.engine.safe_length())?;
        let fitted = state.fitted_length();
        state.set_length(self.engine, fitted, fitted)?;
        self.settle(&mut state)?;
        let mut step = FIRST_STEP;
        let explore_end = self.start + self.limit.mul_f64(EXPLORE_SHARE);
        self.shrink(&mut state, Phase::Explore, explore_end, &mut step)?;
        let deadline = self.deadline;
        self.shrink(&mut state, Phase::Compress, deadline, &mut step)
    }

    /// Makes the first marker overlap-free. Construction checks each spot with jagua-rs'
    /// collision test, and the search's overlap measure can still find a near-touching pair
    /// overlapping (seen on swim with coarser outline simplification: the run then ended without
    /// any marker). Such a marker is separated, on a roll lengthened by [`SETTLE_GROWTH`] after
    /// each failure, until it is feasible or time is up.
    fn settle(&mut self, state: &mut State) -> Result<(), Error> {
        self.record(state);
        // A stop waits for the first feasible marker: set aside until there is one (an error
        // ends the whole search, so it need not be put back then).
        let stop = std::mem::take(&mut self.stop);
        while self.best.is_none() && Instant::now() < self.deadline {
            if self.separate(state, self.deadline)? {
                self.record(state);
            } else {
                let length = state.length * SETTLE_GROWTH;
                state.set_length(self.engine, length, length)?;
            }
        }
        self.stop = stop;
        Ok(())
    }

    /// Sends a report on the best marker, at most every [`REPORT_EVERY`] unless `force`d.
    fn report(&mut self, force: bool) {
        let now = Instant::now();
        if !force && now.duration_since(self.last_report) < REPORT_EVERY {
            return;
        }
        self.last_report = now;
        let best_length = self
            .best
            .as_ref()
            .map_or(0.0, |b| output_length(self.engine, b.1));
        let best_density = if best_length > 0.0 {
            self.problem.piece_area() / (best_length * self.problem.strip_width)
        } else {
            0.0
        };
        (self.progress)(Progress {
            phase: self.phase,
            elapsed: now.duration_since(self.start),
            time_limit: self.limit,
            best_length,
            best_density,
        });
    }

    /// Keeps the state's marker if it is feasible and shorter than the best one.
    fn record(&mut self, state: &State) {
        if state.tracker.total_loss() > 0.0 {
            return;
        }
        let length = state.fitted_length();
        if self.best.as_ref().is_none_or(|b| length < b.1) {
            self.best = Some((state.poses.clone(), length));
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

    /// Guided local search for an overlap-free marker at the state's length. Returns true when
    /// it found one (left in `state`); otherwise `state` holds the least-overlapping marker.
    /// Fails only if a separation thread panicked.
    fn separate(&mut self, state: &mut State, until: Instant) -> Result<bool, Error> {
        let engine = self.engine;
        let mut best: Snapshot = state.save();
        let mut best_loss = state.tracker.total_loss();
        if best_loss <= 0.0 {
            return Ok(true);
        }
        let mut strikes = 0;
        while strikes < SEPARATE_STRIKES && self.goes_on(until) {
            let strike_start = state.tracker.total_loss();
            let mut stale = 0;
            while stale < SEPARATE_ITERATIONS && self.goes_on(until) {
                self.crew.round(engine, state, &mut self.rng, until)?;
                let loss = state.tracker.total_loss();
                if loss <= 0.0 {
                    return Ok(true);
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
        Ok(false)
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
        while self.goes_on(until) {
            let Some((poses, length)) = self.best.clone() else {
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
            let ok = self.separate(state, until)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nest::tests::{rects_and_triangles, violations};

    /// A first marker with every copy on the same spot of a roll one piece long still ends in a
    /// feasible marker: separated on a longer roll.
    #[test]
    fn an_overlapping_first_marker_is_settled() {
        let problem = rects_and_triangles("stacked", 4);
        let engine = Engine::new(&problem).unwrap();
        // Settling stops at the first feasible marker (about a second here, unoptimised); the
        // budget only bounds a failure, so that a slow machine cannot fail the test.
        let options = Options {
            time_limit: 300.0,
            seed: 5,
            workers: 1,
        };
        let mut run = Run::new(&engine, &problem, &options, Stop::new(), |_| {});
        let poses: Vec<Pose> = engine
            .copies
            .iter()
            .map(|&(s, _)| {
                let bb = engine.shapes[s].bboxes[0];
                Pose {
                    rot: 0,
                    x: -bb.x_min,
                    y: -bb.y_min,
                }
            })
            .collect();
        let mut state = State::new(&engine, poses, 4.5).unwrap();
        assert!(state.tracker.total_loss() > 0.0);
        run.settle(&mut state).unwrap();
        let (poses, _) = run.best.clone().expect("a feasible marker");
        let placements = poses
            .iter()
            .enumerate()
            .filter_map(|(i, &p)| engine.placement(&problem, i, p))
            .collect();
        let layout = Layout::from_placements(&problem, placements);
        let v = violations(&problem, &layout);
        assert!(v.is_empty(), "{v:#?}");
        assert!(state.length > 4.5, "the roll was not lengthened");
    }
}
