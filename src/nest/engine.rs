//! The bridge to jagua-rs: pieces become jagua `Item`s, the roll a `Container` whose length
//! changes during the search, and [`State`] keeps a jagua `Layout` in step with the
//! overlap losses and guided-local-search weights of every pair of copies.

use std::sync::Arc;

use slotmap::SecondaryMap;

use jagua_rs::collision_detection::hazards::collector::BasicHazardCollector;
use jagua_rs::collision_detection::hazards::filter::NoFilter;
use jagua_rs::collision_detection::hazards::{BasicHazardEntity, HazKey, PItemKey};
use jagua_rs::collision_detection::CDEConfig;
use jagua_rs::entities::{Container, InferiorQualityZone, Item, Layout, LayoutSnapshot};
use jagua_rs::geometry::fail_fast::SPSurrogateConfig;
use jagua_rs::geometry::geo_enums::RotationRange;
use jagua_rs::geometry::geo_traits::TransformableFrom;
use jagua_rs::geometry::primitives::{Point as JPoint, Rect, SPolygon};
use jagua_rs::geometry::shape_modification::{ShapeModifyConfig, ShapeModifyMode};
use jagua_rs::geometry::{AllowedOrientations, DTransformation, OriginalShape, Transformation};
use jagua_rs::io::ext_repr::ExtSPolygon;
use jagua_rs::io::import::import_simple_polygon;

use i_overlay::core::fill_rule::FillRule;
use i_overlay::core::overlay_rule::OverlayRule;
use i_overlay::float::simplify::SimplifyShape;
use i_overlay::float::single::SingleFloatOverlay;

use super::problem::{extent_across, signed_area, sin_cos_degrees};
use super::quantify::{exterior_loss, pair_loss};
use super::{Error, Placement, Point, Problem};

/// Share of a shape's area covered by the poles queried before its edges (see
/// [`State::evaluate`]); half finds most overlaps while costing a handful of circle queries.
const FF_POLE_AREA: f32 = 0.5;
/// Poles per shape: enough for a smooth overlap measure, few enough for fast pair losses.
pub(crate) const SURROGATE: SPSurrogateConfig = SPSurrogateConfig {
    n_pole_limits: [(64, 0.0), (16, 0.8), (8, 0.9)],
    ff_pole_area_ratio: FF_POLE_AREA,
};
/// jagua-rs 2.0's one setting: the items' poles, as above.
const CDE: CDEConfig = CDEConfig {
    item_surrogate_config: SURROGATE,
};
/// Margin of the collision container around the roll, relative to its width.
const CONTAINER_MARGIN: f32 = 0.05;
/// Relative tolerance of the roll's bounds, a few f32 rounding steps.
const BAND_TOLERANCE: f32 = 4e-7;
/// Largest relative area the conservative (never shrinking) outline simplification may add.
const SIMPLIFY_TOLERANCE: f32 = 0.001;
/// f32 rounding steps, relative to the largest coordinate, that the collision shapes are grown
/// by beyond half the gap. jagua-rs builds its shapes in f32, so an outline vertex that its
/// simplified collision shape keeps lies on that shape's edge only up to rounding, and two
/// collision shapes that touch could let the exact outlines overlap by a sliver (centring,
/// rotating and translating each round again). A quarter of a step is not enough on the bench
/// instances, half a step is (`exact_outlines_lie_inside_their_collision_shapes`); eight leave
/// room for outlines and rolls of other scales.
const ROUNDING_STEPS: f32 = 8.0;
/// How much further than half the gap jagua-rs offsets the collision shapes. Its offset rounds
/// corners with segments of at most 0.1 rad whose vertices lie on the arc, so each chord cuts into
/// the true rounded offset by up to `1 - cos(0.05)` of the distance, and two pieces could come a
/// sliver closer than the gap; grown by `1 / cos(0.05)` (1.00125), the chords lie outside it.
const ROUND_JOIN_COVER: f64 = 1.0013;
/// Longest mitre, in offset distances, before a convex corner is squared off (corners sharper
/// than about 29°).
const MITRE_LIMIT: f64 = 4.0;

/// GLS weight updates (sparrow's values): colliding pairs grow by 1.2x to 2x depending on how
/// bad their overlap is relative to the worst one; other pairs decay back towards 1.
const WEIGHT_MIN_INCREASE: f32 = 1.2;
const WEIGHT_MAX_INCREASE: f32 = 2.0;
const WEIGHT_DECAY: f32 = 0.95;

