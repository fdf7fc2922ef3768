//! The variational deep image prior as an image part of the solver loop (\[VD\]: Huo et al.,
//! TPAMI 2023; the terms are in [`deblur_priors::vdip`]).
//!
//! A run has three phases, all in the one loop of [`crate::solver`]:
//! 1. **warm-up** (`warmup` steps): the mean is fitted to the observation and the standard
//!    deviation to 0 inside the observation's field of view, the kernel to the uniform box;
//! 2. **variational** (up to the schedule's `ssim_from`): one reparameterised sample per step
//!    through the blur, the derivative-weighted expected log-likelihood normalised by the latent
//!    size, plus σ_n × (the negative entropy, the variant's prior and `5 Σ k²`), σ_n decaying;
//! 3. **1 − SSIM** of the blurred *mean* against the observation, as SelfDeblur's second phase.
//!
//! The image read out is the mean. Variants ([`VdipVariant`]): Sparse (prior on expected squared
//! gradients), Extreme (dark and bright channels) and Std (the data term alone, as \[VD\]'s
//! code comment defines it).

use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Gradients, Tensor};
use deblur_metrics::ssim_tensor;
use deblur_priors::vdip::{
    derivative_data_sum, entropy_sum, extreme_channel_prior, extreme_normaliser,
    reparameterised_sample, sparse_gradient_prior, sparse_normaliser, split_mean_std,
};
use deblur_priors::{Dip, DipConfig};
use serde::{Deserialize, Serialize};

use crate::models::{ImageModel, adam, step_module};
use crate::schedule::{MultiStepLr, scale_step};
use crate::solver::{BlurModel, DataFit, Penalty, SolverConfig};
use deblur_core::{Boundary, UniformBlur};

/// The prior of a VDIP variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VdipVariant {
    /// No prior term: the derivative-weighted data term on samples only (\[VD\]'s comment; the
    /// standard deviations then shrink and it behaves as a DIP with that data term).
    Std,
    /// The sparse prior on the expected squared gradients ([`sparse_gradient_prior`]).
    Sparse,
    /// The dark- and bright-channel prior ([`extreme_channel_prior`]).
    Extreme,
}

impl VdipVariant {
    /// The name used by the CLI and in tables (`vdip-std`, `vdip-sparse`, `vdip-extreme`).
    pub fn name(self) -> &'static str {
        match self {
            VdipVariant::Std => "vdip-std",
            VdipVariant::Sparse => "vdip-sparse",
            VdipVariant::Extreme => "vdip-extreme",
        }
    }
}

/// Settings of the VDIP image part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VdipImageConfig {
    /// Which prior.
    pub variant: VdipVariant,
    /// The network; its output channels are set to twice the observation's (means, then
    /// standard deviations). \[VD\]: the SelfDeblur skip network with 3 input channels.
    pub dip: DipConfig,
    /// Seed of the fixed network input (no per-step perturbation, as \[VD\]).
    pub noise_seed: u64,
    /// Steps of the warm-up fit at the start of the loop. \[VD\]: 500 (Sparse), 5 (Extreme on
    /// Lai's uniform set).
    pub warmup: usize,
    /// σ_n, the weight of the prior part at each loop step (a step schedule like a learning
    /// rate's). \[VD\]: Sparse 0.1, Extreme 1e-4, ×0.1 after 1000 variational steps.
    pub prior_weight: MultiStepLr,
    /// Side of the extreme-channel window (at most the latent image's side). \[VD\]: 35.
    pub window: usize,
}

impl Default for VdipImageConfig {
    /// [`VdipImageConfig::paper`] of VDIP-Sparse.
    fn default() -> Self {
        VdipImageConfig::paper(VdipVariant::Sparse)
    }
}

/// Variational steps of \[VD\]'s schedule (the 1 − SSIM phase follows).
const REFERENCE_VARIATIONAL: usize = 2000;
/// Steps of \[VD\]'s main loop after the warm-up.
const REFERENCE_MAIN: usize = 5000;

impl VdipImageConfig {
    /// \[VD\]'s settings for `variant` (its Lai-uniform scripts; Std, which has no script, as
    /// Sparse without the prior).
    pub fn paper(variant: VdipVariant) -> Self {
        let (warmup, sigma) = match variant {
            VdipVariant::Std => (500, 0.0),
            VdipVariant::Sparse => (500, 0.1),
            VdipVariant::Extreme => (5, 1e-4),
        };
        VdipImageConfig {
            variant,
            dip: DipConfig::paper(2).with_input_channels(3),
            noise_seed: 0,
            warmup,
            prior_weight: MultiStepLr {
                base: sigma,
                milestones: vec![warmup + 1000],
                gamma: 0.1,
            },
            window: 35,
        }
    }

