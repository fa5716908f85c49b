//! Statistical body model: per sex, a Gaussian mixture over (log-)measurements of ANSUR II subjects.
//!
//! Every question the service asks ("given these observations, what are the other measurements and how
//! sure are we?") is a conditional of this joint distribution. Observations may be exact (tape) or carry
//! a standard deviation (photo features); the noise is added to the observed block of the covariance.
//! When sex is unknown, both sexes' components compete by likelihood.

use std::path::Path;

use nalgebra::{Cholesky, DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::ansur::{fold_of, AnsurData, SourceFile};
use super::{Error, Result};

/// Identifier of the model file format; bump when the layout changes.
pub const FORMAT: &str = "atelier-body-model/1";

/// The committed model trained by `atelier body train`, compiled into the binary.
const BUNDLED_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/body/ansur2_body_model.json"
));

/// Path of the committed model, relative to the repository root.
pub const BUNDLED_PATH: &str = "models/body/ansur2_body_model.json";

/// Observation variance floor in model space, so that exact, collinear observations stay solvable.
const MIN_OBSERVATION_VARIANCE: f64 = 1e-10;

/// Relative ridge added to covariance diagonals while fitting, for stable Cholesky factors.
const RIDGE: f64 = 1e-6;

/// Sex of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    /// Male.
    Male,
    /// Female.
    Female,
}

impl Sex {
    /// Parses `male`/`female`/`m`/`f` (any case); empty means unknown. `row` is for the error message.
    pub fn parse(text: &str, row: usize) -> Result<Option<Sex>> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "male" | "m" => Ok(Some(Sex::Male)),
            "female" | "f" => Ok(Some(Sex::Female)),
            _ => Err(Error::UnknownSex {
                row,
                value: text.into(),
            }),
        }
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
}

/// Space the Gaussian lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// Natural log of ANSUR values: body proportions scale multiplicatively and stay positive.
    Log,
    /// ANSUR values as they are.
    Identity,
}

impl Transform {
    fn forward(self, x: f64) -> f64 {
        match self {
            Transform::Log => x.ln(),
            Transform::Identity => x,
        }
    }

    /// Variance in model space of an observation `x` with standard deviation `sd` (delta method for log).
    fn observation_variance(self, x: f64, sd: f64) -> f64 {
        let v = match self {
            Transform::Log => (sd / x).powi(2),
            Transform::Identity => sd * sd,
        };
        v.max(MIN_OBSERVATION_VARIANCE)
    }

    /// Mean, median-like point and variance in ANSUR units of a model-space normal (mu, var).
    fn back(self, mu: f64, var: f64) -> (f64, f64, f64) {
        match self {
            // Log-normal: the median exp(mu) minimises absolute error, the mean enters mixture variances.
            Transform::Log => {
                let mean = (mu + var / 2.0).exp();
                let variance = (var.exp() - 1.0) * (2.0 * mu + var).exp();
                (mu.exp(), mean, variance)
            }
            Transform::Identity => (mu, mu, var),
        }
    }
}

/// Subjects left out of training, chosen by a hash of their id (see [`fold_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holdout {
    /// Number of hash folds.
    pub folds: u64,
    /// The fold left out.
    pub fold: u64,
}

impl Holdout {
    /// Whether a subject belongs to the held-out fold.
    pub fn contains(&self, subject_id: u64) -> bool {
        fold_of(subject_id, self.folds) == self.fold
    }
}

/// How to fit the model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Space of the Gaussian.
    pub transform: Transform,
    /// Mixture components per sex (1 = one Gaussian per sex).
    pub components: usize,
    /// Subjects kept out of training (for honest held-out tests).
    pub holdout: Option<Holdout>,
    /// EM iterations when `components > 1`.
    pub em_iterations: usize,
}

impl Default for TrainOptions {
    /// The configuration of the committed model (chosen by cross-validation, see STATUS/README).
    fn default() -> Self {
        TrainOptions {
            transform: Transform::Log,
            components: 1,
            holdout: Some(Holdout { folds: 10, fold: 0 }),
            em_iterations: 60,
        }
    }
}

/// Where the parameters came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Command that produced the file.
    pub tool: String,
    /// Fitting method in words.
    pub method: String,
    /// UTC time of training (RFC 3339).
    pub trained_at: String,
    /// Input files with sha256.
    pub data: Vec<SourceFile>,
    /// Licence of the data.
    pub data_licence: String,
    /// Options used.
    pub options: TrainOptions,
    /// Subjects used for fitting.
    pub training_subjects: usize,
    /// Subjects held out.
    pub held_out_subjects: usize,
}

