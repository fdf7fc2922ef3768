//! Blind methods assembled from parts: an image model, a kernel model, a blur model and a
//! schedule ([`ComposedMethod`]). SelfDeblur (Ren et al. 2020) is a DIP image, the kernel MLP and
//! the valid uniform blur; DIP-GLKM (GLKM, Algorithm 2) is the same image and blur with the learned
//! kernel generator; the variational DIP, the encoded kernel space and the spatially varying blur
//! each add one part here (a variant of [`ImagePart`], [`KernelPart`] or [`BlurPart`] and its
//! arm in that part's `build`), and the pipeline runs every combination through the one solver
//! loop of [`crate::solver`] without knowing which it is.
//!
//! Each part is plain data (serialisable, comparable): a method can be saved beside its results
//! and a preset is just a value of this type ([`crate::BlindRequest::preset`]).

use burn::tensor::{Device, Tensor};
use deblur_core::{Boundary, UniformBlur};
use deblur_priors::KernelMlpConfig;
use serde::{Deserialize, Serialize};

use crate::dip_blind::{DipImageConfig, check_observation};
use crate::glkm::{GeneratorStart, GlkmModels, KernelStart, LatentPhaseConfig};
use crate::models::{DipImage, ImageModel, KernelModel, MlpKernel};
use crate::solver::{BlurModel, Observer, SolveOutput, SolverConfig, Terms, solve, solve_with};
use crate::space::{CodeDip, CodeGenerator, CodeKernel, CodeStart, SpaceBlur};
use crate::vdip::{VdipImageConfig, VdipObjective, VdipVariant};
use crate::{Error, Result};
use deblur_models::KernelSpace;

/// Trained models a part may need at run time (parts that learn nothing need none).
#[derive(Clone, Copy, Debug, Default)]
pub struct Resources<'a> {
    /// The kernel generator and initializer of [`KernelPart::Generator`].
    pub glkm: Option<&'a GlkmModels>,
    /// The encoded blur-kernel space (F and G) of [`KernelPart::Code`] and
    /// [`BlurPart::KernelSpace`].
    pub kernel_space: Option<&'a KernelSpace>,
    /// The learned denoiser of the plug-and-play final step ([`crate::FinalPrior::PlugAndPlay`]).
    pub denoiser: Option<&'a deblur_priors::Denoiser>,
}

impl<'a> Resources<'a> {
    /// No trained models: enough for every part that learns nothing beforehand.
    pub fn none() -> Self {
        Resources::default()
    }

    /// The GLKM models, if any (as [`crate::BlindOptions::load_models`] returns them).
    pub fn glkm(models: Option<&'a GlkmModels>) -> Self {
        Resources {
            glkm: models,
            ..Resources::default()
        }
    }

    /// The same resources with the kernel-space model `model`.
    pub fn with_kernel_space(mut self, model: Option<&'a KernelSpace>) -> Self {
        self.kernel_space = model;
        self
    }

    /// The same resources with the plug-and-play denoiser `denoiser`.
    pub fn with_denoiser(mut self, denoiser: Option<&'a deblur_priors::Denoiser>) -> Self {
        self.denoiser = denoiser;
        self
    }
}

/// The image model: what produces the latent sharp image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ImagePart {
    /// A deep image prior on fixed noise (Ulyanov et al. 2018), its output channels taken from
    /// the observation.
    Dip(DipImageConfig),
    /// The variational deep image prior (Huo et al. 2023): a DIP emitting a per-pixel mean and
    /// standard deviation, fitted through samples under its own loss ([`crate::vdip`]).
    Vdip(VdipImageConfig),
}

impl ImagePart {
    /// The model for a latent image of `channels × latent` and a kernel of `kernel`, in a loop
    /// run by `solver`, on the autodiff `device`.
    pub fn build(
        &self,
        channels: usize,
        latent: [usize; 2],
        kernel: [usize; 2],
        solver: &SolverConfig,
        device: &Device,
    ) -> Box<dyn ImageModel> {
        match self {
            ImagePart::Dip(c) => {
                let mut dip = c.dip.clone();
                dip.output_channels = channels;
                Box::new(DipImage::new(
                    &dip,
                    latent,
                    c.reg_noise_std,
                    c.noise_seed,
                    device,
                ))
            }
            ImagePart::Vdip(c) => {
                Box::new(c.build(channels, latent, kernel, variational_until(solver), device))
            }
        }
    }

