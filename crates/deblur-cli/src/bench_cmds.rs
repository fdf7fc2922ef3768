//! `deblur bench initializer`: how close the initializer's kernel G(E(y)) is to the true kernel,
//! on held-out synthetic pairs and on the Levin set, against simple starting kernels.

use std::path::PathBuf;

use clap::Args;
use deblur_core::burn::tensor::{Device, Tensor};
use deblur_core::{Boundary, Kernel, Padding, device_from_name};
use deblur_kernels::{ColorMode, KernelBank, PairConfig, PairGenerator};
use deblur_metrics::kernel_error;
use deblur_optim::GlkmModels;
use deblur_optim::levin::{load_levin, orient_true_kernel};
use ndarray::Axis;

use crate::weights_args::ShippedWeights;

type CmdResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Args, Debug)]
pub struct BenchInitializerArgs {
    /// Held-out kernels (.npy N×K×K, not used in training) for the synthetic pairs.
    #[arg(long)]
    bank: PathBuf,
    /// Synthetic pairs (crops blurred by kernels of the bank).
    #[arg(long, default_value_t = 64)]
    count: usize,
    /// Sharp images of the synthetic pairs: `dead-leaves`, `text-pages` or a folder of held-out images (e.g.
    /// ../shared/data/bsd68, never used in training), cropped at random.
    #[arg(long, default_value = "dead-leaves")]
    images: deblur_kernels::ImageSpec,
    /// Gaussian noise σ added to the synthetic pairs (0.01 as in the Lai protocol).
    #[arg(long, default_value_t = 0.0)]
    noise: f32,
    /// Side of the synthetic crops.
    #[arg(long, default_value_t = 128)]
    crop: usize,
    /// Seed of the synthetic pairs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also evaluate on the Levin set in this folder (true kernels oriented as the data README says).
    #[arg(long)]
    levin: Option<PathBuf>,
    /// Also write a picture of the first 32 synthetic pairs' true kernels (odd columns) beside
    /// their predictions G(E(y)) (even columns).
    #[arg(long)]
    grid: Option<PathBuf>,
    /// Standard deviation of the broad Gaussian start compared with (px).
    #[arg(long, default_value_t = 4.0)]
    broad_sigma: f64,
    #[command(flatten)]
    shipped: ShippedWeights,
}

/// Candidate starting kernels for one observation.
struct Candidates {
    names: [&'static str; 5],
    sums: [(f64, f64); 5],
    n: usize,
}

impl Candidates {
    fn new() -> Self {
        Candidates {
            names: ["G(E(y))", "G(0)", "mean kernel", "broad Gaussian", "delta"],
            sums: [(0.0, 0.0); 5],
            n: 0,
        }
    }

    fn add(&mut self, truth: &Kernel, kernels: [&Kernel; 5]) -> deblur_core::Result<()> {
        for (sum, k) in self.sums.iter_mut().zip(kernels) {
            let e = kernel_error(k, truth, 3)?;
            sum.0 += e.mse;
            sum.1 += e.psnr;
        }
        self.n += 1;
        Ok(())
    }

    fn print(&self, title: &str) {
        println!("{title} ({} kernels)", self.n);
        println!(
            "  {:<16} {:>12} {:>12}",
            "start", "kernel MSE", "kernel PSNR"
        );
        let n = self.n.max(1) as f64;
        for (name, (mse, psnr)) in self.names.iter().zip(self.sums) {
            println!("  {name:<16} {:>12.3e} {:>12.2}", mse / n, psnr / n);
        }
    }
}

fn one(t: Tensor<4>, i: usize) -> deblur_core::Result<Kernel> {
    Kernel::from_tensor(t.narrow(0, i, 1))
}

pub fn bench_initializer(args: BenchInitializerArgs) -> CmdResult {
    let device: Device = device_from_name("cpu")?;
    let models: GlkmModels = args.shipped.load_glkm(&device)?;
    let Some(initializer) = &models.initializer else {
        return Err(format!(
            "no kernel initializer {:?} to evaluate",
            args.shipped.variant
        )
        .into());
    };
    let k = models.kernel_size();
    let bank = KernelBank::load(&args.bank)?.kernels;
    if bank.is_empty() || bank[0].size() != [k, k] {
        return Err(format!(
            "{}: expected a bank of {k}x{k} kernels",
            args.bank.display()
        )
        .into());
    }
    let latent = models.generator.latent_dim();
    let g0 = one(
        models
            .generator
            .forward(Tensor::zeros([1, latent, 1, 1], &device)),
        0,
    )?;
    let mean = deblur_kernels::mean_kernel(&bank)?;
    let broad = one(
        models
            .generator
            .kernel_from_features(models.broad_features(args.broad_sigma, &device)?),
        0,
    )?;
    let delta = Kernel::delta([k, k])?;

    let mut synthetic = Candidates::new();
    let config = PairConfig {
        batch: args.count.max(1),
        boundary: Boundary::Same(Padding::Reflect),
        noise_std: [args.noise, args.noise],
        response: None,
        field: None,
        seed: args.seed,
    };
    let images = args.images.open(args.crop, ColorMode::Gray, true)?;
    let mut pairs = PairGenerator::new(images, bank.as_slice(), config, &device)?;
    let batch = pairs.next_batch()?;
    let predicted = models.generator.forward(initializer.forward(batch.blurred));
    let mut shown = Vec::new();
    for i in 0..args.count.max(1) {
        let truth = one(batch.kernels.clone(), i)?;
        let e = one(predicted.clone(), i)?;
        synthetic.add(&truth, [&e, &g0, &mean, &broad, &delta])?;
        if shown.len() < 64 {
            shown.extend([truth, e]);
        }
    }
    if let Some(path) = &args.grid {
        deblur_core::save_image(
            path,
            &deblur_core::visual::kernel_contact_sheet(&shown, 48, 8),
            deblur_core::BitDepth::Eight,
        )?;
    }
    synthetic.print(&format!(
        "held-out synthetic pairs, {}² crops of {}, noise σ {}",
        args.crop, args.images, args.noise
    ));

    if let Some(dir) = &args.levin {
        let items = load_levin(dir, None).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut levin = Candidates::new();
        for item in &items {
            let y = deblur_core::convert::array_to_tensor(
                &item.blurred.clone().insert_axis(Axis(0)),
                &device,
            );
            let e = one(models.initial_kernel(&y), 0)?;
            let truth =
                orient_true_kernel(&item.sharp, &item.blurred, &item.true_kernel, 6, &device)?
                    .kernel;
            levin.add(&truth, [&e, &g0, &mean, &broad, &delta])?;
        }
        levin.print("Levin et al. 2009, whole blurred images");
    }
    Ok(())
}
