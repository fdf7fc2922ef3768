//! Joint training of the blur-kernel space's F and G on sharp/blurry pairs (reference spec §3.5):
//! per step, k = G(x, y) (μ + σ·ε with the VAE head), ŷ = F(x, k), and the summed Charbonnier
//! loss of ŷ against y (plus the VAE term), Adam with β = (0.9, 0.99) and a cosine schedule with
//! warm restarts.
//!
//! Pairs are made on the fly from sharp crops (any [`ImageSource`], with flips and transposes)
//! blurred by kernels of a bank, optionally through a camera response with saturation and with
//! noise ([`PairConfig`]). Batch `s` is drawn from its own seed `(seed, s)`, so a resumed run sees
//! the same data as an uninterrupted one.

use std::path::Path;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Tensor};
use deblur_core::{Boundary, Kernel, Padding};
use deblur_kernels::bank::kernel_rng;
use deblur_kernels::{
    CameraResponse, FieldPairs, ImageSource, PairConfig, PairFolders, PairGenerator,
};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::kernel_space::{KernelSpace, KernelSpaceConfig, charbonnier_sum};
use crate::train::{commit_checkpoint, record_err, write_run_state};
use crate::weights::apply_record;
use crate::{Error, Result};

/// Settings of a kernel-space training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpaceTrainConfig {
    /// The network.
    pub model: KernelSpaceConfig,
    /// Pairs per batch. Reference: 16 (GOPRO), 13 (REDS).
    pub batch: usize,
    /// Side of the square training crops, a multiple of 128. Reference: 256.
    pub crop: usize,
    /// Peak Adam learning rate. Reference: 1e-4.
    pub lr: f64,
    /// Floor of the cosine schedule. Reference: 1e-8 (GOPRO) or 1e-6 (REDS).
    pub min_lr: f64,
    /// Lengths of the cosine periods in steps; the learning rate restarts at the peak after
    /// each, and the last length repeats. Reference: 50k, 100k, 150k, 150k, 150k.
    pub periods: Vec<usize>,
    /// Range of the Gaussian noise σ added to each blurry image, drawn per pair.
    pub noise_std: [f32; 2],
    /// Exponent of the camera response applied to the pairs (`None`: blur the display values).
    pub gamma: Option<f32>,
    /// Range of the exposure gain drawn per pair with a camera response (above 1 saturates).
    pub gain: [f32; 2],
    /// Weight of the VAE term (reference: 10). Unused without the VAE head.
    pub kl_weight: f64,
    /// Fraction of the pairs blurred by a camera-motion field (2×2 regions, rotation up to 2°)
    /// instead of one kernel. Runs from before this setting read as 0.
    #[serde(default)]
    pub field_fraction: f32,
    /// Master seed.
    pub seed: u64,
}

impl SpaceTrainConfig {
    /// Settings for the `compact` network on a CPU: 8 crops of 128², lr 1e-4 (floor 1e-7), cosine
    /// periods of 1000, 2000, 3000 steps, noise σ ≤ 0.01, a γ = 2.2 response with gains 1–1.5,
    /// half of the pairs blurred by a camera-motion field.
    pub fn compact() -> Self {
        SpaceTrainConfig {
            model: KernelSpaceConfig::compact(),
            batch: 8,
            crop: 128,
            lr: 1e-4,
            min_lr: 1e-7,
            periods: vec![1000, 2000, 3000],
            noise_std: [0.0, 0.01],
            gamma: Some(2.2),
            gain: [1.0, 1.5],
            kl_weight: 10.0,
            field_fraction: 0.5,
            seed: 0,
        }
    }