/// Plausible range of a column in ANSUR units; values outside are rejected as absurd.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// Lowest plausible value.
    pub min: f64,
    /// Highest plausible value.
    pub max: f64,
}

/// One Gaussian of a sex's mixture, in model space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// Mixture weight within the sex.
    pub weight: f64,
    /// Mean vector (order of [`ModelFile::columns`]).
    pub mean: Vec<f64>,
    /// Covariance matrix, row-major rows.
    pub covariance: Vec<Vec<f64>>,
}

/// The mixture of one sex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SexModel {
    /// Which sex.
    pub sex: Sex,
    /// Share of training subjects of this sex (prior when sex is unknown).
    pub prior: f64,
    /// Number of training subjects.
    pub subjects: usize,
    /// Mixture components.
    pub components: Vec<Component>,
}

/// The serialized model (the committed JSON file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// Must equal [`FORMAT`].
    pub format: String,
    /// Where the parameters came from.
    pub provenance: Provenance,
    /// Space of the Gaussians.
    pub transform: Transform,
    /// ANSUR II columns modelled.
    pub columns: Vec<String>,
    /// Plausible range per column (ANSUR units).
    pub ranges: Vec<Range>,
    /// One mixture per sex.
    pub sexes: Vec<SexModel>,
}

/// One known value, in ANSUR units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// ANSUR II column.
    pub column: String,
    /// Value (mm; 0.1 kg for `weightkg`).
    pub value: f64,
    /// Standard deviation of the observation (same unit); 0 for an exact value.
    pub sd: f64,
}

/// Conditional distribution of every column given the observations (ANSUR units).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Posterior {
    /// Point prediction per column (median for one log-Gaussian).
    pub value: Vec<f64>,
    /// Standard deviation per column.
    pub sd: Vec<f64>,
    /// Posterior probability of each sex.
    pub sex_probability: Vec<(Sex, f64)>,
    /// Whether the observations are improbable for an adult body (Mahalanobis distance beyond the
    /// 99.9 % chi-square quantile in the best component): a sign of a measuring error.
    pub unusual: bool,
}

struct RuntimeComponent {
    sex: Sex,
    log_weight: f64,
    mean: DVector<f64>,
    covariance: DMatrix<f64>,
}

/// A loaded body model, ready to condition.
pub struct BodyModel {
    file: ModelFile,
    components: Vec<RuntimeComponent>,
}

impl std::fmt::Debug for BodyModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyModel")
            .field("columns", &self.file.columns.len())
            .field("components", &self.components.len())
            .finish()
    }
}

struct ComponentPosterior {
    mean: DVector<f64>,
    var: DVector<f64>,
    log_likelihood: f64,
    mahalanobis: f64,
}

impl BodyModel {
    /// The committed model compiled into the binary.
    pub fn bundled() -> Result<BodyModel> {
        BodyModel::from_json(BUNDLED_JSON, BUNDLED_PATH)
    }

