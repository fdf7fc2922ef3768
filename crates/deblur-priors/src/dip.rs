//! The deep-image-prior "skip" encoder–decoder (Ulyanov, Vedaldi, Lempitsky 2018, extended with
//! non-local blocks as in SelfDeblur: the "skip" architecture of \[DIP\]'s supplementary material, as
//! in \[SD\]'s `networks/skip.py`). It maps a fixed noise tensor to an image;
//! its architecture is the image prior.
//!
//! Scale `i` (0 = finest) computes a skip branch (1×1 conv → BN → LeakyReLU) and a deeper branch
//! (stride-2 3×3 conv → BN → act → [non-local] → 3×3 conv → BN → act → scale i+1 → bilinear ×2),
//! concatenates them (cropping to the smaller size, offset ⌊Δ/2⌋), then BN → 3×3 conv → BN → act →
//! 1×1 conv → BN → act. The top is a 1×1 conv and a sigmoid. Convolutions use reflection padding,
//! BatchNorm uses batch statistics ([`crate::BatchStatNorm`]), upsampling uses half-pixel centres
//! (`align_corners = false`). Output size equals input size for any input of at least ~2^scales px.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::fused::{conv2d_padded, upsample_bilinear2};
use crate::nonlocal::{NonLocalBlock, NonLocalConfig};
use crate::norm::BatchStatNorm;

/// Configuration of [`Dip`]. [`DipConfig::paper`] is the network of SelfDeblur/GKPILE.
#[derive(Config, Debug, PartialEq)]
pub struct DipConfig {
    /// Channels of the input noise. Default: 8.
    #[config(default = 8)]
    pub input_channels: usize,
    /// Channels of the output image (1 gray, 3 colour).
    pub output_channels: usize,
    /// Channels of the encoder at each scale (its length is the number of scales).
    /// Default: `[128; 5]`.
    #[config(default = "vec![128, 128, 128, 128, 128]")]
    pub channels_down: Vec<usize>,
    /// Channels of the decoder at each scale. Default: `[128; 5]`.
    #[config(default = "vec![128, 128, 128, 128, 128]")]
    pub channels_up: Vec<usize>,
    /// Channels of the skip branch at each scale (0 disables it). Default: `[16; 5]`.
    #[config(default = "vec![16, 16, 16, 16, 16]")]
    pub channels_skip: Vec<usize>,
    /// Scales (0-based) with a non-local block after the strided convolution. Default: `[2, 3, 4]`.
    #[config(default = "vec![2, 3, 4]")]
    pub nonlocal_scales: Vec<usize>,
    /// Reflection padding (true, reference) or zero padding. Default: true.
    #[config(default = true)]
    pub reflect_padding: bool,
    /// LeakyReLU slope. Default: 0.2.
    #[config(default = 0.2)]
    pub leaky_slope: f64,
    /// Scale of the uniform input noise, `U[0, 1) · scale`. Default: 0.1.
    #[config(default = 0.1)]
    pub input_noise_scale: f64,
    /// Fused convolution and BN + LeakyReLU kernels on the CPU backend ([`crate::fused`]);
    /// `false` runs burn's own operations (same values within float rounding). Default: true.
    #[config(default = true)]
    pub fused_ops: bool,
}

impl Default for DipConfig {
    /// The SelfDeblur network for grey images ([`DipConfig::paper`] with one output channel).
    fn default() -> Self {
        DipConfig::paper(1)
    }
}

impl DipConfig {
    /// The reference network (spec §1.1): 5 scales of 128/128/16 channels, non-local blocks at
    /// scales 2–4; 2 365 521 parameters for one output channel.
    pub fn paper(output_channels: usize) -> Self {
        DipConfig::new(output_channels)
    }

    /// A narrower network with the same structure: `width` channels up and down, `skip` skip
    /// channels, `scales` scales, non-local blocks from scale 2 on.
    pub fn narrow(output_channels: usize, width: usize, skip: usize, scales: usize) -> Self {
        DipConfig::new(output_channels)
            .with_channels_down(vec![width; scales])
            .with_channels_up(vec![width; scales])
            .with_channels_skip(vec![skip; scales])
            .with_nonlocal_scales((2..scales).collect())
    }

