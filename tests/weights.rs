//! The shipped weights load (checksum verified against `weights/manifest.json`) and generate valid
//! kernels; a held-out shake kernel is reconstructed by GAN inversion better than by the mean
//! kernel of the held-out set; the shipped initializer predicts a kernel for a blurred image; the
//! shipped denoiser denoises held-out images and drives the plug-and-play final step.

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

/// `image` plus white Gaussian noise of `sigma` from `seed`.
fn with_noise(image: &ndarray::Array3<f32>, sigma: f32, seed: u64) -> ndarray::Array3<f32> {
    use rand::SeedableRng;
    use rand_distr::Distribution;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    image.mapv(|v| {
        let n: f32 = rand_distr::StandardNormal.sample(&mut rng);
        v + sigma * n
    })
}

/// The shipped grey denoiser (`denoiser/grey-v1`, the default variant).
fn shipped_denoiser(device: &Device) -> deblur::priors::Denoiser {
    assert_eq!(deblur::models::weights::SHIPPED_DENOISER, "grey-v1");
    deblur::models::weights::load_denoiser_from(None, Some(&weights()), "grey-v1", device).unwrap()
}

fn held_out(name: &str) -> ndarray::Array3<f32> {
    // train400 images after test_300 were held out of the denoiser's training (manifest)
    deblur::core::load_image(deblur_testkit::shared_data("train400").join(name))
        .unwrap()
        .pixels
}

/// The shipped denoiser on three held-out train400 images at σ = 0.05: measured 26.0 dB noisy
/// against 31.7 / 31.0 / 32.5 dB denoised (the manifest's mean over 100 held-out images: +5.3 dB).
#[test]
fn shipped_denoiser_restores_held_out_images() {
    let device = Device::default();
    let net = shipped_denoiser(&device);
    for (i, name) in ["test_361.png", "test_381.png", "test_399.png"]
        .iter()
        .enumerate()
    {
        let clean = held_out(name);
        let noisy = with_noise(&clean, 0.05, i as u64);
        let out = net.forward(
            deblur::core::convert::array_to_tensor(&noisy, &device),
            &[0.05],
        );
        let out = deblur::core::convert::tensor_to_array(out, 0)
            .unwrap()
            .mapv(|v| v.clamp(0.0, 1.0));
        let before = deblur::metrics::psnr(noisy.view(), clean.view(), 1.0);
        let after = deblur::metrics::psnr(out.view(), clean.view(), 1.0);
        eprintln!("{name}: noisy {before:.2} dB, denoised {after:.2} dB");
        assert!(
            after > before + 4.0,
            "{name}: {after:.2} dB vs noisy {before:.2} dB"
        );
    }
}

/// The held-out photo test_391 blurred (valid: the border depends on pixels outside the
/// picture, as in a camera) by `kernel`, without noise, and the sharp photo over the
/// observation's field of view.
fn photo_blurred_by(
    kernel: &deblur::core::Kernel,
    device: &Device,
) -> (deblur::core::burn::tensor::Tensor<4>, ndarray::Array3<f32>) {
    use deblur::core::convert::array_to_tensor;
    use deblur::core::{Boundary, UniformBlur};
    let photo = held_out("test_391.png");
    let (_, h, w) = photo.dim();
    let [kh, kw] = kernel.size();
    let observed = UniformBlur::new(Boundary::Valid)
        .apply(array_to_tensor(&photo, device), kernel.to_tensor(device))
        .unwrap();
    let (top, left) = ((kh - 1) / 2, (kw - 1) / 2);
    let truth = photo
        .slice(ndarray::s![
            ..,
            top..top + h + 1 - kh,
            left..left + w + 1 - kw
        ])
        .to_owned();
    (observed, truth)
}

