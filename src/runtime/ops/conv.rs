//! NHWC convolution as one op: per tile of output pixels, patch extraction (im2col) for KxK
//! filters, one matrix product accumulated onto the bias, then the epilogue (activation or
//! PRELU) while the tile is still in cache.
//!
//! Why not candle's `matmul` plus separate ops: the product's output, its bias and its
//! activation were each a pass over the whole activation in memory; in the face models those
//! passes cost about as much as the products.

use std::ops::Range;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape};

use super::{check_len, contiguous_f32, output_geometry, Epilogue, Finish, Residual};
use crate::runtime::tflite::Window;

/// Floats of one tile (patches plus output), about 256 KiB: it stays in the core's L2 cache
/// between the product and the epilogue.
const TILE_FLOATS: usize = 1 << 16;

/// NHWC patches (im2col) of a KxK convolution: each output pixel's `kh * kw * c` input values,
/// row layout `(ky, kx, c)` as in a TFLite OHWI filter, zero outside the image.
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

/// Where an [`Im2col`] reads for one input shape.
struct Patches<'a> {
    spec: &'a Im2col,
    input: &'a [f32],
    /// Input height, width, channels.
    dims: (usize, usize, usize),
    /// Output height and width.
    out: (usize, usize),
    /// Zeros before the first row and column.
    pad: (usize, usize),
}

impl Im2col {
    /// Output size and leading padding for an input of `h` x `w`, if the filter fits.
    fn geometry(&self, h: usize, w: usize) -> Option<((usize, usize), (usize, usize))> {
        let win = &self.window;
        let [top, bottom, left, right] = self.extra_pad;
        let (oh, pad_top) = output_geometry(
            h + top + bottom,
            self.kh,
            win.stride_h,
            win.dilation_h,
            win.padding,
        )?;
        let (ow, pad_left) = output_geometry(
            w + left + right,
            self.kw,
            win.stride_w,
            win.dilation_w,
            win.padding,
        )?;
        Some(((oh, ow), (pad_top + top, pad_left + left)))
    }
}

impl Patches<'_> {
    /// Appends the patch rows of output pixels `rows` to `out`, writing each value once.
    fn extend(&self, rows: Range<usize>, out: &mut Vec<f32>) {
        let Im2col {
            kh,
            kw,
            window: win,
            ..
        } = *self.spec;
        let (h, w, c) = self.dims;
        let (oh, ow) = self.out;
        let (pad_top, pad_left) = self.pad;
        for r in rows {
            let b = r / (oh * ow);
            let (oy, ox) = ((r / ow) % oh, r % ow);
            for ky in 0..kh {
                let Some(iy) = (oy * win.stride_h + ky * win.dilation_h)
                    .checked_sub(pad_top)
                    .filter(|&iy| iy < h)
                else {
                    out.resize(out.len() + kw * c, 0.0);
                    continue;
                };
                // Taps kx in [lo, hi) land inside the row; with dilation 1 they are one
                // contiguous run of input pixels, copied at once (3-channel inputs would
                // otherwise pay a call per 3 floats).
                let base = ox * win.stride_w;
                let lo = pad_left
                    .saturating_sub(base)
                    .div_ceil(win.dilation_w)
                    .min(kw);
                let hi = (w + pad_left)
                    .saturating_sub(base)
                    .div_ceil(win.dilation_w)
                    .clamp(lo, kw);
                let row = (b * h + iy) * w;
                out.resize(out.len() + lo * c, 0.0);
                if win.dilation_w == 1 {
                    let src = (row + base + lo - pad_left) * c;
                    out.extend_from_slice(&self.input[src..src + (hi - lo) * c]);
                } else {
                    for kx in lo..hi {
                        let src = (row + base + kx * win.dilation_w - pad_left) * c;
                        out.extend_from_slice(&self.input[src..src + c]);
                    }
                }
                out.resize(out.len() + (kw - hi) * c, 0.0);
            }
        }
    }
}

