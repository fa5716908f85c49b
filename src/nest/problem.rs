use serde::{Deserialize, Serialize};

use super::Error;

/// A point in the roll's coordinate system: `x` along the roll, `y` across it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Along the roll.
    pub x: f64,
    /// Across the roll.
    pub y: f64,
}

impl Point {
    /// Rotates the point counter-clockwise about the origin by `degrees`.
    #[must_use]
    pub fn rotated(self, degrees: f64) -> Point {
        let (s, c) = sin_cos_degrees(degrees);
        Point {
            x: self.x * c - self.y * s,
            y: self.x * s + self.y * c,
        }
    }
}

/// Sine and cosine with exact values at multiples of 90 degrees, so that grain rotations
/// (0/90/180/270) do not introduce rounding noise into coordinates.
pub(crate) fn sin_cos_degrees(degrees: f64) -> (f64, f64) {
    let d = degrees.rem_euclid(360.0);
    if d == 0.0 {
        (0.0, 1.0)
    } else if d == 90.0 {
        (1.0, 0.0)
    } else if d == 180.0 {
        (0.0, -1.0)
    } else if d == 270.0 {
        (-1.0, 0.0)
    } else {
        d.to_radians().sin_cos()
    }
}

/// One kind of garment piece to cut, `quantity` times.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Piece {
    /// Identifier reported back in each placement (the ESICUP piece id).
    pub id: String,
    /// Outline as a simple polygon (either orientation) in the piece's own coordinates.
    pub outline: Vec<Point>,
    /// How many copies to cut.
    pub quantity: usize,
    /// Counter-clockwise rotations in degrees the fabric grain allows (e.g. `[0, 180]`).
    pub rotations: Vec<f64>,
}

/// A region of the roll that no piece may cover (a flaw in the fabric), in roll coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefectZone {
    /// Outline of the zone as a simple polygon.
    pub outline: Vec<Point>,
}

impl DefectZone {
    /// Checks the zone's polygon: at least three finite vertices enclosing an area.
    pub fn validate(&self) -> Result<(), String> {
        check_outline(&self.outline)
    }
}

/// A marker-making problem: pieces to nest on a roll of fixed width.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// Name reported in the layout (the instance name).
    pub name: String,
    /// Roll width: pieces must lie within `0 <= y <= strip_width`.
    pub strip_width: f64,
    /// Minimum distance kept between any two pieces (and between pieces and defects).
    pub min_gap: f64,
    /// The pieces to cut.
    pub pieces: Vec<Piece>,
    /// Zones of the roll to avoid.
    pub defects: Vec<DefectZone>,
}

/// Signed area by the shoelace formula (positive for counter-clockwise outlines).
pub(crate) fn signed_area(outline: &[Point]) -> f64 {
    let n = outline.len();
    (0..n)
        .map(|i| {
            let (a, b) = (outline[i], outline[(i + 1) % n]);
            a.x * b.y - b.x * a.y
        })
        .sum::<f64>()
        / 2.0
}

/// Extent of the outline across the roll (in y) after rotating it by `degrees`.
pub(crate) fn extent_across(outline: &[Point], degrees: f64) -> f64 {
    let ys = outline.iter().map(|p| p.rotated(degrees).y);
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    hi - lo
}

fn check_outline(outline: &[Point]) -> Result<(), String> {
    if outline.len() < 3 {
        return Err(format!("outline has {} vertices, needs 3", outline.len()));
    }
    if outline.iter().any(|p| !p.x.is_finite() || !p.y.is_finite()) {
        return Err("outline has a non-finite coordinate".into());
    }
    if signed_area(outline).abs() <= f64::EPSILON {
        return Err("outline has no area".into());
    }
    Ok(())
}

impl Problem {
    /// Total area of all copies of all pieces.
    #[must_use]
    pub fn piece_area(&self) -> f64 {
        self.pieces
            .iter()
            .map(|p| signed_area(&p.outline).abs() * p.quantity as f64)
            .sum()
    }

    /// Checks that the problem can be nested: a positive width, pieces with valid outlines
    /// and rotations that each fit across the roll in at least one allowed rotation.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.strip_width.is_finite() && self.strip_width > 0.0) {
            return Err(Error::InvalidStripWidth(self.strip_width));
        }
        if !(self.min_gap.is_finite() && self.min_gap >= 0.0) {
            return Err(Error::InvalidGap(self.min_gap));
        }
        if self.pieces.iter().all(|p| p.quantity == 0) {
            return Err(Error::EmptyInstance);
        }
        for piece in &self.pieces {
            let invalid = |reason: String| Error::InvalidPiece {
                piece: piece.id.clone(),
                reason,
            };
            check_outline(&piece.outline).map_err(invalid)?;
            if piece.rotations.is_empty() {
                return Err(invalid("no allowed rotation".into()));
            }
            if piece.rotations.iter().any(|r| !r.is_finite()) {
                return Err(invalid("a rotation is not finite".into()));
            }
            let extent = piece
                .rotations
                .iter()
                .map(|&r| extent_across(&piece.outline, r))
                .fold(f64::INFINITY, f64::min);
            if extent > self.strip_width {
                return Err(Error::PieceWiderThanRoll {
                    piece: piece.id.clone(),
                    extent,
                    width: self.strip_width,
                });
            }
        }
        for (index, zone) in self.defects.iter().enumerate() {
            check_outline(&zone.outline)
                .map_err(|reason| Error::InvalidDefect { index, reason })?;
        }
        Ok(())
    }
}
