//! What a cutter cuts for an order: the garment drafted from the order's measurements and
//! options, each piece opened out if it was drafted on the fold (markers are cut single-ply),
//! turned so that its grain line runs along the roll, once per garment and per piece quantity,
//! with every second copy of a pair mirrored for the other side of the body.

use std::collections::BTreeMap;

use kurbo::Affine;

use super::fabric::Fabric;
use super::{invalid, Error};
use crate::nest;
use crate::pattern::geom::polygon_area;
use crate::pattern::{self, Body, Measure, Pattern, Piece};

/// One piece to cut, ready to be placed on a roll whose length runs along x.
#[derive(Debug, Clone)]
pub struct CutPiece {
    /// The order it belongs to.
    pub order_id: String,
    /// Garment name.
    pub garment: String,
    /// Size label (`MTM` for made to measure).
    pub size: String,
    /// Piece name from the garment's draft.
    pub piece: String,
    /// Which copy of this piece in the order, counting from 0 over garments and pairs.
    pub copy: usize,
    /// True for the other-hand copy of a pair.
    pub mirrored: bool,
    /// The piece, grain along x, in draft units (mm) about the draft origin.
    pub shape: Piece,
}

/// Drafts the order's garment from its measurements (cm) and options. Measurements the
/// pattern area does not use are ignored; a missing or implausible one, an unknown garment or
/// option names the order field at fault.
pub fn draft(
    garment: &str,
    measurements: &BTreeMap<String, f64>,
    options: &BTreeMap<String, serde_json::Value>,
) -> Result<Pattern, Error> {
    let mut body = Body::new();
    for (name, value) in measurements {
        if let Some(m) = Measure::from_name(name) {
            body.set(m, *value);
        }
    }
    let mut numbers = BTreeMap::new();
    for (name, value) in options {
        let v = value.as_f64().ok_or_else(|| {
            invalid(
                &format!("options.{name}"),
                format!("{value} is not a number (options are in cm)"),
            )
        })?;
        numbers.insert(name.clone(), v);
    }
    pattern::draft(garment, &body, &numbers).map_err(pattern_field)
}

/// A drafting error as an order input error, naming the order field.
fn pattern_field(e: pattern::Error) -> Error {
    use pattern::Error as E;
    let field = match &e {
        E::Measurement { field, .. } if field == "measurements" => "measurements".to_owned(),
        E::Measurement { field, .. } => format!("measurements.{field}"),
        E::MissingMeasurement { field } => format!("measurements.{field}"),
        E::UnknownGarment { .. } => "garment".to_owned(),
        E::UnknownOption { option, .. } | E::InvalidOption { option, .. } => {
            format!("options.{option}")
        }
        // The measurements cannot make this garment's pieces.
        _ => "measurements".to_owned(),
    };
    invalid(&field, e.to_string())
}

/// Every piece the order's `quantity` garments need, as the cutter lays them on the roll.
pub fn cut_pieces(
    order_id: &str,
    quantity: i64,
    pattern: &Pattern,
) -> Result<Vec<CutPiece>, Error> {
    let mut out = Vec::new();
    for drafted in &pattern.pieces {
        let whole = drafted.unfolded().map_err(pattern_field)?;
        let along_roll = whole.transformed(Affine::rotate(-whole.grain_angle()));
        // A pair drafted once (sleeves, fronts) is cut as a right and a left piece; a piece
        // opened out from the fold is symmetric, so its copies are all alike.
        let pairs = drafted.fold.is_none() && drafted.quantity >= 2;
        let other_hand = pairs.then(|| along_roll.mirrored());
        let per_garment = drafted.quantity as usize;
        for garment in 0..quantity.max(0) as usize {
            for k in 0..per_garment {
                let mirrored = pairs && k % 2 == 1;
                out.push(CutPiece {
                    order_id: order_id.to_owned(),
                    garment: pattern.garment.clone(),
                    size: pattern.size.clone(),
                    piece: drafted.name.clone(),
                    copy: garment * per_garment + k,
                    mirrored,
                    shape: match (&other_hand, mirrored) {
                        (Some(m), true) => m.clone(),
                        _ => along_roll.clone(),
                    },
                });
            }
        }
    }
    Ok(out)
}

