//! Nesting bench: the overlap evaluation at the heart of the marker search, timed against
//! jagua-rs' own collision test of the same poses on the same marker (the reference: any
//! evaluation has to find what collides). Report the ratio of the two from one run; the absolute
//! times move with the machine.

use atelier::nest::{esicup, OverlapProbe};
use criterion::{criterion_group, criterion_main, Criterion};

/// Poses per iteration: enough that one iteration is a few milliseconds.
const POSES: usize = 2_000;

fn probe(name: &str) -> OverlapProbe {
    let path = format!(
        "{}/tests/fixtures/nest/{name}.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let xml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let problem = esicup::parse(&xml).unwrap_or_else(|e| panic!("{name}: {e}"));
    OverlapProbe::new(&problem, POSES, 1).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn overlap_evaluation(c: &mut Criterion) {
    for name in ["shirts", "swim", "dagli"] {
        let mut p = probe(name);
        let mut group = c.benchmark_group(format!("nest/{name}_{POSES}_poses"));
        group.bench_function("quantify (search)", |b| {
            b.iter(|| std::hint::black_box(p.quantify()))
        });
        group.bench_function("detect (jagua-rs, reference)", |b| {
            b.iter(|| std::hint::black_box(p.detect()))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = overlap_evaluation
}
criterion_main!(benches);
