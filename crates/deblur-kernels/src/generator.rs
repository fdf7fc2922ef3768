//! One type for every kernel generator, so that banks, sidecars and the CLI can name them.

use ndarray::Array2;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::gp::{GpConfig, GpSampler};
use crate::shake::{ShakeConfig, shake_kernel};
use crate::simple::{disk_kernel, gaussian_kernel, linear_kernel};

/// A kernel generator with its settings. Random parameters of the parametric families are drawn
/// uniformly from the stated ranges.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "generator", rename_all = "lowercase")]
pub enum KernelFamily {
    /// Camera shake after Boracchi & Foi 2012 ([`crate::shake`]).
    Shake(ShakeConfig),
    /// Gaussian-process (Matérn-3/2) motion ([`crate::gp`]).
    Gp(GpConfig),
    /// Linear motion of random length in `length_px` and uniform random angle.
    Linear {
        /// Kernel side.
        size: usize,
        /// Range of lengths in pixels.
        length_px: [f64; 2],
    },
    /// Anisotropic Gaussian with both standard deviations in `sigma_px` and a random angle.
    Gaussian {
        /// Kernel side.
        size: usize,
        /// Range of standard deviations in pixels.
        sigma_px: [f64; 2],
    },
    /// Disk (defocus) with radius in `radius_px`.
    Disk {
        /// Kernel side.
        size: usize,
        /// Range of radii in pixels.
        radius_px: [f64; 2],
    },
}

/// What one draw produced besides the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DrawInfo {
    /// Path length in pixels for motion generators (shake, linear), if known.
    pub length_px: Option<f64>,
}

impl KernelFamily {
    /// The generator `name` (`shake`, `gp`, `linear`, `gaussian`, `disk`) with its default
    /// settings for kernels of side `size`.
    ///
    /// # Errors
    /// [`crate::Error::UnknownFamily`] for an unknown name, [`crate::Error::InvalidSetting`] for
    /// a size below 3.
    pub fn by_name(name: &str, size: usize) -> crate::Result<Self> {
        if size < 3 {
            return Err(crate::Error::InvalidSetting {
                setting: "size",
                rule: format!("{size} must be at least 3"),
            });
        }
        let max_motion = 0.9 * size as f64;
        Ok(match name {
            "shake" => KernelFamily::Shake(ShakeConfig::new(size)),
            "gp" => KernelFamily::Gp(GpConfig::new(size)),
            "linear" => KernelFamily::Linear {
                size,
                length_px: [1.0, max_motion.min((size - 1) as f64)],
            },
            "gaussian" => KernelFamily::Gaussian {
                size,
                sigma_px: [0.5, (size as f64 / 6.0).max(0.6)],
            },
            "disk" => KernelFamily::Disk {
                size,
                radius_px: [1.0, ((size - 1) as f64 / 2.0).max(1.0)],
            },
            other => {
                return Err(crate::Error::UnknownFamily(other.to_string()));
            }
        })
    }

    /// Short name of the family.
    pub fn name(&self) -> &'static str {
        match self {
            KernelFamily::Shake(_) => "shake",
            KernelFamily::Gp(_) => "gp",
            KernelFamily::Linear { .. } => "linear",
            KernelFamily::Gaussian { .. } => "gaussian",
            KernelFamily::Disk { .. } => "disk",
        }
    }

    /// Kernel side.
    pub fn size(&self) -> usize {
        match self {
            KernelFamily::Shake(c) => c.size,
            KernelFamily::Gp(c) => c.size,
            KernelFamily::Linear { size, .. }
            | KernelFamily::Gaussian { size, .. }
            | KernelFamily::Disk { size, .. } => *size,
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`crate::Error::InvalidSetting`] naming the problem.
    pub fn validate(&self) -> crate::Result<()> {
        let range_ok =
            |r: [f64; 2]| r[0].is_finite() && r[1].is_finite() && 0.0 <= r[0] && r[0] <= r[1];
        match self {
            KernelFamily::Shake(c) => c.validate(),
            KernelFamily::Gp(c) => c.validate(),
            KernelFamily::Linear { size, length_px: r }
            | KernelFamily::Gaussian { size, sigma_px: r }
            | KernelFamily::Disk { size, radius_px: r } => {
                if *size < 3 || !range_ok(*r) {
                    Err(crate::Error::InvalidSetting {
                        setting: self.name(),
                        rule: format!(
                            "size {size} and range {r:?}: size ≥ 3 and a range [min ≤ max] of \
                             non-negative numbers needed"
                        ),
                    })
                } else if matches!(self, KernelFamily::Linear { .. }) && r[1] > (*size - 1) as f64 {
                    Err(crate::Error::InvalidSetting {
                        setting: "linear.length_px",
                        rule: format!("{} px does not fit a {size} px kernel", r[1]),
                    })
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Prepares a sampler (precomputes what every draw shares).
    pub fn sampler(&self) -> Sampler<'_> {
        Sampler {
            generator: self,
            gp: match self {
                KernelFamily::Gp(c) => Some(GpSampler::new(c.clone())),
                _ => None,
            },
        }
    }
}

/// A ready-to-draw generator; see [`KernelFamily::sampler`].
#[derive(Clone, Debug)]
pub struct Sampler<'a> {
    generator: &'a KernelFamily,
    gp: Option<GpSampler>,
}

impl Sampler<'_> {
    /// Draws one kernel, values summing to 1, centred.
    pub fn draw(&self, rng: &mut impl Rng) -> (Array2<f32>, DrawInfo) {
        let uniform =
            |rng: &mut dyn rand::RngCore, r: [f64; 2]| r[0] + (r[1] - r[0]) * rng.random::<f64>();
        match self.generator {
            KernelFamily::Shake(c) => {
                let (k, len) = shake_kernel(c, rng);
                (
                    k,
                    DrawInfo {
                        length_px: Some(len),
                    },
                )
            }
            KernelFamily::Gp(_) => (
                self.gp.as_ref().map(|g| g.kernel(rng)).unwrap_or_default(),
                DrawInfo::default(),
            ),
            KernelFamily::Linear { size, length_px } => {
                let mut len = uniform(rng, *length_px);
                let angle = 180.0 * rng.random::<f64>();
                loop {
                    if let Some(k) = linear_kernel(*size, len, angle) {
                        return (
                            k,
                            DrawInfo {
                                length_px: Some(len),
                            },
                        );
                    }
                    len *= 0.9;
                }
            }
            KernelFamily::Gaussian { size, sigma_px } => {
                let (a, b) = (uniform(rng, *sigma_px), uniform(rng, *sigma_px));
                let angle = 180.0 * rng.random::<f64>();
                (
                    gaussian_kernel(*size, a.max(b), a.min(b), angle),
                    DrawInfo::default(),
                )
            }
            KernelFamily::Disk { size, radius_px } => (
                disk_kernel(*size, uniform(rng, *radius_px)),
                DrawInfo::default(),
            ),
        }
    }
}
