//! PDF at true scale with pdf-writer (the writer under svg2pdf and krilla: the pattern is
//! drawn directly, so no SVG round trip and no font stack). The sheet is drawn once as a form
//! XObject in mm and shown through a clip per page: tiled A4 with 1 cm overlap, crop marks
//! and page labels, or one page as wide as a plotter roll. A 10 cm test square comes first.

use kurbo::{Point, Vec2};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

use super::{bounds, piece_text, Sheet};
use crate::pattern::geom::flatten;

/// PostScript points per mm.
const PT: f32 = 72.0 / 25.4;
/// A4 portrait (mm).
pub(crate) const A4: (f64, f64) = (210.0, 297.0);
/// Unprinted margin (mm).
pub(crate) const MARGIN: f64 = 10.0;
/// Overlap between neighbouring tiles (mm).
pub(crate) const OVERLAP: f64 = 10.0;
/// Side of the scale-check square (mm).
const TEST_SQUARE: f64 = 100.0;

/// Page layout.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layout {
    /// A4 tiles.
    A4Tiled,
    /// One page on a roll of this width (mm).
    Roll { width_mm: f64 },
    /// One A3-landscape-wide page with the sheet scaled down to fit (a marker preview).
    Preview,
}

/// Width of a preview page: A3 landscape (mm).
const PREVIEW_WIDTH: f64 = 420.0;

/// Rows and columns of A4 tiles for a sheet.
pub(crate) fn tiles(width: f64, height: f64) -> (usize, usize) {
    let step_x = A4.0 - 2.0 * MARGIN - OVERLAP;
    let step_y = A4.1 - 2.0 * MARGIN - OVERLAP;
    let n = |len: f64, step: f64| (((len - OVERLAP) / step).ceil().max(1.0)) as usize;
    (n(height, step_y), n(width, step_x))
}

fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect()
}

/// Draws the sheet in mm with y up (sheet y runs down from the top edge `height`).
fn draw_sheet(sheet: &Sheet) -> Vec<u8> {
    let mut c = Content::new();
    let h = sheet.height;
    let f = |p: Point| (p.x as f32, (h - p.y) as f32);
    let poly = |c: &mut Content, pts: &[Point], close: bool| {
        let Some(first) = pts.first() else { return };
        let (x, y) = f(*first);
        c.move_to(x, y);
        for p in &pts[1..] {
            let (x, y) = f(*p);
            c.line_to(x, y);
        }
        if close {
            c.close_path();
        }
        c.stroke();
    };
    if sheet.roll {
        c.set_stroke_rgb(0.5, 0.5, 0.5);
        c.set_line_width(1.0);
        c.set_dash_pattern([10.0, 5.0], 0.0);
        c.rect(0.0, 0.0, sheet.width as f32, sheet.height as f32);
        c.stroke();
    }
    // Flaws in the roll, outlined in red.
    c.set_stroke_rgb(0.84, 0.15, 0.16);
    c.set_line_width(1.0);
    c.set_dash_pattern([], 0.0);
    for zone in &sheet.defects {
        poly(&mut c, zone, true);
    }
    for p in &sheet.placed {
        let at = |q: Point| q + p.offset;
        let grey = (p.size_index % 4) as f32 * 0.2;
        c.set_stroke_rgb(grey, 0.0, 0.0);
        c.set_line_width(0.3);
        c.set_dash_pattern([], 0.0);
        let cut: Vec<Point> = p.cut.iter().map(|q| at(*q)).collect();
        poly(&mut c, &cut, true);
        c.set_line_width(0.2);
        c.set_dash_pattern([2.0, 1.0], 0.0);
        let sew: Vec<Point> = flatten(&p.piece.sew_line()).into_iter().map(at).collect();
        poly(&mut c, &sew, false);
        c.set_dash_pattern([], 0.0);
        poly(&mut c, &[at(p.piece.grain.p0), at(p.piece.grain.p1)], false);
        if let Some(fold) = p.piece.fold {
            c.set_dash_pattern([6.0, 2.0, 1.0, 2.0], 0.0);
            poly(&mut c, &[at(fold.p0), at(fold.p1)], false);
            c.set_dash_pattern([], 0.0);
        }
        for n in &p.piece.notches {
            poly(&mut c, &[at(n.at), at(n.at + n.inward * 6.0)], false);
        }
        for d in &p.piece.darts {
            poly(&mut c, &[at(d.leg_a), at(d.apex), at(d.leg_b)], false);
        }
        for line in &p.piece.internal {
            let pts: Vec<Point> = flatten(line).into_iter().map(at).collect();
            poly(&mut c, &pts, false);
        }
        for hole in &p.piece.drill_holes {
            let q = at(*hole);
            poly(
                &mut c,
                &[q - Vec2::new(2.0, 0.0), q + Vec2::new(2.0, 0.0)],
                false,
            );
            poly(
                &mut c,
                &[q - Vec2::new(0.0, 2.0), q + Vec2::new(0.0, 2.0)],
                false,
            );
        }
        if p.size_index == 0 {
            if let Some(b) = bounds(&cut) {
                let (x, y) = f(b.center() - Vec2::new(25.0, 10.0));
                c.begin_text();
                c.set_font(Name(b"F1"), 5.0);
                c.next_line(x, y);
                for t in piece_text(p) {
                    c.show(Str(ascii(&t).as_bytes()));
                    c.next_line(0.0, -7.0);
                }
                c.end_text();
            }
        }
    }
    c.finish()
}

