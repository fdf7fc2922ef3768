//! The one-call API: [`blind`] with builder-style [`BlindOptions`].
//!
//! ```no_run
//! let image = deblur_core::load_image("blurred.png")?;
//! let result = deblur_optim::api::blind(&image.pixels, &deblur_optim::api::BlindOptions::default())?;
//! deblur_core::save_image("restored.png", &result.image, image.bit_depth)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The options say what to run (method, preset, kernel size, iterations, where to estimate the
//! kernel, colour path, seed, device, shipped weights for GLKM); [`BlindOptions::request`] turns
//! them into the [`BlindRequest`] that [`deblur_blind`] runs, after checking them, and
//! [`BlindOptions::load_models`] loads the learned models a method needs. Command-line tools
//! and batch drivers build on the same two calls.

use std::path::PathBuf;

use burn::tensor::Device;
use ndarray::Array3;

use crate::glkm::GlkmModels;
use crate::pipeline::{
    BlindMethod, BlindRequest, BlindResult, ColorPath, CropChoice, FinalPrior, ImagePrior,
    MethodKind, Preset, deblur_blind,
};
use crate::pnp::PnpConfig;
use crate::solver::{Observer, Silent};
use crate::{Error, Result};

/// The default upper bound of [`BlindOptions::auto_kernel_size`]: the largest kernel of Lai et
/// al.'s benchmark (75 px).
pub const AUTO_KERNEL_BOUND: usize = 75;

/// What [`blind`] runs. Every field has a default ([`BlindOptions::default`]: the fast CPU
/// preset, SelfDeblur with its robust coarse-to-fine path for large or noisy blur, 31 px
/// kernels, luma, seed 0, the default device); set them with the builder methods.
#[derive(Clone, Debug)]
pub struct BlindOptions {
    /// Kernel model. Default: [`MethodKind::SelfDeblur`].
    pub method: MethodKind,
    /// Image model of the DIP methods. Default: [`ImagePrior::Dip`].
    pub image_prior: ImagePrior,
    /// Speed/quality preset. Default: [`Preset::Fast`].
    pub preset: Preset,
    /// Kernel side, an upper bound of the blur's extent (GLKM: at most its generator's size,
    /// which is also its default). Default: 31.
    pub kernel_size: Option<usize>,
    /// Measure the blur's extent instead of taking `kernel_size` as given: the coarse-to-fine
    /// estimator runs at the bound (`kernel_size`, default [`AUTO_KERNEL_BOUND`], clamped to half
    /// the image's shorter side), measures its estimate's support and estimates again at that
    /// size ([`crate::l0_blind::L0BlindConfig::auto_size`]). SelfDeblur and L0 methods with the
    /// fast preset only. Default: off.
    pub auto_kernel_size: bool,
    /// Solver iterations (L0: alternations per pyramid level). Default: the preset's.
    pub iterations: Option<usize>,
    /// Side of the automatically chosen kernel-estimation window. Default: the preset's.
    pub window_side: Option<usize>,
    /// Estimate the kernel on this window `[x, y, width, height]` instead.
    pub window: Option<[usize; 4]>,
    /// Colour handling of RGB input. Default: [`ColorPath::Luma`].
    pub color: ColorPath,
    /// Seed of the networks and their inputs. Default: 0.
    pub seed: u64,
    /// Weights folder for GLKM (default: `$DEBLUR_WEIGHTS`, `./weights`, or beside the
    /// executable).
    pub weights: Option<PathBuf>,
    /// Weights variant in the manifest. Default: `shake-k31-v1`.
    pub variant: String,
    /// Kernel-space weights variant in the manifest ([`MethodKind::KernelSpace`]). Default:
    /// `compact-v1`.
    pub space_variant: String,
    /// A trained kernel space (`kernel_space.bpk` from `deblur train kernel-space`, its `.json`
    /// beside it) instead of the manifest's variant.
    pub space_model: Option<PathBuf>,
    /// The input's noise standard deviation when known ([0, 1] scale: 0.01 for 1 % noise).
    /// Default: estimated from the image (see [`BlindRequest::noise_std`]).
    pub noise_std: Option<f64>,
    /// Image prior of every final non-blind step. Default (`None`): the preset's, see
    /// [`crate::Robust::final_prior`] and [`BlindRequest::final_prior`].
    pub final_prior: Option<FinalPriorKind>,
    /// Denoiser weights variant in the manifest (plug-and-play final step). Default:
    /// [`deblur_models::weights::SHIPPED_DENOISER`].
    pub denoiser_variant: String,
    /// A trained denoiser (`denoiser.bpk` from `deblur train denoiser`, its `.json` beside it)
    /// instead of the manifest's variant.
    pub denoiser_model: Option<PathBuf>,
    /// Re-blur residual, in noise levels, above which a DIP-method estimate counts as failed and
    /// runs once more with the next seed, the result with the lower residual kept
    /// ([`crate::Restart`]); `Some(0.0)`: never. Default (`None`): the preset's (4 for the fast
    /// preset, no restart otherwise).
    pub restart_residual: Option<f64>,
    /// Full-resolution refinement rounds of a DIP method's kernel estimate before the final step
    /// ([`crate::BlindRequest::kernel_refine`], [`crate::l0_blind::KernelRefine::after_dip`]'s
    /// settings); `Some(0)`: none. Default (`None`): the preset's (5 for the fast SelfDeblur
    /// preset, none otherwise).
    pub kernel_refine_rounds: Option<usize>,
    /// Compute device. Default: [`Device::default`] (the CPU backend unless built otherwise).
    pub device: Device,
}

