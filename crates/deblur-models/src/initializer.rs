//! The GKPILE/GLKM kernel initializer E (\[GLKM\] §IV-C): a ResNet-18 (He et al. 2016,
//! BasicBlock, [2, 2, 2, 2]) with one input channel (the blurry image's luma) and a 100-d output,
//! the latent code whose generated kernel G(E(y)) starts the blind solver. Accepts any input size
//! (global average pooling). [`InitializerConfig::narrow`] gives a cheaper variant for CPU training.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};

/// Configuration of [`KernelInitializer`].
#[derive(Config, Debug, PartialEq)]
pub struct InitializerConfig {
    /// Output (latent) dimension. Default: 100.
    #[config(default = 100)]
    pub latent_dim: usize,
    /// Input channels. Default: 1 (luma).
    #[config(default = 1)]
    pub in_channels: usize,
    /// Width of the first stage (64 in ResNet-18; stages double it). Default: 64.
    #[config(default = 64)]
    pub base_width: usize,
}

impl Default for InitializerConfig {
    /// ResNet-18 on the luma with a 100-d output (the reference).
    fn default() -> Self {
        InitializerConfig::new()
    }
}

impl InitializerConfig {
    /// A narrower ResNet-18 for CPU training: stages of `base_width`, 2×, 4×, 8× channels.
    pub fn narrow(base_width: usize) -> Self {
        InitializerConfig::new().with_base_width(base_width)
    }

    /// Checks the settings before the layers are built (burn's constructors panic on zero sizes).
    ///
    /// # Errors
    /// A message naming the setting out of range.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=4096).contains(&self.latent_dim)
            || !(1..=16).contains(&self.in_channels)
            || !(1..=1024).contains(&self.base_width)
        {
            return Err(format!(
                "latent dimension {}, input channels {} and base width {} must lie in 1–4096, \
                 1–16 and 1–1024",
                self.latent_dim, self.in_channels, self.base_width
            ));
        }
        Ok(())
    }

    /// Builds the network.
    pub fn init(&self, device: &Device) -> KernelInitializer {
        let w = self.base_width;
        let widths = [w, 2 * w, 4 * w, 8 * w];
        let mut blocks = Vec::new();
        let mut input = w;
        for (stage, &width) in widths.iter().enumerate() {
            let stride = if stage == 0 { 1 } else { 2 };
            blocks.push(BasicBlock::new(input, width, stride, device));
            blocks.push(BasicBlock::new(width, width, 1, device));
            input = width;
        }
        KernelInitializer {
            stem: conv(self.in_channels, w, 7, 2, 3, device),
            stem_norm: BatchNormConfig::new(w).init(device),
            blocks,
            head: LinearConfig::new(8 * w, self.latent_dim).init(device),
        }
    }
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, pad: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// Two 3×3 convolutions with BatchNorm and a residual connection (1×1 projection when the shape changes).
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    norm1: BatchNorm,
    conv2: Conv2d,
    norm2: BatchNorm,
    project: Option<(Conv2d, BatchNorm)>,
}

impl BasicBlock {
    fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        BasicBlock {
            conv1: conv(cin, cout, 3, stride, 1, device),
            norm1: BatchNormConfig::new(cout).init(device),
            conv2: conv(cout, cout, 3, 1, 1, device),
            norm2: BatchNormConfig::new(cout).init(device),
            project: (stride != 1 || cin != cout).then(|| {
                (
                    conv(cin, cout, 1, stride, 0, device),
                    BatchNormConfig::new(cout).init(device),
                )
            }),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = relu(self.norm1.forward(self.conv1.forward(x.clone())));
        let y = self.norm2.forward(self.conv2.forward(y));
        let shortcut = match &self.project {
            Some((c, n)) => n.forward(c.forward(x)),
            None => x,
        };
        relu(y + shortcut)
    }
}

/// The kernel initializer E. Build with [`InitializerConfig::init`].
#[derive(Module, Debug)]
pub struct KernelInitializer {
    stem: Conv2d,
    stem_norm: BatchNorm,
    blocks: Vec<BasicBlock>,
    head: Linear,
}

impl KernelInitializer {
    /// # Shapes
    /// `[n, in_channels, h, w]` → `[n, latent_dim, 1, 1]` (no bounding non-linearity)
    pub fn forward(&self, y: Tensor<4>) -> Tensor<4> {
        let x = relu(self.stem_norm.forward(self.stem.forward(y))); // [n, w, h/2, w/2]
        let mut x = max_pool2d(
            x,
            MaxPoolOptions::new([3, 3])
                .with_stride([2, 2])
                .with_padding([1, 1]),
        ); // [n, w, h/4, w/4]
        for block in &self.blocks {
            x = block.forward(x);
        }
        let [n, c, _, _] = x.dims();
        let pooled = x.mean_dims(&[2, 3]).reshape([n, c]); // [n, 8w]
        let z = self.head.forward(pooled); // [n, latent]
        let [_, d] = z.dims();
        z.reshape([n, d, 1, 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn resnet18_has_the_reference_size_and_output_shape() {
        let device = Device::default();
        let net = InitializerConfig::new().init(&device);
        // spec §4.3 [derived]: 11 221 540 parameters; burn also counts the BatchNorm running
        // mean and variance: 2 · 4 800 channels
        assert_eq!(net.num_params() - 9_600, 11_221_540);
        let small = InitializerConfig::narrow(8).init(&device);
        for size in [[64, 64], [57, 90]] {
            let y = Tensor::<4>::random(
                [2, 1, size[0], size[1]],
                Distribution::Uniform(0.0, 1.0),
                &device,
            );
            assert_eq!(small.forward(y).dims(), [2, 100, 1, 1]);
        }
    }
}
