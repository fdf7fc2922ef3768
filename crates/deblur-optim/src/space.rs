//! Blind deblurring through the encoded blur-kernel space (Tran et al., CVPR 2021, Algorithm 1;
//! reference spec §3.7): the trained blur operator F(x, k) of [`deblur_models::kernel_space`] is
//! the solver's blur model ([`SpaceBlur`]) and the kernel code k its kernel model — a code
//! optimised directly ([`CodeKernel`]) or produced by a small network on fixed noise
//! ([`CodeDip`], as the reference's KernelDIP) — in the same loop as the MLP and the GAN kernel
//! prior ([`crate::method`]).
//!
//! Every part of the operator is learned, so it can express blur a convolution cannot (a camera
//! response, saturation, blur that varies over the image — one code per 128² cell). The image
//! model, the schedule and the penalties are the solver's: \[BKS\]'s loss without its VGG term
//! (ImageNet weights cannot be shipped) is the data term (Charbonnier, then 1 − SSIM) +
//! `γ·HL(x)` + `λ‖k‖₂`.
//!
//! The latent image has the observation's size (F keeps the size; sides that are not multiples
//! of 128 are extended by reflection inside F and cropped back). The code starts at G(y, y), the
//! code of "no blur" for the observation, unless told otherwise.

use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::optim::ModuleOptimizer;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Gradients, Tensor};
use deblur_models::KernelSpace;
use deblur_models::kernel_space::{MIN_SIDE, SIDE_MULTIPLE};
use serde::{Deserialize, Serialize};

use crate::models::{FixedKernel, KernelModel, PixelImage, adam, step_module};
use crate::solver::{BlurModel, ImagePenalty, Silent, SolverConfig, solve};
use crate::{Error, Result};

/// F(x, k) as a blur model: the trained operator, frozen, on the autodiff device. The kernel
/// model's output is the code `[1, code_channels, ⌈H/128⌉, ⌈W/128⌉]`.
pub struct SpaceBlur {
    model: KernelSpace,
}

impl SpaceBlur {
    /// The frozen operator of `model` on the autodiff version of `device`.
    pub fn new(model: &KernelSpace, device: &Device) -> Self {
        SpaceBlur {
            model: model.clone().fork(&device.clone().autodiff()).freeze(),
        }
    }
}

impl BlurModel for SpaceBlur {
    fn predict(&self, latent: Tensor<4>, code: Tensor<4>) -> Result<Tensor<4>> {
        Ok(self.model.blur_with(latent, code)?)
    }

    fn latent_size(&self, observed: [usize; 2], _kernel: [usize; 2]) -> [usize; 2] {
        observed
    }

    fn crop_latent(&self, latent: Tensor<4>, _kernel: [usize; 2]) -> Tensor<4> {
        latent
    }
}

/// Checks that `model` can take an observation of `channels × size`.
///
/// # Errors
/// [`Error::InvalidSetting`] naming the image and what the model needs.
pub fn check_space_input(model: &KernelSpace, channels: usize, size: [usize; 2]) -> Result<()> {
    if channels != model.channels() {
        return Err(Error::setting(
            "kernel space",
            format!(
                "the image has {channels} channel(s) and the kernel-space model takes {} \
                 (1: grey or the luma path, 3: RGB)",
                model.channels()
            ),
        ));
    }
    if size[0] < MIN_SIDE || size[1] < MIN_SIDE {
        return Err(Error::setting(
            "kernel space",
            format!(
                "the {}x{} image is too small for the kernel-space model; both sides must be at \
                 least {MIN_SIDE} px",
                size[1], size[0]
            ),
        ));
    }
    Ok(())
}

/// Where the kernel code starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CodeStart {
    /// G(y, y): the extractor's code for the observation paired with itself, i.e. "no blur".
    Identity,
    /// All zeros.
    Zero,
}

/// What produces the kernel code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CodeGenerator {
    /// The code's entries are the parameters.
    Direct,
    /// A small convolutional network on fixed noise (the reference's KernelDIP, narrowed): its
    /// output is fitted to the start code for `warmup` steps before the loop.
    Dip {
        /// Channels of its hidden layers.
        width: usize,
        /// Adam steps fitting its output to the start code.
        warmup: usize,
        /// Seed of its weights and fixed input.
        seed: u64,
    },
}

