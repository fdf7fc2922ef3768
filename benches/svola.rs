#![allow(missing_docs)]
//! Spatially varying (SVOLA) blur forward + backward against its budget: a 3×3 grid of 31 px
//! kernels on a 1024² image, beside nine uniform FFT blurs of one region's patch (the tent
//! window's support, 512² for a 3×3 grid) with one kernel, all with gradients for the image and
//! the kernels, on the default backend (flex CPU), one channel.
//!
//! Run with: `cargo bench --bench svola`. Results and the machine: `docs/benchmarks.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use deblur::core::burn::tensor::{Device, Distribution, Tensor};
use deblur::core::{BlurMethod, Boundary, Svola, UniformBlur};

const SIDE: usize = 1024;
const K: usize = 31;

fn gradient_sums(loss: Tensor<1>, x: &Tensor<4>, k: &Tensor<4>) -> f32 {
    let grads = loss.backward();
    k.grad(&grads)
        .expect("kernel gradient")
        .sum()
        .into_scalar::<f32>()
        + x.grad(&grads)
            .expect("image gradient")
            .sum()
            .into_scalar::<f32>()
}

fn bench_svola(c: &mut Criterion) {
    let device = Device::default().autodiff();
    let image = Tensor::<4>::random([1, 1, SIDE, SIDE], Distribution::Default, &device);
    let kernels =
        Tensor::<4>::random([9, 1, K, K], Distribution::Default, &device) / (K * K) as f64;
    // the tent windows of a 3×3 grid reach half the image on each axis (plus one pixel)
    let patch = SIDE / 2 + 1;
    let patch_image = image.clone().narrow(2, 0, patch).narrow(3, 0, patch);
    let mut group = c.benchmark_group("core/svola/1024_k31");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(8));
    for (name, method) in [
        ("svola_auto", BlurMethod::Auto),
        ("svola_fft", BlurMethod::Fft),
    ] {
        // planned once, as the solver does: each iteration only blurs
        let op = Svola::new([3, 3], Boundary::Valid)
            .with_method(method)
            .plan([SIDE, SIDE], [K, K], &device)
            .expect("plan");
        group.bench_function(name, |b| {
            b.iter(|| {
                let x = image.clone().require_grad();
                let k = kernels.clone().require_grad();
                let loss = op
                    .apply(x.clone(), k.clone())
                    .expect("svola")
                    .powi_scalar(2)
                    .sum();
                black_box(gradient_sums(loss, &x, &k))
            })
        });
    }
    let uniform = UniformBlur::new(Boundary::Valid).with_method(BlurMethod::Fft);
    group.bench_function("nine_uniform_fft_patches", |b| {
        b.iter(|| {
            let x = patch_image.clone().require_grad();
            let k = kernels.clone().narrow(0, 0, 1).require_grad();
            let mut loss = None;
            for _ in 0..9 {
                let l = uniform
                    .apply(x.clone(), k.clone())
                    .expect("blur")
                    .powi_scalar(2)
                    .sum();
                loss = Some(match loss {
                    Some(t) => t + l,
                    None => l,
                });
            }
            black_box(gradient_sums(loss.expect("nine"), &x, &k))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_svola);
criterion_main!(benches);
