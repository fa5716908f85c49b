//! NHWC depthwise convolution (depth multiplier 1) with fused bias and activation.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

use super::{activate, check_len, contiguous_f32, output_geometry};
use crate::runtime::tflite::{Activation, Window};

/// Depthwise convolution over an NHWC f32 tensor; weights are `[kh, kw, channels]`.
#[derive(Debug, Clone)]
pub struct DepthwiseConv {
    /// Filter taps, `[kh, kw, channels]` row-major.
    pub weights: Vec<f32>,
    /// One bias per channel.
    pub bias: Vec<f32>,
    /// Filter height.
    pub kh: usize,
    /// Filter width.
    pub kw: usize,
    /// Strides, dilations and padding.
    pub window: Window,
    /// Zeros around the input (top, bottom, left, right) before the window's own padding:
    /// a PAD op folded into this one.
    pub extra_pad: [usize; 4],
    /// Fused activation.
    pub activation: Activation,
}

impl CustomOp1 for DepthwiseConv {
    fn name(&self) -> &'static str {
        "depthwise-conv-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(storage, layout, self.name())?;
        let (n, h, w, c) = layout.shape().dims4()?;
        check_len(
            self.name(),
            "weights",
            self.weights.len(),
            self.kh * self.kw * c,
        )?;
        check_len(self.name(), "bias", self.bias.len(), c)?;
        let win = &self.window;
        let geometry = |size, k, stride, dilation| {
            output_geometry(size, k, stride, dilation, win.padding).ok_or_else(|| {
                candle_core::Error::Msg(format!(
                    "{}: input {h}x{w} smaller than the filter",
                    self.name()
                ))
            })
        };
        let [top, bottom, left, right] = self.extra_pad;
        let (oh, pad_top) = geometry(h + top + bottom, self.kh, win.stride_h, win.dilation_h)?;
        let (ow, pad_left) = geometry(w + left + right, self.kw, win.stride_w, win.dilation_w)?;
        let (pad_top, pad_left) = (pad_top + top, pad_left + left);
        // Output columns whose tap `kx` lands inside the input, per kx: computed once so the
        // pixel loop below has no bounds logic and its channel loop vectorises.
        let columns: Vec<(usize, usize)> = (0..self.kw)
            .map(|kx| {
                let offset = kx * win.dilation_w;
                let lo = pad_left.saturating_sub(offset).div_ceil(win.stride_w);
                let hi = (w + pad_left)
                    .checked_sub(offset)
                    .map_or(0, |limit| limit.div_ceil(win.stride_w))
                    .min(ow);
                (lo, hi.max(lo))
            })
            .collect();
        // Each tap's weights repeated across an output row (stride-1 path only).
        let tiled: Vec<f32> = if win.stride_w == 1 {
            self.weights
                .chunks_exact(c.max(1))
                .flat_map(|k| k.iter().copied().cycle().take(ow * c))
                .collect()
        } else {
            Vec::new()
        };
        let mut out = vec![0f32; n * oh * ow * c];
        let plan = Plan {
            op: self,
            dims: (h, w, c),
            out_dims: (oh, ow),
            pad: (pad_top, pad_left),
            columns: &columns,
            tiled: &tiled,
        };
        plan.run(input, &mut out);
        Ok((CpuStorage::F32(out), Shape::from((n, oh, ow, c))))
    }
}

/// One depthwise call's geometry, precomputed by [`DepthwiseConv::cpu_fwd`].
struct Plan<'a> {
    op: &'a DepthwiseConv,
    dims: (usize, usize, usize),
    out_dims: (usize, usize),
    pad: (usize, usize),
    columns: &'a [(usize, usize)],
    tiled: &'a [f32],
}

/// How a multiply-add is computed in the loops: fused where the CPU has FMA.
trait MulAdd {
    fn mul_add(x: f32, k: f32, acc: f32) -> f32;
}

/// `x * k + acc` in two roundings (baseline x86-64 has no FMA; `f32::mul_add` would call libm).
struct Separate;

impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add(x: f32, k: f32, acc: f32) -> f32 {
        x * k + acc
    }
}

/// One fused multiply-add instruction.
#[cfg(target_arch = "x86_64")]
struct Fused;

#[cfg(target_arch = "x86_64")]
impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(x: f32, k: f32, acc: f32) -> f32 {
        x.mul_add(k, acc)
    }
}