/// Plug-and-play with the shipped denoiser against the hyper-Laplacian step (the pipeline's
/// weight for 1 % noise, λ = 1000), both with the true kernel and the unknown boundary, on
/// observations made by a valid blur (the border depends on pixels outside the picture, as in
/// a camera) with 1 % noise: a held-out train400 photo and a dead-leaves image, 51 px shake
/// kernels. Measured (PSNR of blurred / hyper-Laplacian / plug-and-play): photo
/// 26.09 / 28.29 / 29.01 dB, dead leaves 12.31 / 16.31 / 17.81 dB.
#[test]
fn plug_and_play_beats_the_hyper_laplacian_step_with_the_true_kernel() {
    use deblur::core::convert::{array_to_tensor, tensor_to_array};
    use deblur::optim::{HyperLaplacianConfig, PnpConfig, hyper_laplacian_deconv, pnp_deconv};
    let device = Device::default();
    let net = shipped_denoiser(&device);
    let kernel = deblur_testkit::shake_kernel(51, 51, 5, 0);
    let (observed, photo_truth) = photo_blurred_by(&kernel, &device);
    let leaves = deblur_testkit::dead_leaves_problem(160, kernel.clone(), 3, &device);
    for (name, observed, truth, min_gain) in [
        ("photo", observed, photo_truth, 0.4),
        ("dead leaves", leaves.observation, leaves.sharp, 1.0),
    ] {
        let blurred = with_noise(&tensor_to_array(observed, 0).unwrap(), 0.01, 7);
        let y = array_to_tensor(&blurred, &device);
        let score = |x: deblur::core::burn::tensor::Tensor<4>| {
            let x = tensor_to_array(x, 0).unwrap().mapv(|v| v.clamp(0.0, 1.0));
            deblur::metrics::psnr(x.view(), truth.view(), 1.0)
        };
        let hl = HyperLaplacianConfig {
            lambda: 1000.0,
            ..Default::default()
        };
        let hl = score(hyper_laplacian_deconv(y.clone(), kernel.to_tensor(&device), &hl).unwrap());
        let pnp =
            score(pnp_deconv(y, kernel.to_tensor(&device), &net, &PnpConfig::new(0.01)).unwrap());
        let input = deblur::metrics::psnr(blurred.view(), truth.view(), 1.0);
        eprintln!(
            "{name}: blurred {input:.2} dB, hyper-Laplacian {hl:.2} dB, plug-and-play {pnp:.2} dB"
        );
        assert!(
            pnp > hl + min_gain,
            "{name}: plug-and-play {pnp:.2} dB vs hyper-Laplacian {hl:.2} dB"
        );
    }
}

/// Dead leaves blurred (valid) by a 41 px shake kernel, 1 % noise, 8 bits: the problem and the
/// observation.
fn large_noisy_blur() -> (deblur_testkit::Problem, ndarray::Array3<f32>) {
    let device = Device::default();
    let kernel = deblur_testkit::shake_kernel(41, 41, 11, 0);
    let problem = deblur_testkit::dead_leaves_problem(200, kernel, 4, &device);
    let blurred = with_noise(
        &deblur::core::convert::tensor_to_array(problem.observation.clone(), 0).unwrap(),
        0.01,
        9,
    )
    .mapv(|v| (v.clamp(0.0, 1.0) * 255.0).round() / 255.0);
    (problem, blurred)
}

/// The default pipeline on a large noisy blur takes the coarse-to-fine path and ends with the
/// plug-and-play step and the shipped denoiser; `final_prior(HyperLaplacian)` switches it back.
/// Dead leaves (valid blur by a 41 px shake kernel, 1 % noise), kernel size 41. Measured:
/// blurred 15.59 dB, plug-and-play 19.81 dB with the two starting λ of the L0 estimator (19.20
/// with one; 17.68 before the kernel refinement, which needs the denoiser too), hyper-Laplacian
/// 19.47 dB (18.75 with one λ; shift-compensated).
#[test]
fn the_default_ends_large_noisy_blur_with_plug_and_play() {
    use deblur::optim::{FinalPriorKind, FinalPriorUsed};
    let (problem, blurred) = large_noisy_blur();
    let options = deblur::BlindOptions::default()
        .kernel_size(41)
        .weights(weights());
    let _guard = deblur_testkit::rng_lock();
    let pnp = deblur::blind(&blurred, &options).unwrap();
    let hl = deblur::blind(
        &blurred,
        &options.clone().final_prior(FinalPriorKind::HyperLaplacian),
    )
    .unwrap();
    assert!(pnp.robust_path && hl.robust_path);
    assert_eq!(pnp.final_prior, Some(FinalPriorUsed::PlugAndPlay));
    assert_eq!(hl.final_prior, Some(FinalPriorUsed::HyperLaplacian));
    let score = |x: &ndarray::Array3<f32>| {
        deblur::metrics::score_images(x, &problem.sharp, &Default::default())
            .unwrap()
            .psnr
    };
    let (input, p, h) = (score(&blurred), score(&pnp.image), score(&hl.image));
    eprintln!("blurred {input:.2} dB, plug-and-play {p:.2} dB, hyper-Laplacian {h:.2} dB");
    assert!(
        p > input + 1.0,
        "plug-and-play {p:.2} dB vs blurred {input:.2} dB"
    );
}

