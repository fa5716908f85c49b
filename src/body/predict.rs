//! Predicting the measurement set from known values: CSV in ANSUR units (`atelier body predict`) and
//! one person in cm/kg (`POST /v1/measurements/estimate`).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use super::measures::{ansur_to_api, api_to_ansur, Measure, Quantity};
use super::model::{BodyModel, Observation, Posterior, Sex};
use super::{Error, Result};

/// Suffix of a column holding an observation's standard deviation.
pub const SD_SUFFIX: &str = "_sd";

/// Identifier columns copied through untouched.
const ID_COLUMNS: [&str; 2] = ["subjectid", "id"];

/// A condition a shop should look at; `code` is stable, `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Stable snake_case code.
    pub code: String,
    /// Explanation.
    pub message: String,
}

/// One predicted measure in API units. Lengths fill `value_cm`/`sd_cm`, weight fills `value_kg`/`sd_kg`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasurementEstimate {
    /// Measure name (snake_case).
    pub name: Measure,
    /// ANSUR II column.
    pub ansur: String,
    /// Value in cm (lengths).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value_cm: Option<f64>,
    /// Standard deviation in cm (lengths).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sd_cm: Option<f64>,
    /// Value in kg (weight).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value_kg: Option<f64>,
    /// Standard deviation in kg (weight).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sd_kg: Option<f64>,
    /// Whether the value was given (then the prediction only reflects its stated noise).
    pub observed: bool,
}

impl MeasurementEstimate {
    /// Value in API units (cm or kg).
    pub fn value(&self) -> f64 {
        self.value_cm.or(self.value_kg).unwrap_or(f64::NAN)
    }

    /// Standard deviation in API units (cm or kg).
    pub fn sd(&self) -> f64 {
        self.sd_cm.or(self.sd_kg).unwrap_or(f64::NAN)
    }
}

/// The answer of every measuring path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The measurement set, in [`Measure::ALL`] order.
    pub measurements: Vec<MeasurementEstimate>,
    /// Conditions to check.
    pub warnings: Vec<Warning>,
}

/// `POST /v1/measurements/estimate` body: known values of one person in cm (kg for weight).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateRequest {
    /// Sex, if known.
    #[serde(default)]
    pub sex: Option<Sex>,
    /// Known values keyed by measure name (`chest_girth`) or ANSUR II column (`chestbreadth`).
    #[serde(default)]
    #[schema(schema_with = values_schema)]
    pub values: BTreeMap<String, f64>,
    /// Optional standard deviations of the known values, same keys and units (absent = exact).
    #[serde(default)]
    #[schema(schema_with = sd_schema)]
    pub sd: BTreeMap<String, f64>,
}

/// Known values as [`estimate`] checks them: positive numbers (the model's range of each
/// measure is checked against the loaded model, which the schema cannot know).
fn values_schema() -> Object {
    number_map(
        "Known values by measure name (`chest_girth`) or ANSUR II column (`chestbreadth`), cm or kg.",
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .exclusive_minimum(Some(0.0)),
    )
}

/// Standard deviations as [`estimate`] checks them: non-negative, keyed like the values.
fn sd_schema() -> Object {
    number_map(
        "Standard deviations of the known values, same keys and units (absent = exact).",
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .minimum(Some(0.0)),
    )
}

/// Measure names and ANSUR II columns are both lowercase ASCII.
fn number_map(description: &str, number: ObjectBuilder) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[a-z0-9_]+$")),
        ))
        .additional_properties(Some(number))
        .build()
}

/// Resolves a measure name or ANSUR column to the ANSUR column the model knows.
fn resolve_field(model: &BodyModel, field: &str) -> Result<String> {
    let column = Measure::from_name(field)
        .map(|m| m.ansur_column())
        .unwrap_or(field);
    match model.column_index(column) {
        Some(_) => Ok(column.to_string()),
        None => Err(Error::UnknownField {
            field: field.into(),
        }),
    }
}

fn unit_of(column: &str) -> &'static str {
    if column == Measure::Weight.ansur_column() {
        Quantity::Mass.ansur_unit()
    } else {
        Quantity::Length.ansur_unit()
    }
}

