//! `deblur bench lai`: the Lai et al. 2016 uniform protocol (13 sharp images × 4 kernels of
//! 31–75 px, 1 % noise), built deterministically from `../shared/data/lai2016` and scored by the
//! shift-compensated protocol, with per-kernel and per-category tables.

use std::path::PathBuf;

use clap::Args;
use deblur_core::convert::{array_to_tensor, tensor_to_array};
use deblur_core::device_from_name;
use deblur_core::kernel::load_kernel_stack;
use deblur_core::resample::estimate_noise_std;
use deblur_optim::lai::{
    LAI_QUICK_IMAGES, LaiCase, LaiRow, LaiSet, group_means, load_lai, run_lai, screening_set,
};
use deblur_optim::{BlindRequest, HyperLaplacianConfig, hyper_laplacian_deconv};
use ndarray::Axis;

use crate::solve_cmds::{BenchMethodArg, BenchMethodArgs, blind_gray};
use crate::weights_args::load_models;

type CmdResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Args, Debug)]
pub struct BenchLaiArgs {
    /// The Lai folder (images/*.png sharp images, kernels/kernel_NN.png).
    #[arg(long, default_value = "../shared/data/lai2016")]
    data: PathBuf,
    #[command(flatten)]
    run: BenchMethodArgs,
    /// Kernel size given to blind methods (default: each true kernel's size, an upper bound).
    #[arg(long)]
    kernel_size: Option<usize>,
    /// Comma-separated image names, e.g. natural_01,text_03 (default: all).
    #[arg(long, value_delimiter = ',')]
    images: Option<Vec<String>>,
    /// Comma-separated kernel numbers 1–4 (default: all).
    #[arg(long, value_delimiter = ',')]
    kernels: Option<Vec<usize>>,
    /// Screening subset: natural_02, text_03, manmade_03 and people_05 with every kernel.
    #[arg(long, conflicts_with = "images")]
    quick: bool,
    /// Screen instead on training data under the same protocol: the kernels of these files
    /// (comma-separated kernel images or .npy banks, e.g. from `deblur kernels synth`) × images
    /// of --screen-images.
    #[arg(long, value_name = "KERNELS", value_delimiter = ',')]
    screen_kernels: Option<Vec<PathBuf>>,
    /// Images for --screen-kernels: a folder of training images (mosaics of them), or
    /// `dead-leaves` or `text-pages[:LO-HI]` (procedural, 180·N px square; LO-HI: glyph heights in px, default 10-28).
    #[arg(long, default_value = "../shared/data/train400")]
    screen_images: deblur_kernels::ImageSpec,
    /// Number of screening images (mosaics of training images) for --screen-kernels.
    #[arg(long, default_value_t = 4)]
    screen_count: usize,
    /// Each screening image is a mosaic of N x N training images (train400 crops are 180²).
    #[arg(long, default_value_t = 3)]
    screen_tiles: usize,
    /// Neighbouring tiles of a mosaic overlap by this many pixels and cross-fade instead of
    /// meeting at a seam (a straight edge across the mosaic that eases kernel estimation). 0: seams.
    #[arg(long, default_value_t = 0)]
    screen_blend: usize,
    /// Keep every kernel estimate, even one the self-check rejects (to measure the check).
    #[arg(long)]
    no_self_check: bool,
    /// The self-check's largest kernel coverage (default: the pipeline's).
    #[arg(long)]
    max_coverage: Option<f64>,
    /// Also estimate the kernel on the image's two halves and require this agreement with the
    /// whole image's estimate (default: off, as in the pipeline).
    #[arg(long)]
    min_agreement: Option<f64>,
    /// Deconvolve, after the L0 estimator, the observation smoothed as the estimator's finest
    /// level was (`Robust::smoothed_final`; off by default).
    #[arg(long)]
    smoothed_final: bool,
    /// L0 estimator: largest kernel side estimated before upsampling (default: the pipeline's).
    #[arg(long, value_parser = crate::commands::kernel_side)]
    finest_kernel: Option<usize>,
    /// L0 estimator: kernel side of the coarsest level (default: the pipeline's).
    #[arg(long, value_parser = crate::commands::kernel_side)]
    coarsest_kernel: Option<usize>,
    /// L0 estimator: starting weight λ of the L0 gradient term at each level (default: the
    /// pipeline's).
    #[arg(long, value_parser = crate::train_cmds::positive_finite)]
    lambda_gradient: Option<f64>,
    /// L0 estimator: the second starting λ of the gradient term; both estimates run and the one
    /// whose plug-and-play latent has the sparser gradients is kept (needs the denoiser); 0: one
    /// estimate only (default: the pipeline's).
    #[arg(long, value_parser = crate::train_cmds::non_negative_finite)]
    lambda_alternative: Option<f64>,
    /// Print each blind estimate's latent sparsity beside a delta's (the measure of
    /// --lambda-alternative; two extra plug-and-play runs per case, counted in its seconds).
    #[arg(long)]
    print_sparsity: bool,
    /// L0 estimator: x/k alternations per level (default: the pipeline's).
    #[arg(long, value_parser = crate::train_cmds::at_least_one)]
    l0_iterations: Option<usize>,
    /// L0 estimator: side of the FFT grid each level works on (the window it sees is this minus
    /// two kernel sizes; default: the pipeline's).
    #[arg(long)]
    fft_side: Option<usize>,
    /// L0 estimator: weight μ of the L0 intensity term (Pan et al. 2014's text prior; default:
    /// the pipeline's, 0 = off).
    #[arg(long, value_parser = crate::train_cmds::non_negative_finite)]
    intensity_weight: Option<f64>,
    /// L0 estimator: fraction of the finest level's smoothing removed from the estimate
    /// (default: the pipeline's; 0 = off).
    #[arg(long, value_parser = crate::train_cmds::non_negative_finite)]
    kernel_sharpening: Option<f64>,
    /// L0 estimator: full-resolution kernel refinement rounds with a plug-and-play latent after
    /// the pyramid (needs the denoiser; default: the pipeline's, 0 = off).
    #[arg(long)]
    refine_rounds: Option<usize>,
    /// Kernel refinement: side of the window [default: 512].
    #[arg(long)]
    refine_window: Option<usize>,
    /// Kernel refinement: smoothing of latent and observation before the k-step, px [default: 1].
    #[arg(long, value_parser = crate::train_cmds::non_negative_finite)]
    refine_smoothing: Option<f64>,
    /// Kernel refinement: divisor of the salient-edge threshold [default: 10].
    #[arg(long, value_parser = crate::train_cmds::positive_finite)]
    refine_salient: Option<f64>,
    /// Kernel refinement: λ of the plug-and-play latent [default: 1].
    #[arg(long, value_parser = crate::train_cmds::positive_finite)]
    refine_lambda: Option<f64>,
    /// Kernel refinement: cut the estimate's canvas to its support plus this margin first.
    #[arg(long)]
    refine_trim: Option<usize>,
    /// Kernel refinement: keep every round, even one that raises the window's re-blur residual.
    #[arg(long)]
    refine_no_guard: bool,
    /// L0 estimator: treat the kernel size as an upper bound; estimate, measure the estimate's
    /// extent, estimate again at that size (what `--kernel-size auto` does).
    #[arg(long)]
    auto_size: bool,
    /// Data weight λ of the final hyper-Laplacian step instead of the noise-aware default.
    #[arg(long, value_parser = crate::train_cmds::positive_finite, allow_hyphen_values = true)]
    weight: Option<f64>,
    /// Plug-and-play with this trained denoiser (`denoiser.bpk` from `deblur train denoiser`) for
    /// every final step [default: the shipped one after the coarse-to-fine estimator, as
    /// `deblur blind`; --weight asks for the hyper-Laplacian step instead].
    #[arg(long, conflicts_with = "weight")]
    denoiser: Option<PathBuf>,
    /// The trade-off λ of the plug-and-play prior [default: 1, the pipeline's; DPIR's 0.23 trusts
    /// the data more].
    #[arg(long, value_parser = crate::train_cmds::positive_finite)]
    pnp_lambda: Option<f64>,
    /// The confidence rule of the plug-and-play final step: a pass with --confident-lambda
    /// first, kept where its re-blur residual is at most this many noise levels, else a pass
    /// with --pnp-lambda [default: 1.10, the pipeline's]; 0 turns the rule off (one pass with
    /// --pnp-lambda). Applies to --kernels-in and --method nonblind too.
    #[arg(long, value_parser = crate::train_cmds::non_negative_finite)]
    confident_residual: Option<f64>,
    /// The self-check's largest re-blur residual of the final step, in noise levels; above it
    /// the input is returned; 0 turns it off [default: 1.75]. Applies to --kernels-in too.
    #[arg(long, value_parser = crate::train_cmds::non_negative_finite)]
    max_residual: Option<f64>,
    /// λ of the confidence rule's first (weak) pass [default: 0.5, the pipeline's].
    #[arg(long, value_parser = crate::train_cmds::positive_finite)]
    confident_lambda: Option<f64>,
    /// Plug-and-play: the half-quadratic splitting iterations [default: 8].
    #[arg(long, value_parser = crate::train_cmds::at_least_one)]
    pnp_iterations: Option<usize>,
    /// Plug-and-play: data steps per denoising level [default: 16].
    #[arg(long, value_parser = crate::train_cmds::at_least_one)]
    pnp_inner: Option<usize>,
    /// Plug-and-play: fixed mirror extension instead of the unknown boundary.
    #[arg(long)]
    pnp_mirror: bool,
    /// Noise standard deviation of the observations (the protocol's is 0.01).
    #[arg(long, default_value_t = 0.01)]
    noise_std: f32,
    /// Seed of the observations' noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the table as CSV.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write each case's observation and result into DIR as CASE_blurred.png and CASE.png (8 bit).
    #[arg(long, value_name = "DIR")]
    images_out: Option<PathBuf>,
    /// Write each blind kernel estimate into DIR as CASE_kernel.npy and CASE_kernel.png.
    #[arg(long, value_name = "DIR")]
    kernels_out: Option<PathBuf>,
    /// Replay the final step: instead of estimating, read each case's kernel from DIR (the
    /// CASE_kernel.npy of an earlier --kernels-out) and deconvolve with it as --method nonblind
    /// does with the true kernel, to compare final steps (--pnp-*, --weight) on the same
    /// estimates. An estimate that failed the pipeline's self-check is deconvolved too.
    #[arg(long, value_name = "DIR", conflicts_with = "kernels_out")]
    kernels_in: Option<PathBuf>,
}

