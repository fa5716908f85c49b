//! Shanghai-style mandarin-collar top (海派新中式): stand collar, side closure (大襟).
//!
//! The front is cut whole across both sides; the closure runs from the centre-front neck to
//! the right underarm and on down the right side seam. The small front (小襟) fills the right
//! upper front under the closure with a 3 cm underlap. Frog buttons (盘扣) are marked as
//! drill holes on the closure. Set-in sleeves, on the shared torso block.

use kurbo::{Affine, CubicBez, Line, ParamCurve, ParamCurveDeriv, Point, Vec2};

use super::{
    allowance, sleeve, torso, GarmentInfo, OptionInfo, Options, Sex, SizedBy, SleeveSpec, TorsoSpec,
};
use crate::pattern::body::{Body, Measure};
use crate::pattern::geom::{cubic_length, solve_increasing, Corner, OutlineBuilder, Piece};
use crate::pattern::Error;

pub(super) const INFO: GarmentInfo = GarmentInfo {
    name: "mandarin_top",
    title: "Shanghai-style mandarin-collar top (海派新中式, side closure)",
    pieces: &["front", "inner_front", "back", "sleeve", "collar"],
    measurements: &[
        Measure::NeckGirth,
        Measure::ChestGirth,
        Measure::ShoulderBreadth,
        Measure::AcrossBack,
        Measure::BackWaistLength,
        Measure::ArmLength,
        Measure::UpperArmGirth,
        Measure::WristGirth,
    ],
    options: &[
        OptionInfo {
            name: "chest_ease",
            default: 10.0,
            min: 4.0,
            max: 30.0,
            doc: "ease added to chest girth (cm)",
        },
        OptionInfo {
            name: "collar_ease",
            default: 1.5,
            min: 0.0,
            max: 5.0,
            doc: "collar length over neck girth (cm)",
        },
        OptionInfo {
            name: "collar_height",
            default: 4.0,
            min: 2.5,
            max: 6.0,
            doc: "stand collar height (cm)",
        },
        OptionInfo {
            name: "shoulder_ease",
            default: 1.0,
            min: 0.0,
            max: 6.0,
            doc: "added to shoulder breadth (cm)",
        },
        OptionInfo {
            name: "sleeve_ease",
            default: 8.0,
            min: 2.0,
            max: 20.0,
            doc: "bicep line over upper-arm girth (cm)",
        },
        OptionInfo {
            name: "sleeve_cap_ease",
            default: 1.0,
            min: 0.0,
            max: 4.0,
            doc: "sleeve cap length over armhole length (cm)",
        },
        OptionInfo {
            name: "sleeve_hem_ease",
            default: 12.0,
            min: 4.0,
            max: 30.0,
            doc: "sleeve hem over wrist girth (cm)",
        },
        OptionInfo {
            name: "length_below_waist",
            default: 20.0,
            min: 5.0,
            max: 50.0,
            doc: "top length below the back waist (cm)",
        },
        OptionInfo {
            name: "underlap",
            default: 3.0,
            min: 2.0,
            max: 6.0,
            doc: "small-front underlap below the closure (cm)",
        },
    ],
    sex: Sex::Female,
    sized_by: SizedBy::Chest,
    draft,
};

/// Side opening below the underarm, fastened with two frog buttons (mm).
const SIDE_OPENING: f64 = 200.0;
/// Line segments approximating the underlap edge (a parallel of the closure curve).
const LAP_STEPS: usize = 24;

