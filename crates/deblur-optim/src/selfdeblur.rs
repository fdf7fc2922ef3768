//! SelfDeblur (Ren, Zhang, Wang, Hu, Zuo, CVPR 2020) as a preset of the solver loop: a DIP image
//! model, the kernel MLP, valid blur with the latent image generated at (H+K−1)×(W+K−1), joint
//! Adam updates, MSE then 1 − SSIM (reference spec §2.3, the `selfdeblur_levin` script).

use burn::tensor::Tensor;
use deblur_core::{Boundary, UniformBlur};
use deblur_priors::{DipConfig, KernelMlpConfig};
use serde::{Deserialize, Serialize};

use crate::models::{DipImage, MlpKernel};
use crate::schedule::{LossSchedule, MultiStepLr};
use crate::solver::{Observer, SolveOutput, SolverConfig, UpdateMode, solve};
use crate::{Error, Result};

/// Settings of SelfDeblur.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelfDeblurConfig {
    /// Kernel `[kh, kw]` to estimate (an upper bound of the true size).
    pub kernel_size: [usize; 2],
    /// The image network; its output channels are set from the observation.
    pub dip: DipConfig,
    /// Hidden width of the kernel MLP. Default: 1000.
    pub kernel_hidden: usize,
    /// Per-step perturbation of the DIP input. Default: 0.001.
    pub reg_noise_std: f64,
    /// Seed of the fixed network inputs (SelfDeblur: 0).
    pub noise_seed: u64,
    /// The loop settings.
    pub solver: SolverConfig,
}

impl SelfDeblurConfig {
    /// The published Levin settings: 5000 iterations, lr 0.01 (image) and 1e-4 (kernel), halved at
    /// 2000/3000/4000, 1 − SSIM from step 1000, the reference DIP.
    pub fn paper(kernel_size: [usize; 2]) -> Self {
        let milestones = vec![2000, 3000, 4000];
        SelfDeblurConfig {
            kernel_size,
            dip: DipConfig::paper(1),
            kernel_hidden: 1000,
            reg_noise_std: 0.001,
            noise_seed: 0,
            solver: SolverConfig {
                iterations: 5000,
                image_lr: MultiStepLr {
                    base: 0.01,
                    milestones: milestones.clone(),
                    gamma: 0.5,
                },
                kernel_lr: MultiStepLr {
                    base: 1e-4,
                    milestones,
                    gamma: 0.5,
                },
                loss: LossSchedule {
                    ssim_from: Some(1000),
                },
                update: UpdateMode::Joint,
                image_penalty: None,
                kernel_l2: 0.0,
                plateau: None,
                seed: 0,
            },
        }
    }

    /// The same settings over `iterations` steps: milestones and the loss switch scale with it.
    pub fn with_iterations(mut self, iterations: usize) -> Self {
        let from = self.solver.iterations;
        self.solver.image_lr = self.solver.image_lr.rescaled(from, iterations);
        self.solver.kernel_lr = self.solver.kernel_lr.rescaled(from, iterations);
        self.solver.loss.ssim_from = self
            .solver
            .loss
            .ssim_from
            .map(|s| s * iterations / from.max(1));
        self.solver.iterations = iterations;
        self
    }

    /// Runs SelfDeblur on `observation` (`[1, c, h, w]`, any device; autodiff is enabled here).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if the kernel does not fit the image, and the solver's errors.
    pub fn run(&self, observation: Tensor<4>, observer: &mut dyn Observer) -> Result<SolveOutput> {
        let [n, c, h, w] = observation.dims();
        let [kh, kw] = self.kernel_size;
        if n != 1 {
            return Err(Error::InvalidConfig(format!(
                "one image at a time, got a batch of {n}"
            )));
        }
        if kh == 0 || kw == 0 || kh > h || kw > w {
            return Err(Error::Core(deblur_core::Error::KernelLargerThanImage {
                kernel: [kh, kw],
                image: [h, w],
            }));
        }
        let device = observation.device().autodiff();
        device.seed(self.solver.seed);
        let blur = UniformBlur::new(Boundary::Valid);
        let latent_size = [h + kh - 1, w + kw - 1];
        let mut dip = self.dip.clone();
        dip.output_channels = c;
        let mut image = DipImage::new(
            &dip,
            latent_size,
            self.reg_noise_std,
            self.noise_seed,
            &device,
        );
        let mlp = KernelMlpConfig::new(self.kernel_size).with_hidden(self.kernel_hidden);
        let mut kernel = MlpKernel::new(&mlp, self.noise_seed, &device);
        solve(
            observation.autodiff(),
            &mut image,
            &mut kernel,
            &blur,
            &self.solver,
            observer,
        )
    }
}
