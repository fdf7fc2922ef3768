//! The fused operations against burn's own composition of the same operations (forward values and
//! every gradient within 1e-4), plus hand-computed values.

use super::*;
use burn::tensor::{Device, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn device() -> Device {
    Device::flex().autodiff()
}

/// Uniform values in [−1, 1), drawn on the host from `seed` (no backend RNG involved).
fn random<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<D> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::<D>::from_data(TensorData::new(values, shape), &device())
}

/// The values of a tensor, in row-major order (`deblur_testkit::host` does the same, but the
/// test kit depends on this crate through `deblur-models`).
fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec().unwrap()
}

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

/// Random weights for the output gradient, so that every output element matters differently.
fn weighted_sum(out: Tensor<4>, seed: u64) -> Tensor<1> {
    let w = random(out.dims(), seed).detach();
    (out * w).sum()
}

fn check_conv(x_shape: [usize; 4], co: usize, k: usize, stride: usize, pad: usize, reflect: bool) {
    let x = random(x_shape, 1).require_grad();
    let w = random([co, x_shape[1], k, k], 2).require_grad();
    let b = random([co], 3).require_grad();
    let run = |fused: bool| {
        let out = conv2d_padded(x.clone(), w.clone(), b.clone(), stride, pad, reflect, fused);
        let grads = weighted_sum(out.clone(), 4).backward();
        (
            out,
            x.grad(&grads).unwrap(),
            w.grad(&grads).unwrap(),
            b.grad(&grads).unwrap(),
        )
    };
    let (o1, gx1, gw1, gb1) = run(true);
    let (o2, gx2, gw2, gb2) = run(false);
    assert_eq!(o1.dims(), o2.dims());
    let [_, _, ho, wo] = o1.dims();
    let scale = (x_shape[1] * k * k) as f32; // sums of that many products: allow for rounding
    let tol = 1e-4 * scale.sqrt();
    assert!(max_abs_diff(o1.inner(), o2.clone().inner()) < tol);
    // without autodiff the fused forward is the banded GEMM of `conv2d_forward`
    let o3 = conv2d_padded(x.inner(), w.inner(), b.inner(), stride, pad, reflect, true);
    assert!(
        max_abs_diff(o3, o2.inner()) < tol,
        "inference forward differs"
    );
    assert!(max_abs_diff(gx1.clone(), gx2) < tol);
    let wtol = 1e-4 * ((x_shape[0] * ho * wo) as f32).sqrt();
    assert!(max_abs_diff(gw1, gw2) < wtol, "weight gradients differ");
    assert!(max_abs_diff(gb1, gb2) < wtol);
}

#[test]
fn conv_matches_burn_for_3x3_stride_1() {
    check_conv([1, 5, 23, 19], 7, 3, 1, 0, false);
    check_conv([1, 5, 23, 19], 7, 3, 1, 1, true);
    check_conv([1, 3, 12, 10], 2, 5, 1, 2, true);
    check_conv([1, 3, 12, 10], 2, 3, 1, 1, false);
}

#[test]
fn conv_matches_burn_for_3x3_stride_2_batch_2() {
    check_conv([2, 4, 20, 17], 6, 3, 2, 1, true);
}

#[test]
fn conv_matches_burn_for_1x1() {
    check_conv([1, 9, 15, 16], 3, 1, 1, 0, false);
    // batch 2 (the weight gradient reads image 1's channels in place) and a strided 1×1
    check_conv([2, 9, 15, 16], 3, 1, 1, 0, false);
    check_conv([2, 6, 15, 16], 4, 1, 2, 0, false);
}

#[test]
fn conv_weight_gradient_over_channel_groups_is_the_sum_of_input_windows() {
    // three input channels (split into groups of one and two), channel c = (0..9) + 10·c as a
    // 3×3 image, 2×2 kernel, loss = sum of the 2×2 output: dL/dW[c][ky][kx] is the sum of the
    // four inputs under tap (ky, kx), [[8, 12], [20, 24]] for channel 0 plus 4 · 10 · c.
    let d = device();
    let x = Tensor::<4>::from_data(
        TensorData::new(
            (0..3)
                .flat_map(|c| (0..9).map(move |v| (v + 10 * c) as f32))
                .collect::<Vec<_>>(),
            [1, 3, 3, 3],
        ),
        &d,
    );
    let w = Tensor::<4>::zeros([1, 3, 2, 2], &d).require_grad();
    let b = Tensor::<1>::zeros([1], &d);
    let grads = conv2d_padded(x, w.clone(), b, 1, 0, false, true)
        .sum()
        .backward();
    let gw = values(w.grad(&grads).unwrap());
    let expected: Vec<f32> = (0..3)
        .flat_map(|c| [8.0, 12.0, 20.0, 24.0].map(|v| v + 40.0 * c as f32))
        .collect();
    assert_eq!(gw, expected);
}

