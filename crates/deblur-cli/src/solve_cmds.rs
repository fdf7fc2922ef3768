//! `deblur blind`, `deblur deconv` and `deblur bench levin`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use deblur_core::convert::{array_to_tensor, tensor_to_array};
use deblur_core::outputs::{Output, check_outputs};
use deblur_core::{BitDepth, Kernel, device_from_name, load_image_limited, save_image};
use deblur_optim::levin::{
    LevinRow, SELFDEBLUR_KERNEL_SIZES, kernel_result, load_levin, run_levin,
};
use deblur_optim::pipeline::ColorPath;
use deblur_optim::solver::{Observer, Progress};
use deblur_optim::{BlindOptions, FinalPriorKind};
use deblur_optim::{
    BlindRequest, GlkmModels, HyperLaplacianConfig, ImagePrior, MethodKind, Preset, VdipVariant,
    deblur_blind, hyper_laplacian_deconv, wiener,
};

use crate::weights_args::{ShippedWeights, load_models};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Axis;

type CmdResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MethodArg {
    /// DIP-GLKM: DIP image prior + the shipped learned kernel generator, started by its initializer.
    Glkm,
    /// SelfDeblur: DIP image prior + kernel MLP (Ren et al. 2020); any kernel size.
    Selfdeblur,
    /// Coarse-to-fine L0-gradient MAP kernel estimation (Xu et al. 2013, Pan et al. 2014); no
    /// network; any kernel size; --iters sets the alternations per pyramid level.
    L0,
    /// VDIP-Std: variational DIP image prior (Huo et al. 2023), data term only, + kernel MLP.
    VdipStd,
    /// VDIP-Extreme: variational DIP with the dark/bright-channel prior + kernel MLP.
    VdipExtreme,
    /// VDIP-Sparse: variational DIP with the sparse gradient prior + kernel MLP.
    VdipSparse,
    /// The encoded blur-kernel space (Tran et al. 2021): a DIP image through the trained blur
    /// operator F, with a kernel code instead of a kernel (shipped weights: --space-variant).
    KernelSpace,
}

/// The image model of the DIP methods (`--image-prior`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImagePriorArg {
    /// The deep image prior.
    Dip,
    /// Variational DIP, data term only.
    VdipStd,
    /// Variational DIP with the dark/bright-channel prior.
    VdipExtreme,
    /// Variational DIP with the sparse gradient prior.
    VdipSparse,
}

impl From<ImagePriorArg> for ImagePrior {
    fn from(p: ImagePriorArg) -> Self {
        match p {
            ImagePriorArg::Dip => ImagePrior::Dip,
            ImagePriorArg::VdipStd => ImagePrior::Vdip(VdipVariant::Std),
            ImagePriorArg::VdipExtreme => ImagePrior::Vdip(VdipVariant::Extreme),
            ImagePriorArg::VdipSparse => ImagePrior::Vdip(VdipVariant::Sparse),
        }
    }
}

