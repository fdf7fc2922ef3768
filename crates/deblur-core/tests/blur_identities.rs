//! Identities the uniform blur must satisfy: impulse responses at the documented position,
//! adjointness, agreement of the direct and FFT implementations, and autodiff gradients equal to
//! finite differences.

use burn::tensor::{Device, Tensor, TensorData};
use deblur_core::blur::{BlurMethod, Boundary, UniformBlur};
use deblur_core::pad::Padding;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MODES: [Boundary; 6] = [
    Boundary::Valid,
    Boundary::Same(Padding::Zero),
    Boundary::Same(Padding::Reflect),
    Boundary::Same(Padding::Symmetric),
    Boundary::Same(Padding::Replicate),
    Boundary::Same(Padding::Circular),
];
const METHODS: [BlurMethod; 2] = [BlurMethod::Direct, BlurMethod::Fft];

fn random(dims: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    Tensor::from_data(TensorData::new(v, dims), device)
}

fn to_vec(t: Tensor<4>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

/// An asymmetric kernel with distinct positive entries 1..=kh·kw (not normalised: linearity
/// makes that irrelevant, and distinct values expose any flip or shift).
fn ramp_kernel(kh: usize, kw: usize, device: &Device) -> (Vec<f32>, Tensor<4>) {
    let v: Vec<f32> = (1..=kh * kw).map(|i| i as f32).collect();
    (
        v.clone(),
        Tensor::from_data(TensorData::new(v, [1, 1, kh, kw]), device),
    )
}

#[test]
fn impulse_response_is_the_kernel_rotated_about_the_impulse() {
    let device = Device::default();
    let (h, w) = (16, 13);
    let (pr, pc) = (7usize, 6usize);
    for (kh, kw) in [(5, 3), (4, 6)] {
        let (kv, kernel) = ramp_kernel(kh, kw, &device);
        let (ch, cw) = ((kh - 1) / 2, (kw - 1) / 2);
        let mut delta = vec![0f32; h * w];
        delta[pr * w + pc] = 1.0;
        let image = Tensor::<4>::from_data(TensorData::new(delta, [1, 1, h, w]), &device);
        for boundary in MODES {
            for method in METHODS {
                let op = UniformBlur::new(boundary).with_method(method);
                let out = op.apply(image.clone(), kernel.clone()).unwrap();
                let [_, _, oh, ow] = out.dims();
                let got = to_vec(out);
                // expected: same → y[p + c − u] = k[u]; valid → y[p − u] = k[u]
                let (or, oc) = match boundary {
                    Boundary::Valid => (pr as isize, pc as isize),
                    Boundary::Same(_) => ((pr + ch) as isize, (pc + cw) as isize),
                };
                let mut expected = vec![0f32; oh * ow];
                for u in 0..kh {
                    for v in 0..kw {
                        let (r, c) = (or - u as isize, oc - v as isize);
                        expected[r as usize * ow + c as usize] = kv[u * kw + v];
                    }
                }
                for (i, (a, b)) in got.iter().zip(&expected).enumerate() {
                    assert!(
                        (a - b).abs() < 1e-4,
                        "{boundary:?} {method:?} K={kh}x{kw}: pixel {i} = {a}, expected {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn circular_boundary_wraps_an_impulse_at_the_corner() {
    let device = Device::default();
    let (kv, kernel) = ramp_kernel(3, 3, &device);
    let mut delta = vec![0f32; 64];
    delta[0] = 1.0; // impulse at (0, 0)
    let image = Tensor::<4>::from_data(TensorData::new(delta, [1, 1, 8, 8]), &device);
    for method in METHODS {
        let out = to_vec(
            UniformBlur::new(Boundary::Same(Padding::Circular))
                .with_method(method)
                .apply(image.clone(), kernel.clone())
                .unwrap(),
        );
        // y[(0 + 1 − u) mod 8] = k[u]: k[2, 2] lands on (7, 7), k[0, 0] on (1, 1)
        assert!((out[7 * 8 + 7] - kv[8]).abs() < 1e-4, "{method:?}");
        assert!((out[8 + 1] - kv[0]).abs() < 1e-4, "{method:?}");
        assert!((out[7 * 8 + 1] - kv[6]).abs() < 1e-4, "{method:?}");
    }
}

#[test]
fn adjoint_satisfies_inner_product_identity() {
    let device = Device::default();
    let (h, w) = (19, 22);
    for (i, (kdims, idims)) in [
        ([1, 1, 7, 6], [1, 1, h, w]),
        ([1, 3, 5, 5], [2, 3, h, w]),
        ([2, 1, 8, 9], [2, 2, h, w]),
    ]
    .into_iter()
    .enumerate()
    {
        let x = random(idims, 10 + i as u64, &device);
        let kernel = random(kdims, 20 + i as u64, &device).abs();
        for boundary in MODES {
            for method in METHODS {
                let op = UniformBlur::new(boundary).with_method(method);
                let ax = op.apply(x.clone(), kernel.clone()).unwrap();
                let y = random(ax.dims(), 30, &device);
                let aty = op.adjoint(y.clone(), kernel.clone(), [h, w]).unwrap();
                assert_eq!(aty.dims(), idims);
                let lhs = (ax * y).sum().into_scalar::<f32>();
                let rhs = (x.clone() * aty).sum().into_scalar::<f32>();
                let rel = (lhs - rhs).abs() / lhs.abs().max(rhs.abs());
                assert!(
                    rel < 1e-4,
                    "{boundary:?} {method:?} {kdims:?}: {lhs} vs {rhs}"
                );
            }
        }
    }
}

#[test]
fn direct_and_fft_agree() {
    let device = Device::default();
    for (kdims, idims) in [
        ([1, 1, 9, 9], [1, 1, 40, 37]),
        ([1, 3, 8, 10], [1, 3, 33, 30]),
        ([2, 1, 15, 15], [2, 1, 31, 64]),
    ] {
        let x = random(idims, 1, &device);
        let kernel = random(kdims, 2, &device).abs();
        for boundary in MODES {
            let direct = UniformBlur::new(boundary).with_method(BlurMethod::Direct);
            let fft = direct.with_method(BlurMethod::Fft);
            let a = to_vec(direct.apply(x.clone(), kernel.clone()).unwrap());
            let b = to_vec(fft.apply(x.clone(), kernel.clone()).unwrap());
            let max = a
                .iter()
                .zip(&b)
                .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
            assert!(
                max < 1e-4,
                "{boundary:?} {kdims:?}: max abs difference {max}"
            );
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    let device = Device::default().autodiff();
    let (h, w) = (12, 14);
    let x0 = random([1, 1, h, w], 3, &device);
    let k0 = random([1, 1, 5, 4], 4, &device).abs();
    for boundary in [
        Boundary::Valid,
        Boundary::Same(Padding::Reflect),
        Boundary::Same(Padding::Circular),
    ] {
        for method in METHODS {
            let op = UniformBlur::new(boundary).with_method(method);
            let out_dims = op.apply(x0.clone(), k0.clone()).unwrap().dims();
            let weights = random(out_dims, 5, &device);
            let loss = |x: Tensor<4>, k: Tensor<4>| -> f64 {
                f64::from(
                    (op.apply(x, k).unwrap() * weights.clone())
                        .sum()
                        .into_scalar::<f32>(),
                )
            };
            let x = x0.clone().require_grad();
            let k = k0.clone().require_grad();
            let grads = (op.apply(x.clone(), k.clone()).unwrap() * weights.clone())
                .sum()
                .backward();
            let gx = to_vec(x.grad(&grads).unwrap());
            let gk = to_vec(k.grad(&grads).unwrap());
            let eps = 1e-2f32;
            // the loss is linear in x and in k separately, so central differences are exact up to rounding
            for &(idx, is_image) in &[
                (0usize, true),
                (5 * w + 7, true),
                (h * w - 1, true),
                (0, false),
                (9, false),
                (19, false),
            ] {
                let (base, numel, dims) = if is_image {
                    (&x0, h * w, [1, 1, h, w])
                } else {
                    (&k0, 20, [1, 1, 5, 4])
                };
                let mut bump = vec![0f32; numel];
                bump[idx] = eps;
                let bump = Tensor::<4>::from_data(TensorData::new(bump, dims), &device);
                let (plus, minus) = (base.clone() + bump.clone(), base.clone() - bump);
                let fd = if is_image {
                    (loss(plus, k0.clone()) - loss(minus, k0.clone())) / (2.0 * f64::from(eps))
                } else {
                    (loss(x0.clone(), plus) - loss(x0.clone(), minus)) / (2.0 * f64::from(eps))
                };
                let analytic = f64::from(if is_image { gx[idx] } else { gk[idx] });
                assert!(
                    (fd - analytic).abs() < 2e-3 * (1.0 + analytic.abs()),
                    "{boundary:?} {method:?} {} [{idx}]: fd {fd} vs autodiff {analytic}",
                    if is_image { "image" } else { "kernel" }
                );
            }
        }
    }
}

#[test]
fn kernel_larger_than_image_is_an_error() {
    let device = Device::default();
    let op = UniformBlur::new(Boundary::Same(Padding::Reflect));
    let err = op
        .apply(
            random([1, 1, 5, 5], 1, &device),
            random([1, 1, 7, 3], 2, &device),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        deblur_core::Error::KernelLargerThanImage {
            kernel: [7, 3],
            image: [5, 5]
        }
    ));
    let err = op
        .apply(
            random([1, 2, 9, 9], 1, &device),
            random([1, 3, 3, 3], 2, &device),
        )
        .unwrap_err();
    assert!(matches!(err, deblur_core::Error::ShapeMismatch { .. }));
}

#[test]
fn seeded_noise_is_reproducible_and_has_the_right_spread() {
    let device = Device::default();
    let zero = Tensor::<4>::zeros([1, 1, 64, 64], &device);
    let a = to_vec(deblur_core::add_gaussian_noise(zero.clone(), 0.05, 7).unwrap());
    let b = to_vec(deblur_core::add_gaussian_noise(zero.clone(), 0.05, 7).unwrap());
    let c = to_vec(deblur_core::add_gaussian_noise(zero, 0.05, 8).unwrap());
    assert_eq!(a, b);
    assert_ne!(a, c);
    let var = a.iter().map(|v| v * v).sum::<f32>() / a.len() as f32;
    assert!((var.sqrt() - 0.05).abs() < 0.003, "std {}", var.sqrt());
}

/// The FFT path's handwritten backward (on flex) against burn's autodiff of `conv2d` (the direct
/// path) for kernels shared across channels, one per channel and one per image, through the blur
/// and through its adjoint.
#[test]
fn fft_gradients_match_the_direct_path_for_broadcast_kernels() {
    let device = Device::default().autodiff();
    for (i, (kdims, idims)) in [
        ([1, 1, 6, 5], [2, 3, 17, 20]),
        ([1, 3, 5, 5], [2, 3, 16, 15]),
        ([2, 1, 7, 4], [2, 2, 18, 13]),
    ]
    .into_iter()
    .enumerate()
    {
        let x0 = random(idims, 40 + i as u64, &device);
        let k0 = random(kdims, 50 + i as u64, &device).abs();
        for boundary in [Boundary::Valid, Boundary::Same(Padding::Reflect)] {
            for through_adjoint in [false, true] {
                let grads_of = |method| {
                    let op = UniformBlur::new(boundary).with_method(method);
                    let (x, k) = (x0.clone().require_grad(), k0.clone().require_grad());
                    let out = if through_adjoint {
                        let [oh, ow] = op
                            .output_size([idims[2], idims[3]], [kdims[2], kdims[3]])
                            .unwrap();
                        let r = x.clone().narrow(2, 0, oh).narrow(3, 0, ow);
                        op.adjoint(r, k.clone(), [idims[2], idims[3]]).unwrap()
                    } else {
                        op.apply(x.clone(), k.clone()).unwrap()
                    };
                    let weights = random(out.dims(), 60, &device);
                    let grads = (out * weights).sum().backward();
                    (
                        to_vec(x.grad(&grads).unwrap()),
                        to_vec(k.grad(&grads).unwrap()),
                    )
                };
                let (dx_direct, dk_direct) = grads_of(BlurMethod::Direct);
                let (dx_fft, dk_fft) = grads_of(BlurMethod::Fft);
                for (what, a, b) in [
                    ("image", &dx_direct, &dx_fft),
                    ("kernel", &dk_direct, &dk_fft),
                ] {
                    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
                    let max = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
                    assert!(
                        max < 1e-4 * scale.max(1.0),
                        "{boundary:?} adjoint={through_adjoint} {kdims:?} {what}: {max} (scale {scale})"
                    );
                }
            }
        }
    }
}

/// The refitted cost model on flex (host FFTs): at 256² the FFT blur measured faster from a 5 px
/// kernel on (0.9 against 1.9 ms forward + backward, docs/benchmarks.md), the direct one for 3 px.
#[test]
fn auto_picks_the_fft_from_a_five_pixel_kernel_at_256() {
    let device = Device::default();
    let pick = |k: usize| BlurMethod::Auto.resolve([256 + k - 1; 2], [k, k], &device);
    assert_eq!(pick(3), BlurMethod::Direct);
    assert_eq!(pick(5), BlurMethod::Fft);
    assert_eq!(pick(75), BlurMethod::Fft);
    // an explicit choice is kept
    assert_eq!(
        BlurMethod::Direct.resolve([256; 2], [75, 75], &device),
        BlurMethod::Direct
    );
}
