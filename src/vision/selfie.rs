//! Selfie segmentation (general model, 256x256), as MediaPipe's
//! `SelfieSegmentation` solution with model_selection 0: the whole image is
//! stretched to 256x256 and the person probability resized back.

use super::image::{resize_mask, warp_to_tensor, Border, Mask, RotatedRect};
use super::{model_files, Error, NamedModel};
use candle_core::Device;
use image::RgbImage;
use std::path::Path;

const SIZE: usize = 256;

/// The selfie segmentation model.
#[derive(Debug)]
pub struct SelfieSegmenter {
    model: NamedModel,
}

impl SelfieSegmenter {
    /// Loads `selfie_segmentation.tflite` from `models_dir`.
    pub fn load(models_dir: &Path, device: &Device) -> Result<Self, Error> {
        Ok(Self::new(NamedModel::load(
            models_dir,
            model_files::SELFIE_SEGMENTATION,
            device,
            None,
        )?))
    }

    pub(super) fn new(model: NamedModel) -> Self {
        SelfieSegmenter { model }
    }

    /// Person probability for every pixel of `image`.
    pub fn segment(&self, image: &RgbImage) -> Result<Mask, Error> {
        let (width, height) = image.dimensions();
        let roi = RotatedRect::full_image(width, height);
        let input = warp_to_tensor(image, &roi, SIZE, SIZE, Border::Zero, (0.0, 1.0));
        let out = self.model.run(input, 1, (SIZE, SIZE), &[SIZE * SIZE])?;
        let probabilities = out.first().ok_or_else(|| Error::Output {
            model: self.model.name,
            detail: "no output".into(),
        })?;
        // The model ends in a sigmoid already.
        Ok(resize_mask(probabilities, SIZE, SIZE, width, height))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::testutil::{fixture, golden, models_dir, IMAGES};
    use crate::vision::{open, DecodeLimits};

    #[test]
    fn selfie_masks_match_mediapipe_goldens() {
        let dir = models_dir();
        let segmenter = SelfieSegmenter::load(&dir, &Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
        for name in IMAGES {
            let g = golden(name);
            let img = open(&fixture(&format!("{name}.png")), &DecodeLimits::default())
                .unwrap_or_else(|e| panic!("{e}"));
            let mask = segmenter
                .segment(&img)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let file = g["selfie_mask"].as_str().unwrap_or_default();
            let gold = image::open(fixture(file))
                .unwrap_or_else(|e| panic!("{e}"))
                .into_luma8();
            let gold = Mask::from_gray_image(&gold);
            let iou = mask.iou(&gold, 0.5).unwrap_or(0.0);
            let mean_abs = mask
                .data
                .iter()
                .zip(&gold.data)
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / mask.data.len().max(1) as f32;
            println!("selfie {name}: IoU {iou:.4}, mean |diff| {mean_abs:.4}");
            assert!(iou >= 0.98, "{name}: IoU {iou}");
        }
    }
}
