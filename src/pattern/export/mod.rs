//! Pattern files: SVG preview, PDF at true scale (tiled A4 or plotter roll), DXF-AAMA,
//! HPGL/PLT and JSON. All writers share one layout of the pieces on a sheet (mm, y down).

mod dxf;
mod hpgl;
mod json;
mod pdf;
mod svg;

use std::str::FromStr;

use kurbo::{Point, Rect, Vec2};
use serde::{Deserialize, Serialize};

use super::geom::Piece;
use super::grading::GradedSet;
use super::{Error, Pattern};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// SVG at 1:1 in mm.
    Svg,
    /// PDF at true scale tiled on A4 with overlap marks and a 10 cm test square.
    Pdf,
    /// PDF at true scale on one page as wide as a plotter roll (91.4 cm).
    PdfRoll,
    /// DXF in the AAMA / ASTM D6673 convention (R12 text, mm).
    DxfAama,
    /// HPGL for cutting plotters (40 units per mm).
    Hpgl,
    /// Pieces, seams and cut lines as JSON.
    Json,
}

impl Format {
    /// Every format, for listings.
    pub const ALL: [Format; 6] = [
        Format::Svg,
        Format::Pdf,
        Format::PdfRoll,
        Format::DxfAama,
        Format::Hpgl,
        Format::Json,
    ];

    /// Name used on the CLI and in the API.
    pub fn name(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Pdf => "pdf",
            Format::PdfRoll => "pdf-roll",
            Format::DxfAama => "dxf-aama",
            Format::Hpgl => "hpgl",
            Format::Json => "json",
        }
    }

    /// Media type of the file.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Svg => "image/svg+xml",
            Format::Pdf | Format::PdfRoll => "application/pdf",
            Format::DxfAama => "image/vnd.dxf",
            Format::Hpgl => "application/vnd.hp-hpgl",
            Format::Json => "application/json",
        }
    }

    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Pdf | Format::PdfRoll => "pdf",
            Format::DxfAama => "dxf",
            Format::Hpgl => "plt",
            Format::Json => "json",
        }
    }
}

/// The OpenAPI schema of a format name: one of [`Format::ALL`] by [`Format::name`].
pub fn format_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(Format::ALL.map(Format::name)))
        .build()
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Format, Error> {
        match s {
            "plt" => Ok(Format::Hpgl),
            "dxf" => Ok(Format::DxfAama),
            _ => Format::ALL
                .into_iter()
                .find(|f| f.name() == s)
                .ok_or_else(|| Error::InvalidOption {
                    option: "format".into(),
                    reason: format!(
                        "unknown format `{s}` (known: svg, pdf, pdf-roll, dxf-aama, hpgl, json)"
                    ),
                }),
        }
    }
}

/// An exported file.
#[derive(Debug, Clone)]
pub struct Export {
    /// File contents.
    pub bytes: Vec<u8>,
    /// Media type for HTTP answers.
    pub media_type: &'static str,
    /// File extension without the dot.
    pub extension: &'static str,
}

/// One piece of a cutting marker, already moved to where it is cut: roll coordinates in mm, x
/// along the roll from its start, y across it from one selvedge.
#[derive(Debug, Clone)]
pub struct MarkerPiece {
    /// The placed piece.
    pub piece: Piece,
    /// Garment it belongs to (the piece's AAMA category).
    pub garment: String,
    /// Size label (`MTM` for made to measure).
    pub size: String,
    /// The order it is cut for.
    pub order: String,
    /// Which copy of this piece in the order.
    pub copy: usize,
}

/// Writes a cutting marker: every piece where it lies on a roll `roll_width` wide and `length`
/// long, each labelled with its order and size, and the roll's `defects` (polygons, mm, in the
/// marker's coordinates) shaded in the SVG and PDF previews. PDF is a one-page preview scaled to
/// an A3 landscape width (a marker is metres long); DXF-AAMA and HPGL are true scale for the
/// cutter.
pub fn export_marker(
    name: &str,
    pieces: &[MarkerPiece],
    roll_width: f64,
    length: f64,
    defects: &[Vec<[f64; 2]>],
    format: Format,
) -> Result<Export, Error> {
    let sheet = Sheet::marker(name, pieces, roll_width, length, defects)?;
    let bytes = match format {
        Format::Svg => svg::write(&sheet).into_bytes(),
        Format::Pdf => pdf::write(&sheet, pdf::Layout::Preview),
        Format::DxfAama => dxf::write(&sheet).into_bytes(),
        Format::Hpgl => hpgl::write(&sheet).into_bytes(),
        Format::Json => json::write(&sheet)?,
        Format::PdfRoll => {
            return Err(Error::InvalidOption {
                option: "format".into(),
                reason: "a marker is longer than a page; plot it at true scale from hpgl or dxf-aama, or preview it as pdf or svg".into(),
            })
        }
    };
    Ok(Export {
        bytes,
        media_type: format.media_type(),
        extension: format.extension(),
    })
}

