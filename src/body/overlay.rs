//! The picture a shop checks a measurement by: both views side by side, the person's silhouette
//! tinted, the pose skeleton, and a coloured line where each value was read.
//!
//! Colours: height white, chest red, waist green, hip blue, shoulder height yellow, armpit height
//! magenta (the README's legend).

use image::{imageops, Rgb, RgbImage};

use super::features::{Reading, View};
use super::photos::PhotoMeasurement;
use super::silhouette::Mask;
use crate::vision::overlay::{draw_pose, stroke, thick_line};

/// Height of each view in the composed picture, unless both photos are smaller.
const MAX_VIEW_HEIGHT: u32 = 1280;

/// Background between and around the views.
const GAP_COLOUR: Rgb<u8> = Rgb([32, 32, 32]);

/// Line colour of a reading, by the body level of its ANSUR column.
fn colour(column: &str) -> Rgb<u8> {
    match column {
        "stature" => Rgb([255, 255, 255]),
        c if c.starts_with("chest") => Rgb([235, 50, 50]),
        c if c.starts_with("waist") => Rgb([40, 200, 70]),
        c if c.starts_with("hip") || c.starts_with("buttock") => Rgb([50, 110, 255]),
        "acromialheight" => Rgb([255, 220, 0]),
        "axillaheight" => Rgb([230, 60, 230]),
        _ => Rgb([255, 150, 0]),
    }
}

/// Both photos with silhouette, skeleton and readings, side by side.
pub fn draw_photos(front: &RgbImage, side: &RgbImage, measured: &PhotoMeasurement) -> RgbImage {
    compose(
        [
            draw_pose(front, &measured.front),
            draw_pose(side, &measured.side),
        ],
        &measured.readings,
    )
}

/// Both masks (person light grey on dark) with readings, side by side.
pub fn draw_masks(front: &Mask, side: &Mask, readings: &[Reading]) -> RgbImage {
    let render = |m: &Mask| {
        RgbImage::from_fn(m.width() as u32, m.height() as u32, |x, y| {
            if m.is_person(x as usize, y as usize) {
                Rgb([150, 150, 150])
            } else {
                Rgb([16, 16, 16])
            }
        })
    };
    compose([render(front), render(side)], readings)
}

/// Draws each reading on its view, scales both views to one height and joins them.
fn compose(mut views: [RgbImage; 2], readings: &[Reading]) -> RgbImage {
    for (view, image) in [View::Front, View::Side].into_iter().zip(views.iter_mut()) {
        let r = (stroke(image) / 2).max(1);
        for reading in readings.iter().filter(|r| r.view == view) {
            let at = |p: [f64; 2]| (p[0] as f32, p[1] as f32);
            thick_line(
                image,
                at(reading.from),
                at(reading.to),
                r,
                colour(&reading.column),
            );
        }
    }
    let height = views
        .iter()
        .map(|v| v.height())
        .max()
        .unwrap_or(1)
        .min(MAX_VIEW_HEIGHT);
    let scaled: Vec<RgbImage> = views
        .iter()
        .map(|v| {
            let width = (u64::from(v.width()) * u64::from(height) / u64::from(v.height().max(1)))
                .max(1) as u32;
            imageops::resize(v, width, height, imageops::FilterType::Triangle)
        })
        .collect();
    let gap = (height / 50).max(4);
    let width = scaled.iter().map(|v| v.width()).sum::<u32>() + 3 * gap;
    let mut out = RgbImage::from_pixel(width, height + 2 * gap, GAP_COLOUR);
    let mut x = gap;
    for view in &scaled {
        imageops::replace(&mut out, view, i64::from(x), i64::from(gap));
        x += view.width() + gap;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_mask(w: usize, h: usize, x0: usize, x1: usize) -> Mask {
        let luma: Vec<u8> = (0..w * h)
            .map(|i| if (x0..x1).contains(&(i % w)) { 255 } else { 0 })
            .collect();
        Mask::from_luma(w, h, &luma).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn readings_are_drawn_in_their_colour_on_their_view() {
        let front = block_mask(100, 200, 30, 70);
        let side = block_mask(60, 200, 20, 40);
        let readings = [
            Reading {
                column: "chestbreadth".into(),
                view: View::Front,
                from: [30.0, 60.0],
                to: [70.0, 60.0],
            },
            Reading {
                column: "waistdepth".into(),
                view: View::Side,
                from: [20.0, 100.0],
                to: [40.0, 100.0],
            },
        ];
        let out = draw_masks(&front, &side, &readings);
        // Views keep their height (200 <= MAX_VIEW_HEIGHT) and sit `gap` pixels apart.
        let gap = 4;
        assert_eq!(out.height(), 200 + 2 * gap);
        assert_eq!(out.width(), 100 + 60 + 3 * gap);
        assert_eq!(*out.get_pixel(gap + 50, gap + 60), colour("chestbreadth"));
        assert_eq!(
            *out.get_pixel(2 * gap + 100 + 30, gap + 100),
            colour("waistdepth")
        );
        // Person and background elsewhere.
        assert_eq!(*out.get_pixel(gap + 50, gap + 150), Rgb([150, 150, 150]));
        assert_eq!(*out.get_pixel(gap + 10, gap + 150), Rgb([16, 16, 16]));
    }
}
