//! Differentiable SSIM on burn tensors, for use as a loss (\[SSIM\] with its 11×11 Gaussian
//! window; as the `SSIM.py` loss of the SelfDeblur, BKS and GKPILE code): 11×11 Gaussian window (σ = 1.5), applied per channel with
//! **zero padding 5** (same size), C1 = 0.01², C2 = 0.03² (data range 1), and the mean of the SSIM
//! map over all pixels and channels, borders included. The loss term is `1 − ssim_tensor(…)`.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

use crate::ssim::gaussian_1d;

/// The `[1, 1, size, size]` Gaussian window (outer product of the normalised 1-D Gaussian).
pub fn gaussian_window(size: usize, sigma: f64, device: &Device) -> Tensor<4> {
    let g = gaussian_1d(size, sigma);
    let data: Vec<f32> = (0..size * size)
        .map(|i| (g[i / size] * g[i % size]) as f32)
        .collect();
    Tensor::from_data(TensorData::new(data, [1, 1, size, size]), device)
}

/// Mean SSIM of `a` and `b` (`[n, c, h, w]`, values in `[0, 1]`) as a 1-element tensor that
/// carries gradients.
///
/// # Shapes
/// `a`, `b`: `[n, c, h, w]` → `[1]`
///
/// # Panics
/// If the shapes differ.
pub fn ssim_tensor(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    assert_eq!(a.dims(), b.dims(), "ssim_tensor: shapes differ");
    let [n, c, h, w] = a.dims();
    let window = gaussian_window(11, 1.5, &a.device());
    let filter = |x: Tensor<4>| {
        conv2d(
            x.reshape([n * c, 1, h, w]),
            window.clone(),
            None,
            ConvOptions::new([1, 1], [5, 5], [1, 1], 1),
        )
    };
    let (c1, c2) = (0.01f32 * 0.01, 0.03f32 * 0.03);
    let mu_a = filter(a.clone()); // [n·c, 1, h, w]
    let mu_b = filter(b.clone());
    let mu_aa = mu_a.clone() * mu_a.clone();
    let mu_bb = mu_b.clone() * mu_b.clone();
    let mu_ab = mu_a * mu_b;
    let var_a = filter(a.clone() * a.clone()) - mu_aa.clone();
    let var_b = filter(b.clone() * b.clone()) - mu_bb.clone();
    let cov = filter(a * b) - mu_ab.clone();
    let numerator = (mu_ab * 2.0 + c1) * (cov * 2.0 + c2);
    let denominator = (mu_aa + mu_bb + c1) * (var_a + var_b + c2);
    (numerator / denominator).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SsimFiltering, SsimOptions, ssim};
    use ndarray::Array2;

    #[test]
    fn matches_the_host_ssim_with_same_filtering() {
        let device = Device::default();
        let (h, w) = (23, 29);
        let a = Array2::from_shape_fn((h, w), |(y, x)| ((y * 7 + x * 3) % 13) as f32 / 12.0);
        let b = Array2::from_shape_fn((h, w), |(y, x)| {
            (((y * 5 + x * 11) % 17) as f32 / 16.0) * 0.5 + 0.2
        });
        let to_t = |m: &Array2<f32>| {
            Tensor::<4>::from_data(
                TensorData::new(m.iter().copied().collect::<Vec<_>>(), [1, 1, h, w]),
                &device,
            )
        };
        let got = f64::from(ssim_tensor(to_t(&a), to_t(&b)).into_scalar::<f32>());
        let options = SsimOptions {
            filtering: SsimFiltering::Same,
            ..SsimOptions::default()
        };
        let expected = ssim(a.view(), b.view(), &options);
        assert!((got - expected).abs() < 1e-4, "{got} vs {expected}");
        let one = f64::from(ssim_tensor(to_t(&a), to_t(&a)).into_scalar::<f32>());
        assert!((one - 1.0).abs() < 1e-5);
    }

    #[test]
    fn has_gradients() {
        let device = Device::default().autodiff();
        let a = Tensor::<4>::random(
            [1, 2, 16, 16],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &device,
        )
        .require_grad();
        let b = Tensor::<4>::random(
            [1, 2, 16, 16],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &device,
        );
        let grads = (ssim_tensor(a.clone(), b).neg() + 1.0).backward();
        let g = a.grad(&grads).unwrap();
        assert!(g.abs().sum().into_scalar::<f32>() > 0.0);
    }
}