    /// Builds the network with PyTorch's default initialisation.
    ///
    /// # Panics
    /// If the three channel lists differ in length or are empty (a programming error in the config).
    pub fn init(&self, device: &Device) -> Dip {
        let n = self.channels_down.len();
        assert!(
            n > 0 && self.channels_up.len() == n && self.channels_skip.len() == n,
            "DipConfig: channel lists must be non-empty and of equal length"
        );
        let mut scales = Vec::with_capacity(n);
        for i in 0..n {
            let input = if i == 0 {
                self.input_channels
            } else {
                self.channels_down[i - 1]
            };
            let down = self.channels_down[i];
            let up = self.channels_up[i];
            let skip_ch = self.channels_skip[i];
            let deeper = if i + 1 < n {
                self.channels_up[i + 1]
            } else {
                down
            };
            let block = |cin, cout, k, stride| ConvBnAct::new(cin, cout, k, stride, self, device);
            scales.push(Scale {
                skip: (skip_ch > 0).then(|| block(input, skip_ch, 1, 1)),
                down1: block(input, down, 3, 2),
                nonlocal: self
                    .nonlocal_scales
                    .contains(&i)
                    .then(|| NonLocalConfig::new(down).init(device)),
                down2: block(down, down, 3, 1),
                up_norm: BatchStatNorm::new(skip_ch + deeper, device).with_fused(self.fused_ops),
                up1: block(skip_ch + deeper, up, 3, 1),
                up2: block(up, up, 1, 1),
            });
        }
        Dip {
            scales,
            output: Conv2dConfig::new([self.channels_up[0], self.output_channels], [1, 1])
                .init(device),
            fused: self.fused_ops,
            input_channels: self.input_channels,
            input_noise_scale: self.input_noise_scale,
        }
    }
}

/// Convolution (with explicit reflection or zero padding) → BatchNorm → LeakyReLU.
#[derive(Module, Debug)]
pub struct ConvBnAct {
    conv: Conv2d,
    norm: BatchStatNorm,
    pad: usize,
    reflect: bool,
    stride: usize,
    slope: f64,
    fused: bool,
}

impl ConvBnAct {
    fn new(
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        config: &DipConfig,
        device: &Device,
    ) -> Self {
        ConvBnAct {
            conv: Conv2dConfig::new([cin, cout], [kernel, kernel])
                .with_stride([stride, stride])
                .init(device),
            norm: BatchStatNorm::new(cout, device).with_fused(config.fused_ops),
            pad: (kernel - 1) / 2,
            reflect: config.reflect_padding,
            stride,
            slope: config.leaky_slope,
            fused: config.fused_ops,
        }
    }

    /// # Shapes
    /// `[n, cin, h, w]` → `[n, cout, ⌈h / stride⌉, ⌈w / stride⌉]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = conv_forward(
            &self.conv,
            x,
            self.stride,
            self.pad,
            self.reflect,
            self.fused,
        );
        self.norm.forward_leaky(y, self.slope)
    }
}

/// A convolution layer through [`conv2d_padded`] (fused on `flex`).
fn conv_forward(
    conv: &Conv2d,
    x: Tensor<4>,
    stride: usize,
    pad: usize,
    reflect: bool,
    fused: bool,
) -> Tensor<4> {
    let [cout, ..] = conv.weight.dims();
    let bias = match &conv.bias {
        Some(b) => b.val(),
        None => Tensor::zeros([cout], &x.device()),
    };
    conv2d_padded(x, conv.weight.val(), bias, stride, pad, reflect, fused)
}

/// One scale of the encoder–decoder.
#[derive(Module, Debug)]
pub struct Scale {
    skip: Option<ConvBnAct>,
    down1: ConvBnAct,
    nonlocal: Option<NonLocalBlock>,
    down2: ConvBnAct,
    up_norm: BatchStatNorm,
    up1: ConvBnAct,
    up2: ConvBnAct,
}

/// The deep-image-prior skip network. Build with [`DipConfig::init`].
#[derive(Module, Debug)]
pub struct Dip {
    scales: Vec<Scale>,
    output: Conv2d,
    fused: bool,
    input_channels: usize,
    input_noise_scale: f64,
}

