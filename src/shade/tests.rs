//! End-to-end checks on real portraits with real MediaPipe meshes, synthetic charts and casts.

use super::*;
use crate::color::chart::tests::{chart_at, paint_chart};
use crate::color::space::{bradford_cast_matrix, linear_to_srgb8, srgb8_to_linear};

struct Portrait {
    img: RgbImage,
    mesh: Vec<[f32; 3]>,
}

fn portrait(name: &str) -> Portrait {
    let (jpg, mesh): (&[u8], &str) = match name {
        "biden" => (
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/shade/face_biden_480.jpg"
            )),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/shade/face_biden_480.mesh.json"
            )),
        ),
        _ => (
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/shade/face_woman_480.jpg"
            )),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/shade/face_woman_480.mesh.json"
            )),
        ),
    };
    let v: serde_json::Value = serde_json::from_str(mesh).unwrap();
    let mesh = v["mesh"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let p = p.as_array().unwrap();
            [0, 1, 2].map(|k| p[k].as_f64().unwrap() as f32)
        })
        .collect();
    Portrait {
        img: image::load_from_memory(jpg).unwrap().to_rgb8(),
        mesh,
    }
}

/// Re-lights a picture: Bradford cast from D65 to `white`, exposure gain, 8-bit re-encoding.
///
/// The exposure is capped so that the cast alone clips nothing (as auto-exposure would do):
/// clipping destroys colour that no correction can bring back, which is a different test.
fn cast(img: &RgbImage, white: [f64; 3], exposure: f64) -> RgbImage {
    let m = bradford_cast_matrix(white);
    let peak = m
        .iter()
        .map(|r| r.iter().map(|v| v.max(0.0)).sum::<f64>())
        .fold(0.0, f64::max);
    let exposure = exposure.min(1.0 / peak);
    let mut out = img.clone();
    for p in out.pixels_mut() {
        let l = srgb8_to_linear(p.0);
        let c: [f64; 3] =
            std::array::from_fn(|r| exposure * (m[r][0] * l[0] + m[r][1] * l[1] + m[r][2] * l[2]));
        p.0 = linear_to_srgb8(c);
    }
    out
}

