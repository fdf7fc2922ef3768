//! Non-uniform blind deblurring (GLKM's Algorithm 4): a global estimate by the uniform pipeline,
//! every region's kernel started from it, then the image and a field of kernels optimised
//! jointly through the solver loop with the SVOLA blur ([`BlurPart::Svola`]), and a read-out by
//! non-blind deconvolution with the estimated field: each region's kernel deconvolves the image
//! and the windows blend the results ([`deconv_field`], or [`deconv_field_pnp`] where the global
//! estimate ended with the plug-and-play step), or through the SVOLA operator
//! ([`deconv_field_exact`], on request).
//!
//! The region kernels are either SelfDeblur's MLP (warm-started at the global kernel through its
//! output bias, [`MlpKernel::starting_at`]; the patch-wise SelfDeblur baseline of the GLKM paper)
//! or GLKM's generator (each region's feature map fitted to the global kernel). The image model
//! is the fast preset's DIP over the whole image: every region needs its pixels, so no window is
//! chosen (the cost grows with the image: about 0.2 s per step at 285², 2 cores).

use burn::tensor::{Device, Tensor};
use deblur_core::convert::{array_to_tensor, tensor_to_array};
use deblur_core::svola::AxisWindows;
use deblur_core::{Boundary, Kernel, KernelField, WindowShape, YCbCrStandard};
use deblur_priors::{Denoiser, DipConfig, KernelMlpConfig};
use ndarray::{Array3, Axis};

use crate::camera_field::{CameraFieldConfig, CameraFieldKernel};
use crate::error::MISSING_GLKM;
use crate::glkm::{BROAD_FIT_LR, BROAD_FIT_STEPS};
use crate::method::{BlurPart, ImagePart, Resources};
use crate::models::{GlkmKernel, ImageModel, KernelFieldModel, KernelModel, MlpKernel, PixelImage};
use crate::nonblind::{HyperLaplacianConfig, hyper_laplacian_deconv};
use crate::pipeline::{BlindRequest, BlindResult, ColorPath, FinalPriorUsed, deblur_blind};
use crate::pnp::{PnpConfig, pnp_deconv};
use crate::selfdeblur::SelfDeblurConfig;
use crate::solver::{Observer, SolverConfig, solve};
use crate::{Error, Result};

/// The kernel model of every region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKernels {
    /// SelfDeblur's kernel MLP per region, started at the global kernel.
    Mlp,
    /// GLKM's generator per region (its own feature map each), fitted to the global kernel.
    Glkm,
    /// One camera motion for the whole field ([`CameraFieldKernel`]): the global kernel as the
    /// translations, turned by a few angles; [`NonUniformConfig::camera`] sets it up.
    Camera,
}

impl FieldKernels {
    /// `mlp` or `glkm`.
    pub fn name(self) -> &'static str {
        match self {
            FieldKernels::Mlp => "mlp",
            FieldKernels::Glkm => "glkm",
            FieldKernels::Camera => "camera",
        }
    }
}

/// The image model of the joint stage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldImage {
    /// The fast preset's DIP, from scratch.
    Dip,
    /// The current estimate, fixed (extended to the latent size by mirroring): the loop takes
    /// kernel steps only, then the image is re-estimated by [`deconv_field`] with the new field,
    /// `rounds` times (alternating minimisation; a free pixel image would let the kernels
    /// collapse to deltas, as measured).
    Fixed {
        /// Kernel-fit and deconvolution rounds.
        rounds: usize,
    },
}

/// How a field deconvolves an image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldSolver {
    /// Each region's deconvolution blended by the windows ([`deconv_field`]).
    #[default]
    Blend,
    /// Through the SVOLA operator ([`deconv_field_exact`], default settings).
    Exact,
}

impl FieldSolver {
    /// Deconvolves `blurred` with `field` by this solver.
    ///
    /// # Errors
    /// As [`deconv_field`] and [`deconv_field_exact`].
    pub fn deconv(
        self,
        blurred: &Array3<f32>,
        field: &KernelField,
        nonblind: &HyperLaplacianConfig,
        device: &Device,
    ) -> Result<Array3<f32>> {
        match self {
            FieldSolver::Blend => deconv_field(blurred, field, nonblind, device),
            FieldSolver::Exact => deconv_field_exact(
                blurred,
                field,
                nonblind,
                &FieldDeconvConfig::default(),
                device,
            ),
        }
    }
}

/// Settings of the joint stage.
#[derive(Clone, Debug, PartialEq)]
pub struct NonUniformConfig {
    /// Regions `[rows, columns]`. Default: 3×3.
    pub grid: [usize; 2],
    /// Window taper. Default: tent.
    pub window: WindowShape,
    /// Kernel model of the regions. Default: the MLP.
    pub kernels: FieldKernels,
    /// Joint steps. Default: 300.
    pub iterations: usize,
    /// Learning rate of the region kernels (MLP: 5e-3; GLKM: 2e-3, set by [`NonUniformConfig::new`]).
    pub kernel_lr: f64,
    /// The image model. Default: the global estimate, fixed, one round.
    pub image: FieldImage,
    /// The DIP's network for [`FieldImage::Dip`]: the fast preset's 16-channel DIP.
    pub dip: DipConfig,
    /// Seed of the networks' inputs.
    pub seed: u64,
    /// The read-out's field deconvolution. Default: the blend (with estimated fields the exact
    /// solver measured the same, +0.00 and −0.10 dB on two screening crops, at 4× the time;
    /// with the true field it gains 0.7–1.5 dB).
    pub readout: FieldSolver,
    /// The camera-motion model of [`FieldKernels::Camera`].
    pub camera: CameraFieldConfig,
}

