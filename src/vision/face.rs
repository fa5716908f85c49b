//! BlazeFace short range -> FaceMesh, as MediaPipe's `FaceDetection`
//! (model_selection 0) and `FaceMesh` (static images, no attention refinement)
//! solutions compute them: every detected face gets a 468-point mesh.

use super::anchors::{AnchorOptions, Detection};
use super::detector::Detector;
use super::image::{warp_to_tensor, Border, RotatedRect};
use super::pose::normalize_radians;
use super::{model_files, sigmoid, Error, NamedModel};
use candle_core::Device;
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::path::Path;

const DETECTOR_SIZE: usize = 128;
const MESH_SIZE: usize = 192;
/// Points in one face mesh.
pub const MESH_POINTS: usize = 468;
/// Keypoints of a face detection: right eye, left eye, nose tip, mouth, right ear, left ear.
pub const NUM_KEYPOINTS: usize = 6;
const MIN_FACE_PRESENCE: f32 = 0.5;
const ROI_SCALE: f32 = 1.5;

/// Axis-aligned face box in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

/// One detected face, in pixels of the input image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// Detector confidence, 0..1.
    pub score: f32,
    /// Bounding box.
    #[serde(rename = "box")]
    pub bbox: FaceBox,
    /// The detector's 6 keypoints `[x, y]`.
    pub keypoints: Vec<[f32; 2]>,
    /// The 468 FaceMesh points `[x, y, z]` (z in the pixel scale of x, smaller is
    /// nearer), or `None` when the mesh model judged the crop not to be a face.
    pub mesh: Option<Vec<[f32; 3]>>,
}

/// Result of [`FaceMesher::detect`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceResult {
    /// Input width in pixels.
    pub width: u32,
    /// Input height in pixels.
    pub height: u32,
    /// Faces in decreasing detector score.
    pub faces: Vec<Face>,
}

/// BlazeFace short-range detector + FaceMesh landmark model.
#[derive(Debug)]
pub struct FaceMesher {
    detector: Detector,
    mesher: NamedModel,
}

impl FaceMesher {
    /// Loads `face_detection_short_range.tflite` and `face_landmark.tflite` from `models_dir`.
    pub fn load(models_dir: &Path, device: &Device) -> Result<Self, Error> {
        Ok(Self::new(
            NamedModel::load(
                models_dir,
                model_files::FACE_DETECTION_SHORT_RANGE,
                device,
                None,
            )?,
            NamedModel::load(models_dir, model_files::FACE_LANDMARK, device, None)?,
        ))
    }

    pub(super) fn new(detector: NamedModel, mesher: NamedModel) -> Self {
        FaceMesher {
            detector: Detector::new(
                detector,
                &AnchorOptions::face_detection_short_range(),
                DETECTOR_SIZE,
                NUM_KEYPOINTS,
            ),
            mesher,
        }
    }

    /// Detects faces and computes a mesh for each (all crops in one batch).
    pub fn detect(&self, image: &RgbImage) -> Result<FaceResult, Error> {
        let (width, height) = image.dimensions();
        let detections = self.detector.detect(image)?;
        let rois: Vec<RotatedRect> = detections
            .iter()
            .map(|d| roi_from_detection(d, width, height))
            .collect();
        let meshes = self.meshes(image, &rois)?;
        let (w, h) = (width as f32, height as f32);
        let faces = detections
            .iter()
            .zip(meshes)
            .map(|(d, mesh)| Face {
                score: d.score,
                bbox: FaceBox {
                    x: d.xmin * w,
                    y: d.ymin * h,
                    w: d.width * w,
                    h: d.height * h,
                },
                keypoints: d.keypoints.iter().map(|k| [k[0] * w, k[1] * h]).collect(),
                mesh,
            })
            .collect();
        Ok(FaceResult {
            width,
            height,
            faces,
        })
    }

    /// Runs FaceMesh on every ROI in one batch.
    fn meshes(
        &self,
        image: &RgbImage,
        rois: &[RotatedRect],
    ) -> Result<Vec<Option<Vec<[f32; 3]>>>, Error> {
        if rois.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = Vec::with_capacity(rois.len() * MESH_SIZE * MESH_SIZE * 3);
        for roi in rois {
            input.extend(warp_to_tensor(
                image,
                roi,
                MESH_SIZE,
                MESH_SIZE,
                Border::Replicate,
                (0.0, 1.0),
            ));
        }
        let out = self.mesher.run(
            input,
            rois.len(),
            (MESH_SIZE, MESH_SIZE),
            &[MESH_POINTS * 3, 1],
        )?;
        let [points, flags] = out.as_slice() else {
            return Err(Error::Output {
                model: self.mesher.name,
                detail: "expected 2 outputs".into(),
            });
        };
        let size = MESH_SIZE as f32;
        Ok(rois
            .iter()
            .zip(points.chunks_exact(MESH_POINTS * 3))
            .zip(flags)
            .map(|((roi, raw), &flag)| {
                if sigmoid(flag) < MIN_FACE_PRESENCE {
                    return None;
                }
                let (s, c) = roi.rotation.sin_cos();
                Some(
                    raw.chunks_exact(3)
                        .map(|p| {
                            let (x, y) = (p[0] / size - 0.5, p[1] / size - 0.5);
                            [
                                (c * x - s * y) * roi.width + roi.center_x,
                                (s * x + c * y) * roi.height + roi.center_y,
                                p[2] / size * roi.width,
                            ]
                        })
                        .collect(),
                )
            })
            .collect())
    }
}

