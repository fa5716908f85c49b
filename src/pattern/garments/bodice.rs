//! Women's bodice block after the Bunka 8th-generation (文化式原型) formulas, B = bust girth
//! (cm in the formulas):
//!
//! - body width B/2 + 6; armhole depth B/12 + 13.7 below the back neck point;
//! - back width B/8 + 7.4; chest width B/8 + 6.2; side line midway between the two;
//! - front neck width B/24 + 3.4, back neck width 0.2 more, front neck depth 0.5 more;
//! - front neck level B/5 + 8.3 above the chest line; shoulder slopes 18° back, 22° front;
//! - bust dart of (B/4 - 2.5)° from the armhole at the chest-width line.
//!
//! Waist suppression down to W/2 + 3 goes 30% to the side seams and the rest to one waist
//! dart per piece.

use kurbo::{Affine, BezPath, CubicBez, Line, Point, Vec2};

use super::{allowance, GarmentInfo, OptionInfo, Options, Sex, SizedBy};
use crate::pattern::body::{Body, Measure};
use crate::pattern::geom::{Corner, Dart, OutlineBuilder, Piece};
use crate::pattern::Error;

pub(super) const INFO: GarmentInfo = GarmentInfo {
    name: "bodice",
    title: "Women's bodice block (Bunka 8th generation)",
    pieces: &["front", "back"],
    measurements: &[
        Measure::ChestGirth,
        Measure::WaistGirth,
        Measure::BackWaistLength,
    ],
    options: OPTIONS,
    sex: Sex::Female,
    sized_by: SizedBy::Chest,
    draft,
};

pub(super) const OPTIONS: &[OptionInfo] = &[
    OptionInfo {
        name: "chest_ease",
        default: 12.0,
        min: 6.0,
        max: 24.0,
        doc: "ease over bust girth; Bunka's B/2 + 6 is 12 (cm)",
    },
    OptionInfo {
        name: "waist_ease",
        default: 6.0,
        min: 0.0,
        max: 20.0,
        doc: "ease over waist girth; Bunka's W/2 + 3 is 6 (cm)",
    },
];

/// A Bunka block below the waist, for dresses: hip line and hem.
pub(super) struct Skirt {
    /// Waist to hip line (mm).
    pub hip_depth: f64,
    /// Hip girth with ease (mm).
    pub hip: f64,
    /// Waist to hem (mm).
    pub length: f64,
}

fn draft(body: &Body, o: &Options) -> Result<Vec<Piece>, Error> {
    let (front, back) = bunka(body, o, None)?;
    Ok(vec![front, back])
}

/// Bunka values (mm) for bust `b` (mm, body).
pub(super) struct Bunka {
    /// Half body width B/2 + ease/2.
    pub half_width: f64,
    /// Armhole depth from the back neck point.
    pub armhole_depth: f64,
    /// Back piece chest-line width (back-width line to the side line midpoint).
    pub back_chest: f64,
    /// Front piece chest-line width.
    pub front_chest: f64,
    /// Front neck width.
    pub front_neck_width: f64,
    /// Bust dart angle (degrees).
    pub dart_deg: f64,
}

impl Bunka {
    pub(super) fn new(b: f64, ease: f64) -> Bunka {
        let half_width = b / 2.0 + ease / 2.0;
        let back_width = b / 8.0 + 74.0;
        let chest_width = b / 8.0 + 62.0;
        let back_chest = 0.5 * (back_width + (half_width - chest_width));
        Bunka {
            half_width,
            armhole_depth: b / 12.0 + 137.0,
            back_chest,
            front_chest: half_width - back_chest,
            front_neck_width: b / 24.0 + 34.0,
            dart_deg: (b / 10.0) / 4.0 - 2.5,
        }
    }
}

