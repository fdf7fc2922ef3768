//! The error type of `deblur-optim`.

/// Everything that can go wrong while solving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A solver setting is out of range.
    #[error("invalid solver setting: {0}")]
    InvalidConfig(String),
    /// The loss became NaN or infinite.
    #[error(
        "the loss became {value} at step {step}; lower the learning rates or check the input for NaN"
    )]
    NonFinite {
        /// Step at which it happened.
        step: usize,
        /// The value seen.
        value: f32,
    },
    /// An error from `deblur-core` (shapes, kernels, I/O).
    #[error(transparent)]
    Core(#[from] deblur_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
