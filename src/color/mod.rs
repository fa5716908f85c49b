//! Colour science for atelier: sRGB/XYZ/CIELAB with CIEDE2000, ColorChecker chart detection and
//! colour-correction fitting, and illuminant estimation when no chart is in the photo.

pub mod chart;
pub mod constancy;
pub mod correction;
pub mod geometry;
pub mod space;

pub use chart::{chart_from_corners, find_chart, ChartFound, PatchSample};
pub use constancy::{estimate_illuminant, IlluminantEstimate};
pub use correction::{ColorCorrection, CorrectionModel};
pub use space::{ciede2000, Lab};

/// Errors of the colour area.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A colour string that is not `#RRGGBB`.
    #[error("bad sRGB hex colour {0:?}: expected #RRGGBB")]
    BadHex(String),
    /// The caller's chart corners do not describe a chart inside the image.
    #[error(
        "chart corners must be the centres of patches 1, 6, 24, 19 inside the image, in that order"
    )]
    BadCorners,
    /// Too few usable chart patches for a colour-correction fit.
    #[error("only {0} usable chart patches; at least 12 are needed for a colour-correction fit")]
    TooFewPatches(usize),
    /// The colour-correction normal equations were singular.
    #[error("colour-correction fit is singular (patch colours are degenerate)")]
    SingularFit,
    /// Not enough usable pixels outside the excluded regions to estimate the illuminant.
    #[error("only {0} usable background pixels for illuminant estimation (need 50)")]
    TooLittleBackground(usize),
}
