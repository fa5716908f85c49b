//! Made-to-measure patterns, GB/T 1335 grading and factory cut files (制版).
//!
//! Entry points: [`garments`] lists what can be drafted, [`draft`] turns a [`Body`] into a
//! [`Pattern`], [`grade`] redrafts a garment for a range of GB/T 1335 sizes, and [`export`] /
//! [`export_graded`] write SVG, PDF, DXF-AAMA, HPGL or JSON. [`vit`] moves individual
//! measurements to and from Seamly2D/Valentina.

pub mod body;
pub mod export;
pub mod garments;
pub mod geom;
pub mod grading;
pub mod vit;

use std::collections::BTreeMap;

pub use body::{Body, Measure};
pub use export::{
    export, export_graded, export_marker, format_schema, Export, Format, MarkerPiece,
};
pub use garments::{
    draft, garment, garments, name_schema as garment_schema, parse_options, GarmentInfo, OptionInfo,
};
pub use geom::{Corner, Piece};
pub use grading::{grade, GradedSet, SizeCode};

/// Errors of the pattern area; [`Error::field`] names the offending input for API answers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A measurement is invalid.
    #[error("measurement `{field}`: {reason}")]
    Measurement {
        /// Measurement name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A measurement the garment needs is missing.
    #[error("measurement `{field}` is required but missing")]
    MissingMeasurement {
        /// Measurement name.
        field: &'static str,
    },
    /// No garment has this name.
    #[error("unknown garment `{name}` (known: {known})")]
    UnknownGarment {
        /// The requested name.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
    /// The garment has no such option.
    #[error("unknown option `{option}` for garment `{garment}` (known: {known})")]
    UnknownOption {
        /// Garment name.
        garment: String,
        /// The requested option.
        option: String,
        /// Comma-separated known options.
        known: String,
    },
    /// An option value is out of range.
    #[error("option `{option}`: {reason}")]
    InvalidOption {
        /// Option name.
        option: String,
        /// What is wrong.
        reason: String,
    },
    /// A size code is malformed or outside the size table.
    #[error("size `{size}`: {reason}")]
    Size {
        /// The size code as given.
        size: String,
        /// What is wrong.
        reason: String,
    },
    /// A piece cannot be drafted with these measurements and options.
    #[error("piece `{piece}`: {reason}")]
    Geometry {
        /// Piece name.
        piece: String,
        /// What failed.
        reason: String,
    },
    /// A Seamly2D/Valentina measurement file could not be read.
    #[error("vit file: {0}")]
    Vit(String),
    /// JSON could not be read or written.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// An export failed.
    #[error("{format} export: {reason}")]
    Export {
        /// Format name.
        format: &'static str,
        /// What failed.
        reason: String,
    },
}

impl Error {
    /// The input field this error is about (measurement, option, garment or size), if any.
    pub fn field(&self) -> Option<String> {
        match self {
            Error::Measurement { field, .. } => Some(field.clone()),
            Error::MissingMeasurement { field } => Some((*field).to_string()),
            Error::UnknownGarment { .. } => Some("garment".into()),
            Error::UnknownOption { option, .. } | Error::InvalidOption { option, .. } => {
                Some(option.clone())
            }
            Error::Size { .. } => Some("sizes".into()),
            _ => None,
        }
    }
}

/// A drafted garment: its pieces for one body or size.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// Garment name from the registry.
    pub garment: String,
    /// Size label: a GB/T 1335 code or `MTM` for made-to-measure.
    pub size: String,
    /// The option values used (defaults filled in).
    pub options: BTreeMap<String, f64>,
    /// Pieces.
    pub pieces: Vec<Piece>,
}

impl Pattern {
    /// The piece with this name.
    pub fn piece(&self, name: &str) -> Result<&Piece, Error> {
        self.pieces
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::Geometry {
                piece: name.to_string(),
                reason: format!("garment `{}` has no such piece", self.garment),
            })
    }
}
