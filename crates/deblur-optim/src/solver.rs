//! The blind solver: one loop for every method (ARCHITECTURE "core abstraction").
//!
//! Each step: x = image model, k = kernel model, ŷ = blur(x, k), loss = data term(ŷ, y)
//! (+ penalties), backward, then an Adam step of each model with its own scheduled learning rate
//! (jointly, or alternating). A preset is just a choice of models and a [`SolverConfig`].

use std::time::{Duration, Instant};

use burn::tensor::Tensor;
use deblur_core::{Boundary, SvolaPlan, UniformBlur};
use deblur_metrics::ssim_tensor;
use deblur_priors::penalties::{hyper_laplacian, kernel_l2, tv_isotropic};
use serde::{Deserialize, Serialize};

use crate::models::{ImageModel, KernelModel};
use crate::schedule::{DataTerm, LossSchedule, MultiStepLr, scale_step};
use crate::{Error, Result};

/// The data term: how far a predicted observation is from the observed one. The built-in
/// [`LossSchedule`] (MSE, then 1 − SSIM) is one; a method may bring its own (e.g. a robust or
/// noise-weighted fit) through [`solve_with`].
pub trait DataFit: Sync {
    /// The term's value at `step`, a scalar tensor `[1]` on the observation's device.
    fn fit(&self, step: usize, predicted: Tensor<4>, observation: Tensor<4>) -> Tensor<1>;
    /// The phase the term is in at `step`: a plateau stop compares windows within one phase
    /// only (the loss jumps when the term changes). Default: one phase.
    fn phase(&self, _step: usize) -> usize {
        0
    }
}

impl DataFit for LossSchedule {
    fn fit(&self, step: usize, predicted: Tensor<4>, observation: Tensor<4>) -> Tensor<1> {
        match self.term(step) {
            DataTerm::Mse => (predicted - observation).square().mean(),
            DataTerm::Charbonnier => ((predicted - observation).square() + 1e-6).sqrt().mean(),
            DataTerm::OneMinusSsim => ssim_tensor(predicted, observation).neg() + 1.0,
        }
    }

    fn phase(&self, step: usize) -> usize {
        match self.term(step) {
            DataTerm::Mse | DataTerm::Charbonnier => 0,
            DataTerm::OneMinusSsim => 1,
        }
    }
}

/// A penalty on the latent image and the kernel, added to the loss of every step (the built-in
/// ones are [`SolverConfig::image_penalty`] and [`SolverConfig::kernel_l2`]).
pub trait Penalty: Sync {
    /// The penalty's value at `step`, a scalar tensor `[1]`.
    fn value(&self, step: usize, latent: &Tensor<4>, kernel: &Tensor<4>) -> Tensor<1>;
}

/// The loss of [`solve_with`]: a data term and any number of extra penalties.
#[derive(Clone, Copy)]
pub struct Terms<'a> {
    /// The data term (instead of [`SolverConfig::loss`]).
    pub data: &'a dyn DataFit,
    /// Penalties added to the built-in ones.
    pub penalties: &'a [&'a dyn Penalty],
}

/// Maps a latent image and a kernel to a predicted observation.
pub trait BlurModel: Sync {
    /// The prediction `[1, c, h, w]`.
    ///
    /// # Errors
    /// Shape errors.
    fn predict(&self, latent: Tensor<4>, kernel: Tensor<4>) -> Result<Tensor<4>>;
    /// Size of the latent image for an observation of `observed` and a kernel of `kernel`.
    fn latent_size(&self, observed: [usize; 2], kernel: [usize; 2]) -> [usize; 2];
    /// Crops a latent image to the observation's field of view.
    fn crop_latent(&self, latent: Tensor<4>, kernel: [usize; 2]) -> Tensor<4>;
}

impl BlurModel for UniformBlur {
    fn predict(&self, latent: Tensor<4>, kernel: Tensor<4>) -> Result<Tensor<4>> {
        Ok(self.apply(latent, kernel)?)
    }

