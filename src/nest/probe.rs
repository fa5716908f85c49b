//! A fixed collision workload for `benches/nest.rs`: one overlapping marker and a set of poses
//! at which its copies are tried, evaluated both by the search's overlap measure and by
//! jagua-rs' own yes/no collision test. The second is the reference of the bench: any
//! evaluation must at least find what collides, so the ratio of the two says what quantifying
//! the overlap costs on top of detecting it.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use super::engine::{Engine, Pose, State};
use super::{Error, Problem};

/// Share of the roll the marker's pieces cover: a little tighter than the best markers, so
/// that most poses overlap something, as most samples of a separation search do.
const COVER: f32 = 1.1;

/// A marker of every copy at random spots on a roll too short for them, and `poses` random
/// poses of random copies inside the roll (see the module documentation).
pub struct OverlapProbe {
    engine: Engine,
    state: State,
    poses: Vec<(usize, Pose)>,
}

impl OverlapProbe {
    /// Builds the marker and the poses from `seed` (same seed, same workload).
    pub fn new(problem: &Problem, poses: usize, seed: u64) -> Result<OverlapProbe, Error> {
        let engine = Engine::new(problem)?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let area: f32 = engine
            .copies
            .iter()
            .map(|&(s, _)| engine.shapes[s].hull_area)
            .sum();
        let length = area / engine.height / COVER;
        let pose_of = |copy: usize, rng: &mut Xoshiro256PlusPlus| {
            let shape = &engine.shapes[engine.copies[copy].0];
            let rot = rng.random_range(0..shape.bboxes.len());
            let bb = shape.bboxes[rot];
            // The reference point's range that keeps the bounding box on the roll (its lower
            // end where the piece is longer than the roll).
            let x_hi = (length - bb.x_max).max(-bb.x_min);
            let y_hi = (engine.height - bb.y_max).max(-bb.y_min);
            Pose {
                rot,
                x: -bb.x_min + rng.random::<f32>() * (x_hi + bb.x_min),
                y: -bb.y_min + rng.random::<f32>() * (y_hi + bb.y_min),
            }
        };
        let marker = (0..engine.copies.len())
            .map(|i| pose_of(i, &mut rng))
            .collect();
        let probes = (0..poses)
            .map(|_| {
                let copy = rng.random_range(0..engine.copies.len());
                (copy, pose_of(copy, &mut rng))
            })
            .collect();
        let state = State::new(&engine, marker, length)?;
        Ok(OverlapProbe {
            engine,
            state,
            poses: probes,
        })
    }

    /// The search's weighted overlap loss at every pose, without a bound: their sum.
    pub fn quantify(&mut self) -> f32 {
        (0..self.poses.len()).map(|k| self.loss(k)).sum()
    }

    /// jagua-rs' collision test at every pose: how many collide.
    pub fn detect(&mut self) -> usize {
        (0..self.poses.len()).filter(|&k| self.collides(k)).count()
    }

    fn loss(&mut self, k: usize) -> f32 {
        let (copy, pose) = self.poses[k];
        let own = self.state.own_key(copy);
        self.state
            .evaluate(&self.engine, copy, pose, f32::INFINITY, own)
    }

    fn collides(&mut self, k: usize) -> bool {
        let (copy, pose) = self.poses[k];
        self.state.collides(&self.engine, copy, pose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nest::tests::instance;

    /// The overlap measure is positive exactly where jagua-rs finds a collision, and the
    /// workload is mostly but not only overlapping poses.
    #[test]
    fn the_loss_is_positive_exactly_where_jagua_detects_a_collision() {
        for name in ["shirts", "swim"] {
            let mut probe = OverlapProbe::new(&instance(name), 300, 7).unwrap();
            let mut colliding = 0;
            for k in 0..probe.poses.len() {
                let (loss, hit) = (probe.loss(k), probe.collides(k));
                assert!(loss.is_finite() && loss >= 0.0, "{name} pose {k}: {loss}");
                assert_eq!(
                    loss > 0.0,
                    hit,
                    "{name} pose {k}: loss {loss}, collides {hit}"
                );
                colliding += usize::from(hit);
            }
            assert_eq!(probe.detect(), colliding);
            assert!(
                (150..300).contains(&colliding),
                "{name}: {colliding} of 300 collide"
            );
            assert!(probe.quantify() > 0.0);
        }
    }

    /// The same seed builds the same workload.
    #[test]
    fn the_workload_is_fixed_by_its_seed() {
        let problem = instance("shirts");
        let (mut a, mut b) = (
            OverlapProbe::new(&problem, 50, 3).unwrap(),
            OverlapProbe::new(&problem, 50, 3).unwrap(),
        );
        assert_eq!(a.poses, b.poses);
        assert_eq!(a.quantify(), b.quantify());
    }
}
