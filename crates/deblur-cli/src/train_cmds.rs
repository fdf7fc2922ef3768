//! `deblur train kernel-prior`: DCGAN training of the GLKM kernel generator on a kernel bank.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use deblur_core::burn::module::Module;
use deblur_core::visual::kernel_contact_sheet;
use deblur_core::{BitDepth, Kernel, device_from_name, save_image};
use deblur_kernels::{ImageSpec, KernelBank};
use deblur_models::train::{checkpoint_dir, recover_checkpoint, write_json};
use deblur_models::{GanTrainConfig, GanTrainer, KernelGeneratorConfig};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Args, Debug)]
pub struct TrainKernelPriorArgs {
    /// Kernel bank (.npy N×K×K, e.g. from `deblur kernels synth`).
    #[arg(long)]
    bank: PathBuf,
    /// Kernel side K (31, 45, 55, 65 or 75); must match the bank.
    #[arg(long, default_value_t = 31)]
    size: usize,
    /// Train until this many steps in total (a resumed run counts its earlier steps).
    #[arg(long, default_value_t = 8000)]
    steps: usize,
    /// Kernels per batch [default: 128; a resumed run keeps its own].
    #[arg(long, value_parser = at_least_one)]
    batch: Option<usize>,
    /// Base width of G and D (ngf = ndf; the reference uses 64) [default: 64; a resumed run keeps
    /// its own].
    #[arg(long, value_parser = at_least_one)]
    width: Option<usize>,
    /// Seed of initialisation, shuffling and latents [default: 0; a resumed run keeps its own].
    #[arg(long)]
    seed: Option<u64>,
    /// Run folder: checkpoint/, losses.csv, losses.png, samples_STEP.png, generator.bpk + generator.json.
    #[arg(long, short)]
    out: PathBuf,
    /// Continue the run in --out from its checkpoint.
    #[arg(long)]
    resume: bool,
    /// Write a sample grid every N steps.
    #[arg(long, default_value_t = 500, value_parser = at_least_one)]
    sample_every: usize,
    /// Write a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 250, value_parser = at_least_one)]
    checkpoint_every: usize,
    /// Compute device.
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn train_kernel_prior(args: TrainKernelPriorArgs) -> Result<(), Box<dyn std::error::Error>> {
    let device = device_from_name(&args.device)?;
    let bank = KernelBank::load(&args.bank)?.kernels;
    let _lock = lock_run(&args.out)?;
    let mut trainer = if args.resume {
        let trainer = GanTrainer::resume(&existing_run(&args.out)?, &bank, &device)?;
        let run = trainer.config();
        same_as_run(&args.out, "--size", Some(args.size), run.model.kernel_size)?;
        same_as_run(&args.out, "--width", args.width, run.model.base_channels)?;
        same_as_run(&args.out, "--batch", args.batch, run.batch)?;
        same_as_run(&args.out, "--seed", args.seed, run.seed)?;
        trainer
    } else {
        new_run(&args.out)?;
        let config = GanTrainConfig {
            model: KernelGeneratorConfig::new(args.size)
                .with_base_channels(args.width.unwrap_or(64)),
            batch: args.batch.unwrap_or(128),
            seed: args.seed.unwrap_or(0),
            ..GanTrainConfig::reference(args.size)
        };
        GanTrainer::new(config, &bank, &device)?
    };
    let width = trainer.config().model.base_channels;
    let mut log = open_run_log(
        &args.out,
        "step,d_loss,g_loss,d_real,d_fake,seconds",
        trainer.step_count(),
    )?;
    let total = args.steps;
    let bar = step_bar(total, trainer.step_count());
    let start = Instant::now();
    let z_fixed = trainer.generator().sample_latent(64, 12345, &device);
    let (mut d_curve, mut g_curve) = (Vec::new(), Vec::new());
    while trainer.step_count() < total {
        let l = trainer.train_step();
        writeln!(
            log,
            "{},{:.6},{:.6},{:.5},{:.5},{:.2}",
            l.step,
            l.d_loss,
            l.g_loss,
            l.d_real,
            l.d_fake,
            start.elapsed().as_secs_f64()
        )?;
        d_curve.push(l.d_loss);
        g_curve.push(l.g_loss);
        bar.set_position(l.step as u64);
        bar.set_message(format!("D {:.3} G {:.3}", l.d_loss, l.g_loss));
        if l.step % args.sample_every == 0 || l.step == total {
            let kernels = trainer.generator().valid().forward(z_fixed.clone());
            let kernels: Vec<Kernel> = (0..64)
                .map(|i| Kernel::from_tensor(kernels.clone().narrow(0, i, 1)))
                .collect::<Result<_, _>>()?;
            save_image(
                args.out.join(format!("samples_{:06}.png", l.step)),
                &kernel_contact_sheet(&kernels, 64, 8),
                BitDepth::Eight,
            )?;
        }
        if l.step % args.checkpoint_every == 0 || l.step == total {
            trainer.save_checkpoint(&checkpoint_dir(&args.out))?;
        }
    }
    bar.finish_and_clear();
    // the shipped artefact: the generator alone, with its config
    let generator = trainer.generator().valid();
    generator
        .clone()
        .into_record()
        .save(args.out.join("generator.bpk"))
        .map_err(|e| format!("{}: {e:?}", args.out.display()))?;
    write_json(
        &args.out.join("generator.json"),
        &KernelGeneratorConfig::new(generator.kernel_size()).with_base_channels(width),
    )?;
    eprintln!(
        "trained to step {} in {:.0} s; wrote {}",
        trainer.step_count(),
        start.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct TrainInitializerArgs {
    /// Kernel bank (.npy N×K×K) of the generator's size.
    #[arg(long)]
    bank: PathBuf,
    /// Trained generator weights (generator.bpk, with generator.json beside it).
    #[arg(long)]
    generator: PathBuf,
    /// Sharp images: `dead-leaves` (procedural) or a folder of PNG/JPEG/TIFF images.
    #[arg(long, default_value = "dead-leaves")]
    images: ImageSpec,
    /// Crop side of the training images (the reference uses 256).
    #[arg(long, default_value_t = 96)]
    crop: usize,
    /// Pairs per batch (the reference uses 128) [default: 16; a resumed run keeps its own].
    #[arg(long, value_parser = at_least_one)]
    batch: Option<usize>,
    /// Inner GAN-inversion steps per batch, warm-started from E's prediction (the reference uses
    /// 100) [default: 20; a resumed run keeps its own].
    #[arg(long)]
    inner_steps: Option<usize>,
    /// Width of the first ResNet stage (64 = ResNet-18; 16 or 32 for CPU training) [default: 16;
    /// a resumed run keeps its own].
    #[arg(long, value_parser = at_least_one)]
    width: Option<usize>,
    /// Adam learning rate of E [default: 1e-4; a resumed run keeps its own].
    #[arg(long, value_parser = positive_finite, allow_hyphen_values = true)]
    lr: Option<f64>,
    /// Train until this many steps in total.
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    /// Seed [default: 0; a resumed run keeps its own].
    #[arg(long)]
    seed: Option<u64>,
    /// Run folder: checkpoint/, losses.csv, losses.png, initializer.bpk + initializer.json.
    #[arg(long, short)]
    out: PathBuf,
    /// Continue the run in --out.
    #[arg(long)]
    resume: bool,
    /// Write a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    checkpoint_every: usize,
    /// Compute device.
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn train_initializer(args: TrainInitializerArgs) -> Result<(), Box<dyn std::error::Error>> {
    use deblur_kernels::ColorMode;
    use deblur_models::train_init::{InitTrainConfig, InitTrainer};
    let device = device_from_name(&args.device)?;
    let bank = KernelBank::load(&args.bank)?.kernels;
    let generator = deblur_models::weights::load_generator_files(
        &args.generator,
        &args.generator.with_extension("json"),
        &device,
    )?;
    let images = args.images.open(args.crop, ColorMode::Gray, true)?;
    let ckpt = checkpoint_dir(&args.out);
    let _lock = lock_run(&args.out)?;
    let mut trainer = if args.resume {
        let trainer =
            InitTrainer::resume(&existing_run(&args.out)?, generator, images, bank, &device)?;
        let run = trainer.config();
        same_as_run(&args.out, "--width", args.width, run.model.base_width)?;
        same_as_run(&args.out, "--batch", args.batch, run.batch)?;
        same_as_run(
            &args.out,
            "--inner-steps",
            args.inner_steps,
            run.inner_steps,
        )?;
        same_as_run(&args.out, "--lr", args.lr, run.lr)?;
        same_as_run(&args.out, "--seed", args.seed, run.seed)?;
        trainer
    } else {
        new_run(&args.out)?;
        let config = InitTrainConfig {
            model: deblur_models::InitializerConfig::narrow(args.width.unwrap_or(16)),
            batch: args.batch.unwrap_or(16),
            lr: args.lr.unwrap_or(1e-4),
            inner_steps: args.inner_steps.unwrap_or(20),
            seed: args.seed.unwrap_or(0),
            ..InitTrainConfig::reference()
        };
        InitTrainer::new(config, generator, images, bank, &device)?
    };
    let width = trainer.config().model.base_width;
    let mut log = open_run_log(
        &args.out,
        "step,loss,kernel_l1,latent_mse,inverted_l1,seconds",
        trainer.step_count(),
    )?;
    let bar = step_bar(args.steps, trainer.step_count());
    let start = Instant::now();
    let mut curve = Vec::new();
    while trainer.step_count() < args.steps {
        let l = trainer.train_step()?;
        writeln!(
            log,
            "{},{:.6e},{:.6e},{:.6e},{:.6e},{:.2}",
            l.step,
            l.loss,
            l.kernel_l1,
            l.latent_mse,
            l.inverted_l1,
            start.elapsed().as_secs_f64()
        )?;
        curve.push(l.kernel_l1);
        bar.set_position(l.step as u64);
        bar.set_message(format!("L1 {:.2e}", l.kernel_l1));
        if l.step % args.checkpoint_every == 0 || l.step == args.steps {
            trainer.save_checkpoint(&ckpt)?;
            save_image(
                args.out.join("losses.png"),
                &deblur_core::visual::line_plot(&[&curve], 640, 360, true),
                BitDepth::Eight,
            )?;
        }
    }
    bar.finish_and_clear();
    let e = trainer.initializer().valid();
    e.into_record()
        .save(args.out.join("initializer.bpk"))
        .map_err(|err| format!("{}: {err:?}", args.out.display()))?;
    write_json(
        &args.out.join("initializer.json"),
        &deblur_models::InitializerConfig::narrow(width),
    )?;
    eprintln!(
        "trained to step {} in {:.0} s; wrote {}",
        trainer.step_count(),
        start.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

/// Takes the lock of the run folder `out` (created if missing) for as long as the returned file
/// is held: a second run into the same folder is refused instead of interleaving with the first.
/// The operating system releases the lock when the process ends, killed or not.
fn lock_run(out: &Path) -> Result<std::fs::File, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let path = out.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another run is training into {}; wait for it to finish or choose another --out",
            out.display()
        )
        .into()),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("{}: {e}", path.display()).into()),
    }
}

/// The checkpoint folder of the run in `out` for `--resume` (after recovering an interrupted
/// checkpoint commit), or an error saying there is none.
fn existing_run(out: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let ckpt = checkpoint_dir(out);
    recover_checkpoint(&ckpt)?;
    if !ckpt.join("state.json").exists() {
        return Err(format!(
            "{} holds no checkpoint to resume; start the run without --resume",
            out.display()
        )
        .into());
    }
    Ok(ckpt)
}

/// Refuses to start a new run in `out` when it already holds one.
fn new_run(out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let ckpt = checkpoint_dir(out);
    recover_checkpoint(&ckpt)?;
    if ckpt.exists() {
        return Err(format!(
            "{} already holds a run; pass --resume to continue it or choose another --out",
            out.display()
        )
        .into());
    }
    Ok(())
}

/// Refuses to resume the run in `out` with `option` given as a value other than the run's.
fn same_as_run<T: PartialEq + std::fmt::Display>(
    out: &Path,
    option: &str,
    given: Option<T>,
    run: T,
) -> Result<(), String> {
    match given {
        Some(value) if value != run => Err(format!(
            "{option} {value} differs from the run in {} ({option} {run}); resume without \
             {option} or start a new run in another --out",
            out.display()
        )),
        _ => Ok(()),
    }
}

/// clap parser: an integer of at least 1.
pub(crate) fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// clap parser: a finite number above 0.
pub(crate) fn positive_finite(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("{v} must be a finite number above 0")),
        Err(e) => Err(e.to_string()),
    }
}

/// Creates the run folder and opens its `losses.csv` for appending, writing `header` if new.
/// Rows logged after step `resumed_at` (by a run stopped between checkpoints) are dropped first,
/// so that a resumed run continues the log without duplicate steps.
fn open_run_log(
    dir: &std::path::Path,
    header: &str,
    resumed_at: usize,
) -> Result<std::fs::File, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("losses.csv");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let kept: Vec<&str> = text
            .lines()
            .filter(|line| {
                line.split(',')
                    .next()
                    .and_then(|s| s.parse::<usize>().ok())
                    .is_none_or(|step| step <= resumed_at)
            })
            .collect();
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
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if new_log {
        writeln!(log, "{header}")?;
    }
    Ok(log)
}

/// A progress bar over training steps, starting at `done`.
fn step_bar(total: usize, done: usize) -> ProgressBar {
    let bar = ProgressBar::new(total as u64).with_position(done as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{bar:30}] {pos}/{len} steps  {msg}  {per_sec}  ETA {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
