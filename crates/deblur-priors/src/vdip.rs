//! The variational deep image prior (VDIP; Huo, Masoumzadeh, Kushol, Yang, TPAMI 2023, \[VD\]):
//! the DIP skip network ([`crate::Dip`]) emits, for each of `c` image channels, a per-pixel mean
//! μ and standard deviation s (both through the network's sigmoid), so the latent image is the
//! factorised Gaussian `q(x) = Π N(x; μ, s²)`. A blind solver fits it by one reparameterised
//! sample per step ([`reparameterised_sample`]) under the negative evidence lower bound: a
//! derivative-weighted expected log-likelihood ([`derivative_data_sum`]) plus, weighted by a
//! decaying σ_n, the entropy of q ([`entropy_sum`]) and one of two hand-crafted priors, a sparse
//! prior on the expected squared gradients ([`sparse_gradient_prior`]) or the dark- and
//! bright-channel prior ([`extreme_channel_prior`]).
//!
//! The functions here are the terms, on `[1, c, h, w]` tensors, differentiable, summed (not
//! averaged): the solver in `deblur-optim` normalises and weights them as \[VD\] does.
//!
//! Where \[VD\]'s code would divide by a detached value at or near zero (its Extreme scripts then
//! skip the optimiser step when a gradient is NaN), the divisor here keeps its sign and is held
//! at least [`RATIO_FLOOR`] in magnitude, so every step is finite and can be applied.

use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Distribution, Tensor};

/// Smallest magnitude of the detached divisor of the ratio priors (\[VD\] adds 1e-6 in the
/// sparse prior and 1e-45 in the extreme-channel prior; the latter cannot stop a division by a
/// sample near zero).
pub const RATIO_FLOOR: f64 = 1e-10;

/// Smallest standard deviation inside the entropy's logarithm (\[VD\]: 1e-45, below the
/// smallest normal `f32`; 1e-37 is above it).
pub const STD_FLOOR: f64 = 1e-37;

/// Splits the network's `[1, 2c, h, w]` output into the mean (channels `0..c`) and the standard
/// deviation (channels `c..2c`).
///
/// # Panics
/// If the channel count is odd.
pub fn split_mean_std(output: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let [_, channels, _, _] = output.dims();
    assert!(
        channels % 2 == 0,
        "VDIP output needs 2c channels, got {channels}"
    );
    let c = channels / 2;
    (output.clone().narrow(1, 0, c), output.narrow(1, c, c))
}

/// One reparameterised sample `μ + s ⊙ ε`, ε ~ N(0, I) from the device RNG: gradients reach both
/// the mean and the standard deviation.
pub fn reparameterised_sample(mean: Tensor<4>, std: Tensor<4>) -> Tensor<4> {
    let eps = Tensor::random(mean.shape(), Distribution::Normal(0.0, 1.0), &mean.device());
    mean + std * eps
}

/// Vertical forward difference `u(i+1, j) − u(i, j)` (one row shorter).
pub fn diff_v(u: Tensor<4>) -> Tensor<4> {
    let [_, _, h, _] = u.dims();
    u.clone().narrow(2, 1, h - 1) - u.narrow(2, 0, h - 1)
}

/// Horizontal forward difference `u(i, j+1) − u(i, j)` (one column shorter).
pub fn diff_h(u: Tensor<4>) -> Tensor<4> {
    let [_, _, _, w] = u.dims();
    u.clone().narrow(3, 1, w - 1) - u.narrow(3, 0, w - 1)
}

fn sq(u: Tensor<4>) -> Tensor<1> {
    u.square().sum()
}

/// The sums of \[VD\]'s expected log-likelihood for a residual `r = x ⋆ k − y`, merged:
/// `½‖r‖² + ½‖D_v r‖² + ½‖D_h r‖² + ⅛‖D_vD_v r‖² + ⅛‖D_hD_h r‖² + ¼‖D_vD_h r‖²`.
///
/// \[VD\] writes six first- and second-order terms: `¼‖D_v r‖²` and `¼‖k ⋆ D_v x − D_v y‖²` are
/// equal (a valid correlation commutes with a difference), and so are `⅛‖D_hD_v r‖²` and
/// `⅛‖D_vD_h r‖²`; each pair is one term here. The residual needs at least 3×3 pixels.
pub fn derivative_data_sum(residual: Tensor<4>) -> Tensor<1> {
    let dv = diff_v(residual.clone());
    let dh = diff_h(residual.clone());
    let zero = sq(residual) * 0.5;
    let first = (sq(dv.clone()) + sq(dh.clone())) * 0.5;
    let second = (sq(diff_v(dv.clone())) + sq(diff_h(dh))) * 0.125 + sq(diff_h(dv)) * 0.25;
    zero + first + second
}

