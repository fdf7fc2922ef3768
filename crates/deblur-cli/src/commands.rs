//! Subcommands of `deblur`, one per library entry point.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use deblur_core::kernel::load_kernel_stack;
use deblur_core::outputs::{Output, check_outputs};
use deblur_core::visual::kernel_contact_sheet;
use deblur_core::{
    BitDepth, BlurMethod, Boundary, Kernel, KernelField, Padding, UniformBlur, blur_image,
    device_from_name, load_image, save_image,
};
use deblur_kernels::{
    KernelBank, KernelFamily, bank_stats, synthesize_bank, synthesize_bank_within,
};
use deblur_metrics::{ShiftOptions, score_images};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use std::time::Instant;

use crate::weights_args::ShippedWeights;

/// Blind image deblurring with learned blur-kernel spaces.
#[derive(Parser, Debug)]
#[command(name = "deblur", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Blur a sharp image with a known kernel (cross-correlation, centre at (K-1)/2).
    ///
    /// Example: deblur blur sharp.png --kernel kernel.png --padding reflect --noise-std 0.01 -o blurry.png
    Blur(BlurArgs),
    /// Score an estimate against the ground truth by the Levin/SelfDeblur shift-compensated protocol.
    ///
    /// Example: deblur score restored.png --reference sharp.png --json
    Score(ScoreArgs),
    /// Blind deblurring: estimate the kernel and the sharp image from one blurred image.
    ///
    /// Example: deblur blind blurry.png -o restored.png --kernel-size 27 --kernel-out kernel.png
    Blind(crate::solve_cmds::BlindArgs),
    /// Blind deblurring of every image of a folder: resumable (finished outputs are skipped),
    /// a JSON-lines report per shard, and --shard K/N to spread a collection over machines.
    ///
    /// Example: deblur batch blurry/ restored/ --shard 1/4 --kernel-size 45
    Batch(crate::batch_cmds::BatchArgs),
    /// Non-blind deconvolution with a known kernel.
    ///
    /// Example: deblur deconv blurry.png --kernel kernel.png -o restored.png --method hl
    Deconv(crate::solve_cmds::DeconvArgs),
    /// Blur transfer through a trained blur-kernel space: the blur of a sharp/blurry pair,
    /// F(target, G(sharp, blurry)), applied to other sharp images (Tran et al. 2021, §3.4).
    ///
    /// Example: deblur transfer --model runs/ks/kernel_space.bpk --sharp a.png --blurry a_blur.png b.png -o b_blur.png
    Transfer(crate::space_cmds::TransferArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Train models.
    #[command(subcommand)]
    Train(TrainCommand),
    /// Kernel utilities: show, synthesise and summarise kernels (also spelled `kernels`).
    #[command(subcommand, visible_alias = "kernels")]
    Kernel(KernelCommand),
}

