//! DIP-GLKM through the solver loop, with the shipped K = 31 kernel generator: a 64² dead-leaves
//! image blurred by a kernel from the generator's own range, a small DIP, few iterations.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use deblur_core::{Boundary, Kernel, UniformBlur};
use deblur_metrics::{ShiftOptions, score_images};
use deblur_models::InitializerConfig;
use deblur_optim::solver::Silent;
use deblur_optim::{
    BlindMethod, BlindRequest, GlkmConfig, GlkmModels, ImagePart, KernelPart, KernelStart,
    MethodKind, Preset,
};
use deblur_priors::DipConfig;
use deblur_testkit::{host, rng_lock};
use ndarray::Array3;

const OBS: usize = 128;
const ITERATIONS: usize = 150;

fn shipped_models(device: &Device) -> GlkmModels {
    GlkmModels {
        generator: deblur_testkit::shipped_generator(device),
        initializer: None,
    }
}

/// A 15-px camera-shake kernel on the generator's 31² canvas, a 64² observation blurred by it
/// (valid), and the sharp image over the observation's field of view.
fn problem(models: &GlkmModels, device: &Device) -> (Tensor<4>, Kernel, Array3<f32>) {
    let k = models.kernel_size();
    let truth = deblur_testkit::shake_kernel(15, k, 7, 2);
    let p = deblur_testkit::dead_leaves_problem(OBS, truth, 4, device);
    (p.observation, p.kernel, p.sharp)
}

/// Shift-compensated PSNR of the hyper-Laplacian deconvolution of `y` with `kernel`.
fn restored_psnr(y: &Tensor<4>, kernel: &Kernel, sharp: &Array3<f32>) -> f64 {
    let device = y.device();
    let x = deblur_optim::hyper_laplacian_deconv(
        y.clone(),
        kernel.to_tensor(&device),
        &Default::default(),
    )
    .unwrap();
    let x = deblur_core::convert::tensor_to_array(x, 0)
        .unwrap()
        .mapv(|v| v.clamp(0.0, 1.0));
    let options = ShiftOptions {
        max_shift: 4.0,
        step: 1.0,
        crop: 6,
        data_range: 1.0,
    };
    score_images(&x, sharp, &options).unwrap().psnr
}

fn small_glkm(iterations: usize) -> GlkmConfig {
    let mut config = GlkmConfig::paper().with_iterations(iterations);
    config.image.dip = DipConfig::narrow(1, 8, 4, 3);
    config.start = KernelStart::Broad { sigma: 4.0 };
    // the short runs' w learning rate (as the fast preset), not the 5000-step reference 5e-4
    config.solver.kernel_lr.base = 5e-3;
    config
}

#[test]
fn glkm_refines_an_approximate_kernel() {
    // start from the generator's fit to a smeared copy of the true kernel (what a good
    // initializer gives); the loop must improve on it and on a delta kernel
    let device = Device::default();
    let models = shipped_models(&device);
    let (observation, truth, sharp) = problem(&models, &device);
    let smear = Kernel::new(deblur_kernels::simple::gaussian_kernel(7, 1.5, 1.5, 0.0)).unwrap();
    let smeared = UniformBlur::new(Boundary::Same(deblur_core::Padding::Zero))
        .apply(truth.to_tensor(&device), smear.to_tensor(&device))
        .unwrap();
    let w0 = models.fit_features(smeared, 300, 5e-3);
    let start = Kernel::from_tensor(models.generator.kernel_from_features(w0.clone())).unwrap();
    let _guard = rng_lock();
    let with = |k: &Kernel| restored_psnr(&observation, k, &sharp);
    let delta = Kernel::delta([31, 31]).unwrap();
    let (from, none, best) = (with(&start), with(&delta), with(&truth));
    // one run's outcome is rounding luck on this tiny problem (seed 0 gave 16.07 dB with one
    // rounding of the convolutions and 14.74 with another, against a start of 14.95), so three
    // seeds are averaged
    let mut estimates = Vec::new();
    for seed in 0..3 {
        let mut config = small_glkm(ITERATIONS);
        config.solver.seed = seed;
        let out = config
            .run_from(observation.clone(), &models, w0.clone(), &mut Silent)
            .unwrap();
        assert_eq!(out.image.dims(), [1, 1, OBS, OBS]);
        estimates.push(with(&Kernel::from_tensor(out.kernel).unwrap()));
    }
    let est = estimates.iter().sum::<f64>() / estimates.len() as f64;
    eprintln!(
        "restored PSNR: estimates {estimates:.2?} (mean {est:.2}) dB, start {from:.2}, delta {none:.2}, true kernel {best:.2}"
    );
    // HL read-out of a 128² dead-leaves crop; ringing at its sharp edges keeps even the true
    // kernel low. GLKM gains little over a good start on this tiny problem, so the test asks
    // for a clear gain over a delta kernel and no loss against the start.
    assert!(est > none + 0.5, "estimate {est} dB vs delta {none} dB");
    assert!(est > from - 0.1, "estimate {est} dB vs start {from} dB");
}

