//! Men's shirt: front, back, yoke, sleeve, cuff, collar and stand.
//!
//! A classic-fit block in the manner of Aldrich's shirt block: the chest line is split a
//! quarter each side with the back 1 cm wider, the neckline is solved to the collar length,
//! and the sleeve cap is solved to the armhole plus cap ease.

use kurbo::{BezPath, CubicBez, Line, Point, Vec2};

use super::{
    allowance, band, sleeve, torso, GarmentInfo, OptionInfo, Options, Sex, SizedBy, SleeveSpec,
    Torso, TorsoSpec,
};
use crate::pattern::body::{Body, Measure};
use crate::pattern::geom::{
    cubic_length, solve_increasing, split_at_y, Corner, OutlineBuilder, Piece,
};
use crate::pattern::Error;

pub(super) const INFO: GarmentInfo = GarmentInfo {
    name: "shirt",
    title: "Men's shirt (classic fit, yoke, two-piece collar)",
    pieces: &["front", "back", "yoke", "sleeve", "cuff", "collar", "stand"],
    measurements: &[
        Measure::NeckGirth,
        Measure::ChestGirth,
        Measure::ShoulderBreadth,
        Measure::BackWaistLength,
        Measure::ArmLength,
        Measure::UpperArmGirth,
        Measure::WristGirth,
        Measure::AcrossBack,
    ],
    options: &[
        OptionInfo {
            name: "chest_ease",
            default: 12.0,
            min: 0.0,
            max: 40.0,
            doc: "ease added to chest girth (cm)",
        },
        OptionInfo {
            name: "collar_ease",
            default: 2.0,
            min: 0.0,
            max: 6.0,
            doc: "stand length over neck girth (cm)",
        },
        OptionInfo {
            name: "shoulder_ease",
            default: 2.0,
            min: 0.0,
            max: 8.0,
            doc: "added to shoulder breadth (cm)",
        },
        OptionInfo {
            name: "sleeve_ease",
            default: 10.0,
            min: 2.0,
            max: 25.0,
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
            name: "cuff_ease",
            default: 6.0,
            min: 2.0,
            max: 12.0,
            doc: "cuff length over wrist girth, before the 2 cm button overlap (cm)",
        },
        OptionInfo {
            name: "cuff_depth",
            default: 6.0,
            min: 3.0,
            max: 12.0,
            doc: "finished cuff depth (cm)",
        },
        OptionInfo {
            name: "length_below_waist",
            default: 30.0,
            min: 10.0,
            max: 50.0,
            doc: "shirt length below the back waist (cm)",
        },
        OptionInfo {
            name: "yoke_depth",
            default: 7.0,
            min: 4.0,
            max: 12.0,
            doc: "yoke depth at centre back (cm)",
        },
        OptionInfo {
            name: "stand_height",
            default: 3.2,
            min: 2.0,
            max: 4.5,
            doc: "collar stand height at centre back (cm)",
        },
        OptionInfo {
            name: "collar_depth",
            default: 4.5,
            min: 3.0,
            max: 8.0,
            doc: "collar fall depth at centre back (cm)",
        },
        OptionInfo {
            name: "button_extension",
            default: 1.75,
            min: 1.0,
            max: 3.0,
            doc: "button stand beyond centre front (cm)",
        },
    ],
    sex: Sex::Male,
    sized_by: SizedBy::Chest,
    draft,
};

/// Spacing of a double (back) notch (mm).
const DOUBLE_NOTCH: f64 = 6.0;
/// Cuff button overlap (mm).
const CUFF_OVERLAP: f64 = 20.0;
/// Sleeve pleats taken into the cuff (mm, total).
const SLEEVE_PLEATS: f64 = 40.0;

