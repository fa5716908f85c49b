//! BlazePose as MediaPipe's `Pose` solution runs it on a still image
//! (`static_image_mode`, model complexity 1): the detector finds the person,
//! its keypoints give a rotated ROI, and `pose_landmark_full` predicts 33
//! landmarks, world landmarks and a segmentation mask inside it.

use super::anchors::{AnchorOptions, Detection};
use super::detector::Detector;
use super::image::{letterbox, unwarp_mask, warp_to_tensor, Border, Mask, RotatedRect};
use super::{model_files, sigmoid, Error, NamedModel};
use candle_core::Device;
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::path::Path;

const DETECTOR_SIZE: usize = 224;
/// Detector keypoints: mid-hip, full-body scale point, mid-shoulder, upper-body point.
const DETECTOR_KEYPOINTS: usize = 4;
const LANDMARK_SIZE: usize = 256;
const HEATMAP_SIZE: usize = 64;
/// Landmarks the model predicts: 33 body points + 6 auxiliary (ROI) points.
const MODEL_LANDMARKS: usize = 39;
/// Body landmarks returned.
pub const NUM_LANDMARKS: usize = 33;
const HEATMAP_KERNEL: usize = 7;
const MIN_POSE_PRESENCE: f32 = 0.5;
const MIN_HEATMAP_CONFIDENCE: f32 = 0.5;
const ROI_SCALE: f32 = 1.25;

/// Names of the 33 landmarks, in model order.
pub const LANDMARK_NAMES: [&str; NUM_LANDMARKS] = [
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
];

/// One body landmark in pixels of the input image. `z` is depth relative to
/// the hips in the same pixel scale as `x` (smaller is nearer the camera).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Landmark {
    /// Horizontal position in pixels.
    pub x: f32,
    /// Vertical position in pixels.
    pub y: f32,
    /// Depth in pixels (scale of `x`).
    pub z: f32,
    /// Probability that the point is visible (not occluded), 0..1.
    pub visibility: f32,
    /// Probability that the point is inside the image, 0..1.
    pub presence: f32,
}

/// One body landmark in metres, origin between the hips.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WorldLandmark {
    /// Metres, towards the image's right.
    pub x: f32,
    /// Metres, downwards.
    pub y: f32,
    /// Metres, away from the camera.
    pub z: f32,
}

/// Result of [`PoseLandmarker::detect`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoseResult {
    /// Input width in pixels.
    pub width: u32,
    /// Input height in pixels.
    pub height: u32,
    /// The 33 landmarks, or `None` when no person was found.
    pub landmarks: Option<Vec<Landmark>>,
    /// The 33 world landmarks, or `None` when no person was found.
    pub world_landmarks: Option<Vec<WorldLandmark>>,
    /// Person probability per pixel of the input, when a person was found.
    #[serde(skip)]
    pub segmentation: Option<Mask>,
}

/// BlazePose detector + full landmark model.
#[derive(Debug)]
pub struct PoseLandmarker {
    detector: Detector,
    landmarker: NamedModel,
}

impl PoseLandmarker {
    /// Loads `pose_detection.tflite` and `pose_landmark_full.tflite` from `models_dir`.
    pub fn load(models_dir: &Path, device: &Device) -> Result<Self, Error> {
        Ok(Self::new(
            NamedModel::load(models_dir, model_files::POSE_DETECTION, device, None)?,
            NamedModel::load(models_dir, model_files::POSE_LANDMARK_FULL, device, None)?,
        ))
    }

    pub(super) fn new(detector: NamedModel, landmarker: NamedModel) -> Self {
        PoseLandmarker {
            detector: Detector::new(
                detector,
                &AnchorOptions::pose_detection(),
                DETECTOR_SIZE,
                DETECTOR_KEYPOINTS,
            ),
            landmarker,
        }
    }

