//! Backend parity: the operations every method is built of give the same numbers on the device
//! under test as on the CPU backend (`flex`), which is the reference here.
//!
//! The device under test is named by `DEBLUR_TEST_DEVICE` (`cpu`, `wgpu`, `cuda`; default `cpu`).
//! `scripts/test-wgpu.sh` (run in CI) runs this file on wgpu through Mesa's software Vulkan driver.
//! Sizes are tiny: a software GPU pays seconds of shader compilation per new kernel.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use deblur_core::{BlurMethod, Boundary, UniformBlur, device_from_name};
use deblur_optim::solver::Silent;
use deblur_optim::{GlkmConfig, GlkmModels, SelfDeblurConfig};
use deblur_priors::DipConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn test_device() -> Device {
    let name = std::env::var("DEBLUR_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
    device_from_name(&name).expect("DEBLUR_TEST_DEVICE names a compiled-in backend")
}

/// Values in [0, 1) drawn on the host from `seed` (no backend RNG, so every backend sees the
/// same data).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<f32>()).collect()
}

fn tensor(shape: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new(values(n, seed), shape), device)
}

/// A kernel `[1, 1, k, k]` with positive entries summing to 1.
fn kernel(k: usize, device: &Device) -> Tensor<4> {
    let mut v = values(k * k, 7);
    let s: f32 = v.iter().sum();
    v.iter_mut().for_each(|x| *x /= s);
    Tensor::from_data(TensorData::new(v, [1, 1, k, k]), device)
}

use deblur_testkit::{host, max_abs_diff as max_diff};

#[test]
fn blur_by_direct_and_fft_matches_the_cpu() {
    let (cpu, dev) = (Device::flex(), test_device());
    let reference = UniformBlur::new(Boundary::Valid)
        .with_method(BlurMethod::Direct)
        .apply(tensor([1, 1, 20, 24], 1, &cpu), kernel(5, &cpu))
        .unwrap();
    let reference = host(reference);
    for method in [BlurMethod::Direct, BlurMethod::Fft] {
        let out = UniformBlur::new(Boundary::Valid)
            .with_method(method)
            .apply(tensor([1, 1, 20, 24], 1, &dev), kernel(5, &dev))
            .unwrap();
        let d = max_diff(&host(out), &reference);
        assert!(d < 1e-4, "{method:?}: max difference {d}");
    }
}

#[test]
fn blur_gradients_match_the_cpu() {
    let grads_on = |device: &Device| {
        let device = device.clone().autodiff();
        let x = tensor([1, 1, 16, 16], 2, &device).require_grad();
        let k = kernel(5, &device).require_grad();
        let w = tensor([1, 1, 12, 12], 3, &device);
        let y = UniformBlur::new(Boundary::Valid)
            .with_method(BlurMethod::Direct)
            .apply(x.clone(), k.clone())
            .unwrap();
        let grads = (y * w).sum().backward();
        (host(x.grad(&grads).unwrap()), host(k.grad(&grads).unwrap()))
    };
    let (gx_cpu, gk_cpu) = grads_on(&Device::flex());
    let (gx, gk) = grads_on(&test_device());
    assert!(max_diff(&gx, &gx_cpu) < 1e-4);
    assert!(max_diff(&gk, &gk_cpu) < 1e-3);
}

#[test]
fn dip_forward_matches_the_cpu() {
    // the same weights on both backends: built on the CPU, then moved
    let cpu = Device::flex();
    let net = DipConfig::narrow(1, 4, 2, 3).init(&cpu);
    let noise = net.input_noise([19, 21], 0, &cpu);
    let reference = host(net.forward(noise.clone()));
    let dev = test_device();
    let moved = net.to_device(&dev);
    let out = host(moved.forward(noise.to_device(&dev)));
    let d = max_diff(&out, &reference);
    assert!(d < 1e-4, "max difference {d}");
}

