//! The image side shared by the DIP-based blind methods (SelfDeblur, DIP-GLKM, and the
//! encoded-space and VDIP methods to come): a DIP generates the latent image at
//! (H+K−1)×(W+K−1), a valid blur maps it to the observation, and the one solver loop of
//! [`crate::solver`] optimises it jointly with whatever kernel model the method plugs in.

use deblur_priors::DipConfig;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The DIP image model of a blind method.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DipImageConfig {
    /// The network; its output channels are set from the observation.
    pub dip: DipConfig,
    /// Per-step perturbation of the network input. Reference: 0.001.
    pub reg_noise_std: f64,
    /// Seed of the fixed network input (SelfDeblur: 0).
    pub noise_seed: u64,
}

impl Default for DipImageConfig {
    /// [`DipImageConfig::paper`].
    fn default() -> Self {
        DipImageConfig::paper()
    }
}

impl DipImageConfig {
    /// The SelfDeblur network (\[SD\], [`DipConfig::paper`]) with its input perturbation (0.001).
    pub fn paper() -> Self {
        DipImageConfig {
            dip: DipConfig::paper(1),
            reg_noise_std: 0.001,
            noise_seed: 0,
        }
    }

    /// The same settings with another network.
    pub fn with_dip(mut self, dip: DipConfig) -> Self {
        self.dip = dip;
        self
    }
}

/// Checks that `dims` (`[n, c, h, w]`) is one image at least as large as a `kernel`.
///
/// # Errors
/// [`deblur_core::Error::ShapeMismatch`] for a batch, [`deblur_core::Error::KernelLargerThanImage`] for a
/// kernel that does not fit.
pub fn check_observation(dims: [usize; 4], kernel: [usize; 2]) -> Result<()> {
    let [n, _, h, w] = dims;
    let [kh, kw] = kernel;
    if n != 1 {
        return Err(deblur_core::Error::ShapeMismatch {
            what: "batch (one image at a time)".into(),
            expected: vec![1],
            found: vec![n],
        }
        .into());
    }
    if kh == 0 || kw == 0 || kh > h || kw > w {
        return Err(Error::Core(deblur_core::Error::KernelLargerThanImage {
            kernel: [kh, kw],
            image: [h, w],
        }));
    }
    Ok(())
}
