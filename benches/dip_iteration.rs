#![allow(missing_docs)]
//! One SelfDeblur iteration: DIP forward, valid blur with the kernel MLP's kernel, MSE, backward,
//! and the Adam steps of both models — on the default backend (flex CPU).
//!
//! Each network runs with the fused CPU kernels (`fused`, the default) and with burn's own
//! operations (`plain`, `DipConfig::fused_ops = false`).
//!
//! Run with: `cargo bench --bench dip_iteration` (add `-- paper` or `-- small` to filter).
//! Against PyTorch on the same machine: `scripts/side-by-side-dip.sh` (docs/performance.md).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use deblur::core::burn::tensor::{Device, Distribution, Tensor};
use deblur::core::{Boundary, UniformBlur};
use deblur::optim::models::{DipImage, ImageModel, KernelModel, MlpKernel};
use deblur::priors::{DipConfig, KernelMlpConfig};

fn bench_dip(c: &mut Criterion) {
    deblur::core::retain_freed_memory();
    let device = Device::default().autodiff();
    let kernel_size = 27;
    // 255 + 26 = 281, the Levin working size for kernel 4; 128 + 26 = 154, the fast preset's window
    let cases = [
        ("paper", DipConfig::paper(1), 255),
        ("small-w32", DipConfig::narrow(1, 32, 8, 5), 255),
        ("small-w16", DipConfig::narrow(1, 16, 4, 5), 255),
        ("fast-w16", DipConfig::narrow(1, 16, 4, 4), 128),
    ];
    let mut group = c.benchmark_group("optim/dip_iteration");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    for (name, config, observed) in cases {
        for fused in [true, false] {
            let config = config.clone().with_fused_ops(fused);
            let latent = observed + kernel_size - 1;
            let name = format!("{name}-{}", if fused { "fused" } else { "plain" });
            let mut image = DipImage::new(&config, [latent, latent], 0.001, 0, &device);
            let mut kernel = MlpKernel::new(
                &KernelMlpConfig::new([kernel_size, kernel_size]),
                0,
                &device,
            );
            let observation = Tensor::<4>::random(
                [1, 1, observed, observed],
                Distribution::Uniform(0.0, 1.0),
                &device,
            );
            let blur = UniformBlur::new(Boundary::Valid);
            group.bench_function(BenchmarkId::new(&name, latent), |b| {
                // as the solver loop runs a step: from a worker of the pool (deblur_core::pool)
                b.iter(|| {
                    deblur::core::on_pool(|| {
                        let x = image.forward(0);
                        let k = kernel.forward(0);
                        let loss = (blur.apply(x, k).expect("blur") - observation.clone())
                            .square()
                            .mean();
                        let value = loss.clone().into_scalar::<f32>();
                        let mut grads = loss.backward();
                        image.update(&mut grads, 0.01);
                        kernel.update(&mut grads, 1e-4);
                        value
                    })
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_dip);
criterion_main!(benches);