    /// Loads a model file written by [`BodyModel::save`].
    pub fn load(path: &Path) -> Result<BodyModel> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        })?;
        BodyModel::from_json(&text, &path.display().to_string())
    }

    /// Parses a model from JSON text; `context` names it in errors.
    pub fn from_json(text: &str, context: &str) -> Result<BodyModel> {
        let file: ModelFile = serde_json::from_str(text).map_err(|source| Error::Json {
            context: context.into(),
            source,
        })?;
        BodyModel::from_file(file, context)
    }

    /// Checks dimensions and prepares matrices.
    pub fn from_file(file: ModelFile, context: &str) -> Result<BodyModel> {
        let bad = |message: String| Error::Model {
            context: context.into(),
            message,
        };
        if file.format != FORMAT {
            return Err(bad(format!(
                "format `{}`, expected `{FORMAT}`",
                file.format
            )));
        }
        let d = file.columns.len();
        if file.ranges.len() != d {
            return Err(bad(format!("{} ranges for {d} columns", file.ranges.len())));
        }
        let mut components = Vec::new();
        for group in &file.sexes {
            for c in &group.components {
                if c.mean.len() != d
                    || c.covariance.len() != d
                    || c.covariance.iter().any(|r| r.len() != d)
                {
                    return Err(bad(format!(
                        "a {} component is not {d}-dimensional",
                        group.sex.as_str()
                    )));
                }
                if !(c.weight > 0.0 && group.prior > 0.0) {
                    return Err(bad("non-positive weight or prior".into()));
                }
                components.push(RuntimeComponent {
                    sex: group.sex,
                    log_weight: group.prior.ln() + c.weight.ln(),
                    mean: DVector::from_column_slice(&c.mean),
                    covariance: DMatrix::from_fn(d, d, |i, j| {
                        c.covariance
                            .get(i)
                            .and_then(|r| r.get(j))
                            .copied()
                            .unwrap_or(0.0)
                    }),
                });
            }
        }
        if components.is_empty() {
            return Err(bad("no components".into()));
        }
        Ok(BodyModel { file, components })
    }

    /// The serialized parameters and provenance.
    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    /// Modelled ANSUR II columns.
    pub fn columns(&self) -> &[String] {
        &self.file.columns
    }

    /// Position of an ANSUR column.
    pub fn column_index(&self, column: &str) -> Option<usize> {
        self.file.columns.iter().position(|c| c == column)
    }

    /// Plausible range of a column (ANSUR units).
    pub fn range(&self, column: &str) -> Option<Range> {
        self.column_index(column)
            .and_then(|i| self.file.ranges.get(i))
            .copied()
    }

    /// Writes the model as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string(&self.file).map_err(|source| Error::Json {
            context: path.display().to_string(),
            source,
        })?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                action: "creating",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(path, text + "\n").map_err(|source| Error::Io {
            action: "writing",
            path: path.to_path_buf(),
            source,
        })
    }

    /// Conditional distribution of every column given `sex` (if known) and observations in ANSUR units.
    ///
    /// Observations must name modelled columns, once each, with positive finite values and
    /// non-negative standard deviations; callers validate user input first (see `predict`).
    pub fn condition(&self, sex: Option<Sex>, observations: &[Observation]) -> Result<Posterior> {
        let t = self.file.transform;
        let mut index = Vec::with_capacity(observations.len());
        let mut y = Vec::with_capacity(observations.len());
        let mut r = Vec::with_capacity(observations.len());
        for o in observations {
            let i = self
                .column_index(&o.column)
                .ok_or_else(|| Error::UnknownField {
                    field: o.column.clone(),
                })?;
            if index.contains(&i) {
                return Err(Error::Duplicate {
                    field: o.column.clone(),
                });
            }
            if !(o.value.is_finite() && o.value > 0.0 && o.sd.is_finite() && o.sd >= 0.0) {
                return Err(Error::InvalidValue {
                    field: o.column.clone(),
                    row: 0,
                    value: format!("{} (sd {})", o.value, o.sd),
                    reason: "value must be positive and sd non-negative",
                });
            }
            index.push(i);
            y.push(t.forward(o.value));
            r.push(t.observation_variance(o.value, o.sd));
        }
        let mut parts = Vec::new();
        for c in self
            .components
            .iter()
            .filter(|c| sex.is_none_or(|s| s == c.sex))
        {
            let p = condition_component(c, &index, &y, &r)?;
            parts.push((c.sex, c.log_weight + p.log_likelihood, p));
        }
        let max_log = parts
            .iter()
            .map(|(_, l, _)| *l)
            .fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = parts.iter().map(|(_, l, _)| (l - max_log).exp()).sum();
        let d = self.file.columns.len();
        let mut value = vec![0.0; d];
        let mut mean = vec![0.0; d];
        let mut second = vec![0.0; d];
        let mut sex_probability: Vec<(Sex, f64)> = Vec::new();
        let mut best = (f64::NEG_INFINITY, 0.0);
        for (s, l, p) in &parts {
            let w = (l - max_log).exp() / total;
            match sex_probability.iter_mut().find(|(x, _)| x == s) {
                Some(entry) => entry.1 += w,
                None => sex_probability.push((*s, w)),
            }
            if *l > best.0 {
                best = (*l, p.mahalanobis);
            }
            for j in 0..d {
                let (point, m, v) = t.back(p.mean[j], p.var[j]);
                value[j] += w * point;
                mean[j] += w * m;
                second[j] += w * (v + m * m);
            }
        }
        let sd = mean
            .iter()
            .zip(&second)
            .map(|(m, s)| (s - m * m).max(0.0).sqrt())
            .collect();
        Ok(Posterior {
            value,
            sd,
            sex_probability,
            unusual: best.1 > chi_square_999(observations.len()),
        })
    }
}

