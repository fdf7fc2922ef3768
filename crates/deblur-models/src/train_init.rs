//! Collaborative training of the kernel initializer E (\[GLKM\] §IV-C, Eq. 3–4, Algorithm 1; GKPILE
//! `train_initializer.py`): for a batch of
//! blurred images y with known kernels k, E predicts z_e = E(y); an inner GAN inversion, warm-started
//! from z_e, finds z_i with G(z_i) ≈ k; E is then updated on
//! `L1(G(z_e), k) + λ · MSE(z_e, z_i)` (λ = 0.1) through the frozen generator (evaluation mode).
//!
//! CPU settings are smaller than the reference (256² crops, batch 128, 100 inner steps): crop,
//! batch and inner steps are configurable and recorded in the run's `config.json`. Batch `s` is
//! drawn from its own seed `(seed, s)`, so a resumed run sees the same data as an uninterrupted one.

use std::path::Path;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use deblur_core::{Boundary, Kernel, Padding};
use deblur_kernels::bank::kernel_rng;
use deblur_kernels::{ImageSource, PairConfig, PairGenerator};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::generator::KernelGenerator;
use crate::initializer::{InitializerConfig, KernelInitializer};
use crate::inversion::invert;
use crate::train::{commit_checkpoint, record_err, write_run_state};
use crate::weights::apply_record;
use crate::{Error, Result};

/// Settings of an initializer training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitTrainConfig {
    /// The network.
    pub model: InitializerConfig,
    /// Pairs per batch. Reference: 128.
    pub batch: usize,
    /// Adam learning rate of E. Reference: 1e-4.
    pub lr: f64,
    /// Inner inversion steps per batch. Reference: 100.
    pub inner_steps: usize,
    /// Inner inversion learning rate. Reference: 0.01.
    pub inner_lr: f64,
    /// Weight λ of the latent term. Reference: 0.1.
    pub latent_weight: f64,
    /// Range of the Gaussian noise σ added to each blurred input (drawn uniformly per pair, on
    /// intensities in [0, 1]). Reference: none; `[0, 0.02]` matches inputs like the Lai set's 1 %.
    /// Runs from before this setting read as none.
    #[serde(default)]
    pub noise_std: [f32; 2],
    /// Master seed.
    pub seed: u64,
}

impl Default for InitTrainConfig {
    /// [`InitTrainConfig::reference`].
    fn default() -> Self {
        InitTrainConfig::reference()
    }
}

impl InitTrainConfig {
    /// The reference settings (ResNet-18, batch 128, 100 inner steps).
    pub fn reference() -> Self {
        InitTrainConfig {
            model: InitializerConfig::new(),
            batch: 128,
            lr: 1e-4,
            inner_steps: 100,
            inner_lr: 0.01,
            latent_weight: 0.1,
            noise_std: [0.0, 0.0],
            seed: 0,
        }
    }
}

/// Losses of one step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitLosses {
    /// Step number (1-based).
    pub step: usize,
    /// Total loss.
    pub loss: f32,
    /// L1(G(E(y)), k).
    pub kernel_l1: f32,
    /// MSE(E(y), z_i).
    pub latent_mse: f32,
    /// L1(G(z_i), k) after the inner inversion.
    pub inverted_l1: f32,
}

/// Training state of the initializer.
pub struct InitTrainer<I: ImageSource + Clone> {
    config: InitTrainConfig,
    initializer: KernelInitializer,
    generator: KernelGenerator,
    optim: ModuleOptimizer,
    images: I,
    kernels: Vec<Kernel>,
    step: usize,
    device: Device,
}

impl<I: ImageSource + Clone> InitTrainer<I> {
    /// Starts a run: `generator` is frozen; `images` gives sharp crops; `kernels` the bank.
    ///
    /// # Errors
    /// [`Error::EmptyBank`], [`Error::KernelSizeMismatch`] for kernels of another size than the
    /// generator's, [`Error::InvalidSetting`] for crops smaller than the kernels or of another
    /// channel count.
    pub fn new(
        config: InitTrainConfig,
        generator: KernelGenerator,
        images: I,
        kernels: Vec<Kernel>,
        device: &Device,
    ) -> Result<Self> {
        let k = generator.kernel_size();
        if kernels.is_empty() {
            return Err(Error::EmptyBank);
        }
        if let Some(bad) = kernels.iter().find(|kernel| kernel.size() != [k, k]) {
            return Err(Error::KernelSizeMismatch {
                found: bad.size(),
                expected: [k, k],
            });
        }
        if images.crop_size() < k || images.channels() != config.model.in_channels {
            return Err(Error::InvalidSetting {
                setting: "crop",
                rule: format!(
                    "crops of {} px with {} channel(s) given; the initializer needs at least {k} \
                     px with {} channel(s)",
                    images.crop_size(),
                    images.channels(),
                    config.model.in_channels
                ),
            });
        }
        let device = device.clone().autodiff();
        device.seed(config.seed);
        let initializer = config.model.init(&device);
        let generator = generator.fork(&device).freeze();
        Ok(InitTrainer {
            optim: AdamConfig::new().init(),
            config,
            initializer,
            generator,
            images,
            kernels,
            step: 0,
            device,
        })
    }

    /// Steps done.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// The initializer being trained.
    pub fn initializer(&self) -> &KernelInitializer {
        &self.initializer
    }

