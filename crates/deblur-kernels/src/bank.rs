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
    /// The extent filter the kernels passed ([`synthesize_bank_within`]), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extent: Option<ExtentFilter>,
}

/// Keeps kernels whose extent — the longer side of the bounding box of the taps holding at least
/// 5 % of the largest ([`crate::stats::support_box`]) — lies within `[min, max]` × the kernel side.
/// A shake path of a given length curls more or less, so its extent varies widely; a bank of
/// "75 px" kernels spanning 17 px tests small blur on a large canvas.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtentFilter {
    /// Least extent, as a fraction of the kernel side.
    pub min: f64,
    /// Largest extent, as a fraction of the kernel side.
    pub max: f64,
    /// Kernels drawn to find the bank's (the bank holds the accepted ones in drawing order).
    pub draws: usize,
}

impl ExtentFilter {
    /// Whether `kernel` passes.
    pub fn accepts(&self, kernel: &Kernel) -> bool {
        let side = kernel.size()[0].max(kernel.size()[1]) as f64;
        let extent = crate::stats::support_box(kernel, 0.05).1 as f64;
        extent >= self.min * side && extent <= self.max * side
    }
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
    let done = AtomicUsize::new(0);
    let drawn = draw(generator, seed, 0..count, &|| {
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(256) || n == count {
            progress(n);
        }
    })?;
    Ok(bank_of(generator, seed, drawn, None))
}

/// [`synthesize_bank`] keeping only the kernels whose extent lies within `[min, max]` × the
/// kernel side ([`ExtentFilter`]): kernels 0, 1, 2, … of `(seed, i)` are drawn (in parallel
/// batches) and the first `count` that pass are kept, in drawing order. `progress` is called with
/// the number kept so far.
///
/// # Errors
/// [`Error::InvalidSetting`] for invalid generator settings, fractions outside `(0, 1]` or
/// `min > max`, or when fewer than `count` of `max_draws` kernels pass.
pub fn synthesize_bank_within(
    generator: &KernelFamily,
    count: usize,
    seed: u64,
    [min, max]: [f64; 2],
    max_draws: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<KernelBank> {
    generator.validate()?;
    if !(min > 0.0 && min <= max && max <= 1.0) {
        return Err(Error::InvalidSetting {
            setting: "extent",
            rule: format!("the range {min}..{max} must lie within (0, 1] with min <= max"),
        });
    }
    let mut kept = Vec::with_capacity(count);
    // kernels drawn so far, and how many were needed to reach the last one kept
    let (mut drawn, mut needed) = (0usize, 0usize);
    let mut filter = ExtentFilter { min, max, draws: 0 };
    let batch = count.clamp(64, 4096);
    while kept.len() < count {
        if drawn >= max_draws {
            return Err(Error::InvalidSetting {
                setting: "extent",
                rule: format!(
                    "only {} of {drawn} kernels drawn have an extent within {min}..{max} of the \
                     side, {count} were asked for: widen the range or change the path length",
                    kept.len()
                ),
            });
        }
        let end = (drawn + batch).min(max_draws);
        for (offset, item) in draw(generator, seed, drawn..end, &|| {})?
            .into_iter()
            .enumerate()
        {
            if kept.len() < count && filter.accepts(&item.0) {
                kept.push(item);
                needed = drawn + offset + 1;
            }
        }
        drawn = end;
        progress(kept.len());
    }
    filter.draws = needed;
    Ok(bank_of(generator, seed, kept, Some(filter)))
}

/// Kernels `range` of `(seed, i)`, in order; `tick` after each.
fn draw(
    generator: &KernelFamily,
    seed: u64,
    range: std::ops::Range<usize>,
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<(Kernel, Option<f64>)>> {
    let sampler = generator.sampler();
    range
        .into_par_iter()
        .map(|i| {
            let mut rng = kernel_rng(seed, i as u64);
            let (values, info) = sampler.draw(&mut rng);
            tick();
            Kernel::new(values)
                .map(|k| (k, info.length_px))
                .map_err(Error::from)
        })
        .collect()
}

fn bank_of(
    generator: &KernelFamily,
    seed: u64,
    drawn: Vec<(Kernel, Option<f64>)>,
    extent: Option<ExtentFilter>,
) -> KernelBank {
    let lengths: Vec<f64> = drawn.iter().filter_map(|d| d.1).collect();
    let mean_length_px =
        (!lengths.is_empty()).then(|| lengths.iter().sum::<f64>() / lengths.len() as f64);
    KernelBank {
        sidecar: Some(BankSidecar {
            generator: generator.clone(),
            seed,
            count: drawn.len(),
            size: generator.size(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            mean_length_px,
            extent,
        }),
        kernels: drawn.into_iter().map(|d| d.0).collect(),
    }
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
