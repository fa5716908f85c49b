//! Grading by GB/T 1335 号型: a size code such as `170/88A` (号 = stature, 型 = chest for
//! tops or waist for bottoms, body type Y/A/B/C by chest minus waist) is turned into body
//! measurements from the shipped size table (seeds/pattern/gbt1335.json) and the garment is
//! redrafted for each size. Sizes follow the 5·4 series (chest, or waist for bottoms, in
//! 4 cm steps) or the 5·2 series for bottoms (waist in 2 cm steps).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::body::{Body, Measure};
use super::garments::{draft_sized, garment, Sex, SizedBy};
use super::{Error, Pattern};

/// GB/T 1335 body type (体型), by chest minus waist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BodyType {
    /// Slim: largest chest-waist difference.
    Y,
    /// Normal.
    A,
    /// Slightly stout.
    B,
    /// Stout.
    C,
}

/// A GB/T 1335 size code: `号/型体型`, e.g. `170/88A`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeCode {
    /// 号: stature in cm.
    pub height: u32,
    /// 型: chest girth (tops) or waist girth (bottoms) in cm.
    pub girth: u32,
    /// 体型.
    pub body_type: BodyType,
}

impl fmt::Display for SizeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{:?}", self.height, self.girth, self.body_type)
    }
}

impl FromStr for SizeCode {
    type Err = Error;

    fn from_str(s: &str) -> Result<SizeCode, Error> {
        let bad = |reason: &str| Error::Size {
            size: s.to_string(),
            reason: reason.to_string(),
        };
        let (height, rest) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| bad("expected 号/型 with a body type, e.g. 170/88A"))?;
        let split = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| bad("missing body type Y, A, B or C after the 型"))?;
        let (girth, kind) = rest.split_at(split);
        let body_type = match kind {
            "Y" => BodyType::Y,
            "A" => BodyType::A,
            "B" => BodyType::B,
            "C" => BodyType::C,
            _ => return Err(bad("body type must be Y, A, B or C")),
        };
        Ok(SizeCode {
            height: height
                .parse()
                .map_err(|_| bad("号 must be a whole number of cm"))?,
            girth: girth
                .parse()
                .map_err(|_| bad("型 must be a whole number of cm"))?,
            body_type,
        })
    }
}

/// Control-part values of one centre body (cm).
#[derive(Debug, Clone, Deserialize)]
struct Centre {
    stature: f64,
    cervicale_height: f64,
    sitting_cervicale_height: f64,
    arm_length: f64,
    waist_height: f64,
    chest: f64,
    neck: f64,
    shoulder_breadth: f64,
    waist: f64,
    hip: f64,
}

#[derive(Debug, Clone, Deserialize)]
struct HeightSteps {
    cervicale_height: f64,
    sitting_cervicale_height: f64,
    arm_length: f64,
    waist_height: f64,
}

#[derive(Debug, Clone, Deserialize)]
struct ChestSteps {
    neck: f64,
    shoulder_breadth: f64,
}

/// One part of the standard (men or women).
#[derive(Debug, Clone, Deserialize)]
struct Part {
    height_range: [f64; 2],
    chest_range: [f64; 2],
    body_types: BTreeMap<BodyType, [f64; 2]>,
    centre: BTreeMap<BodyType, Centre>,
    per_height_5cm: HeightSteps,
    per_chest_4cm: ChestSteps,
    hip_per_waist_2cm: BTreeMap<BodyType, f64>,
}

#[derive(Debug, Clone, Deserialize)]
struct Table {
    male: Part,
    female: Part,
}

/// The shipped size table, parsed once.
fn table() -> Result<&'static Table, Error> {
    static TABLE: OnceLock<Result<Table, String>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            serde_json::from_str(include_str!("../../seeds/pattern/gbt1335.json"))
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Size {
            size: "size table".into(),
            reason: format!("seeds/pattern/gbt1335.json: {e}"),
        })
}

