//! Plane geometry shared by chart sampling and skin sampling: homographies and polygons.

use nalgebra::{DMatrix, Matrix3, SymmetricEigen};

/// A projective map of the plane, `p' ~ H p` in homogeneous coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography(pub Matrix3<f64>);

impl Homography {
    /// Least-squares fit (normalised DLT, Hartley 1997) from at least four point pairs.
    ///
    /// Returns `None` when the points are degenerate (fewer than four, or collinear).
    pub fn fit(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<Self> {
        if src.len() < 4 || src.len() != dst.len() || !spans_plane(src) || !spans_plane(dst) {
            return None;
        }
        let (ts, td) = (normaliser(src)?, normaliser(dst)?);
        let mut a = DMatrix::<f64>::zeros(2 * src.len(), 9);
        for (k, (s, d)) in src.iter().zip(dst).enumerate() {
            let (x, y) = apply(&ts, *s);
            let (u, v) = apply(&td, *d);
            let rows = [
                [-x, -y, -1.0, 0.0, 0.0, 0.0, u * x, u * y, u],
                [0.0, 0.0, 0.0, -x, -y, -1.0, v * x, v * y, v],
            ];
            for (r, row) in rows.iter().enumerate() {
                for (c, val) in row.iter().enumerate() {
                    a[(2 * k + r, c)] = *val;
                }
            }
        }
        let ata = a.transpose() * &a;
        let eig = SymmetricEigen::new(ata);
        let (imin, _) = eig
            .eigenvalues
            .iter()
            .enumerate()
            .min_by(|x, y| x.1.total_cmp(y.1))?;
        let h = eig.eigenvectors.column(imin);
        let hn = Matrix3::from_fn(|r, c| h[3 * r + c]);
        let full = td.try_inverse()? * hn * ts;
        let scale = full[(2, 2)];
        if !scale.is_finite() || scale.abs() < 1e-12 {
            return None;
        }
        let out = Self(full / scale);
        // Collinear input gives a rank-deficient map that cannot be inverted.
        out.inverse().map(|_| out)
    }

    /// Maps a point; points sent to infinity come back as non-finite numbers.
    pub fn map(&self, p: [f64; 2]) -> [f64; 2] {
        let (x, y) = apply(&self.0, p);
        [x, y]
    }

    /// The inverse map, if the matrix is invertible.
    pub fn inverse(&self) -> Option<Self> {
        let inv = self.0.try_inverse()?;
        inv.iter().all(|v| v.is_finite()).then_some(Self(inv))
    }

    /// `self` after `first`: maps `p` to `self(first(p))`.
    pub fn compose(&self, first: &Homography) -> Self {
        Self(self.0 * first.0)
    }
}

fn apply(m: &Matrix3<f64>, p: [f64; 2]) -> (f64, f64) {
    let w = m[(2, 0)] * p[0] + m[(2, 1)] * p[1] + m[(2, 2)];
    (
        (m[(0, 0)] * p[0] + m[(0, 1)] * p[1] + m[(0, 2)]) / w,
        (m[(1, 0)] * p[0] + m[(1, 1)] * p[1] + m[(1, 2)]) / w,
    )
}

/// Whether the points are spread in two directions (not all on one line).
fn spans_plane(pts: &[[f64; 2]]) -> bool {
    let n = pts.len() as f64;
    let cx = pts.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = pts.iter().map(|p| p[1]).sum::<f64>() / n;
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for p in pts {
        let (dx, dy) = (p[0] - cx, p[1] - cy);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    let det = sxx * syy - sxy * sxy;
    let tr = sxx + syy;
    // Smaller eigenvalue over the larger one, from the 2x2 scatter matrix.
    det > 1e-6 * tr * tr
}

/// Similarity that moves the centroid to the origin and the mean distance to sqrt(2).
fn normaliser(pts: &[[f64; 2]]) -> Option<Matrix3<f64>> {
    let n = pts.len() as f64;
    let cx = pts.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = pts.iter().map(|p| p[1]).sum::<f64>() / n;
    let d = pts
        .iter()
        .map(|p| (p[0] - cx).hypot(p[1] - cy))
        .sum::<f64>()
        / n;
    if d.partial_cmp(&1e-9) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let s = std::f64::consts::SQRT_2 / d;
    Some(Matrix3::new(
        s,
        0.0,
        -s * cx,
        0.0,
        s,
        -s * cy,
        0.0,
        0.0,
        1.0,
    ))
}

/// Whether `p` lies inside the polygon (even-odd rule; any vertex order).
pub fn point_in_polygon(p: [f64; 2], poly: &[[f64; 2]]) -> bool {
    let mut inside = false;
    let mut j = poly.len().wrapping_sub(1);
    for (i, a) in poly.iter().enumerate() {
        if let Some(b) = poly.get(j) {
            if (a[1] > p[1]) != (b[1] > p[1])
                && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0]
            {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Axis-aligned bounds `(min_x, min_y, max_x, max_y)` of a polygon, `None` when empty.
pub fn bounds(poly: &[[f64; 2]]) -> Option<[f64; 4]> {
    let first = poly.first()?;
    Some(
        poly.iter()
            .fold([first[0], first[1], first[0], first[1]], |b, p| {
                [
                    b[0].min(p[0]),
                    b[1].min(p[1]),
                    b[2].max(p[0]),
                    b[3].max(p[1]),
                ]
            }),
    )
}

/// Area of a simple polygon (shoelace formula).
pub fn polygon_area(poly: &[[f64; 2]]) -> f64 {
    let n = poly.len();
    let twice: f64 = (0..n)
        .filter_map(|i| Some((poly.get(i)?, poly.get((i + 1) % n)?)))
        .map(|(a, b)| a[0] * b[1] - b[0] * a[1])
        .sum();
    twice.abs() / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homography_recovers_a_known_perspective_map() {
        let truth = Homography(Matrix3::new(
            1.2, 0.1, 30.0, -0.05, 0.9, 12.0, 0.0004, -0.0002, 1.0,
        ));
        let src: Vec<[f64; 2]> = (0..6)
            .flat_map(|c| (0..4).map(move |r| [c as f64 * 40.0, r as f64 * 40.0]))
            .collect();
        let dst: Vec<[f64; 2]> = src.iter().map(|p| truth.map(*p)).collect();
        let h = Homography::fit(&src, &dst).unwrap();
        for (s, d) in src.iter().zip(&dst) {
            let m = h.map(*s);
            assert!((m[0] - d[0]).abs() < 1e-6 && (m[1] - d[1]).abs() < 1e-6);
        }
        assert!(Homography::fit(&src[..3], &dst[..3]).is_none());
        let line: Vec<[f64; 2]> = (0..5).map(|i| [i as f64, 2.0 * i as f64]).collect();
        assert!(Homography::fit(&line, &line).is_none());
    }

    #[test]
    fn polygon_helpers() {
        let sq = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]];
        assert!(point_in_polygon([1.0, 1.0], &sq));
        assert!(!point_in_polygon([3.0, 1.0], &sq));
        assert!((polygon_area(&sq) - 4.0).abs() < 1e-12);
        assert_eq!(bounds(&sq), Some([0.0, 0.0, 2.0, 2.0]));
    }
}