/// The nesting problem for `pieces` on `fabric`: alike copies (same order, piece and hand) share
/// one nest piece whose id is [`nest_id`]. Cut lines are the outlines, so the seam allowance is
/// part of what is nested.
pub fn problem(name: &str, fabric: &Fabric, pieces: &[CutPiece]) -> Result<nest::Problem, Error> {
    let mut kinds: Vec<nest::Piece> = Vec::new();
    for p in pieces {
        let id = nest_id(p);
        if let Some(kind) = kinds.iter_mut().find(|k| k.id == id) {
            kind.quantity += 1;
            continue;
        }
        let outline = p
            .shape
            .cut_line()
            .map_err(pattern_field)?
            .into_iter()
            .map(|q| nest::Point { x: q.x, y: q.y })
            .collect();
        kinds.push(nest::Piece {
            id,
            outline,
            quantity: 1,
            rotations: fabric.rotations.clone(),
        });
    }
    Ok(nest::Problem {
        name: name.to_owned(),
        strip_width: fabric.roll_width_mm,
        min_gap: fabric.min_gap_mm,
        pieces: kinds,
        defects: vec![],
    })
}

/// Area inside a piece's cut line (mm²).
pub fn cut_area(p: &CutPiece) -> Result<f64, Error> {
    let ring: Vec<[f64; 2]> = p
        .shape
        .cut_line()
        .map_err(pattern_field)?
        .iter()
        .map(|q| [q.x, q.y])
        .collect();
    Ok(polygon_area(&ring))
}

/// The nest piece id of a cut piece: alike copies share it.
pub fn nest_id(p: &CutPiece) -> String {
    format!(
        "{}/{}{}",
        p.order_id,
        p.piece,
        if p.mirrored { "/mirrored" } else { "" }
    )
}

