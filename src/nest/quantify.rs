//! Overlap measures that guide the separation search. Exact overlap areas of polygons are
//! costly and flat (zero) when shapes just touch; instead collisions are quantified through
//! each shape's *poles* (a set of inscribed circles from jagua-rs' surrogate), following the
//! overlap proxy of Gardeyn & Vanden Berghe (sparrow, 2025, arXiv:2509.13329, alg. 3-4).

use std::f32::consts::PI;

use jagua_rs::geometry::geo_traits::DistanceTo;
use jagua_rs::geometry::primitives::{Rect, SPolygon};

/// Share of the larger diameter below which penetration depth is smoothed, so that barely
/// touching shapes still have a small positive, decreasing loss.
const EPSILON_DIAMETER_RATIO: f32 = 0.01;

fn shape_penalty(a: &SPolygon, b: &SPolygon) -> f32 {
    let pa = a.surrogate().convex_hull_area.sqrt();
    let pb = b.surrogate().convex_hull_area.sqrt();
    (pa * pb).sqrt()
}

/// Upper bound on poles per shape (the surrogate configuration asks for at most 64).
const MAX_POLES: usize = 64;
/// Lanes of the inner loop: independent accumulators let the compiler vectorise it.
const LANES: usize = 16;

/// A shape's poles as separate coordinate arrays, padded with zero-radius poles (which add
/// nothing, as each term is scaled by the smaller radius) to a multiple of [`LANES`].
struct Poles {
    x: [f32; MAX_POLES],
    y: [f32; MAX_POLES],
    r: [f32; MAX_POLES],
    n: usize,
}

impl Poles {
    fn of(shape: &SPolygon) -> Poles {
        let mut p = Poles {
            x: [1e30; MAX_POLES],
            y: [1e30; MAX_POLES],
            r: [0.0; MAX_POLES],
            n: 0,
        };
        for (k, c) in shape.surrogate().poles.iter().take(MAX_POLES).enumerate() {
            p.x[k] = c.center.0;
            p.y[k] = c.center.1;
            p.r[k] = c.radius;
            p.n = k + 1;
        }
        p.n = p.n.div_ceil(LANES) * LANES;
        p
    }
}

/// Loss of a collision between two shapes (both must carry a surrogate).
pub(crate) fn pair_loss(a: &SPolygon, b: &SPolygon) -> f32 {
    // Why more builds of the same loop: it is a third of the search's time, and the portable
    // x86-64 baseline vectorises it four lanes wide where AVX2 takes eight accumulators at once
    // and AVX-512 all sixteen. Same operations in the same order, so the same result.
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has just been found to support AVX-512F.
            return unsafe { pair_loss_avx512(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has just been found to support AVX2.
            return unsafe { pair_loss_avx2(a, b) };
        }
    }
    pair_loss_in(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn pair_loss_avx2(a: &SPolygon, b: &SPolygon) -> f32 {
    pair_loss_in(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn pair_loss_avx512(a: &SPolygon, b: &SPolygon) -> f32 {
    pair_loss_in(a, b)
}

#[inline(always)]
fn pair_loss_in(a: &SPolygon, b: &SPolygon) -> f32 {
    let epsilon = a.diameter().max(b.diameter()) * EPSILON_DIAMETER_RATIO;
    let eps2 = epsilon * epsilon;
    let q = Poles::of(b);
    let mut lanes = [0.0f32; LANES];
    for p in a.surrogate().poles.iter().take(MAX_POLES) {
        let (px, py, pr) = (p.center.0, p.center.1, p.radius);
        for ((xs, ys), rs) in q.x[..q.n]
            .chunks_exact(LANES)
            .zip(q.y[..q.n].chunks_exact(LANES))
            .zip(q.r[..q.n].chunks_exact(LANES))
        {
            for l in 0..LANES {
                let (dx, dy) = (px - xs[l], py - ys[l]);
                let depth = pr + rs[l] - (dx * dx + dy * dy).sqrt();
                let smoothed = if depth >= epsilon {
                    depth
                } else {
                    eps2 / (2.0 * epsilon - depth)
                };
                lanes[l] += smoothed * pr.min(rs[l]);
            }
        }
    }
    let total: f32 = lanes.iter().sum();
    (total * PI + eps2).sqrt() * shape_penalty(a, b)
}

/// Loss of a shape sticking out of the container: grows with the area of its bounding box
/// outside the container.
pub(crate) fn exterior_loss(shape: &SPolygon, container: Rect) -> f32 {
    let bbox = shape.bbox();
    let outside = match Rect::intersection(bbox, container) {
        Some(inside) => bbox.area() - inside.area() + 0.0001 * bbox.area(),
        None => bbox.area() + bbox.centroid().distance_to(&container.centroid()),
    };
    2.0 * outside.sqrt() * shape_penalty(shape, shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jagua_rs::geometry::primitives::Point;

    /// An L-shaped piece moved by `dx`, with the search's surrogate.
    fn ell(dx: f32) -> SPolygon {
        let corners = [
            (0.0, 0.0),
            (60.0, 0.0),
            (60.0, 20.0),
            (20.0, 20.0),
            (20.0, 50.0),
            (0.0, 50.0),
        ];
        let mut s = SPolygon::new(corners.iter().map(|&(x, y)| Point(x + dx, y)).collect())
            .expect("polygon");
        s.generate_surrogate(crate::nest::engine::SURROGATE)
            .expect("surrogate");
        s
    }

    /// The loss falls as the overlap shrinks, and the AVX2 and AVX-512 builds of the loop give
    /// the portable build's result to the bit.
    #[test]
    fn pair_loss_falls_with_overlap_and_builds_agree() {
        let a = ell(0.0);
        let losses: Vec<f32> = [0.0, 10.0, 30.0, 55.0]
            .into_iter()
            .map(|dx| {
                let b = ell(dx);
                let portable = pair_loss_in(&a, &b);
                #[cfg(target_arch = "x86_64")]
                {
                    if std::arch::is_x86_feature_detected!("avx2") {
                        // SAFETY: the CPU supports AVX2.
                        let wide = unsafe { pair_loss_avx2(&a, &b) };
                        assert_eq!(wide.to_bits(), portable.to_bits(), "avx2, dx {dx}");
                    }
                    if std::arch::is_x86_feature_detected!("avx512f") {
                        // SAFETY: the CPU supports AVX-512F.
                        let wide = unsafe { pair_loss_avx512(&a, &b) };
                        assert_eq!(wide.to_bits(), portable.to_bits(), "avx512, dx {dx}");
                    }
                }
                portable
            })
            .collect();
        assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
        assert!(losses[3] > 0.0);
    }
}
