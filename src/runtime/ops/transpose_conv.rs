//! NHWC transposed convolution (mediapipe's Convolution2DTransposeBias): the matrix product
//! `[n*h*w, cin] x [cin, kh*kw*cout]` gives every input pixel's contribution to a `kh x kw`
//! output patch; the patches are then scattered and summed (col2im) onto the bias.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

use super::{check_len, contiguous_f32, product, Epilogue};
use crate::runtime::tflite::{Activation, Padding, Window};

/// Transposed convolution `[n, h, w, cin]` -> `[n, oh, ow, cout]`.
#[derive(Debug, Clone)]
pub struct TransposeConv {
    /// The filter as a row-major `[cin, kh * kw * cout]` matrix, columns `(ky, kx, o)`.
    pub matrix: Vec<f32>,
    /// The same filter packed for the blocked product of AVX2 and AVX-512 CPUs.
    #[cfg(target_arch = "x86_64")]
    panels: Option<super::panels::Panels>,
    /// One bias per output channel.
    pub bias: Vec<f32>,
    /// Filter height.
    pub kh: usize,
    /// Filter width.
    pub kw: usize,
    /// Strides and padding (SAME: output is input x stride; VALID: (input - 1) x stride + k).
    pub window: Window,
}

impl TransposeConv {
    /// A transposed convolution with the filter as a row-major `[cin, kh * kw * cout]` matrix
    /// (columns `(ky, kx, o)`), packed here when this CPU runs the blocked product.
    pub fn new(matrix: Vec<f32>, bias: Vec<f32>, kh: usize, kw: usize, window: Window) -> Self {
        let patch = kh * kw * bias.len();
        TransposeConv {
            #[cfg(target_arch = "x86_64")]
            panels: super::panels::Panels::pack(&matrix, matrix.len() / patch.max(1), patch),
            matrix,
            bias,
            kh,
            kw,
            window,
        }
    }

    /// Every input pixel's `[kh, kw, cout]` contribution, `[n * h * w, patch]`.
    fn columns(&self, input: &[f32], cin: usize, patch: usize) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        if let Some(panels) = &self.panels {
            let mut cols = Vec::new();
            let zero = vec![0f32; patch];
            let none = Epilogue::Activation(Activation::None);
            panels.product(input, &zero, &(&none).into(), &mut cols);
            return cols;
        }
        let mut cols = vec![0f32; input.len() / cin.max(1) * patch];
        product(&mut cols, input, &self.matrix, cin, patch);
        cols
    }
}

/// Sizes of one call: input batch, height and width; output height and width; the rows and
/// columns of the full output cut off before the first.
struct Geometry {
    input: (usize, usize, usize),
    out: (usize, usize),
    pad: (usize, usize),
}

impl TransposeConv {
    /// Filters no larger than their stride (mediapipe's 2x2, stride 2 upsampling): every output
    /// pixel takes at most one input pixel's contribution, so each is written once, as the
    /// bias plus that contribution. Why not the scatter below: with one output channel it
    /// spent a few nanoseconds of loop overhead per value.
    fn gather(&self, cols: &[f32], g: &Geometry) -> Vec<f32> {
        let (n, h, w) = g.input;
        let (oh, ow) = g.out;
        let (pad_top, pad_left) = g.pad;
        let (sh, sw) = (self.window.stride_h, self.window.stride_w);
        let cout = self.bias.len();
        let patch = self.kh * self.kw * cout;
        // Per output column: where its contribution starts within an input row's columns.
        let from: Vec<Option<usize>> = (0..ow)
            .map(|ox| {
                let t = ox + pad_left;
                let (x, kx) = (t / sw, t % sw);
                (x < w && kx < self.kw).then_some(x * patch + kx * cout)
            })
            .collect();
        // Written by index into a zeroed buffer: appending value by value cost more than the
        // product itself with one output channel.
        let mut out = vec![0f32; n * oh * ow * cout];
        for (r, orow) in out.chunks_exact_mut((ow * cout).max(1)).enumerate() {
            let (b, oy) = (r / oh, r % oh);
            let t = oy + pad_top;
            let (y, ky) = (t / sh, t % sh);
            let row = (y < h && ky < self.kh).then(|| {
                let start = (b * h + y) * w * patch + ky * self.kw * cout;
                &cols[start..(b * h + y + 1) * w * patch]
            });
            if let (1, Some(row)) = (cout, row) {
                // One channel (the segmentation masks): a value per pixel, no inner loop.
                let bias = self.bias[0];
                for (o, at) in orow.iter_mut().zip(&from) {
                    *o = at.and_then(|at| row.get(at)).map_or(bias, |v| v + bias);
                }
                continue;
            }
            for (pixel, &at) in orow.chunks_exact_mut(cout.max(1)).zip(&from) {
                match (row, at) {
                    (Some(row), Some(at)) => {
                        for ((o, v), bias) in
                            pixel.iter_mut().zip(&row[at..at + cout]).zip(&self.bias)
                        {
                            *o = v + bias;
                        }
                    }
                    _ => pixel.copy_from_slice(&self.bias),
                }
            }
        }
        out
    }

