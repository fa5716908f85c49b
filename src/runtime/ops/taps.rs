//! Which taps of a filter land inside the input, for the register-blocked kernels (direct and
//! depthwise convolution): inner pixels take every tap with no bounds logic, edge pixels only
//! the taps these ranges give.

/// The geometry of one strided, dilated, padded filter over an input.
#[derive(Clone, Copy, Debug)]
pub(super) struct Taps {
    /// Input height and width.
    pub input: (usize, usize),
    /// Output height and width.
    pub out: (usize, usize),
    /// Filter height and width.
    pub filter: (usize, usize),
    /// Vertical and horizontal stride.
    pub stride: (usize, usize),
    /// Vertical and horizontal dilation.
    pub dilation: (usize, usize),
    /// Zeros before the first row and column.
    pub pad: (usize, usize),
}

impl Taps {
    /// Filter rows inside the input for output row `oy` of image `b`: `(ky, index of the
    /// input row's first pixel)`.
    pub fn rows_of(&self, b: usize, oy: usize, rows: &mut Vec<(usize, usize)>) {
        let (h, w) = self.input;
        rows.clear();
        rows.extend((0..self.filter.0).filter_map(|ky| {
            (oy * self.stride.0 + ky * self.dilation.0)
                .checked_sub(self.pad.0)
                .filter(|&iy| iy < h)
                .map(|iy| (ky, (b * h + iy) * w))
        }));
    }

    /// Filter columns inside the input for output column `ox`, as an inclusive range.
    pub fn columns_of(&self, ox: usize) -> Option<(usize, usize)> {
        let (sw, dw) = (self.stride.1, self.dilation.1);
        let start = ox * sw;
        let lo = self.pad.1.saturating_sub(start).div_ceil(dw);
        let hi = (self.input.1 + self.pad.1)
            .checked_sub(start)?
            .div_ceil(dw)
            .min(self.filter.1);
        (lo < hi).then(|| (lo, hi - 1))
    }

    /// Output columns whose every filter tap lands inside the input.
    pub fn inner_columns(&self) -> (usize, usize) {
        let (sw, dw) = (self.stride.1, self.dilation.1);
        let ow = self.out.1;
        let span = (self.filter.1 - 1) * dw;
        let lo = self.pad.1.div_ceil(sw).min(ow);
        let hi = (self.input.1 + self.pad.1)
            .checked_sub(span + 1)
            .map_or(0, |last| last / sw + 1)
            .clamp(lo, ow);
        (lo, hi)
    }
}
