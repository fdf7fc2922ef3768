//! The encoded blur-kernel space of Tran et al. (CVPR 2021, "Explore image deblurring via encoded
//! blur kernel space"; reference spec §3): a family of blur operators **F(x, k)** (sharp image and
//! kernel code → blurry image) and a kernel extractor **k = G(x, y)** (sharp/blurry pair → kernel
//! code), learned together from pairs so that any blur in the data (non-uniform motion, a camera's
//! response curve, saturation) is one point k of a learned space.
//!
//! Names follow the paper; the reference code swaps them (its `KernelWizard.forward` is G, its
//! `adaptKernel` is F). The layout, for an image of `H × W` with `c` channels and width `nf`:
//!
//! - a shared feature extractor E (applied to x and y with the same weights): 3×3 conv, two 3×3
//!   stride-2 convs (each + LeakyReLU 0.1), then residual blocks without normalisation:
//!   `nf × H/4 × W/4`;
//! - G: `[E(x), E(y)]` → reflect-padded 7×7 conv, five 3×3 stride-2 convs (channels doubling from
//!   `nf` up to the code width), residual blocks with reflection padding; no biases. The code is
//!   `code_channels × H/128 × W/128` (with the VAE head, twice that: mean and spread);
//! - F: a 5-level U-Net on E(x) with the code concatenated at its bottleneck (pix2pix layout:
//!   4×4 stride-2 convs down, 4×4 stride-2 transposed convs up, skip concatenations, Tanh out), a
//!   reconstruction trunk (residual blocks, two PixelShuffle ×2 stages, two 3×3 convs), and the
//!   sharp image added back.
//!
//! [`KernelSpaceConfig::paper`] is the reference network (49 205 187 parameters without the VAE
//! head); [`KernelSpaceConfig::compact`] a narrower, shallower one on the luma for CPU training.
//!
//! Sides must be multiples of 128 for the network itself ([`KernelSpace::extract`],
//! [`KernelSpace::blur`]). The checked entry points ([`KernelSpace::extract_code`],
//! [`KernelSpace::blur_with`], [`KernelSpace::transfer`]) take any side of at least 16 px: they
//! extend the images at the bottom and right by reflection (repeated where the extension exceeds
//! the image) to the next multiple of 128 and crop the result back.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Initializer, PaddingConfig2d, PixelShuffle, PixelShuffleConfig};
use burn::tensor::activation::{leaky_relu, relu, tanh};
use burn::tensor::{Device, Tensor};
use deblur_core::Padding;
use deblur_core::pad::pad;

use crate::Error;

/// The factor every side of the network's input must be a multiple of (E's ÷4, the U-Net's ÷32).
pub const SIDE_MULTIPLE: usize = 128;

/// The smallest image side the checked entry points accept.
pub const MIN_SIDE: usize = 16;

/// Configuration of [`KernelSpace`]. The defaults are the reference network (spec §3.1).
#[derive(Config, Debug, PartialEq)]
pub struct KernelSpaceConfig {
    /// Image channels (3 in the reference, 1 for the luma). Default: 3.
    #[config(default = 3)]
    pub channels: usize,
    /// Width `nf` of E, of the U-Net's outer level and of the reconstruction trunk. Default: 64.
    #[config(default = 64)]
    pub width: usize,
    /// Residual blocks of the feature extractor E. Default: 10.
    #[config(default = 10)]
    pub front_blocks: usize,
    /// Residual blocks of the reconstruction trunk. Default: 20.
    #[config(default = 20)]
    pub back_blocks: usize,
    /// Channels of the kernel code. Default: 512.
    #[config(default = 512)]
    pub code_channels: usize,
    /// Residual blocks at the end of G. Default: 4.
    #[config(default = 4)]
    pub extractor_blocks: usize,
    /// G also predicts a spread σ for each code entry (the VAE variant): code = μ + σ·ε in
    /// training. Default: false.
    #[config(default = false)]
    pub vae: bool,
}

impl Default for KernelSpaceConfig {
    /// [`KernelSpaceConfig::paper`].
    fn default() -> Self {
        KernelSpaceConfig::paper()
    }
}

impl KernelSpaceConfig {
    /// The reference network: RGB, nf 64, 10 + 20 residual blocks, 512-channel code, 4 blocks in
    /// G, no VAE head (49 205 187 parameters).
    pub fn paper() -> Self {
        KernelSpaceConfig::new()
    }

