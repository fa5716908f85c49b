//! Pattern geometry on kurbo: pieces made of named seams (lines and cubic Béziers, mm, y down),
//! arc lengths, intersections, and the cut line (seam allowance) per seam.
//!
//! Seam allowance: each seam is offset by its own width and neighbouring seams are joined with
//! the corner the seam asks for (mitred or squared). The joined ring is then cleaned with
//! `i_overlay` (the boolean engine under `geo`), which resolves the loops offsets make at
//! concave corners. `cavalier_contours` was the alternative, but it offsets a whole polyline by
//! one distance with arc joins, so per-seam widths and sewer's corners would still be ours.

use i_overlay::core::fill_rule::FillRule;
use i_overlay::float::simplify::SimplifyShape;
use kurbo::{
    Affine, BezPath, CubicBez, Line, ParamCurve, ParamCurveArclen, ParamCurveDeriv, PathEl,
    PathSeg, Point, Shape, Vec2,
};
use serde::{Deserialize, Serialize};

use super::Error;

/// Flattening tolerance for cut lines and exports (mm).
pub const FLATNESS: f64 = 0.05;
/// Accuracy of arc-length measurements (mm).
const ARCLEN_ACCURACY: f64 = 1e-4;
/// A mitre running on more than this many allowance widths past the corner is bevelled, as a
/// cutter would: corners sharper than about 53° get a flat cut instead of a spike.
const MITRE_LIMIT: f64 = 2.0;

/// How the cut line turns the corner at the end of a seam.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Corner {
    /// Both allowance lines run on until they meet (bevelled at corners sharper than ~53°).
    #[default]
    Mitre,
    /// Each allowance runs straight past the corner by the other seam's width and a straight
    /// cut joins them: a sharp point is cut off square; equal to the mitre at right angles.
    Square,
}

/// One seam of a piece's outline: a run of lines and cubic Béziers between two corners.
#[derive(Debug, Clone)]
pub struct Seam {
    /// Seam name ("side_seam", "armhole", ...), unique within the piece.
    pub name: String,
    /// The sew line of this seam, starting with a `MoveTo` at its first corner.
    pub path: BezPath,
    /// Seam allowance in mm (0 for a fold).
    pub allowance: f64,
    /// Corner treatment at the seam's end.
    pub corner: Corner,
}

impl Seam {
    /// Sew-line length of the seam in mm.
    pub fn length(&self) -> f64 {
        self.path
            .segments()
            .map(|s| s.arclen(ARCLEN_ACCURACY))
            .sum()
    }

    fn start(&self) -> Point {
        match self.path.elements().first() {
            Some(PathEl::MoveTo(p)) => *p,
            _ => Point::ORIGIN,
        }
    }

    /// The point and the unit tangent at `distance` mm along the seam (clamped to its ends).
    pub fn point_at(&self, distance: f64) -> (Point, Vec2) {
        let mut left = distance.max(0.0);
        let mut last = (self.start(), Vec2::new(1.0, 0.0));
        for seg in self.path.segments() {
            let len = seg.arclen(ARCLEN_ACCURACY);
            let t = if left <= len {
                seg.inv_arclen(left, ARCLEN_ACCURACY)
            } else {
                1.0
            };
            last = (seg.eval(t), tangent(seg, t));
            if left <= len {
                return last;
            }
            left -= len;
        }
        last
    }
}

fn tangent(seg: PathSeg, t: f64) -> Vec2 {
    let d = match seg {
        PathSeg::Line(l) => l.p1 - l.p0,
        PathSeg::Quad(q) => q.deriv().eval(t).to_vec2(),
        PathSeg::Cubic(c) => {
            let d = c.deriv().eval(t).to_vec2();
            // A control point on an end point makes the derivative vanish there.
            if d.hypot() < 1e-9 {
                c.p3 - c.p0
            } else {
                d
            }
        }
    };
    d.normalize()
}

/// Builds a closed outline seam by seam; consecutive segments with one name form one seam.
#[derive(Debug, Clone)]
pub struct OutlineBuilder {
    start: Point,
    current: Point,
    seams: Vec<Seam>,
}

impl OutlineBuilder {
    /// Starts the outline at a corner.
    pub fn new(start: Point) -> OutlineBuilder {
        OutlineBuilder {
            start,
            current: start,
            seams: Vec::new(),
        }
    }

    fn seam_for(&mut self, name: &str, allowance: f64) -> &mut Seam {
        let continues = self.seams.last().is_some_and(|s| s.name == name);
        if !continues {
            let mut path = BezPath::new();
            path.move_to(self.current);
            self.seams.push(Seam {
                name: name.to_string(),
                path,
                allowance,
                corner: Corner::Mitre,
            });
        }
        let last = self.seams.len() - 1;
        &mut self.seams[last]
    }

