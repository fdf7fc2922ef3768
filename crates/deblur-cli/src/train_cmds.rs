//! `deblur train kernel-prior`: DCGAN training of the GLKM kernel generator on a kernel bank.

use std::path::{Path, PathBuf};

use clap::Args;
use deblur_core::burn::module::Module;
use deblur_core::visual::kernel_contact_sheet;
use deblur_core::{BitDepth, Kernel, device_from_name, save_image};
use deblur_kernels::{ImageSpec, KernelBank};
use deblur_models::driver::{RunFolder, Schedule, StepReport, train};
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
    /// Stop after this many minutes of training in this sitting (a checkpoint and the model are
    /// written; --resume continues).
    #[arg(long, value_parser = positive_finite, allow_hyphen_values = true)]
    max_minutes: Option<f64>,
    /// Compute device.
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn train_kernel_prior(args: TrainKernelPriorArgs) -> Result<(), Box<dyn std::error::Error>> {
    let device = device_from_name(&args.device)?;
    let bank = KernelBank::load(&args.bank)?.kernels;
    let run = RunFolder::lock(&args.out)?;
    let mut trainer = if args.resume {
        let trainer = GanTrainer::resume(&run.existing_checkpoint()?, &bank, &device)?;
        let config = trainer.config();
        same_as_run(
            &args.out,
            "--size",
            Some(args.size),
            config.model.kernel_size,
        )?;
        same_as_run(&args.out, "--width", args.width, config.model.base_channels)?;
        same_as_run(&args.out, "--batch", args.batch, config.batch)?;
        same_as_run(&args.out, "--seed", args.seed, config.seed)?;
        trainer
    } else {
        run.expect_new()?;
        let config = GanTrainConfig {
            model: KernelGeneratorConfig::new(args.size)
                .with_base_channels(args.width.unwrap_or(64)),
            batch: args.batch.unwrap_or(128),
            seed: args.seed.unwrap_or(0),
            ..GanTrainConfig::reference(args.size)
        };
        GanTrainer::new(config, &bank, &device)?
    };
    let mut progress = StepProgress::new(args.steps, trainer.step_count());
    let z_fixed = trainer.generator().sample_latent(64, 12345, &device);
    let schedule = schedule(args.steps, args.checkpoint_every, args.max_minutes);
    let seconds = train(&mut trainer, &run, schedule, &mut |trainer, l| {
        progress.update(l.step, l.summary());
        if l.step % args.sample_every == 0 || l.step == args.steps {
            // the same 64 latents every time: the grids show the generator's range evolving
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
        Ok(())
    })?;
    finished(&progress, trainer.step_count(), seconds, &args.out);
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
    /// Sharp images: `dead-leaves` or `text-pages[:LO-HI]` (procedural; glyph heights in px) or a folder of PNG/JPEG/TIFF images.
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
    /// Largest σ of the Gaussian noise added to each blurred input, drawn uniformly in [0, σ]
    /// per pair (intensities in [0, 1]; 0.02 covers the Lai set's 1 %) [default: 0; a resumed run
    /// keeps its own].
    #[arg(long, value_parser = noise_level)]
    noise: Option<f32>,
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
    /// Stop after this many minutes of training in this sitting (a checkpoint and the model are
    /// written; --resume continues).
    #[arg(long, value_parser = positive_finite, allow_hyphen_values = true)]
    max_minutes: Option<f64>,
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
    let run = RunFolder::lock(&args.out)?;
    let mut trainer = if args.resume {
        let trainer = InitTrainer::resume(
            &run.existing_checkpoint()?,
            generator,
            images,
            bank,
            &device,
        )?;
        let config = trainer.config();
        same_as_run(&args.out, "--width", args.width, config.model.base_width)?;
        same_as_run(&args.out, "--batch", args.batch, config.batch)?;
        same_as_run(
            &args.out,
            "--inner-steps",
            args.inner_steps,
            config.inner_steps,
        )?;
        same_as_run(&args.out, "--lr", args.lr, config.lr)?;
        same_as_run(&args.out, "--seed", args.seed, config.seed)?;
        same_as_run(&args.out, "--noise", args.noise, config.noise_std[1])?;
        trainer
    } else {
        run.expect_new()?;
        let config = InitTrainConfig {
            noise_std: [0.0, args.noise.unwrap_or(0.0)],
            model: deblur_models::InitializerConfig::narrow(args.width.unwrap_or(16)),
            batch: args.batch.unwrap_or(16),
            lr: args.lr.unwrap_or(1e-4),
            inner_steps: args.inner_steps.unwrap_or(20),
            seed: args.seed.unwrap_or(0),
            ..InitTrainConfig::reference()
        };
        InitTrainer::new(config, generator, images, bank, &device)?
    };
    let mut progress = StepProgress::new(args.steps, trainer.step_count());
    let schedule = schedule(args.steps, args.checkpoint_every, args.max_minutes);
    let seconds = train(&mut trainer, &run, schedule, &mut |_, l| {
        progress.update(l.step, l.summary());
        Ok(())
    })?;
    finished(&progress, trainer.step_count(), seconds, &args.out);
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

/// clap parser: a finite number of at least 0.
pub(crate) fn non_negative_finite(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(v) => Err(format!("{v} must be a finite number of at least 0")),
        Err(e) => Err(e.to_string()),
    }
}

/// clap parser: a fraction in [0, 1].
fn fraction(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is not a fraction; give a number in [0, 1]")),
        Err(e) => Err(e.to_string()),
    }
}