    /// Finds the most confident person in `image` and returns its landmarks,
    /// world landmarks and segmentation mask.
    pub fn detect(&self, image: &RgbImage) -> Result<PoseResult, Error> {
        let (width, height) = image.dimensions();
        let mut result = PoseResult {
            width,
            height,
            landmarks: None,
            world_landmarks: None,
            segmentation: None,
        };
        let Some(detection) = self.detect_person(image)? else {
            return Ok(result);
        };
        let Some(roi) = roi_from_detection(&detection, width, height) else {
            return Ok(result);
        };
        let (padded, pad) = letterbox(&roi, LANDMARK_SIZE, LANDMARK_SIZE);
        let input = warp_to_tensor(
            image,
            &padded,
            LANDMARK_SIZE,
            LANDMARK_SIZE,
            Border::Replicate,
            (0.0, 1.0),
        );
        let hm = HEATMAP_SIZE * HEATMAP_SIZE * MODEL_LANDMARKS;
        let out = self.landmarker.run(
            input,
            1,
            (LANDMARK_SIZE, LANDMARK_SIZE),
            &[
                MODEL_LANDMARKS * 5,
                1,
                LANDMARK_SIZE * LANDMARK_SIZE,
                hm,
                MODEL_LANDMARKS * 3,
            ],
        )?;
        let [raw, flag, seg, heatmap, world] = out.as_slice() else {
            return Err(Error::Output {
                model: self.landmarker.name,
                detail: "expected 5 outputs".into(),
            });
        };
        // The flag output already went through a sigmoid inside the model.
        if flag.first().copied().unwrap_or(0.0) < MIN_POSE_PRESENCE {
            return Ok(result);
        }
        let mut points = decode_landmarks(raw);
        refine_from_heatmap(&mut points, heatmap);
        let (s, c) = roi.rotation.sin_cos();
        let landmarks = points
            .iter()
            .take(NUM_LANDMARKS)
            .map(|p| {
                let x = pad.unpad_x(p.x) - 0.5;
                let y = pad.unpad_y(p.y) - 0.5;
                Landmark {
                    x: (c * x - s * y) * roi.width + roi.center_x,
                    y: (s * x + c * y) * roi.height + roi.center_y,
                    z: p.z * pad.scale_x() * roi.width,
                    visibility: p.visibility,
                    presence: p.presence,
                }
            })
            .collect();
        let world_landmarks = world
            .chunks_exact(3)
            .take(NUM_LANDMARKS)
            .map(|w| {
                let (x, y, z) = (w[0], w[1], w[2]);
                WorldLandmark {
                    x: c * x - s * y,
                    y: s * x + c * y,
                    z,
                }
            })
            .collect();
        let probabilities: Vec<f32> = seg.iter().map(|&v| sigmoid(v)).collect();
        result.segmentation = Some(unwarp_mask(
            &probabilities,
            LANDMARK_SIZE,
            LANDMARK_SIZE,
            &padded,
            width,
            height,
        ));
        result.landmarks = Some(landmarks);
        result.world_landmarks = Some(world_landmarks);
        Ok(result)
    }

    /// Runs the detector and returns the best person in normalised image coordinates.
    fn detect_person(&self, image: &RgbImage) -> Result<Option<Detection>, Error> {
        Ok(self.detector.detect(image)?.into_iter().next())
    }
}

/// MediaPipe's `NormalizeRadians`: into [-pi, pi).
pub(crate) fn normalize_radians(angle: f32) -> f32 {
    use std::f32::consts::PI;
    angle - 2.0 * PI * ((angle + PI) / (2.0 * PI)).floor()
}

/// ROI from the detector keypoints (`pose_detection_to_roi`): centred on the
/// mid-hip, side 2 x |scale point - mid-hip| x 1.25, rotated so the body is upright.
fn roi_from_detection(d: &Detection, width: u32, height: u32) -> Option<RotatedRect> {
    let (w, h) = (width as f32, height as f32);
    let [x0, y0] = *d.keypoints.first()?;
    let [x1, y1] = *d.keypoints.get(1)?;
    let (x0, y0, x1, y1) = (x0 * w, y0 * h, x1 * w, y1 * h);
    let size = 2.0 * ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt() * ROI_SCALE;
    if !size.is_finite() || size <= 0.0 {
        return None;
    }
    let rotation = normalize_radians(std::f32::consts::FRAC_PI_2 - (-(y1 - y0)).atan2(x1 - x0));
    Some(RotatedRect {
        center_x: x0,
        center_y: y0,
        width: size,
        height: size,
        rotation,
    })
}

/// A landmark in normalised crop coordinates, before projection.
#[derive(Debug, Clone, Copy)]
struct RawLandmark {
    x: f32,
    y: f32,
    z: f32,
    visibility: f32,
    presence: f32,
}

fn decode_landmarks(raw: &[f32]) -> Vec<RawLandmark> {
    let size = LANDMARK_SIZE as f32;
    raw.chunks_exact(5)
        .map(|v| RawLandmark {
            x: v[0] / size,
            y: v[1] / size,
            z: v[2] / size,
            visibility: sigmoid(v[3]),
            presence: sigmoid(v[4]),
        })
        .collect()
}