/// A page's content: optional test square, the sheet clipped to `clip` (page mm) with the
/// sheet point (sx, sy_top) at page mm (px, py), and labels.
struct PageSpec {
    size: (f64, f64),
    clip: (f64, f64, f64, f64),
    sheet_origin: (f64, f64),
    label: String,
    test_square: bool,
    marks: bool,
    /// Sheet mm per page mm (1 at true scale).
    scale: f64,
}

fn page_content(spec: &PageSpec, sheet_h: f64) -> Vec<u8> {
    let mut c = Content::new();
    let k = PT;
    c.transform([k, 0.0, 0.0, k, 0.0, 0.0]);
    c.set_line_width(0.3);
    if spec.test_square {
        let (x, y) = (
            MARGIN as f32 + 10.0,
            (spec.size.1 - MARGIN - 10.0 - TEST_SQUARE) as f32,
        );
        c.rect(x, y, TEST_SQUARE as f32, TEST_SQUARE as f32);
        c.stroke();
        c.begin_text();
        c.set_font(Name(b"F1"), 4.0);
        c.next_line(x, y - 6.0);
        c.show(Str(
            b"Test square: 10 cm x 10 cm. Print at 100% (no fit to page) and measure.",
        ));
        c.end_text();
    }
    if spec.marks {
        let (x0, y0, x1, y1) = spec.clip;
        let o = OVERLAP;
        // Crop marks at the corners of the overlap band: tiles are trimmed/aligned on them.
        for (x, y) in [
            (x0 + o, y0 + o),
            (x1 - o, y0 + o),
            (x0 + o, y1 - o),
            (x1 - o, y1 - o),
        ] {
            let (x, y) = (x as f32, y as f32);
            c.move_to(x - 4.0, y);
            c.line_to(x + 4.0, y);
            c.move_to(x, y - 4.0);
            c.line_to(x, y + 4.0);
            c.stroke();
        }
    }
    c.begin_text();
    c.set_font(Name(b"F1"), 3.5);
    c.next_line(MARGIN as f32, (MARGIN / 2.0) as f32);
    c.show(Str(ascii(&spec.label).as_bytes()));
    c.end_text();
    let (x0, y0, x1, y1) = spec.clip;
    if x1 <= x0 {
        return c.finish();
    }
    c.save_state();
    c.rect(x0 as f32, y0 as f32, (x1 - x0) as f32, (y1 - y0) as f32);
    c.clip_nonzero();
    c.end_path();
    // Form space is sheet mm with y up from the sheet's bottom: sheet (sx, sy) = form (sx, H - sy).
    let (ox, oy) = spec.sheet_origin;
    let k = spec.scale as f32;
    c.transform([
        k,
        0.0,
        0.0,
        k,
        ox as f32,
        (oy - sheet_h * spec.scale) as f32,
    ]);
    c.x_object(Name(b"Sheet"));
    c.restore_state();
    c.finish()
}

