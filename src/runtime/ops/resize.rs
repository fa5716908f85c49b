//! NHWC bilinear resize with TFLite's coordinate rules (align_corners, half_pixel_centers).

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

#[cfg(target_arch = "x86_64")]
use super::Simd;
use super::{contiguous_f32, simd};

/// Bilinear resize of an NHWC f32 tensor to `out_h` x `out_w`.
#[derive(Debug, Clone)]
pub struct ResizeBilinear {
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Map corner pixel centres onto each other.
    pub align_corners: bool,
    /// Sample at pixel centres (`(i + 0.5) * scale - 0.5`).
    pub half_pixel_centers: bool,
}

/// Source index pair and weight of the upper one, per output coordinate.
fn taps(
    input: usize,
    output: usize,
    align_corners: bool,
    half_pixel: bool,
) -> Vec<(usize, usize, f32)> {
    let scale = if align_corners && output > 1 {
        (input as f32 - 1.0) / (output as f32 - 1.0)
    } else {
        input as f32 / output as f32
    };
    (0..output)
        .map(|o| {
            let pos = if half_pixel {
                (o as f32 + 0.5) * scale - 0.5
            } else {
                o as f32 * scale
            };
            let low = pos.floor();
            let lower = (low.max(0.0) as usize).min(input.saturating_sub(1));
            let upper = (pos.ceil().max(0.0) as usize).min(input.saturating_sub(1));
            (lower, upper, pos - low.max(0.0))
        })
        .collect()
}

impl CustomOp1 for ResizeBilinear {
    fn name(&self) -> &'static str {
        "resize-bilinear-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(storage, layout, self.name())?;
        let (n, h, w, c) = layout.shape().dims4()?;
        if h == 0 || w == 0 {
            return Err(candle_core::Error::Msg(format!(
                "{}: empty input",
                self.name()
            )));
        }
        let (oh, ow) = (self.out_h, self.out_w);
        let ys = taps(h, oh, self.align_corners, self.half_pixel_centers);
        let xs = taps(w, ow, self.align_corners, self.half_pixel_centers);
        let mut out = vec![0f32; n * oh * ow * c];
        let plan = Plan {
            dims: (h, w, c),
            out_dims: (oh, ow),
            ys: &ys,
            xs: &xs,
        };
        plan.run(input, &mut out);
        Ok((CpuStorage::F32(out), Shape::from((n, oh, ow, c))))
    }
}

/// One resize call's geometry and taps.
struct Plan<'a> {
    dims: (usize, usize, usize),
    out_dims: (usize, usize),
    ys: &'a [(usize, usize, f32)],
    xs: &'a [(usize, usize, f32)],
}

impl Plan<'_> {
    /// The crate is built for baseline x86-64; the same loop compiled with AVX-512 (16 lanes) or
    /// AVX2 (8 lanes) is picked at run time where the CPU has it.
    fn run(&self, input: &[f32], out: &mut [f32]) {
        match simd() {
            // SAFETY: the CPU supports AVX-512F.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => unsafe { self.run_avx512(input, out) },
            // SAFETY: the CPU supports AVX2.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { self.run_avx2(input, out) },
            _ => self.pixels(input, out),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(&self, input: &[f32], out: &mut [f32]) {
        self.pixels(input, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(&self, input: &[f32], out: &mut [f32]) {
        self.pixels(input, out);
    }

    /// Per output row: the two source rows blended with the row's vertical weight into one
    /// row (a contiguous run that vectorises), then each output pixel from two pixels of it.
    /// Why not one pixel at a time from four corners: that took three integer divisions and
    /// four bounds-checked slices per pixel, more than the arithmetic (pose_landmark_full's
    /// 128x128x8 -> 256x256 upsampling took 435 us).
    #[inline(always)]
    fn pixels(&self, input: &[f32], out: &mut [f32]) {
        let (h, w, c) = self.dims;
        let (oh, ow) = self.out_dims;
        let mut blended = vec![0f32; w * c];
        let columns: Vec<(usize, usize, f32)> = self
            .xs
            .iter()
            .map(|&(x0, x1, dx)| (x0 * c, x1 * c, dx))
            .collect();
        for (r, row) in out.chunks_exact_mut((ow * c).max(1)).enumerate() {
            let (b, oy) = (r / oh, r % oh);
            let (y0, y1, dy) = self.ys[oy];
            let top = &input[(b * h + y0) * w * c..][..w * c];
            let bottom = &input[(b * h + y1) * w * c..][..w * c];
            for ((v, &t), &u) in blended.iter_mut().zip(top).zip(bottom) {
                *v = t * (1.0 - dy) + u * dy;
            }
            for (pixel, &(x0, x1, dx)) in row.chunks_exact_mut(c.max(1)).zip(&columns) {
                let (left, right) = (&blended[x0..x0 + c], &blended[x1..x1 + c]);
                for ((o, &l), &q) in pixel.iter_mut().zip(left).zip(right) {
                    *o = l * (1.0 - dx) + q * dx;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_then_columns_equal_four_corner_blends() {
        let (n, h, w, c) = (2, 5, 7, 3);
        let input: Vec<f32> = (0..n * h * w * c)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        for (oh, ow) in [(10, 14), (3, 4), (5, 7)] {
            for (align_corners, half_pixel_centers) in
                [(false, false), (true, false), (false, true)]
            {
                let op = ResizeBilinear {
                    out_h: oh,
                    out_w: ow,
                    align_corners,
                    half_pixel_centers,
                };
                let (storage, shape) = op
                    .cpu_fwd(
                        &CpuStorage::F32(input.clone()),
                        &Layout::contiguous((n, h, w, c)),
                    )
                    .unwrap();
                assert_eq!(shape.dims(), &[n, oh, ow, c]);
                let got = storage.as_slice::<f32>().unwrap();
                let ys = taps(h, oh, align_corners, half_pixel_centers);
                let xs = taps(w, ow, align_corners, half_pixel_centers);
                for b in 0..n {
                    for (oy, &(y0, y1, dy)) in ys.iter().enumerate() {
                        for (ox, &(x0, x1, dx)) in xs.iter().enumerate() {
                            for ch in 0..c {
                                let at = |y: usize, x: usize| input[((b * h + y) * w + x) * c + ch];
                                let want = at(y0, x0) * (1.0 - dy) * (1.0 - dx)
                                    + at(y1, x0) * dy * (1.0 - dx)
                                    + at(y0, x1) * (1.0 - dy) * dx
                                    + at(y1, x1) * dy * dx;
                                let v = got[((b * oh + oy) * ow + ox) * c + ch];
                                assert!(
                                    (v - want).abs() < 1e-5,
                                    "{oh}x{ow} {align_corners}/{half_pixel_centers} at {b},{oy},{ox},{ch}: {v} vs {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
