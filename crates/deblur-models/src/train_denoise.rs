//! Training of the noise-level-conditioned denoiser ([`deblur_priors::Denoiser`]), the image prior
//! of plug-and-play deconvolution: clean crops (flipped and rotated at random) plus white Gaussian
//! noise of a level drawn uniformly per crop, the mean absolute error of the denoised crop against
//! the clean one, Adam with a learning rate halved every `halve_every` steps.
//!
//! Batch `s` (crops, levels and noise) is drawn from its own seed `(seed, s)`, so a resumed run sees
//! the same data as an uninterrupted one.

use std::path::Path;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use deblur_kernels::ImageSource;
use deblur_kernels::bank::kernel_rng;
use deblur_priors::{Denoiser, DenoiserConfig};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::train::{commit_checkpoint, record_err, write_run_state};
use crate::weights::apply_record;
use crate::{Error, Result};

/// Settings of a denoiser training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenoiseTrainConfig {
    /// Image channels (1 grey, 3 colour).
    pub channels: usize,
    /// Hidden feature channels.
    pub width: usize,
    /// Convolution layers.
    pub depth: usize,
    /// Crops per batch.
    pub batch: usize,
    /// Side of the square crops (even).
    pub crop: usize,
    /// Initial Adam learning rate.
    pub lr: f64,
    /// The learning rate is halved after every this many steps.
    pub halve_every: usize,
    /// Range of the noise level σ (intensities in [0, 1]), drawn uniformly per crop.
    pub noise_std: [f32; 2],
    /// Master seed.
    pub seed: u64,
}

/// Widest denoiser [`DenoiseTrainConfig`] accepts (the shipped one is 48 wide; a typing error
/// of a few more digits otherwise ends in an allocation failure instead of an error).
pub const MAX_DENOISER_WIDTH: usize = 1024;
/// Deepest denoiser [`DenoiseTrainConfig`] accepts (the shipped one has 10 layers).
pub const MAX_DENOISER_DEPTH: usize = 256;
/// Largest batch [`DenoiseTrainConfig`] accepts.
pub const MAX_DENOISER_BATCH: usize = 4096;
/// Largest training crop side [`DenoiseTrainConfig`] accepts.
pub const MAX_DENOISER_CROP: usize = 4096;

impl Default for DenoiseTrainConfig {
    /// The CPU settings: the default network (48 wide, 10 layers), 16 crops of 64², lr 1e-3 halved
    /// every 2000 steps, σ in [0, 0.2] (0 to 51 on the 8-bit scale: a plug-and-play schedule
    /// starts near 49/255).
    fn default() -> Self {
        let net = DenoiserConfig::new();
        DenoiseTrainConfig {
            channels: net.channels,
            width: net.width,
            depth: net.depth,
            batch: 16,
            crop: 64,
            lr: 1e-3,
            halve_every: 2000,
            noise_std: [0.0, 0.2],
            seed: 0,
        }
    }
}

impl DenoiseTrainConfig {
    /// Checks that a network of layout `start` can start this run ([`DenoiseTrainer::from_model`]).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming both layouts when channels, width or depth differ.
    pub fn check_start(&self, start: &DenoiserConfig) -> Result<()> {
        let want = self.network();
        if (start.channels, start.width, start.depth) == (want.channels, want.width, want.depth) {
            return Ok(());
        }
        Err(Error::InvalidSetting {
            setting: "init",
            rule: format!(
                "the network to start from has {} channel(s), width {}, depth {}; the run asks \
                 for {} channel(s), width {}, depth {} (set --width/--depth/--color to match it)",
                start.channels, start.width, start.depth, want.channels, want.width, want.depth
            ),
        })
    }

    /// The network these settings train.
    pub fn network(&self) -> DenoiserConfig {
        DenoiserConfig::new()
            .with_channels(self.channels)
            .with_width(self.width)
            .with_depth(self.depth)
    }

