//! DXF in the AAMA / ASTM D6673 convention: R12 text DXF in mm, one BLOCK per piece and size,
//! each inserted once. Layers: 1 boundary (cut line) and piece text, 2 turn points, 3 curve
//! points, 4 notches, 5 grade reference, 6 mirror (fold) line, 7 grain line, 8 internal lines
//! and darts, 13 drill holes, 14 sew line, 84 a copy of the boundary. Only HEADER ($ACADVER),
//! BLOCKS and ENTITIES are written: Gerber's reader rejects extras. DXF's y axis points up, so
//! y is negated.

use std::fmt::Write;

use kurbo::{Point, Vec2};

use super::{piece_text, Sheet};
use crate::pattern::geom::flatten;
use crate::pattern::grading::SizeCode;

/// A vertex whose cut line turns more than this is a turn point (layer 2), else a curve point.
const TURN_DEG: f64 = 12.0;
/// Text height (mm).
const TEXT_HEIGHT: f64 = 5.0;

struct Dxf(String);

impl Dxf {
    fn pair(&mut self, code: i32, value: &str) {
        let _ = write!(self.0, "{code:>3}\r\n{value}\r\n");
    }

    fn xy(&mut self, p: Point) {
        self.pair(10, &format!("{:.3}", p.x));
        self.pair(20, &format!("{:.3}", -p.y));
        self.pair(30, "0.0");
    }

    fn point(&mut self, layer: &str, p: Point) {
        self.pair(0, "POINT");
        self.pair(8, layer);
        self.xy(p);
    }

    fn line(&mut self, layer: &str, a: Point, b: Point) {
        self.pair(0, "LINE");
        self.pair(8, layer);
        self.xy(a);
        self.pair(11, &format!("{:.3}", b.x));
        self.pair(21, &format!("{:.3}", -b.y));
        self.pair(31, "0.0");
    }

    fn polyline(&mut self, layer: &str, points: &[Point], closed: bool) {
        self.pair(0, "POLYLINE");
        self.pair(8, layer);
        self.pair(66, "1");
        self.xy(Point::ORIGIN);
        self.pair(70, if closed { "1" } else { "0" });
        for p in points {
            self.pair(0, "VERTEX");
            self.pair(8, layer);
            self.xy(*p);
        }
        self.pair(0, "SEQEND");
        self.pair(8, layer);
    }

    fn text(&mut self, layer: &str, at: Point, text: &str) {
        self.pair(0, "TEXT");
        self.pair(8, layer);
        self.xy(at);
        self.pair(40, &format!("{TEXT_HEIGHT:.1}"));
        self.pair(1, &ascii(text));
    }
}

/// R12 text is code-page encoded; keep to printable ASCII.
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Block name for a piece of a size; AutoCAD forbids `/` and friends in names.
pub(crate) fn block_name(piece: &str, size: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c.to_ascii_uppercase()
                } else {
                    '-'
                }
            })
            .collect::<String>()
    };
    format!("{}_{}", clean(piece), clean(size))
}

fn turn_deg(a: Point, b: Point, c: Point) -> f64 {
    let (u, v): (Vec2, Vec2) = (b - a, c - b);
    u.cross(v).atan2(u.dot(v)).abs().to_degrees()
}