fn draft(body: &Body, o: &Options) -> Result<Vec<Piece>, Error> {
    let t = torso(&TorsoSpec::eased(body, o)?)?;
    let yoke_y = o.mm("yoke_depth");
    let (back_upper, back_lower) =
        split_at_y(t.back_armhole, yoke_y).ok_or(Error::InvalidOption {
            option: "yoke_depth".into(),
            reason: "yoke line misses the armhole".into(),
        })?;

    let front = front(&t, o)?;
    let back = back(&t, back_lower)?;
    let yoke = yoke(&t, back_upper)?;

    let cuff_length = body.mm(Measure::WristGirth)? + o.mm("cuff_ease") + CUFF_OVERLAP;
    // Armhole notches from the back underarm: double back notch, shoulder seam, front notch.
    let back_lower = back.seam_length("armhole")?;
    let back_total = back_lower + yoke.seam_length("armhole")?;
    let back_notch = back_lower - back.notches.first().map_or(0.0, |n| n.distance);
    let sleeve = sleeve(&SleeveSpec {
        name: "sleeve",
        bicep: body.mm(Measure::UpperArmGirth)? + o.mm("sleeve_ease"),
        armhole: back_total + front.seam_length("armhole")?,
        cap_ease: o.mm("sleeve_cap_ease"),
        length: body.mm(Measure::ArmLength)? + 20.0 - o.mm("cuff_depth"),
        hem_width: cuff_length - CUFF_OVERLAP + SLEEVE_PLEATS,
        hem_allowance: allowance::SEAM,
        armhole_notches: &[
            back_notch - DOUBLE_NOTCH,
            back_notch,
            back_total,
            back_total + front.notches.first().map_or(0.0, |n| n.distance),
        ],
    })?;
    let mut cuff = band("cuff", 4, cuff_length, o.mm("cuff_depth"), allowance::SEAM);
    let depth = o.mm("cuff_depth");
    cuff.drill_holes = vec![
        Point::new(CUFF_OVERLAP / 2.0, depth / 2.0),
        Point::new(cuff_length - CUFF_OVERLAP / 2.0, depth / 2.0),
    ];
    let (stand, stand_top) = stand(&t, o)?;
    let collar = collar(stand_top, o)?;
    Ok(vec![front, back, yoke, sleeve, cuff, collar, stand])
}

fn front(t: &Torso, o: &Options) -> Result<Piece, Error> {
    let ext = o.mm("button_extension");
    let n = t.neck;
    let cf_neck = n.front.p3;
    let side = t.front_armhole.p3;
    let hem_side = Point::new(side.x, t.hem_y);
    let hem_edge = Point::new(-ext, t.hem_y);
    let mut b = OutlineBuilder::new(hem_edge);
    // The front edge carries a grown-on facing of 3.5 cm.
    b.line("front_edge", Point::new(-ext, cf_neck.y), 35.0)
        .corner(Corner::Square)
        .line("extension_top", cf_neck, allowance::CURVE)
        .curve("neckline", n.front.p2, n.front.p1, n.hnp, allowance::CURVE)
        .line("shoulder", t.shoulder_point, allowance::SEAM)
        .cubic("armhole", t.front_armhole, allowance::CURVE)
        .line("side_seam", hem_side, allowance::SEAM)
        .corner(Corner::Square);
    let seams = b.close("hem", allowance::HEM);
    let mut p = Piece::new("front", 2, seams);
    let mut cf = BezPath::new();
    cf.move_to(cf_neck);
    cf.line_to((0.0, t.hem_y));
    p.internal.push(cf);
    // Buttons on centre front: the first 7 cm below the neck, then every 9 cm.
    let mut y = cf_neck.y + 70.0;
    while y < t.hem_y - 90.0 {
        p.drill_holes.push(Point::new(0.0, y));
        y += 90.0;
    }
    let armhole = p.seam_length("armhole")?;
    p.notch("armhole", armhole * 0.5)
}

fn back(t: &Torso, lower_armhole: CubicBez) -> Result<Piece, Error> {
    let top = Point::new(0.0, lower_armhole.p0.y);
    let side = lower_armhole.p3;
    let hem_side = Point::new(side.x, t.hem_y);
    let hem_cb = Point::new(0.0, t.hem_y);
    let mut b = OutlineBuilder::new(top);
    b.line("yoke_seam", lower_armhole.p0, allowance::SEAM)
        .cubic("armhole", lower_armhole, allowance::CURVE)
        .line("side_seam", hem_side, allowance::SEAM)
        .corner(Corner::Square)
        .line("hem", hem_cb, allowance::HEM);
    let seams = b.close("centre_back", allowance::FOLD);
    let p = Piece::new("back", 1, seams).on_fold(Line::new(hem_cb, top));
    let armhole = p.seam_length("armhole")?;
    p.notch("armhole", armhole * 0.4)?
        .notch("armhole", armhole * 0.4 + 6.0)
}

