//! DIP-GLKM blind deblurring (\[GLKM\] §V-A1, Eq. 7, Algorithm 2; GKPILE `deblur_lai.py`) as a
//! preset of the solver loop: the kernel initializer E predicts a latent code z₀ = E(y) from the
//! blurry luma, the frozen kernel generator's first layer turns it into the feature map
//! w = g₁(z₀), and w (not z) is optimised jointly with a DIP image model through the valid blur,
//! MSE then 1 − SSIM. Any other image model plugs into the same kernel model
//! ([`GlkmKernel`], see `examples/glkm_plug_and_play.rs`).

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use deblur_core::Kernel;
use deblur_kernels::simple::gaussian_kernel;
use deblur_models::{KernelGenerator, KernelInitializer};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::dip_blind::DipImageConfig;
use crate::method::{BlurPart, ComposedMethod, ImagePart, KernelPart, PreparedKernel, Resources};
use crate::models::{GlkmKernel, KernelModel};
use crate::solver::{Observer, SolveOutput, SolverConfig};

/// Adam steps and learning rate of the w-space fit of [`KernelStart::Broad`] (≈ 1 s on a CPU;
/// L1 per entry 2.8e-4 to a σ = 4 px Gaussian with the shipped generator).
pub(crate) const BROAD_FIT_STEPS: usize = 300;
pub(crate) const BROAD_FIT_LR: f64 = 5e-3;
/// Adam learning rate of the z-space fit of [`KernelStart::Broad`] for a latent phase.
const LATENT_FIT_LR: f64 = 1e-2;

/// The trained models GLKM needs: a kernel generator and, optionally, its initializer.
#[derive(Clone, Debug)]
pub struct GlkmModels {
    /// The kernel generator G (frozen during deblurring).
    pub generator: KernelGenerator,
    /// The initializer E; without it the solver starts from z₀ = 0 (the latent prior's mean).
    pub initializer: Option<KernelInitializer>,
}

impl GlkmModels {
    /// Kernel size K of the generator.
    pub fn kernel_size(&self) -> usize {
        self.generator.kernel_size()
    }

    /// The starting latent code `[1, latent, 1, 1]` for `observation` (`[1, c, h, w]`): E applied
    /// to its luma (BT.601 full-range weights for three channels) in evaluation mode, or zeros.
    pub fn initial_latent(&self, observation: &Tensor<4>) -> Tensor<4> {
        let device = observation.device().without_autodiff();
        let latent = self.generator.latent_dim();
        match &self.initializer {
            None => Tensor::zeros([1, latent, 1, 1], &device),
            Some(e) => {
                let y = observation.clone().detach().to_device(&device);
                e.valid()
                    .fork(&device)
                    .forward(deblur_core::color::luma_tensor(y))
            }
        }
    }

    /// The feature maps w whose kernels G_k(w) best match `targets` (`[n, 1, K, K]`): `steps` Adam
    /// steps of learning rate `lr` on L1(G_k(w), target) from w = g₁(0) (GAN inversion in w-space,
    /// where the shipped generator reproduces the Levin kernels far better than in z-space).
    /// Returns `[n, 4·ngf, s₀, s₀]`.
    pub fn fit_features(&self, targets: Tensor<4>, steps: usize, lr: f64) -> Tensor<4> {
        let [n, _, _, _] = targets.dims();
        let kernel = self.fit(targets, steps, lr, |generator, z0, device| {
            GlkmKernel::new(generator, z0.repeat_dim(0, n), device)
        });
        kernel.features()
    }

    /// The feature map w of [`KernelStart::Broad`]: fitted in w-space to an isotropic Gaussian
    /// of `sigma` px on the generator's canvas (300 Adam steps of 5e-3). Returns
    /// `[1, 4·ngf, s₀, s₀]` on `device` (not autodiff).
    ///
    /// # Errors
    /// An invalid `sigma` (not finite and positive).
    pub fn broad_features(&self, sigma: f64, device: &Device) -> Result<Tensor<4>> {
        Ok(self.fit_features(
            self.broad_kernel(sigma, device)?,
            BROAD_FIT_STEPS,
            BROAD_FIT_LR,
        ))
    }