/// `Σ log s` over all standard deviations (held at least [`STD_FLOOR`]): the entropy of q up to
/// constants.
pub fn entropy_sum(std: Tensor<4>) -> Tensor<1> {
    std.clamp_min(STD_FLOOR).log().sum()
}

/// `value / sg(divisor)` summed, the divisor detached and held at least [`RATIO_FLOOR`] in
/// magnitude with its sign: its value counts the elements, its gradient is `∇value / divisor`
/// (the gradient of `log |value|` when the divisor is the value).
fn detached_ratio_sum(value: Tensor<4>, divisor: Tensor<4>) -> Tensor<1> {
    let d = divisor.detach();
    let sign = d.clone().greater_equal_elem(0.0).float() * 2.0 - 1.0;
    let d = d.abs().clamp_min(RATIO_FLOOR) * sign;
    (value / d).sum()
}

/// \[VD\]'s sparse prior T₂ (VDIP-Sparse): with `P_v = (D_v μ)² + s²(i+1, j) + s²(i, j)`, the
/// expected squared vertical gradient under q, and `P_h` likewise,
/// `¼ Σ P_v / sg(P_v + 10⁻⁶) + ¼ Σ P_h / sg(P_h + 10⁻⁶)`. Its value is about a quarter of the
/// element count; its gradient is that of `¼ Σ log(P + 10⁻⁶)`, a sparse (Jeffreys-like) prior
/// on the gradients, reweighted each step. Normalise by [`sparse_normaliser`].
pub fn sparse_gradient_prior(mean: Tensor<4>, std: Tensor<4>) -> Tensor<1> {
    let [_, _, h, w] = mean.dims();
    let var = std.square();
    let pv = diff_v(mean.clone()).square()
        + var.clone().narrow(2, 1, h - 1)
        + var.clone().narrow(2, 0, h - 1);
    let ph = diff_h(mean).square() + var.clone().narrow(3, 1, w - 1) + var.narrow(3, 0, w - 1);
    let term = |p: Tensor<4>| detached_ratio_sum(p.clone(), p + 1e-6) * 0.25;
    term(pv) + term(ph)
}

/// \[VD\]'s divisor of the sparse prior: `c·(h − 1)·(w − 1)` for a `c × h × w` latent image.
pub fn sparse_normaliser(channels: usize, size: [usize; 2]) -> f64 {
    (channels * (size[0] - 1) * (size[1] - 1)) as f64
}

/// Minimum over all channels and a `window × window` neighbourhood, stride 1, no padding:
/// `[1, c, h, w]` → `[1, 1, h − window + 1, w − window + 1]` (the minimum is separable: rows,
/// then columns).
///
/// # Panics
/// If the window is 0 or larger than the image.
pub fn windowed_min(u: Tensor<4>, window: usize) -> Tensor<4> {
    let darkest = u.min_dim(1).neg();
    let rows = max_pool2d(
        darkest,
        MaxPoolOptions::new([window, 1]).with_stride([1, 1]),
    );
    max_pool2d(rows, MaxPoolOptions::new([1, window]).with_stride([1, 1])).neg()
}

