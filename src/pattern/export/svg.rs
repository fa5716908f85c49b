//! SVG preview at 1:1 (user units are mm); sizes of a graded set in different colours.

use std::fmt::Write;

use kurbo::Point;

use super::{bounds, piece_text, Sheet};

/// Colours cycled over sizes.
const COLOURS: [&str; 6] = [
    "#000000", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e",
];

/// Escapes text for XML content and attributes.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn polygon(points: &[Point]) -> String {
    let mut d = String::new();
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            d,
            "{}{:.2},{:.2}",
            if i == 0 { "M" } else { " L" },
            p.x,
            p.y
        );
    }
    d.push_str(" Z");
    d
}

pub(super) fn write(sheet: &Sheet) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{w:.1}mm" height="{h:.1}mm" viewBox="0 0 {w:.2} {h:.2}">
<title>{title}</title>
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>
<style>.cut{{fill:none;stroke-width:0.5}} .sew{{fill:none;stroke-width:0.3;stroke-dasharray:2 1}} .mark{{fill:none;stroke-width:0.3}} .fold{{fill:none;stroke-width:0.4;stroke-dasharray:6 2 1 2}} text{{font-family:sans-serif;font-size:6px}}</style>
"#,
        w = sheet.width,
        h = sheet.height,
        title = escape(&format!("{} {}", sheet.garment, sheet.sizes.join(" ")))
    );
    if sheet.roll {
        // The roll's selvedges and the marker's end, so the preview shows the fabric used.
        let _ = writeln!(
            s,
            r##"<rect x="0" y="0" width="{:.2}" height="{:.2}" fill="#f4f1ea" stroke="#888888" stroke-width="1" stroke-dasharray="10 5"/>"##,
            sheet.width, sheet.height
        );
    }
    for zone in &sheet.defects {
        let _ = writeln!(
            s,
            r##"<path class="defect" d="{}" fill="#d62728" fill-opacity="0.25" stroke="#d62728" stroke-width="1"/>"##,
            polygon(zone)
        );
    }
    for p in &sheet.placed {
        let colour = COLOURS[p.size_index % COLOURS.len()];
        let _ = writeln!(
            s,
            r#"<g id="{id}" stroke="{colour}" fill="{colour}" transform="translate({x:.2},{y:.2})">"#,
            id = escape(&match p.order {
                None => format!("{}-{}", p.piece.name, p.size),
                Some(_) => p.tag(),
            }),
            x = p.offset.x,
            y = p.offset.y
        );
        let _ = writeln!(s, r#"<path class="cut" d="{}"/>"#, polygon(&p.cut));
        let _ = writeln!(
            s,
            r#"<path class="sew" d="{}"/>"#,
            p.piece.sew_line().to_svg()
        );
        let g = p.piece.grain;
        let _ = writeln!(
            s,
            r#"<path class="mark" d="M{:.2},{:.2} L{:.2},{:.2}" marker-start="url(#arrow)" marker-end="url(#arrow)"/>"#,
            g.p0.x, g.p0.y, g.p1.x, g.p1.y
        );
        if let Some(f) = p.piece.fold {
            let _ = writeln!(
                s,
                r#"<path class="fold" d="M{:.2},{:.2} L{:.2},{:.2}"/>"#,
                f.p0.x, f.p0.y, f.p1.x, f.p1.y
            );
        }
        for n in &p.piece.notches {
            let e = n.at + n.inward * 6.0;
            let _ = writeln!(
                s,
                r#"<path class="mark" d="M{:.2},{:.2} L{:.2},{:.2}"/>"#,
                n.at.x, n.at.y, e.x, e.y
            );
        }
        for h in &p.piece.drill_holes {
            let _ = writeln!(
                s,
                r#"<circle class="mark" cx="{:.2}" cy="{:.2}" r="1.5"/>"#,
                h.x, h.y
            );
        }
        for d in &p.piece.darts {
            let _ = writeln!(
                s,
                r#"<path class="mark" d="M{:.2},{:.2} L{:.2},{:.2} L{:.2},{:.2}"/>"#,
                d.leg_a.x, d.leg_a.y, d.apex.x, d.apex.y, d.leg_b.x, d.leg_b.y
            );
        }
        for line in &p.piece.internal {
            let _ = writeln!(s, r#"<path class="mark" d="{}"/>"#, line.to_svg());
        }
        // Only the sample size carries text, so nested sizes stay legible.
        if p.size_index == 0 {
            if let Some(b) = bounds(&p.cut) {
                let c = b.center();
                for (i, t) in piece_text(p).iter().enumerate() {
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.2}" y="{:.2}" stroke="none">{}</text>"#,
                        c.x - 25.0,
                        c.y - 10.0 + 8.0 * i as f64,
                        escape(t)
                    );
                }
            }
        }
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::super::tests::shirt;
    use super::super::{export, Format};

    #[test]
    fn svg_is_well_formed_and_true_scale() {
        let p = shirt();
        let out = export(&p, Format::Svg).unwrap();
        let text = String::from_utf8(out.bytes).unwrap();
        // Parse it with an XML reader: every element closes.
        let mut reader = quick_xml::Reader::from_str(&text);
        let mut groups = 0;
        loop {
            match reader.read_event().unwrap() {
                quick_xml::events::Event::Start(e) if e.name().as_ref() == b"g" => groups += 1,
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(groups, p.pieces.len());
        assert!(text.contains(r#"width=""#) && text.contains("mm\""));
        assert!(text.contains("Piece Name: yoke"));
    }
}
