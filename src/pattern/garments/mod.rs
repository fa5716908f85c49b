//! The garment registry and the drafting blocks garments share.
//!
//! Like a FreeSewing design, each garment is a set of pieces and each piece is drafted by one
//! function from named points; garments live one per file.

mod bodice;
mod dress;
mod mandarin;
mod shirt;
mod skirt;
mod trousers;

use std::collections::BTreeMap;

use kurbo::{CubicBez, Point};
use serde::Serialize;

use super::body::{Body, Measure};
use super::geom::{cubic_length, solve_increasing, OutlineBuilder, Piece};
use super::{Error, Pattern};

/// A style or ease option with its documented default (cm unless the doc says otherwise).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OptionInfo {
    /// Option name (`--option name=value`).
    pub name: &'static str,
    /// Value used when none is given.
    pub default: f64,
    /// Smallest accepted value.
    pub min: f64,
    /// Largest accepted value.
    pub max: f64,
    /// What it changes.
    pub doc: &'static str,
}

/// Which GB/T 1335 型 a garment is sized by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SizedBy {
    /// Tops: 型 is the chest girth.
    Chest,
    /// Bottoms: 型 is the waist girth.
    Waist,
}

/// Which GB/T 1335 part (men 1335.1, women 1335.2) the garment grades on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// GB/T 1335.1 (men).
    Male,
    /// GB/T 1335.2 (women).
    Female,
}

type DraftFn = fn(&Body, &Options) -> Result<Vec<Piece>, Error>;

/// A garment of the registry: its pieces, the measurements it needs and its options.
#[derive(Debug, Clone, Serialize)]
pub struct GarmentInfo {
    /// Registry name (`--garment name`).
    pub name: &'static str,
    /// Human title.
    pub title: &'static str,
    /// Piece names in draft order.
    pub pieces: &'static [&'static str],
    /// Measurements the draft requires.
    pub measurements: &'static [Measure],
    /// Options with defaults.
    pub options: &'static [OptionInfo],
    /// Size-table part used by grading.
    pub sex: Sex,
    /// What the 型 of a size code means for this garment.
    pub sized_by: SizedBy,
    #[serde(skip)]
    draft: DraftFn,
}

/// Option values resolved against a garment's [`OptionInfo`] list (cm).
#[derive(Debug, Clone)]
pub struct Options {
    values: BTreeMap<String, f64>,
}

impl Options {
    /// The value of an option in mm (options are given in cm).
    fn mm(&self, name: &str) -> f64 {
        self.values.get(name).copied().unwrap_or(0.0) * 10.0
    }
}

/// Every garment that can be drafted.
pub fn garments() -> &'static [GarmentInfo] {
    static ALL: [GarmentInfo; 6] = [
        shirt::INFO,
        trousers::INFO,
        skirt::INFO,
        bodice::INFO,
        dress::INFO,
        mandarin::INFO,
    ];
    &ALL
}

/// The OpenAPI schema of a garment name: one of [`garments`].
pub fn name_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some("Garment name from `GET /v1/garments`."))
        .enum_values(Some(garments().iter().map(|g| g.name)))
        .build()
}

