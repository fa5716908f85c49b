//! The matrix product of convolutions on CPUs with AVX2 or AVX-512: the filter is packed once,
//! at load, into panels of [`PANEL`] output channels, and the activations are read in place.
//!
//! Why not the `gemm` crate here: it packs both operands on every call (the filter does not
//! change between calls) and finishes row counts that are not a multiple of its block with
//! narrower kernels; on pose_detection that was a fifth of the product's time. The kernels
//! follow XNNPACK's broadcast GEMMs: a block of rows times one panel held in registers, each
//! step loading one packed filter row and broadcasting one value of each activation row.

use std::mem::MaybeUninit;
use std::ops::Range;

use super::lanes::{Avx2, Avx512, Lanes};
use super::{simd, Finish, Simd};

/// Output channels per panel.
const PANEL: usize = 32;

/// Up to `MR` rows of the left operand: pointers to each (the last real row repeated in place
/// of missing ones), the first row's index and how many are real.
struct Block<const MR: usize> {
    rows: [*const f32; MR],
    first: usize,
    real: usize,
}

/// A `[k, n]` filter matrix packed in panels: panel `j` holds, for each of the `k` rows, the
/// [`PANEL`] values of columns `j * PANEL..`, zero past `n`.
#[derive(Debug, Clone)]
pub struct Panels {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl Panels {
    /// Packs a row-major `[k, n]` matrix, or `None` when this CPU has neither AVX2 nor AVX-512
    /// (the portable product then uses the matrix as it is).
    pub fn pack(matrix: &[f32], k: usize, n: usize) -> Option<Panels> {
        if simd() == Simd::Baseline || matrix.len() != k * n || n == 0 {
            return None;
        }
        let panels = n.div_ceil(PANEL);
        let mut data = vec![0f32; panels * k * PANEL];
        for (j, panel) in data.chunks_exact_mut(k * PANEL).enumerate() {
            let cols = (n - j * PANEL).min(PANEL);
            for (row, packed) in panel.chunks_exact_mut(PANEL).enumerate() {
                let from = row * n + j * PANEL;
                packed[..cols].copy_from_slice(&matrix[from..from + cols]);
            }
        }
        Some(Panels { k, n, data })
    }

    /// Rows of the filter (the product's inner dimension).
    pub fn rows(&self) -> usize {
        self.k
    }

    /// Appends `bias + lhs x filter` for a row-major `lhs` of `m` rows of `k` values to `out`,
    /// finished (`finish` sees the appended values at their offset in `out`), as `m` rows of
    /// `n` values.
    pub fn product(&self, lhs: &[f32], bias: &[f32], finish: &Finish, out: &mut Vec<f32>) {
        self.product_with(simd() == Simd::Avx512, lhs, bias, finish, out);
    }