#[test]
fn selfdeblur_steps_reduce_the_loss_on_the_device() {
    let dev = test_device();
    let observation = UniformBlur::new(Boundary::Valid)
        .apply(tensor([1, 1, 28, 28], 4, &dev), kernel(5, &dev))
        .unwrap();
    let mut config = SelfDeblurConfig::paper([5, 5]).with_iterations(12);
    config.image.dip = DipConfig::narrow(1, 4, 2, 3);
    config.kernel_hidden = 16;
    config.solver.loss.ssim_from = None; // MSE throughout, so that losses are comparable
    let out = config.run(observation, &mut Silent).unwrap();
    let (first, last) = (out.losses[0], *out.losses.last().unwrap());
    assert!(last.is_finite() && last < first, "loss {first} → {last}");
}

#[test]
fn glkm_kernel_and_steps_match_the_cpu() {
    // the shipped generator's kernel for z = 0 on both backends, then a few GLKM steps on the device
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights");
    let load = |device: &Device| GlkmModels {
        generator: deblur_models::weights::load_generator(&dir, "shake-k31-v1", device)
            .unwrap()
            .valid(),
        initializer: None,
    };
    let (cpu, dev) = (Device::flex(), test_device());
    let (models_cpu, models) = (load(&cpu), load(&dev));
    let z = |device: &Device| Tensor::<4>::zeros([1, 100, 1, 1], device);
    let k_cpu = host(models_cpu.generator.forward(z(&cpu)));
    let k_dev = host(models.generator.forward(z(&dev)));
    let d = max_diff(&k_dev, &k_cpu);
    assert!(d < 1e-5, "generator kernels differ by {d}");

    let observation = UniformBlur::new(Boundary::Valid)
        .apply(tensor([1, 1, 40, 40], 5, &dev), kernel(5, &dev))
        .unwrap();
    let mut config = GlkmConfig::paper().with_iterations(6);
    config.image.dip = DipConfig::narrow(1, 4, 2, 3);
    config.solver.loss.ssim_from = None;
    let out = config.run(observation, &models, &mut Silent).unwrap();
    let (first, last) = (out.losses[0], *out.losses.last().unwrap());
    assert!(last.is_finite() && last < first, "loss {first} → {last}");
}

#[test]
fn svola_and_vdip_terms_match_the_cpu() {
    // the spatially varying blur (2×2 regions, direct and FFT) and the VDIP prior terms with their
    // gradients (the extreme prior at s = 0 is deterministic: its draws are scaled by 1e-16)
    use deblur_core::Svola;
    use deblur_priors::vdip::{extreme_channel_prior, sparse_gradient_prior, windowed_min};
    let run = |device: &Device| {
        let kernels: Vec<f32> = (0..4)
            .flat_map(|r| host(kernel(5, device)).into_iter().cycle().skip(r).take(25))
            .collect();
        let kernels = Tensor::<4>::from_data(TensorData::new(kernels, [4, 1, 5, 5]), device);
        let mut out = Vec::new();
        for method in [BlurMethod::Direct, BlurMethod::Fft] {
            let svola = Svola::new([2, 2], Boundary::Valid).with_method(method);
            out.extend(host(
                svola
                    .apply(tensor([1, 1, 20, 22], 4, device), kernels.clone())
                    .unwrap(),
            ));
        }
        let ad = device.clone().autodiff();
        let mean = tensor([1, 1, 12, 12], 5, &ad).require_grad();
        let std = Tensor::<4>::zeros([1, 1, 12, 12], &ad);
        let total = sparse_gradient_prior(mean.clone(), std.clone())
            + extreme_channel_prior(mean.clone(), std, 5);
        out.extend(host(total.clone().unsqueeze::<4>()));
        out.extend(host(mean.grad(&total.backward()).unwrap()));
        out.extend(host(windowed_min(tensor([1, 3, 9, 9], 6, device), 4)));
        out
    };
    let (reference, got) = (run(&Device::flex()), run(&test_device()));
    let d = max_diff(&got, &reference);
    assert!(d < 1e-3, "max difference {d}");
}
