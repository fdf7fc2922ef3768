#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod bank;
mod error;
pub mod field;
pub mod generator;
pub mod gp;
pub mod images;
pub mod pairs;
mod raster;
pub mod shake;
pub mod simple;
pub mod stats;
pub mod text_pages;

pub use bank::{BankSidecar, ExtentFilter, KernelBank, synthesize_bank, synthesize_bank_within};
pub use error::{Error, Result};
pub use generator::KernelFamily;
pub use images::{
    ColorMode, DeadLeaves, FolderSource, ImageSource, ImageSpec, PairFolders, SharedImages,
};
pub use pairs::{CameraResponse, FieldPairs, KernelSource, PairBatch, PairConfig, PairGenerator};
pub use stats::{BankStats, bank_stats, mean_kernel};
pub use text_pages::TextPages;
