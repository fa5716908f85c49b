//! `atelier pose`, `face` and `segment`: the vision pipelines on one image, for inspection.

use std::path::PathBuf;

use anyhow::{Context, Result};
use atelier::config::Config;
use atelier::vision::overlay;
use clap::Args;

/// `atelier pose IMAGE`.
#[derive(Args)]
pub struct PoseArgs {
    /// The photo.
    image: PathBuf,
    /// Print the result as JSON (the default output).
    #[arg(long)]
    json: bool,
    /// Write the person segmentation mask (grey PNG) here.
    #[arg(long)]
    mask: Option<PathBuf>,
    /// Draw the skeleton on the photo and write it here.
    #[arg(long)]
    overlay: Option<PathBuf>,
}

/// `atelier face IMAGE`.
#[derive(Args)]
pub struct FaceArgs {
    /// The photo.
    image: PathBuf,
    /// Print the result as JSON (the default output).
    #[arg(long)]
    json: bool,
    /// Draw the detections and meshes on the photo and write it here.
    #[arg(long)]
    overlay: Option<PathBuf>,
}

/// `atelier segment IMAGE --out MASK.png`.
#[derive(Args)]
pub struct SegmentArgs {
    /// The photo.
    image: PathBuf,
    /// Where to write the selfie segmentation mask (grey PNG).
    #[arg(long)]
    out: PathBuf,
}

/// Runs pose landmarking.
pub fn pose(args: PoseArgs, config: &Config) -> Result<()> {
    let _ = args.json;
    let img = super::open_image(&args.image, config)?;
    let vision = super::load_vision(config)?;
    let result = vision.pose.detect(&img)?;
    println!("{}", serde_json::to_string(&result)?);
    if let Some(path) = &args.mask {
        let mask = result
            .segmentation
            .as_ref()
            .context("no person found, so there is no mask to write")?;
        mask.to_gray_image()
            .save(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.overlay {
        overlay::draw_pose(&img, &result)
            .save(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Runs face detection and the face mesh.
pub fn face(args: FaceArgs, config: &Config) -> Result<()> {
    let _ = args.json;
    let img = super::open_image(&args.image, config)?;
    let vision = super::load_vision(config)?;
    let result = vision.face.detect(&img)?;
    println!("{}", serde_json::to_string(&result)?);
    if let Some(path) = &args.overlay {
        overlay::draw_faces(&img, &result)
            .save(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Runs selfie segmentation.
pub fn segment(args: SegmentArgs, config: &Config) -> Result<()> {
    let img = super::open_image(&args.image, config)?;
    let vision = super::load_vision(config)?;
    let mask = vision.selfie.segment(&img)?;
    mask.to_gray_image()
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    Ok(())
}