impl NonUniformConfig {
    /// The defaults for `kernels` on a `grid`.
    pub fn new(grid: [usize; 2], kernels: FieldKernels) -> Self {
        NonUniformConfig {
            grid,
            window: WindowShape::Tent,
            kernels,
            iterations: 300,
            kernel_lr: match kernels {
                FieldKernels::Mlp | FieldKernels::Camera => 5e-3,
                FieldKernels::Glkm => 2e-3,
            },
            image: FieldImage::Fixed {
                rounds: if kernels == FieldKernels::Camera {
                    3
                } else {
                    1
                },
            },
            dip: DipConfig::narrow(1, 16, 4, 4),
            seed: 0,
            readout: FieldSolver::Blend,
            camera: CameraFieldConfig::default(),
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the setting.
    pub fn validate(&self) -> Result<()> {
        if self.grid[0] == 0 || self.grid[1] == 0 {
            return Err(Error::setting("grid", "needs at least one region per axis"));
        }
        if self.iterations == 0 {
            return Err(Error::setting("iterations", "must be at least 1"));
        }
        self.camera.validate()?;

        if !(self.kernel_lr.is_finite() && self.kernel_lr > 0.0) {
            return Err(Error::setting(
                "kernel learning rate",
                format!("{} must be finite and above 0", self.kernel_lr),
            ));
        }
        Ok(())
    }
}

/// What [`deblur_nonuniform`] returns.
#[derive(Clone, Debug)]
pub struct NonUniformResult {
    /// The restored image `[c, h, w]` in [0, 1].
    pub image: Array3<f32>,
    /// The estimated field.
    pub field: KernelField,
    /// The global (uniform) estimate the field started from.
    pub global: BlindResult,
    /// Loss per joint step.
    pub losses: Vec<f32>,
    /// Seconds of the joint stage.
    pub seconds: f64,
}

/// Non-uniform blind deblurring of `pixels` (`[c, h, w]`): `request`'s uniform pipeline for the
/// global kernel, then the joint stage of `config`, then [`deconv_field`] with the request's
/// final step (plug-and-play with the λ the global estimate's final step returned, where that
/// step was plug-and-play: [`deconv_field_pnp`]). When the global estimate fails the pipeline's
/// self-check, its result (the input) is returned with a field of delta kernels.
///
/// # Errors
/// The pipeline's errors; [`Error::MissingModels`] for GLKM kernels without `resources.glkm`;
/// [`Error::InvalidSetting`] for bad settings or a grid whose regions are narrower than the
/// kernel.
pub fn deblur_nonuniform(
    pixels: &Array3<f32>,
    request: &BlindRequest,
    config: &NonUniformConfig,
    resources: Resources<'_>,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<NonUniformResult> {
    // many small parallel operations: run them from a worker of the pool (deblur_core::pool)
    deblur_core::on_pool(move || {
        deblur_nonuniform_here(pixels, request, config, resources, device, observer)
    })
}

/// [`deblur_nonuniform`] on the calling thread.
fn deblur_nonuniform_here(
    pixels: &Array3<f32>,
    request: &BlindRequest,
    config: &NonUniformConfig,
    resources: Resources<'_>,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<NonUniformResult> {
    config.validate()?;
    // regions narrower than the kernel leave each kernel fewer pixels than taps (and a 40x40
    // grid on a 255² image ran for many minutes): refuse them before any work
    if let Some(k) = request.method.kernel_side() {
        let (_, h, w) = pixels.dim();
        let (rh, rw) = (h / config.grid[0], w / config.grid[1]);
        if rh < k || rw < k {
            return Err(Error::setting(
                "grid",
                format!(
                    "{}x{} regions over a {w}x{h} image are {rw}x{rh} px, narrower than the {k} px \
                     kernel: use a coarser grid (at most {}x{})",
                    config.grid[0],
                    config.grid[1],
                    (h / k).max(1),
                    (w / k).max(1)
                ),
            ));
        }
    }
    if config.kernels == FieldKernels::Glkm && resources.glkm.is_none() {
        return Err(MISSING_GLKM);
    }
    let global = deblur_blind(pixels, request, resources, device, observer)?;
    let c = pixels.dim().0;
    let luma_path = c == 3 && request.color == ColorPath::Luma;
    let work: Array3<f32> = if luma_path {
        deblur_core::color::luma(pixels, YCbCrStandard::FullRange)?.insert_axis(Axis(0))
    } else {
        pixels.clone()
    };
    if global.fell_back {
        let field = KernelField::uniform(config.grid, config.window, &global.kernel)?;
        return Ok(NonUniformResult {
            image: global.image.clone(),
            field,
            global,
            losses: Vec::new(),
            seconds: 0.0,
        });
    }
    let start_kernel = match (config.kernels, resources.glkm) {
        (FieldKernels::Glkm, Some(models)) => {
            let k = models.kernel_size();
            global.kernel.resize_canvas([k, k])?
        }
        _ => global.kernel.clone(),
    };
    let nonblind = request.final_deconv(global.noise_std);
    // the read-out follows the global estimate's final step: plug-and-play region by region
    // where it ran (the blend; the exact solver is hyper-Laplacian), with the λ its confidence
    // rule chose
    let pnp = match (global.final_prior, resources.denoiser, request.final_pnp()) {
        (Some(FinalPriorUsed::PlugAndPlay), Some(denoiser), Some(pnp)) => Some((
            denoiser,
            PnpConfig {
                noise_std: global.noise_std,
                lambda: global.final_lambda.unwrap_or(pnp.lambda),
                ..pnp
            },
        )),
        _ => None,
    };
    // The joint stage sees the estimation channel(s): the luma, or the three channels.
    let observation = array_to_tensor(&work, device);
    let mut field = KernelField::uniform(config.grid, config.window, &start_kernel)?;
    let mut current = if luma_path {
        deblur_core::color::luma(&global.image, YCbCrStandard::FullRange)?.insert_axis(Axis(0))
    } else {
        global.image.clone()
    };
    let (mut losses, mut seconds) = (Vec::new(), 0.0);
    let rounds = match config.image {
        FieldImage::Fixed { rounds } => rounds.max(1),
        FieldImage::Dip => 1,
    };
    for round in 0..rounds {
        let mut after = After {
            inner: &mut *observer,
            offset: request.method.steps() + round * config.iterations,
        };
        // the camera field turns the global kernel in every round; its last round may free the
        // regions as MLPs started from its field (CameraFieldConfig::mlp_last)
        let freed = config.camera.mlp_last && rounds > 1 && round + 1 == rounds;
        let start = match config.kernels {
            FieldKernels::Camera if !freed => FieldStart::Camera(&start_kernel),
            _ => FieldStart::Regions(&field),
        };
        let out = joint_stage(
            &observation,
            &current,
            start,
            config,
            resources,
            round as u64,
            &mut after,
        )?;
        losses.extend(out.losses);
        seconds += out.seconds;
        field = KernelField::from_tensor(config.grid, config.window, out.kernel.to_device(device))?;
        current = match (&pnp, config.readout) {
            (Some((denoiser, pnp)), FieldSolver::Blend) => {
                deconv_field_pnp(&work, &field, denoiser, pnp, device)?
            }
            _ => config.readout.deconv(&work, &field, &nonblind, device)?,
        };
    }
    let restored = if luma_path {
        deblur_core::color::merge_luma(
            pixels,
            current.index_axis(Axis(0), 0),
            YCbCrStandard::FullRange,
        )?
    } else {
        current
    };
    Ok(NonUniformResult {
        image: restored,
        field,
        global,
        losses,
        seconds,
    })
}

/// Reports a joint stage's steps after those before it (the global estimate's, earlier
/// rounds'), so that one progress display covers the whole run.
struct After<'a> {
    inner: &'a mut dyn Observer,
    offset: usize,
}

impl Observer for After<'_> {
    fn on_step(&mut self, progress: &crate::solver::Progress) {
        self.inner.on_step(&crate::solver::Progress {
            step: self.offset + progress.step,
            total: self.offset + progress.total,
            ..*progress
        });
    }
    fn on_restart(&mut self, first_residual: f64, seed: u64) {
        self.inner.on_restart(first_residual, seed);
    }
}