/// Validates one known value (ANSUR units) against the model's plausible range.
pub fn observation(
    model: &BodyModel,
    column: &str,
    value: f64,
    sd: f64,
    row: usize,
) -> Result<Observation> {
    let range = model.range(column).ok_or_else(|| Error::UnknownField {
        field: column.into(),
    })?;
    if !value.is_finite() || value <= 0.0 {
        return Err(Error::InvalidValue {
            field: column.into(),
            row,
            value: value.to_string(),
            reason: "must be a positive number",
        });
    }
    if !sd.is_finite() || sd < 0.0 {
        return Err(Error::InvalidValue {
            field: format!("{column}{SD_SUFFIX}"),
            row,
            value: sd.to_string(),
            reason: "must be a non-negative number",
        });
    }
    if value < range.min || value > range.max {
        return Err(Error::OutOfRange {
            field: column.into(),
            row,
            value,
            min: range.min,
            max: range.max,
            unit: unit_of(column),
        });
    }
    Ok(Observation {
        column: column.into(),
        value,
        sd,
    })
}

/// Conditions the model and lays the result out as the measurement set with warnings.
pub fn estimate_from_observations(
    model: &BodyModel,
    sex: Option<Sex>,
    observations: &[Observation],
) -> Result<Estimate> {
    let posterior = model.condition(sex, observations)?;
    let mut measurements = Vec::with_capacity(Measure::ALL.len());
    for m in Measure::ALL {
        let column = m.ansur_column();
        let (value, sd) = posterior_at(model, &posterior, column)?;
        let (value, sd) = (round2(ansur_to_api(value)), round2(ansur_to_api(sd)));
        let (length, mass) = match m.quantity() {
            Quantity::Length => ((Some(value), Some(sd)), (None, None)),
            Quantity::Mass => ((None, None), (Some(value), Some(sd))),
        };
        measurements.push(MeasurementEstimate {
            name: m,
            ansur: column.into(),
            value_cm: length.0,
            sd_cm: length.1,
            value_kg: mass.0,
            sd_kg: mass.1,
            observed: observations.iter().any(|o| o.column == column),
        });
    }
    Ok(Estimate {
        measurements,
        warnings: warnings(sex, &posterior),
    })
}