/// The start code for `observation` (`[1, c, h, w]`): on the extended grid
/// `⌈h/128⌉ × ⌈w/128⌉`, detached, on the observation's device (no autodiff).
///
/// # Errors
/// The model's input errors (channels, tiny images).
pub fn start_code(
    model: &KernelSpace,
    observation: &Tensor<4>,
    start: CodeStart,
) -> Result<Tensor<4>> {
    let [_, c, h, w] = observation.dims();
    check_space_input(model, c, [h, w])?;
    let y = observation.clone().detach();
    let device = y.device();
    let local = model.clone().fork(&device);
    Ok(match start {
        CodeStart::Identity => local.extract_code(y.clone(), y)?.mean.detach(),
        CodeStart::Zero => Tensor::zeros(
            [
                1,
                model.code_channels(),
                h.div_ceil(SIDE_MULTIPLE),
                w.div_ceil(SIDE_MULTIPLE),
            ],
            &device,
        ),
    })
}

/// `weight · ‖k‖₂` (the Euclidean norm of the whole code, not squared: \[BKS\] §3.7).
fn code_norm(code: Tensor<4>, weight: f64) -> Tensor<1> {
    (code.square().sum() + 1e-12).sqrt() * weight
}

/// The code's entries as parameters.
#[derive(Module, Debug)]
pub struct CodeParams {
    /// The code, `[1, code_channels, gh, gw]`.
    pub code: Param<Tensor<4>>,
}

/// A kernel code optimised directly by Adam, with `λ‖k‖₂` as its own penalty.
pub struct CodeKernel {
    params: CodeParams,
    optim: ModuleOptimizer,
    last: Option<Tensor<4>>,
    norm_weight: f64,
}

impl CodeKernel {
    /// Starts at `start` (moved to the autodiff `device`).
    pub fn new(start: Tensor<4>, norm_weight: f64, device: &Device) -> Self {
        let code = Param::from_tensor(start.to_device(device).autodiff().detach().require_grad());
        CodeKernel {
            params: CodeParams { code },
            optim: adam(),
            last: None,
            norm_weight,
        }
    }
}

impl KernelModel for CodeKernel {
    fn forward(&mut self, _step: usize) -> Tensor<4> {
        let code = self.params.code.val();
        self.last = Some(code.clone());
        code
    }

    fn update(&mut self, grads: &mut Gradients, lr: f64) {
        self.params = step_module(&mut self.optim, &self.params, grads, lr);
    }

    fn kernel(&self) -> Tensor<4> {
        self.params.code.val().detach()
    }

    fn size(&self) -> [usize; 2] {
        let [_, _, gh, gw] = self.params.code.dims();
        [gh, gw]
    }

    fn penalty(&self) -> Option<Tensor<1>> {
        (self.norm_weight > 0.0)
            .then(|| self.last.clone().map(|k| code_norm(k, self.norm_weight)))
            .flatten()
    }
}

/// The small code network: 3×3 convolutions, stride 2 twice, ReLU, then a 1×1 convolution to the
/// code's channels; input `[1, width, 4·gh, 4·gw]`.
#[derive(Module, Debug)]
pub struct CodeNet {
    first: Conv2d,
    second: Conv2d,
    out: Conv2d,
}

impl CodeNet {
    fn new(width: usize, code_channels: usize, device: &Device) -> Self {
        let strided = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        CodeNet {
            first: strided(width, width),
            second: strided(width, width),
            out: Conv2dConfig::new([width, code_channels], [1, 1]).init(device),
        }
    }

    fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let h = relu(self.first.forward(z));
        let h = relu(self.second.forward(h));
        self.out.forward(h)
    }
}

/// The kernel code produced by [`CodeNet`] on fixed noise, with `λ‖k‖₂` as its own penalty.
pub struct CodeDip {
    net: CodeNet,
    input: Tensor<4>,
    optim: ModuleOptimizer,
    last: Option<Tensor<4>>,
    norm_weight: f64,
}

