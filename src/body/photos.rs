//! From two photos (the photo path of AI 量体): the pose pipeline finds the person's silhouette and
//! landmarks in each photo; breadths and depths come from the silhouettes, shoulder and armpit
//! heights from the front silhouette at the landmarks, all scaled by the stated height. Photos are
//! only read, never kept.

use image::RgbImage;

use super::features::{
    estimate_from_features, silhouette, silhouette_features, Feature, MaskFeatures, Reading, View,
};
use super::measures::api_to_ansur;
use super::model::{BodyModel, Sex};
use super::predict::{observation, Estimate, Warning};
use super::silhouette::{Mask, Silhouette};
use super::{Error, Result};
use crate::vision::{Landmark, PoseResult, Vision};

/// Assumed noise (sd, cm) of the shoulder (acromion) height read at the silhouette's top edge above
/// the pose model's shoulder joint: the skin over the acromion and the joint's offset from it. Not
/// yet calibrated on paired photo/tape data.
pub const ACROMION_SD_CM: f64 = 2.0;

/// Assumed noise (sd, cm) of the armpit height read where the gap between arm and trunk closes.
pub const AXILLA_SD_CM: f64 = 2.5;

/// Landmarks are used only when at least this visible and present.
const MIN_VISIBILITY: f32 = 0.5;

/// In the side photo, shoulder separation above this share of the shoulder-to-hip length means the
/// person is not in profile (about 0.7 facing the camera, under 0.2 in profile).
const PROFILE_MAX_SHOULDER_RATIO: f32 = 0.35;

/// Plausible shoulder and armpit heights as shares of stature (ANSUR II 1st-99th percentile, widened).
const ACROMION_FRACTION: (f64, f64) = (0.76, 0.88);
const AXILLA_FRACTION: (f64, f64) = (0.66, 0.80);

// BlazePose landmark indices.
const NOSE: usize = 0;
const SHOULDERS: [usize; 2] = [11, 12];
const ELBOWS: [usize; 2] = [13, 14];
const HIPS: [usize; 2] = [23, 24];
const HEELS: [usize; 2] = [29, 30];

/// The measurement set from two photos, with what was found in each (for the overlay picture).
#[derive(Debug, Clone)]
pub struct PhotoMeasurement {
    /// Every measurement with its uncertainty, and the warnings.
    pub estimate: Estimate,
    /// Landmarks and segmentation of the front photo.
    pub front: PoseResult,
    /// Landmarks and segmentation of the side photo.
    pub side: PoseResult,
    /// Where each value was read, in pixels of its photo.
    pub readings: Vec<Reading>,
}

/// Measures a person from a front and a side photo and the stated height (+ weight, sex).
///
/// The two photos run through the pose pipeline at the same time (one thread each), since a request
/// waits for both.
pub fn measure_photos(
    vision: &Vision,
    model: &BodyModel,
    front: &RgbImage,
    side: &RgbImage,
    stature_cm: f64,
    weight_kg: Option<f64>,
    sex: Option<Sex>,
) -> Result<PhotoMeasurement> {
    let (front_pose, side_pose) = std::thread::scope(|s| {
        let side_job = s.spawn(|| vision.pose.detect(side));
        let front_pose = vision.pose.detect(front);
        let side_pose = side_job
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (front_pose, side_pose)
    });
    let front_pose = front_pose.map_err(|source| Error::Vision {
        view: "front",
        source,
    })?;
    let side_pose = side_pose.map_err(|source| Error::Vision {
        view: "side",
        source,
    })?;
    let front_silhouette = silhouette(&person_mask(&front_pose, View::Front)?, View::Front)?;
    let side_silhouette = silhouette(&person_mask(&side_pose, View::Side)?, View::Side)?;
    if let Some(view) = cut_off_view([
        (&front_silhouette, &front_pose, View::Front),
        (&side_silhouette, &side_pose, View::Side),
    ]) {
        return Err(Error::Unmeasurable {
            view: view_name(view),
            code: "body_cut_off",
            message:
                "the head or the feet are outside the photo, so the stated height cannot scale it; \
                      photograph the whole body, head to feet"
                    .into(),
        });
    }
    let mut read =
        silhouette_features(model, &front_silhouette, &side_silhouette, stature_cm, sex)?;
    let front_landmarks = front_pose.landmarks.as_deref().unwrap_or_default();
    let side_landmarks = side_pose.landmarks.as_deref().unwrap_or_default();
    landmark_heights(&front_silhouette, front_landmarks, stature_cm, &mut read);
    landmark_checks(
        &front_silhouette,
        front_landmarks,
        side_landmarks,
        &mut read.warnings,
    );
    refuse_implausible(model, &read)?;
    let mut estimate = estimate_from_features(model, stature_cm, weight_kg, sex, &read.features)?;
    let mut warnings = read.warnings;
    warnings.append(&mut estimate.warnings);
    estimate.warnings = dedup(warnings);
    Ok(PhotoMeasurement {
        estimate,
        front: front_pose,
        side: side_pose,
        readings: read.readings,
    })
}

