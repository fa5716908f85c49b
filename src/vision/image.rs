//! Image input and the geometric transforms the MediaPipe graphs apply around
//! their models: decoding with EXIF orientation and pixel limits, rotated-ROI
//! warps into model tensors, letterboxing, and mapping masks back to the photo.
//!
//! The warps follow OpenCV's `warpPerspective`/`warpAffine` with `INTER_LINEAR`
//! as MediaPipe's CPU calculators call them: pixel centres at integer
//! coordinates, sample positions quantised to 1/32 px, and (for 8-bit input)
//! the interpolated value rounded back to 8 bits before scaling to floats.

use super::Error;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::path::Path;

/// Limits applied while decoding untrusted images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted width x height, checked from the header before decoding.
    pub max_pixels: u64,
    /// Largest accepted width or height.
    pub max_side: u32,
    /// Most bytes the decoder may allocate.
    pub max_alloc: u64,
    /// Largest accepted encoded file, in bytes.
    pub max_file_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_pixels: 40_000_000,
            max_side: 16_384,
            max_alloc: 512 * 1024 * 1024,
            max_file_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Decodes an encoded image (JPEG, PNG, WebP), applies its EXIF orientation and
/// returns it as 8-bit RGB. Oversized, truncated or malformed input is an error,
/// never a panic or an unbounded allocation.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, Error> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(Error::FileTooLarge {
            bytes: bytes.len() as u64,
            max: limits.max_file_bytes,
        });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Decode(e.to_string()))?;
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    image_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(image_limits);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels || width > limits.max_side || height > limits.max_side {
        return Err(Error::TooManyPixels {
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }
    if pixels == 0 {
        return Err(Error::Decode(format!("image is {width}x{height}")));
    }
    let orientation = decoder.orientation().map_err(decode_error)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// Reads and decodes an image file with [`decode`].
pub fn open(path: &Path, limits: &DecodeLimits) -> Result<RgbImage, Error> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?
        .len();
    if len > limits.max_file_bytes {
        return Err(Error::FileTooLarge {
            bytes: len,
            max: limits.max_file_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    decode(&bytes, limits)
}

fn decode_error(e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(l) => Error::DecodeLimit(l.to_string()),
        other => Error::Decode(other.to_string()),
    }
}

/// A rotated rectangle in image pixels (MediaPipe's `RotatedRect`): centre,
/// size, and rotation in radians (clockwise on screen, y pointing down).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RotatedRect {
    /// Centre x in pixels.
    pub center_x: f32,
    /// Centre y in pixels.
    pub center_y: f32,
    /// Width in pixels.
    pub width: f32,
    /// Height in pixels.
    pub height: f32,
    /// Rotation in radians.
    pub rotation: f32,
}

impl RotatedRect {
    /// The whole image, unrotated.
    pub fn full_image(width: u32, height: u32) -> Self {
        RotatedRect {
            center_x: width as f32 / 2.0,
            center_y: height as f32 / 2.0,
            width: width as f32,
            height: height as f32,
            rotation: 0.0,
        }
    }
}

/// Letterbox padding as fractions of the tensor: left, top, right, bottom.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Letterbox {
    /// Fraction of the tensor width padded on the left.
    pub left: f32,
    /// Fraction of the tensor height padded on the top.
    pub top: f32,
    /// Fraction of the tensor width padded on the right.
    pub right: f32,
    /// Fraction of the tensor height padded on the bottom.
    pub bottom: f32,
}

impl Letterbox {
    /// Maps a normalised x in the letterboxed tensor to the unpadded ROI.
    pub fn unpad_x(&self, x: f32) -> f32 {
        (x - self.left) / (1.0 - self.left - self.right)
    }
    /// Maps a normalised y in the letterboxed tensor to the unpadded ROI.
    pub fn unpad_y(&self, y: f32) -> f32 {
        (y - self.top) / (1.0 - self.top - self.bottom)
    }
    /// Scale factor for lengths along x (also used for z).
    pub fn scale_x(&self) -> f32 {
        1.0 / (1.0 - self.left - self.right)
    }
    /// Scale factor for lengths along y.
    pub fn scale_y(&self) -> f32 {
        1.0 / (1.0 - self.top - self.bottom)
    }
}

/// Grows `roi` to the tensor's aspect ratio (MediaPipe `PadRoi` with
/// `keep_aspect_ratio: true`) and returns the padding that adds.
pub fn letterbox(
    roi: &RotatedRect,
    tensor_width: usize,
    tensor_height: usize,
) -> (RotatedRect, Letterbox) {
    let tensor_aspect = tensor_height as f32 / tensor_width as f32;
    let roi_aspect = roi.height / roi.width;
    let mut padded = *roi;
    let mut pad = Letterbox::default();
    if tensor_aspect > roi_aspect {
        padded.height = roi.width * tensor_aspect;
        let v = (1.0 - roi_aspect / tensor_aspect) / 2.0;
        pad.top = v;
        pad.bottom = v;
    } else {
        padded.width = roi.height / tensor_aspect;
        let h = (1.0 - tensor_aspect / roi_aspect) / 2.0;
        pad.left = h;
        pad.right = h;
    }
    (padded, pad)
}

/// What a warp reads outside the source image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Border {
    /// Zeros (OpenCV `BORDER_CONSTANT` with 0).
    Zero,
    /// The nearest edge pixel (OpenCV `BORDER_REPLICATE`).
    Replicate,
}

