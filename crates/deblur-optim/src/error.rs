//! The error type of `deblur-optim`.

use std::path::PathBuf;

/// Everything that can go wrong while solving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A solver or pipeline setting is out of range.
    #[error("invalid setting {setting}: {rule}")]
    InvalidSetting {
        /// The setting or option concerned.
        setting: &'static str,
        /// The rule it breaks, with the value found.
        rule: String,
    },
    /// A method needs trained models that were not given.
    #[error("{method} needs {needs}; {fix}")]
    MissingModels {
        /// The method.
        method: &'static str,
        /// What it needs.
        needs: &'static str,
        /// How to provide it, or what to use instead.
        fix: &'static str,
    },
    /// The kernel does not fit the part of the image it is estimated on.
    #[error(
        "the {}x{} kernel is larger than the {}x{} estimation window at ({}, {}) of the {}x{} \
         image; use a smaller kernel or a larger window",
        kernel[1], kernel[0], window[2], window[3], window[0], window[1], image[1], image[0]
    )]
    KernelLargerThanWindow {
        /// Kernel height and width.
        kernel: [usize; 2],
        /// The window as x, y, width, height.
        window: [usize; 4],
        /// Image height and width.
        image: [usize; 2],
    },
    /// An image is too small for the requested kernel.
    #[error(
        "a {}x{} image is too small to estimate a {kernel}x{kernel} kernel (it needs {}x{} or \
         more); use a smaller kernel size",
        image[0], image[1], min[0], min[1]
    )]
    ImageTooSmall {
        /// Image height and width.
        image: [usize; 2],
        /// The kernel side.
        kernel: usize,
        /// The smallest image that works.
        min: [usize; 2],
    },
    /// An image that is not a grey or colour image of finite values.
    #[error("{0}")]
    BadImage(String),
    /// An evaluation set's folder is missing or malformed.
    #[error("{}: {reason}", path.display())]
    Dataset {
        /// The folder or file concerned.
        path: PathBuf,
        /// What is wrong, and what is expected there.
        reason: String,
    },
    /// A case name or number that the evaluation set does not hold.
    #[error("unknown {set} case {name:?}; {hint}")]
    UnknownCase {
        /// The set (Levin, Lai).
        set: &'static str,
        /// The name or number asked for.
        name: String,
        /// What names look like, or which exist.
        hint: String,
    },
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
    /// An error from `deblur-models` (loading trained weights).
    #[error(transparent)]
    Models(#[from] deblur_models::Error),
}

impl Error {
    /// An [`Error::InvalidSetting`].
    pub(crate) fn setting(setting: &'static str, rule: impl Into<String>) -> Self {
        Error::InvalidSetting {
            setting,
            rule: rule.into(),
        }
    }
}

impl From<burn::tensor::DataError> for Error {
    fn from(e: burn::tensor::DataError) -> Self {
        Error::Core(e.into())
    }
}

/// GLKM without its trained models.
pub(crate) const MISSING_GLKM: Error = Error::MissingModels {
    method: "GLKM",
    needs: "a trained kernel generator",
    fix: "use the shipped weights/ folder or give one (--weights DIR, BlindOptions::weights or \
          DEBLUR_WEIGHTS), or use the SelfDeblur method",
};

/// The encoded kernel space without its trained model.
pub(crate) const MISSING_KERNEL_SPACE: Error = Error::MissingModels {
    method: "the kernel-space method",
    needs: "a trained kernel-space model (F and G)",
    fix: "use the shipped weights/ folder or give one (--weights DIR, BlindOptions::weights or \
          DEBLUR_WEIGHTS), or use the SelfDeblur method",
};

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