fn engine_error(what: impl Into<String>) -> impl FnOnce(anyhow::Error) -> Error {
    let what = what.into();
    move |e| Error::Engine {
        what,
        message: e.to_string(),
    }
}

/// A piece kind as the search sees it.
pub(crate) struct Shape {
    pub item: Arc<Item>,
    pub piece: usize,
    /// Allowed rotations in degrees (as in the problem) and radians (for jagua).
    pub rotations_deg: Vec<f64>,
    pub rotations_rad: Vec<f32>,
    /// Bounding box of the (inflated) collision shape in each allowed rotation.
    pub bboxes: Vec<Rect>,
    /// Translation jagua applied to centre the outline on the origin.
    pub centring: (f64, f64),
    pub hull_area: f32,
    pub min_dim: f32,
}

/// Immutable data for one search: the shapes, one entry per copy, and the roll.
pub(crate) struct Engine {
    pub shapes: Vec<Shape>,
    /// `(shape index, copy number)` for every copy to place.
    pub copies: Vec<(usize, usize)>,
    /// Container height: roll width plus twice the inflation.
    pub height: f32,
    /// How far collision shapes reach past the exact outlines: half the gap plus a rounding
    /// margin. Collision coordinates are the roll's shifted by this much in x and y.
    pub inflation: f32,
    zones: Vec<(OriginalShape, f32)>,
}

/// The outline in f32, translated, as a jagua polygon (vertices that fall together in f32 are
/// merged).
fn j_polygon(outline: &[Point], dx: f64, dy: f64) -> anyhow::Result<SPolygon> {
    import_simple_polygon(&ExtSPolygon(
        outline
            .iter()
            .map(|p| ((p.x + dx) as f32, (p.y + dy) as f32))
            .collect(),
    ))
}

/// The margin that keeps exact outlines clear of f32 rounding (see [`ROUNDING_STEPS`]): a few
/// rounding steps of the largest coordinate a collision shape can reach.
fn rounding_margin(problem: &Problem) -> f64 {
    let w = problem.strip_width;
    let farthest = problem
        .pieces
        .iter()
        .flat_map(|p| p.outline.iter())
        .map(|p| p.x.hypot(p.y))
        .fold(0.0, f64::max);
    // A marker is rarely longer than twice the pieces' area over the roll's width.
    let reach = w + 2.0 * problem.piece_area() / w + 2.0 * farthest + problem.min_gap;
    f64::from(ROUNDING_STEPS * f32::EPSILON) * reach
}

/// Grows an outline by `distance` with mitred corners, which keeps its vertex count (jagua-rs's
/// own offset rounds every corner and adds vertices that slow every collision query, and
/// `i_overlay`'s mitre keeps both ends of each mitre as vertices of their own). A convex corner
/// whose mitre would reach more than [`MITRE_LIMIT`] distances away is squared off one distance
/// past the vertex instead. `clip` keeps a piece that spans the roll from growing wider than
/// its outline plus twice the distance, at the cost of a vertex per clipped mitre.
fn grow(outline: &[Point], distance: f64, clip: bool) -> Option<Vec<Point>> {
    let mut ring = outline.to_vec();
    ring.dedup();
    if ring.len() > 1 && ring.first() == ring.last() {
        ring.pop();
    }
    if signed_area(&ring) < 0.0 {
        ring.reverse();
    }
    let unit = |from: Point, to: Point| {
        let (dx, dy) = (to.x - from.x, to.y - from.y);
        let len = dx.hypot(dy);
        (len > 0.0).then(|| (dx / len, dy / len))
    };
    let n = ring.len();
    let mut grown: Vec<[f64; 2]> = Vec::with_capacity(n + 4);
    for i in 0..n {
        let (a, p, b) = (ring[(i + n - 1) % n], ring[i], ring[(i + 1) % n]);
        let (d0, d1) = (unit(a, p)?, unit(p, b)?);
        // Outward normals of a counter-clockwise ring.
        let (n0, n1) = ((d0.1, -d0.0), (d1.1, -d1.0));
        let k = 1.0 + n0.0 * n1.0 + n0.1 * n1.1;
        let convex = d0.0 * d1.1 - d0.1 * d1.0 > 0.0;
        if k * MITRE_LIMIT * MITRE_LIMIT >= 2.0 || (!convex && k > 0.0) {
            // Where the two offset edges meet: `distance / cos(half the turn)` along the bisector.
            grown.push([
                p.x + distance * (n0.0 + n1.0) / k,
                p.y + distance * (n0.1 + n1.1) / k,
            ]);
        } else {
            let r = distance;
            grown.push([p.x + r * (n0.0 + d0.0), p.y + r * (n0.1 + d0.1)]);
            grown.push([p.x + r * (n1.0 - d1.0), p.y + r * (n1.1 - d1.1)]);
        }
    }
    let shapes = if clip {
        // A mitre at an extreme vertex would widen the piece by more than the margin; clipped
        // to the outline's bounding box grown by the margin, the piece stays exactly as wide
        // across the roll as its outline plus two margins (at rotations by multiples of 90°).
        let (lo, hi) = ring.iter().fold(
            ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]),
            |(lo, hi), p| {
                (
                    [lo[0].min(p.x), lo[1].min(p.y)],
                    [hi[0].max(p.x), hi[1].max(p.y)],
                )
            },
        );
        let (lo, hi) = (
            [lo[0] - distance, lo[1] - distance],
            [hi[0] + distance, hi[1] + distance],
        );
        let bounds = vec![lo, [hi[0], lo[1]], hi, [lo[0], hi[1]]];
        grown.overlay(&bounds, OverlayRule::Intersect, FillRule::NonZero)
    } else {
        // Resolves any loops the offset made at short concave edges.
        grown.simplify_shape(FillRule::NonZero)
    };
    shapes
        .iter()
        .filter_map(|shape| shape.first())
        .map(|outer| {
            outer
                .iter()
                .map(|&[x, y]| Point { x, y })
                .collect::<Vec<_>>()
        })
        .max_by(|a, b| signed_area(a).abs().total_cmp(&signed_area(b).abs()))
}

