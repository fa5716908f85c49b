use thiserror::Error as ThisError;

/// Everything that can go wrong while reading an instance or nesting it.
#[derive(Debug, ThisError)]
pub enum Error {
    /// The XML text could not be parsed at all (the parser's message is the source, so that a
    /// printed error chain says it once).
    #[error("malformed XML")]
    Xml(#[from] roxmltree::Error),
    /// The XML is well formed but does not describe a valid ESICUP nesting instance.
    #[error("invalid ESICUP instance: {0}")]
    Esicup(String),
    /// The instance has no piece with a positive quantity.
    #[error("the instance has no pieces to nest")]
    EmptyInstance,
    /// The roll width is not a positive finite number.
    #[error("strip width must be positive and finite, got {0}")]
    InvalidStripWidth(f64),
    /// The minimum gap is negative or not finite.
    #[error("minimum gap must be finite and >= 0, got {0}")]
    InvalidGap(f64),
    /// A piece's outline or rotations cannot be used.
    #[error("piece {piece}: {reason}")]
    InvalidPiece {
        /// Piece id.
        piece: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A piece is wider than the roll in every rotation the fabric allows.
    #[error(
        "piece {piece} is {extent:.3} across the roll in every allowed rotation, wider than the roll ({width:.3})"
    )]
    PieceWiderThanRoll {
        /// Piece id.
        piece: String,
        /// Smallest extent across the roll over the allowed rotations.
        extent: f64,
        /// Roll width.
        width: f64,
    },
    /// A defect zone's polygon cannot be used.
    #[error("defect zone {index}: {reason}")]
    InvalidDefect {
        /// Position of the zone in [`crate::nest::Problem::defects`].
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The time limit is zero, negative or not finite.
    #[error("time limit must be a positive number of seconds, got {0}")]
    InvalidTimeLimit(f64),
    /// The collision-detection engine refused a shape (degenerate geometry).
    #[error("collision engine rejected {what}: {message}")]
    Engine {
        /// Which shape or container.
        what: String,
        /// The engine's message.
        message: String,
    },
}