    /// One outer step (with its inner inversion).
    ///
    /// # Errors
    /// Errors of the image source.
    pub fn train_step(&mut self) -> Result<InitLosses> {
        let pair_seed = kernel_rng(self.config.seed, self.step as u64).random::<u64>();
        let pairs = PairConfig {
            batch: self.config.batch,
            boundary: Boundary::Same(Padding::Reflect),
            noise_std: self.config.noise_std,
            response: None,
            field: None,
            seed: pair_seed,
        };
        let batch = PairGenerator::new(
            self.images.clone(),
            self.kernels.as_slice(),
            pairs,
            &self.device,
        )?
        .next_batch()?;
        let blurred = batch.blurred.autodiff().detach();
        let kernels = batch.kernels.autodiff().detach();
        let z_e = self.initializer.forward(blurred); // [b, latent, 1, 1]
        let inner = invert(
            &self.generator,
            kernels.clone(),
            z_e.clone().detach(),
            self.config.inner_steps,
            self.config.inner_lr,
            &self.device,
        );
        let z_i = inner.z.autodiff().detach();
        let kernel_l1 = (self.generator.forward(z_e.clone()) - kernels).abs().mean();
        let latent_mse = (z_e - z_i).square().mean();
        let loss = kernel_l1.clone() + latent_mse.clone() * self.config.latent_weight;
        let losses = InitLosses {
            step: self.step + 1,
            loss: loss.clone().into_scalar::<f32>(),
            kernel_l1: kernel_l1.into_scalar::<f32>(),
            latent_mse: latent_mse.into_scalar::<f32>(),
            inverted_l1: inner.l1.iter().sum::<f32>() / inner.l1.len().max(1) as f32,
        };
        let mut grads = loss.backward();
        let params = GradientsParams::from_module(&mut grads, &self.initializer);
        self.initializer = self
            .optim
            .step(self.config.lr, self.initializer.clone(), params);
        self.step += 1;
        Ok(losses)
    }

    /// Writes `config.json`, `state.json`, `initializer.bpk` and `optim_initializer.bpk` into `dir`,
    /// as one atomic commit ([`crate::train::commit_checkpoint`]).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file that failed.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        // commit the pending BatchNorm running-statistics update (see `GanTrainer::save_checkpoint`)
        let _ = self.initializer.valid();
        commit_checkpoint(dir, |dir| {
            write_run_state(dir, &self.config, self.step)?;
            let path = dir.join("initializer.bpk");
            self.initializer
                .clone()
                .into_record()
                .save(&path)
                .map_err(|e| record_err(&path, e))?;
            let path = dir.join("optim_initializer.bpk");
            self.optim.save(&path).map_err(|e| record_err(&path, e))
        })
    }

    /// The settings of the run.
    pub fn config(&self) -> &InitTrainConfig {
        &self.config
    }

    /// Resumes from `dir` with the same generator, images and bank.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for missing or unreadable files, and the errors of [`InitTrainer::new`].
    pub fn resume(
        dir: &Path,
        generator: KernelGenerator,
        images: I,
        kernels: Vec<Kernel>,
        device: &Device,
    ) -> Result<Self> {
        let (config, step): (InitTrainConfig, usize) = crate::train::read_run_state(dir)?;
        let mut trainer = InitTrainer::new(config, generator, images, kernels, device)?;
        trainer.step = step;
        trainer.initializer = apply_record(
            trainer.initializer.clone(),
            &dir.join("initializer.bpk"),
            &dir.join("config.json"),
        )?;
        let path = dir.join("optim_initializer.bpk");
        trainer.optim = AdamConfig::new()
            .init()
            .load(&path)
            .map_err(|e| record_err(&path, e))?;
        Ok(trainer)
    }
}

impl crate::driver::StepReport for InitLosses {
    fn step(&self) -> usize {
        self.step
    }

    fn csv_values(&self) -> String {
        format!(
            "{:.6e},{:.6e},{:.6e},{:.6e}",
            self.loss, self.kernel_l1, self.latent_mse, self.inverted_l1
        )
    }

    fn headline(&self) -> f32 {
        self.kernel_l1
    }

    fn summary(&self) -> String {
        format!("L1 {:.2e}", self.kernel_l1)
    }
}

impl<I: ImageSource + Clone> crate::driver::Trainer for InitTrainer<I> {
    type Report = InitLosses;
    const CSV_HEADER: &'static str = "loss,kernel_l1,latent_mse,inverted_l1";
    const HEADLINE: &'static str = "kernel_l1";
    const TITLE: &'static str = "deblur train initializer: L1 of G(E(y)) to the true kernel";

    fn step_count(&self) -> usize {
        InitTrainer::step_count(self)
    }

    fn train_step(&mut self) -> Result<InitLosses> {
        InitTrainer::train_step(self)
    }

    fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        InitTrainer::save_checkpoint(self, dir)
    }

    /// `initializer.bpk` and `initializer.json`.
    fn save_model(&self, out: &Path) -> Result<()> {
        let path = out.join("initializer.bpk");
        self.initializer()
            .valid()
            .into_record()
            .save(&path)
            .map_err(|e| record_err(&path, e))?;
        crate::train::write_json(&out.join("initializer.json"), &self.config().model)
    }
}