impl Engine {
    pub fn new(problem: &Problem) -> Result<Engine, Error> {
        problem.validate()?;
        let half_gap = problem.min_gap / 2.0 * ROUND_JOIN_COVER;
        let margin = rounding_margin(problem);
        let inflation = half_gap + margin;
        let half_gap = half_gap as f32;
        // Only a piece about as wide as the roll needs its mitres clipped to fit.
        let spans_roll = |outline: &[Point], rotations: &[f64]| {
            rotations.iter().any(|&r| {
                extent_across(outline, r) + 2.0 * MITRE_LIMIT * margin > problem.strip_width
            })
        };
        let grown = |outline: &[Point], clip: bool, what: &str| {
            grow(outline, margin, clip).ok_or_else(|| Error::Engine {
                what: what.to_owned(),
                message: "growing the outline by the rounding margin left no polygon".into(),
            })
        };
        let modify_config = ShapeModifyConfig {
            simplify_tolerance: Some(SIMPLIFY_TOLERANCE),
            offset: (half_gap > 0.0).then_some(half_gap),
            narrow_concavity_cutoff: None,
        };
        let mut shapes = Vec::new();
        let mut copies = Vec::new();
        for (piece_idx, piece) in problem.pieces.iter().enumerate() {
            if piece.quantity == 0 {
                continue;
            }
            let what = format!("piece {}", piece.id);
            let clip = spans_roll(&piece.outline, &piece.rotations);
            let outline = grown(&piece.outline, clip, &what)?;
            let shape = j_polygon(&outline, 0.0, 0.0).map_err(engine_error(&what))?;
            let JPoint(cx, cy) = shape.centroid();
            let mut rotations_deg = piece.rotations.clone();
            rotations_deg.sort_by(f64::total_cmp);
            rotations_deg.dedup_by(|a, b| (a.rem_euclid(360.0) - b.rem_euclid(360.0)).abs() < 1e-9);
            let rotations_rad: Vec<f32> = rotations_deg
                .iter()
                .map(|d| d.to_radians() as f32)
                .collect();
            let allowed =
                AllowedOrientations::new(RotationRange::Discrete(rotations_rad.clone()), vec![])
                    .map_err(engine_error(&what))?;
            let original = OriginalShape {
                shape,
                pre_transform: DTransformation::new(0.0, (-cx, -cy)),
                modify_mode: ShapeModifyMode::Inflate,
                modify_config,
            };
            let item = Item::new(
                shapes.len(),
                shapes.len() as u64,
                original,
                allowed,
                None,
                SURROGATE,
            )
            .map_err(engine_error(&what))?;
            let cd = item.shape_cd();
            let mut buf = cd.as_ref().clone();
            let bboxes = rotations_rad
                .iter()
                .map(|&r| {
                    buf.transform_from(cd, &Transformation::from_rotation(r))
                        .bbox()
                })
                .collect::<Vec<_>>();
            let min_dim = cd.bbox().width().min(cd.bbox().height());
            let hull_area = cd.surrogate().convex_hull_area;
            for copy in 0..piece.quantity {
                copies.push((shapes.len(), copy));
            }
            shapes.push(Shape {
                item: Arc::new(item),
                piece: piece_idx,
                rotations_deg,
                rotations_rad,
                bboxes,
                centring: (f64::from(-cx), f64::from(-cy)),
                hull_area,
                min_dim,
            });
        }
        let zones = problem
            .defects
            .iter()
            .enumerate()
            .map(|(i, z)| {
                let what = format!("defect zone {i}");
                let outline = grown(&z.outline, false, &what)?;
                let shape =
                    j_polygon(&outline, inflation, inflation).map_err(engine_error(what))?;
                let x_min = shape.bbox().x_min;
                Ok((
                    OriginalShape {
                        shape,
                        pre_transform: DTransformation::empty(),
                        modify_mode: ShapeModifyMode::Inflate,
                        modify_config: ShapeModifyConfig {
                            simplify_tolerance: None,
                            offset: (half_gap > 0.0).then_some(half_gap),
                            narrow_concavity_cutoff: None,
                        },
                    },
                    x_min,
                ))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Engine {
            shapes,
            copies,
            height: (problem.strip_width + 2.0 * inflation) as f32,
            inflation: inflation as f32,
            zones,
        })
    }

    /// The roll's usable area when cut at `length`.
    pub fn band(&self, length: f32) -> Rect {
        Rect {
            x_min: 0.0,
            y_min: 0.0,
            x_max: length,
            y_max: self.height,
        }
    }

    /// How far a collision shape may stick out of the band (f32 rounding of exact fits).
    pub fn tolerance(&self) -> f32 {
        BAND_TOLERANCE * self.height
    }

    /// The collision container for a roll cut at `length`, with the defect zones that start
    /// before that length. It is larger than the roll: jagua-rs counts touching the container's
    /// edge as a collision, which would rule out pieces exactly as wide as the roll, so the
    /// roll's own bounds are checked on bounding boxes instead (exact for a rectangle).
    pub fn container(&self, length: f32) -> Result<Container, Error> {
        let m = CONTAINER_MARGIN * self.height;
        let outer = OriginalShape {
            shape: Rect::try_new(-m, -m, length + m, self.height + m)
                .and_then(SPolygon::try_from)
                .map_err(engine_error("the roll"))?,
            pre_transform: DTransformation::empty(),
            modify_mode: ShapeModifyMode::Deflate,
            modify_config: ShapeModifyConfig::default(),
        };
        let holes: Vec<OriginalShape> = self
            .zones
            .iter()
            .filter(|(_, x_min)| *x_min < length)
            .map(|(z, _)| z.clone())
            .collect();
        let zones = if holes.is_empty() {
            vec![]
        } else {
            vec![InferiorQualityZone::new(0, holes, SURROGATE)
                .map_err(engine_error("defect zones"))?]
        };
        Container::new(outer, zones, CDE).map_err(engine_error("the roll"))
    }

    /// Length needed to lay every copy end to end in its shortest rotation: always enough.
    pub fn safe_length(&self) -> f32 {
        let pieces: f32 = self
            .copies
            .iter()
            .map(|&(s, _)| {
                self.shapes[s]
                    .bboxes
                    .iter()
                    .map(Rect::width)
                    .fold(f32::INFINITY, f32::min)
            })
            .sum();
        let zones: f32 = self
            .zones
            .iter()
            .map(|(z, _)| z.bbox().x_max + self.inflation * 2.0)
            .fold(0.0, f32::max);
        (pieces + zones) * 1.01 + 1.0
    }

    /// Converts a copy's internal pose into the documented placement of the original outline.
    pub fn placement(&self, problem: &Problem, copy: usize, pose: Pose) -> Option<Placement> {
        let &(s, copy_no) = self.copies.get(copy)?;
        let shape = self.shapes.get(s)?;
        let rotation = *shape.rotations_deg.get(pose.rot)?;
        let (sin, cos) = sin_cos_degrees(rotation);
        let (cx, cy) = shape.centring;
        let g = f64::from(self.inflation);
        let piece = problem.pieces.get(shape.piece)?;
        let (mut x, mut y) = (
            cx * cos - cy * sin + f64::from(pose.x) - g,
            cx * sin + cy * cos + f64::from(pose.y) - g,
        );
        // The search sees f32 collision shapes, so an exact outline as wide as the roll can end
        // a rounding step past its edge; it is moved back in here.
        let (mut x_min, mut y_min, mut y_max) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        for p in &piece.outline {
            let (qx, qy) = (p.x * cos - p.y * sin + x, p.x * sin + p.y * cos + y);
            x_min = x_min.min(qx);
            y_min = y_min.min(qy);
            y_max = y_max.max(qy);
        }
        x -= x_min.min(0.0);
        y -= y_min.min(0.0) + (y_max - problem.strip_width).max(0.0);
        Some(Placement {
            piece: piece.id.clone(),
            copy: copy_no,
            rotation,
            x,
            y,
        })
    }
}

/// Rotation index and translation of one copy's collision shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Pose {
    pub rot: usize,
    pub x: f32,
    pub y: f32,
}

