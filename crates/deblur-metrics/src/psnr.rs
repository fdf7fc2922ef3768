//! Mean squared error and peak signal-to-noise ratio.

use ndarray::{ArrayView, Dimension, Zip};

/// Mean squared error between two arrays of the same shape (accumulated in `f64`).
///
/// # Panics
/// If the shapes differ.
#[must_use]
pub fn mse<D: Dimension>(a: ArrayView<f32, D>, b: ArrayView<f32, D>) -> f64 {
    assert_eq!(a.shape(), b.shape(), "mse: shapes differ");
    let mut sum = 0f64;
    Zip::from(&a).and(&b).for_each(|&x, &y| {
        let d = f64::from(x) - f64::from(y);
        sum += d * d;
    });
    sum / a.len().max(1) as f64
}

/// PSNR in dB: `10 log10(data_range² / MSE)`. Images in `[0, 1]` take `data_range = 1`, which
/// gives the same number as 8-bit images with range 255. Identical inputs give `f64::INFINITY`.
///
/// # Panics
/// If the shapes differ.
#[must_use]
pub fn psnr<D: Dimension>(
    estimate: ArrayView<f32, D>,
    reference: ArrayView<f32, D>,
    data_range: f64,
) -> f64 {
    let m = mse(estimate, reference);
    if m == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (data_range * data_range / m).log10()
}

/// [`psnr`] of two tensors of one shape (data range 1), read back to the host once; the
/// estimate is clamped to `[0, 1]` first, as an image saved from it would be.
///
/// # Panics
/// If the shapes differ (burn's shape check).
#[must_use]
pub fn psnr_tensors(estimate: burn::tensor::Tensor<4>, reference: burn::tensor::Tensor<4>) -> f64 {
    let m = f64::from(
        (estimate.clamp(0.0, 1.0) - reference)
            .square()
            .mean()
            .into_scalar::<f32>(),
    );
    if m == 0.0 {
        return f64::INFINITY;
    }
    -10.0 * m.log10()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn tensor_psnr_matches_the_hand_value_and_clamps_the_estimate() {
        use burn::tensor::{Tensor, TensorData};
        let device = burn::tensor::Device::default();
        let t = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, 1, 1, 2]), &device);
        // errors 0.1 and 0.3 → MSE 0.05 → 13.0103 dB
        let got = psnr_tensors(t(vec![0.1, 0.3]), t(vec![0.0, 0.0]));
        assert!((got - 13.0103).abs() < 1e-3, "{got}");
        // 1.4 is clamped to 1: errors 0 and 0.1 → MSE 0.005 → 23.0103 dB
        let got = psnr_tensors(t(vec![1.4, 0.1]), t(vec![1.0, 0.0]));
        assert!((got - 23.0103).abs() < 1e-3, "{got}");
        assert_eq!(
            psnr_tensors(t(vec![0.5, 0.5]), t(vec![0.5, 0.5])),
            f64::INFINITY
        );
    }

    #[test]
    fn hand_computed_values() {
        // errors 0.1 and 0.3 → MSE 0.05 → PSNR = 10 log10(1 / 0.05) = 13.0103 dB
        let a = array![0.1f32, 0.3];
        let b = array![0.0f32, 0.0];
        assert!((mse(a.view(), b.view()) - 0.05).abs() < 1e-8);
        assert!((psnr(a.view(), b.view(), 1.0) - 13.010_299_956_639_812).abs() < 1e-5);
        // 8-bit scale: the same error in units of 255 gives the same PSNR
        let a255 = a.mapv(|v| v * 255.0);
        assert!((psnr(a255.view(), b.view(), 255.0) - 13.010_299_956_639_812).abs() < 1e-4);
        assert_eq!(psnr(a.view(), a.view(), 1.0), f64::INFINITY);
    }
}
