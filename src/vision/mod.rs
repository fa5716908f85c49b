//! MediaPipe 0.10.14 vision pipelines on top of [`crate::runtime`]: BlazePose
//! (detector -> ROI -> 33 landmarks, world landmarks, segmentation), BlazeFace
//! short range -> FaceMesh, and selfie segmentation, reproducing the static-image
//! results of MediaPipe's Python solutions. Coordinates are pixels of the
//! (EXIF-oriented) input image.

pub mod anchors;
mod detector;
pub mod face;
pub mod image;
pub mod overlay;
pub mod pose;
pub mod selfie;

use candle_core::{Device, Tensor};

use crate::runtime::batcher::{BatchConfig, BatchError, Batcher};
use std::path::{Path, PathBuf};

pub use self::face::{Face, FaceBox, FaceMesher, FaceResult};
pub use self::image::{decode, open, DecodeLimits, Mask};
pub use self::pose::{Landmark, PoseLandmarker, PoseResult, WorldLandmark};
pub use self::selfie::SelfieSegmenter;

/// Errors of the vision pipelines.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The encoded file is larger than allowed.
    #[error("image file is {bytes} bytes, above the limit of {max}")]
    FileTooLarge {
        /// Size of the file.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The image header declares more pixels than allowed (e.g. a decompression bomb).
    #[error("image is {width}x{height} pixels, above the limit of {max_pixels} pixels")]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit.
        max_pixels: u64,
    },
    /// Decoding would need more memory than allowed.
    #[error("image exceeds decoding limits: {0}")]
    DecodeLimit(String),
    /// Not an image, an unsupported format, or a truncated/corrupt file.
    #[error("cannot decode image: {0}")]
    Decode(String),
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A model file could not be loaded.
    #[error("cannot load model {path}: {source}")]
    LoadModel {
        /// The model file.
        path: PathBuf,
        /// The cause.
        source: Box<crate::runtime::Error>,
    },
    /// Running a model failed.
    #[error("{model} inference failed: {source}")]
    Inference {
        /// The model name.
        model: &'static str,
        /// The cause.
        source: Box<crate::runtime::Error>,
    },
    /// A model returned tensors of an unexpected number or shape.
    #[error("{model} returned unexpected output: {detail}")]
    Output {
        /// The model name.
        model: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Building or reading a tensor failed.
    #[error("tensor: {0}")]
    Tensor(Box<candle_core::Error>),
    /// The model's batching queue is full: the service is at capacity.
    #[error("{model} is at capacity ({capacity} requests waiting); retry shortly")]
    Overloaded {
        /// The model name.
        model: &'static str,
        /// Queue capacity.
        capacity: usize,
    },
    /// A model's batching worker thread could not start.
    #[error("cannot start the batching worker of {model}: {source}")]
    Worker {
        /// The model name.
        model: &'static str,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Tensor(Box::new(e))
    }
}

impl Error {
    /// Whether the caller's input caused the error (HTTP 4xx rather than 5xx).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Error::FileTooLarge { .. }
                | Error::TooManyPixels { .. }
                | Error::DecodeLimit(_)
                | Error::Decode(_)
        )
    }
}

/// File names of the five models inside a models directory.
pub mod model_files {
    /// BlazePose detector.
    pub const POSE_DETECTION: &str = "pose_detection.tflite";
    /// BlazePose landmark model (full).
    pub const POSE_LANDMARK_FULL: &str = "pose_landmark_full.tflite";
    /// Selfie segmentation (general, 256x256).
    pub const SELFIE_SEGMENTATION: &str = "selfie_segmentation.tflite";
    /// BlazeFace short range.
    pub const FACE_DETECTION_SHORT_RANGE: &str = "face_detection_short_range.tflite";
    /// FaceMesh.
    pub const FACE_LANDMARK: &str = "face_landmark.tflite";
    /// All of them.
    pub const ALL: [&str; 5] = [
        POSE_DETECTION,
        POSE_LANDMARK_FULL,
        SELFIE_SEGMENTATION,
        FACE_DETECTION_SHORT_RANGE,
        FACE_LANDMARK,
    ];
}