    /// The loss the part brings instead of the solver's data term (`None`: the solver's own,
    /// [`SolverConfig::loss`]), for `observation` on the autodiff device.
    pub fn objective(
        &self,
        observation: &Tensor<4>,
        latent: [usize; 2],
        kernel: [usize; 2],
        solver: &SolverConfig,
    ) -> Option<VdipObjective> {
        match self {
            ImagePart::Dip(_) => None,
            ImagePart::Vdip(c) => {
                Some(c.objective(observation, latent, kernel, variational_until(solver)))
            }
        }
    }

    fn reseed(&mut self, seed: u64) {
        match self {
            ImagePart::Dip(c) => c.noise_seed = seed,
            ImagePart::Vdip(c) => c.noise_seed = seed,
        }
    }

    fn rescaled(self, from: usize, to: usize) -> Self {
        match self {
            ImagePart::Dip(c) => ImagePart::Dip(c),
            ImagePart::Vdip(c) => ImagePart::Vdip(c.rescaled(from, to)),
        }
    }
}

/// The step where a variational part's sampled phase ends: the solver's switch to 1 − SSIM.
fn variational_until(solver: &SolverConfig) -> usize {
    solver.loss.ssim_from.unwrap_or(solver.iterations)
}

/// The kernel model: what produces the blur kernel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum KernelPart {
    /// SelfDeblur's fully connected kernel network on a fixed noise vector.
    Mlp {
        /// Kernel `[kh, kw]` (an upper bound of the blur's extent).
        size: [usize; 2],
        /// Hidden width. Reference: 1000.
        hidden: usize,
        /// Seed of the fixed input vector.
        seed: u64,
    },
    /// The learned kernel generator (GLKM), frozen; its feature map w (or first its latent code
    /// z) is optimised. Needs [`Resources::glkm`].
    Generator {
        /// Where w starts.
        start: KernelStart,
        /// Optimise z first (`None`: w from the start, as the reference code).
        latent_phase: Option<LatentPhaseConfig>,
    },
    /// A code of the encoded blur-kernel space (\[BKS\] Algorithm 1), for
    /// [`BlurPart::KernelSpace`]; needs [`Resources::kernel_space`]. Its "kernel" is the code
    /// `[1, C, ⌈h/128⌉, ⌈w/128⌉]`, and it adds `norm_weight · ‖k‖₂` to the loss.
    Code {
        /// Where the code starts.
        start: CodeStart,
        /// Optimised directly or produced by a small network.
        generator: CodeGenerator,
        /// Weight of the code's Euclidean norm. Reference: 5e-5 (first half of the run).
        norm_weight: f64,
    },
}

/// A kernel part with everything computed from the observation before the run is seeded.
pub(crate) enum PreparedKernel {
    Mlp(KernelMlpConfig, u64),
    Generator(Box<GeneratorStart>),
    Code {
        start: Box<Tensor<4>>,
        generator: CodeGenerator,
        norm_weight: f64,
    },
}

impl KernelPart {
    /// The kernel side when the part fixes it by its settings (`None`: fixed by trained weights).
    pub fn side(&self) -> Option<usize> {
        match self {
            KernelPart::Mlp { size, .. } => Some(size[0].max(size[1])),
            KernelPart::Generator { .. } | KernelPart::Code { .. } => None,
        }
    }

    /// The kernel `[kh, kw]` the part makes with `resources`.
    ///
    /// # Errors
    /// [`Error::MissingModels`] when a learned part's models are missing.
    pub fn size(&self, resources: &Resources) -> Result<[usize; 2]> {
        match self {
            KernelPart::Mlp { size, .. } => Ok(*size),
            KernelPart::Generator { .. } => {
                let k = glkm_models(resources)?.kernel_size();
                Ok([k, k])
            }
            // the code's grid follows the image; nothing to fit into it
            KernelPart::Code { .. } => {
                space_model(resources)?;
                Ok([1, 1])
            }
        }
    }

