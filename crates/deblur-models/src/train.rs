//! DCGAN training of the kernel generator (\[GLKM\] §IV-B; GKPILE `train_generator.py`): BCE losses, Adam (lr 2e-4,
//! β = (0.5, 0.999)) for both networks; per batch, a discriminator step on real kernels (label 1)
//! and detached fakes (label 0), then a generator step with label 1 on the same fakes
//! (non-saturating loss). Batches walk a kernel bank in a per-epoch shuffled order; latents are
//! drawn on the host from `(seed, step)`, so a run resumed from a checkpoint continues exactly.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::store::ModuleRecord;
use burn::tensor::{Device, Tensor, TensorData};
use deblur_core::Kernel;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::generator::{KernelDiscriminator, KernelGenerator, KernelGeneratorConfig};
use crate::weights::apply_record;
use crate::{Error, Result};

/// Settings of a generator training run (saved as `config.json` in the run folder).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanTrainConfig {
    /// The networks.
    pub model: KernelGeneratorConfig,
    /// Kernels per batch. Reference: 128.
    pub batch: usize,
    /// Adam learning rate of both networks. Reference: 2e-4.
    pub lr: f64,
    /// Adam β₁. Reference: 0.5.
    pub beta1: f32,
    /// Master seed (initialisation, shuffling, latents). Reference: 0.
    pub seed: u64,
}

impl Default for GanTrainConfig {
    /// [`GanTrainConfig::reference`] for 31×31 kernels.
    fn default() -> Self {
        GanTrainConfig::reference(31)
    }
}

impl GanTrainConfig {
    /// The reference settings for kernels of side `kernel_size`.
    pub fn reference(kernel_size: usize) -> Self {
        GanTrainConfig {
            model: KernelGeneratorConfig::new(kernel_size),
            batch: 128,
            lr: 2e-4,
            beta1: 0.5,
            seed: 0,
        }
    }
}

/// Losses of one step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanLosses {
    /// Step number (1-based).
    pub step: usize,
    /// Discriminator loss (real + fake BCE).
    pub d_loss: f32,
    /// Generator loss (BCE of fakes against label 1).
    pub g_loss: f32,
    /// Mean D output on real kernels.
    pub d_real: f32,
    /// Mean D output on fakes (before the D step).
    pub d_fake: f32,
}

/// Training state: both networks, their optimisers, the bank and the step counter.
pub struct GanTrainer {
    config: GanTrainConfig,
    generator: KernelGenerator,
    discriminator: KernelDiscriminator,
    opt_g: ModuleOptimizer,
    opt_d: ModuleOptimizer,
    bank: Vec<f32>,
    bank_len: usize,
    step: usize,
    device: Device,
}

fn adam(beta1: f32) -> ModuleOptimizer {
    AdamConfig::new()
        .with_beta_1(beta1)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .init()
}

fn bce(p: Tensor<1>, label: f32) -> Tensor<1> {
    let p = p.clamp(1e-7, 1.0 - 1e-7);
    if label > 0.5 {
        p.log().mean().neg()
    } else {
        (p.neg() + 1.0).log().mean().neg()
    }
}

/// An [`Error::Checkpoint`] for `path` with `e` (burn's record errors have no `Display`).
pub(crate) fn record_err(path: &Path, e: impl std::fmt::Debug) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("{e:?}"),
    }
}

impl GanTrainer {
    /// Starts a run on `bank` (kernels of the configured size) on `device` (autodiff is enabled here).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for an unsupported size or batch, [`Error::EmptyBank`],
    /// [`Error::KernelSizeMismatch`] for kernels of another size.
    pub fn new(config: GanTrainConfig, bank: &[Kernel], device: &Device) -> Result<Self> {
        config.model.geometry()?;
        let k = config.model.kernel_size;
        if config.batch == 0 {
            return Err(Error::InvalidSetting {
                setting: "batch",
                rule: "must be at least 1".into(),
            });
        }
        if bank.is_empty() {
            return Err(Error::EmptyBank);
        }
        if let Some(bad) = bank.iter().find(|kernel| kernel.size() != [k, k]) {
            return Err(Error::KernelSizeMismatch {
                found: bad.size(),
                expected: [k, k],
            });
        }
        let device = device.clone().autodiff();
        device.seed(config.seed);
        let generator = config.model.init(&device);
        let discriminator = config.model.init_discriminator(&device);
        let flat: Vec<f32> = bank
            .iter()
            .flat_map(|kernel| kernel.values().iter().copied())
            .collect();
        Ok(GanTrainer {
            opt_g: adam(config.beta1),
            opt_d: adam(config.beta1),
            config,
            generator,
            discriminator,
            bank: flat,
            bank_len: bank.len(),
            step: 0,
            device,
        })
    }

