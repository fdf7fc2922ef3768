//! GAN inversion: the latent code whose generated kernel best matches a target kernel,
//! `min_z L1(G(z), k)` by Adam (\[GLKM\] §IV-C, Eq. 4, the initializer's inner loop; also the
//! "fit" measure of a trained generator: how well its range covers held-out kernels).

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor};

use crate::generator::KernelGenerator;

/// One free tensor optimised directly (a latent code, a kernel code).
#[derive(Module, Debug)]
pub(crate) struct Free {
    value: Param<Tensor<4>>,
}

impl Free {
    /// Starts at `start` (detached, on an autodiff device), tracking its gradient.
    pub(crate) fn new(start: Tensor<4>) -> Self {
        Free {
            value: Param::from_tensor(start.detach().require_grad()),
        }
    }

    /// The current value, tracked by autodiff.
    pub(crate) fn value(&self) -> Tensor<4> {
        self.value.val()
    }
}

/// Result of [`invert`].
#[derive(Clone, Debug)]
pub struct Inversion {
    /// The latent codes found, `[n, latent, 1, 1]`.
    pub z: Tensor<4>,
    /// The kernels they generate, `[n, 1, K, K]`.
    pub kernels: Tensor<4>,
    /// Mean absolute error per kernel entry, per kernel.
    pub l1: Vec<f32>,
}

/// Inverts a frozen `generator` (evaluation mode) for `targets` (`[n, 1, K, K]`), starting from
/// `z0` (`[n, latent, 1, 1]`), with `steps` Adam steps of learning rate `lr` (reference: 100, 0.01).
pub fn invert(
    generator: &KernelGenerator,
    targets: Tensor<4>,
    z0: Tensor<4>,
    steps: usize,
    lr: f64,
    device: &Device,
) -> Inversion {
    let device = device.clone().autodiff();
    let generator = generator.clone().fork(&device).freeze();
    let targets = targets.autodiff().detach();
    let mut latent = Free::new(z0.autodiff());
    // PyTorch's Adam ε, as the reference code and the solver's models use
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    for _ in 0..steps {
        let loss = (generator.forward(latent.value()) - targets.clone())
            .abs()
            .mean();
        let mut grads = loss.backward();
        let params = GradientsParams::from_module(&mut grads, &latent);
        latent = optim.step(lr, latent.clone(), params);
    }
    let z = latent.value().detach();
    let kernels = generator.forward(z.clone()).detach();
    let [n, _, _, _] = kernels.dims();
    let l1: Vec<f32> = (kernels.clone() - targets)
        .abs()
        .reshape([n as i64, -1])
        .mean_dim(1)
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap_or_default();
    Inversion { z, kernels, l1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GanTrainConfig, GanTrainer, KernelGeneratorConfig};
    use deblur_core::Kernel;

    #[test]
    fn inverting_a_generated_kernel_lowers_the_error() {
        let device = Device::default();
        // a briefly trained tiny generator (an untrained one makes nearly uniform kernels in eval mode)
        let bank: Vec<Kernel> = (0..32)
            .map(|i| {
                let mut v = ndarray::Array2::<f32>::zeros((31, 31));
                for t in 0..(5 + i % 9) {
                    v[[10 + t, 12 + (t * i) % 7]] = 1.0;
                }
                Kernel::new(v).unwrap()
            })
            .collect();
        let config = GanTrainConfig {
            model: KernelGeneratorConfig::new(31).with_base_channels(8),
            batch: 16,
            lr: 2e-3,
            beta1: 0.5,
            seed: 1,
        };
        let mut trainer = GanTrainer::new(config, &bank, &device).unwrap();
        for _ in 0..40 {
            trainer.train_step();
        }
        let generator = trainer.generator().valid();
        let target = generator.forward(generator.sample_latent(1, 7, &device));
        let start = generator.sample_latent(1, 8, &device);
        let before = invert(&generator, target.clone(), start.clone(), 0, 0.01, &device).l1[0];
        let after = invert(&generator, target, start, 60, 0.05, &device).l1[0];
        assert!(after < 0.5 * before, "L1 {before} → {after}");
    }
}