impl Pose {
    pub fn transformation(self, shape: &Shape) -> Transformation {
        let r = shape.rotations_rad.get(self.rot).copied().unwrap_or(0.0);
        DTransformation::new(r, (self.x, self.y)).compose()
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    loss: f32,
    weight: f32,
}

/// Overlap losses and GLS weights of every pair of copies and of each copy with the roll's
/// exterior and defects.
#[derive(Clone)]
pub(crate) struct Tracker {
    n: usize,
    pairs: Vec<Entry>,
    statics: Vec<Entry>,
}

impl Tracker {
    fn new(n: usize) -> Tracker {
        let e = Entry {
            loss: 0.0,
            weight: 1.0,
        };
        Tracker {
            n,
            pairs: vec![e; n * n],
            statics: vec![e; n],
        }
    }

    pub fn pair_weight(&self, i: usize, j: usize) -> f32 {
        self.pairs[i * self.n + j].weight
    }

    pub fn static_weight(&self, i: usize) -> f32 {
        self.statics[i].weight
    }

    pub fn loss(&self, i: usize) -> f32 {
        self.statics[i].loss
            + self.pairs[i * self.n..(i + 1) * self.n]
                .iter()
                .map(|e| e.loss)
                .sum::<f32>()
    }

    pub fn total_loss(&self) -> f32 {
        self.statics.iter().map(|e| e.loss).sum::<f32>()
            + self.pairs.iter().map(|e| e.loss).sum::<f32>() / 2.0
    }