    /// A network for CPU training on the luma: nf 16, 2 + 4 residual blocks, a 64-channel code,
    /// 2 blocks in G (1 543 601 parameters, 6.2 MB).
    pub fn compact() -> Self {
        KernelSpaceConfig::new()
            .with_channels(1)
            .with_width(16)
            .with_front_blocks(2)
            .with_back_blocks(4)
            .with_code_channels(64)
            .with_extractor_blocks(2)
    }

    /// Checks the settings before the layers are built (burn's constructors panic on zero sizes).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the setting out of range.
    pub fn validate(&self) -> crate::Result<()> {
        let ok = (1..=16).contains(&self.channels)
            && (1..=512).contains(&self.width)
            && self.front_blocks <= 64
            && self.back_blocks <= 64
            && self.extractor_blocks <= 64
            && (1..=4096).contains(&self.code_channels);
        if !ok {
            return Err(Error::InvalidSetting {
                setting: "kernel-space config",
                rule: format!(
                    "channels {} (1–16), width {} (1–512), residual blocks {}/{}/{} (≤ 64 each) \
                     and code channels {} (1–4096)",
                    self.channels,
                    self.width,
                    self.front_blocks,
                    self.back_blocks,
                    self.extractor_blocks,
                    self.code_channels
                ),
            });
        }
        Ok(())
    }

    /// Builds the network on `device`.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] from [`KernelSpaceConfig::validate`].
    pub fn init(&self, device: &Device) -> crate::Result<KernelSpace> {
        self.validate()?;
        let nf = self.width;
        let c = self.channels;
        let features = FeatureExtractor {
            head: conv(c, nf, 3, 1, true, device),
            down1: conv(nf, nf, 3, 2, true, device),
            down2: conv(nf, nf, 3, 2, true, device),
            blocks: (0..self.front_blocks)
                .map(|_| PlainBlock::new(nf, device))
                .collect(),
        };
        // G: channels min(nf·2^i, out) → min(nf·2^(i+1), out) at down-step i
        let out = if self.vae {
            2 * self.code_channels
        } else {
            self.code_channels
        };
        let g_width = |i: u32| (nf << i).min(out);
        let extractor = KernelExtractor {
            head: Conv2dConfig::new([2 * nf, nf], [7, 7])
                .with_padding(PaddingConfig2d::Valid)
                .with_bias(false)
                .init(device),
            downs: (0..5)
                .map(|i| conv(g_width(i), g_width(i + 1), 3, 2, false, device))
                .collect(),
            blocks: (0..self.extractor_blocks)
                .map(|_| ReflectBlock::new(out, device))
                .collect(),
        };
        // U-Net levels 0 (outer) … 4 (inner): down conv in → inner width
        let level_in = [nf, nf, 2 * nf, 4 * nf, 8 * nf];
        let level_inner = [nf, 2 * nf, 4 * nf, 8 * nf, 8 * nf];
        let downs = (0..5)
            .map(|i| conv4(level_in[i], level_inner[i], device))
            .collect();
        let ups = (0..5)
            .map(|i| {
                let input = if i == 4 {
                    level_inner[4] + self.code_channels
                } else {
                    2 * level_inner[i]
                };
                ConvTranspose2dConfig::new([input, level_in[i]], [4, 4])
                    .with_stride([2, 2])
                    .with_padding([1, 1])
                    .with_bias(i == 0)
                    .init(device)
            })
            .collect();
        let trunk = Reconstruction {
            blocks: (0..self.back_blocks)
                .map(|_| PlainBlock::new(nf, device))
                .collect(),
            up1: conv(nf, 4 * nf, 3, 1, true, device),
            up2: conv(nf, 4 * nf, 3, 1, true, device),
            shuffle: PixelShuffleConfig::new(2).init(),
            hr: conv(nf, nf, 3, 1, true, device),
            last: conv(nf, c, 3, 1, true, device),
        };
        Ok(KernelSpace {
            features,
            extractor,
            downs,
            ups,
            trunk,
            channels: c,
            code_channels: self.code_channels,
            vae: self.vae,
        })
    }
}

/// A 3×3 (or `size`) convolution with zero padding `size / 2`.
fn conv(
    input: usize,
    output: usize,
    size: usize,
    stride: usize,
    bias: bool,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([input, output], [size, size])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            size / 2,
            size / 2,
            size / 2,
            size / 2,
        ))
        .with_bias(bias)
        .init(device)
}

/// The U-Net's 4×4 stride-2 down convolution (no bias with norm "none").
fn conv4(input: usize, output: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [4, 4])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// conv → ReLU → conv, added to the input; no normalisation (`ResidualBlock_noBN`). Its
/// convolutions start Kaiming-normal (fan-in) scaled by 0.1 with zero biases, so a deep trunk
/// starts close to the identity.
#[derive(Module, Debug)]
struct PlainBlock {
    c1: Conv2d,
    c2: Conv2d,
}