/// Writes one pattern (one size).
pub fn export(pattern: &Pattern, format: Format) -> Result<Export, Error> {
    write(std::slice::from_ref(pattern), &pattern.size, format)
}

/// Writes a graded set, sizes nested on their grade reference point (the draft origin).
pub fn export_graded(set: &GradedSet, format: Format) -> Result<Export, Error> {
    write(&set.patterns, &set.sample_size, format)
}

fn write(patterns: &[Pattern], sample_size: &str, format: Format) -> Result<Export, Error> {
    let row_width = match format {
        Format::PdfRoll => ROLL_WIDTH - 2.0 * pdf::MARGIN,
        _ => ROW_WIDTH,
    };
    let sheet = Sheet::new(patterns, sample_size, row_width)?;
    let bytes = match format {
        Format::Svg => svg::write(&sheet).into_bytes(),
        Format::Pdf => pdf::write(&sheet, pdf::Layout::A4Tiled),
        Format::PdfRoll => pdf::write(
            &sheet,
            pdf::Layout::Roll {
                width_mm: ROLL_WIDTH,
            },
        ),
        Format::DxfAama => dxf::write(&sheet).into_bytes(),
        Format::Hpgl => hpgl::write(&sheet).into_bytes(),
        Format::Json => json::write(&sheet)?,
    };
    Ok(Export {
        bytes,
        media_type: format.media_type(),
        extension: format.extension(),
    })
}

/// Gap between pieces on the sheet (mm).
const GAP: f64 = 20.0;
/// Width after which pieces wrap to a new row (mm).
const ROW_WIDTH: f64 = 1800.0;
/// Plotter roll width for `pdf-roll` (mm; the common 36-inch roll).
const ROLL_WIDTH: f64 = 914.0;

/// One piece of one size, placed on the sheet.
pub(crate) struct Placed<'a> {
    pub piece: &'a Piece,
    pub garment: &'a str,
    pub size: &'a str,
    pub size_index: usize,
    /// On a marker: the order, its position among the marker's orders, and the piece's copy.
    pub order: Option<(&'a str, usize, usize)>,
    /// Added to draft coordinates to get sheet coordinates.
    pub offset: Vec2,
    /// Cut line in draft coordinates.
    pub cut: Vec<Point>,
}

impl Placed<'_> {
    /// The piece's name on the sheet, unique within it: piece and size, plus order and copy on
    /// a marker (DXF block names, SVG ids).
    pub fn tag(&self) -> String {
        match self.order {
            None => dxf::block_name(&self.piece.name, self.size),
            Some((_, index, copy)) => dxf::block_name(
                &self.piece.name,
                &format!("{}_O{}_C{copy}", self.size, index + 1),
            ),
        }
    }
}

/// Pieces of every size laid out in rows (sizes of a piece share one placement), or the pieces
/// of a marker where they are cut.
pub(crate) struct Sheet<'a> {
    pub garment: &'a str,
    pub sample_size: &'a str,
    pub sizes: Vec<&'a str>,
    pub placed: Vec<Placed<'a>>,
    pub width: f64,
    pub height: f64,
    /// A marker's roll (from the origin to `width` x `height`), drawn in previews.
    pub roll: bool,
    /// Flaws in a marker's roll (polygons in sheet coordinates), drawn in previews only: the
    /// cutter has nothing to cut there.
    pub defects: Vec<Vec<Point>>,
}

impl<'a> Sheet<'a> {
    fn new(
        patterns: &'a [Pattern],
        sample_size: &'a str,
        row_width: f64,
    ) -> Result<Sheet<'a>, Error> {
        let first = patterns.first().ok_or(Error::Export {
            format: "any",
            reason: "no pattern to export".into(),
        })?;
        let mut placed = Vec::new();
        let (mut x, mut y, mut row_h, mut width) = (GAP, GAP, 0.0f64, 0.0f64);
        for i in 0..first.pieces.len() {
            let mut group = Vec::new();
            let mut bbox: Option<Rect> = None;
            for (s, pattern) in patterns.iter().enumerate() {
                let Some(p) = pattern.pieces.get(i) else {
                    continue;
                };
                let cut = p.cut_line()?;
                if let Some(r) = bounds(&cut) {
                    bbox = Some(bbox.map_or(r, |b| b.union(r)));
                }
                group.push((p, pattern.size.as_str(), s, cut));
            }
            let Some(b) = bbox else { continue };
            if x + b.width() > row_width && x > GAP {
                x = GAP;
                y += row_h + GAP;
                row_h = 0.0;
            }
            let offset = Vec2::new(x - b.x0, y - b.y0);
            for (p, size, s, cut) in group {
                placed.push(Placed {
                    piece: p,
                    garment: &first.garment,
                    size,
                    size_index: s,
                    order: None,
                    offset,
                    cut,
                });
            }
            x += b.width() + GAP;
            width = width.max(x);
            row_h = row_h.max(b.height());
        }
        Ok(Sheet {
            garment: &first.garment,
            sample_size,
            sizes: patterns.iter().map(|p| p.size.as_str()).collect(),
            placed,
            width,
            height: y + row_h + GAP,
            roll: false,
            defects: Vec::new(),
        })
    }

    fn marker(
        name: &'a str,
        pieces: &'a [MarkerPiece],
        roll_width: f64,
        length: f64,
        defects: &[Vec<[f64; 2]>],
    ) -> Result<Sheet<'a>, Error> {
        if pieces.is_empty() {
            return Err(Error::Export {
                format: "any",
                reason: "the marker has no piece to cut".into(),
            });
        }
        let mut orders: Vec<&str> = Vec::new();
        let mut sizes: Vec<&str> = Vec::new();
        let mut placed = Vec::with_capacity(pieces.len());
        for m in pieces {
            let index = orders
                .iter()
                .position(|o| *o == m.order)
                .unwrap_or_else(|| {
                    orders.push(&m.order);
                    orders.len() - 1
                });
            if !sizes.contains(&m.size.as_str()) {
                sizes.push(&m.size);
            }
            placed.push(Placed {
                piece: &m.piece,
                garment: &m.garment,
                size: &m.size,
                size_index: 0,
                order: Some((&m.order, index, m.copy)),
                offset: Vec2::ZERO,
                cut: m.piece.cut_line()?,
            });
        }
        Ok(Sheet {
            garment: name,
            sample_size: sizes.first().copied().unwrap_or("MTM"),
            sizes,
            placed,
            width: length,
            height: roll_width,
            roll: true,
            defects: defects
                .iter()
                .map(|zone| zone.iter().map(|&[x, y]| Point::new(x, y)).collect())
                .collect(),
        })
    }
}