fn print_groups(title: &str, rows: &[LaiRow], key: impl Fn(&LaiRow) -> String) {
    println!(
        "\n{title:<14} {:>5} {:>8} {:>7} {:>9} {:>9} {:>8}",
        "cases", "PSNR", "SSIM", "seconds", "blurred", "gain"
    );
    for (k, n, psnr, ssim, seconds, blurred) in group_means(rows, key) {
        println!(
            "{k:<14} {n:>5} {psnr:>8.2} {ssim:>7.4} {seconds:>9.1} {blurred:>9.2} {:>+8.2}",
            psnr - blurred
        );
    }
}

pub fn bench_lai(args: BenchLaiArgs) -> CmdResult {
    let device = device_from_name(&args.run.device)?;
    // the plug-and-play step: a given model everywhere, else the shipped one where the pipeline
    // uses it (after the coarse-to-fine estimator), unless --weight asks for the hyper-Laplacian
    let denoiser = match (&args.denoiser, args.weight) {
        (Some(path), _) => Some(deblur_models::weights::load_denoiser_from(
            Some(path),
            None,
            "",
            &device,
        )?),
        (None, None) => deblur_models::weights::find_denoiser(
            None,
            args.run.shipped.weights.as_deref(),
            deblur_models::weights::SHIPPED_DENOISER,
            &device,
        )?,
        (None, Some(_)) => None,
    };
    let pnp_config = |noise: f64| {
        let base = deblur_optim::PnpConfig {
            noise_std: noise,
            ..deblur_optim::PnpConfig::blind()
        };
        deblur_optim::PnpConfig {
            lambda: args.pnp_lambda.unwrap_or(base.lambda),
            iterations: args.pnp_iterations.unwrap_or(base.iterations),
            inner_iterations: args.pnp_inner.unwrap_or(base.inner_iterations),
            boundary: if args.pnp_mirror {
                deblur_optim::DeconvBoundary::Mirror
            } else {
                base.boundary
            },
            ..base
        }
    };
    if args.kernel_size.is_some_and(|k| k < 3) {
        return Err("--kernel-size must be at least 3".into());
    }
    // a table that cannot be written should fail now, not after an hour of deblurring
    if let Some(path) = &args.csv {
        deblur_core::outputs::check_writable(path)?;
    }
    if let Some(dir) = &args.kernels_in
        && !dir.is_dir()
    {
        return Err(format!("--kernels-in: the folder {} does not exist", dir.display()).into());
    }
    for dir in [&args.kernels_out, &args.images_out].into_iter().flatten() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))?;
    }
    let quick: Vec<String> = LAI_QUICK_IMAGES.iter().map(|s| s.to_string()).collect();
    let images = if args.quick {
        Some(quick.as_slice())
    } else {
        args.images.as_deref()
    };
    if !(args.noise_std >= 0.0 && args.noise_std.is_finite()) {
        return Err(format!("--noise-std {} must be finite and ≥ 0", args.noise_std).into());
    }
    let mut set = match &args.screen_kernels {
        Some(files) => {
            let mut kernels = Vec::new();
            for file in files {
                kernels.extend(load_kernel_stack(file)?);
            }
            screening_set(
                &args.screen_images,
                args.screen_count,
                args.screen_tiles,
                args.screen_blend,
                kernels,
            )?
        }
        None => load_lai(&args.data, images, args.kernels.as_deref())?,
    };
    set.noise_std = args.noise_std;
    let options = args.run.options(None, &device)?;
    let (models, space) = if args.run.method.is_blind() {
        (load_models(&options)?, options.load_kernel_space()?)
    } else {
        (None, None)
    };
    println!(
        "Lai et al. 2016 uniform protocol: {} images x {} kernels, noise std {}, seed {}",
        set.images.len(),
        set.kernels.len(),
        set.noise_std,
        args.seed
    );
    println!(
        "{:<22} {:>8} {:>7} {:>9} {:>9} {:>8}",
        "case", "PSNR", "SSIM", "seconds", "blurred", "gain"
    );
    let mut on_row =
        |r: &LaiRow, case: &LaiCase, restored: &ndarray::Array2<f32>| -> deblur_optim::Result<()> {
            println!(
                "{:<22} {:>8.2} {:>7.4} {:>9.1} {:>9.2} {:>+8.2}",
                r.name,
                r.psnr,
                r.ssim,
                r.seconds,
                r.blurred_psnr,
                r.psnr - r.blurred_psnr
            );
            if let Some(dir) = &args.images_out {
                for (image, suffix) in [(&case.blurred, "_blurred"), (restored, "")] {
                    deblur_core::convert::save_image(
                        dir.join(format!("{}{suffix}.png", case.name)),
                        &image.clone().insert_axis(Axis(0)),
                        deblur_core::BitDepth::Eight,
                    )?;
                }
            }
            Ok(())
        };
    let mut method = |set: &LaiSet, case: &LaiCase| -> deblur_optim::Result<ndarray::Array2<f32>> {
        let true_kernel = &set.kernels[case.kernel].kernel;
        let [kh, kw] = true_kernel.size();
        let replay = match &args.kernels_in {
            Some(dir) => Some(deblur_core::Kernel::load(
                dir.join(format!("{}_kernel.npy", case.name)),
            )?),
            None => None,
        };
        let request = args.run.request(
            &deblur_optim::BlindOptions {
                kernel_size: Some(args.kernel_size.unwrap_or(kh.max(kw))),
                ..options.clone()
            },
            models.as_ref(),
        )?;
        let mut request = request;
        if let Some(robust) = request.robust.as_mut() {
            robust.max_coverage = args.max_coverage.unwrap_or(robust.max_coverage);
            robust.min_agreement = args.min_agreement.or(robust.min_agreement);
            robust.smoothed_final |= args.smoothed_final;
            if let Some(side) = args.finest_kernel {
                robust.estimator.finest_kernel = side;
            }
            if let Some(side) = args.coarsest_kernel {
                robust.estimator.coarsest_kernel = side;
            }
            if let Some(l) = args.lambda_gradient {
                robust.estimator.lambda_gradient = l;
            }
            if let Some(l) = args.lambda_alternative {
                robust.estimator.lambda_alternative = (l > 0.0).then_some(l);
            }
            if let Some(n) = args.l0_iterations {
                robust.estimator.iterations = n;
            }
            if let Some(side) = args.fft_side {
                robust.estimator.fft_side = side;
            }
            if let Some(f) = args.kernel_sharpening {
                robust.estimator.kernel_sharpening = f;
            }
            if let Some(mu) = args.intensity_weight {
                robust.estimator.lambda_intensity = mu;
            }
            robust.estimator.auto_size |= args.auto_size;
            if let Some(r) = args.max_residual {
                robust.max_residual = (r > 0.0).then_some(r);
            }
            if args.confident_residual.is_some() || args.confident_lambda.is_some() {
                let base = robust.confident.unwrap_or_default();
                robust.confident =
                    (args.confident_residual != Some(0.0)).then(|| deblur_optim::Confident {
                        max_residual: args.confident_residual.unwrap_or(base.max_residual),
                        lambda: args.confident_lambda.unwrap_or(base.lambda),
                    });
            }
            match args.refine_rounds {
                Some(0) => robust.estimator.refine = None,
                Some(rounds) => {
                    let base = robust.estimator.refine.unwrap_or_default();
                    robust.estimator.refine =
                        Some(deblur_optim::l0_blind::KernelRefine { rounds, ..base });
                }
                None => {}
            }
            if let Some(r) = robust.estimator.refine.as_mut() {
                r.window = args.refine_window.unwrap_or(r.window);
                r.smoothing = args.refine_smoothing.unwrap_or(r.smoothing);
                r.salient_divisor = args.refine_salient.unwrap_or(r.salient_divisor);
                r.pnp_lambda = args.refine_lambda.unwrap_or(r.pnp_lambda);
                r.trim_margin = args.refine_trim.or(r.trim_margin);
                r.guard &= !args.refine_no_guard;
            }
        }
        if args.no_self_check
            && let Some(robust) = request.robust.as_mut()
        {
            robust.max_coverage = f64::INFINITY;
            robust.min_agreement = robust.min_agreement.map(|_| f64::NEG_INFINITY);
            robust.max_residual = None;
        }
        let mut request = match (args.weight, &args.denoiser) {
            (Some(lambda), _) => BlindRequest {
                nonblind: HyperLaplacianConfig {
                    lambda,
                    ..request.nonblind
                },
                noise_aware: None,
                final_prior: Some(deblur_optim::FinalPrior::HyperLaplacian),
                ..request
            },
            (None, Some(_)) => BlindRequest {
                final_prior: Some(deblur_optim::FinalPrior::PlugAndPlay(pnp_config(0.0))),
                ..request
            },
            (None, None) => request,
        };
        // the --pnp-* settings for the coarse-to-fine path's own plug-and-play step (without a
        // denoiser the pipeline falls back to the hyper-Laplacian step)
        if let Some(robust) = request.robust.as_mut() {
            robust.final_prior = deblur_optim::FinalPrior::PlugAndPlay(pnp_config(0.0));
        }
        match args.run.method {
            BenchMethodArg::Blurred => Ok(case.blurred.clone()),
            method if matches!(method, BenchMethodArg::Nonblind) || replay.is_some() => {
                // the final step of the pipeline, with the true kernel or the replayed estimate
                let true_kernel = replay.as_ref().unwrap_or(true_kernel);
                let noise = estimate_noise_std(case.blurred.view())?;
                let config = request.final_deconv(noise);
                let observed = case.blurred.clone().insert_axis(Axis(0));
                let x = match &denoiser {
                    Some(d) => {
                        // the pipeline's plug-and-play step, its confidence rule included
                        let step = deblur_optim::final_pnp_step(
                            &observed,
                            true_kernel,
                            d,
                            &pnp_config(noise),
                            request.robust.and_then(|r| r.confident),
                            &device,
                        )?;
                        // the pipeline's self-check on the residual (not for the true kernel)
                        let rejected = replay.is_some()
                            && request
                                .robust
                                .is_some_and(|r| r.rejects_residual(step.residual));
                        println!(
                            "{:<22} re-blur residual {:.2}σ, final λ {}{}",
                            case.name,
                            step.residual,
                            step.lambda,
                            if rejected {
                                ": failed the self-check, input returned"
                            } else {
                                ""
                            }
                        );
                        if rejected { observed } else { step.image }
                    }
                    None => tensor_to_array(
                        hyper_laplacian_deconv(
                            array_to_tensor(&observed, &device),
                            true_kernel.to_tensor(&device),
                            &config,
                        )?,
                        0,
                    )?,
                };
                Ok(x.index_axis(Axis(0), 0).mapv(|v| v.clamp(0.0, 1.0)))
            }
            _ => {
                let (out, _) = blind_gray(
                    &case.blurred,
                    &request,
                    deblur_optim::Resources::glkm(models.as_ref())
                        .with_kernel_space(space.as_ref())
                        .with_denoiser(denoiser.as_ref()),
                    &device,
                    &[],
                    args.kernels_out.as_deref().map(|d| (d, case.name.as_str())),
                )?;
                if let Some(coverage) = out.coverage {
                    let agreement = out
                        .agreement
                        .map(|a| format!(", agreement of the halves {a:.3}"))
                        .unwrap_or_default();
                    let residual = out
                        .residual
                        .map(|r| format!(", re-blur residual {r:.2}σ"))
                        .unwrap_or_default();
                    let residual = match out.final_lambda {
                        Some(l) => format!("{residual}, final λ {l}"),
                        None => residual,
                    };
                    // the normalized sparsity of the plug-and-play latents of the estimate and of
                    // a delta (the input denoised), the measure of --lambda-alternative
                    let sparsity = match &denoiser {
                        Some(net) if args.print_sparsity && !out.fell_back => {
                            let gray = case.blurred.clone();
                            let refine = deblur_optim::l0_blind::KernelRefine::default();
                            let score = |k: &deblur_core::Kernel| {
                                deblur_optim::l0_blind::latent_sparsity(
                                    &gray,
                                    k,
                                    net,
                                    out.noise_std,
                                    &refine,
                                    &device,
                                )
                            };
                            let delta = deblur_core::Kernel::delta(out.kernel.size())?;
                            format!(
                                ", latent sparsity {:.4} (delta {:.4})",
                                score(&out.kernel)?,
                                score(&delta)?
                            )
                        }
                        _ => String::new(),
                    };
                    println!(
                        "{:<22} kernel coverage {coverage:.3}{agreement}{residual}{sparsity}{}",
                        case.name,
                        if out.fell_back {
                            ": failed the self-check, input returned"
                        } else {
                            ""
                        }
                    );
                }
                Ok(out.image.index_axis(Axis(0), 0).to_owned())
            }
        }
    };
    let rows = run_lai(&set, args.seed, &mut method, &device, &mut on_row)?;
    print_groups("kernel", &rows, |r| {
        format!("{} ({} px)", r.kernel, r.kernel_size)
    });
    print_groups("category", &rows, |r| r.category.clone());
    print_groups("all", &rows, |_| "mean".to_string());
    let below = rows.iter().filter(|r| r.psnr < r.blurred_psnr).count();
    println!("cases below their blurred input: {below} of {}", rows.len());
    if let Some(path) = &args.csv {
        let mut text =
            String::from("case,category,kernel,kernel_size,psnr,ssim,seconds,blurred_psnr\n");
        for r in &rows {
            text.push_str(&format!(
                "{},{},{},{},{:.4},{:.5},{:.2},{:.4}\n",
                r.name,
                r.category,
                r.kernel,
                r.kernel_size,
                r.psnr,
                r.ssim,
                r.seconds,
                r.blurred_psnr
            ));
        }
        deblur_core::npy::write_atomic(path, |w| std::io::Write::write_all(w, text.as_bytes()))?;
    }
    Ok(())
}