impl PlainBlock {
    fn new(width: usize, device: &Device) -> Self {
        let scaled = || {
            Conv2dConfig::new([width, width], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_initializer(Initializer::KaimingNormal {
                    gain: 0.1 * std::f64::consts::SQRT_2,
                    fan_out_only: false,
                })
                .init(device)
        };
        let mut block = PlainBlock {
            c1: scaled(),
            c2: scaled(),
        };
        for c in [&mut block.c1, &mut block.c2] {
            if let Some(bias) = c.bias.take() {
                // a fresh tensor does not track gradients by itself: without `require_grad`
                // these biases stayed frozen at 0 (and a resumed run, whose loaded parameters
                // do track them, diverged from an uninterrupted one)
                c.bias = Some(bias.map(|b| {
                    let zeros = b.zeros_like();
                    if zeros.is_autodiff() {
                        zeros.require_grad()
                    } else {
                        zeros
                    }
                }));
            }
        }
        block
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.c2.forward(relu(self.c1.forward(x.clone())));
        x + h
    }
}

/// Reflection-pad 1, conv, ReLU, reflection-pad 1, conv (no biases), added to the input.
#[derive(Module, Debug)]
struct ReflectBlock {
    c1: Conv2d,
    c2: Conv2d,
}

impl ReflectBlock {
    fn new(width: usize, device: &Device) -> Self {
        let c = || {
            Conv2dConfig::new([width, width], [3, 3])
                .with_padding(PaddingConfig2d::Valid)
                .with_bias(false)
                .init(device)
        };
        ReflectBlock { c1: c(), c2: c() }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let r = |t| pad(t, [(1, 1), (1, 1)], Padding::Reflect);
        let h = relu(self.c1.forward(r(x.clone())));
        x + self.c2.forward(r(h))
    }
}

/// The shared feature extractor E.
#[derive(Module, Debug)]
struct FeatureExtractor {
    head: Conv2d,
    down1: Conv2d,
    down2: Conv2d,
    blocks: Vec<PlainBlock>,
}

impl FeatureExtractor {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = leaky_relu(self.head.forward(x), 0.1);
        h = leaky_relu(self.down1.forward(h), 0.1);
        h = leaky_relu(self.down2.forward(h), 0.1);
        for block in &self.blocks {
            h = block.forward(h);
        }
        h
    }
}

/// The kernel extractor G after E.
#[derive(Module, Debug)]
struct KernelExtractor {
    head: Conv2d,
    downs: Vec<Conv2d>,
    blocks: Vec<ReflectBlock>,
}

impl KernelExtractor {
    fn forward(&self, features: Tensor<4>) -> Tensor<4> {
        let mut h = relu(
            self.head
                .forward(pad(features, [(3, 3), (3, 3)], Padding::Reflect)),
        );
        for down in &self.downs {
            h = relu(down.forward(h));
        }
        for block in &self.blocks {
            h = block.forward(h);
        }
        h
    }
}

/// F's reconstruction trunk R.
#[derive(Module, Debug)]
struct Reconstruction {
    blocks: Vec<PlainBlock>,
    up1: Conv2d,
    up2: Conv2d,
    shuffle: PixelShuffle,
    hr: Conv2d,
    last: Conv2d,
}

impl Reconstruction {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = x;
        for block in &self.blocks {
            h = block.forward(h);
        }
        h = leaky_relu(self.shuffle.forward(self.up1.forward(h)), 0.1);
        h = leaky_relu(self.shuffle.forward(self.up2.forward(h)), 0.1);
        h = leaky_relu(self.hr.forward(h), 0.1);
        self.last.forward(h)
    }
}

/// The blur-operator family F and the kernel extractor G with their shared feature extractor.
/// Build with [`KernelSpaceConfig::init`].
#[derive(Module, Debug)]
pub struct KernelSpace {
    features: FeatureExtractor,
    extractor: KernelExtractor,
    downs: Vec<Conv2d>,
    ups: Vec<ConvTranspose2d>,
    trunk: Reconstruction,
    channels: usize,
    code_channels: usize,
    vae: bool,
}

/// A kernel code from G: its mean, and its spread for the VAE variant.
#[derive(Clone, Debug)]
pub struct KernelCode {
    /// μ: `[b, code_channels, H/128, W/128]`; the code itself without the VAE head.
    pub mean: Tensor<4>,
    /// σ (same shape) for the VAE variant: unconstrained, used as is in μ + σ·ε (reference).
    pub spread: Option<Tensor<4>>,
}

