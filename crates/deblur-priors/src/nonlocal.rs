//! Non-local block, dot-product variant with sub-sampling (Wang et al. 2018, "Non-local neural
//! networks"), (\[NL\], the "dot product" instantiation), as in the SelfDeblur DIP
//! (\[SD\], `networks/non_local_dot_product.py`): θ = 1×1 conv, φ and g = 1×1 conv
//! then 2×2 max-pool; `y = (θᵀφ / N) gᵀ` with N the number of pooled positions (no softmax);
//! `z = BN(W y) + x` with the BN's γ and β initialised to 0, so the block starts as the identity.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};

use crate::norm::BatchStatNorm;

/// Configuration of [`NonLocalBlock`].
#[derive(Config, Debug)]
pub struct NonLocalConfig {
    /// Channels C of the input and output.
    pub channels: usize,
    /// Inner channels C'; 0 means C / 2. Default: 0.
    #[config(default = 0)]
    pub inner_channels: usize,
}

impl Default for NonLocalConfig {
    /// The block of the SelfDeblur DIP: 128 channels, 64 inner.
    fn default() -> Self {
        NonLocalConfig::new(128)
    }
}

/// The non-local block. Build with [`NonLocalConfig::init`].
#[derive(Module, Debug)]
pub struct NonLocalBlock {
    theta: Conv2d,
    phi: Conv2d,
    g: Conv2d,
    w: Conv2d,
    norm: BatchStatNorm,
}

impl NonLocalConfig {
    /// Builds the block (identity at start).
    pub fn init(&self, device: &Device) -> NonLocalBlock {
        let inner = if self.inner_channels == 0 {
            (self.channels / 2).max(1)
        } else {
            self.inner_channels
        };
        let conv = |cin, cout| Conv2dConfig::new([cin, cout], [1, 1]).init(device);
        NonLocalBlock {
            theta: conv(self.channels, inner),
            phi: conv(self.channels, inner),
            g: conv(self.channels, inner),
            w: conv(inner, self.channels),
            norm: BatchStatNorm::zeroed(self.channels, device),
        }
    }
}

impl NonLocalBlock {
    /// # Shapes
    /// `[n, c, h, w]` → `[n, c, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, _, h, w] = x.dims();
        let pool = |t: Tensor<4>| {
            if h >= 2 && w >= 2 {
                max_pool2d(t, MaxPoolOptions::new([2, 2]))
            } else {
                t
            }
        };
        let theta = self.theta.forward(x.clone()); // [n, c', h, w]
        let c = theta.dims()[1];
        let phi = pool(self.phi.forward(x.clone())); // [n, c', h', w']
        let g = pool(self.g.forward(x.clone())); // [n, c', h', w']
        let [_, _, ph, pw] = phi.dims();
        let theta = theta.reshape([n, c, h * w]).swap_dims(1, 2); // [n, hw, c']
        let phi = phi.reshape([n, c, ph * pw]); // [n, c', h'w']
        let g = g.reshape([n, c, ph * pw]).swap_dims(1, 2); // [n, h'w', c']
        let f = theta.matmul(phi) / (ph * pw) as f64; // [n, hw, h'w']
        let y = f.matmul(g).swap_dims(1, 2).reshape([n, c, h, w]); // [n, c', h, w]
        self.norm.forward(self.w.forward(y)) + x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn starts_as_identity_and_has_reference_parameter_count() {
        let device = Device::default();
        let block = NonLocalConfig::new(128).init(&device);
        // θ, φ, g: 3 × (128·64 + 64); W: 64·128 + 128; its BN: 2·128 → 24 768 + 8 320 + 256 = 33 344
        assert_eq!(block.num_params(), 33_344);
        let small = NonLocalConfig::new(6).init(&device);
        let x = Tensor::<4>::random([1, 6, 9, 7], Distribution::Normal(0.0, 1.0), &device);
        let y = small.forward(x.clone());
        assert!((y - x).abs().max().into_scalar::<f32>() < 1e-6);
    }
}
