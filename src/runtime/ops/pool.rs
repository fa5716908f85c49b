//! NHWC max and average pooling (TFLite semantics: padding never counts in an average).

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

#[cfg(target_arch = "x86_64")]
use super::Simd;
use super::{activate, contiguous_f32, output_geometry, simd};
use crate::runtime::tflite::{Activation, Window};

/// Which reduction a [`Pool`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// Maximum over the window.
    Max,
    /// Mean over the part of the window inside the image.
    Average,
}

/// 2-D pooling over an NHWC f32 tensor.
#[derive(Debug, Clone)]
pub struct Pool {
    /// Reduction.
    pub kind: PoolKind,
    /// Filter height.
    pub kh: usize,
    /// Filter width.
    pub kw: usize,
    /// Strides and padding.
    pub window: Window,
    /// Fused activation.
    pub activation: Activation,
}

/// One call's input height, width, channels; output height, width; leading padding.
struct Geometry {
    dims: (usize, usize, usize),
    out: (usize, usize),
    pad: (usize, usize),
}

/// Channels reduced together: one AVX2 register.
const LANES: usize = 8;

/// The input pixels under one output pixel, as offsets into the input.
struct Span {
    /// Offset of the image's first value.
    origin: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    row_stride: usize,
    pixel_stride: usize,
}

impl Pool {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn pool_avx2(&self, input: &[f32], g: &Geometry, out: &mut [f32]) {
        self.pool(input, g, out);
    }

    /// Output pixels row by row (no per-pixel divisions); each pixel's channels are reduced
    /// eight at a time in a local accumulator over the window's pixels inside the image. The
    /// crate is built for baseline x86-64, so this is compiled again with AVX2 and picked at
    /// run time. The accumulator matters: reducing straight into the output made LLVM emit
    /// the max as a masked store (`vmaskmovps`), which ran face_landmark's 96x96x16 2x2 pool in
    /// 190 us instead of 33 on Zen 4.
    #[inline(always)]
    fn pool(&self, input: &[f32], g: &Geometry, out: &mut [f32]) {
        let (h, w, c) = g.dims;
        let (oh, ow) = g.out;
        let (pad_top, pad_left) = g.pad;
        let win = &self.window;
        let rows = out.chunks_exact_mut((ow * c).max(1)).enumerate();
        for (r, row) in rows {
            let (b, oy) = (r / oh, r % oh);
            let y0 = (oy * win.stride_h).saturating_sub(pad_top);
            let y1 = (oy * win.stride_h + self.kh).saturating_sub(pad_top).min(h);
            for (ox, pixel) in row.chunks_exact_mut(c.max(1)).enumerate() {
                let x0 = (ox * win.stride_w).saturating_sub(pad_left);
                let x1 = (ox * win.stride_w + self.kw)
                    .saturating_sub(pad_left)
                    .min(w)
                    .max(x0);
                let span = Span {
                    origin: (b * h * w) * c,
                    rows: y0..y1,
                    cols: x0..x1,
                    row_stride: w * c,
                    pixel_stride: c,
                };
                let count = (y1.saturating_sub(y0) * (x1 - x0)).max(1) as f32;
                let mut full = pixel.chunks_exact_mut(LANES);
                for (k, chunk) in (&mut full).enumerate() {
                    let acc = self.reduce::<LANES>(input, &span, k * LANES, count);
                    chunk.copy_from_slice(&acc);
                }
                let done = c - full.into_remainder().len();
                for (ch, o) in pixel.iter_mut().enumerate().skip(done) {
                    *o = self.reduce::<1>(input, &span, ch, count)[0];
                }
                activate(pixel, self.activation);
            }
        }
    }