/// Where a round of the joint stage starts its field model.
enum FieldStart<'a> {
    /// One kernel model per region (GLKM's for [`FieldKernels::Glkm`], else the MLP), each
    /// started at its region's kernel.
    Regions(&'a KernelField),
    /// One camera motion ([`CameraFieldKernel`]) turning this base kernel, not turned yet.
    Camera(&'a Kernel),
}

/// One run of the solver loop: the image model of `config` (the fixed `current` image, or a DIP)
/// and the field model of `start`, through the SVOLA blur.
fn joint_stage(
    observation: &Tensor<4>,
    current: &Array3<f32>,
    start: FieldStart<'_>,
    config: &NonUniformConfig,
    resources: Resources<'_>,
    round: u64,
    observer: &mut dyn Observer,
) -> Result<crate::solver::SolveOutput> {
    let device = observation.device();
    let [_, c, h, w] = observation.dims();
    let k = match start {
        FieldStart::Regions(field) => field.kernel_size(),
        FieldStart::Camera(base) => base.size(),
    };
    let seed = config.seed.wrapping_add(round * 1000);
    let ad = device.clone().autodiff();
    ad.seed(seed);
    let blur_part = BlurPart::Svola {
        grid: config.grid,
        window: config.window,
    };
    let latent = blur_part.latent_size([h, w], k);
    let blur = blur_part.build(latent, k, &Resources::none(), &ad)?;
    let mut reference = SelfDeblurConfig::paper(k).with_iterations(config.iterations);
    reference.image = reference.image.with_dip(config.dip.clone());
    reference.image.noise_seed = seed;
    reference.solver.kernel_lr.base = config.kernel_lr;
    reference.solver.seed = seed;
    let mut image: Box<dyn ImageModel> = match config.image {
        FieldImage::Dip => {
            ImagePart::Dip(reference.image.clone()).build(c, latent, k, &reference.solver, &ad)
        }
        FieldImage::Fixed { .. } => {
            let (ph, pw) = ((k[0] - 1) / 2, (k[1] - 1) / 2);
            let padded = deblur_core::pad::pad(
                array_to_tensor(current, &device),
                [(ph, k[0] - 1 - ph), (pw, k[1] - 1 - pw)],
                deblur_core::Padding::Symmetric,
            );
            // kernel steps only: the image stays the current estimate
            reference.solver = SolverConfig::constant(config.iterations, 0.0, config.kernel_lr);
            reference.solver.seed = seed;
            Box::new(PixelImage::new(padded, &ad))
        }
    };
    let field = match start {
        FieldStart::Regions(field) => field,
        FieldStart::Camera(base) => {
            let mut camera = CameraFieldKernel::new(base, config.grid, latent, config.camera, &ad)?;
            return solve(
                observation.clone().autodiff(),
                image.as_mut(),
                &mut camera,
                blur.as_ref(),
                &reference.solver,
                observer,
            );
        }
    };
    let models: Vec<Box<dyn KernelModel>> = match (config.kernels, resources.glkm) {
        (FieldKernels::Glkm, Some(glkm)) => {
            // one w-space fit per distinct kernel: the first round starts every region from the
            // same global kernel
            let mut fitted: Vec<(&Kernel, Tensor<4>)> = Vec::new();
            field
                .kernels()
                .iter()
                .map(|kernel| {
                    let w0 = match fitted.iter().find(|(k, _)| *k == kernel) {
                        Some((_, w)) => w.clone(),
                        None => {
                            let w = glkm.fit_features(
                                kernel.to_tensor(&device),
                                BROAD_FIT_STEPS,
                                BROAD_FIT_LR,
                            );
                            fitted.push((kernel, w.clone()));
                            w
                        }
                    };
                    Box::new(GlkmKernel::from_features(glkm.generator.clone(), w0, &ad))
                        as Box<dyn KernelModel>
                })
                .collect()
        }
        _ => {
            let mlp = KernelMlpConfig::new(k).with_hidden(reference.kernel_hidden);
            field
                .kernels()
                .iter()
                .enumerate()
                .map(|(r, kernel)| {
                    MlpKernel::starting_at(&mlp, seed + r as u64, kernel, &ad)
                        .map(|m| Box::new(m) as Box<dyn KernelModel>)
                })
                .collect::<Result<_>>()?
        }
    };
    let mut field_model = KernelFieldModel::new(models);
    solve(
        observation.clone().autodiff(),
        image.as_mut(),
        &mut field_model,
        blur.as_ref(),
        &reference.solver,
        observer,
    )
}

/// Non-blind deconvolution of `blurred` (`[c, h, w]`) with a kernel field: each region's kernel
/// deconvolves the part of the image its window covers and a margin of
/// [`READOUT_MARGIN_KERNELS`] kernel sizes ([`hyper_laplacian_deconv`] with `config`, which
/// treats what lies beyond the crop as unknown), and the results are blended by the field's
/// windows (placed as the SVOLA model places them on the latent image,
/// cropped to the observation), which sum to one everywhere. Exact for a field of one kernel;
/// for varying kernels a pixel takes the deconvolutions of the kernels around it, weighted as
/// the forward model mixes them (the usual approximation of overlap-add deconvolution, without
/// seams since the windows are smooth). Clamped to [0, 1].
///
/// # Errors
/// The deconvolution's errors; [`Error::Core`] for a field that does not fit the image.
pub fn deconv_field(
    blurred: &Array3<f32>,
    field: &KernelField,
    config: &HyperLaplacianConfig,
    device: &Device,
) -> Result<Array3<f32>> {
    blend_regions(blurred, field, device, |y, kernel| {
        hyper_laplacian_deconv(y, kernel.to_tensor(device), config)
    })
}

/// [`deconv_field`] with plug-and-play deconvolution ([`pnp_deconv`]) of each region's kernel
/// instead of the hyper-Laplacian step: the read-out of [`deblur_nonuniform`] when the global
/// estimate ended with the plug-and-play step.
///
/// # Errors
/// As [`pnp_deconv`]; [`Error::InvalidSetting`] for a field finer than the image.
pub fn deconv_field_pnp(
    blurred: &Array3<f32>,
    field: &KernelField,
    denoiser: &Denoiser,
    config: &PnpConfig,
    device: &Device,
) -> Result<Array3<f32>> {
    blend_regions(blurred, field, device, |y, kernel| {
        pnp_deconv(y, kernel.to_tensor(device), denoiser, config)
    })
}

/// Deconvolves `blurred` with each region's kernel by `deconv` and blends the results by the
/// field's windows. A region's kernel deconvolves only the part of the image its window covers,
/// widened by [`READOUT_MARGIN_KERNELS`] kernel sizes (the deconvolutions treat what lies beyond
/// a crop as unknown, as they treat the image's own borders); a field of one kernel deconvolves
/// the whole image once.
fn blend_regions(
    blurred: &Array3<f32>,
    field: &KernelField,
    device: &Device,
    mut deconv: impl FnMut(Tensor<4>, &Kernel) -> Result<Tensor<4>>,
) -> Result<Array3<f32>> {
    let (c, h, w) = blurred.dim();
    let y = array_to_tensor(blurred, device);
    let kernels = field.kernels();
    if kernels.iter().all(|k| k == &kernels[0]) {
        // one kernel: the windows sum to one, so the blend is the deconvolution itself
        let x = deconv(y, &kernels[0])?;
        return Ok(tensor_to_array(x, 0)?.mapv(|v| v.clamp(0.0, 1.0)));
    }
    // the windows as the SVOLA model places them on the latent image (one axis's supports and
    // values at a time), seen from the observation, which starts (K − 1) / 2 into the latent
    let [kh, kw] = field.kernel_size();
    let [gh, gw] = field.grid();
    let rows = AxisWindows::new(field.window(), gh, h + kh - 1)?;
    let cols = AxisWindows::new(field.window(), gw, w + kw - 1)?;
    let visible = |(start, values): &(usize, Vec<f32>), offset: usize, len: usize| {
        // the window's support within the observation and its values there
        let lo = start.max(&offset) - offset;
        let hi = (start + values.len()).min(offset + len).max(offset) - offset;
        let from = values.get(lo + offset - start..).unwrap_or_default();
        (lo, hi.max(lo), from.to_vec())
    };
    let margin = READOUT_MARGIN_KERNELS * kh.max(kw);
    let mut sum = Array3::<f32>::zeros((c, h, w));
    for (r, kernel) in kernels.iter().enumerate() {
        let (top, bottom, wy) = visible(&rows.regions[r / gw], (kh - 1) / 2, h);
        let (left, right, wx) = visible(&cols.regions[r % gw], (kw - 1) / 2, w);
        if top == bottom || left == right {
            continue; // a window with no pixel in the observation
        }
        // the crop: the window's support and a margin, within the image
        let (t, l) = (top.saturating_sub(margin), left.saturating_sub(margin));
        let (b, rt) = ((bottom + margin).min(h), (right + margin).min(w));
        let crop = y.clone().slice([0..1, 0..c, t..b, l..rt]);
        let x = tensor_to_array(deconv(crop, kernel)?, 0)?;
        let part = x.slice(ndarray::s![.., top - t..bottom - t, left - l..right - l]);
        let mut target = sum.slice_mut(ndarray::s![.., top..bottom, left..right]);
        for (mut plane, from) in target.outer_iter_mut().zip(part.outer_iter()) {
            for ((mut out, row), wr) in plane.outer_iter_mut().zip(from.outer_iter()).zip(&wy) {
                for ((o, &v), wc) in out.iter_mut().zip(row).zip(&wx) {
                    *o += v * (wr * wc);
                }
            }
        }
    }
    Ok(sum.mapv(|v| v.clamp(0.0, 1.0)))
}

/// How far (in kernel sizes) a region's deconvolution in [`deconv_field`] reaches beyond its
/// window's support. 3: the bench's mean as with whole-image deconvolutions (25.24 against
/// 25.23 dB), 1.76× faster read-outs on a 512² image; with 2, one case lost 0.23 dB
/// (docs/benchmarks.md).
pub const READOUT_MARGIN_KERNELS: usize = 3;

/// One case of the non-uniform benchmark: a sharp luma, the camera-motion field that blurred it
/// and the observation.
#[derive(Clone, Debug)]
pub struct FieldCase {
    /// `levin_im1`, `lai_natural_02`, ….
    pub name: String,
    /// The sharp luma `[h, w]` in [0, 1].
    pub sharp: ndarray::Array2<f32>,
    /// The true field.
    pub field: KernelField,
    /// The field's peak rotation in degrees.
    pub rotation_deg: f64,
    /// The observation: the field's blur with a symmetric extension (same size), noise, clipped
    /// and quantised to 8 bits.
    pub blurred: ndarray::Array2<f32>,
}

/// Settings of the non-uniform benchmark set.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSetConfig {
    /// Kernel side of the fields. Default: 31.
    pub kernel_size: usize,
    /// Regions. Default: 3×3.
    pub grid: [usize; 2],
    /// Largest in-plane rotation in degrees. Default: 2.
    pub max_rotation_deg: f64,
    /// Lai images are reduced (area average) so that their longer side is at most this.
    /// Default: 384.
    pub max_side: usize,
    /// Noise standard deviation. Default: 0.01.
    pub noise_std: f32,
    /// Seed of the fields and the noise. Default: 0.
    pub seed: u64,
    /// A camera response with saturation (the blur taken in linear light, as
    /// [`deblur_kernels::pairs::CameraResponse`]): blur a convolution of the observed values
    /// cannot express. The exposure gain is drawn per case; the reference image is the sharp
    /// image through the same response. Default: `None` (blur of the display values).
    pub response: Option<deblur_kernels::pairs::CameraResponse>,
    /// Also the first `count` images (by name) of this folder, e.g. `../shared/data/bsd68`,
    /// named `bsd68_NAME`. Default: `None`.
    pub bsd68: Option<(std::path::PathBuf, usize)>,
    /// A screening set instead of the evaluation images: `count` mosaics of `tiles × tiles`
    /// consecutive images of the folder (cross-faded by 30 px, as the Lai screening mosaics),
    /// named `mosaic_01`, …, for choosing settings without looking at Levin or Lai (the `bsd68`
    /// images are left out too). Default: `None`.
    pub screen: Option<(std::path::PathBuf, usize, usize)>,
}

