//! The error type of `deblur-kernels`.

use std::path::PathBuf;

/// Everything that can go wrong in `deblur-kernels`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A generator or dataset setting is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An image folder holds no usable image.
    #[error("{path}: no PNG, JPEG or TIFF images found (searched recursively)")]
    EmptyFolder {
        /// The folder searched.
        path: PathBuf,
    },
    /// An image is smaller than the crop size.
    #[error(
        "{path}: image {height}x{width} is smaller than the crop size {crop}; use --crop {min} or remove the image"
    )]
    ImageTooSmall {
        /// The image.
        path: PathBuf,
        /// Its height.
        height: usize,
        /// Its width.
        width: usize,
        /// The crop size requested.
        crop: usize,
        /// The largest crop the image allows.
        min: usize,
    },
    /// A kernel-bank sidecar could not be read or written.
    #[error("{path}: {reason}")]
    BadSidecar {
        /// The file concerned.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// An error from `deblur-core` (I/O, decoding, kernel validation).
    #[error(transparent)]
    Core(#[from] deblur_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