/// \[VD\]'s extreme-channel prior T₂ (VDIP-Extreme) with fresh draws from the device RNG:
/// - dark: `x²` under q has mean `a = μ² + s²` and standard deviation
///   `b = √(4μ²s² + 2s⁴)`; a sample `a + ε₁ b` is reduced by [`windowed_min`] to `Dk`;
/// - bright: `(1 − x)²` with mean `(1 − μ)² + s²` and, as \[VD\] writes it, standard deviation
///   `√(4s² + 4μ²s² + 2s⁴)` (the exact variance has a further `−8μs²`), reduced likewise to `Br`;
///
/// then `¼ Σ Dk / sg(Dk) + ¼ Σ Br / sg(Br)`: the gradient of a log prior pulling the dark
/// channel and the bright channel's complement towards 0. Normalise by
/// [`extreme_normaliser`]. \[VD\]'s window is 35.
pub fn extreme_channel_prior(mean: Tensor<4>, std: Tensor<4>, window: usize) -> Tensor<1> {
    let var = std.square();
    let var2 = var.clone().square();
    let mean_sq = mean.clone().square();
    let draw = |a: Tensor<4>, variance: Tensor<4>| {
        let eps = Tensor::random(a.shape(), Distribution::Normal(0.0, 1.0), &a.device());
        windowed_min(a + (variance + 1e-32).sqrt() * eps, window)
    };
    let dark = draw(
        mean_sq.clone() + var.clone(),
        mean_sq.clone() * var.clone() * 4.0 + var2.clone() * 2.0,
    );
    let bright = draw(
        (mean.neg() + 1.0).square() + var.clone(),
        var.clone() * 4.0 + mean_sq * var * 4.0 + var2 * 2.0,
    );
    (detached_ratio_sum(dark.clone(), dark) + detached_ratio_sum(bright.clone(), bright)) * 0.25
}

