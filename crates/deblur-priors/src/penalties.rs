//! Image and kernel penalties on `[n, c, h, w]` tensors, differentiable:
//!
//! - hyper-Laplacian `Σ (g_u² + g_v² + ε)^{α/2}` with forward differences g (Krishnan & Fergus 2009;
//!   α = 2/3 by default), the natural-image gradient prior;
//! - total variation, isotropic `Σ √(g_u² + g_v² + ε)` and anisotropic `Σ |g_u| + |g_v|`;
//! - kernel L2 `Σ k²`.
//!
//! Sums are over all pixels (differences only where both neighbours exist) and channels.

use burn::tensor::Tensor;

/// Forward differences along rows and columns, cropped to a common `[n, c, h − 1, w − 1]`.
fn gradients(x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let [_, _, h, w] = x.dims();
    let gu = x.clone().narrow(3, 1, w - 1) - x.clone().narrow(3, 0, w - 1); // [n, c, h, w−1]
    let gv = x.clone().narrow(2, 1, h - 1) - x.narrow(2, 0, h - 1); // [n, c, h−1, w]
    (gu.narrow(2, 0, h - 1), gv.narrow(3, 0, w - 1))
}

/// Hyper-Laplacian penalty `Σ (g_u² + g_v² + ε)^{α/2}`.
///
/// # Panics
/// If the image is smaller than 2×2.
pub fn hyper_laplacian(x: Tensor<4>, alpha: f64, epsilon: f64) -> Tensor<1> {
    let (gu, gv) = gradients(x);
    (gu.square() + gv.square() + epsilon)
        .powf_scalar(alpha / 2.0)
        .sum()
}

/// Isotropic total variation `Σ √(g_u² + g_v² + ε)`.
pub fn tv_isotropic(x: Tensor<4>, epsilon: f64) -> Tensor<1> {
    let (gu, gv) = gradients(x);
    (gu.square() + gv.square() + epsilon).sqrt().sum()
}

/// Anisotropic total variation `Σ |g_u| + |g_v|`.
pub fn tv_anisotropic(x: Tensor<4>) -> Tensor<1> {
    let (gu, gv) = gradients(x);
    gu.abs().sum() + gv.abs().sum()
}

/// Kernel L2 penalty `Σ k²`.
pub fn kernel_l2(kernel: Tensor<4>) -> Tensor<1> {
    kernel.square().sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn image() -> Tensor<4> {
        // [[0, 1], [3, 7]]: g_u = 1 (top row, first column), g_v = 3
        Tensor::from_data(
            TensorData::new(vec![0f32, 1., 3., 7.], [1, 1, 2, 2]),
            &Device::default(),
        )
    }

    #[test]
    fn hand_computed_values() {
        let v = |t: Tensor<1>| t.into_scalar::<f32>();
        assert!((v(tv_anisotropic(image())) - 4.0).abs() < 1e-6);
        assert!((v(tv_isotropic(image(), 0.0)) - 10f32.sqrt()).abs() < 1e-5);
        // (1 + 9)^{1/3}
        assert!((v(hyper_laplacian(image(), 2.0 / 3.0, 0.0)) - 10f32.powf(1.0 / 3.0)).abs() < 1e-5);
        assert!((v(kernel_l2(image())) - 59.0).abs() < 1e-5);
    }

    #[test]
    fn hyper_laplacian_gradient_matches_finite_differences() {
        let device = Device::default().autodiff();
        let x0: Vec<f32> = (0..20).map(|i| ((i * 7) % 5) as f32 * 0.2).collect();
        let make = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, 1, 4, 5]), &device);
        let x = make(x0.clone()).require_grad();
        let grads = hyper_laplacian(x.clone(), 2.0 / 3.0, 1e-2).backward();
        let g: Vec<f32> = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .unwrap();
        for idx in [0usize, 6, 13] {
            let eps = 1e-3f32;
            let (mut p, mut m) = (x0.clone(), x0.clone());
            p[idx] += eps;
            m[idx] -= eps;
            let fd = (hyper_laplacian(make(p), 2.0 / 3.0, 1e-2).into_scalar::<f32>()
                - hyper_laplacian(make(m), 2.0 / 3.0, 1e-2).into_scalar::<f32>())
                / (2.0 * eps);
            assert!(
                (fd - g[idx]).abs() < 2e-2 * (1.0 + g[idx].abs()),
                "[{idx}] fd {fd} vs {}",
                g[idx]
            );
        }
    }
}
