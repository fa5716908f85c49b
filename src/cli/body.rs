//! `atelier body train|predict` and `atelier measure`: the ANSUR II body model on the CLI.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use atelier::body::features::{estimate_with_features, mask_features};
use atelier::body::model::{self, BodyModel, Sex, TrainOptions};
use atelier::body::overlay;
use atelier::body::photos::measure_photos;
use atelier::body::predict::predict_csv_file;
use atelier::body::silhouette::Mask;
use atelier::config::Config;
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

/// `atelier measure`: the measurement set from front and side photos, or from their silhouettes.
#[derive(Args)]
pub struct MeasureArgs {
    /// Front photo (JPEG, PNG or WebP; the person facing the camera, arms a little away from the body).
    #[arg(long, requires = "side", conflicts_with_all = ["front_mask", "side_mask"])]
    front: Option<PathBuf>,
    /// Side photo (the person in profile).
    #[arg(long, requires = "front")]
    side: Option<PathBuf>,
    /// Front silhouette (PNG, white person on black) instead of a photo.
    #[arg(long, requires = "side_mask", required_unless_present = "front")]
    front_mask: Option<PathBuf>,
    /// Side silhouette (PNG, white person on black).
    #[arg(long, requires = "front_mask", conflicts_with = "side")]
    side_mask: Option<PathBuf>,
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
    /// Draw both views with the silhouette, landmarks and measured lines into this PNG.
    #[arg(long)]
    overlay: Option<PathBuf>,
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

/// Runs `measure` on photos or silhouettes.
pub fn measure(args: MeasureArgs, config: &Config) -> Result<()> {
    let _ = args.json;
    if !(args.height.is_finite() && (100.0..=250.0).contains(&args.height)) {
        bail!(
            "--height {} cm is not a plausible adult stature (100-250)",
            args.height
        );
    }
    if let Some(w) = args.weight {
        if !(w.is_finite() && (20.0..=300.0).contains(&w)) {
            bail!("--weight {w} kg is not a plausible adult weight (20-300)");
        }
    }
    let sex = match args.sex.as_deref() {
        None => None,
        Some(s) => Sex::parse(s, 0)?,
    };
    let model = BodyModel::bundled()?;
    let (estimate, picture) = match (&args.front, &args.side, &args.front_mask, &args.side_mask) {
        (Some(front), Some(side), _, _) => {
            let front = super::open_image(front, config)?;
            let side = super::open_image(side, config)?;
            let vision = super::load_vision(config)?;
            let measured = measure_photos(
                &vision,
                &model,
                &front,
                &side,
                args.height,
                args.weight,
                sex,
            )?;
            let picture = args
                .overlay
                .as_ref()
                .map(|_| overlay::draw_photos(&front, &side, &measured));
            (measured.estimate, picture)
        }
        (_, _, Some(front), Some(side)) => {
            let read =
                |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
            let front = Mask::from_png(&read(front)?, "front")?;
            let side = Mask::from_png(&read(side)?, "side")?;
            let features = mask_features(&model, &front, &side, args.height, sex)?;
            let picture = args
                .overlay
                .as_ref()
                .map(|_| overlay::draw_masks(&front, &side, &features.readings));
            (
                estimate_with_features(&model, args.height, args.weight, sex, features)?,
                picture,
            )
        }
        _ => bail!("give --front and --side photos, or --front-mask and --side-mask"),
    };
    if let (Some(path), Some(picture)) = (&args.overlay, picture) {
        picture
            .save(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{}", serde_json::to_string_pretty(&estimate)?);
    Ok(())
}
