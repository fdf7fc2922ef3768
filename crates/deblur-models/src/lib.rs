#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod driver;
mod error;
pub mod generator;
pub mod initializer;
pub mod inversion;
pub mod kernel_space;
pub mod train;
pub mod train_denoise;
pub mod train_init;
pub mod train_space;
pub mod weights;

pub use error::{Error, Result};
pub use generator::{KernelDiscriminator, KernelGenerator, KernelGeneratorConfig};
pub use initializer::{InitializerConfig, KernelInitializer};
pub use kernel_space::{KernelCode, KernelSpace, KernelSpaceConfig};
pub use train::{GanLosses, GanTrainConfig, GanTrainer};
#[cfg(feature = "pytorch")]
pub mod import;
