//! The pluggable parts of the solver loop: image models and kernel models. Each owns its
//! parameters and its Adam optimiser, so a solver can combine any image model with any kernel
//! model (the GLKM kernel prior and the encoded-space models plug in the same way).

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Gradients, Tensor};
use deblur_priors::{Dip, DipConfig, KernelMlp, KernelMlpConfig};

/// Produces the latent sharp image from its parameters.
pub trait ImageModel: Send {
    /// The latent image for `step`, `[1, c, h, w]`, tracked by autodiff.
    fn forward(&mut self, step: usize) -> Tensor<4>;
    /// Applies the gradients of this model's parameters with learning rate `lr`.
    fn update(&mut self, grads: &mut Gradients, lr: f64);
    /// The latent image of the last forward pass, detached.
    fn latent(&self) -> Tensor<4>;
    /// A term the model adds to the loss after its forward pass (a variational model's KL
    /// divergence, say), tracked by autodiff; `None` (the default) for none.
    fn penalty(&self) -> Option<Tensor<1>> {
        None
    }
}

/// Produces the blur kernel from its parameters.
pub trait KernelModel: Send {
    /// The kernel for `step`, `[1, 1, kh, kw]` (or one per channel), tracked by autodiff.
    fn forward(&mut self, step: usize) -> Tensor<4>;
    /// Applies the gradients of this model's parameters with learning rate `lr`.
    fn update(&mut self, grads: &mut Gradients, lr: f64);
    /// The kernel of the last forward pass, detached.
    fn kernel(&self) -> Tensor<4>;
    /// Kernel `[kh, kw]`.
    fn size(&self) -> [usize; 2];
    /// A term the model adds to the loss after its forward pass, tracked by autodiff; `None`
    /// (the default) for none.
    fn penalty(&self) -> Option<Tensor<1>> {
        None
    }
}

pub(crate) fn adam() -> ModuleOptimizer {
    AdamConfig::new().with_epsilon(1e-8).init()
}

/// One optimiser step of `module` with the gradients of its own parameters.
pub fn step_module<M: Module>(
    optim: &mut ModuleOptimizer,
    module: &M,
    grads: &mut Gradients,
    lr: f64,
) -> M {
    let params = GradientsParams::from_module(grads, module);
    optim.step(lr, module.clone(), params)
}

/// The deep image prior: a [`Dip`] network on fixed noise, perturbed each step by
/// `reg_noise_std · N(0, I)` (\[DIP\]'s input-noise regularisation; `reg_noise_std` in \[SD\]'s
/// scripts).
pub struct DipImage {
    net: Dip,
    input: Tensor<4>,
    reg_noise_std: f64,
    optim: ModuleOptimizer,
    last: Option<Tensor<4>>,
}

impl DipImage {
    /// A network from `config` on an autodiff `device`, with input noise of `size` from `seed`.
    pub fn new(
        config: &DipConfig,
        size: [usize; 2],
        reg_noise_std: f64,
        seed: u64,
        device: &Device,
    ) -> Self {
        let net = config.init(device);
        let input = net.input_noise(size, seed, device);
        DipImage {
            net,
            input,
            reg_noise_std,
            optim: adam(),
            last: None,
        }
    }

    /// The network.
    pub fn net(&self) -> &Dip {
        &self.net
    }
}

impl ImageModel for DipImage {
    fn forward(&mut self, _step: usize) -> Tensor<4> {
        let input = if self.reg_noise_std > 0.0 {
            let noise = Tensor::random(
                self.input.shape(),
                Distribution::Normal(0.0, self.reg_noise_std),
                &self.input.device(),
            );
            self.input.clone() + noise
        } else {
            self.input.clone()
        };
        let out = self.net.forward(input);
        self.last = Some(out.clone().detach());
        out
    }

    fn update(&mut self, grads: &mut Gradients, lr: f64) {
        self.net = step_module(&mut self.optim, &self.net, grads, lr);
    }

