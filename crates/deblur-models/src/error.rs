//! The error type of `deblur-models`.

use std::path::PathBuf;

/// Everything that can go wrong building, training or loading kernel-space models.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    InvalidConfig(String),
    /// A checkpoint or weight file could not be written or read.
    #[error("{path}: {reason}")]
    Checkpoint {
        /// The file concerned.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// An error from `deblur-core`.
    #[error(transparent)]
    Core(#[from] deblur_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<deblur_kernels::Error> for Error {
    fn from(e: deblur_kernels::Error) -> Self {
        match e {
            deblur_kernels::Error::Core(c) => Error::Core(c),
            other => Error::InvalidConfig(other.to_string()),
        }
    }
}