    /// The Gaussian target of [`KernelStart::Broad`], `[1, 1, K, K]`.
    fn broad_kernel(&self, sigma: f64, device: &Device) -> Result<Tensor<4>> {
        let k = self.kernel_size();
        Ok(Kernel::new(gaussian_kernel(k, sigma, sigma, 0.0))?.to_tensor(device))
    }

    /// The latent code z whose kernel G(z) best matches `target` (`[1, 1, K, K]`): `steps` Adam
    /// steps of learning rate `lr` on L1(G(z), target) from z = 0. Returns `[1, latent, 1, 1]`.
    pub fn fit_latent(&self, target: Tensor<4>, steps: usize, lr: f64) -> Tensor<4> {
        let device = target.device().without_autodiff();
        let z0 = Tensor::zeros([1, self.generator.latent_dim(), 1, 1], &device);
        deblur_models::inversion::invert(&self.generator, target, z0, steps, lr, &device)
            .z
            .to_device(&device)
    }

    /// `steps` Adam steps on L1(kernel, `targets`) of the kernel model `make` builds from z = 0.
    fn fit(
        &self,
        targets: Tensor<4>,
        steps: usize,
        lr: f64,
        make: impl FnOnce(KernelGenerator, Tensor<4>, &Device) -> GlkmKernel,
    ) -> GlkmKernel {
        let device = targets.device().without_autodiff().autodiff();
        let z0 = Tensor::zeros([1, self.generator.latent_dim(), 1, 1], &device);
        let mut kernel = make(self.generator.clone(), z0, &device);
        let target = targets.to_device(&device).autodiff().detach();
        for step in 0..steps {
            let loss = (kernel.forward(step) - target.clone()).abs().mean();
            let mut grads = loss.backward();
            kernel.update(&mut grads, lr);
        }
        kernel
    }

    /// The kernel E predicts for `observation` before any optimisation, G(E(y)), `[1, 1, K, K]`.
    pub fn initial_kernel(&self, observation: &Tensor<4>) -> Tensor<4> {
        let z = self.initial_latent(observation);
        self.generator.valid().fork(&z.device()).forward(z)
    }
}

/// Where the kernel's feature map w starts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum KernelStart {
    /// w = g₁(E(y)), the initializer's prediction (reference; z = 0 without an initializer).
    Initializer,
    /// w fitted (in w-space, [`GlkmModels::fit_features`]) to an isotropic Gaussian of standard
    /// deviation `sigma` px: a broad start from which the kernel contracts to the blur, as the
    /// near-uniform start of SelfDeblur's MLP does. On the Levin images this beats the start from
    /// our CPU-trained initializer, whose kernels stay close to the compact mean kernel.
    Broad {
        /// Standard deviation in pixels.
        sigma: f64,
    },
}

/// Where the generator's kernel model starts, computed from the observation: a latent code z
/// optimised for the first `until` steps, or a feature map w.
pub(crate) enum GeneratorStart {
    Latent {
        z0: Tensor<4>,
        until: usize,
        lr_scale: f64,
    },
    Features(Tensor<4>),
}

impl GeneratorStart {
    /// The start of a run of `iterations` steps on `observation`.
    pub(crate) fn prepare(
        models: &GlkmModels,
        observation: &Tensor<4>,
        start: KernelStart,
        latent_phase: Option<LatentPhaseConfig>,
        iterations: usize,
    ) -> Result<Self> {
        let device = observation.device().without_autodiff();
        let latent = |z0: Tensor<4>, phase: LatentPhaseConfig| GeneratorStart::Latent {
            z0,
            until: (phase.fraction.clamp(0.0, 1.0) * iterations as f64) as usize,
            lr_scale: phase.lr_scale,
        };
        Ok(match (latent_phase, start) {
            (Some(phase), KernelStart::Initializer) => {
                latent(models.initial_latent(observation), phase)
            }
            (Some(phase), KernelStart::Broad { sigma }) => latent(
                models.fit_latent(
                    models.broad_kernel(sigma, &device)?,
                    BROAD_FIT_STEPS,
                    LATENT_FIT_LR,
                ),
                phase,
            ),
            (None, KernelStart::Initializer) => {
                let z0 = models.initial_latent(observation);
                GeneratorStart::Features(
                    models.generator.valid().fork(&z0.device()).first_layer(z0),
                )
            }
            (None, KernelStart::Broad { sigma }) => {
                GeneratorStart::Features(models.broad_features(sigma, &device)?)
            }
        })
    }