/// Bounding box of points.
pub(crate) fn bounds(points: &[Point]) -> Option<Rect> {
    let first = *points.first()?;
    Some(
        points
            .iter()
            .fold(Rect::from_points(first, first), |r, p| r.union_pt(*p)),
    )
}

/// Standard piece text (AAMA piece attributes), also used as labels in previews; a marker's
/// pieces also name their order and copy, so the cutter can bundle them per order.
pub(crate) fn piece_text(p: &Placed) -> Vec<String> {
    let mut text = vec![
        format!("Piece Name: {}", p.piece.name),
        format!("Size: {}", p.size),
        format!("Quantity: {}", p.piece.quantity),
        format!("Category: {}", p.garment),
    ];
    if let Some((order, _, copy)) = p.order {
        text.push(format!("Order: {order}"));
        text.push(format!("Copy: {}", copy + 1));
    }
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::process::Command;

    use super::*;

    /// Runs a reference reader from tools/ (pinned venv at `$PATTERN_EZDXF_VENV` or
    /// target/venvs/ezdxf, made by tools/pattern_setup.sh on first use) on `bytes`.
    pub(crate) fn run_reference_tool(
        script: &str,
        bytes: &[u8],
        tag: &str,
    ) -> Option<serde_json::Value> {
        static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let venv = std::env::var("PATTERN_EZDXF_VENV")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target/venvs/ezdxf").into());
        let python = PathBuf::from(venv).join("bin/python");
        {
            let _one_at_a_time = SETUP.lock().unwrap_or_else(|p| p.into_inner());
            if !python.exists() {
                let setup = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/pattern_setup.sh");
                let status = Command::new("bash").arg(setup).status().unwrap();
                assert!(
                    status.success(),
                    "{setup} failed: the DXF/PDF read-back tests need it"
                );
            }
        }
        let path =
            std::env::temp_dir().join(format!("atelier-pattern-{}-{tag}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let out = Command::new(python)
            .arg(format!("{}/tools/{script}", env!("CARGO_MANIFEST_DIR")))
            .arg(&path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(serde_json::from_slice(&out.stdout).unwrap())
    }
    use crate::pattern::body::tests::man;
    use crate::pattern::draft;

    pub(crate) fn shirt() -> Pattern {
        draft("shirt", &man(), &BTreeMap::new()).unwrap()
    }

    #[test]
    fn formats_parse_and_have_media_types() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
            assert!(!f.media_type().is_empty());
        }
        let e = "docx".parse::<Format>().unwrap_err();
        assert_eq!(e.field().as_deref(), Some("format"));
    }

    #[test]
    fn layout_keeps_pieces_apart() {
        let p = shirt();
        let s = Sheet::new(std::slice::from_ref(&p), "MTM", ROW_WIDTH).unwrap();
        assert_eq!(s.placed.len(), p.pieces.len());
        let boxes: Vec<Rect> = s
            .placed
            .iter()
            .map(|pl| bounds(&pl.cut).unwrap() + pl.offset)
            .collect();
        for (i, a) in boxes.iter().enumerate() {
            assert!(a.x0 >= 0.0 && a.y0 >= 0.0 && a.x1 <= s.width && a.y1 <= s.height);
            for b in &boxes[i + 1..] {
                assert!(a.intersect(*b).area() <= 0.0, "{a:?} overlaps {b:?}");
            }
        }
    }
}