/// Body measurements of a GB/T 1335 size for a garment sized by chest or waist.
pub fn size_body(size: SizeCode, sex: Sex, sized_by: SizedBy) -> Result<Body, Error> {
    let t = table()?;
    let part = match sex {
        Sex::Male => &t.male,
        Sex::Female => &t.female,
    };
    let bad = |reason: String| Error::Size {
        size: size.to_string(),
        reason,
    };
    let c = part
        .centre
        .get(&size.body_type)
        .ok_or_else(|| bad("body type missing from the size table".into()))?;
    let height = f64::from(size.height);
    let girth = f64::from(size.girth);
    let [h0, h1] = part.height_range;
    if height < h0 || height > h1 || (height - c.stature) % 5.0 != 0.0 {
        return Err(bad(format!(
            "号 must be in {h0}..{h1} in 5 cm steps from {}",
            c.stature
        )));
    }
    let (chest, waist) = match sized_by {
        SizedBy::Chest => {
            if (girth - c.chest) % 4.0 != 0.0 {
                return Err(bad(format!(
                    "型 (chest) must be in the 5·4 series: 4 cm steps from {}",
                    c.chest
                )));
            }
            (girth, c.waist + (girth - c.chest))
        }
        SizedBy::Waist => {
            if (girth - c.waist) % 2.0 != 0.0 {
                return Err(bad(format!(
                    "型 (waist) must be in the 5·2 series: 2 cm steps from {}",
                    c.waist
                )));
            }
            (c.chest + (girth - c.waist), girth)
        }
    };
    let [c0, c1] = part.chest_range;
    if chest < c0 || chest > c1 {
        return Err(bad(format!(
            "chest {chest} cm is outside the table's {c0}..{c1}"
        )));
    }
    if let Some([lo, hi]) = part.body_types.get(&size.body_type) {
        let d = chest - waist;
        if d < *lo || d > *hi {
            return Err(bad(format!(
                "chest minus waist {d} cm is outside body type {:?} ({lo}..{hi})",
                size.body_type
            )));
        }
    }
    let dh = (height - c.stature) / 5.0;
    let dc = (chest - c.chest) / 4.0;
    let hs = &part.per_height_5cm;
    let hip_step = part
        .hip_per_waist_2cm
        .get(&size.body_type)
        .copied()
        .unwrap_or(1.6);
    let cervicale = c.cervicale_height + dh * hs.cervicale_height;
    let sitting = c.sitting_cervicale_height + dh * hs.sitting_cervicale_height;
    let waist_height = c.waist_height + dh * hs.waist_height;
    let shoulder = c.shoulder_breadth + dc * part.per_chest_4cm.shoulder_breadth;
    let (arm_factor, wrist_factor) = match sex {
        Sex::Male => (0.33, 0.1),
        Sex::Female => (0.32, 0.094),
    };
    Ok(Body::new()
        .with(Measure::Stature, height)
        .with(Measure::ChestGirth, chest)
        .with(Measure::WaistGirth, waist)
        .with(
            Measure::HipGirth,
            c.hip + (waist - c.waist) / 2.0 * hip_step,
        )
        .with(Measure::NeckGirth, c.neck + dc * part.per_chest_4cm.neck)
        .with(Measure::ShoulderBreadth, shoulder)
        .with(Measure::ArmLength, c.arm_length + dh * hs.arm_length)
        .with(Measure::WaistHeight, waist_height)
        // Derived (the standard lists no such control part); see seeds/pattern/README.md.
        .with(Measure::BackWaistLength, cervicale - waist_height)
        .with(Measure::InsideLeg, cervicale - sitting)
        .with(Measure::AcrossBack, shoulder - 5.0)
        .with(Measure::UpperArmGirth, arm_factor * chest)
        .with(Measure::WristGirth, wrist_factor * height))
}

/// A garment drafted for several sizes, nested on the draft origin when exported.
#[derive(Debug, Clone)]
pub struct GradedSet {
    /// Garment name.
    pub garment: String,
    /// Sample (base) size label.
    pub sample_size: String,
    /// One pattern per size, in the order asked.
    pub patterns: Vec<Pattern>,
}

/// Drafts `garment` for each GB/T 1335 size code (e.g. `["165/84A", "170/88A"]`).
pub fn grade(
    garment_name: &str,
    sizes: &[&str],
    options: &BTreeMap<String, f64>,
) -> Result<GradedSet, Error> {
    let info = garment(garment_name)?;
    let mut bodies = Vec::with_capacity(sizes.len());
    for s in sizes {
        let code: SizeCode = s.parse()?;
        bodies.push((code.to_string(), size_body(code, info.sex, info.sized_by)?));
    }
    grade_bodies(garment_name, &bodies, options)
}

