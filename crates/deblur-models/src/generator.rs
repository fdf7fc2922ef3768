//! The GKPILE/GLKM kernel generator G = G_k ∘ g₁ and its DCGAN discriminator (\[GLKM\]
//! §IV-B; GKPILE `train_generator.py`). g₁ maps a latent z (100×1×1) to the feature map w (256×s₀×s₀); G_k upsamples w by
//! three stride-2 transposed convolutions and a softmax over all K² entries, so every output is a
//! valid kernel. All BatchNorm layers use ε = 0.8 (the reference code's quirk, kept so that its
//! checkpoints load); no convolution has a bias.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu, sigmoid, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

/// Layer geometry of G and D for one kernel size (spec §4.1–4.2 tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Side s₀ of the first feature map w.
    pub s0: usize,
    /// Padding of G's first upsampling layer.
    pub p1: usize,
    /// Kernel size of G's second upsampling layer.
    pub k2: usize,
    /// Padding of G's second upsampling layer.
    pub p2: usize,
    /// Padding of G's last layer.
    pub p3: usize,
    /// D's four kernel sizes.
    pub d_kernels: [usize; 4],
    /// D's four paddings.
    pub d_pads: [usize; 4],
}

/// The geometry for kernel side `k`, for the sizes of the reference tables (31, 45, 55, 65, 75).
pub fn geometry(k: usize) -> Option<Geometry> {
    let g = |s0, p1, k2, p2, p3, d_kernels, d_pads| Geometry {
        s0,
        p1,
        k2,
        p2,
        p3,
        d_kernels,
        d_pads,
    };
    match k {
        31 => Some(g(3, 1, 5, 1, 1, [5, 5, 5, 3], [1, 1, 1, 0])),
        45 => Some(g(5, 1, 4, 1, 1, [5, 4, 5, 5], [1, 1, 1, 0])),
        55 => Some(g(5, 0, 5, 1, 1, [5, 5, 5, 5], [1, 1, 0, 0])),
        65 => Some(g(7, 1, 6, 1, 1, [5, 6, 5, 7], [1, 1, 1, 0])),
        75 => Some(g(7, 0, 4, 0, 0, [5, 4, 5, 7], [0, 0, 0, 0])),
        _ => None,
    }
}

/// Configuration of [`KernelGenerator`] and [`KernelDiscriminator`].
#[derive(Config, Debug, PartialEq)]
pub struct KernelGeneratorConfig {
    /// Kernel side K: 31, 45, 55, 65 or 75.
    pub kernel_size: usize,
    /// Latent dimension. Default: 100.
    #[config(default = 100)]
    pub latent_dim: usize,
    /// Base width (ngf = ndf). Default: 64.
    #[config(default = 64)]
    pub base_channels: usize,
    /// BatchNorm ε. Default: 0.8 (reference quirk).
    #[config(default = 0.8)]
    pub bn_epsilon: f64,
}

impl Default for KernelGeneratorConfig {
    /// The reference generator for 31×31 kernels.
    fn default() -> Self {
        KernelGeneratorConfig::new(31)
    }
}

fn dcgan_init() -> Initializer {
    Initializer::Normal {
        mean: 0.0,
        std: 0.02,
    }
}

fn norm(channels: usize, eps: f64, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels)
        .with_epsilon(eps)
        .init(device)
}

/// The kernel generator. Build with [`KernelGeneratorConfig::init`].
#[derive(Module, Debug)]
pub struct KernelGenerator {
    g1: ConvTranspose2d,
    bn1: BatchNorm,
    up1: ConvTranspose2d,
    bn2: BatchNorm,
    up2: ConvTranspose2d,
    bn3: BatchNorm,
    up3: ConvTranspose2d,
    kernel_size: usize,
    latent_dim: usize,
}

/// The DCGAN discriminator (training only). Build with [`KernelGeneratorConfig::init_discriminator`].
#[derive(Module, Debug)]
pub struct KernelDiscriminator {
    c1: Conv2d,
    c2: Conv2d,
    bn2: BatchNorm,
    c3: Conv2d,
    bn3: BatchNorm,
    c4: Conv2d,
}