/// The shipped denoiser, a 31 px shake kernel and dead leaves blurred by it (valid, 1 % noise):
/// the problem of the refinement tests.
fn shake31_dead_leaves() -> (
    Device,
    deblur::priors::Denoiser,
    deblur::core::Kernel,
    ndarray::Array3<f32>,
) {
    let device = Device::default();
    let net = shipped_denoiser(&device);
    let truth = deblur_testkit::shake_kernel(25, 31, 21, 0);
    let problem = deblur_testkit::dead_leaves_problem(240, truth.clone(), 6, &device);
    let blurred = with_noise(
        &deblur::core::convert::tensor_to_array(problem.observation, 0).unwrap(),
        0.01,
        11,
    );
    (device, net, truth, blurred)
}

/// The full-resolution kernel refinement (plug-and-play latent, then the L0 estimator's k-step)
/// sharpens an estimate that came out too wide: a 31 px shake kernel smoothed by a Gaussian of
/// 2 px (the typical error of a pyramid estimate: wider than the blur) on dead leaves (valid blur,
/// 1 % noise). Kernel similarity to the truth (σ = 1 px, the pipeline's agreement measure):
/// measured 0.902 before, 0.979 after two rounds.
#[test]
fn kernel_refinement_sharpens_a_too_wide_estimate() {
    use deblur::core::Kernel;
    use deblur::optim::l0_blind::{KernelRefine, L0BlindConfig, refine_kernel};
    let (device, net, truth, blurred) = shake31_dead_leaves();
    let wide = Kernel::new(deblur::core::resample::gaussian_smooth_zero(
        truth.values(),
        2.0,
    ))
    .unwrap();
    let refined = refine_kernel(
        &blurred.index_axis(ndarray::Axis(0), 0).to_owned(),
        &wide,
        &net,
        0.01,
        &KernelRefine::default(),
        &L0BlindConfig::new(31),
        &device,
    )
    .unwrap();
    let similarity = |k: &Kernel| deblur::metrics::kernel_similarity(k, &truth, 1.0, 4).unwrap();
    let (before, after) = (similarity(&wide), similarity(&refined));
    eprintln!("kernel similarity: too wide {before:.3}, refined {after:.3}");
    assert!(
        after > 0.94 && after > before + 0.04,
        "refined {after:.3} vs start {before:.3}"
    );
}

/// `auto_kernel_size`: the default pipeline measures the blur's extent from the 75 px bound and
/// restores the image as well as with the true size given. Dead leaves (valid blur by a 41 px
/// shake kernel, 1 % noise, 8 bits), as the test above. Measured: blurred 15.59 dB, true size
/// 19.81 dB, measured size 19.77 dB (19 px: the path of this "41 px" kernel spans about 17 px;
/// with one starting λ of the L0 estimator 19.20 and 19.69 dB).
#[test]
fn the_kernel_size_can_be_measured() {
    let (problem, blurred) = large_noisy_blur();
    let options = deblur::BlindOptions::default().weights(weights());
    let _guard = deblur_testkit::rng_lock();
    let given = deblur::blind(&blurred, &options.clone().kernel_size(41)).unwrap();
    let auto = deblur::blind(&blurred, &options.auto_kernel_size()).unwrap();
    let score = |x: &ndarray::Array3<f32>| {
        deblur::metrics::score_images(x, &problem.sharp, &Default::default())
            .unwrap()
            .psnr
    };
    let (input, g, a) = (score(&blurred), score(&given.image), score(&auto.image));
    let side = auto.kernel.size()[0];
    eprintln!("blurred {input:.2} dB, size given {g:.2} dB, measured {a:.2} dB ({side} px)");
    assert!(side < deblur::optim::AUTO_KERNEL_BOUND, "{side} px");
    assert!(
        a > input + 1.0 && a > g - 0.5,
        "measured size {a:.2} dB vs blurred {input:.2} dB, given size {g:.2} dB"
    );
}