#[test]
fn conv_weight_gradient_is_the_sum_of_input_windows() {
    // x = 0..9 as a 3×3 image, 2×2 kernel, loss = sum of the 2×2 output: dL/dW[ky][kx] is the
    // sum of the four inputs x[oy + ky][ox + kx], i.e. [[0+1+3+4, 1+2+4+5], [3+4+6+7, 4+5+7+8]].
    let d = device();
    let x = Tensor::<4>::from_data(
        TensorData::new((0..9).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 3, 3]),
        &d,
    );
    let w = Tensor::<4>::zeros([1, 1, 2, 2], &d).require_grad();
    let b = Tensor::<1>::zeros([1], &d).require_grad();
    let grads = conv2d_padded(x, w.clone(), b.clone(), 1, 0, false, true)
        .sum()
        .backward();
    let gw = values(w.grad(&grads).unwrap());
    assert_eq!(gw, vec![8.0, 12.0, 20.0, 24.0]);
    let gb = values(b.grad(&grads).unwrap());
    assert_eq!(gb, vec![4.0]);
}

#[test]
fn conv_input_gradient_counts_the_kernel_taps_over_each_pixel() {
    // 3×3 image, kernel [[1, 2], [3, 4]], loss = sum of the 2×2 output: dL/dx[i][j] is the sum of
    // the taps w[ky][kx] with (i − ky, j − kx) an output position: corners see one tap, edges two,
    // the centre all four.
    let d = device();
    let x = Tensor::<4>::zeros([1, 1, 3, 3], &d).require_grad();
    let w = Tensor::<4>::from_data(TensorData::new(vec![1f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]), &d);
    let b = Tensor::<1>::zeros([1], &d);
    let grads = conv2d_padded(x.clone(), w, b, 1, 0, false, true)
        .sum()
        .backward();
    let gx = values(x.grad(&grads).unwrap());
    assert_eq!(gx, vec![1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 3.0, 7.0, 4.0]);
}

#[test]
fn conv_matches_burn_on_a_larger_image_at_both_strides() {
    // 16 input channels, 3×3, 120 × 130: closer to the networks' shapes than the cases above
    check_conv([1, 16, 120, 130], 8, 3, 1, 1, true);
    check_conv([1, 16, 120, 130], 8, 3, 2, 1, true);
    // the input gradient is the banded forward of the padded output gradient: 48 output
    // channels make bands of 2²⁰ / (48·9·104) = 23 of its 54 rows, in both images of the batch
    check_conv([2, 20, 50, 100], 48, 3, 1, 1, true);
}

#[test]
fn inference_conv_matches_burn_across_several_bands() {
    // 48 channels as the denoiser's hidden layers: a band of the banded GEMM holds
    // 2²⁰ / (48·9·wo) output rows, so 50 rows of 100 make bands of 24, 24 and 2
    for (shape, stride) in [([2, 48, 50, 100], 1), ([1, 48, 101, 99], 2)] {
        // `inner()`: the flex tensors without autodiff, the path `conv2d_forward` serves
        let x = random(shape, 5).inner();
        let w = random([48, 48, 3, 3], 6).inner();
        let b = random([48], 7).inner();
        assert_eq!(x.device(), Device::flex());
        let fused = conv2d_padded(x.clone(), w.clone(), b.clone(), stride, 1, true, true);
        let plain = conv2d_padded(x, w, b, stride, 1, true, false);
        assert_eq!(fused.dims(), plain.dims());
        assert!(max_abs_diff(fused, plain) < 1e-4 * 432f32.sqrt());
    }
}

#[test]
fn inference_conv_hand_computed() {
    // x = 0..9 as a 3×3 image, kernel [[1, 2], [3, 4]] (cross-correlation), bias 0.5:
    // out(0,0) = 0·1 + 1·2 + 3·3 + 4·4 = 27, out(0,1) = 1 + 4 + 12 + 20 = 37,
    // out(1,0) = 3 + 8 + 18 + 28 = 57, out(1,1) = 4 + 10 + 21 + 32 = 67, each + 0.5
    let d = Device::flex();
    let x = Tensor::<4>::from_data(
        TensorData::new((0..9).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 3, 3]),
        &d,
    );
    let w = Tensor::<4>::from_data(TensorData::new(vec![1f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]), &d);
    let b = Tensor::<1>::from_data(TensorData::new(vec![0.5f32], [1]), &d);
    let out = values(conv2d_padded(x, w, b, 1, 0, false, true));
    assert_eq!(out, vec![27.5, 37.5, 57.5, 67.5]);
}

