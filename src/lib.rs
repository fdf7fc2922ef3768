//! # deblur
//!
//! Blind image deblurring with learned blur-kernel spaces on burn: estimate the blur kernel and
//! the sharp image from one blurred photo, on the CPU by default.
//!
//! ## Quick start
//!
//! ```no_run
//! let image = deblur::core::load_image("blurred.png")?;
//! let result = deblur::blind(&image.pixels, &deblur::BlindOptions::default())?;
//! deblur::core::save_image("restored.png", &result.image, image.bit_depth)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`BlindOptions`] sets the rest in builder style, e.g.
//! `BlindOptions::default().kernel_size(45).preset(Preset::Quick).seed(3)`; the result holds
//! the restored image, the estimated kernel and what the pipeline did (noise level, whether the
//! coarse-to-fine path ran, whether its estimate passed the self-check). [`blind_observed`]
//! reports progress to an [`optim::Observer`]. The modules below re-export one crate each for
//! everything else: kernels, priors, solvers, metrics, trained models.
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

pub use deblur_optim::api::{BlindOptions, blind, blind_observed};
pub use deblur_optim::{BlindResult, ColorPath, MethodKind, Preset};