fn yoke(t: &Torso, upper_armhole: CubicBez) -> Result<Piece, Error> {
    let n = t.neck;
    let seam_end = upper_armhole.p3;
    let top = Point::new(0.0, seam_end.y);
    let mut b = OutlineBuilder::new(top);
    b.line("yoke_seam", seam_end, allowance::SEAM)
        .curve(
            "armhole",
            upper_armhole.p2,
            upper_armhole.p1,
            upper_armhole.p0,
            allowance::CURVE,
        )
        .line("shoulder", n.hnp, allowance::SEAM)
        .curve(
            "neckline",
            n.back.p2,
            n.back.p1,
            n.back.p0,
            allowance::CURVE,
        );
    let seams = b.close("centre_back", allowance::FOLD);
    Ok(Piece::new("yoke", 2, seams).on_fold(Line::new(Point::ORIGIN, top)))
}

/// The stand (half, on the fold at centre back) and its top edge up to centre front, which the
/// collar is sewn to.
fn stand(t: &Torso, o: &Options) -> Result<(Piece, CubicBez), Error> {
    let half = cubic_length(t.neck.back) + cubic_length(t.neck.front);
    let rise = 10.0;
    let height = o.mm("stand_height");
    let ext = o.mm("button_extension");
    let curve = |l: f64| {
        CubicBez::new(
            (0.0, 0.0),
            (0.5 * l, 0.0),
            (0.8 * l, -0.3 * rise),
            (l, -rise),
        )
    };
    let l = solve_increasing(|l| cubic_length(curve(l)), rise, 3.0 * half, half).ok_or(
        Error::InvalidOption {
            option: "collar_ease".into(),
            reason: "stand cannot be drafted".into(),
        },
    )?;
    let neck = curve(l);
    let lift = Vec2::new(0.0, -height);
    let top = CubicBez::new(
        neck.p0 + lift,
        neck.p1 + lift,
        neck.p2 + lift,
        neck.p3 + lift,
    );
    let dir = (neck.p3 - neck.p2).normalize();
    let up = Vec2::new(dir.y, -dir.x);
    let ext_bottom = neck.p3 + dir * ext;
    let ext_top = ext_bottom + up * (0.7 * height) - dir * (0.3 * ext);
    let mut b = OutlineBuilder::new(neck.p0);
    b.cubic("neck_edge", neck, allowance::CURVE)
        .line("extension_bottom", ext_bottom, allowance::CURVE)
        .curve(
            "stand_front",
            ext_bottom + up * (0.5 * height),
            ext_top + dir * (0.3 * ext),
            ext_top,
            allowance::CURVE,
        )
        .line("top_edge", top.p3, allowance::CURVE)
        .curve("top_edge", top.p2, top.p1, top.p0, allowance::CURVE);
    let seams = b.close("centre_back", allowance::FOLD);
    let mut p = Piece::new("stand", 2, seams).on_fold(Line::new(top.p0, neck.p0));
    p.drill_holes.push(neck.p3 + up * (height / 2.0));
    p.grain = Line::new((0.2 * l, -height / 2.0), (0.7 * l, -height / 2.0));
    Ok((p, top))
}