impl Default for FieldSetConfig {
    fn default() -> Self {
        FieldSetConfig {
            kernel_size: 31,
            grid: [3, 3],
            max_rotation_deg: 2.0,
            max_side: 384,
            noise_std: 0.01,
            seed: 0,
            response: None,
            bsd68: None,
            screen: None,
        }
    }
}

/// Cross-fade (px) of the screening mosaics of [`FieldSetConfig::screen`].
const SCREEN_BLEND: usize = 30;

/// The Lai images of the non-uniform set (the Lai quick subset's four).
pub const FIELD_SET_LAI_IMAGES: [&str; 4] = crate::lai::LAI_QUICK_IMAGES;

/// Builds the non-uniform benchmark set deterministically: the four Levin ground-truth images
/// (`levin_gt/im1.png` … `im4.png`, 255²) and the four Lai sharp images of
/// [`FIELD_SET_LAI_IMAGES`] (`lai_dir/images/NAME.png`, luma, reduced to `max_side`), each blurred
/// by its own camera-motion field (shake path plus in-plane rotation,
/// [`deblur_kernels::field::camera_motion_field`], drawn from the seed and the case's name).
/// With [`FieldSetConfig::screen`], its mosaics instead. `only` keeps the named cases.
///
/// # Errors
/// Missing or unreadable images (naming the file), field and blur errors.
pub fn field_set(
    levin_gt: &std::path::Path,
    lai_dir: &std::path::Path,
    config: &FieldSetConfig,
    only: Option<&[String]>,
    device: &Device,
) -> Result<Vec<FieldCase>> {
    use rand::SeedableRng;
    let mut sources: Vec<(String, std::path::PathBuf)> = (1..=4)
        .map(|i| (format!("levin_im{i}"), levin_gt.join(format!("im{i}.png"))))
        .collect();
    sources.extend(FIELD_SET_LAI_IMAGES.iter().map(|n| {
        (
            format!("lai_{n}"),
            lai_dir.join("images").join(format!("{n}.png")),
        )
    }));
    if let Some((dir, count)) = &config.bsd68 {
        let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::setting("bsd68", format!("{}: {e}", dir.display())))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
            .collect();
        names.sort();
        sources.extend(names.into_iter().take(*count).map(|p| {
            let stem = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            (format!("bsd68_{stem}"), p)
        }));
    }
    let mut images: Vec<(String, ndarray::Array2<f32>)> = Vec::new();
    if let Some((dir, count, tiles)) = &config.screen {
        images.extend(
            crate::lai::mosaics(dir, *count, *tiles, SCREEN_BLEND)?
                .into_iter()
                .map(|m| (m.name, m.sharp)),
        );
        sources.clear();
    }
    for (name, path) in sources {
        if only.is_some_and(|o| !o.contains(&name)) {
            continue; // not loaded
        }
        let loaded = deblur_core::load_image(&path)?;
        images.push((
            name,
            deblur_core::color::luma(&loaded.pixels, YCbCrStandard::FullRange)?,
        ));
    }
    let mut cases = Vec::new();
    for (name, mut sharp) in images {
        if only.is_some_and(|o| !o.contains(&name)) {
            continue;
        }
        let (h, w) = sharp.dim();
        if h.max(w) > config.max_side {
            let scale = config.max_side as f64 / h.max(w) as f64;
            let size = [
                ((h as f64 * scale).round() as usize).max(1),
                ((w as f64 * scale).round() as usize).max(1),
            ];
            sharp = deblur_core::resample::resize_area(sharp.view(), size)?;
        }
        let (h, w) = sharp.dim();
        let case_seed = crate::lai::case_seed(config.seed, &name);
        let mut rng = rand::rngs::StdRng::seed_from_u64(case_seed);
        let motion = deblur_kernels::field::CameraMotionConfig::new(
            deblur_kernels::shake::ShakeConfig::new(config.kernel_size),
        )
        .with_max_rotation_deg(config.max_rotation_deg);
        let (field, rotation_deg, _) = deblur_kernels::field::camera_motion_field(
            &motion,
            config.grid,
            WindowShape::Tent,
            [h, w],
            &mut rng,
        )
        .map_err(|e| Error::setting("field", e.to_string()))?;
        let symmetric = Boundary::Same(deblur_core::Padding::Symmetric);
        let (sharp, blurred) = match config.response {
            None => {
                let blurred = field
                    .blur_image(
                        &sharp.clone().insert_axis(Axis(0)),
                        symmetric,
                        config.noise_std,
                        case_seed,
                        device,
                    )?
                    .index_axis(Axis(0), 0)
                    .to_owned();
                (sharp, blurred)
            }
            Some(r) => {
                use rand::Rng;
                let gain = if r.gain[1] > r.gain[0] {
                    rng.random_range(r.gain[0]..=r.gain[1])
                } else {
                    r.gain[0]
                };
                let linear = sharp.mapv(|v| v.clamp(0.0, 1.0).powf(r.gamma) * gain);
                let display = |v: f32| v.clamp(0.0, 1.0).powf(1.0 / r.gamma);
                let blurred = field
                    .blur_image(
                        &linear.clone().insert_axis(Axis(0)),
                        symmetric,
                        0.0,
                        0,
                        device,
                    )?
                    .mapv(display);
                let noisy = deblur_core::blur::add_gaussian_noise(
                    array_to_tensor(&blurred, device),
                    config.noise_std,
                    case_seed,
                )?;
                let blurred = tensor_to_array(noisy, 0)?.index_axis(Axis(0), 0).to_owned();
                (linear.mapv(display), blurred)
            }
        };
        let blurred = blurred.mapv(|v| (v.clamp(0.0, 1.0) * 255.0).round() / 255.0);
        cases.push(FieldCase {
            name,
            sharp,
            field,
            rotation_deg,
            blurred,
        });
    }
    Ok(cases)
}