    fn latent(&self) -> Tensor<4> {
        self.last
            .clone()
            .unwrap_or_else(|| self.net.forward(self.input.clone()).detach())
    }
}

/// A free image: the pixels themselves are the parameters (with a penalty as the prior).
#[derive(Module, Debug)]
pub struct PixelParams {
    /// The pixels, `[1, c, h, w]`.
    pub pixels: Param<Tensor<4>>,
}

/// Plain-pixel image model, initialised from a given image.
pub struct PixelImage {
    params: PixelParams,
    optim: ModuleOptimizer,
}

impl PixelImage {
    /// Starts from `init` (moved to the autodiff `device`).
    pub fn new(init: Tensor<4>, device: &Device) -> Self {
        let pixels = Param::from_tensor(init.to_device(device).autodiff().detach().require_grad());
        PixelImage {
            params: PixelParams { pixels },
            optim: adam(),
        }
    }
}

impl ImageModel for PixelImage {
    fn forward(&mut self, _step: usize) -> Tensor<4> {
        self.params.pixels.val()
    }

    fn update(&mut self, grads: &mut Gradients, lr: f64) {
        self.params = step_module(&mut self.optim, &self.params, grads, lr);
    }

    fn latent(&self) -> Tensor<4> {
        self.params.pixels.val().detach()
    }
}

/// The SelfDeblur kernel model: a [`KernelMlp`] on a fixed noise vector (no perturbation).
pub struct MlpKernel {
    net: KernelMlp,
    input: Tensor<2>,
    optim: ModuleOptimizer,
    size: [usize; 2],
    last: Option<Tensor<4>>,
}

impl MlpKernel {
    /// An MLP for kernels of `size` with its fixed input drawn from `seed`.
    pub fn new(config: &KernelMlpConfig, seed: u64, device: &Device) -> Self {
        let net = config.init(device);
        let input = net.input_noise(seed, device);
        MlpKernel {
            net,
            input,
            optim: adam(),
            size: config.kernel_size,
            last: None,
        }
    }

    /// An MLP that starts at `kernel` ([`KernelMlp::starting_at`]): the warm start of every
    /// region of a non-uniform estimate from the global kernel.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] when the kernel's size is not the config's.
    pub fn starting_at(
        config: &KernelMlpConfig,
        seed: u64,
        kernel: &deblur_core::Kernel,
        device: &Device,
    ) -> crate::Result<Self> {
        if kernel.size() != config.kernel_size {
            return Err(crate::Error::setting(
                "kernel size",
                format!(
                    "the start kernel is {:?}, the model makes {:?}",
                    kernel.size(),
                    config.kernel_size
                ),
            ));
        }
        let mut model = MlpKernel::new(config, seed, device);
        let values: Vec<f32> = kernel.values().iter().copied().collect();
        model.net = model.net.starting_at(&values);
        Ok(model)
    }
}

impl KernelModel for MlpKernel {
    fn forward(&mut self, _step: usize) -> Tensor<4> {
        let k = self.net.forward(self.input.clone());
        self.last = Some(k.clone().detach());
        k
    }

    fn update(&mut self, grads: &mut Gradients, lr: f64) {
        self.net = step_module(&mut self.optim, &self.net, grads, lr);
    }

    fn kernel(&self) -> Tensor<4> {
        self.last
            .clone()
            .unwrap_or_else(|| self.net.forward(self.input.clone()).detach())
    }

    fn size(&self) -> [usize; 2] {
        self.size
    }
}

/// A field of kernels for a spatially varying blur ([`deblur_core::Svola`]): one kernel model
/// per region, each with its own parameters and optimiser, stacked to `[R, 1, kh, kw]` in region
/// order.
pub struct KernelFieldModel {
    regions: Vec<Box<dyn KernelModel>>,
    last: Option<Tensor<4>>,
}