/// A silhouette no real body has (a photo that is not of a standing person, or badly segmented)
/// would give wrong numbers: refuse it (422) instead of warning.
fn refuse_implausible(model: &BodyModel, read: &MaskFeatures) -> Result<()> {
    for f in &read.features {
        let value = api_to_ansur(f.value_cm);
        if observation(model, &f.column, value, 0.0, 0).is_err() {
            let view = if f.column.ends_with("depth") {
                "side"
            } else {
                "front"
            };
            return Err(Error::Unmeasurable {
                view,
                code: "implausible_silhouette",
                message: format!(
                    "the silhouette gives a {} of {:.1} cm, which no adult body measures: stand straight, \
                     whole body in view, {} to the camera, against a plain background",
                    f.column,
                    f.value_cm,
                    if view == "side" { "in profile" } else { "facing" }
                ),
            });
        }
    }
    Ok(())
}

/// The person mask of a pose result (probability >= 0.5), or the "no person" error.
fn person_mask(pose: &PoseResult, view: View) -> Result<Mask> {
    let name = view_name(view);
    match (&pose.segmentation, &pose.landmarks) {
        (Some(mask), Some(_)) => {
            let gray = mask.to_gray_image();
            Mask::from_luma(gray.width() as usize, gray.height() as usize, gray.as_raw())
        }
        _ => Err(Error::NoPerson { view: name }),
    }
}

fn view_name(view: View) -> &'static str {
    match view {
        View::Front => "front",
        View::Side => "side",
    }
}

fn usable(landmarks: &[Landmark], i: usize) -> Option<&Landmark> {
    landmarks
        .get(i)
        .filter(|l| l.visibility >= MIN_VISIBILITY && l.presence >= MIN_VISIBILITY)
}

/// Silhouette position (reduced-mask pixels) of a landmark, when it lies on the mask.
fn on_silhouette(s: &Silhouette, l: &Landmark) -> Option<(usize, usize)> {
    let (x, y) = (f64::from(l.x) / s.scale, f64::from(l.y) / s.scale);
    (x >= 0.0 && y >= 0.0).then(|| (x.floor() as usize, y.floor() as usize))
}

/// Adds shoulder (acromion) and armpit heights read on the front silhouette at the landmarks: the
/// top edge above each shoulder joint, and where the gap between a free-hanging arm and the trunk
/// closes above each elbow. Values outside plausible shares of stature are left out.
fn landmark_heights(
    front: &Silhouette,
    landmarks: &[Landmark],
    stature_cm: f64,
    read: &mut MaskFeatures,
) {
    let k = front.scale;
    let mut shoulders = Vec::new();
    for i in SHOULDERS {
        let Some((x, y)) = usable(landmarks, i).and_then(|l| on_silhouette(front, l)) else {
            continue;
        };
        if let Some(top) = front.top_edge_above(x, y) {
            let fraction = front.fraction_at(top as f64);
            if (ACROMION_FRACTION.0..=ACROMION_FRACTION.1).contains(&fraction) {
                shoulders.push(fraction);
                read.readings.push(Reading {
                    column: "acromialheight".into(),
                    view: View::Front,
                    from: [(x as f64 + 0.5) * k, top as f64 * k],
                    to: [(x as f64 + 0.5) * k, (front.bottom + 1) as f64 * k],
                });
            }
        }
    }
    let mut armpits = Vec::new();
    for i in ELBOWS {
        let Some((x, y)) = usable(landmarks, i).and_then(|l| on_silhouette(front, l)) else {
            continue;
        };
        if let Some((row, column)) = front.armpit(x, y) {
            let fraction = front.fraction_at(row as f64);
            if (AXILLA_FRACTION.0..=AXILLA_FRACTION.1).contains(&fraction) {
                armpits.push(fraction);
                read.readings.push(Reading {
                    column: "axillaheight".into(),
                    view: View::Front,
                    from: [column * k, row as f64 * k],
                    to: [column * k, (front.bottom + 1) as f64 * k],
                });
            }
        }
    }
    for (column, fractions, sd_cm) in [
        ("acromialheight", shoulders, ACROMION_SD_CM),
        ("axillaheight", armpits, AXILLA_SD_CM),
    ] {
        if !fractions.is_empty() {
            let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
            read.features.push(Feature {
                column: column.into(),
                value_cm: mean * stature_cm,
                sd_cm,
            });
        }
    }
}

fn warning(code: &str, message: &str) -> Warning {
    Warning {
        code: code.into(),
        message: message.into(),
    }
}

