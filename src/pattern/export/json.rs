//! The pattern as JSON: per piece and size, the seams (SVG path data, mm, y down), the cut
//! line, marks and the sheet placement.

use serde::Serialize;

use super::Sheet;
use crate::pattern::geom::{Dart, Notch};
use crate::pattern::Error;

#[derive(Serialize)]
struct SeamOut<'a> {
    name: &'a str,
    allowance_mm: f64,
    corner: crate::pattern::geom::Corner,
    length_mm: f64,
    d: String,
}

#[derive(Serialize)]
struct PieceOut<'a> {
    name: &'a str,
    size: &'a str,
    quantity: u32,
    offset: [f64; 2],
    seams: Vec<SeamOut<'a>>,
    cut_line: Vec<[f64; 2]>,
    grain: [[f64; 2]; 2],
    fold: Option<[[f64; 2]; 2]>,
    notches: &'a [Notch],
    drill_holes: Vec<[f64; 2]>,
    darts: &'a [Dart],
    internal: Vec<String>,
}

#[derive(Serialize)]
struct PatternOut<'a> {
    garment: &'a str,
    sample_size: &'a str,
    sizes: &'a [&'a str],
    units: &'static str,
    width_mm: f64,
    height_mm: f64,
    pieces: Vec<PieceOut<'a>>,
}

pub(super) fn write(sheet: &Sheet) -> Result<Vec<u8>, Error> {
    let xy = |p: kurbo::Point| [p.x, p.y];
    let pieces = sheet
        .placed
        .iter()
        .map(|p| PieceOut {
            name: &p.piece.name,
            size: p.size,
            quantity: p.piece.quantity,
            offset: [p.offset.x, p.offset.y],
            seams: p
                .piece
                .seams
                .iter()
                .map(|s| SeamOut {
                    name: &s.name,
                    allowance_mm: s.allowance,
                    corner: s.corner,
                    length_mm: s.length(),
                    d: s.path.to_svg(),
                })
                .collect(),
            cut_line: p.cut.iter().map(|q| xy(*q)).collect(),
            grain: [xy(p.piece.grain.p0), xy(p.piece.grain.p1)],
            fold: p.piece.fold.map(|f| [xy(f.p0), xy(f.p1)]),
            notches: &p.piece.notches,
            drill_holes: p.piece.drill_holes.iter().map(|q| xy(*q)).collect(),
            darts: &p.piece.darts,
            internal: p.piece.internal.iter().map(|l| l.to_svg()).collect(),
        })
        .collect();
    let out = PatternOut {
        garment: sheet.garment,
        sample_size: sheet.sample_size,
        sizes: &sheet.sizes,
        units: "mm",
        width_mm: sheet.width,
        height_mm: sheet.height,
        pieces,
    };
    Ok(serde_json::to_vec_pretty(&out)?)
}

#[cfg(test)]
mod tests {
    use super::super::tests::shirt;
    use super::super::{export, Format};

    #[test]
    fn json_lists_pieces_with_seam_lengths() {
        let p = shirt();
        let v: serde_json::Value =
            serde_json::from_slice(&export(&p, Format::Json).unwrap().bytes).unwrap();
        let pieces = v["pieces"].as_array().unwrap();
        assert_eq!(pieces.len(), 7);
        let cuff = pieces.iter().find(|x| x["name"] == "cuff").unwrap();
        assert_eq!(cuff["seams"][0]["length_mm"].as_f64().unwrap(), 250.0);
    }
}
