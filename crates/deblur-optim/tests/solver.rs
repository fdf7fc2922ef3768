//! The solver loop on a small synthetic problem: a 64² dead-leaves image blurred by a 9×9 shake
//! kernel, a small DIP and the kernel MLP (SelfDeblur's parts, scaled down).

use burn::tensor::{Device, Tensor, TensorData};
use deblur_core::{Boundary, Kernel, UniformBlur};
use deblur_kernels::bank::kernel_rng;
use deblur_kernels::{ColorMode, DeadLeaves, ImageSource};
use deblur_metrics::kernel_error;
use deblur_optim::SelfDeblurConfig;
use deblur_optim::solver::Silent;
use deblur_priors::DipConfig;
use deblur_testkit::{dead_leaves_problem, host, rng_lock, shake_kernel};

const K: usize = 9;
const OBS: usize = 64;

fn problem(device: &Device) -> (Tensor<4>, Kernel) {
    let p = dead_leaves_problem(OBS, shake_kernel(K, K, 5, 3), 2, device);
    (p.observation, p.kernel)
}

fn small_selfdeblur(iterations: usize) -> SelfDeblurConfig {
    let mut config = SelfDeblurConfig::paper([K, K]).with_iterations(iterations);
    config.image.dip = DipConfig::narrow(1, 16, 4, 4);
    config.kernel_hidden = 200;
    config.solver.kernel_lr.base = 2e-3;
    config
}

