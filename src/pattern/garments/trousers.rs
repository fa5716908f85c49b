//! Trousers: front, back and waistband, in the manner of Aldrich's trouser block.
//!
//! Body rise = waist height - inside leg; hip line split in quarters with the back 1 cm
//! wider; crotch extensions hip/16 (front) and hip/10 (back); back waist raised 2 cm at the
//! centre back with one 2 cm dart.

use kurbo::{CubicBez, Point};

use super::{allowance, band, GarmentInfo, OptionInfo, Options, Sex, SizedBy};
use crate::pattern::body::{Body, Measure};
use crate::pattern::geom::{Corner, Dart, OutlineBuilder, Piece};
use crate::pattern::Error;

pub(super) const INFO: GarmentInfo = GarmentInfo {
    name: "trousers",
    title: "Trousers (straight leg, waistband)",
    pieces: &["front", "back", "waistband"],
    measurements: &[
        Measure::WaistGirth,
        Measure::HipGirth,
        Measure::WaistHeight,
        Measure::InsideLeg,
    ],
    options: &[
        OptionInfo {
            name: "waist_ease",
            default: 2.0,
            min: 0.0,
            max: 8.0,
            doc: "ease added to waist girth (cm)",
        },
        OptionInfo {
            name: "hip_ease",
            default: 8.0,
            min: 2.0,
            max: 20.0,
            doc: "ease added to hip girth (cm)",
        },
        OptionInfo {
            name: "rise_ease",
            default: 1.5,
            min: 0.0,
            max: 5.0,
            doc: "added to the body rise (cm)",
        },
        OptionInfo {
            name: "hem_width",
            default: 44.0,
            min: 30.0,
            max: 70.0,
            doc: "leg circumference at the hem (cm)",
        },
        OptionInfo {
            name: "floor_clearance",
            default: 3.0,
            min: 0.0,
            max: 40.0,
            doc: "hem height above the floor (cm)",
        },
        OptionInfo {
            name: "waistband_width",
            default: 4.0,
            min: 2.5,
            max: 7.0,
            doc: "finished waistband width (cm)",
        },
    ],
    sex: Sex::Male,
    sized_by: SizedBy::Waist,
    draft,
};

/// Back dart intake (mm).
const BACK_DART: f64 = 20.0;
/// Waistband button overlap (mm).
const OVERLAP: f64 = 40.0;

struct Frame {
    rise: f64,
    hip_y: f64,
    knee_y: f64,
    hem_y: f64,
    hip: f64,
    waist: f64,
    hem: f64,
}

fn draft(body: &Body, o: &Options) -> Result<Vec<Piece>, Error> {
    let rise = body.mm(Measure::WaistHeight)? - body.mm(Measure::InsideLeg)? + o.mm("rise_ease");
    let hem_y = body.mm(Measure::WaistHeight)? - o.mm("floor_clearance");
    let f = Frame {
        rise,
        hip_y: 2.0 * rise / 3.0,
        knee_y: rise + 0.5 * (hem_y - rise) - 50.0,
        hem_y,
        hip: body.mm(Measure::HipGirth)? + o.mm("hip_ease"),
        waist: body.mm(Measure::WaistGirth)? + o.mm("waist_ease"),
        hem: o.mm("hem_width"),
    };
    let band = band(
        "waistband",
        1,
        f.waist + OVERLAP,
        2.0 * o.mm("waistband_width"),
        allowance::SEAM,
    );
    Ok(vec![front(&f)?, back(&f)?, band])
}

/// Front: side seam at x = 0 on the hip line, centre front at the quarter hip - 1 cm.
fn front(f: &Frame) -> Result<Piece, Error> {
    let hip_w = f.hip / 4.0 - 10.0;
    let ext = f.hip / 16.0;
    let cf_waist = Point::new(hip_w - 10.0, 0.0);
    let side_waist = Point::new(cf_waist.x - (f.waist / 4.0 - 10.0), 0.0);
    let leg = Leg {
        crease: 0.5 * (hip_w + ext) - 5.0,
        hem_half: 0.5 * (f.hem / 2.0 - 10.0),
        knee_half: 0.5 * (f.hem / 2.0 + 10.0),
    };
    let fork = Point::new(hip_w + ext, f.rise);
    let mut b = OutlineBuilder::new(side_waist);
    b.line("waist", cf_waist, allowance::SEAM)
        .line("crotch", Point::new(hip_w, f.hip_y), allowance::CURVE)
        .curve(
            "crotch",
            Point::new(hip_w, f.hip_y + 0.6 * (f.rise - f.hip_y)),
            Point::new(hip_w + 0.3 * ext, f.rise),
            fork,
            allowance::CURVE,
        )
        .curve(
            "inseam",
            Point::new(fork.x - 0.4 * ext, f.rise + 30.0),
            Point::new(leg.crease + leg.knee_half, f.knee_y - 100.0),
            Point::new(leg.crease + leg.knee_half, f.knee_y),
            allowance::SEAM,
        );
    leg.below_knee(&mut b, f);
    let side_top = CubicBez::new(
        Point::new(0.0, f.hip_y),
        Point::new(0.0, 0.5 * f.hip_y),
        Point::new(side_waist.x - 5.0, 0.3 * f.hip_y),
        side_waist,
    );
    b.cubic("side_seam", side_top, allowance::SEAM);
    let seams = b.close("waist", allowance::SEAM);
    leg.mark(Piece::new("front", 2, seams), f)
}

