//! The error type of `deblur-models`.

use std::path::PathBuf;

/// Everything that can go wrong building, training or loading kernel-space models.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is out of range.
    #[error("invalid setting {setting}: {rule}")]
    InvalidSetting {
        /// The setting or option concerned.
        setting: &'static str,
        /// The rule it breaks, with the value found.
        rule: String,
    },
    /// A bank of kernels is empty where kernels are needed.
    #[error("the kernel bank is empty; it needs at least one kernel")]
    EmptyBank,
    /// A bank holds kernels of another size than the model's.
    #[error(
        "the bank holds {found:?} kernels but the model makes {expected:?}; synthesise a bank of the model's size"
    )]
    KernelSizeMismatch {
        /// The size of the first kernel that differs.
        found: [usize; 2],
        /// The model's kernel size.
        expected: [usize; 2],
    },
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
    /// An error from `deblur-kernels` (kernel synthesis, image folders).
    #[error(transparent)]
    Kernels(deblur_kernels::Error),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<deblur_kernels::Error> for Error {
    fn from(e: deblur_kernels::Error) -> Self {
        match e {
            // one level of wrapping for file and kernel errors, whichever crate met them
            deblur_kernels::Error::Core(c) => Error::Core(c),
            other => Error::Kernels(other),
        }
    }
}