    /// Steps done so far.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// The generator being trained.
    pub fn generator(&self) -> &KernelGenerator {
        &self.generator
    }

    /// The real kernels of batch `step` (0-based): the bank in a shuffled order per epoch.
    fn real_batch(&self, step: usize) -> Tensor<4> {
        let b = self.config.batch.min(self.bank_len);
        let per_epoch = (self.bank_len / b).max(1);
        let (epoch, index) = (step / per_epoch, step % per_epoch);
        let mut order: Vec<usize> = (0..self.bank_len).collect();
        order.shuffle(&mut StdRng::seed_from_u64(
            self.config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        let k = self.config.model.kernel_size;
        let mut data = Vec::with_capacity(b * k * k);
        for &i in &order[index * b..index * b + b] {
            data.extend_from_slice(&self.bank[i * k * k..(i + 1) * k * k]);
        }
        Tensor::from_data(TensorData::new(data, [b, 1, k, k]), &self.device)
    }

    /// One D step and one G step.
    pub fn train_step(&mut self) -> GanLosses {
        let real = self.real_batch(self.step);
        let b = real.dims()[0];
        let z = self.generator.sample_latent(
            b,
            self.config.seed.wrapping_add(1 + self.step as u64),
            &self.device,
        );
        let fake = self.generator.forward(z);
        // discriminator: real → 1, fake → 0
        let p_real = self.discriminator.forward(real);
        let p_fake = self.discriminator.forward(fake.clone().detach());
        let d_real = p_real.clone().mean().into_scalar::<f32>();
        let d_fake = p_fake.clone().mean().into_scalar::<f32>();
        let d_loss = bce(p_real, 1.0) + bce(p_fake, 0.0);
        let d_value = d_loss.clone().into_scalar::<f32>();
        let mut grads = d_loss.backward();
        let d_grads = GradientsParams::from_module(&mut grads, &self.discriminator);
        self.discriminator = self
            .opt_d
            .step(self.config.lr, self.discriminator.clone(), d_grads);
        // generator: fakes → 1 through the updated discriminator
        let g_loss = bce(self.discriminator.forward(fake), 1.0);
        let g_value = g_loss.clone().into_scalar::<f32>();
        let mut grads = g_loss.backward();
        let g_grads = GradientsParams::from_module(&mut grads, &self.generator);
        self.generator = self
            .opt_g
            .step(self.config.lr, self.generator.clone(), g_grads);
        self.step += 1;
        GanLosses {
            step: self.step,
            d_loss: d_value,
            g_loss: g_value,
            d_real,
            d_fake,
        }
    }

    /// Writes `config.json`, `state.json`, the networks (`generator.bpk`, `discriminator.bpk`) and
    /// the optimiser states into `dir`, as one atomic commit ([`commit_checkpoint`]).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file that failed.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        // burn keeps a BatchNorm layer's last running-statistics update pending (per thread)
        // until the next read; `valid()` commits it, so that the checkpoint holds the state a
        // continuing run has and a resumed run continues bit for bit
        let _ = (self.generator.valid(), self.discriminator.valid());
        commit_checkpoint(dir, |dir| {
            write_run_state(dir, &self.config, self.step)?;
            let save = |record: ModuleRecord, name: &str| -> Result<()> {
                let path = dir.join(name);
                record.save(&path).map_err(|e| record_err(&path, e))
            };
            save(self.generator.clone().into_record(), "generator.bpk")?;
            save(
                self.discriminator.clone().into_record(),
                "discriminator.bpk",
            )?;
            let opt = |o: &ModuleOptimizer, name: &str| -> Result<()> {
                let path = dir.join(name);
                o.save(&path).map_err(|e| record_err(&path, e))
            };
            opt(&self.opt_g, "optim_generator.bpk")?;
            opt(&self.opt_d, "optim_discriminator.bpk")
        })
    }

    /// The settings of the run.
    pub fn config(&self) -> &GanTrainConfig {
        &self.config
    }

    /// Resumes a run from `dir` (written by [`GanTrainer::save_checkpoint`]) on the same bank.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for missing or unreadable files, and the errors of [`GanTrainer::new`].
    pub fn resume(dir: &Path, bank: &[Kernel], device: &Device) -> Result<Self> {
        let (config, step): (GanTrainConfig, usize) = read_run_state(dir)?;
        let mut trainer = GanTrainer::new(config, bank, device)?;
        trainer.step = step;
        let config = dir.join("config.json");
        trainer.generator = apply_record(
            trainer.generator.clone(),
            &dir.join("generator.bpk"),
            &config,
        )?;
        trainer.discriminator = apply_record(
            trainer.discriminator.clone(),
            &dir.join("discriminator.bpk"),
            &config,
        )?;
        let path_g = dir.join("optim_generator.bpk");
        trainer.opt_g = adam(trainer.config.beta1)
            .load(&path_g)
            .map_err(|e| record_err(&path_g, e))?;
        let path_d = dir.join("optim_discriminator.bpk");
        trainer.opt_d = adam(trainer.config.beta1)
            .load(&path_d)
            .map_err(|e| record_err(&path_d, e))?;
        Ok(trainer)
    }
}

/// Folder layout helper: the checkpoint folder of a run.
pub fn checkpoint_dir(run: &Path) -> PathBuf {
    run.join("checkpoint")
}

/// Name of the file that marks a checkpoint folder as complete (written last).
const COMPLETE: &str = "complete";

/// `dir` with `.suffix` appended to its last component.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    dir.with_file_name(name)
}

