//! Straight skirt: front and back (halves on the fold) and a waistband.
//!
//! Hip line split in quarters with the front 0.5 cm wider; the waist suppression of each
//! quarter is taken 40% (at most 2.5 cm) in the side curve and the rest in one dart.

use kurbo::{Line, Point};

use super::{allowance, band, GarmentInfo, OptionInfo, Options, Sex, SizedBy};
use crate::pattern::body::{Body, Measure};
use crate::pattern::geom::{Corner, Dart, OutlineBuilder, Piece};
use crate::pattern::Error;

pub(super) const INFO: GarmentInfo = GarmentInfo {
    name: "skirt",
    title: "Straight skirt",
    pieces: &["front", "back", "waistband"],
    measurements: &[Measure::WaistGirth, Measure::HipGirth],
    options: &[
        OptionInfo {
            name: "waist_ease",
            default: 1.0,
            min: 0.0,
            max: 6.0,
            doc: "ease added to waist girth (cm)",
        },
        OptionInfo {
            name: "hip_ease",
            default: 4.0,
            min: 0.0,
            max: 16.0,
            doc: "ease added to hip girth (cm)",
        },
        OptionInfo {
            name: "hip_depth",
            default: 20.0,
            min: 14.0,
            max: 28.0,
            doc: "waist to hip line (cm)",
        },
        OptionInfo {
            name: "length",
            default: 60.0,
            min: 35.0,
            max: 110.0,
            doc: "skirt length below the waist (cm)",
        },
        OptionInfo {
            name: "waistband_width",
            default: 3.5,
            min: 2.0,
            max: 8.0,
            doc: "finished waistband width (cm)",
        },
    ],
    sex: Sex::Female,
    sized_by: SizedBy::Waist,
    draft,
};

/// Waistband button overlap (mm).
const OVERLAP: f64 = 30.0;

fn draft(body: &Body, o: &Options) -> Result<Vec<Piece>, Error> {
    let waist = body.mm(Measure::WaistGirth)? + o.mm("waist_ease");
    let hip = body.mm(Measure::HipGirth)? + o.mm("hip_ease");
    let front = panel("front", hip / 4.0 + 5.0, waist / 4.0 + 5.0, 90.0, o)?;
    let back = panel("back", hip / 4.0 - 5.0, waist / 4.0 - 5.0, 140.0, o)?;
    let band = band(
        "waistband",
        1,
        waist + OVERLAP,
        2.0 * o.mm("waistband_width"),
        allowance::SEAM,
    );
    Ok(vec![front, back, band])
}

/// One quarter panel: centre line on the fold at x = 0, waist at y = 0.
fn panel(
    name: &str,
    hip_w: f64,
    waist_w: f64,
    dart_length: f64,
    o: &Options,
) -> Result<Piece, Error> {
    let hip_y = o.mm("hip_depth");
    let hem_y = o.mm("length");
    let suppression = hip_w - waist_w;
    let side_take = (0.4 * suppression).clamp(suppression.min(0.0), 25.0);
    let dart = suppression - side_take;
    let side_waist = Point::new(waist_w + dart, 0.0);
    let centre = Point::new(0.0, 0.0);
    let mut b = OutlineBuilder::new(centre);
    b.line("waist", side_waist, allowance::SEAM)
        .curve(
            "side_seam",
            Point::new(side_waist.x + 0.6 * side_take, 0.35 * hip_y),
            Point::new(hip_w, 0.6 * hip_y),
            Point::new(hip_w, hip_y),
            allowance::SEAM,
        )
        .line("side_seam", Point::new(hip_w, hem_y), allowance::SEAM)
        .corner(Corner::Square)
        .line("hem", Point::new(0.0, hem_y), allowance::DEEP_HEM);
    let seams = b.close("centre", allowance::FOLD);
    let mut p = Piece::new(name, 1, seams).on_fold(Line::new((0.0, hem_y), centre));
    if dart > 0.0 {
        let x = 0.5 * (waist_w + dart);
        let d = Dart {
            leg_a: Point::new(x - dart / 2.0, 0.0),
            leg_b: Point::new(x + dart / 2.0, 0.0),
            apex: Point::new(x, dart_length),
        };
        // Drill hole 1 cm above the dart point, as cutters mark it.
        p.drill_holes.push(Point::new(x, dart_length - 10.0));
        p.darts.push(d);
    }
    p.notch("side_seam", 0.0)?.notch("side_seam", hip_y)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::pattern::body::tests::woman;
    use crate::pattern::draft;

    #[test]
    fn skirt_reproduces_waist_and_hip() {
        let p = draft("skirt", &woman(), &BTreeMap::new()).unwrap();
        let (f, b) = (p.piece("front").unwrap(), p.piece("back").unwrap());
        let hip = 2.0 * (f.width_at_y(200.0 - 1e-3) + b.width_at_y(200.0 - 1e-3));
        assert!((hip - 960.0).abs() < 0.5, "hip {hip}");
        let waist_of = |piece: &crate::pattern::Piece| {
            piece.seam_length("waist").unwrap()
                - piece.darts.iter().map(|d| d.intake()).sum::<f64>()
        };
        let waist = 2.0 * (waist_of(f) + waist_of(b));
        assert!((waist - 690.0).abs() < 0.5, "waist {waist}");
        let band = p.piece("waistband").unwrap().seam_length("top").unwrap();
        assert!((band - 720.0).abs() < 1e-6);
        // Side seams of front and back are the same length.
        let (fs, bs) = (
            f.seam_length("side_seam").unwrap(),
            b.seam_length("side_seam").unwrap(),
        );
        assert!((fs - bs).abs() < 2.0, "{fs} vs {bs}");
    }
}
