//! One training driver for every trainer of this crate: a run folder with a lock, crash-safe
//! checkpoints every N steps, resume, a `losses.csv` log that a resumed run continues without
//! duplicate rows, and a `losses.png` chart of the headline loss. A trainer plugs in through
//! [`Trainer`]; callers watch the steps through a closure (progress bars, sample pictures).
//!
//! burn's `Learner` (crate `burn-train`) would bring dashboards and multi-device training, but
//! it is not available to this build (no network, not in the offline registry), and the DCGAN
//! step (two optimisers, one batch feeding both networks) would need a custom training step
//! there anyway. This driver keeps the checkpoint and log format one place.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use deblur_core::plot::{Chart, Scale, Series};
use deblur_core::{BitDepth, save_image};

use crate::train::{checkpoint_dir, recover_checkpoint};
use crate::{Error, Result};

/// What one training step reports.
pub trait StepReport {
    /// The step number (1-based).
    fn step(&self) -> usize;
    /// The comma-separated values of the log row, in the order of [`Trainer::CSV_HEADER`] after
    /// `step` (the driver adds the step and the seconds).
    fn csv_values(&self) -> String;
    /// The value the chart follows.
    fn headline(&self) -> f32;
    /// A short summary for a progress display.
    fn summary(&self) -> String;
}

/// A trainer the driver can run.
pub trait Trainer {
    /// The report of one step.
    type Report: StepReport;
    /// Column names of the log after `step` and before `seconds`.
    const CSV_HEADER: &'static str;
    /// The log column the chart follows.
    const HEADLINE: &'static str;
    /// Title of the chart.
    const TITLE: &'static str;

    /// Steps done so far (including those of a resumed run).
    fn step_count(&self) -> usize;
    /// One step.
    ///
    /// # Errors
    /// The trainer's errors (data, non-finite losses).
    fn train_step(&mut self) -> Result<Self::Report>;
    /// Writes a checkpoint into `dir` (one atomic commit).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file that could not be written.
    fn save_checkpoint(&self, dir: &Path) -> Result<()>;
    /// Writes the trained model (weights and config) into the run folder `out`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file that could not be written.
    fn save_model(&self, out: &Path) -> Result<()>;
}

