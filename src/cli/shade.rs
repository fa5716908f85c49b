//! `atelier shade`: skin colour and foundation matches from a face photo.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use atelier::config::Config;
use atelier::shade::photo::analyse_photo;
use atelier::shade::{self, Catalog, ShadeOptions};
use clap::Args;

/// `atelier shade IMAGE`.
#[derive(Args)]
pub struct ShadeArgs {
    /// The face photo, ideally with a ColorChecker Classic 24 in frame.
    image: PathBuf,
    /// Centres of chart patches 1, 6, 24 and 19 as x1,y1,x2,y2,x3,y3,x4,y4 (pixels), if known.
    #[arg(long)]
    corners: Option<String>,
    /// A shade catalog CSV (brand, product, shade, and hex or L,a,b) instead of the built-in one.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Number of matches.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Print JSON (the default output).
    #[arg(long)]
    json: bool,
    /// Draw the sampled regions and the matched shades and write the picture here.
    #[arg(long)]
    swatch: Option<PathBuf>,
}

/// Parses eight comma-separated numbers into four points.
pub fn parse_corners(text: &str) -> Result<[[f64; 2]; 4]> {
    let v: Vec<f64> = text
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .context("--corners: expected eight numbers")?;
    match v.as_slice() {
        [a, b, c, d, e, f, g, h] if v.iter().all(|x| x.is_finite()) => {
            Ok([[*a, *b], [*c, *d], [*e, *f], [*g, *h]])
        }
        _ => bail!(
            "--corners: expected eight finite numbers x1,y1,...,x4,y4, got {}",
            v.len()
        ),
    }
}

/// Runs shade matching on the largest face of the photo.
pub fn run(args: ShadeArgs, config: &Config) -> Result<()> {
    let _ = args.json;
    let img = super::open_image(&args.image, config)?;
    let custom;
    let catalog: &Catalog = match &args.catalog {
        Some(path) => {
            custom = Catalog::from_csv(
                std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?,
            )?;
            &custom
        }
        None => Catalog::builtin()?,
    };
    let options = ShadeOptions {
        corners: args.corners.as_deref().map(parse_corners).transpose()?,
        top: args.top,
        ..ShadeOptions::default()
    };
    let vision = super::load_vision(config)?;
    let analysis = analyse_photo(&vision.face, &img, catalog, &options)
        .with_context(|| format!("measuring the skin in {}", args.image.display()))?;
    println!("{}", serde_json::to_string_pretty(&analysis.report)?);
    if let Some(path) = &args.swatch {
        shade::draw_swatch(&img, &analysis.regions, &analysis.report)
            .save(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
