//! Kernel banks: N kernels of one size in an `N×K×K` `float32` `.npy` file, with a JSON sidecar
//! (`bank.json` beside `bank.npy`) naming the generator, its parameters, the seed and the count.
//!
//! Kernel `i` of a bank is drawn from its own generator seeded by `(seed, i)`, so a bank is the
//! same whatever the number of threads, and its first n kernels are the bank of count n.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use deblur_core::Kernel;
use deblur_core::kernel::{load_kernel_stack, save_kernel_stack};
use deblur_core::npy::write_atomic;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::generator::KernelFamily;
use crate::{Error, Result};

/// The sidecar describing how a bank was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BankSidecar {
    /// The generator and all its settings.
    pub generator: KernelFamily,
    /// Master seed.
    pub seed: u64,
    /// Number of kernels.
    pub count: usize,
    /// Kernel side.
    pub size: usize,
    /// Version of deblur-kernels that wrote the bank.
    pub version: String,
    /// Mean path length in pixels (motion generators only).
    #[serde(default)]
    pub mean_length_px: Option<f64>,
}

/// The RNG of kernel `index` of a bank with master `seed` (SplitMix64 of the pair).
pub fn kernel_rng(seed: u64, index: u64) -> StdRng {
    let mut z = seed
        ^ index
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Kernels drawn by a generator, with the sidecar that describes them.
#[derive(Clone, Debug)]
pub struct KernelBank {
    /// The kernels, all of one size.
    pub kernels: Vec<Kernel>,
    /// How they were made (absent for banks loaded without a sidecar).
    pub sidecar: Option<BankSidecar>,
}

/// Draws `count` kernels in parallel. `progress` is called with the number finished so far
/// (from worker threads, roughly every 256 kernels and at the end).
///
/// # Errors
/// [`Error::InvalidSetting`] if the generator settings are invalid.
pub fn synthesize_bank(
    generator: &KernelFamily,
    count: usize,
    seed: u64,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<KernelBank> {
    generator.validate()?;
    let sampler = generator.sampler();
    let done = AtomicUsize::new(0);
    let drawn: Vec<(Kernel, Option<f64>)> = (0..count)
        .into_par_iter()
        .map(|i| {
            let mut rng = kernel_rng(seed, i as u64);
            let (values, info) = sampler.draw(&mut rng);
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(256) || n == count {
                progress(n);
            }
            Kernel::new(values)
                .map(|k| (k, info.length_px))
                .map_err(Error::from)
        })
        .collect::<Result<_>>()?;
    let lengths: Vec<f64> = drawn.iter().filter_map(|d| d.1).collect();
    let mean_length_px =
        (!lengths.is_empty()).then(|| lengths.iter().sum::<f64>() / lengths.len() as f64);
    Ok(KernelBank {
        kernels: drawn.into_iter().map(|d| d.0).collect(),
        sidecar: Some(BankSidecar {
            generator: generator.clone(),
            seed,
            count,
            size: generator.size(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            mean_length_px,
        }),
    })
}

/// Path of the sidecar of a bank file (`bank.npy` → `bank.json`).
pub fn sidecar_path(bank: &Path) -> PathBuf {
    bank.with_extension("json")
}

impl KernelBank {
    /// Writes the kernels as `N×K×K` `.npy` and, if present, the sidecar beside it (both atomically).
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        save_kernel_stack(path, &self.kernels)?;
        if let Some(sidecar) = &self.sidecar {
            let json = serde_json::to_string_pretty(sidecar).map_err(|e| Error::BadSidecar {
                path: sidecar_path(path),
                reason: e.to_string(),
            })?;
            write_atomic(&sidecar_path(path), |w| {
                std::io::Write::write_all(w, json.as_bytes())
            })?;
        }
        Ok(())
    }

    /// Reads a bank (`.npy` stack, or any kernel file as a bank of one) and its sidecar if present.
    ///
    /// # Errors
    /// I/O, format and validation errors naming the file; [`Error::BadSidecar`] if a sidecar
    /// exists but cannot be parsed.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let kernels = load_kernel_stack(path)?;
        let side = sidecar_path(path);
        let sidecar = if side.exists() && side != path {
            let text =
                std::fs::read_to_string(&side).map_err(|e| deblur_core::Error::io(&side, e))?;
            Some(serde_json::from_str(&text).map_err(|e| Error::BadSidecar {
                path: side.clone(),
                reason: e.to_string(),
            })?)
        } else {
            None
        };
        Ok(KernelBank { kernels, sidecar })
    }
}