    fn latent_size(&self, observed: [usize; 2], kernel: [usize; 2]) -> [usize; 2] {
        match self.boundary {
            Boundary::Valid => [observed[0] + kernel[0] - 1, observed[1] + kernel[1] - 1],
            Boundary::Same(_) => observed,
        }
    }

    fn crop_latent(&self, latent: Tensor<4>, kernel: [usize; 2]) -> Tensor<4> {
        match self.boundary {
            Boundary::Valid => {
                let [_, _, h, w] = latent.dims();
                let (ch, cw) = ((kernel[0] - 1) / 2, (kernel[1] - 1) / 2);
                latent
                    .narrow(2, ch, h + 1 - kernel[0])
                    .narrow(3, cw, w + 1 - kernel[1])
            }
            Boundary::Same(_) => latent,
        }
    }
}

/// The spatially varying blur, planned for the latent image and kernel sizes of the run (its
/// windows stay on the device across steps): the kernel model gives one kernel per region
/// (`[R, 1, kh, kw]`); the latent image is sized and cropped as for the uniform blur with the same
/// boundary.
impl BlurModel for SvolaPlan {
    fn predict(&self, latent: Tensor<4>, kernel: Tensor<4>) -> Result<Tensor<4>> {
        Ok(self.apply(latent, kernel)?)
    }

    fn latent_size(&self, observed: [usize; 2], kernel: [usize; 2]) -> [usize; 2] {
        UniformBlur::new(self.svola().boundary).latent_size(observed, kernel)
    }

    fn crop_latent(&self, latent: Tensor<4>, kernel: [usize; 2]) -> Tensor<4> {
        UniformBlur::new(self.svola().boundary).crop_latent(latent, kernel)
    }
}

/// Which model is updated at a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateMode {
    /// Both models every step (SelfDeblur, GKPILE, BKS generic deblurring).
    Joint,
    /// `image_steps` image-only steps, then `kernel_steps` kernel-only steps, repeating.
    Alternating {
        /// Image steps per round.
        image_steps: usize,
        /// Kernel steps per round.
        kernel_steps: usize,
    },
}

/// An image penalty added to the data term.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ImagePenalty {
    /// Hyper-Laplacian `Σ (|∇x|² + ε)^{α/2}` with exponent α.
    HyperLaplacian {
        /// Exponent α (2/3 for natural images).
        alpha: f64,
    },
    /// Isotropic total variation.
    TotalVariation,
}

/// Stop early when the loss stops improving.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plateau {
    /// Window of steps whose mean loss is compared with the previous window's.
    pub window: usize,
    /// Stop when the relative improvement between two windows is below this.
    pub min_relative_improvement: f64,
}

/// Settings of the solver loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SolverConfig {
    /// Number of steps.
    pub iterations: usize,
    /// Learning-rate schedule of the image model.
    pub image_lr: MultiStepLr,
    /// Learning-rate schedule of the kernel model.
    pub kernel_lr: MultiStepLr,
    /// Data term per step.
    pub loss: LossSchedule,
    /// Joint or alternating updates.
    pub update: UpdateMode,
    /// Optional image penalty and its weight (relative to the per-pixel data term).
    pub image_penalty: Option<(ImagePenalty, f64)>,
    /// Weight of `Σ k²` (0 for none).
    pub kernel_l2: f64,
    /// Steps at the start during which only the image model is updated (the kernel stays at its
    /// initial estimate while the image model fits the observation). Reference methods: 0.
    #[serde(default)]
    pub kernel_warmup: usize,
    /// Optional early stop.
    pub plateau: Option<Plateau>,
    /// Seed of the device RNG (input perturbations).
    pub seed: u64,
}

impl Default for SolverConfig {
    /// SelfDeblur's reference schedule ([`SolverConfig::dip_reference`] with kernel lr 1e-4,
    /// 1 − SSIM from step 1000).
    fn default() -> Self {
        SolverConfig::dip_reference(1e-4, 1000)
    }
}

