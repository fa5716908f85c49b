//! Element-wise activations in one pass (candle would need several passes, each allocating).

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

use super::{activate, check_len, contiguous_f32};
use crate::runtime::tflite::Activation;

/// Which function a [`Unary`] op applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryKind {
    /// A clamp-style activation.
    Activation(Activation),
    /// x * relu6(x + 3) / 6.
    HardSwish,
    /// 1 / (1 + exp(-x)).
    Logistic,
}

/// Applies a [`UnaryKind`] to every element of an f32 tensor.
#[derive(Debug, Clone, Copy)]
pub struct Unary(pub UnaryKind);

impl CustomOp1 for Unary {
    fn name(&self) -> &'static str {
        "unary"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let mut out = contiguous_f32(storage, layout, self.name())?.to_vec();
        match self.0 {
            UnaryKind::Activation(a) => activate(&mut out, a),
            UnaryKind::HardSwish => out
                .iter_mut()
                .for_each(|v| *v = *v * (*v + 3.0).clamp(0.0, 6.0) / 6.0),
            UnaryKind::Logistic => out.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
        }
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// PRELU with one alpha per channel (last dimension): max(x, 0) + alpha * min(x, 0).
#[derive(Debug, Clone)]
pub struct Prelu {
    /// Slope of the negative part, per channel.
    pub alpha: Vec<f32>,
}

impl CustomOp1 for Prelu {
    fn name(&self) -> &'static str {
        "prelu"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let channels = layout.shape().dims().last().copied().unwrap_or(1);
        check_len(self.name(), "alpha", self.alpha.len(), channels)?;
        let mut out = contiguous_f32(storage, layout, self.name())?.to_vec();
        for pixel in out.chunks_exact_mut(channels.max(1)) {
            for (v, &a) in pixel.iter_mut().zip(&self.alpha) {
                // Branch-free so the loop vectorises.
                *v = v.max(0.0) + a * v.min(0.0);
            }
        }
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}