/// A 2-D convolution in NHWC: `[n, h, w, cin]` -> `[n, oh, ow, cout]`.
#[derive(Debug, Clone)]
pub struct Conv {
    filter: Filter,
    /// One bias per output channel.
    pub bias: Vec<f32>,
    /// Patch extraction; `None` for a pointwise (1x1, stride 1) filter, whose patches are the
    /// input pixels themselves.
    pub patches: Option<Im2col>,
    /// Applied to the output.
    pub epilogue: Epilogue,
}

/// A convolution's filter as the kernels that run it want it.
#[derive(Debug, Clone)]
enum Filter {
    /// Row-major `[kh * kw * cin, cout]`: for the direct kernels and the portable product.
    Rows(Vec<f32>),
    /// Packed for the blocked product of AVX2 and AVX-512 CPUs.
    #[cfg(target_arch = "x86_64")]
    Panels(super::panels::Panels),
}

impl Conv {
    /// A convolution with the filter as a row-major `[kh * kw * cin, cout]` matrix (rows
    /// ordered `(ky, kx, ci)`), packed here for the kernels this CPU will run.
    pub fn new(
        matrix: Vec<f32>,
        bias: Vec<f32>,
        patches: Option<Im2col>,
        epilogue: Epilogue,
    ) -> Conv {
        let cout = bias.len();
        let k = matrix.len() / cout.max(1);
        let filter = Self::pack(matrix, k, cout, patches.as_ref());
        Conv {
            filter,
            bias,
            patches,
            epilogue,
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn pack(matrix: Vec<f32>, k: usize, cout: usize, patches: Option<&Im2col>) -> Filter {
        let (taps, dilation_w) = patches.map_or((1, 1), |p| (p.kh * p.kw, p.window.dilation_w));
        if super::direct::takes(k / taps.max(1), cout, dilation_w) {
            return Filter::Rows(matrix);
        }
        match super::panels::Panels::pack(&matrix, k, cout) {
            Some(panels) => Filter::Panels(panels),
            None => Filter::Rows(matrix),
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn pack(matrix: Vec<f32>, _k: usize, _cout: usize, _patches: Option<&Im2col>) -> Filter {
        Filter::Rows(matrix)
    }
}

impl Conv {
    /// The convolution of `input` (NHWC `dims`), plus `skip` (NHWC, the output's pixels) from
    /// output channel `skip_offset` on when a residual ADD was folded in, then the epilogue.
    fn forward(
        &self,
        input: &[f32],
        (n, h, w, cin): (usize, usize, usize, usize),
        skip: Option<(&[f32], &[usize], usize)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = CustomOp1::name(self);
        let cout = self.bias.len();
        let k = match &self.filter {
            Filter::Rows(matrix) => matrix.len() / cout.max(1),
            #[cfg(target_arch = "x86_64")]
            Filter::Panels(panels) => panels.rows(),
        };
        let fail = |what: String| candle_core::Error::Msg(format!("{}: {what}", name));
        let (patches, (oh, ow)) = match &self.patches {
            Some(spec) => {
                check_len(name, "filter row", k, spec.kh * spec.kw * cin)?;
                let (out, pad) = spec
                    .geometry(h, w)
                    .ok_or_else(|| fail(format!("input {h}x{w} smaller than the filter")))?;
                let patches = Patches {
                    spec,
                    input,
                    dims: (h, w, cin),
                    out,
                    pad,
                };
                (Some(patches), out)
            }
            None => {
                check_len(name, "filter row", k, cin)?;
                (None, (h, w))
            }
        };
        let residual = match skip {
            None => None,
            Some((values, dims, offset)) => {
                let channels = dims.last().copied().unwrap_or(0);
                if dims != [n, oh, ow, channels] || channels == 0 || offset + channels > cout {
                    return Err(fail(format!(
                        "skip connection of shape {dims:?} (from channel {offset}) does not fit \
                         the output [{n}, {oh}, {ow}, {cout}]"
                    )));
                }
                Some(Residual {
                    values,
                    channels,
                    offset,
                })
            }
        };
        let finish = Finish {
            epilogue: &self.epilogue,
            residual,
        };
        // Narrow layers skip the patches and the product (see `direct`).
        #[cfg(target_arch = "x86_64")]
        if let Filter::Rows(matrix) = &self.filter {
            let (kernel, stride, dilation, pad) = match &patches {
                Some(Patches { spec, pad, .. }) => {
                    let win = &spec.window;
                    (
                        (spec.kh, spec.kw),
                        (win.stride_h, win.stride_w),
                        (win.dilation_h, win.dilation_w),
                        *pad,
                    )
                }
                None => ((1, 1), (1, 1), (1, 1), (0, 0)),
            };
            let direct = super::direct::Direct {
                input,
                matrix,
                bias: &self.bias,
                n,
                dims: (h, w, cin),
                out: (oh, ow),
                kernel,
                stride,
                dilation,
                pad,
            };
            if let Some(out) = direct.run(&finish) {
                return Ok((CpuStorage::F32(out), Shape::from((n, oh, ow, cout))));
            }
        }
        let m = n * oh * ow;
        let tile = (TILE_FLOATS / (k + cout).max(1)).clamp(8, m.max(8));
        let mut out = Vec::with_capacity(m * cout);
        let mut scratch = Vec::new();
        for start in (0..m).step_by(tile) {
            let rows = start..(start + tile).min(m);
            let lhs = match &patches {
                Some(p) => {
                    scratch.clear();
                    p.extend(rows.clone(), &mut scratch);
                    &scratch[..]
                }
                None => &input[rows.start * k..rows.end * k],
            };
            match &self.filter {
                Filter::Rows(matrix) => {
                    let done = out.len();
                    extend_repeated(&mut out, &self.bias, rows.len());
                    product(&mut out[done..], lhs, matrix, k, cout);
                    finish.apply(&mut out[done..], cout, done);
                }
                #[cfg(target_arch = "x86_64")]
                Filter::Panels(panels) => panels.product(lhs, &self.bias, &finish, &mut out),
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((n, oh, ow, cout))))
    }
}

impl CustomOp1 for Conv {
    fn name(&self) -> &'static str {
        "conv-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(storage, layout, self.name())?;
        self.forward(input, layout.shape().dims4()?, None)
    }
}

/// A convolution with the residual ADD that read its output folded in: the second input (the
/// skip branch) is added to each output tile while it is in cache, then the epilogue (the
/// ADD's) runs, so the convolution's output is never written out and read back. The skip
/// branch may have fewer channels, added from `channel_offset` on (a folded channel PAD).
#[derive(Debug, Clone)]
pub struct ResidualConv {
    /// The convolution, whose epilogue is the one after the ADD.
    pub conv: Conv,
    /// The output channel the skip branch's first channel adds to.
    pub channel_offset: usize,
}

impl CustomOp2 for ResidualConv {
    fn name(&self) -> &'static str {
        "residual-conv-nhwc"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(s1, l1, self.name())?;
        let skip = contiguous_f32(s2, l2, self.name())?;
        let skip = (skip, l2.shape().dims(), self.channel_offset);
        self.conv.forward(input, l1.shape().dims4()?, Some(skip))
    }
}

/// Appends `times` copies of `row` to `out`, doubling the copied run each time: a handful of
/// long copies instead of one short copy per output pixel.
fn extend_repeated(out: &mut Vec<f32>, row: &[f32], times: usize) {
    let (start, len) = (out.len(), row.len() * times);
    if len == 0 {
        return;
    }
    out.extend_from_slice(row);
    while out.len() - start < len {
        let have = out.len() - start;
        out.extend_from_within(start..start + have.min(len - have));
    }
}

/// `dst += lhs x rhs` for row-major `lhs` (`[m, k]`), `rhs` (`[k, n]`) and `dst` (`[m, n]`), on
/// the calling thread.
///
/// One thread: the server runs every model on its own thread and many requests at once, and on
/// the small machines it targets a second thread per product only contends with them.
pub fn product(dst: &mut [f32], lhs: &[f32], rhs: &[f32], k: usize, n: usize) {
    let m = dst.len() / n.max(1);
    assert!(
        dst.len() == m * n && lhs.len() == m * k && rhs.len() == k * n,
        "matrix product: buffer sizes do not match"
    );
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the three buffers are distinct slices whose lengths match the dimensions and
    // row strides passed (checked above), so every element gemm reads or writes is in bounds.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            true,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::tflite::{Activation, Padding};

    /// Direct convolution, one tap at a time: what [`Conv`] must equal.
    #[allow(clippy::too_many_arguments)]
    fn direct(
        x: &[f32],
        (n, h, w, cin): (usize, usize, usize, usize),
        filter: &[f32],
        (cout, kh, kw): (usize, usize, usize),
        bias: &[f32],
        win: &Window,
        pad: (usize, usize),
        (oh, ow): (usize, usize),
    ) -> Vec<f32> {
        let mut out = vec![0f32; n * oh * ow * cout];
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for o in 0..cout {
                        let mut acc = bias[o];
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * win.stride_h + ky * win.dilation_h) as isize
                                    - pad.0 as isize;
                                let ix = (ox * win.stride_w + kx * win.dilation_w) as isize
                                    - pad.1 as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                for i in 0..cin {
                                    let xv = x[((b * h + iy as usize) * w + ix as usize) * cin + i];
                                    acc += xv * filter[((o * kh + ky) * kw + kx) * cin + i];
                                }
                            }
                        }
                        out[((b * oh + oy) * ow + ox) * cout + o] = acc.clamp(0.0, 6.0);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn tiled_convolution_matches_the_direct_sum() {
        // Enough pixels for several tiles, a dilated strided filter with SAME padding, and
        // an input narrower than the filter's reach at the edges.
        let (n, h, w, cin, cout, kh, kw) = (2, 37, 29, 5, 7, 3, 3);
        for (stride, dilation) in [(1, 1), (2, 1), (1, 2)] {
            let win = Window {
                stride_h: stride,
                stride_w: stride,
                dilation_h: dilation,
                dilation_w: dilation,
                padding: Padding::Same,
            };
            let x: Vec<f32> = (0..n * h * w * cin)
                .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let filter: Vec<f32> = (0..cout * kh * kw * cin)
                .map(|i| ((i * 13) % 29) as f32 / 14.0 - 1.0)
                .collect();
            let bias: Vec<f32> = (0..cout).map(|o| o as f32 * 0.25 - 0.5).collect();
            let k = kh * kw * cin;
            let mut matrix = vec![0f32; k * cout];
            for o in 0..cout {
                for j in 0..k {
                    matrix[j * cout + o] = filter[o * k + j];
                }
            }
            let spec = Im2col {
                kh,
                kw,
                window: win,
                extra_pad: [0; 4],
            };
            let (out_hw, pad) = spec.geometry(h, w).unwrap();
            let conv = Conv::new(
                matrix,
                bias.clone(),
                Some(spec),
                Epilogue::Activation(Activation::Relu6),
            );
            let (storage, shape) = conv
                .cpu_fwd(
                    &CpuStorage::F32(x.clone()),
                    &Layout::contiguous((n, h, w, cin)),
                )
                .unwrap();
            assert_eq!(shape.dims(), &[n, out_hw.0, out_hw.1, cout]);
            let got = storage.as_slice::<f32>().unwrap();
            let want = direct(
                &x,
                (n, h, w, cin),
                &filter,
                (cout, kh, kw),
                &bias,
                &win,
                pad,
                out_hw,
            );
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() < 1e-4,
                    "stride {stride} dilation {dilation} value {i}: {a} vs {b}"
                );
            }
        }
    }

    /// A convolution with a folded residual equals the convolution, then the ADD of the skip
    /// branch (zero-padded across channels where it is narrower), then the epilogue: for each
    /// kernel family (direct per-channel, direct dot, packed product) and several tiles.
    #[test]
    fn folded_residual_equals_convolution_then_add() {
        let (n, h, w) = (1, 23, 19);
        let prelu = |cout: usize| Epilogue::Prelu((0..cout).map(|o| 0.1 * o as f32).collect());
        // (cin, cout, filter side, skip channels, channel offset)
        for (cin, cout, side, skip_c, offset) in [
            (3, 16, 3, 16, 0),
            (8, 24, 1, 16, 4),
            (5, 1, 3, 1, 0),
            (40, 48, 1, 48, 0),
            (40, 48, 1, 32, 8),
        ] {
            let k = side * side * cin;
            let matrix: Vec<f32> = (0..k * cout)
                .map(|i| ((i * 13) % 29) as f32 / 14.0 - 1.0)
                .collect();
            let bias: Vec<f32> = (0..cout).map(|o| o as f32 * 0.05 - 0.5).collect();
            let spec = (side > 1).then_some(Im2col {
                kh: side,
                kw: side,
                window: Window {
                    stride_h: 1,
                    stride_w: 1,
                    dilation_h: 1,
                    dilation_w: 1,
                    padding: Padding::Same,
                },
                extra_pad: [0; 4],
            });
            let x: Vec<f32> = (0..n * h * w * cin)
                .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let skip: Vec<f32> = (0..n * h * w * skip_c)
                .map(|i| ((i * 7) % 43) as f32 / 20.0 - 1.0)
                .collect();
            let plain = Conv::new(
                matrix.clone(),
                bias.clone(),
                spec.clone(),
                Epilogue::Activation(Activation::None),
            );
            let (storage, _) = plain
                .cpu_fwd(
                    &CpuStorage::F32(x.clone()),
                    &Layout::contiguous((n, h, w, cin)),
                )
                .unwrap();
            let mut want = storage.as_slice::<f32>().unwrap().to_vec();
            for (pixel, s) in want.chunks_exact_mut(cout).zip(skip.chunks_exact(skip_c)) {
                for (v, s) in pixel[offset..offset + skip_c].iter_mut().zip(s) {
                    *v += s;
                }
            }
            prelu(cout).apply(&mut want, cout);
            let fused = ResidualConv {
                conv: Conv::new(matrix, bias, spec, prelu(cout)),
                channel_offset: offset,
            };
            let skip_layout = Layout::contiguous((n, h, w, skip_c));
            let (storage, shape) = fused
                .cpu_fwd(
                    &CpuStorage::F32(x.clone()),
                    &Layout::contiguous((n, h, w, cin)),
                    &CpuStorage::F32(skip.clone()),
                    &skip_layout,
                )
                .unwrap();
            assert_eq!(shape.dims(), &[n, h, w, cout]);
            let got = storage.as_slice::<f32>().unwrap();
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() < 1e-4,
                    "cin {cin} cout {cout} skip {skip_c}@{offset} value {i}: {a} vs {b}"
                );
            }
            // A skip branch that does not fit the output is an error, not a panic.
            let wide = ResidualConv {
                channel_offset: cout - skip_c + 1,
                ..fused.clone()
            };
            assert!(wide
                .cpu_fwd(
                    &CpuStorage::F32(x.clone()),
                    &Layout::contiguous((n, h, w, cin)),
                    &CpuStorage::F32(skip.clone()),
                    &skip_layout,
                )
                .is_err());
            let short = &skip[..skip.len() - skip_c];
            assert!(fused
                .cpu_fwd(
                    &CpuStorage::F32(x),
                    &Layout::contiguous((n, h, w, cin)),
                    &CpuStorage::F32(short.to_vec()),
                    &Layout::contiguous((n, h, w - 1, skip_c)),
                )
                .is_err());
        }
    }
}