/// OpenCV's `INTER_BITS`: sample positions are quantised to 1/32 pixel.
const INTER_TAB: f64 = 32.0;

/// Affine map from a destination pixel to its source position.
#[derive(Debug, Clone, Copy)]
struct Affine {
    m: [f64; 6],
}

impl Affine {
    fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let m = &self.m;
        (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
    }

    /// Quantised source position: integer pixel plus fraction in 1/32 steps.
    fn quantised(&self, x: f64, y: f64) -> (i64, i64, u32, u32) {
        let (sx, sy) = self.apply(x, y);
        let qx = (sx * INTER_TAB)
            .round_ties_even()
            .clamp(i32::MIN as f64, i32::MAX as f64) as i64;
        let qy = (sy * INTER_TAB)
            .round_ties_even()
            .clamp(i32::MIN as f64, i32::MAX as f64) as i64;
        (qx >> 5, qy >> 5, (qx & 31) as u32, (qy & 31) as u32)
    }
}

/// Destination pixel `(u, v)` of a `dst_w x dst_h` tensor -> source pixel, for
/// the rectangle corners mapped onto the tensor corners as MediaPipe does.
fn roi_to_source(roi: &RotatedRect, dst_w: usize, dst_h: usize) -> Affine {
    let (s, c) = f64::from(roi.rotation).sin_cos();
    let (w, h) = (f64::from(roi.width), f64::from(roi.height));
    let (sx, sy) = (w / dst_w as f64, h / dst_h as f64);
    let (cx, cy) = (f64::from(roi.center_x), f64::from(roi.center_y));
    Affine {
        m: [
            c * sx,
            -s * sy,
            cx - c * w / 2.0 + s * h / 2.0,
            s * sx,
            c * sy,
            cy - s * w / 2.0 - c * h / 2.0,
        ],
    }
}

