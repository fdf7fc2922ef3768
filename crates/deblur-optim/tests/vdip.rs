//! The variational DIP as an image part: its data term against \[VD\]'s six-term form, each
//! variant on the small synthetic problem of `solver.rs`, the entropy's hold on the standard
//! deviations, and reproducibility.

use burn::tensor::{Device, Distribution, Tensor};
use deblur_core::{Boundary, Kernel, UniformBlur};
use deblur_metrics::kernel_error;
use deblur_optim::models::FixedKernel;
use deblur_optim::solver::{Silent, Terms, solve_with};
use deblur_optim::{SelfDeblurConfig, VdipImageConfig, VdipVariant};
use deblur_priors::DipConfig;
use deblur_priors::vdip::{derivative_data_sum, diff_h, diff_v};
use deblur_testkit::{dead_leaves_problem, host, rng_lock, shake_kernel};

const K: usize = 9;
const OBS: usize = 64;

fn sum_sq(t: Tensor<4>) -> f64 {
    f64::from(t.square().sum().into_scalar::<f32>())
}

#[test]
fn merged_data_term_equals_the_six_term_sum() {
    // [VD]'s expected log-likelihood (×−A) as its scripts write it, with the blur applied to the
    // differences of the latent image in the last two terms
    let device = Device::default();
    device.seed(3);
    let x = Tensor::<4>::random([1, 2, 14, 13], Distribution::Default, &device);
    let y = Tensor::<4>::random([1, 2, 10, 9], Distribution::Default, &device);
    let k = Tensor::<4>::random([1, 1, 5, 5], Distribution::Default, &device);
    let blur = UniformBlur::new(Boundary::Valid);
    let r = blur.apply(x.clone(), k.clone()).unwrap() - y.clone();
    let (dv, dh) = (diff_v(r.clone()), diff_h(r.clone()));
    let reference = 0.5 * sum_sq(r.clone())
        + 0.25 * sum_sq(dv.clone())
        + 0.25 * sum_sq(dh.clone())
        + 0.125
            * (sum_sq(diff_v(dv.clone()))
                + sum_sq(diff_h(dv.clone()))
                + sum_sq(diff_h(dh.clone()))
                + sum_sq(diff_v(dh)))
        + 0.25 * sum_sq(blur.apply(diff_v(x.clone()), k.clone()).unwrap() - diff_v(y.clone()))
        + 0.25 * sum_sq(blur.apply(diff_h(x), k).unwrap() - diff_h(y));
    let merged = f64::from(derivative_data_sum(r).into_scalar::<f32>());
    assert!(
        (merged - reference).abs() < 1e-5 * reference,
        "merged {merged} vs six terms {reference}"
    );
}

fn small_vdip(variant: VdipVariant, iterations: usize) -> deblur_optim::ComposedMethod {
    let mut config = SelfDeblurConfig::paper([K, K]).with_iterations(iterations);
    config.image.dip = DipConfig::narrow(1, 16, 4, 4);
    config.kernel_hidden = 200;
    config.solver.kernel_lr.base = 2e-3;
    config.method().with_vdip(variant)
}

#[test]
fn each_variant_recovers_the_kernel_better_than_a_delta() {
    let device = Device::default();
    let p = dead_leaves_problem(OBS, shake_kernel(K, K, 5, 3), 2, &device);
    let delta = kernel_error(&Kernel::delta([K, K]).unwrap(), &p.kernel, 2).unwrap();
    let _guard = rng_lock();
    for variant in [VdipVariant::Std, VdipVariant::Sparse, VdipVariant::Extreme] {
        let out = small_vdip(variant, 400)
            .run(
                p.observation.clone(),
                &deblur_optim::Resources::none(),
                &mut Silent,
            )
            .unwrap();
        let estimate = Kernel::from_tensor(out.kernel).unwrap();
        let err = kernel_error(&estimate, &p.kernel, 2).unwrap();
        eprintln!(
            "{}: kernel MSE {:.3e} (delta {:.3e}), {:.1} s",
            variant.name(),
            err.mse,
            delta.mse,
            out.seconds
        );
        assert!(
            err.mse < 0.1 * delta.mse,
            "{}: kernel MSE {} vs delta {}",
            variant.name(),
            err.mse,
            delta.mse
        );
        // the read-out is the mean image, within the field of view
        assert_eq!(out.image.dims(), [1, 1, OBS, OBS]);
    }
}

/// Mean standard deviation after `steps` of the variational phase through the true kernel.
fn std_after(variant: VdipVariant, steps: usize) -> (f64, f64) {
    let device = Device::default();
    let p = dead_leaves_problem(32, shake_kernel(K, K, 5, 3), 2, &device);
    let autodiff = device.autodiff();
    let observation = p.observation.to_device(&autodiff);
    let mut config = VdipImageConfig::paper(variant).with_dip(DipConfig::narrow(2, 8, 2, 3));
    config.dip.input_channels = 3;
    config.warmup = 0;
    let latent = [32 + K - 1; 2];
    let solver = deblur_optim::SolverConfig::constant(steps, 0.01, 0.0);
    let mut image = config.build(1, latent, [K, K], steps, &autodiff);
    let objective = config.objective(&observation, latent, [K, K], steps);
    solve_with(
        observation,
        &mut image,
        &mut FixedKernel::new(p.kernel.to_tensor(&autodiff)),
        &UniformBlur::new(Boundary::Valid),
        &solver,
        Terms {
            data: &objective,
            penalties: &[&objective],
        },
        &mut Silent,
    )
    .unwrap();
    let std = host(image.mean_std().1);
    let mean = std.iter().map(|&v| f64::from(v)).sum::<f64>() / std.len() as f64;
    let min = std.iter().copied().fold(f32::INFINITY, f32::min);
    (mean, f64::from(min))
}

#[test]
fn the_entropy_keeps_the_standard_deviations_up() {
    let _guard = rng_lock();
    // Std has no entropy term: the sampled data term drives s towards 0; Sparse's entropy
    // (weight σ_n = 0.1) holds it up. The sigmoid head keeps both positive.
    let (std_only, std_min) = std_after(VdipVariant::Std, 250);
    let (sparse, sparse_min) = std_after(VdipVariant::Sparse, 250);
    eprintln!("mean s after 250 steps: Std {std_only:.4}, Sparse {sparse:.4}");
    assert!(std_min > 0.0 && sparse_min > 0.0);
    assert!(sparse > 4.0 * std_only, "Sparse {sparse} vs Std {std_only}");
}

#[test]
fn same_seed_same_result() {
    let device = Device::default();
    let p = dead_leaves_problem(OBS, shake_kernel(K, K, 5, 3), 2, &device);
    let _guard = rng_lock();
    let run = || {
        small_vdip(VdipVariant::Extreme, 12)
            .with_seed(4)
            .run(
                p.observation.clone(),
                &deblur_optim::Resources::none(),
                &mut Silent,
            )
            .unwrap()
    };
    let (a, b) = (run(), run());
    assert_eq!(a.losses, b.losses);
    assert_eq!(host(a.kernel), host(b.kernel));
    assert_eq!(host(a.image), host(b.image));
}