/// Drafts front and back; with `skirt` they run on to the hem with fish-eye darts.
pub(super) fn bunka(
    body: &Body,
    o: &Options,
    skirt: Option<Skirt>,
) -> Result<(Piece, Piece), Error> {
    let b = body.mm(Measure::ChestGirth)?;
    let k = Bunka::new(b, o.mm("chest_ease"));
    let waist_y = body.mm(Measure::BackWaistLength)?;
    let chest_y = k.armhole_depth;
    let half_waist = (body.mm(Measure::WaistGirth)? + o.mm("waist_ease")) / 2.0;
    let suppression = (k.half_width - half_waist).max(0.0);
    let side_take = 0.15 * suppression;
    let back_dart = 0.35 * suppression;
    let front_dart = 0.35 * suppression;

    // Back: centre back at x = 0, back neck point at the origin.
    let bnw = k.front_neck_width + 2.0;
    let hnp_b = Point::new(bnw, -bnw / 3.0);
    let back_width = b / 8.0 + 74.0;
    let slope = |deg: f64| Vec2::new(deg.to_radians().cos(), deg.to_radians().sin());
    // Front first: its shoulder ends 1.8 cm beyond the chest-width line.
    let fnw = k.front_neck_width;
    let front_top = chest_y - (b / 5.0 + 83.0);
    let hnp_f = Point::new(fnw, front_top);
    let chest_width = b / 8.0 + 62.0;
    let dir_f = slope(22.0);
    let sp_f = hnp_f + dir_f * ((chest_width + 18.0 - fnw) / dir_f.x);
    let shoulder = (sp_f - hnp_f).hypot();
    let sp_b = hnp_b + slope(18.0) * shoulder;

    let back_armhole = CubicBez::new(
        sp_b,
        Point::new(back_width, sp_b.y + 0.5 * (chest_y - sp_b.y)),
        Point::new(back_width + 0.3 * (k.back_chest - back_width), chest_y),
        Point::new(k.back_chest, chest_y),
    );
    let back = {
        let side_waist = Point::new(k.back_chest - side_take, waist_y);
        let mut o = OutlineBuilder::new(Point::ORIGIN);
        o.curve(
            "neckline",
            Point::new(0.6 * bnw, 0.0),
            Point::new(bnw, 0.4 * hnp_b.y),
            hnp_b,
            allowance::CURVE,
        )
        .line("shoulder", sp_b, allowance::SEAM)
        .cubic("armhole", back_armhole, allowance::CURVE)
        .line("side_seam", side_waist, allowance::SEAM);
        let cb_end = below_waist(&mut o, side_waist, skirt.as_ref(), false);
        let seams = o.close("centre_back", allowance::FOLD);
        let mut p = Piece::new("back", 1, seams).on_fold(Line::new(cb_end, Point::ORIGIN));
        let x = 0.5 * back_width;
        add_waist_dart(
            &mut p,
            x,
            waist_y,
            back_dart,
            chest_y + 20.0,
            skirt.as_ref(),
        );
        p
    };

    // Front: centre front at x = 0, same waist and chest lines.
    let cf_neck = Point::new(0.0, front_top + fnw + 5.0);
    let bp = Point::new(chest_width / 2.0 + 7.0, chest_y);
    let front_width = k.front_chest;
    // Lower armhole from the chest-width line (a third up the armhole) to the side.
    let leg_a = Point::new(chest_width, chest_y - 0.3 * (chest_y - sp_f.y));
    let rot = Affine::rotate_about(-k.dart_deg.to_radians(), bp);
    let leg_b = rot * leg_a;
    let upper = CubicBez::new(
        sp_f,
        Point::new(sp_f.x - 8.0, sp_f.y + 0.4 * (leg_b.y - sp_f.y)),
        rot * Point::new(chest_width, leg_a.y - 25.0),
        leg_b,
    );
    let lower = CubicBez::new(
        leg_a,
        Point::new(chest_width, leg_a.y + 0.6 * (chest_y - leg_a.y)),
        Point::new(chest_width + 0.4 * (front_width - chest_width), chest_y),
        Point::new(front_width, chest_y),
    );
    let front = {
        let side_waist = Point::new(front_width - side_take, waist_y);
        let mut o = OutlineBuilder::new(cf_neck);
        o.curve(
            "neckline",
            Point::new(0.55 * fnw, cf_neck.y),
            Point::new(fnw, front_top + 0.55 * (fnw + 5.0)),
            hnp_f,
            allowance::CURVE,
        )
        .line("shoulder", sp_f, allowance::SEAM)
        .cubic("armhole", upper, allowance::CURVE)
        .line("armhole", leg_a, allowance::CURVE)
        .cubic("armhole", lower, allowance::CURVE)
        .line("side_seam", side_waist, allowance::SEAM);
        let cf_end = below_waist(&mut o, side_waist, skirt.as_ref(), true);
        let seams = o.close("centre_front", allowance::FOLD);
        let mut p = Piece::new("front", 1, seams).on_fold(Line::new(cf_end, cf_neck));
        p.darts.push(Dart {
            leg_a,
            leg_b,
            apex: bp,
        });
        p.drill_holes
            .push(bp + (leg_a.midpoint(leg_b) - bp).normalize() * 20.0);
        add_waist_dart(
            &mut p,
            bp.x,
            waist_y,
            front_dart,
            chest_y + 30.0,
            skirt.as_ref(),
        );
        p
    };
    Ok((front, back))
}

