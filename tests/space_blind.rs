//! Blind deblurring through the encoded kernel space (issue 18): F as the solver's blur model and
//! the kernel code as its kernel model, with the shipped compact weights.

use deblur::core::burn::module::Module;
use deblur::core::burn::tensor::{Device, Tensor};
use deblur::core::{Boundary, Kernel, Padding, UniformBlur};
use deblur::metrics::psnr_tensors;
use deblur::models::KernelSpace;
use deblur::optim::solver::Silent;
use deblur::optim::space::{CodeGenerator, SpaceDeblurConfig};
use deblur::optim::{ComposedMethod, Resources};
use deblur::priors::DipConfig;

fn space(device: &Device) -> KernelSpace {
    deblur::models::weights::load_kernel_space(&deblur_testkit::weights_dir(), "compact-v1", device)
        .unwrap()
        .valid()
}

/// A 128² crop of Levin's first sharp image and the observation F makes of it with the code of
/// a real blur (G of the crop and the crop blurred by Levin's kernel 4): `(x, y)`.
fn problem(space: &KernelSpace, device: &Device) -> (Tensor<4>, Tensor<4>) {
    let path = deblur_testkit::repo().join("tests/data/levin_im1.png");
    let image = deblur::core::load_image(path).unwrap().pixels;
    let crop = image.slice(ndarray::s![.., 60..188, 60..188]).to_owned();
    let x = deblur::core::convert::array_to_tensor(&crop, device);
    let kernel = Kernel::load(deblur_testkit::repo().join("tests/data/levin_kernel4.png"))
        .unwrap()
        .to_tensor(device);
    let blurred = UniformBlur::new(Boundary::Same(Padding::Reflect))
        .apply(x.clone(), kernel)
        .unwrap();
    let code = space.extract_code(x.clone(), blurred).unwrap().mean;
    let y = space.blur_with(x.clone(), code).unwrap().clamp(0.0, 1.0);
    (x, y)
}

/// The fast preset's method for `iterations` steps, seeded.
fn method(iterations: usize, generator: CodeGenerator, seed: u64) -> ComposedMethod {
    let mut config = SpaceDeblurConfig::paper().with_iterations(iterations);
    config.image = config.image.with_dip(DipConfig::narrow(1, 16, 4, 4));
    config.generator = generator;
    config.solver.image_lr.base = 0.01;
    config.solver.kernel_lr.base = deblur::optim::pipeline::SPACE_FAST_CODE_LR;
    config.method().with_seed(seed)
}

#[test]
fn the_solver_deblurs_an_image_that_f_blurred_and_finds_a_code_that_explains_it() {
    let _lock = deblur_testkit::rng_lock();
    let device = Device::default();
    let space = space(&device);
    let (x, y) = problem(&space, &device);
    let resources = Resources::none().with_kernel_space(Some(&space));
    let out = method(200, CodeGenerator::Direct, 1)
        .run(y.clone(), &resources, &mut Silent)
        .unwrap();
    let restored = out.image.clone().inner().clamp(0.0, 1.0);
    let reblurred = space
        .blur_with(restored.clone(), out.kernel.clone().inner())
        .unwrap();
    let (before, after, fit) = (
        psnr_tensors(y.clone(), x.clone()),
        psnr_tensors(restored, x),
        psnr_tensors(reblurred, y),
    );
    // measured: input 25.07 dB, restored 28.00 dB, F(x̂, k̂) against y 36.20 dB
    eprintln!("input {before:.2} dB, restored {after:.2} dB, F-reblur vs y {fit:.2} dB");
    assert!(after > before + 1.0, "{before:.2} → {after:.2} dB");
    assert!(fit > 30.0, "F(x̂, k̂) against y: {fit:.2} dB");
}

#[test]
fn the_same_seed_gives_the_same_result() {
    let _lock = deblur_testkit::rng_lock();
    let device = Device::default();
    let space = space(&device);
    let (_, y) = problem(&space, &device);
    let resources = Resources::none().with_kernel_space(Some(&space));
    let generator = CodeGenerator::Dip {
        width: 16,
        warmup: 5,
        seed: 0,
    };
    let run = |seed| {
        let out = method(6, generator, seed)
            .run(y.clone(), &resources, &mut Silent)
            .unwrap();
        (
            deblur_testkit::host(out.image.inner()),
            deblur_testkit::host(out.kernel.inner()),
        )
    };
    let (a, b, c) = (run(3), run(3), run(4));
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
}

#[test]
fn missing_models_and_tiny_images_are_named() {
    let device = Device::default();
    let space = space(&device);
    let (_, y) = problem(&space, &device);
    let err = method(2, CodeGenerator::Direct, 0)
        .run(y, &Resources::none(), &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("kernel-space model"), "{err}");
    let tiny = Tensor::<4>::full([1, 1, 12, 40], 0.5, &device);
    let err = method(2, CodeGenerator::Direct, 0)
        .run(
            tiny,
            &Resources::none().with_kernel_space(Some(&space)),
            &mut Silent,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("40x12") && err.contains("at least 16"),
        "{err}"
    );
}
