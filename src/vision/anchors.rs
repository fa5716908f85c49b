//! SSD anchors, box/keypoint decoding and weighted non-maximum suppression, as
//! MediaPipe's `SsdAnchorsCalculator`, `TensorsToDetectionsCalculator` and
//! `NonMaxSuppressionCalculator` (algorithm WEIGHTED) compute them.

/// An anchor centre in normalised tensor coordinates (sizes are fixed at 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    /// Centre x in [0, 1].
    pub x: f32,
    /// Centre y in [0, 1].
    pub y: f32,
}

/// `SsdAnchorsCalculatorOptions` for the BlazePose/BlazeFace detectors
/// (one aspect ratio 1.0, interpolated scale ratio 1.0, fixed anchor size).
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorOptions {
    /// Square input size in pixels.
    pub input_size: usize,
    /// Smallest anchor scale.
    pub min_scale: f32,
    /// Largest anchor scale.
    pub max_scale: f32,
    /// Stride of each layer.
    pub strides: Vec<usize>,
}

impl AnchorOptions {
    /// BlazePose detector: 224 px, strides 8,16,32,32,32 -> 2254 anchors.
    pub fn pose_detection() -> Self {
        AnchorOptions {
            input_size: 224,
            min_scale: 0.148_437_5,
            max_scale: 0.75,
            strides: vec![8, 16, 32, 32, 32],
        }
    }

    /// BlazeFace short range: 128 px, strides 8,16,16,16 -> 896 anchors.
    pub fn face_detection_short_range() -> Self {
        AnchorOptions {
            input_size: 128,
            min_scale: 0.148_437_5,
            max_scale: 0.75,
            strides: vec![8, 16, 16, 16],
        }
    }
}

/// Generates the anchors in (layer group, y, x, anchor) order.
pub fn generate(options: &AnchorOptions) -> Vec<Anchor> {
    let layers = options.strides.len();
    let mut anchors = Vec::new();
    let mut layer = 0;
    while layer < layers {
        // Consecutive layers with the same stride share one feature map; each
        // contributes an aspect-1 anchor and an interpolated-scale anchor.
        let mut per_cell = 0;
        let mut last = layer;
        while last < layers && options.strides.get(last) == options.strides.get(layer) {
            per_cell += 2;
            last += 1;
        }
        let stride = options.strides.get(layer).copied().unwrap_or(1).max(1);
        let cells = options.input_size.div_ceil(stride);
        for y in 0..cells {
            for x in 0..cells {
                for _ in 0..per_cell {
                    anchors.push(Anchor {
                        x: (x as f32 + 0.5) / cells as f32,
                        y: (y as f32 + 0.5) / cells as f32,
                    });
                }
            }
        }
        layer = last;
    }
    anchors
}

/// A detection in normalised coordinates of the tensor it was decoded from.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Confidence after the sigmoid.
    pub score: f32,
    /// Left edge.
    pub xmin: f32,
    /// Top edge.
    pub ymin: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
    /// Keypoints `(x, y)`.
    pub keypoints: Vec<[f32; 2]>,
}

impl Detection {
    fn iou(&self, other: &Detection) -> f32 {
        let x0 = self.xmin.max(other.xmin);
        let y0 = self.ymin.max(other.ymin);
        let x1 = (self.xmin + self.width).min(other.xmin + other.width);
        let y1 = (self.ymin + self.height).min(other.ymin + other.height);
        if x1 <= x0 || y1 <= y0 {
            return 0.0;
        }
        let inter = (x1 - x0) * (y1 - y0);
        let union = self.width * self.height + other.width * other.height - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}

/// Decoding parameters (`TensorsToDetectionsCalculatorOptions`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeOptions {
    /// Values per anchor in the box tensor (4 box + 2 per keypoint).
    pub num_coords: usize,
    /// Keypoints per detection.
    pub num_keypoints: usize,
    /// Scale of the raw x/y/w/h (the input size).
    pub scale: f32,
    /// Logits are clamped to +-this before the sigmoid.
    pub score_clipping: f32,
    /// Minimum score kept.
    pub min_score: f32,
}

/// Decodes raw boxes (`[anchors x num_coords]`, x/y/w/h order) and score logits
/// (`[anchors]`) into detections above `min_score`.
pub fn decode(
    raw_boxes: &[f32],
    raw_scores: &[f32],
    anchors: &[Anchor],
    options: &DecodeOptions,
) -> Vec<Detection> {
    let mut out = Vec::new();
    for ((anchor, row), &logit) in anchors
        .iter()
        .zip(raw_boxes.chunks_exact(options.num_coords))
        .zip(raw_scores)
    {
        let score = super::sigmoid(logit.clamp(-options.score_clipping, options.score_clipping));
        if score < options.min_score {
            continue;
        }
        let at = |i: usize| row.get(i).copied().unwrap_or(0.0) / options.scale;
        let (cx, cy) = (at(0) + anchor.x, at(1) + anchor.y);
        let (w, h) = (at(2), at(3));
        let keypoints = (0..options.num_keypoints)
            .map(|k| [at(4 + 2 * k) + anchor.x, at(5 + 2 * k) + anchor.y])
            .collect();
        out.push(Detection {
            score,
            xmin: cx - w / 2.0,
            ymin: cy - h / 2.0,
            width: w,
            height: h,
            keypoints,
        });
    }
    out
}