    /// A straight segment to `to`.
    pub fn line(&mut self, seam: &str, to: Point, allowance: f64) -> &mut Self {
        self.seam_for(seam, allowance).path.line_to(to);
        self.current = to;
        self
    }

    /// A cubic Bézier segment to `to`.
    pub fn curve(
        &mut self,
        seam: &str,
        c1: Point,
        c2: Point,
        to: Point,
        allowance: f64,
    ) -> &mut Self {
        self.seam_for(seam, allowance).path.curve_to(c1, c2, to);
        self.current = to;
        self
    }

    /// A cubic segment given whole (its start is taken to be the current point).
    pub fn cubic(&mut self, seam: &str, c: CubicBez, allowance: f64) -> &mut Self {
        self.curve(seam, c.p1, c.p2, c.p3, allowance)
    }

    /// Sets the corner at the current point (the end of the last seam).
    pub fn corner(&mut self, corner: Corner) -> &mut Self {
        if let Some(s) = self.seams.last_mut() {
            s.corner = corner;
        }
        self
    }

    /// Closes the outline with a straight seam back to the start if it is not there.
    pub fn close(&mut self, seam: &str, allowance: f64) -> Vec<Seam> {
        if (self.current - self.start).hypot() > 1e-9 {
            self.line(seam, self.start, allowance);
        }
        std::mem::take(&mut self.seams)
    }
}

/// A short cut into the seam allowance marking a match point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notch {
    /// Point on the cut line.
    pub at: Point,
    /// Unit vector pointing into the piece.
    pub inward: Vec2,
    /// Seam the notch is on.
    pub seam: String,
    /// Distance along that seam's sew line from its start (mm).
    pub distance: f64,
}

/// A text placed on a piece.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    /// Insertion point.
    pub at: Point,
    /// Text.
    pub text: String,
}

/// A dart drawn as its legs from the edge to the apex (the outline bridges its opening).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Dart {
    /// Where the first leg meets the sew line.
    pub leg_a: Point,
    /// Where the second leg meets the sew line.
    pub leg_b: Point,
    /// The dart point.
    pub apex: Point,
}

impl Dart {
    /// Width of the dart opening at the sew line (mm).
    pub fn intake(&self) -> f64 {
        (self.leg_a - self.leg_b).hypot()
    }

    /// Opening angle in degrees.
    pub fn angle_deg(&self) -> f64 {
        (self.leg_a - self.apex)
            .angle()
            .sub_angle((self.leg_b - self.apex).angle())
            .to_degrees()
    }
}

trait SubAngle {
    fn sub_angle(self, other: f64) -> f64;
}

impl SubAngle for f64 {
    fn sub_angle(self, other: f64) -> f64 {
        let mut d = (self - other).abs() % std::f64::consts::TAU;
        if d > std::f64::consts::PI {
            d = std::f64::consts::TAU - d;
        }
        d
    }
}

/// One pattern piece: its sew line as named seams plus the marks a cutter and sewer need.
#[derive(Debug, Clone)]
pub struct Piece {
    /// Piece name ("front", "sleeve", ...).
    pub name: String,
    /// How many to cut.
    pub quantity: u32,
    /// Closed sew line, seam by seam.
    pub seams: Vec<Seam>,
    /// Grain line (from, to).
    pub grain: Line,
    /// Fold (mirror) line, if the piece is cut on the fold.
    pub fold: Option<Line>,
    /// Match notches (on the cut line).
    pub notches: Vec<Notch>,
    /// Drill holes (dart points, pocket and button marks).
    pub drill_holes: Vec<Point>,
    /// Darts (legs drawn as internal lines).
    pub darts: Vec<Dart>,
    /// Other internal lines (fold of a placket, button line, ...).
    pub internal: Vec<BezPath>,
    /// Texts placed on the piece besides the standard piece text.
    pub labels: Vec<Label>,
}

impl Piece {
    /// A piece from its seams, with a vertical grain line through its middle.
    pub fn new(name: &str, quantity: u32, seams: Vec<Seam>) -> Piece {
        let mut piece = Piece {
            name: name.to_string(),
            quantity,
            seams,
            grain: Line::new(Point::ORIGIN, Point::ORIGIN),
            fold: None,
            notches: Vec::new(),
            drill_holes: Vec::new(),
            darts: Vec::new(),
            internal: Vec::new(),
            labels: Vec::new(),
        };
        let b = piece.sew_line().bounding_box();
        let x = b.center().x;
        piece.grain = Line::new((x, b.y0 + 0.2 * b.height()), (x, b.y1 - 0.2 * b.height()));
        piece
    }