    pub(crate) fn prepare(
        &self,
        observation: &Tensor<4>,
        resources: &Resources,
        iterations: usize,
    ) -> Result<PreparedKernel> {
        Ok(match self {
            KernelPart::Mlp { size, hidden, seed } => {
                PreparedKernel::Mlp(KernelMlpConfig::new(*size).with_hidden(*hidden), *seed)
            }
            KernelPart::Generator {
                start,
                latent_phase,
            } => PreparedKernel::Generator(Box::new(GeneratorStart::prepare(
                glkm_models(resources)?,
                observation,
                *start,
                *latent_phase,
                iterations,
            )?)),
            KernelPart::Code {
                start,
                generator,
                norm_weight,
            } => PreparedKernel::Code {
                start: Box::new(crate::space::start_code(
                    space_model(resources)?,
                    observation,
                    *start,
                )?),
                generator: *generator,
                norm_weight: *norm_weight,
            },
        })
    }

    fn reseed(&mut self, seed: u64) {
        match self {
            KernelPart::Mlp { seed: s, .. } => *s = seed,
            KernelPart::Code {
                generator: CodeGenerator::Dip { seed: s, .. },
                ..
            } => *s = seed,
            KernelPart::Generator { .. } | KernelPart::Code { .. } => {}
        }
    }
}

impl PreparedKernel {
    fn build(self, resources: &Resources, device: &Device) -> Result<Box<dyn KernelModel>> {
        Ok(match self {
            PreparedKernel::Mlp(config, seed) => Box::new(MlpKernel::new(&config, seed, device)),
            PreparedKernel::Generator(start) => {
                Box::new(start.build(glkm_models(resources)?.generator.clone(), device))
            }
            PreparedKernel::Code {
                start,
                generator: CodeGenerator::Direct,
                norm_weight,
            } => Box::new(CodeKernel::new(*start, norm_weight, device)),
            PreparedKernel::Code {
                start,
                generator:
                    CodeGenerator::Dip {
                        width,
                        warmup,
                        seed,
                    },
                norm_weight,
            } => Box::new(CodeDip::new(
                *start,
                width,
                warmup,
                seed,
                norm_weight,
                device,
            )),
        })
    }
}

fn glkm_models<'a>(resources: &Resources<'a>) -> Result<&'a GlkmModels> {
    resources.glkm.ok_or(crate::error::MISSING_GLKM)
}

fn space_model<'a>(resources: &Resources<'a>) -> Result<&'a KernelSpace> {
    resources
        .kernel_space
        .ok_or(crate::error::MISSING_KERNEL_SPACE)
}

/// Side of the point response reported as the kernel-space method's kernel.
pub const SPACE_RESPONSE_SIDE: usize = 31;

/// Adam steps (rate 0.01) of the kernel-space read-out of a whole image through F with the code
/// estimated on a window ([`crate::space::read_out`]).
pub const SPACE_READ_OUT_STEPS: usize = 150;

/// The blur model: how a latent image and a kernel make the observation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlurPart {
    /// One kernel for the whole image, valid convolution: the latent image is larger than the
    /// observation by the kernel minus one, so no boundary is assumed.
    #[default]
    UniformValid,
    /// A kernel per region of `grid` blended by `window` tapers (SVOLA, valid convolution as
    /// above; the kernel model makes `[R, 1, kh, kw]`, e.g. [`crate::models::KernelFieldModel`]).
    Svola {
        /// Regions `[rows, columns]`.
        grid: [usize; 2],
        /// The window taper.
        window: deblur_core::WindowShape,
    },
    /// The trained blur operator F(x, k) of the encoded kernel space (\[BKS\]), frozen; the
    /// kernel part gives its code ([`KernelPart::Code`]). Same-size: the latent image is the
    /// observation's size. Needs [`Resources::kernel_space`].
    KernelSpace,
}

impl BlurPart {
    /// The latent image's size for an observation of `observed` and kernels of `kernel` (the
    /// convolutions: the valid convolution's `observed + kernel − 1`; F: `observed`).
    pub fn latent_size(&self, observed: [usize; 2], kernel: [usize; 2]) -> [usize; 2] {
        match self {
            BlurPart::KernelSpace => observed,
            _ => UniformBlur::new(Boundary::Valid).latent_size(observed, kernel),
        }
    }

