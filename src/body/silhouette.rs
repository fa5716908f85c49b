//! Binary person masks (white person on black) and what can be read off them: the body's vertical
//! extent, its axis, and its width at a given height.
//!
//! All positions are in pixels; heights are given as a fraction of the body's pixel height measured from
//! the soles, so results do not depend on image size, distance to the camera or mirroring.

use std::collections::VecDeque;

use super::{Error, Result};

/// Luma above which a pixel belongs to the person.
const THRESHOLD: u8 = 128;

/// A person mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    width: usize,
    height: usize,
    person: Vec<bool>,
}

impl Mask {
    /// Builds a mask from 8-bit luma, row-major; pixels >= 128 are the person.
    pub fn from_luma(width: usize, height: usize, luma: &[u8]) -> Result<Mask> {
        if width == 0 || height == 0 || luma.len() != width * height {
            return Err(Error::Mask {
                context: "luma buffer".into(),
                message: format!("{} bytes for {width}x{height}", luma.len()),
            });
        }
        Ok(Mask {
            width,
            height,
            person: luma.iter().map(|&v| v >= THRESHOLD).collect(),
        })
    }

    /// Decodes a PNG (any colour type; luma decides) into a mask; `name` is used in errors.
    pub fn from_png(bytes: &[u8], name: &str) -> Result<Mask> {
        let image = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
            .map_err(|e| Error::Mask {
                context: name.into(),
                message: format!("not a readable PNG: {e}"),
            })?
            .into_luma8();
        let (w, h) = (image.width() as usize, image.height() as usize);
        Mask::from_luma(w, h, image.as_raw())
    }

    /// The mask shrunk by an integer factor so that its height is at most `max_height` (majority vote per
    /// block); measurements are relative to the person's pixel height, so they barely change, and a
    /// phone-sized mask is read several times faster.
    pub fn reduced(&self, max_height: usize) -> Mask {
        let k = self.height.div_ceil(max_height.max(1));
        if k <= 1 {
            return self.clone();
        }
        let (w, h) = (self.width / k, self.height / k);
        if w == 0 || h == 0 {
            return self.clone();
        }
        let mut person = Vec::with_capacity(w * h);
        let mut counts = vec![0usize; w];
        for block_row in self.person.chunks_exact(self.width * k).take(h) {
            counts.iter_mut().for_each(|c| *c = 0);
            for row in block_row.chunks_exact(self.width) {
                for (count, block) in counts.iter_mut().zip(row.chunks_exact(k)) {
                    *count += block.iter().filter(|&&p| p).count();
                }
            }
            person.extend(counts.iter().map(|&c| 2 * c >= k * k));
        }
        Mask {
            width: w,
            height: h,
            person,
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Whether pixel (x, y) is the person; outside the image is background.
    pub fn is_person(&self, x: usize, y: usize) -> bool {
        x < self.width
            && y < self.height
            && self
                .person
                .get(y * self.width + x)
                .copied()
                .unwrap_or(false)
    }

    /// Labels connected regions (4-neighbourhood); returns the labels and each region's pixel count.
    fn label_regions(&self) -> (Vec<usize>, Vec<usize>) {
        let mut label = vec![usize::MAX; self.person.len()];
        let mut sizes: Vec<usize> = Vec::new();
        let mut queue = VecDeque::new();
        for start in 0..self.person.len() {
            if !self.person.get(start).copied().unwrap_or(false)
                || label.get(start) != Some(&usize::MAX)
            {
                continue;
            }
            let id = sizes.len();
            let mut size = 0;
            queue.push_back(start);
            if let Some(l) = label.get_mut(start) {
                *l = id;
            }
            while let Some(p) = queue.pop_front() {
                size += 1;
                let (x, y) = (p % self.width, p / self.width);
                let neighbours = [
                    (x > 0).then(|| p - 1),
                    (x + 1 < self.width).then(|| p + 1),
                    (y > 0).then(|| p - self.width),
                    (y + 1 < self.height).then(|| p + self.width),
                ];
                for q in neighbours.into_iter().flatten() {
                    if self.person.get(q).copied().unwrap_or(false)
                        && label.get(q) == Some(&usize::MAX)
                    {
                        if let Some(l) = label.get_mut(q) {
                            *l = id;
                        }
                        queue.push_back(q);
                    }
                }
            }
            sizes.push(size);
        }
        (label, sizes)
    }

    /// The largest region as its own mask, its pixel count and the second largest region's count.
    fn largest_region(&self) -> Option<(Mask, usize, usize)> {
        let (label, sizes) = self.label_regions();
        let (best, &size) = sizes.iter().enumerate().max_by_key(|(_, s)| **s)?;
        let second = sizes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != best)
            .map(|(_, s)| *s)
            .max()
            .unwrap_or(0);
        let person = label.iter().map(|&l| l == best).collect();
        Some((
            Mask {
                width: self.width,
                height: self.height,
                person,
            },
            size,
            second,
        ))
    }
}

/// The person in a mask: the largest region, with its extent and axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Silhouette {
    mask: Mask,
    /// First row of the person (top of the head).
    pub top: usize,
    /// Last row of the person (soles).
    pub bottom: usize,
    /// Column of the body axis (centroid of the trunk rows).
    pub axis: f64,
    /// Whether the person touches the top or bottom image edge (head or feet may be cut off).
    pub cut_off: bool,
    /// Pixel count of the second largest region relative to the person (0 when alone).
    pub other_region_ratio: f64,
    /// Pixels of the original image per pixel of this (possibly reduced) mask.
    pub scale: f64,
}

