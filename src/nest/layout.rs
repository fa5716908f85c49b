use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{Point, Problem};

/// Where one copy of a piece goes: rotate the piece's outline (as given in the problem)
/// counter-clockwise by `rotation` degrees about its own origin, then translate by `(x, y)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// Piece id.
    pub piece: String,
    /// Which copy of the piece, counting from 0.
    pub copy: usize,
    /// Counter-clockwise rotation in degrees, one of the piece's allowed rotations.
    pub rotation: f64,
    /// Translation along the roll.
    pub x: f64,
    /// Translation across the roll.
    pub y: f64,
}

/// A cutting marker: every copy of every piece placed on the roll.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    /// Instance name.
    pub instance: String,
    /// Roll width.
    pub strip_width: f64,
    /// Used roll length: the largest x of any placed piece.
    pub length: f64,
    /// Piece area over `length * strip_width`.
    pub density: f64,
    /// One entry per copy.
    pub placements: Vec<Placement>,
}

impl Placement {
    /// The piece's outline moved to where this placement puts it.
    #[must_use]
    pub fn place(&self, outline: &[Point]) -> Vec<Point> {
        outline
            .iter()
            .map(|p| {
                let r = p.rotated(self.rotation);
                Point {
                    x: r.x + self.x,
                    y: r.y + self.y,
                }
            })
            .collect()
    }
}

impl Layout {
    /// Builds a layout from placements, measuring its length and density.
    pub(crate) fn from_placements(problem: &Problem, placements: Vec<Placement>) -> Layout {
        let length = placements
            .iter()
            .filter_map(|pl| {
                let piece = problem.pieces.iter().find(|p| p.id == pl.piece)?;
                pl.place(&piece.outline)
                    .iter()
                    .map(|p| p.x)
                    .reduce(f64::max)
            })
            .fold(0.0, f64::max);
        let density = if length > 0.0 {
            problem.piece_area() / (length * problem.strip_width)
        } else {
            0.0
        };
        Layout {
            instance: problem.name.clone(),
            strip_width: problem.strip_width,
            length,
            density,
            placements,
        }
    }

    /// The layout as pretty-printed JSON in the documented shape
    /// `{"instance","strip_width","length","density","placements":[...]}`.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// An SVG drawing of the marker: the used part of the roll, defects in red and
    /// each piece labelled with its id and copy. The y axis points up as in the problem.
    #[must_use]
    pub fn to_svg(&self, problem: &Problem) -> String {
        let (w, h) = (self.length.max(1e-9), self.strip_width);
        let stroke = h / 400.0;
        let font = h / 40.0;
        let mut svg = String::new();
        // `write!` into a String cannot fail, so its results are ignored below.
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="{x0} {y0} {vw} {vh}" width="1200" height="{ph:.0}">"#,
            x0 = -stroke * 4.0,
            y0 = -stroke * 4.0,
            vw = w + stroke * 8.0,
            vh = h + stroke * 8.0,
            ph = 1200.0 * (h + stroke * 8.0) / (w + stroke * 8.0),
        );
        let _ = write!(
            svg,
            r#"<title>{} length {:.3} density {:.2}%</title><g transform="translate(0 {h}) scale(1 -1)">"#,
            escape(&self.instance),
            self.length,
            self.density * 100.0
        );
        let _ = write!(
            svg,
            r##"<rect x="0" y="0" width="{w}" height="{h}" fill="#f4f1ea" stroke="#333" stroke-width="{stroke}"/>"##
        );
        let points = |outline: &[Point]| {
            outline
                .iter()
                .map(|p| format!("{:.3},{:.3}", p.x, p.y))
                .collect::<Vec<_>>()
                .join(" ")
        };
        for zone in &problem.defects {
            let _ = write!(
                svg,
                r##"<polygon points="{}" fill="#d33" fill-opacity="0.5"/>"##,
                points(&zone.outline)
            );
        }
        for pl in &self.placements {
            let Some(piece) = problem.pieces.iter().find(|p| p.id == pl.piece) else {
                continue;
            };
            let placed = pl.place(&piece.outline);
            let n = placed.len() as f64;
            let (cx, cy) = placed
                .iter()
                .fold((0.0, 0.0), |(x, y), p| (x + p.x / n, y + p.y / n));
            let _ = write!(
                svg,
                r##"<polygon points="{}" fill="#7aa6c2" fill-opacity="0.8" stroke="#1d3f57" stroke-width="{stroke}"/>"##,
                points(&placed)
            );
            let _ = write!(
                svg,
                r#"<text x="{cx:.3}" y="{:.3}" font-size="{font}" text-anchor="middle" transform="scale(1 -1)">{}#{}</text>"#,
                -cy,
                escape(&pl.piece),
                pl.copy
            );
        }
        svg.push_str("</g></svg>\n");
        svg
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
