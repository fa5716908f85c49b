//! HPGL/PLT for cutting plotters: 40 plotter units per mm, y up from the sheet's bottom edge.
//! Pen 1 cuts (cut line), pen 2 draws (sew line, grain, notches, darts, drill marks, text).

use std::fmt::Write;

use kurbo::{Point, Vec2};

use super::{piece_text, Sheet};
use crate::pattern::geom::flatten;

/// Plotter units per mm (HP-GL's 0.025 mm step).
pub(crate) const UNITS_PER_MM: f64 = 40.0;

struct Plot {
    out: String,
    height: f64,
}

impl Plot {
    fn xy(&self, p: Point) -> (i64, i64) {
        (
            (p.x * UNITS_PER_MM).round() as i64,
            ((self.height - p.y) * UNITS_PER_MM).round() as i64,
        )
    }

    fn path(&mut self, points: &[Point], closed: bool) {
        let Some(first) = points.first() else { return };
        let (x, y) = self.xy(*first);
        let _ = write!(self.out, "PU{x},{y};PD");
        let mut rest: Vec<Point> = points[1..].to_vec();
        if closed {
            rest.push(*first);
        }
        let coords: Vec<String> = rest
            .iter()
            .map(|p| {
                let (x, y) = self.xy(*p);
                format!("{x},{y}")
            })
            .collect();
        self.out.push_str(&coords.join(","));
        self.out.push_str(";\n");
    }
}

pub(super) fn write(sheet: &Sheet) -> String {
    let mut plot = Plot {
        out: String::from("IN;IP;SC;\n"),
        height: sheet.height,
    };
    for p in &sheet.placed {
        let at = |q: Point| q + p.offset;
        plot.out.push_str("SP1;\n");
        let cut: Vec<Point> = p.cut.iter().map(|q| at(*q)).collect();
        plot.path(&cut, true);
        plot.out.push_str("SP2;\n");
        let sew: Vec<Point> = flatten(&p.piece.sew_line()).into_iter().map(at).collect();
        plot.path(&sew, false);
        plot.path(&[at(p.piece.grain.p0), at(p.piece.grain.p1)], false);
        for n in &p.piece.notches {
            plot.path(&[at(n.at), at(n.at + n.inward * 6.0)], false);
        }
        for d in &p.piece.darts {
            plot.path(&[at(d.leg_a), at(d.apex), at(d.leg_b)], false);
        }
        for h in &p.piece.drill_holes {
            let c = at(*h);
            plot.path(&[c - Vec2::new(2.0, 0.0), c + Vec2::new(2.0, 0.0)], false);
            plot.path(&[c - Vec2::new(0.0, 2.0), c + Vec2::new(0.0, 2.0)], false);
        }
        if p.size_index == 0 {
            let g = at(p.piece.grain.p0);
            for (i, t) in piece_text(p).iter().enumerate() {
                let (x, y) = plot.xy(g + Vec2::new(5.0, 10.0 * i as f64));
                let text: String = t
                    .chars()
                    .filter(|c| c.is_ascii() && *c != ';' && *c != '\u{3}')
                    .collect();
                let _ = writeln!(plot.out, "PU{x},{y};SI0.25,0.35;LB{text}\u{3};");
            }
        }
    }
    plot.out.push_str("PU;SP0;\n");
    plot.out
}

#[cfg(test)]
mod tests {
    use super::super::tests::shirt;
    use super::super::{export, Format};
    use super::UNITS_PER_MM;

    /// The cut line of the cuff (a 25 cm rectangle with 1 cm allowance) spans 27 cm in
    /// plotter units.
    #[test]
    fn hpgl_is_40_units_per_mm() {
        let p = shirt();
        let text = String::from_utf8(export(&p, Format::Hpgl).unwrap().bytes).unwrap();
        assert!(text.starts_with("IN;"));
        let cuff_cut = text
            .split("SP1;\n")
            .nth(5)
            .and_then(|block| block.lines().next())
            .unwrap();
        let nums: Vec<i64> = cuff_cut
            .split(|c: char| !c.is_ascii_digit() && c != '-')
            .filter_map(|s| s.parse().ok())
            .collect();
        let xs: Vec<i64> = nums.iter().step_by(2).copied().collect();
        let span = xs.iter().max().unwrap() - xs.iter().min().unwrap();
        assert!(((span as f64) / UNITS_PER_MM - 270.0).abs() < 0.1, "{span}");
    }
}