impl SolverConfig {
    /// `iterations` joint steps at constant learning rates, MSE data term, no penalty, no early
    /// stop: a plain loop to build on with the `with_*` setters.
    pub fn constant(iterations: usize, image_lr: f64, kernel_lr: f64) -> Self {
        SolverConfig {
            iterations,
            image_lr: MultiStepLr::constant(image_lr),
            kernel_lr: MultiStepLr::constant(kernel_lr),
            loss: LossSchedule {
                ssim_from: None,
                charbonnier: false,
            },
            update: UpdateMode::Joint,
            image_penalty: None,
            kernel_l2: 0.0,
            kernel_warmup: 0,
            plateau: None,
            seed: 0,
        }
    }

    /// Sets [`SolverConfig::image_lr`].
    pub fn with_image_lr(mut self, schedule: MultiStepLr) -> Self {
        self.image_lr = schedule;
        self
    }

    /// Sets [`SolverConfig::kernel_lr`].
    pub fn with_kernel_lr(mut self, schedule: MultiStepLr) -> Self {
        self.kernel_lr = schedule;
        self
    }

    /// Sets [`SolverConfig::loss`].
    pub fn with_loss(mut self, loss: LossSchedule) -> Self {
        self.loss = loss;
        self
    }

    /// Sets [`SolverConfig::update`].
    pub fn with_update(mut self, update: UpdateMode) -> Self {
        self.update = update;
        self
    }

    /// Sets [`SolverConfig::image_penalty`] to `penalty` with weight `weight`.
    pub fn with_image_penalty(mut self, penalty: ImagePenalty, weight: f64) -> Self {
        self.image_penalty = Some((penalty, weight));
        self
    }

    /// Sets [`SolverConfig::kernel_l2`].
    pub fn with_kernel_l2(mut self, weight: f64) -> Self {
        self.kernel_l2 = weight;
        self
    }

    /// Sets [`SolverConfig::kernel_warmup`].
    pub fn with_kernel_warmup(mut self, steps: usize) -> Self {
        self.kernel_warmup = steps;
        self
    }

    /// Sets [`SolverConfig::plateau`].
    pub fn with_plateau(mut self, plateau: Plateau) -> Self {
        self.plateau = Some(plateau);
        self
    }

    /// Sets [`SolverConfig::seed`].
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The schedule shared by the DIP methods' reference scripts (SelfDeblur, GKPILE): 5000 joint
    /// steps, image lr 0.01 and kernel lr `kernel_lr`, both halved at 2000/3000/4000, MSE then
    /// 1 − SSIM from `ssim_from`.
    pub fn dip_reference(kernel_lr: f64, ssim_from: usize) -> Self {
        let decay = |base| MultiStepLr {
            base,
            milestones: vec![2000, 3000, 4000],
            gamma: 0.5,
        };
        SolverConfig::constant(5000, 0.01, kernel_lr)
            .with_image_lr(decay(0.01))
            .with_kernel_lr(decay(kernel_lr))
            .with_loss(LossSchedule {
                ssim_from: Some(ssim_from),
                charbonnier: false,
            })
    }