/// Concatenates on channels after cropping every input to the smallest height and width, with
/// offset ⌊(size − min) / 2⌋ (so a one-pixel excess is cut at the bottom/right).
fn concat_cropped(tensors: Vec<Tensor<4>>) -> Tensor<4> {
    let h = tensors.iter().map(|t| t.dims()[2]).min().unwrap_or(0);
    let w = tensors.iter().map(|t| t.dims()[3]).min().unwrap_or(0);
    let cropped = tensors
        .into_iter()
        .map(|t| {
            let [_, _, th, tw] = t.dims();
            if th == h && tw == w {
                t
            } else {
                t.narrow(2, (th - h) / 2, h).narrow(3, (tw - w) / 2, w)
            }
        })
        .collect();
    Tensor::cat(cropped, 1)
}

impl Dip {
    /// The fixed input of the network for an image of `size = [h, w]`: `[1, input_channels, h, w]`
    /// uniform noise `U[0, 1) · input_noise_scale`, drawn on the host from `seed` (identical on
    /// every backend; SelfDeblur seeds its noise with 0).
    pub fn input_noise(&self, size: [usize; 2], seed: u64, device: &Device) -> Tensor<4> {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = self.input_channels * size[0] * size[1];
        let scale = self.input_noise_scale as f32;
        let values: Vec<f32> = (0..n).map(|_| rng.random::<f32>() * scale).collect();
        Tensor::from_data(
            TensorData::new(values, [1, self.input_channels, size[0], size[1]]),
            device,
        )
    }

    /// Number of scales.
    pub fn depth(&self) -> usize {
        self.scales.len()
    }

    fn forward_scale(&self, index: usize, x: Tensor<4>) -> Tensor<4> {
        let scale = &self.scales[index];
        let skip = scale.skip.as_ref().map(|s| s.forward(x.clone())); // [n, s_i, h, w]
        let mut deep = scale.down1.forward(x); // [n, d_i, ⌈h/2⌉, ⌈w/2⌉]
        if let Some(nl) = &scale.nonlocal {
            deep = nl.forward(deep);
        }
        deep = scale.down2.forward(deep);
        if index + 1 < self.scales.len() {
            deep = self.forward_scale(index + 1, deep); // [n, u_{i+1}, ⌈h/2⌉, ⌈w/2⌉]
        }
        let up = upsample_bilinear2(deep, self.fused); // [n, ·, 2⌈h/2⌉, 2⌈w/2⌉]
        let joined = match skip {
            Some(s) => concat_cropped(vec![s, up]),
            None => up,
        };
        let joined = scale.up_norm.forward(joined);
        scale.up2.forward(scale.up1.forward(joined)) // [n, u_i, h, w]
    }

    /// # Shapes
    /// `[n, input_channels, h, w]` → `[n, output_channels, h, w]`, values in (0, 1)
    pub fn forward(&self, noise: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = noise.dims();
        let features = self.forward_scale(0, noise);
        let [_, _, fh, fw] = features.dims();
        let features = if (fh, fw) == (h, w) {
            features
        } else {
            features.narrow(2, 0, h).narrow(3, 0, w)
        };
        sigmoid(conv_forward(
            &self.output,
            features,
            1,
            0,
            false,
            self.fused,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_network_has_the_reference_parameter_count() {
        let device = Device::default();
        // counted from the architecture (SelfDeblur's `skip` network with its non-local blocks):
        // 2 365 521 (1 output channel), 2 365 779 (3 channels)
        assert_eq!(DipConfig::paper(1).init(&device).num_params(), 2_365_521);
        assert_eq!(DipConfig::paper(3).init(&device).num_params(), 2_365_779);
    }

    #[test]
    fn output_size_equals_input_size_for_odd_and_even_sizes() {
        let device = Device::default();
        let net = DipConfig::narrow(1, 8, 4, 5).init(&device);
        for size in [[37, 37], [40, 33], [64, 64]] {
            let out = net.forward(net.input_noise(size, 0, &device));
            assert_eq!(out.dims(), [1, 1, size[0], size[1]]);
            let (lo, hi) = (
                out.clone().min().into_scalar::<f32>(),
                out.max().into_scalar::<f32>(),
            );
            assert!(lo > 0.0 && hi < 1.0);
        }
    }

    #[test]
    fn input_noise_is_seeded_and_scaled() {
        let device = Device::default();
        let net = DipConfig::narrow(1, 4, 2, 3).init(&device);
        let a = net.input_noise([16, 16], 0, &device);
        let b = net.input_noise([16, 16], 0, &device);
        assert_eq!((a.clone() - b).abs().max().into_scalar::<f32>(), 0.0);
        let max = a.max().into_scalar::<f32>();
        assert!(max < 0.1 && max > 0.09);
    }
}
