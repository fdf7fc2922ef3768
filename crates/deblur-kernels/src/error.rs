//! The error type of `deblur-kernels`.

use std::path::PathBuf;

/// Everything that can go wrong in `deblur-kernels`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A generator or dataset setting is out of range.
    #[error("invalid setting {setting}: {rule}")]
    InvalidSetting {
        /// The setting, as `family.field` or the option's name.
        setting: &'static str,
        /// The rule it breaks, with the value found.
        rule: String,
    },
    /// A kernel family name that does not exist.
    #[error("unknown kernel family {0:?}; use shake, gp, linear, gaussian or disk")]
    UnknownFamily(String),
    /// A list or bank of kernels is empty where kernels are needed.
    #[error("the kernel bank is empty; it needs at least one kernel")]
    EmptyBank,
    /// Kernels of different sizes where one size is needed.
    #[error("kernel {index} is {found:?}, expected {expected:?}; the kernels must share one size")]
    KernelSizeMismatch {
        /// Index of the first kernel of another size.
        index: usize,
        /// Its size.
        found: [usize; 2],
        /// The size required.
        expected: [usize; 2],
    },
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