fn condition_component(
    c: &RuntimeComponent,
    index: &[usize],
    y: &[f64],
    r: &[f64],
) -> Result<ComponentPosterior> {
    let d = c.mean.len();
    let o = index.len();
    if o == 0 {
        return Ok(ComponentPosterior {
            mean: c.mean.clone(),
            var: c.covariance.diagonal(),
            log_likelihood: 0.0,
            mahalanobis: 0.0,
        });
    }
    let s = DMatrix::from_fn(o, o, |a, b| {
        c.covariance[(index[a], index[b])] + if a == b { r[a] } else { 0.0 }
    });
    let chol = Cholesky::new(s).ok_or_else(|| Error::Numerical {
        context: "observed covariance is not positive definite".into(),
    })?;
    let l = chol.l();
    let cross = DMatrix::from_fn(o, d, |a, j| c.covariance[(index[a], j)]);
    let resid = DVector::from_fn(o, |a, _| y[a] - c.mean[index[a]]);
    let (Some(a_mat), Some(b)) = (
        l.solve_lower_triangular(&cross),
        l.solve_lower_triangular(&resid),
    ) else {
        return Err(Error::Numerical {
            context: "triangular solve failed".into(),
        });
    };
    let mean = &c.mean + a_mat.tr_mul(&b);
    let var = DVector::from_fn(d, |j, _| {
        let explained: f64 = a_mat.column(j).norm_squared();
        (c.covariance[(j, j)] - explained).max(0.0)
    });
    let mahalanobis = b.norm_squared();
    let log_det: f64 = l.diagonal().iter().map(|x| x.ln()).sum();
    let log_likelihood =
        -0.5 * mahalanobis - log_det - 0.5 * o as f64 * (2.0 * std::f64::consts::PI).ln();
    Ok(ComponentPosterior {
        mean,
        var,
        log_likelihood,
        mahalanobis,
    })
}

/// 99.9 % quantile of chi-square with `k` degrees of freedom (Wilson-Hilferty approximation).
fn chi_square_999(k: usize) -> f64 {
    if k == 0 {
        return f64::INFINITY;
    }
    let k = k as f64;
    let z = 3.090_232;
    let h = 2.0 / (9.0 * k);
    k * (1.0 - h + z * h.sqrt()).powi(3)
}

/// `atelier body train --data DIR --out FILE`: reads the two ANSUR II CSV files in `data_dir`, fits with
/// `options` ([`TrainOptions::default`] gives the committed model) and writes the JSON model to `out`.
pub fn train_files(data_dir: &Path, out: &Path, options: &TrainOptions) -> Result<BodyModel> {
    let data = super::ansur::load_dir(data_dir)?;
    let model = train(&data, options)?;
    model.save(out)?;
    Ok(model)
}

/// Fits the model on ANSUR II data (both sexes), leaving out `options.holdout`.
pub fn train(data: &AnsurData, options: &TrainOptions) -> Result<BodyModel> {
    let ids: Vec<usize> = (0..data.subjects.len())
        .filter(|&i| {
            data.subjects
                .get(i)
                .is_some_and(|s| !options.holdout.is_some_and(|h| h.contains(s.id)))
        })
        .collect();
    train_on(data, &ids, options)
}