/// PSNR (dB) of `estimate` against `sharp` in a band of `band` px on each side of the lines
/// half-way between neighbouring region centres (where two kernels blend equally) and in the
/// rest, after the Lai protocol's whole-pixel alignment, 15 px from the image border excluded:
/// seams show as a band well below the interior.
///
/// # Errors
/// Alignment errors (images too small or of different sizes).
pub fn seam_psnr(
    estimate: &ndarray::Array2<f32>,
    sharp: &ndarray::Array2<f32>,
    grid: [usize; 2],
    band: usize,
) -> Result<(f64, f64)> {
    let offset = crate::lai::align_integer(estimate, sharp, crate::lai::LAI_MAX_OFFSET)?;
    let moved = crate::lai::shift_integer(estimate, offset);
    let (h, w) = sharp.dim();
    let borders = |g: usize, n: usize| -> Vec<f64> {
        (0..g.saturating_sub(1))
            .map(|i| (i as f64 + 0.5) * (n as f64 - 1.0) / (g as f64 - 1.0))
            .collect()
    };
    let (rows, cols) = (borders(grid[0], h), borders(grid[1], w));
    let near = |p: usize, lines: &[f64]| lines.iter().any(|&l| (p as f64 - l).abs() <= band as f64);
    let crop = 15 + crate::lai::LAI_MAX_OFFSET;
    let (mut sb, mut nb, mut si, mut ni) = (0.0f64, 0usize, 0.0f64, 0usize);
    for y in crop..h.saturating_sub(crop) {
        for x in crop..w.saturating_sub(crop) {
            let e = f64::from(moved[[y, x]] - sharp[[y, x]]).powi(2);
            if near(y, &rows) || near(x, &cols) {
                sb += e;
                nb += 1;
            } else {
                si += e;
                ni += 1;
            }
        }
    }
    let psnr = |s: f64, n: usize| -10.0 * (s / n.max(1) as f64).max(1e-12).log10();
    Ok((psnr(sb, nb), psnr(si, ni)))
}