/// \[VD\]'s divisor of the extreme-channel prior: the number of windows,
/// `(h − window + 1)·(w − window + 1)` (no channel factor).
pub fn extreme_normaliser(size: [usize; 2], window: usize) -> f64 {
    ((size[0] + 1 - window) * (size[1] + 1 - window)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn tensor(values: &[f32], shape: [usize; 4]) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values.to_vec(), shape), &Device::default())
    }

    fn scalar(t: Tensor<1>) -> f64 {
        f64::from(t.into_scalar::<f32>())
    }

    /// The gradient of `total` with respect to `x`, on the host.
    fn gradient(x: &Tensor<4>, total: Tensor<1>) -> Vec<f32> {
        x.grad(&total.backward())
            .unwrap()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn data_sum_by_hand() {
        // r = [[0, 1, 3], [2, 2, 2], [1, 0, 4]]
        // ‖r‖² = 39; D_v r = [[2, 1, -1], [-1, -2, 2]] → 15; D_h r = [[1, 2], [0, 0], [-1, 4]] → 22
        // D_vD_v r = [[-3, -3, 3]] → 27; D_hD_h r = [[1], [0], [5]] → 26;
        // D_vD_h r = [[-1, -2], [-1, 4]] → 22
        let r = tensor(&[0., 1., 3., 2., 2., 2., 1., 0., 4.], [1, 1, 3, 3]);
        let expected = 0.5 * 39.0 + 0.5 * 15.0 + 0.5 * 22.0 + 0.125 * (27.0 + 26.0) + 0.25 * 22.0;
        assert!((scalar(derivative_data_sum(r)) - expected).abs() < 1e-4);
    }

    #[test]
    fn sparse_prior_value_and_entropy_by_hand() {
        // μ = [[0, 1], [1, 1]], s = 0.5 everywhere: P_v = [1.5, 0.5], P_h = [1.5, 0.5];
        // each ratio P / (P + 1e-6) ≈ 1 → T₂ ≈ ¼·2 + ¼·2 = 1
        let mean = tensor(&[0., 1., 1., 1.], [1, 1, 2, 2]);
        let std = tensor(&[0.5; 4], [1, 1, 2, 2]);
        let t2 = scalar(sparse_gradient_prior(mean, std.clone()));
        assert!((t2 - 1.0).abs() < 1e-5, "{t2}");
        assert!((scalar(entropy_sum(std)) - 4.0 * 0.5f64.ln()).abs() < 1e-5);
        assert_eq!(sparse_normaliser(3, [10, 12]), 3.0 * 9.0 * 11.0);
        assert_eq!(extreme_normaliser([40, 50], 35), 6.0 * 16.0);
    }

    #[test]
    fn sparse_prior_gradient_is_that_of_the_log() {
        // μ = [[a, a], [b, b]], s = 0: P_v = (b − a)² in both columns, P_h = 0;
        // ∂/∂μ(1, j) of ¼ Σ log(P_v + 1e-6) = ¼ · 2(b − a) / ((b − a)² + 1e-6) ≈ ½ / (b − a) = 1
        let device = Device::default().autodiff();
        let mean = Tensor::<4>::from_data(
            TensorData::new(vec![0.2f32, 0.2, 0.7, 0.7], [1, 1, 2, 2]),
            &device,
        )
        .require_grad();
        let std = Tensor::<4>::zeros([1, 1, 2, 2], &device);
        let g = gradient(&mean, sparse_gradient_prior(mean.clone(), std));
        for (got, want) in g.iter().zip([-1.0, -1.0, 1.0, 1.0]) {
            assert!((f64::from(*got) - want).abs() < 1e-4, "{g:?}");
        }
    }

    #[test]
    fn extreme_prior_counts_its_windows_and_pulls_the_dark_channel_down() {
        // s = 0: the samples are the means' squares exactly; each ratio is 1 → ¼ (4 + 4) on a
        // 3×3 image with a 2×2 window
        let device = Device::default().autodiff();
        let values = vec![0.5f32, 0.6, 0.7, 0.4, 0.5, 0.6, 0.3, 0.4, 0.2];
        let mean =
            Tensor::<4>::from_data(TensorData::new(values, [1, 1, 3, 3]), &device).require_grad();
        let std = Tensor::<4>::zeros([1, 1, 3, 3], &device);
        let total = extreme_channel_prior(mean.clone(), std, 2);
        assert!((scalar(total.clone()) - 2.0).abs() < 1e-5);
        // the darkest pixel (0.2, bottom right) is the minimum of one window: ∂/∂μ of
        // ¼ log μ² = ½ / μ = 2.5 from the dark part; the bright part ¼ log (1 − μ)² pulls the
        // brightest (0.7) up: −½ / 0.3
        let g = gradient(&mean, total);
        assert!((f64::from(g[8]) - 2.5).abs() < 1e-3, "{g:?}");
        assert!((f64::from(g[2]) + 0.5 / 0.3).abs() < 1e-3, "{g:?}");
    }

    #[test]
    fn samples_have_the_model_mean_and_variance() {
        let device = Device::default();
        device.seed(7);
        let n = 200_000;
        let mean = Tensor::<4>::full([1, 1, 1, n], 0.3, &device);
        let std = Tensor::<4>::full([1, 1, 1, n], 0.2, &device);
        let x: Vec<f32> = reparameterised_sample(mean, std)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        let m = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let var = x.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n as f64;
        // standard errors: 0.2/√n ≈ 4.5e-4 for the mean, 0.04·√(2/n) ≈ 1.3e-4 for the variance
        assert!((m - 0.3).abs() < 3e-3, "mean {m}");
        assert!((var - 0.04).abs() < 1e-3, "variance {var}");
    }

    #[test]
    fn windowed_min_takes_channels_and_window() {
        // two channels of 3×4; a 2×2 window over the per-pixel minimum
        let u = tensor(
            &[
                5., 4., 9., 9., 8., 7., 6., 9., 9., 9., 9., 0., //
                6., 1., 9., 9., 9., 9., 9., 2., 3., 9., 9., 9.,
            ],
            [1, 2, 3, 4],
        );
        // per-pixel minimum: [[5, 1, 9, 9], [8, 7, 6, 2], [3, 9, 9, 0]]
        let m: Vec<f32> = windowed_min(u, 2)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(m, vec![1., 1., 2., 3., 6., 0.]);
    }

    #[test]
    fn ratios_keep_the_sign_and_stay_finite_at_zero() {
        let device = Device::default().autodiff();
        let v = Tensor::<4>::from_data(
            TensorData::new(vec![-0.5f32, 0.0, 0.25], [1, 1, 1, 3]),
            &device,
        )
        .require_grad();
        let total = detached_ratio_sum(v.clone(), v.clone());
        // −0.5/−0.5 + 0/1e-10 + 0.25/0.25
        assert!((scalar(total.clone()) - 2.0).abs() < 1e-6);
        let g = gradient(&v, total);
        assert!((g[0] + 2.0).abs() < 1e-5 && (g[2] - 4.0).abs() < 1e-5);
        assert!(g[1].is_finite() && (f64::from(g[1]) / 1e10 - 1.0).abs() < 1e-5);
    }
}
