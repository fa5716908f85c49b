//! Element-wise ops in one pass (candle would need several passes, each allocating).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape};

use super::{check_len, contiguous_f32, Epilogue};
#[cfg(target_arch = "x86_64")]
use super::{simd, Simd};

/// An activation-type op on its own (RELU, HARD_SWISH, LOGISTIC, PRELU): the [`Epilogue`] a
/// fused op would apply, for the cases that follow no op it could be folded into.
#[derive(Debug, Clone)]
pub struct Pointwise(pub Epilogue);

impl CustomOp1 for Pointwise {
    fn name(&self) -> &'static str {
        "pointwise"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let channels = layout.shape().dims().last().copied().unwrap_or(1);
        if let Epilogue::Prelu(alpha) = &self.0 {
            check_len(self.name(), "alpha", alpha.len(), channels)?;
        }
        let mut out = contiguous_f32(storage, layout, self.name())?.to_vec();
        self.0.apply(&mut out, channels);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// Which arithmetic a [`Binary`] op does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    /// a + b.
    Add,
    /// a * b.
    Mul,
}

/// ADD or MUL of two NHWC tensors of one shape, then an epilogue, in one pass.
///
/// An ADD may also take a second input with fewer channels, as if it were zero-padded to the
/// first input's channels with `channel_offset` zeros before it: a channel PAD folded into the
/// ADD (the face models pad every residual branch that widens), so the padded copy is never
/// made.
///
/// Or, with `per_channel`, one input holds a single value per channel (shape `[.., 1, 1, c]`)
/// that applies to every pixel of the other (the selfie model's squeeze-and-excite scaling).
#[derive(Debug, Clone)]
pub struct Binary {
    /// The arithmetic.
    pub kind: BinaryKind,
    /// Channels of the first input before the second input's first channel (a folded PAD).
    pub channel_offset: usize,
    /// Applied to the result.
    pub epilogue: Epilogue,
    /// One input is a per-channel vector broadcast over the other's pixels.
    pub per_channel: bool,
}

/// True for a shape that holds one value per channel: every dimension but the last is 1.
pub fn is_channel_vector(dims: &[usize]) -> bool {
    dims.iter().rev().skip(1).all(|&d| d == 1)
}

impl Binary {
    /// `x` (pixels of `v.len()` channels) combined with `v` at every pixel.
    fn per_channel(&self, x: &[f32], v: &[f32]) -> Vec<f32> {
        let mut out = x.to_vec();
        match simd() {
            // SAFETY: the CPU supports AVX2 (an AVX-512 CPU has it too).
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 | Simd::Avx2 => unsafe { self.per_channel_avx2(&mut out, v) },
            _ => self.per_channel_loop(&mut out, v),
        }
        out
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn per_channel_avx2(&self, out: &mut [f32], v: &[f32]) {
        self.per_channel_loop(out, v);
    }

    #[inline(always)]
    fn per_channel_loop(&self, out: &mut [f32], v: &[f32]) {
        for pixel in out.chunks_exact_mut(v.len().max(1)) {
            match self.kind {
                BinaryKind::Add => pixel.iter_mut().zip(v).for_each(|(o, v)| *o += v),
                BinaryKind::Mul => pixel.iter_mut().zip(v).for_each(|(o, v)| *o *= v),
            }
        }
        self.epilogue.apply_loop(out, v.len());
    }
}

impl CustomOp2 for Binary {
    fn name(&self) -> &'static str {
        "binary-nhwc"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let a = contiguous_f32(s1, l1, self.name())?;
        let b = contiguous_f32(s2, l2, self.name())?;
        let (da, db) = (l1.shape().dims(), l2.shape().dims());
        let (ca, cb) = (
            da.last().copied().unwrap_or(1),
            db.last().copied().unwrap_or(1),
        );
        if self.per_channel {
            let (x, v, shape) = match (is_channel_vector(da), is_channel_vector(db)) {
                (false, true) => (a, b, l1.shape()),
                (true, false) => (b, a, l2.shape()),
                _ => (a, b, l1.shape()),
            };
            if ca != cb || self.channel_offset != 0 || v.len() != ca || x.len() % ca.max(1) != 0 {
                return Err(candle_core::Error::Msg(format!(
                    "{}: {da:?} and {db:?} are not a tensor and a per-channel vector",
                    self.name()
                )));
            }
            return Ok((CpuStorage::F32(self.per_channel(x, v)), shape.clone()));
        }
        let padded = self.kind == BinaryKind::Add && self.channel_offset + cb <= ca;
        let same_pixels = da.len() == db.len() && da[..da.len() - 1] == db[..db.len() - 1];
        if !(same_pixels && ((ca == cb && self.channel_offset == 0) || padded)) {
            return Err(candle_core::Error::Msg(format!(
                "{}: shapes {da:?} and {db:?} do not match (channel offset {})",
                self.name(),
                self.channel_offset
            )));
        }
        let mut out: Vec<f32> = match self.kind {
            BinaryKind::Add if ca == cb => a.iter().zip(b).map(|(x, y)| x + y).collect(),
            BinaryKind::Add => {
                let mut out = a.to_vec();
                for (pixel, add) in out
                    .chunks_exact_mut(ca.max(1))
                    .zip(b.chunks_exact(cb.max(1)))
                {
                    let part = &mut pixel[self.channel_offset..self.channel_offset + cb];
                    part.iter_mut().zip(add).for_each(|(x, y)| *x += y);
                }
                out
            }
            BinaryKind::Mul => a.iter().zip(b).map(|(x, y)| x * y).collect(),
        };
        self.epilogue.apply(&mut out, ca);
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::tflite::Activation;

