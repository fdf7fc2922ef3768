//! # deblur
//!
//! Facade of the deblur-rs workspace: blind image deblurring with learned blur-kernel spaces on
//! burn. Each module re-exports one crate.
#![deny(unsafe_code)]
#![deny(missing_docs)]

/// Images, kernels, colour, padding and blur operators (`deblur-core`).
pub use deblur_core as core;
/// Kernel synthesis, kernel banks and training-image sources (`deblur-kernels`).
pub use deblur_kernels as kernels;
/// Image and kernel quality measures (`deblur-metrics`).
pub use deblur_metrics as metrics;
/// Kernel-space models: the DCGAN kernel prior and its training (`deblur-models`).
pub use deblur_models as models;
/// Solvers (`deblur-optim`).
pub use deblur_optim as optim;
/// Image and kernel priors (`deblur-priors`).
pub use deblur_priors as priors;