impl KernelSpace {
    /// Image channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Channels of the kernel code.
    pub fn code_channels(&self) -> usize {
        self.code_channels
    }

    /// Whether G has the VAE head.
    pub fn is_vae(&self) -> bool {
        self.vae
    }

    /// G(x, y) on sides that are multiples of [`SIDE_MULTIPLE`].
    ///
    /// # Panics
    /// On other sides or channel counts (burn's shape checks); use [`KernelSpace::extract_code`]
    /// for checked input.
    pub fn extract(&self, sharp: Tensor<4>, blurry: Tensor<4>) -> KernelCode {
        let both = Tensor::cat(vec![sharp, blurry], 0);
        let b = both.dims()[0] / 2;
        let e = self.features.forward(both);
        let pair = Tensor::cat(vec![e.clone().narrow(0, 0, b), e.narrow(0, b, b)], 1);
        let code = self.extractor.forward(pair);
        if self.vae {
            let c = self.code_channels;
            KernelCode {
                mean: code.clone().narrow(1, 0, c),
                spread: Some(code.narrow(1, c, c)),
            }
        } else {
            KernelCode {
                mean: code,
                spread: None,
            }
        }
    }

    /// F(x, k) on sides that are multiples of [`SIDE_MULTIPLE`], `k` of shape
    /// `[b, code_channels, H/128, W/128]`.
    ///
    /// # Panics
    /// On other shapes; use [`KernelSpace::blur_with`] for checked input.
    pub fn blur(&self, sharp: Tensor<4>, code: Tensor<4>) -> Tensor<4> {
        let mut h = self.features.forward(sharp.clone());
        let mut inputs = Vec::with_capacity(5);
        for (i, down) in self.downs.iter().enumerate() {
            inputs.push(h.clone());
            h = down.forward(if i == 0 { h } else { leaky_relu(h, 0.2) });
        }
        h = Tensor::cat(vec![h, code], 1);
        for i in (0..5).rev() {
            let up = self.ups[i].forward(relu(h));
            h = if i == 0 {
                tanh(up)
            } else {
                Tensor::cat(vec![up, inputs[i].clone()], 1)
            };
        }
        self.trunk.forward(h) + sharp
    }

    /// Checks an image for the checked entry points and returns its padded sides.
    fn padded_sides(&self, image: &Tensor<4>, name: &'static str) -> crate::Result<[usize; 2]> {
        let [_, c, h, w] = image.dims();
        if c != self.channels {
            return Err(Error::InvalidSetting {
                setting: name,
                rule: format!(
                    "{c} channel(s) given; this model takes {} (1 = grey/luma, 3 = RGB)",
                    self.channels
                ),
            });
        }
        if h < MIN_SIDE || w < MIN_SIDE {
            return Err(Error::InvalidSetting {
                setting: name,
                rule: format!("{h}×{w} is too small; both sides must be at least {MIN_SIDE} px"),
            });
        }
        Ok([
            h.next_multiple_of(SIDE_MULTIPLE),
            w.next_multiple_of(SIDE_MULTIPLE),
        ])
    }

    /// G(x, y) for any pair of equal sizes of at least [`MIN_SIDE`]: both are extended to the next
    /// multiple of 128 (bottom and right, by reflection), so the code covers the extended grid
    /// `ceil(H/128) × ceil(W/128)`.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for mismatched sizes, wrong channel counts or tiny images.
    pub fn extract_code(&self, sharp: Tensor<4>, blurry: Tensor<4>) -> crate::Result<KernelCode> {
        let sides = self.padded_sides(&sharp, "sharp image")?;
        if sharp.dims() != blurry.dims() {
            return Err(Error::InvalidSetting {
                setting: "blurry image",
                rule: format!(
                    "{:?} does not match the sharp image's {:?}; a pair must be aligned and of \
                     one size",
                    blurry.dims(),
                    sharp.dims()
                ),
            });
        }
        Ok(self.extract(extend(sharp, sides), extend(blurry, sides)))
    }

