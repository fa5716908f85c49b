//! Convolutions of narrow layers straight from the NHWC input, without patches or a matrix
//! product: a model's first layer (3 input channels), the small pointwise layers of the
//! segmentation heads, and single-channel outputs.
//!
//! Why: there the matrix product has a handful of columns or a short inner dimension, so the
//! general path spends its time copying patches (one short copy per pixel and filter row) and
//! in the product's packing, not in arithmetic; pose_landmark_full's 3x3 mask head (8 channels
//! in, 1 out, 256x256) took a sixth of the model's time. Two register-blocked kernels, in the
//! manner of XNNPACK's direct convolutions, cover these shapes:
//!
//! - *channels*: one or two registers of output channels per pixel, several pixels at once
//!   sharing each weight load; every input value is broadcast once per filter tap.
//! - *dot*: a single output channel as a dot product along each filter row, whose taps are one
//!   contiguous run of input (dilation 1 across).

use std::mem::MaybeUninit;

use super::lanes::{Avx2, Avx512, Lanes};
use super::taps::Taps;
use super::{simd, Finish, Simd};

/// Input channels up to which the *channels* kernel beats patches and a product.
const NARROW_INPUT: usize = 16;

/// One convolution call: NHWC input, a row-major `[kh * kw * cin, cout]` filter matrix whose
/// rows are ordered `(ky, kx, ci)`, and the geometry.
pub(super) struct Direct<'a> {
    /// The input images.
    pub input: &'a [f32],
    /// The filter matrix.
    pub matrix: &'a [f32],
    /// One bias per output channel.
    pub bias: &'a [f32],
    /// Images in the batch.
    pub n: usize,
    /// Input height, width, channels.
    pub dims: (usize, usize, usize),
    /// Output height and width.
    pub out: (usize, usize),
    /// Filter height and width.
    pub kernel: (usize, usize),
    /// Vertical and horizontal stride.
    pub stride: (usize, usize),
    /// Vertical and horizontal dilation.
    pub dilation: (usize, usize),
    /// Zeros before the first row and column.
    pub pad: (usize, usize),
}

/// Which kernel a call takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    /// Output channels in registers of AVX-512 or AVX2 lanes: one register and eight pixels
    /// at a time, or two (`wide`) and four pixels.
    Channels { avx512: bool, wide: bool },
    /// One output channel, a dot product per filter row.
    Dot { avx512: bool },
}

/// Whether a convolution of `cin` input and `cout` output channels, `dilation_w` across, takes
/// one of these kernels on this CPU.
pub(super) fn takes(cin: usize, cout: usize, dilation_w: usize) -> bool {
    kernel(cin, cout, dilation_w).is_some()
}

fn kernel(cin: usize, cout: usize, dilation_w: usize) -> Option<Kernel> {
    let simd = simd();
    if simd == Simd::Baseline || cout == 0 {
        return None;
    }
    let avx512 = simd == Simd::Avx512;
    if cout == 1 && dilation_w == 1 {
        return Some(Kernel::Dot { avx512 });
    }
    if cin > NARROW_INPUT {
        return None;
    }
    // Narrowest registers that hold the channels in one or two: on cores that split 512-bit
    // operations in two, a half-empty 16-lane register costs what two full 8-lane ones do.
    let (avx512, wide) = match (cout, avx512) {
        (..=8, _) => (false, false),
        (..=16, true) => (true, false),
        (..=16, false) => (false, true),
        (..=32, true) => (true, true),
        _ => return None,
    };
    Some(Kernel::Channels { avx512, wide })
}