impl KernelFieldModel {
    /// The field of `regions` (in the blur's region order: row by row).
    ///
    /// # Panics
    /// If `regions` is empty or the kernels differ in size (a programming error).
    pub fn new(regions: Vec<Box<dyn KernelModel>>) -> Self {
        assert!(
            !regions.is_empty(),
            "a kernel field needs at least one region"
        );
        let size = regions[0].size();
        assert!(
            regions.iter().all(|r| r.size() == size),
            "the regions' kernels must have one size"
        );
        KernelFieldModel {
            regions,
            last: None,
        }
    }
}

impl KernelModel for KernelFieldModel {
    fn forward(&mut self, step: usize) -> Tensor<4> {
        let kernels: Vec<Tensor<4>> = self.regions.iter_mut().map(|r| r.forward(step)).collect();
        let field = Tensor::cat(kernels, 0);
        self.last = Some(field.clone().detach());
        field
    }

    fn update(&mut self, grads: &mut Gradients, lr: f64) {
        for region in &mut self.regions {
            region.update(grads, lr);
        }
    }

    fn kernel(&self) -> Tensor<4> {
        self.last
            .clone()
            .unwrap_or_else(|| Tensor::cat(self.regions.iter().map(|r| r.kernel()).collect(), 0))
    }

    fn size(&self) -> [usize; 2] {
        self.regions[0].size()
    }

    fn penalty(&self) -> Option<Tensor<1>> {
        self.regions
            .iter()
            .filter_map(|r| r.penalty())
            .reduce(|a, b| a + b)
    }
}

/// A known kernel that is not optimised (non-blind deconvolution with an image prior).
pub struct FixedKernel {
    kernel: Tensor<4>,
}

impl FixedKernel {
    /// Wraps a `[1, 1, kh, kw]` kernel tensor.
    pub fn new(kernel: Tensor<4>) -> Self {
        FixedKernel { kernel }
    }
}

impl KernelModel for FixedKernel {
    fn forward(&mut self, _step: usize) -> Tensor<4> {
        self.kernel.clone()
    }

    fn update(&mut self, _grads: &mut Gradients, _lr: f64) {}

    fn kernel(&self) -> Tensor<4> {
        self.kernel.clone()
    }

    fn size(&self) -> [usize; 2] {
        let [_, _, kh, kw] = self.kernel.dims();
        [kh, kw]
    }
}

/// The trainable first-layer feature map `w` of a kernel generator.
#[derive(Module, Debug)]
pub struct FeatureParams {
    /// `w`, `[1, 4·ngf, s₀, s₀]`.
    pub w: Param<Tensor<4>>,
}

/// The trainable latent code `z` of a kernel generator.
#[derive(Module, Debug)]
pub struct LatentParams {
    /// `z`, `[1, latent, 1, 1]`.
    pub z: Param<Tensor<4>>,
}

/// What a [`GlkmKernel`] optimises now.
enum Phase {
    /// `z` (the kernel stays on the generator's manifold) until step `until`, with the kernel
    /// learning rate times `lr_scale`; then `w = g₁(z)` takes over.
    Latent {
        params: LatentParams,
        until: usize,
        lr_scale: f64,
    },
    /// The first-layer feature map `w`.
    Features(FeatureParams),
}

/// The GLKM kernel model (\[GLKM\] §V-A, Eq. 6–7; GKPILE `deblur_lai.py`): a frozen kernel generator
/// in evaluation mode, whose first-layer feature map `w = g₁(z₀)` is optimised instead of `z`;
/// the kernel is `G_k(w)`, non-negative and summing to 1 by the generator's softmax. Plugs into
/// the same solver loop as [`MlpKernel`].
///
/// Optionally ([`GlkmKernel::latent_first`]) the latent code `z` itself is optimised for the
/// first steps, the paper's "optimisation within the latent kernel manifold": the kernel can only
/// be one the generator learnt; `w` then refines it beyond the manifold. (On the Levin images
/// this did not prevent the collapse to compact kernels: docs/benchmarks.md.)
pub struct GlkmKernel {
    generator: deblur_models::KernelGenerator,
    phase: Phase,
    optim: ModuleOptimizer,
    last: Option<Tensor<4>>,
}