/// Writes a checkpoint as one atomic commit: `write` fills a fresh sibling folder
/// `<dir>.partial`, a marker is written last, the previous checkpoint is moved aside to
/// `<dir>.previous`, the new folder is renamed into place and the old one removed. A crash at
/// any point leaves one complete checkpoint that [`recover_checkpoint`] puts back at `dir`, so a
/// resumed run never mixes the step counter of one checkpoint with the weights of another.
///
/// # Errors
/// [`Error::Checkpoint`] naming the folder or file that failed.
pub fn commit_checkpoint(dir: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    recover_checkpoint(dir)?;
    let partial = sibling(dir, "partial");
    let previous = sibling(dir, "previous");
    std::fs::create_dir_all(&partial).map_err(|e| record_err(&partial, e))?;
    write(&partial)?;
    write_json(&partial.join(COMPLETE), &serde_json::json!({}))?;
    if dir.exists() {
        std::fs::rename(dir, &previous).map_err(|e| record_err(dir, e))?;
    }
    std::fs::rename(&partial, dir).map_err(|e| record_err(&partial, e))?;
    if previous.exists() {
        std::fs::remove_dir_all(&previous).map_err(|e| record_err(&previous, e))?;
    }
    Ok(())
}

/// After an interrupted [`commit_checkpoint`]: puts the newest complete checkpoint back at `dir`
/// and removes the leftovers (an unfinished `<dir>.partial`, a superseded `<dir>.previous`).
/// Does nothing when there is nothing to recover.
///
/// # Errors
/// [`Error::Checkpoint`] naming the folder that could not be moved or removed.
pub fn recover_checkpoint(dir: &Path) -> Result<()> {
    let partial = sibling(dir, "partial");
    let previous = sibling(dir, "previous");
    if !dir.exists() {
        if partial.join(COMPLETE).exists() {
            std::fs::rename(&partial, dir).map_err(|e| record_err(&partial, e))?;
        } else if previous.exists() {
            std::fs::rename(&previous, dir).map_err(|e| record_err(&previous, e))?;
        }
    }
    for leftover in [partial, previous] {
        if leftover.exists() {
            std::fs::remove_dir_all(&leftover).map_err(|e| record_err(&leftover, e))?;
        }
    }
    Ok(())
}