#[derive(Subcommand, Debug)]
enum TrainCommand {
    /// DCGAN training of the GLKM kernel generator on a kernel bank (checkpoints, --resume,
    /// CSV loss log, sample grids).
    ///
    /// Example: deblur train kernel-prior --bank shake31.npy --size 31 --steps 4000 --out runs/g31
    KernelPrior(crate::train_cmds::TrainKernelPriorArgs),
    /// Collaborative training of the ResNet kernel initializer against a trained generator
    /// (inner GAN inversion warm-started from E's prediction).
    ///
    /// Example: deblur train initializer --bank shake31.npy --generator runs/g31/generator.bpk --steps 2000 --out runs/e31
    Initializer(crate::train_cmds::TrainInitializerArgs),
    /// Joint training of the blur-kernel space (Tran et al. 2021): the blur operators F(x, k)
    /// and the kernel extractor G(x, y) on pairs made from sharp images, kernels, a camera
    /// response and noise.
    ///
    /// Example: deblur train kernel-space --images ../shared/data/train400 --steps 2000 --out runs/ks
    KernelSpace(crate::train_cmds::TrainKernelSpaceArgs),
    /// Training of the noise-level-conditioned CNN denoiser, the image prior of
    /// plug-and-play deconvolution (`deconv --method pnp`), on clean crops plus Gaussian noise.
    ///
    /// Example: deblur train denoiser --images ../shared/data/train400 --steps 6000 --out runs/den
    Denoiser(crate::train_cmds::TrainDenoiserArgs),
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// The Levin et al. 2009 set: 32 images, shift-compensated PSNR/SSIM, error ratio, seconds.
    ///
    /// Example: deblur bench levin --images im1_kernel4 --iters 1000 --csv levin.csv
    Levin(crate::solve_cmds::BenchLevinArgs),
    /// The Lai et al. 2016 uniform protocol built from ../shared/data/lai2016: 13 images x 4
    /// kernels (31-75 px), 1% noise, shift-compensated PSNR/SSIM, per-kernel and per-category means.
    ///
    /// Example: deblur bench lai --quick --csv lai.csv
    Lai(Box<crate::lai_cmds::BenchLaiArgs>),
    /// Blur that varies across the image: the Levin ground truths and four Lai images (reduced
    /// to 384 px) x camera-motion fields (shake + in-plane rotation, 3x3, 31 px), 1% noise;
    /// blurred, non-blind with the true field, the uniform default and the non-uniform estimate
    /// (MLP and GLKM region kernels), with the PSNR near region borders (seams) and inside.
    ///
    /// Example: deblur bench nonuniform --images levin_im1,lai_natural_02 --csv nonuniform.csv
    Nonuniform(crate::nonuniform_cmds::BenchNonUniformArgs),
    /// The kernel initializer: error of G(E(y)) against the true kernel on held-out synthetic
    /// pairs (and the Levin set), beside G(0), the mean kernel, a broad start and a delta.
    ///
    /// Example: deblur bench initializer --bank heldout31.npy --levin ../shared/data/levin
    Initializer(crate::bench_cmds::BenchInitializerArgs),
    /// The blur-kernel space (F, G): transfer of the 8 Levin kernels between the Levin images
    /// (paper Table 1) and kernel retrieval on held-out images with camera-response and
    /// non-uniform blur (paper Table 3).
    ///
    /// Example: deblur bench kernel-space --model runs/ks/kernel_space.bpk --csv ks.csv
    KernelSpace(crate::space_cmds::BenchKernelSpaceArgs),
    /// The plug-and-play denoiser: PSNR of held-out images denoised at several noise levels.
    ///
    /// Example: deblur bench denoiser --model runs/den/denoiser.bpk --images held-out/
    Denoiser(crate::bench_cmds::BenchDenoiserArgs),
}