#[test]
fn same_seed_same_result() {
    let device = Device::default();
    let models = shipped_models(&device);
    let (observation, _, _) = problem(&models, &device);
    let _guard = rng_lock();
    let run = || {
        small_glkm(8)
            .run(observation.clone(), &models, &mut Silent)
            .unwrap()
    };
    let (a, b) = (run(), run());
    assert_eq!(a.losses, b.losses);
    assert_eq!(host(a.kernel), host(b.kernel));
}

#[test]
fn presets_are_settings_of_one_method() {
    // fast and paper differ only in the network, the number of steps and the read-out: with
    // those made equal, the two requests are the same method with the same schedule
    for kind in [MethodKind::Glkm, MethodKind::SelfDeblur] {
        let fast = BlindRequest::preset(kind, Preset::Fast, 31, Some(5000));
        let paper = BlindRequest::preset(kind, Preset::Paper, 31, None);
        assert_eq!(fast.method.steps(), 5000);
        let mut aligned = fast.method.clone();
        let (BlindMethod::Composed(a), BlindMethod::Composed(b)) = (&mut aligned, &paper.method)
        else {
            panic!("{kind:?}: the presets are not methods of the solver loop");
        };
        let (ImagePart::Dip(ia), ImagePart::Dip(ib)) = (&mut a.image, &b.image) else {
            panic!("{kind:?}: the presets' image model is not the DIP");
        };
        ia.dip = ib.dip.clone();
        a.solver.kernel_lr = b.solver.kernel_lr.clone();
        match (&mut a.kernel, &b.kernel) {
            (KernelPart::Generator { start: sa, .. }, KernelPart::Generator { start: sb, .. }) => {
                *sa = *sb
            }
            (KernelPart::Mlp { .. }, KernelPart::Mlp { .. }) => {}
            _ => panic!("{kind:?}: the presets chose different kernel models"),
        }
        assert_eq!(aligned, paper.method, "{kind:?}");
        assert!(fast.final_nonblind && !paper.final_nonblind);
    }
    // the GLKM schedule of GKPILE's `deblur_lai.py` ([GLKM] §VI) scaled to 500 steps
    let g = GlkmConfig::paper().with_iterations(500);
    assert_eq!(g.solver.image_lr.milestones, vec![200, 300, 400]);
    assert_eq!(g.solver.loss.ssim_from, Some(50));
    assert_eq!(g.solver.kernel_lr.lr(0), 5e-4);
}

#[test]
fn glkm_without_models_is_a_clear_error() {
    let device = Device::default();
    let request = BlindRequest::preset(MethodKind::Glkm, Preset::Fast, 31, Some(2));
    let image = ndarray::Array3::<f32>::from_elem((1, 40, 40), 0.5);
    let err = deblur_optim::deblur_blind(
        &image,
        &request,
        deblur_optim::Resources::none(),
        &device,
        &mut Silent,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            deblur_optim::Error::MissingModels { method: "GLKM", .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("kernel generator"), "{err}");
    // an image smaller than the generator's kernel
    let models = shipped_models(&device);
    let small = ndarray::Array3::<f32>::from_elem((1, 20, 20), 0.5);
    let err = deblur_optim::deblur_blind(
        &small,
        &request,
        deblur_optim::Resources::glkm(Some(&models)),
        &device,
        &mut Silent,
    )
    .unwrap_err();
    assert!(err.to_string().contains("31x31"), "{err}");
}

#[test]
fn the_initializer_sees_the_luma() {
    let device = Device::default();
    let mut models = shipped_models(&device);
    let _guard = rng_lock();
    device.seed(3);
    models.initializer = Some(InitializerConfig::narrow(4).init(&device).valid());
    let (gray, _, _) = problem(&models, &device);
    let rgb = Tensor::cat(vec![gray.clone(), gray.clone(), gray.clone()], 1);
    let a = models.initial_latent(&gray);
    let b = models.initial_latent(&rgb);
    assert_eq!(a.dims(), [1, 100, 1, 1]);
    let diff = (a - b).abs().max().into_scalar::<f32>();
    assert!(diff < 1e-4, "gray vs gray-as-RGB latent differ by {diff}");
    // without an initializer the start is the latent prior's mean
    models.initializer = None;
    let z = models.initial_latent(&gray);
    assert_eq!(z.abs().sum().into_scalar::<f32>(), 0.0);
}