    /// Marks the piece as cut on the fold along `line`, and puts the grain line parallel to it.
    pub fn on_fold(mut self, line: Line) -> Piece {
        self.fold = Some(line);
        self
    }

    /// The whole sew line as one closed path.
    pub fn sew_line(&self) -> BezPath {
        let mut path = BezPath::new();
        for (i, seam) in self.seams.iter().enumerate() {
            for el in seam.path.elements() {
                match el {
                    PathEl::MoveTo(p) if i == 0 => path.move_to(*p),
                    PathEl::MoveTo(_) => {}
                    other => path.push(*other),
                }
            }
        }
        path.close_path();
        path
    }

    /// The seam with this name.
    pub fn seam(&self, name: &str) -> Result<&Seam, Error> {
        self.seams
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::Geometry {
                piece: self.name.clone(),
                reason: format!("no seam named `{name}`"),
            })
    }

    /// Sew-line length of the named seam (mm).
    pub fn seam_length(&self, name: &str) -> Result<f64, Error> {
        Ok(self.seam(name)?.length())
    }

    /// Adds a notch `distance` mm along the named seam (placed on the cut line).
    pub fn notch(mut self, seam: &str, distance: f64) -> Result<Piece, Error> {
        let s = self.seam(seam)?;
        let (p, t) = s.point_at(distance);
        let inward = self.outward(t) * -1.0;
        let at = p - inward * s.allowance;
        self.notches.push(Notch {
            at,
            inward,
            seam: seam.to_string(),
            distance,
        });
        Ok(self)
    }

    /// Outward unit normal for a travel direction along the sew line.
    fn outward(&self, t: Vec2) -> Vec2 {
        // Same side as the allowance in `cut_line`.
        let n = Vec2::new(t.y, -t.x);
        if self.sew_line().area() > 0.0 {
            n
        } else {
            n * -1.0
        }
    }

    /// Width across the sew line at height `y` (mm): the span between the outermost crossings
    /// of the horizontal line, less the intake of darts that cross that line.
    pub fn width_at_y(&self, y: f64) -> f64 {
        let b = self.sew_line().bounding_box();
        let line = Line::new((b.x0 - 1.0, y), (b.x1 + 1.0, y));
        let xs: Vec<f64> = self
            .sew_line()
            .segments()
            .flat_map(|s| {
                s.intersect_line(line)
                    .into_iter()
                    .map(move |h| s.eval(h.segment_t).x)
            })
            .collect();
        let span = match (
            xs.iter().copied().reduce(f64::min),
            xs.iter().copied().reduce(f64::max),
        ) {
            (Some(lo), Some(hi)) => hi - lo,
            _ => 0.0,
        };
        let darts: f64 = self
            .darts
            .iter()
            .filter_map(|d| {
                let a = crossing_x(Line::new(d.apex, d.leg_a), y)?;
                let c = crossing_x(Line::new(d.apex, d.leg_b), y)?;
                Some((a - c).abs())
            })
            .sum();
        span - darts
    }

    /// The cut line: the sew line pushed out by each seam's allowance, corners per seam.
    pub fn cut_line(&self) -> Result<Vec<Point>, Error> {
        let ring = self.cut_ring()?;
        let fail = |reason: &str| Error::Geometry {
            piece: self.name.clone(),
            reason: reason.to_string(),
        };
        let contour: Vec<[f64; 2]> = ring.iter().map(|p| [p.x, p.y]).collect();
        let shapes = contour.simplify_shape(FillRule::NonZero);
        let outer = shapes
            .iter()
            .filter_map(|shape| shape.first())
            .max_by(|a, b| polygon_area(a).total_cmp(&polygon_area(b)))
            .ok_or_else(|| fail("seam allowance collapsed"))?;
        Ok(outer.iter().map(|p| Point::new(p[0], p[1])).collect())
    }

    /// A rectangle holding the whole cut line of the piece moved by `t`, which must keep
    /// distances (a rotation, reflection or translation). It needs no flattening and no clean-up
    /// of crossing allowances, so a check that a piece fits somewhere settles most pieces with
    /// it at a small fraction of the cost of [`Piece::cut_line`].
    pub fn cut_bounds(&self, t: Affine) -> Result<kurbo::Rect, Error> {
        // How far the cut line can reach from each seam (see `cut_ring`): flattened points lie
        // within FLATNESS of it; an offset vertex moves along the bisector of its neighbours'
        // normals, scaled by at most 1/cos 60°, so at most twice the seam's allowance; a corner
        // point lies one allowance off the seam's end plus a mitre or square of at most
        // MITRE_LIMIT of the larger allowance of the two seams. The cut line itself lies on the
        // ring those points make, so within their bounds.
        let n = self.seams.len();
        let mut bounds: Option<kurbo::Rect> = None;
        for (i, seam) in self.seams.iter().enumerate() {
            let w = seam.allowance.abs();
            let reach = FLATNESS + 2.0 * w;
            for seg in seam.path.segments() {
                let b = (t * seg).bounding_box().inflate(reach, reach);
                bounds = Some(bounds.map_or(b, |a| a.union(b)));
            }
            let next = self.seams[(i + 1) % n].allowance.abs();
            let corner = FLATNESS + w + MITRE_LIMIT * w.max(next);
            let end = t * seam
                .path
                .segments()
                .last()
                .map_or(seam.start(), |s| s.end());
            let b = kurbo::Rect::from_center_size(end, (2.0 * corner, 2.0 * corner));
            bounds = Some(bounds.map_or(b, |a| a.union(b)));
        }
        bounds.ok_or_else(|| Error::Geometry {
            piece: self.name.clone(),
            reason: "piece has no seams".into(),
        })
    }

    /// The cut line before its clean-up: the offset seams joined at their corners, in order.
    /// Where allowances meet at sharp or concave corners the ring crosses itself, and the loops
    /// it makes are removed by [`Piece::cut_line`]; every point of the cut line lies on this
    /// ring.
    fn cut_ring(&self) -> Result<Vec<Point>, Error> {
        let fail = |reason: &str| Error::Geometry {
            piece: self.name.clone(),
            reason: reason.to_string(),
        };
        if self.seams.is_empty() {
            return Err(fail("piece has no seams"));
        }
        let sign = if self.sew_line().area() > 0.0 {
            -1.0
        } else {
            1.0
        };
        let offsets: Vec<(Vec<Point>, Vec2, Vec2)> = self
            .seams
            .iter()
            .map(|s| offset_polyline(&flatten(&s.path), s.allowance, sign))
            .collect();
        let mut ring: Vec<Point> = Vec::new();
        let n = offsets.len();
        for i in 0..n {
            let (ref q, _, t_end) = offsets[i];
            let next = (i + 1) % n;
            let (ref q_next, t_start, _) = offsets[next];
            ring.extend(q.iter().copied());
            let (Some(&a), Some(&b)) = (q.last(), q_next.first()) else {
                return Err(fail("empty seam"));
            };
            let w_a = self.seams[i].allowance;
            let w_b = self.seams[next].allowance;
            ring.extend(join(a, t_end, b, t_start, w_a, w_b, self.seams[i].corner));
        }
        Ok(ring)
    }
}

