//! NHWC zero padding in one pass (candle pads one dimension at a time, each a full copy).

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

use super::contiguous_f32;

/// Zero padding of a 4-D NHWC tensor: `(before, after)` for height, width and channels.
#[derive(Debug, Clone)]
pub struct Pad4 {
    /// Rows added above and below.
    pub height: (usize, usize),
    /// Columns added left and right.
    pub width: (usize, usize),
    /// Channels added before and after.
    pub channels: (usize, usize),
}

impl CustomOp1 for Pad4 {
    fn name(&self) -> &'static str {
        "pad-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(storage, layout, self.name())?;
        let (n, h, w, c) = layout.shape().dims4()?;
        let oh = h + self.height.0 + self.height.1;
        let ow = w + self.width.0 + self.width.1;
        let oc = c + self.channels.0 + self.channels.1;
        let mut out = vec![0f32; n * oh * ow * oc];
        for (r, src) in input.chunks_exact(c.max(1)).enumerate() {
            let b = r / (h * w);
            let y = (r / w) % h + self.height.0;
            let x = r % w + self.width.0;
            let dst = ((b * oh + y) * ow + x) * oc + self.channels.0;
            out[dst..dst + c].copy_from_slice(src);
        }
        Ok((CpuStorage::F32(out), Shape::from((n, oh, ow, oc))))
    }
}
