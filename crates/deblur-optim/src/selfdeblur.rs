//! SelfDeblur (Ren, Zhang, Wang, Hu, Zuo, CVPR 2020) as a preset of the solver loop: a DIP image
//! model, the kernel MLP, valid blur with the latent image generated at (H+K−1)×(W+K−1), joint
//! Adam updates, MSE then 1 − SSIM (\[SD\]; the authors' `selfdeblur_levin.py`).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::dip_blind::DipImageConfig;
use crate::method::{BlurPart, ComposedMethod, ImagePart, KernelPart, Resources};
use crate::solver::{Observer, SolveOutput, SolverConfig};

/// Settings of SelfDeblur.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelfDeblurConfig {
    /// Kernel `[kh, kw]` to estimate (an upper bound of the true size).
    pub kernel_size: [usize; 2],
    /// Hidden width of the kernel MLP. Default: 1000.
    pub kernel_hidden: usize,
    /// The DIP image model.
    pub image: DipImageConfig,
    /// The loop settings.
    pub solver: SolverConfig,
}

impl Default for SelfDeblurConfig {
    /// [`SelfDeblurConfig::paper`] for a 31×31 kernel.
    fn default() -> Self {
        SelfDeblurConfig::paper([31, 31])
    }
}

impl SelfDeblurConfig {
    /// The published Levin settings: 5000 iterations, lr 0.01 (image) and 1e-4 (kernel), halved at
    /// 2000/3000/4000, 1 − SSIM from step 1000, the reference DIP.
    pub fn paper(kernel_size: [usize; 2]) -> Self {
        SelfDeblurConfig {
            kernel_size,
            kernel_hidden: 1000,
            image: DipImageConfig::paper(),
            solver: SolverConfig::dip_reference(1e-4, 1000),
        }
    }

    /// The same settings over `iterations` steps: milestones and the loss switch scale with it.
    pub fn with_iterations(mut self, iterations: usize) -> Self {
        self.solver = self.solver.with_iterations(iterations);
        self
    }

    /// The method as parts: this DIP, the valid uniform blur and the kernel MLP (its input drawn
    /// from the DIP's noise seed, as the reference script seeds both from one seed).
    pub fn method(&self) -> ComposedMethod {
        ComposedMethod {
            image: ImagePart::Dip(self.image.clone()),
            kernel: KernelPart::Mlp {
                size: self.kernel_size,
                hidden: self.kernel_hidden,
                seed: self.image.noise_seed,
            },
            blur: BlurPart::UniformValid,
            solver: self.solver.clone(),
        }
    }

    /// Runs SelfDeblur on `observation` (`[1, c, h, w]`, any device; autodiff is enabled here).
    ///
    /// # Errors
    /// [`crate::Error::InvalidSetting`] if the kernel does not fit the image, and the solver's errors.
    pub fn run(&self, observation: Tensor<4>, observer: &mut dyn Observer) -> Result<SolveOutput> {
        self.method()
            .run(observation, &Resources::default(), observer)
    }
}