fn draft(body: &Body, o: &Options) -> Result<Vec<Piece>, Error> {
    let t = torso(&TorsoSpec::eased(body, o)?)?;
    let mirror = Affine::FLIP_X;
    let n = t.neck;
    let armpit = t.front_armhole.p3;
    let cf_neck = n.front.p3;
    let closure = CubicBez::new(
        cf_neck,
        Point::new(0.5 * armpit.x, cf_neck.y + 0.1 * (armpit.y - cf_neck.y)),
        // Vertical at the underarm, so the closure runs straight on down the side seam.
        Point::new(armpit.x, armpit.y - 0.45 * (armpit.y - cf_neck.y)),
        armpit,
    );

    // Big front (大襟): left side whole, right side below the closure.
    let hem = t.hem_y;
    let left_armhole = mirror * t.front_armhole;
    let left_neck = mirror * n.front;
    let mut b = OutlineBuilder::new(cf_neck);
    b.cubic("closure", closure, allowance::CURVE)
        .line(
            "side_seam_right",
            Point::new(armpit.x, hem),
            allowance::SEAM,
        )
        .corner(Corner::Square)
        .line("hem", Point::new(-armpit.x, hem), allowance::HEM)
        .corner(Corner::Square)
        .line("side_seam_left", left_armhole.p3, allowance::SEAM)
        .curve(
            "armhole_left",
            left_armhole.p2,
            left_armhole.p1,
            left_armhole.p0,
            allowance::CURVE,
        )
        .line("shoulder_left", left_neck.p0, allowance::SEAM);
    b.cubic("neckline", left_neck, allowance::CURVE);
    let mut front = Piece::new("front", 1, b.close("neckline", allowance::CURVE));
    let frogs: Vec<Point> = [0.15, 0.55, 0.95]
        .iter()
        .map(|&s| closure.eval(s))
        .collect();
    front.drill_holes.extend(&frogs);
    let side_frogs = [
        Point::new(armpit.x - 10.0, armpit.y + 80.0),
        Point::new(armpit.x - 10.0, armpit.y + 160.0),
    ];
    front.drill_holes.extend(&side_frogs);
    front.grain = Line::new((0.0, armpit.y), (0.0, hem - 50.0));

    // Small front (小襟): right upper front plus the underlap, which runs `u` under the closure
    // and on down the side opening.
    let u = o.mm("underlap");
    let lap: Vec<Point> = (0..=LAP_STEPS)
        .rev()
        .map(|i| {
            let s = i as f64 / LAP_STEPS as f64;
            let d = closure.deriv().eval(s).to_vec2().normalize();
            // Left of the closure's travel: below it at the neck, towards centre front at the side.
            closure.eval(s) + Vec2::new(-d.y, d.x) * u
        })
        .collect();
    let side_end = Point::new(armpit.x, armpit.y + SIDE_OPENING);
    let mut b = OutlineBuilder::new(cf_neck);
    b.curve(
        "neckline",
        n.front.p2,
        n.front.p1,
        n.front.p0,
        allowance::CURVE,
    )
    .line("shoulder_right", t.shoulder_point, allowance::SEAM)
    .cubic("armhole_right", t.front_armhole, allowance::CURVE)
    .line("side_seam_right", side_end, allowance::SEAM)
    .line("underlap", side_end - Vec2::new(u, 0.0), allowance::CURVE);
    for q in &lap {
        b.line("underlap", *q, allowance::CURVE);
    }
    let mut inner = Piece::new("inner_front", 1, b.close("underlap", allowance::CURVE));
    inner.drill_holes.extend(&frogs);
    inner.drill_holes.extend(&side_frogs);

    let back = {
        let side = t.back_armhole.p3;
        let mut b = OutlineBuilder::new(Point::ORIGIN);
        b.cubic("neckline", n.back, allowance::CURVE)
            .line("shoulder", t.shoulder_point, allowance::SEAM)
            .cubic("armhole", t.back_armhole, allowance::CURVE)
            .line("side_seam", Point::new(side.x, hem), allowance::SEAM)
            .corner(Corner::Square)
            .line("hem", Point::new(0.0, hem), allowance::HEM);
        Piece::new("back", 1, b.close("centre_back", allowance::FOLD))
            .on_fold(Line::new((0.0, hem), Point::ORIGIN))
    };

    let back_len = cubic_length(t.back_armhole);
    let sleeve = sleeve(&SleeveSpec {
        name: "sleeve",
        bicep: body.mm(Measure::UpperArmGirth)? + o.mm("sleeve_ease"),
        armhole: back_len + cubic_length(t.front_armhole),
        cap_ease: o.mm("sleeve_cap_ease"),
        length: body.mm(Measure::ArmLength)?,
        hem_width: body.mm(Measure::WristGirth)? + o.mm("sleeve_hem_ease"),
        hem_allowance: allowance::HEM,
        // The shoulder seam is the one match point of this simple sleeve.
        armhole_notches: &[back_len],
    })?;
    let collar = collar(
        cubic_length(n.back) + cubic_length(n.front),
        o.mm("collar_height"),
    )?;
    Ok(vec![front, inner, back, sleeve, collar])
}

