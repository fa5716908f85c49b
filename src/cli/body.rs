//! `atelier body train|predict` and `atelier measure`: the ANSUR II body model on the CLI.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use atelier::body::features::estimate_from_masks;
use atelier::body::model::{self, BodyModel, Sex, TrainOptions};
use atelier::body::predict::predict_csv_file;
use clap::{Args, Subcommand};

/// `atelier body ...`.
#[derive(Subcommand)]
pub enum BodyCommand {
    /// Fit the body model on the ANSUR II CSV files (reproducible: same data, same parameters).
    Train {
        /// Folder with ansur2_male.csv and ansur2_female.csv.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the fitted model (JSON with provenance).
        #[arg(long, default_value = "models/body/ansur2_body_model.json")]
        out: PathBuf,
    },
    /// Predict every measurement (mm, with `<column>_sd`) for each row of a CSV of known values.
    Predict {
        /// CSV with a `sex` column and any ANSUR II columns (mm; weightkg in 0.1 kg).
        #[arg(long)]
        input: PathBuf,
        /// Output CSV: the input columns plus every measurement and its sd.
        #[arg(long)]
        output: PathBuf,
        /// A fitted model file instead of the one built into the binary.
        #[arg(long)]
        model: Option<PathBuf>,
    },
}

/// `atelier measure`: the measurement set from front and side silhouettes.
#[derive(Args)]
pub struct MeasureArgs {
    /// Front silhouette (PNG, white person on black).
    #[arg(long)]
    front_mask: PathBuf,
    /// Side silhouette (PNG, white person on black).
    #[arg(long)]
    side_mask: PathBuf,
    /// Stated height in cm.
    #[arg(long)]
    height: f64,
    /// Weight in kg, if known.
    #[arg(long)]
    weight: Option<f64>,
    /// male or female, if known.
    #[arg(long)]
    sex: Option<String>,
    /// Print JSON (the default output).
    #[arg(long)]
    json: bool,
}

fn load(model: Option<&PathBuf>) -> Result<BodyModel> {
    Ok(match model {
        Some(path) => BodyModel::load(path)?,
        None => BodyModel::bundled()?,
    })
}

/// Runs a `body` subcommand.
pub fn run(command: BodyCommand) -> Result<()> {
    match command {
        BodyCommand::Train { data, out } => {
            let fitted = model::train_files(&data, &out, &TrainOptions::default())?;
            eprintln!(
                "fitted {} columns; written to {}",
                fitted.columns().len(),
                out.display()
            );
        }
        BodyCommand::Predict {
            input,
            output,
            model,
        } => {
            let rows = predict_csv_file(&load(model.as_ref())?, &input, &output)?;
            eprintln!("{rows} rows predicted into {}", output.display());
        }
    }
    Ok(())
}

/// Runs `measure` on silhouettes.
pub fn measure(args: MeasureArgs) -> Result<()> {
    let _ = args.json;
    if !(args.height.is_finite() && (100.0..=250.0).contains(&args.height)) {
        bail!(
            "--height {} cm is not a plausible adult stature (100-250)",
            args.height
        );
    }
    let sex = match args.sex.as_deref() {
        None => None,
        Some(s) => Sex::parse(s, 0)?,
    };
    let read = |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let model = BodyModel::bundled()?;
    let estimate = estimate_from_masks(
        &model,
        &read(&args.front_mask)?,
        &read(&args.side_mask)?,
        args.height,
        args.weight,
        sex,
    )?;
    println!("{}", serde_json::to_string_pretty(&estimate)?);
    Ok(())
}
