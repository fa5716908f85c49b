//! NHWC depthwise convolution (depth multiplier 1) with fused bias and activation.

#[cfg(target_arch = "x86_64")]
use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

#[cfg(target_arch = "x86_64")]
use super::lanes::{Avx2, Avx512, Lanes};
#[cfg(target_arch = "x86_64")]
use super::taps::Taps;
use super::{activate, check_len, clamp_range, contiguous_f32, output_geometry};
#[cfg(target_arch = "x86_64")]
use super::{simd, Simd};
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
        let plan = self.plan(h, w, c)?;
        let (oh, ow) = plan.out_dims;
        let out = plan.run(input, n);
        Ok((CpuStorage::F32(out), Shape::from((n, oh, ow, c))))
    }
}

impl DepthwiseConv {
    /// The geometry of a call on `h` x `w` x `c` images.
    fn plan(&self, h: usize, w: usize, c: usize) -> candle_core::Result<Plan<'_>> {
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
        // pixel loops have no bounds logic and their channel loops vectorise.
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
        Ok(Plan {
            op: self,
            dims: (h, w, c),
            out_dims: (oh, ow),
            pad: (pad_top, pad_left),
            columns,
        })
    }
}

/// One depthwise call's geometry, from [`DepthwiseConv::plan`].
struct Plan<'a> {
    op: &'a DepthwiseConv,
    dims: (usize, usize, usize),
    out_dims: (usize, usize),
    pad: (usize, usize),
    columns: Vec<(usize, usize)>,
}