    /// Total loss with every pair and static loss scaled by its GLS weight.
    fn total_weighted_loss(&self) -> f32 {
        self.statics.iter().map(|e| e.loss * e.weight).sum::<f32>()
            + self.pairs.iter().map(|e| e.loss * e.weight).sum::<f32>() / 2.0
    }

    fn update_weights(&mut self) {
        let max = self
            .pairs
            .iter()
            .chain(&self.statics)
            .map(|e| e.loss)
            .fold(0.0, f32::max);
        for e in self.pairs.iter_mut().chain(self.statics.iter_mut()) {
            let m = if e.loss > 0.0 {
                WEIGHT_MIN_INCREASE + (WEIGHT_MAX_INCREASE - WEIGHT_MIN_INCREASE) * (e.loss / max)
            } else {
                WEIGHT_DECAY
            };
            e.weight = (e.weight * m).max(1.0);
        }
    }

    fn copy_losses_from(&mut self, other: &Tracker) {
        for (a, b) in self.pairs.iter_mut().zip(&other.pairs) {
            a.loss = b.loss;
        }
        for (a, b) in self.statics.iter_mut().zip(&other.statics) {
            a.loss = b.loss;
        }
    }
}

/// A restorable copy of a [`State`].
#[derive(Clone)]
pub(crate) struct Snapshot {
    layout: LayoutSnapshot,
    poses: Vec<Pose>,
    keys: Vec<PItemKey>,
    length: f32,
    tracker: Tracker,
}

/// A marker's placements, roll length, losses and weights without its collision structure:
/// enough for another thread's copy of the marker to catch up ([`State::follow`]).
pub(crate) struct Lead {
    poses: Vec<Pose>,
    length: f32,
    tracker: Tracker,
}

/// The working solution: every copy placed (possibly overlapping) in a roll of `length`.
pub(crate) struct State {
    pub layout: Layout,
    pub poses: Vec<Pose>,
    keys: Vec<PItemKey>,
    /// Copy index of each placed item key.
    copy_of: SecondaryMap<PItemKey, usize>,
    pub length: f32,
    /// The roll's usable area and its tolerance (see [`Engine::band`]).
    band: Rect,
    tolerance: f32,
    pub tracker: Tracker,
    /// One scratch shape per piece kind (transforms need a shape with the same vertices).
    bufs: Vec<SPolygon>,
    /// Reused between queries to avoid allocations.
    collector: BasicHazardCollector,
}

impl State {
    /// Places every copy at its pose in a roll of `length`.
    pub fn new(engine: &Engine, poses: Vec<Pose>, length: f32) -> Result<State, Error> {
        let mut layout = Layout::new(engine.container(length)?);
        let keys: Vec<PItemKey> = poses
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let shape = &engine.shapes[engine.copies[i].0];
                let t = p.transformation(shape);
                layout.place_item(&shape.item, DTransformation::from(t))
            })
            .collect();
        let bufs = engine
            .shapes
            .iter()
            .map(|s| s.item.shape_cd().as_ref().clone())
            .collect();
        let copy_of = keys_to_copies(&keys);
        let mut state = State {
            band: engine.band(length),
            tolerance: engine.tolerance(),
            copy_of,
            layout,
            tracker: Tracker::new(poses.len()),
            poses,
            keys,
            length,
            bufs,
            collector: BasicHazardCollector::new(),
        };
        for i in 0..state.poses.len() {
            state.recompute(i);
        }
        Ok(state)
    }

    /// Which copy a placed item key belongs to.
    pub fn copy_of(&self, pk: PItemKey) -> Option<usize> {
        self.copy_of.get(pk).copied()
    }

    /// Places copy `i` anew at `pose` (after its item was removed from the layout).
    fn place(&mut self, engine: &Engine, i: usize, pose: Pose) {
        let shape = &engine.shapes[engine.copies[i].0];
        let key = self.layout.place_item(
            &shape.item,
            DTransformation::from(pose.transformation(shape)),
        );
        self.copy_of.remove(self.keys[i]);
        self.copy_of.insert(key, i);
        self.keys[i] = key;
        self.poses[i] = pose;
    }

    fn haz_key(&self, i: usize) -> Option<HazKey> {
        let pk = self.keys[i];
        let pi = self.layout.placed_items().get(pk)?;
        self.layout.cde().haz_key(&(pk, pi).into())
    }

    /// Recomputes the losses of copy `i` against everything it now collides with.
    fn recompute(&mut self, i: usize) {
        let n = self.poses.len();
        for j in 0..n {
            self.tracker.pairs[i * n + j].loss = 0.0;
            self.tracker.pairs[j * n + i].loss = 0.0;
        }
        self.tracker.statics[i].loss = 0.0;
        let Some(hkey) = self.haz_key(i) else { return };
        let Some(pi) = self.layout.placed_items().get(self.keys[i]) else {
            return;
        };
        let shape = pi.shape().clone();
        let collector = &mut self.collector;
        collector.clear();
        self.layout
            .cde()
            .collect_poly_collisions(&shape, &hkey, collector);
        let container = self.layout.container().outer_cd().bbox();
        let mut static_loss = band_loss(&shape, self.band, self.tolerance);
        let hits: Vec<BasicHazardEntity> = collector.iter().map(|(_, e)| *e).collect();
        for entity in hits {
            match entity {
                BasicHazardEntity::PlacedItem { pk, .. } => {
                    let (Some(j), Some(other)) =
                        (self.copy_of(pk), self.layout.placed_items().get(pk))
                    else {
                        continue;
                    };
                    let loss = pair_loss(&shape, other.shape());
                    self.tracker.pairs[i * n + j].loss = loss;
                    self.tracker.pairs[j * n + i].loss = loss;
                }
                BasicHazardEntity::Exterior => static_loss += exterior_loss(&shape, container),
                BasicHazardEntity::Hole { idx }
                | BasicHazardEntity::InferiorQualityZone { idx, .. } => {
                    if let Some(zone) = self.layout.container().quality_zones()[0]
                        .as_ref()
                        .and_then(|z| z.shapes_cd().get(idx))
                    {
                        static_loss += pair_loss(&shape, zone);
                    }
                }
            }
        }
        self.tracker.statics[i].loss = static_loss;
    }

    /// Moves copy `i` to `pose` and updates its losses.
    pub fn move_copy(&mut self, engine: &Engine, i: usize, pose: Pose) {
        self.layout.remove_item(self.keys[i]);
        self.place(engine, i, pose);
        self.recompute(i);
    }

    pub fn update_weights(&mut self) {
        self.tracker.update_weights();
    }

    /// Total overlap loss, each pair's and each static loss scaled by its GLS weight.
    pub fn weighted_loss(&self) -> f32 {
        self.tracker.total_weighted_loss()
    }

    /// What another thread needs to bring its copy of this marker in step with it.
    pub fn lead(&self) -> Lead {
        Lead {
            poses: self.poses.clone(),
            length: self.length,
            tracker: self.tracker.clone(),
        }
    }

    /// A separate state equal to the one `lead` was taken from: same placements, losses and
    /// weights.
    pub fn replica(engine: &Engine, lead: &Lead) -> Result<State, Error> {
        let mut state = State::new(engine, lead.poses.clone(), lead.length)?;
        state.tracker.clone_from(&lead.tracker);
        Ok(state)
    }

    /// Makes this state equal to the one `lead` was taken from by moving only the copies whose
    /// poses differ (a separation round moves a few), then taking over its weights.
    pub fn follow(&mut self, engine: &Engine, lead: &Lead) -> Result<(), Error> {
        if self.length != lead.length || self.poses.len() != lead.poses.len() {
            *self = State::replica(engine, lead)?;
            return Ok(());
        }
        for (i, &pose) in lead.poses.iter().enumerate() {
            if self.poses[i] != pose {
                self.move_copy(engine, i, pose);
            }
        }
        self.tracker.clone_from(&lead.tracker);
        Ok(())
    }

    pub fn save(&self) -> Snapshot {
        Snapshot {
            layout: self.layout.save(),
            poses: self.poses.clone(),
            keys: self.keys.clone(),
            length: self.length,
            tracker: self.tracker.clone(),
        }
    }

    /// Restores a snapshot's placements and losses, keeping the current GLS weights when the
    /// roll length is unchanged (after a length change weights start afresh). The snapshot may
    /// come from another state of the same search (a separation thread's).
    pub fn restore(&mut self, snap: &Snapshot) {
        if self.layout.restore(&snap.layout).is_err() {
            self.layout = Layout::from_snapshot(&snap.layout);
        }
        if snap.length == self.length {
            self.tracker.copy_losses_from(&snap.tracker);
        } else {
            self.tracker = snap.tracker.clone();
        }
        self.poses.clone_from(&snap.poses);
        self.keys.clone_from(&snap.keys);
        self.copy_of = keys_to_copies(&self.keys);
        self.length = snap.length;
        self.band.x_max = snap.length;
    }

    /// Changes the roll length: copies whose reference point lies right of `split` move with
    /// the roll's end. Weights are reset, as the collision structure changes.
    pub fn set_length(&mut self, engine: &Engine, length: f32, split: f32) -> Result<(), Error> {
        let delta = length - self.length;
        let moved: Vec<usize> = (0..self.poses.len())
            .filter(|&i| self.poses[i].x > split)
            .collect();
        for i in moved {
            let p = self.poses[i];
            self.layout.remove_item(self.keys[i]);
            self.place(
                engine,
                i,
                Pose {
                    x: p.x + delta,
                    ..p
                },
            );
        }
        self.layout.swap_container(engine.container(length)?);
        self.length = length;
        self.band = engine.band(length);
        self.tracker = Tracker::new(self.poses.len());
        for i in 0..self.poses.len() {
            self.recompute(i);
        }
        Ok(())
    }

    /// Smallest roll length that holds every copy's collision shape.
    pub fn fitted_length(&self) -> f32 {
        self.layout
            .placed_items()
            .values()
            .map(|pi| pi.shape().bbox().x_max)
            .fold(0.0, f32::max)
            * 1.000_01
    }

    /// Weighted loss of copy `i` at `pose`; gives up (returning infinity) once it exceeds
    /// `bound`. Zero means the pose collides with nothing.
    pub fn evaluate(
        &mut self,
        engine: &Engine,
        i: usize,
        pose: Pose,
        bound: f32,
        own: Option<HazKey>,
    ) -> f32 {
        let s = engine.copies[i].0;
        let shape = &engine.shapes[s];
        let Self {
            layout,
            tracker,
            bufs,
            collector,
            copy_of,
            band,
            tolerance,
            ..
        } = self;
        let buf = &mut bufs[s];
        buf.transform_from(shape.item.shape_cd(), &pose.transformation(shape));
        let container = layout.container().outer_cd().bbox();
        let mut loss = tracker.static_weight(i) * band_loss(buf, *band, *tolerance);
        if loss > bound {
            return f32::INFINITY;
        }
        collector.clear();
        let layout: &Layout = layout;
        let buf: &SPolygon = buf;
        let ctx = LossContext {
            i,
            tracker,
            copy_of,
            layout,
            container,
        };
        let mut hit = |e| {
            loss += ctx.loss(e, buf);
            loss > bound
        };
        // The poles go first, the largest first within each block of 64 hazards of jagua-rs'
        // index (all of them on these rolls): most samples land on a big overlap, which they
        // find with a few circle queries, and the bound then stops the search before any edge
        // is tested.
        // Hazards they found are in the collector, so the edge pass skips them.
        let cde = layout.cde();
        let stopped = match own {
            Some(h) => {
                cde.collect_surrogate_collisions_until(buf, &h, collector, &mut hit)
                    || cde.collect_poly_collisions_until(buf, &h, collector, &mut hit)
            }
            None => {
                cde.collect_surrogate_collisions_until(buf, &NoFilter, collector, &mut hit)
                    || cde.collect_poly_collisions_until(buf, &NoFilter, collector, &mut hit)
            }
        };
        if stopped {
            f32::INFINITY
        } else {
            loss
        }
    }

    /// jagua-rs' yes/no collision test of copy `i` at `pose`, its own placement excluded: the
    /// reference [`super::OverlapProbe`] times [`State::evaluate`] against.
    pub fn collides(&mut self, engine: &Engine, i: usize, pose: Pose) -> bool {
        let own = self.haz_key(i);
        let s = engine.copies[i].0;
        let shape = &engine.shapes[s];
        let buf = &mut self.bufs[s];
        buf.transform_from(shape.item.shape_cd(), &pose.transformation(shape));
        let cde = self.layout.cde();
        match own {
            Some(h) => cde.detect_poly_collision(buf, &h),
            None => cde.detect_poly_collision(buf, &NoFilter),
        }
    }

    /// Hazard key of copy `i`, to exclude it from its own collision queries.
    pub fn own_key(&self, i: usize) -> Option<HazKey> {
        self.haz_key(i)
    }
}