impl Direct<'_> {
    /// The convolution, finished, or `None` when the shape is not one these
    /// kernels are for (or the CPU lacks AVX2): the caller then takes the general path.
    pub fn run(&self, finish: &Finish) -> Option<Vec<f32>> {
        let kernel = kernel(self.dims.2, self.bias.len(), self.dilation.1)?;
        self.run_kernel(kernel, finish)
    }

    /// [`Direct::run`] with the given kernel, which must be one the CPU can run.
    fn run_kernel(&self, kernel: Kernel, finish: &Finish) -> Option<Vec<f32>> {
        let cout = self.bias.len();
        let (h, w, cin) = self.dims;
        let (oh, ow) = self.out;
        let (kh, kw) = self.kernel;
        let fits = match kernel {
            Kernel::Dot { .. } => cout == 1 && self.dilation.1 == 1,
            Kernel::Channels { avx512, wide } => {
                let lanes = if avx512 { 16 } else { 8 };
                cout <= if wide { 2 * lanes } else { lanes } && (!wide || cout > lanes)
            }
        };
        if !fits {
            return None;
        }
        // The kernels index these slices by pointer within the lengths checked here.
        if self.input.len() < self.n * h * w * cin
            || self.matrix.len() != kh * kw * cin * cout
            || oh * ow == 0
        {
            return None;
        }
        let len = self.n * oh * ow * cout;
        let mut out = Vec::with_capacity(len);
        let spare = &mut out.spare_capacity_mut()[..len];
        // SAFETY: `kernel()` chose an instruction set the CPU has; the buffer lengths match
        // the geometry (checked above), and each kernel stores every output value.
        unsafe {
            match kernel {
                Kernel::Dot { avx512: true } => self.dot_avx512(spare),
                Kernel::Dot { avx512: false } => self.dot_avx2(spare),
                Kernel::Channels {
                    avx512: true,
                    wide: false,
                } => self.channels_avx512::<8, 1>(spare, finish),
                Kernel::Channels {
                    avx512: true,
                    wide: true,
                } => self.channels_avx512::<4, 2>(spare, finish),
                Kernel::Channels {
                    avx512: false,
                    wide: false,
                } => self.channels_avx2::<8, 1>(spare, finish),
                Kernel::Channels {
                    avx512: false,
                    wide: true,
                } => self.channels_avx2::<4, 2>(spare, finish),
            }
            out.set_len(len);
        }
        if matches!(kernel, Kernel::Dot { .. }) {
            finish.apply(&mut out, cout, 0);
        }
        Some(out)
    }

    /// Where the filter's taps land.
    fn taps(&self) -> Taps {
        Taps {
            input: (self.dims.0, self.dims.1),
            out: self.out,
            filter: self.kernel,
            stride: self.stride,
            dilation: self.dilation,
            pad: self.pad,
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn channels_avx512<const P: usize, const B: usize>(
        &self,
        out: &mut [MaybeUninit<f32>],
        finish: &Finish,
    ) {
        self.channels::<Avx512, P, B>(out, finish);
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn channels_avx2<const P: usize, const B: usize>(
        &self,
        out: &mut [MaybeUninit<f32>],
        finish: &Finish,
    ) {
        self.channels::<Avx2, P, B>(out, finish);
    }

    /// `P` inner pixels at a time (edge pixels one at a time over their taps inside the
    /// input), each holding its `cout <= B * L::N` channels in `B` registers that start at the
    /// bias; per filter tap and input channel, one weight row loaded for all `P` pixels and one
    /// broadcast input value per pixel. Each output row is finished while it is in cache.
    #[inline(always)]
    unsafe fn channels<L: Lanes, const P: usize, const B: usize>(
        &self,
        out: &mut [MaybeUninit<f32>],
        finish: &Finish,
    ) {
        let cout = self.bias.len();
        let (_, _, cin) = self.dims;
        let (oh, ow) = self.out;
        let (_, kw) = self.kernel;
        let (sw, dw) = (self.stride.1, self.dilation.1);
        let pad_left = self.pad.1;
        let mut masks = [L::mask(L::N); B];
        masks[B - 1] = L::mask(cout - (B - 1) * L::N);
        let mut bias = [L::splat(0.0); B];
        for (k, v) in bias.iter_mut().enumerate() {
            *v = L::load(masks[k], self.bias.as_ptr().add(k * L::N));
        }
        let (x_ptr, w_ptr) = (self.input.as_ptr(), self.matrix.as_ptr());
        let o_ptr = out.as_mut_ptr().cast::<f32>();
        let taps = self.taps();
        let (inner_lo, inner_hi) = taps.inner_columns();
        let columns: Vec<Option<(usize, usize)>> = (0..ow).map(|ox| taps.columns_of(ox)).collect();
        let mut rows = Vec::with_capacity(self.kernel.0);
        for b in 0..self.n {
            for oy in 0..oh {
                taps.rows_of(b, oy, &mut rows);
                let out_row = (b * oh + oy) * ow;
                let mut ox = 0;
                while ox < ow {
                    if ox >= inner_lo && ox + P <= inner_hi {
                        let mut acc = [bias; P];
                        for &(ky, row) in &rows {
                            for kx in 0..kw {
                                let x_at = (row + ox * sw + kx * dw - pad_left) * cin;
                                let w_at = (ky * kw + kx) * cin;
                                for ci in 0..cin {
                                    let w_row = w_ptr.add((w_at + ci) * cout);
                                    let mut weights = [L::splat(0.0); B];
                                    for (k, v) in weights.iter_mut().enumerate() {
                                        *v = L::load(masks[k], w_row.add(k * L::N));
                                    }
                                    for (p, acc) in acc.iter_mut().enumerate() {
                                        let x = L::splat(*x_ptr.add(x_at + p * sw * cin + ci));
                                        for k in 0..B {
                                            acc[k] = x.fmadd(weights[k], acc[k]);
                                        }
                                    }
                                }
                            }
                        }
                        for (p, acc) in acc.iter().enumerate() {
                            let at = o_ptr.add((out_row + ox + p) * cout);
                            for k in 0..B {
                                acc[k].store(masks[k], at.add(k * L::N));
                            }
                        }
                        ox += P;
                        continue;
                    }
                    let mut acc = bias;
                    if let Some((lo, hi)) = columns[ox] {
                        for &(ky, row) in &rows {
                            for kx in lo..=hi {
                                let x_at = (row + ox * sw + kx * dw - pad_left) * cin;
                                let w_at = (ky * kw + kx) * cin;
                                for ci in 0..cin {
                                    let x = L::splat(*x_ptr.add(x_at + ci));
                                    let w_row = w_ptr.add((w_at + ci) * cout);
                                    for k in 0..B {
                                        let w = L::load(masks[k], w_row.add(k * L::N));
                                        acc[k] = x.fmadd(w, acc[k]);
                                    }
                                }
                            }
                        }
                    }
                    let at = o_ptr.add((out_row + ox) * cout);
                    for k in 0..B {
                        acc[k].store(masks[k], at.add(k * L::N));
                    }
                    ox += 1;
                }
                // SAFETY: every value of the row was stored just above.
                let row = std::slice::from_raw_parts_mut(o_ptr.add(out_row * cout), ow * cout);
                finish.apply(row, cout, out_row * cout);
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn dot_avx512(&self, out: &mut [MaybeUninit<f32>]) {
        self.dot::<Avx512>(out);
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx2(&self, out: &mut [MaybeUninit<f32>]) {
        self.dot::<Avx2>(out);
    }

    /// One output channel: per output pixel and filter row, the taps inside the input are one
    /// contiguous run of input values (dilation 1 across) against one run of weights, summed
    /// in a register, which is reduced once per pixel. Inner pixels go [`DOT_PIXELS`] at a
    /// time, each weight load serving all of them: one pixel alone is a chain of dependent
    /// FMAs (pose_landmark_full's 256x256 mask head ran at a quarter of the FMA rate so).
    #[inline(always)]
    unsafe fn dot<L: Lanes>(&self, out: &mut [MaybeUninit<f32>]) {
        let (_, _, cin) = self.dims;
        let (oh, ow) = self.out;
        let (_, kw) = self.kernel;
        let sw = self.stride.1;
        let pad_left = self.pad.1;
        let bias = self.bias[0];
        let (x_ptr, w_ptr) = (self.input.as_ptr(), self.matrix.as_ptr());
        let o_ptr = out.as_mut_ptr().cast::<f32>();
        let taps = self.taps();
        let columns: Vec<Option<(usize, usize)>> = (0..ow).map(|ox| taps.columns_of(ox)).collect();
        let inner = |ox: usize| columns.get(ox) == Some(&Some((0, kw - 1)));
        let full_run = kw * cin;
        let mut rows = Vec::with_capacity(self.kernel.0);
        for b in 0..self.n {
            for oy in 0..oh {
                taps.rows_of(b, oy, &mut rows);
                let out_row = (b * oh + oy) * ow;
                let mut ox = 0;
                while ox < ow {
                    if (ox..ox + DOT_PIXELS).all(inner) {
                        let mut acc = [L::splat(0.0); DOT_PIXELS];
                        for &(ky, row) in &rows {
                            let x = x_ptr.add((row + ox * sw - pad_left) * cin);
                            let w = w_ptr.add(ky * full_run);
                            let mut i = 0;
                            while i < full_run {
                                let mask = L::mask(full_run - i);
                                let k = L::load(mask, w.add(i));
                                for (p, acc) in acc.iter_mut().enumerate() {
                                    *acc = L::load(mask, x.add(p * sw * cin + i)).fmadd(k, *acc);
                                }
                                i += L::N;
                            }
                        }
                        for (p, acc) in acc.iter().enumerate() {
                            *o_ptr.add(out_row + ox + p) = acc.sum() + bias;
                        }
                        ox += DOT_PIXELS;
                        continue;
                    }
                    let mut acc = L::splat(0.0);
                    if let Some((lo, hi)) = columns[ox] {
                        let run = (hi + 1 - lo) * cin;
                        for &(ky, row) in &rows {
                            let x = x_ptr.add((row + ox * sw + lo - pad_left) * cin);
                            let w = w_ptr.add((ky * kw + lo) * cin);
                            let mut i = 0;
                            while i < run {
                                let mask = L::mask(run - i);
                                acc = L::load(mask, x.add(i)).fmadd(L::load(mask, w.add(i)), acc);
                                i += L::N;
                            }
                        }
                    }
                    *o_ptr.add(out_row + ox) = acc.sum() + bias;
                    ox += 1;
                }
            }
        }
    }
}

/// Output pixels the dot kernel computes together.
const DOT_PIXELS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ops::Epilogue;
    use crate::runtime::tflite::Activation;

    /// Every tap summed one at a time, in f64: what each kernel must equal.
    fn reference(d: &Direct<'_>) -> Vec<f32> {
        let (h, w, cin) = d.dims;
        let (oh, ow) = d.out;
        let (kh, kw) = d.kernel;
        let cout = d.bias.len();
        let mut out = Vec::with_capacity(d.n * oh * ow * cout);
        for b in 0..d.n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for o in 0..cout {
                        let mut acc = f64::from(d.bias[o]);
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * d.stride.0 + ky * d.dilation.0).checked_sub(d.pad.0);
                                let ix = (ox * d.stride.1 + kx * d.dilation.1).checked_sub(d.pad.1);
                                let (Some(iy), Some(ix)) = (iy, ix) else {
                                    continue;
                                };
                                if iy >= h || ix >= w {
                                    continue;
                                }
                                for ci in 0..cin {
                                    let x = d.input[((b * h + iy) * w + ix) * cin + ci];
                                    let k = d.matrix[((ky * kw + kx) * cin + ci) * cout + o];
                                    acc += f64::from(x) * f64::from(k);
                                }
                            }
                        }
                        out.push((acc as f32).clamp(0.0, 6.0));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_kernel_matches_the_tap_by_tap_sum() {
        let avx512 = simd() == Simd::Avx512;
        if simd() == Simd::Baseline {
            return;
        }
        let mut kernels = vec![
            Kernel::Dot { avx512: false },
            Kernel::Channels {
                avx512: false,
                wide: false,
            },
            Kernel::Channels {
                avx512: false,
                wide: true,
            },
        ];
        if avx512 {
            kernels.extend([
                Kernel::Dot { avx512: true },
                Kernel::Channels {
                    avx512: true,
                    wide: false,
                },
                Kernel::Channels {
                    avx512: true,
                    wide: true,
                },
            ]);
        }
        // Output widths around the 4- and 8-pixel blocks, channel counts around each register
        // width, strides, dilations and SAME padding that leaves taps outside the image.
        let shapes = [
            // (h, w, cin, kh, kw, stride, dilation, pad)
            (13, 29, 3, 3, 3, 2, 1, (1, 1)),
            (9, 17, 8, 3, 3, 1, 1, (1, 1)),
            (11, 23, 5, 5, 5, 2, 1, (2, 2)),
            (12, 19, 4, 3, 3, 1, 2, (2, 2)),
            (7, 10, 16, 1, 1, 1, 1, (0, 0)),
            (6, 3, 2, 3, 3, 1, 1, (1, 1)),
        ];
        let mut checked = vec![0usize; kernels.len()];
        for (h, w, cin, kh, kw, stride, dilation, pad) in shapes {
            for cout in [1, 3, 8, 9, 16, 17, 24, 32] {
                let n = 2;
                let input: Vec<f32> = (0..n * h * w * cin)
                    .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                    .collect();
                let matrix: Vec<f32> = (0..kh * kw * cin * cout)
                    .map(|i| ((i * 13) % 29) as f32 / 14.0 - 1.0)
                    .collect();
                let bias: Vec<f32> = (0..cout).map(|o| o as f32 * 0.25 - 0.5).collect();
                let span = |k: usize| (k - 1) * dilation + 1;
                let out = (
                    (h + 2 * pad.0 - span(kh)) / stride + 1,
                    (w + 2 * pad.1 - span(kw)) / stride + 1,
                );
                let d = Direct {
                    input: &input,
                    matrix: &matrix,
                    bias: &bias,
                    n,
                    dims: (h, w, cin),
                    out,
                    kernel: (kh, kw),
                    stride: (stride, stride),
                    dilation: (dilation, dilation),
                    pad,
                };
                let want = reference(&d);
                for (k, &kernel) in kernels.iter().enumerate() {
                    let epilogue = Epilogue::Activation(Activation::Relu6);
                    let Some(got) = d.run_kernel(kernel, &(&epilogue).into()) else {
                        continue;
                    };
                    checked[k] += 1;
                    assert_eq!(got.len(), want.len());
                    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (a - b).abs() < 1e-4,
                            "{kernel:?} shape {:?} cout {cout} value {i}: {a} vs {b}",
                            (h, w, cin, kh, kw, stride, dilation)
                        );
                    }
                }
            }
        }
        // Each kernel must have met several shapes it applies to (an AVX2-only CPU runs fewer kernels).
        assert!(
            checked.iter().all(|&c| c >= 5),
            "kernel runs applied per kernel: {checked:?}"
        );
    }
}
