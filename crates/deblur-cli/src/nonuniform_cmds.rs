//! `deblur bench nonuniform`: blur that varies across the image (a camera motion with in-plane
//! rotation, as a 3×3 kernel field) on the Levin ground truths and four Lai images, scored for
//! the blurred input, non-blind deconvolution with the true field, the uniform default, and the
//! non-uniform estimate with MLP and GLKM region kernels, side by side in one run.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use deblur_core::{BitDepth, device_from_name, save_image};
use deblur_optim::lai::lai_score;
use deblur_optim::nonuniform::{FieldSetConfig, field_set, seam_psnr};
use deblur_optim::{BlindOptions, FieldKernels, NonUniformConfig, Resources};
use ndarray::{Array2, Axis};

use crate::weights_args::{ShippedWeights, load_models};

type CmdResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Args, Debug)]
pub struct BenchNonUniformArgs {
    /// The Levin ground truths (im1.png … im4.png).
    #[arg(long, default_value = "../shared/data/levin/gt")]
    levin: PathBuf,
    /// The Lai folder (images/NAME.png).
    #[arg(long, default_value = "../shared/data/lai2016")]
    lai: PathBuf,
    /// Methods, comma-separated: blurred, nonblind (the true field), centre (non-blind with the
    /// true field's centre kernel for the whole image), best (the true region kernel that
    /// scores best when used for the whole image: an oracle uniform kernel),
    /// uniform (the default `deblur blind`), selfdeblur (its fast preset without the switch to
    /// the L0 estimator), glkm-uniform (`--method glkm`), space (`--method kernel-space`), mlp
    /// and glkm (`deblur blind --nonuniform` with those region kernels).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "blurred,nonblind,centre,uniform,mlp,glkm"
    )]
    methods: Vec<String>,
    /// Cases, comma-separated (levin_im1 … levin_im4, lai_natural_02, lai_text_03,
    /// lai_manmade_03, lai_people_05; default: all eight).
    #[arg(long, value_delimiter = ',')]
    images: Option<Vec<String>>,
    /// Largest in-plane rotation of the camera motions, in degrees.
    #[arg(long, default_value_t = 2.0)]
    max_rotation: f64,
    /// Lai images are reduced so that their longer side is at most this (pixels).
    #[arg(long, default_value_t = 384, value_parser = crate::train_cmds::at_least_one)]
    max_side: usize,
    /// Joint steps of the non-uniform estimate.
    #[arg(long, default_value_t = 300)]
    field_iters: usize,
    /// Rounds of kernel fit and deconvolution of the field methods (the image held fixed
    /// during each fit; default: 3 for the camera field, else 1).
    #[arg(long, value_parser = crate::train_cmds::at_least_one)]
    field_rounds: Option<usize>,
    /// The field methods' read-out (and deconvolution between rounds): blend each region's
    /// deconvolution, or deconvolve through the SVOLA operator.
    #[arg(long, value_enum, default_value = "blend")]
    field_readout: crate::solve_cmds::FieldSolverArg,
    /// The field methods' image model: the uniform estimate's result held fixed during each
    /// round's kernel fit, or a DIP from scratch optimised jointly with the kernels.
    #[arg(long, value_enum, default_value = "fixed")]
    field_image: crate::solve_cmds::FieldImageArg,
    #[command(flatten)]
    camera: crate::solve_cmds::CameraArgs,
    /// Seed of the fields and the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Blur in linear light through a camera response of this exponent, with saturation (0: blur
    /// the display values, the default): a blur a convolution cannot express.
    #[arg(
        long,
        default_value_t = 0.0,
        value_parser = crate::train_cmds::non_negative_finite,
        allow_hyphen_values = true
    )]
    gamma: f64,
    /// Largest exposure gain of the camera response (drawn per case from 1 to this; above 1
    /// saturates highlights). Only with --gamma.
    #[arg(long, default_value_t = 1.5, value_parser = crate::train_cmds::positive_finite)]
    max_gain: f64,
    /// Also the first N images of --bsd68-dir (by name).
    #[arg(long, default_value_t = 0)]
    bsd68: usize,
    /// The BSD68 folder for --bsd68.
    #[arg(long, default_value = "../shared/data/bsd68")]
    bsd68_dir: PathBuf,
    #[command(flatten)]
    shipped: ShippedWeights,
    /// Kernel-space variant in the weights manifest (method space).
    #[arg(long, default_value = "compact-v1")]
    space_variant: String,
    /// A trained kernel space (kernel_space.bpk, its .json beside it) instead (method space).
    #[arg(long)]
    space_model: Option<PathBuf>,
    /// Screening instead of evaluation: mosaics of the images of this folder (e.g. held-out
    /// train400 images) replace the Levin, Lai and --bsd68 cases; --screen-count of them, each of
    /// --screen-tiles x --screen-tiles images.
    #[arg(long)]
    screen_images: Option<PathBuf>,
    /// Screening mosaics (with --screen-images).
    #[arg(long, default_value_t = 4, value_parser = crate::train_cmds::at_least_one)]
    screen_count: usize,
    /// Images per mosaic side (with --screen-images; train400 crops are 180²).
    #[arg(long, default_value_t = 2, value_parser = crate::train_cmds::at_least_one)]
    screen_tiles: usize,
    /// Write the rows as CSV.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write each case's true and estimated fields as pictures into this folder.
    #[arg(long)]
    fields_out: Option<PathBuf>,
}

