//! NHWC transposed convolution (mediapipe's Convolution2DTransposeBias): the matrix product
//! `[n*h*w, cin] x [cin, kh*kw*cout]` gives every input pixel's contribution to a `kh x kw`
//! output patch; the patches are then scattered and summed (col2im) onto the bias.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

use super::{check_len, contiguous_f32, product};
use crate::runtime::tflite::{Padding, Window};

/// Transposed convolution `[n, h, w, cin]` -> `[n, oh, ow, cout]`.
#[derive(Debug, Clone)]
pub struct TransposeConv {
    /// The filter as a row-major `[cin, kh * kw * cout]` matrix, columns `(ky, kx, o)`.
    pub matrix: Vec<f32>,
    /// One bias per output channel.
    pub bias: Vec<f32>,
    /// Filter height.
    pub kh: usize,
    /// Filter width.
    pub kw: usize,
    /// Strides and padding (SAME: output is input x stride; VALID: (input - 1) x stride + k).
    pub window: Window,
}

impl CustomOp1 for TransposeConv {
    fn name(&self) -> &'static str {
        "transpose-conv-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(storage, layout, self.name())?;
        let (n, h, w, cin) = layout.shape().dims4()?;
        let cout = self.bias.len();
        let patch = self.kh * self.kw * cout;
        check_len(self.name(), "filter", self.matrix.len(), cin * patch)?;
        let mut cols = vec![0f32; n * h * w * patch];
        product(&mut cols, input, &self.matrix, cin, patch);
        let (sh, sw) = (self.window.stride_h, self.window.stride_w);
        let full_h = (h.saturating_sub(1)) * sh + self.kh;
        let full_w = (w.saturating_sub(1)) * sw + self.kw;
        let (oh, ow) = match self.window.padding {
            Padding::Same => (h * sh, w * sw),
            Padding::Valid => (full_h, full_w),
        };
        let pad_top = full_h.saturating_sub(oh) / 2;
        let pad_left = full_w.saturating_sub(ow) / 2;
        let mut out = vec![0f32; n * oh * ow * cout];
        for pixel in out.chunks_exact_mut(cout.max(1)) {
            pixel.copy_from_slice(&self.bias);
        }
        for b in 0..n {
            for y in 0..h {
                for x in 0..w {
                    let src = ((b * h + y) * w + x) * patch;
                    for ky in 0..self.kh {
                        let Some(oy) = (y * sh + ky).checked_sub(pad_top).filter(|&oy| oy < oh)
                        else {
                            continue;
                        };
                        for kx in 0..self.kw {
                            let Some(ox) =
                                (x * sw + kx).checked_sub(pad_left).filter(|&ox| ox < ow)
                            else {
                                continue;
                            };
                            let dst = ((b * oh + oy) * ow + ox) * cout;
                            let from = src + (ky * self.kw + kx) * cout;
                            for (o, &v) in out[dst..dst + cout]
                                .iter_mut()
                                .zip(&cols[from..from + cout])
                            {
                                *o += v;
                            }
                        }
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((n, oh, ow, cout))))
    }
}
