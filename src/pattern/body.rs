//! The body measurement set a draft starts from (cm; weight in kg).
//!
//! The measures are the body-measurement area's own (`body::measures::Measure`), so the
//! measurement service's JSON answer can be fed straight into a draft.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Error;

pub use crate::body::measures::Measure;

/// What drafting accepts of each measure.
impl Measure {
    /// Range a real adult's value falls in (cm, or kg for weight); outside it the value is
    /// rejected as a typo or a unit mix-up (mm, inches) rather than drafted.
    fn plausible(self) -> (f64, f64) {
        match self {
            Measure::Stature => (120.0, 230.0),
            Measure::NeckGirth => (25.0, 60.0),
            Measure::ChestGirth => (60.0, 170.0),
            Measure::WaistGirth => (45.0, 170.0),
            Measure::HipGirth => (65.0, 180.0),
            Measure::ShoulderBreadth => (28.0, 60.0),
            Measure::ShoulderLength => (8.0, 22.0),
            Measure::AcrossBack => (25.0, 60.0),
            Measure::BackWaistLength => (30.0, 60.0),
            Measure::ArmLength => (40.0, 80.0),
            Measure::UpperArmGirth => (18.0, 55.0),
            Measure::WristGirth => (11.0, 25.0),
            Measure::ThighGirth => (35.0, 90.0),
            Measure::CalfGirth => (25.0, 60.0),
            Measure::InsideLeg => (55.0, 105.0),
            Measure::WaistHeight => (70.0, 140.0),
            Measure::CrotchLength => (45.0, 110.0),
            Measure::Weight => (30.0, 250.0),
        }
    }
}

/// A person's measurements (cm, weight in kg); any subset of [`Measure::ALL`].
///
/// Serialises as a flat object `{"chest_girth": 96.0, ...}`; deserialises from that or from the
/// measurement service's answer `{"measurements":[{"name":"chest_girth","value_cm":96.0,...}]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Body {
    values: BTreeMap<Measure, f64>,
}

/// One entry of the measurement service's answer; extra fields (`ansur`, `sd_cm`) are ignored.
/// Weight comes as `value_kg`, every length as `value_cm`.
#[derive(Deserialize)]
struct ServiceMeasurement {
    name: String,
    #[serde(alias = "value", alias = "value_kg")]
    value_cm: f64,
}

#[derive(Deserialize)]
struct ServiceAnswer {
    measurements: Vec<ServiceMeasurement>,
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Body::from_value(value).map_err(serde::de::Error::custom)
    }
}

impl Body {
    /// An empty measurement set.
    pub fn new() -> Body {
        Body::default()
    }

    /// Builder-style setter.
    pub fn with(mut self, measure: Measure, value: f64) -> Body {
        self.values.insert(measure, value);
        self
    }

    /// Sets one measurement.
    pub fn set(&mut self, measure: Measure, value: f64) {
        self.values.insert(measure, value);
    }

    /// The value if present.
    pub fn get(&self, measure: Measure) -> Option<f64> {
        self.values.get(&measure).copied()
    }

    /// The value, or an error naming the missing field.
    pub fn require(&self, measure: Measure) -> Result<f64, Error> {
        self.get(measure).ok_or(Error::MissingMeasurement {
            field: measure.name(),
        })
    }

    /// The value in mm (drafts work in mm), or an error naming the missing field.
    pub fn mm(&self, measure: Measure) -> Result<f64, Error> {
        Ok(self.require(measure)? * 10.0)
    }