    /// The kernel model on the autodiff `device`.
    pub(crate) fn build(self, generator: KernelGenerator, device: &Device) -> GlkmKernel {
        match self {
            GeneratorStart::Latent {
                z0,
                until,
                lr_scale,
            } => GlkmKernel::latent_first(generator, z0, until, lr_scale, device),
            GeneratorStart::Features(w0) => GlkmKernel::from_features(generator, w0, device),
        }
    }
}

/// A first phase in which the latent code z is optimised instead of w
/// ([`GlkmKernel::latent_first`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentPhaseConfig {
    /// Fraction of the iterations spent on z (the rest on w).
    pub fraction: f64,
    /// z's learning rate as a multiple of the kernel learning rate.
    pub lr_scale: f64,
}

/// Settings of DIP-GLKM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GlkmConfig {
    /// The DIP image model.
    pub image: DipImageConfig,
    /// The loop settings (the kernel learning rate applies to w).
    pub solver: SolverConfig,
    /// Where the kernel starts (z for a latent phase, w otherwise).
    pub start: KernelStart,
    /// Optimise z first (None: w from the start, as the reference code).
    #[serde(default)]
    pub latent_phase: Option<LatentPhaseConfig>,
}

impl Default for GlkmConfig {
    /// [`GlkmConfig::paper`].
    fn default() -> Self {
        GlkmConfig::paper()
    }
}

impl GlkmConfig {
    /// The reference settings: reference DIP, 5000 iterations, lr 0.01 (image) and 5e-4 (w), halved
    /// at 2000/3000/4000, 1 − SSIM from step 500, joint updates.
    pub fn paper() -> Self {
        GlkmConfig {
            image: DipImageConfig::paper(),
            solver: SolverConfig::dip_reference(5e-4, 500),
            start: KernelStart::Initializer,
            latent_phase: None,
        }
    }

    /// The same settings over `iterations` steps (milestones and the loss switch scale with it).
    pub fn with_iterations(mut self, iterations: usize) -> Self {
        self.solver = self.solver.with_iterations(iterations);
        self
    }

    /// The method as parts: this DIP, the valid uniform blur and the generator's kernel model.
    pub fn method(&self) -> ComposedMethod {
        ComposedMethod {
            image: ImagePart::Dip(self.image.clone()),
            kernel: KernelPart::Generator {
                start: self.start,
                latent_phase: self.latent_phase,
            },
            blur: BlurPart::UniformValid,
            solver: self.solver.clone(),
        }
    }

    /// Runs DIP-GLKM on `observation` (`[1, c, h, w]`, any device; autodiff is enabled here).
    ///
    /// # Errors
    /// Kernel-larger-than-image errors if the generator's kernel does not fit the image, and
    /// the solver's errors.
    pub fn run(
        &self,
        observation: Tensor<4>,
        models: &GlkmModels,
        observer: &mut dyn Observer,
    ) -> Result<SolveOutput> {
        let resources = Resources::glkm(Some(models));
        self.method().run(observation, &resources, observer)
    }

    /// [`GlkmConfig::run`] from a given feature map `w0` (`[1, 4·ngf, s₀, s₀]`) instead of
    /// g₁(E(y)).
    ///
    /// # Errors
    /// As [`GlkmConfig::run`].
    pub fn run_from(
        &self,
        observation: Tensor<4>,
        models: &GlkmModels,
        w0: Tensor<4>,
        observer: &mut dyn Observer,
    ) -> Result<SolveOutput> {
        let resources = Resources::glkm(Some(models));
        self.method().run_prepared(
            observation,
            PreparedKernel::Generator(Box::new(GeneratorStart::Features(w0))),
            &resources,
            observer,
        )
    }
}
