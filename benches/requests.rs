//! Whole requests as the service runs them, from encoded photo bytes to the answer: body
//! measurement from a front and a side photo (target under 150 ms) and shade matching on a face
//! photo (target under 50 ms). Run `cargo bench --bench requests`.

use std::path::PathBuf;

use atelier::body::model::{BodyModel, Sex};
use atelier::body::photos::measure_photos;
use atelier::models::{ensure, FetchOptions};
use atelier::shade::photo::analyse_photo;
use atelier::shade::{Catalog, ShadeOptions};
use atelier::vision::{decode, DecodeLimits, Vision};
use candle_core::Device;
use criterion::{criterion_group, criterion_main, Criterion};

fn fixture(path: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn requests(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    ensure(&FetchOptions::new(&dir)).expect("the benches need the models");
    let vision = Vision::load(&dir, &Device::Cpu).expect("pipelines load");
    let body = BodyModel::bundled().expect("body model");
    let catalog = Catalog::builtin().expect("catalog");
    let limits = DecodeLimits::default();
    let (front, side) = (
        fixture("vision/saif_front.png"),
        fixture("vision/left_profile.png"),
    );
    let face = fixture("shade/face_woman_480.jpg");

    let mut group = c.benchmark_group("request");
    group.sample_size(10);
    group.bench_function("measure_two_photos", |b| {
        b.iter(|| {
            let front = decode(&front, &limits).expect("front");
            let side = decode(&side, &limits).expect("side");
            measure_photos(
                &vision,
                &body,
                &front,
                &side,
                175.0,
                Some(72.0),
                Some(Sex::Male),
            )
            .expect("measured")
        })
    });
    group.bench_function("shade_match_photo", |b| {
        b.iter(|| {
            let img = decode(&face, &limits).expect("face");
            analyse_photo(&vision.face, &img, catalog, &ShadeOptions::default()).expect("matched")
        })
    });
    group.finish();
}

criterion_group!(benches, requests);
criterion_main!(benches);