    /// All measurements present, in [`Measure::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Measure, f64)> + '_ {
        self.values.iter().map(|(m, v)| (*m, *v))
    }

    /// Parses JSON in either accepted shape (see [`Body`]) and validates it.
    pub fn from_json(bytes: &[u8]) -> Result<Body, Error> {
        let value: serde_json::Value = serde_json::from_slice(bytes)?;
        let body = Body::from_value(value)?;
        body.validate()?;
        Ok(body)
    }

    /// Serialises as the flat JSON object.
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        Ok(serde_json::to_vec_pretty(self)?)
    }

    fn from_value(value: serde_json::Value) -> Result<Body, Error> {
        let mut body = Body::new();
        match value {
            serde_json::Value::Object(map) if map.contains_key("measurements") => {
                let answer: ServiceAnswer = serde_json::from_value(serde_json::Value::Object(map))?;
                // The service may report measures this area does not draft from; skip those.
                for m in answer.measurements {
                    if let Some(measure) = Measure::from_name(&m.name) {
                        body.set(measure, m.value_cm);
                    }
                }
            }
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    let measure = Measure::from_name(&key).ok_or_else(|| Error::Measurement {
                        field: key.clone(),
                        reason: "unknown measurement name".into(),
                    })?;
                    let number = v.as_f64().ok_or_else(|| Error::Measurement {
                        field: key.clone(),
                        reason: format!("expected a number in cm, got {v}"),
                    })?;
                    body.set(measure, number);
                }
            }
            other => {
                return Err(Error::Measurement {
                    field: "measurements".into(),
                    reason: format!("expected a JSON object, got {other}"),
                })
            }
        }
        Ok(body)
    }

    /// Checks each value is a positive, plausible number and that proportions are possible.
    pub fn validate(&self) -> Result<(), Error> {
        for (measure, value) in self.iter() {
            let field = measure.name().to_string();
            if !value.is_finite() || value <= 0.0 {
                return Err(Error::Measurement {
                    field,
                    reason: format!("must be a positive number, got {value}"),
                });
            }
            let (lo, hi) = measure.plausible();
            if value < lo || value > hi {
                return Err(Error::Measurement {
                    field,
                    reason: format!(
                        "{value} is outside the plausible range {lo}..{hi} (cm, weight kg)"
                    ),
                });
            }
        }
        let pair = |a: Measure, b: Measure| self.get(a).zip(self.get(b));
        // A large belly can put the waist above the chest, but not by this much.
        if let Some((chest, waist)) = pair(Measure::ChestGirth, Measure::WaistGirth) {
            if chest < waist - 35.0 {
                return Err(Error::Measurement {
                    field: "chest_girth".into(),
                    reason: format!("{chest} cm is far below waist_girth {waist} cm"),
                });
            }
        }
        if let Some((hip, waist)) = pair(Measure::HipGirth, Measure::WaistGirth) {
            if hip < waist - 35.0 {
                return Err(Error::Measurement {
                    field: "hip_girth".into(),
                    reason: format!("{hip} cm is far below waist_girth {waist} cm"),
                });
            }
        }
        if let Some((neck, chest)) = pair(Measure::NeckGirth, Measure::ChestGirth) {
            if neck > chest * 0.6 {
                return Err(Error::Measurement {
                    field: "neck_girth".into(),
                    reason: format!("{neck} cm is implausibly large for chest_girth {chest} cm"),
                });
            }
        }
        for part in [Measure::InsideLeg, Measure::WaistHeight] {
            if let Some((v, stature)) = pair(part, Measure::Stature) {
                if v >= stature * 0.75 {
                    return Err(Error::Measurement {
                        field: part.name().into(),
                        reason: format!("{v} cm cannot be this large for stature {stature} cm"),
                    });
                }
            }
        }
        if let Some((leg, waist_h)) = pair(Measure::InsideLeg, Measure::WaistHeight) {
            if leg >= waist_h {
                return Err(Error::Measurement {
                    field: "inside_leg".into(),
                    reason: format!("{leg} cm must be below waist_height {waist_h} cm"),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// ANSUR II-like men's set (cm), close to GB/T 1335 170/88A.
    pub(crate) fn man() -> Body {
        let v = [
            ("stature", 172.0),
            ("neck_girth", 38.0),
            ("chest_girth", 96.0),
            ("waist_girth", 84.0),
            ("hip_girth", 98.0),
            ("shoulder_breadth", 40.0),
            ("shoulder_length", 15.0),
            ("across_back", 38.0),
            ("back_waist_length", 45.0),
            ("arm_length", 60.0),
            ("upper_arm_girth", 31.0),
            ("wrist_girth", 17.0),
            ("thigh_girth", 58.0),
            ("calf_girth", 38.0),
            ("inside_leg", 80.0),
            ("waist_height", 104.0),
            ("crotch_length", 70.0),
            ("weight", 75.0),
        ];
        let mut b = Body::new();
        for (k, x) in v {
            if let Some(m) = Measure::from_name(k) {
                b.set(m, x);
            }
        }
        b
    }

    /// A women's set close to GB/T 1335 160/84A.
    pub(crate) fn woman() -> Body {
        man()
            .with(Measure::Stature, 160.0)
            .with(Measure::NeckGirth, 33.5)
            .with(Measure::ChestGirth, 86.0)
            .with(Measure::WaistGirth, 68.0)
            .with(Measure::HipGirth, 92.0)
            .with(Measure::ShoulderBreadth, 37.0)
            .with(Measure::AcrossBack, 34.0)
            .with(Measure::BackWaistLength, 38.0)
            .with(Measure::ArmLength, 53.0)
            .with(Measure::UpperArmGirth, 27.0)
            .with(Measure::WristGirth, 15.0)
            .with(Measure::InsideLeg, 73.0)
            .with(Measure::WaistHeight, 98.0)
    }

    #[test]
    fn flat_and_service_shapes_agree() {
        let flat = br#"{"chest_girth": 96.0, "waist_girth": 84, "neck_girth": 38.0}"#;
        let service = br#"{"measurements":[
            {"name":"chest_girth","ansur":"chestcircumference","value_cm":96.0,"sd_cm":1.2},
            {"name":"waist_girth","value_cm":84.0,"sd_cm":1.0},
            {"name":"neck_girth","value_cm":38.0,"sd_cm":0.8},
            {"name":"something_new","value_cm":1.0}],"warnings":[]}"#;
        let a = Body::from_json(flat).unwrap();
        let b = Body::from_json(service).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get(Measure::ChestGirth), Some(96.0));
        let round: Body = serde_json::from_slice(&a.to_json().unwrap()).unwrap();
        assert_eq!(round, a);
    }

    fn field_of(json: &[u8]) -> String {
        match Body::from_json(json) {
            Err(Error::Measurement { field, .. }) => field,
            other => panic!("expected a measurement error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field_of(br#"{"chest_girth": -96}"#), "chest_girth");
        assert_eq!(field_of(br#"{"waist_girth": 960}"#), "waist_girth");
        assert_eq!(field_of(br#"{"chest_grith": 96}"#), "chest_grith");
        assert_eq!(
            field_of(br#"{"chest_girth": 62, "waist_girth": 120}"#),
            "chest_girth"
        );
        assert_eq!(field_of(br#"{"hip_girth": "wide"}"#), "hip_girth");
        let missing = Body::new().require(Measure::NeckGirth).unwrap_err();
        assert!(missing.to_string().contains("neck_girth"), "{missing}");
        assert_eq!(missing.field(), Some("neck_girth".to_string()));
    }

    #[test]
    fn reference_bodies_are_valid() {
        man().validate().unwrap();
        woman().validate().unwrap();
    }
}
