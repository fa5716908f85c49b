//! NHWC max and average pooling (TFLite semantics: padding never counts in an average).

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

use super::{activate, contiguous_f32, output_geometry};
use crate::runtime::tflite::{Activation, Window};

/// Which reduction a [`Pool`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// Maximum over the window.
    Max,
    /// Mean over the part of the window inside the image.
    Average,
}

/// 2-D pooling over an NHWC f32 tensor.
#[derive(Debug, Clone)]
pub struct Pool {
    /// Reduction.
    pub kind: PoolKind,
    /// Filter height.
    pub kh: usize,
    /// Filter width.
    pub kw: usize,
    /// Strides and padding.
    pub window: Window,
    /// Fused activation.
    pub activation: Activation,
}

impl CustomOp1 for Pool {
    fn name(&self) -> &'static str {
        "pool-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(storage, layout, self.name())?;
        let (n, h, w, c) = layout.shape().dims4()?;
        let win = &self.window;
        let too_small = || {
            candle_core::Error::Msg(format!(
                "{}: input {h}x{w} smaller than the filter",
                self.name()
            ))
        };
        let (oh, pad_top) =
            output_geometry(h, self.kh, win.stride_h, 1, win.padding).ok_or_else(too_small)?;
        let (ow, pad_left) =
            output_geometry(w, self.kw, win.stride_w, 1, win.padding).ok_or_else(too_small)?;
        let mut out = vec![0f32; n * oh * ow * c];
        for (r, pixel) in out.chunks_exact_mut(c.max(1)).enumerate() {
            let b = r / (oh * ow);
            let oy = (r / ow) % oh;
            let ox = r % ow;
            let y0 = (oy * win.stride_h).saturating_sub(pad_top);
            let y1 = (oy * win.stride_h + self.kh).saturating_sub(pad_top).min(h);
            let x0 = (ox * win.stride_w).saturating_sub(pad_left);
            let x1 = (ox * win.stride_w + self.kw)
                .saturating_sub(pad_left)
                .min(w);
            let init = match self.kind {
                PoolKind::Max => f32::NEG_INFINITY,
                PoolKind::Average => 0.0,
            };
            pixel.fill(init);
            for iy in y0..y1 {
                for ix in x0..x1 {
                    let src = ((b * h + iy) * w + ix) * c;
                    let x = &input[src..src + c];
                    match self.kind {
                        PoolKind::Max => pixel.iter_mut().zip(x).for_each(|(o, &v)| *o = o.max(v)),
                        PoolKind::Average => pixel.iter_mut().zip(x).for_each(|(o, &v)| *o += v),
                    }
                }
            }
            if self.kind == PoolKind::Average {
                let count = ((y1.saturating_sub(y0)) * (x1.saturating_sub(x0))).max(1) as f32;
                pixel.iter_mut().for_each(|o| *o /= count);
            }
            activate(pixel, self.activation);
        }
        Ok((CpuStorage::F32(out), Shape::from((n, oh, ow, c))))
    }
}
