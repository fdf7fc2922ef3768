#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod denoiser;
pub mod dip;
pub mod fused;
pub mod kernel_mlp;
pub mod nonlocal;
pub mod norm;
pub mod penalties;
pub mod vdip;

pub use denoiser::{Denoiser, DenoiserConfig};
pub use dip::{Dip, DipConfig};
pub use kernel_mlp::{KernelMlp, KernelMlpConfig};
pub use norm::BatchStatNorm;