/// Where a breadth or depth was read: a run of person pixels on one row (mask pixels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// The row drawn for the reading (the level's centre row, or the widest row of a band).
    pub row: usize,
    /// Left end (column of the first person pixel).
    pub left: f64,
    /// Right end (column after the last person pixel).
    pub right: f64,
    /// The width read, in pixels (a band mean may differ from `right - left`).
    pub width: f64,
}

impl Silhouette {
    /// Finds the person in a mask first shrunk to at most `max_height` rows (see [`Mask::reduced`]);
    /// [`Silhouette::scale`] maps positions back to the original mask.
    pub fn from_mask_reduced(mask: &Mask, max_height: usize, name: &str) -> Result<Silhouette> {
        let reduced = mask.reduced(max_height);
        let mut silhouette = Silhouette::from_mask(&reduced, name)?;
        silhouette.scale = mask.height as f64 / reduced.height as f64;
        Ok(silhouette)
    }

    /// Finds the person (largest region) in a mask.
    pub fn from_mask(mask: &Mask, name: &str) -> Result<Silhouette> {
        let Some((person, size, other)) = mask.largest_region() else {
            return Err(Error::Mask {
                context: name.into(),
                message: "no person (the mask is empty)".into(),
            });
        };
        let rows: Vec<usize> = (0..person.height)
            .filter(|&y| (0..person.width).any(|x| person.is_person(x, y)))
            .collect();
        let (Some(&top), Some(&bottom)) = (rows.first(), rows.last()) else {
            return Err(Error::Mask {
                context: name.into(),
                message: "no person (the mask is empty)".into(),
            });
        };
        if bottom - top < 50 {
            return Err(Error::Mask {
                context: name.into(),
                message: format!(
                    "person only {} pixels tall; need at least 50",
                    bottom - top + 1
                ),
            });
        }
        // Trunk rows (between 45 % and 75 % of the height from the soles) give an axis that arms and a
        // stride do not pull sideways.
        let span = (bottom - top) as f64;
        let (y0, y1) = (
            (bottom as f64 - 0.75 * span).round() as usize,
            (bottom as f64 - 0.45 * span).round() as usize,
        );
        let (mut sum, mut count) = (0.0, 0usize);
        for y in y0..=y1 {
            for x in 0..person.width {
                if person.is_person(x, y) {
                    sum += x as f64 + 0.5;
                    count += 1;
                }
            }
        }
        let axis = if count > 0 {
            sum / count as f64
        } else {
            person.width as f64 / 2.0
        };
        Ok(Silhouette {
            mask: person,
            top,
            bottom,
            axis,
            cut_off: top == 0 || bottom + 1 == mask.height,
            other_region_ratio: other as f64 / size.max(1) as f64,
            scale: 1.0,
        })
    }