    /// Any filter: each input pixel's patch added onto the bias at its place.
    fn scatter(&self, cols: &[f32], g: &Geometry) -> Vec<f32> {
        let (n, h, w) = g.input;
        let (oh, ow) = g.out;
        let (pad_top, pad_left) = g.pad;
        let (sh, sw) = (self.window.stride_h, self.window.stride_w);
        let cout = self.bias.len();
        let patch = self.kh * self.kw * cout;
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
        out
    }
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
        let cols = self.columns(input, cin, patch);
        let (sh, sw) = (self.window.stride_h, self.window.stride_w);
        let full_h = (h.saturating_sub(1)) * sh + self.kh;
        let full_w = (w.saturating_sub(1)) * sw + self.kw;
        let (oh, ow) = match self.window.padding {
            Padding::Same => (h * sh, w * sw),
            Padding::Valid => (full_h, full_w),
        };
        let pad_top = full_h.saturating_sub(oh) / 2;
        let pad_left = full_w.saturating_sub(ow) / 2;
        let geometry = Geometry {
            input: (n, h, w),
            out: (oh, ow),
            pad: (pad_top, pad_left),
        };
        let out = if self.kh <= sh && self.kw <= sw {
            self.gather(&cols, &geometry)
        } else {
            self.scatter(&cols, &geometry)
        };
        Ok((CpuStorage::F32(out), Shape::from((n, oh, ow, cout))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input pixel, tap and channel summed one at a time onto the bias.
    fn reference(
        op: &TransposeConv,
        x: &[f32],
        (n, h, w, cin): (usize, usize, usize, usize),
        (oh, ow): (usize, usize),
        (pad_top, pad_left): (usize, usize),
    ) -> Vec<f32> {
        let cout = op.bias.len();
        let patch = op.kh * op.kw * cout;
        let mut out: Vec<f64> = (0..n * oh * ow)
            .flat_map(|_| op.bias.iter().map(|&b| f64::from(b)))
            .collect();
        for b in 0..n {
            for y in 0..h {
                for xx in 0..w {
                    for ky in 0..op.kh {
                        for kx in 0..op.kw {
                            let oy = (y * op.window.stride_h + ky).checked_sub(pad_top);
                            let ox = (xx * op.window.stride_w + kx).checked_sub(pad_left);
                            let (Some(oy), Some(ox)) = (oy, ox) else {
                                continue;
                            };
                            if oy >= oh || ox >= ow {
                                continue;
                            }
                            for o in 0..cout {
                                for i in 0..cin {
                                    let v = x[((b * h + y) * w + xx) * cin + i];
                                    let k = op.matrix[i * patch + (ky * op.kw + kx) * cout + o];
                                    out[((b * oh + oy) * ow + ox) * cout + o] +=
                                        f64::from(v) * f64::from(k);
                                }
                            }
                        }
                    }
                }
            }
        }
        out.into_iter().map(|v| v as f32).collect()
    }

    #[test]
    fn gather_and_scatter_match_the_tap_by_tap_sum() {
        let (n, h, w, cin) = (2, 5, 7, 3);
        let x: Vec<f32> = (0..n * h * w * cin)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        // 2x2 stride 2 (gather), 3x3 stride 2 (overlapping: scatter), 1x2 stride 3 (gaps
        // between patches: gather), 3x3 stride 1 VALID; one and several output channels.
        for (kh, kw, stride, padding) in [
            (2, 2, 2, Padding::Same),
            (3, 3, 2, Padding::Same),
            (1, 2, 3, Padding::Same),
            (3, 3, 1, Padding::Valid),
        ] {
            for cout in [1, 5] {
                let patch = kh * kw * cout;
                let matrix: Vec<f32> = (0..cin * patch)
                    .map(|i| ((i * 13) % 29) as f32 / 14.0 - 1.0)
                    .collect();
                let bias: Vec<f32> = (0..cout).map(|o| o as f32 * 0.25 - 0.5).collect();
                let window = Window {
                    stride_h: stride,
                    stride_w: stride,
                    dilation_h: 1,
                    dilation_w: 1,
                    padding,
                };
                let op = TransposeConv::new(matrix, bias, kh, kw, window);
                let (storage, shape) = op
                    .cpu_fwd(
                        &CpuStorage::F32(x.clone()),
                        &Layout::contiguous((n, h, w, cin)),
                    )
                    .unwrap();
                let &[_, oh, ow, c] = shape.dims() else {
                    panic!("rank {shape:?}")
                };
                assert_eq!(c, cout);
                let (full_h, full_w) = ((h - 1) * stride + kh, (w - 1) * stride + kw);
                let pad = ((full_h - oh.min(full_h)) / 2, (full_w - ow.min(full_w)) / 2);
                let want = reference(&op, &x, (n, h, w, cin), (oh, ow), pad);
                let got = storage.as_slice::<f32>().unwrap();
                assert_eq!(got.len(), want.len());
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (a - b).abs() < 1e-4,
                        "{kh}x{kw} stride {stride} cout {cout} value {i}: {a} vs {b}"
                    );
                }
            }
        }
    }
}