/// How far (mm) a point may lie off the fold line and still count as on it.
const ON_FOLD: f64 = 0.01;

impl Piece {
    /// The piece moved by `t` (a rotation, reflection or translation): seams, marks and texts.
    pub fn transformed(&self, t: Affine) -> Piece {
        let vector = |at: Point, v: Vec2| {
            let moved = (t * (at + v)) - (t * at);
            if moved.hypot() > 0.0 {
                moved.normalize()
            } else {
                moved
            }
        };
        Piece {
            name: self.name.clone(),
            quantity: self.quantity,
            seams: self
                .seams
                .iter()
                .map(|s| Seam {
                    path: t * s.path.clone(),
                    ..s.clone()
                })
                .collect(),
            grain: t * self.grain,
            fold: self.fold.map(|f| t * f),
            notches: self
                .notches
                .iter()
                .map(|n| Notch {
                    at: t * n.at,
                    inward: vector(n.at, n.inward),
                    ..n.clone()
                })
                .collect(),
            drill_holes: self.drill_holes.iter().map(|h| t * *h).collect(),
            darts: self
                .darts
                .iter()
                .map(|d| Dart {
                    leg_a: t * d.leg_a,
                    leg_b: t * d.leg_b,
                    apex: t * d.apex,
                })
                .collect(),
            internal: self.internal.iter().map(|l| t * l.clone()).collect(),
            labels: self
                .labels
                .iter()
                .map(|l| Label {
                    at: t * l.at,
                    ..l.clone()
                })
                .collect(),
        }
    }