    /// Height of the person in pixels (top of the top row to bottom of the bottom row).
    pub fn pixel_height(&self) -> f64 {
        (self.bottom - self.top + 1) as f64
    }

    /// Row at a height given as a fraction of the person's height above the soles.
    pub fn row_at(&self, fraction: f64) -> usize {
        let y = self.bottom as f64 + 1.0 - fraction * self.pixel_height();
        (y.floor().max(self.top as f64) as usize).min(self.bottom)
    }

    /// Trunk width (pixels) at height fraction `to`, following the trunk's edges row by row upwards from
    /// `from` (a lower level where arms hang free, e.g. the waist). Where an edge jumps outwards (an arm
    /// touching the trunk, as near the armpits in an A-pose) the edge is held at its last trunk position.
    pub fn trunk_width(&self, from: f64, to: f64) -> Span {
        let row = self.row_at(to);
        self.track_trunk(from, to)
            .map_or(Span::empty(row), |t| Span {
                row,
                left: t.left,
                right: t.right + 1.0,
                width: t.right - t.left + 1.0,
            })
    }

    fn track_trunk(&self, from: f64, to: f64) -> Option<TrunkTrack> {
        let start = self.row_at(from);
        let end = self.row_at(to);
        // Natural trunk edges move well under this per row; an arm joining moves them by its width.
        let jump = (0.006 * self.pixel_height()).max(2.0);
        let (left, right) = self.run_at_row(start)?;
        let mut t = TrunkTrack {
            left: left as f64,
            right: right as f64,
        };
        for y in (end.min(start)..start).rev() {
            let Some((l, r)) = self.run_at_row(y) else {
                break;
            };
            let (l, r) = (l as f64, r as f64);
            if t.left - l <= jump {
                t.left = l;
            }
            if r - t.right <= jump {
                t.right = r;
            }
        }
        Some(t)
    }

    /// Ends (inclusive columns) of the run of person pixels at row `y` through (or nearest to) the axis.
    fn run_at_row(&self, y: usize) -> Option<(usize, usize)> {
        let w = self.mask.width;
        let axis = (self.axis.floor().max(0.0) as usize).min(w.saturating_sub(1));
        let start = (0..w)
            .filter(|&x| self.mask.is_person(x, y))
            .min_by_key(|&x| x.abs_diff(axis))?;
        let mut left = start;
        while left > 0 && self.mask.is_person(left - 1, y) {
            left -= 1;
        }
        let mut right = start;
        while right + 1 < w && self.mask.is_person(right + 1, y) {
            right += 1;
        }
        Some((left, right))
    }

    /// The run of person pixels at row `y` that contains (or is nearest to) the axis.
    pub fn span_at_row(&self, y: usize) -> Span {
        self.run_at_row(y).map_or(Span::empty(y), |(l, r)| Span {
            row: y,
            left: l as f64,
            right: (r + 1) as f64,
            width: (r - l + 1) as f64,
        })
    }

    /// Mean width over rows whose height fraction lies within `centre +- half_band`, drawn at the
    /// centre row.
    pub fn mean_width(&self, centre: f64, half_band: f64) -> Span {
        let rows = self.band_rows(centre, half_band);
        let n = rows.len().max(1) as f64;
        let mean = rows
            .into_iter()
            .map(|y| self.span_at_row(y).width)
            .sum::<f64>()
            / n;
        Span {
            width: mean,
            ..self.span_at_row(self.row_at(centre))
        }
    }

