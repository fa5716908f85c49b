//! Cutting markers: nest garment pieces on a fabric roll of fixed width so that the used
//! length is as short as possible.
//!
//! The input model ([`Problem`]) holds pieces (polygons with a quantity and the rotations the
//! fabric grain allows), the roll width, a minimum gap between pieces and defect zones to avoid.
//! [`esicup::parse`] reads the ESICUP XML benchmark format into it. [`nest`] runs an anytime
//! overlap-minimising guided local search with strip shrinking (after Egeblad et al. 2007,
//! Umetani et al. 2009 and Gardeyn & Vanden Berghe's sparrow, 2025) on top of the jagua-rs
//! collision-detection engine and returns the best feasible [`Layout`] found in the time limit
//! (or when asked to [`Stop`]).
//! [`OverlapProbe`] is the fixed collision workload the nesting bench times.

mod engine;
mod error;
pub mod esicup;
mod layout;
mod optimizer;
mod probe;
mod problem;
mod quantify;
mod search;
mod separate;

pub use error::Error;
pub use layout::{Layout, Placement};
pub use optimizer::{nest, nest_with_stop, Options, Phase, Progress, Stop};
pub use probe::OverlapProbe;
pub use problem::{DefectZone, Piece, Point, Problem};

#[cfg(test)]
mod tests;
