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

#[derive(Args, Debug)]
pub struct BenchDenoiserArgs {
    /// A trained denoiser (denoiser.bpk from `deblur train denoiser`, its .json beside it)
    /// [default: the shipped one].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Clean held-out images (a folder; never the training images), restored whole in grey.
    #[arg(long)]
    images: PathBuf,
    /// Noise levels σ (intensities in [0, 1]), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.01,0.02,0.05,0.1,0.2")]
    sigma: Vec<f32>,
    /// At most this many images (in name order).
    #[arg(long)]
    count: Option<usize>,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    shipped: ShippedWeights,
}

/// `deblur bench denoiser`: PSNR of the denoised images against the clean ones at each σ, beside
/// the noisy input's, and seconds per megapixel.
pub fn bench_denoiser(args: BenchDenoiserArgs) -> CmdResult {
    use rand_distr::Distribution;
    if let Some(bad) = args
        .sigma
        .iter()
        .find(|s| !(s.is_finite() && **s > 0.0 && **s < 1.0))
    {
        return Err(format!("--sigma {bad}: noise levels are above 0 and below 1").into());
    }
    let device = Device::default();
    let model = deblur_models::weights::load_denoiser_from(
        args.model.as_deref(),
        args.shipped.weights.as_deref(),
        deblur_models::weights::SHIPPED_DENOISER,
        &device,
    )?;
    if model.channels() != 1 {
        return Err(format!(
            "the model takes {} channels; the bench restores grey images (a grey model)",
            model.channels()
        )
        .into());
    }
    let folder = deblur_kernels::FolderSource::new(&args.images, 8, ColorMode::Gray, false)?;
    let files: Vec<PathBuf> = folder
        .files()
        .iter()
        .take(args.count.unwrap_or(usize::MAX))
        .cloned()
        .collect();
    println!("sigma     images   input PSNR   denoised PSNR    gain   s/Mpx");
    for &sigma in &args.sigma {
        let (mut input_sum, mut out_sum, mut seconds, mut pixels) = (0.0, 0.0, 0.0, 0usize);
        for (i, file) in files.iter().enumerate() {
            let image = deblur_core::load_image(file)?;
            let clean = if image.pixels.dim().0 == 3 {
                deblur_core::color::luma(
                    &image.pixels,
                    deblur_core::color::YCbCrStandard::FullRange,
                )?
                .insert_axis(Axis(0))
            } else {
                image.pixels.clone()
            };
            let mut rng = deblur_kernels::bank::kernel_rng(args.seed, i as u64);
            let noisy = clean.mapv(|v| {
                let n: f32 = rand_distr::StandardNormal.sample(&mut rng);
                v + sigma * n
            });
            let start = std::time::Instant::now();
            let out = model.forward(
                deblur_core::convert::array_to_tensor(&noisy, &device),
                &[sigma],
            );
            let out = deblur_core::convert::tensor_to_array(out, 0)?.mapv(|v| v.clamp(0.0, 1.0));
            seconds += start.elapsed().as_secs_f64();
            pixels += clean.len();
            input_sum += deblur_metrics::psnr(noisy.view(), clean.view(), 1.0);
            out_sum += deblur_metrics::psnr(out.view(), clean.view(), 1.0);
        }
        let n = files.len().max(1) as f64;
        println!(
            "{sigma:<8}  {:>6}   {:>10.2}   {:>13.2}  {:>+6.2}   {:>5.2}",
            files.len(),
            input_sum / n,
            out_sum / n,
            (out_sum - input_sum) / n,
            seconds / (pixels.max(1) as f64 / 1e6)
        );
    }
    Ok(())
}