/// Fits the model on the subjects at positions `rows` of `data`.
pub fn train_on(data: &AnsurData, rows: &[usize], options: &TrainOptions) -> Result<BodyModel> {
    let d = data.columns.len();
    let t = options.transform;
    let mut sexes = Vec::new();
    let mut ranges = vec![
        Range {
            min: f64::INFINITY,
            max: 0.0
        };
        d
    ];
    for s in &data.subjects {
        for (range, v) in ranges.iter_mut().zip(&s.values) {
            range.min = range.min.min(*v);
            range.max = range.max.max(*v);
        }
    }
    // Absurd, not merely unusual: half the smallest and 1.5 times the largest surveyed adult.
    for range in &mut ranges {
        range.min *= 0.5;
        range.max *= 1.5;
    }
    for sex in [Sex::Female, Sex::Male] {
        let members: Vec<&[f64]> = rows
            .iter()
            .filter_map(|&i| data.subjects.get(i))
            .filter(|s| s.sex == sex)
            .map(|s| s.values.as_slice())
            .collect();
        let n = members.len();
        if n < (d + 1) * options.components.max(1) {
            return Err(Error::Data {
                context: sex.as_str().into(),
                message: format!("{n} subjects are too few for {d} columns"),
            });
        }
        let x = DMatrix::from_fn(n, d, |i, j| t.forward(members[i][j]));
        let components = fit_mixture(&x, options.components.max(1), options.em_iterations)?;
        sexes.push(SexModel {
            sex,
            prior: n as f64,
            subjects: n,
            components,
        });
    }
    let total: f64 = sexes.iter().map(|s| s.prior).sum();
    for s in &mut sexes {
        s.prior /= total;
    }
    let held_out = data.subjects.len() - rows.len();
    let method = format!(
        "per sex, a {}-component Gaussian mixture on {} ANSUR II values (maximum likelihood{}), \
         conditioned in closed form",
        options.components.max(1),
        match t {
            Transform::Log => "natural-log",
            Transform::Identity => "raw",
        },
        if options.components > 1 { ", EM" } else { "" },
    );
    let file = ModelFile {
        format: FORMAT.into(),
        provenance: Provenance {
            tool: "atelier body train".into(),
            method,
            trained_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            data: data.sources.clone(),
            data_licence: "ANSUR II public data (US Army, 2012): US Government work, public domain"
                .into(),
            options: *options,
            training_subjects: rows.len(),
            held_out_subjects: held_out,
        },
        transform: t,
        columns: data.columns.clone(),
        ranges,
        sexes,
    };
    BodyModel::from_file(file, "trained model")
}

/// Maximum-likelihood Gaussian mixture by EM, deterministically initialised by quantiles of the
/// first column's deviation sum (a size proxy), so training is reproducible.
fn fit_mixture(x: &DMatrix<f64>, k: usize, iterations: usize) -> Result<Vec<Component>> {
    let (n, d) = x.shape();
    let size: Vec<f64> = (0..n).map(|i| x.row(i).sum()).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| size[a].total_cmp(&size[b]));
    let mut resp = DMatrix::<f64>::zeros(n, k);
    for (rank, &i) in order.iter().enumerate() {
        resp[(i, rank * k / n)] = 1.0;
    }
    let mut components = m_step(x, &resp)?;
    let rounds = if k == 1 { 0 } else { iterations };
    let mut previous = f64::NEG_INFINITY;
    for _ in 0..rounds {
        let mut log_p = DMatrix::<f64>::zeros(n, k);
        for (c, comp) in components.iter().enumerate() {
            let chol = Cholesky::new(comp.1.clone()).ok_or_else(|| Error::Numerical {
                context: "mixture covariance is not positive definite".into(),
            })?;
            let l = chol.l();
            let log_det: f64 = l.diagonal().iter().map(|v| v.ln()).sum();
            let centred = DMatrix::from_fn(d, n, |j, i| x[(i, j)] - comp.0[j]);
            let z = l
                .solve_lower_triangular(&centred)
                .ok_or_else(|| Error::Numerical {
                    context: "EM triangular solve".into(),
                })?;
            for i in 0..n {
                log_p[(i, c)] = comp.2.ln() - 0.5 * z.column(i).norm_squared() - log_det;
            }
        }
        let mut total = 0.0;
        for i in 0..n {
            let m = log_p.row(i).max();
            let s: f64 = log_p.row(i).iter().map(|v| (v - m).exp()).sum();
            total += m + s.ln();
            for c in 0..k {
                resp[(i, c)] = (log_p[(i, c)] - m).exp() / s;
            }
        }
        components = m_step(x, &resp)?;
        if (total - previous).abs() < 1e-8 * n as f64 {
            break;
        }
        previous = total;
    }
    Ok(components
        .into_iter()
        .map(|(mean, cov, weight)| Component {
            weight,
            mean: mean.iter().copied().collect(),
            covariance: (0..d)
                .map(|i| cov.row(i).iter().copied().collect())
                .collect(),
        })
        .collect())
}

type Gaussian = (DVector<f64>, DMatrix<f64>, f64);