impl Plan<'_> {
    /// The crate is built for baseline x86-64 (SSE2, 4 lanes). Where the CPU has AVX-512 or
    /// AVX2 with FMA, a register-blocked kernel compiled for it runs instead (as XNNPACK's
    /// depthwise kernels do); otherwise the portable row loops. (No crate offers a
    /// runtime-dispatched NHWC depthwise kernel.)
    ///
    /// The blocked kernels store every output value once, so their output is not zeroed first.
    fn run(&self, input: &[f32], n: usize) -> Vec<f32> {
        let (_, _, c) = self.dims;
        let (oh, ow) = self.out_dims;
        let len = n * oh * ow * c;
        #[cfg(target_arch = "x86_64")]
        if simd() != Simd::Baseline {
            let mut out = Vec::with_capacity(len);
            let spare = &mut out.spare_capacity_mut()[..len];
            // SAFETY: the CPU supports the instruction set of the kernel called.
            unsafe {
                // Where the last 16-lane register would be at most half full (8 or 24 channels),
                // 8-lane registers waste none: measured 1.7x faster on 8 channels and 1.2x on
                // 24 (pose_detection's 112x112x24 layer) on an AVX-512 EPYC.
                let half_empty = (1..=8).contains(&(c % 16));
                if simd() == Simd::Avx512 && !half_empty {
                    self.run_avx512(input, spare);
                } else {
                    self.run_avx2(input, spare);
                }
                // The blocked kernel stored all `len` values (every channel block of every
                // output pixel).
                out.set_len(len);
            }
            return out;
        }
        let mut out = vec![0f32; len];
        self.rows(input, &mut out);
        out
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(&self, input: &[f32], out: &mut [MaybeUninit<f32>]) {
        self.blocked::<Avx512>(input, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, input: &[f32], out: &mut [MaybeUninit<f32>]) {
        self.blocked::<Avx2>(input, out);
    }

    /// Per block of `L::N` channels, the taps inside the input accumulate in a register from the
    /// bias, then the activation's clamp and one (masked) store; inner pixels go four at a time,
    /// edge pixels one at a time over only their taps inside the input.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn blocked<L: Lanes>(&self, input: &[f32], out: &mut [MaybeUninit<f32>]) {
        let op = self.op;
        let win = &op.window;
        let (h, w, c) = self.dims;
        let (oh, ow) = self.out_dims;
        let (pad_top, pad_left) = self.pad;
        let n = out.len() / (oh * ow * c).max(1);
        // The loads and stores below index these slices by pointer; their lengths are what
        // `cpu_fwd` checked against the shapes.
        assert!(
            input.len() >= n * h * w * c
                && out.len() == n * oh * ow * c
                && op.weights.len() == op.kh * op.kw * c
                && op.bias.len() == c,
            "depthwise: buffer sizes do not match the plan"
        );
        // Tanh is applied to the stored row afterwards.
        let (low, high) = clamp_range(op.activation).unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        let (low, high) = (L::splat(low), L::splat(high));
        let blocks = c.div_ceil(L::N);
        let (full, tail_mask) = (L::mask(L::N), L::mask(c - (blocks.max(1) - 1) * L::N));
        // Lanes of channel block `block` that hold channels.
        let mask_of = |block: usize| {
            if block + 1 == blocks {
                tail_mask
            } else {
                full
            }
        };
        let (x_ptr, k_ptr, b_ptr) = (input.as_ptr(), op.weights.as_ptr(), op.bias.as_ptr());
        let o_ptr = out.as_mut_ptr().cast::<f32>();
        // Output columns whose every tap lands inside the input: no bounds logic there.
        let taps = Taps {
            input: (h, w),
            out: (oh, ow),
            filter: (op.kh, op.kw),
            stride: (win.stride_h, win.stride_w),
            dilation: (win.dilation_h, win.dilation_w),
            pad: (pad_top, pad_left),
        };
        let (inner_lo, inner_hi) = taps.inner_columns();
        let mut taps_y = Vec::with_capacity(op.kh);
        for b in 0..n {
            for oy in 0..oh {
                taps.rows_of(b, oy, &mut taps_y);
                let out_row = (b * oh + oy) * ow;
                let mut ox = 0;
                while ox < ow {
                    if ox >= inner_lo && ox + 4 <= inner_hi {
                        // Four inner pixels at once: four independent accumulators share each
                        // weight load.
                        for block in 0..blocks {
                            let ch = block * L::N;
                            let mask = mask_of(block);
                            let bias = L::load(mask, b_ptr.add(ch));
                            let mut acc = [bias; 4];
                            for &(ky, row) in &taps_y {
                                for kx in 0..op.kw {
                                    let k = L::load(mask, k_ptr.add((ky * op.kw + kx) * c + ch));
                                    let ix = ox * win.stride_w + kx * win.dilation_w - pad_left;
                                    for (j, acc) in acc.iter_mut().enumerate() {
                                        let at = (row + ix + j * win.stride_w) * c + ch;
                                        *acc = L::load(mask, x_ptr.add(at)).fmadd(k, *acc);
                                    }
                                }
                            }
                            for (j, acc) in acc.into_iter().enumerate() {
                                let at = (out_row + ox + j) * c + ch;
                                acc.clamp(low, high).store(mask, o_ptr.add(at));
                            }
                        }
                        ox += 4;
                        continue;
                    }
                    // An edge pixel: only the filter columns inside the input.
                    let columns = taps.columns_of(ox);
                    for block in 0..blocks {
                        let ch = block * L::N;
                        let mask = mask_of(block);
                        let mut acc = L::load(mask, b_ptr.add(ch));
                        if let Some((kx_lo, kx_hi)) = columns {
                            for &(ky, row) in &taps_y {
                                for kx in kx_lo..=kx_hi {
                                    let ix = ox * win.stride_w + kx * win.dilation_w - pad_left;
                                    let x = L::load(mask, x_ptr.add((row + ix) * c + ch));
                                    let k = L::load(mask, k_ptr.add((ky * op.kw + kx) * c + ch));
                                    acc = x.fmadd(k, acc);
                                }
                            }
                        }
                        let at = (out_row + ox) * c + ch;
                        acc.clamp(low, high).store(mask, o_ptr.add(at));
                    }
                    ox += 1;
                }
                if op.activation == Activation::Tanh {
                    // SAFETY: the row's values were all stored just above.
                    let row = std::slice::from_raw_parts_mut(o_ptr.add(out_row * c), ow * c);
                    activate(row, op.activation);
                }
            }
        }
    }

    /// The portable loops: per output row, each tap adds its input pixels times its weights.
    fn rows(&self, input: &[f32], out: &mut [f32]) {
        let op = self.op;
        let win = &op.window;
        let (h, w, c) = self.dims;
        let (oh, ow) = self.out_dims;
        let (pad_top, pad_left) = self.pad;
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
                    for (kx, &(lo, hi)) in self.columns.iter().enumerate() {
                        let k = &op.weights[(ky * op.kw + kx) * c..(ky * op.kw + kx + 1) * c];
                        let pixels = row[lo * c..hi * c].chunks_exact_mut(c);
                        for (i, pixel) in pixels.enumerate() {
                            let ix = (lo + i) * win.stride_w + kx * win.dilation_w - pad_left;
                            let x = &in_row[ix * c..(ix + 1) * c];
                            for ((o, &xv), &kv) in pixel.iter_mut().zip(x).zip(k) {
                                *o += xv * kv;
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
        // 21 channels take 8-lane registers on AVX-512 CPUs (a last 16-lane one would be under
        // half full), 37 the 16-lane ones.
        for c in [21usize, 37] {
            check_against_candle(c)?;
        }
        Ok(())
    }

    fn check_against_candle(c: usize) -> candle_core::Result<()> {
        let (n, h, w, k) = (2usize, 7usize, 13usize, 3usize);
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
            // The portable loops (what CPUs without AVX-512 or AVX2 run) agree with the kernel
            // this CPU dispatched to.
            let plan = op.plan(h, w, c)?;
            let mut portable = vec![0f32; n * oh * ow * c];
            plan.rows(&input, &mut portable);
            let dispatched = ours.flatten_all()?.to_vec1::<f32>()?;
            let worst = portable
                .iter()
                .zip(&dispatched)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst < 1e-5,
                "stride {stride} {padding:?}: portable differs by {worst}"
            );
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