/// Drafts `garment` for each labelled body (grading by body measurements).
pub fn grade_bodies(
    garment_name: &str,
    bodies: &[(String, Body)],
    options: &BTreeMap<String, f64>,
) -> Result<GradedSet, Error> {
    let first = bodies.first().ok_or(Error::Size {
        size: String::new(),
        reason: "no sizes given".into(),
    })?;
    let mut patterns = Vec::with_capacity(bodies.len());
    for (label, body) in bodies {
        patterns.push(draft_sized(garment_name, body, options, label)?);
    }
    let sample = bodies.get(bodies.len() / 2).unwrap_or(first);
    Ok(GradedSet {
        garment: garment_name.to_string(),
        sample_size: sample.0.clone(),
        patterns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size_field(s: &str, sex: Sex, by: SizedBy) -> String {
        match s.parse().and_then(|c| size_body(c, sex, by)) {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        }
    }

    #[test]
    fn parses_and_rejects_size_codes() {
        let c: SizeCode = "170/88A".parse().unwrap();
        assert_eq!((c.height, c.girth, c.body_type), (170, 88, BodyType::A));
        assert_eq!(c.to_string(), "170/88A");
        for bad in ["170-88A", "170/88", "170/88X", "abc/88A"] {
            let e = bad.parse::<SizeCode>().unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
        assert!(size_field("170/90A", Sex::Male, SizedBy::Chest).contains("5·4"));
        assert!(size_field("172/88A", Sex::Male, SizedBy::Chest).contains("5 cm"));
        assert!(size_field("170/75A", Sex::Male, SizedBy::Waist).contains("5·2"));
    }

    /// Centre bodies and grade steps as printed in GB/T 1335.1/.2-2008 tables.
    #[test]
    fn size_bodies_follow_the_standard() {
        let b = size_body("170/88A".parse().unwrap(), Sex::Male, SizedBy::Chest).unwrap();
        let get = |b: &Body, m| b.get(m).unwrap();
        assert_eq!(get(&b, Measure::WaistGirth), 74.0);
        assert_eq!(get(&b, Measure::NeckGirth), 36.8);
        assert_eq!(get(&b, Measure::ShoulderBreadth), 43.6);
        let b = size_body("175/92A".parse().unwrap(), Sex::Male, SizedBy::Chest).unwrap();
        assert!((get(&b, Measure::NeckGirth) - 37.8).abs() < 1e-9);
        assert!((get(&b, Measure::ShoulderBreadth) - 44.8).abs() < 1e-9);
        assert!((get(&b, Measure::ArmLength) - 57.0).abs() < 1e-9);
        assert!((get(&b, Measure::WaistHeight) - 105.5).abs() < 1e-9);
        assert!((get(&b, Measure::HipGirth) - 93.2).abs() < 1e-9);
        let w = size_body("160/68A".parse().unwrap(), Sex::Female, SizedBy::Waist).unwrap();
        assert_eq!(get(&w, Measure::ChestGirth), 84.0);
        assert_eq!(get(&w, Measure::HipGirth), 90.0);
        let w = size_body("160/70A".parse().unwrap(), Sex::Female, SizedBy::Waist).unwrap();
        assert!((get(&w, Measure::HipGirth) - 91.8).abs() < 1e-9);
        b.validate().unwrap();
    }

    /// A 5·4 run of shirts grows 4 cm of chest (plus nothing else) per size.
    #[test]
    fn graded_shirts_step_by_the_series() {
        let sizes = ["165/84A", "170/88A", "175/92A"];
        let set = grade("shirt", &sizes, &BTreeMap::new()).unwrap();
        assert_eq!(set.sample_size, "170/88A");
        let chest = |p: &Pattern| {
            let f = p.piece("front").unwrap();
            let b = p.piece("back").unwrap();
            let y = b.seam("side_seam").unwrap().point_at(10.0).0.y;
            2.0 * (f.width_at_y(y) + b.width_at_y(y) - 17.5)
        };
        let c: Vec<f64> = set.patterns.iter().map(chest).collect();
        for (i, size) in [84.0, 88.0, 92.0].iter().enumerate() {
            assert!((c[i] - (size * 10.0 + 120.0)).abs() < 0.5, "{c:?}");
        }
        let e = grade("shirt", &["170/88A", "170/88Q"], &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("170/88Q"));
        let trousers = grade(
            "trousers",
            &["170/72A", "170/74A", "170/76A"],
            &BTreeMap::new(),
        );
        assert_eq!(trousers.unwrap().patterns.len(), 3);
    }
}
