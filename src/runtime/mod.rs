//! Inference core: loads MediaPipe's `.tflite` models and runs them on a candle [`Device`]
//! for any batch size. Knows tensors, not people.
//!
//! Layout is NHWC end to end, as stored in the `.tflite` files: the models are mostly 1x1
//! convolutions (a plain matrix product over `N*H*W` rows in NHWC) and depthwise convolutions
//! (a contiguous per-pixel channel loop in NHWC), so no op needs a transpose.

pub mod batcher;
#[cfg(test)]
mod conformance;
pub mod graph;
pub mod ops;
#[cfg(test)]
mod robustness;
pub mod tflite;

#[rustfmt::skip]
#[allow(
    clippy::all,
    clippy::pedantic,
    dead_code,
    mismatched_lifetime_syntaxes,
    deprecated,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    unused_imports,
    unsafe_code
)]
mod tflite_subset_generated;

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use graph::Graph;

/// Everything that can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file could not be read.
    #[error("cannot read model file {path}: {source}")]
    Io {
        /// File that failed.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The flatbuffer failed verification (truncated, out-of-bounds offsets, ...).
    #[error("malformed .tflite flatbuffer: {0}")]
    Flatbuffer(#[from] flatbuffers::InvalidFlatbuffer),
    /// The flatbuffer is well formed but the model it describes is inconsistent.
    #[error("malformed model: {0}")]
    Malformed(String),
    /// The model uses something this runtime does not implement.
    #[error("unsupported by the runtime: {0}")]
    Unsupported(String),
    /// The caller passed inputs that do not fit the model.
    #[error("bad model input: {0}")]
    Input(String),
    /// A tensor operation failed while running the graph.
    #[error("{context}: {source}")]
    Tensor {
        /// Which op (or step) failed.
        context: String,
        /// Underlying candle error.
        #[source]
        source: candle_core::Error,
    },
}

impl Error {
    pub(crate) fn tensor(context: impl Into<String>) -> impl FnOnce(candle_core::Error) -> Error {
        let context = context.into();
        move |source| Error::Tensor { context, source }
    }
}

/// Name and stored shape (batch 1, NHWC for images) of a model input or output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo {
    /// Tensor name in the `.tflite` file.
    pub name: String,
    /// Shape as stored in the file; the first dimension is the batch.
    pub shape: Vec<usize>,
}

/// A loaded `.tflite` model, ready to run on its device for any batch size.
#[derive(Debug)]
pub struct Model {
    graph: Graph,
}

impl Model {
    /// Reads and prepares the `.tflite` file at `path` for `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Model, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Model::from_bytes(&bytes, device)
    }

    /// Prepares a model from the bytes of a `.tflite` file.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Model, Error> {
        let parsed = tflite::parse(bytes)?;
        let graph = Graph::build(parsed, device)?;
        Ok(Model { graph })
    }

    /// Model inputs in the order `forward` expects them.
    pub fn inputs(&self) -> &[TensorInfo] {
        self.graph.inputs()
    }

    /// Model outputs in the order `forward` returns them.
    pub fn outputs(&self) -> &[TensorInfo] {
        self.graph.outputs()
    }

    /// Device the model runs on.
    pub fn device(&self) -> &Device {
        self.graph.device()
    }

    /// Runs the model. `inputs` are f32 tensors shaped like [`Model::inputs`] except for the
    /// batch (first) dimension, which may be any N >= 1 (the same N for all inputs). Returns
    /// the outputs in [`Model::outputs`] order, each with batch N.
    pub fn forward(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        self.graph.forward(inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Model>();
    }

    #[test]
    fn forward_rejects_inputs_that_do_not_fit() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/models/face_detection_short_range.tflite"
        ));
        if !path.exists() {
            println!("skipping: {} missing", path.display());
            return;
        }
        let device = Device::Cpu;
        let model = Model::load(path, &device).expect("model loads");
        assert_eq!(model.inputs()[0].shape, vec![1, 128, 128, 3]);
        let wrong = Tensor::zeros((1, 64, 64, 3), candle_core::DType::F32, &device).expect("zeros");
        assert!(matches!(model.forward(&[wrong]), Err(Error::Input(_))));
        let ints = Tensor::zeros((2, 128, 128, 3), candle_core::DType::U8, &device).expect("zeros");
        assert!(matches!(model.forward(&[ints]), Err(Error::Input(_))));
        assert!(matches!(model.forward(&[]), Err(Error::Input(_))));
        let missing = Model::load(Path::new("/nonexistent/model.tflite"), &device);
        assert!(matches!(missing, Err(Error::Io { .. })));
    }
}