    /// Reduces channels `first..first + N` over the window, in registers.
    #[inline(always)]
    fn reduce<const N: usize>(
        &self,
        input: &[f32],
        span: &Span,
        first: usize,
        count: f32,
    ) -> [f32; N] {
        let mut acc = [match self.kind {
            PoolKind::Max => f32::NEG_INFINITY,
            PoolKind::Average => 0.0,
        }; N];
        for iy in span.rows.clone() {
            for ix in span.cols.clone() {
                let at = span.origin + iy * span.row_stride + ix * span.pixel_stride + first;
                let Some(v) = input
                    .get(at..at + N)
                    .and_then(|v| <&[f32; N]>::try_from(v).ok())
                else {
                    continue;
                };
                match self.kind {
                    PoolKind::Max => {
                        for (a, &v) in acc.iter_mut().zip(v) {
                            *a = if v > *a { v } else { *a };
                        }
                    }
                    PoolKind::Average => {
                        for (a, &v) in acc.iter_mut().zip(v) {
                            *a += v;
                        }
                    }
                }
            }
        }
        if self.kind == PoolKind::Average {
            acc.iter_mut().for_each(|a| *a /= count);
        }
        acc
    }
}

impl CustomOp1 for Pool {
    fn name(&self) -> &'static str {
        "pool-nhwc"
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
        let (oh, pad_top) =
            output_geometry(h, self.kh, win.stride_h, 1, win.padding).ok_or_else(too_small)?;
        let (ow, pad_left) =
            output_geometry(w, self.kw, win.stride_w, 1, win.padding).ok_or_else(too_small)?;
        let mut out = vec![0f32; n * oh * ow * c];
        let geometry = Geometry {
            dims: (h, w, c),
            out: (oh, ow),
            pad: (pad_top, pad_left),
        };
        match simd() {
            // SAFETY: the CPU supports AVX2 (an AVX-512 CPU has it too).
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 | Simd::Avx2 => unsafe { self.pool_avx2(input, &geometry, &mut out) },
            _ => self.pool(input, &geometry, &mut out),
        }
        Ok((CpuStorage::F32(out), Shape::from((n, oh, ow, c))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::tflite::Padding;

    #[test]
    fn pooling_matches_the_window_by_window_reduction() {
        let (n, h, w) = (2, 7, 9);
        for c in [3, 20] {
            let input: Vec<f32> = (0..n * h * w * c)
                .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            for kind in [PoolKind::Max, PoolKind::Average] {
                for (k, stride, padding) in [
                    (3, 2, Padding::Same),
                    (2, 2, Padding::Valid),
                    (3, 1, Padding::Same),
                ] {
                    let window = Window {
                        stride_h: stride,
                        stride_w: stride,
                        dilation_h: 1,
                        dilation_w: 1,
                        padding,
                    };
                    let op = Pool {
                        kind,
                        kh: k,
                        kw: k,
                        window,
                        activation: Activation::None,
                    };
                    let (storage, shape) = op
                        .cpu_fwd(
                            &CpuStorage::F32(input.clone()),
                            &Layout::contiguous((n, h, w, c)),
                        )
                        .unwrap();
                    let &[_, oh, ow, _] = shape.dims() else {
                        panic!("rank")
                    };
                    let (_, pad_top) = output_geometry(h, k, stride, 1, padding).unwrap();
                    let (_, pad_left) = output_geometry(w, k, stride, 1, padding).unwrap();
                    let got = storage.as_slice::<f32>().unwrap();
                    for b in 0..n {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                for ch in 0..c {
                                    let mut values = Vec::new();
                                    for ky in 0..k {
                                        for kx in 0..k {
                                            let iy = (oy * stride + ky).checked_sub(pad_top);
                                            let ix = (ox * stride + kx).checked_sub(pad_left);
                                            if let (Some(iy), Some(ix)) = (iy, ix) {
                                                if iy < h && ix < w {
                                                    values.push(
                                                        input[((b * h + iy) * w + ix) * c + ch],
                                                    );
                                                }
                                            }
                                        }
                                    }
                                    let want = match kind {
                                        PoolKind::Max => {
                                            values.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                                        }
                                        PoolKind::Average => {
                                            values.iter().sum::<f32>() / values.len() as f32
                                        }
                                    };
                                    let v = got[((b * oh + oy) * ow + ox) * c + ch];
                                    assert!((v - want).abs() < 1e-5, "{kind:?} {k}x{k}/{stride} c {c} at {b},{oy},{ox},{ch}: {v} vs {want}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