impl Plan<'_> {
    /// The crate is built for baseline x86-64 (SSE2, 4 lanes); the same loops compiled with AVX2
    /// and FMA run 8 lanes wide with fused multiply-adds, so that copy is picked at run time when
    /// the CPU has them. (No crate offers a runtime-dispatched NHWC depthwise kernel.)
    fn run(&self, input: &[f32], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            unsafe { self.run_avx2(input, out) };
            return;
        }
        self.rows::<Separate>(input, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, input: &[f32], out: &mut [f32]) {
        self.rows::<Fused>(input, out);
    }

    #[inline(always)]
    fn rows<M: MulAdd>(&self, input: &[f32], out: &mut [f32]) {
        let op = self.op;
        let win = &op.window;
        let (h, w, c) = self.dims;
        let (oh, ow) = self.out_dims;
        let (pad_top, pad_left) = self.pad;
        let (columns, tiled) = (self.columns, self.tiled);
        for (b, image) in out.chunks_exact_mut(oh * ow * c).enumerate() {
            let src = &input[b * h * w * c..(b + 1) * h * w * c];
            for (oy, row) in image.chunks_exact_mut(ow * c).enumerate() {
                for pixel in row.chunks_exact_mut(c) {
                    pixel.copy_from_slice(&op.bias);
                }
                for ky in 0..op.kh {
                    let Some(iy) = (oy * win.stride_h + ky * win.dilation_h)
                        .checked_sub(pad_top)
                        .filter(|&iy| iy < h)
                    else {
                        continue;
                    };
                    let in_row = &src[iy * w * c..(iy + 1) * w * c];
                    for (kx, &(lo, hi)) in columns.iter().enumerate() {
                        let tap = ky * op.kw + kx;
                        if win.stride_w == 1 {
                            // Stride 1: the tap reads one contiguous run of the input row, so
                            // the whole row is a single flat multiply-add against the tap's
                            // weights repeated per pixel (vectorises even for 8 channels).
                            let start = lo + kx * win.dilation_w - pad_left;
                            let x = &in_row[start * c..(start + hi - lo) * c];
                            let k = &tiled[tap * ow * c + lo * c..tap * ow * c + hi * c];
                            for ((o, &xv), &kv) in row[lo * c..hi * c].iter_mut().zip(x).zip(k) {
                                *o = M::mul_add(xv, kv, *o);
                            }
                            continue;
                        }
                        let k = &op.weights[tap * c..(tap + 1) * c];
                        let pixels = row[lo * c..hi * c].chunks_exact_mut(c);
                        for (i, pixel) in pixels.enumerate() {
                            let ix = (lo + i) * win.stride_w + kx * win.dilation_w - pad_left;
                            let x = &in_row[ix * c..(ix + 1) * c];
                            for ((o, &xv), &kv) in pixel.iter_mut().zip(x).zip(k) {
                                *o = M::mul_add(xv, kv, *o);
                            }
                        }
                    }
                }
                if op.activation != Activation::None {
                    activate(row, op.activation);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::tflite::Padding;
    use candle_core::{Device, Tensor};

    /// Compares with candle's own grouped NCHW convolution (slow but independent).
    #[test]
    fn matches_candle_grouped_conv() -> candle_core::Result<()> {
        let (n, h, w, c, k) = (2usize, 7usize, 6usize, 5usize, 3usize);
        let device = Device::Cpu;
        let input: Vec<f32> = (0..n * h * w * c)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let weights: Vec<f32> = (0..k * k * c)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0)
            .collect();
        let bias: Vec<f32> = (0..c).map(|i| i as f32 * 0.1).collect();
        for (stride, padding) in [(1, Padding::Same), (2, Padding::Same), (2, Padding::Valid)] {
            let op = DepthwiseConv {
                weights: weights.clone(),
                bias: bias.clone(),
                kh: k,
                kw: k,
                window: Window {
                    padding,
                    stride_h: stride,
                    stride_w: stride,
                    dilation_h: 1,
                    dilation_w: 1,
                },
                extra_pad: [0; 4],
                activation: Activation::None,
            };
            let x = Tensor::from_vec(input.clone(), (n, h, w, c), &device)?;
            let ours = x.apply_op1_no_bwd(&op)?;
            let (_, oh, ow, _) = ours.dims4()?;
            let (_, pad_top) = output_geometry(h, k, stride, 1, padding).unwrap_or((0, 0));
            let (_, pad_left) = output_geometry(w, k, stride, 1, padding).unwrap_or((0, 0));
            // Pad explicitly (after side as needed), then a VALID grouped conv in NCHW.
            let pad_bottom = ((oh - 1) * stride + k).saturating_sub(h + pad_top);
            let pad_right = ((ow - 1) * stride + k).saturating_sub(w + pad_left);
            let xc = x
                .permute((0, 3, 1, 2))?
                .pad_with_zeros(2, pad_top, pad_bottom)?
                .pad_with_zeros(3, pad_left, pad_right)?
                .contiguous()?;
            let kc = Tensor::from_vec(weights.clone(), (k, k, c), &device)?
                .permute((2, 0, 1))?
                .reshape((c, 1, k, k))?;
            let reference = xc
                .conv2d(&kc, 0, stride, 1, c)?
                .permute((0, 2, 3, 1))?
                .broadcast_add(&Tensor::from_vec(bias.clone(), c, &device)?)?;
            let diff = (&ours - reference)?
                .abs()?
                .flatten_all()?
                .max(0)?
                .to_scalar::<f32>()?;
            assert!(diff < 1e-5, "stride {stride} {padding:?}: max diff {diff}");
            if stride == 1 && padding == Padding::Same {
                // A folded PAD of 1 around a VALID 3x3 is the same as SAME.
                let folded = DepthwiseConv {
                    window: Window {
                        padding: Padding::Valid,
                        ..op.window
                    },
                    extra_pad: [1; 4],
                    ..op.clone()
                };
                let diff = (x.apply_op1_no_bwd(&folded)? - &ours)?
                    .abs()?
                    .flatten_all()?
                    .max(0)?
                    .to_scalar::<f32>()?;
                assert!(diff == 0.0, "folded pad differs by {diff}");
            }
        }
        Ok(())
    }
}
