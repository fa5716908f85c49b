//! Body measurement (AI 量体): the named measurement set, a statistical body model trained on ANSUR II,
//! and prediction of every measurement with its uncertainty from whatever is known.

pub mod ansur;
pub mod features;
pub mod measures;
pub mod model;
pub mod overlay;
pub mod photos;
pub mod predict;
pub mod silhouette;
pub mod validation;
pub mod values;

use std::path::PathBuf;

/// Errors of the body area; each names the file, field or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A CSV file or stream was malformed.
    #[error("CSV {context}: {source}")]
    Csv {
        /// Which input.
        context: String,
        /// The underlying error.
        source: csv::Error,
    },
    /// A JSON document was malformed.
    #[error("JSON {context}: {source}")]
    Json {
        /// Which document.
        context: String,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A column or field name is not one the model knows.
    #[error("unknown field `{field}`: expected `sex`, an ANSUR II column, `<column>_sd` or a measure name")]
    UnknownField {
        /// The offending name.
        field: String,
    },
    /// A required column is missing.
    #[error("{context}: missing column `{column}`")]
    MissingColumn {
        /// Which input.
        context: String,
        /// The column.
        column: String,
    },
    /// A value could not be used (not a number, not positive, not finite).
    #[error("field `{field}`{}: invalid value `{value}`: {reason}", at_row(*row))]
    InvalidValue {
        /// The field.
        field: String,
        /// 1-based data row (0 for a single JSON request).
        row: usize,
        /// The value as given.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A value lies far outside the range of real adult bodies.
    #[error(
        "field `{field}`{}: {value} {unit} is outside the plausible range {min}..{max} {unit}",
        at_row(*row)
    )]
    OutOfRange {
        /// The field.
        field: String,
        /// 1-based data row (0 for a single JSON request).
        row: usize,
        /// The value given.
        value: f64,
        /// Lowest plausible value.
        min: f64,
        /// Highest plausible value.
        max: f64,
        /// Unit of the numbers.
        unit: &'static str,
    },
    /// The same quantity was given twice.
    #[error("field `{field}` given more than once")]
    Duplicate {
        /// The field.
        field: String,
    },
    /// A sex value other than male/female.
    #[error("field `sex`{}: `{value}` is not `male` or `female`", at_row(*row))]
    UnknownSex {
        /// 1-based data row (0 for a single JSON request).
        row: usize,
        /// The value given.
        value: String,
    },
    /// Training data were unusable.
    #[error("training data {context}: {message}")]
    Data {
        /// Which file or step.
        context: String,
        /// What is wrong.
        message: String,
    },
    /// A covariance was not positive definite.
    #[error("numerical failure: {context}")]
    Numerical {
        /// Which step.
        context: String,
    },
    /// A mask image could not be used.
    #[error("mask {context}: {message}")]
    Mask {
        /// Which mask.
        context: String,
        /// What is wrong.
        message: String,
    },
    /// The vision pipeline failed on a photo.
    #[error("{view} photo: {source}")]
    Vision {
        /// `front` or `side`.
        view: &'static str,
        /// The cause.
        source: crate::vision::Error,
    },
    /// A photo shows a person but cannot be measured (body cut off, implausible silhouette).
    #[error("{view} photo: {message}")]
    Unmeasurable {
        /// `front` or `side`.
        view: &'static str,
        /// Stable code of the problem (`body_cut_off`, `implausible_silhouette`).
        code: &'static str,
        /// What is wrong and how to retake the photo.
        message: String,
    },
    /// No person was found in a photo.
    #[error("{view} photo: no person found; stand fully in view against a plain background")]
    NoPerson {
        /// `front` or `side`.
        view: &'static str,
    },
    /// The model file does not fit this code.
    #[error("body model {context}: {message}")]
    Model {
        /// Which model file or step.
        context: String,
        /// What is wrong.
        message: String,
    },
}

/// " (row N)" for CSV rows; nothing for single requests (row 0).
fn at_row(row: usize) -> String {
    if row == 0 {
        String::new()
    } else {
        format!(" (row {row})")
    }
}

/// Result type of the body area.
pub type Result<T> = std::result::Result<T, Error>;
