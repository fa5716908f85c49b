//! Pieces of the NHWC convolution: patch extraction (im2col) for KxK filters, and the fused
//! bias + activation applied in place to the matrix product's output.

use candle_core::{CpuStorage, CustomOp1, InplaceOp1, Layout, Shape};

use super::{activate, bias_clamp, check_len, clamp_range, contiguous_f32, output_geometry};
use crate::runtime::tflite::{Activation, Window};

/// NHWC patches: `[n, h, w, c]` -> `[n * oh * ow, kh * kw * c]`, zero outside the image.
/// Row layout `(ky, kx, c)` matches a TFLite OHWI filter flattened to `[o, kh * kw * c]`.
#[derive(Debug, Clone)]
pub struct Im2col {
    /// Filter height.
    pub kh: usize,
    /// Filter width.
    pub kw: usize,
    /// Strides, dilations and padding.
    pub window: Window,
    /// Zeros around the input (top, bottom, left, right) before the window's own padding:
    /// a PAD op folded into this one.
    pub extra_pad: [usize; 4],
}

impl Im2col {
    /// Output spatial size for an input of `h` x `w`, if the filter fits.
    pub fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let win = &self.window;
        let [top, bottom, left, right] = self.extra_pad;
        let (oh, _) = output_geometry(
            h + top + bottom,
            self.kh,
            win.stride_h,
            win.dilation_h,
            win.padding,
        )?;
        let (ow, _) = output_geometry(
            w + left + right,
            self.kw,
            win.stride_w,
            win.dilation_w,
            win.padding,
        )?;
        Some((oh, ow))
    }
}

impl CustomOp1 for Im2col {
    fn name(&self) -> &'static str {
        "im2col-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(storage, layout, self.name())?;
        let (n, h, w, c) = layout.shape().dims4()?;
        let win = &self.window;
        let too_small = || {
            candle_core::Error::Msg(format!(
                "{}: input {h}x{w} smaller than the filter",
                self.name()
            ))
        };
        let [top, bottom, left, right] = self.extra_pad;
        let (oh, pad_top) = output_geometry(
            h + top + bottom,
            self.kh,
            win.stride_h,
            win.dilation_h,
            win.padding,
        )
        .ok_or_else(too_small)?;
        let (ow, pad_left) = output_geometry(
            w + left + right,
            self.kw,
            win.stride_w,
            win.dilation_w,
            win.padding,
        )
        .ok_or_else(too_small)?;
        let (pad_top, pad_left) = (pad_top + top, pad_left + left);
        let row_len = self.kh * self.kw * c;
        let mut out = vec![0f32; n * oh * ow * row_len];
        for (r, row) in out.chunks_exact_mut(row_len).enumerate() {
            let b = r / (oh * ow);
            let oy = (r / ow) % oh;
            let ox = r % ow;
            for ky in 0..self.kh {
                let Some(iy) = (oy * win.stride_h + ky * win.dilation_h)
                    .checked_sub(pad_top)
                    .filter(|&iy| iy < h)
                else {
                    continue;
                };
                // Taps kx in [lo, hi) land inside the row; with dilation 1 they are one
                // contiguous run of input pixels, copied at once (3-channel inputs would
                // otherwise pay a call per 3 floats).
                let base = ox * win.stride_w;
                let lo = pad_left.saturating_sub(base).div_ceil(win.dilation_w);
                let hi = (w + pad_left)
                    .saturating_sub(base)
                    .div_ceil(win.dilation_w)
                    .min(self.kw);
                if win.dilation_w == 1 && lo < hi {
                    let ix = base + lo - pad_left;
                    let src = ((b * h + iy) * w + ix) * c;
                    let dst = (ky * self.kw + lo) * c;
                    let len = (hi - lo) * c;
                    row[dst..dst + len].copy_from_slice(&input[src..src + len]);
                    continue;
                }
                for kx in lo..hi {
                    let ix = base + kx * win.dilation_w - pad_left;
                    let src = ((b * h + iy) * w + ix) * c;
                    let dst = (ky * self.kw + kx) * c;
                    row[dst..dst + c].copy_from_slice(&input[src..src + c]);
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((n * oh * ow, row_len))))
    }
}

/// Adds a per-channel bias (last dimension) and applies an activation, in place.
#[derive(Debug, Clone)]
pub struct BiasActivation {
    /// One bias per output channel.
    pub bias: Vec<f32>,
    /// Activation applied after the bias.
    pub activation: Activation,
}

impl InplaceOp1 for BiasActivation {
    fn name(&self) -> &'static str {
        "bias-activation"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let channels = layout.shape().dims().last().copied().unwrap_or(1);
        check_len(self.name(), "bias", self.bias.len(), channels)?;
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
            candle_core::Error::Msg(format!("{}: tensor must be contiguous", self.name()))
        })?;
        let CpuStorage::F32(data) = storage else {
            return Err(candle_core::Error::Msg(format!(
                "{}: f32 tensor expected",
                self.name()
            )));
        };
        let data = data.get_mut(start..end).ok_or_else(|| {
            candle_core::Error::Msg(format!("{}: storage shorter than layout", self.name()))
        })?;
        match clamp_range(self.activation) {
            Some((low, high)) => bias_clamp(data, &self.bias, low, high),
            None => {
                for pixel in data.chunks_exact_mut(channels.max(1)) {
                    for (v, &b) in pixel.iter_mut().zip(&self.bias) {
                        *v += b;
                    }
                    activate(pixel, self.activation);
                }
            }
        }
        Ok(())
    }
}
