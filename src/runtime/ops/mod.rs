//! Hand-written NHWC kernels, as candle custom ops, for what candle lacks or does slowly.
//!
//! Why hand-written: candle's convolutions are NCHW, and its grouped (depthwise) convolution
//! runs one convolution per channel (35-120x slower than a direct loop). Candle has no
//! bilinear resize with half-pixel centres, no padding-aware average pool, no transposed
//! convolution in NHWC and no fused bias + activation. Each kernel here walks NHWC memory
//! with the channel loop innermost, so every inner loop is a contiguous, vectorisable run.
//! They run on the CPU; on other devices they return candle's "no implementation" error.

mod conv;
mod depthwise;
#[cfg(target_arch = "x86_64")]
mod direct;
mod elementwise;
#[cfg(target_arch = "x86_64")]
mod lanes;
mod pad;
#[cfg(target_arch = "x86_64")]
mod panels;
mod pool;
mod resize;
#[cfg(target_arch = "x86_64")]
mod taps;
mod transpose_conv;

pub use conv::{product, Conv, Im2col, ResidualConv};
pub use depthwise::DepthwiseConv;
pub use elementwise::{is_channel_vector, Binary, BinaryKind, Pointwise};
pub use pad::Pad4;
pub use pool::{Pool, PoolKind};
pub use resize::ResizeBilinear;
pub use transpose_conv::TransposeConv;

use candle_core::{CpuStorage, Layout};

use super::tflite::{Activation, Padding};

/// The vector instruction sets the hand-written loops are compiled for besides the crate's
/// baseline x86-64 (SSE2, 4 lanes), as the CPU reports them: each kernel picks its variant by
/// this one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Simd {
    /// AVX-512F: 16 lanes.
    Avx512,
    /// AVX2 with FMA: 8 lanes.
    Avx2,
    /// Only the baseline.
    Baseline,
}

/// What this CPU has, of [`Simd`].
fn simd() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Simd::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Simd::Avx2;
        }
    }
    Simd::Baseline
}

/// Output size and leading padding of one spatial axis, with TFLite's rules.
pub fn output_geometry(
    input: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Option<(usize, usize)> {
    let effective = filter
        .checked_sub(1)?
        .checked_mul(dilation)?
        .checked_add(1)?;
    if stride == 0 {
        return None;
    }
    match padding {
        Padding::Valid => {
            let out = input.checked_sub(effective)? / stride + 1;
            Some((out, 0))
        }
        Padding::Same => {
            let out = input.div_ceil(stride);
            let needed = (out.checked_sub(1)? * stride + effective).saturating_sub(input);
            Some((out, needed / 2))
        }
    }
}

/// Applies `activation` to every value of `values`.
#[inline]
pub fn activate(values: &mut [f32], activation: Activation) {
    match activation {
        Activation::None => {}
        Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Relu6 => values.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
        Activation::ReluN1To1 => values.iter_mut().for_each(|v| *v = v.clamp(-1.0, 1.0)),
        Activation::Tanh => values.iter_mut().for_each(|v| *v = v.tanh()),
    }
}

/// The range a clamp-type activation keeps values in; `None` for tanh, which is not a clamp.
pub fn clamp_range(activation: Activation) -> Option<(f32, f32)> {
    match activation {
        Activation::None => Some((f32::NEG_INFINITY, f32::INFINITY)),
        Activation::Relu => Some((0.0, f32::INFINITY)),
        Activation::Relu6 => Some((0.0, 6.0)),
        Activation::ReluN1To1 => Some((-1.0, 1.0)),
        Activation::Tanh => None,
    }
}

/// What a fused op applies to its output, per pixel of `channels` values, before the output
/// leaves the cache: a TFLite fused activation, or the activation op that followed the op in
/// the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Epilogue {
    /// A fused activation (`None` does nothing).
    Activation(Activation),
    /// HARD_SWISH: x * relu6(x + 3) / 6.
    HardSwish,
    /// LOGISTIC: 1 / (1 + exp(-x)).
    Logistic,
    /// PRELU: max(x, 0) + alpha * min(x, 0), one alpha per channel.
    Prelu(Vec<f32>),
}