    /// The learning rate at 0-based step `step`.
    pub fn lr_at(&self, step: usize) -> f64 {
        let mut start = 0usize;
        let mut i = 0;
        let period = loop {
            let len = self
                .periods
                .get(i)
                .or(self.periods.last())
                .copied()
                .unwrap_or(usize::MAX)
                .max(1);
            if step < start.saturating_add(len) {
                break len;
            }
            start = start.saturating_add(len);
            i += 1;
        };
        let t = (step - start) as f64 / period as f64;
        self.min_lr + (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
    }

    /// Checks the settings (also done by [`SpaceTrainer::new`]).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the setting out of range.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let bad = |setting, rule: String| Err(Error::InvalidSetting { setting, rule });
        if self.crop == 0 || !self.crop.is_multiple_of(128) || self.crop > 1024 {
            return bad(
                "crop",
                format!("{} must be a multiple of 128 up to 1024", self.crop),
            );
        }
        if !(1..=256).contains(&self.batch) {
            return bad("batch", format!("{} must lie in 1–256", self.batch));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.min_lr >= 0.0 && self.min_lr <= self.lr) {
            return bad(
                "lr",
                format!(
                    "peak {} and floor {} need 0 ≤ floor ≤ peak",
                    self.lr, self.min_lr
                ),
            );
        }
        let response_ok = self.gamma.is_none_or(|g| g.is_finite() && g > 0.0)
            && self.gain[0].is_finite()
            && self.gain[0] > 0.0
            && self.gain[0] <= self.gain[1]
            && self.gain[1].is_finite();
        if !response_ok {
            return bad(
                "gamma",
                format!(
                    "the response exponent {:?} must be finite and above 0, and the gain range \
                     {:?} must satisfy 0 < min ≤ max (the largest gain at least 1)",
                    self.gamma, self.gain
                ),
            );
        }
        if !(0.0..=1.0).contains(&self.field_fraction) {
            return bad(
                "field_fraction",
                format!("{} must lie in [0, 1]", self.field_fraction),
            );
        }
        if self.periods.is_empty() || self.periods.contains(&0) {
            return bad(
                "periods",
                format!("{:?} must list at least one length above 0", self.periods),
            );
        }
        Ok(())
    }
}

/// Losses of one step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpaceLosses {
    /// Step number (1-based).
    pub step: usize,
    /// Summed Charbonnier loss divided by the number of pixels (the optimised sum is this times
    /// batch × channels × crop²).
    pub loss: f32,
    /// PSNR (dB) of F(x, G(x, y)) against y over the batch.
    pub reblur_psnr: f32,
    /// PSNR (dB) of the sharp x against y (what F = identity would score).
    pub identity_psnr: f32,
    /// The learning rate used.
    pub lr: f64,
}

/// Where the training pairs come from.
#[derive(Clone, Debug)]
pub enum SpaceData<I> {
    /// Made on the fly: sharp crops from `images` blurred by kernels of the bank (or by camera
    /// motion fields), through the config's camera response, with its noise.
    Synthetic {
        /// Sharp crops.
        images: I,
        /// The kernel bank.
        kernels: Vec<Kernel>,
    },
    /// Aligned sharp/blurry pairs from folder trees (GOPRO/REDS layout), used as they are.
    Folders(PairFolders),
}

impl<I: ImageSource> SpaceData<I> {
    fn crop_and_channels(&self) -> (usize, usize) {
        match self {
            SpaceData::Synthetic { images, .. } => (images.crop_size(), images.channels()),
            SpaceData::Folders(pairs) => (pairs.crop_size(), pairs.channels()),
        }
    }
}

/// Training state of F and G.
pub struct SpaceTrainer<I: ImageSource + Clone> {
    config: SpaceTrainConfig,
    model: KernelSpace,
    optim: ModuleOptimizer,
    data: SpaceData<I>,
    step: usize,
    device: Device,
}