/// The image prior of the final non-blind step, as [`BlindOptions`] names it (the request's
/// [`FinalPrior`] carries the settings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FinalPriorKind {
    /// Hyper-Laplacian gradients, weight by the noise level.
    #[default]
    HyperLaplacian,
    /// Plug-and-play with the learned denoiser (DPIR's schedule).
    PlugAndPlay,
}

impl Default for BlindOptions {
    fn default() -> Self {
        BlindOptions {
            method: MethodKind::SelfDeblur,
            image_prior: ImagePrior::Dip,
            preset: Preset::Fast,
            kernel_size: None,
            auto_kernel_size: false,
            iterations: None,
            window_side: None,
            window: None,
            color: ColorPath::Luma,
            seed: 0,
            weights: None,
            variant: "shake-k31-v1".into(),
            space_variant: "compact-v1".into(),
            space_model: None,
            device: Device::default(),
            noise_std: None,
            final_prior: None,
            denoiser_variant: deblur_models::weights::SHIPPED_DENOISER.into(),
            denoiser_model: None,
            restart_residual: None,
            kernel_refine_rounds: None,
        }
    }
}

impl BlindOptions {
    /// Sets [`BlindOptions::method`].
    pub fn method(mut self, method: MethodKind) -> Self {
        self.method = method;
        self
    }

    /// Sets [`BlindOptions::image_prior`].
    pub fn image_prior(mut self, prior: ImagePrior) -> Self {
        self.image_prior = prior;
        self
    }

    /// Sets [`BlindOptions::preset`].
    pub fn preset(mut self, preset: Preset) -> Self {
        self.preset = preset;
        self
    }

    /// Sets [`BlindOptions::kernel_size`].
    pub fn kernel_size(mut self, side: usize) -> Self {
        self.kernel_size = Some(side);
        self
    }

    /// Sets [`BlindOptions::auto_kernel_size`]: the kernel size becomes an upper bound and the
    /// blur's extent is measured.
    pub fn auto_kernel_size(mut self) -> Self {
        self.auto_kernel_size = true;
        self
    }

    /// Sets [`BlindOptions::iterations`].
    pub fn iterations(mut self, iterations: usize) -> Self {
        self.iterations = Some(iterations);
        self
    }

    /// Sets [`BlindOptions::noise_std`].
    pub fn noise_std(mut self, std: f64) -> Self {
        self.noise_std = Some(std);
        self
    }

    /// Sets [`BlindOptions::kernel_refine_rounds`] (0: no refinement).
    pub fn kernel_refine_rounds(mut self, rounds: usize) -> Self {
        self.kernel_refine_rounds = Some(rounds);
        self
    }

    /// Sets [`BlindOptions::window_side`].
    pub fn window_side(mut self, side: usize) -> Self {
        self.window_side = Some(side);
        self
    }

    /// Sets [`BlindOptions::window`].
    pub fn window(mut self, window: [usize; 4]) -> Self {
        self.window = Some(window);
        self
    }

    /// Sets [`BlindOptions::color`].
    pub fn color(mut self, color: ColorPath) -> Self {
        self.color = color;
        self
    }