fn check_bn(shape: [usize; 4], slope: f64) {
    let x = random(shape, 5).require_grad();
    let gamma = random([shape[1]], 6).require_grad();
    let beta = random([shape[1]], 7).require_grad();
    let run = |fused: bool| {
        let out = batch_norm_leaky_relu(x.clone(), gamma.clone(), beta.clone(), 1e-5, slope, fused);
        let grads = weighted_sum(out.clone(), 8).backward();
        (
            out,
            x.grad(&grads).unwrap(),
            gamma.grad(&grads).unwrap(),
            beta.grad(&grads).unwrap(),
        )
    };
    let (o1, gx1, gg1, gb1) = run(true);
    let (o2, gx2, gg2, gb2) = run(false);
    assert!(max_abs_diff(o1.inner(), o2.inner()) < 1e-4);
    assert!(max_abs_diff(gx1, gx2) < 1e-4);
    assert!(max_abs_diff(gg1, gg2) < 1e-3);
    assert!(max_abs_diff(gb1, gb2) < 1e-3);
}

#[test]
fn bn_leaky_relu_matches_burn() {
    check_bn([1, 6, 13, 11], 0.2);
    check_bn([3, 2, 5, 4], 0.2);
}

#[test]
fn bn_without_activation_matches_burn() {
    check_bn([1, 4, 9, 9], 1.0);
}

#[test]
fn bn_leaky_relu_hand_computed() {
    // one channel [1, 2, 3, 4]: mean 2.5, biased variance 1.25; γ = 2, β = 1:
    // y = 2·(x − 2.5)/√1.25 + 1 = [−1.683, 0.106, 1.894, 3.683]; LeakyReLU(0.2) scales the negative one.
    let d = Device::flex();
    let x = Tensor::<4>::from_data(TensorData::new(vec![1f32, 2., 3., 4.], [1, 1, 2, 2]), &d);
    let gamma = Tensor::<1>::from_data(TensorData::new(vec![2f32], [1]), &d);
    let beta = Tensor::<1>::from_data(TensorData::new(vec![1f32], [1]), &d);
    let y = values(batch_norm_leaky_relu(x, gamma, beta, 0.0, 0.2, true));
    let s = 1.25f32.sqrt();
    let expected = [
        0.2 * (-3.0 / s + 1.0),
        -1.0 / s + 1.0,
        1.0 / s + 1.0,
        3.0 / s + 1.0,
    ];
    for (a, b) in y.iter().zip(expected) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn upsampling_matches_burn_interpolate() {
    // burn's bilinear `interpolate` (half-pixel centres) is the independent reference for both
    // our paths, values and input gradients
    use burn::tensor::module::interpolate;
    use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
    for shape in [[1, 3, 7, 5], [2, 2, 1, 4]] {
        let x = random(shape, 9).require_grad();
        let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let out = f(x.clone());
            let grads = weighted_sum(out.clone(), 10).backward();
            (out, x.grad(&grads).unwrap())
        };
        let (o0, g0) = run(&|x| {
            let options = InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_align_corners(false)
                .with_output_size([2 * shape[2], 2 * shape[3]]);
            interpolate(x, options)
        });
        for fused in [true, false] {
            let (o, g) = run(&|x| upsample_bilinear2(x, fused));
            assert_eq!(o.dims(), o0.dims());
            assert!(
                max_abs_diff(o.inner(), o0.clone().inner()) < 1e-5,
                "fused {fused}"
            );
            assert!(max_abs_diff(g, g0.clone()) < 1e-5, "fused {fused}");
        }
    }
}

#[test]
fn upsampling_hand_computed() {
    // [1, 2] along a row: half-pixel centres give [1, 1.25, 1.75, 2] (PyTorch's
    // Upsample(scale_factor=2, mode='bilinear', align_corners=False) on this input).
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![1f32, 2.], [1, 1, 1, 2]),
        &Device::flex(),
    );
    let y = values(upsample_bilinear2(x, true));
    assert_eq!(y, vec![1.0, 1.25, 1.75, 2.0, 1.0, 1.25, 1.75, 2.0]);
}

#[test]
fn reflection_padding_hand_computed() {
    // 1×1 kernel of weight 1: the output is the padded input. Row [1, 2, 3] reflected by 1 is
    // [2, 1, 2, 3, 2]; a 1-row image padded vertically by reflection needs h ≥ 2, so use 2 rows.
    let d = Device::flex();
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![1f32, 2., 3., 4., 5., 6.], [1, 1, 2, 3]),
        &d,
    );
    let w = Tensor::<4>::ones([1, 1, 1, 1], &d);
    let b = Tensor::<1>::zeros([1], &d);
    let y = values(conv2d_padded(x, w, b, 1, 1, true, true));
    #[rustfmt::skip]
    let expected = vec![
        5., 4., 5., 6., 5.,
        2., 1., 2., 3., 2.,
        5., 4., 5., 6., 5.,
        2., 1., 2., 3., 2.,
    ];
    assert_eq!(y, expected);
}