impl<I: ImageSource + Clone> SpaceTrainer<I> {
    /// Starts a run on `data` (crops of `config.crop` px).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for settings out of range, crops of another size or channel count
    /// than the config's, kernels larger than the crops; [`Error::EmptyBank`].
    pub fn new(config: SpaceTrainConfig, data: SpaceData<I>, device: &Device) -> Result<Self> {
        config.validate()?;
        let (crop, channels) = data.crop_and_channels();
        if crop != config.crop || channels != config.model.channels {
            return Err(Error::InvalidSetting {
                setting: "crop",
                rule: format!(
                    "the data gives {crop} px crops with {channels} channel(s); the run needs {} \
                     px with {}",
                    config.crop, config.model.channels
                ),
            });
        }
        if let SpaceData::Synthetic { kernels, .. } = &data {
            if kernels.is_empty() {
                return Err(Error::EmptyBank);
            }
            if let Some(k) = kernels
                .iter()
                .find(|k| k.size()[0].max(k.size()[1]) > config.crop)
            {
                return Err(Error::InvalidSetting {
                    setting: "bank",
                    rule: format!(
                        "kernels of {:?} are larger than the {} px crops",
                        k.size(),
                        config.crop
                    ),
                });
            }
        }
        let device = device.clone().autodiff();
        device.seed(config.seed);
        let model = config.model.init(&device)?;
        Ok(SpaceTrainer {
            optim: AdamConfig::new().with_beta_2(0.99).init(),
            config,
            model,
            data,
            step: 0,
            device,
        })
    }

    /// Steps done.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// The network being trained.
    pub fn model(&self) -> &KernelSpace {
        &self.model
    }

    /// The settings of the run.
    pub fn config(&self) -> &SpaceTrainConfig {
        &self.config
    }

    /// The pairs of 0-based step `step`: (sharp, blurry), on the training device, detached.
    ///
    /// # Errors
    /// Errors of the image source.
    pub fn pairs(&self, step: usize) -> Result<(Tensor<4>, Tensor<4>)> {
        let pair_seed = kernel_rng(self.config.seed, step as u64).random::<u64>();
        let (sharp, blurry) = match &self.data {
            SpaceData::Synthetic { images, kernels } => {
                let config = PairConfig {
                    batch: self.config.batch,
                    boundary: Boundary::Same(Padding::Reflect),
                    noise_std: self.config.noise_std,
                    response: self.config.gamma.map(|gamma| CameraResponse {
                        gamma,
                        gain: self.config.gain,
                    }),
                    field: (self.config.field_fraction > 0.0).then_some(FieldPairs {
                        fraction: self.config.field_fraction,
                        grid: [2, 2],
                        max_rotation_deg: 2.0,
                    }),
                    seed: pair_seed,
                };
                let batch =
                    PairGenerator::new(images.clone(), kernels.as_slice(), config, &self.device)?
                        .next_batch()?;
                (batch.sharp, batch.blurred)
            }
            SpaceData::Folders(folders) => {
                let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(pair_seed);
                let mut sharp = Vec::with_capacity(self.config.batch);
                let mut blurry = Vec::with_capacity(self.config.batch);
                for _ in 0..self.config.batch {
                    let (a, b) = folders.sample(&mut rng)?;
                    sharp.push(deblur_core::convert::array_to_tensor(&a, &self.device));
                    blurry.push(deblur_core::convert::array_to_tensor(&b, &self.device));
                }
                (Tensor::cat(sharp, 0), Tensor::cat(blurry, 0))
            }
        };
        Ok((sharp.autodiff().detach(), blurry.autodiff().detach()))
    }