/// Writes a run's `config.json` and `state.json` (its step count) into the checkpoint folder `dir`.
///
/// # Errors
/// [`Error::Checkpoint`] naming the file.
pub fn write_run_state<C: Serialize>(dir: &Path, config: &C, step: usize) -> Result<()> {
    write_json(&dir.join("config.json"), config)?;
    write_json(
        &dir.join("state.json"),
        &serde_json::json!({ "step": step }),
    )
}

/// Reads back what [`write_run_state`] wrote, after [`recover_checkpoint`]: the run's config
/// and its step count.
///
/// # Errors
/// [`Error::Checkpoint`] naming a missing or unreadable file.
pub fn read_run_state<C: serde::de::DeserializeOwned>(dir: &Path) -> Result<(C, usize)> {
    recover_checkpoint(dir)?;
    let read = |name: &str| -> Result<serde_json::Value> {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(|e| record_err(&path, e))?;
        serde_json::from_str(&text).map_err(|e| record_err(&path, e))
    };
    let config = serde_json::from_value(read("config.json")?)
        .map_err(|e| record_err(&dir.join("config.json"), e))?;
    let step = read("state.json")?["step"].as_u64().unwrap_or(0) as usize;
    Ok((config, step))
}

/// Writes `value` as pretty JSON, atomically.
///
/// # Errors
/// [`Error::Checkpoint`] naming the file.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| record_err(path, e))?;
    deblur_core::npy::write_atomic(path, |w| std::io::Write::write_all(w, text.as_bytes()))
        .map_err(|e| record_err(path, e))
}

impl crate::driver::StepReport for GanLosses {
    fn step(&self) -> usize {
        self.step
    }

    fn csv_values(&self) -> String {
        format!(
            "{:.6},{:.6},{:.5},{:.5}",
            self.d_loss, self.g_loss, self.d_real, self.d_fake
        )
    }

    fn headline(&self) -> f32 {
        self.d_loss
    }

    fn summary(&self) -> String {
        format!("D {:.3} G {:.3}", self.d_loss, self.g_loss)
    }
}

impl crate::driver::Trainer for GanTrainer {
    type Report = GanLosses;
    const CSV_HEADER: &'static str = "d_loss,g_loss,d_real,d_fake";
    const HEADLINE: &'static str = "d_loss";
    const TITLE: &'static str = "deblur train kernel-prior: discriminator loss per step";

    fn step_count(&self) -> usize {
        GanTrainer::step_count(self)
    }

    fn train_step(&mut self) -> Result<GanLosses> {
        Ok(GanTrainer::train_step(self))
    }

    fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        GanTrainer::save_checkpoint(self, dir)
    }

    /// `generator.bpk` and `generator.json`: the shipped artefact is the generator alone.
    fn save_model(&self, out: &Path) -> Result<()> {
        let generator = self.generator.valid();
        let path = out.join("generator.bpk");
        generator
            .into_record()
            .save(&path)
            .map_err(|e| record_err(&path, e))?;
        write_json(&out.join("generator.json"), &self.config.model)
    }
}

/// Reads `N` one-element tensors back to the host in one transfer, the first being the loss of
/// 1-based step `step`, which must be finite.
///
/// # Errors
/// [`Error::InvalidSetting`] when the values cannot be read back or the loss is not finite (with
/// the advice to lower the learning rate).
pub(crate) fn read_losses<const N: usize>(
    values: Vec<burn::tensor::Tensor<1>>,
    step: usize,
) -> Result<[f32; N]> {
    let read: Vec<f32> = burn::tensor::Tensor::cat(values, 0)
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .map_err(|e| Error::InvalidSetting {
            setting: "device",
            rule: format!("the losses could not be read back: {e:?}"),
        })?;
    let values: [f32; N] = read
        .as_slice()
        .try_into()
        .map_err(|_| Error::InvalidSetting {
            setting: "device",
            rule: format!("{} losses read back, {N} expected", read.len()),
        })?;
    if !values[0].is_finite() {
        return Err(Error::InvalidSetting {
            setting: "lr",
            rule: format!(
                "the loss became {} at step {step}; lower the learning rate",
                values[0]
            ),
        });
    }
    Ok(values)
}
