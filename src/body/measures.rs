//! The named measurement set a made-to-measure pattern needs.
//!
//! Each measure carries its ISO 8559-1 meaning (paraphrased), its Chinese name and the ANSUR II column
//! that the body model was trained on. Where ANSUR's landmark differs from ISO's, the definition says so,
//! because the numbers follow ANSUR's landmark.

use serde::{Deserialize, Serialize};

/// Physical quantity of a measure, which fixes its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// A length: mm in ANSUR, cm in the API.
    Length,
    /// A body mass: 0.1 kg in ANSUR, kg in the API.
    Mass,
}

impl Quantity {
    /// Unit used by the API (`cm` or `kg`).
    pub fn api_unit(self) -> &'static str {
        match self {
            Quantity::Length => "cm",
            Quantity::Mass => "kg",
        }
    }

    /// Unit used by ANSUR II columns (`mm` or `0.1 kg`).
    pub fn ansur_unit(self) -> &'static str {
        match self {
            Quantity::Length => "mm",
            Quantity::Mass => "0.1 kg",
        }
    }
}

/// ANSUR stores lengths in mm and mass in 0.1 kg, so both convert to cm / kg by the same factor.
const ANSUR_PER_API_UNIT: f64 = 10.0;

/// Converts a value in ANSUR units (mm, 0.1 kg) to API units (cm, kg).
pub fn ansur_to_api(value: f64) -> f64 {
    value / ANSUR_PER_API_UNIT
}

/// Converts a value in API units (cm, kg) to ANSUR units (mm, 0.1 kg).
pub fn api_to_ansur(value: f64) -> f64 {
    value * ANSUR_PER_API_UNIT
}

/// One measurement of the set (ISO 8559-1 name in snake_case English).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Standing height.
    Stature,
    /// Girth at the base of the neck.
    NeckGirth,
    /// Chest (bust) girth.
    ChestGirth,
    /// Waist girth (ANSUR: at the navel).
    WaistGirth,
    /// Hip (seat) girth.
    HipGirth,
    /// Breadth between the shoulder points.
    ShoulderBreadth,
    /// Neck point to shoulder point.
    ShoulderLength,
    /// Width of the back between the armpit folds.
    AcrossBack,
    /// Nape to waist along the spine.
    BackWaistLength,
    /// Shoulder point to wrist.
    ArmLength,
    /// Upper arm girth.
    UpperArmGirth,
    /// Wrist girth.
    WristGirth,
    /// Thigh girth.
    ThighGirth,
    /// Calf girth.
    CalfGirth,
    /// Crotch to floor.
    InsideLeg,
    /// Floor to waist.
    WaistHeight,
    /// Front waist through the crotch to back waist.
    CrotchLength,
    /// Body mass.
    Weight,
}

impl Measure {
    /// Every measure of the set, in the order responses list them.
    pub const ALL: [Measure; 18] = [
        Measure::Stature,
        Measure::NeckGirth,
        Measure::ChestGirth,
        Measure::WaistGirth,
        Measure::HipGirth,
        Measure::ShoulderBreadth,
        Measure::ShoulderLength,
        Measure::AcrossBack,
        Measure::BackWaistLength,
        Measure::ArmLength,
        Measure::UpperArmGirth,
        Measure::WristGirth,
        Measure::ThighGirth,
        Measure::CalfGirth,
        Measure::InsideLeg,
        Measure::WaistHeight,
        Measure::CrotchLength,
        Measure::Weight,
    ];