/// A run folder held for writing: refused to a second process while this value lives (the
/// operating system drops the lock when the process ends, killed or not).
pub struct RunFolder {
    out: PathBuf,
    _lock: std::fs::File,
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

impl RunFolder {
    /// Takes the lock of the run folder `out`, creating it if missing.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when another run holds it or it cannot be created.
    pub fn lock(out: &Path) -> Result<Self> {
        std::fs::create_dir_all(out).map_err(|e| io_error(out, e))?;
        let path = out.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(RunFolder {
                out: out.to_path_buf(),
                _lock: file,
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(io_error(
                out,
                "another run is training into this folder; wait for it to finish or choose \
                 another --out",
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(io_error(&path, e)),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.out
    }

    /// The checkpoint folder of the run, for resuming (an interrupted checkpoint commit is
    /// recovered first).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the folder holds no checkpoint.
    pub fn existing_checkpoint(&self) -> Result<PathBuf> {
        let ckpt = checkpoint_dir(&self.out);
        recover_checkpoint(&ckpt)?;
        if !ckpt.join("state.json").exists() {
            return Err(io_error(
                &self.out,
                "holds no checkpoint to resume; start the run without --resume",
            ));
        }
        Ok(ckpt)
    }

    /// Checks that the folder holds no run yet (a new run must not overwrite one).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when it already holds a run.
    pub fn expect_new(&self) -> Result<()> {
        let ckpt = checkpoint_dir(&self.out);
        recover_checkpoint(&ckpt)?;
        if ckpt.exists() {
            return Err(io_error(
                &self.out,
                "already holds a run; pass --resume to continue it or choose another --out",
            ));
        }
        Ok(())
    }

    /// The settings of the run: `fresh` for a new one (the folder must hold no run yet), else
    /// those saved in its checkpoint.
    ///
    /// # Errors
    /// As [`RunFolder::expect_new`] and [`RunFolder::existing_checkpoint`]; an unreadable
    /// checkpoint state.
    pub fn settings<C: serde::de::DeserializeOwned>(&self, fresh: Option<C>) -> Result<C> {
        match fresh {
            Some(config) => {
                self.expect_new()?;
                Ok(config)
            }
            None => Ok(crate::train::read_run_state::<C>(&self.existing_checkpoint()?)?.0),
        }
    }
}

/// How long to train and how often to save.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Train until this many steps in total.
    pub steps: usize,
    /// Write a checkpoint (and the chart) every this many steps, and at the end. At least 1.
    pub checkpoint_every: usize,
    /// Stop early, with a checkpoint and the model saved, once this much wall time has passed
    /// in this sitting (for fixed-length sessions on a borrowed GPU); `--resume` continues.
    pub time_limit: Option<std::time::Duration>,
}

/// Trains `trainer` in `run` until `schedule.steps`, logging every step to `losses.csv`, writing
/// checkpoints and `losses.png`, then saves the model. `on_step` sees the trainer and each
/// step's report (for progress displays and sample pictures). Returns the wall time in seconds.
///
/// # Errors
/// The trainer's errors, I/O errors naming the file, and `on_step`'s errors; a zero
/// `checkpoint_every` is an [`Error::InvalidSetting`].
pub fn train<T: Trainer>(
    trainer: &mut T,
    run: &RunFolder,
    schedule: Schedule,
    on_step: &mut dyn FnMut(&T, &T::Report) -> Result<()>,
) -> Result<f64> {
    if schedule.checkpoint_every == 0 {
        return Err(Error::InvalidSetting {
            setting: "checkpoint_every",
            rule: "must be at least 1".into(),
        });
    }
    let out = run.path();
    let ckpt = checkpoint_dir(out);
    let header = format!("step,{},seconds", T::CSV_HEADER);
    let (mut log, mut curve) = open_log(out, &header, T::HEADLINE, trainer.step_count())?;
    let start = Instant::now();
    let first = trainer.step_count() + 1 - curve.len().min(trainer.step_count());
    while trainer.step_count() < schedule.steps {
        let report = trainer.train_step()?;
        let step = report.step();
        writeln!(
            log,
            "{step},{},{:.2}",
            report.csv_values(),
            start.elapsed().as_secs_f64()
        )
        .map_err(|e| io_error(&out.join("losses.csv"), e))?;
        curve.push(report.headline());
        on_step(trainer, &report)?;
        let out_of_time = schedule
            .time_limit
            .is_some_and(|limit| start.elapsed() >= limit);
        if step % schedule.checkpoint_every == 0 || step == schedule.steps || out_of_time {
            trainer.save_checkpoint(&ckpt)?;
            let chart = Chart::new(T::TITLE, "step", format!("{} (log scale)", T::HEADLINE))
                .with_y_scale(Scale::Log10)
                .with_series(Series::from_values(T::HEADLINE, &curve, first as f64));
            save_image(out.join("losses.png"), &chart.render(), BitDepth::Eight)?;
        }
        if out_of_time {
            break;
        }
    }
    trainer.save_model(out)?;
    Ok(start.elapsed().as_secs_f64())
}

/// Opens `losses.csv` in `dir` for appending (writing `header` if new) after dropping rows past
/// `resumed_at` (logged by a run stopped between checkpoints), and reads back the `headline`
/// column of the rows kept.
fn open_log(
    dir: &Path,
    header: &str,
    headline: &str,
    resumed_at: usize,
) -> Result<(std::fs::File, Vec<f32>)> {
    let path = dir.join("losses.csv");
    let mut curve = Vec::new();
    if let Ok(text) = std::fs::read_to_string(&path) {
        let column = text
            .lines()
            .next()
            .and_then(|h| h.split(',').position(|c| c == headline));
        let kept: Vec<&str> = text
            .lines()
            .filter(|line| {
                line.split(',')
                    .next()
                    .and_then(|s| s.parse::<usize>().ok())
                    .is_none_or(|step| step <= resumed_at)
            })
            .collect();
        for line in kept.iter().skip(1) {
            if let Some(v) = column
                .and_then(|c| line.split(',').nth(c))
                .and_then(|v| v.parse::<f32>().ok())
            {
                curve.push(v);
            }
        }
        if kept.len() != text.lines().count() {
            deblur_core::npy::write_atomic(&path, |w| {
                w.write_all((kept.join("\n") + "\n").as_bytes())
            })?;
        }
    }
    let new_log = !path.exists();
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    if new_log {
        writeln!(log, "{header}").map_err(|e| io_error(&path, e))?;
    }
    Ok((log, curve))
}