/// Finishes the outline below the side waist: straight to the centre line for a bodice, or
/// out to the hip and down to the hem for a dress. Returns the bottom of the centre line.
fn below_waist(
    o: &mut OutlineBuilder,
    side_waist: Point,
    skirt: Option<&Skirt>,
    front: bool,
) -> Point {
    let Some(s) = skirt else {
        let end = Point::new(0.0, side_waist.y);
        o.corner(Corner::Mitre).line("waist", end, allowance::SEAM);
        return end;
    };
    // The front takes 0.5 cm more of the hip than the back, as in the skirt.
    let hip_w = s.hip / 4.0 + if front { 5.0 } else { -5.0 };
    let hip_y = side_waist.y + s.hip_depth;
    let hem_y = side_waist.y + s.length;
    o.curve(
        "side_seam",
        Point::new(side_waist.x, side_waist.y + 0.35 * s.hip_depth),
        Point::new(hip_w, hip_y - 0.35 * s.hip_depth),
        Point::new(hip_w, hip_y),
        allowance::SEAM,
    )
    .line("side_seam", Point::new(hip_w, hem_y), allowance::SEAM)
    .corner(Corner::Square);
    let end = Point::new(0.0, hem_y);
    o.line("hem", end, allowance::DEEP_HEM);
    end
}

/// A waist dart at `x` of `intake` up to `apex_y`; with a skirt it becomes a fish-eye dart
/// ending 3 cm above the hip line.
fn add_waist_dart(
    p: &mut Piece,
    x: f64,
    waist_y: f64,
    intake: f64,
    apex_y: f64,
    skirt: Option<&Skirt>,
) {
    if intake <= 0.0 {
        return;
    }
    let (a, b) = (
        Point::new(x - intake / 2.0, waist_y),
        Point::new(x + intake / 2.0, waist_y),
    );
    p.darts.push(Dart {
        leg_a: a,
        leg_b: b,
        apex: Point::new(x, apex_y),
    });
    p.drill_holes.push(Point::new(x, apex_y + 10.0));
    if let Some(s) = skirt {
        let low = waist_y + s.hip_depth - 30.0;
        p.darts.push(Dart {
            leg_a: a,
            leg_b: b,
            apex: Point::new(x, low),
        });
        p.drill_holes.push(Point::new(x, low - 10.0));
        let mut line = BezPath::new();
        line.move_to(a);
        line.line_to(b);
        p.internal.push(line);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::pattern::body::tests::woman;
    use crate::pattern::draft;

    #[test]
    fn bodice_reproduces_bunka_values() {
        let body = woman();
        let p = draft("bodice", &body, &BTreeMap::new()).unwrap();
        let (f, b) = (p.piece("front").unwrap(), p.piece("back").unwrap());
        let bust = 860.0;
        // Chest line 1 mm under the armhole depth B/12 + 13.7: halves make B/2 + 6.
        let y = bust / 12.0 + 137.0 + 1.0;
        let half = f.width_at_y(y) + b.width_at_y(y);
        assert!(
            (half - (bust / 2.0 + 60.0)).abs() < 1.5,
            "half chest {half}"
        );
        // Bust dart angle (B/4 - 2.5) degrees, B in cm.
        let angle = f.darts[0].angle_deg();
        assert!((angle - (86.0 / 4.0 - 2.5)).abs() < 0.01, "dart {angle}");
        // Waist (less darts) = W/2 + 3 per half.
        let waist = |p: &crate::pattern::Piece| {
            p.seam_length("waist").unwrap()
                - p.darts
                    .iter()
                    .filter(|d| d.leg_a.y == d.leg_b.y)
                    .map(|d| d.intake())
                    .sum::<f64>()
        };
        let w = waist(f) + waist(b);
        assert!((w - (680.0 / 2.0 + 30.0)).abs() < 0.5, "waist {w}");
        // Shoulders: back and front of equal length.
        let (fs, bs) = (
            f.seam_length("shoulder").unwrap(),
            b.seam_length("shoulder").unwrap(),
        );
        assert!((fs - bs).abs() < 0.1);
        // Front neck width B/24 + 3.4.
        let neck = kurbo::Shape::bounding_box(&f.seam("neckline").unwrap().path).width();
        assert!((neck - (bust / 24.0 + 34.0)).abs() < 0.01, "{neck}");
    }
}
