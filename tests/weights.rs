//! The shipped weights load (checksum verified against `weights/manifest.json`) and generate valid
//! kernels; a held-out shake kernel is reconstructed by GAN inversion better than by the mean
//! kernel of the held-out set; the shipped initializer predicts a kernel for a blurred image.

use std::path::PathBuf;

use deblur::core::burn::module::Module;
use deblur::core::burn::tensor::Device;
use deblur::kernels::{KernelFamily as Synth, synthesize_bank};
use deblur::models::inversion::invert;
use deblur::models::weights::load_generator;

fn weights() -> PathBuf {
    deblur_testkit::weights_dir()
}

#[test]
fn shipped_generator_loads_and_makes_valid_kernels() {
    let device = Device::default();
    let generator = load_generator(&weights(), "shake-k31-v1", &device)
        .unwrap()
        .valid();
    assert_eq!(generator.kernel_size(), 31);
    let kernels = generator.forward(generator.sample_latent(8, 3, &device));
    assert_eq!(kernels.dims(), [8, 1, 31, 31]);
    let sums = deblur_testkit::host(kernels.clone().sum_dims(&[1, 2, 3]));
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4), "{sums:?}");
    assert!(kernels.min().into_scalar::<f32>() >= 0.0);
}

#[test]
fn shipped_generator_covers_held_out_shake_kernels() {
    let device = Device::default();
    let generator = load_generator(&weights(), "shake-k31-v1", &device)
        .unwrap()
        .valid();
    let held_out = synthesize_bank(&Synth::by_name("shake", 31).unwrap(), 8, 2, &|_| {})
        .unwrap()
        .kernels;
    let targets = deblur::core::kernel::kernels_to_tensor(&held_out, &device).unwrap();
    let mean_l1 = (targets.clone() - targets.clone().mean_dim(0))
        .abs()
        .mean()
        .into_scalar::<f32>();
    let inversion = invert(
        &generator,
        targets,
        generator.sample_latent(8, 1, &device),
        300,
        0.1,
        &device,
    );
    let l1 = inversion.l1.iter().sum::<f32>() / 8.0;
    // docs/weights.md: 8.7e-4 against 1.22e-3 for the mean kernel on 32 kernels, 1000 steps
    assert!(
        l1 < 0.9 * mean_l1,
        "inversion L1 {l1} vs mean-kernel L1 {mean_l1}"
    );
}

#[test]
fn shipped_initializer_loads_and_predicts_a_kernel_closer_than_delta() {
    use deblur::core::{Boundary, Padding, UniformBlur};
    use deblur::kernels::bank::kernel_rng;
    use deblur::kernels::{ColorMode, DeadLeaves, ImageSource};
    use deblur::metrics::kernel_error;
    use deblur::models::weights::load_initializer;
    let device = Device::default();
    let generator = load_generator(&weights(), "shake-k31-v1", &device)
        .unwrap()
        .valid();
    let initializer = load_initializer(&weights(), "shake-k31-v1", &device)
        .unwrap()
        .valid();
    // a dead-leaves crop blurred by a held-out shake kernel, as in the initializer's training
    let truth = synthesize_bank(&Synth::by_name("shake", 31).unwrap(), 1, 5, &|_| {})
        .unwrap()
        .kernels
        .remove(0);
    let sharp = DeadLeaves::new(128, ColorMode::Gray)
        .sample(&mut kernel_rng(9, 0))
        .unwrap();
    let y = UniformBlur::new(Boundary::Same(Padding::Reflect))
        .apply(
            deblur::core::convert::array_to_tensor(&sharp, &device),
            truth.to_tensor(&device),
        )
        .unwrap();
    let z = initializer.forward(y);
    assert_eq!(z.dims(), [1, 100, 1, 1]);
    let predicted = deblur::core::Kernel::from_tensor(generator.forward(z)).unwrap();
    let err = kernel_error(&predicted, &truth, 3).unwrap().mse;
    let delta = kernel_error(&deblur::core::Kernel::delta([31, 31]).unwrap(), &truth, 3)
        .unwrap()
        .mse;
    // docs/weights.md: 2.1e-5 on average over 64 held-out pairs, delta 9.4e-4
    assert!(
        err < 0.2 * delta,
        "G(E(y)) kernel MSE {err:.3e}, delta {delta:.3e}"
    );
}

#[test]
fn shipped_kernel_space_transfers_a_blur_but_has_collapsed_to_one_blur() {
    use deblur::core::{Boundary, Kernel, Padding, UniformBlur};
    use deblur::metrics::psnr_tensors;
    let device = Device::default();
    let space = deblur::models::weights::load_kernel_space(&weights(), "compact-v1", &device)
        .unwrap()
        .valid();
    let data = |name: &str| {
        let path = deblur_testkit::repo().join("tests/data").join(name);
        deblur::core::convert::array_to_tensor(
            &deblur::core::load_image(path).unwrap().pixels,
            &device,
        )
    };
    let (source, target) = (data("levin_im1.png"), data("levin_im2.png"));
    // a blurred pair: its blur, moved onto another image, is closer to that image's true blur
    // than the sharp image is (measured 18.21 → 21.21 dB; docs/weights.md)
    let kernel = Kernel::load(deblur_testkit::repo().join("tests/data/levin_kernel4.png"))
        .unwrap()
        .to_tensor(&device);
    let blur = UniformBlur::new(Boundary::Same(Padding::Reflect));
    let blurry = blur.apply(source.clone(), kernel.clone()).unwrap();
    let reference = blur.apply(target.clone(), kernel).unwrap();
    let moved = space
        .transfer(source.clone(), blurry, target.clone())
        .unwrap();
    let (plain, transferred) = (
        psnr_tensors(target.clone(), reference.clone()),
        psnr_tensors(moved.clone(), reference.clone()),
    );
    assert!(
        transferred > plain + 2.0,
        "transfer {plain:.2} → {transferred:.2} dB"
    );
    // what is wrong with it, pinned so that a better model shows up here: G's codes are almost
    // zero (|k| < 1e-3), and F(x, G(x, x)) blurs a sharp pair anyway (24.13 dB against x, where
    // the paper's F stays close to the identity). Replace these two checks when retraining.
    let code = space
        .extract_code(source.clone(), source.clone())
        .unwrap()
        .mean;
    assert!(code.clone().abs().max().into_scalar::<f32>() < 1e-3);
    let same = space.blur_with(source.clone(), code).unwrap();
    let identity = psnr_tensors(same.clone(), source.clone());
    assert!(
        (22.0..27.0).contains(&identity),
        "F(x, G(x, x)) vs x: {identity:.2} dB"
    );
}