    /// The piece for the other side of the body (a left sleeve from a right one): mirrored
    /// across its grain line, so the grain stays where it was.
    pub fn mirrored(&self) -> Piece {
        let g = self.grain;
        let dir = g.p1 - g.p0;
        let axis = if dir.hypot() > 1e-9 {
            dir
        } else {
            Vec2::new(0.0, 1.0)
        };
        self.transformed(Affine::reflect(g.p0, axis))
    }

    /// Angle of the grain line from the x axis (radians).
    pub fn grain_angle(&self) -> f64 {
        (self.grain.p1 - self.grain.p0).atan2()
    }

    /// A piece drafted as a half on the fold, opened out to the whole piece a single-ply cutter
    /// cuts: the seams that lie on the fold line are dropped and the rest are joined to their
    /// mirror image, with the marks mirrored too. A piece not on the fold is returned as it is.
    pub fn unfolded(&self) -> Result<Piece, Error> {
        let Some(fold) = self.fold else {
            return Ok(self.clone());
        };
        let fail = |reason: &str| Error::Geometry {
            piece: self.name.clone(),
            reason: reason.to_string(),
        };
        let axis = fold.p1 - fold.p0;
        if axis.hypot() < 1e-9 {
            return Err(fail("the fold line has no length"));
        }
        let unit = axis.normalize();
        let off_fold = |p: Point| (p - fold.p0).cross(unit).abs();
        let on_fold: Vec<bool> = self
            .seams
            .iter()
            .map(|s| s.allowance == 0.0 && flatten(&s.path).iter().all(|p| off_fold(*p) < ON_FOLD))
            .collect();
        let n = self.seams.len();
        // The half outline starts with the first seam after the fold seams.
        let start = (0..n)
            .find(|&i| !on_fold[i] && on_fold[(i + n - 1) % n])
            .ok_or_else(|| fail("no seam lies on the fold line"))?;
        let half: Vec<&Seam> = (0..n)
            .map(|k| (start + k) % n)
            .take_while(|&i| !on_fold[i])
            .map(|i| &self.seams[i])
            .collect();
        if half.len() + on_fold.iter().filter(|f| **f).count() != n {
            return Err(fail("the seams on the fold line are not one run"));
        }
        let mirror = Affine::reflect(fold.p0, axis);
        let mirrored_name = |name: &str| format!("{name}/mirrored");
        let mut seams: Vec<Seam> = half.iter().map(|s| (*s).clone()).collect();
        if let Some(last) = seams.last_mut() {
            // Both halves' allowances meet on the fold, as they do when cut folded.
            last.corner = Corner::Mitre;
        }
        for (k, s) in half.iter().enumerate().rev() {
            let corner = if k == 0 {
                Corner::Mitre
            } else {
                half[k - 1].corner
            };
            seams.push(Seam {
                name: mirrored_name(&s.name),
                path: (mirror * s.path.clone()).reverse_subpaths(),
                allowance: s.allowance,
                corner,
            });
        }
        let mut piece = Piece {
            seams,
            fold: None,
            ..self.clone()
        };
        for notch in &self.notches {
            if off_fold(notch.at) < ON_FOLD {
                continue;
            }
            let length = self.seam_length(&notch.seam).unwrap_or(notch.distance);
            piece.notches.push(Notch {
                at: mirror * notch.at,
                inward: (mirror * (notch.at + notch.inward)) - (mirror * notch.at),
                seam: mirrored_name(&notch.seam),
                distance: length - notch.distance,
            });
        }
        for h in &self.drill_holes {
            if off_fold(*h) >= ON_FOLD {
                piece.drill_holes.push(mirror * *h);
            }
        }
        for d in &self.darts {
            piece.darts.push(Dart {
                leg_a: mirror * d.leg_b,
                leg_b: mirror * d.leg_a,
                apex: mirror * d.apex,
            });
        }
        for line in &self.internal {
            if flatten(line).iter().any(|p| off_fold(*p) >= ON_FOLD) {
                piece.internal.push(mirror * line.clone());
            }
        }
        Ok(piece)
    }
}

fn crossing_x(l: Line, y: f64) -> Option<f64> {
    let (y0, y1) = (l.p0.y, l.p1.y);
    if (y - y0) * (y - y1) > 0.0 || (y1 - y0).abs() < 1e-12 {
        return None;
    }
    let t = (y - y0) / (y1 - y0);
    Some(l.p0.x + t * (l.p1.x - l.p0.x))
}

/// Unsigned area of a polygon given as `[x, y]` pairs.
pub fn polygon_area(ring: &[[f64; 2]]) -> f64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum::<f64>()
        .abs()
        / 2.0
}