/// The measure that picks between the two estimates of `L0BlindConfig::lambda_alternative`:
/// the plug-and-play latent of the true kernel has sparser gradients than those of a delta (the
/// collapsed estimate: the latent stays blurred) and of a compact blob of the kernel's mass (the
/// failure seen on text pages). Dead leaves blurred (valid) by a 31 px shake kernel, 1 % noise.
/// Measured: true kernel 0.615, blob 0.684, delta 0.725.
#[test]
fn the_true_kernels_latent_is_sparser_than_a_collapsed_estimates() {
    use deblur::core::Kernel;
    use deblur::optim::l0_blind::{KernelRefine, latent_sparsity};
    let (device, net, truth, blurred) = shake31_dead_leaves();
    let blurred = blurred.index_axis_move(ndarray::Axis(0), 0);
    let blob = Kernel::new(deblur::core::resample::gaussian_smooth_zero(
        Kernel::delta([31, 31]).unwrap().values(),
        2.5,
    ))
    .unwrap();
    let score = |k: &Kernel| {
        latent_sparsity(&blurred, k, &net, 0.01, &KernelRefine::default(), &device).unwrap()
    };
    let (t, b, d) = (
        score(&truth),
        score(&blob),
        score(&Kernel::delta([31, 31]).unwrap()),
    );
    eprintln!("latent sparsity: true kernel {t:.3}, blob {b:.3}, delta {d:.3}");
    assert!(
        t < b - 0.02 && t < d - 0.02,
        "true {t:.3}, blob {b:.3}, delta {d:.3}"
    );
}

/// The confidence rule of the blind final step (`deblur::optim::Confident`): with the true kernel
/// the weak pass (λ = 0.5) explains a photo to about its noise, so it is kept and beats the
/// strong pass (λ = 1); on dead leaves blurred by one shake path and deconvolved with another the
/// weak pass's residual is several noise levels and the strong pass is returned. 51 px shake
/// kernels, valid blur, 1 % noise, 8 bits. Measured: photo (held-out train400 test_391) blurred
/// 26.09 dB, true kernel λ 1 28.62 dB (1.05σ), λ 0.5 29.16 dB (1.02σ); dead leaves
/// blurred 13.32 dB, wrong kernel λ 1 11.20 dB (2.95σ). The residual is no failure detector: the
/// same wrong kernel on the photo leaves 1.06σ at λ 1 (25.00 dB, below the input) and the true
/// one on dead leaves 1.20σ.
#[test]
fn the_confident_rule_trusts_the_true_kernel_and_not_a_wrong_one() {
    use deblur::core::convert::tensor_to_array;
    use deblur::optim::{Confident, PnpConfig, final_pnp_step};
    let device = Device::default();
    let net = shipped_denoiser(&device);
    let truth_kernel = deblur_testkit::shake_kernel(51, 51, 5, 0);
    let wrong_kernel = deblur_testkit::shake_kernel(51, 51, 5, 1);
    let eight_bits = |x: ndarray::Array3<f32>, seed| {
        with_noise(&x, 0.01, seed).mapv(|v| (v.clamp(0.0, 1.0) * 255.0).round() / 255.0)
    };
    let (observed, photo_truth) = photo_blurred_by(&truth_kernel, &device);
    let photo_blurred = eight_bits(tensor_to_array(observed, 0).unwrap(), 7);
    let leaves = deblur_testkit::dead_leaves_problem(200, truth_kernel.clone(), 4, &device);
    let leaves_blurred = eight_bits(tensor_to_array(leaves.observation, 0).unwrap(), 7);
    let pnp = PnpConfig {
        noise_std: 0.01,
        ..PnpConfig::blind()
    };
    let rule = Some(Confident::default());
    let run = |y: &ndarray::Array3<f32>, k: &deblur::core::Kernel, rule| {
        final_pnp_step(y, k, &net, &pnp, rule, &device).unwrap()
    };
    let (one, both) = (
        run(&photo_blurred, &truth_kernel, None),
        run(&photo_blurred, &truth_kernel, rule),
    );
    let wrong = run(&leaves_blurred, &wrong_kernel, rule);
    let photo_psnr =
        |x: &ndarray::Array3<f32>| deblur::metrics::psnr(x.view(), photo_truth.view(), 1.0);
    eprintln!(
        "photo: blurred {:.2} dB, true kernel λ 1 {:.2} dB ({:.2}σ), rule (λ {}) {:.2} dB ({:.2}σ); \
         dead leaves: blurred {:.2} dB, wrong kernel residual {:.2}σ, λ {} {:.2} dB",
        photo_psnr(&photo_blurred),
        photo_psnr(&one.image),
        one.residual,
        both.lambda,
        photo_psnr(&both.image),
        both.residual,
        deblur::metrics::psnr(leaves_blurred.view(), leaves.sharp.view(), 1.0),
        wrong.residual,
        wrong.lambda,
        deblur::metrics::psnr(wrong.image.view(), leaves.sharp.view(), 1.0),
    );
    assert_eq!(one.lambda, 1.0);
    assert_eq!(both.lambda, 0.5, "residual {:.3}σ", both.residual);
    assert!(
        both.residual <= 1.10 && both.residual < one.residual,
        "the weak pass fits the data closer: {:.3}σ against {:.3}σ",
        both.residual,
        one.residual
    );
    assert!(photo_psnr(&both.image) > photo_psnr(&one.image) + 0.3);
    assert!(
        wrong.residual > 2.0,
        "wrong kernel residual {:.3}σ",
        wrong.residual
    );
    assert_eq!(wrong.lambda, 1.0);
    // an invalid rule is refused before any work
    let nan = Confident {
        lambda: f64::NAN,
        ..Confident::default()
    };
    assert!(
        final_pnp_step(
            &photo_blurred,
            &truth_kernel,
            &net,
            &pnp,
            Some(nan),
            &device
        )
        .is_err()
    );
}