    /// The same settings with another network (its output channels are set at run time).
    pub fn with_dip(mut self, dip: DipConfig) -> Self {
        self.dip = dip;
        self
    }

    /// \[VD\]'s loop for these settings: the warm-up, then 5000 joint steps at image lr 0.01 and
    /// kernel lr `kernel_lr`, both halved 2000, 3000 and 4000 steps after the warm-up, 1 − SSIM
    /// from 2000 steps after it.
    pub fn reference_solver(&self, kernel_lr: f64) -> SolverConfig {
        let w = self.warmup;
        let decay = |base| MultiStepLr {
            base,
            milestones: vec![w + 2000, w + 3000, w + 4000],
            gamma: 0.5,
        };
        SolverConfig::constant(w + REFERENCE_MAIN, 0.01, kernel_lr)
            .with_image_lr(decay(0.01))
            .with_kernel_lr(decay(kernel_lr))
            .with_loss(crate::schedule::LossSchedule {
                ssim_from: Some(w + REFERENCE_VARIATIONAL),
                charbonnier: false,
            })
    }

    /// The same settings for a loop of `to` steps instead of `from` (the warm-up and σ_n's
    /// milestones scale as the solver's do in [`SolverConfig::with_iterations`]).
    pub fn rescaled(mut self, from: usize, to: usize) -> Self {
        self.warmup = scale_step(self.warmup, from, to);
        self.prior_weight = self.prior_weight.rescaled(from, to);
        self
    }

    /// The model for an observation of `channels`, a latent image of `latent` and a kernel of
    /// `kernel`, switching to 1 − SSIM at `ssim_from`, on the autodiff `device`.
    pub fn build(
        &self,
        channels: usize,
        latent: [usize; 2],
        kernel: [usize; 2],
        ssim_from: usize,
        device: &Device,
    ) -> VdipImage {
        let mut dip = self.dip.clone();
        dip.output_channels = 2 * channels;
        let net = dip.init(device);
        let input = net.input_noise(latent, self.noise_seed, device);
        VdipImage {
            net,
            input,
            optim: adam(),
            config: self.clone(),
            kernel,
            ssim_from,
            last_mean: None,
            penalty: None,
        }
    }

    /// The loss of the loop for `observation` (`[1, c, h, w]`, autodiff device), a latent image
    /// of `latent`, a kernel of `kernel` and 1 − SSIM from `ssim_from`: the data term and the
    /// warm-up and kernel terms, to pass to [`crate::solve_with`] with the model of
    /// [`VdipImageConfig::build`].
    pub fn objective(
        &self,
        observation: &Tensor<4>,
        latent: [usize; 2],
        kernel: [usize; 2],
        ssim_from: usize,
    ) -> VdipObjective {
        let [_, c, _, _] = observation.dims();
        VdipObjective {
            variant: self.variant,
            warmup: self.warmup,
            ssim_from,
            prior_weight: self.prior_weight.clone(),
            latent_size: (c * latent[0] * latent[1]) as f64,
            kernel,
            observation: observation.clone().detach(),
        }
    }
}

/// The variational image model: a [`Dip`] with `2c` outputs on fixed noise.
pub struct VdipImage {
    net: Dip,
    input: Tensor<4>,
    optim: ModuleOptimizer,
    config: VdipImageConfig,
    kernel: [usize; 2],
    ssim_from: usize,
    last_mean: Option<Tensor<4>>,
    penalty: Option<Tensor<1>>,
}

impl VdipImage {
    /// The network.
    pub fn net(&self) -> &Dip {
        &self.net
    }

    /// The mean and the standard deviation of the current network output (detached).
    pub fn mean_std(&self) -> (Tensor<4>, Tensor<4>) {
        split_mean_std(self.net.forward(self.input.clone()).detach())
    }
}

/// The field of view of a valid blur with `kernel` inside a latent image (the solver's crop).
fn crop_valid(latent: Tensor<4>, kernel: [usize; 2]) -> Tensor<4> {
    UniformBlur::new(Boundary::Valid).crop_latent(latent, kernel)
}