/// Illuminants (XYZ of the white, Y = 1; CIE 1931 2°) with the exposure used for each.
const CASTS: [(&str, [f64; 3], f64); 6] = [
    ("A", [1.09850, 1.0, 0.35585], 0.8),
    ("D50", [0.96422, 1.0, 0.82521], 1.0),
    ("D55", [0.95682, 1.0, 0.92149], 0.9),
    ("D75", [0.94972, 1.0, 1.22638], 0.85),
    ("F2", [0.99187, 1.0, 0.67395], 0.9),
    ("F11", [1.00962, 1.0, 0.64350], 0.95),
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn real_mesh_regions_sample_skin_on_two_portraits() {
    let cat = Catalog::builtin().unwrap();
    for name in ["biden", "woman"] {
        let p = portrait(name);
        let report = analyse(&p.img, &p.mesh, cat, &ShadeOptions::default()).unwrap();
        eprintln!("{name}: {}", serde_json::to_string(&report.skin).unwrap());
        eprintln!(
            "{name}: {:?} conf {} {:?}",
            report.correction, report.confidence, report.warnings
        );
        eprintln!("{name}: regions {:?}", report.regions);
        eprintln!(
            "{name}: best {:?} blend {:?}",
            report.matches.first(),
            report.blend
        );
        assert!(!report.correction.chart_found);
        assert!(report.warnings.contains(&Warning::NoChart));
        assert!(report.confidence <= 0.5);
        assert!(report.regions.iter().filter(|r| r.used).count() >= 3);
        // Both are light-skinned sitters (DESIGN/SOURCES): skin-like hue and a light ITA class.
        assert!((35.0..80.0).contains(&report.skin.hue_deg), "{name}");
        assert!(report.skin.ita > 10.0, "{name}");
        assert_eq!(report.matches.len(), 5);
        let swatch = draw_swatch(&p.img, &FaceRegions::from_mesh(&p.mesh).unwrap(), &report);
        assert_eq!(swatch.height(), 480);
    }
}

#[test]
fn mesh_of_wrong_size_is_an_error() {
    let p = portrait("biden");
    let cat = Catalog::builtin().unwrap();
    assert!(matches!(
        analyse(&p.img, &p.mesh[..100], cat, &ShadeOptions::default()),
        Err(Error::MeshSize(100))
    ));
}

#[test]
fn chart_corrected_skin_is_stable_under_illuminant_casts() {
    let cat = Catalog::builtin().unwrap();
    for name in ["biden", "woman"] {
        let p = portrait(name);
        let mut scene = p.img.clone();
        let (w, h) = (f64::from(scene.width()), f64::from(scene.height()));
        // A chart held low beside the face, tilted and in perspective.
        let corners = [
            [0.04 * w, 0.70 * h],
            [0.36 * w, 0.66 * h],
            [0.38 * w, 0.86 * h],
            [0.05 * w, 0.88 * h],
        ];
        paint_chart(&mut scene, &chart_at(corners));
        let base = analyse(&scene, &p.mesh, cat, &ShadeOptions::default()).unwrap();
        assert!(base.correction.chart_found, "{name}: chart not found");
        for (c, t) in base.correction.chart_corners.unwrap().iter().zip(corners) {
            assert!(
                (c[0] - t[0]).hypot(c[1] - t[1]) < 3.0,
                "{name}: corner {c:?} vs {t:?}"
            );
        }
        let uncast_estimate = analyse(&p.img, &p.mesh, cat, &no_chart()).unwrap();
        let mut with_chart = Vec::new();
        let mut consistency = Vec::new();
        let mut absolute = Vec::new();
        for (ill, white, exposure) in CASTS {
            let lit = cast(&scene, white, exposure);
            let r = analyse(&lit, &p.mesh, cat, &ShadeOptions::default()).unwrap();
            assert!(r.correction.chart_found, "{name} {ill}: chart lost");
            with_chart.push(r.skin.lab.de00(&base.skin.lab));
            let e = analyse(&cast(&p.img, white, exposure), &p.mesh, cat, &no_chart()).unwrap();
            assert_eq!(e.correction.method, CorrectionMethod::Estimate);
            assert!(e.confidence < r.confidence);
            consistency.push(e.skin.lab.de00(&uncast_estimate.skin.lab));
            absolute.push(e.skin.lab.de00(&base.skin.lab));
            eprintln!(
                "{name} {ill}: chart {:.2} ({:?}, fit {:.2}); no chart: vs uncast {:.2}, vs chart truth {:.2}",
                with_chart.last().unwrap(),
                r.correction.model.unwrap(),
                r.correction.residual_de00.unwrap(),
                consistency.last().unwrap(),
                absolute.last().unwrap()
            );
        }
        let worst = with_chart.iter().copied().fold(0.0, f64::max);
        let (m_chart, m_cons, m_abs) = (median(with_chart), median(consistency), median(absolute));
        eprintln!("{name}: chart median {m_chart:.2} worst {worst:.2}; no chart median {m_cons:.2} (vs truth {m_abs:.2})");
        // Targets of issue 6.
        assert!(
            m_chart <= 1.0 && worst <= 2.0,
            "{name}: chart median {m_chart} worst {worst}"
        );
        assert!(m_cons <= 3.0, "{name}: no-chart median {m_cons}");
        // Absolute accuracy without a chart depends on the scene; the white-backdrop portrait
        // has a light surface to anchor on, the other (dark panelling, clipped shirt) does not.
        if name == "woman" {
            assert!(m_abs <= 3.0, "{name}: no-chart vs truth {m_abs}");
        }
    }
}

fn no_chart() -> ShadeOptions {
    ShadeOptions {
        find_chart: false,
        ..ShadeOptions::default()
    }
}

#[test]
fn caller_corners_give_the_same_chart() {
    let p = portrait("biden");
    let mut scene = p.img.clone();
    let corners = [[30.0, 340.0], [170.0, 320.0], [180.0, 410.0], [25.0, 420.0]];
    paint_chart(&mut scene, &chart_at(corners));
    let cat = Catalog::builtin().unwrap();
    let auto = analyse(&scene, &p.mesh, cat, &ShadeOptions::default()).unwrap();
    let given = analyse(
        &scene,
        &p.mesh,
        cat,
        &ShadeOptions {
            corners: Some(corners),
            ..ShadeOptions::default()
        },
    )
    .unwrap();
    assert!(auto.skin.lab.de00(&given.skin.lab) < 0.3);
    let face = FaceRegions::from_mesh(&p.mesh).unwrap();
    let swatch = draw_swatch(&scene, &face, &given);
    // The chart outline is drawn in yellow beside the face.
    assert!(swatch.pixels().any(|px| px.0 == [250, 210, 0]));
    if let Ok(dir) = std::env::var("SWATCH_DIR") {
        swatch.save(format!("{dir}/swatch_chart.png")).unwrap();
    }
    assert!(given.correction.residual_de00.unwrap() < 1.0);
}

#[test]
fn bad_exposure_and_small_faces_are_named() {
    let cat = Catalog::builtin().unwrap();
    let p = portrait("woman");
    let brighten = |f: f32| {
        let mut b = p.img.clone();
        for px in b.pixels_mut() {
            px.0 = px.0.map(|v| (f32::from(v) * f).min(255.0) as u8);
        }
        b
    };
    // Blown out: no skin left to measure (the API answers 422).
    assert!(matches!(
        analyse(&brighten(2.0), &p.mesh, cat, &no_chart()),
        Err(Error::NoSkin)
    ));
    let r = analyse(&brighten(1.08), &p.mesh, cat, &no_chart()).unwrap();
    assert!(
        r.warnings.contains(&Warning::SkinOverexposed),
        "{:?}",
        r.warnings
    );
    let plain = analyse(&p.img, &p.mesh, cat, &no_chart()).unwrap();
    assert!(r.confidence < plain.confidence);

    let mut dark = p.img.clone();
    for px in dark.pixels_mut() {
        px.0 = px.0.map(|v| v / 8);
    }
    let r = analyse(&dark, &p.mesh, cat, &no_chart()).unwrap();
    assert!(
        r.warnings.contains(&Warning::SkinUnderexposed),
        "{:?}",
        r.warnings
    );

    let s = 0.25;
    let small = image::imageops::resize(&p.img, 96, 120, image::imageops::FilterType::Triangle);
    let mesh: Vec<[f32; 3]> = p
        .mesh
        .iter()
        .map(|q| [q[0] * s, q[1] * s, q[2] * s])
        .collect();
    let r = analyse(&small, &mesh, cat, &no_chart()).unwrap();
    assert!(
        r.warnings.contains(&Warning::FaceTooSmall),
        "{:?}",
        r.warnings
    );
}
