//! Overlap measures that guide the separation search. Exact overlap areas of polygons are
//! costly and flat (zero) when shapes just touch; instead collisions are quantified through
//! each shape's *poles* (a set of inscribed circles from jagua-rs' surrogate), following the
//! overlap proxy of Gardeyn & Vanden Berghe (sparrow, 2025, arXiv:2509.13329, alg. 3-4).

use std::f32::consts::PI;

use jagua_rs::geometry::geo_traits::DistanceTo;
use jagua_rs::geometry::primitives::{Circle, Rect, SPolygon};

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

/// Where padding poles sit: far from every real pole, yet close enough that squared distances
/// to them stay finite in f32 (the SIMD builds' square-root estimate turns infinity into NaN).
const FAR: f32 = 1e15;

/// A shape's poles as separate coordinate arrays, padded with far, zero-radius poles (which add
/// nothing, as each term is scaled by the smaller radius) to a multiple of [`LANES`].
struct Poles {
    x: [f32; MAX_POLES],
    y: [f32; MAX_POLES],
    r: [f32; MAX_POLES],
    n: usize,
}

impl Poles {
    fn of(circles: &[Circle]) -> Poles {
        let mut p = Poles {
            x: [FAR; MAX_POLES],
            y: [FAR; MAX_POLES],
            r: [0.0; MAX_POLES],
            n: 0,
        };
        for (k, c) in circles.iter().take(MAX_POLES).enumerate() {
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
    let epsilon = a.diameter().max(b.diameter()) * EPSILON_DIAMETER_RATIO;
    let total = pole_sum(
        a.surrogate().poles.as_slice(),
        b.surrogate().poles.as_slice(),
        epsilon,
    );
    (total * PI + epsilon * epsilon).sqrt() * shape_penalty(a, b)
}

/// The sum over all pairs of poles of `a` and `b` (at most [`MAX_POLES`] each): penetration
/// depth, smoothed below `epsilon`, times the smaller radius.
fn pole_sum(a: &[Circle], b: &[Circle], epsilon: f32) -> f32 {
    let (a, b) = (&a[..a.len().min(MAX_POLES)], &b[..b.len().min(MAX_POLES)]);
    // Why hand-written SIMD: this sum is a third of the search's time, and in the portable loop
    // most of it goes to a square root and a division per pole pair, which share one slow unit
    // of the CPU. With AVX-512 or AVX2 the hardware's reciprocal and reciprocal-square-root
    // estimates, refined by one Newton step, stand in for them (within a few f32 rounding
    // steps), and `b`'s poles are gathered straight into vectors (copying them into arrays
    // first made each vector load wait for the scalar stores before it).
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has just been found to support AVX-512F.
            return unsafe { pole_sum_avx512(a, b, epsilon) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has just been found to support AVX2 and FMA.
            return unsafe { pole_sum_avx2(a, b, epsilon) };
        }
    }
    pole_sum_exact(a, b, epsilon)
}

/// The portable build, with exact square roots and divisions; independent accumulators let the
/// compiler vectorise it.
fn pole_sum_exact(a: &[Circle], b: &[Circle], epsilon: f32) -> f32 {
    let eps2 = epsilon * epsilon;
    let q = Poles::of(b);
    let mut lanes = [0.0f32; LANES];
    for p in a {
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
    lanes.iter().sum()
}

/// Squared distances below this are raised to it, so that coinciding pole centres give a
/// finite reciprocal square root.
const MIN_SQUARED_DISTANCE: f32 = 1e-30;

/// Positions, in f32 steps from the start of a `[Circle]`, of the `k`-th circle's x, y and
/// radius: what the gathers below read.
#[cfg(target_arch = "x86_64")]
struct CircleFields {
    stride: i32,
    x: i32,
    y: i32,
    r: i32,
}

#[cfg(target_arch = "x86_64")]
const CIRCLE_FIELDS: CircleFields = {
    use jagua_rs::geometry::primitives::Point;
    use std::mem::{offset_of, size_of};
    let f = size_of::<f32>();
    assert!(size_of::<Circle>().is_multiple_of(f) && size_of::<Circle>() / f < 16);
    let center = offset_of!(Circle, center);
    CircleFields {
        stride: (size_of::<Circle>() / f) as i32,
        x: ((center + offset_of!(Point, 0)) / f) as i32,
        y: ((center + offset_of!(Point, 1)) / f) as i32,
        r: (offset_of!(Circle, radius) / f) as i32,
    }
};

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn pole_sum_avx512(a: &[Circle], b: &[Circle], epsilon: f32) -> f32 {
    use std::arch::x86_64::*;
    let eps = _mm512_set1_ps(epsilon);
    let two_eps = _mm512_set1_ps(2.0 * epsilon);
    let eps2 = _mm512_set1_ps(epsilon * epsilon);
    let (half, three_halves, two) = (
        _mm512_set1_ps(0.5),
        _mm512_set1_ps(1.5),
        _mm512_set1_ps(2.0),
    );
    let tiny = _mm512_set1_ps(MIN_SQUARED_DISTANCE);
    let (far, none) = (_mm512_set1_ps(FAR), _mm512_setzero_ps());
    let f = CIRCLE_FIELDS;
    let base = b.as_ptr().cast::<f32>();
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let mut acc = _mm512_setzero_ps();
    for c in (0..b.len()).step_by(16) {
        // Lanes past the last pole read nothing and hold a far pole of radius zero.
        let mask: __mmask16 = (((1u32 << (b.len() - c).min(16)) - 1) & 0xffff) as u16;
        let k = _mm512_mullo_epi32(
            _mm512_add_epi32(lane, _mm512_set1_epi32(c as i32)),
            _mm512_set1_epi32(f.stride),
        );
        // SAFETY: every unmasked lane reads an f32 field of a circle of `b` (index below
        // `b.len()`), at its offset within the slice.
        let (xs, ys, rs) = unsafe {
            (
                _mm512_mask_i32gather_ps::<4>(
                    far,
                    mask,
                    _mm512_add_epi32(k, _mm512_set1_epi32(f.x)),
                    base,
                ),
                _mm512_mask_i32gather_ps::<4>(
                    far,
                    mask,
                    _mm512_add_epi32(k, _mm512_set1_epi32(f.y)),
                    base,
                ),
                _mm512_mask_i32gather_ps::<4>(
                    none,
                    mask,
                    _mm512_add_epi32(k, _mm512_set1_epi32(f.r)),
                    base,
                ),
            )
        };
        for p in a {
            let pr = _mm512_set1_ps(p.radius);
            let dx = _mm512_sub_ps(_mm512_set1_ps(p.center.0), xs);
            let dy = _mm512_sub_ps(_mm512_set1_ps(p.center.1), ys);
            let d2 = _mm512_max_ps(_mm512_fmadd_ps(dx, dx, _mm512_mul_ps(dy, dy)), tiny);
            // 1/sqrt(d2) to 14 bits, then one Newton step: y (3 - d2 y^2) / 2.
            let y0 = _mm512_rsqrt14_ps(d2);
            let y = _mm512_mul_ps(
                y0,
                _mm512_fnmadd_ps(_mm512_mul_ps(half, d2), _mm512_mul_ps(y0, y0), three_halves),
            );
            let depth = _mm512_sub_ps(_mm512_add_ps(pr, rs), _mm512_mul_ps(d2, y));
            // eps^2 / (2 eps - depth) through 1/x to 14 bits and one Newton step: r (2 - x r).
            let x = _mm512_sub_ps(two_eps, depth);
            let r0 = _mm512_rcp14_ps(x);
            let soft = _mm512_mul_ps(eps2, _mm512_mul_ps(r0, _mm512_fnmadd_ps(x, r0, two)));
            let deep = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(depth, eps);
            let smoothed = _mm512_mask_blend_ps(deep, soft, depth);
            acc = _mm512_fmadd_ps(smoothed, _mm512_min_ps(pr, rs), acc);
        }
    }
    _mm512_reduce_add_ps(acc)
}

/// The same steps as [`pole_sum_avx512`] on eight lanes (AVX2 has no mask registers, no
/// horizontal sum and 12-bit estimates, so the two are kept apart rather than generated).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn pole_sum_avx2(a: &[Circle], b: &[Circle], epsilon: f32) -> f32 {
    use std::arch::x86_64::*;
    let eps = _mm256_set1_ps(epsilon);
    let two_eps = _mm256_set1_ps(2.0 * epsilon);
    let eps2 = _mm256_set1_ps(epsilon * epsilon);
    let (half, three_halves, two) = (
        _mm256_set1_ps(0.5),
        _mm256_set1_ps(1.5),
        _mm256_set1_ps(2.0),
    );
    let tiny = _mm256_set1_ps(MIN_SQUARED_DISTANCE);
    let (far, none) = (_mm256_set1_ps(FAR), _mm256_setzero_ps());
    let f = CIRCLE_FIELDS;
    let base = b.as_ptr().cast::<f32>();
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut acc = _mm256_setzero_ps();
    for c in (0..b.len()).step_by(8) {
        // Lanes past the last pole read nothing and hold a far pole of radius zero.
        let live = _mm256_cmpgt_epi32(_mm256_set1_epi32((b.len() - c) as i32), lane);
        let mask = _mm256_castsi256_ps(live);
        let k = _mm256_mullo_epi32(
            _mm256_add_epi32(lane, _mm256_set1_epi32(c as i32)),
            _mm256_set1_epi32(f.stride),
        );
        // SAFETY: every unmasked lane reads an f32 field of a circle of `b` (index below
        // `b.len()`), at its offset within the slice.
        let (xs, ys, rs) = unsafe {
            (
                _mm256_mask_i32gather_ps::<4>(
                    far,
                    base,
                    _mm256_add_epi32(k, _mm256_set1_epi32(f.x)),
                    mask,
                ),
                _mm256_mask_i32gather_ps::<4>(
                    far,
                    base,
                    _mm256_add_epi32(k, _mm256_set1_epi32(f.y)),
                    mask,
                ),
                _mm256_mask_i32gather_ps::<4>(
                    none,
                    base,
                    _mm256_add_epi32(k, _mm256_set1_epi32(f.r)),
                    mask,
                ),
            )
        };
        for p in a {
            let pr = _mm256_set1_ps(p.radius);
            let dx = _mm256_sub_ps(_mm256_set1_ps(p.center.0), xs);
            let dy = _mm256_sub_ps(_mm256_set1_ps(p.center.1), ys);
            let d2 = _mm256_max_ps(_mm256_fmadd_ps(dx, dx, _mm256_mul_ps(dy, dy)), tiny);
            // 1/sqrt(d2) to 12 bits, then one Newton step.
            let y0 = _mm256_rsqrt_ps(d2);
            let y = _mm256_mul_ps(
                y0,
                _mm256_fnmadd_ps(_mm256_mul_ps(half, d2), _mm256_mul_ps(y0, y0), three_halves),
            );
            let depth = _mm256_sub_ps(_mm256_add_ps(pr, rs), _mm256_mul_ps(d2, y));
            let x = _mm256_sub_ps(two_eps, depth);
            let r0 = _mm256_rcp_ps(x);
            let soft = _mm256_mul_ps(eps2, _mm256_mul_ps(r0, _mm256_fnmadd_ps(x, r0, two)));
            let deep = _mm256_cmp_ps::<_CMP_GE_OQ>(depth, eps);
            let smoothed = _mm256_blendv_ps(soft, depth, deep);
            acc = _mm256_fmadd_ps(smoothed, _mm256_min_ps(pr, rs), acc);
        }
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds eight f32.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    lanes.iter().sum()
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

    /// The loss falls as the overlap shrinks.
    #[test]
    fn pair_loss_falls_with_overlap() {
        let a = ell(0.0);
        let losses: Vec<f32> = [0.0, 10.0, 30.0, 55.0]
            .into_iter()
            .map(|dx| pair_loss(&a, &ell(dx)))
            .collect();
        assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
        assert!(losses[3] > 0.0);
    }

    /// The AVX2 and AVX-512 builds of the pole-pair sum agree with the exact portable one to
    /// within a few f32 rounding steps, whether the pieces lie on top of each other (coinciding
    /// pole centres included), overlap in part, touch or lie apart.
    #[test]
    fn simd_pole_sums_match_the_exact_one() {
        let a = ell(0.0);
        let epsilon = a.diameter() * EPSILON_DIAMETER_RATIO;
        let a = a.surrogate().poles.as_slice();
        for dx in [0.0, 0.001, 5.0, 19.5, 30.0, 59.99, 60.0, 61.0, 200.0, 1e4] {
            let b = ell(dx);
            let q = b.surrogate().poles.as_slice();
            let exact = pole_sum_exact(a, q, epsilon);
            assert!(exact.is_finite() && exact > 0.0, "dx {dx}: {exact}");
            let close = |x: f32| (x - exact).abs() <= 1e-5 * exact;
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports AVX2 and FMA.
                    let wide = unsafe { pole_sum_avx2(a, q, epsilon) };
                    assert!(close(wide), "avx2, dx {dx}: {wide} vs {exact}");
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F.
                    let wide = unsafe { pole_sum_avx512(a, q, epsilon) };
                    assert!(close(wide), "avx512, dx {dx}: {wide} vs {exact}");
                }
            }
            assert!(close(pole_sum(a, q, epsilon)));
        }
    }

    /// The builds agree for any number of poles up to [`MAX_POLES`] on either side (partly
    /// filled vectors, several of them), and extra poles are ignored alike.
    #[test]
    fn simd_pole_sums_match_for_any_pole_count() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
        let mut circles = |n: usize| -> Vec<Circle> {
            (0..n)
                .map(|_| {
                    let c = Point(rng.random_range(0.0..50.0), rng.random_range(0.0..50.0));
                    Circle::try_new(c, rng.random_range(0.5..10.0)).expect("circle")
                })
                .collect()
        };
        for (na, nb) in [(1, 1), (3, 17), (16, 16), (64, 33), (5, 64), (9, 70)] {
            let (a, b) = (circles(na), circles(nb));
            let exact = pole_sum_exact(&a, &b, 0.7);
            let fast = pole_sum(&a, &b, 0.7);
            assert!(
                (fast - exact).abs() <= 1e-5 * exact,
                "{na}x{nb}: {fast} vs {exact}"
            );
        }
    }
}