#[test]
fn small_selfdeblur_recovers_the_kernel() {
    let device = Device::default();
    let (observation, truth) = problem(&device);
    let _guard = rng_lock();
    let out = small_selfdeblur(400)
        .run(observation.clone(), &mut Silent)
        .unwrap();
    let estimate = Kernel::from_tensor(out.kernel.clone()).unwrap();
    let err = kernel_error(&estimate, &truth, 2).unwrap();
    let delta = kernel_error(&Kernel::delta([K, K]).unwrap(), &truth, 2).unwrap();
    eprintln!(
        "kernel MSE {:.3e} (delta {:.3e}), final loss {:.3e}, {:.1} s",
        err.mse,
        delta.mse,
        out.losses.last().unwrap(),
        out.seconds
    );
    assert!(
        err.mse < 0.3 * delta.mse,
        "kernel MSE {} vs delta {}",
        err.mse,
        delta.mse
    );
    // the re-blurred estimate explains the observation
    let reblurred = UniformBlur::new(Boundary::Valid)
        .apply(
            out.latent.clone().to_device(&device),
            out.kernel.to_device(&device),
        )
        .unwrap();
    let (a, b) = (host(reblurred), host(observation));
    let mse = a
        .iter()
        .zip(&b)
        .map(|(p, q)| f64::from(p - q).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    let psnr = -10.0 * mse.log10();
    assert!(psnr > 30.0, "re-blur PSNR {psnr}");
}

#[test]
fn same_seed_same_result() {
    let device = Device::default();
    let (observation, _) = problem(&device);
    let _guard = rng_lock();
    let run = || {
        small_selfdeblur(15)
            .run(observation.clone(), &mut Silent)
            .unwrap()
    };
    let (a, b) = (run(), run());
    assert_eq!(a.losses, b.losses);
    assert_eq!(host(a.kernel), host(b.kernel));
    assert_eq!(host(a.image.clone()).len(), OBS * OBS);
}

#[test]
fn rejects_a_kernel_larger_than_the_image() {
    let device = Device::default();
    let observation =
        Tensor::<4>::from_data(TensorData::new(vec![0.5f32; 100], [1, 1, 10, 10]), &device);
    let err = SelfDeblurConfig::paper([11, 11])
        .run(observation, &mut Silent)
        .unwrap_err();
    assert!(err.to_string().contains("larger than image"), "{err}");
}

#[test]
fn gray_stored_as_rgb_gives_the_gray_result() {
    use deblur_optim::pipeline::{BlindMethod, BlindRequest, ColorPath, CropChoice, deblur_blind};
    let device = Device::default();
    let (observation, _) = problem(&device);
    let gray = deblur_core::convert::tensor_to_array(observation, 0).unwrap();
    let rgb =
        ndarray::concatenate(ndarray::Axis(0), &[gray.view(), gray.view(), gray.view()]).unwrap();
    let request = BlindRequest {
        method: BlindMethod::from(small_selfdeblur(10)),
        color: ColorPath::Luma,
        crop: CropChoice::Auto { side: 256 },
        nonblind: Default::default(),
        final_nonblind: false,
        robust: None,
        noise_aware: None,
        noise_std: None,
        final_prior: None,
        restart: None,
        kernel_refine: None,
    };
    let _guard = rng_lock();
    let a = deblur_blind(
        &gray,
        &request,
        deblur_optim::Resources::none(),
        &device,
        &mut Silent,
    )
    .unwrap();
    let b = deblur_blind(
        &rgb,
        &request,
        deblur_optim::Resources::none(),
        &device,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(b.image.dim(), (3, OBS, OBS));
    for ch in 0..3 {
        let diff = (&b.image.index_axis(ndarray::Axis(0), ch)
            - &a.image.index_axis(ndarray::Axis(0), 0))
            .iter()
            .fold(0f32, |m, v| m.max(v.abs()));
        assert!(diff < 2e-3, "channel {ch}: max difference {diff}");
    }
}

/// An untrained 31×31 kernel generator with 8 base channels and a latent code drawn from `seed`.
fn small_generator(
    seed: u64,
    device: &Device,
) -> (deblur_models::KernelGenerator, burn::tensor::Tensor<4>) {
    let generator = deblur_models::KernelGeneratorConfig::new(31)
        .with_base_channels(8)
        .init(device);
    let z0 = generator.sample_latent(1, seed, device);
    (generator, z0)
}

#[test]
fn the_generator_kernel_plugs_into_the_same_loop() {
    use deblur_optim::models::{GlkmKernel, KernelModel, PixelImage};
    use deblur_optim::solver::{SolverConfig, solve};
    let _guard = rng_lock();
    let device = Device::default().autodiff();
    // an untrained generator is enough to check the plumbing: w moves, the kernel stays valid
    let (generator, z0) = small_generator(4, &device);
    let mut kernel = GlkmKernel::new(generator, z0, &device);
    let w0 = kernel.features();
    let sharp = DeadLeaves::new(40, ColorMode::Gray)
        .sample(&mut kernel_rng(1, 1))
        .unwrap();
    let x = deblur_core::convert::array_to_tensor(&sharp, &device);
    let y = UniformBlur::new(Boundary::Valid)
        .apply(
            x.clone(),
            Kernel::delta([31, 31]).unwrap().to_tensor(&device),
        )
        .unwrap();
    let mut image = PixelImage::new(x, &device);
    let config = SolverConfig::constant(5, 0.0, 0.05);
    let out = solve(
        y,
        &mut image,
        &mut kernel,
        &UniformBlur::new(Boundary::Valid),
        &config,
        &mut Silent,
    )
    .unwrap();
    assert!(out.losses[4] < out.losses[0], "{:?}", out.losses);
    assert!((kernel.features() - w0).abs().max().into_scalar::<f32>() > 0.0);
    let k = Kernel::from_tensor(kernel.kernel()).unwrap();
    assert_eq!(k.size(), [31, 31]);
}

#[test]
fn the_latent_phase_moves_z_then_hands_over_to_w_without_a_jump() {
    use burn::module::Module;
    use deblur_optim::models::{GlkmKernel, KernelModel};
    let _guard = rng_lock();
    let device = Device::default().autodiff();
    let (generator, z0) = small_generator(5, &device);
    let mut kernel = GlkmKernel::latent_first(generator.clone(), z0.clone(), 3, 2.0, &device);
    let target = Kernel::delta([31, 31]).unwrap().to_tensor(&device);
    let mut zs = vec![z0];
    for step in 0..3 {
        let loss = (kernel.forward(step) - target.clone()).abs().mean();
        let mut grads = loss.backward();
        kernel.update(&mut grads, 0.05);
        zs.push(kernel.latent().expect("still in the latent phase"));
    }
    // z moved at every step of the latent phase
    for pair in zs.windows(2) {
        let moved = (pair[1].clone() - pair[0].clone())
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(moved > 0.0);
    }
    // the hand-over: the first w-phase kernel is G(z) of the last z (evaluation-mode generator)
    let plain = device.clone().without_autodiff();
    let handed = kernel.forward(3).detach().to_device(&plain);
    assert!(kernel.latent().is_none());
    let expected = generator
        .valid()
        .fork(&plain)
        .forward(zs[3].clone().to_device(&plain));
    let diff = (handed - expected).abs().max().into_scalar::<f32>();
    assert!(diff < 1e-6, "kernel jumps by {diff} at the hand-over");
    // and from there w moves
    let w = kernel.features();
    let loss = (kernel.forward(4) - target).abs().mean();
    let mut grads = loss.backward();
    kernel.update(&mut grads, 0.05);
    assert!((kernel.features() - w).abs().max().into_scalar::<f32>() > 0.0);
}

fn pixel_config(iterations: usize) -> deblur_optim::SolverConfig {
    deblur_optim::SolverConfig::constant(iterations, 0.05, 0.0)
}

#[test]
fn plateau_stops_early_and_nan_is_reported() {
    use deblur_optim::models::{FixedKernel, PixelImage};
    use deblur_optim::solver::{Plateau, StopReason, solve};
    // solve() seeds the process-wide RNG: keep out of the way of the tests that compare runs
    let _guard = rng_lock();
    let device = Device::default().autodiff();
    let blur = UniformBlur::new(Boundary::Same(deblur_core::Padding::Reflect));
    let delta = Kernel::delta([3, 3]).unwrap().to_tensor(&device);
    let target = Tensor::<4>::from_data(
        TensorData::new(
            (0..256).map(|i| (i % 16) as f32 / 16.0).collect::<Vec<_>>(),
            [1, 1, 16, 16],
        ),
        &device,
    );
    // fitting free pixels to the observation through a delta blur converges, then plateaus
    let mut config = pixel_config(2000);
    config.plateau = Some(Plateau {
        window: 20,
        min_relative_improvement: 1e-3,
    });
    let mut image = PixelImage::new(Tensor::zeros([1, 1, 16, 16], &device), &device);
    let out = solve(
        target.clone(),
        &mut image,
        &mut FixedKernel::new(delta.clone()),
        &blur,
        &config,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(out.stop, StopReason::Plateau);
    assert!(
        out.losses.len() < 2000 && out.losses.len() >= 40,
        "{} steps",
        out.losses.len()
    );
    // a NaN in the observation is reported with the step, not propagated
    let mut bad = vec![0.5f32; 256];
    bad[17] = f32::NAN;
    let observation = Tensor::<4>::from_data(TensorData::new(bad, [1, 1, 16, 16]), &device);
    let mut image = PixelImage::new(Tensor::zeros([1, 1, 16, 16], &device), &device);
    let err = solve(
        observation,
        &mut image,
        &mut FixedKernel::new(delta),
        &blur,
        &pixel_config(5),
        &mut Silent,
    )
    .unwrap_err();
    assert!(
        matches!(err, deblur_optim::Error::NonFinite { step: 0, .. }),
        "{err}"
    );
}

#[test]
fn large_images_estimate_on_the_most_textured_window() {
    use deblur_optim::pipeline::{BlindMethod, BlindRequest, ColorPath, CropChoice, deblur_blind};
    let device = Device::default();
    // a 90×100 scene: flat except a textured block at rows 40..90, columns 50..100
    let scene = DeadLeaves::new(64, ColorMode::Gray)
        .sample(&mut kernel_rng(3, 3))
        .unwrap();
    let mut image = ndarray::Array3::<f32>::from_elem((1, 90, 100), 0.5);
    image
        .slice_mut(ndarray::s![.., 40..90, 50..100])
        .assign(&scene.slice(ndarray::s![.., ..50, ..50]));
    let request = BlindRequest {
        method: BlindMethod::from(small_selfdeblur(3)),
        color: ColorPath::Luma,
        crop: CropChoice::Auto { side: 48 },
        nonblind: Default::default(),
        final_nonblind: false,
        robust: None,
        noise_aware: None,
        noise_std: None,
        final_prior: None,
        restart: None,
        kernel_refine: None,
    };
    let _guard = rng_lock();
    let result = deblur_blind(
        &image,
        &request,
        deblur_optim::Resources::none(),
        &device,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(result.image.dim(), (1, 90, 100));
    let [x, y, w, h] = result.window.expect("a window");
    assert_eq!((w, h), (48, 48));
    assert!(
        x >= 45 && y >= 36,
        "window at ({x}, {y}) should sit in the textured block"
    );
    let err = deblur_blind(
        &image,
        &BlindRequest {
            crop: CropChoice::Window([80, 0, 48, 48]),
            ..request
        },
        deblur_optim::Resources::none(),
        &device,
        &mut Silent,
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
}

/// A kernel size far above the blur's extent (the user's upper bound): the coarse-to-fine path
/// must still sharpen a 9 px blur estimated as a 31 px kernel.
#[test]
fn oversized_kernel_bound_still_beats_the_blurred_input() {
    use deblur_metrics::{ShiftOptions, shift_compensated_score};
    use deblur_optim::pipeline::{BlindRequest, MethodKind, Preset, deblur_blind};
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let device = Device::default();
    let mut rng = StdRng::seed_from_u64(21);
    let n = 192usize;
    let mut scene = ndarray::Array2::<f32>::from_elem((n, n), 0.5);
    for _ in 0..90 {
        let (r, c, h, w) = (
            rng.random_range(0..n),
            rng.random_range(0..n),
            rng.random_range(4..30),
            rng.random_range(4..30),
        );
        let v: f32 = rng.random();
        scene
            .slice_mut(ndarray::s![r..(r + h).min(n), c..(c + w).min(n)])
            .fill(v);
    }
    // a 9 px diagonal stroke
    let mut k = ndarray::Array2::<f32>::zeros((9, 9));
    for i in 1..8 {
        k[[i, i]] = 1.0;
    }
    let kernel = deblur_core::Kernel::new(k).unwrap();
    let blurred = deblur_core::blur_image(
        &scene.clone().insert_axis(ndarray::Axis(0)),
        &kernel,
        deblur_core::UniformBlur::new(deblur_core::Boundary::Same(deblur_core::Padding::Symmetric)),
        0.01,
        5,
        &device,
    )
    .unwrap();
    let request = BlindRequest::preset(MethodKind::SelfDeblur, Preset::Fast, 31, None);
    let result = deblur_blind(
        &blurred,
        &request,
        deblur_optim::Resources::none(),
        &device,
        &mut Silent,
    )
    .unwrap();
    assert!(
        result.robust_path,
        "a 31 px bound takes the coarse-to-fine path"
    );
    let options = ShiftOptions::default();
    let score = |x: &ndarray::Array3<f32>| {
        shift_compensated_score(x.index_axis(ndarray::Axis(0), 0), scene.view(), &options)
            .unwrap()
            .psnr
    };
    let (before, after) = (score(&blurred), score(&result.image));
    eprintln!("OVERSIZED {before} {after} fell_back {}", result.fell_back);
    assert!(!result.fell_back);
    assert!(
        after > before + 1.0,
        "blurred {before:.2} dB, restored {after:.2} dB"
    );
}

/// A NaN pixel (possible in a float TIFF) is a typed error before any work, on every path.
#[test]
fn non_finite_pixels_are_rejected() {
    use deblur_optim::pipeline::{BlindRequest, MethodKind, Preset, deblur_blind};
    let device = Device::default();
    let mut image = ndarray::Array3::<f32>::from_elem((1, 80, 80), 0.5);
    image[[0, 7, 9]] = f32::NAN;
    for kernel in [15, 31] {
        let request = BlindRequest::preset(MethodKind::SelfDeblur, Preset::Fast, kernel, Some(2));
        let err = deblur_blind(
            &image,
            &request,
            deblur_optim::Resources::none(),
            &device,
            &mut Silent,
        )
        .unwrap_err();
        assert!(err.to_string().contains("row 7, column 9"), "{err}");
    }
}

/// A method built from parts is the preset of the same name, and it runs the loop exactly as
/// the models assembled by hand do (`solve` with a DIP, the kernel MLP and the valid blur).
#[test]
fn a_method_built_from_parts_is_the_preset_of_that_name() {
    use deblur_optim::models::{DipImage, MlpKernel};
    use deblur_optim::{
        BlindMethod, BlindRequest, BlurPart, ComposedMethod, DipImageConfig, ImagePart, KernelPart,
        MethodKind, Preset, Resources, SolverConfig,
    };
    let parts = ComposedMethod {
        image: ImagePart::Dip(DipImageConfig {
            dip: DipConfig::narrow(1, 16, 4, 4),
            reg_noise_std: 0.001,
            noise_seed: 0,
        }),
        kernel: KernelPart::Mlp {
            size: [31, 31],
            hidden: 1000,
            seed: 0,
        },
        blur: BlurPart::UniformValid,
        // SelfDeblur's schedule (5000 steps, MSE then 1 − SSIM from 1000) scaled to the fast
        // preset's 425 steps, with its kernel learning rate 2e-3
        solver: {
            let mut s = SolverConfig::dip_reference(1e-4, 1000).with_iterations(425);
            s.kernel_lr.base = 2e-3;
            s
        },
    };
    let preset = BlindRequest::preset(MethodKind::SelfDeblur, Preset::Fast, 31, None);
    assert_eq!(preset.method, BlindMethod::from(parts.clone()));

    // the same parts at the test's scale, run through the method and by hand
    let device = Device::default();
    let (observation, _) = problem(&device);
    let small = ComposedMethod {
        kernel: KernelPart::Mlp {
            size: [K, K],
            hidden: 200,
            seed: 4,
        },
        ..parts
    }
    .with_iterations(6)
    .with_seed(4);
    let _guard = rng_lock();
    let composed = small
        .run(observation.clone(), &Resources::default(), &mut Silent)
        .unwrap();
    let autodiff = device.clone().autodiff();
    autodiff.seed(4);
    let mut dip = DipImage::new(
        &DipConfig::narrow(1, 16, 4, 4),
        [OBS + K - 1, OBS + K - 1],
        0.001,
        4,
        &autodiff,
    );
    let mut mlp = MlpKernel::new(
        &deblur_priors::KernelMlpConfig::new([K, K]).with_hidden(200),
        4,
        &autodiff,
    );
    let by_hand = deblur_optim::solve(
        observation,
        &mut dip,
        &mut mlp,
        &UniformBlur::new(Boundary::Valid),
        &small.solver,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(composed.losses, by_hand.losses);
    assert_eq!(host(composed.kernel), host(by_hand.kernel));
}

#[test]
fn bad_settings_are_typed_errors_that_name_the_setting() {
    use deblur_optim::l0_blind::{L0BlindConfig, estimate_kernel_l0};
    use deblur_optim::{Error, SolverConfig};
    let err = SolverConfig::constant(0, 0.01, 1e-4)
        .validate()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidSetting {
                setting: "iterations",
                ..
            }
        ),
        "{err:?}"
    );
    let err = SolverConfig::constant(10, f64::NAN, 1e-4)
        .validate()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidSetting {
                setting: "image",
                ..
            }
        ),
        "{err:?}"
    );
    let l0 = L0BlindConfig {
        iterations: 0,
        ..L0BlindConfig::default()
    };
    assert!(matches!(
        l0.validate().unwrap_err(),
        Error::InvalidSetting { .. }
    ));
    // a NaN noise level would smooth every level by the 2 px cap: refused
    let noisy = L0BlindConfig {
        noise_std: f64::NAN,
        ..L0BlindConfig::default()
    };
    assert!(matches!(
        noisy.validate().unwrap_err(),
        Error::InvalidSetting { .. }
    ));
    // an image too small for the kernel says how large it must be
    let image = ndarray::Array2::<f32>::zeros((40, 40));
    let err = estimate_kernel_l0(
        &image,
        &L0BlindConfig::new(31),
        &Device::default(),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ImageTooSmall {
                image: [40, 40],
                kernel: 31,
                min: [62, 62]
            }
        ),
        "{err:?}"
    );
    // a named case the set does not hold
    let Err(err) = deblur_optim::lai::load_lai(
        &deblur_testkit::shared_data("lai2016"),
        Some(&["natural_99".to_string()]),
        Some(&[1]),
    ) else {
        panic!("natural_99 is not in the set");
    };
    assert!(
        matches!(&err, Error::UnknownCase { set: "Lai", name, .. } if name == "natural_99"),
        "{err:?}"
    );
}

/// An L1 data term, as a user would plug one in.
struct L1Fit;

impl deblur_optim::DataFit for L1Fit {
    fn fit(&self, _step: usize, predicted: Tensor<4>, observation: Tensor<4>) -> Tensor<1> {
        (predicted - observation).abs().mean()
    }
}

/// `weight · mean(x²)` of the latent image.
struct Energy(f64);

impl deblur_optim::Penalty for Energy {
    fn value(&self, _step: usize, latent: &Tensor<4>, _kernel: &Tensor<4>) -> Tensor<1> {
        latent.clone().square().mean() * self.0
    }
}

#[test]
fn a_plugged_in_data_term_and_penalty_make_the_loss() {
    use deblur_optim::models::{FixedKernel, PixelImage};
    use deblur_optim::{SolverConfig, Terms, solve_with};
    // the solver seeds the process-wide RNG
    let _guard = rng_lock();
    let device = Device::default().autodiff();
    // latent 0.25 everywhere, observation 0.5, a 1×1 delta kernel: at step 0 the L1 fit is
    // |0.25 − 0.5| = 0.25 and the penalty 2 · 0.25² = 0.125 (config.loss, MSE, is not used)
    let mut image = PixelImage::new(Tensor::full([1, 1, 8, 8], 0.25, &device), &device);
    let mut kernel = FixedKernel::new(Kernel::delta([1, 1]).unwrap().to_tensor(&device));
    let observation = Tensor::<4>::full([1, 1, 8, 8], 0.5, &device);
    let energy = Energy(2.0);
    let terms = Terms {
        data: &L1Fit,
        penalties: &[&energy],
    };
    let out = solve_with(
        observation,
        &mut image,
        &mut kernel,
        &UniformBlur::new(Boundary::Valid),
        &SolverConfig::constant(20, 0.01, 0.0),
        terms,
        &mut Silent,
    )
    .unwrap();
    assert!((out.losses[0] - 0.375).abs() < 1e-6, "{}", out.losses[0]);
    // the minimiser of |x − 0.5| + 2x² is x = 0.25 (where the slopes 1 and 4x meet): the L1
    // pull and the penalty balance, so the loss stays near 0.375 instead of falling to 0
    let last = *out.losses.last().unwrap();
    assert!(
        last <= out.losses[0] + 1e-3 && last > 0.3,
        "{:?}",
        out.losses
    );
}

#[test]
fn every_default_config_is_valid_and_is_the_reference_setting() {
    use deblur_optim::l0_blind::L0BlindConfig;
    use deblur_optim::{GlkmConfig, SolverConfig};
    SolverConfig::default().validate().unwrap();
    assert_eq!(
        SolverConfig::default(),
        SelfDeblurConfig::paper([31, 31]).solver
    );
    assert_eq!(
        SelfDeblurConfig::default(),
        SelfDeblurConfig::paper([31, 31])
    );
    assert_eq!(GlkmConfig::default(), GlkmConfig::paper());
    L0BlindConfig::default().validate().unwrap();
    assert_eq!(L0BlindConfig::default().kernel_size, 31);
    deblur_models::KernelGeneratorConfig::default()
        .geometry()
        .unwrap();
    deblur_models::InitializerConfig::default()
        .validate()
        .unwrap();
    assert_eq!(deblur_models::InitializerConfig::default().base_width, 64);
    deblur_kernels::shake::ShakeConfig::default()
        .validate()
        .unwrap();
    deblur_kernels::gp::GpConfig::default().validate().unwrap();
    assert_eq!(DipConfig::default(), DipConfig::paper(1));
    assert_eq!(
        deblur_models::GanTrainConfig::default(),
        deblur_models::GanTrainConfig::reference(31)
    );
}

/// The restart rule (`Restart`): where the first start's re-blur residual is above the limit the
/// pipeline runs the whole estimate again with the next seed and returns the result with the
/// lower residual; each start equals a single run with its own seed bit for bit. A limit no
/// start exceeds changes nothing, and limits below one noise level or not a number are refused.
/// Ten SelfDeblur steps of the fast preset's network on [`problem`] at a stated 1 % noise, read
/// out by the hyper-Laplacian step (whose residual the restart rule reads).
fn restart_request(
    seed: u64,
    restart: Option<deblur_optim::Restart>,
    kernel_refine: Option<deblur_optim::l0_blind::KernelRefine>,
) -> deblur_optim::pipeline::BlindRequest {
    use deblur_optim::pipeline::{BlindMethod, BlindRequest, ColorPath, CropChoice};
    BlindRequest {
        method: BlindMethod::from(small_selfdeblur(10)).with_seed(seed),
        color: ColorPath::Luma,
        crop: CropChoice::Auto { side: 256 },
        nonblind: Default::default(),
        final_nonblind: true,
        robust: None,
        noise_aware: None,
        noise_std: Some(0.01),
        final_prior: None,
        restart,
        kernel_refine,
    }
}

#[test]
fn a_failed_start_runs_again_with_the_next_seed_and_keeps_the_lower_residual() {
    use deblur_optim::pipeline::{BlindRequest, deblur_blind};
    use deblur_optim::{Resources, Restart};
    let device = Device::default();
    let (observation, _) = problem(&device);
    let gray = deblur_core::convert::tensor_to_array(observation, 0).unwrap();
    let request = |seed: u64, restart: Option<Restart>| restart_request(seed, restart, None);
    let _guard = rng_lock();
    let run = |r: &BlindRequest| deblur_blind(&gray, r, Resources::none(), &device, &mut Silent);
    let single: Vec<_> = (0..2).map(|s| run(&request(s, None)).unwrap()).collect();
    let residuals: Vec<f64> = single.iter().map(|r| r.residual.unwrap()).collect();
    // ten steps explain the observation to a few noise levels at best: both starts "fail" at 1σ
    assert!(residuals.iter().all(|&r| r > 1.0), "{residuals:?}");
    assert_ne!(residuals[0], residuals[1]);
    // the observer hears the second start announced between the two starts' steps
    #[derive(Default)]
    struct Events(Vec<String>);
    impl deblur_optim::solver::Observer for Events {
        fn on_step(&mut self, p: &deblur_optim::solver::Progress) {
            self.0.push(format!("step {}", p.step));
        }
        fn on_restart(&mut self, first_residual: f64, seed: u64) {
            self.0.push(format!("restart {first_residual} {seed}"));
        }
    }
    let mut events = Events::default();
    let restarted = deblur_blind(
        &gray,
        &request(
            0,
            Some(Restart {
                above_residual: 1.0,
            }),
        ),
        Resources::none(),
        &device,
        &mut events,
    )
    .unwrap();
    let expected: Vec<String> = (1..=10)
        .map(|s| format!("step {s}"))
        .chain([format!("restart {} 1", residuals[0])])
        .chain((1..=10).map(|s| format!("step {s}")))
        .collect();
    assert_eq!(events.0, expected);
    let info = restarted
        .restart
        .expect("the first start was above the limit");
    assert_eq!(info.seed, 1);
    assert_eq!(info.first_residual, residuals[0]);
    let best = usize::from(residuals[1] < residuals[0]);
    assert_eq!(info.kept_second, best == 1);
    assert_eq!(restarted.residual, Some(residuals[best]));
    assert_eq!(restarted.image, single[best].image);
    assert_eq!(restarted.losses, single[best].losses);
    // a limit above both residuals: one start, the single run's result
    let lenient = run(&request(
        0,
        Some(Restart {
            above_residual: 1e6,
        }),
    ))
    .unwrap();
    assert!(lenient.restart.is_none());
    assert_eq!(lenient.image, single[0].image);
    for bad in [0.5, f64::NAN, f64::INFINITY] {
        let err = run(&request(
            0,
            Some(Restart {
                above_residual: bad,
            }),
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("noise levels, at least 1"),
            "{err}"
        );
    }
}

/// With the full-resolution refinement after the estimate, the restart rule judges each start by
/// the residual its estimate left before the refinement (`BlindResult::estimate_residual`), not by
/// the refined result's: a failed estimate refined to a low residual must still run again.
#[test]
fn the_restart_rule_judges_the_estimate_before_its_refinement() {
    use deblur_optim::l0_blind::KernelRefine;
    use deblur_optim::pipeline::{BlindRequest, deblur_blind};
    use deblur_optim::{Resources, Restart};
    let device = Device::default();
    let (observation, _) = problem(&device);
    let gray = deblur_core::convert::tensor_to_array(observation, 0).unwrap();
    let request = |seed: u64, limit: f64| {
        let restart = Restart {
            above_residual: limit,
        };
        restart_request(seed, Some(restart), Some(KernelRefine::after_dip()))
    };
    let _guard = rng_lock();
    let run = |r: &BlindRequest| deblur_blind(&gray, r, Resources::none(), &device, &mut Silent);
    // a limit no start reaches: one start each, both residuals reported
    let single: Vec<_> = (0..2).map(|s| run(&request(s, 1e6)).unwrap()).collect();
    for r in &single {
        assert!(r.restart.is_none() && r.kernel_refined.is_some());
        let (before, after) = (r.unrefined_residual.unwrap(), r.residual.unwrap());
        assert!(before > 1.0 && after > 0.0, "{before} {after}");
        // the refinement changed the kernel, so the two residuals differ
        assert_ne!(before, after);
        assert_eq!(r.estimate_residual(), Some(before));
    }
    let before: Vec<f64> = single
        .iter()
        .map(|r| r.unrefined_residual.unwrap())
        .collect();
    let restarted = run(&request(0, 1.0)).unwrap();
    let info = restarted.restart.expect("every estimate is above 1σ");
    assert_eq!(info.first_residual, before[0]);
    let best = usize::from(before[1] < before[0]);
    assert_eq!(info.kept_second, best == 1);
    assert_eq!(restarted.image, single[best].image);
    assert_eq!(restarted.residual, single[best].residual);
}

/// Three SelfDeblur steps of the fast preset's network (DIP forward, blur, loss, backward, both
/// Adam steps), run from the calling thread and again with the same seeds from a worker of the
/// pool (`deblur_core::on_pool`, where the solver loop now runs its steps): every loss and the
/// final latent image and kernel must be equal to the bit, since the same tasks do the same
/// arithmetic whichever thread starts them.
#[test]
fn steps_on_the_pool_equal_steps_on_the_calling_thread() {
    use deblur_optim::models::{DipImage, ImageModel, KernelModel, MlpKernel};
    use deblur_priors::KernelMlpConfig;
    let _guard = rng_lock();
    let device = Device::default().autodiff();
    let (observation, _) = problem(&device);
    let latent = OBS + K - 1;
    let run = || -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        device.seed(5);
        let mut image = DipImage::new(
            &DipConfig::narrow(1, 16, 4, 4),
            [latent, latent],
            0.03,
            1,
            &device,
        );
        let mut kernel = MlpKernel::new(&KernelMlpConfig::new([K, K]), 2, &device);
        let blur = UniformBlur::new(Boundary::Valid);
        let mut losses = Vec::new();
        for _ in 0..3 {
            let loss = (blur.apply(image.forward(0), kernel.forward(0)).unwrap()
                - observation.clone())
            .square()
            .mean();
            losses.push(loss.clone().into_scalar::<f32>());
            let mut grads = loss.backward();
            image.update(&mut grads, 0.01);
            kernel.update(&mut grads, 1e-3);
        }
        (
            losses,
            host(image.forward(0).detach()),
            host(kernel.forward(0).detach()),
        )
    };
    let here = run();
    let pooled = deblur_core::on_pool(run);
    assert!(
        here.0.iter().all(|l| l.is_finite() && *l > 0.0),
        "{:?}",
        here.0
    );
    // the steps did something: the loss moved
    assert_ne!(here.0[0], here.0[2]);
    assert_eq!(here.0, pooled.0, "losses");
    assert!(here.1 == pooled.1, "latent images differ");
    assert!(here.2 == pooled.2, "kernels differ");
}
