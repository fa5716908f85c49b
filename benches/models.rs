//! Inference benches: each of the five MediaPipe models at batch 1, 4 and 16, and the pose and
//! face pipelines end to end on real photos. Run `cargo bench --bench models`; compare with the
//! reference runtime on the same machine in the same run (see the README).

use std::path::PathBuf;

use atelier::models::{ensure, FetchOptions, Manifest};
use atelier::runtime::Model;
use atelier::vision::{self, DecodeLimits, Vision};
use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn models_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    ensure(&FetchOptions::new(&dir)).expect("the benches need the models");
    dir
}

fn models(c: &mut Criterion) {
    let dir = models_dir();
    let manifest = Manifest::builtin().expect("manifest");
    for file in &manifest.files {
        let model = Model::load(&dir.join(&file.name), &Device::Cpu).expect("model loads");
        let stem = file.name.trim_end_matches(".tflite");
        let mut group = c.benchmark_group(format!("model/{stem}"));
        group.sample_size(10);
        for batch in [1usize, 4, 16] {
            let inputs: Vec<Tensor> = model
                .inputs()
                .iter()
                .map(|info| {
                    let mut shape = info.shape.clone();
                    shape[0] = batch;
                    let n: usize = shape.iter().product();
                    let data: Vec<f32> = (0..n).map(|i| ((i % 255) as f32) / 255.0).collect();
                    Tensor::from_vec(data, shape, &Device::Cpu).expect("input tensor")
                })
                .collect();
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::from_parameter(batch), &inputs, |b, inputs| {
                b.iter(|| model.forward(inputs).expect("forward"))
            });
        }
        group.finish();
    }
}

fn pipelines(c: &mut Criterion) {
    let vision = Vision::load(&models_dir(), &Device::Cpu).expect("pipelines load");
    let fixture = |name: &str| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/vision")
            .join(name)
    };
    let body = vision::open(&fixture("saif_front.png"), &DecodeLimits::default()).expect("photo");
    let face =
        vision::open(&fixture("biden_portrait.png"), &DecodeLimits::default()).expect("photo");
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10);
    group.bench_function("pose_on_photo", |b| {
        b.iter(|| vision.pose.detect(&body).expect("pose"))
    });
    group.bench_function("face_and_mesh_on_photo", |b| {
        b.iter(|| vision.face.detect(&face).expect("face"))
    });
    group.finish();
}

criterion_group!(benches, models, pipelines);
criterion_main!(benches);