    /// [`Panels::product`] with AVX-512 or with AVX2, which the CPU must have.
    fn product_with(
        &self,
        avx512: bool,
        lhs: &[f32],
        bias: &[f32],
        finish: &Finish,
        out: &mut Vec<f32>,
    ) {
        let (k, n) = (self.k, self.n);
        let m = lhs.len() / k.max(1);
        assert!(
            lhs.len() == m * k && bias.len() == n,
            "packed product: buffer sizes do not match"
        );
        let start = out.len();
        out.reserve(m * n);
        let spare = &mut out.spare_capacity_mut()[..m * n];
        // SAFETY: `pack` only built panels on a CPU with AVX2 and FMA, and AVX-512 is only
        // asked for where `simd` found it; the sizes were checked above, and the kernels store
        // all `m * n` values.
        unsafe {
            if avx512 {
                self.product_avx512(lhs, bias, spare);
            } else {
                self.product_avx2(lhs, bias, spare);
            }
            out.set_len(start + m * n);
        }
        finish.apply(&mut out[start..], n, start);
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn product_avx512(&self, lhs: &[f32], bias: &[f32], out: &mut [MaybeUninit<f32>]) {
        // 7 rows x 2 registers: 14 accumulators, 2 filter values, 1 broadcast.
        self.blocked::<Avx512, 7>(lhs, bias, out);
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn product_avx2(&self, lhs: &[f32], bias: &[f32], out: &mut [MaybeUninit<f32>]) {
        // 5 rows x 2 registers of 8 lanes (half a panel per pass): 10 accumulators of 16.
        self.blocked::<Avx2, 5>(lhs, bias, out);
    }

    /// Blocks of `MR` rows; per block and per `2 * L::N` columns of a panel, the accumulators
    /// start at the bias and take one packed filter row per step. A last block of fewer rows
    /// computes its last row again in place of the missing ones and stores only its own.
    #[inline(always)]
    unsafe fn blocked<L: Lanes, const MR: usize>(
        &self,
        lhs: &[f32],
        bias: &[f32],
        out: &mut [MaybeUninit<f32>],
    ) {
        let (k, n) = (self.k, self.n);
        let m = lhs.len() / k.max(1);
        let width = 2 * L::N;
        let o_ptr = out.as_mut_ptr().cast::<f32>();
        for r0 in (0..m).step_by(MR) {
            let rows = (m - r0).min(MR);
            let mut a = [lhs.as_ptr(); MR];
            for (i, a) in a.iter_mut().enumerate() {
                *a = lhs.as_ptr().add((r0 + i.min(rows - 1)) * k);
            }
            // Opaque to the optimiser, so that it keeps the row pointers in registers rather
            // than recomputing each from the block's position at every step.
            let block = Block {
                rows: std::hint::black_box(a),
                first: r0,
                real: rows,
            };
            for c0 in (0..n).step_by(width) {
                let cols = (n - c0).min(width);
                // A last run of at most `L::N` columns takes one register per row, not two.
                if cols > L::N {
                    self.tile::<L, MR, 2>(&block, bias, c0..c0 + cols, o_ptr);
                } else {
                    self.tile::<L, MR, 1>(&block, bias, c0..c0 + cols, o_ptr);
                }
            }
        }
    }

    /// Where columns `c0..` start in the packed data.
    fn panel_at(&self, c0: usize) -> *const f32 {
        let (panel, offset) = (c0 / PANEL, c0 % PANEL);
        self.data[panel * self.k * PANEL + offset..].as_ptr()
    }

    /// One block of rows times `columns` (at most `R * L::N` of them), stored to the
    /// `n`-column output at `o_ptr`.
    #[inline(always)]
    unsafe fn tile<L: Lanes, const MR: usize, const R: usize>(
        &self,
        block: &Block<MR>,
        bias: &[f32],
        columns: Range<usize>,
        o_ptr: *mut f32,
    ) {
        let (k, n) = (self.k, self.n);
        let (c0, cols) = (columns.start, columns.len());
        let mut w = self.panel_at(c0);
        let mut masks = [L::mask(L::N); R];
        for (j, mask) in masks.iter_mut().enumerate() {
            *mask = L::mask(cols.saturating_sub(j * L::N).min(L::N));
        }
        let mut b = [L::splat(0.0); R];
        for (j, b) in b.iter_mut().enumerate() {
            *b = L::load(masks[j], bias.as_ptr().add(c0 + j * L::N));
        }
        let mut acc = [b; MR];
        for kk in 0..k {
            // Packed rows are zero past `n`: full loads are in bounds and harmless.
            let mut f = [L::splat(0.0); R];
            for (j, f) in f.iter_mut().enumerate() {
                *f = L::load(L::mask(L::N), w.add(j * L::N));
            }
            for (acc, a) in acc.iter_mut().zip(&block.rows) {
                let v = L::splat(*a.add(kk));
                for j in 0..R {
                    acc[j] = v.fmadd(f[j], acc[j]);
                }
            }
            w = w.add(PANEL);
        }
        for (i, acc) in acc.iter().enumerate().take(block.real) {
            let at = o_ptr.add((block.first + i) * n + c0);
            for j in 0..R {
                acc[j].store(masks[j], at.add(j * L::N));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ops::Epilogue;
    use crate::runtime::tflite::Activation;

    #[test]
    fn packed_product_matches_the_row_by_row_sum() {
        // Row counts around the 5- and 7-row blocks, column counts around the 8/16-lane
        // registers and the 32-column panels.
        for (m, k, n) in [
            (1, 3, 1),
            (7, 16, 32),
            (13, 9, 24),
            (20, 40, 33),
            (6, 5, 70),
        ] {
            let lhs: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let matrix: Vec<f32> = (0..k * n)
                .map(|i| ((i * 13) % 29) as f32 / 14.0 - 1.0)
                .collect();
            let bias: Vec<f32> = (0..n).map(|o| o as f32 * 0.25 - 0.5).collect();
            let Some(panels) = Panels::pack(&matrix, k, n) else {
                return;
            };
            assert_eq!(panels.rows(), k);
            for avx512 in [false, simd() == Simd::Avx512] {
                let mut out = vec![7.0];
                panels.product_with(
                    avx512,
                    &lhs,
                    &bias,
                    &(&Epilogue::Activation(Activation::Relu6)).into(),
                    &mut out,
                );
                assert_eq!(out.len(), 1 + m * n, "appends after what is there");
                assert_eq!(out[0], 7.0);
                for r in 0..m {
                    for c in 0..n {
                        let want = (0..k)
                            .map(|j| f64::from(lhs[r * k + j]) * f64::from(matrix[j * n + c]))
                            .sum::<f64>()
                            + f64::from(bias[c]);
                        let got = out[1 + r * n + c];
                        assert!(
                            (f64::from(got) - want.clamp(0.0, 6.0)).abs() < 1e-4,
                            "{m}x{k}x{n} at ({r}, {c}), AVX-512 {avx512}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