/// Weighted NMS: repeatedly takes the best remaining detection and replaces its
/// box and keypoints by the score-weighted mean of all remaining detections
/// overlapping it by more than `iou_threshold` (itself included); the score
/// stays the best one's. Output is in decreasing score order.
pub fn weighted_nms(mut detections: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(best) = detections.first().cloned() {
        let (cluster, rest): (Vec<Detection>, Vec<Detection>) = detections
            .into_iter()
            .partition(|d| d.iou(&best) > iou_threshold);
        detections = rest;
        let total: f32 = cluster.iter().map(|d| d.score).sum();
        if cluster.is_empty() || total <= 0.0 {
            out.push(best);
            continue;
        }
        let (mut x0, mut y0, mut x1, mut y1) = (0.0, 0.0, 0.0, 0.0);
        let mut keypoints = vec![[0.0f32; 2]; best.keypoints.len()];
        for d in &cluster {
            x0 += d.xmin * d.score;
            y0 += d.ymin * d.score;
            x1 += (d.xmin + d.width) * d.score;
            y1 += (d.ymin + d.height) * d.score;
            for (acc, kp) in keypoints.iter_mut().zip(&d.keypoints) {
                acc[0] += kp[0] * d.score;
                acc[1] += kp[1] * d.score;
            }
        }
        let (xmin, ymin) = (x0 / total, y0 / total);
        out.push(Detection {
            score: best.score,
            xmin,
            ymin,
            width: x1 / total - xmin,
            height: y1 / total - ymin,
            keypoints: keypoints
                .iter()
                .map(|k| [k[0] / total, k[1] / total])
                .collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_counts_match_the_models() {
        let pose = generate(&AnchorOptions::pose_detection());
        assert_eq!(pose.len(), 2254);
        let face = generate(&AnchorOptions::face_detection_short_range());
        assert_eq!(face.len(), 896);
        // First layer: 28x28 cells, two anchors each, centre of cell 0.
        assert_eq!(
            pose[0],
            Anchor {
                x: 0.5 / 28.0,
                y: 0.5 / 28.0
            }
        );
        assert_eq!(pose[1], pose[0]);
        assert_eq!(
            pose[2],
            Anchor {
                x: 1.5 / 28.0,
                y: 0.5 / 28.0
            }
        );
        // Last group: 7x7 cells, six anchors each.
        assert_eq!(
            pose[1568 + 392],
            Anchor {
                x: 0.5 / 7.0,
                y: 0.5 / 7.0
            }
        );
        assert_eq!(
            pose[2253],
            Anchor {
                x: 6.5 / 7.0,
                y: 6.5 / 7.0
            }
        );
        assert_eq!(
            face[512],
            Anchor {
                x: 0.5 / 8.0,
                y: 0.5 / 8.0
            }
        );
        assert_eq!(
            face[895],
            Anchor {
                x: 7.5 / 8.0,
                y: 7.5 / 8.0
            }
        );
    }

    #[test]
    fn decodes_offsets_around_anchor_centres() {
        let anchors = [Anchor { x: 0.5, y: 0.25 }, Anchor { x: 0.1, y: 0.1 }];
        let raw = [
            12.8, -25.6, 64.0, 32.0, 0.0, 0.0, 128.0, 128.0, // anchor 0
            0.0, 0.0, 10.0, 10.0, 0.0, 0.0, 0.0, 0.0, // anchor 1 (low score)
        ];
        let options = DecodeOptions {
            num_coords: 8,
            num_keypoints: 2,
            scale: 128.0,
            score_clipping: 100.0,
            min_score: 0.5,
        };
        let d = decode(&raw, &[2.0, -3.0], &anchors, &options);
        assert_eq!(d.len(), 1);
        let d = &d[0];
        assert!((d.score - 0.880_797).abs() < 1e-5);
        // centre (0.6, 0.05), size (0.5, 0.25)
        assert!((d.xmin - 0.35).abs() < 1e-6 && (d.ymin - (-0.075)).abs() < 1e-6);
        assert!((d.width - 0.5).abs() < 1e-6 && (d.height - 0.25).abs() < 1e-6);
        assert_eq!(d.keypoints, vec![[0.5, 0.25], [1.5, 1.25]]);
    }

    #[test]
    fn weighted_nms_averages_overlapping_boxes() {
        let det = |score: f32, x: f32| Detection {
            score,
            xmin: x,
            ymin: 0.0,
            width: 1.0,
            height: 1.0,
            keypoints: vec![[x, 0.0]],
        };
        let out = weighted_nms(vec![det(0.6, 0.1), det(0.9, 0.0), det(0.8, 5.0)], 0.3);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        let expected = 0.6 * 0.1 / 1.5;
        assert!((out[0].xmin - expected).abs() < 1e-6);
        assert!((out[0].keypoints[0][0] - expected).abs() < 1e-6);
        assert!((out[0].width - 1.0).abs() < 1e-6);
        assert_eq!(out[1], det(0.8, 5.0));
    }
}
