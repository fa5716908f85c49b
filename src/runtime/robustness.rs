//! Malformed models are errors, never panics: a tiny model built with the generated flatbuffer
//! builders, every single-byte corruption and truncation of it, and random corruptions of a real
//! model. The same tiny model seeds the cargo-fuzz corpus in `fuzz/` (written by
//! `ATELIER_WRITE_FUZZ_SEED=1 cargo test fuzz_seed`; model files are not kept in git).

use candle_core::{Device, Tensor};

use super::tflite_subset_generated::tflite as fb;
use super::Model;

/// Where the fuzz corpus keeps the tiny model.
const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fuzz/corpus/tflite_parse/add_mul.tflite"
);

/// A two-op model, out = (x + c) * x with x: [1, 4] and c = [0.5, -1, 2, 0]; ADD carries a RELU.
fn tiny_model() -> Vec<u8> {
    let mut b = flatbuffers::FlatBufferBuilder::new();
    let constant: Vec<u8> = [0.5f32, -1.0, 2.0, 0.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let data = b.create_vector(&constant);
    let buffers = [
        fb::Buffer::create(&mut b, &fb::BufferArgs::default()),
        fb::Buffer::create(
            &mut b,
            &fb::BufferArgs {
                data: Some(data),
                ..Default::default()
            },
        ),
    ];
    let buffers = b.create_vector(&buffers);
    let mut tensor = |name: &str, buffer: u32| {
        let shape = b.create_vector(&[1i32, 4]);
        let name = b.create_string(name);
        fb::Tensor::create(
            &mut b,
            &fb::TensorArgs {
                shape: Some(shape),
                type_: fb::TensorType::FLOAT32,
                buffer,
                name: Some(name),
                ..Default::default()
            },
        )
    };
    let tensors = [
        tensor("x", 0),
        tensor("c", 1),
        tensor("sum", 0),
        tensor("out", 0),
    ];
    let tensors = b.create_vector(&tensors);
    let relu = fb::AddOptions::create(
        &mut b,
        &fb::AddOptionsArgs {
            fused_activation_function: fb::ActivationFunctionType::RELU,
        },
    );
    let mut operator = |opcode_index: u32, inputs: [i32; 2], output: i32, add: bool| {
        let inputs = b.create_vector(&inputs);
        let outputs = b.create_vector(&[output]);
        fb::Operator::create(
            &mut b,
            &fb::OperatorArgs {
                opcode_index,
                inputs: Some(inputs),
                outputs: Some(outputs),
                builtin_options_type: if add {
                    fb::BuiltinOptions::AddOptions
                } else {
                    fb::BuiltinOptions::NONE
                },
                builtin_options: add.then(|| relu.as_union_value()),
                ..Default::default()
            },
        )
    };
    let operators = [operator(0, [0, 1], 2, true), operator(1, [2, 0], 3, false)];
    let operators = b.create_vector(&operators);
    let (inputs, outputs) = (b.create_vector(&[0i32]), b.create_vector(&[3i32]));
    let graph = fb::SubGraph::create(
        &mut b,
        &fb::SubGraphArgs {
            tensors: Some(tensors),
            inputs: Some(inputs),
            outputs: Some(outputs),
            operators: Some(operators),
            ..Default::default()
        },
    );
    let subgraphs = b.create_vector(&[graph]);
    let codes = [0, 18].map(|code| {
        fb::OperatorCode::create(
            &mut b,
            &fb::OperatorCodeArgs {
                deprecated_builtin_code: code as i8,
                builtin_code: code,
                version: 1,
                ..Default::default()
            },
        )
    });
    let codes = b.create_vector(&codes);
    let model = fb::Model::create(
        &mut b,
        &fb::ModelArgs {
            version: 3,
            operator_codes: Some(codes),
            subgraphs: Some(subgraphs),
            buffers: Some(buffers),
            ..Default::default()
        },
    );
    fb::finish_model_buffer(&mut b, model);
    b.finished_data().to_vec()
}

/// Loads `bytes` and, when that succeeds, runs it at batch 1 and 2 with whatever input shape it
/// declares (capped); either step may fail, neither may panic.
fn load_and_run(bytes: &[u8]) {
    let Ok(model) = Model::from_bytes(bytes, &Device::Cpu) else {
        return;
    };
    for batch in [1usize, 2] {
        let inputs: Option<Vec<Tensor>> = model
            .inputs()
            .iter()
            .map(|info| {
                let mut shape = info.shape.clone();
                if let Some(first) = shape.first_mut() {
                    *first = batch;
                }
                let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
                (n <= 1 << 16)
                    .then(|| Tensor::ones(shape, candle_core::DType::F32, &Device::Cpu).ok())
                    .flatten()
            })
            .collect();
        if let Some(inputs) = inputs {
            let _ = model.forward(&inputs);
        }
    }
}

#[test]
fn the_tiny_model_runs_at_any_batch() {
    let model = Model::from_bytes(&tiny_model(), &Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
    let x = Tensor::new(
        &[[1.0f32, 2.0, -3.0, 4.0], [0.0, 1.0, 1.0, -1.0]],
        &Device::Cpu,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = model.forward(&[x]).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<Vec<f32>> = out[0].to_vec2().unwrap_or_else(|e| panic!("{e}"));
    // relu(x + c) * x
    assert_eq!(
        got,
        vec![vec![1.5, 2.0, 0.0, 16.0], vec![0.0, 0.0, 3.0, -0.0]]
    );
}

#[test]
fn the_fuzz_seed_is_the_tiny_model() {
    let built = tiny_model();
    if std::env::var_os("ATELIER_WRITE_FUZZ_SEED").is_some() {
        if let Some(dir) = std::path::Path::new(SEED).parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        std::fs::write(SEED, &built).unwrap_or_else(|e| panic!("{SEED}: {e}"));
    }
    // A seed left from an older tiny model would fuzz something else: it must be this one.
    if let Ok(committed) = std::fs::read(SEED) {
        assert!(
            committed == built,
            "{SEED} differs from the tiny model; rewrite it with ATELIER_WRITE_FUZZ_SEED=1 cargo test fuzz_seed"
        );
    }
}

#[test]
fn every_truncation_and_byte_corruption_of_the_tiny_model_is_handled() {
    let bytes = tiny_model();
    for cut in 0..bytes.len() {
        assert!(Model::from_bytes(&bytes[..cut], &Device::Cpu).is_err() || cut > 8);
        load_and_run(&bytes[..cut]);
    }
    let mut mutated = bytes.clone();
    for i in 0..bytes.len() {
        for value in [
            0x00,
            0xff,
            0x7f,
            0x80,
            bytes[i] ^ 0x01,
            bytes[i].wrapping_add(4),
        ] {
            mutated[i] = value;
            load_and_run(&mutated);
        }
        mutated[i] = bytes[i];
    }
}

#[test]
fn inputs_the_fuzzer_found_are_errors() {
    // The fuzzer's find: a table whose signed vtable offset is i32::MIN, which flatbuffers'
    // verifier negated with overflow. Rebuilt here on the first tensor of the tiny model.
    let mut bytes = tiny_model();
    let at = fb::root_as_model(&bytes)
        .ok()
        .and_then(|m| m.subgraphs())
        .and_then(|g| g.get(0).tensors())
        .map(|t| t.get(0)._tab.loc)
        .unwrap_or_else(|| panic!("the tiny model has a tensor"));
    bytes[at..at + 4].copy_from_slice(&i32::MIN.to_le_bytes());
    let err = Model::from_bytes(&bytes, &Device::Cpu).err();
    // With overflow checks (test builds) the verifier's negation panics and is caught; without
    // them (release) it wraps and the verifier itself rejects the offset. Either is an error.
    assert!(
        err.as_ref()
            .is_some_and(|e| matches!(e, crate::runtime::Error::Flatbuffer(_))
                || e.to_string().contains("flatbuffers verifier overflow")),
        "{err:?}"
    );
}

#[test]
fn random_corruptions_of_a_real_model_are_handled() {
    let path = crate::models::for_tests().join("face_detection_short_range.tflite");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // xorshift64: a fixed, dependency-free sequence, so a failure reproduces.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..200 {
        let mut mutated = bytes.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() % mutated.len() as u64) as usize;
            mutated[i] = next() as u8;
        }
        load_and_run(&mutated);
    }
}