/// The collar (half, on the fold) whose neck edge matches the stand's top edge.
fn collar(stand_top: CubicBez, o: &Options) -> Result<Piece, Error> {
    let target = cubic_length(stand_top);
    let spring = 12.0;
    let depth = o.mm("collar_depth");
    let curve = |l: f64| {
        CubicBez::new(
            (0.0, 0.0),
            (0.5 * l, 0.0),
            (0.85 * l, -0.2 * spring),
            (l, -spring),
        )
    };
    let l = solve_increasing(|l| cubic_length(curve(l)), spring, 3.0 * target, target).ok_or(
        Error::InvalidOption {
            option: "collar_ease".into(),
            reason: "collar cannot be drafted".into(),
        },
    )?;
    let neck = curve(l);
    let point = Point::new(l + 25.0, -depth - 15.0);
    let cb_top = Point::new(0.0, -depth);
    let mut b = OutlineBuilder::new(neck.p0);
    b.cubic("neck_edge", neck, allowance::CURVE)
        .line("collar_front", point, allowance::CURVE)
        .curve(
            "collar_edge",
            Point::new(0.7 * l, -depth - 5.0),
            Point::new(0.3 * l, -depth),
            cb_top,
            allowance::CURVE,
        );
    let seams = b.close("centre_back", allowance::FOLD);
    let mut p = Piece::new("collar", 2, seams).on_fold(Line::new(cb_top, neck.p0));
    p.grain = Line::new((0.2 * l, -depth / 2.0), (0.7 * l, -depth / 2.0));
    Ok(p)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::pattern::body::tests::man;
    use crate::pattern::draft;

    #[test]
    fn shirt_reproduces_its_measurements() {
        let body = man();
        let p = draft("shirt", &body, &BTreeMap::new()).unwrap();
        let piece = |n: &str| p.piece(n).unwrap();
        // Chest line, measured 1 cm below the armpit on the drafted outlines: two fronts and
        // two half backs make chest girth + 12 cm ease.
        let y = piece("back").seam("side_seam").unwrap().point_at(10.0).0.y;
        let chest = 2.0 * (piece("front").width_at_y(y) + piece("back").width_at_y(y));
        let front_ext = 17.5;
        assert!(
            (chest - 2.0 * front_ext - (960.0 + 120.0)).abs() < 0.5,
            "chest {chest}"
        );
        // Collar stand neck edge (both halves) = neck girth + 2 cm, and matches the neckline.
        let stand = 2.0 * piece("stand").seam_length("neck_edge").unwrap();
        assert!((stand - 400.0).abs() < 0.5, "stand {stand}");
        let neckline = 2.0
            * (piece("front").seam_length("neckline").unwrap()
                + piece("yoke").seam_length("neckline").unwrap());
        assert!(
            (neckline - stand).abs() < 0.5,
            "neckline {neckline} vs stand {stand}"
        );
        // The collar's neck edge fits the stand's top edge to centre front within 3 mm.
        let collar = piece("collar").seam_length("neck_edge").unwrap();
        assert!((collar - stand / 2.0).abs() < 3.0, "collar {collar}");
        // Sleeve cap = armhole (front + yoke + back) + 1 cm, within 1 mm.
        let armhole = piece("front").seam_length("armhole").unwrap()
            + piece("yoke").seam_length("armhole").unwrap()
            + piece("back").seam_length("armhole").unwrap();
        let cap = piece("sleeve").seam_length("cap").unwrap();
        assert!(
            (cap - armhole - 10.0).abs() < 1.0,
            "cap {cap} armhole {armhole}"
        );
        // Sleeve notches sit where the armhole's notches are, the 1 cm cap ease spread evenly.
        let scale = cap / armhole;
        let back_p = piece("back");
        let back_arm = back_p.seam_length("armhole").unwrap();
        let yoke_arm = piece("yoke").seam_length("armhole").unwrap();
        let body_marks: Vec<f64> = vec![
            back_arm - back_p.notches[1].distance,
            back_arm - back_p.notches[0].distance,
            back_arm + yoke_arm,
            back_arm + yoke_arm + piece("front").notches[0].distance,
        ];
        let sleeve_marks: Vec<f64> = piece("sleeve").notches.iter().map(|n| n.distance).collect();
        assert_eq!(sleeve_marks.len(), body_marks.len());
        for (s, b) in sleeve_marks.iter().zip(&body_marks) {
            assert!((s - b * scale).abs() < 1e-6, "{s} vs {b}");
            assert!(*s > 0.0 && *s < cap);
        }
        // Shoulders and side seams match their partners.
        let fs = piece("front").seam_length("shoulder").unwrap();
        let ys = piece("yoke").seam_length("shoulder").unwrap();
        assert!((fs - ys).abs() < 0.1);
        let fside = piece("front").seam_length("side_seam").unwrap();
        let bside = piece("back").seam_length("side_seam").unwrap();
        assert!((fside - bside).abs() < 0.1);
        // Cuff = wrist + 6 cm ease + 2 cm overlap; sleeve hem = cuff without overlap + pleats.
        let cuff = piece("cuff").seam_length("top").unwrap();
        assert!((cuff - 250.0).abs() < 1e-6);
        let hem = piece("sleeve").seam_length("hem").unwrap();
        assert!((hem - (230.0 + 40.0)).abs() < 1e-6);
    }
}