/// Back: side seam at x = 0 on the hip line, centre back raised and angled in by 2 cm.
fn back(f: &Frame) -> Result<Piece, Error> {
    let hip_w = f.hip / 4.0 + 10.0;
    let ext = f.hip / 10.0;
    let cb_waist = Point::new(hip_w - 20.0, -20.0);
    let waist_len = f.waist / 4.0 + 10.0 + BACK_DART;
    // Side waist on y = 0, `waist_len` from the raised centre-back point.
    let dx = (waist_len * waist_len - 20.0 * 20.0).max(0.0).sqrt();
    let side_waist = Point::new(cb_waist.x - dx, 0.0);
    let leg = Leg {
        crease: 0.5 * (hip_w + ext) - 15.0,
        hem_half: 0.5 * (f.hem / 2.0 + 10.0),
        knee_half: 0.5 * (f.hem / 2.0 + 30.0),
    };
    let fork = Point::new(hip_w + ext, f.rise + 10.0);
    let mut b = OutlineBuilder::new(side_waist);
    b.line("waist", cb_waist, allowance::SEAM)
        .line("crotch", Point::new(hip_w, f.hip_y), allowance::CURVE)
        .curve(
            "crotch",
            Point::new(hip_w + 0.1 * ext, f.hip_y + 0.7 * (f.rise - f.hip_y)),
            Point::new(hip_w + 0.4 * ext, f.rise + 10.0),
            fork,
            allowance::CURVE,
        )
        .curve(
            "inseam",
            Point::new(fork.x - 0.5 * ext, f.rise + 40.0),
            Point::new(leg.crease + leg.knee_half, f.knee_y - 100.0),
            Point::new(leg.crease + leg.knee_half, f.knee_y),
            allowance::SEAM,
        );
    leg.below_knee(&mut b, f);
    b.curve(
        "side_seam",
        Point::new(0.0, 0.5 * f.hip_y),
        Point::new(side_waist.x - 5.0, 0.3 * f.hip_y),
        side_waist,
        allowance::SEAM,
    );
    let seams = b.close("waist", allowance::SEAM);
    let mut p = Piece::new("back", 2, seams);
    let mid = side_waist.lerp(cb_waist, 0.5);
    let along = (cb_waist - side_waist).normalize();
    let down = kurbo::Vec2::new(-along.y, along.x);
    let apex = mid + down * 120.0;
    p.darts.push(Dart {
        leg_a: mid - along * (BACK_DART / 2.0),
        leg_b: mid + along * (BACK_DART / 2.0),
        apex,
    });
    p.drill_holes.push(apex - down * 10.0);
    leg.mark(p, f)
}

/// The leg below the knee line, which front and back share in shape: straight seams from the
/// knee to a square hem, then the side seam curving up to the hip line at x = 0.
#[derive(Clone, Copy)]
struct Leg {
    /// The crease (grain line) across the roll.
    crease: f64,
    /// Half the leg's width at the hem and at the knee line.
    hem_half: f64,
    knee_half: f64,
}

impl Leg {
    /// Continues an outline that has reached the inseam at the knee line: down to the hem,
    /// across it and up the side seam to the hip line.
    fn below_knee(&self, b: &mut OutlineBuilder, f: &Frame) {
        let Leg {
            crease,
            hem_half,
            knee_half,
        } = *self;
        b.line(
            "inseam",
            Point::new(crease + hem_half, f.hem_y),
            allowance::SEAM,
        )
        .corner(Corner::Square)
        .line(
            "hem",
            Point::new(crease - hem_half, f.hem_y),
            allowance::DEEP_HEM,
        )
        .corner(Corner::Square)
        .line(
            "side_seam",
            Point::new(crease - knee_half, f.knee_y),
            allowance::SEAM,
        )
        .curve(
            "side_seam",
            Point::new(crease - knee_half, f.knee_y - 150.0),
            Point::new(0.0, f.rise),
            Point::new(0.0, f.hip_y),
            allowance::SEAM,
        );
    }

    /// The grain line along the crease and notches at the knee line on both leg seams.
    fn mark(&self, mut p: Piece, f: &Frame) -> Result<Piece, Error> {
        p.grain = kurbo::Line::new((self.crease, f.hip_y), (self.crease, f.hem_y - 100.0));
        let below_knee = (f.hem_y - f.knee_y).hypot(self.hem_half - self.knee_half);
        let inseam = p.seam_length("inseam")?;
        p.notch("inseam", inseam - below_knee)?
            .notch("side_seam", below_knee)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::pattern::body::tests::man;
    use crate::pattern::draft;

    #[test]
    fn trousers_reproduce_waist_hip_and_lengths() {
        let p = draft("trousers", &man(), &BTreeMap::new()).unwrap();
        let (f, b) = (p.piece("front").unwrap(), p.piece("back").unwrap());
        let rise = 1040.0 - 800.0 + 15.0;
        let hip_y = 2.0 * rise / 3.0 - 1e-3;
        let hip = 2.0 * (f.width_at_y(hip_y) + b.width_at_y(hip_y));
        assert!((hip - (980.0 + 80.0)).abs() < 1.0, "hip {hip}");
        let waist = 2.0
            * (f.seam_length("waist").unwrap() + b.seam_length("waist").unwrap()
                - b.darts[0].intake());
        assert!((waist - (840.0 + 20.0)).abs() < 0.5, "waist {waist}");
        let band = p.piece("waistband").unwrap().seam_length("top").unwrap();
        assert!((band - 900.0).abs() < 1e-6);
        // Outside leg of the front reaches from waist to 3 cm above the floor.
        let height = kurbo::Shape::bounding_box(&f.sew_line()).y1;
        assert!((height - 1010.0).abs() < 1e-6, "{height}");
        // Inseams of front and back within 1.5 cm (back is eased onto the front).
        let (fi, bi) = (
            f.seam_length("inseam").unwrap(),
            b.seam_length("inseam").unwrap(),
        );
        assert!((fi - bi).abs() < 15.0, "{fi} vs {bi}");
    }
}