    fn run(
        op: &Binary,
        a: (&[f32], &[usize]),
        b: (&[f32], &[usize]),
    ) -> candle_core::Result<Vec<f32>> {
        let (storage, _) = op.cpu_fwd(
            &CpuStorage::F32(a.0.to_vec()),
            &Layout::contiguous(a.1),
            &CpuStorage::F32(b.0.to_vec()),
            &Layout::contiguous(b.1),
        )?;
        Ok(storage.as_slice::<f32>()?.to_vec())
    }

    #[test]
    fn add_with_a_folded_channel_pad_equals_add_of_the_padded_tensor() {
        let a: Vec<f32> = (0..2 * 3 * 4).map(|i| i as f32 - 10.0).collect();
        let b: Vec<f32> = (0..2 * 3 * 2).map(|i| 0.5 * i as f32).collect();
        let op = Binary {
            kind: BinaryKind::Add,
            channel_offset: 1,
            epilogue: Epilogue::Activation(Activation::Relu),
            per_channel: false,
        };
        let got = run(&op, (&a, &[1, 2, 3, 4]), (&b, &[1, 2, 3, 2])).unwrap();
        for p in 0..6 {
            for c in 0..4 {
                let padded = if (1..3).contains(&c) {
                    b[p * 2 + c - 1]
                } else {
                    0.0
                };
                assert_eq!(
                    got[p * 4 + c],
                    (a[p * 4 + c] + padded).max(0.0),
                    "pixel {p} channel {c}"
                );
            }
        }
        // The second input must fit inside the first's channels, and MUL never pads.
        assert!(run(&op, (&a, &[1, 2, 3, 4]), (&a, &[1, 2, 3, 4])).is_err());
        let mul = Binary {
            kind: BinaryKind::Mul,
            channel_offset: 0,
            epilogue: Epilogue::Activation(Activation::None),
            per_channel: false,
        };
        assert!(run(&mul, (&a, &[1, 2, 3, 4]), (&b, &[1, 2, 3, 2])).is_err());
        assert_eq!(
            run(&mul, (&b, &[1, 2, 3, 2]), (&b, &[1, 2, 3, 2])).unwrap(),
            b.iter().map(|x| x * x).collect::<Vec<_>>()
        );
    }

    #[test]
    fn per_channel_vector_applies_to_every_pixel_in_either_order() {
        let x: Vec<f32> = (0..2 * 3 * 5).map(|i| i as f32 * 0.5 - 6.0).collect();
        let v: Vec<f32> = (0..5).map(|c| c as f32 - 1.5).collect();
        for kind in [BinaryKind::Add, BinaryKind::Mul] {
            let op = Binary {
                kind,
                channel_offset: 0,
                epilogue: Epilogue::Activation(Activation::Relu),
                per_channel: true,
            };
            let want: Vec<f32> = x
                .iter()
                .enumerate()
                .map(|(i, &a)| match kind {
                    BinaryKind::Add => a + v[i % 5],
                    BinaryKind::Mul => a * v[i % 5],
                })
                .map(|r| r.max(0.0))
                .collect();
            let tensor = (&x[..], &[1, 2, 3, 5][..]);
            let vector = (&v[..], &[1, 1, 1, 5][..]);
            assert_eq!(run(&op, tensor, vector).unwrap(), want, "{kind:?}");
            assert_eq!(run(&op, vector, tensor).unwrap(), want, "{kind:?} swapped");
            // A vector of another length is an error.
            assert!(run(&op, tensor, (&v[..4], &[1, 1, 1, 4])).is_err());
        }
    }
}