    /// One step.
    ///
    /// # Errors
    /// Errors of the image source; [`Error::InvalidSetting`] when the loss is not finite.
    pub fn train_step(&mut self) -> Result<SpaceLosses> {
        let (sharp, blurry) = self.pairs(self.step)?;
        let code = self.model.extract(sharp.clone(), blurry.clone());
        let k = match &code.spread {
            Some(spread) => {
                let eps = Tensor::random(
                    code.mean.dims(),
                    Distribution::Normal(0.0, 1.0),
                    &self.device,
                );
                code.mean.clone() + spread.clone() * eps
            }
            None => code.mean.clone(),
        };
        let reblurred = self.model.blur(sharp.clone(), k);
        let pixels = blurry.dims().iter().product::<usize>() as f64;
        let mse = (reblurred.clone().detach() - blurry.clone())
            .square()
            .mean();
        let identity = (sharp - blurry.clone()).square().mean();
        let mut loss = charbonnier_sum(reblurred, blurry);
        if let Some(spread) = code.spread {
            let var = spread.square();
            let kl = (code.mean.square() + var.clone() - (var + 1e-8).log() - 1.0).sum();
            loss = loss + kl * self.config.kl_weight;
        }
        // the loss and both errors in one read back to the host
        let [value, mse, identity] =
            crate::train::read_losses(vec![loss.clone().detach(), mse, identity], self.step + 1)?;
        let lr = self.config.lr_at(self.step);
        let mut grads = loss.backward();
        let params = GradientsParams::from_module(&mut grads, &self.model);
        self.model = self.optim.step(lr, self.model.clone(), params);
        self.step += 1;
        Ok(SpaceLosses {
            step: self.step,
            loss: (value as f64 / pixels) as f32,
            reblur_psnr: -10.0 * mse.max(1e-12).log10(),
            identity_psnr: -10.0 * identity.max(1e-12).log10(),
            lr,
        })
    }

    /// Writes `config.json`, `state.json`, `kernel_space.bpk` and `optim.bpk` into `dir` as one
    /// atomic commit.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file that failed.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        commit_checkpoint(dir, |dir| {
            write_run_state(dir, &self.config, self.step)?;
            let path = dir.join("kernel_space.bpk");
            self.model
                .clone()
                .into_record()
                .save(&path)
                .map_err(|e| record_err(&path, e))?;
            let path = dir.join("optim.bpk");
            self.optim.save(&path).map_err(|e| record_err(&path, e))
        })
    }

    /// Resumes from `dir` with the same data.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for missing or unreadable files, and the errors of
    /// [`SpaceTrainer::new`].
    pub fn resume(dir: &Path, data: SpaceData<I>, device: &Device) -> Result<Self> {
        let (config, step): (SpaceTrainConfig, usize) = crate::train::read_run_state(dir)?;
        let mut trainer = SpaceTrainer::new(config, data, device)?;
        trainer.step = step;
        trainer.model = apply_record(
            trainer.model.clone(),
            &dir.join("kernel_space.bpk"),
            &dir.join("config.json"),
        )?;
        let path = dir.join("optim.bpk");
        trainer.optim = AdamConfig::new()
            .with_beta_2(0.99)
            .init()
            .load(&path)
            .map_err(|e| record_err(&path, e))?;
        Ok(trainer)
    }
}

impl crate::driver::StepReport for SpaceLosses {
    fn step(&self) -> usize {
        self.step
    }

    fn csv_values(&self) -> String {
        format!(
            "{:.6e},{:.3},{:.3},{:.3e}",
            self.loss, self.reblur_psnr, self.identity_psnr, self.lr
        )
    }

    fn headline(&self) -> f32 {
        self.loss
    }

    fn summary(&self) -> String {
        format!(
            "loss {:.2e}, re-blur {:.2} dB (identity {:.2})",
            self.loss, self.reblur_psnr, self.identity_psnr
        )
    }
}

impl<I: ImageSource + Clone> crate::driver::Trainer for SpaceTrainer<I> {
    type Report = SpaceLosses;
    const CSV_HEADER: &'static str = "loss,reblur_psnr,identity_psnr,lr";
    const HEADLINE: &'static str = "loss";
    const TITLE: &'static str = "deblur train kernel-space: Charbonnier loss per pixel";

    fn step_count(&self) -> usize {
        SpaceTrainer::step_count(self)
    }

    fn train_step(&mut self) -> Result<SpaceLosses> {
        SpaceTrainer::train_step(self)
    }

    fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        SpaceTrainer::save_checkpoint(self, dir)
    }

    /// `kernel_space.bpk` and `kernel_space.json`.
    fn save_model(&self, out: &Path) -> Result<()> {
        let path = out.join("kernel_space.bpk");
        self.model
            .valid()
            .into_record()
            .save(&path)
            .map_err(|e| record_err(&path, e))?;
        crate::train::write_json(&out.join("kernel_space.json"), &self.config.model)
    }
}