    /// Largest width over rows within `centre +- half_band`, smoothed over 3 rows, drawn at the
    /// widest row.
    pub fn max_width(&self, centre: f64, half_band: f64) -> Span {
        let spans: Vec<Span> = self
            .band_rows(centre, half_band)
            .into_iter()
            .map(|y| self.span_at_row(y))
            .collect();
        let mut best = spans
            .first()
            .copied()
            .unwrap_or(Span::empty(self.row_at(centre)));
        for w in spans.windows(3) {
            if let [_, mid, _] = w {
                let smoothed = w.iter().map(|s| s.width).sum::<f64>() / 3.0;
                if smoothed > best.width {
                    best = Span {
                        width: smoothed,
                        ..*mid
                    };
                }
            }
        }
        best
    }

    fn band_rows(&self, centre: f64, half_band: f64) -> Vec<usize> {
        let a = self.row_at(centre + half_band);
        let b = self.row_at(centre - half_band);
        (a.min(b)..=a.max(b)).collect()
    }

    /// Height above the soles, as a fraction of the person's height, of the top of row `y`.
    pub fn fraction_at(&self, y: f64) -> f64 {
        (self.bottom as f64 + 1.0 - y) / self.pixel_height()
    }

    /// First row of the unbroken column of person pixels that runs up from (x, y): the body's top
    /// edge above that point (e.g. the top of the shoulder above the shoulder joint).
    pub fn top_edge_above(&self, x: usize, y: usize) -> Option<usize> {
        if !self.mask.is_person(x, y) {
            return None;
        }
        let mut top = y;
        while top > 0 && self.mask.is_person(x, top - 1) {
            top -= 1;
        }
        Some(top)
    }

    /// The armpit: starting from row `y` at an arm point `x` that hangs free of the trunk, follows the
    /// background gap between arm and trunk upwards to the last row where it is open.
    /// Returns that row and the gap's centre column there. `None` when the arm touches the trunk at
    /// row `y` or the gap never closes.
    pub fn armpit(&self, x: usize, y: usize) -> Option<(usize, f64)> {
        let (trunk_left, trunk_right) = self.run_at_row(y)?;
        let outward_right = x > trunk_right;
        if (trunk_left..=trunk_right).contains(&x) {
            return None;
        }
        // The gap on this row: background columns between the trunk's edge and the arm.
        let gap_at = |row: usize, near: usize| -> Option<(usize, usize)> {
            if self.mask.is_person(near, row) {
                return None;
            }
            let (mut a, mut b) = (near, near);
            while a > 0 && !self.mask.is_person(a - 1, row) {
                a -= 1;
            }
            while b + 1 < self.mask.width && !self.mask.is_person(b + 1, row) {
                b += 1;
            }
            // Open to the image edge means the arm is not there: not a gap between arm and trunk.
            (a > 0 && b + 1 < self.mask.width).then_some((a, b))
        };
        let start = if outward_right {
            trunk_right + 1
        } else {
            trunk_left.checked_sub(1)?
        };
        let (mut a, mut b) = gap_at(y, start)?;
        let mut row = y;
        while row > self.top {
            let centre = (a + b) / 2;
            match gap_at(row - 1, centre) {
                Some((na, nb)) if nb >= a && na <= b => {
                    (a, b) = (na, nb);
                    row -= 1;
                }
                _ => return Some((row, (a + b + 1) as f64 / 2.0)),
            }
        }
        None
    }
}

impl Span {
    fn empty(row: usize) -> Span {
        Span {
            row,
            left: 0.0,
            right: 0.0,
            width: 0.0,
        }
    }
}

/// Trunk edges followed upwards.
struct TrunkTrack {
    left: f64,
    right: f64,
}