    /// Sets [`BlindOptions::seed`].
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`BlindOptions::weights`].
    pub fn weights(mut self, dir: impl Into<PathBuf>) -> Self {
        self.weights = Some(dir.into());
        self
    }

    /// Sets [`BlindOptions::variant`].
    pub fn variant(mut self, variant: impl Into<String>) -> Self {
        self.variant = variant.into();
        self
    }

    /// Sets [`BlindOptions::space_variant`].
    pub fn space_variant(mut self, variant: impl Into<String>) -> Self {
        self.space_variant = variant.into();
        self
    }

    /// Sets [`BlindOptions::final_prior`].
    pub fn final_prior(mut self, prior: FinalPriorKind) -> Self {
        self.final_prior = Some(prior);
        self
    }

    /// Sets [`BlindOptions::denoiser_model`].
    pub fn denoiser_model(mut self, path: impl Into<PathBuf>) -> Self {
        self.denoiser_model = Some(path.into());
        self
    }

    /// Sets [`BlindOptions::device`].
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// The learned models the method needs (GLKM: the shipped generator and, when the manifest
    /// has one, its initializer), or `None`.
    ///
    /// # Errors
    /// [`Error::MissingModels`] when no weights folder is found, [`Error::Models`] naming the
    /// file that is missing or damaged.
    pub fn load_models(&self) -> Result<Option<GlkmModels>> {
        if self.method != MethodKind::Glkm {
            return Ok(None);
        }
        use burn::module::Module;
        use deblur_models::weights;
        let dir = self
            .weights
            .clone()
            .or_else(weights::find_weights_dir)
            .ok_or(crate::error::MISSING_GLKM)?;
        let generator = weights::load_generator(&dir, &self.variant, &self.device)?.valid();
        let has_initializer = weights::Manifest::read(&dir)?
            .entry(weights::ModelFamily::KernelInitializer, &self.variant)
            .is_ok();
        let initializer = if has_initializer {
            Some(weights::load_initializer(&dir, &self.variant, &self.device)?.valid())
        } else {
            None
        };
        Ok(Some(GlkmModels {
            generator,
            initializer,
        }))
    }

    /// The kernel-space model (F and G) the method needs ([`MethodKind::KernelSpace`]), or
    /// `None` for the other methods.
    ///
    /// # Errors
    /// [`Error::MissingModels`] when no weights folder is found, [`Error::Models`] naming the
    /// file that is missing or damaged.
    pub fn load_kernel_space(&self) -> Result<Option<deblur_models::KernelSpace>> {
        if self.method != MethodKind::KernelSpace {
            return Ok(None);
        }
        use burn::module::Module;
        let model = deblur_models::weights::load_kernel_space_from(
            self.space_model.as_deref(),
            self.weights.as_deref(),
            &self.space_variant,
            &self.device,
        )?;
        Ok(Some(model.valid()))
    }

    /// The learned denoiser `request` may use ([`BlindRequest::wants_denoiser`]: a plug-and-play
    /// final step or the coarse-to-fine path's kernel refinement): `None` when nothing would use
    /// one, and also when only the preset's coarse-to-fine path would and no weights folder is
    /// found (its final step is then hyper-Laplacian, as [`BlindResult::final_prior`] reports,
    /// and its estimate is not refined).
    ///
    /// # Errors
    /// [`Error::Models`] naming the file that is missing or damaged, or no weights folder for
    /// a plug-and-play step asked for.
    pub fn load_denoiser(&self, request: &BlindRequest) -> Result<Option<deblur_priors::Denoiser>> {
        let asked = matches!(request.final_prior, Some(FinalPrior::PlugAndPlay(_)));
        if !asked && !request.wants_denoiser() {
            return Ok(None);
        }
        use burn::module::Module;
        use deblur_models::weights::{find_denoiser, load_denoiser_from};
        let (file, dir) = (self.denoiser_model.as_deref(), self.weights.as_deref());
        let model = if asked {
            Some(load_denoiser_from(
                file,
                dir,
                &self.denoiser_variant,
                &self.device,
            )?)
        } else {
            find_denoiser(file, dir, &self.denoiser_variant, &self.device)?
        };
        Ok(model.map(|m| m.valid()))
    }

    /// The checked request these options describe; `models` are GLKM's (their kernel size is
    /// the method's).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the option that is out of range,
    /// [`Error::MissingModels`] for GLKM without `models`.
    pub fn request(&self, models: Option<&GlkmModels>) -> Result<BlindRequest> {
        let bad = |setting, rule: String| Err(Error::setting(setting, rule));
        if self.iterations == Some(0) {
            return bad("iterations", "must be at least 1".into());
        }
        if self.window_side == Some(0) {
            return bad("window side", "must be at least 1".into());
        }
        let k = match (self.method, models) {
            (MethodKind::Glkm, None) => return Err(crate::error::MISSING_GLKM),
            (MethodKind::Glkm, Some(models)) => {
                let k = models.kernel_size();
                if let Some(asked) = self.kernel_size
                    && asked > k
                {
                    return bad(
                        "kernel size",
                        format!(
                            "{asked}: the GLKM generator makes {k}x{k} kernels; use the \
                             SelfDeblur method for larger blur"
                        ),
                    );
                }
                k
            }
            _ if self.auto_kernel_size => self.kernel_size.unwrap_or(AUTO_KERNEL_BOUND),
            _ => self.kernel_size.unwrap_or(31),
        };
        if k < 3 {
            return bad("kernel size", format!("{k} is too small; use 3 or more"));
        }
        let mut request = BlindRequest::preset(self.method, self.preset, k, self.iterations)
            .with_image_prior(self.image_prior)?;
        request.method = request.method.with_seed(self.seed);
        if self.auto_kernel_size {
            match (&mut request.method, request.robust.as_mut()) {
                (BlindMethod::L0(c), _) => c.auto_size = true,
                (_, Some(robust)) if self.method == MethodKind::SelfDeblur => {
                    robust.estimator.auto_size = true;
                }
                _ => {
                    return bad(
                        "kernel size",
                        "automatic sizing measures the blur with the coarse-to-fine estimator: \
                         use the SelfDeblur or L0 method with the fast preset, or give a size"
                            .into(),
                    );
                }
            }
        }
        request.color = self.color;
        request.noise_std = self.noise_std;
        request.final_prior = self.final_prior.map(|kind| match kind {
            FinalPriorKind::PlugAndPlay => FinalPrior::PlugAndPlay(PnpConfig::blind()),
            FinalPriorKind::HyperLaplacian => FinalPrior::HyperLaplacian,
        });
        if let Some(side) = self.window_side {
            request.crop = CropChoice::Auto { side };
        }
        if let Some(window) = self.window {
            request.crop = CropChoice::Window(window);
        }
        match self.restart_residual {
            Some(0.0) => request.restart = None,
            Some(above_residual) => request.restart = Some(crate::Restart { above_residual }),
            None => {}
        }
        match self.kernel_refine_rounds {
            Some(0) => request.kernel_refine = None,
            Some(rounds) => {
                request.kernel_refine = Some(crate::l0_blind::KernelRefine {
                    rounds,
                    ..crate::l0_blind::KernelRefine::after_dip()
                });
            }
            None => {}
        }
        request.validate()?;
        Ok(request)
    }
}