    /// F(x, k) for any image of at least [`MIN_SIDE`], extended as in
    /// [`KernelSpace::extract_code`] and cropped back. A code on another grid than the image's
    /// (from an image of another size) is averaged over its grid and applied uniformly.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for wrong channel counts, a code of another width or batch, or
    /// tiny images.
    pub fn blur_with(&self, sharp: Tensor<4>, code: Tensor<4>) -> crate::Result<Tensor<4>> {
        let [h, w] = {
            let d = sharp.dims();
            [d[2], d[3]]
        };
        let sides = self.padded_sides(&sharp, "sharp image")?;
        let [b, c, gh, gw] = code.dims();
        if c != self.code_channels || b != sharp.dims()[0] {
            return Err(Error::InvalidSetting {
                setting: "kernel code",
                rule: format!(
                    "a code of {b}×{c} channels given; this model needs {}×{}",
                    sharp.dims()[0],
                    self.code_channels
                ),
            });
        }
        let grid = [sides[0] / SIDE_MULTIPLE, sides[1] / SIDE_MULTIPLE];
        let code = if [gh, gw] == grid {
            code
        } else {
            code.mean_dim(2)
                .mean_dim(3)
                .repeat(&[1, 1, grid[0], grid[1]])
        };
        let out = self.blur(extend(sharp, sides), code);
        Ok(out.narrow(2, 0, h).narrow(3, 0, w))
    }

    /// Blur transfer (paper §3.4): the blur of the pair (`sharp`, `blurry`) applied to `target`,
    /// F(target, G(sharp, blurry)), with the mean code.
    ///
    /// # Errors
    /// Those of [`KernelSpace::extract_code`] and [`KernelSpace::blur_with`].
    pub fn transfer(
        &self,
        sharp: Tensor<4>,
        blurry: Tensor<4>,
        target: Tensor<4>,
    ) -> crate::Result<Tensor<4>> {
        let code = self.extract_code(sharp, blurry)?.mean;
        let b = target.dims()[0];
        let code = if code.dims()[0] == b {
            code
        } else {
            code.narrow(0, 0, 1).repeat_dim(0, b)
        };
        self.blur_with(target, code)
    }
}

/// Extends `x` at the bottom and right to `sides` by reflection (repeated for long extensions).
fn extend(x: Tensor<4>, sides: [usize; 2]) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    pad(x, [(0, sides[0] - h), (0, sides[1] - w)], Padding::Reflect)
}

/// The reference's pixel loss: Σ over every element of √((a − b)² + ε²), ε² = 1e-6 (a sum, not
/// a mean).
pub fn charbonnier_sum(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    ((a - b).square() + 1e-6).sqrt().sum()
}

/// Result of [`retrieve_code`].
#[derive(Clone, Debug)]
pub struct Retrieval {
    /// The code found, on the input's (extended) grid.
    pub code: Tensor<4>,
    /// F(x, code), the re-blurred sharp image, cropped to the input's size.
    pub reblurred: Tensor<4>,
    /// Mean squared error of F(x, k) against y with G's code, before the first step.
    pub mse_start: f32,
    /// The same with the code found.
    pub mse_end: f32,
}

/// Kernel retrieval (paper §3.2, step B; Table 3): the code k that makes F(x, k) match the blurry
/// `y`, by `steps` Adam steps of rate `lr` on the summed Charbonnier loss, starting from
/// G(x, y). F stays frozen. Inputs as for [`KernelSpace::extract_code`].
///
/// # Errors
/// Those of [`KernelSpace::extract_code`].
pub fn retrieve_code(
    model: &KernelSpace,
    sharp: Tensor<4>,
    blurry: Tensor<4>,
    steps: usize,
    lr: f64,
) -> crate::Result<Retrieval> {
    use burn::optim::{AdamConfig, GradientsParams};
    let [_, _, h, w] = sharp.dims();
    let sides = model.padded_sides(&sharp, "sharp image")?;
    let start = model
        .extract_code(sharp.clone(), blurry.clone())?
        .mean
        .detach();
    let device = sharp.device().autodiff();
    let frozen = model.clone().fork(&device).freeze();
    let x = extend(sharp, sides).autodiff().detach();
    // the loss and the error on the image's own pixels only: the extension is not observed
    let y = blurry.autodiff().detach();
    let crop = |t: Tensor<4>| t.narrow(2, 0, h).narrow(3, 0, w);
    let mse = |k: Tensor<4>| {
        (crop(frozen.blur(x.clone(), k)) - y.clone())
            .square()
            .mean()
            .into_scalar::<f32>()
    };
    let mse_start = mse(start.clone().autodiff());
    let mut code = crate::inversion::Free::new(start.autodiff());
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    for _ in 0..steps {
        let loss = charbonnier_sum(crop(frozen.blur(x.clone(), code.value())), y.clone());
        let mut grads = loss.backward();
        let params = GradientsParams::from_module(&mut grads, &code);
        code = optim.step(lr, code.clone(), params);
    }
    let k = code.value().detach();
    let reblurred = crop(frozen.blur(x, k.clone())).detach();
    let mse_end = (reblurred.clone() - y).square().mean().into_scalar::<f32>();
    Ok(Retrieval {
        code: k.inner(),
        reblurred: reblurred.inner(),
        mse_start,
        mse_end,
    })
}