#[derive(Subcommand, Debug)]
enum KernelCommand {
    /// Draw kernels (PNG, .npy stacks, CSV) side by side as one picture, each scaled to its maximum.
    ///
    /// Example: deblur kernel show k1.png k2.png bank.npy -o grid.png
    Show(KernelShowArgs),
    /// Synthesise a bank of N kernels of size K (.npy N×K×K + JSON sidecar), in parallel.
    ///
    /// Example: deblur kernels synth --generator shake --size 31 --count 10000 --seed 1 -o shake31.npy --preview shake31.png
    Synth(KernelSynthArgs),
    /// Draw kernels from the shipped GLKM kernel generator (weights/ with its manifest).
    ///
    /// Example: deblur kernels sample --count 64 -o samples.png --npy samples.npy
    Sample(KernelSampleArgs),
    /// How well the shipped generator covers a bank: GAN inversion (Adam on z, L1) of each kernel,
    /// against a delta kernel and the bank's mean kernel.
    ///
    /// Example: deblur kernels fit heldout31.npy --count 32 --steps 200
    Fit(KernelFitArgs),
    /// Print size, support, sparsity and length statistics of a kernel bank.
    ///
    /// Example: deblur kernels stats shake31.npy
    Stats(KernelStatsArgs),
    /// Make a kernel field for spatially varying blur: one camera motion (shake plus in-plane
    /// rotation) seen at every region of an image, or independent kernels per region
    /// (.npy R_h×R_w×K×K + JSON sidecar; see docs/kernels.md).
    ///
    /// Example: deblur kernels field --size 31 --grid 3x3 --image-size 512x512 --seed 1 -o field.npy --preview field.png
    Field(KernelFieldArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FieldGeneratorArg {
    /// One camera motion: a shake path plus an in-plane rotation (Whyte et al. 2012).
    Camera,
    /// An independent camera-shake kernel in every region.
    PerRegion,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum WindowArg {
    /// Bilinear interpolation between region centres.
    Tent,
    /// Bartlett–Hann tapers with 50 % overlap, normalised to sum to one.
    BartlettHann,
}

impl From<WindowArg> for deblur_core::WindowShape {
    fn from(w: WindowArg) -> Self {
        match w {
            WindowArg::Tent => deblur_core::WindowShape::Tent,
            WindowArg::BartlettHann => deblur_core::WindowShape::BartlettHann,
        }
    }
}

#[derive(Args, Debug)]
struct KernelFieldArgs {
    /// How the kernels are made.
    #[arg(long, value_enum, default_value = "camera")]
    generator: FieldGeneratorArg,
    /// Kernel side K in pixels (3–255).
    #[arg(long, default_value_t = 31, value_parser = kernel_side)]
    size: usize,
    /// Regions, rows x columns (e.g. 3x3).
    #[arg(long, default_value = "3x3", value_parser = grid_arg)]
    grid: [usize; 2],
    /// Size of the image the field is for, height x width (camera: where the regions sit).
    #[arg(long, default_value = "512x512", value_parser = image_size_arg)]
    image_size: [usize; 2],
    /// Camera: largest in-plane rotation during the exposure, in degrees (0–45).
    #[arg(long, default_value_t = 1.0)]
    max_rotation: f64,
    /// Window taper between regions.
    #[arg(long, value_enum, default_value = "tent")]
    window: WindowArg,
    /// Seed of the motion.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output field (.npy); the sidecar goes beside it as .json.
    #[arg(long, short)]
    output: PathBuf,
    /// Also write a picture of the kernels, each at its region's place.
    #[arg(long)]
    preview: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum GeneratorArg {
    Shake,
    Gp,
    Linear,
    Gaussian,
    Disk,
}

#[derive(Args, Debug)]
struct KernelSynthArgs {
    /// Kernel family.
    #[arg(long, value_enum, default_value = "shake")]
    generator: GeneratorArg,
    /// Kernel side K in pixels (3–255).
    #[arg(long, default_value_t = 31, value_parser = kernel_side)]
    size: usize,
    /// Number of kernels (at most 1 000 000, and at most 2 GB of kernels).
    #[arg(long, default_value_t = 1000, value_parser = bank_count)]
    count: usize,
    /// Master seed (kernel i is drawn from (seed, i)).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output bank (.npy); the sidecar goes beside it as .json.
    #[arg(long, short)]
    output: PathBuf,
    /// Also write a picture of the first kernels.
    #[arg(long)]
    preview: Option<PathBuf>,
    /// Shake only: the path length of every kernel in pixels (default: drawn between 0.375 K
    /// and 1.5 K). Shake paths curl, so long paths are needed for blur that fills the canvas.
    #[arg(long)]
    path_length: Option<f64>,
    /// Keep only kernels whose extent (the longer side of the box around the taps of at least
    /// 5 % of the peak) is within MIN..MAX of the side, e.g. 0.6..0.95: draws go on until
    /// --count kernels pass (at most 1000 × --count draws, and a million). A path curls more or less, so
    /// without it a "75 px" bank holds kernels spanning 17 px as well as 70.
    #[arg(long, value_parser = parse_extent)]
    extent: Option<[f64; 2]>,
}

/// `MIN..MAX`, two fractions of the kernel side with 0 < MIN <= MAX <= 1.
fn parse_extent(text: &str) -> Result<[f64; 2], String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("{text:?} is not MIN..MAX (for example 0.6..0.95)"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<f64>()
            .map_err(|_| format!("{v:?} in {text:?} is not a number"))
    };
    let (min, max) = (parse(a)?, parse(b)?);
    if !(min > 0.0 && min <= max && max <= 1.0) {
        return Err(format!(
            "{text:?}: the fractions of the side must satisfy 0 < MIN <= MAX <= 1"
        ));
    }
    Ok([min, max])
}

#[derive(Args, Debug)]
struct KernelSampleArgs {
    #[command(flatten)]
    shipped: ShippedWeights,
    /// Number of kernels (1–4096).
    #[arg(long, default_value_t = 64, value_parser = sample_count)]
    count: usize,
    /// Seed of the latent codes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Picture of the kernels.
    #[arg(long, short)]
    output: PathBuf,
    /// Also write the kernels as an N×K×K .npy bank.
    #[arg(long)]
    npy: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct KernelFitArgs {
    /// Held-out kernels (.npy N×K×K) of the generator's size.
    bank: PathBuf,
    #[command(flatten)]
    shipped: ShippedWeights,
    /// Kernels of the bank to invert (the first N).
    #[arg(long, default_value_t = 32)]
    count: usize,
    /// Adam steps per inversion.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 0.01)]
    lr: f64,
    /// Fit the 100-d latent z (GAN inversion) or the first-layer feature map w (what GLKM
    /// optimises during deblurring).
    #[arg(long, value_enum, default_value = "z")]
    space: FitSpace,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FitSpace {
    /// The latent code z.
    Z,
    /// The feature map w = g1(z).
    W,
}

#[derive(Args, Debug)]
struct KernelStatsArgs {
    /// Kernel bank (.npy N×K×K) or a single kernel file.
    bank: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PaddingArg {
    Valid,
    Zero,
    Reflect,
    Symmetric,
    Replicate,
    Circular,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BlurMethodArg {
    Auto,
    Direct,
    Fft,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DepthArg {
    #[value(name = "8")]
    Eight,
    #[value(name = "16")]
    Sixteen,
}

impl From<DepthArg> for BitDepth {
    fn from(d: DepthArg) -> Self {
        match d {
            DepthArg::Eight => BitDepth::Eight,
            DepthArg::Sixteen => BitDepth::Sixteen,
        }
    }
}

/// One kernel or a kernel field, as `deblur blur` and `deblur deconv` take them.
#[derive(Args, Debug)]
pub(crate) struct KernelChoice {
    /// The blur kernel (cross-correlation convention, centre at (K-1)/2; PNG, .npy or CSV),
    /// normalised to sum 1.
    #[arg(
        long,
        short,
        required_unless_present = "kernel_field",
        conflicts_with = "kernel_field"
    )]
    pub(crate) kernel: Option<PathBuf>,
    /// A kernel field (.npy from `deblur kernels field` or `blind --nonuniform`) instead of one
    /// kernel: blur that varies across the image, as overlap-add of the regions' blurs (window,
    /// then blur); deconvolution by each region's kernel, blended by the windows.
    #[arg(long)]
    pub(crate) kernel_field: Option<PathBuf>,
}

/// What [`KernelChoice`] loaded.
pub(crate) enum Blur {
    Kernel(Kernel),
    Field(KernelField),
}

impl KernelChoice {
    /// The file given (clap requires exactly one).
    pub(crate) fn path(&self) -> &std::path::Path {
        self.kernel
            .as_deref()
            .or(self.kernel_field.as_deref())
            .unwrap_or(std::path::Path::new(""))
    }

    /// Loads the kernel or the field.
    pub(crate) fn load(&self) -> Result<Blur, deblur_core::Error> {
        match (&self.kernel, &self.kernel_field) {
            (Some(path), _) => Ok(Blur::Kernel(Kernel::load(path)?)),
            (None, Some(path)) => Ok(Blur::Field(KernelField::load(path)?)),
            (None, None) => Err(deblur_core::Error::invalid(
                "kernel",
                "give --kernel or --kernel-field",
            )),
        }
    }
}

#[derive(Args, Debug)]
struct BlurArgs {
    /// Sharp input image (PNG, JPEG, TIFF, BMP; gray or colour).
    sharp: PathBuf,
    #[command(flatten)]
    blur: KernelChoice,
    /// Border handling: `valid` shrinks the image by K-1.
    #[arg(long, value_enum, default_value = "reflect")]
    padding: PaddingArg,
    /// Standard deviation of added Gaussian noise, in units of the [0, 1] image range.
    #[arg(long, default_value_t = 0.0)]
    noise_std: f32,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Implementation: direct convolution, FFT, or automatic by kernel size.
    #[arg(long, value_enum, default_value = "auto")]
    method: BlurMethodArg,
    /// Compute device: cpu, wgpu or cuda (if compiled in).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Output bit depth (16 needs .png or .tif).
    #[arg(long, value_enum, default_value = "8")]
    bit_depth: DepthArg,
    /// Output image.
    #[arg(long, short)]
    output: PathBuf,
}

#[derive(Args, Debug)]
struct ScoreArgs {
    /// The image to score.
    estimate: PathBuf,
    /// The ground-truth sharp image (same size).
    #[arg(long, short)]
    reference: PathBuf,
    /// Largest shift searched, in pixels.
    #[arg(long, default_value_t = 10.0)]
    max_shift: f64,
    /// Pixels cropped from every side before scoring.
    #[arg(long, default_value_t = 15)]
    crop: usize,
    /// Score without searching for the best shift.
    #[arg(long)]
    no_shift: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct KernelShowArgs {
    /// Kernel files.
    #[arg(required = true)]
    kernels: Vec<PathBuf>,
    /// Output picture (.png).
    #[arg(long, short)]
    output: PathBuf,
    /// Approximate size of one kernel in the picture, in pixels (8–1024).
    #[arg(long, default_value_t = 96, value_parser = cell_px)]
    cell: usize,
    /// Kernels per row (1–64).
    #[arg(long, default_value_t = 8, value_parser = columns)]
    columns: usize,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Blur(args) => blur(args),
        Command::Score(args) => score(args),
        Command::Blind(args) => crate::solve_cmds::blind(args),
        Command::Deconv(args) => crate::solve_cmds::deconv(args),
        Command::Transfer(args) => crate::space_cmds::transfer(args),
        Command::Batch(args) => crate::batch_cmds::batch(args),
        Command::Bench(BenchCommand::Levin(args)) => crate::solve_cmds::bench_levin(args),
        Command::Bench(BenchCommand::Lai(args)) => crate::lai_cmds::bench_lai(*args),
        Command::Bench(BenchCommand::Denoiser(args)) => crate::bench_cmds::bench_denoiser(args),
        Command::Bench(BenchCommand::Nonuniform(args)) => {
            crate::nonuniform_cmds::bench_nonuniform(args)
        }
        Command::Bench(BenchCommand::Initializer(args)) => {
            crate::bench_cmds::bench_initializer(args)
        }
        Command::Bench(BenchCommand::KernelSpace(args)) => {
            crate::space_cmds::bench_kernel_space(args)
        }
        Command::Train(TrainCommand::KernelPrior(args)) => {
            crate::train_cmds::train_kernel_prior(args)
        }
        Command::Train(TrainCommand::Initializer(args)) => {
            crate::train_cmds::train_initializer(args)
        }
        Command::Train(TrainCommand::KernelSpace(args)) => {
            crate::train_cmds::train_kernel_space(args)
        }
        Command::Train(TrainCommand::Denoiser(args)) => crate::train_cmds::train_denoiser(args),
        Command::Kernel(KernelCommand::Show(args)) => kernel_show(args),
        Command::Kernel(KernelCommand::Synth(args)) => kernel_synth(args),
        Command::Kernel(KernelCommand::Stats(args)) => kernel_stats(args),
        Command::Kernel(KernelCommand::Sample(args)) => kernel_sample(args),
        Command::Kernel(KernelCommand::Fit(args)) => kernel_fit(args),
        Command::Kernel(KernelCommand::Field(args)) => kernel_field(args),
    }
}

fn blur(args: BlurArgs) -> Result<(), Box<dyn std::error::Error>> {
    check_outputs(
        &[&args.sharp, args.blur.path()],
        &[Output::Image(&args.output)],
    )?;
    let device = device_from_name(&args.device)?;
    let sharp = load_image(&args.sharp)?;
    if sharp.dropped_alpha {
        eprintln!("warning: {}: alpha channel dropped", args.sharp.display());
    }
    let blur = args.blur.load()?;
    let boundary = match args.padding {
        PaddingArg::Valid => Boundary::Valid,
        PaddingArg::Zero => Boundary::Same(Padding::Zero),
        PaddingArg::Reflect => Boundary::Same(Padding::Reflect),
        PaddingArg::Symmetric => Boundary::Same(Padding::Symmetric),
        PaddingArg::Replicate => Boundary::Same(Padding::Replicate),
        PaddingArg::Circular => Boundary::Same(Padding::Circular),
    };
    let method = match args.method {
        BlurMethodArg::Auto => BlurMethod::Auto,
        BlurMethodArg::Direct => BlurMethod::Direct,
        BlurMethodArg::Fft => BlurMethod::Fft,
    };
    let blurred = match &blur {
        Blur::Kernel(kernel) => blur_image(
            &sharp.pixels,
            kernel,
            UniformBlur::new(boundary).with_method(method),
            args.noise_std,
            args.seed,
            &device,
        ),
        Blur::Field(field) => field.with_method(method).blur_image(
            &sharp.pixels,
            boundary,
            args.noise_std,
            args.seed,
            &device,
        ),
    }
    .map_err(|e| format!("{}: {e}", args.sharp.display()))?;
    save_image(&args.output, &blurred, args.bit_depth.into())?;
    let (_, h, w) = blurred.dim();
    eprintln!("wrote {} ({w}x{h})", args.output.display());
    Ok(())
}

fn score(args: ScoreArgs) -> Result<(), Box<dyn std::error::Error>> {
    let estimate = load_image(&args.estimate)?;
    let reference = load_image(&args.reference)?;
    let mut options = ShiftOptions {
        max_shift: args.max_shift,
        crop: args.crop,
        ..ShiftOptions::default()
    };
    if args.no_shift {
        options = options.no_shift();
    }
    let result = score_images(&estimate.pixels, &reference.pixels, &options).map_err(|e| {
        format!(
            "{} vs {}: {e}",
            args.estimate.display(),
            args.reference.display()
        )
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "PSNR {:.2} dB  SSIM {:.4}  shift x {:+.2} px, y {:+.2} px",
            result.psnr, result.ssim, result.shift_x, result.shift_y
        );
    }
    Ok(())
}

fn kernel_show(args: KernelShowArgs) -> Result<(), Box<dyn std::error::Error>> {
    let inputs: Vec<&std::path::Path> = args.kernels.iter().map(PathBuf::as_path).collect();
    check_outputs(&inputs, &[Output::Image(&args.output)])?;
    let mut kernels = Vec::new();
    for path in &args.kernels {
        kernels.extend(load_kernel_stack(path)?);
    }
    let sheet = kernel_contact_sheet(&kernels, args.cell, args.columns);
    save_image(&args.output, &sheet, BitDepth::Eight)?;
    eprintln!(
        "wrote {} ({} kernels)",
        args.output.display(),
        kernels.len()
    );
    Ok(())
}

fn kernel_synth(args: KernelSynthArgs) -> Result<(), Box<dyn std::error::Error>> {
    let name = match args.generator {
        GeneratorArg::Shake => "shake",
        GeneratorArg::Gp => "gp",
        GeneratorArg::Linear => "linear",
        GeneratorArg::Gaussian => "gaussian",
        GeneratorArg::Disk => "disk",
    };
    if args.count == 0 {
        return Err("--count must be at least 1".into());
    }
    // the bank is held in memory and written as one array of f32
    let bytes = args.count as f64 * (args.size * args.size) as f64 * 4.0;
    if bytes > 2e9 {
        return Err(format!(
            "--count {} of {}x{} kernels would take {:.1} GB; at most 2 GB per bank: write \
             several banks",
            args.count,
            args.size,
            args.size,
            bytes / 1e9
        )
        .into());
    }
    let mut outputs = vec![Output::Npy(&args.output)];
    if let Some(preview) = &args.preview {
        outputs.push(Output::Image(preview));
    }
    check_outputs(&[], &outputs)?;
    let mut generator = KernelFamily::by_name(name, args.size)?;
    match (&mut generator, args.path_length) {
        (KernelFamily::Shake(config), Some(length)) => {
            config.max_length_px = Some(length);
            config.min_length_fraction = 1.0;
            config.validate()?;
        }
        (_, Some(_)) => return Err("--path-length applies to --generator shake only".into()),
        _ => {}
    }
    let bar = ProgressBar::new(args.count as u64).with_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {pos}/{len} kernels, {per_sec}, ETA {eta}",
        )?
        .progress_chars("=> "),
    );
    bar.set_message(format!("{name} {0}x{0}", args.size));
    let start = Instant::now();
    let bank = match args.extent {
        None => synthesize_bank(&generator, args.count, args.seed, &|n| {
            bar.set_position(n as u64)
        })?,
        Some(range) => synthesize_bank_within(
            &generator,
            args.count,
            args.seed,
            range,
            args.count
                .saturating_mul(1000)
                .min(1_000_000)
                .max(args.count),
            &|n| bar.set_position(n as u64),
        )?,
    };
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    bank.save(&args.output)?;
    if let Some(preview) = &args.preview {
        let shown = &bank.kernels[..bank.kernels.len().min(64)];
        save_image(
            preview,
            &kernel_contact_sheet(shown, 64, 8),
            BitDepth::Eight,
        )?;
    }
    eprintln!(
        "wrote {} ({} kernels of {}x{} in {seconds:.2} s, {:.0} kernels/s)",
        args.output.display(),
        args.count,
        args.size,
        args.size,
        args.count as f64 / seconds
    );
    Ok(())
}

fn kernel_field(args: KernelFieldArgs) -> Result<(), Box<dyn std::error::Error>> {
    // the field is held in memory and written as one array of f32: at most 2^24 taps (64 MB)
    let taps = args.grid[0] * args.grid[1] * args.size * args.size;
    if taps > 1 << 24 {
        return Err(format!(
            "--grid {}x{} of {}x{} kernels is {taps} taps; at most {}: use fewer regions or \
             smaller kernels",
            args.grid[0],
            args.grid[1],
            args.size,
            args.size,
            1 << 24
        )
        .into());
    }
    let sidecar = KernelField::sidecar_path(&args.output);
    let mut outputs = vec![Output::Npy(&args.output), Output::File(&sidecar)];
    if let Some(preview) = &args.preview {
        outputs.push(Output::Image(preview));
    }
    check_outputs(&[], &outputs)?;
    let shake = deblur_kernels::shake::ShakeConfig::new(args.size);
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let window = args.window.into();
    let mut extra = vec![
        ("seed", args.seed.to_string()),
        (
            "image_size",
            format!("[{}, {}]", args.image_size[0], args.image_size[1]),
        ),
    ];
    let field = match args.generator {
        FieldGeneratorArg::Camera => {
            let config = deblur_kernels::field::CameraMotionConfig::new(shake)
                .with_max_rotation_deg(args.max_rotation);
            let (field, rotation, length) = deblur_kernels::field::camera_motion_field(
                &config,
                args.grid,
                window,
                args.image_size,
                &mut rng,
            )?;
            extra.push(("generator", "\"camera\"".into()));
            extra.push(("rotation_deg", format!("{rotation:.4}")));
            extra.push(("path_length_px", format!("{length:.3}")));
            field
        }
        FieldGeneratorArg::PerRegion => {
            extra.push(("generator", "\"per-region\"".into()));
            deblur_kernels::field::per_region_field(&shake, args.grid, window, &mut rng)?
        }
    };
    if let Some(preview) = &args.preview {
        save_image(preview, &field_picture(&field), BitDepth::Eight)?;
    }
    field.save(&args.output, &extra)?;
    eprintln!(
        "wrote {} ({}x{} kernels of {}x{})",
        args.output.display(),
        args.grid[0],
        args.grid[1],
        args.size,
        args.size
    );
    Ok(())
}

/// A field's kernels drawn at their regions' places (one cell per region, row by row), each
/// scaled to its maximum.
pub(crate) fn field_picture(field: &KernelField) -> ndarray::Array3<f32> {
    // cells of 3 px per tap, 64–160 px, the picture at most about 4096 px on a side
    let [gh, gw] = field.grid();
    let cell = (field.kernel_size()[0] * 3)
        .clamp(64, 160)
        .min(4096 / gh.max(gw))
        .max(8);
    kernel_contact_sheet(field.kernels(), cell, field.grid()[1])
}

/// `RxC` (rows x columns), each 1–64.
pub(crate) fn grid_arg(text: &str) -> Result<[usize; 2], String> {
    let pair = two_numbers(text)?;
    if pair.iter().any(|&n| !(1..=64).contains(&n)) {
        return Err(format!("{text}: use 1 to 64 regions per axis"));
    }
    Ok(pair)
}

/// `HxW` in pixels, each 1–65536.
fn image_size_arg(text: &str) -> Result<[usize; 2], String> {
    let pair = two_numbers(text)?;
    if pair.iter().any(|&n| !(1..=65_536).contains(&n)) {
        return Err(format!("{text}: use 1 to 65536 pixels per side"));
    }
    Ok(pair)
}

fn two_numbers(text: &str) -> Result<[usize; 2], String> {
    let parts: Vec<&str> = text.split(['x', 'X']).collect();
    match parts.as_slice() {
        [a, b] => match (a.trim().parse(), b.trim().parse()) {
            (Ok(a), Ok(b)) => Ok([a, b]),
            _ => Err(format!("{text}: expected two whole numbers as AxB")),
        },
        _ => Err(format!("{text}: expected two whole numbers as AxB")),
    }
}

fn kernel_stats(args: KernelStatsArgs) -> Result<(), Box<dyn std::error::Error>> {
    let bank = KernelBank::load(&args.bank)?;
    let stats = bank_stats(&bank.kernels);
    if args.json {
        println!("{}", serde_json::to_string(&stats)?);
        return Ok(());
    }
    println!(
        "{}: {} kernels of {}x{}",
        args.bank.display(),
        stats.count,
        stats.size[0],
        stats.size[1]
    );
    if let Some(side) = &bank.sidecar {
        println!(
            "  generator {} seed {}{}",
            side.generator.name(),
            side.seed,
            side.mean_length_px
                .map(|l| format!(", mean path length {l:.1} px"))
                .unwrap_or_default()
        );
    }
    let row = |label: &str, s: &deblur_kernels::stats::Spread| {
        println!(
            "  {label:<22} min {:>7.2}  p10 {:>7.2}  mean {:>7.2}  p90 {:>7.2}  max {:>7.2}",
            s.min, s.p10, s.mean, s.p90, s.max
        )
    };
    row("support (px >= 1% max)", &stats.support_px);
    row("extent (px)", &stats.extent_px);
    row("sparsity", &stats.sparsity);
    row("principal length (px)", &stats.principal_length_px);
    Ok(())
}

fn kernel_sample(args: KernelSampleArgs) -> Result<(), Box<dyn std::error::Error>> {
    use deblur_core::burn::module::Module;
    let dir = weights_dir(args.shipped.weights.clone())?;
    if args.count == 0 {
        return Err("--count must be at least 1".into());
    }
    let mut outputs = vec![Output::Image(&args.output)];
    if let Some(npy) = &args.npy {
        outputs.push(Output::Npy(npy));
    }
    check_outputs(&[], &outputs)?;
    let device = deblur_core::default_device();
    let generator =
        deblur_models::weights::load_generator(&dir, &args.shipped.variant, &device)?.valid();
    let kernels = generator.forward(generator.sample_latent(args.count, args.seed, &device));
    let kernels: Vec<Kernel> = (0..args.count)
        .map(|i| Kernel::from_tensor(kernels.clone().narrow(0, i, 1)))
        .collect::<Result<_, _>>()?;
    save_image(
        &args.output,
        &kernel_contact_sheet(&kernels, 64, 8),
        BitDepth::Eight,
    )?;
    if let Some(path) = &args.npy {
        deblur_core::kernel::save_kernel_stack(path, &kernels)?;
    }
    eprintln!(
        "wrote {} ({} kernels from {} in {})",
        args.output.display(),
        args.count,
        args.shipped.variant,
        dir.display()
    );
    Ok(())
}

fn kernel_fit(args: KernelFitArgs) -> Result<(), Box<dyn std::error::Error>> {
    use deblur_core::burn::module::Module;
    let dir = weights_dir(args.shipped.weights.clone())?;
    let device = deblur_core::default_device();
    let generator =
        deblur_models::weights::load_generator(&dir, &args.shipped.variant, &device)?.valid();
    let bank = KernelBank::load(&args.bank)?.kernels;
    let n = args.count.min(bank.len());
    if n == 0 {
        return Err(format!("{}: empty bank", args.bank.display()).into());
    }
    let k = generator.kernel_size();
    let targets = deblur_core::kernel::kernels_to_tensor(&bank[..n], &device)?;
    if targets.dims()[2] != k {
        return Err(format!(
            "{}: {}x{} kernels, the generator makes {k}x{k}",
            args.bank.display(),
            targets.dims()[2],
            targets.dims()[3]
        )
        .into());
    }
    let start = Instant::now();
    let l1 = match args.space {
        FitSpace::Z => {
            let z0 = generator.sample_latent(n, 1, &device);
            let inversion = deblur_models::inversion::invert(
                &generator,
                targets.clone(),
                z0,
                args.steps,
                args.lr,
                &device,
            );
            inversion.l1.iter().sum::<f32>() / n as f32
        }
        FitSpace::W => {
            let models = deblur_optim::GlkmModels {
                generator: generator.clone(),
                initializer: None,
            };
            let w = models.fit_features(targets.clone(), args.steps, args.lr);
            (generator.kernel_from_features(w) - targets.clone())
                .abs()
                .mean()
                .into_scalar::<f32>()
        }
    };
    let delta = Kernel::delta([k, k])?.to_tensor(&device);
    let delta_l1 = (targets.clone() - delta).abs().mean().into_scalar::<f32>();
    let mean = targets.clone().mean_dim(0);
    let mean_l1 = (targets - mean).abs().mean().into_scalar::<f32>();
    println!(
        "{} kernels of {k}x{k}, {} Adam steps ({:.1} s)",
        n,
        args.steps,
        start.elapsed().as_secs_f64()
    );
    println!(
        "  mean L1 per entry: fit in {:?} {l1:.3e}  delta kernel {delta_l1:.3e}  mean kernel {mean_l1:.3e}",
        args.space
    );
    Ok(())
}

/// The weights folder given, or the default one; a clear error when there is none.
fn weights_dir(given: Option<PathBuf>) -> Result<PathBuf, Box<dyn std::error::Error>> {
    given.or_else(deblur_models::weights::find_weights_dir).ok_or_else(|| {
        "no weights folder found: set DEBLUR_WEIGHTS, pass --weights DIR, or run from the repository (weights/manifest.json)".into()
    })
}

/// An integer in `lo..=hi`, for clap.
fn in_range(text: &str, lo: usize, hi: usize) -> Result<usize, String> {
    let n: usize = text.parse().map_err(|e| format!("{text:?}: {e}"))?;
    if n < lo || n > hi {
        return Err(format!("{n} is outside {lo}–{hi}"));
    }
    Ok(n)
}

/// clap parser: a kernel side, 3–255 px.
pub(crate) fn kernel_side(text: &str) -> Result<usize, String> {
    in_range(text, 3, 255)
}

fn bank_count(text: &str) -> Result<usize, String> {
    in_range(text, 1, 1_000_000)
}

fn sample_count(text: &str) -> Result<usize, String> {
    in_range(text, 1, 4096)
}

fn cell_px(text: &str) -> Result<usize, String> {
    in_range(text, 8, 1024)
}

fn columns(text: &str) -> Result<usize, String> {
    in_range(text, 1, 64)
}
