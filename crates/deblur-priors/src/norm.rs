//! Batch normalisation with batch statistics always (reference spec §0: the DIP networks are never
//! switched to eval mode, so every forward pass normalises by the statistics of the current
//! tensor). `y = γ (x − μ) / √(σ² + ε) + β`, with μ and the biased σ² per channel over batch and
//! space. No running statistics are kept, which also saves their update on every step.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

/// Batch normalisation over `[n, c, h, w]` with batch statistics.
#[derive(Module, Debug)]
pub struct BatchStatNorm {
    /// Scale γ, `[c]`.
    pub gamma: Param<Tensor<1>>,
    /// Shift β, `[c]`.
    pub beta: Param<Tensor<1>>,
    /// ε added to the variance.
    pub epsilon: f64,
}

impl BatchStatNorm {
    /// γ = 1, β = 0 (PyTorch's initialisation), ε = 1e-5.
    pub fn new(channels: usize, device: &Device) -> Self {
        BatchStatNorm {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            epsilon: 1e-5,
        }
    }

    /// γ = β = 0: the layer outputs zeros (used to start residual branches as identities).
    pub fn zeroed(channels: usize, device: &Device) -> Self {
        BatchStatNorm {
            gamma: Param::from_tensor(Tensor::zeros([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            epsilon: 1e-5,
        }
    }

    /// # Shapes
    /// `[n, c, h, w]` → `[n, c, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, c, _, _] = x.dims();
        let mean = x.clone().mean_dims(&[0, 2, 3]); // [1, c, 1, 1]
        let centred = x - mean;
        let var = centred.clone().square().mean_dims(&[0, 2, 3]); // [1, c, 1, 1]
        let normalised = centred / (var + self.epsilon).sqrt();
        let gamma = self.gamma.val().reshape([1, c, 1, 1]);
        let beta = self.beta.val().reshape([1, c, 1, 1]);
        normalised * gamma + beta
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