impl MethodArg {
    /// The library's kernel model and image model for this method with `--image-prior`.
    ///
    /// # Errors
    /// A VDIP method given another image prior.
    pub(crate) fn resolve(self, prior: ImagePriorArg) -> Result<(MethodKind, ImagePrior), String> {
        let vdip = |p: ImagePriorArg| {
            if prior == ImagePriorArg::Dip || prior == p {
                Ok((MethodKind::SelfDeblur, ImagePrior::from(p)))
            } else {
                Err(format!(
                    "--method {} already sets the image prior; for another one use \
                     --method selfdeblur --image-prior {}",
                    ImagePrior::from(p).name(),
                    ImagePrior::from(prior).name()
                ))
            }
        };
        match self {
            MethodArg::Glkm => Ok((MethodKind::Glkm, prior.into())),
            MethodArg::Selfdeblur => Ok((MethodKind::SelfDeblur, prior.into())),
            MethodArg::L0 => Ok((MethodKind::L0, prior.into())),
            MethodArg::KernelSpace => Ok((MethodKind::KernelSpace, prior.into())),
            MethodArg::VdipStd => vdip(ImagePriorArg::VdipStd),
            MethodArg::VdipExtreme => vdip(ImagePriorArg::VdipExtreme),
            MethodArg::VdipSparse => vdip(ImagePriorArg::VdipSparse),
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PresetArg {
    /// About a minute on a CPU: kernel from the most textured 192² window with a 16-channel DIP
    /// (425 iterations), then hyper-Laplacian deconvolution of the whole image.
    Fast,
    /// A 32-channel DIP on the whole image and 500 iterations: minutes on a CPU.
    Quick,
    /// The published settings: 128-channel DIP, 5000 iterations (hours on a CPU; for GPUs).
    Paper,
}

impl From<PresetArg> for Preset {
    fn from(p: PresetArg) -> Self {
        match p {
            PresetArg::Fast => Preset::Fast,
            PresetArg::Quick => Preset::Quick,
            PresetArg::Paper => Preset::Paper,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ColorArg {
    /// Deblur the luma, keep the chroma.
    Y,
    /// Deblur R, G, B with one shared kernel.
    Rgb,
}

#[derive(Args, Debug)]
pub struct BlindArgs {
    /// Blurred input image.
    input: PathBuf,
    /// Output image.
    #[arg(long, short)]
    output: PathBuf,
    #[command(flatten)]
    blind: BlindOptionArgs,
    /// Also write the estimated kernel (PNG scaled to its maximum, or .npy/.csv).
    #[arg(long)]
    kernel_out: Option<PathBuf>,
    /// Also write the input and the result side by side as one picture.
    #[arg(long)]
    before_after: Option<PathBuf>,
    /// Also write the loss curve (log scale) as a PNG.
    #[arg(long)]
    loss_plot: Option<PathBuf>,
    /// Write the current image and kernel every N iterations into DIR.
    #[arg(long, num_args = 2, value_names = ["N", "DIR"])]
    save_every: Option<Vec<String>>,
    /// Blur that varies across the image (camera rotation): after the uniform estimate, a
    /// kernel per region of --grid, started from it and optimised jointly with the image
    /// (GLKM's Algorithm 4, SVOLA blur); --kernel-out then writes the field (.npy, with its
    /// sidecar) or its picture (each kernel at its region's place).
    #[arg(long)]
    nonuniform: bool,
    /// Regions of the non-uniform estimate, rows x columns.
    #[arg(long, default_value = "3x3", value_parser = crate::commands::grid_arg, requires = "nonuniform")]
    grid: [usize; 2],
    /// Kernel model of the field: one camera motion (its turn fitted, then the regions freed as
    /// MLPs in the last round), SelfDeblur's MLP per region, or GLKM's generator per region.
    #[arg(long, value_enum, default_value = "camera", requires = "nonuniform")]
    field_kernels: FieldKernelsArg,
    /// Joint steps of the non-uniform stage.
    #[arg(long, default_value_t = 300, value_parser = crate::train_cmds::at_least_one, requires = "nonuniform")]
    field_iters: usize,
    /// The non-uniform read-out: blend each region's deconvolution by the windows, or
    /// deconvolve through the SVOLA operator (slower; the same on estimated fields so far).
    #[arg(long, value_enum, default_value = "blend", requires = "nonuniform")]
    field_readout: FieldSolverArg,
    /// Image model of the non-uniform stage: the uniform estimate's result held fixed while the
    /// kernels fit, then re-deconvolved with the field (--field-rounds times), or a DIP from
    /// scratch optimised jointly with the kernels.
    #[arg(long, value_enum, default_value = "fixed", requires = "nonuniform")]
    field_image: FieldImageArg,
    /// Rounds of kernel fit and deconvolution for --field-image fixed (default: 3 for the camera
    /// field, else 1).
    #[arg(long, value_parser = crate::train_cmds::at_least_one, requires = "nonuniform")]
    field_rounds: Option<usize>,
    /// Learning rate of the region kernels (default: 5e-3 for the MLP, 2e-3 for GLKM).
    #[arg(long, value_parser = crate::train_cmds::positive_finite, requires = "nonuniform")]
    field_kernel_lr: Option<f64>,
    #[command(flatten)]
    camera: CameraArgs,
}

/// The camera-motion field's settings (`--field-kernels camera`).
#[derive(Args, Clone, Debug)]
pub(crate) struct CameraArgs {
    /// Camera field: control points per side of the grid of turning angles over the kernel
    /// (1: one angle for the whole exposure).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=64))]
    camera_angle_grid: u64,
    /// Camera field: learning rate of the angles, in pixels of displacement at the farthest
    /// region centre per step.
    #[arg(
        long,
        default_value_t = 0.05,
        value_parser = angle_rate,
        allow_hyphen_values = true
    )]
    camera_angle_lr: f64,
    /// Camera field: learning rate of the shared translation kernel's log-weights (0: it stays
    /// the uniform estimate).
    #[arg(
        long,
        default_value_t = 0.0,
        value_parser = base_rate,
        allow_hyphen_values = true
    )]
    camera_base_lr: f64,
    /// Camera field: every round fits the camera motion, the last one too (by default the last
    /// of several rounds frees the regions: SelfDeblur's MLP per region, started from it).
    #[arg(long)]
    camera_throughout: bool,
}

/// `v` if it is at most `max`, else a message saying so.
fn at_most(v: f64, max: f64) -> Result<f64, String> {
    if v > max {
        return Err(format!("{v} is too fast: use at most {max}"));
    }
    Ok(v)
}

/// clap parser of `--camera-angle-lr`: above 0, at most the library's bound.
fn angle_rate(text: &str) -> Result<f64, String> {
    at_most(
        crate::train_cmds::positive_finite(text)?,
        deblur_optim::camera_field::MAX_ANGLE_LR,
    )
}

/// clap parser of `--camera-base-lr`: from 0 to the library's bound.
fn base_rate(text: &str) -> Result<f64, String> {
    at_most(
        crate::train_cmds::non_negative_finite(text)?,
        deblur_optim::camera_field::MAX_BASE_LR,
    )
}

impl CameraArgs {
    /// The library's settings.
    pub(crate) fn config(&self) -> deblur_optim::CameraFieldConfig {
        deblur_optim::CameraFieldConfig {
            angle_grid: self.camera_angle_grid as usize,
            angle_lr: self.camera_angle_lr,
            base_lr: self.camera_base_lr,
            mlp_last: !self.camera_throughout,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum FieldImageArg {
    /// The uniform estimate's result, fixed during each round's kernel fit.
    Fixed,
    /// The fast preset's DIP from scratch.
    Dip,
}

impl FieldImageArg {
    /// The library's image model: `rounds` for the fixed image, else `default`'s.
    pub(crate) fn with_rounds(
        self,
        rounds: Option<usize>,
        default: deblur_optim::nonuniform::FieldImage,
    ) -> deblur_optim::nonuniform::FieldImage {
        use deblur_optim::nonuniform::FieldImage;
        match (self, rounds) {
            (FieldImageArg::Dip, _) => FieldImage::Dip,
            (FieldImageArg::Fixed, Some(rounds)) => FieldImage::Fixed { rounds },
            (FieldImageArg::Fixed, None) => default,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum FieldKernelsArg {
    /// SelfDeblur's kernel MLP per region.
    Mlp,
    /// GLKM's learned generator per region (shipped weights).
    Glkm,
    /// One camera motion (the uniform estimate's kernel as translations, turned by a few
    /// angles): few unknowns for the whole field.
    Camera,
}

impl From<FieldKernelsArg> for deblur_optim::FieldKernels {
    fn from(k: FieldKernelsArg) -> Self {
        match k {
            FieldKernelsArg::Mlp => deblur_optim::FieldKernels::Mlp,
            FieldKernelsArg::Glkm => deblur_optim::FieldKernels::Glkm,
            FieldKernelsArg::Camera => deblur_optim::FieldKernels::Camera,
        }
    }
}

/// `--final-prior`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum FinalPriorArg {
    /// The preset's: plug-and-play after the coarse-to-fine estimator (large or noisy blur),
    /// hyper-Laplacian otherwise.
    Auto,
    /// Hyper-Laplacian gradients (Krishnan & Fergus 2009), weight by the noise level.
    Hl,
    /// Plug-and-play with a learned denoiser (DPIR's schedule, 8 iterations).
    Pnp,
}

/// The options of blind deblurring shared by `deblur blind` and `deblur batch`.
#[derive(Args, Debug)]
pub(crate) struct BlindOptionArgs {
    /// Blind method. The default is SelfDeblur: with the fast preset it scores higher on the Levin
    /// set than GLKM with the shipped CPU-trained generator (docs/benchmarks.md).
    #[arg(long, value_enum, default_value = "selfdeblur")]
    method: MethodArg,
    /// Image model of the DIP methods (selfdeblur, glkm): the deep image prior or one of the
    /// variational DIP's priors (Huo et al. 2023). VDIP runs as asked: the fast preset's switch
    /// to the L0 estimator for large or noisy blur does not apply.
    #[arg(long, value_enum, default_value = "dip")]
    image_prior: ImagePriorArg,
    /// Settings preset.
    #[arg(long, value_enum, default_value = "fast")]
    preset: PresetArg,
    /// Kernel size to estimate, an upper bound of the blur's extent (selfdeblur: default 31;
    /// glkm: always the generator's size, 31 for the shipped weights), or `auto`: the
    /// coarse-to-fine estimator measures the blur's extent up to 75 px (fast preset, selfdeblur
    /// or l0).
    #[arg(long, value_parser = kernel_size_arg)]
    kernel_size: Option<KernelSizeArg>,
    /// Iterations (default: 425 fast, 500 quick, 5000 paper); the schedule scales with it. With
    /// --method l0, the alternations per pyramid level. When the fast preset switches to the
    /// coarse-to-fine L0 estimator by itself (kernel size above 27 px or a noisy input), that
    /// estimator keeps its own 20 alternations per level.
    #[arg(long)]
    iters: Option<usize>,
    /// Side of the automatic kernel-estimation window (default: 192 fast, 256 otherwise).
    #[arg(long)]
    window_side: Option<usize>,
    #[command(flatten)]
    shipped: ShippedWeights,
    /// Kernel-space variant in the weights manifest (--method kernel-space).
    #[arg(long, default_value = "compact-v1")]
    space_variant: String,
    /// A trained kernel space (kernel_space.bpk from `deblur train kernel-space`, with its .json
    /// beside it) instead of the shipped variant (--method kernel-space).
    #[arg(long)]
    space_model: Option<PathBuf>,
    /// Compute device: cpu, wgpu or cuda (if compiled in).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Seed of the networks and their inputs (DIP methods; the coarse-to-fine L0 path taken for
    /// large kernels or noisy input draws nothing at random).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Colour handling for RGB input.
    #[arg(long, value_enum, default_value = "y")]
    color: ColorArg,
    /// Estimate the kernel on this window X,Y,W,H (default: the most textured window, see --window-side).
    #[arg(long, value_parser = parse_window)]
    crop: Option<[usize; 4]>,
    /// The input's noise level when known: the standard deviation in the [0, 1] scale (0.01 for
    /// 1 % noise), e.g. from the camera's calibration. Default: estimated from the image (printed
    /// as σ). It decides the switch to the coarse-to-fine estimator and the final step's weight.
    #[arg(long)]
    noise_std: Option<f64>,
    /// Image prior of the final non-blind step: the preset's (auto), hyper-Laplacian gradients,
    /// or plug-and-play with the learned denoiser (the shipped one or --denoiser).
    #[arg(long, value_enum, default_value = "auto")]
    final_prior: FinalPriorArg,
    /// A trained denoiser (denoiser.bpk from `deblur train denoiser`, with its .json beside it)
    /// for the plug-and-play step instead of the shipped one.
    #[arg(long)]
    denoiser: Option<PathBuf>,
    /// Re-blur residual, in noise levels, above which a DIP-method estimate counts as failed
    /// and runs once more with the next seed, keeping the result with the lower residual
    /// (default: 4 with the fast preset, never otherwise; 0: never).
    #[arg(long, value_parser = crate::train_cmds::non_negative_finite)]
    restart_residual: Option<f64>,
    /// Full-resolution refinement rounds of a DIP method's kernel estimate before the final
    /// non-blind step: hyper-Laplacian latent, then the salient-edge k-step (default: 5 with the
    /// fast SelfDeblur preset, none otherwise; 0: none).
    #[arg(long)]
    dip_refine_rounds: Option<usize>,
    /// Refuse images above this many million pixels before reading them (deblurring needs
    /// about 100 bytes per pixel: 50 megapixels ≈ 5 GB).
    #[arg(long, default_value_t = 50.0, value_parser = crate::train_cmds::positive_finite)]
    pub(crate) max_megapixels: f64,
}

impl BlindOptionArgs {
    /// The library's options, the models they need (loaded once) and the checked request.
    pub(crate) fn prepare(
        &self,
    ) -> Result<(BlindOptions, Option<GlkmModels>, BlindRequest), Box<dyn std::error::Error>> {
        let device = device_from_name(&self.device)?;
        let options = BlindOptions {
            seed: self.seed,
            color: match self.color {
                ColorArg::Y => ColorPath::Luma,
                ColorArg::Rgb => ColorPath::Rgb,
            },
            window: self.crop,
            noise_std: self.noise_std,
            space_variant: self.space_variant.clone(),
            final_prior: match self.final_prior {
                FinalPriorArg::Auto => None,
                FinalPriorArg::Pnp => Some(FinalPriorKind::PlugAndPlay),
                FinalPriorArg::Hl => Some(FinalPriorKind::HyperLaplacian),
            },
            denoiser_model: self.denoiser.clone(),
            restart_residual: self.restart_residual,
            kernel_refine_rounds: self.dip_refine_rounds,
            auto_kernel_size: self.kernel_size == Some(KernelSizeArg::Auto),
            space_model: self.space_model.clone(),
            ..options(
                self.method,
                self.image_prior,
                self.preset,
                match self.kernel_size {
                    Some(KernelSizeArg::Side(k)) => Some(k),
                    _ => None,
                },
                self.iters,
                self.window_side,
                &self.shipped,
                &device,
            )?
        };
        let models = load_models(&options)?;
        let request = options.request(models.as_ref()).map_err(cli_option_names)?;
        Ok((options, models, request))
    }
}

/// `--kernel-size`: a side, or `auto` (measured).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KernelSizeArg {
    Auto,
    Side(usize),
}

fn kernel_size_arg(text: &str) -> Result<KernelSizeArg, String> {
    if text.trim().eq_ignore_ascii_case("auto") {
        Ok(KernelSizeArg::Auto)
    } else {
        crate::commands::kernel_side(text)
            .map(KernelSizeArg::Side)
            .map_err(|e| format!("{e}; give a side of 3 to 255 px, or `auto`"))
    }
}

fn parse_window(text: &str) -> Result<[usize; 4], String> {
    let parts: Vec<usize> = text
        .split(',')
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{text:?}: expected X,Y,W,H"))?;
    <[usize; 4]>::try_from(parts).map_err(|_| format!("{text:?}: expected four numbers X,Y,W,H"))
}

/// Progress bar, snapshots every N steps, and kernels kept at given steps.
struct CliObserver {
    bar: ProgressBar,
    every: Option<(usize, PathBuf)>,
    failed: Option<String>,
    kernel_steps: Vec<usize>,
    kernels: Vec<(usize, deblur_core::burn::tensor::Tensor<4>)>,
}

impl CliObserver {
    fn new(total: usize, every: Option<(usize, PathBuf)>) -> Self {
        let bar = ProgressBar::new(total as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{bar:30}] {pos}/{len} it  loss {msg}  {per_sec}  ETA {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        CliObserver {
            bar,
            every,
            failed: None,
            kernel_steps: Vec::new(),
            kernels: Vec::new(),
        }
    }
}

impl Observer for CliObserver {
    fn on_step(&mut self, p: &Progress) {
        self.bar.set_position(p.step as u64);
        self.bar.set_message(format!("{:.3e}", p.loss));
    }

    fn on_restart(&mut self, first_residual: f64, seed: u64) {
        let how = if first_residual.is_finite() {
            format!("explains the input to {first_residual:.1} noise levels only")
        } else {
            "left a re-blur residual that is not a number".to_string()
        };
        self.bar.println(format!(
            "the first start {how}: starting again with seed {seed}"
        ));
        self.bar.reset();
    }

    fn wants_snapshot(&self, step: usize) -> bool {
        self.kernel_steps.contains(&step)
            || self
                .every
                .as_ref()
                .is_some_and(|(n, _)| step.is_multiple_of(*n))
    }

    fn on_snapshot(
        &mut self,
        step: usize,
        image: deblur_core::burn::tensor::Tensor<4>,
        kernel: deblur_core::burn::tensor::Tensor<4>,
    ) {
        if self.kernel_steps.contains(&step) {
            self.kernels.push((step, kernel.clone()));
        }
        let Some((n, dir)) = &self.every else { return };
        if !step.is_multiple_of(*n) {
            return;
        }
        let result = (|| -> Result<(), Box<dyn std::error::Error>> {
            let img = tensor_to_array(image, 0)?.mapv(|v| v.clamp(0.0, 1.0));
            save_image(
                dir.join(format!("image_{step:05}.png")),
                &img,
                BitDepth::Eight,
            )?;
            // a kernel-space code (many channels) is not a picture: the image is enough
            if kernel.dims()[1] == 1 {
                Kernel::from_tensor(kernel)?
                    .save_image(dir.join(format!("kernel_{step:05}.png")), BitDepth::Eight)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            self.failed.get_or_insert(e.to_string());
        }
    }
}

/// Runs a blind request on a grey image with a progress bar; writes the kernel estimate into
/// `kernels_out` as NAME_kernel.npy/.png when asked; returns the result and the snapshot kernels.
pub(crate) fn blind_gray(
    gray: &ndarray::Array2<f32>,
    request: &BlindRequest,
    resources: deblur_optim::Resources<'_>,
    device: &deblur_core::burn::tensor::Device,
    snapshots: &[usize],
    kernels_out: Option<(&std::path::Path, &str)>,
) -> deblur_optim::Result<(
    deblur_optim::pipeline::BlindResult,
    Vec<(usize, deblur_core::burn::tensor::Tensor<4>)>,
)> {
    let mut observer = CliObserver::new(request.method.steps(), None);
    observer.kernel_steps = snapshots.to_vec();
    let out = deblur_blind(
        &gray.clone().insert_axis(Axis(0)),
        request,
        resources,
        device,
        &mut observer,
    )?;
    observer.bar.finish_and_clear();
    if let Some((dir, name)) = kernels_out {
        let stem = dir.join(format!("{name}_kernel"));
        out.kernel.save_npy(stem.with_extension("npy"))?;
        out.kernel
            .save_image(stem.with_extension("png"), BitDepth::Sixteen)?;
    }
    Ok((out, observer.kernels))
}

/// The library's options for a method and preset (the CLI adds nothing to them).
///
/// # Errors
/// A VDIP method given another image prior.
#[allow(clippy::too_many_arguments)]
pub(crate) fn options(
    method: MethodArg,
    image_prior: ImagePriorArg,
    preset: PresetArg,
    kernel_size: Option<usize>,
    iters: Option<usize>,
    window_side: Option<usize>,
    shipped: &ShippedWeights,
    device: &deblur_core::burn::tensor::Device,
) -> Result<BlindOptions, String> {
    let (method, image_prior) = method.resolve(image_prior)?;
    Ok(BlindOptions {
        method,
        image_prior,
        preset: preset.into(),
        kernel_size,
        iterations: iters,
        window_side,
        weights: shipped.weights.clone(),
        variant: shipped.variant.clone(),
        device: device.clone(),
        ..BlindOptions::default()
    })
}

/// The library's errors name settings as the library spells them; the CLI's as flags.
fn cli_option_names(error: deblur_optim::Error) -> String {
    let flag = |setting: &str| match setting {
        "kernel size" => "--kernel-size",
        "iterations" => "--iters",
        "window side" => "--window-side",
        "window" => "--window",
        "image prior" => "--image-prior",
        "noise std" => "--noise-std",
        "restart" => "--restart-residual",
        _ => "",
    };
    match error {
        deblur_optim::Error::InvalidSetting { setting, rule } if !flag(setting).is_empty() => {
            format!("{} {rule}", flag(setting))
                .replace("use the SelfDeblur method", "use --method selfdeblur")
        }
        other => other
            .to_string()
            .replace("use the SelfDeblur method", "use --method selfdeblur"),
    }
}

pub fn blind(args: BlindArgs) -> CmdResult {
    let mut outputs = vec![Output::Image(&args.output)];
    outputs.extend(args.kernel_out.as_deref().map(Output::Kernel));
    // a non-uniform estimate written as .npy also writes its sidecar: check that path too
    let sidecar = args
        .kernel_out
        .as_deref()
        .filter(|p| args.nonuniform && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")))
        .map(deblur_core::KernelField::sidecar_path);
    outputs.extend(sidecar.as_deref().map(Output::File));
    outputs.extend(args.before_after.as_deref().map(Output::Image));
    outputs.extend(args.loss_plot.as_deref().map(Output::Image));
    check_outputs(&[&args.input], &outputs)?;
    let (options, models, request) = args.blind.prepare()?;
    let device = options.device.clone();
    let input = load_image_limited(&args.input, args.blind.max_megapixels)?;
    if input.dropped_alpha {
        eprintln!("warning: {}: alpha channel dropped", args.input.display());
    }
    let every = match &args.save_every {
        Some(v) => {
            let n: usize = v[0]
                .parse()
                .map_err(|_| format!("--save-every: {:?} is not a number", v[0]))?;
            if n == 0 {
                return Err("--save-every N needs N ≥ 1".into());
            }
            let dir = PathBuf::from(&v[1]);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            Some((n, dir))
        }
        None => None,
    };
    if args.nonuniform {
        if options.method == MethodKind::KernelSpace {
            return Err(
                "--nonuniform works with --method selfdeblur or glkm; the kernel-space \
                        method has one code per 128 px cell already"
                    .into(),
            );
        }
        return blind_nonuniform(&args, &options, models.as_ref(), &request, &input);
    }
    let space = options.load_kernel_space()?;
    let denoiser = options.load_denoiser(&request)?;
    if denoiser.is_none() && request.robust_plug_and_play() {
        eprintln!(
            "warning: no weights folder found (set DEBLUR_WEIGHTS or pass --weights DIR): a \
             final step after the coarse-to-fine estimate is hyper-Laplacian, not plug-and-play"
        );
    }
    let mut observer = CliObserver::new(request.method.steps(), every);
    let result = deblur_blind(
        &input.pixels,
        &request,
        deblur_optim::Resources::glkm(models.as_ref())
            .with_kernel_space(space.as_ref())
            .with_denoiser(denoiser.as_ref()),
        &device,
        &mut observer,
    )
    .map_err(|e| format!("{}: {e}", args.input.display()))?;
    observer.bar.finish_and_clear();
    if let Some(e) = observer.failed {
        eprintln!("warning: a snapshot could not be written: {e}");
    }
    save_image(&args.output, &result.image, input.bit_depth)?;
    if let Some(path) = &args.kernel_out {
        save_kernel(&result.kernel, path)?;
    }
    write_pictures(
        &args,
        &input.pixels,
        &result.image,
        &result.losses,
        result.ssim_from,
    )?;
    let window = result
        .window
        .map(|[x, y, w, h]| format!(", kernel from window {x},{y},{w},{h}"))
        .unwrap_or_default();
    let path = match (result.robust_path, result.kernel_refined) {
        (true, _) => ", coarse-to-fine L0 estimate (large kernel or noisy input)".to_string(),
        (false, Some(rounds)) => format!(", kernel refined at full resolution ({rounds} rounds)"),
        (false, None) => String::new(),
    };
    let path = match result.final_prior {
        Some(deblur_optim::FinalPriorUsed::PlugAndPlay) => {
            // which pass the confidence rule kept, and how well it explains the input
            let detail = match (result.final_lambda, result.residual) {
                (Some(lambda), Some(r)) => format!(" (λ {lambda}, re-blur residual {r:.2}σ)"),
                _ => String::new(),
            };
            format!("{path}, plug-and-play final step{detail}")
        }
        Some(deblur_optim::FinalPriorUsed::HyperLaplacian) => match result.residual {
            Some(r) => format!("{path}, hyper-Laplacian final step (re-blur residual {r:.2}σ)"),
            None => path.to_string(),
        },
        _ => path.to_string(),
    };
    let path = if args.blind.kernel_size == Some(KernelSizeArg::Auto) {
        format!(
            "{path}, kernel size measured: {} px",
            result.kernel.size()[0]
        )
    } else {
        path
    };
    let window = format!(
        "{window}{path}, {}",
        noise_phrase(args.blind.noise_std.is_some(), result.noise_std)
    );
    if result.fell_back {
        eprintln!(
            "warning: the kernel estimate failed the self-check (agreement with the halves' \
             estimates {}, canvas coverage {:.2}{}), so the output is the input unchanged; little \
             texture, a blur that varies across the image or a --kernel-size far above the \
             blur's extent can cause this",
            result
                .agreement
                .map_or("not measured".to_string(), |a| format!("{a:.2}")),
            result.coverage.unwrap_or(0.0),
            result
                .residual
                .map(|r| format!(", the deblurred image's re-blur residual {r:.2} noise levels"))
                .unwrap_or_default()
        );
    }
    if let Some(restart) = result.restart {
        eprintln!(
            "note: the first start's estimate failed (re-blur residual {:.1} noise levels), so it \
             ran again with seed {}: {}",
            restart.first_residual,
            restart.seed,
            if restart.kept_second {
                "its result is the one written"
            } else {
                "it did no better, so the first result is the one written"
            }
        );
    }
    let work = match result.losses.last() {
        Some(loss) => format!(
            "{} iterations in {:.1} s, final loss {loss:.3e}",
            result.losses.len(),
            result.seconds
        ),
        None => format!("kernel estimated in {:.1} s", result.seconds),
    };
    eprintln!("wrote {} ({work}{window})", args.output.display());
    Ok(())
}

/// `--before-after` and `--loss-plot` of `deblur blind`, when asked.
fn write_pictures(
    args: &BlindArgs,
    input: &ndarray::Array3<f32>,
    restored: &ndarray::Array3<f32>,
    losses: &[f32],
    ssim_from: Option<usize>,
) -> CmdResult {
    if let Some(path) = &args.before_after {
        save_image(
            path,
            &deblur_core::visual::side_by_side(&[input, restored]),
            BitDepth::Eight,
        )?;
    }
    if let Some(path) = &args.loss_plot {
        save_image(
            path,
            &loss_chart(losses, ssim_from).render(),
            BitDepth::Eight,
        )?;
    }
    Ok(())
}

/// `deblur blind --nonuniform`: the uniform estimate, then the field's joint stage, each with
/// its progress bar; the outputs as for the uniform path, the kernel output as a field.
fn blind_nonuniform(
    args: &BlindArgs,
    options: &BlindOptions,
    models: Option<&GlkmModels>,
    request: &BlindRequest,
    input: &deblur_core::LoadedImage,
) -> CmdResult {
    let mut config = deblur_optim::NonUniformConfig::new(args.grid, args.field_kernels.into());
    config.iterations = args.field_iters;
    config.seed = options.seed;
    config.readout = args.field_readout.into();
    config.camera = args.camera.config();
    if let Some(lr) = args.field_kernel_lr {
        config.kernel_lr = lr;
    }
    config.image = args
        .field_image
        .with_rounds(args.field_rounds, config.image);
    // GLKM region kernels need the shipped generator even when the global method does not.
    let glkm = match (config.kernels, models) {
        (deblur_optim::FieldKernels::Glkm, None) => load_models(&BlindOptions {
            method: deblur_optim::MethodKind::Glkm,
            ..options.clone()
        })?,
        _ => None,
    };
    let models = models.or(glkm.as_ref());
    let rounds = match config.image {
        deblur_optim::nonuniform::FieldImage::Fixed { rounds } => rounds,
        deblur_optim::nonuniform::FieldImage::Dip => 1,
    };
    // the global estimate and the read-out use the denoiser as `deblur blind` does
    let denoiser = options.load_denoiser(request)?;
    let mut observer = CliObserver::new(request.method.steps() + config.iterations * rounds, None);
    let result = deblur_optim::deblur_nonuniform(
        &input.pixels,
        request,
        &config,
        deblur_optim::Resources::glkm(models).with_denoiser(denoiser.as_ref()),
        &options.device,
        &mut observer,
    )
    .map_err(|e| format!("{}: {e}", args.input.display()))?;
    observer.bar.finish_and_clear();
    save_image(&args.output, &result.image, input.bit_depth)?;
    if let Some(path) = &args.kernel_out {
        let npy = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
        if npy {
            result.field.save(
                path,
                &[("generator", format!("\"blind {}\"", config.kernels.name()))],
            )?;
        } else {
            save_image(
                path,
                &crate::commands::field_picture(&result.field),
                BitDepth::Eight,
            )?;
        }
    }
    write_pictures(args, &input.pixels, &result.image, &result.losses, None)?;
    if result.global.fell_back {
        eprintln!(
            "warning: the global kernel estimate failed the self-check, so the output is the \
             input unchanged"
        );
    }
    eprintln!(
        "wrote {} (global kernel in {:.1} s, {}x{} field of {} kernels in {:.1} s, {})",
        args.output.display(),
        result.global.seconds,
        args.grid[0],
        args.grid[1],
        config.kernels.name(),
        result.seconds,
        noise_phrase(args.blind.noise_std.is_some(), result.global.noise_std)
    );
    Ok(())
}

fn save_kernel(kernel: &Kernel, path: &std::path::Path) -> CmdResult {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("npy") => kernel.save_npy(path)?,
        Some("csv") => deblur_core::kernel::save_kernel_csv(path, kernel)?,
        _ => kernel.save_image(path, BitDepth::Sixteen)?,
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DeconvArg {
    /// Hyper-Laplacian prior (Krishnan & Fergus 2009), half-quadratic splitting.
    Hl,
    /// Wiener filter.
    Wiener,
    /// Plug-and-play with the learned denoiser (the shipped one or --denoiser; DPIR's schedule).
    Pnp,
}

#[derive(Args, Debug)]
pub struct DeconvArgs {
    /// Blurred input image.
    input: PathBuf,
    #[command(flatten)]
    blur: crate::commands::KernelChoice,
    /// With --kernel-field: deconvolve through the SVOLA operator itself (reweighted least
    /// squares by conjugate gradients, started from the blend), or only blend each region's
    /// deconvolution by the windows.
    #[arg(long, value_enum, default_value = "exact")]
    field_solver: FieldSolverArg,
    /// Output image.
    #[arg(long, short)]
    output: PathBuf,
    /// Method.
    #[arg(long, value_enum, default_value = "hl")]
    method: DeconvArg,
    /// Data weight λ for hl (default 3000); noise-to-signal ratio for wiener (default 1e-3).
    #[arg(long, value_parser = crate::train_cmds::positive_finite, allow_hyphen_values = true)]
    weight: Option<f64>,
    /// Pixels beyond the image border (hl): unknown (re-estimated, no border ringing) or mirror
    /// (fixed mirror padding, about 6× faster).
    #[arg(long, value_enum, default_value = "unknown")]
    boundary: BoundaryArg,
    /// pnp: the observation's noise level (standard deviation, 0.01 for 1 % noise) [default:
    /// estimated from the image].
    #[arg(long, value_parser = noise_std_arg, allow_hyphen_values = true)]
    noise_std: Option<f64>,
    /// pnp: a trained denoiser (denoiser.bpk from `deblur train denoiser`, its .json beside it)
    /// instead of the shipped one.
    #[arg(long)]
    denoiser: Option<PathBuf>,
    /// Compute device.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Refuse images above this many million pixels before reading them (about 100 bytes per
    /// pixel).
    #[arg(long, default_value_t = 50.0, value_parser = crate::train_cmds::positive_finite)]
    max_megapixels: f64,
    /// hl: deconvolve images with a side above N in overlapping N² tiles, in bounded memory
    /// (0: always whole).
    #[arg(long, default_value_t = 1024)]
    tile: usize,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FieldSolverArg {
    /// Through the SVOLA operator (`deconv_field_exact`).
    Exact,
    /// Each region's deconvolution blended by the windows (`deconv_field`).
    Blend,
}

impl From<FieldSolverArg> for deblur_optim::nonuniform::FieldSolver {
    fn from(s: FieldSolverArg) -> Self {
        match s {
            FieldSolverArg::Exact => deblur_optim::nonuniform::FieldSolver::Exact,
            FieldSolverArg::Blend => deblur_optim::nonuniform::FieldSolver::Blend,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BoundaryArg {
    /// Re-estimated from the current estimate (default).
    Unknown,
    /// Fixed mirror padding of the observation.
    Mirror,
}

pub fn deconv(args: DeconvArgs) -> CmdResult {
    check_outputs(
        &[&args.input, args.blur.path()],
        &[Output::Image(&args.output)],
    )?;
    if args.blur.kernel_field.is_some() && !matches!(args.method, DeconvArg::Hl) {
        return Err("--kernel-field works with --method hl".into());
    }
    if matches!(args.method, DeconvArg::Pnp) && args.weight.is_some() {
        return Err(
            "--weight is for hl and wiener; pnp takes its strength from --noise-std".into(),
        );
    }
    if !matches!(args.method, DeconvArg::Pnp)
        && (args.noise_std.is_some() || args.denoiser.is_some())
    {
        return Err("--noise-std and --denoiser are for --method pnp".into());
    }
    let device = device_from_name(&args.device)?;
    let input = load_image_limited(&args.input, args.max_megapixels)?;
    let config = match args.boundary {
        BoundaryArg::Unknown => HyperLaplacianConfig::default(),
        BoundaryArg::Mirror => HyperLaplacianConfig::mirror_padding(),
    };
    let config = HyperLaplacianConfig {
        lambda: args.weight.unwrap_or(config.lambda),
        tile: (args.tile > 0).then_some(args.tile),
        ..config
    };
    let x = match args.blur.load()? {
        crate::commands::Blur::Field(field) => {
            deblur_optim::nonuniform::FieldSolver::from(args.field_solver)
                .deconv(&input.pixels, &field, &config, &device)
                .map_err(|e| format!("{}: {e}", args.input.display()))?
        }
        crate::commands::Blur::Kernel(kernel) => {
            let y = array_to_tensor(&input.pixels, &device);
            let x = match args.method {
                DeconvArg::Hl => hyper_laplacian_deconv(y, kernel.to_tensor(&device), &config),
                DeconvArg::Wiener => {
                    wiener(y, kernel.to_tensor(&device), args.weight.unwrap_or(1e-3))
                }
                DeconvArg::Pnp => {
                    let noise = match args.noise_std {
                        Some(s) => s,
                        None => {
                            // each channel is restored with the same level: their mean
                            let mut sum = 0.0;
                            for channel in input.pixels.outer_iter() {
                                sum += deblur_core::resample::estimate_noise_std(channel)?;
                            }
                            sum / input.pixels.dim().0 as f64
                        }
                    };
                    let denoiser = deblur_models::weights::load_denoiser_from(
                        args.denoiser.as_deref(),
                        None,
                        deblur_models::weights::SHIPPED_DENOISER,
                        &device,
                    )?;
                    let config = deblur_optim::PnpConfig {
                        boundary: config.boundary,
                        tile: config.tile,
                        ..deblur_optim::PnpConfig::new(noise)
                    };
                    eprintln!("plug-and-play at noise σ {noise:.4}");
                    deblur_optim::pnp_deconv(y, kernel.to_tensor(&device), &denoiser, &config)
                }
            }
            .map_err(|e| format!("{}: {e}", args.input.display()))?;
            tensor_to_array(x, 0)?.mapv(|v| v.clamp(0.0, 1.0))
        }
    };
    save_image(&args.output, &x, input.bit_depth)?;
    eprintln!("wrote {}", args.output.display());
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchMethodArg {
    /// DIP-GLKM with the chosen preset and the shipped weights.
    Glkm,
    /// SelfDeblur with the chosen preset (kernel sizes of the SelfDeblur Levin script).
    Selfdeblur,
    /// Coarse-to-fine L0-gradient MAP kernel estimation, then the pipeline's non-blind step.
    L0,
    /// Non-blind hyper-Laplacian deconvolution with the (oriented) true kernel: the upper bound.
    Nonblind,
    /// The blurred input itself: the lower bound.
    Blurred,
    /// VDIP-Std + kernel MLP with the chosen preset.
    VdipStd,
    /// VDIP-Extreme + kernel MLP with the chosen preset.
    VdipExtreme,
    /// VDIP-Sparse + kernel MLP with the chosen preset.
    VdipSparse,
    /// A DIP through the encoded kernel space's F with a kernel code (--space-variant or
    /// --space-model), the chosen preset.
    KernelSpace,
}

impl BenchMethodArg {
    /// Whether the method is a blind method (not one of the bounds).
    pub(crate) fn is_blind(self) -> bool {
        !matches!(self, BenchMethodArg::Nonblind | BenchMethodArg::Blurred)
    }
}

/// The method settings shared by the benchmark commands.
#[derive(Args, Debug)]
pub struct BenchMethodArgs {
    /// Method to evaluate (selfdeblur: the default `deblur blind` pipeline).
    #[arg(long, value_enum, default_value = "selfdeblur")]
    pub(crate) method: BenchMethodArg,
    /// Image model of the DIP methods (as `deblur blind --image-prior`).
    #[arg(long, value_enum, default_value = "dip")]
    pub(crate) image_prior: ImagePriorArg,
    /// Preset for blind methods.
    #[arg(long, value_enum, default_value = "fast")]
    pub(crate) preset: PresetArg,
    #[command(flatten)]
    pub(crate) shipped: ShippedWeights,
    /// Iterations for blind methods.
    #[arg(long)]
    pub(crate) iters: Option<usize>,
    /// Side of the kernel-estimation window for blind methods (default: the preset's).
    #[arg(long)]
    pub(crate) window_side: Option<usize>,
    /// Compute device.
    #[arg(long, default_value = "cpu")]
    pub(crate) device: String,
    /// Run the blind method as asked: no switch to the L0 estimator for large or noisy blur
    /// (the fast preset's default for SelfDeblur), to compare the DIP methods themselves.
    #[arg(long)]
    pub(crate) no_switch: bool,
    /// Kernel-space variant in the weights manifest (--method kernel-space).
    #[arg(long, default_value = "compact-v1")]
    pub(crate) space_variant: String,
    /// A trained kernel space (kernel_space.bpk, its .json beside it) instead (--method
    /// kernel-space).
    #[arg(long)]
    pub(crate) space_model: Option<PathBuf>,
    /// Re-blur residual above which a DIP-method estimate runs once more with the next seed
    /// (as `deblur blind --restart-residual`; default: the preset's; 0: never).
    #[arg(long, value_parser = crate::train_cmds::non_negative_finite)]
    pub(crate) restart_residual: Option<f64>,
    /// Full-resolution refinement rounds of a DIP method's kernel estimate (as `deblur blind
    /// --dip-refine-rounds`; default: the preset's; 0: none).
    #[arg(long)]
    pub(crate) dip_refine_rounds: Option<usize>,
}

impl BenchMethodArgs {
    /// The checked request of `options`, without the switch when `--no-switch` is given.
    pub(crate) fn request(
        &self,
        options: &BlindOptions,
        models: Option<&GlkmModels>,
    ) -> deblur_optim::Result<BlindRequest> {
        let mut request = options.request(models)?;
        if self.no_switch {
            request.robust = None;
        }
        Ok(request)
    }

    /// The blind method behind the benchmark method (SelfDeblur for the bounds).
    pub(crate) fn blind_method(&self) -> MethodArg {
        match self.method {
            BenchMethodArg::Glkm => MethodArg::Glkm,
            BenchMethodArg::L0 => MethodArg::L0,
            BenchMethodArg::VdipStd => MethodArg::VdipStd,
            BenchMethodArg::VdipExtreme => MethodArg::VdipExtreme,
            BenchMethodArg::VdipSparse => MethodArg::VdipSparse,
            BenchMethodArg::KernelSpace => MethodArg::KernelSpace,
            _ => MethodArg::Selfdeblur,
        }
    }

    /// The library's options of the blind method for kernels of `kernel_size`.
    pub(crate) fn options(
        &self,
        kernel_size: Option<usize>,
        device: &deblur_core::burn::tensor::Device,
    ) -> Result<BlindOptions, String> {
        Ok(BlindOptions {
            space_variant: self.space_variant.clone(),
            space_model: self.space_model.clone(),
            restart_residual: self.restart_residual,
            kernel_refine_rounds: self.dip_refine_rounds,
            ..options(
                self.blind_method(),
                self.image_prior,
                self.preset,
                kernel_size,
                self.iters,
                self.window_side,
                &self.shipped,
                device,
            )?
        })
    }
}

#[derive(Args, Debug)]
pub struct BenchLevinArgs {
    /// The Levin folder (imI_kernelJ_img.png and gt/).
    #[arg(long, default_value = "../shared/data/levin")]
    data: PathBuf,
    #[command(flatten)]
    run: BenchMethodArgs,
    /// Comma-separated cases, e.g. im1_kernel4,im2_kernel1 (default: all 32).
    #[arg(long, value_delimiter = ',')]
    images: Option<Vec<String>>,
    /// Write the table as CSV.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Also score the kernel estimate at these iterations (comma-separated; each read out by
    /// hyper-Laplacian deconvolution of the whole image), e.g. 250,500,1000.
    #[arg(long, value_delimiter = ',')]
    snapshots: Vec<usize>,
    /// Write each blind kernel estimate into DIR as IMAGE_kernel.npy (exact values) and
    /// IMAGE_kernel.png (scaled to its maximum).
    #[arg(long, value_name = "DIR")]
    kernels_out: Option<PathBuf>,
    /// Run every case once per seed (comma-separated, e.g. 0,1,2) and report each seed's mean
    /// and the mean over seeds: the DIP methods' trajectories depend on rounding, so a change
    /// that rounds differently is judged on several seeds, not one. Kernel estimates are then
    /// written as IMAGE_seedS_kernel.*. Default: the single seed 0.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// The inputs' noise level (as `deblur blind --noise-std`; default: estimated per image):
    /// for a screening folder in the Levin layout whose estimated noise would take another
    /// path than Levin's images do (scripts/screen-levin-like.sh).
    #[arg(long, value_parser = noise_std_arg, allow_hyphen_values = true)]
    noise_std: Option<f64>,
}

pub fn bench_levin(args: BenchLevinArgs) -> CmdResult {
    if args.seeds.is_empty() {
        return Err("--seeds needs at least one seed, e.g. --seeds 0,1,2".into());
    }
    if args.run.method == BenchMethodArg::KernelSpace && !args.snapshots.is_empty() {
        return Err(
            "--snapshots scores kernel estimates; --method kernel-space estimates a code \
                    for F, not a kernel"
                .into(),
        );
    }
    if let Some(csv) = &args.csv {
        check_outputs(&[], &[Output::File(csv)])?;
    }
    let device = device_from_name(&args.run.device)?;
    if let Some(dir) = &args.kernels_out {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the kernel folder {}: {e}", dir.display()))?;
    }
    let items = load_levin(&args.data, args.images.as_deref())
        .map_err(|e| format!("{}: {e}", args.data.display()))?;
    let nonblind = HyperLaplacianConfig::default();
    let blind_method = args.run.blind_method();
    // the GLKM models are loaded once, not per image
    let options = BlindOptions {
        noise_std: args.noise_std,
        ..args.run.options(None, &device)?
    };
    let models = load_models(&options)?;
    let space = options.load_kernel_space()?;
    println!(
        "{:<14} {:>8} {:>7} {:>7} {:>9} {:>9} {:>9}",
        "image", "PSNR", "SSIM", "ratio", "seconds", "blurred", "true-k"
    );
    let several = args.seeds.len() > 1;
    let mut print_row = |r: &LevinRow| {
        println!(
            "{:<14} {:>8.2} {:>7.4} {:>7.2} {:>9.1} {:>9.2} {:>9.2}",
            r.name, r.psnr, r.ssim, r.error_ratio, r.seconds, r.blurred_psnr, r.true_kernel_psnr
        );
    };
    // (seed, rows) per seed, in the order asked
    let mut runs: Vec<(u64, Vec<LevinRow>)> = Vec::with_capacity(args.seeds.len());
    for &seed in &args.seeds {
        if several {
            println!("seed {seed}");
        }
        let options = BlindOptions {
            seed,
            ..options.clone()
        };
        let mut method =
            |item: &deblur_optim::levin::LevinItem| -> deblur_optim::Result<deblur_optim::levin::Restored> {
                match args.run.method {
                    BenchMethodArg::Blurred => Ok((item.blurred.clone(), None)),
                    BenchMethodArg::Nonblind => Ok((
                        deblur_optim::levin::true_kernel_deconvolution(item, &nonblind, &device)?.1,
                        None,
                    )),
                    _ => {
                        let k = match blind_method {
                            MethodArg::Glkm => None,
                            _ => Some(SELFDEBLUR_KERNEL_SIZES[item.kernel - 1]),
                        };
                        let request = args.run.request(
                            &BlindOptions {
                                kernel_size: k,
                                ..options.clone()
                            },
                            models.as_ref(),
                        )?;
                        let name = if several {
                            format!("{}_seed{seed}", item.name)
                        } else {
                            item.name.clone()
                        };
                        let (out, kernels) = blind_gray(
                            &item.blurred,
                            &request,
                            deblur_optim::Resources::glkm(models.as_ref())
                                .with_kernel_space(space.as_ref()),
                            &device,
                            &args.snapshots,
                            args.kernels_out.as_deref().map(|d| (d, name.as_str())),
                        )?;
                        if let Some(r) = out.restart {
                            println!(
                                "{:<14} restarted: first start {:.1}σ, seed {} {}",
                                item.name,
                                r.first_residual,
                                r.seed,
                                if r.kept_second { "kept" } else { "not kept" }
                            );
                        }
                        for (step, kernel) in kernels {
                            let score = kernel_result(item, kernel, &nonblind, &device)?;
                            println!(
                                "{:<14} snapshot {step:>5} it: PSNR {:>6.2}  SSIM {:.4}",
                                item.name, score.psnr, score.ssim
                            );
                        }
                        Ok((out.image.index_axis(Axis(0), 0).to_owned(), out.residual))
                    }
                }
            };
        let rows = run_levin(&items, &mut method, &nonblind, &device, &mut print_row)?;
        runs.push((seed, rows));
    }
    let mean = |rows: &[LevinRow], f: &dyn Fn(&LevinRow) -> f64| {
        rows.iter().map(f).sum::<f64>() / rows.len().max(1) as f64
    };
    let all: Vec<LevinRow> = runs.iter().flat_map(|(_, rows)| rows.clone()).collect();
    if several {
        for (seed, rows) in &runs {
            println!(
                "seed {seed:<9} {:>8.2} {:>7.4} {:>7.2} {:>9.1}",
                mean(rows, &|r| r.psnr),
                mean(rows, &|r| r.ssim),
                mean(rows, &|r| r.error_ratio),
                mean(rows, &|r| r.seconds)
            );
        }
    }
    let per_seed: Vec<f64> = runs
        .iter()
        .map(|(_, rows)| mean(rows, &|r| r.psnr))
        .collect();
    println!(
        "{:<14} {:>8.2} {:>7.4} {:>7.2} {:>9.1} {:>9.2} {:>9.2}{}",
        if several { "mean (seeds)" } else { "mean" },
        mean(&all, &|r| r.psnr),
        mean(&all, &|r| r.ssim),
        mean(&all, &|r| r.error_ratio),
        mean(&all, &|r| r.seconds),
        mean(&all, &|r| r.blurred_psnr),
        mean(&all, &|r| r.true_kernel_psnr),
        if several {
            let lo = per_seed.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = per_seed.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("   (seed means {lo:.2} to {hi:.2} dB)")
        } else {
            String::new()
        }
    );
    if let Some(path) = &args.csv {
        let mut text = String::from(
            "image,psnr,ssim,error_ratio,seconds,blurred_psnr,true_kernel_psnr,kernel_rotated,seed,\
             residual\n",
        );
        for (seed, rows) in &runs {
            for r in rows {
                text.push_str(&format!(
                    "{},{:.4},{:.5},{:.4},{:.2},{:.4},{:.4},{},{seed},{}\n",
                    r.name,
                    r.psnr,
                    r.ssim,
                    r.error_ratio,
                    r.seconds,
                    r.blurred_psnr,
                    r.true_kernel_psnr,
                    r.kernel_rotated,
                    r.residual.map_or(String::new(), |v| format!("{v:.3}"))
                ));
            }
        }
        deblur_core::npy::write_atomic(path, |w| std::io::Write::write_all(w, text.as_bytes()))?;
    }
    Ok(())
}

/// The loss curve of a blind run: MSE, then 1 − SSIM from `ssim_from`, on a log scale with the
/// switch marked (the jump there is the change of loss, not a failure).
fn loss_chart(losses: &[f32], ssim_from: Option<usize>) -> deblur_core::plot::Chart {
    use deblur_core::plot::{Chart, Scale, Series};
    let chart = Chart::new("deblur blind: loss per step", "step", "loss (log scale)")
        .with_y_scale(Scale::Log10);
    match ssim_from.filter(|&s| s > 0 && s < losses.len()) {
        Some(s) => chart
            .with_series(Series::from_values("MSE", &losses[..s], 0.0))
            .with_series(Series::from_values("1 - SSIM", &losses[s..], s as f64))
            .with_marker(s as f64, format!("1 - SSIM from step {s}")),
        None => chart.with_series(Series::from_values(
            if ssim_from == Some(0) {
                "1 - SSIM"
            } else {
                "MSE"
            },
            losses,
            0.0,
        )),
    }
}

/// How a run reports its noise level: as given (`--noise-std`) or as estimated.
fn noise_phrase(given: bool, std: f64) -> String {
    if given {
        format!("noise σ = {std:.4} (given)")
    } else {
        format!("noise σ ≈ {std:.4}")
    }
}

/// clap parser: a noise standard deviation in (0, 0.5) on the [0, 1] scale.
fn noise_std_arg(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 0.5 => Ok(v),
        Ok(v) => Err(format!(
            "{v:?} is not a noise level: give the standard deviation in the [0, 1] scale, above 0 \
             and below 0.5 (0.01 for 1 % noise)"
        )),
        Err(e) => Err(e.to_string()),
    }
}
