//! One round of overlap removal, on one thread or on several at once: every thread moves the
//! overlapping copies of its own copy of the marker, in its own random order and with its own
//! samples, and the round keeps the result with the lowest weighted overlap (sparrow's
//! parallel separator, Gardeyn & Vanden Berghe 2025). Each round runs on scoped threads
//! rather than a pool: a round moves every overlapping copy, far more work than starting a
//! thread, and the threads borrow the states instead of owning them.

use std::time::Instant;

use jagua_rs::geometry::primitives::Rect;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::engine::{Engine, Pose, State};
use super::search::{search, SampleConfig};
use super::Error;

/// Samples per move of one copy during separation.
const SAMPLES: SampleConfig = SampleConfig {
    container: 30,
    focused: 15,
    descents: 3,
};

/// The extra threads of a separation round, each with its own copy of the marker (built on
/// first use and kept in step by moving only the copies that differ, both on the helper's own
/// thread) and its own random stream.
pub(crate) struct Crew {
    helpers: Vec<(Option<State>, Xoshiro256PlusPlus)>,
}

impl Crew {
    /// A crew for `threads` threads in all (the caller's own thread included), seeded from `seed`.
    pub fn new(threads: usize, seed: u64) -> Crew {
        Crew {
            helpers: (1..threads.max(1) as u64)
                .map(|k| {
                    let stream = seed.wrapping_add(k.wrapping_mul(0xD1B5_4A32_D192_ED03));
                    (None, Xoshiro256PlusPlus::seed_from_u64(stream))
                })
                .collect(),
        }
    }

    /// Moves the overlapping copies of `state` once on every thread and leaves in `state` the
    /// outcome with the lowest weighted loss.
    pub fn round(
        &mut self,
        engine: &Engine,
        state: &mut State,
        rng: &mut Xoshiro256PlusPlus,
        until: Instant,
    ) -> Result<(), Error> {
        if self.helpers.is_empty() {
            move_overlapping(engine, state, rng, until);
            return Ok(());
        }
        // Each helper catches up with the marker on its own thread, from a copy of what it
        // needs, while this thread already moves copies.
        let lead = state.lead();
        let outcomes = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .helpers
                .iter_mut()
                .map(|(helper, r)| {
                    let lead = &lead;
                    scope.spawn(move || -> Result<(), Error> {
                        let h = match helper {
                            Some(h) => {
                                h.follow(engine, lead)?;
                                h
                            }
                            None => helper.insert(State::replica(engine, lead)?),
                        };
                        move_overlapping(engine, h, r, until);
                        Ok(())
                    })
                })
                .collect();
            move_overlapping(engine, state, rng, until);
            handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
        });
        for outcome in outcomes {
            outcome.map_err(|_| Error::Engine {
                what: "a separation thread".into(),
                message: "panicked".into(),
            })??;
        }
        let best = self
            .helpers
            .iter_mut()
            .filter_map(|(h, _)| h.as_mut())
            .min_by(|a, b| {
                let (wa, wb) = (a.weighted_loss(), b.weighted_loss());
                wa.total_cmp(&wb)
            });
        if let Some(h) = best {
            if h.weighted_loss() < state.weighted_loss() {
                std::mem::swap(state, h);
            }
        }
        Ok(())
    }
}

/// One pass of the separation local search: every overlapping copy, in random order, moves to
/// the best spot found for it under the current weights.
fn move_overlapping(
    engine: &Engine,
    state: &mut State,
    rng: &mut Xoshiro256PlusPlus,
    until: Instant,
) {
    let n = state.poses.len();
    let mut order: Vec<usize> = (0..n).filter(|&i| state.tracker.loss(i) > 0.0).collect();
    order.shuffle(rng);
    let region = Rect {
        x_min: 0.0,
        y_min: 0.0,
        x_max: state.length,
        y_max: engine.height,
    };
    for i in order {
        if Instant::now() >= until {
            return;
        }
        if state.tracker.loss(i) <= 0.0 {
            continue;
        }
        let shape = &engine.shapes[engine.copies[i].0];
        let own = state.own_key(i);
        let current = state.poses[i];
        let current_cost = state.evaluate(engine, i, current, f32::INFINITY, own);
        let mut cost = |p: Pose, bound: f32| state.evaluate(engine, i, p, bound, own);
        let found = search(
            shape,
            Some((current, current_cost)),
            region,
            SAMPLES,
            &mut cost,
            rng,
        );
        if let Some((pose, _)) = found {
            state.move_copy(engine, i, pose);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::RngExt;

    use super::*;

    fn shirts() -> Engine {
        Engine::new(&crate::nest::tests::instance("shirts")).expect("engine")
    }

    /// Every copy at a random spot of a roll a quarter as long as needed: many overlaps.
    fn crowded(engine: &Engine, rng: &mut Xoshiro256PlusPlus) -> State {
        let length = engine.safe_length() / 4.0;
        let poses = (0..engine.copies.len())
            .map(|_| Pose {
                rot: 0,
                x: rng.random_range(0.0..length),
                y: rng.random_range(0.0..engine.height),
            })
            .collect();
        State::new(engine, poses, length).expect("state")
    }

    /// Per-copy losses of `a` and `b` agree (up to the order in which hazards were summed).
    fn same_losses(a: &State, b: &State) -> bool {
        (0..a.poses.len()).all(|i| {
            let (x, y) = (a.tracker.loss(i), b.tracker.loss(i));
            (x - y).abs() <= 1e-5 * x.abs().max(y.abs()).max(1.0)
        })
    }

    /// A helper that follows the leader's moves has its placements, losses and weights, and
    /// those losses are the ones a state built afresh from the placements has.
    #[test]
    fn a_follower_matches_its_leader() {
        let engine = shirts();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let mut leader = crowded(&engine, &mut rng);
        let mut follower = State::replica(&engine, &leader.lead()).expect("replica");
        for _ in 0..3 {
            for _ in 0..5 {
                let i = rng.random_range(0..leader.poses.len());
                let pose = Pose {
                    rot: 0,
                    x: rng.random_range(0.0..leader.length),
                    y: rng.random_range(0.0..engine.height),
                };
                leader.move_copy(&engine, i, pose);
            }
            leader.update_weights();
            follower.follow(&engine, &leader.lead()).expect("follow");
            assert_eq!(follower.poses, leader.poses);
            assert!(same_losses(&follower, &leader));
            assert_eq!(follower.weighted_loss(), leader.weighted_loss());
            let fresh = State::new(&engine, leader.poses.clone(), leader.length).expect("state");
            assert!(same_losses(&fresh, &leader));
        }
    }

    /// A round on three threads keeps a self-consistent outcome whose weighted loss is no
    /// higher than before (each move keeps the copy's spot unless it finds a cheaper one).
    #[test]
    fn a_round_on_several_threads_never_worsens() {
        let engine = shirts();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let mut state = crowded(&engine, &mut rng);
        let mut crew = Crew::new(3, 5);
        let until = Instant::now() + std::time::Duration::from_secs(3600);
        for _ in 0..4 {
            let before = state.weighted_loss();
            crew.round(&engine, &mut state, &mut rng, until)
                .expect("round");
            assert!(
                state.weighted_loss() <= before * 1.001,
                "{before} -> {}",
                state.weighted_loss()
            );
            let fresh = State::new(&engine, state.poses.clone(), state.length).expect("state");
            assert!(same_losses(&fresh, &state));
            state.update_weights();
        }
    }
}