/// One scored case of one method.
struct Row {
    case: String,
    method: String,
    psnr: f64,
    ssim: f64,
    band: f64,
    interior: f64,
    seconds: f64,
    /// Mean kernel PSNR of the estimated field's regions against the true ones (each kernel
    /// recentred, `deblur_metrics::kernel_error`); NaN for methods without a field.
    kernel_psnr: f64,
}

const METHODS: [&str; 11] = [
    "blurred",
    "nonblind",
    "centre",
    "best",
    "uniform",
    "selfdeblur",
    "glkm-uniform",
    "space",
    "mlp",
    "glkm",
    "camera",
];

pub fn bench_nonuniform(args: BenchNonUniformArgs) -> CmdResult {
    for m in &args.methods {
        if !METHODS.contains(&m.as_str()) {
            return Err(format!(
                "--methods: unknown method {m:?}; use {}",
                METHODS.join(", ")
            )
            .into());
        }
    }
    if let Some(parent) = args.csv.as_deref().and_then(|p| p.parent())
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        return Err(format!("--csv: the folder {} does not exist", parent.display()).into());
    }
    if let Some(dir) = &args.fields_out {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the field folder {}: {e}", dir.display()))?;
    }
    let device = device_from_name("cpu")?;
    if args.gamma > 0.0 && args.max_gain < 1.0 {
        return Err(format!("--max-gain {} must be at least 1", args.max_gain).into());
    }
    let config = FieldSetConfig {
        max_rotation_deg: args.max_rotation,
        max_side: args.max_side,
        seed: args.seed,
        response: (args.gamma > 0.0).then_some(deblur_kernels::CameraResponse {
            gamma: args.gamma as f32,
            gain: [1.0, args.max_gain as f32],
        }),
        bsd68: (args.bsd68 > 0).then(|| (args.bsd68_dir.clone(), args.bsd68)),
        screen: args
            .screen_images
            .clone()
            .map(|dir| (dir, args.screen_count, args.screen_tiles)),
        ..FieldSetConfig::default()
    };
    let cases = field_set(
        &args.levin,
        &args.lai,
        &config,
        args.images.as_deref(),
        &device,
    )?;
    if cases.is_empty() {
        return Err("--images matched no case".into());
    }
    let options = BlindOptions {
        kernel_size: Some(config.kernel_size),
        weights: args.shipped.weights.clone(),
        variant: args.shipped.variant.clone(),
        ..BlindOptions::default()
    };
    let request = options.request(None)?;
    // the uniform default and the field estimates use the shipped denoiser as `deblur blind` does
    let denoiser = options.load_denoiser(&request)?;
    let glkm = if args
        .methods
        .iter()
        .any(|m| m == "glkm" || m == "glkm-uniform")
    {
        load_models(&BlindOptions {
            method: deblur_optim::MethodKind::Glkm,
            ..options.clone()
        })?
    } else {
        None
    };
    let uses = |name: &str| args.methods.iter().any(|m| m == name);
    let space_options = BlindOptions {
        method: deblur_optim::MethodKind::KernelSpace,
        space_variant: args.space_variant.clone(),
        space_model: args.space_model.clone(),
        ..options.clone()
    };
    let space = if uses("space") {
        space_options.load_kernel_space()?
    } else {
        None
    };
    let space_request = space_options.request(None)?;
    let mut selfdeblur_request = request.clone();
    selfdeblur_request.robust = None;
    let glkm_request = match &glkm {
        Some(models) => Some(
            BlindOptions {
                method: deblur_optim::MethodKind::Glkm,
                kernel_size: None,
                ..options.clone()
            }
            .request(Some(models))?,
        ),
        None => None,
    };
    let response = config
        .response
        .map(|r| format!(", camera response γ {} with gains 1–{}", r.gamma, r.gain[1]))
        .unwrap_or_default();
    println!(
        "Non-uniform blur: {} cases, {}x{} camera fields of {} px, rotation up to {}°, noise {}, seed {}{response}",
        cases.len(),
        config.grid[0],
        config.grid[1],
        config.kernel_size,
        config.max_rotation_deg,
        config.noise_std,
        config.seed
    );
    println!(
        "{:<18} {:<9} {:>7} {:>7} {:>7} {:>9} {:>8}",
        "case", "method", "PSNR", "SSIM", "band", "interior", "seconds"
    );
    let mut rows: Vec<Row> = Vec::new();
    let nonblind = request.final_deconv(f64::from(config.noise_std));
    let uniform_deconv = |gray: &ndarray::Array3<f32>,
                          kernel: &deblur_core::Kernel|
     -> deblur_optim::Result<Array2<f32>> {
        let y = deblur_core::convert::array_to_tensor(gray, &device);
        let x = deblur_optim::hyper_laplacian_deconv(y, kernel.to_tensor(&device), &nonblind)?;
        Ok(deblur_core::convert::tensor_to_array(x, 0)?
            .index_axis(Axis(0), 0)
            .mapv(|v| v.clamp(0.0, 1.0)))
    };
    for case in &cases {
        let gray = case.blurred.clone().insert_axis(Axis(0));
        for method in &args.methods {
            let start = Instant::now();
            let mut estimated = None;
            let restored: Array2<f32> = match method.as_str() {
                "blurred" => case.blurred.clone(),
                "nonblind" => deblur_optim::nonuniform::deconv_field_exact(
                    &gray,
                    &case.field,
                    &request.final_deconv(f64::from(config.noise_std)),
                    &Default::default(),
                    &device,
                )?
                .index_axis(Axis(0), 0)
                .to_owned(),
                "centre" => {
                    let [gh, gw] = config.grid;
                    let centre = &case.field.kernels()[(gh / 2) * gw + gw / 2];
                    uniform_deconv(&gray, centre)?
                }
                "best" => {
                    let mut best: Option<(f64, Array2<f32>)> = None;
                    for kernel in case.field.kernels() {
                        let x = uniform_deconv(&gray, kernel)?;
                        let psnr = lai_score(&x, &case.sharp)?.psnr;
                        if best.as_ref().is_none_or(|(p, _)| psnr > *p) {
                            best = Some((psnr, x));
                        }
                    }
                    best.map(|(_, x)| x).unwrap_or_else(|| case.blurred.clone())
                }
                "selfdeblur" | "glkm-uniform" | "space" => {
                    let (request, resources) = match method.as_str() {
                        "selfdeblur" => (&selfdeblur_request, Resources::none()),
                        "space" => (
                            &space_request,
                            Resources::none().with_kernel_space(space.as_ref()),
                        ),
                        _ => (
                            glkm_request
                                .as_ref()
                                .ok_or("the GLKM models could not be loaded")?,
                            Resources::glkm(glkm.as_ref()),
                        ),
                    };
                    let out = deblur_optim::deblur_blind(
                        &gray,
                        request,
                        resources,
                        &device,
                        &mut deblur_optim::solver::Silent,
                    )?;
                    out.image.index_axis(Axis(0), 0).to_owned()
                }
                "uniform" => {
                    let out = deblur_optim::deblur_blind(
                        &gray,
                        &request,
                        Resources::glkm(None).with_denoiser(denoiser.as_ref()),
                        &device,
                        &mut deblur_optim::solver::Silent,
                    )?;
                    estimated = Some(deblur_core::KernelField::uniform(
                        config.grid,
                        deblur_core::WindowShape::Tent,
                        &out.kernel,
                    )?);
                    out.image.index_axis(Axis(0), 0).to_owned()
                }
                kind => {
                    let kernels = match kind {
                        "glkm" => FieldKernels::Glkm,
                        "camera" => FieldKernels::Camera,
                        _ => FieldKernels::Mlp,
                    };
                    let mut field_config = NonUniformConfig::new(config.grid, kernels);
                    field_config.iterations = args.field_iters;
                    field_config.camera = args.camera.config();
                    field_config.readout = args.field_readout.into();
                    field_config.image = args
                        .field_image
                        .with_rounds(args.field_rounds, field_config.image);
                    let out = deblur_optim::deblur_nonuniform(
                        &gray,
                        &request,
                        &field_config,
                        Resources::glkm(glkm.as_ref()).with_denoiser(denoiser.as_ref()),
                        &device,
                        &mut deblur_optim::solver::Silent,
                    )?;
                    estimated = Some(out.field);
                    out.image.index_axis(Axis(0), 0).to_owned()
                }
            };
            let seconds = start.elapsed().as_secs_f64();
            let score = lai_score(&restored, &case.sharp)?;
            let (band, interior) = seam_psnr(&restored, &case.sharp, config.grid, 8)?;
            let kernel_psnr = match &estimated {
                Some(field) => field_kernel_psnr(field, &case.field)?,
                None => f64::NAN,
            };
            println!(
                "{:<18} {:<9} {:>7.2} {:>7.4} {:>7.2} {:>9.2} {:>8.1} {:>8.2}",
                case.name, method, score.psnr, score.ssim, band, interior, seconds, kernel_psnr
            );
            if let (Some(dir), Some(field)) = (&args.fields_out, &estimated) {
                save_image(
                    dir.join(format!("{}_{method}.png", case.name)),
                    &crate::commands::field_picture(field),
                    BitDepth::Eight,
                )?;
            }
            rows.push(Row {
                case: case.name.clone(),
                method: method.clone(),
                psnr: score.psnr,
                ssim: score.ssim,
                band,
                interior,
                seconds,
                kernel_psnr,
            });
        }
        if let Some(dir) = &args.fields_out {
            save_image(
                dir.join(format!("{}_true.png", case.name)),
                &crate::commands::field_picture(&case.field),
                BitDepth::Eight,
            )?;
        }
    }
    println!("\nmeans over {} cases:", cases.len());
    for method in &args.methods {
        let mine: Vec<&Row> = rows.iter().filter(|r| &r.method == method).collect();
        let n = mine.len() as f64;
        let mean = |f: &dyn Fn(&Row) -> f64| mine.iter().map(|r| f(r)).sum::<f64>() / n;
        println!(
            "{:<18} {:<9} {:>7.2} {:>7.4} {:>7.2} {:>9.2} {:>8.1} {:>8.2}",
            "all",
            method,
            mean(&|r| r.psnr),
            mean(&|r| r.ssim),
            mean(&|r| r.band),
            mean(&|r| r.interior),
            mean(&|r| r.seconds),
            mean(&|r| r.kernel_psnr)
        );
    }
    if let Some(path) = &args.csv {
        deblur_core::npy::write_atomic(path, |f| {
            writeln!(
                f,
                "case,method,psnr,ssim,band_psnr,interior_psnr,seconds,kernel_psnr"
            )?;
            for r in &rows {
                writeln!(
                    f,
                    "{},{},{:.4},{:.5},{:.4},{:.4},{:.2},{:.3}",
                    r.case, r.method, r.psnr, r.ssim, r.band, r.interior, r.seconds, r.kernel_psnr
                )?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Mean over regions of `deblur_metrics::kernel_error`'s PSNR of `estimate`'s kernels against
/// `truth`'s (each pair recentred, up to 5 px of further shift).
fn field_kernel_psnr(
    estimate: &deblur_core::KernelField,
    truth: &deblur_core::KernelField,
) -> Result<f64, Box<dyn std::error::Error>> {
    let mut total = 0.0;
    for (e, t) in estimate.kernels().iter().zip(truth.kernels()) {
        total += deblur_metrics::kernel_error(e, t, 5)?.psnr;
    }
    Ok(total / truth.kernels().len() as f64)
}
