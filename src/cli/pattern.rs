//! `atelier draft`, `grade` and `garments`: made-to-measure patterns and cut files.

use std::path::PathBuf;

use anyhow::{Context, Result};
use atelier::pattern::{self, Body, Format};
use clap::Args;

/// `atelier draft`.
#[derive(Args)]
pub struct DraftArgs {
    /// Garment name (see `atelier garments`).
    #[arg(long)]
    garment: String,
    /// Measurements JSON: a flat object of cm values, or the answer of `atelier measure --json`.
    #[arg(long)]
    measurements: PathBuf,
    /// Option as name=value (cm); repeatable.
    #[arg(long = "option")]
    options: Vec<String>,
    /// svg, pdf, pdf-roll, dxf-aama, hpgl or json.
    #[arg(long, default_value = "svg")]
    format: String,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
}

/// `atelier grade`.
#[derive(Args)]
pub struct GradeArgs {
    /// Garment name.
    #[arg(long)]
    garment: String,
    /// GB/T 1335 sizes, comma-separated, e.g. 165/84A,170/88A,175/92A.
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<String>,
    /// Option as name=value (cm); repeatable.
    #[arg(long = "option")]
    options: Vec<String>,
    /// svg, pdf, pdf-roll, dxf-aama, hpgl or json.
    #[arg(long, default_value = "dxf-aama")]
    format: String,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
}

/// Drafts one garment to measure and writes it in one format.
pub fn draft(args: DraftArgs) -> Result<()> {
    let json = std::fs::read(&args.measurements)
        .with_context(|| format!("reading {}", args.measurements.display()))?;
    let body = Body::from_json(&json)
        .with_context(|| format!("measurements in {}", args.measurements.display()))?;
    let options = pattern::parse_options(&args.options)?;
    let format: Format = args.format.parse()?;
    let drafted = pattern::draft(&args.garment, &body, &options)?;
    let file = pattern::export(&drafted, format)?;
    super::write(&args.out, &file.bytes)?;
    eprintln!(
        "{} ({}) written to {}",
        args.garment,
        file.media_type,
        args.out.display()
    );
    Ok(())
}

/// Grades a garment over GB/T 1335 sizes and writes the nested set.
pub fn grade(args: GradeArgs) -> Result<()> {
    let sizes: Vec<&str> = args.sizes.iter().map(String::as_str).collect();
    let options = pattern::parse_options(&args.options)?;
    let format: Format = args.format.parse()?;
    let set = pattern::grade(&args.garment, &sizes, &options)?;
    let file = pattern::export_graded(&set, format)?;
    super::write(&args.out, &file.bytes)?;
    eprintln!(
        "{} sizes of {} written to {}",
        sizes.len(),
        args.garment,
        args.out.display()
    );
    Ok(())
}

/// Lists garments, their pieces, required measurements and options.
pub fn garments() -> Result<()> {
    println!("{}", serde_json::to_string_pretty(pattern::garments())?);
    Ok(())
}
