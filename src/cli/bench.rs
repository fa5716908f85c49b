//! `atelier bench compare`: each model on the reference runtime (LiteRT with XNNPACK, 1 thread)
//! and on atelier, same inputs, same machine, same run, so the ratios mean something on a noisy
//! machine. The reference runs in a venv this command makes when missing, pinned to the versions
//! the conformance goldens were made with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use atelier::config::Config;
use atelier::models::{self, FetchOptions, Manifest};
use atelier::runtime::Model;
use candle_core::{Device, Tensor};
use clap::{Args, Subcommand};
use serde::Serialize;

/// The reference timing script, embedded so the command also works from an installed binary.
const LITERT_SCRIPT: &str = include_str!("../../tools/bench_litert.py");
/// Pinned reference runtime (the conformance goldens' versions).
const LITERT_REQUIREMENTS: &str = include_str!("../../tools/runtime_requirements.txt");
/// Untimed runs before measuring (allocations, caches).
const WARMUP: usize = 3;

/// `atelier bench ...`.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time every model on LiteRT/XNNPACK and on atelier (batch 1 and batch N) in one run.
    Compare(CompareArgs),
}

/// `atelier bench compare`.
#[derive(Args)]
pub struct CompareArgs {
    /// Timed runs per model and batch (the median is reported).
    #[arg(long, default_value_t = 20)]
    repeats: usize,
    /// The larger batch whose per-image time is reported.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Print `{"<model>": {"reference_ms", "atelier_b1_ms", "atelier_b16_per_image_ms"}}`.
    #[arg(long)]
    json: bool,
    /// The reference venv (default: `<cache>/litert-venv`, made when missing).
    #[arg(long)]
    venv: Option<PathBuf>,
}

/// One model's times, in milliseconds.
#[derive(Debug, Serialize)]
struct Times {
    reference_ms: f64,
    atelier_b1_ms: f64,
    atelier_b16_per_image_ms: f64,
}

/// Runs a `bench` subcommand.
pub fn run(command: BenchCommand, config: &Config) -> Result<()> {
    let BenchCommand::Compare(args) = command;
    // candle's matrix products size their thread pool from RAYON_NUM_THREADS when it starts, so
    // one thread (as the reference gets) must be set before this process does any maths: rerun
    // this command with it set.
    if std::env::var("RAYON_NUM_THREADS").as_deref() != Ok("1") {
        let status = Command::new(std::env::current_exe().context("finding this program")?)
            .args(std::env::args_os().skip(1))
            .env("RAYON_NUM_THREADS", "1")
            .status()
            .context("rerunning with one thread")?;
        if !status.success() {
            bail!("bench compare failed ({status})");
        }
        return Ok(());
    }
    if args.repeats == 0 || args.batch == 0 {
        bail!("--repeats and --batch must be at least 1");
    }
    let opts = FetchOptions {
        progress: !args.json,
        ..FetchOptions::new(&config.models_dir)
    };
    models::ensure(&opts)?;
    let stems: Vec<String> = Manifest::builtin()?
        .files
        .iter()
        .map(|f| f.name.trim_end_matches(".tflite").to_owned())
        .collect();
    let venv = args
        .venv
        .clone()
        .unwrap_or_else(|| opts.cache_dir.join("litert-venv"));
    let python = reference_venv(&venv, &opts.python)?;
    let reference = reference_times(&python, &config.models_dir, args.repeats, &stems)?;
    let mut table = BTreeMap::new();
    for stem in &stems {
        let path = config.models_dir.join(format!("{stem}.tflite"));
        let model = Model::load(&path, &Device::Cpu)
            .with_context(|| format!("loading {}", path.display()))?;
        let b1 = median_ms(&model, 1, args.repeats)?;
        let bn = median_ms(&model, args.batch, args.repeats)? / args.batch as f64;
        let reference_ms = *reference
            .get(stem)
            .with_context(|| format!("the reference did not time {stem}"))?;
        table.insert(
            stem.clone(),
            Times {
                reference_ms,
                atelier_b1_ms: b1,
                atelier_b16_per_image_ms: bn,
            },
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&table)?);
    } else {
        println!(
            "| model | LiteRT ms | atelier batch 1 ms | ratio | atelier batch {} ms/image | ratio |",
            args.batch
        );
        println!("|---|---|---|---|---|---|");
        for (stem, t) in &table {
            println!(
                "| {stem} | {:.2} | {:.2} | {:.2}x | {:.2} | {:.2}x |",
                t.reference_ms,
                t.atelier_b1_ms,
                t.atelier_b1_ms / t.reference_ms,
                t.atelier_b16_per_image_ms,
                t.atelier_b16_per_image_ms / t.reference_ms
            );
        }
    }
    Ok(())
}