    /// The model for latent images of `latent` and kernels of `kernel` on `device` (SVOLA's
    /// windows are computed there once), with the trained models of `resources`.
    ///
    /// # Errors
    /// [`Error::Core`] for a grid finer than the image, [`Error::MissingModels`] for F without
    /// its model.
    pub fn build(
        &self,
        latent: [usize; 2],
        kernel: [usize; 2],
        resources: &Resources,
        device: &Device,
    ) -> Result<Box<dyn BlurModel>> {
        Ok(match self {
            BlurPart::UniformValid => Box::new(UniformBlur::new(Boundary::Valid)),
            BlurPart::Svola { grid, window } => Box::new(
                deblur_core::Svola::new(*grid, Boundary::Valid)
                    .with_window(*window)
                    .plan(latent, kernel, device)?,
            ),
            BlurPart::KernelSpace => Box::new(SpaceBlur::new(space_model(resources)?, device)),
        })
    }

    /// A picture of the estimated blur from the kernel model's output `estimate`: the kernel
    /// itself for the convolutions; F's response to a point with the code for the kernel space
    /// ([`crate::space::point_response`], [`SPACE_RESPONSE_SIDE`]², a delta if F gives none).
    ///
    /// # Errors
    /// [`Error::MissingModels`] for F without its model, kernel and model input errors.
    pub fn kernel_picture(
        &self,
        estimate: &Tensor<4>,
        resources: &Resources,
    ) -> Result<deblur_core::Kernel> {
        Ok(match self {
            BlurPart::KernelSpace => crate::space::point_response(
                space_model(resources)?,
                estimate,
                SPACE_RESPONSE_SIDE,
            )?
            .map_or_else(|| deblur_core::Kernel::delta([SPACE_RESPONSE_SIDE; 2]), Ok)?,
            _ => deblur_core::Kernel::from_tensor(estimate.clone())?,
        })
    }

    /// Whether the part restores a whole image itself from an estimate made on a window
    /// ([`BlurPart::read_out`]); the convolutions leave that to non-blind deconvolution.
    pub fn reads_out_itself(&self) -> bool {
        *self == BlurPart::KernelSpace
    }

    /// The whole `image` (`[1, c, h, w]`) restored through this blur model with the estimate
    /// fixed: for F, [`crate::space::read_out`] ([`SPACE_READ_OUT_STEPS`] Adam steps of rate 0.01,
    /// 0.02 · mean HL).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for a part that does not read out ([`BlurPart::reads_out_itself`]),
    /// [`Error::MissingModels`], the solver's errors.
    pub fn read_out(
        &self,
        image: Tensor<4>,
        estimate: Tensor<4>,
        resources: &Resources,
    ) -> Result<Tensor<4>> {
        match self {
            BlurPart::KernelSpace => crate::space::read_out(
                space_model(resources)?,
                image,
                estimate,
                SPACE_READ_OUT_STEPS,
                0.01,
                0.02,
            ),
            _ => Err(Error::setting(
                "blur part",
                "a convolution is read out by non-blind deconvolution, not by the part".to_string(),
            )),
        }
    }
}

/// A blind method of the solver loop, built from parts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComposedMethod {
    /// The image model.
    pub image: ImagePart,
    /// The kernel model.
    pub kernel: KernelPart,
    /// The blur model.
    pub blur: BlurPart,
    /// The schedule: steps, learning rates, data terms and penalties.
    pub solver: SolverConfig,
}