/// Flattens a path into points (the first `MoveTo` included).
pub fn flatten(path: &BezPath) -> Vec<Point> {
    let mut pts = Vec::new();
    kurbo::flatten(path, FLATNESS, |el| {
        if let PathEl::MoveTo(p) | PathEl::LineTo(p) = el {
            if pts.last().is_none_or(|q: &Point| (*q - p).hypot() > 1e-9) {
                pts.push(p)
            }
        }
    });
    pts
}

/// Offsets an open polyline by `w` to the side `sign` selects; returns the offset points and the
/// unit tangents at the start and end.
fn offset_polyline(pts: &[Point], w: f64, sign: f64) -> (Vec<Point>, Vec2, Vec2) {
    let dirs: Vec<Vec2> = pts.windows(2).map(|p| (p[1] - p[0]).normalize()).collect();
    let normal = |d: Vec2| Vec2::new(-d.y, d.x) * sign;
    let (Some(&first), Some(&last)) = (dirs.first(), dirs.last()) else {
        return (pts.to_vec(), Vec2::new(1.0, 0.0), Vec2::new(1.0, 0.0));
    };
    let mut out = Vec::with_capacity(pts.len());
    for (i, p) in pts.iter().enumerate() {
        let n = if i == 0 {
            normal(first)
        } else if i == pts.len() - 1 {
            normal(last)
        } else {
            let (n0, n1) = (normal(dirs[i - 1]), normal(dirs[i]));
            let bisector = (n0 + n1).normalize();
            let cos = bisector.dot(n0).max(0.5);
            bisector / cos
        };
        out.push(*p + n * w);
    }
    (out, first, last)
}

/// Corner between the end `a` of one allowance line (direction `ta`) and the start `b` of the
/// next (direction `tb`).
fn join(a: Point, ta: Vec2, b: Point, tb: Vec2, wa: f64, wb: f64, corner: Corner) -> Vec<Point> {
    let cross = ta.cross(tb);
    if cross.abs() < 1e-9 {
        return Vec::new();
    }
    // a + ta*s meets b + tb*u.
    let s = (b - a).cross(tb) / cross;
    if s <= 0.0 {
        // Concave corner: the allowance lines cross before their ends. Joining the ends directly
        // leaves a small loop wound like the ring itself, which the non-zero cleaning absorbs.
        return Vec::new();
    }
    match corner {
        Corner::Mitre => {
            let x = a + ta * s;
            if s <= MITRE_LIMIT * wa.max(wb).max(1e-9) {
                vec![x]
            } else {
                Vec::new()
            }
        }
        Corner::Square => vec![a + ta * wb.min(s), b - tb * wa.min(s)],
    }
}

/// How close (mm) [`solve_increasing`] brings `x` to the solution.
const SOLVE_EPSILON: f64 = 1e-6;

/// The `x` in `[lo, hi]` where a function increasing in `x` equals `target`.
///
/// Why ITP (kurbo's) rather than plain bisection: each step of the drafts' solvers measures a
/// curve's arc length, and ITP reaches the same bracket in a handful of steps on these smooth
/// functions where bisection needs dozens.
pub fn solve_increasing(f: impl Fn(f64) -> f64, lo: f64, hi: f64, target: f64) -> Option<f64> {
    let (y_lo, y_hi) = (f(lo) - target, f(hi) - target);
    if y_lo > 0.0 || y_hi < 0.0 {
        return None;
    }
    if y_lo == 0.0 {
        return Some(lo);
    }
    if y_hi == 0.0 || hi - lo <= 2.0 * SOLVE_EPSILON {
        return Some(hi);
    }
    Some(kurbo::common::solve_itp(
        |x| f(x) - target,
        lo,
        hi,
        SOLVE_EPSILON,
        1,
        0.2 / (hi - lo),
        y_lo,
        y_hi,
    ))
}

/// Length of a cubic (mm).
pub fn cubic_length(c: CubicBez) -> f64 {
    c.arclen(ARCLEN_ACCURACY)
}

/// Splits a cubic where it first crosses the horizontal line `y`.
pub fn split_at_y(c: CubicBez, y: f64) -> Option<(CubicBez, CubicBez)> {
    let b = c.bounding_box();
    let line = Line::new((b.x0 - 1.0, y), (b.x1 + 1.0, y));
    let t = PathSeg::Cubic(c)
        .intersect_line(line)
        .into_iter()
        .map(|h| h.segment_t)
        .reduce(f64::min)?;
    Some((c.subsegment(0.0..t), c.subsegment(t..1.0)))
}

#[cfg(test)]
mod tests {
    use i_overlay::mesh::outline::offset::OutlineOffset;
    use i_overlay::mesh::style::{LineJoin, OutlineStyle};