impl Epilogue {
    /// Applies the epilogue in place to `data`, pixels of `channels` values.
    ///
    /// The crate is built for baseline x86-64, so the loops are compiled again with AVX2 and
    /// picked at run time (8 lanes instead of 4): this pass touches every output value of the
    /// fused ops.
    pub fn apply(&self, data: &mut [f32], channels: usize) {
        match simd() {
            // SAFETY: the CPU supports AVX2 (an AVX-512 CPU has it too).
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 | Simd::Avx2 => unsafe { self.apply_avx2(data, channels) },
            _ => self.apply_loop(data, channels),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn apply_avx2(&self, data: &mut [f32], channels: usize) {
        self.apply_loop(data, channels);
    }

    #[inline(always)]
    fn apply_loop(&self, data: &mut [f32], channels: usize) {
        match self {
            Epilogue::Activation(Activation::None) => {}
            Epilogue::Activation(a) => match clamp_range(*a) {
                Some((low, high)) => data.iter_mut().for_each(|v| {
                    // Compare-and-select (not `f32::clamp`) so that it compiles to min/max.
                    let x = if *v < low { low } else { *v };
                    *v = if x > high { high } else { x };
                }),
                None => activate(data, *a),
            },
            Epilogue::HardSwish => data
                .iter_mut()
                .for_each(|v| *v = *v * (*v + 3.0).clamp(0.0, 6.0) / 6.0),
            Epilogue::Logistic => data.iter_mut().for_each(|v| *v = 1.0 / (1.0 + exp(-*v))),
            Epilogue::Prelu(alpha) => prelu(data, alpha, channels),
        }
    }
}

/// What a convolution does to each block of its output while the block is in cache: add the
/// matching values of a skip connection (a residual ADD folded into the convolution), then
/// apply the epilogue.
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    /// Applied after the residual is added.
    pub epilogue: &'a Epilogue,
    /// The skip connection, if an ADD was folded in.
    pub residual: Option<Residual<'a>>,
}

impl<'a> From<&'a Epilogue> for Finish<'a> {
    fn from(epilogue: &'a Epilogue) -> Self {
        Finish {
            epilogue,
            residual: None,
        }
    }
}

/// A skip connection added to a convolution's output: `channels` values per pixel, added to
/// the output channels from `offset` on (the skip branch of a residual block may be narrower,
/// zero-padded at both ends).
#[derive(Debug, Clone, Copy)]
pub struct Residual<'a> {
    /// The skip branch, NHWC.
    pub values: &'a [f32],
    /// Its channels per pixel.
    pub channels: usize,
    /// The first output channel it adds to.
    pub offset: usize,
}

impl Finish<'_> {
    /// Finishes `data`: the output values from offset `at` on (a pixel boundary), pixels of
    /// `channels` values. The residual must hold a pixel for each output pixel.
    pub fn apply(&self, data: &mut [f32], channels: usize, at: usize) {
        match simd() {
            // SAFETY: the CPU supports AVX2 (an AVX-512 CPU has it too).
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 | Simd::Avx2 => unsafe { self.apply_avx2(data, channels, at) },
            _ => self.apply_loop(data, channels, at),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn apply_avx2(&self, data: &mut [f32], channels: usize, at: usize) {
        self.apply_loop(data, channels, at);
    }

    #[inline(always)]
    fn apply_loop(&self, data: &mut [f32], channels: usize, at: usize) {
        if let Some(r) = &self.residual {
            if r.channels == channels {
                let skip = &r.values[at..at + data.len()];
                data.iter_mut().zip(skip).for_each(|(v, s)| *v += s);
            } else {
                let first = at / channels.max(1) * r.channels;
                let skip = r.values[first..].chunks_exact(r.channels.max(1));
                for (pixel, s) in data.chunks_exact_mut(channels.max(1)).zip(skip) {
                    let part = &mut pixel[r.offset..r.offset + r.channels];
                    part.iter_mut().zip(s).for_each(|(v, s)| *v += s);
                }
            }
        }
        self.epilogue.apply_loop(data, channels);
    }
}

/// `e^x` without a call into libm, so that the loops around it vectorise (LOGISTIC over a
/// 256x256 mask took 150 us through `f32::exp`, one call per value): the exponent split off
/// as a power of two (`n = round(x / ln 2)`), `e^r` for the remainder `|r| <= ln 2 / 2` by its
/// Taylor series to degree 6 (relative error below 2e-7), then `2^n` put into the exponent
/// bits. Inputs are clamped to the range whose result is a normal f32.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // ln 2 in two parts, so that `n * LN2_HI` is exact for the integers `n` used here.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = if x < -87.0 { -87.0 } else { x };
    let x = if x > 88.0 { 88.0 } else { x };
    // Adding 1.5 * 2^23 rounds to an integer and leaves it in the low mantissa bits, with no
    // float-to-integer conversion (whose saturation checks keep loops from vectorising).
    const SHIFT: f32 = 12_582_912.0;
    let t = x * std::f32::consts::LOG2_E + SHIFT;
    let n = t - SHIFT;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // `n` is within [-126, 127], so `n + 127` is a valid biased exponent.
    let biased = t.to_bits().wrapping_sub(SHIFT.to_bits()).wrapping_add(127);
    p * f32::from_bits(biased << 23)
}