fn warnings(sex: Option<Sex>, posterior: &Posterior) -> Vec<Warning> {
    let mut out = Vec::new();
    if posterior.unusual {
        out.push(Warning {
            code: "unusual_observations".into(),
            message:
                "the known values are very improbable together for an adult body; check them for \
                      measuring or typing errors"
                    .into(),
        });
    }
    if sex.is_none() {
        let top = posterior
            .sex_probability
            .iter()
            .map(|(_, p)| *p)
            .fold(0.0, f64::max);
        if top < 0.9 {
            out.push(Warning {
                code: "sex_uncertain".into(),
                message: format!(
                    "sex not given and not clear from the values (best guess {:.0} %); give it for tighter \
                     estimates",
                    top * 100.0
                ),
            });
        }
    }
    out
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn posterior_at(model: &BodyModel, posterior: &Posterior, column: &str) -> Result<(f64, f64)> {
    let i = model.column_index(column).ok_or_else(|| Error::Model {
        context: "bundled".into(),
        message: format!("column `{column}` of the measurement set is not modelled"),
    })?;
    match (posterior.value.get(i), posterior.sd.get(i)) {
        (Some(v), Some(s)) => Ok((*v, *s)),
        _ => Err(Error::Model {
            context: "posterior".into(),
            message: format!("no value for `{column}`"),
        }),
    }
}

/// `POST /v1/measurements/estimate`: one person's known values in cm/kg -> the measurement set.
pub fn estimate(model: &BodyModel, request: &EstimateRequest) -> Result<Estimate> {
    let mut observations: Vec<Observation> = Vec::with_capacity(request.values.len());
    for (field, value) in &request.values {
        let column = resolve_field(model, field)?;
        if observations.iter().any(|o| o.column == column) {
            return Err(Error::Duplicate { field: column });
        }
        let sd = request.sd.get(field).copied().unwrap_or(0.0);
        for (name, number) in [(field.clone(), *value), (format!("sd.{field}"), sd)] {
            if !number.is_finite() || number < 0.0 || (number == 0.0 && name == *field) {
                return Err(Error::InvalidValue {
                    field: name,
                    row: 0,
                    value: number.to_string(),
                    reason: "must be a positive number (sd: non-negative)",
                });
            }
        }
        let o = observation(model, &column, api_to_ansur(*value), api_to_ansur(sd), 0)
            .map_err(|e| in_api_units(e, field))?;
        observations.push(o);
    }
    for field in request.sd.keys() {
        if !request.values.contains_key(field) {
            return Err(Error::UnknownField {
                field: format!("sd.{field} (no value given for it)"),
            });
        }
    }
    estimate_from_observations(model, request.sex, &observations)
}

/// Restates a range error in the caller's field name and cm/kg.
fn in_api_units(error: Error, field: &str) -> Error {
    match error {
        Error::OutOfRange {
            value,
            min,
            max,
            unit,
            ..
        } => Error::OutOfRange {
            field: field.into(),
            row: 0,
            value: ansur_to_api(value),
            min: ansur_to_api(min),
            max: ansur_to_api(max),
            unit: if unit == Quantity::Mass.ansur_unit() {
                Quantity::Mass.api_unit()
            } else {
                Quantity::Length.api_unit()
            },
        },
        Error::InvalidValue {
            row, value, reason, ..
        } => Error::InvalidValue {
            field: field.into(),
            row,
            value,
            reason,
        },
        other => other,
    }
}

enum InputColumn {
    Sex,
    Id,
    Value(String),
    Sd(String),
}

/// `atelier body predict`: reads rows of `sex` + ANSUR columns (ANSUR units, optional `<column>_sd`),
/// writes them back with every measure's ANSUR column and `<column>_sd` added (mm; 0.1 kg). Columns the
/// input already has are not added again; their empty cells are filled with predictions. Returns the
/// number of rows.
pub fn predict_csv<R: Read, W: Write>(model: &BodyModel, input: R, output: W) -> Result<usize> {
    let csv_err = |context: &str| {
        let context = context.to_string();
        move |source| Error::Csv {
            context: context.clone(),
            source,
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let header = reader.headers().map_err(csv_err("input header"))?.clone();
    let mut kinds = Vec::with_capacity(header.len());
    let mut has_sex = false;
    for name in header.iter() {
        // ANSUR's own files call it `Gender`.
        let kind = if name.eq_ignore_ascii_case("sex") || name == "Gender" {
            has_sex = true;
            InputColumn::Sex
        } else if ID_COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(name)) {
            InputColumn::Id
        } else if model.column_index(name).is_some() {
            InputColumn::Value(name.to_string())
        } else if let Some(base) = name
            .strip_suffix(SD_SUFFIX)
            .filter(|b| model.column_index(b).is_some())
        {
            InputColumn::Sd(base.to_string())
        } else {
            return Err(Error::UnknownField { field: name.into() });
        };
        kinds.push(kind);
    }
    if !has_sex {
        return Err(Error::MissingColumn {
            context: "input".into(),
            column: "sex".into(),
        });
    }
    let mut seen: Vec<&str> = Vec::new();
    for name in header.iter() {
        if seen.contains(&name) {
            return Err(Error::Duplicate { field: name.into() });
        }
        seen.push(name);
    }
    let mut added: Vec<(String, bool)> = Vec::new();
    for m in Measure::ALL {
        let column = m.ansur_column();
        for (name, is_sd) in [
            (column.to_string(), false),
            (format!("{column}{SD_SUFFIX}"), true),
        ] {
            if !header.iter().any(|h| h == name) {
                added.push((name, is_sd));
            }
        }
    }
    let mut writer = csv::Writer::from_writer(output);
    let out_header: Vec<&str> = header
        .iter()
        .chain(added.iter().map(|(n, _)| n.as_str()))
        .collect();
    writer
        .write_record(&out_header)
        .map_err(csv_err("output header"))?;
    let mut rows = 0;
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        let record = record.map_err(csv_err(&format!("input row {row}")))?;
        let mut sex = None;
        let mut values: Vec<(String, f64)> = Vec::new();
        let mut sds: BTreeMap<String, f64> = BTreeMap::new();
        for (kind, (name, text)) in kinds.iter().zip(header.iter().zip(record.iter())) {
            let number = || {
                text.parse::<f64>().map_err(|_| Error::InvalidValue {
                    field: name.into(),
                    row,
                    value: text.into(),
                    reason: "not a number",
                })
            };
            match kind {
                InputColumn::Sex => sex = Sex::parse(text, row)?,
                InputColumn::Id => {}
                _ if text.is_empty() => {}
                InputColumn::Value(column) => values.push((column.clone(), number()?)),
                InputColumn::Sd(column) => {
                    sds.insert(column.clone(), number()?);
                }
            }
        }
        let observations = values
            .iter()
            .map(|(c, v)| observation(model, c, *v, sds.get(c).copied().unwrap_or(0.0), row))
            .collect::<Result<Vec<_>>>()?;
        let posterior = model.condition(sex, &observations)?;
        let given = |column: &str| values.iter().any(|(c, _)| c == column);
        let mut out: Vec<String> = Vec::with_capacity(out_header.len());
        // Input columns are repeated; empty cells of modelled columns are filled with predictions.
        for (kind, text) in kinds.iter().zip(record.iter()) {
            let filled = match kind {
                InputColumn::Value(c) if !given(c) => Some(posterior_at(model, &posterior, c)?.0),
                InputColumn::Sd(c) if !given(c) => Some(posterior_at(model, &posterior, c)?.1),
                _ => None,
            };
            out.push(filled.map_or_else(|| text.to_string(), |v| format!("{v:.1}")));
        }
        for (name, is_sd) in &added {
            let column = if *is_sd {
                name.strip_suffix(SD_SUFFIX).unwrap_or(name)
            } else {
                name.as_str()
            };
            let (value, sd) = posterior_at(model, &posterior, column)?;
            out.push(format!("{:.1}", if *is_sd { sd } else { value }));
        }
        writer
            .write_record(&out)
            .map_err(csv_err(&format!("output row {row}")))?;
        rows += 1;
    }
    writer.flush().map_err(|source| Error::Io {
        action: "writing",
        path: "output".into(),
        source,
    })?;
    Ok(rows)
}

/// [`predict_csv`] between files.
pub fn predict_csv_file(model: &BodyModel, input: &Path, output: &Path) -> Result<usize> {
    let reader = std::fs::File::open(input).map_err(|source| Error::Io {
        action: "reading",
        path: input.to_path_buf(),
        source,
    })?;
    let writer = std::fs::File::create(output).map_err(|source| Error::Io {
        action: "writing",
        path: output.to_path_buf(),
        source,
    })?;
    predict_csv(
        model,
        std::io::BufReader::new(reader),
        std::io::BufWriter::new(writer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> BodyModel {
        BodyModel::bundled().unwrap_or_else(|e| panic!("{e}"))
    }

    fn run(input: &str) -> Result<String> {
        let mut out = Vec::new();
        predict_csv(&model(), input.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).unwrap_or_default())
    }

    #[test]
    fn csv_adds_every_measure_and_its_sd() {
        let out = run(
            "subjectid,sex,stature,weightkg,chestbreadth,chestbreadth_sd\n\
                       1,female,1650,620,280,15\n2,male,1780,,,\n3,,1800,900,,\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut reader = csv::Reader::from_reader(out.as_bytes());
        let header = reader.headers().cloned().unwrap_or_default();
        for m in Measure::ALL {
            let c = m.ansur_column();
            assert_eq!(header.iter().filter(|h| *h == c).count(), 1, "{c}");
            assert_eq!(
                header.iter().filter(|h| *h == format!("{c}_sd")).count(),
                1,
                "{c}_sd"
            );
        }
        assert_eq!(header.get(0), Some("subjectid"));
        let rows: Vec<csv::StringRecord> = reader.records().filter_map(|r| r.ok()).collect();
        assert_eq!(rows.len(), 3);
        let col = |name: &str| header.iter().position(|h| h == name).unwrap_or(usize::MAX);
        let num = |r: &csv::StringRecord, name: &str| -> f64 {
            r.get(col(name))
                .and_then(|t| t.parse().ok())
                .unwrap_or(f64::NAN)
        };
        let first = rows.first().cloned().unwrap_or_default();
        // Given exactly: repeated as given, with zero sd.
        assert_eq!(first.get(col("stature")), Some("1650"));
        assert!(num(&first, "stature_sd") < 1.0);
        let chest = num(&first, "chestcircumference");
        assert!((800.0..1100.0).contains(&chest), "{chest}");
        let second = rows.get(1).cloned().unwrap_or_default();
        assert!(num(&second, "weightkg") > 600.0 && num(&second, "weightkg_sd") > 50.0);
    }

    #[test]
    fn held_out_subjects_through_the_csv_path() {
        // The issue's acceptance path: held-out ANSUR subjects, only what photos and a scale show, through
        // the CSV predictor; errors against their real tape measurements.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/body/ansur2_holdout.csv"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().cloned().unwrap_or_default();
        let keep: Vec<usize> = header
            .iter()
            .enumerate()
            .filter(|(_, h)| {
                *h == "subjectid"
                    || *h == "Gender"
                    || crate::body::validation::PHOTO_FEATURES.contains(h)
            })
            .map(|(i, _)| i)
            .collect();
        let rows: Vec<csv::StringRecord> = reader.records().filter_map(|r| r.ok()).collect();
        let mut input = csv::Writer::from_writer(Vec::new());
        let pick = |r: &csv::StringRecord| {
            keep.iter()
                .map(|&i| r.get(i).unwrap_or("").to_string())
                .collect::<Vec<_>>()
        };
        input
            .write_record(pick(&header))
            .unwrap_or_else(|e| panic!("{e}"));
        for r in &rows {
            input
                .write_record(pick(r))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let input = input.into_inner().unwrap_or_default();
        let mut out = Vec::new();
        let n = predict_csv(&model(), input.as_slice(), &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n, rows.len());
        let mut pred = csv::Reader::from_reader(out.as_slice());
        let pred_header = pred.headers().cloned().unwrap_or_default();
        let predicted: Vec<csv::StringRecord> = pred.records().filter_map(|r| r.ok()).collect();
        for (column, limit) in [
            ("chestcircumference", 17.5),
            ("waistcircumference", 12.5),
            ("buttockcircumference", 12.0),
        ] {
            let ti = header
                .iter()
                .position(|h| h == column)
                .unwrap_or(usize::MAX);
            let pi = pred_header
                .iter()
                .position(|h| h == column)
                .unwrap_or(usize::MAX);
            let num = |r: &csv::StringRecord, i: usize| {
                r.get(i)
                    .and_then(|t| t.parse::<f64>().ok())
                    .unwrap_or(f64::NAN)
            };
            let mae = rows
                .iter()
                .zip(&predicted)
                .map(|(t, p)| (num(p, pi) - num(t, ti)).abs())
                .sum::<f64>()
                / rows.len() as f64;
            assert!(mae <= limit, "{column}: {mae:.1} mm");
        }
    }

    #[test]
    fn csv_errors_name_the_field() {
        let e = run("sex,stature,kneecap\nmale,1700,3\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`kneecap`"), "{e}");
        let e = run("sex,stature\nmale,17000\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("`stature` (row 1)") && e.contains("outside"),
            "{e}"
        );
        let e = run("sex,stature\nmale,tall\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`stature` (row 1)") && e.contains("tall"), "{e}");
        let e = run("sex,stature\nalien,1700\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`sex`") && e.contains("alien"), "{e}");
        let e = run("stature\n1700\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`sex`"), "{e}");
        let e = run("sex,weightkg\nfemale,-3\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`weightkg`"), "{e}");
    }

    #[test]
    fn json_estimate_in_cm_and_kg() {
        let request: EstimateRequest = serde_json::from_str(
            r#"{"sex":"male","values":{"stature":178.0,"weight":80.0,"chest_girth":102.0,"waistbreadth":31.0},
                "sd":{"waistbreadth":1.5}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let e = estimate(&model(), &request).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.measurements.len(), Measure::ALL.len());
        let get = |m: Measure| e.measurements.iter().find(|x| x.name == m).cloned();
        let chest = get(Measure::ChestGirth).unwrap_or_else(|| panic!("chest"));
        assert!(chest.observed && (chest.value() - 102.0).abs() < 0.05 && chest.sd() < 0.05);
        let weight = get(Measure::Weight).unwrap_or_else(|| panic!("weight"));
        assert!((weight.value_kg.unwrap_or(0.0) - 80.0).abs() < 0.05 && weight.value_cm.is_none());
        let waist = get(Measure::WaistGirth).unwrap_or_else(|| panic!("waist"));
        assert!(!waist.observed && (70.0..110.0).contains(&waist.value()) && waist.sd() > 1.0);
        let json = serde_json::to_value(&e).unwrap_or_default();
        assert!(json["measurements"][2]["value_cm"].is_number());
        assert_eq!(json["measurements"][2]["name"], "chest_girth");
        assert!(json["warnings"].is_array());
    }

    #[test]
    fn json_errors_name_the_field_in_api_units() {
        let req = |text: &str| {
            serde_json::from_str::<EstimateRequest>(text).unwrap_or_else(|e| panic!("{e}"))
        };
        let e = estimate(&model(), &req(r#"{"values":{"stature":17.5}}"#))
            .err()
            .map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.contains("`stature`") && e.contains(" cm") && !e.contains("row"),
            "{e}"
        );
        let e = estimate(&model(), &req(r#"{"values":{"weight":-70}}"#))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`weight`") && e.contains("-70"), "{e}");
        let e = estimate(&model(), &req(r#"{"values":{"chest":100}}"#))
            .err()
            .map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("`chest`"));
        let e = estimate(&model(), &req(r#"{"values":{"weight":70,"weightkg":71}}"#)).err();
        assert!(matches!(e, Some(Error::Duplicate { .. })));
        assert!(serde_json::from_str::<EstimateRequest>(r#"{"height":170}"#).is_err());
    }
}