    /// The same settings over `iterations` steps: learning-rate milestones and the loss switch
    /// scale with it (a 5000-step schedule run for 500 steps switches at a tenth of the way).
    pub fn with_iterations(mut self, iterations: usize) -> Self {
        let from = self.iterations;
        self.image_lr = self.image_lr.rescaled(from, iterations);
        self.kernel_lr = self.kernel_lr.rescaled(from, iterations);
        self.loss.ssim_from = self.loss.ssim_from.map(|s| scale_step(s, from, iterations));
        self.kernel_warmup = scale_step(self.kernel_warmup, from, iterations);
        self.iterations = iterations;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the problem.
    pub fn validate(&self) -> Result<()> {
        let bad = |setting, rule: &str| Err(Error::setting(setting, rule));
        if self.iterations == 0 {
            return bad("iterations", "must be at least 1");
        }
        for (name, s) in [("image", &self.image_lr), ("kernel", &self.kernel_lr)] {
            if !(s.base >= 0.0 && s.base.is_finite() && s.gamma > 0.0) {
                return Err(Error::setting(
                    name,
                    format!(
                        "learning rate {} must be finite and ≥ 0, gamma {} above 0",
                        s.base, s.gamma
                    ),
                ));
            }
        }
        if let UpdateMode::Alternating {
            image_steps,
            kernel_steps,
        } = self.update
            && image_steps + kernel_steps == 0
        {
            return bad(
                "update",
                "alternating updates need at least one step per round",
            );
        }
        if let Some(p) = self.plateau
            && p.window == 0
        {
            return bad("plateau window", "must be at least 1");
        }
        Ok(())
    }
}

/// What the solver reports after each step.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Steps done (1-based).
    pub step: usize,
    /// Total steps planned.
    pub total: usize,
    /// Loss of this step.
    pub loss: f32,
    /// Time since the start.
    pub elapsed: Duration,
    /// Estimated time left.
    pub eta: Duration,
}

/// Receives progress and, on request, snapshots of the current estimate.
pub trait Observer: Send {
    /// Called after every step.
    fn on_step(&mut self, _progress: &Progress) {}
    /// Whether a snapshot is wanted after `step` (1-based).
    fn wants_snapshot(&self, _step: usize) -> bool {
        false
    }
    /// A snapshot: the cropped latent image and the kernel.
    fn on_snapshot(&mut self, _step: usize, _image: Tensor<4>, _kernel: Tensor<4>) {}
    /// The first start of a blind estimate left `first_residual` noise levels of re-blur
    /// residual, above the [`crate::Restart`] limit: a second start with `seed` follows, whose
    /// steps count from 1 again.
    fn on_restart(&mut self, _first_residual: f64, _seed: u64) {}
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {}

/// Why the loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum StopReason {
    /// All iterations were run.
    Completed,
    /// The loss stopped improving.
    Plateau,
}

/// The result of a solve.
#[derive(Clone, Debug)]
pub struct SolveOutput {
    /// The latent image cropped to the observation's field of view, `[1, c, h, w]`.
    pub image: Tensor<4>,
    /// The full latent image.
    pub latent: Tensor<4>,
    /// The kernel.
    pub kernel: Tensor<4>,
    /// Loss per step.
    pub losses: Vec<f32>,
    /// Why it stopped.
    pub stop: StopReason,
    /// Wall time.
    pub seconds: f64,
}

/// Runs the solver loop on `observation` (`[1, c, h, w]`; moved to autodiff if it is not).
///
/// # Errors
/// [`Error::InvalidSetting`], shape errors from the blur, or [`Error::NonFinite`] if the loss
/// becomes NaN or infinite.
pub fn solve(
    observation: Tensor<4>,
    image: &mut dyn ImageModel,
    kernel: &mut dyn KernelModel,
    blur: &dyn BlurModel,
    config: &SolverConfig,
    observer: &mut dyn Observer,
) -> Result<SolveOutput> {
    let terms = Terms {
        data: &config.loss,
        penalties: &[],
    };
    solve_with(observation, image, kernel, blur, config, terms, observer)
}

/// [`solve`] with another data term and extra penalties (`terms`); `config.loss` is then unused.
///
/// # Errors
/// As [`solve`].
pub fn solve_with(
    observation: Tensor<4>,
    image: &mut dyn ImageModel,
    kernel: &mut dyn KernelModel,
    blur: &dyn BlurModel,
    config: &SolverConfig,
    terms: Terms<'_>,
    observer: &mut dyn Observer,
) -> Result<SolveOutput> {
    // a step is hundreds of small parallel operations: run them from a worker of the pool
    deblur_core::on_pool(move || {
        solve_here(observation, image, kernel, blur, config, terms, observer)
    })
}