/// All three pipelines, loaded once and shareable across threads.
#[derive(Debug)]
pub struct Vision {
    /// Pose landmarks and segmentation.
    pub pose: PoseLandmarker,
    /// Face detection and mesh.
    pub face: FaceMesher,
    /// Selfie segmentation.
    pub selfie: SelfieSegmenter,
}

impl Vision {
    /// Loads the five models from `models_dir` onto `device`.
    pub fn load(models_dir: &Path, device: &Device) -> Result<Self, Error> {
        Self::load_with(models_dir, device, None)
    }

    /// Like [`Vision::load`], with each model behind its own batching queue: forward passes of
    /// concurrent callers are gathered per `batching` and run together (the server's setup).
    pub fn load_batched(
        models_dir: &Path,
        device: &Device,
        batching: BatchConfig,
    ) -> Result<Self, Error> {
        Self::load_with(models_dir, device, Some(batching))
    }

    fn load_with(
        models_dir: &Path,
        device: &Device,
        batching: Option<BatchConfig>,
    ) -> Result<Self, Error> {
        let load = |file| NamedModel::load(models_dir, file, device, batching);
        Ok(Vision {
            pose: PoseLandmarker::new(
                load(model_files::POSE_DETECTION)?,
                load(model_files::POSE_LANDMARK_FULL)?,
            ),
            face: FaceMesher::new(
                load(model_files::FACE_DETECTION_SHORT_RANGE)?,
                load(model_files::FACE_LANDMARK)?,
            ),
            selfie: SelfieSegmenter::new(load(model_files::SELFIE_SEGMENTATION)?),
        })
    }
}

/// How a model's forward passes run: on the caller's thread, or through its batching queue.
enum Runner {
    Direct(crate::runtime::Model),
    Batched(Batcher),
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Runner::Direct(_) => "Direct",
            Runner::Batched(_) => "Batched",
        })
    }
}

/// A runtime model with the name used in errors and metrics.
#[derive(Debug)]
struct NamedModel {
    name: &'static str,
    runner: Runner,
    device: Device,
}

impl NamedModel {
    fn load(
        dir: &Path,
        file: &'static str,
        device: &Device,
        batching: Option<BatchConfig>,
    ) -> Result<Self, Error> {
        let path = dir.join(file);
        let model = crate::runtime::Model::load(path.as_path(), device).map_err(|source| {
            Error::LoadModel {
                path: path.clone(),
                source: Box::new(source),
            }
        })?;
        let runner = match batching {
            None => Runner::Direct(model),
            Some(config) => {
                let name = file.trim_end_matches(".tflite");
                Runner::Batched(
                    Batcher::spawn(name, std::sync::Arc::new(model), config).map_err(|source| {
                        Error::Worker {
                            model: file,
                            source,
                        }
                    })?,
                )
            }
        };
        Ok(NamedModel {
            name: file,
            runner,
            device: device.clone(),
        })
    }

    fn forward(&self, input: Tensor) -> Result<Vec<Tensor>, Error> {
        let inference = |source| Error::Inference {
            model: self.name,
            source: Box::new(source),
        };
        match &self.runner {
            Runner::Direct(model) => model.forward(&[input]).map_err(inference),
            Runner::Batched(batcher) => batcher.run_blocking(vec![input]).map_err(|e| match e {
                BatchError::Overloaded { capacity, .. } => Error::Overloaded {
                    model: self.name,
                    capacity,
                },
                BatchError::Model(source) => inference(source),
                BatchError::Closed(_) => Error::Output {
                    model: self.name,
                    detail: "the model's batching worker has stopped".into(),
                },
            }),
        }
    }