/// Settings of [`deconv_field_exact`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FieldDeconvConfig {
    /// Reweighting rounds (each a linear solve with the current weights). Default: 4.
    pub rounds: usize,
    /// Conjugate-gradient iterations per round. Default: 25.
    pub cg_iterations: usize,
    /// Smoothing of the weights `α (t² + ε²)^{(α−2)/2}`. Default: 0.01.
    pub epsilon: f64,
}

impl Default for FieldDeconvConfig {
    fn default() -> Self {
        FieldDeconvConfig {
            rounds: 4,
            cg_iterations: 25,
            epsilon: 0.01,
        }
    }
}

/// Horizontal and vertical forward differences `[.., h, w−1]`, `[.., h−1, w]`.
fn gradients(x: &Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let [_, _, h, w] = x.dims();
    let dx = x.clone().narrow(3, 1, w - 1) - x.clone().narrow(3, 0, w - 1);
    let dy = x.clone().narrow(2, 1, h - 1) - x.clone().narrow(2, 0, h - 1);
    (dx, dy)
}

/// The transposes of [`gradients`], summed: `Dxᵀ gx + Dyᵀ gy`.
fn gradients_adjoint(gx: Tensor<4>, gy: Tensor<4>) -> Tensor<4> {
    use burn::tensor::ops::PadMode;
    let zero = PadMode::Constant(0.0);
    // (Dᵀ r)_j = r_{j−1} − r_j with r outside its range taken as 0
    let tx = gx.clone().pad([(0, 0), (1, 0)], zero) - gx.pad([(0, 0), (0, 1)], zero);
    let ty = gy.clone().pad([(1, 0), (0, 0)], zero) - gy.pad([(0, 1), (0, 0)], zero);
    tx + ty
}