impl CodeDip {
    /// A network of `width` channels whose output is fitted to `start` (`[1, C, gh, gw]`) by
    /// `warmup` Adam steps of rate 1e-3 (the reference's k warm-up), on the autodiff `device`;
    /// weights and input from `seed`.
    pub fn new(
        start: Tensor<4>,
        width: usize,
        warmup: usize,
        seed: u64,
        norm_weight: f64,
        device: &Device,
    ) -> Self {
        let device = device.clone().autodiff();
        let [_, c, gh, gw] = start.dims();
        device.seed(seed);
        let net = CodeNet::new(width.max(1), c, &device);
        // the reference's fixed input: U[0, 1) · 0.1
        let input = Tensor::<4>::random(
            [1, width.max(1), 4 * gh, 4 * gw],
            Distribution::Uniform(0.0, 0.1),
            &device,
        )
        .detach();
        let target = start.to_device(&device).detach();
        let mut model = CodeDip {
            net,
            input,
            optim: adam(),
            last: None,
            norm_weight,
        };
        for _ in 0..warmup {
            let loss = (model.net.forward(model.input.clone()) - target.clone())
                .square()
                .mean();
            let mut grads = loss.backward();
            model.net = step_module(&mut model.optim, &model.net, &mut grads, 1e-3);
        }
        model
    }
}

impl KernelModel for CodeDip {
    fn forward(&mut self, _step: usize) -> Tensor<4> {
        let code = self.net.forward(self.input.clone());
        self.last = Some(code.clone());
        code
    }

    fn update(&mut self, grads: &mut Gradients, lr: f64) {
        self.net = step_module(&mut self.optim, &self.net, grads, lr);
    }

    fn kernel(&self) -> Tensor<4> {
        match &self.last {
            Some(k) => k.clone().detach(),
            None => self.net.forward(self.input.clone()).detach(),
        }
    }

    fn size(&self) -> [usize; 2] {
        let [_, _, h, w] = self.input.dims();
        [h / 4, w / 4]
    }

    fn penalty(&self) -> Option<Tensor<1>> {
        (self.norm_weight > 0.0)
            .then(|| self.last.clone().map(|k| code_norm(k, self.norm_weight)))
            .flatten()
    }
}

/// The response of F to a point with `code` (applied uniformly): F(b + δ) − F(b) on a grey
/// canvas b = 0.5 with a point of +0.5 at its centre, the central `side`² taps, negative taps
/// zeroed, normalised. F is not linear, so this is a picture of the blur near mid-grey, not an
/// exact kernel. `side` is odd. Returns `None` when the response is zero everywhere.
///
/// # Errors
/// The model's input errors.
pub fn point_response(
    model: &KernelSpace,
    code: &Tensor<4>,
    side: usize,
) -> Result<Option<deblur_core::Kernel>> {
    let device = code.device();
    let local = model.clone().fork(&device);
    let n = SIDE_MULTIPLE.max(2 * side);
    let c = model.channels();
    let base = Tensor::<4>::full([1, c, n, n], 0.5, &device);
    let point = base.clone().slice_assign(
        [0..1, 0..c, n / 2..n / 2 + 1, n / 2..n / 2 + 1],
        Tensor::full([1, c, 1, 1], 1.0, &device),
    );
    let code = code.clone().detach();
    let both = Tensor::cat(vec![point, base], 0);
    let codes = Tensor::cat(vec![code.clone(), code], 0);
    let out = local.blur_with(both, codes)?;
    let diff = (out.clone().narrow(0, 0, 1) - out.narrow(0, 1, 1))
        .mean_dim(1)
        .narrow(2, n / 2 - side / 2, side)
        .narrow(3, n / 2 - side / 2, side);
    let values: Vec<f32> = diff.into_data().convert::<f32>().try_into_vec()?;
    let mut taps = ndarray::Array2::from_shape_vec((side, side), values)
        .map_err(|e| Error::setting("point response", e.to_string()))?;
    taps.mapv_inplace(|v| if v.is_finite() { v.max(0.0) } else { 0.0 });
    if taps.sum() <= 0.0 {
        return Ok(None);
    }
    Ok(deblur_core::Kernel::new(taps).ok())
}