/// `RefineLandmarksFromHeatmapCalculator`: replaces x/y by the confidence-weighted
/// mean position in a 7x7 heatmap window when the window's peak is confident.
fn refine_from_heatmap(points: &mut [RawLandmark], heatmap: &[f32]) {
    let n = HEATMAP_SIZE as i64;
    let offset = (HEATMAP_KERNEL as i64 - 1) / 2;
    for (index, p) in points.iter_mut().enumerate() {
        // Truncation toward zero matches the C++ int conversion.
        let col = (p.x * HEATMAP_SIZE as f32) as i64;
        let row = (p.y * HEATMAP_SIZE as f32) as i64;
        if col < 0 || col >= n || row < 0 || row >= n {
            continue;
        }
        let (mut sum, mut wx, mut wy, mut peak) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        for r in (row - offset).max(0)..(row + offset + 1).min(n) {
            for c in (col - offset).max(0)..(col + offset + 1).min(n) {
                let idx = ((r * n + c) as usize) * MODEL_LANDMARKS + index;
                let confidence = sigmoid(heatmap.get(idx).copied().unwrap_or(f32::NEG_INFINITY));
                sum += confidence;
                peak = peak.max(confidence);
                wx += c as f32 * confidence;
                wy += r as f32 * confidence;
            }
        }
        if peak >= MIN_HEATMAP_CONFIDENCE && sum > 0.0 {
            p.x = wx / HEATMAP_SIZE as f32 / sum;
            p.y = wy / HEATMAP_SIZE as f32 / sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::testutil::{fixture, golden, models_dir, IMAGES};
    use crate::vision::{open, DecodeLimits};

    #[test]
    fn roi_is_upright_for_a_standing_person() {
        // Mid-hip at (0.5, 0.6), scale point straight above it.
        let d = Detection {
            score: 0.9,
            xmin: 0.0,
            ymin: 0.0,
            width: 0.0,
            height: 0.0,
            keypoints: vec![[0.5, 0.6], [0.5, 0.4]],
        };
        let roi = roi_from_detection(&d, 100, 200).unwrap_or_else(|| panic!("no roi"));
        assert!(roi.rotation.abs() < 1e-6);
        assert!((roi.width - 2.0 * 40.0 * 1.25).abs() < 1e-4);
        assert!((roi.center_x - 50.0).abs() < 1e-4 && (roi.center_y - 120.0).abs() < 1e-4);
        // Lying with the head to the right: the crop turns by 90 degrees.
        let d = Detection {
            keypoints: vec![[0.5, 0.5], [0.7, 0.5]],
            ..d
        };
        let roi = roi_from_detection(&d, 100, 100).unwrap_or_else(|| panic!("no roi"));
        assert!(
            (roi.rotation - std::f32::consts::FRAC_PI_2).abs() < 1e-6,
            "{}",
            roi.rotation
        );
    }

    #[test]
    fn heatmap_refinement_moves_to_the_peak() {
        let mut heatmap = vec![-20.0f32; HEATMAP_SIZE * HEATMAP_SIZE * MODEL_LANDMARKS];
        heatmap[(10 * HEATMAP_SIZE + 12) * MODEL_LANDMARKS + 3] = 20.0;
        let mut points = vec![
            RawLandmark {
                x: 11.0 / 64.0,
                y: 9.0 / 64.0,
                z: 0.0,
                visibility: 1.0,
                presence: 1.0
            };
            MODEL_LANDMARKS
        ];
        refine_from_heatmap(&mut points, &heatmap);
        assert!((points[3].x - 12.0 / 64.0).abs() < 1e-4);
        assert!((points[3].y - 10.0 / 64.0).abs() < 1e-4);
        // No confident peak: unchanged.
        assert_eq!(points[0].x, 11.0 / 64.0);
    }

    /// Mean landmark distance in pixels and segmentation IoU against the
    /// MediaPipe 0.10.14 goldens (tools/vision_goldens.py).
    #[test]
    fn pose_matches_mediapipe_goldens() {
        let dir = models_dir();
        let pose = PoseLandmarker::load(&dir, &Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
        for name in IMAGES {
            let g = golden(name);
            let img = open(&fixture(&format!("{name}.png")), &DecodeLimits::default())
                .unwrap_or_else(|e| panic!("{e}"));
            let r = pose.detect(&img).unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected = g["pose"]["landmarks"].as_array();
            assert_eq!(
                r.landmarks.is_some(),
                expected.is_some(),
                "{name}: person found?"
            );
            let (Some(lms), Some(expected)) = (&r.landmarks, expected) else {
                continue;
            };
            let mean: f64 = lms
                .iter()
                .zip(expected)
                .map(|(l, e)| {
                    let (ex, ey) = (
                        e[0].as_f64().unwrap_or(f64::NAN),
                        e[1].as_f64().unwrap_or(f64::NAN),
                    );
                    ((f64::from(l.x) - ex).powi(2) + (f64::from(l.y) - ey).powi(2)).sqrt()
                })
                .sum::<f64>()
                / NUM_LANDMARKS as f64;
            let world = r.world_landmarks.as_deref().unwrap_or_default();
            let world_err = world
                .iter()
                .zip(
                    g["pose"]["world_landmarks"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                )
                .map(|(w, e)| {
                    let d =
                        |a: f32, i: usize| (f64::from(a) - e[i].as_f64().unwrap_or(f64::NAN)).abs();
                    d(w.x, 0).max(d(w.y, 1)).max(d(w.z, 2))
                })
                .fold(0.0f64, f64::max);
            let mask_file = g["pose"]["mask"].as_str().unwrap_or_default();
            let gold = image::open(fixture(mask_file))
                .unwrap_or_else(|e| panic!("{e}"))
                .into_luma8();
            let iou = r
                .segmentation
                .as_ref()
                .and_then(|m| m.iou(&Mask::from_gray_image(&gold), 0.5))
                .unwrap_or(0.0);
            println!("pose {name}: mean landmark error {mean:.3} px, world max {world_err:.4} m, mask IoU {iou:.4}");
            assert!(mean <= 1.5, "{name}: mean landmark error {mean} px");
            assert!(
                world_err <= 0.05,
                "{name}: world landmark error {world_err} m"
            );
            assert!(iou >= 0.98, "{name}: mask IoU {iou}");
        }
    }
}