fn m_step(x: &DMatrix<f64>, resp: &DMatrix<f64>) -> Result<Vec<Gaussian>> {
    let (n, d) = x.shape();
    let mut out = Vec::with_capacity(resp.ncols());
    for c in 0..resp.ncols() {
        let r = resp.column(c);
        let nk: f64 = r.sum();
        if nk < (d + 1) as f64 {
            return Err(Error::Numerical {
                context: format!("mixture component collapsed to {nk:.1} subjects"),
            });
        }
        let mean = x.tr_mul(&r) / nk;
        let w = DMatrix::from_fn(n, d, |i, j| (x[(i, j)] - mean[j]) * r[i].sqrt());
        let mut cov = w.tr_mul(&w) / nk;
        for j in 0..d {
            cov[(j, j)] *= 1.0 + RIDGE;
        }
        out.push((mean, cov, nk / n as f64));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::ansur::load_files;

    fn holdout() -> AnsurData {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/body/ansur2_holdout.csv"
        );
        load_files(&[path.into()]).unwrap_or_else(|e| panic!("{e}"))
    }

    fn bundled() -> BodyModel {
        BodyModel::bundled().unwrap_or_else(|e| panic!("{e}"))
    }

    fn exact(column: &str, value: f64) -> Observation {
        Observation {
            column: column.into(),
            value,
            sd: 0.0,
        }
    }

    fn at(model: &BodyModel, p: &Posterior, column: &str) -> (f64, f64) {
        let i = model.column_index(column).unwrap_or(usize::MAX);
        (
            p.value.get(i).copied().unwrap_or(f64::NAN),
            p.sd.get(i).copied().unwrap_or(f64::NAN),
        )
    }

    #[test]
    fn bundled_model_has_provenance_and_excludes_the_fixture_subjects() {
        let model = bundled();
        let p = &model.file().provenance;
        assert_eq!(p.data.len(), 2);
        assert!(p.data.iter().all(|f| f.sha256.len() == 64));
        assert_eq!(p.training_subjects + p.held_out_subjects, 5188);
        let data = holdout();
        assert_eq!(p.held_out_subjects, data.subjects.len());
        let h = p.options.holdout.unwrap_or(Holdout { folds: 1, fold: 1 });
        assert!(data.subjects.iter().all(|s| h.contains(s.id)));
        assert!(model.columns().len() >= 90);
    }

    #[derive(serde::Deserialize)]
    struct ReferenceCase {
        sex: Option<Sex>,
        observations: Vec<Observation>,
        value: Vec<f64>,
        sd: Vec<f64>,
    }

    #[derive(serde::Deserialize)]
    struct Reference {
        columns: Vec<String>,
        cases: Vec<ReferenceCase>,
    }

    #[test]
    fn conditioning_matches_the_numpy_reference() {
        // tools/body_conditioning_reference.py: the same maths with numpy's dense inverse and slogdet.
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/body/conditioning_reference.json"
        ));
        let reference: Reference = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        let model = bundled();
        assert_eq!(reference.columns, model.columns());
        assert_eq!(reference.cases.len(), 3);
        for case in &reference.cases {
            let p = model
                .condition(case.sex, &case.observations)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (case.value.len(), case.sd.len()),
                (p.value.len(), p.sd.len())
            );
            let pairs = p
                .value
                .iter()
                .zip(&case.value)
                .chain(p.sd.iter().zip(&case.sd));
            for (i, (got, want)) in pairs.enumerate() {
                assert!(
                    (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                    "{:?} #{i}: {got} vs {want}",
                    case.sex
                );
            }
        }
    }

    #[test]
    fn prior_matches_held_out_means() {
        // The held-out subjects are real people the model never saw: its unconditional median stature
        // per sex must be near their mean.
        let model = bundled();
        let data = holdout();
        let col = data.column_index("stature").unwrap_or(usize::MAX);
        for sex in [Sex::Female, Sex::Male] {
            let values: Vec<f64> = data
                .subjects
                .iter()
                .filter(|s| s.sex == sex)
                .filter_map(|s| s.values.get(col).copied())
                .collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let p = model
                .condition(Some(sex), &[])
                .unwrap_or_else(|e| panic!("{e}"));
            let (v, sd) = at(&model, &p, "stature");
            assert!((v - mean).abs() < 12.0, "{sex:?}: {v} vs {mean}");
            assert!((55.0..80.0).contains(&sd), "{sex:?} sd {sd}");
        }
    }

    #[test]
    fn exact_observations_are_returned_and_noise_shrinks_towards_the_prior() {
        let model = bundled();
        let given = [
            exact("stature", 1700.0),
            exact("chestcircumference", 1100.0),
        ];
        let p = model
            .condition(Some(Sex::Male), &given)
            .unwrap_or_else(|e| panic!("{e}"));
        let (v, sd) = at(&model, &p, "chestcircumference");
        assert!((v - 1100.0).abs() < 0.5 && sd < 0.5, "{v} {sd}");
        let prior = model.condition(Some(Sex::Male), &[exact("stature", 1700.0)]);
        let (prior_v, prior_sd) = at(
            &model,
            &prior.unwrap_or_else(|e| panic!("{e}")),
            "chestcircumference",
        );
        let mut last = v;
        for noise in [10.0, 30.0, 100.0] {
            let obs = [
                exact("stature", 1700.0),
                Observation {
                    column: "chestcircumference".into(),
                    value: 1100.0,
                    sd: noise,
                },
            ];
            let p = model
                .condition(Some(Sex::Male), &obs)
                .unwrap_or_else(|e| panic!("{e}"));
            let (v, sd) = at(&model, &p, "chestcircumference");
            assert!(v < last && v > prior_v, "noise {noise}: {v}");
            assert!(sd < noise && sd < prior_sd, "noise {noise}: sd {sd}");
            last = v;
        }
    }

    #[test]
    fn unknown_sex_is_inferred_from_body_values() {
        let model = bundled();
        let obs = [
            exact("stature", 1850.0),
            exact("neckcircumferencebase", 470.0),
        ];
        let p = model
            .condition(None, &obs)
            .unwrap_or_else(|e| panic!("{e}"));
        let male = p
            .sex_probability
            .iter()
            .find(|(s, _)| *s == Sex::Male)
            .map_or(0.0, |x| x.1);
        assert!(male > 0.95, "{male}");
    }

    #[test]
    fn improbable_observations_are_flagged() {
        let model = bundled();
        let fine = model.condition(
            Some(Sex::Female),
            &[exact("stature", 1650.0), exact("weightkg", 650.0)],
        );
        assert!(!fine.unwrap_or_else(|e| panic!("{e}")).unusual);
        let odd = [
            exact("stature", 1500.0),
            exact("chestcircumference", 1400.0),
            exact("waistcircumference", 600.0),
        ];
        let odd = model.condition(Some(Sex::Female), &odd);
        assert!(odd.unwrap_or_else(|e| panic!("{e}")).unusual);
    }

    #[test]
    fn unknown_and_duplicate_columns_are_errors() {
        let model = bundled();
        let e = model.condition(None, &[exact("kneecap", 10.0)]);
        assert!(matches!(e, Err(Error::UnknownField { ref field }) if field == "kneecap"));
        let e = model.condition(None, &[exact("stature", 1700.0), exact("stature", 1710.0)]);
        assert!(matches!(e, Err(Error::Duplicate { .. })));
    }

    #[test]
    fn training_is_reproducible_and_mixtures_fit() {
        let data = holdout();
        let rows: Vec<usize> = (0..data.subjects.len()).collect();
        let options = TrainOptions {
            holdout: None,
            ..TrainOptions::default()
        };
        let a = train_on(&data, &rows, &options).unwrap_or_else(|e| panic!("{e}"));
        let b = train_on(&data, &rows, &options).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.file().sexes, b.file().sexes);
        let two = TrainOptions {
            components: 2,
            ..options
        };
        let m = train_on(&data, &rows, &two).unwrap_or_else(|e| panic!("{e}"));
        for s in &m.file().sexes {
            let w: f64 = s.components.iter().map(|c| c.weight).sum();
            assert!((w - 1.0).abs() < 1e-9 && s.components.len() == 2);
        }
        let json = serde_json::to_string(m.file()).unwrap_or_default();
        let back = BodyModel::from_json(&json, "round trip").unwrap_or_else(|e| panic!("{e}"));
        let obs = [exact("stature", 1700.0), exact("weightkg", 700.0)];
        let (p, q) = (m.condition(None, &obs), back.condition(None, &obs));
        let (p, q) = (
            p.unwrap_or_else(|e| panic!("{e}")),
            q.unwrap_or_else(|e| panic!("{e}")),
        );
        for (a, b) in p.value.iter().zip(&q.value).chain(p.sd.iter().zip(&q.sd)) {
            assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "{a} vs {b}");
        }
    }
}