impl KernelGeneratorConfig {
    /// The geometry of this kernel size.
    ///
    /// # Errors
    /// [`crate::Error::InvalidSetting`] naming the field (the supported sizes for a kernel size).
    pub fn geometry(&self) -> crate::Result<Geometry> {
        let bad = |setting, rule| Err(crate::Error::InvalidSetting { setting, rule });
        // checked before burn's layer constructors, which panic on these (found by fuzzing the
        // weights loader with damaged configs)
        if !(1..=4096).contains(&self.latent_dim) || !(1..=1024).contains(&self.base_channels) {
            return bad(
                "latent_dim, base_channels",
                format!(
                    "latent dimension {} and base width {} must lie in 1–4096 and 1–1024",
                    self.latent_dim, self.base_channels
                ),
            );
        }
        if !(self.bn_epsilon.is_finite() && self.bn_epsilon > 0.0) {
            return bad(
                "bn_epsilon",
                format!("BatchNorm ε {} must be finite and above 0", self.bn_epsilon),
            );
        }
        match geometry(self.kernel_size) {
            Some(g) => Ok(g),
            None => bad(
                "kernel_size",
                format!(
                    "{} is not supported; use 31, 45, 55, 65 or 75",
                    self.kernel_size
                ),
            ),
        }
    }

    /// Builds G with the DCGAN initialisation (weights N(0, 0.02), BN γ ~ N(1, 0.02), β = 0).
    ///
    /// # Panics
    /// If the kernel size has no geometry (check with [`KernelGeneratorConfig::geometry`]).
    pub fn init(&self, device: &Device) -> KernelGenerator {
        let geo = self.geometry().unwrap_or_else(|e| panic!("{e}"));
        let ngf = self.base_channels;
        let convt = |cin, cout, k, stride, pad| {
            ConvTranspose2dConfig::new([cin, cout], [k, k])
                .with_stride([stride, stride])
                .with_padding([pad, pad])
                .with_bias(false)
                .with_initializer(dcgan_init())
                .init(device)
        };
        let bn = |c| dcgan_norm(norm(c, self.bn_epsilon, device), device);
        KernelGenerator {
            g1: convt(self.latent_dim, 4 * ngf, geo.s0, 1, 0),
            bn1: bn(4 * ngf),
            up1: convt(4 * ngf, 2 * ngf, 5, 2, geo.p1),
            bn2: bn(2 * ngf),
            up2: convt(2 * ngf, ngf, geo.k2, 2, geo.p2),
            bn3: bn(ngf),
            up3: convt(ngf, 1, 5, 2, geo.p3),
            kernel_size: self.kernel_size,
            latent_dim: self.latent_dim,
        }
    }

    /// Builds the discriminator D with the DCGAN initialisation.
    ///
    /// # Panics
    /// If the kernel size has no geometry.
    pub fn init_discriminator(&self, device: &Device) -> KernelDiscriminator {
        let geo = self.geometry().unwrap_or_else(|e| panic!("{e}"));
        let ndf = self.base_channels;
        let conv = |cin, cout, k, stride, pad| {
            Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(false)
                .with_initializer(dcgan_init())
                .init(device)
        };
        let bn = |c| dcgan_norm(norm(c, self.bn_epsilon, device), device);
        let [a, b, c, d] = geo.d_kernels;
        let [pa, pb, pc, pd] = geo.d_pads;
        KernelDiscriminator {
            c1: conv(1, ndf, a, 2, pa),
            c2: conv(ndf, 2 * ndf, b, 2, pb),
            bn2: bn(2 * ndf),
            c3: conv(2 * ndf, 4 * ndf, c, 2, pc),
            bn3: bn(4 * ndf),
            c4: conv(4 * ndf, 1, d, 1, pd),
        }
    }
}

/// DCGAN BatchNorm initialisation: γ ~ N(1, 0.02), β = 0.
fn dcgan_norm(mut bn: BatchNorm, device: &Device) -> BatchNorm {
    let [c] = bn.gamma.shape().dims();
    let gamma = Initializer::Normal {
        mean: 1.0,
        std: 0.02,
    }
    .init::<1, _>([c], device);
    bn.gamma = gamma;
    bn
}

