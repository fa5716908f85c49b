//! `atelier nest`: a cutting marker for an ESICUP strip-packing instance.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use atelier::nest::{self, esicup, Options};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

/// `atelier nest`.
#[derive(Args)]
pub struct NestArgs {
    /// ESICUP XML instance.
    #[arg(long)]
    instance: PathBuf,
    /// Time budget in seconds; the best marker found by then is written (or at the first Ctrl-C).
    #[arg(long, default_value_t = 60.0)]
    time_limit: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output layout JSON.
    #[arg(long)]
    out: PathBuf,
    /// Also draw the marker as SVG here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Threads of the search: every separation round runs on each [default: one per core]
    #[arg(long)]
    workers: Option<std::num::NonZeroUsize>,
}

/// Nests the instance within the time limit, showing progress.
pub fn run(args: NestArgs) -> Result<()> {
    let xml = std::fs::read_to_string(&args.instance)
        .with_context(|| format!("reading {}", args.instance.display()))?;
    let problem =
        esicup::parse(&xml).with_context(|| format!("instance {}", args.instance.display()))?;
    let bar = ProgressBar::new(1000);
    if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(250));
    let stop = nest::Stop::new();
    stop_on_interrupt(stop.clone());
    let layout = nest::nest_with_stop(
        &problem,
        &Options {
            time_limit: args.time_limit,
            seed: args.seed,
            workers: args
                .workers
                .or_else(|| std::thread::available_parallelism().ok())
                .map_or(1, |n| n.get()),
        },
        &stop,
        |p| {
            let done = p.elapsed.as_secs_f64() / p.time_limit.as_secs_f64().max(1e-9);
            bar.set_position((done.min(1.0) * 1000.0) as u64);
            bar.set_message(format!(
                "{:?}: length {:.1}, density {:.2}%",
                p.phase,
                p.best_length,
                p.best_density * 100.0
            ));
        },
    )?;
    bar.finish_and_clear();
    super::write(&args.out, layout.to_json()?.as_bytes())?;
    if let Some(svg) = &args.svg {
        super::write(svg, layout.to_svg(&problem).as_bytes())?;
    }
    eprintln!(
        "{}: length {:.2}, density {:.2}%",
        args.instance.display(),
        layout.length,
        layout.density * 100.0
    );
    Ok(())
}

/// The first Ctrl-C (SIGINT) ends the search early and the best marker so far is written as at
/// the time limit; a second one ends the process at once.
fn stop_on_interrupt(stop: nest::Stop) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.request();
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        });
    });
}