/// The venv's python, after making the venv and installing the pinned reference when missing.
fn reference_venv(venv: &Path, python: &str) -> Result<PathBuf> {
    let bin = venv.join("bin").join("python");
    let stamp = venv.join("atelier-requirements.txt");
    if bin.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(LITERT_REQUIREMENTS)
    {
        return Ok(bin);
    }
    eprintln!(
        "making the reference venv in {} (ai-edge-litert, pinned)",
        venv.display()
    );
    let ok = |what: &str, status: std::io::Result<std::process::ExitStatus>| -> Result<()> {
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => bail!("{what} failed ({s})"),
            Err(e) => {
                bail!("{what}: {e}; install Python 3 with venv and pip, or set ATELIER_PYTHON")
            }
        }
    };
    ok(
        "python3 -m venv",
        Command::new(python).args(["-m", "venv"]).arg(venv).status(),
    )?;
    let requirements = venv.join("requirements.txt");
    std::fs::write(&requirements, LITERT_REQUIREMENTS)
        .with_context(|| format!("writing {}", requirements.display()))?;
    ok(
        "pip install ai-edge-litert",
        Command::new(&bin)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(&requirements)
            .status(),
    )?;
    std::fs::write(&stamp, LITERT_REQUIREMENTS)
        .with_context(|| format!("writing {}", stamp.display()))?;
    Ok(bin)
}

/// Runs the embedded LiteRT script: median ms per model stem.
fn reference_times(
    python: &Path,
    models_dir: &Path,
    repeats: usize,
    stems: &[String],
) -> Result<BTreeMap<String, f64>> {
    // The venv is ours, so the script lives there (python is venv/bin/python).
    let script = python.parent().and_then(Path::parent).map_or_else(
        || PathBuf::from("bench_litert.py"),
        |v| v.join("bench_litert.py"),
    );
    std::fs::write(&script, LITERT_SCRIPT)
        .with_context(|| format!("writing {}", script.display()))?;
    let out = Command::new(python)
        .arg(&script)
        .arg(models_dir)
        .arg(repeats.to_string())
        .args(stems)
        .output()
        .context("running the reference")?;
    if !out.status.success() {
        bail!(
            "the reference run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("reading the reference's times")
}

/// Median forward time (ms) of `model` at `batch`, on the same ramp input the reference gets.
fn median_ms(model: &Model, batch: usize, repeats: usize) -> Result<f64> {
    let inputs: Vec<Tensor> = model
        .inputs()
        .iter()
        .map(|info| {
            let mut shape = info.shape.clone();
            if let Some(first) = shape.first_mut() {
                *first = batch;
            }
            let n: usize = shape.iter().product();
            let per_image = n / batch.max(1);
            let data: Vec<f32> = (0..n)
                .map(|i| ((i % per_image) % 255) as f32 / 255.0)
                .collect();
            Tensor::from_vec(data, shape, &Device::Cpu)
        })
        .collect::<candle_core::Result<_>>()?;
    let mut times = Vec::with_capacity(repeats);
    for i in 0..WARMUP + repeats {
        let start = Instant::now();
        let outputs = model.forward(&inputs)?;
        // Reading the outputs back, as the reference does.
        for t in &outputs {
            t.flatten_all()?.to_vec1::<f32>()?;
        }
        if i >= WARMUP {
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
