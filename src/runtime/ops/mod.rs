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
mod elementwise;
mod pad;
mod pool;
mod resize;
mod transpose_conv;

pub use conv::{BiasActivation, Im2col};
pub use depthwise::DepthwiseConv;
pub use elementwise::{Prelu, Unary, UnaryKind};
pub use pad::Pad4;
pub use pool::{Pool, PoolKind};
pub use resize::ResizeBilinear;
pub use transpose_conv::Col2imBias;

use candle_core::{CpuStorage, Layout};

use super::tflite::{Activation, Padding};

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

/// Adds `bias` to every pixel (the last dimension) of `data` and clamps to `[low, high]`: the
/// bias and activation of a convolution in one pass over its output.
///
/// The crate is built for baseline x86-64, so the same loop is compiled again with AVX-512 and
/// picked at run time (16 lanes instead of 4); this pass touches every output value of every
/// matrix-product convolution.
pub fn bias_clamp(data: &mut [f32], bias: &[f32], low: f32, high: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F, checked just above.
        unsafe { bias_clamp_avx512(data, bias, low, high) };
        return;
    }
    bias_clamp_loop(data, bias, low, high);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn bias_clamp_avx512(data: &mut [f32], bias: &[f32], low: f32, high: f32) {
    bias_clamp_loop(data, bias, low, high);
}

#[inline(always)]
fn bias_clamp_loop(data: &mut [f32], bias: &[f32], low: f32, high: f32) {
    for pixel in data.chunks_exact_mut(bias.len().max(1)) {
        for (v, &b) in pixel.iter_mut().zip(bias) {
            // Compare-and-select (not `f32::clamp`) so that it compiles to min/max instructions.
            let x = *v + b;
            let x = if x < low { low } else { x };
            *v = if x > high { high } else { x };
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
    fn bias_clamp_adds_per_channel_and_clamps() {
        // 37 pixels of 3 channels: the vector loop and its scalar tail both run.
        let data: Vec<f32> = (0..111).map(|i| (i as f32 - 55.0) / 7.0).collect();
        let bias = [0.5, -1.0, 2.0];
        let mut fast = data.clone();
        bias_clamp(&mut fast, &bias, 0.0, 6.0);
        for (i, (&x, &y)) in data.iter().zip(&fast).enumerate() {
            assert_eq!(y, (x + bias[i % 3]).clamp(0.0, 6.0), "value {i}");
        }
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
