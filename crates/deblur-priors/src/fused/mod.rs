//! Fused operations of the DIP network with handwritten backward passes on the CPU backend.
//!
//! burn-flex computes a convolution's weight gradient through burn's generic fallback (a forward
//! convolution with the output gradient as a huge kernel), which made it ~75 % of a DIP iteration,
//! and batch normalisation + LeakyReLU as a dozen separate tensor passes. On `flex` these two
//! operations are replaced through burn's backend-extension mechanism by:
//!
//! - [`conv2d_unpadded`]: flex's own convolution forward and input gradient, and a weight gradient
//!   computed as tiled im2col + one GEMM per tile (the shape flex's GEMM is fast on);
//! - [`batch_norm_leaky_relu`]: batch-statistics BN and LeakyReLU in one pass forward and two
//!   passes backward.
//!
//! On other backends, or with `fused = false`, both fall back to the composition of burn's own
//! operations, which is also the reference the tests compare against (within 1e-4).

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, activation::leaky_relu};

#[cfg(feature = "flex")]
mod extension;
#[cfg(feature = "flex")]
mod flex_kernels;

/// Whether the fused path can run for tensors on this device (compiled in and on `flex`).
fn fused_available(x: &Tensor<4>) -> bool {
    #[cfg(feature = "flex")]
    {
        x.device() == burn::tensor::Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = x;
        false
    }
}

/// Convolution without padding, dilation 1, one group, with bias.
///
/// With `fused` and a `flex` tensor, runs the fused extension (fast weight gradient); otherwise
/// burn's `conv2d`. Both give the same values within float rounding.
///
/// # Shapes
/// `x` `[n, ci, h, w]`, `weight` `[co, ci, k, k]`, `bias` `[co]` →
/// `[n, co, (h − k) / stride + 1, (w − k) / stride + 1]`
pub fn conv2d_unpadded(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    fused: bool,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if fused && fused_available(&x) {
        return extension::conv2d(x, weight, bias, stride);
    }
    let _ = fused;
    conv2d(
        x,
        weight,
        Some(bias),
        ConvOptions::new([stride, stride], [0, 0], [1, 1], 1),
    )
}

/// Batch normalisation with the statistics of `x` (biased variance), then LeakyReLU:
/// `lrelu(γ (x − μ) / √(σ² + ε) + β)`. A `slope` of 1 gives plain batch normalisation.
///
/// # Shapes
/// `x` `[n, c, h, w]`, `gamma`, `beta` `[c]` → `[n, c, h, w]`
pub fn batch_norm_leaky_relu(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
    slope: f64,
    fused: bool,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if fused && fused_available(&x) {
        return extension::bn_lrelu(x, gamma, beta, epsilon, slope);
    }
    let _ = fused;
    let [_, c, _, _] = x.dims();
    let mean = x.clone().mean_dims(&[0, 2, 3]); // [1, c, 1, 1]
    let centred = x - mean;
    let var = centred.clone().square().mean_dims(&[0, 2, 3]);
    let normalised = centred / (var + epsilon).sqrt();
    let y = normalised * gamma.reshape([1, c, 1, 1]) + beta.reshape([1, c, 1, 1]);
    if slope == 1.0 {
        y
    } else {
        leaky_relu(y, slope)
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests;
