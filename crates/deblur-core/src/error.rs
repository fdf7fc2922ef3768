//! The error type of `deblur-core`.

use std::path::PathBuf;

/// Everything that can go wrong in `deblur-core`. Messages are lower-case and state the rule broken.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A file exists but is not an image this crate can decode.
    #[error("{path}: not a readable image ({reason})")]
    NotAnImage {
        /// The file concerned.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// An image is larger than the caller's limit (checked from its header, before decoding).
    #[error(
        "{path}: {width}x{height} = {megapixels:.1} megapixels is above the limit of {limit} \
         megapixels (deblurring needs about 100 bytes per pixel); raise it with --max-megapixels \
         if the memory is there, or crop or shrink the image"
    )]
    ImageTooLarge {
        /// The file concerned.
        path: PathBuf,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Its size in megapixels.
        megapixels: f64,
        /// The limit in megapixels.
        limit: f64,
    },
    /// The output format cannot be written with the requested settings.
    #[error("{path}: {reason}")]
    UnsupportedOutput {
        /// The file concerned.
        path: PathBuf,
        /// Why it cannot be written.
        reason: String,
    },
    /// A kernel file could not be parsed.
    #[error("{path}: not a kernel file ({reason})")]
    BadKernelFile {
        /// The file concerned.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A kernel-field file (or its sidecar) could not be used.
    #[error("{path}: not a usable kernel field ({reason})")]
    BadFieldFile {
        /// The file concerned.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A kernel holds NaN or infinite values.
    #[error("kernel has a non-finite value at row {row}, column {col}")]
    NonFiniteKernel {
        /// Row of the first offending entry.
        row: usize,
        /// Column of the first offending entry.
        col: usize,
    },
    /// A kernel holds negative values.
    #[error(
        "kernel has a negative value {value} at row {row}, column {col}; kernels must be non-negative"
    )]
    NegativeKernel {
        /// Row of the first offending entry.
        row: usize,
        /// Column of the first offending entry.
        col: usize,
        /// The offending value.
        value: f32,
    },
    /// A kernel sums to zero and cannot be normalised.
    #[error("kernel sums to zero; a blur kernel needs positive mass")]
    ZeroSumKernel,
    /// A kernel or image has a zero-sized side.
    #[error("empty array of shape {shape:?}")]
    Empty {
        /// The shape found.
        shape: Vec<usize>,
    },
    /// The kernel does not fit inside the image it blurs.
    #[error(
        "kernel {kernel:?} is larger than image {image:?}; use a smaller kernel or a larger image"
    )]
    KernelLargerThanImage {
        /// Kernel height and width.
        kernel: [usize; 2],
        /// Image height and width.
        image: [usize; 2],
    },
    /// Two arrays that must match in shape do not.
    #[error("shape mismatch: {what}: expected {expected:?}, found {found:?}")]
    ShapeMismatch {
        /// What was being compared.
        what: String,
        /// The shape required.
        expected: Vec<usize>,
        /// The shape found.
        found: Vec<usize>,
    },
    /// A parameter is outside its valid range.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// The rule it breaks.
        reason: String,
    },
    /// A tensor could not be read back from its device.
    #[error("reading a tensor back from the device failed: {0}")]
    TensorRead(#[from] burn::tensor::DataError),
    /// A backend name is not known or not compiled in.
    #[error("unknown or disabled backend {0:?}; available: {1}")]
    UnknownBackend(String, String),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::InvalidParameter`].
    pub fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}