/// Checks that every piece fits across `fabric`'s roll in one of its allowed rotations, naming
/// the piece and its width otherwise (under `field`).
pub fn check_fits(field: &str, fabric: &Fabric, pieces: &[CutPiece]) -> Result<(), Error> {
    // Why a bound first: cleaning up the cut lines (removing the loops where allowances cross)
    // and flattening the curves was most of the drafting work of accepting an order. A
    // rectangle holding the cut line comes from the sew line's curves alone; only a piece whose
    // rectangle is near the roll's width needs its exact cut line.
    if pieces.iter().all(|p| fits_by_bounds(fabric, p)) {
        return Ok(());
    }
    let problem = problem("fit check", fabric, pieces)?;
    match problem.validate() {
        Ok(()) => Ok(()),
        Err(nest::Error::PieceWiderThanRoll { piece, extent, .. }) => {
            let name = pieces
                .iter()
                .find(|p| nest_id(p) == piece)
                .map_or(piece.clone(), |p| {
                    format!("{} of order {}", p.piece, p.order_id)
                });
            Err(invalid(
                field,
                format!(
                    "piece {name} is {extent:.0} mm across the roll in every rotation fabric {} allows ({}), wider than its {:.0} mm roll",
                    fabric.id,
                    fabric
                        .rotations
                        .iter()
                        .map(|r| format!("{r}°"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    fabric.roll_width_mm
                ),
            ))
        }
        Err(e) => Err(invalid(field, e.to_string())),
    }
}

/// True when the piece's cut-line bounds fit across the roll in one of the fabric's rotations
/// (false says nothing: the exact cut line may still fit, or fail with the reason).
fn fits_by_bounds(fabric: &Fabric, p: &CutPiece) -> bool {
    fabric.rotations.iter().any(|r| {
        p.shape
            .cut_bounds(Affine::rotate(r.to_radians()))
            .is_ok_and(|b| b.height() <= fabric.roll_width_mm)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::fabric::Catalog;

    fn shirt_measurements() -> BTreeMap<String, f64> {
        [
            ("stature", 172.0),
            ("neck_girth", 38.0),
            ("chest_girth", 96.0),
            ("waist_girth", 84.0),
            ("hip_girth", 98.0),
            ("shoulder_breadth", 40.0),
            ("across_back", 38.0),
            ("back_waist_length", 45.0),
            ("arm_length", 60.0),
            ("upper_arm_girth", 31.0),
            ("wrist_girth", 17.0),
            ("hand_length", 19.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn field(e: Error) -> String {
        match e {
            Error::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn drafting_errors_name_the_order_field() {
        let m = shirt_measurements();
        draft("shirt", &m, &BTreeMap::new()).unwrap();
        assert_eq!(
            field(draft("cape", &m, &BTreeMap::new()).unwrap_err()),
            "garment"
        );
        let mut short = m.clone();
        short.remove("wrist_girth");
        assert_eq!(
            field(draft("shirt", &short, &BTreeMap::new()).unwrap_err()),
            "measurements.wrist_girth"
        );
        let fit = BTreeMap::from([("fit".to_owned(), serde_json::json!("slim"))]);
        assert_eq!(field(draft("shirt", &m, &fit).unwrap_err()), "options.fit");
    }

    #[test]
    fn pieces_lie_along_the_grain_in_pairs() {
        let pattern = draft("shirt", &shirt_measurements(), &BTreeMap::new()).unwrap();
        let pieces = cut_pieces("o1", 2, &pattern).unwrap();
        let per_garment: usize = pattern.pieces.iter().map(|p| p.quantity as usize).sum();
        assert_eq!(pieces.len(), 2 * per_garment);
        for p in &pieces {
            assert!(p.shape.grain_angle().abs() < 1e-9, "{} grain", p.piece);
            assert!(p.shape.fold.is_none());
        }
        // Fronts come as a right and a left; the back (on the fold) is cut whole, never mirrored.
        let fronts: Vec<&CutPiece> = pieces.iter().filter(|p| p.piece == "front").collect();
        assert_eq!(fronts.len(), 4);
        assert_eq!(fronts.iter().filter(|p| p.mirrored).count(), 2);
        assert!(pieces
            .iter()
            .filter(|p| p.piece == "back")
            .all(|p| !p.mirrored));
        let problem = problem(
            "t",
            Catalog::bundled().unwrap().get("poplin-white").unwrap(),
            &pieces,
        )
        .unwrap();
        assert_eq!(
            problem.pieces.iter().map(|k| k.quantity).sum::<usize>(),
            pieces.len()
        );
        assert!(problem
            .pieces
            .iter()
            .any(|k| k.id == "o1/front/mirrored" && k.quantity == 2));
    }

    /// The widest piece's exact width across the roll, over the fabric's rotations.
    fn widest(
        pieces: &[CutPiece],
        rotations: &[f64],
        ring: fn(&Piece) -> Vec<kurbo::Point>,
    ) -> f64 {
        pieces
            .iter()
            .map(|p| {
                let points = ring(&p.shape);
                rotations
                    .iter()
                    .map(|&r| {
                        let (s, c) = r.to_radians().sin_cos();
                        let ys = points.iter().map(|q| q.x * s + q.y * c);
                        let (lo, hi) = ys
                            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
                                (lo.min(y), hi.max(y))
                            });
                        hi - lo
                    })
                    .fold(f64::INFINITY, f64::min)
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn the_fit_check_is_exact_at_the_roll_width() {
        let pattern = draft("shirt", &shirt_measurements(), &BTreeMap::new()).unwrap();
        let pieces = cut_pieces("o1", 1, &pattern).unwrap();
        let rotations = [0.0, 180.0];
        let exact = widest(&pieces, &rotations, |p| p.cut_line().unwrap());
        // Far from the roll's width the cheap bounds settle it; near it, the exact cut line.
        let bound = pieces
            .iter()
            .map(|p| {
                p.shape
                    .cut_bounds(kurbo::Affine::IDENTITY)
                    .unwrap()
                    .height()
            })
            .fold(0.0, f64::max);
        assert!(bound > exact && bound < exact + 100.0, "{bound} vs {exact}");
        let roll = |width: f64| {
            Catalog::from_csv(&format!(
                "id,name,roll_width_mm,rotations,min_gap_mm\nr,Roll,{width},\"0,180\",0\n"
            ))
            .unwrap()
        };
        let fits = |width: f64| check_fits("fabric", roll(width).get("r").unwrap(), &pieces);
        fits(exact + 1e-6).unwrap();
        fits(exact + 500.0).unwrap();
        assert!(fits(exact - 0.5).is_err());
    }

    #[test]
    fn a_piece_wider_than_the_roll_is_named() {
        let pattern = draft("shirt", &shirt_measurements(), &BTreeMap::new()).unwrap();
        let pieces = cut_pieces("o1", 1, &pattern).unwrap();
        let catalog = Catalog::bundled().unwrap();
        check_fits("fabric", catalog.get("poplin-white").unwrap(), &pieces).unwrap();
        let ribbon = Catalog::from_csv(
            "id,name,roll_width_mm,rotations,min_gap_mm\nribbon,Ribbon,300,\"0,180\",2\n",
        )
        .unwrap();
        let err = check_fits("fabric", ribbon.get("ribbon").unwrap(), &pieces).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("fabric: piece ") && text.contains("of order o1"),
            "{text}"
        );
        assert!(text.contains("300 mm roll"), "{text}");
    }
}