pub(super) fn write(sheet: &Sheet) -> String {
    let mut d = Dxf(String::new());
    d.pair(0, "SECTION");
    d.pair(2, "HEADER");
    d.pair(9, "$ACADVER");
    d.pair(1, "AC1009");
    d.pair(0, "ENDSEC");

    d.pair(0, "SECTION");
    d.pair(2, "BLOCKS");
    for p in &sheet.placed {
        let name = p.tag();
        d.pair(0, "BLOCK");
        d.pair(8, "0");
        d.pair(2, &name);
        d.pair(70, "0");
        d.xy(Point::ORIGIN);
        d.pair(3, &name);
        d.polyline("1", &p.cut, true);
        // The AAMA layering carries the boundary twice: layer 1 and its copy on layer 84.
        d.polyline("84", &p.cut, true);
        let n = p.cut.len();
        for i in 0..n {
            let (a, b, c) = (p.cut[(i + n - 1) % n], p.cut[i], p.cut[(i + 1) % n]);
            let layer = if turn_deg(a, b, c) > TURN_DEG {
                "2"
            } else {
                "3"
            };
            d.point(layer, b);
        }
        for notch in &p.piece.notches {
            d.point("4", notch.at);
        }
        d.point("5", Point::ORIGIN);
        if let Some(f) = p.piece.fold {
            d.line("6", f.p0, f.p1);
        }
        d.line("7", p.piece.grain.p0, p.piece.grain.p1);
        for dart in &p.piece.darts {
            d.polyline("8", &[dart.leg_a, dart.apex, dart.leg_b], false);
        }
        for line in &p.piece.internal {
            d.polyline("8", &flatten(line), false);
        }
        for h in &p.piece.drill_holes {
            d.point("13", *h);
        }
        let mut sew = flatten(&p.piece.sew_line());
        if sew.len() > 1 && sew.first() == sew.last() {
            sew.pop();
        }
        d.polyline("14", &sew, true);
        let g = p.piece.grain.p0;
        for (i, t) in piece_text(p).iter().enumerate() {
            d.text(
                "1",
                g + Vec2::new(TEXT_HEIGHT, 2.0 * TEXT_HEIGHT * i as f64),
                t,
            );
        }
        d.pair(0, "ENDBLK");
        d.pair(8, "0");
    }
    d.pair(0, "ENDSEC");

    d.pair(0, "SECTION");
    d.pair(2, "ENTITIES");
    let graded = sheet.sizes.iter().all(|s| s.parse::<SizeCode>().is_ok());
    let grading = if graded {
        format!("GB/T 1335 {}", sheet.sizes.join(","))
    } else {
        "none (made to measure)".to_string()
    };
    let style = [
        format!("Style Name: {}", sheet.garment),
        format!("Sample Size: {}", sheet.sample_size),
        format!("Grading Rule Table: {grading}"),
        "Units: METRIC".to_string(),
    ];
    for (i, t) in style.iter().enumerate() {
        d.text(
            "1",
            Point::new(0.0, -10.0 - 2.0 * TEXT_HEIGHT * (style.len() - i) as f64),
            t,
        );
    }
    for p in &sheet.placed {
        d.pair(0, "INSERT");
        d.pair(8, "1");
        d.pair(2, &p.tag());
        d.xy(Point::ORIGIN + p.offset);
    }
    d.pair(0, "ENDSEC");
    d.pair(0, "EOF");
    d.0
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::tests::{run_reference_tool, shirt};
    use super::super::{export, export_graded, Format};
    use super::block_name;
    use crate::pattern::geom::polygon_area;
    use crate::pattern::{grade, Pattern};

    /// Reads the file back with ezdxf (tools/pattern_check_dxf.py) and compares each block with
    /// the patterns it came from.
    fn check_with_ezdxf(bytes: &[u8], patterns: &[Pattern], tag: &str) {
        let Some(report) = run_reference_tool("pattern_check_dxf.py", bytes, &format!("{tag}.dxf"))
        else {
            return;
        };
        assert_eq!(report["audit_errors"], 0);
        let blocks = report["blocks"].as_array().unwrap();
        let expected: usize = patterns.iter().map(|p| p.pieces.len()).sum();
        assert_eq!(blocks.len(), expected);
        for pattern in patterns {
            for piece in &pattern.pieces {
                let name = block_name(&piece.name, &pattern.size);
                let b = blocks.iter().find(|b| b["name"] == name.as_str()).unwrap();
                assert_eq!(b["piece"], piece.name.as_str());
                assert_eq!(b["size"], pattern.size.as_str());
                assert_eq!(b["quantity"], piece.quantity.to_string().as_str());
                let ring: Vec<[f64; 2]> = piece
                    .cut_line()
                    .unwrap()
                    .iter()
                    .map(|p| [p.x, p.y])
                    .collect();
                let area = b["boundary_area_mm2"].as_f64().unwrap();
                assert!(
                    (area - polygon_area(&ring)).abs() / area < 1e-4,
                    "{name}: {area}"
                );
            }
        }
        for layer in ["1", "2", "5", "7", "14", "84"] {
            assert!(
                report["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| l == layer),
                "layer {layer}"
            );
        }
    }

    /// A marker: two orders' shirts, one of them turned 180°, each copy its own block placed
    /// where it lies on the roll and labelled with its order.
    #[test]
    fn ezdxf_reads_back_a_marker() {
        use super::super::{export_marker, MarkerPiece};
        use kurbo::{Affine, Vec2};
        let p = shirt();
        let mut pieces = Vec::new();
        for (o, turn) in [("order-a", 0.0), ("order-b", std::f64::consts::PI)] {
            for (i, piece) in p.pieces.iter().enumerate() {
                let at =
                    Affine::translate(Vec2::new(800.0 * i as f64, 700.0)) * Affine::rotate(turn);
                pieces.push(MarkerPiece {
                    piece: piece.transformed(at),
                    garment: "shirt".into(),
                    size: "MTM".into(),
                    order: o.into(),
                    copy: i,
                });
            }
        }
        let bytes = export_marker(
            "Marker m1 poplin-white",
            &pieces,
            1500.0,
            6000.0,
            &[],
            Format::DxfAama,
        )
        .unwrap()
        .bytes;
        let Some(report) = run_reference_tool("pattern_check_dxf.py", &bytes, "marker.dxf") else {
            return;
        };
        assert_eq!(report["audit_errors"], 0);
        assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{report}");
        let blocks = report["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), pieces.len());
        for (k, m) in pieces.iter().enumerate() {
            let order_no = k / p.pieces.len() + 1;
            let name = block_name(&m.piece.name, &format!("MTM_O{order_no}_C{}", m.copy));
            let b = blocks.iter().find(|b| b["name"] == name.as_str()).unwrap();
            assert_eq!(b["order"], m.order.as_str());
            assert_eq!(b["size"], "MTM");
            let cut = m.piece.cut_line().unwrap();
            let ring: Vec<[f64; 2]> = cut.iter().map(|q| [q.x, q.y]).collect();
            let area = b["boundary_area_mm2"].as_f64().unwrap();
            assert!((area - polygon_area(&ring)).abs() / area < 1e-4, "{name}");
        }
    }

    #[test]
    fn ezdxf_reads_back_a_shirt() {
        let p = shirt();
        let bytes = export(&p, Format::DxfAama).unwrap().bytes;
        check_with_ezdxf(&bytes, std::slice::from_ref(&p), "shirt");
    }

    #[test]
    fn ezdxf_reads_back_a_graded_set() {
        let set = grade(
            "trousers",
            &["165/70A", "170/74A", "175/78A"],
            &BTreeMap::new(),
        )
        .unwrap();
        let bytes = export_graded(&set, Format::DxfAama).unwrap().bytes;
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("Grading Rule Table: GB/T 1335 165/70A,170/74A,175/78A"));
        assert!(text.contains("Sample Size: 170/74A"));
        check_with_ezdxf(&bytes, &set.patterns, "graded");
    }

    #[test]
    fn dxf_has_one_block_and_insert_per_piece() {
        let p = shirt();
        let text = String::from_utf8(export(&p, Format::DxfAama).unwrap().bytes).unwrap();
        let lines: Vec<&str> = text.split("\r\n").map(str::trim).collect();
        let count = |kind: &str| {
            lines
                .windows(2)
                .filter(|w| w[0] == "0" && w[1] == kind)
                .count()
        };
        assert_eq!(count("BLOCK"), p.pieces.len());
        assert_eq!(count("INSERT"), p.pieces.len());
        assert_eq!(count("POLYLINE"), count("SEQEND"));
        assert!(text.contains("Units: METRIC"));
        assert_eq!(block_name("front", "170/88A"), "FRONT_170-88A");
        assert!(text.is_ascii());
    }
}