/// True when a shape's bounding box lies within `band`, give or take `tolerance`.
pub(crate) fn within_band(bbox: Rect, band: Rect, tolerance: f32) -> bool {
    bbox.x_min >= band.x_min - tolerance
        && bbox.y_min >= band.y_min - tolerance
        && bbox.y_max <= band.y_max + tolerance
        && bbox.x_max <= band.x_max + tolerance + band.x_max * BAND_TOLERANCE
}

/// Loss of a shape sticking out of the roll (zero within the tolerance).
fn band_loss(shape: &SPolygon, band: Rect, tolerance: f32) -> f32 {
    if within_band(shape.bbox(), band, tolerance) {
        0.0
    } else {
        exterior_loss(shape, band)
    }
}

fn keys_to_copies(keys: &[PItemKey]) -> SecondaryMap<PItemKey, usize> {
    keys.iter().enumerate().map(|(i, &k)| (k, i)).collect()
}

/// What the loss of one detected hazard depends on.
struct LossContext<'a> {
    i: usize,
    tracker: &'a Tracker,
    copy_of: &'a SecondaryMap<PItemKey, usize>,
    layout: &'a Layout,
    container: Rect,
}

impl LossContext<'_> {
    fn loss(&self, e: BasicHazardEntity, buf: &SPolygon) -> f32 {
        let i = self.i;
        match e {
            BasicHazardEntity::PlacedItem { pk, .. } => {
                let Some(&j) = self.copy_of.get(pk) else {
                    return 0.0;
                };
                self.layout.placed_items().get(pk).map_or(0.0, |o| {
                    self.tracker.pair_weight(i, j) * pair_loss(buf, o.shape())
                })
            }
            BasicHazardEntity::Exterior => {
                self.tracker.static_weight(i) * exterior_loss(buf, self.container)
            }
            BasicHazardEntity::Hole { idx }
            | BasicHazardEntity::InferiorQualityZone { idx, .. } => {
                self.layout.container().quality_zones()[0]
                    .as_ref()
                    .and_then(|z| z.shapes_cd().get(idx))
                    .map_or(0.0, |z| self.tracker.static_weight(i) * pair_loss(buf, z))
            }
        }
    }
}