/// With photos the scale comes from the head-to-feet height, so a photo that cuts off the head or
/// the feet (the silhouette touches the frame, or their landmarks lie outside it) cannot be
/// measured: the first such view, if any.
fn cut_off_view(views: [(&Silhouette, &PoseResult, View); 2]) -> Option<View> {
    views.into_iter().find_map(|(silhouette, pose, view)| {
        let landmarks = pose.landmarks.as_deref().unwrap_or_default();
        let inside = |l: &Landmark| {
            l.presence >= MIN_VISIBILITY
                && (0.0..pose.width as f32).contains(&l.x)
                && (0.0..pose.height as f32).contains(&l.y)
        };
        let missing = std::iter::once(NOSE)
            .chain(HEELS)
            .any(|i| landmarks.get(i).is_none_or(|l| !inside(l)));
        (silhouette.cut_off || missing).then_some(view)
    })
}

/// Quality checks the landmarks make possible beyond the silhouettes': elbows against the
/// trunk, a side photo not in profile.
fn landmark_checks(
    front: &Silhouette,
    front_landmarks: &[Landmark],
    side_landmarks: &[Landmark],
    warnings: &mut Vec<Warning>,
) {
    let arms_touch = ELBOWS.iter().any(|&i| {
        usable(front_landmarks, i)
            .and_then(|l| on_silhouette(front, l))
            .is_some_and(|(x, y)| {
                let span = front.span_at_row(y);
                (span.left..span.right).contains(&(x as f64))
            })
    });
    if arms_touch {
        warnings.push(warning(
            "arms_against_body",
            "an elbow touches the trunk in the front photo: hold the arms a little away from the body \
             (A-pose)",
        ));
    }
    let point = |i: usize| usable(side_landmarks, i).map(|l| (l.x, l.y));
    if let (Some(s0), Some(s1), Some(h0), Some(h1)) = (
        point(SHOULDERS[0]),
        point(SHOULDERS[1]),
        point(HIPS[0]),
        point(HIPS[1]),
    ) {
        let mid_shoulder = ((s0.0 + s1.0) / 2.0, (s0.1 + s1.1) / 2.0);
        let mid_hip = ((h0.0 + h1.0) / 2.0, (h0.1 + h1.1) / 2.0);
        let trunk = (mid_shoulder.0 - mid_hip.0).hypot(mid_shoulder.1 - mid_hip.1);
        if trunk > 0.0 && (s0.0 - s1.0).abs() / trunk > PROFILE_MAX_SHOULDER_RATIO {
            warnings.push(warning(
                "side_not_in_profile",
                "both shoulders are apart in the side photo: turn 90 degrees so the camera sees the \
                 body in profile",
            ));
        }
    }
}

