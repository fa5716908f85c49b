//! Any bytes given to the model loader are a model or an error, never a panic, and a model that
//! loads runs (or refuses its input) without panicking.
#![no_main]

use atelier::runtime::Model;
use candle_core::{DType, Device, Tensor};
use libfuzzer_sys::fuzz_target;

/// Inputs above this many elements are not run (the loader accepted a huge declared shape).
const MAX_INPUT_ELEMENTS: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::from_bytes(data, &Device::Cpu) else {
        return;
    };
    let inputs: Option<Vec<Tensor>> = model
        .inputs()
        .iter()
        .map(|info| {
            let n = info
                .shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))?;
            if n > MAX_INPUT_ELEMENTS {
                return None;
            }
            Tensor::ones(info.shape.clone(), DType::F32, &Device::Cpu).ok()
        })
        .collect();
    if let Some(inputs) = inputs {
        let _ = model.forward(&inputs);
    }
});
