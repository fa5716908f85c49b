//! The swatch picture: sampled regions drawn on the face, skin colour beside the matched shades.

use image::{imageops, Rgb, RgbImage};

use super::skin::FaceRegions;
use super::ShadeReport;
use crate::color::chart::outline_from_corners;
use crate::color::space::parse_hex;

const HEIGHT: u32 = 480;
const PANEL: u32 = 220;

/// Draws the photo (scaled to 480 px high) with the sampled regions outlined in green, excluded
/// parts in red and the chart in yellow; on the right, the skin colour on top, then one bar per
/// match (swatch colour beside a bar whose length shrinks with ΔE00), then the blend if any.
pub fn draw_swatch(img: &RgbImage, face: &FaceRegions, report: &ShadeReport) -> RgbImage {
    let scale = f64::from(HEIGHT) / f64::from(img.height().max(1));
    let w = ((f64::from(img.width()) * scale).round() as u32).max(1);
    let photo = imageops::resize(img, w, HEIGHT, imageops::FilterType::Triangle);
    let mut out = RgbImage::from_pixel(w + PANEL, HEIGHT, Rgb([245, 245, 245]));
    imageops::replace(&mut out, &photo, 0, 0);
    let scaled = |poly: &[[f64; 2]]| -> Vec<[f64; 2]> {
        poly.iter().map(|p| [p[0] * scale, p[1] * scale]).collect()
    };
    for (region, sample) in face.regions.iter().zip(&report.regions) {
        let colour = if sample.used {
            Rgb([40, 220, 60])
        } else {
            Rgb([150, 150, 150])
        };
        draw_polygon(&mut out, &scaled(&region.polygon), colour);
    }
    for poly in &face.excluded {
        draw_polygon(&mut out, &scaled(poly), Rgb([220, 50, 50]));
    }
    if let Some(c) = report.correction.chart_corners {
        draw_polygon(
            &mut out,
            &scaled(&outline_from_corners(&c)),
            Rgb([250, 210, 0]),
        );
    }
    let colour = |hex: &str| Rgb(parse_hex(hex).unwrap_or([0, 0, 0]));
    let x0 = w + 10;
    fill(&mut out, x0, 10, PANEL - 20, 90, colour(&report.skin.hex));
    let mut y = 110;
    for m in &report.matches {
        fill(&mut out, x0, y, 60, 36, colour(&m.hex));
        // Bar: full width at 0 ΔE00, empty at 10.
        let len = ((1.0 - m.de00 / 10.0).clamp(0.0, 1.0) * f64::from(PANEL - 90)) as u32;
        fill(&mut out, x0 + 70, y + 12, len, 12, Rgb([90, 90, 90]));
        y += 44;
        if y + 40 > HEIGHT {
            return out;
        }
    }
    if let Some(b) = &report.blend {
        let half = (PANEL - 20) / 3;
        fill(&mut out, x0, y, half, 36, colour(&b.shades[0].hex));
        fill(&mut out, x0 + half, y, half, 36, colour(&b.hex));
        fill(
            &mut out,
            x0 + 2 * half,
            y,
            half,
            36,
            colour(&b.shades[1].hex),
        );
    }
    out
}

fn fill(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, c: Rgb<u8>) {
    for yy in y..(y + h).min(img.height()) {
        for xx in x..(x + w).min(img.width()) {
            img.put_pixel(xx, yy, c);
        }
    }
}

fn draw_polygon(img: &mut RgbImage, poly: &[[f64; 2]], c: Rgb<u8>) {
    for (i, a) in poly.iter().enumerate() {
        if let Some(b) = poly.get((i + 1) % poly.len()) {
            draw_line(img, *a, *b, c);
        }
    }
}

fn draw_line(img: &mut RgbImage, a: [f64; 2], b: [f64; 2], c: Rgb<u8>) {
    let steps = (b[0] - a[0])
        .abs()
        .max((b[1] - a[1]).abs())
        .ceil()
        .clamp(1.0, 10_000.0) as usize;
    for s in 0..=steps {
        let t = s as f64 / steps as f64;
        let (x, y) = (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t);
        if x >= 0.0 && y >= 0.0 && x < f64::from(img.width()) && y < f64::from(img.height()) {
            img.put_pixel(x as u32, y as u32, c);
        }
    }
}
