#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod camera_field;
pub mod dip_blind;
mod error;
pub mod glkm;
pub mod l0_blind;
pub mod lai;
pub mod levin;
pub mod method;
pub mod models;
pub mod nonblind;
pub mod nonuniform;
pub mod pipeline;
pub mod pnp;
pub mod schedule;
pub mod selfdeblur;
pub mod solver;
pub mod space;
pub mod vdip;

pub use api::{AUTO_KERNEL_BOUND, BlindOptions, FinalPriorKind, blind, blind_observed};
pub use camera_field::{CameraFieldConfig, CameraFieldKernel};
pub use dip_blind::DipImageConfig;
pub use error::{Error, Result};
pub use glkm::{GlkmConfig, GlkmModels, KernelStart};
pub use method::{BlurPart, ComposedMethod, ImagePart, KernelPart, Resources};
pub use nonblind::{DeconvBoundary, HyperLaplacianConfig, hyper_laplacian_deconv, wiener};
pub use nonuniform::{
    FieldKernels, NonUniformConfig, NonUniformResult, deblur_nonuniform, deconv_field,
    deconv_field_pnp,
};
pub use pipeline::{
    BlindMethod, BlindRequest, BlindResult, ColorPath, Confident, CropChoice, FinalPnp, FinalPrior,
    FinalPriorUsed, ImagePrior, MethodKind, NoiseAware, Preset, Restart, Restarted, Robust,
    deblur_blind, final_pnp_step, reblur_residual,
};
pub use pnp::{PnpConfig, pnp_deconv};
pub use selfdeblur::SelfDeblurConfig;
pub use solver::{
    BlurModel, DataFit, Observer, Penalty, Progress, SolveOutput, SolverConfig, Terms, solve,
    solve_with,
};
pub use vdip::{VdipImageConfig, VdipVariant};