/// [`solve_with`] on the calling thread.
fn solve_here(
    observation: Tensor<4>,
    image: &mut dyn ImageModel,
    kernel: &mut dyn KernelModel,
    blur: &dyn BlurModel,
    config: &SolverConfig,
    terms: Terms<'_>,
    observer: &mut dyn Observer,
) -> Result<SolveOutput> {
    config.validate()?;
    let observation = observation.autodiff().detach();
    observation.device().seed(config.seed);
    let start = Instant::now();
    // reserve for the common run lengths only: the count is user input
    let mut losses = Vec::with_capacity(config.iterations.min(1 << 16));
    let mut stop = StopReason::Completed;
    let mut last_phase = terms.data.phase(0);
    let mut window_start = 0usize;
    for step in 0..config.iterations {
        let (update_image, update_kernel) = match config.update {
            UpdateMode::Joint => (true, true),
            UpdateMode::Alternating {
                image_steps,
                kernel_steps,
            } => {
                let phase = step % (image_steps + kernel_steps);
                (phase < image_steps, phase >= image_steps)
            }
        };
        let latent = image.forward(step);
        let k = kernel.forward(step);
        let predicted = blur.predict(latent.clone(), k.clone())?;
        let phase = terms.data.phase(step);
        let mut loss = terms.data.fit(step, predicted, observation.clone());
        for penalty in terms.penalties {
            loss = loss + penalty.value(step, &latent, &k);
        }
        if let Some((penalty, weight)) = config.image_penalty {
            let n = latent.shape().num_elements() as f64;
            let value = match penalty {
                ImagePenalty::HyperLaplacian { alpha } => hyper_laplacian(latent, alpha, 1e-6),
                ImagePenalty::TotalVariation => tv_isotropic(latent, 1e-6),
            };
            loss = loss + value * (weight / n);
        }
        if config.kernel_l2 > 0.0 {
            loss = loss + kernel_l2(k) * config.kernel_l2;
        }
        // the models' own terms (none for the DIP and the kernel MLP)
        for term in [image.penalty(), kernel.penalty()].into_iter().flatten() {
            loss = loss + term;
        }
        let value = loss.clone().into_scalar::<f32>();
        if !value.is_finite() {
            return Err(Error::NonFinite { step, value });
        }
        let mut grads = loss.backward();
        if update_image {
            image.update(&mut grads, config.image_lr.lr(step));
        }
        if update_kernel && step >= config.kernel_warmup {
            kernel.update(&mut grads, config.kernel_lr.lr(step));
        }
        losses.push(value);
        let elapsed = start.elapsed();
        let done = step + 1;
        let eta = elapsed.mul_f64((config.iterations - done) as f64 / done as f64);
        observer.on_step(&Progress {
            step: done,
            total: config.iterations,
            loss: value,
            elapsed,
            eta,
        });
        if observer.wants_snapshot(done) {
            let size = kernel.size();
            observer.on_snapshot(
                done,
                blur.crop_latent(image.latent(), size),
                kernel.kernel(),
            );
        }
        if phase != last_phase {
            last_phase = phase;
            window_start = step;
        }
        if let Some(p) = config.plateau {
            let seen = done - window_start;
            if seen >= 2 * p.window {
                let recent = &losses[done - p.window..];
                let before = &losses[done - 2 * p.window..done - p.window];
                let mean =
                    |s: &[f32]| s.iter().map(|&v| f64::from(v)).sum::<f64>() / s.len() as f64;
                let (a, b) = (mean(before), mean(recent));
                if (a - b) / a.abs().max(1e-12) < p.min_relative_improvement {
                    stop = StopReason::Plateau;
                    break;
                }
            }
        }
    }
    let latent = image.latent();
    let kernel_out = kernel.kernel();
    Ok(SolveOutput {
        image: blur.crop_latent(latent.clone(), kernel.size()),
        latent,
        kernel: kernel_out,
        losses,
        stop,
        seconds: start.elapsed().as_secs_f64(),
    })
}
