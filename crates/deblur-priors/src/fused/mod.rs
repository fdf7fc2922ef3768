//! Fused operations of the DIP network with handwritten backward passes on the CPU backend.
//!
//! burn-flex computes a convolution's weight gradient through burn's generic fallback (a forward
//! convolution with the output gradient as a huge kernel), which made it ~75 % of a DIP iteration,
//! and batch normalisation + LeakyReLU as a dozen separate tensor passes. On `flex` these two
//! operations, the padding and the upsampling are replaced through burn's backend-extension mechanism by:
//!
//! - [`conv2d_padded`]: reflection/zero padding in one pass (burn composes it of slices and
//!   concatenations), the forward as bands of im2col + GEMM run side by side on the rayon pool
//!   (flex's own convolution leaves the second core idle), the input gradient of stride-1
//!   convolutions as the same banded forward of the zero-padded output gradient with the turned
//!   weight (flex's transposed convolution for stride 2 and 1 × 1), and a weight gradient
//!   computed as tiled im2col + one GEMM per tile (the shape flex's GEMM is fast on);
//! - [`upsample_bilinear2`]: the DIP's bilinear ×2 upsampling as two separable passes (its
//!   portable path also replaces burn's `interpolate`, which cannot differentiate on cubecl);
//! - [`batch_norm_leaky_relu`]: batch-statistics BN and LeakyReLU in one pass forward and two
//!   passes backward.
//!
//! On other backends, or with `fused = false`, both fall back to the composition of burn's own
//! operations, which is also the reference the tests compare against (within 1e-4).

use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Tensor, activation::leaky_relu};

#[cfg(feature = "flex")]
mod extension;
#[cfg(feature = "flex")]
mod flex_kernels;

/// Whether to run the fused extension: asked for, compiled in, and `x` is on `flex`.
#[cfg(feature = "flex")]
fn use_extension(x: &Tensor<4>, fused: bool) -> bool {
    fused && deblur_core::flex_ext::on_flex(x)
}

/// Padding by `pad` pixels on each side (reflection as PyTorch's `ReflectionPad2d`, or zeros),
/// then convolution with bias, dilation 1, one group.
///
/// With `fused` and a `flex` tensor, runs the fused extension (padding in one pass, fast weight
/// gradient); otherwise burn's `pad` and `conv2d`. Both give the same values within rounding.
///
/// # Shapes
/// `x` `[n, ci, h, w]`, `weight` `[co, ci, k, k]`, `bias` `[co]` →
/// `[n, co, (h + 2 pad − k) / stride + 1, (w + 2 pad − k) / stride + 1]`
pub fn conv2d_padded(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    pad: usize,
    reflect: bool,
    fused: bool,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if use_extension(&x, fused) {
        return extension::conv2d(x, weight, bias, stride, pad, reflect);
    }
    #[cfg(not(feature = "flex"))]
    let _ = fused;
    let x = if pad == 0 {
        x
    } else {
        let mode = if reflect {
            PadMode::Reflect
        } else {
            PadMode::Constant(0.0)
        };
        x.pad([(pad, pad), (pad, pad)], mode)
    };
    conv2d(
        x,
        weight,
        Some(bias),
        ConvOptions::new([stride, stride], [0, 0], [1, 1], 1),
    )
}

/// Bilinear ×2 upsampling with half-pixel centres (`align_corners = false`), as PyTorch's
/// `Upsample(scale_factor=2, mode='bilinear')`.
///
/// Fused on `flex`; elsewhere composed of slices, concatenations, products and an interleave,
/// all differentiable on every backend (burn's cubecl backends have no backward for bilinear
/// `interpolate`, so the DIP could not train on wgpu or CUDA through it).
///
/// # Shapes
/// `[n, c, h, w]` → `[n, c, 2h, 2w]`
pub fn upsample_bilinear2(x: Tensor<4>, fused: bool) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if use_extension(&x, fused) {
        return extension::upsample2x(x);
    }
    #[cfg(not(feature = "flex"))]
    let _ = fused;
    upsample_axis(upsample_axis(x, 3), 2)
}

/// Doubles `axis` (2 or 3) of `x`: `out[2i] = ¾ x[i] + ¼ x[i−1]`, `out[2i+1] = ¾ x[i] + ¼ x[i+1]`,
/// indices clamped at the ends.
fn upsample_axis(x: Tensor<4>, axis: usize) -> Tensor<4> {
    let mut dims = x.dims();
    let n = dims[axis];
    let (prev, next) = if n == 1 {
        (x.clone(), x.clone())
    } else {
        let first = x.clone().narrow(axis, 0, 1);
        let last = x.clone().narrow(axis, n - 1, 1);
        (
            Tensor::cat(vec![first, x.clone().narrow(axis, 0, n - 1)], axis),
            Tensor::cat(vec![x.clone().narrow(axis, 1, n - 1), last], axis),
        )
    };
    let even = x.clone() * 0.75 + prev * 0.25;
    let odd = x * 0.75 + next * 0.25;
    dims[axis] = 2 * n;
    // [.., n, 2, ..] interleaves even and odd along the axis once flattened
    Tensor::stack::<5>(vec![even, odd], axis + 1).reshape(dims)
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
    if use_extension(&x, fused) {
        return extension::bn_lrelu(x, gamma, beta, epsilon, slope);
    }
    #[cfg(not(feature = "flex"))]
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