impl ComposedMethod {
    /// The method with every random choice drawn from `seed`: the device RNG of the loop and the
    /// fixed inputs of the networks.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.solver.seed = seed;
        self.image.reseed(seed);
        self.kernel.reseed(seed);
        self
    }

    /// The same method over `iterations` steps (milestones and the loss switch scale with it).
    pub fn with_iterations(mut self, iterations: usize) -> Self {
        self.image = self.image.rescaled(self.solver.iterations, iterations);
        self.solver = self.solver.with_iterations(iterations);
        self
    }

    /// The same method with the variational DIP of `variant` as its image model: its network
    /// is this method's DIP with \[VD\]'s three input channels (and its seed), its loop \[VD\]'s
    /// schedule (warm-up, variational phase, 1 − SSIM; [`VdipImageConfig::reference_solver`])
    /// scaled to this method's step count, at this method's kernel learning rate; the early
    /// stop and the seed are kept.
    pub fn with_vdip(mut self, variant: VdipVariant) -> Self {
        let (dip, seed) = match &self.image {
            ImagePart::Dip(c) => (c.dip.clone(), c.noise_seed),
            ImagePart::Vdip(c) => (c.dip.clone(), c.noise_seed),
        };
        let mut vdip = VdipImageConfig::paper(variant).with_dip(dip.with_input_channels(3));
        vdip.noise_seed = seed;
        let iterations = self.solver.iterations;
        let reference = vdip.reference_solver(self.solver.kernel_lr.base);
        let full = reference.iterations;
        self.solver = SolverConfig {
            plateau: self.solver.plateau,
            seed: self.solver.seed,
            ..reference
        }
        .with_iterations(iterations);
        self.image = ImagePart::Vdip(vdip.rescaled(full, iterations));
        self
    }

    /// Runs the method on `observation` (`[1, c, h, w]`, any device; autodiff is enabled here).
    /// Whatever a part computes from the observation (GLKM's initializer, its w-space fit) comes
    /// first; then the device RNG is seeded with `solver.seed` and the image model, then the
    /// kernel model are initialised, so a run is reproducible.
    ///
    /// # Errors
    /// [`Error::MissingModels`], [`Error::InvalidSetting`] for a batch, kernel-larger-than-image errors,
    /// and the solver's errors.
    pub fn run(
        &self,
        observation: Tensor<4>,
        resources: &Resources,
        observer: &mut dyn Observer,
    ) -> Result<SolveOutput> {
        let kernel_size = self.fitting_kernel(&observation, resources)?;
        let prepared = self
            .kernel
            .prepare(&observation, resources, self.solver.iterations)?;
        self.solve_prepared(observation, kernel_size, prepared, resources, observer)
    }

    /// [`ComposedMethod::run`] with the kernel part's start given.
    pub(crate) fn run_prepared(
        &self,
        observation: Tensor<4>,
        prepared: PreparedKernel,
        resources: &Resources,
        observer: &mut dyn Observer,
    ) -> Result<SolveOutput> {
        let kernel_size = self.fitting_kernel(&observation, resources)?;
        self.solve_prepared(observation, kernel_size, prepared, resources, observer)
    }

    /// The kernel size, once the observation is known to be one image that holds it.
    fn fitting_kernel(&self, observation: &Tensor<4>, resources: &Resources) -> Result<[usize; 2]> {
        let kernel_size = self.kernel.size(resources)?;
        let [_, _, h, w] = observation.dims();
        if self.kernel.side().is_none() && (kernel_size[0] > h || kernel_size[1] > w) {
            // trained weights fix the size: the usual advice (a smaller kernel) does not apply
            return Err(Error::setting(
                "kernel model",
                format!(
                    "the trained kernel model makes {}x{} kernels, larger than the {w}x{h} image",
                    kernel_size[0], kernel_size[1]
                ),
            ));
        }
        check_observation(observation.dims(), kernel_size)?;
        Ok(kernel_size)
    }

    fn solve_prepared(
        &self,
        observation: Tensor<4>,
        kernel_size: [usize; 2],
        prepared: PreparedKernel,
        resources: &Resources,
        observer: &mut dyn Observer,
    ) -> Result<SolveOutput> {
        let [_, c, h, w] = observation.dims();
        let device = observation.device().autodiff();
        device.seed(self.solver.seed);
        let latent = self.blur.latent_size([h, w], kernel_size);
        if self.blur == BlurPart::KernelSpace {
            crate::space::check_space_input(space_model(resources)?, c, [h, w])?;
        }
        let blur = self.blur.build(latent, kernel_size, resources, &device)?;
        let mut image = self
            .image
            .build(c, latent, kernel_size, &self.solver, &device);
        let mut kernel = prepared.build(resources, &device)?;
        let observation = observation.autodiff();
        match self
            .image
            .objective(&observation, latent, kernel_size, &self.solver)
        {
            None => solve(
                observation,
                image.as_mut(),
                kernel.as_mut(),
                blur.as_ref(),
                &self.solver,
                observer,
            ),
            Some(objective) => solve_with(
                observation,
                image.as_mut(),
                kernel.as_mut(),
                blur.as_ref(),
                &self.solver,
                Terms {
                    data: &objective,
                    penalties: &[&objective],
                },
                observer,
            ),
        }
    }
}