    use super::*;

    fn rect(widths: [f64; 4]) -> Piece {
        let mut o = OutlineBuilder::new(Point::new(0.0, 0.0));
        o.line("top", Point::new(100.0, 0.0), widths[0])
            .line("right", Point::new(100.0, 50.0), widths[1])
            .line("bottom", Point::new(0.0, 50.0), widths[2]);
        Piece::new("rect", 1, o.close("left", widths[3]))
    }

    fn area(p: &[Point]) -> f64 {
        polygon_area(&p.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>())
    }

    #[test]
    fn per_seam_allowance_on_a_rectangle() {
        let cut = rect([10.0, 20.0, 30.0, 0.0]).cut_line().unwrap();
        assert!((area(&cut) - 120.0 * 90.0).abs() < 0.5, "{}", area(&cut));
        // Drafted in the other direction the answer is the same.
        let mut o = OutlineBuilder::new(Point::new(0.0, 0.0));
        o.line("left", Point::new(0.0, 50.0), 0.0)
            .line("bottom", Point::new(100.0, 50.0), 30.0)
            .line("right", Point::new(100.0, 0.0), 20.0);
        let cut = Piece::new("r", 1, o.close("top", 10.0)).cut_line().unwrap();
        assert!((area(&cut) - 120.0 * 90.0).abs() < 0.5);
    }

    /// A curved, concave-and-convex piece with one allowance must match i_overlay's own
    /// mitred outline, an independent offset implementation.
    #[test]
    fn uniform_allowance_matches_i_overlay_outline() {
        let mut o = OutlineBuilder::new(Point::new(0.0, 0.0));
        o.line("shoulder", Point::new(120.0, 30.0), 10.0)
            .curve(
                "armhole",
                Point::new(110.0, 120.0),
                Point::new(150.0, 200.0),
                Point::new(200.0, 210.0),
                10.0,
            )
            .line("side", Point::new(200.0, 500.0), 10.0)
            .line("hem", Point::new(0.0, 500.0), 10.0);
        let piece = Piece::new("bodice", 1, o.close("centre", 10.0));
        let ours = area(&piece.cut_line().unwrap());
        let sew: Vec<[f64; 2]> = flatten(&piece.sew_line())
            .iter()
            .map(|p| [p.x, p.y])
            .collect();
        let style = OutlineStyle::new(10.0).line_join(LineJoin::Miter(0.1));
        let shapes = vec![sew].outline(&style);
        let theirs = shapes
            .iter()
            .filter_map(|s| s.first())
            .map(|c| polygon_area(c))
            .fold(0.0, f64::max);
        assert!((ours - theirs).abs() / theirs < 2e-3, "{ours} vs {theirs}");
    }

    #[test]
    fn square_corner_cuts_a_sharp_point_off() {
        // A 54-degree corner: the mitre runs out to a point, the square corner stops short.
        let mut o = OutlineBuilder::new(Point::new(0.0, 0.0));
        o.line("a", Point::new(100.0, 0.0), 10.0)
            .line("b", Point::new(50.0, 70.0), 10.0);
        let mitre = Piece::new("t", 1, o.close("c", 10.0));
        let mut squared = mitre.clone();
        squared.seams[0].corner = Corner::Square;
        let am = area(&mitre.cut_line().unwrap());
        let asq = area(&squared.cut_line().unwrap());
        assert!(asq < am - 10.0, "{asq} vs {am}");
        // Right-angle corner: square == mitre.
        let mut r = rect([10.0; 4]);
        let a0 = area(&r.cut_line().unwrap());
        r.seams[1].corner = Corner::Square;
        assert!((area(&r.cut_line().unwrap()) - a0).abs() < 1e-6);
    }

    #[test]
    fn widths_lengths_and_notches() {
        let r = rect([10.0; 4]);
        assert!((r.width_at_y(25.0) - 100.0).abs() < 1e-9);
        assert!((r.seam_length("right").unwrap() - 50.0).abs() < 1e-9);
        let r = r.notch("top", 30.0).unwrap();
        let n = r.notches[0].clone();
        assert!((n.at - Point::new(30.0, -10.0)).hypot() < 1e-9, "{n:?}");
        assert!((n.inward - Vec2::new(0.0, 1.0)).hypot() < 1e-9);
        let c = CubicBez::new((0.0, 0.0), (0.0, 100.0), (100.0, 100.0), (100.0, 0.0));
        let (a, b) = split_at_y(c, 50.0).unwrap();
        assert!((a.p3.y - 50.0).abs() < 1e-6 && (b.p0 - a.p3).hypot() < 1e-9);
        assert!((cubic_length(a) + cubic_length(b) - cubic_length(c)).abs() < 1e-3);
        let x = solve_increasing(|x| x * x, 0.0, 10.0, 2.0).unwrap();
        assert!((x - 2f64.sqrt()).abs() < 1e-9);
    }