/// Non-blind read-out through F: the pixels of the latent image, started at the observation and
/// fitted for `steps` Adam steps of rate `lr` to `F(x, code) ≈ y` (MSE) + `weight · mean HL(x)`
/// (α = 2/3), with `code` fixed (a code from a window is averaged and applied uniformly by F).
/// This is how an estimate from a window is applied to the whole image: F has no inverse, so the
/// image is fitted through it.
///
/// # Errors
/// The model's input errors, [`Error::NonFinite`].
pub fn read_out(
    model: &KernelSpace,
    observation: Tensor<4>,
    code: Tensor<4>,
    steps: usize,
    lr: f64,
    weight: f64,
) -> Result<Tensor<4>> {
    let [_, c, h, w] = observation.dims();
    check_space_input(model, c, [h, w])?;
    let device = observation.device().autodiff();
    let blur = SpaceBlur::new(model, &device);
    let mut image = PixelImage::new(observation.clone(), &device);
    let mut kernel = FixedKernel::new(code.to_device(&device).autodiff().detach());
    let config = SolverConfig::constant(steps.max(1), lr, 0.0)
        .with_image_penalty(ImagePenalty::HyperLaplacian { alpha: 2.0 / 3.0 }, weight);
    let out = solve(
        observation,
        &mut image,
        &mut kernel,
        &blur,
        &config,
        &mut Silent,
    )?;
    Ok(out.image.inner().clamp(0.0, 1.0))
}

/// Settings of blind deblurring through the encoded kernel space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpaceDeblurConfig {
    /// The DIP image model (its output channels follow the observation).
    pub image: crate::dip_blind::DipImageConfig,
    /// Where the code starts. Default: [`CodeStart::Identity`].
    pub start: CodeStart,
    /// How the code is produced. Default: [`CodeGenerator::Direct`].
    pub generator: CodeGenerator,
    /// Weight of `‖k‖₂`. Reference: 5e-5.
    pub norm_weight: f64,
    /// The loop: steps, learning rates, data term, the hyper-Laplacian image penalty.
    pub solver: SolverConfig,
}

impl SpaceDeblurConfig {
    /// \[BKS\]'s generic-deblurring settings without the VGG term: 5000 joint steps, image and
    /// code learning rates 5e-4 scaled by 0.7 every 1000 steps, the first 300 steps for the
    /// image alone (the code held at its start), Charbonnier then 1 − SSIM from step 2500,
    /// `0.02 · mean HL(x)` (α = 0.66) and `5e-5 · ‖k‖₂`, the reference DIP.
    pub fn paper() -> Self {
        let decay = |base| crate::schedule::MultiStepLr {
            base,
            milestones: vec![1000, 2000, 3000, 4000],
            gamma: 0.7,
        };
        let solver = SolverConfig::constant(5000, 5e-4, 5e-4)
            .with_image_lr(decay(5e-4))
            .with_kernel_lr(decay(5e-4))
            .with_loss(crate::schedule::LossSchedule {
                ssim_from: Some(2500),
                charbonnier: true,
            })
            .with_image_penalty(ImagePenalty::HyperLaplacian { alpha: 0.66 }, 0.02)
            .with_kernel_warmup(300);
        SpaceDeblurConfig {
            image: crate::dip_blind::DipImageConfig::paper(),
            start: CodeStart::Identity,
            generator: CodeGenerator::Direct,
            norm_weight: 5e-5,
            solver,
        }
    }

    /// The same settings over `iterations` steps (milestones, the loss switch and the warm-up
    /// scale with it).
    pub fn with_iterations(mut self, iterations: usize) -> Self {
        self.solver = self.solver.with_iterations(iterations);
        self
    }

    /// The method as parts: the DIP, the code and F.
    pub fn method(&self) -> crate::method::ComposedMethod {
        crate::method::ComposedMethod {
            image: crate::method::ImagePart::Dip(self.image.clone()),
            kernel: crate::method::KernelPart::Code {
                start: self.start,
                generator: self.generator,
                norm_weight: self.norm_weight,
            },
            blur: crate::method::BlurPart::KernelSpace,
            solver: self.solver.clone(),
        }
    }
}

impl From<SpaceDeblurConfig> for crate::pipeline::BlindMethod {
    fn from(config: SpaceDeblurConfig) -> Self {
        crate::pipeline::BlindMethod::Composed(Box::new(config.method()))
    }
}