/// Crops the rotated `roi` out of `image` into a `width x height` RGB tensor
/// (HWC, row-major), bilinear, with values mapped from [0, 255] to `range`.
pub fn warp_to_tensor(
    image: &RgbImage,
    roi: &RotatedRect,
    width: usize,
    height: usize,
    border: Border,
    range: (f32, f32),
) -> Vec<f32> {
    let map = roi_to_source(roi, width, height);
    let (iw, ih) = (i64::from(image.width()), i64::from(image.height()));
    if iw == 0 || ih == 0 {
        // Nothing to sample (and no edge to replicate): all border.
        return vec![range.0; width * height * 3];
    }
    let raw = image.as_raw();
    let fetch = |x: i64, y: i64, ch: usize| -> i64 {
        let (x, y) = match border {
            Border::Replicate => (x.clamp(0, iw - 1), y.clamp(0, ih - 1)),
            Border::Zero => {
                if x < 0 || y < 0 || x >= iw || y >= ih {
                    return 0;
                }
                (x, y)
            }
        };
        let idx = ((y * iw + x) * 3) as usize + ch;
        raw.get(idx).map_or(0, |&v| i64::from(v))
    };
    let scale = (range.1 - range.0) / 255.0;
    let mut out = Vec::with_capacity(width * height * 3);
    for v in 0..height {
        for u in 0..width {
            let (x0, y0, fx, fy) = map.quantised(u as f64, v as f64);
            let (fx, fy) = (i64::from(fx), i64::from(fy));
            let w00 = (32 - fx) * (32 - fy);
            let w01 = fx * (32 - fy);
            let w10 = (32 - fx) * fy;
            let w11 = fx * fy;
            for ch in 0..3 {
                let sum = fetch(x0, y0, ch) * w00
                    + fetch(x0 + 1, y0, ch) * w01
                    + fetch(x0, y0 + 1, ch) * w10
                    + fetch(x0 + 1, y0 + 1, ch) * w11;
                // Weights sum to 1024; OpenCV rounds the 8-bit result.
                let value = ((sum + 512) >> 10).clamp(0, 255) as f32;
                out.push(value * scale + range.0);
            }
        }
    }
    out
}

/// A single-channel float mask (e.g. person probability in [0, 1]).
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl Mask {
    /// Value at `(x, y)`, or 0 outside.
    pub fn get(&self, x: u32, y: u32) -> f32 {
        if x >= self.width || y >= self.height {
            return 0.0;
        }
        self.data
            .get(y as usize * self.width as usize + x as usize)
            .copied()
            .unwrap_or(0.0)
    }

    /// The mask as an 8-bit grey image (value x 255, rounded, clamped).
    pub fn to_gray_image(&self) -> image::GrayImage {
        image::GrayImage::from_fn(self.width, self.height, |x, y| {
            image::Luma([(self.get(x, y) * 255.0).round().clamp(0.0, 255.0) as u8])
        })
    }

    /// Builds a mask from an 8-bit grey image (value / 255).
    pub fn from_gray_image(image: &image::GrayImage) -> Self {
        Mask {
            width: image.width(),
            height: image.height(),
            data: image.pixels().map(|p| f32::from(p.0[0]) / 255.0).collect(),
        }
    }

    /// Intersection over union of the two masks thresholded at `threshold`;
    /// `None` when their sizes differ. Two empty masks agree fully.
    pub fn iou(&self, other: &Mask, threshold: f32) -> Option<f64> {
        if self.width != other.width || self.height != other.height {
            return None;
        }
        let (mut inter, mut union) = (0u64, 0u64);
        for (a, b) in self.data.iter().zip(&other.data) {
            let (a, b) = (*a >= threshold, *b >= threshold);
            inter += u64::from(a && b);
            union += u64::from(a || b);
        }
        Some(if union == 0 {
            1.0
        } else {
            inter as f64 / union as f64
        })
    }
}