impl KernelGenerator {
    /// Kernel side K.
    pub fn kernel_size(&self) -> usize {
        self.kernel_size
    }

    /// Latent dimension.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// `n` latent codes z ~ N(0, I), `[n, latent_dim, 1, 1]`, drawn on the host from `seed`.
    pub fn sample_latent(&self, n: usize, seed: u64, device: &Device) -> Tensor<4> {
        let mut rng = StdRng::seed_from_u64(seed);
        let values: Vec<f32> = (0..n * self.latent_dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        Tensor::from_data(TensorData::new(values, [n, self.latent_dim, 1, 1]), device)
    }

    /// g₁: z `[n, latent, 1, 1]` → w `[n, 4·ngf, s₀, s₀]` (ConvTranspose → BN → ReLU).
    pub fn first_layer(&self, z: Tensor<4>) -> Tensor<4> {
        relu(self.bn1.forward(self.g1.forward(z)))
    }

    /// G_k: w `[n, 4·ngf, s₀, s₀]` → kernels `[n, 1, K, K]`, softmax over the K² entries.
    pub fn kernel_from_features(&self, w: Tensor<4>) -> Tensor<4> {
        let x = relu(self.bn2.forward(self.up1.forward(w))); // [n, 2ngf, ·, ·]
        let x = relu(self.bn3.forward(self.up2.forward(x))); // [n, ngf, ·, ·]
        let x = self.up3.forward(x); // [n, 1, K, K]
        let [n, _, h, w] = x.dims();
        softmax(x.reshape([n, h * w]), 1).reshape([n, 1, h, w])
    }

    /// G(z) = G_k(g₁(z)).
    ///
    /// # Shapes
    /// `[n, latent, 1, 1]` → `[n, 1, K, K]`
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        self.kernel_from_features(self.first_layer(z))
    }
}

impl KernelDiscriminator {
    /// Probability that each kernel is real.
    ///
    /// # Shapes
    /// `[n, 1, K, K]` → `[n]`
    pub fn forward(&self, kernels: Tensor<4>) -> Tensor<1> {
        let x = leaky_relu(self.c1.forward(kernels), 0.2);
        let x = leaky_relu(self.bn2.forward(self.c2.forward(x)), 0.2);
        let x = leaky_relu(self.bn3.forward(self.c3.forward(x)), 0.2);
        let x = sigmoid(self.c4.forward(x)); // [n, 1, 1, 1]
        let [n, _, _, _] = x.dims();
        x.reshape([n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_and_shapes_match_the_reference_tables() {
        let device = Device::default();
        // spec §4.1/4.2 [derived]: (K, G params, D params); BN running statistics excluded
        for (k, g_params, d_params) in [
            (31, 1_256_896, 1_028_672),
            (45, 1_592_768, 959_040),
            (55, 1_666_496, 1_032_768),
            (65, 2_371_008, 1_129_024),
            (75, 2_207_168, 965_184),
        ] {
            let config = KernelGeneratorConfig::new(k);
            let g = config.init(&device);
            let d = config.init_discriminator(&device);
            // burn counts BatchNorm running mean and variance as parameters: 2 · (256 + 128 + 64)
            // in G and 2 · (128 + 256) in D
            assert_eq!(g.num_params() - 896, g_params, "G for K={k}");
            assert_eq!(d.num_params() - 768, d_params, "D for K={k}");
            let kernels = g.forward(g.sample_latent(2, 1, &device));
            assert_eq!(kernels.dims(), [2, 1, k, k]);
            let sums: Vec<f32> = kernels
                .clone()
                .sum_dims(&[1, 2, 3])
                .into_data()
                .convert::<f32>()
                .try_into_vec()
                .unwrap();
            assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4), "{sums:?}");
            assert!(kernels.min().into_scalar::<f32>() >= 0.0);
            assert_eq!(
                d.forward(g.forward(g.sample_latent(3, 2, &device))).dims(),
                [3]
            );
        }
    }
}