    /// The learning rate at 0-based step `step`.
    pub fn lr_at(&self, step: usize) -> f64 {
        let halvings = (step / self.halve_every.max(1)).min(60) as i32;
        self.lr * 0.5f64.powi(halvings)
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the setting out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |setting, rule: String| Err(Error::InvalidSetting { setting, rule });
        if !(self.channels == 1 || self.channels == 3) {
            return bad(
                "channels",
                format!("{}: 1 (grey) or 3 (colour)", self.channels),
            );
        }
        if !(1..=MAX_DENOISER_WIDTH).contains(&self.width)
            || !(2..=MAX_DENOISER_DEPTH).contains(&self.depth)
        {
            return bad(
                "network",
                format!(
                    "width {} and depth {}: need a width of 1 to {MAX_DENOISER_WIDTH} and 2 to \
                     {MAX_DENOISER_DEPTH} layers",
                    self.width, self.depth
                ),
            );
        }
        if !(1..=MAX_DENOISER_BATCH).contains(&self.batch)
            || !(8..=MAX_DENOISER_CROP).contains(&self.crop)
            || self.crop % 2 == 1
        {
            return bad(
                "crop",
                format!(
                    "batch {} of {} px crops: need a batch of 1 to {MAX_DENOISER_BATCH} and an \
                     even crop of 8 to {MAX_DENOISER_CROP} px",
                    self.batch, self.crop
                ),
            );
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr", format!("{}: a positive learning rate", self.lr));
        }
        let [lo, hi] = self.noise_std;
        if !(lo >= 0.0 && lo <= hi && hi <= 1.0 && hi > 0.0) {
            return bad(
                "noise-std",
                format!("{lo}..{hi}: need 0 ≤ low ≤ high ≤ 1 and high > 0"),
            );
        }
        Ok(())
    }
}

/// Losses of one step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenoiseLosses {
    /// Step number (1-based).
    pub step: usize,
    /// Mean absolute error of the denoised crops.
    pub loss: f32,
    /// PSNR (dB) of the denoised batch against the clean one.
    pub psnr: f32,
    /// PSNR (dB) of the noisy batch (the input).
    pub input_psnr: f32,
    /// The learning rate used.
    pub lr: f64,
}

/// Training state of the denoiser.
pub struct DenoiseTrainer<I: ImageSource> {
    config: DenoiseTrainConfig,
    model: Denoiser,
    optim: ModuleOptimizer,
    images: I,
    step: usize,
    device: Device,
}

/// A batch of step `step`: clean and noisy crops (`[batch, c, p, p]`) and the levels.
pub struct DenoiseBatch {
    /// Clean crops.
    pub clean: Tensor<4>,
    /// The crops with noise.
    pub noisy: Tensor<4>,
    /// The noise level of each crop.
    pub sigma: Vec<f32>,
}

impl<I: ImageSource> DenoiseTrainer<I> {
    /// Starts a run on crops of `images`.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for settings out of range or crops of another size or channel
    /// count than the config's.
    pub fn new(config: DenoiseTrainConfig, images: I, device: &Device) -> Result<Self> {
        config.validate()?;
        if images.crop_size() != config.crop || images.channels() != config.channels {
            return Err(Error::InvalidSetting {
                setting: "crop",
                rule: format!(
                    "the images give {} px crops with {} channel(s); the run needs {} px with {}",
                    images.crop_size(),
                    images.channels(),
                    config.crop,
                    config.channels
                ),
            });
        }
        let device = device.clone().autodiff();
        device.seed(config.seed);
        let model = config.network().init(&device);
        Ok(DenoiseTrainer {
            optim: AdamConfig::new().init(),
            config,
            model,
            images,
            step: 0,
            device,
        })
    }

    /// Starts a run from the weights of a trained network (fine-tuning) instead of a fresh
    /// initialisation; the optimiser starts fresh and the step count at 0.
    ///
    /// # Errors
    /// As [`DenoiseTrainer::new`]; [`Error::InvalidSetting`] when `model`'s channels, width or
    /// depth differ from the config's.
    pub fn from_model(
        config: DenoiseTrainConfig,
        model: Denoiser,
        images: I,
        device: &Device,
    ) -> Result<Self> {
        config.check_start(&model.config())?;
        let mut trainer = DenoiseTrainer::new(config, images, device)?;
        // the weights go into the run's own (tracked) parameters
        trainer.model = trainer
            .model
            .clone()
            .try_load_record(model.into_record())
            .map_err(|e| Error::InvalidSetting {
                setting: "init",
                rule: format!("the network's weights do not load into the run's: {e:?}"),
            })?;
        Ok(trainer)
    }

    /// Steps done.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// The network being trained.
    pub fn model(&self) -> &Denoiser {
        &self.model
    }

    /// The settings of the run.
    pub fn config(&self) -> &DenoiseTrainConfig {
        &self.config
    }

