//! The spatially varying blur as the solver's blur model: on an image whose two halves are
//! blurred by two different kernels, a field of two kernel MLPs under the SVOLA blur recovers
//! both kernels better than one kernel under the uniform blur recovers either.

use burn::tensor::{Device, Tensor};
use deblur_core::convert::array_to_tensor;
use deblur_core::{Boundary, Kernel, Svola, UniformBlur, WindowShape};
use deblur_kernels::bank::kernel_rng;
use deblur_kernels::{ColorMode, DeadLeaves, ImageSource};
use deblur_metrics::kernel_error;
use deblur_optim::SolverConfig;
use deblur_optim::models::{DipImage, KernelFieldModel, KernelModel, MlpKernel};
use deblur_optim::solver::{BlurModel, Silent, solve};
use deblur_priors::{DipConfig, KernelMlpConfig};
use deblur_testkit::rng_lock;

const K: usize = 9;
const H: usize = 48;
const W: usize = 96;

fn kernel_mlp(seed: u64, device: &Device) -> MlpKernel {
    MlpKernel::new(&KernelMlpConfig::new([K, K]).with_hidden(200), seed, device)
}

/// Kernel MSE (shift-aligned) of `estimate` against `truth`.
fn error(estimate: Tensor<4>, truth: &Kernel) -> f64 {
    kernel_error(&Kernel::from_tensor(estimate).unwrap(), truth, 2)
        .unwrap()
        .mse
}

#[test]
fn a_kernel_field_recovers_two_regions_better_than_one_kernel() {
    let device = Device::default();
    // a horizontal and a vertical 7 px motion: no single kernel explains both halves
    let line = |horizontal: bool| {
        let mut k = ndarray::Array2::<f32>::zeros((K, K));
        for t in 1..K - 1 {
            let (i, j) = if horizontal { (K / 2, t) } else { (t, K / 2) };
            k[[i, j]] = 1.0 / (K - 2) as f32;
        }
        Kernel::new(k).unwrap()
    };
    let truths = [line(true), line(false)];
    let latent = [H + K - 1, W + K - 1];
    let sharp = DeadLeaves::new(latent[0].max(latent[1]), ColorMode::Gray)
        .sample(&mut kernel_rng(2, 0))
        .unwrap();
    let sharp = sharp
        .slice(ndarray::s![.., ..latent[0], ..latent[1]])
        .to_owned();
    let field = Tensor::cat(truths.iter().map(|k| k.to_tensor(&device)).collect(), 0);
    let svola = Svola::new([1, 2], Boundary::Valid).with_window(WindowShape::BartlettHann);
    let observation = svola
        .apply(array_to_tensor(&sharp, &device), field)
        .unwrap();
    let solver = SolverConfig::dip_reference(2e-3, 1000).with_iterations(400);
    let autodiff = device.autodiff();
    let _guard = rng_lock();
    let run = |blur: &dyn BlurModel, kernel: &mut dyn KernelModel| {
        autodiff.seed(0);
        let mut image = DipImage::new(&DipConfig::narrow(1, 16, 4, 4), latent, 0.001, 0, &autodiff);
        solve(
            observation.clone().to_device(&autodiff),
            &mut image,
            kernel,
            blur,
            &solver,
            &mut Silent,
        )
        .unwrap()
    };
    let mut field_model = KernelFieldModel::new(vec![
        Box::new(kernel_mlp(0, &autodiff)),
        Box::new(kernel_mlp(1, &autodiff)),
    ]);
    let plan = svola.plan(latent, [K, K], &autodiff).unwrap();
    let out = run(&plan, &mut field_model);
    let field_errors: Vec<f64> = truths
        .iter()
        .enumerate()
        .map(|(r, truth)| error(out.kernel.clone().narrow(0, r, 1), truth))
        .collect();
    let mut single = kernel_mlp(0, &autodiff);
    let out = run(&UniformBlur::new(Boundary::Valid), &mut single);
    let single_errors: Vec<f64> = truths
        .iter()
        .map(|t| error(out.kernel.clone(), t))
        .collect();
    eprintln!("kernel MSE per region: field {field_errors:?}, one kernel {single_errors:?}");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&field_errors) < 0.25 * mean(&single_errors),
        "field {field_errors:?} vs one kernel {single_errors:?}"
    );
    assert!(field_errors.iter().zip(&single_errors).all(|(f, s)| f < s));
}
