#![allow(missing_docs)]
//! Uniform blur forward + backward (gradients for image and kernel), direct vs FFT, on the
//! default backend (flex CPU), one channel.
//!
//! Run with: `cargo bench --bench blur` (add `-- core/blur/256` to filter).
//! Results and the machine they came from: `docs/benchmarks.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use deblur::core::burn::tensor::{Device, Distribution, Tensor};
use deblur::core::{BlurMethod, Boundary, Padding, UniformBlur};

fn fixture(side: usize, k: usize, device: &Device) -> (Tensor<4>, Tensor<4>) {
    let image = Tensor::random([1, 1, side, side], Distribution::Uniform(0.0, 1.0), device);
    let kernel = Tensor::random([1, 1, k, k], Distribution::Uniform(0.0, 1.0), device);
    let kernel = kernel.clone() / kernel.sum().unsqueeze::<4>();
    (image, kernel)
}

/// One forward + backward pass; reads a gradient back so asynchronous backends finish the work.
fn forward_backward(op: UniformBlur, image: &Tensor<4>, kernel: &Tensor<4>) -> f32 {
    let x = image.clone().require_grad();
    let k = kernel.clone().require_grad();
    let loss = op
        .apply(x.clone(), k.clone())
        .expect("blur")
        .powi_scalar(2)
        .sum();
    let grads = loss.backward();
    let gk = k.grad(&grads).expect("kernel gradient");
    gk.sum().into_scalar::<f32>()
        + x.grad(&grads)
            .expect("image gradient")
            .sum()
            .into_scalar::<f32>()
}

fn bench_blur(c: &mut Criterion) {
    let device = Device::default().autodiff();
    let cases: &[(usize, &[usize])] = &[
        (256, &[5, 9, 11, 13, 15, 21, 31, 75]),
        (1024, &[15, 31, 75]),
    ];
    for &(side, kernels) in cases {
        let mut group = c.benchmark_group(format!("core/blur/{side}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Elements((side * side) as u64));
        for &k in kernels {
            let (image, kernel) = fixture(side, k, &device);
            for (name, method) in [("direct", BlurMethod::Direct), ("fft", BlurMethod::Fft)] {
                let op = UniformBlur::new(Boundary::Same(Padding::Reflect)).with_method(method);
                group.bench_with_input(BenchmarkId::new(name, k), &k, |b, _| {
                    b.iter(|| black_box(forward_backward(op, &image, &kernel)))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench_blur);
criterion_main!(benches);