pub(super) fn write(sheet: &Sheet, layout: Layout) -> Vec<u8> {
    let mut specs = Vec::new();
    match layout {
        Layout::A4Tiled => {
            let (rows, cols) = tiles(sheet.width, sheet.height);
            specs.push(PageSpec {
                size: A4,
                clip: (0.0, 0.0, 0.0, 0.0),
                sheet_origin: (0.0, 0.0),
                label: format!(
                    "{} {}: {} x {} A4 tiles (rows A.., columns 1..), {} mm overlap; join tiles on the crop marks",
                    sheet.garment,
                    sheet.sizes.join(" "),
                    rows,
                    cols,
                    OVERLAP
                ),
                test_square: true,
                marks: false,
                scale: 1.0,
            });
            let (step_x, step_y) = (A4.0 - 2.0 * MARGIN - OVERLAP, A4.1 - 2.0 * MARGIN - OVERLAP);
            for r in 0..rows {
                for col in 0..cols {
                    let row_name = char::from(b'A' + (r % 26) as u8);
                    specs.push(PageSpec {
                        size: A4,
                        clip: (MARGIN, MARGIN, A4.0 - MARGIN, A4.1 - MARGIN),
                        // The tile's top-left sheet point sits at the printable top-left.
                        sheet_origin: (
                            MARGIN - col as f64 * step_x,
                            A4.1 - MARGIN + r as f64 * step_y,
                        ),
                        label: format!("Tile {row_name}{} of {rows} x {cols}", col + 1),
                        test_square: false,
                        marks: true,
                        scale: 1.0,
                    });
                }
            }
        }
        Layout::Roll { width_mm } => {
            let top = 2.0 * MARGIN + TEST_SQUARE + 20.0;
            let size = (width_mm, sheet.height + top + MARGIN);
            specs.push(PageSpec {
                size,
                clip: (MARGIN, MARGIN, width_mm - MARGIN, size.1 - top),
                sheet_origin: (MARGIN, size.1 - top),
                label: format!(
                    "{} {}: roll {width_mm} mm",
                    sheet.garment,
                    sheet.sizes.join(" ")
                ),
                test_square: true,
                marks: false,
                scale: 1.0,
            });
        }
        Layout::Preview => {
            let scale = ((PREVIEW_WIDTH - 2.0 * MARGIN) / sheet.width.max(1.0)).min(1.0);
            let top = 2.0 * MARGIN;
            let size = (PREVIEW_WIDTH, sheet.height * scale + top + MARGIN);
            specs.push(PageSpec {
                size,
                clip: (MARGIN, MARGIN, PREVIEW_WIDTH - MARGIN, size.1 - top),
                sheet_origin: (MARGIN, size.1 - top),
                label: format!(
                    "{}: {:.0} x {:.0} mm at 1:{:.1}, a preview (cut from the DXF or HPGL file)",
                    sheet.garment,
                    sheet.width,
                    sheet.height,
                    1.0 / scale
                ),
                test_square: false,
                marks: false,
                scale,
            });
        }
    }

    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let font = Ref::new(3);
    let form = Ref::new(4);
    let mut next = 5;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let pages: Vec<(Ref, Ref)> = specs.iter().map(|_| (alloc(), alloc())).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(pages.iter().map(|(p, _)| *p))
        .count(pages.len() as i32);
    pdf.type1_font(font).base_font(Name(b"Helvetica"));
    let drawing = draw_sheet(sheet);
    {
        let mut x = pdf.form_xobject(form, &drawing);
        x.bbox(Rect::new(0.0, 0.0, sheet.width as f32, sheet.height as f32));
        x.resources().fonts().pair(Name(b"F1"), font);
        x.finish();
    }
    for (spec, (page_id, content_id)) in specs.iter().zip(&pages) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(
            0.0,
            0.0,
            spec.size.0 as f32 * PT,
            spec.size.1 as f32 * PT,
        ));
        page.parent(tree);
        page.contents(*content_id);
        let mut res = page.resources();
        res.fonts().pair(Name(b"F1"), font);
        res.x_objects().pair(Name(b"Sheet"), form);
        res.finish();
        page.finish();
        let content = page_content(spec, sheet.height);
        pdf.stream(*content_id, &content);
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{run_reference_tool, shirt};
    use super::super::{export, Format, Sheet};
    use super::tiles;

    /// pypdf (tools/pattern_check_pdf.py) measures the pages, the test square and the clips.
    #[test]
    fn pypdf_reads_true_scale_pages() {
        let p = shirt();
        let sheet = Sheet::new(std::slice::from_ref(&p), "MTM", super::super::ROW_WIDTH).unwrap();
        let (rows, cols) = tiles(sheet.width, sheet.height);
        let bytes = export(&p, Format::Pdf).unwrap().bytes;
        let Some(report) = run_reference_tool("pattern_check_pdf.py", &bytes, "tiles.pdf") else {
            return;
        };
        let pages = report["pages"].as_array().unwrap();
        assert_eq!(pages.len(), 1 + rows * cols);
        let mm = |v: &serde_json::Value| v.as_f64().unwrap();
        for page in pages {
            assert!((mm(&page["width_mm"]) - 210.0).abs() < 0.01);
            assert!((mm(&page["height_mm"]) - 297.0).abs() < 0.01);
        }
        let square = &pages[0]["rects_mm"][0];
        assert!((mm(&square[0]) - 100.0).abs() < 0.01 && (mm(&square[1]) - 100.0).abs() < 0.01);
        for tile in &pages[1..] {
            assert_eq!(tile["draws_form"], true);
            let clip = &tile["rects_mm"][0];
            assert!((mm(&clip[0]) - 190.0).abs() < 0.01 && (mm(&clip[1]) - 277.0).abs() < 0.01);
        }
        let bbox = &pages[1]["form_bbox_mm"];
        assert!(
            (mm(&bbox[0]) - sheet.width).abs() < 0.01 && (mm(&bbox[1]) - sheet.height).abs() < 0.01
        );

        let roll = export(&p, Format::PdfRoll).unwrap().bytes;
        let report = run_reference_tool("pattern_check_pdf.py", &roll, "roll.pdf").unwrap();
        let page = &report["pages"][0];
        assert!((mm(&page["width_mm"]) - 914.0).abs() < 0.01);
        // Every piece fits inside the printable roll width.
        assert!(mm(&page["form_bbox_mm"][0]) <= 914.0 - 10.0 + 20.0);
    }

    /// A marker 6 m long previews on one A3-wide page, scaled so the whole roll shows.
    #[test]
    fn a_marker_previews_on_one_page() {
        use super::super::{export_marker, MarkerPiece};
        let p = shirt();
        let pieces: Vec<MarkerPiece> = p
            .pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| MarkerPiece {
                piece: piece.transformed(kurbo::Affine::translate((800.0 * i as f64, 700.0))),
                garment: "shirt".into(),
                size: "MTM".into(),
                order: "o1".into(),
                copy: 0,
            })
            .collect();
        let bytes = export_marker("Marker m1", &pieces, 1500.0, 6000.0, &[], Format::Pdf)
            .unwrap()
            .bytes;
        let Some(report) = run_reference_tool("pattern_check_pdf.py", &bytes, "marker.pdf") else {
            return;
        };
        let pages = report["pages"].as_array().unwrap();
        assert_eq!(pages.len(), 1);
        let mm = |v: &serde_json::Value| v.as_f64().unwrap();
        let scale = 400.0 / 6000.0;
        assert!((mm(&pages[0]["width_mm"]) - 420.0).abs() < 0.01);
        assert!((mm(&pages[0]["height_mm"]) - (1500.0 * scale + 30.0)).abs() < 0.01);
        assert_eq!(pages[0]["draws_form"], true);
    }

    #[test]
    fn tiled_pdf_has_cover_plus_tiles() {
        let p = shirt();
        let sheet = Sheet::new(std::slice::from_ref(&p), "MTM", super::super::ROW_WIDTH).unwrap();
        let (rows, cols) = tiles(sheet.width, sheet.height);
        let bytes = export(&p, Format::Pdf).unwrap().bytes;
        assert!(bytes.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&bytes);
        let pages = text.matches("/MediaBox").count();
        assert_eq!(pages, 1 + rows * cols);
        assert!(text.contains(&format!("/Count {}", 1 + rows * cols)));
        // A4 media box in points.
        assert!(text.contains("[0 0 595.27563 841.8898]"), "A4 media box");
        let roll = export(&p, Format::PdfRoll).unwrap().bytes;
        let roll = String::from_utf8_lossy(&roll);
        assert_eq!(roll.matches("/MediaBox").count(), 1);
        assert!(roll.contains("[0 0 2590.86"), "914 mm roll width in points");
    }
}