/// Stand collar, half on the fold at centre back: the neck edge measures `half` and rises
/// 1.5 cm towards the front so the collar leans in to the neck; the front end is rounded.
fn collar(half: f64, height: f64) -> Result<Piece, Error> {
    let rise = 15.0;
    let curve = |l: f64| {
        CubicBez::new(
            Point::new(0.0, 0.0),
            Point::new(0.5 * l, 0.0),
            Point::new(0.8 * l, -0.3 * rise),
            Point::new(l, -rise),
        )
    };
    let l = solve_increasing(|l| cubic_length(curve(l)), rise, 3.0 * half, half).ok_or(
        Error::InvalidOption {
            option: "collar_ease".into(),
            reason: "collar cannot be drafted".into(),
        },
    )?;
    let neck = curve(l);
    let front_top = Point::new(l - 0.4 * height, -rise - height);
    let cb_top = Point::new(0.0, -height);
    let mut b = OutlineBuilder::new(Point::ORIGIN);
    b.cubic("neck_edge", neck, allowance::CURVE)
        .curve(
            "collar_front",
            Point::new(l + 0.35 * height, -rise - 0.3 * height),
            Point::new(l + 0.1 * height, -rise - height),
            front_top,
            allowance::CURVE,
        )
        .curve(
            "top_edge",
            Point::new(0.7 * l, -height - 0.6 * rise),
            Point::new(0.3 * l, -height),
            cb_top,
            allowance::CURVE,
        );
    let mut p = Piece::new("collar", 2, b.close("centre_back", allowance::FOLD))
        .on_fold(Line::new(cb_top, Point::ORIGIN));
    p.grain = Line::new((0.2 * l, -height / 2.0), (0.7 * l, -height / 2.0));
    Ok(p)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::pattern::body::tests::woman;
    use crate::pattern::draft;

    #[test]
    fn mandarin_top_reproduces_its_measurements() {
        let p = draft("mandarin_top", &woman(), &BTreeMap::new()).unwrap();
        let piece = |n: &str| p.piece(n).unwrap();
        let y = piece("back").seam("side_seam").unwrap().point_at(10.0).0.y;
        let chest = piece("front").width_at_y(y) + 2.0 * piece("back").width_at_y(y);
        assert!((chest - 960.0).abs() < 0.5, "chest {chest}");
        // Collar neck edge = neck + 1.5 cm and fits the neckline (front whole + back halves).
        let collar = 2.0 * piece("collar").seam_length("neck_edge").unwrap();
        assert!((collar - 350.0).abs() < 0.5, "collar {collar}");
        let front_neck = piece("front").seam_length("neckline").unwrap()
            + piece("inner_front").seam_length("neckline").unwrap();
        let neckline = front_neck + 2.0 * piece("back").seam_length("neckline").unwrap();
        assert!((neckline - collar).abs() < 0.5, "neckline {neckline}");
        // Cap = armhole + 1 cm within 1 mm, on both sides.
        let cap = piece("sleeve").seam_length("cap").unwrap();
        let back = piece("back").seam_length("armhole").unwrap();
        for side in ["left", "right"] {
            let name = format!("armhole_{side}");
            let front = p
                .pieces
                .iter()
                .find_map(|pc| pc.seam_length(&name).ok())
                .unwrap();
            assert!((cap - front - back - 10.0).abs() < 1.0, "{side}: cap {cap}");
        }
        // The underlap edge runs 3 cm from the closure all along it.
        let closure = piece("front").seam("closure").unwrap();
        let mut lap =
            crate::pattern::geom::flatten(&piece("inner_front").seam("underlap").unwrap().path);
        // The last segment closes the piece at centre front, across the underlap.
        lap.pop();
        for k in 1..20 {
            let (q, _) = closure.point_at(closure.length() * k as f64 / 20.0);
            let nearest = lap
                .windows(2)
                .map(|w| {
                    kurbo::ParamCurveNearest::nearest(&kurbo::Line::new(w[0], w[1]), q, 1e-9)
                        .distance_sq
                        .sqrt()
                })
                .fold(f64::MAX, f64::min);
            assert!((nearest - 30.0).abs() < 1.0, "{q:?}: {nearest}");
        }
        assert_eq!(piece("front").drill_holes.len(), 5);
        assert_eq!(piece("inner_front").drill_holes.len(), 5);
    }
}