/// FaceMesh ROI from a detection (`face_detection_front_detection_to_roi`):
/// box centre, rotated so the eyes are level, square on the long side x 1.5.
fn roi_from_detection(d: &Detection, width: u32, height: u32) -> RotatedRect {
    let (w, h) = (width as f32, height as f32);
    let [x0, y0] = d.keypoints.first().copied().unwrap_or_default();
    let [x1, y1] = d.keypoints.get(1).copied().unwrap_or_default();
    let rotation = normalize_radians(-(-(y1 - y0) * h).atan2((x1 - x0) * w));
    let side = (d.width * w).max(d.height * h) * ROI_SCALE;
    RotatedRect {
        center_x: (d.xmin + d.width / 2.0) * w,
        center_y: (d.ymin + d.height / 2.0) * h,
        width: side,
        height: side,
        rotation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::testutil::{fixture, golden, models_dir, IMAGES};
    use crate::vision::{open, DecodeLimits};

    #[test]
    fn roi_levels_the_eyes() {
        let d = Detection {
            score: 0.9,
            xmin: 0.25,
            ymin: 0.25,
            width: 0.5,
            height: 0.25,
            keypoints: vec![[0.4, 0.4], [0.6, 0.5]],
        };
        let roi = roi_from_detection(&d, 100, 200);
        // Eye vector (20, 20) px: the face is tilted 45 degrees clockwise.
        assert!(
            (roi.rotation - std::f32::consts::FRAC_PI_4).abs() < 1e-6,
            "{}",
            roi.rotation
        );
        assert_eq!((roi.center_x, roi.center_y), (50.0, 75.0));
        assert_eq!(roi.width, 75.0);
    }

    #[test]
    fn faces_match_mediapipe_goldens() {
        let dir = models_dir();
        let mesher = FaceMesher::load(&dir, &Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
        for name in IMAGES {
            let g = golden(name);
            let img = open(&fixture(&format!("{name}.png")), &DecodeLimits::default())
                .unwrap_or_else(|e| panic!("{e}"));
            let r = mesher
                .detect(&img)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected = g["faces"].as_array().cloned().unwrap_or_default();
            assert_eq!(r.faces.len(), expected.len(), "{name}: number of faces");
            let meshes = g["face_mesh"].as_array().cloned().unwrap_or_default();
            let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
            for (i, (face, e)) in r.faces.iter().zip(&expected).enumerate() {
                let kp_err = face
                    .keypoints
                    .iter()
                    .zip(e["keypoints"].as_array().cloned().unwrap_or_default())
                    .map(|(k, ek)| {
                        (f64::from(k[0]) - num(&ek[0])).hypot(f64::from(k[1]) - num(&ek[1]))
                    })
                    .sum::<f64>()
                    / NUM_KEYPOINTS as f64;
                let b = &e["box"];
                let box_err = [face.bbox.x, face.bbox.y, face.bbox.w, face.bbox.h]
                    .iter()
                    .enumerate()
                    .map(|(j, v)| (f64::from(*v) - num(&b[j])).abs())
                    .fold(0.0, f64::max);
                let score_err = (f64::from(face.score) - num(&e["score"])).abs();
                let mesh = face.mesh.as_deref().unwrap_or_default();
                let gold = meshes
                    .get(i)
                    .and_then(|m| m.as_array())
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(mesh.len(), gold.len(), "{name}: mesh points");
                let mesh_err = mesh
                    .iter()
                    .zip(&gold)
                    .map(|(p, ep)| {
                        (f64::from(p[0]) - num(&ep[0])).hypot(f64::from(p[1]) - num(&ep[1]))
                    })
                    .sum::<f64>()
                    / mesh.len().max(1) as f64;
                println!(
                    "face {name}#{i}: keypoints {kp_err:.3} px, box max {box_err:.3} px, score {score_err:.4}, mesh {mesh_err:.3} px"
                );
                assert!(kp_err <= 1.5 && box_err <= 1.5, "{name}: detection off");
                assert!(score_err <= 0.01, "{name}: score off by {score_err}");
                assert!(mesh_err <= 1.5, "{name}: mesh error {mesh_err} px");
            }
        }
    }
}