/// clap parser: a noise level σ in [0, 0.5].
fn noise_level(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if (0.0..=0.5).contains(&v) => Ok(v),
        Ok(v) => Err(format!(
            "{v} is not a noise level; give σ in [0, 0.5] on intensities in [0, 1] (e.g. 0.02)"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// The driver's schedule from the common training options.
fn schedule(steps: usize, checkpoint_every: usize, max_minutes: Option<f64>) -> Schedule {
    Schedule {
        steps,
        checkpoint_every,
        time_limit: max_minutes.map(|m| std::time::Duration::from_secs_f64(m * 60.0)),
    }
}

/// Clears the progress display and says where the run stopped.
fn finished(progress: &StepProgress, step: usize, seconds: f64, out: &Path) {
    progress.bar.finish_and_clear();
    eprintln!(
        "trained to step {step} in {seconds:.0} s; wrote {}",
        out.display()
    );
}

/// How often a run whose stderr is not a terminal prints a progress line.
const PLAIN_PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Progress over training steps on stderr: indicatif's bar on a terminal. Where stderr is not
/// one (a run under `nohup`, or with its output sent to a file) the bar draws nothing, which left
/// hours-long background runs without a word; there a plain line is printed at the first step,
/// then at most once a minute and at the last step: the step, the run's summary, seconds per
/// step and the time left (the hidden bar still keeps the rate and the estimate).
struct StepProgress {
    bar: ProgressBar,
    /// When the last plain line was printed; `None` on a terminal, where the bar shows.
    plain: Option<Option<std::time::Instant>>,
}

impl StepProgress {
    /// Progress towards `total` steps, `done` of them already made (a resumed run).
    fn new(total: usize, done: usize) -> Self {
        use std::io::IsTerminal;
        let bar = ProgressBar::new(total as u64).with_position(done as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{bar:30}] {pos}/{len} steps  {msg}  {per_sec}  ETA {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        let plain = (!std::io::stderr().is_terminal()).then_some(None);
        StepProgress { bar, plain }
    }

    /// Step `step` is done; `summary` is the trainer's line for it.
    fn update(&mut self, step: usize, summary: String) {
        self.bar.set_position(step as u64);
        let total = self.bar.length().unwrap_or(0);
        if let Some(last) = &mut self.plain {
            let now = std::time::Instant::now();
            let due = last.is_none_or(|t| now.duration_since(t) >= PLAIN_PROGRESS_EVERY);
            if due || step as u64 >= total {
                let rate = self.bar.per_sec();
                let per_step = if rate > 0.0 { 1.0 / rate } else { 0.0 };
                eprintln!(
                    "step {step}/{total}  {summary}  {per_step:.2} s/step  ETA {}",
                    indicatif::HumanDuration(self.bar.eta())
                );
                *last = Some(now);
            }
        }
        self.bar.set_message(summary);
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum SpacePreset {
    /// nf 16, 2 + 4 residual blocks, 64-channel code, on the luma (1.5 M parameters).
    Compact,
    /// The reference network: RGB, nf 64, 10 + 20 blocks, 512-channel code (49 M parameters).
    Paper,
}

#[derive(Args, Debug)]
pub struct TrainKernelSpaceArgs {
    /// Sharp images: `dead-leaves` or `text-pages[:LO-HI]` (procedural; glyph heights in px) or a folder of PNG/JPEG/TIFF images (e.g.
    /// ../shared/data/train400).
    #[arg(long, default_value = "dead-leaves")]
    images: ImageSpec,
    /// Kernel bank (.npy N×K×K from `deblur kernels synth`) [default: 4096 camera-shake kernels
    /// of 31 px, seed 1, made at the start].
    #[arg(long, conflicts_with = "pairs")]
    bank: Option<PathBuf>,
    /// Train on recorded pairs instead: DIR/sharp/… and DIR/blur/… with the same relative paths
    /// (the GOPRO and REDS layout); --images, --bank, --noise, --gamma and --field-fraction do
    /// not apply.
    #[arg(long, value_name = "DIR")]
    pairs: Option<PathBuf>,
    /// Network preset [a resumed run keeps its own].
    #[arg(long, value_enum, default_value = "compact")]
    preset: SpacePreset,
    /// Also train G's VAE head (mean and spread of the code).
    #[arg(long)]
    vae: bool,
    /// Crop side, a multiple of 128 [default: 128].
    #[arg(long)]
    crop: Option<usize>,
    /// Pairs per batch [default: 8].
    #[arg(long, value_parser = at_least_one)]
    batch: Option<usize>,
    /// Peak learning rate [default: 1e-4].
    #[arg(long, value_parser = positive_finite, allow_hyphen_values = true)]
    lr: Option<f64>,
    /// Largest σ of the noise added to the blurry images [default: 0.01].
    #[arg(long, value_parser = noise_level)]
    noise: Option<f32>,
    /// Exponent of the camera response (0: blur the display values) [default: 2.2].
    #[arg(long)]
    gamma: Option<f32>,
    /// Largest exposure gain of the camera response (1: no saturation) [default: 1.5].
    #[arg(long, value_parser = positive_finite, allow_hyphen_values = true)]
    max_gain: Option<f64>,
    /// Fraction of the pairs blurred by a camera-motion field (2×2 regions, shake plus rotation
    /// up to 2°) instead of one kernel [default: 0.5].
    #[arg(long, value_parser = fraction)]
    field_fraction: Option<f32>,
    /// Seed [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Train until this many steps in total.
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    /// Run folder: checkpoint/, losses.csv, losses.png, samples_STEP.png, kernel_space.bpk + .json.
    #[arg(long, short)]
    out: PathBuf,
    /// Continue the run in --out from its checkpoint.
    #[arg(long)]
    resume: bool,
    /// Write a sample strip (sharp | blurry | F(x, G(x, y))) every N steps.
    #[arg(long, default_value_t = 250, value_parser = at_least_one)]
    sample_every: usize,
    /// Write a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    checkpoint_every: usize,
    /// Stop after this many minutes in this sitting (a checkpoint and the model are written).
    #[arg(long, value_parser = positive_finite, allow_hyphen_values = true)]
    max_minutes: Option<f64>,
    /// Compute device.
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn train_kernel_space(args: TrainKernelSpaceArgs) -> Result<(), Box<dyn std::error::Error>> {
    use deblur_kernels::ColorMode;
    use deblur_models::train_space::{SpaceData, SpaceTrainConfig, SpaceTrainer};
    let device = device_from_name(&args.device)?;
    // a new run's settings are checked before its folder is made
    let fresh = if args.resume {
        None
    } else {
        let base = SpaceTrainConfig::compact();
        let model = match args.preset {
            SpacePreset::Compact => deblur_models::KernelSpaceConfig::compact(),
            SpacePreset::Paper => deblur_models::KernelSpaceConfig::paper(),
        }
        .with_vae(args.vae);
        let config = SpaceTrainConfig {
            model,
            crop: args.crop.unwrap_or(base.crop),
            batch: args.batch.unwrap_or(base.batch),
            lr: args.lr.unwrap_or(base.lr),
            noise_std: [0.0, args.noise.unwrap_or(base.noise_std[1])],
            gamma: match args.gamma {
                Some(0.0) => None,
                Some(g) => Some(g),
                None => base.gamma,
            },
            gain: [1.0, args.max_gain.map_or(base.gain[1], |g| g as f32)],
            field_fraction: args.field_fraction.unwrap_or(base.field_fraction),
            seed: args.seed.unwrap_or(base.seed),
            ..base
        };
        config.validate()?;
        Some(config)
    };
    let run = RunFolder::lock(&args.out)?;
    let config: SpaceTrainConfig = run.settings(fresh)?;
    let color = if config.model.channels == 3 {
        ColorMode::Rgb
    } else {
        ColorMode::Gray
    };
    let data = match &args.pairs {
        Some(dir) => SpaceData::Folders(deblur_kernels::PairFolders::new(
            dir,
            config.crop,
            color,
            true,
        )?),
        None => SpaceData::Synthetic {
            images: args.images.open(config.crop, color, true)?,
            kernels: match &args.bank {
                Some(path) => KernelBank::load(path)?.kernels,
                None => {
                    let family = deblur_kernels::KernelFamily::by_name("shake", 31)?;
                    deblur_kernels::synthesize_bank(&family, 4096, 1, &|_| {})?.kernels
                }
            },
        },
    };
    let mut trainer = if args.resume {
        let trainer = SpaceTrainer::resume(&run.existing_checkpoint()?, data, &device)?;
        let c = trainer.config();
        same_as_run(&args.out, "--crop", args.crop, c.crop)?;
        same_as_run(&args.out, "--batch", args.batch, c.batch)?;
        same_as_run(&args.out, "--seed", args.seed, c.seed)?;
        trainer
    } else {
        SpaceTrainer::new(config, data, &device)?
    };
    let mut progress = StepProgress::new(args.steps, trainer.step_count());
    // a fixed batch outside the training stream (step index far beyond any run) for the strips
    let (show_sharp, show_blurry) = trainer.pairs(usize::MAX / 2)?;
    let schedule = schedule(args.steps, args.checkpoint_every, args.max_minutes);
    let seconds = train(&mut trainer, &run, schedule, &mut |trainer, l| {
        progress.update(l.step, l.summary());
        if l.step % args.sample_every == 0 || l.step == args.steps {
            let model = trainer.model().valid();
            let (x, y) = (show_sharp.clone().inner(), show_blurry.clone().inner());
            let reblurred = model.blur(x.clone(), model.extract(x.clone(), y.clone()).mean);
            let rows = x.dims()[0].min(4);
            let mut strips = Vec::new();
            for i in 0..rows {
                let a = deblur_core::convert::tensor_to_array(x.clone(), i)?;
                let b = deblur_core::convert::tensor_to_array(y.clone(), i)?;
                let c =
                    deblur_core::convert::tensor_to_array(reblurred.clone().clamp(0.0, 1.0), i)?;
                strips.push(deblur_core::visual::side_by_side(&[&a, &b, &c]));
            }
            let sheet = stack_rows(&strips);
            save_image(
                args.out.join(format!("samples_{:06}.png", l.step)),
                &sheet,
                BitDepth::Eight,
            )?;
        }
        Ok(())
    })?;
    finished(&progress, trainer.step_count(), seconds, &args.out);
    Ok(())
}

/// Stacks equally wide pictures top to bottom with a 4-pixel white gap.
fn stack_rows(rows: &[ndarray::Array3<f32>]) -> ndarray::Array3<f32> {
    let (c, _, w) = rows[0].dim();
    let gap = 4;
    let h = rows.iter().map(|r| r.dim().1).sum::<usize>() + gap * rows.len().saturating_sub(1);
    let mut out = ndarray::Array3::from_elem((c, h, w), 1.0f32);
    let mut y0 = 0;
    for r in rows {
        let rh = r.dim().1;
        out.slice_mut(ndarray::s![.., y0..y0 + rh, ..]).assign(r);
        y0 += rh + gap;
    }
    out
}

#[derive(Args, Debug)]
pub struct TrainDenoiserArgs {
    /// Clean images: a folder of PNG/JPEG/TIFF images (e.g. ../shared/data/train400), or
    /// `dead-leaves` / `text-pages[:LO-HI]` (procedural).
    #[arg(long)]
    images: ImageSpec,
    /// Colour network (3 channels) instead of grey.
    #[arg(long)]
    color: bool,
    /// Hidden feature channels [default: 48].
    #[arg(long, value_parser = at_least_one)]
    width: Option<usize>,
    /// Convolution layers, at least 2 [default: 10].
    #[arg(long)]
    depth: Option<usize>,
    /// Crop side, even [default: 64].
    #[arg(long)]
    crop: Option<usize>,
    /// Crops per batch [default: 16].
    #[arg(long, value_parser = at_least_one)]
    batch: Option<usize>,
    /// Initial learning rate [default: 1e-3].
    #[arg(long, value_parser = positive_finite, allow_hyphen_values = true)]
    lr: Option<f64>,
    /// Halve the learning rate after every N steps [default: 2000].
    #[arg(long, value_parser = at_least_one)]
    halve_every: Option<usize>,
    /// Largest noise level σ of the training crops (intensities in [0, 1]) [default: 0.2].
    #[arg(long, value_parser = noise_level)]
    max_noise: Option<f32>,
    /// Seed [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Train until this many steps in total.
    #[arg(long, default_value_t = 6000)]
    steps: usize,
    /// Run folder: checkpoint/, losses.csv, losses.png, samples_STEP.png, denoiser.bpk + .json.
    #[arg(long, short)]
    out: PathBuf,
    /// Continue the run in --out from its checkpoint.
    #[arg(long)]
    resume: bool,
    /// Start a new run from a trained denoiser's weights (fine-tuning: a .bpk with its .json
    /// beside it, as this command writes; `--width`/`--depth` default to that network's), with a
    /// fresh optimiser and step count.
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// Write a sample strip (clean | noisy σ = 0.02, 0.05, 0.1 | denoised) every N steps.
    #[arg(long, default_value_t = 500, value_parser = at_least_one)]
    sample_every: usize,
    /// Write a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    checkpoint_every: usize,
    /// Stop after this many minutes in this sitting (a checkpoint and the model are written).
    #[arg(long, value_parser = positive_finite, allow_hyphen_values = true)]
    max_minutes: Option<f64>,
    /// Compute device.
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn train_denoiser(args: TrainDenoiserArgs) -> Result<(), Box<dyn std::error::Error>> {
    use deblur_kernels::ColorMode;
    use deblur_models::train_denoise::{DenoiseTrainConfig, DenoiseTrainer};
    let device = device_from_name(&args.device)?;
    // the network to fine-tune, read before anything is written
    let init = match &args.init {
        Some(path) => Some(deblur_models::weights::load_denoiser_from(
            Some(path),
            None,
            "",
            &device,
        )?),
        None => None,
    };
    let start = init.as_ref().map(|model| model.config());
    let fresh = if args.resume {
        None
    } else {
        let base = DenoiseTrainConfig::default();
        let config = DenoiseTrainConfig {
            channels: match &start {
                _ if args.color => 3,
                Some(s) => s.channels,
                None => 1,
            },
            width: args
                .width
                .or(start.as_ref().map(|s| s.width))
                .unwrap_or(base.width),
            depth: args
                .depth
                .or(start.as_ref().map(|s| s.depth))
                .unwrap_or(base.depth),
            batch: args.batch.unwrap_or(base.batch),
            crop: args.crop.unwrap_or(base.crop),
            lr: args.lr.unwrap_or(base.lr),
            halve_every: args.halve_every.unwrap_or(base.halve_every),
            noise_std: [0.0, args.max_noise.unwrap_or(base.noise_std[1])],
            seed: args.seed.unwrap_or(base.seed),
        };
        config.validate()?;
        // a network that cannot start this run is refused before the run folder exists
        if let Some(start) = &start {
            config.check_start(start)?;
        }
        Some(config)
    };
    let run = RunFolder::lock(&args.out)?;
    let config: DenoiseTrainConfig = run.settings(fresh)?;
    let color = if config.channels == 3 {
        ColorMode::Rgb
    } else {
        ColorMode::Gray
    };
    let images = args.images.open(config.crop, color, true)?;
    let mut trainer = if args.resume {
        let trainer = DenoiseTrainer::resume(&run.existing_checkpoint()?, images, &device)?;
        let c = trainer.config();
        same_as_run(&args.out, "--crop", args.crop, c.crop)?;
        same_as_run(&args.out, "--batch", args.batch, c.batch)?;
        same_as_run(&args.out, "--seed", args.seed, c.seed)?;
        trainer
    } else if let Some(model) = init {
        DenoiseTrainer::from_model(config, model, images, &device)?
    } else {
        DenoiseTrainer::new(config, images, &device)?
    };
    let mut progress = StepProgress::new(args.steps, trainer.step_count());
    // fixed crops outside the training stream (a step index far beyond any run), shown at three
    // noise levels
    let show = trainer.batch(usize::MAX / 2)?.clean;
    let show_rows = show.dims()[0].min(3);
    let schedule = schedule(args.steps, args.checkpoint_every, args.max_minutes);
    let seconds = train(&mut trainer, &run, schedule, &mut |trainer, l| {
        progress.update(l.step, l.summary());
        if l.step % args.sample_every == 0 || l.step == args.steps {
            let model = trainer.model().valid();
            let mut strips = Vec::new();
            for i in 0..show_rows {
                let clean = show.clone().inner().narrow(0, i, 1);
                let a = deblur_core::convert::tensor_to_array(clean.clone(), 0)?;
                let mut row = vec![a.clone()];
                for (j, sigma) in [0.02f32, 0.05, 0.1].into_iter().enumerate() {
                    let mut rng = deblur_kernels::bank::kernel_rng(i as u64, j as u64);
                    let noisy = a.mapv(|v| {
                        v + sigma
                            * rand_distr::Distribution::<f32>::sample(
                                &rand_distr::StandardNormal,
                                &mut rng,
                            )
                    });
                    let input = deblur_core::convert::array_to_tensor(&noisy, &clean.device());
                    let out = model.forward(input, &[sigma]).clamp(0.0, 1.0);
                    row.push(noisy.mapv(|v| v.clamp(0.0, 1.0)));
                    row.push(deblur_core::convert::tensor_to_array(out, 0)?);
                }
                let refs: Vec<&ndarray::Array3<f32>> = row.iter().collect();
                strips.push(deblur_core::visual::side_by_side(&refs));
            }
            save_image(
                args.out.join(format!("samples_{:06}.png", l.step)),
                &stack_rows(&strips),
                BitDepth::Eight,
            )?;
        }
        Ok(())
    })?;
    finished(&progress, trainer.step_count(), seconds, &args.out);
    Ok(())
}