    /// The batch of 0-based step `step`, on the training device, detached.
    ///
    /// # Errors
    /// Errors of the image source.
    pub fn batch(&self, step: usize) -> Result<DenoiseBatch> {
        let mut rng = kernel_rng(self.config.seed, step as u64);
        let [lo, hi] = self.config.noise_std;
        let (c, p) = (self.config.channels, self.config.crop);
        let mut clean = Vec::with_capacity(self.config.batch * c * p * p);
        let mut noisy = Vec::with_capacity(clean.capacity());
        let mut sigma = Vec::with_capacity(self.config.batch);
        for _ in 0..self.config.batch {
            let crop = self.images.sample(&mut rng)?;
            let s = lo + (hi - lo) * rng.random::<f32>();
            for &v in crop.iter() {
                let n: f32 = StandardNormal.sample(&mut rng);
                clean.push(v);
                noisy.push(v + s * n);
            }
            sigma.push(s);
        }
        let shape = [self.config.batch, c, p, p];
        let tensor = |values: Vec<f32>| {
            Tensor::<4>::from_data(TensorData::new(values, shape), &self.device).detach()
        };
        Ok(DenoiseBatch {
            clean: tensor(clean),
            noisy: tensor(noisy),
            sigma,
        })
    }

    /// One step.
    ///
    /// # Errors
    /// Errors of the image source; [`Error::InvalidSetting`] when the loss is not finite.
    pub fn train_step(&mut self) -> Result<DenoiseLosses> {
        let batch = self.batch(self.step)?;
        let out = self.model.forward(batch.noisy.clone(), &batch.sigma);
        let loss = (out.clone() - batch.clean.clone()).abs().mean();
        let mse = (out.detach() - batch.clean.clone()).square().mean();
        let input = (batch.noisy - batch.clean).square().mean();
        let [value, mse, input] =
            crate::train::read_losses(vec![loss.clone().detach(), mse, input], self.step + 1)?;
        let lr = self.config.lr_at(self.step);
        let mut grads = loss.backward();
        let params = GradientsParams::from_module(&mut grads, &self.model);
        self.model = self.optim.step(lr, self.model.clone(), params);
        self.step += 1;
        Ok(DenoiseLosses {
            step: self.step,
            loss: value,
            psnr: -10.0 * mse.max(1e-12).log10(),
            input_psnr: -10.0 * input.max(1e-12).log10(),
            lr,
        })
    }

    /// Writes `config.json`, `state.json`, `denoiser.bpk` and `optim.bpk` into `dir` as one atomic
    /// commit.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file that failed.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        commit_checkpoint(dir, |dir| {
            write_run_state(dir, &self.config, self.step)?;
            let path = dir.join("denoiser.bpk");
            self.model
                .clone()
                .into_record()
                .save(&path)
                .map_err(|e| record_err(&path, e))?;
            let path = dir.join("optim.bpk");
            self.optim.save(&path).map_err(|e| record_err(&path, e))
        })
    }

    /// Resumes from `dir` with the same images.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for missing or unreadable files, and the errors of
    /// [`DenoiseTrainer::new`].
    pub fn resume(dir: &Path, images: I, device: &Device) -> Result<Self> {
        let (config, step): (DenoiseTrainConfig, usize) = crate::train::read_run_state(dir)?;
        let mut trainer = DenoiseTrainer::new(config, images, device)?;
        trainer.step = step;
        trainer.model = apply_record(
            trainer.model.clone(),
            &dir.join("denoiser.bpk"),
            &dir.join("config.json"),
        )?;
        let path = dir.join("optim.bpk");
        trainer.optim = AdamConfig::new()
            .init()
            .load(&path)
            .map_err(|e| record_err(&path, e))?;
        Ok(trainer)
    }
}

impl crate::driver::StepReport for DenoiseLosses {
    fn step(&self) -> usize {
        self.step
    }

    fn csv_values(&self) -> String {
        format!(
            "{:.6e},{:.3},{:.3},{:.3e}",
            self.loss, self.psnr, self.input_psnr, self.lr
        )
    }

    fn headline(&self) -> f32 {
        self.loss
    }

    fn summary(&self) -> String {
        format!(
            "L1 {:.2e}, {:.2} dB (input {:.2})",
            self.loss, self.psnr, self.input_psnr
        )
    }
}

impl<I: ImageSource> crate::driver::Trainer for DenoiseTrainer<I> {
    type Report = DenoiseLosses;
    const CSV_HEADER: &'static str = "loss,psnr,input_psnr,lr";
    const HEADLINE: &'static str = "loss";
    const TITLE: &'static str = "deblur train denoiser: mean absolute error";

    fn step_count(&self) -> usize {
        DenoiseTrainer::step_count(self)
    }

    fn train_step(&mut self) -> Result<DenoiseLosses> {
        DenoiseTrainer::train_step(self)
    }

    fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        DenoiseTrainer::save_checkpoint(self, dir)
    }

    /// `denoiser.bpk` and `denoiser.json` (the network's config).
    fn save_model(&self, out: &Path) -> Result<()> {
        let path = out.join("denoiser.bpk");
        self.model
            .valid()
            .into_record()
            .save(&path)
            .map_err(|e| record_err(&path, e))?;
        crate::train::write_json(&out.join("denoiser.json"), &self.config.network())
    }
}