    /// snake_case name used in JSON and on the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Stature => "stature",
            Measure::NeckGirth => "neck_girth",
            Measure::ChestGirth => "chest_girth",
            Measure::WaistGirth => "waist_girth",
            Measure::HipGirth => "hip_girth",
            Measure::ShoulderBreadth => "shoulder_breadth",
            Measure::ShoulderLength => "shoulder_length",
            Measure::AcrossBack => "across_back",
            Measure::BackWaistLength => "back_waist_length",
            Measure::ArmLength => "arm_length",
            Measure::UpperArmGirth => "upper_arm_girth",
            Measure::WristGirth => "wrist_girth",
            Measure::ThighGirth => "thigh_girth",
            Measure::CalfGirth => "calf_girth",
            Measure::InsideLeg => "inside_leg",
            Measure::WaistHeight => "waist_height",
            Measure::CrotchLength => "crotch_length",
            Measure::Weight => "weight",
        }
    }

    /// The ANSUR II column this measure is trained on and predicted as.
    pub fn ansur_column(self) -> &'static str {
        match self {
            Measure::Stature => "stature",
            Measure::NeckGirth => "neckcircumferencebase",
            Measure::ChestGirth => "chestcircumference",
            Measure::WaistGirth => "waistcircumference",
            Measure::HipGirth => "buttockcircumference",
            Measure::ShoulderBreadth => "biacromialbreadth",
            Measure::ShoulderLength => "shoulderlength",
            Measure::AcrossBack => "interscyeii",
            Measure::BackWaistLength => "waistbacklength",
            Measure::ArmLength => "sleeveoutseam",
            Measure::UpperArmGirth => "bicepscircumferenceflexed",
            Measure::WristGirth => "wristcircumference",
            Measure::ThighGirth => "thighcircumference",
            Measure::CalfGirth => "calfcircumference",
            Measure::InsideLeg => "crotchheight",
            Measure::WaistHeight => "waistheightomphalion",
            Measure::CrotchLength => "crotchlengthomphalion",
            Measure::Weight => "weightkg",
        }
    }

    /// Chinese name used in tailoring (量体).
    pub fn chinese_name(self) -> &'static str {
        match self {
            Measure::Stature => "身高",
            Measure::NeckGirth => "颈根围",
            Measure::ChestGirth => "胸围",
            Measure::WaistGirth => "腰围",
            Measure::HipGirth => "臀围",
            Measure::ShoulderBreadth => "肩宽",
            Measure::ShoulderLength => "小肩宽",
            Measure::AcrossBack => "背宽",
            Measure::BackWaistLength => "背长",
            Measure::ArmLength => "臂长",
            Measure::UpperArmGirth => "上臂围",
            Measure::WristGirth => "腕围",
            Measure::ThighGirth => "大腿围",
            Measure::CalfGirth => "小腿围",
            Measure::InsideLeg => "下裆长",
            Measure::WaistHeight => "腰围高",
            Measure::CrotchLength => "总裆长",
            Measure::Weight => "体重",
        }
    }

    /// ISO 8559-1 definition in short paraphrase, with ANSUR's deviation where it has one.
    pub fn definition(self) -> &'static str {
        match self {
            Measure::Stature => {
                "Vertical distance from the floor to the top of the head, standing erect with the head level."
            }
            Measure::NeckGirth => {
                "Girth around the base of the neck, over the seventh cervical vertebra at the back and the \
                 top of the breastbone at the front."
            }
            Measure::ChestGirth => {
                "Horizontal girth around the chest at the level of the nipples (fullest part of the bust), \
                 under the armpits and over the shoulder blades, breathing normally."
            }
            Measure::WaistGirth => {
                "Horizontal girth around the waist. ISO takes the natural waist between the lowest rib and \
                 the top of the hip bone; ANSUR II measures it at the level of the navel (omphalion)."
            }
            Measure::HipGirth => {
                "Horizontal girth around the hips at the level of the greatest protrusion of the buttocks."
            }
            Measure::ShoulderBreadth => {
                "Straight distance between the left and right shoulder points (acromia). ANSUR II took it \
                 seated."
            }
            Measure::ShoulderLength => {
                "Distance along the top of the shoulder from the side of the neck base to the shoulder point \
                 (acromion)."
            }
            Measure::AcrossBack => {
                "Horizontal distance across the back between the folds where the arms join the body (posterior \
                 armpit folds)."
            }
            Measure::BackWaistLength => {
                "Distance down the spine from the seventh cervical vertebra (nape) to the waist level."
            }
            Measure::ArmLength => {
                "Distance from the shoulder point (acromion) down the outside of the arm, over the elbow, to the \
                 wrist."
            }
            Measure::UpperArmGirth => {
                "Girth of the upper arm at its largest part. ANSUR II measured it with the biceps flexed."
            }
            Measure::WristGirth => {
                "Girth of the wrist over the wrist bones (styloid processes)."
            }
            Measure::ThighGirth => {
                "Horizontal girth of the thigh at its highest part, just below the buttock fold."
            }
            Measure::CalfGirth => "Horizontal girth of the calf at its largest part.",
            Measure::InsideLeg => {
                "Vertical distance from the crotch to the floor, standing with the feet slightly apart."
            }
            Measure::WaistHeight => {
                "Vertical distance from the floor to the waist level. ANSUR II takes the waist at the navel \
                 (omphalion)."
            }
            Measure::CrotchLength => {
                "Distance from the front waist through the crotch to the back waist. ANSUR II takes the waist \
                 at the navel level front and back."
            }
            Measure::Weight => "Body mass, lightly clothed.",
        }
    }

    /// Which quantity (and so unit) the measure is.
    pub fn quantity(self) -> Quantity {
        match self {
            Measure::Weight => Quantity::Mass,
            _ => Quantity::Length,
        }
    }

    /// Looks a measure up by its snake_case name.
    pub fn from_name(name: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Looks a measure up by its ANSUR II column.
    pub fn from_ansur_column(column: &str) -> Option<Measure> {
        Measure::ALL
            .into_iter()
            .find(|m| m.ansur_column() == column)
    }

    /// Everything known about the measure, for documentation endpoints.
    pub fn info(self) -> MeasureInfo {
        MeasureInfo {
            name: self.name(),
            ansur: self.ansur_column(),
            chinese_name: self.chinese_name(),
            unit: self.quantity().api_unit(),
            definition: self.definition(),
        }
    }
}

/// Serializable description of one measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeasureInfo {
    /// snake_case name.
    pub name: &'static str,
    /// ANSUR II column.
    pub ansur: &'static str,
    /// Chinese name.
    pub chinese_name: &'static str,
    /// API unit (`cm` or `kg`).
    pub unit: &'static str,
    /// ISO 8559-1 definition (paraphrase).
    pub definition: &'static str,
}

/// The whole measurement set described, in response order.
pub fn catalog() -> Vec<MeasureInfo> {
    Measure::ALL.into_iter().map(Measure::info).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_lookups() {
        for m in Measure::ALL {
            let json = serde_json::to_string(&m).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", m.name()));
            assert_eq!(Measure::from_name(m.name()), Some(m));
            assert_eq!(Measure::from_ansur_column(m.ansur_column()), Some(m));
        }
    }

    #[test]
    fn every_measure_is_an_ansur_column() {
        let header = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/body/ansur2_holdout.csv"
        ))
        .unwrap_or_default();
        let first = header.lines().next().unwrap_or_default();
        let columns: Vec<&str> = first.split(',').collect();
        for m in Measure::ALL {
            assert!(
                columns.contains(&m.ansur_column()),
                "{} missing",
                m.ansur_column()
            );
        }
    }

    #[test]
    fn units_convert_ansur_to_api() {
        assert_eq!(ansur_to_api(1776.0), 177.6);
        assert_eq!(ansur_to_api(815.0), 81.5);
        assert_eq!(api_to_ansur(81.5), 815.0);
        assert_eq!(catalog().len(), 18);
    }
}
