//! Drawings of pipeline results on the photo, for people to look at.

use super::face::FaceResult;
use super::image::Mask;
use super::pose::PoseResult;
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_circle_mut, draw_hollow_rect_mut};
use imageproc::rect::Rect;

/// Bones of the BlazePose skeleton (MediaPipe's `POSE_CONNECTIONS`).
pub const POSE_CONNECTIONS: [(usize, usize); 35] = [
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 7),
    (0, 4),
    (4, 5),
    (5, 6),
    (6, 8),
    (9, 10),
    (11, 12),
    (11, 13),
    (13, 15),
    (15, 17),
    (15, 19),
    (15, 21),
    (17, 19),
    (12, 14),
    (14, 16),
    (16, 18),
    (16, 20),
    (16, 22),
    (18, 20),
    (11, 23),
    (12, 24),
    (23, 24),
    (23, 25),
    (24, 26),
    (25, 27),
    (26, 28),
    (27, 29),
    (28, 30),
    (29, 31),
    (30, 32),
    (27, 31),
    (28, 32),
];

/// Points MediaPipe's drawing utilities would hide (likely occluded or outside).
const MIN_VISIBILITY: f32 = 0.5;

const BONE: Rgb<u8> = Rgb([255, 255, 255]);
const LEFT: Rgb<u8> = Rgb([255, 138, 0]);
const RIGHT: Rgb<u8> = Rgb([0, 217, 231]);
const MASK_TINT: Rgb<u8> = Rgb([90, 200, 90]);
const FACE_BOX: Rgb<u8> = Rgb([255, 64, 64]);
const MESH: Rgb<u8> = Rgb([64, 255, 64]);

/// Stroke width in pixels for an image of this size.
pub fn stroke(image: &RgbImage) -> i32 {
    (image.width().min(image.height()) / 250).clamp(1, 8) as i32
}

/// A thick line as overlapping discs, since imageproc's lines are 1 px wide.
pub fn thick_line(
    image: &mut RgbImage,
    a: (f32, f32),
    b: (f32, f32),
    radius: i32,
    colour: Rgb<u8>,
) {
    let length = (b.0 - a.0).hypot(b.1 - a.1);
    let steps = (length / (radius.max(1) as f32 * 0.5))
        .ceil()
        .clamp(1.0, 10_000.0) as usize;
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        let x = a.0 + (b.0 - a.0) * t;
        let y = a.1 + (b.1 - a.1) * t;
        draw_filled_circle_mut(image, (x.round() as i32, y.round() as i32), radius, colour);
    }
}

/// Tints the pixels where `mask` >= 0.5.
fn tint(image: &mut RgbImage, mask: &Mask) {
    for (x, y, p) in image.enumerate_pixels_mut() {
        let m = mask.get(x, y);
        if m >= 0.5 {
            for (c, t) in p.0.iter_mut().zip(MASK_TINT.0) {
                *c = ((f32::from(*c) + f32::from(t)) / 2.0).round() as u8;
            }
        }
    }
}

/// Draws the segmentation (tinted), skeleton and landmarks on a copy of `image`.
pub fn draw_pose(image: &RgbImage, pose: &PoseResult) -> RgbImage {
    let mut out = image.clone();
    if let Some(mask) = &pose.segmentation {
        tint(&mut out, mask);
    }
    let Some(landmarks) = &pose.landmarks else {
        return out;
    };
    let r = stroke(image);
    let shown = |i: usize| {
        landmarks
            .get(i)
            .filter(|l| l.visibility >= MIN_VISIBILITY && l.presence >= MIN_VISIBILITY)
            .map(|l| (l.x, l.y))
    };
    for &(a, b) in &POSE_CONNECTIONS {
        if let (Some(pa), Some(pb)) = (shown(a), shown(b)) {
            thick_line(&mut out, pa, pb, (r / 2).max(1), BONE);
        }
    }
    for i in 0..landmarks.len() {
        if let Some((x, y)) = shown(i) {
            // Odd indices past the face are the left side of the body.
            let colour = if i > 10 && i % 2 == 1 { LEFT } else { RIGHT };
            draw_filled_circle_mut(
                &mut out,
                (x.round() as i32, y.round() as i32),
                r + 1,
                colour,
            );
        }
    }
    out
}

/// Draws face boxes, detector keypoints and mesh points on a copy of `image`.
pub fn draw_faces(image: &RgbImage, faces: &FaceResult) -> RgbImage {
    let mut out = image.clone();
    let r = stroke(image);
    for face in &faces.faces {
        if let Some(mesh) = &face.mesh {
            for p in mesh {
                draw_filled_circle_mut(
                    &mut out,
                    (p[0].round() as i32, p[1].round() as i32),
                    (r / 2).max(1),
                    MESH,
                );
            }
        }
        let b = &face.bbox;
        if b.w >= 1.0 && b.h >= 1.0 {
            for k in 0..r {
                let rect = Rect::at(b.x.round() as i32 - k, b.y.round() as i32 - k).of_size(
                    b.w.round() as u32 + 2 * k as u32,
                    b.h.round() as u32 + 2 * k as u32,
                );
                draw_hollow_rect_mut(&mut out, rect, FACE_BOX);
            }
        }
        for k in &face.keypoints {
            draw_filled_circle_mut(
                &mut out,
                (k[0].round() as i32, k[1].round() as i32),
                r + 1,
                FACE_BOX,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::face::{Face, FaceBox};
    use crate::vision::pose::Landmark;

    #[test]
    fn draws_visible_bones_only() {
        let image = RgbImage::new(100, 100);
        let mut landmarks = vec![
            Landmark {
                x: 0.0,
                y: 0.0,
                z: 0.0,
                visibility: 0.0,
                presence: 0.0
            };
            33
        ];
        landmarks[11] = Landmark {
            x: 20.0,
            y: 50.0,
            z: 0.0,
            visibility: 0.9,
            presence: 0.9,
        };
        landmarks[12] = Landmark {
            x: 80.0,
            ..landmarks[11]
        };
        let pose = PoseResult {
            width: 100,
            height: 100,
            landmarks: Some(landmarks),
            world_landmarks: None,
            segmentation: None,
        };
        let out = draw_pose(&image, &pose);
        assert_eq!(*out.get_pixel(50, 50), BONE);
        assert_eq!(*out.get_pixel(20, 50), LEFT);
        assert_eq!(*out.get_pixel(0, 0), Rgb([0, 0, 0]));
    }

    #[test]
    fn draws_face_box_and_mesh() {
        let image = RgbImage::new(100, 100);
        let faces = FaceResult {
            width: 100,
            height: 100,
            faces: vec![Face {
                score: 0.9,
                bbox: FaceBox {
                    x: 10.0,
                    y: 10.0,
                    w: 50.0,
                    h: 50.0,
                },
                keypoints: vec![],
                mesh: Some(vec![[30.0, 30.0, 0.0]]),
            }],
        };
        let out = draw_faces(&image, &faces);
        assert_eq!(*out.get_pixel(10, 30), FACE_BOX);
        assert_eq!(*out.get_pixel(30, 30), MESH);
    }
}