/// Keeps the first warning of each code.
fn dedup(warnings: Vec<Warning>) -> Vec<Warning> {
    let mut seen = std::collections::BTreeSet::new();
    warnings
        .into_iter()
        .filter(|w| seen.insert(w.code.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use image::{imageops, Rgb};

    use super::*;
    use crate::vision::testutil::{fixture, models_dir};

    fn vision() -> &'static Vision {
        static VISION: OnceLock<Vision> = OnceLock::new();
        VISION.get_or_init(|| {
            let dir = models_dir();
            Vision::load(&dir, &candle_core::Device::Cpu).unwrap_or_else(|e| panic!("{e}"))
        })
    }

    fn photo(name: &str) -> RgbImage {
        image::open(fixture(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .into_rgb8()
    }

    fn measure(front: &RgbImage, side: &RgbImage) -> PhotoMeasurement {
        let model = BodyModel::bundled().unwrap_or_else(|e| panic!("{e}"));
        measure_photos(vision(), &model, front, side, 175.0, None, Some(Sex::Male))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn value(m: &PhotoMeasurement, name: &str) -> f64 {
        m.estimate
            .measurements
            .iter()
            .find(|e| e.name.name() == name)
            .map_or(f64::NAN, |e| e.value())
    }

    /// The same person smaller in the frame: scaled down onto a canvas of the photo's size filled
    /// with the colour of its top-left corner (the wall).
    fn farther(img: &RgbImage, factor: f64) -> RgbImage {
        let (w, h) = img.dimensions();
        let small = imageops::resize(
            img,
            (f64::from(w) * factor) as u32,
            (f64::from(h) * factor) as u32,
            imageops::FilterType::Lanczos3,
        );
        let mut canvas = RgbImage::from_pixel(w, h, *img.get_pixel(2, 2));
        imageops::overlay(&mut canvas, &small, i64::from(w / 8), i64::from(h / 10));
        canvas
    }

    /// The person pasted on another background (a blue-grey gradient) using the pose mask.
    fn other_background(img: &RgbImage, pose: &PoseResult) -> RgbImage {
        let mask = pose.segmentation.as_ref().unwrap_or_else(|| panic!("mask"));
        let h = img.height().max(1);
        RgbImage::from_fn(img.width(), img.height(), |x, y| {
            let m = mask.get(x, y);
            let shade = (60 + 120 * y / h) as f32;
            let wall = [shade * 0.8, shade * 0.9, shade + 40.0];
            let p = img.get_pixel(x, y).0;
            Rgb(std::array::from_fn(|c| {
                (m * f32::from(p[c]) + (1.0 - m) * wall[c])
                    .round()
                    .clamp(0.0, 255.0) as u8
            }))
        })
    }

    #[test]
    fn photos_give_plausible_measurements_with_landmark_heights() {
        let m = measure(&photo("saif_front.png"), &photo("left_profile.png"));
        assert_eq!(m.estimate.measurements.len(), 18);
        for (name, range) in [
            ("chest_girth", 80.0..125.0),
            ("waist_girth", 65.0..120.0),
            ("hip_girth", 80.0..120.0),
            ("shoulder_breadth", 35.0..50.0),
        ] {
            let v = value(&m, name);
            assert!(range.contains(&v), "{name} {v}");
        }
        for column in [
            "stature",
            "chestbreadth",
            "buttockdepth",
            "acromialheight",
            "axillaheight",
        ] {
            assert!(
                m.readings.iter().any(|r| r.column == column),
                "{column} not read: {:?}",
                m.readings
            );
        }
        assert!(m.estimate.warnings.is_empty(), "{:?}", m.estimate.warnings);
        // Readings lie inside their photos.
        for r in &m.readings {
            let (w, h) = match r.view {
                View::Front => (m.front.width, m.front.height),
                View::Side => (m.side.width, m.side.height),
            };
            for [x, y] in [r.from, r.to] {
                assert!(
                    x >= 0.0 && x <= f64::from(w) && y >= 0.0 && y <= f64::from(h),
                    "{r:?}"
                );
            }
        }
    }

    #[test]
    fn farther_away_smaller_mirrored_or_another_background_agree_within_1cm() {
        let (front, side) = (photo("saif_front.png"), photo("left_profile.png"));
        let reference = measure(&front, &side);
        let resize = |img: &RgbImage, factor: f64| {
            imageops::resize(
                img,
                (f64::from(img.width()) * factor) as u32,
                (f64::from(img.height()) * factor) as u32,
                imageops::FilterType::Lanczos3,
            )
        };
        let variants = [
            ("farther away", farther(&front, 0.75), farther(&side, 0.75)),
            ("higher resolution", resize(&front, 1.5), resize(&side, 1.5)),
            (
                "mirrored",
                imageops::flip_horizontal(&front),
                imageops::flip_horizontal(&side),
            ),
            (
                "another background",
                other_background(&front, &reference.front),
                other_background(&side, &reference.side),
            ),
        ];
        for (what, f, s) in variants {
            let other = measure(&f, &s);
            for (a, b) in reference
                .estimate
                .measurements
                .iter()
                .zip(&other.estimate.measurements)
            {
                assert!(
                    (a.value() - b.value()).abs() < 1.0,
                    "{what}: {} {:.2} vs {:.2}",
                    a.name.name(),
                    a.value(),
                    b.value()
                );
            }
        }
    }

    #[test]
    fn a_cut_off_or_implausible_photo_is_refused_naming_the_view() {
        let model = BodyModel::bundled().unwrap_or_else(|e| panic!("{e}"));
        let front = photo("saif_front.png");
        let refused = |side: &str| {
            measure_photos(vision(), &model, &front, &photo(side), 175.0, None, None).err()
        };
        // A head-and-shoulders portrait: the feet are outside the photo.
        let err = refused("biden_portrait.png");
        assert!(
            matches!(
                err,
                Some(Error::Unmeasurable {
                    view: "side",
                    code: "body_cut_off",
                    ..
                })
            ),
            "{err:?}"
        );
        // A second front photo as the side one: its "depth" is a breadth with arms, far beyond
        // any adult's chest depth.
        let err = refused("ramzan_front.png");
        assert!(
            matches!(
                err,
                Some(Error::Unmeasurable {
                    view: "side",
                    code: "implausible_silhouette",
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_photo_without_a_person_is_a_named_error() {
        let empty = RgbImage::from_pixel(360, 640, Rgb([200, 200, 190]));
        let model = BodyModel::bundled().unwrap_or_else(|e| panic!("{e}"));
        let err = measure_photos(
            vision(),
            &model,
            &photo("saif_front.png"),
            &empty,
            175.0,
            None,
            None,
        )
        .err();
        assert!(
            matches!(err, Some(Error::NoPerson { view: "side" })),
            "{err:?}"
        );
    }
}