/// Looks a garment up by name.
pub fn garment(name: &str) -> Result<&'static GarmentInfo, Error> {
    garments()
        .iter()
        .find(|g| g.name == name)
        .ok_or_else(|| Error::UnknownGarment {
            name: name.to_string(),
            known: garments()
                .iter()
                .map(|g| g.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

impl GarmentInfo {
    /// Fills defaults in and rejects unknown or out-of-range options.
    pub fn resolve(&self, given: &BTreeMap<String, f64>) -> Result<Options, Error> {
        let mut values: BTreeMap<String, f64> = self
            .options
            .iter()
            .map(|o| (o.name.to_string(), o.default))
            .collect();
        for (name, value) in given {
            let spec = self
                .options
                .iter()
                .find(|o| o.name == name)
                .ok_or_else(|| Error::UnknownOption {
                    garment: self.name.to_string(),
                    option: name.clone(),
                    known: self
                        .options
                        .iter()
                        .map(|o| o.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            if !value.is_finite() || *value < spec.min || *value > spec.max {
                return Err(Error::InvalidOption {
                    option: name.clone(),
                    reason: format!("{value} is outside {}..{}", spec.min, spec.max),
                });
            }
            values.insert(name.clone(), *value);
        }
        Ok(Options { values })
    }
}

/// Parses CLI-style `name=value` option pairs (values in cm); unknown names are caught later by
/// [`draft`] against the garment's option list.
pub fn parse_options<S: AsRef<str>>(pairs: &[S]) -> Result<BTreeMap<String, f64>, Error> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let pair = pair.as_ref();
        let (name, value) = pair.split_once('=').ok_or_else(|| Error::InvalidOption {
            option: pair.to_string(),
            reason: "expected name=value".into(),
        })?;
        let number = value
            .trim()
            .parse::<f64>()
            .map_err(|_| Error::InvalidOption {
                option: name.trim().to_string(),
                reason: format!("`{value}` is not a number"),
            })?;
        out.insert(name.trim().to_string(), number);
    }
    Ok(out)
}

/// Drafts `garment` for `body` with `options` (cm; unknown names are errors).
pub fn draft(
    garment_name: &str,
    body: &Body,
    options: &BTreeMap<String, f64>,
) -> Result<Pattern, Error> {
    draft_sized(garment_name, body, options, "MTM")
}

pub(crate) fn draft_sized(
    garment_name: &str,
    body: &Body,
    options: &BTreeMap<String, f64>,
    size: &str,
) -> Result<Pattern, Error> {
    let info = garment(garment_name)?;
    body.validate()?;
    for m in info.measurements {
        body.require(*m)?;
    }
    let opts = info.resolve(options)?;
    let pieces = (info.draft)(body, &opts)?;
    Ok(Pattern {
        garment: info.name.to_string(),
        size: size.to_string(),
        options: opts.values,
        pieces,
    })
}

/// Seam allowances used by the drafts (mm), as commonly cut for shirts and dresses.
pub(crate) mod allowance {
    /// Long seams (side, shoulder, inseam).
    pub const SEAM: f64 = 10.0;
    /// Curved seams (neckline, armhole, collar, crotch).
    pub const CURVE: f64 = 7.0;
    /// Shirt and blouse hems.
    pub const HEM: f64 = 20.0;
    /// Skirt, trouser and dress hems.
    pub const DEEP_HEM: f64 = 40.0;
    /// A fold or a finished edge.
    pub const FOLD: f64 = 0.0;
}

/// Neckline of a torso block, solved so that one half measures `half_length`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Neckline {
    /// Back neck: centre back (0, 0) to the high neck point.
    pub back: CubicBez,
    /// Front neck: high neck point to centre front.
    pub front: CubicBez,
    /// High neck point (back and front share it).
    pub hnp: Point,
}

/// Solves the neck width so that back + front neck of one side equals `half_length` (mm);
/// the back neck rises `back_rise` and the front drops `front_extra` more than its width.
pub(crate) fn neckline(
    half_length: f64,
    back_rise: f64,
    front_extra: f64,
) -> Result<Neckline, Error> {
    let make = |w: f64| {
        let hnp = Point::new(w, -back_rise);
        let back = CubicBez::new(
            Point::new(0.0, 0.0),
            Point::new(0.6 * w, 0.0),
            Point::new(w, -0.3 * back_rise),
            hnp,
        );
        let depth = w + front_extra;
        let cf = Point::new(0.0, -back_rise + depth);
        let front = CubicBez::new(
            hnp,
            Point::new(w, -back_rise + 0.55 * depth),
            Point::new(0.55 * w, cf.y),
            cf,
        );
        Neckline { back, front, hnp }
    };
    let len = |w: f64| {
        let n = make(w);
        cubic_length(n.back) + cubic_length(n.front)
    };
    let w = solve_increasing(len, 20.0, 160.0, half_length).ok_or(Error::InvalidOption {
        option: "collar_ease".into(),
        reason: format!("no neckline measures {:.1} mm per half", half_length),
    })?;
    Ok(make(w))
}

/// Shoulder slope of the torso block (degrees below horizontal).
const SHOULDER_SLOPE_DEG: f64 = 18.0;
/// Back neck rise above the centre-back neck point (mm).
const BACK_NECK_RISE: f64 = 20.0;

/// Inputs of the half torso block (mm, ease included).
pub(crate) struct TorsoSpec {
    /// Chest girth with ease.
    pub chest: f64,
    /// Neckline length (both halves) the collar is drafted to.
    pub neck: f64,
    /// Shoulder breadth with ease.
    pub shoulder_breadth: f64,
    /// Across-back width of the body.
    pub across_back: f64,
    /// Hem depth below the centre-back neck.
    pub hem_y: f64,
}

impl TorsoSpec {
    /// The body's torso with the ease options every torso garment takes: `chest_ease`,
    /// `collar_ease`, `shoulder_ease` and `length_below_waist` (hem below the back waist).
    pub fn eased(body: &Body, o: &Options) -> Result<TorsoSpec, Error> {
        Ok(TorsoSpec {
            chest: body.mm(Measure::ChestGirth)? + o.mm("chest_ease"),
            neck: body.mm(Measure::NeckGirth)? + o.mm("collar_ease"),
            shoulder_breadth: body.mm(Measure::ShoulderBreadth)? + o.mm("shoulder_ease"),
            across_back: body.mm(Measure::AcrossBack)?,
            hem_y: body.mm(Measure::BackWaistLength)? + o.mm("length_below_waist"),
        })
    }
}

/// Named points of the half torso shared by fronts, backs and yokes (origin: centre-back
/// neck; x away from the centre line, y down).
pub(crate) struct Torso {
    /// Back and front neck curves.
    pub neck: Neckline,
    /// Shoulder point (front and back share it).
    pub shoulder_point: Point,
    /// Hem depth.
    pub hem_y: f64,
    /// Back armhole, shoulder point to the side at the chest line (back quarter + 1 cm).
    pub back_armhole: CubicBez,
    /// Front armhole, shoulder point to the side at the chest line (front quarter - 1 cm).
    pub front_armhole: CubicBez,
}

/// Drafts the half torso: chest line split in quarters with the back 1 cm wider (as in
/// Aldrich's blocks), armhole depth chest/6 + 6 cm, neckline solved to the collar length.
pub(crate) fn torso(spec: &TorsoSpec) -> Result<Torso, Error> {
    let neck = neckline(spec.neck / 2.0, BACK_NECK_RISE, 10.0)?;
    let sp_x = spec.shoulder_breadth / 2.0;
    let sp = Point::new(
        sp_x,
        neck.hnp.y + (sp_x - neck.hnp.x) * SHOULDER_SLOPE_DEG.to_radians().tan(),
    );
    let chest_y = spec.chest / 6.0 + 60.0;
    let back_width = spec.chest / 4.0 + 10.0;
    let front_width = spec.chest / 4.0 - 10.0;
    let across_back = (spec.across_back / 2.0 + 10.0).min(back_width - 20.0);
    let across_front = across_back - 10.0;
    let mid = sp.y + 0.45 * (chest_y - sp.y);
    let back_armhole = CubicBez::new(
        sp,
        Point::new(across_back, mid),
        Point::new(across_back + 0.2 * (back_width - across_back), chest_y),
        Point::new(back_width, chest_y),
    );
    let front_armhole = CubicBez::new(
        sp,
        Point::new(across_front, mid),
        Point::new(across_front + 0.15 * (front_width - across_front), chest_y),
        Point::new(front_width, chest_y),
    );
    Ok(Torso {
        neck,
        shoulder_point: sp,
        hem_y: spec.hem_y,
        back_armhole,
        front_armhole,
    })
}

/// The two cap halves of a set-in sleeve, with the underarm points at y = 0.
pub(crate) fn sleeve_cap(bicep: f64, cap_length: f64) -> Result<(CubicBez, CubicBez, f64), Error> {
    let half = bicep / 2.0;
    let make = |h: f64| {
        let back = CubicBez::new(
            (-half, 0.0),
            (-half + 0.45 * half, 0.0),
            (-0.45 * half, -h),
            (0.0, -h),
        );
        let front = CubicBez::new(
            (0.0, -h),
            (0.45 * half, -h),
            (half - 0.45 * half, 0.0),
            (half, 0.0),
        );
        (back, front)
    };
    let len = |h: f64| {
        let (a, b) = make(h);
        cubic_length(a) + cubic_length(b)
    };
    let h = solve_increasing(len, 5.0, 0.8 * bicep, cap_length).ok_or(Error::InvalidOption {
        option: "sleeve_ease".into(),
        reason: format!(
            "no sleeve cap of {:.0} mm fits a {:.0} mm bicep line; change sleeve_ease or sleeve_cap_ease",
            cap_length, bicep
        ),
    })?;
    let (a, b) = make(h);
    Ok((a, b, h))
}

/// What a set-in sleeve is drafted from (mm).
pub(crate) struct SleeveSpec<'a> {
    /// Piece name.
    pub name: &'a str,
    /// Bicep line (upper-arm girth + ease).
    pub bicep: f64,
    /// Armhole length (back + front) the cap is sewn into.
    pub armhole: f64,
    /// Cap length over the armhole.
    pub cap_ease: f64,
    /// Cap top to hem.
    pub length: f64,
    /// Hem width.
    pub hem_width: f64,
    /// Hem allowance.
    pub hem_allowance: f64,
    /// Match points on the body armhole, as distances from the back underarm going over the
    /// shoulder; the sleeve gets the same points with the cap ease spread evenly.
    pub armhole_notches: &'a [f64],
}

/// A set-in sleeve whose cap measures armhole + cap ease, notched to match the armhole.
pub(crate) fn sleeve(spec: &SleeveSpec) -> Result<Piece, Error> {
    let cap_length = spec.armhole + spec.cap_ease;
    let (back_cap, front_cap, cap_height) = sleeve_cap(spec.bicep, cap_length)?;
    let hem_y = spec.length - cap_height;
    if hem_y <= 0.0 {
        return Err(Error::Geometry {
            piece: spec.name.into(),
            reason: format!(
                "sleeve length {:.0} mm is shorter than its cap",
                spec.length
            ),
        });
    }
    let underarm_back = back_cap.p0;
    let hem_back = Point::new(-spec.hem_width / 2.0, hem_y);
    let hem_front = Point::new(spec.hem_width / 2.0, hem_y);
    let mut o = OutlineBuilder::new(underarm_back);
    o.cubic("cap", back_cap, allowance::CURVE)
        .cubic("cap", front_cap, allowance::CURVE)
        .line("underarm_front", hem_front, allowance::SEAM)
        .line("hem", hem_back, spec.hem_allowance);
    let seams = o.close("underarm_back", allowance::SEAM);
    let mut piece = Piece::new(spec.name, 2, seams);
    let scale = cap_length / spec.armhole;
    for d in spec.armhole_notches {
        piece = piece.notch("cap", d * scale)?;
    }
    Ok(piece)
}

/// A rectangle piece (cuffs, bands), `length` along x and `depth` along y.
pub(crate) fn band(name: &str, quantity: u32, length: f64, depth: f64, seam: f64) -> Piece {
    let mut o = OutlineBuilder::new(Point::new(0.0, 0.0));
    o.line("top", Point::new(length, 0.0), seam)
        .line("end_right", Point::new(length, depth), seam)
        .line("bottom", Point::new(0.0, depth), seam);
    let mut p = Piece::new(name, quantity, o.close("end_left", seam));
    p.grain = kurbo::Line::new((0.2 * length, depth / 2.0), (0.8 * length, depth / 2.0));
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::body::tests::{man, woman};

    #[test]
    fn options_parse_from_pairs() {
        let o = parse_options(&["chest_ease=14", " collar_ease = 1.5"]).unwrap();
        assert_eq!(o.get("chest_ease"), Some(&14.0));
        assert_eq!(o.get("collar_ease"), Some(&1.5));
        let e = parse_options(&["chest_ease"]).unwrap_err();
        assert_eq!(e.field().as_deref(), Some("chest_ease"));
        let e = parse_options(&["chest_ease=wide"]).unwrap_err();
        assert_eq!(e.field().as_deref(), Some("chest_ease"));
    }

    #[test]
    fn registry_lists_and_rejects() {
        assert_eq!(garments().len(), 6);
        let e = garment("kimono").unwrap_err();
        assert!(e.to_string().contains("kimono") && e.to_string().contains("shirt"));
        let mut opts = BTreeMap::new();
        opts.insert("chest_eaze".to_string(), 10.0);
        let e = draft("shirt", &man(), &opts).unwrap_err();
        assert_eq!(e.field().as_deref(), Some("chest_eaze"), "{e}");
        opts.clear();
        opts.insert("chest_ease".to_string(), -50.0);
        let e = draft("shirt", &man(), &opts).unwrap_err();
        assert_eq!(e.field().as_deref(), Some("chest_ease"), "{e}");
        let mut b = man();
        b = Body::from_json(&serde_json::to_vec(&b).unwrap()).unwrap();
        let without_neck: Body = {
            let mut v: BTreeMap<String, f64> =
                serde_json::from_slice(&b.to_json().unwrap()).unwrap();
            v.remove("neck_girth");
            serde_json::from_value(serde_json::to_value(v).unwrap()).unwrap()
        };
        let e = draft("shirt", &without_neck, &BTreeMap::new()).unwrap_err();
        assert_eq!(e.field().as_deref(), Some("neck_girth"));
    }

    /// Every garment drafts for both reference bodies, lists the pieces it promises, and every
    /// piece gets a cut line enclosing its sew line.
    #[test]
    fn every_garment_drafts_with_cut_lines() {
        for g in garments() {
            for body in [man(), woman()] {
                let p = draft(g.name, &body, &BTreeMap::new()).unwrap();
                let names: Vec<&str> = p.pieces.iter().map(|p| p.name.as_str()).collect();
                assert_eq!(names, g.pieces, "{}", g.name);
                for piece in &p.pieces {
                    let cut = piece.cut_line().unwrap();
                    // The cheap bounds hold the cut line however the piece is turned.
                    for t in [0.0, 37.0, 90.0, 180.0, 270.0]
                        .map(|d: f64| kurbo::Affine::rotate(d.to_radians()))
                        .into_iter()
                        .chain([kurbo::Affine::FLIP_Y])
                    {
                        let bounds = piece.cut_bounds(t).unwrap();
                        for q in &cut {
                            let q = t * *q;
                            assert!(
                                bounds.inflate(1e-9, 1e-9).contains(q),
                                "{} {}: cut point {q:?} outside {bounds:?}",
                                g.name,
                                piece.name
                            );
                        }
                    }
                    let mut ring = kurbo::BezPath::new();
                    for (i, q) in cut.iter().enumerate() {
                        if i == 0 {
                            ring.move_to(*q)
                        } else {
                            ring.line_to(*q)
                        }
                    }
                    ring.close_path();
                    // Every sew-line point lies inside the cut line, or on it at a fold.
                    for q in crate::pattern::geom::flatten(&piece.sew_line()) {
                        let on_edge = ring.segments().any(|s| {
                            let kurbo::PathSeg::Line(l) = s else {
                                return false;
                            };
                            kurbo::ParamCurveNearest::nearest(&l, q, 1e-9).distance_sq < 1e-4
                        });
                        assert!(
                            kurbo::Shape::winding(&ring, q) != 0 || on_edge,
                            "{} {}: sew point {q:?} outside the cut line",
                            g.name,
                            piece.name
                        );
                    }
                }
            }
        }
    }

    /// Extreme bodies from the size table (every body type, smallest and largest sizes) with
    /// every option at its minimum, default and maximum all draft, with cut lines for every piece.
    #[test]
    fn extremes_draft() {
        use crate::pattern::grading::size_body;
        for g in garments() {
            let codes: &[&str] = match (g.sex, g.sized_by) {
                (Sex::Male, SizedBy::Chest) => &["155/76A", "185/112B", "170/88Y", "175/100C"],
                (Sex::Male, SizedBy::Waist) => &["155/62A", "185/100B", "170/70Y", "175/94C"],
                (Sex::Female, SizedBy::Chest) => &["150/72A", "175/100B", "160/84Y", "165/96C"],
                (Sex::Female, SizedBy::Waist) => &["150/56A", "175/86B", "160/64Y", "165/84C"],
            };
            let pick = |f: fn(&OptionInfo) -> f64| -> BTreeMap<String, f64> {
                g.options
                    .iter()
                    .map(|o| (o.name.to_string(), f(o)))
                    .collect()
            };
            let option_sets = [pick(|o| o.min), pick(|o| o.default), pick(|o| o.max)];
            for code in codes {
                let body = size_body(code.parse().unwrap(), g.sex, g.sized_by).unwrap();
                for opts in &option_sets {
                    let p = draft(g.name, &body, opts)
                        .unwrap_or_else(|e| panic!("{} {code} {opts:?}: {e}", g.name));
                    for piece in &p.pieces {
                        piece.cut_line().unwrap();
                    }
                }
            }
        }
    }
}
