#![allow(missing_docs)]
//! The DIP's operations one at a time, forward + backward, with the fused CPU kernels (`fused`)
//! and with burn's own operations (`plain`), at the shapes that dominate the reference network
//! (scale 0 of the Levin working size, 281²) and the fast preset's network (16 channels, 154²).
//! The breakdown in `docs/performance.md` comes from this bench.
//!
//! Also the plug-and-play denoiser's inference (`-- denoiser`).
//!
//! Run with: `cargo bench --bench dip_ops` (add `-- paper`, `-- fast` or `-- denoiser` to filter).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use deblur::core::burn::tensor::{Device, Distribution, Tensor};
use deblur::priors::DenoiserConfig;
use deblur::priors::fused::{batch_norm_leaky_relu, conv2d_padded, upsample_bilinear2};

/// An operation's name, its input, the weights of its output in the loss, and the operation.
type Case<'a> = (
    &'static str,
    &'a Tensor<4>,
    &'a Tensor<4>,
    Box<dyn Fn(Tensor<4>) -> Tensor<4> + 'a>,
);

fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), device)
}

/// Forward, `sum(out · r)` with a fixed random `r`, backward; returns after the input gradient.
fn step(x: &Tensor<4>, r: &Tensor<4>, op: &dyn Fn(Tensor<4>) -> Tensor<4>) -> f32 {
    let grads = (op(x.clone()) * r.clone()).sum().backward();
    let g = x.grad(&grads).expect("input gradient");
    g.slice([0..1, 0..1, 0..1, 0..1]).into_scalar::<f32>()
}

fn bench_ops(c: &mut Criterion) {
    deblur::core::retain_freed_memory();
    let device = Device::default().autodiff();
    let mut group = c.benchmark_group("priors/dip_ops");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    // (net, channels in, channels out, size): reference scale 0 and the fast preset's scale 0
    for (net, cin, cout, size) in [("paper", 144, 128, 281), ("fast", 20, 16, 154)] {
        let w3 = random([cout, cin, 3, 3], &device).require_grad();
        let w1 = random([cout, cout, 1, 1], &device).require_grad();
        let b = random([cout], &device).require_grad();
        let gamma = random([cout], &device).require_grad();
        let x_in = random([1, cin, size, size], &device).require_grad();
        let x_out = random([1, cout, size, size], &device).require_grad();
        let x_half = random([1, cout, size / 2, size / 2], &device).require_grad();
        let r_out = random([1, cout, size, size], &device);
        let r_up = random([1, cout, 2 * (size / 2), 2 * (size / 2)], &device);
        for fused in [true, false] {
            let mode = if fused { "fused" } else { "plain" };
            let cases: [Case; 4] = [
                (
                    "conv3x3-reflect",
                    &x_in,
                    &r_out,
                    Box::new(|x| conv2d_padded(x, w3.clone(), b.clone(), 1, 1, true, fused)),
                ),
                (
                    "conv1x1",
                    &x_out,
                    &r_out,
                    Box::new(|x| conv2d_padded(x, w1.clone(), b.clone(), 1, 0, false, fused)),
                ),
                (
                    "bn-leaky-relu",
                    &x_out,
                    &r_out,
                    Box::new(|x| {
                        batch_norm_leaky_relu(x, gamma.clone(), b.clone(), 1e-5, 0.2, fused)
                    }),
                ),
                (
                    "upsample-x2",
                    &x_half,
                    &r_up,
                    Box::new(|x| upsample_bilinear2(x, fused)),
                ),
            ];
            for (op, x, r, f) in cases {
                let id =
                    BenchmarkId::new(format!("{net}-{op}-{mode}"), format!("{cin}-{cout}-{size}"));
                group.bench_function(id, |bench| bench.iter(|| step(x, r, f.as_ref())));
            }
        }
    }
    group.finish();
}

/// Inference (no autodiff): the plug-and-play denoiser's hidden 3×3 convolution (48 channels,
/// half of a 512² window) fused and plain, and the whole denoiser on a 512² window.
fn bench_inference(c: &mut Criterion) {
    let device = Device::default();
    let mut group = c.benchmark_group("priors/denoiser");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let x = random([1, 48, 256, 256], &device);
    let w = random([48, 48, 3, 3], &device);
    let b = random([48], &device);
    for fused in [true, false] {
        let mode = if fused { "fused" } else { "plain" };
        group.bench_function(format!("conv3x3-reflect-{mode}/48-48-256"), |bench| {
            bench.iter(|| conv2d_padded(x.clone(), w.clone(), b.clone(), 1, 1, true, fused))
        });
    }
    let net = DenoiserConfig::new().init(&device);
    let image = random([1, 1, 512, 512], &device);
    group.bench_function("forward/512", |bench| {
        bench.iter(|| net.forward(image.clone(), &[0.05]))
    });
    group.finish();
}

criterion_group!(benches, bench_ops, bench_inference);
criterion_main!(benches);