/// The residual limit of the self-check (`Robust::max_residual`) on the default pipeline with
/// the shipped denoiser: the large noisy blur's estimate passes under the default limit (measured
/// residual 1.39σ, final λ 1) and returns the input, with a delta kernel and the residual reported, under
/// a limit just below its residual.
#[test]
fn a_plug_and_play_step_above_the_residual_limit_returns_the_input() {
    use deblur::optim::{BlindRequest, FinalPriorUsed, Resources, Robust, deblur_blind};
    let device = Device::default();
    let net = shipped_denoiser(&device);
    let (_, blurred) = large_noisy_blur();
    let mut request = deblur::BlindOptions::default()
        .kernel_size(41)
        .request(None)
        .unwrap();
    let _guard = deblur_testkit::rng_lock();
    let run = |request: &BlindRequest| {
        deblur_blind(
            &blurred,
            request,
            Resources::none().with_denoiser(Some(&net)),
            &device,
            &mut deblur::optim::solver::Silent,
        )
        .unwrap()
    };
    let kept = run(&request);
    let residual = kept.residual.expect("the final step ran");
    eprintln!("residual {residual:.3}σ, final λ {:?}", kept.final_lambda);
    assert!(
        kept.robust_path && !kept.fell_back,
        "residual {residual:.3}σ"
    );
    assert_eq!(kept.final_prior, Some(FinalPriorUsed::PlugAndPlay));
    let robust = request.robust.expect("the default has the robust path");
    request.robust = Some(Robust {
        max_residual: Some(residual - 0.01),
        ..robust
    });
    let refused = run(&request);
    assert!(refused.fell_back);
    assert_eq!(refused.residual, Some(residual));
    assert_eq!(refused.image, blurred.mapv(|v| v.clamp(0.0, 1.0)));
    assert_eq!(
        refused.kernel,
        deblur::core::Kernel::delta(kept.kernel.size()).unwrap()
    );
    assert_eq!((refused.final_prior, refused.final_lambda), (None, None));
}
