//! The SelfDeblur kernel generator G_k (\[SD\], the `fcn` network of the
//! authors' `networks/fcn.py`): a fixed noise vector
//! → Linear → ReLU6 → Linear → softmax over all K_h·K_w outputs, reshaped to a kernel. The softmax
//! makes the kernel non-negative and sum to 1 by construction.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{relu6, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Configuration for [`KernelMlp`]. Build with [`KernelMlpConfig::init`].
#[derive(Config, Debug)]
pub struct KernelMlpConfig {
    /// Kernel height and width in pixels.
    pub kernel_size: [usize; 2],
    /// Length of the fixed input noise vector. Default: 200.
    #[config(default = 200)]
    pub noise_dim: usize,
    /// Hidden width. Default: 1000.
    #[config(default = 1000)]
    pub hidden: usize,
}

impl Default for KernelMlpConfig {
    /// The SelfDeblur kernel network for 31×31 kernels.
    fn default() -> Self {
        KernelMlpConfig::new([31, 31])
    }
}

/// The kernel MLP.
#[derive(Module, Debug)]
pub struct KernelMlp {
    hidden: Linear,
    out: Linear,
    kernel_size: [usize; 2],
    noise_dim: usize,
}

impl KernelMlpConfig {
    /// Builds the MLP with PyTorch's default initialisation.
    pub fn init(&self, device: &Device) -> KernelMlp {
        let [kh, kw] = self.kernel_size;
        KernelMlp {
            hidden: LinearConfig::new(self.noise_dim, self.hidden).init(device),
            out: LinearConfig::new(self.hidden, kh * kw).init(device),
            kernel_size: self.kernel_size,
            noise_dim: self.noise_dim,
        }
    }
}

impl KernelMlp {
    /// The fixed input: `[1, noise_dim]` uniform `U[0, 1) · 0.1` from `seed` (spec §2.1).
    pub fn input_noise(&self, seed: u64, device: &Device) -> Tensor<2> {
        let mut rng = StdRng::seed_from_u64(seed);
        let values: Vec<f32> = (0..self.noise_dim)
            .map(|_| rng.random::<f32>() * 0.1)
            .collect();
        Tensor::from_data(TensorData::new(values, [1, self.noise_dim]), device)
    }

    /// The same MLP made to output `kernel` (`kh·kw` values, row by row, non-negative) on any
    /// input: the output layer's weights are set to zero and its bias to `ln(k + 10⁻⁴ max k)`, so
    /// that the softmax gives the kernel (its zero taps at 10⁻⁴ of the peak, so that they can
    /// grow). Training then moves both layers as usual: a warm start from an earlier estimate
    /// (the non-uniform solver starts every region from the global kernel this way).
    ///
    /// # Panics
    /// If `kernel` does not have `kh·kw` values (a programming error).
    pub fn starting_at(self, kernel: &[f32]) -> Self {
        let [kh, kw] = self.kernel_size;
        assert_eq!(kernel.len(), kh * kw, "a kernel of {kh}x{kw} taps");
        let device = self.out.weight.device();
        let peak = kernel
            .iter()
            .copied()
            .fold(0.0f32, f32::max)
            .max(f32::MIN_POSITIVE);
        let bias: Vec<f32> = kernel
            .iter()
            .map(|&v| (v.max(0.0) + 1e-4 * peak).ln())
            .collect();
        let [hidden, outputs] = self.out.weight.dims();
        let out = Linear {
            weight: Param::from_tensor(Tensor::zeros([hidden, outputs], &device)),
            bias: Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(bias, [outputs]),
                &device,
            ))),
        };
        KernelMlp { out, ..self }
    }

    /// # Shapes
    /// `noise`: `[1, noise_dim]` → `[1, 1, kh, kw]`, non-negative, summing to 1
    pub fn forward(&self, noise: Tensor<2>) -> Tensor<4> {
        let [kh, kw] = self.kernel_size;
        let hidden = relu6(self.hidden.forward(noise)); // [1, hidden]
        let kernel = softmax(self.out.forward(hidden), 1); // [1, kh·kw]
        kernel.reshape([1, 1, kh, kw]) // [1, 1, kh, kw]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warm_started_mlp_outputs_its_kernel() {
        let device = Device::default();
        let config = KernelMlpConfig::new([3, 3]).with_hidden(8);
        let target = [0.0, 0.1, 0.0, 0.2, 0.4, 0.2, 0.0, 0.1, 0.0];
        let net = config.init(&device).starting_at(&target);
        let noise = net.input_noise(5, &device);
        let k: Vec<f32> = net.forward(noise).into_data().try_to_vec().unwrap();
        // softmax(ln(t + 1e-4·0.4)) = (t + 4e-5) / (1 + 9·4e-5)
        for (got, want) in k.iter().zip(target) {
            let expected = (want + 4e-5) / (1.0 + 9.0 * 4e-5);
            assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        }
    }

    #[test]
    fn kernel_is_a_valid_psf_with_the_reference_parameter_count() {
        let device = Device::default();
        let mlp = KernelMlpConfig::new([13, 13]).init(&device);
        // 200·1000 + 1000 biases, then 1000·K² + K² biases: 201 000 + 1 001 · 169 = 370 169
        assert_eq!(mlp.num_params(), 370_169);
        let k = mlp.forward(mlp.input_noise(0, &device));
        assert_eq!(k.dims(), [1, 1, 13, 13]);
        assert!(k.clone().min().into_scalar::<f32>() >= 0.0);
        assert!((k.sum().into_scalar::<f32>() - 1.0).abs() < 1e-5);
    }
}