/// Blind deblurring of `image` (`[c, h, w]`, c = 1 or 3, values in [0, 1]) with `options`: loads
/// what the method needs, sets the allocator up for tensor work
/// ([`deblur_core::retain_freed_memory`]), and runs [`deblur_blind`].
///
/// # Errors
/// Bad options ([`BlindOptions::request`]), missing weights, and the pipeline's errors (bad
/// pixels, an image smaller than the kernel).
pub fn blind(image: &Array3<f32>, options: &BlindOptions) -> Result<BlindResult> {
    blind_observed(image, options, &mut Silent)
}

/// [`blind`] reporting progress (and, on request, snapshots) to `observer`.
///
/// # Errors
/// As [`blind`].
pub fn blind_observed(
    image: &Array3<f32>,
    options: &BlindOptions,
    observer: &mut dyn Observer,
) -> Result<BlindResult> {
    deblur_core::retain_freed_memory();
    let models = options.load_models()?;
    let space = options.load_kernel_space()?;
    let request = options.request(models.as_ref())?;
    let denoiser = options.load_denoiser(&request)?;
    deblur_blind(
        image,
        &request,
        crate::Resources::glkm(models.as_ref())
            .with_kernel_space(space.as_ref())
            .with_denoiser(denoiser.as_ref()),
        &options.device,
        observer,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_build_the_preset_request_and_refuse_bad_values() {
        let request = BlindOptions::default().request(None).unwrap();
        assert_eq!(
            request,
            BlindRequest::preset(MethodKind::SelfDeblur, Preset::Fast, 31, None)
        );
        let request = BlindOptions::default()
            .preset(Preset::Quick)
            .kernel_size(15)
            .iterations(7)
            .seed(4)
            .window([0, 0, 64, 64])
            .request(None)
            .unwrap();
        let mut expected = BlindRequest::preset(MethodKind::SelfDeblur, Preset::Quick, 15, Some(7));
        expected.method = expected.method.with_seed(4);
        expected.crop = CropChoice::Window([0, 0, 64, 64]);
        assert_eq!(request, expected);
        let message = |o: BlindOptions| o.request(None).unwrap_err().to_string();
        assert!(message(BlindOptions::default().iterations(0)).contains("iterations"));
        assert!(message(BlindOptions::default().kernel_size(2)).contains("too small"));
        let auto = BlindOptions::default().auto_kernel_size();
        assert!(message(auto.clone().preset(Preset::Quick)).contains("automatic sizing"));
        assert!(message(auto.clone().method(MethodKind::KernelSpace)).contains("automatic sizing"));
        let request = auto.request(None).unwrap();
        assert!(request.robust.is_some_and(|r| r.estimator.auto_size));
        assert_eq!(request.method.kernel_side(), Some(AUTO_KERNEL_BOUND));
        assert!(message(BlindOptions::default().window_side(0)).contains("window"));
        for bad in [0.0, -0.01, 0.5, f64::NAN, f64::INFINITY] {
            assert!(
                message(BlindOptions::default().noise_std(bad)).contains("noise std"),
                "{bad}"
            );
        }
        let known = BlindOptions::default()
            .noise_std(0.02)
            .request(None)
            .unwrap();
        assert_eq!(known.noise_std, Some(0.02));
        assert!(message(BlindOptions::default().method(MethodKind::Glkm)).contains("GLKM"));
    }

    #[test]
    fn only_the_fast_selfdeblur_preset_refines_its_kernel_by_default() {
        use crate::l0_blind::KernelRefine;
        let fast = BlindRequest::preset(MethodKind::SelfDeblur, Preset::Fast, 31, None);
        assert_eq!(fast.kernel_refine, Some(KernelRefine::after_dip()));
        for (method, preset) in [
            (MethodKind::SelfDeblur, Preset::Quick),
            (MethodKind::SelfDeblur, Preset::Paper),
            (MethodKind::Glkm, Preset::Fast),
            (MethodKind::L0, Preset::Fast),
            (MethodKind::KernelSpace, Preset::Fast),
        ] {
            let request = BlindRequest::preset(method, preset, 31, None);
            assert_eq!(request.kernel_refine, None, "{method:?} {preset:?}");
        }
        let vdip = BlindOptions::default()
            .image_prior(ImagePrior::Vdip(crate::VdipVariant::Sparse))
            .request(None)
            .unwrap();
        assert_eq!(vdip.kernel_refine, None);
        let off = BlindOptions::default()
            .kernel_refine_rounds(0)
            .request(None)
            .unwrap();
        assert_eq!(off.kernel_refine, None);
        let five = BlindOptions::default()
            .preset(Preset::Quick)
            .kernel_refine_rounds(5)
            .request(None)
            .unwrap();
        assert_eq!(
            five.kernel_refine.map(|r| (r.rounds, r.guard, r.smoothing)),
            Some((5, false, 0.0))
        );
        let error = BlindOptions::default()
            .kernel_refine_rounds(crate::l0_blind::MAX_ALTERNATIONS + 1)
            .request(None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("kernel refinement"), "{error}");
    }

    #[test]
    fn one_call_equals_the_pipeline_with_the_preset_request() {
        // a 40² crop of a smooth ramp with a bar, blurred by a 5 px line: the plumbing, not quality
        let device = Device::default();
        let mut sharp =
            Array3::<f32>::from_shape_fn((1, 40, 40), |(_, r, c)| (r + c) as f32 / 80.0);
        sharp.slice_mut(ndarray::s![.., 15..25, 10..30]).fill(0.9);
        let options = BlindOptions::default()
            .preset(Preset::Quick)
            .kernel_size(5)
            .iterations(3)
            .seed(2);
        let one = blind(&sharp, &options).unwrap();
        let request = options.request(None).unwrap();
        let two = deblur_blind(
            &sharp,
            &request,
            crate::Resources::none(),
            &device,
            &mut Silent,
        )
        .unwrap();
        assert_eq!(one.image, two.image);
        assert_eq!(one.kernel.values(), two.kernel.values());
    }
}