/// PRELU in place over pixels of `channels` values.
#[inline(always)]
fn prelu(data: &mut [f32], alpha: &[f32], channels: usize) {
    for pixel in data.chunks_exact_mut(channels.max(1)) {
        for (v, &a) in pixel.iter_mut().zip(alpha) {
            // Branch-free so the loop vectorises.
            *v = v.max(0.0) + a * v.min(0.0);
        }
    }
}

/// The contiguous f32 data of a CPU tensor.
fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> candle_core::Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("{op}: input must be contiguous")))?;
    data.get(start..end)
        .ok_or_else(|| candle_core::Error::Msg(format!("{op}: storage shorter than layout")))
}

/// Checks that a weight vector has the length the op expects.
fn check_len(name: &str, what: &str, len: usize, expected: usize) -> candle_core::Result<()> {
    if len == expected {
        Ok(())
    } else {
        Err(candle_core::Error::Msg(format!(
            "{name}: {what} has {len} values, expected {expected}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epilogues_compute_each_activation() {
        // 37 pixels of 3 channels: the vector loop and its scalar tail both run.
        let data: Vec<f32> = (0..111).map(|i| (i as f32 - 55.0) / 7.0).collect();
        let mut relu6 = data.clone();
        Epilogue::Activation(Activation::Relu6).apply(&mut relu6, 3);
        let alpha = [0.5, -1.0, 2.0];
        let mut prelu = data.clone();
        Epilogue::Prelu(alpha.to_vec()).apply(&mut prelu, 3);
        let mut hard_swish = data.clone();
        Epilogue::HardSwish.apply(&mut hard_swish, 3);
        let mut logistic = data.clone();
        Epilogue::Logistic.apply(&mut logistic, 3);
        for (i, &x) in data.iter().enumerate() {
            assert_eq!(relu6[i], x.clamp(0.0, 6.0), "relu6 {i}");
            let want = x * (x + 3.0).clamp(0.0, 6.0) / 6.0;
            assert!((hard_swish[i] - want).abs() <= 1e-6, "hard swish {i}");
            assert!(
                (logistic[i] - 1.0 / (1.0 + (-x).exp())).abs() <= 1e-6,
                "logistic {i}"
            );
            let want = if x < 0.0 { alpha[i % 3] * x } else { x };
            assert_eq!(prelu[i], want, "prelu {i}");
        }
    }

    #[test]
    fn exp_is_within_a_few_ulp_of_libm() {
        let mut x = -87.0f32;
        while x <= 88.0 {
            let (got, want) = (f64::from(exp(x)), f64::from(x).exp());
            assert!(
                ((got - want) / want).abs() < 4e-7,
                "exp({x}) = {got}, libm {want}"
            );
            x += 0.0137;
        }
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn same_padding_puts_the_extra_pixel_after() {
        // stride 2, 3x3 on an even input: pad 0 before, 1 after.
        assert_eq!(output_geometry(224, 3, 2, 1, Padding::Same), Some((112, 0)));
        assert_eq!(output_geometry(7, 3, 1, 1, Padding::Same), Some((7, 1)));
        assert_eq!(
            output_geometry(226, 3, 2, 1, Padding::Valid),
            Some((112, 0))
        );
        assert_eq!(output_geometry(2, 3, 1, 1, Padding::Valid), None);
    }
}