/// Resizes a row-major float mask to `width x height` like OpenCV's
/// `cv::resize(..., INTER_LINEAR)`: half-pixel centres, edges replicated.
pub fn resize_mask(src: &[f32], src_w: usize, src_h: usize, width: u32, height: u32) -> Mask {
    let axis = |dst: usize, dst_len: usize, src_len: usize| -> (usize, usize, f32) {
        let scale = src_len as f64 / dst_len as f64;
        let f = (dst as f64 + 0.5) * scale - 0.5;
        let i = f.floor();
        let frac = (f - i) as f32;
        let last = src_len.saturating_sub(1) as f64;
        if i < 0.0 {
            (0, 0, 0.0)
        } else if i >= last {
            (last as usize, last as usize, 0.0)
        } else {
            (i as usize, i as usize + 1, frac)
        }
    };
    let at = |x: usize, y: usize| src.get(y * src_w + x).copied().unwrap_or(0.0);
    let xs: Vec<_> = (0..width as usize)
        .map(|x| axis(x, width as usize, src_w))
        .collect();
    let mut data = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height as usize {
        let (y0, y1, fy) = axis(y, height as usize, src_h);
        for &(x0, x1, fx) in &xs {
            let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
            let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
            data.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    Mask {
        width,
        height,
        data,
    }
}

/// Projects a mask predicted on the `roi` crop (`src_w x src_h`, row-major)
/// back onto the full `width x height` image, zero outside the ROI (MediaPipe's
/// inverse `WarpAffineCalculator` with `BORDER_ZERO`).
pub fn unwarp_mask(
    src: &[f32],
    src_w: usize,
    src_h: usize,
    roi: &RotatedRect,
    width: u32,
    height: u32,
) -> Mask {
    let (s, c) = f64::from(roi.rotation).sin_cos();
    let (cx, cy) = (f64::from(roi.center_x), f64::from(roi.center_y));
    let kx = src_w as f64 / f64::from(roi.width);
    let ky = src_h as f64 / f64::from(roi.height);
    // Image pixel -> crop pixel: rotate by -rotation about the ROI centre.
    let map = Affine {
        m: [
            c * kx,
            s * kx,
            kx * (-c * cx - s * cy) + src_w as f64 / 2.0,
            -s * ky,
            c * ky,
            ky * (s * cx - c * cy) + src_h as f64 / 2.0,
        ],
    };
    let at = |x: i64, y: i64| -> f32 {
        if x < 0 || y < 0 || x >= src_w as i64 || y >= src_h as i64 {
            return 0.0;
        }
        src.get(y as usize * src_w + x as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let mut data = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height {
        for x in 0..width {
            let (x0, y0, fx, fy) = map.quantised(f64::from(x), f64::from(y));
            let (fx, fy) = (fx as f32 / 32.0, fy as f32 / 32.0);
            let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
            let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
            data.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    Mask {
        width,
        height,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb};

    fn png_bytes(image: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(
                image.as_raw(),
                image.width(),
                image.height(),
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("encode: {e}"));
        out
    }

    #[test]
    fn decodes_png_and_rejects_truncated_and_oversized() {
        let img = RgbImage::from_fn(40, 30, |x, y| Rgb([x as u8, y as u8, 7]));
        let bytes = png_bytes(&img);
        let back = decode(&bytes, &DecodeLimits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, img);
        assert!(matches!(
            decode(&bytes[..bytes.len() / 2], &DecodeLimits::default()),
            Err(Error::Decode(_))
        ));
        assert!(matches!(
            decode(b"not an image", &DecodeLimits::default()),
            Err(Error::Decode(_))
        ));
        let small = DecodeLimits {
            max_pixels: 1000,
            ..DecodeLimits::default()
        };
        let err = decode(&bytes, &small).err();
        assert!(matches!(
            err,
            Some(Error::TooManyPixels {
                width: 40,
                height: 30,
                ..
            })
        ));
        assert!(err.is_some_and(|e| e.is_client_error()));
    }

    #[test]
    fn decompression_bomb_is_rejected_from_the_header() {
        // A PNG header claiming 100000 x 100000 pixels with almost no data.
        let img = RgbImage::new(1, 1);
        let mut bytes = png_bytes(&img);
        // IHDR width/height live at bytes 16..24, its CRC (over type + data) at 29..33.
        bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32fast::hash(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = decode(&bytes, &DecodeLimits::default()).err();
        assert!(err.as_ref().is_some_and(|e| e.is_client_error()), "{err:?}");
    }

    #[test]
    fn exif_orientation_is_applied() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/vision/exif_rotate90.jpg"
        );
        let Ok(bytes) = std::fs::read(path) else {
            panic!("missing fixture {path}");
        };
        // Stored 60x40 (landscape) with orientation 6: shown as 40x60.
        let img = decode(&bytes, &DecodeLimits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((img.width(), img.height()), (40, 60));
        // The stored top-left corner is red; after a 90 degree clockwise turn it is top-right.
        let p = img.get_pixel(39, 0).0;
        assert!(p[0] > 200 && p[1] < 60 && p[2] < 60, "{p:?}");
    }

    #[test]
    fn exif_rotated_png_decodes_upright() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vision/");
        let limits = DecodeLimits::default();
        let upright = open(Path::new(&format!("{dir}astronaut.png")), &limits)
            .unwrap_or_else(|e| panic!("{e}"));
        let stored = open(Path::new(&format!("{dir}astronaut_exif8.png")), &limits)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(upright, stored);
    }

    #[test]
    fn letterbox_pads_the_short_side() {
        let (padded, pad) = letterbox(&RotatedRect::full_image(200, 100), 224, 224);
        assert_eq!((padded.width, padded.height), (200.0, 200.0));
        assert!((pad.top - 0.25).abs() < 1e-6 && pad.left == 0.0);
        assert!((pad.unpad_y(0.5) - 0.5).abs() < 1e-6);
        assert!((pad.unpad_y(0.25)).abs() < 1e-6);
    }

    #[test]
    fn empty_image_warps_to_border() {
        let t = warp_to_tensor(
            &RgbImage::new(0, 0),
            &RotatedRect::full_image(0, 0),
            2,
            2,
            Border::Replicate,
            (-1.0, 1.0),
        );
        assert_eq!(t, vec![-1.0; 12]);
    }

    #[test]
    fn identity_warp_copies_pixels() {
        let img = RgbImage::from_fn(8, 8, |x, y| Rgb([(x * 30) as u8, (y * 30) as u8, 100]));
        let t = warp_to_tensor(
            &img,
            &RotatedRect::full_image(8, 8),
            8,
            8,
            Border::Zero,
            (0.0, 255.0),
        );
        for (i, p) in img.pixels().enumerate() {
            assert_eq!(t[i * 3], f32::from(p.0[0]));
            assert_eq!(t[i * 3 + 1], f32::from(p.0[1]));
        }
    }

    #[test]
    fn rotated_warp_and_unwarp_round_trip() {
        // A 90-degree ROI: tensor column u reads image row from the bottom.
        let img = RgbImage::from_fn(10, 10, |x, y| Rgb([(x * 20) as u8, (y * 20) as u8, 0]));
        let roi = RotatedRect {
            rotation: std::f32::consts::FRAC_PI_2,
            ..RotatedRect::full_image(10, 10)
        };
        let t = warp_to_tensor(&img, &roi, 10, 10, Border::Replicate, (0.0, 255.0));
        // Tensor (u=0, v=0) -> image (x=10, y=0) which replicates to x=9.
        assert_eq!(t[0], 180.0);
        assert_eq!(t[1], 0.0);
        let crop: Vec<f32> = t.chunks(3).map(|p| p[0] / 255.0).collect();
        let back = unwarp_mask(&crop, 10, 10, &roi, 10, 10);
        for y in 1..9 {
            for x in 1..9 {
                assert!((back.get(x, y) * 255.0 - (x * 20) as f32).abs() < 1.0);
            }
        }
    }

    #[test]
    fn resize_matches_opencv_half_pixel_rule() {
        let m = resize_mask(&[0.0, 1.0], 2, 1, 4, 1);
        assert_eq!(m.data, vec![0.0, 0.25, 0.75, 1.0]);
        let iou = m.iou(
            &Mask {
                width: 4,
                height: 1,
                data: vec![0.0, 0.0, 1.0, 1.0],
            },
            0.5,
        );
        assert_eq!(iou, Some(1.0));
    }
}
