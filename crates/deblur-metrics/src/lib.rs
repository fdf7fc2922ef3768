#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod kernel_error;
mod psnr;
mod shift;
mod sparsity;
mod ssim;
mod ssim_tensor;

pub use kernel_error::{KernelError, kernel_error, kernel_similarity};
pub use psnr::{mse, psnr, psnr_tensors};
pub use shift::{ShiftOptions, ShiftScore, error_ratio, score_images, shift_compensated_score};
pub use sparsity::gradient_sparsity;
pub use ssim::{SsimFiltering, SsimOptions, ssim};
pub use ssim_tensor::{gaussian_window, ssim_tensor};

/// Errors of this crate are those of `deblur-core`.
pub use deblur_core::{Error, Result};
