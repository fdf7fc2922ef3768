//! Batch normalisation with batch statistics always (the DIP networks of \[SD\] and \[GLKM\] are never
//! switched to eval mode in their authors' code, so every forward pass normalises by the statistics of the current
//! tensor). `y = γ (x − μ) / √(σ² + ε) + β`, with μ and the biased σ² per channel over batch and
//! space. No running statistics are kept, which also saves their update on every step.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use crate::fused::batch_norm_leaky_relu;

/// Batch normalisation over `[n, c, h, w]` with batch statistics.
#[derive(Module, Debug)]
pub struct BatchStatNorm {
    /// Scale γ, `[c]`.
    pub gamma: Param<Tensor<1>>,
    /// Shift β, `[c]`.
    pub beta: Param<Tensor<1>>,
    /// ε added to the variance.
    pub epsilon: f64,
    /// Use the fused kernel on `flex` ([`crate::fused`]); `false` composes burn's own operations.
    pub fused: bool,
}

impl BatchStatNorm {
    /// γ = 1, β = 0 (PyTorch's initialisation), ε = 1e-5.
    pub fn new(channels: usize, device: &Device) -> Self {
        BatchStatNorm {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            epsilon: 1e-5,
            fused: true,
        }
    }

    /// γ = β = 0: the layer outputs zeros (used to start residual branches as identities).
    pub fn zeroed(channels: usize, device: &Device) -> Self {
        BatchStatNorm {
            gamma: Param::from_tensor(Tensor::zeros([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            epsilon: 1e-5,
            fused: true,
        }
    }

    /// The same layer with the fused kernel switched on or off.
    pub fn with_fused(mut self, fused: bool) -> Self {
        self.fused = fused;
        self
    }

    /// # Shapes
    /// `[n, c, h, w]` → `[n, c, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_leaky(x, 1.0)
    }

    /// Normalisation followed by LeakyReLU with `slope` (1 = no activation), fused on `flex`.
    ///
    /// # Shapes
    /// `[n, c, h, w]` → `[n, c, h, w]`
    pub fn forward_leaky(&self, x: Tensor<4>, slope: f64) -> Tensor<4> {
        batch_norm_leaky_relu(
            x,
            self.gamma.val(),
            self.beta.val(),
            self.epsilon,
            slope,
            self.fused,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn normalises_each_channel_to_zero_mean_unit_variance() {
        let device = Device::default();
        // channel 0: [1, 2, 3, 4] → mean 2.5, biased var 1.25; channel 1 constant 7 → all zeros
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1f32, 2., 3., 4., 7., 7., 7., 7.], [1, 2, 2, 2]),
            &device,
        );
        let y: Vec<f32> = BatchStatNorm::new(2, &device)
            .forward(x)
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .unwrap();
        let s = (1.25f32 + 1e-5).sqrt();
        let expected = [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s, 0., 0., 0., 0.];
        for (a, b) in y.iter().zip(expected) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
