//! The CLI's subcommands beyond the server: each file wires one area of the library to clap.

pub mod bench;
pub mod body;
pub mod nest;
pub mod pattern;
pub mod shade;
pub mod vision;

use std::path::Path;

use anyhow::{Context, Result};
use atelier::config::Config;
use atelier::models::{self, FetchOptions};

/// Fetches the models if needed and loads the vision pipelines.
pub fn load_vision(config: &Config) -> Result<atelier::vision::Vision> {
    let opts = FetchOptions {
        progress: true,
        ..FetchOptions::new(&config.models_dir)
    };
    models::ensure(&opts)?;
    atelier::vision::Vision::load(&config.models_dir, &candle_core::Device::Cpu)
        .context("loading the vision models")
}

/// Decode limits for images read by the CLI, from the configuration.
pub fn decode_limits(config: &Config) -> atelier::vision::DecodeLimits {
    atelier::vision::DecodeLimits {
        max_pixels: config.max_image_pixels,
        ..Default::default()
    }
}

/// Decodes the photo at `path` within the configured limits, naming the file on failure.
pub fn open_image(path: &Path, config: &Config) -> Result<image::RgbImage> {
    atelier::vision::open(path, &decode_limits(config))
        .with_context(|| format!("reading the photo {}", path.display()))
}

/// Writes `text` to `path`, naming the file on failure.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