    fn ring_area(points: &[Point]) -> f64 {
        polygon_area(&points.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>())
    }

    /// Every piece drafted on the fold of every garment opens out to twice its half, mirror
    /// symmetric about the fold; the marks come in pairs.
    #[test]
    fn pieces_on_the_fold_open_out_symmetrically() {
        use crate::pattern::body::tests::{man, woman};
        let mut unfolded = 0;
        for g in crate::pattern::garments() {
            let body = if g.sex == crate::pattern::garments::Sex::Male {
                man()
            } else {
                woman()
            };
            let pattern = crate::pattern::draft(g.name, &body, &Default::default()).unwrap();
            for piece in &pattern.pieces {
                let whole = piece.unfolded().unwrap();
                let (half_cut, whole_cut) = (piece.cut_line().unwrap(), whole.cut_line().unwrap());
                let Some(fold) = piece.fold else {
                    assert_eq!(whole_cut, half_cut);
                    continue;
                };
                unfolded += 1;
                let (a, b) = (ring_area(&half_cut), ring_area(&whole_cut));
                assert!(
                    (b / a - 2.0).abs() < 0.01,
                    "{} {}: half {a} whole {b}",
                    g.name,
                    piece.name
                );
                // Mirror symmetric: every cut-line point has a mirror image on the cut line.
                let mirror = Affine::reflect(fold.p0, fold.p1 - fold.p0);
                let n = whole_cut.len();
                let worst = whole_cut
                    .iter()
                    .map(|p| {
                        let q = mirror * *p;
                        (0..n)
                            .map(|i| {
                                let seg = Line::new(whole_cut[i], whole_cut[(i + 1) % n]);
                                kurbo::ParamCurveNearest::nearest(&seg, q, 1e-9)
                                    .distance_sq
                                    .sqrt()
                            })
                            .fold(f64::INFINITY, f64::min)
                    })
                    .fold(0.0, f64::max);
                assert!(worst < 0.1, "{} {}: {worst} mm", g.name, piece.name);
                assert!(whole.fold.is_none());
                assert_eq!(whole.darts.len(), 2 * piece.darts.len());
                assert_eq!(whole.seams.len() % 2, 0);
                let mut names: Vec<&str> = whole.seams.iter().map(|s| s.name.as_str()).collect();
                names.sort_unstable();
                names.dedup();
                assert_eq!(names.len(), whole.seams.len(), "seam names stay unique");
            }
        }
        assert!(unfolded >= 8, "{unfolded} pieces on the fold");
    }

    fn bounding(points: &[Point]) -> kurbo::Rect {
        points
            .iter()
            .fold(kurbo::Rect::from_points(points[0], points[0]), |r, p| {
                r.union_pt(*p)
            })
    }

    #[test]
    fn moved_and_mirrored_pieces_keep_their_shape_and_grain() {
        let mut r = rect([10.0, 10.0, 20.0, 10.0]).notch("top", 30.0).unwrap();
        r.drill_holes.push(Point::new(20.0, 10.0));
        let area = ring_area(&r.cut_line().unwrap());
        let turned = r.transformed(Affine::rotate(-r.grain_angle()));
        assert!((turned.grain_angle()).abs() < 1e-9, "grain along x");
        assert!((ring_area(&turned.cut_line().unwrap()) - area).abs() < 1e-6 * area);
        let n = &turned.notches[0];
        assert!((n.inward.hypot() - 1.0).abs() < 1e-9);
        let m = r.mirrored();
        assert!((ring_area(&m.cut_line().unwrap()) - area).abs() < 1e-6 * area);
        assert!(
            (m.grain.p0 - r.grain.p0).hypot() < 1e-9 && (m.grain.p1 - r.grain.p1).hypot() < 1e-9
        );
        // The rectangle is mirrored about its vertical grain line at x = 50: the drill hole at
        // x = 20 goes to x = 80, and the wider bottom allowance stays at the bottom.
        assert!((m.drill_holes[0] - Point::new(80.0, 10.0)).hypot() < 1e-9);
        let b = bounding(&m.cut_line().unwrap());
        assert!(
            (b.y1 - 70.0).abs() < 1e-6 && (b.y0 + 10.0).abs() < 1e-6,
            "{b:?}"
        );
    }
}