fn dot(a: &Tensor<4>, b: &Tensor<4>) -> f64 {
    let v: f32 = (a.clone() * b.clone()).sum().into_scalar();
    f64::from(v)
}

/// Non-blind deconvolution with a kernel field through the SVOLA operator itself: minimises
/// `λ/2 ‖A x − y‖² + Σ |∇x|^α` (λ and α of `nonblind`) over a latent image larger than the
/// observation by the kernel (valid blur, so nothing is assumed beyond the border), by
/// iteratively reweighted least squares: each round solves
/// `(λ AᵀA + Dᵀ W D) x = λ Aᵀ y` with `W = α (|∇x|² + ε²)^{(α−2)/2}` by conjugate gradients
/// (`A` and `Aᵀ` from one [`deblur_core::SvolaPlan`]), started from [`deconv_field`]'s blend.
/// Returns the observation's field of view, clamped to [0, 1].
///
/// # Errors
/// As [`deconv_field`]; [`Error::InvalidSetting`] for zero rounds or iterations.
pub fn deconv_field_exact(
    blurred: &Array3<f32>,
    field: &KernelField,
    nonblind: &HyperLaplacianConfig,
    config: &FieldDeconvConfig,
    device: &Device,
) -> Result<Array3<f32>> {
    if config.rounds == 0 || config.cg_iterations == 0 {
        return Err(Error::setting(
            "field deconvolution",
            "needs at least one round and one iteration",
        ));
    }
    let start = deconv_field(blurred, field, nonblind, device)?;
    let (_, h, w) = blurred.dim();
    let [kh, kw] = field.kernel_size();
    let (ph, pw) = ((kh - 1) / 2, (kw - 1) / 2);
    let mut x = deblur_core::pad::pad(
        array_to_tensor(&start, device),
        [(ph, kh - 1 - ph), (pw, kw - 1 - pw)],
        deblur_core::Padding::Symmetric,
    );
    let [_, _, lh, lw] = x.dims();
    let plan = field
        .svola(Boundary::Valid)
        .plan([lh, lw], [kh, kw], device)?;
    let kernels = field.to_tensor(device);
    let y = array_to_tensor(blurred, device);
    let lambda = nonblind.lambda;
    let alpha = nonblind.alpha;
    let normal = |v: &Tensor<4>, wx: &Tensor<4>, wy: &Tensor<4>| -> Result<Tensor<4>> {
        let data = plan.adjoint(plan.apply(v.clone(), kernels.clone())?, kernels.clone())?;
        let (gx, gy) = gradients(v);
        Ok(data * lambda + gradients_adjoint(gx * wx.clone(), gy * wy.clone()))
    };
    let rhs = plan.adjoint(y, kernels.clone())? * lambda;
    for _ in 0..config.rounds {
        let (gx, gy) = gradients(&x);
        let weight = |g: Tensor<4>| {
            (g.clone() * g + config.epsilon * config.epsilon).powf_scalar((alpha - 2.0) / 2.0)
                * alpha
        };
        let (wx, wy) = (weight(gx), weight(gy));
        let mut r = rhs.clone() - normal(&x, &wx, &wy)?;
        let mut p = r.clone();
        let mut rr = dot(&r, &r);
        for _ in 0..config.cg_iterations {
            if rr <= 0.0 {
                break;
            }
            let ap = normal(&p, &wx, &wy)?;
            let step = rr / dot(&p, &ap).max(f64::MIN_POSITIVE);
            x = x + p.clone() * step;
            r = r - ap * step;
            let next = dot(&r, &r);
            p = r.clone() + p * (next / rr);
            rr = next;
        }
    }
    let view = x.narrow(2, ph, h).narrow(3, pw, w);
    Ok(tensor_to_array(view, 0)?.mapv(|v| v.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A field whose regions all hold one kernel reads out, through the plug-and-play blend, as
    /// the uniform plug-and-play deconvolution with that kernel (the windows sum to one), and a
    /// field of two kernels does not.
    #[test]
    fn the_plug_and_play_blend_of_a_uniform_field_is_the_uniform_deconvolution() {
        use burn::module::Module;
        use deblur_priors::DenoiserConfig;
        use ndarray::Array2;
        let device = Device::default();
        let blurred = Array3::from_shape_fn((1, 40, 48), |(_, y, x)| {
            0.5 + 0.3 * ((x as f32 * 0.37).sin() * (y as f32 * 0.23).cos())
        });
        let denoiser = DenoiserConfig::new()
            .with_width(4)
            .with_depth(2)
            .init(&device)
            .valid();
        let config = PnpConfig {
            iterations: 2,
            inner_iterations: 2,
            ..PnpConfig::new(0.01)
        };
        let mut taps = Array2::<f32>::zeros((5, 5));
        (taps[[2, 1]], taps[[2, 2]], taps[[2, 3]]) = (0.25, 0.5, 0.25);
        let line = Kernel::new(taps).unwrap();
        let field = KernelField::uniform([2, 2], WindowShape::Tent, &line).unwrap();
        let blend = deconv_field_pnp(&blurred, &field, &denoiser, &config, &device).unwrap();
        let direct = pnp_deconv(
            array_to_tensor(&blurred, &device),
            line.to_tensor(&device),
            &denoiser,
            &config,
        )
        .unwrap();
        let direct = tensor_to_array(direct, 0)
            .unwrap()
            .mapv(|v| v.clamp(0.0, 1.0));
        let largest = (&blend - &direct)
            .mapv(f32::abs)
            .fold(0f32, |m, &v| m.max(v));
        assert!(largest < 1e-5, "largest difference {largest}");
        let mut other = Array2::<f32>::zeros((5, 5));
        (other[[1, 2]], other[[2, 2]], other[[3, 2]]) = (0.25, 0.5, 0.25);
        let mut kernels = vec![line.clone(); 4];
        kernels[3] = Kernel::new(other).unwrap();
        let mixed = KernelField::new([2, 2], WindowShape::Tent, kernels).unwrap();
        let blend = deconv_field_pnp(&blurred, &mixed, &denoiser, &config, &device).unwrap();
        let largest = (&blend - &direct)
            .mapv(f32::abs)
            .fold(0f32, |m, &v| m.max(v));
        assert!(largest > 1e-3, "largest difference {largest}");
    }

    /// The blend deconvolves each region's crop only: with a "deconvolution" that returns its
    /// crop unchanged the blend gives the image back (every crop lands where it came from and
    /// the windows sum to one), and with one that returns 1 for one region's kernel and 0 for
    /// the others it gives that region's window; the crops are the windows' supports widened
    /// by the margin (a 3x3 field of 5 px kernels over 120 x 90 px: a corner region sees at
    /// most (120 + 4) / 2 rows and the margin).
    #[test]
    fn the_blend_places_every_regions_crop_and_weights_it_by_its_window() {
        use ndarray::Array2;
        let device = Device::default();
        let (h, w) = (120, 90);
        let blurred = Array3::from_shape_fn((2, h, w), |(c, y, x)| {
            ((x * 7 + y * 3 + c * 11) % 17) as f32 / 16.0
        });
        let kernels: Vec<Kernel> = (0..9)
            .map(|r| {
                let mut taps = Array2::<f32>::zeros((5, 5));
                taps[[2, 2]] = 1.0;
                taps[[r / 3 + 1, r % 3 + 1]] += 1.0; // a different second tap per region
                Kernel::new(taps).unwrap()
            })
            .collect();
        let field = KernelField::new([3, 3], WindowShape::Tent, kernels.clone()).unwrap();
        let mut largest_crop = [0usize; 2];
        let same = blend_regions(&blurred, &field, &device, |y, _| {
            let [_, _, ch, cw] = y.dims();
            largest_crop = [largest_crop[0].max(ch), largest_crop[1].max(cw)];
            Ok(y)
        })
        .unwrap();
        let largest = (&same - &blurred)
            .mapv(f32::abs)
            .fold(0f32, |m, &v| m.max(v));
        assert!(largest < 1e-6, "largest difference {largest}");
        // the middle region's window covers the whole image; corner and edge crops are smaller
        assert_eq!(largest_crop, [h, w]);
        let chosen = 4usize;
        let one = blend_regions(&blurred, &field, &device, |y, k| {
            let v = if *k == kernels[chosen] { 1.0 } else { 0.0 };
            Ok(y.zeros_like().add_scalar(v))
        })
        .unwrap();
        let windows = field
            .svola(Boundary::Valid)
            .windows([h + 4, w + 4], &device)
            .unwrap()
            .narrow(0, chosen, 1)
            .narrow(2, 2, h)
            .narrow(3, 2, w);
        let window = tensor_to_array(windows, 0).unwrap();
        for c in 0..2 {
            let largest = (&one.index_axis(Axis(0), c) - &window.index_axis(Axis(0), 0))
                .mapv(f32::abs)
                .fold(0f32, |m, &v| m.max(v));
            assert!(largest < 1e-6, "channel {c}: largest difference {largest}");
        }
        // a corner region's crop: its window's support (up to the middle) and the margin
        let mut corner_crop = [0usize; 2];
        blend_regions(&blurred, &field, &device, |y, k| {
            if *k == kernels[0] {
                let [_, _, ch, cw] = y.dims();
                corner_crop = [ch, cw];
            }
            Ok(y)
        })
        .unwrap();
        // a grid so fine against the kernel that the outer windows lie in the latent's border,
        // outside the observation (1x8 regions, 15 px kernels, 20² image): they are skipped and
        // the blend still gives the image back
        let small = Array3::from_shape_fn((1, 20, 20), |(_, y, x)| ((x + 2 * y) % 5) as f32 / 4.0);
        let narrow: Vec<Kernel> = (0..8)
            .map(|r| {
                let mut taps = Array2::<f32>::zeros((15, 15));
                (taps[[7, 7]], taps[[7, r]]) = (1.0, 1.0);
                Kernel::new(taps).unwrap()
            })
            .collect();
        let fine = KernelField::new([1, 8], WindowShape::Tent, narrow).unwrap();
        let mut calls = 0;
        let back = blend_regions(&small, &fine, &device, |y, _| {
            calls += 1;
            Ok(y)
        })
        .unwrap();
        assert!(calls < 8, "{calls} regions deconvolved");
        let largest = (&back - &small).mapv(f32::abs).fold(0f32, |m, &v| m.max(v));
        assert!(largest < 1e-6, "largest difference {largest}");
        let margin = READOUT_MARGIN_KERNELS * 5;
        for (side, len) in corner_crop.into_iter().zip([h, w]) {
            assert!(
                side <= (len + 4) / 2 + margin && side > len / 2,
                "{corner_crop:?}"
            );
        }
    }

    /// `⟨D x, g⟩ = ⟨x, Dᵀ g⟩` for the difference operators of the exact field deconvolution.
    #[test]
    fn the_gradient_transpose_is_the_adjoint() {
        let device = Device::default();
        let x = Tensor::<4>::random([1, 2, 7, 9], burn::tensor::Distribution::Default, &device);
        let gx = Tensor::<4>::random([1, 2, 7, 8], burn::tensor::Distribution::Default, &device);
        let gy = Tensor::<4>::random([1, 2, 6, 9], burn::tensor::Distribution::Default, &device);
        let (dx, dy) = gradients(&x);
        let lhs = dot(&dx, &gx) + dot(&dy, &gy);
        let rhs = dot(&x, &gradients_adjoint(gx, gy));
        assert!(
            (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }
}
