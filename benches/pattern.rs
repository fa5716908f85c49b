//! Pattern area benches: a made-to-measure shirt drafted and exported in five formats, and a
//! 12-size GB/T 1335 graded shirt set drafted and exported as one DXF-AAMA file.

use std::collections::BTreeMap;

use atelier::pattern::{draft, export, export_graded, grade, Body, Format};
use criterion::{criterion_group, criterion_main, Criterion};

/// Sizes of a 5·4 A run, 160-185 cm with two chests per height.
pub const TWELVE_SIZES: [&str; 12] = [
    "160/80A", "160/84A", "165/84A", "165/88A", "170/88A", "170/92A", "175/92A", "175/96A",
    "180/96A", "180/100A", "185/100A", "185/104A",
];

fn body() -> Body {
    let json = br#"{"stature":172,"neck_girth":38,"chest_girth":96,"waist_girth":84,
        "hip_girth":98,"shoulder_breadth":40,"across_back":38,"back_waist_length":45,
        "arm_length":60,"upper_arm_girth":31,"wrist_girth":17}"#;
    Body::from_json(json).expect("bench body is valid")
}

fn shirt_five_formats(c: &mut Criterion) {
    let body = body();
    let options = BTreeMap::new();
    c.bench_function("pattern/shirt_draft_and_5_exports", |b| {
        b.iter(|| {
            let p = draft("shirt", &body, &options).expect("drafts");
            for f in [
                Format::Svg,
                Format::Pdf,
                Format::DxfAama,
                Format::Hpgl,
                Format::Json,
            ] {
                std::hint::black_box(export(&p, f).expect("exports"));
            }
        })
    });
}

fn graded_twelve_sizes(c: &mut Criterion) {
    let options = BTreeMap::new();
    c.bench_function("pattern/shirt_12_sizes_graded_dxf", |b| {
        b.iter(|| {
            let set = grade("shirt", &TWELVE_SIZES, &options).expect("grades");
            std::hint::black_box(export_graded(&set, Format::DxfAama).expect("exports"));
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = shirt_five_formats, graded_twelve_sizes
}
criterion_main!(benches);
