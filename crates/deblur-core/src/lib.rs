#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod blur;
pub mod color;
pub mod convert;
pub mod device;
mod error;
pub mod fft;
pub mod field;
#[cfg(feature = "flex")]
pub mod flex_ext;
pub mod fuzz;
pub mod host_fft;
pub mod kernel;
pub mod memory;
pub mod npy;
pub mod outputs;
pub mod pad;
pub mod plot;
pub mod pool;
pub mod resample;
pub mod svola;
pub mod svola_host;
pub mod visual;

pub use blur::{BlurMethod, Boundary, UniformBlur, add_gaussian_noise, blur_image};
pub use color::YCbCrStandard;
pub use convert::{BitDepth, LoadedImage, image_size, load_image, load_image_limited, save_image};
pub use device::{default_device, device_from_name};
pub use error::{Error, Result};
pub use field::KernelField;
pub use kernel::Kernel;
pub use memory::retain_freed_memory;
pub use pad::Padding;
pub use pool::{init_pool, on_pool};
pub use svola::{Svola, SvolaPlan, WindowShape};

/// Re-export of burn so that users share one version.
pub use burn;
