//! The SSD-style detector both pipelines start with (BlazePose's person detector and
//! BlazeFace): the whole image letterboxed to a square in [-1, 1], boxes and keypoints decoded
//! around the anchors, weighted non-maximum suppression, and the letterbox taken off again.

use image::RgbImage;

use super::anchors::{self, Anchor, AnchorOptions, DecodeOptions, Detection};
use super::image::{letterbox, warp_to_tensor, Border, Letterbox, RotatedRect};
use super::{Error, NamedModel};

/// Detections scoring below this are dropped (MediaPipe's setting for both detectors).
const MIN_SCORE: f32 = 0.5;

/// Overlap above which weighted NMS merges two detections.
const NMS_IOU: f32 = 0.3;

/// Sigmoid inputs are clipped to +-this before scoring, as MediaPipe does.
const SCORE_CLIPPING: f32 = 100.0;

/// A detector model with its anchors.
#[derive(Debug)]
pub(super) struct Detector {
    model: NamedModel,
    anchors: Vec<Anchor>,
    size: usize,
    keypoints: usize,
}

impl Detector {
    /// `model` takes `size` x `size` images and gives a box and `keypoints` points per anchor.
    pub(super) fn new(
        model: NamedModel,
        anchors: &AnchorOptions,
        size: usize,
        keypoints: usize,
    ) -> Self {
        Detector {
            model,
            anchors: anchors::generate(anchors),
            size,
            keypoints,
        }
    }

    /// Detections in normalised image coordinates, best first.
    pub(super) fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, Error> {
        let (width, height) = image.dimensions();
        let (padded, pad) = letterbox(
            &RotatedRect::full_image(width, height),
            self.size,
            self.size,
        );
        let input = warp_to_tensor(
            image,
            &padded,
            self.size,
            self.size,
            Border::Zero,
            (-1.0, 1.0),
        );
        let n = self.anchors.len();
        let coords = 4 + 2 * self.keypoints;
        let out = self
            .model
            .run(input, 1, (self.size, self.size), &[n * coords, n])?;
        let [boxes, scores] = out.as_slice() else {
            return Err(Error::Output {
                model: self.model.name,
                detail: "expected 2 outputs".into(),
            });
        };
        let options = DecodeOptions {
            num_coords: coords,
            num_keypoints: self.keypoints,
            scale: self.size as f32,
            score_clipping: SCORE_CLIPPING,
            min_score: MIN_SCORE,
        };
        let detections = anchors::weighted_nms(
            anchors::decode(boxes, scores, &self.anchors, &options),
            NMS_IOU,
        );
        Ok(detections
            .into_iter()
            .map(|d| remove_letterbox(d, &pad))
            .collect())
    }
}

/// Maps a detection from the letterboxed tensor back to the image (normalised).
fn remove_letterbox(d: Detection, pad: &Letterbox) -> Detection {
    Detection {
        score: d.score,
        xmin: pad.unpad_x(d.xmin),
        ymin: pad.unpad_y(d.ymin),
        width: d.width * pad.scale_x(),
        height: d.height * pad.scale_y(),
        keypoints: d
            .keypoints
            .iter()
            .map(|k| [pad.unpad_x(k[0]), pad.unpad_y(k[1])])
            .collect(),
    }
}