impl ImageModel for VdipImage {
    fn forward(&mut self, step: usize) -> Tensor<4> {
        let (mean, std) = split_mean_std(self.net.forward(self.input.clone()));
        self.last_mean = Some(mean.clone().detach());
        let c = &self.config;
        if step < c.warmup {
            // ½ of [VD]'s MSE of [μ, s] against [y, 0]: the s half here, the μ half in the
            // objective (it holds y)
            self.penalty = Some(crop_valid(std, self.kernel).square().mean() * 0.5);
            return mean;
        }
        if step >= self.ssim_from {
            self.penalty = None;
            return mean;
        }
        let [_, channels, h, w] = mean.dims();
        let sigma = c.prior_weight.lr(step);
        self.penalty = match c.variant {
            VdipVariant::Std => None,
            _ if sigma == 0.0 => None,
            variant => {
                let entropy = entropy_sum(std.clone()) / (channels * h * w) as f64;
                let prior = match variant {
                    VdipVariant::Sparse => {
                        sparse_gradient_prior(mean.clone(), std.clone())
                            / sparse_normaliser(channels, [h, w])
                    }
                    _ => {
                        let window = c.window.min(h).min(w);
                        extreme_channel_prior(mean.clone(), std.clone(), window)
                            / extreme_normaliser([h, w], window)
                    }
                };
                Some((prior - entropy) * sigma)
            }
        };
        reparameterised_sample(mean, std)
    }

    fn update(&mut self, grads: &mut Gradients, lr: f64) {
        self.net = step_module(&mut self.optim, &self.net, grads, lr);
    }

    fn latent(&self) -> Tensor<4> {
        self.last_mean.clone().unwrap_or_else(|| self.mean_std().0)
    }

    fn penalty(&self) -> Option<Tensor<1>> {
        self.penalty.clone()
    }
}

/// The data term and the kernel's terms of a VDIP run ([`VdipImageConfig::objective`]).
pub struct VdipObjective {
    variant: VdipVariant,
    warmup: usize,
    ssim_from: usize,
    prior_weight: MultiStepLr,
    latent_size: f64,
    kernel: [usize; 2],
    observation: Tensor<4>,
}

impl VdipObjective {
    fn phase_of(&self, step: usize) -> usize {
        if step < self.warmup {
            0
        } else if step < self.ssim_from {
            1
        } else {
            2
        }
    }
}

impl DataFit for VdipObjective {
    fn fit(&self, step: usize, predicted: Tensor<4>, observation: Tensor<4>) -> Tensor<1> {
        match self.phase_of(step) {
            // the warm-up fits the mean directly (the penalty below), not through the blur
            0 => Tensor::zeros([1], &predicted.device()),
            1 => derivative_data_sum(predicted - observation) / self.latent_size,
            _ => ssim_tensor(predicted, observation).neg() + 1.0,
        }
    }

    fn phase(&self, step: usize) -> usize {
        self.phase_of(step)
    }
}

impl Penalty for VdipObjective {
    fn value(&self, step: usize, latent: &Tensor<4>, kernel: &Tensor<4>) -> Tensor<1> {
        match self.phase_of(step) {
            0 => {
                let box_value = 1.0 / (self.kernel[0] * self.kernel[1]) as f64;
                let fit = (crop_valid(latent.clone(), self.kernel) - self.observation.clone())
                    .square()
                    .mean()
                    * 0.5;
                fit + (kernel.clone() - box_value).square().mean()
            }
            1 if self.variant != VdipVariant::Std => {
                kernel.clone().square().sum() * (5.0 * self.prior_weight.lr(step))
            }
            _ => Tensor::zeros([1], &kernel.device()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;

    #[test]
    fn reference_schedule_matches_the_scripts() {
        let sparse = VdipImageConfig::paper(VdipVariant::Sparse);
        let s = sparse.reference_solver(1e-4);
        assert_eq!(s.iterations, 5500);
        assert_eq!(s.image_lr.lr(2499), 0.01);
        assert_eq!(s.image_lr.lr(2500), 0.005);
        assert_eq!(s.loss.ssim_from, Some(2500));
        // σ_n: 0.1 for the first 1000 variational steps, then 0.01
        assert_eq!(sparse.prior_weight.lr(1499), 0.1);
        assert!((sparse.prior_weight.lr(1500) - 0.01).abs() < 1e-12);
        let extreme = VdipImageConfig::paper(VdipVariant::Extreme);
        assert_eq!(extreme.reference_solver(1e-4).iterations, 5005);
        assert_eq!(extreme.prior_weight.base, 1e-4);
        let fast = sparse.clone().rescaled(5500, 550);
        assert_eq!((fast.warmup, fast.prior_weight.milestones[0]), (50, 150));
    }

    #[test]
    fn reference_network_has_the_reference_parameter_count() {
        // [VD]'s image network, 3 input and 6 output channels: 2 360 326 parameters
        let mut dip = VdipImageConfig::paper(VdipVariant::Sparse).dip;
        dip.output_channels = 6;
        assert_eq!(dip.init(&Device::default()).num_params(), 2_360_326);
    }
}