impl GlkmKernel {
    /// Starts from the latent code `z0` (`[1, latent, 1, 1]`, e.g. from the initializer), on the
    /// autodiff `device`; the generator is frozen.
    pub fn new(generator: deblur_models::KernelGenerator, z0: Tensor<4>, device: &Device) -> Self {
        let plain = device.clone().without_autodiff();
        let w = generator
            .valid()
            .fork(&plain)
            .first_layer(z0.to_device(&plain));
        Self::from_features(generator, w, device)
    }

    /// Starts from a given feature map `w0` (`[1, 4·ngf, s₀, s₀]`), e.g. one fitted to a kernel.
    pub fn from_features(
        generator: deblur_models::KernelGenerator,
        w0: Tensor<4>,
        device: &Device,
    ) -> Self {
        let w = w0.to_device(device).autodiff().detach().require_grad();
        Self::with_phase(
            generator,
            Phase::Features(FeatureParams {
                w: Param::from_tensor(w),
            }),
            device,
        )
    }

    /// Optimises the latent code `z` (from `z0`, `[1, latent, 1, 1]`) for the steps before
    /// `latent_steps`, with the solver's kernel learning rate times `lr_scale`, then the feature
    /// map `w = g₁(z)` from there on.
    pub fn latent_first(
        generator: deblur_models::KernelGenerator,
        z0: Tensor<4>,
        latent_steps: usize,
        lr_scale: f64,
        device: &Device,
    ) -> Self {
        let z = z0.to_device(device).autodiff().detach().require_grad();
        Self::with_phase(
            generator,
            Phase::Latent {
                params: LatentParams {
                    z: Param::from_tensor(z),
                },
                until: latent_steps,
                lr_scale,
            },
            device,
        )
    }

    fn with_phase(
        generator: deblur_models::KernelGenerator,
        phase: Phase,
        device: &Device,
    ) -> Self {
        GlkmKernel {
            generator: generator.fork(device).freeze(),
            phase,
            optim: adam(),
            last: None,
        }
    }

    /// The latent code `z` while the latent phase lasts.
    pub fn latent(&self) -> Option<Tensor<4>> {
        match &self.phase {
            Phase::Latent { params, .. } => Some(params.z.val().detach()),
            Phase::Features(_) => None,
        }
    }

    /// The current feature map `w` (`g₁(z)` during the latent phase).
    pub fn features(&self) -> Tensor<4> {
        match &self.phase {
            Phase::Latent { params, .. } => self.generator.first_layer(params.z.val()).detach(),
            Phase::Features(params) => params.w.val().detach(),
        }
    }
}

impl KernelModel for GlkmKernel {
    fn forward(&mut self, step: usize) -> Tensor<4> {
        if let Phase::Latent { until, .. } = self.phase
            && step >= until
        {
            // hand over to w = g₁(z), with a fresh optimiser
            let w = self.features().require_grad();
            self.phase = Phase::Features(FeatureParams {
                w: Param::from_tensor(w),
            });
            self.optim = adam();
        }
        let k = match &self.phase {
            Phase::Latent { params, .. } => self.generator.forward(params.z.val()),
            Phase::Features(params) => self.generator.kernel_from_features(params.w.val()),
        };
        self.last = Some(k.clone().detach());
        k
    }

    fn update(&mut self, grads: &mut Gradients, lr: f64) {
        match &mut self.phase {
            Phase::Latent {
                params, lr_scale, ..
            } => *params = step_module(&mut self.optim, params, grads, lr * *lr_scale),
            Phase::Features(params) => *params = step_module(&mut self.optim, params, grads, lr),
        }
    }

    fn kernel(&self) -> Tensor<4> {
        self.last.clone().unwrap_or_else(|| {
            self.generator
                .kernel_from_features(self.features())
                .detach()
        })
    }

    fn size(&self) -> [usize; 2] {
        let k = self.generator.kernel_size();
        [k, k]
    }
}