    /// Runs the model on `batch` NHWC images stored back to back in `data` and
    /// returns each output flattened to f32 on the CPU, checked for `expected`
    /// elements per image.
    fn run(
        &self,
        data: Vec<f32>,
        batch: usize,
        hw: (usize, usize),
        expected: &[usize],
    ) -> Result<Vec<Vec<f32>>, Error> {
        let input = Tensor::from_vec(data, (batch, hw.0, hw.1, 3), &self.device)?;
        let outputs = self.forward(input)?;
        if outputs.len() < expected.len() {
            return Err(Error::Output {
                model: self.name,
                detail: format!("{} outputs, expected {}", outputs.len(), expected.len()),
            });
        }
        outputs
            .iter()
            .zip(expected)
            .enumerate()
            .map(|(i, (t, &n))| {
                let v = t
                    .flatten_all()?
                    .to_dtype(candle_core::DType::F32)?
                    .to_vec1::<f32>()?;
                if v.len() != n * batch {
                    return Err(Error::Output {
                        model: self.name,
                        detail: format!(
                            "output {i} has {} values, expected {}",
                            v.len(),
                            n * batch
                        ),
                    });
                }
                Ok(v)
            })
            .collect()
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    #[test]
    fn pipelines_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::Vision>();
    }

    #[test]
    fn batched_pipelines_answer_each_caller_like_direct_ones() {
        use super::testutil::{fixture, models_dir};
        let dir = models_dir();
        let device = candle_core::Device::Cpu;
        let direct = super::Vision::load(&dir, &device).unwrap_or_else(|e| panic!("{e}"));
        // A long wait so that the four callers below share batches.
        let config = super::BatchConfig {
            max_batch: 4,
            max_wait: std::time::Duration::from_millis(300),
            queue_capacity: 8,
        };
        let batched =
            super::Vision::load_batched(&dir, &device, config).unwrap_or_else(|e| panic!("{e}"));
        let photos: Vec<image::RgbImage> = [
            "saif_front.png",
            "left_profile.png",
            "ramzan_front.png",
            "astronaut.png",
        ]
        .iter()
        .map(|n| {
            image::open(fixture(n))
                .unwrap_or_else(|e| panic!("{n}: {e}"))
                .into_rgb8()
        })
        .collect();
        let started = std::time::Instant::now();
        let together: Vec<_> = std::thread::scope(|s| {
            let jobs: Vec<_> = photos
                .iter()
                .map(|p| s.spawn(|| batched.pose.detect(p)))
                .collect();
            jobs.into_iter()
                .map(|j| j.join().unwrap_or_else(|_| panic!("caller panicked")))
                .collect()
        });
        // Two models in sequence, each waiting at most 300 ms for company: had the four callers
        // run one by one, each would have waited the full 300 ms at both models.
        assert!(
            started.elapsed() < std::time::Duration::from_millis(4 * 600),
            "no batches formed"
        );
        for (photo, result) in photos.iter().zip(together) {
            let got = result.unwrap_or_else(|e| panic!("{e}"));
            let want = direct.pose.detect(photo).unwrap_or_else(|e| panic!("{e}"));
            let (Some(a), Some(b)) = (&got.landmarks, &want.landmarks) else {
                assert_eq!(got.landmarks.is_some(), want.landmarks.is_some());
                continue;
            };
            for (p, q) in a.iter().zip(b) {
                assert!(
                    (p.x - q.x).abs() < 1e-2 && (p.y - q.y).abs() < 1e-2,
                    "{p:?} vs {q:?}"
                );
            }
        }
    }

    #[test]
    fn input_errors_are_client_errors() {
        assert!(super::Error::Decode("x".into()).is_client_error());
        let missing = super::Vision::load(
            std::path::Path::new("/nonexistent"),
            &candle_core::Device::Cpu,
        );
        assert!(missing.is_err_and(|e| !e.is_client_error()));
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Shared helpers for the golden tests.
    use std::path::PathBuf;

    /// The models directory, fetched and verified when missing.
    pub fn models_dir() -> PathBuf {
        crate::models::for_tests()
    }

    /// Path of a fixture file.
    pub fn fixture(name: &str) -> PathBuf {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/vision"
        ))
        .join(name)
    }

    /// Parsed golden JSON of one image.
    pub fn golden(name: &str) -> serde_json::Value {
        let path = fixture(&format!("{name}.golden.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Images with goldens.
    pub const IMAGES: [&str; 6] = [
        "astronaut",
        "saif_front",
        "ramzan_front",
        "left_profile",
        "woman_portrait",
        "biden_portrait",
    ];
}
