//! `deblur transfer`: blur transfer through a trained blur-kernel space (Tran et al. 2021, §3.4).

use std::path::PathBuf;

use clap::Args;
use deblur_core::burn::tensor::{Device, Tensor};
use deblur_core::convert::{array_to_tensor, tensor_to_array};
use deblur_core::outputs::{Output, check_outputs};
use deblur_core::{BitDepth, device_from_name, load_image, save_image};
use deblur_metrics::psnr_tensors;
use deblur_models::KernelSpace;

#[derive(Args, Debug)]
pub struct TransferArgs {
    /// Sharp image of the source pair.
    #[arg(long)]
    sharp: PathBuf,
    /// Blurry image of the source pair (aligned with --sharp, same size).
    #[arg(long)]
    blurry: PathBuf,
    /// Sharp images to receive the source pair's blur.
    #[arg(required_unless_present = "targets", conflicts_with = "targets")]
    target: Vec<PathBuf>,
    /// Folder mode: every image in this folder receives the blur (data augmentation).
    #[arg(long, requires = "out_dir")]
    targets: Option<PathBuf>,
    /// Output image (one target) or folder (several targets: same file names, PNG).
    #[arg(long, short, conflicts_with = "out_dir")]
    output: Option<PathBuf>,
    /// Output folder of the folder mode.
    #[arg(long = "out", value_name = "DIR")]
    out_dir: Option<PathBuf>,
    #[command(flatten)]
    model: SpaceModel,
    /// Compute device.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Which blur-kernel space to use: a trained file, or a shipped variant.
#[derive(Args, Debug)]
pub struct SpaceModel {
    /// A trained kernel space (kernel_space.bpk from `deblur train kernel-space`, with
    /// kernel_space.json beside it) instead of the shipped one.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Shipped variant in the weights manifest.
    #[arg(long = "space-variant", default_value = "compact-v1")]
    variant: String,
    /// Weights folder (default: $DEBLUR_WEIGHTS, ./weights, or beside the executable).
    #[arg(long)]
    weights: Option<PathBuf>,
}

impl SpaceModel {
    fn load(&self, device: &Device) -> Result<KernelSpace, Box<dyn std::error::Error>> {
        Ok(deblur_models::weights::load_kernel_space_from(
            self.model.as_deref(),
            self.weights.as_deref(),
            &self.variant,
            device,
        )?)
    }
}

pub fn transfer(args: TransferArgs) -> Result<(), Box<dyn std::error::Error>> {
    let device = device_from_name(&args.device)?;
    // every input is read and checked before anything is computed or written
    let sharp = load_image(&args.sharp)?.pixels;
    let blurry = load_image(&args.blurry)?.pixels;
    if sharp.dim() != blurry.dim() {
        return Err(format!(
            "{} is {:?} but {} is {:?}; the source pair must be aligned images of one size",
            args.sharp.display(),
            sharp.dim(),
            args.blurry.display(),
            blurry.dim()
        )
        .into());
    }
    let targets: Vec<PathBuf> = match &args.targets {
        Some(dir) => {
            let files = crate::batch_cmds::list_images(dir)?;
            if files.is_empty() {
                return Err(format!("{} holds no PNG/JPEG/TIFF/BMP images", dir.display()).into());
            }
            files
        }
        None => args.target.clone(),
    };
    // one target to -o FILE; several (or the folder mode) into a folder, as PNGs of their names
    let folder = match (&args.out_dir, &args.output) {
        (Some(dir), _) => Some(dir),
        (None, Some(out)) if targets.len() > 1 => Some(out),
        (None, Some(_)) => None,
        (None, None) => return Err("give -o OUTPUT (or --out DIR with --targets)".into()),
    };
    let outputs: Vec<PathBuf> = match folder {
        Some(dir) => targets
            .iter()
            .map(|t| {
                dir.join(t.file_name().unwrap_or_default())
                    .with_extension("png")
            })
            .collect(),
        None => args.output.iter().cloned().collect(),
    };
    // each target's header is read now (a bad file fails before anything is written); the pixels
    // are read one target at a time, so a large folder is not held in memory
    for t in &targets {
        deblur_core::image_size(t)?;
    }
    if let Some(dir) = folder {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    // writable, image formats, no two the same file, none of them an input
    let mut inputs: Vec<&std::path::Path> = vec![&args.sharp, &args.blurry];
    inputs.extend(targets.iter().map(PathBuf::as_path));
    let images: Vec<Output> = outputs.iter().map(|o| Output::Image(o)).collect();
    check_outputs(&inputs, &images)?;
    let model = args.model.load(&device)?;
    let code = source_code(&model, &sharp, &blurry, &device)?;
    for (target, out) in targets.iter().zip(&outputs) {
        let image = load_image(target)?.pixels;
        let result = apply(&model, &image, &code, &device)
            .map_err(|e| format!("{}: {e}", target.display()))?;
        save_image(out, &result, BitDepth::Eight)?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

/// G(x, y) of the source pair: on the luma for a one-channel model given colour images.
fn source_code(
    model: &KernelSpace,
    sharp: &ndarray::Array3<f32>,
    blurry: &ndarray::Array3<f32>,
    device: &Device,
) -> Result<Tensor<4>, Box<dyn std::error::Error>> {
    let fit = |a: &ndarray::Array3<f32>| -> Result<Tensor<4>, Box<dyn std::error::Error>> {
        let t = array_to_tensor(a, device);
        Ok(match (a.dim().0, model.channels()) {
            (3, 1) => deblur_core::color::luma_tensor(t),
            (c, m) if c == m => t,
            (c, m) => {
                return Err(format!(
                    "the model takes {m}-channel images and the source pair has {c}; give \
                     colour images to a colour model"
                )
                .into());
            }
        })
    };
    Ok(model.extract_code(fit(sharp)?, fit(blurry)?)?.mean)
}

/// F(target, code): each channel on its own for a one-channel model given a colour target.
fn apply(
    model: &KernelSpace,
    image: &ndarray::Array3<f32>,
    code: &Tensor<4>,
    device: &Device,
) -> Result<ndarray::Array3<f32>, Box<dyn std::error::Error>> {
    let c = image.dim().0;
    let t = array_to_tensor(image, device);
    let out = if c == model.channels() {
        model.blur_with(t, code.clone())?
    } else if model.channels() == 1 {
        // channels as a batch of grey images sharing the code
        let [_, _, h, w] = t.dims();
        let batch = t.reshape([c, 1, h, w]);
        let codes = code.clone().repeat_dim(0, c);
        model.blur_with(batch, codes)?.reshape([1, c, h, w])
    } else {
        return Err(format!(
            "the model takes {}-channel images; this one has {c}",
            model.channels()
        )
        .into());
    };
    Ok(tensor_to_array(out.clamp(0.0, 1.0), 0)?)
}

#[derive(Args, Debug)]
pub struct BenchKernelSpaceArgs {
    #[command(flatten)]
    model: SpaceModel,
    /// Levin folder (gt/im1–4.png, gt/kernel1–8.png) for the transfer table.
    #[arg(long, default_value = "../shared/data/levin")]
    levin: PathBuf,
    /// Folder of held-out sharp images for the retrieval table (never trained on).
    #[arg(long, default_value = "../shared/data/bsd68")]
    heldout: PathBuf,
    /// Held-out images used (the first N by name), each cropped to 256×256 at its top left.
    #[arg(long, default_value_t = 16, value_parser = crate::train_cmds::at_least_one)]
    count: usize,
    /// Adam steps of the kernel retrieval.
    #[arg(long, default_value_t = 100)]
    retrieval_steps: usize,
    /// Adam learning rate of the kernel retrieval.
    #[arg(long, default_value_t = 0.05, value_parser = crate::train_cmds::positive_finite)]
    retrieval_lr: f64,
    /// Write every row as CSV.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Compute device.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// `deblur bench kernel-space`: the paper's Table 1 (blur transfer of the 8 Levin kernels) and
/// Table 3 (kernel retrieval on held-out images with blur a convolution cannot express) analogues.
pub fn bench_kernel_space(args: BenchKernelSpaceArgs) -> Result<(), Box<dyn std::error::Error>> {
    use deblur_core::{Boundary, Kernel, Padding, UniformBlur};
    use deblur_kernels::field::{CameraMotionConfig, camera_motion_field};
    let device = device_from_name(&args.device)?;
    if let Some(csv) = &args.csv {
        check_outputs(&[], &[Output::File(csv)])?;
    }
    let model = args.model.load(&device)?;
    if model.channels() != 1 {
        return Err("the benchmark runs on grey images; give a one-channel model".into());
    }
    let gt = args.levin.join("gt");
    let images: Vec<Tensor<4>> = (1..=4)
        .map(|i| {
            load_image(gt.join(format!("im{i}.png"))).map(|l| array_to_tensor(&l.pixels, &device))
        })
        .collect::<Result<_, _>>()?;
    let same = UniformBlur::new(Boundary::Same(Padding::Reflect));
    let mut rows = vec!["table,case,blur,psnr_identity,psnr_start,psnr_final".to_string()];
    println!(
        "Blur transfer (Levin kernels; source im i, target im i+1; F(target, G(source pair)) vs k ⋆ target)"
    );
    println!("{:<8} {:>12} {:>12}", "kernel", "identity", "transfer");
    let mut all = (0.0, 0.0);
    for k in 1..=8 {
        let kernel = Kernel::load(gt.join(format!("kernel{k}.png")))?.to_tensor(&device);
        let mut sums = (0.0, 0.0);
        for i in 0..4 {
            let (x, target) = (images[i].clone(), images[(i + 1) % 4].clone());
            let y = same.apply(x.clone(), kernel.clone())?;
            let reference = same.apply(target.clone(), kernel.clone())?;
            let out = model.transfer(x, y, target.clone())?;
            let (id, tr) = (
                psnr_tensors(target.clone(), reference.clone()),
                psnr_tensors(out.clone(), reference.clone()),
            );
            rows.push(format!(
                "transfer,im{}_to_im{},kernel{k},{id:.3},,{tr:.3}",
                i + 1,
                (i + 1) % 4 + 1
            ));
            sums = (sums.0 + id / 4.0, sums.1 + tr / 4.0);
        }
        println!(
            "{:<8} {:>12.2} {:>12.2}",
            format!("kernel{k}"),
            sums.0,
            sums.1
        );
        all = (all.0 + sums.0 / 8.0, all.1 + sums.1 / 8.0);
    }
    println!("{:<8} {:>12.2} {:>12.2}", "mean", all.0, all.1);

    let mut files = crate::batch_cmds::list_images(&args.heldout)?;
    files.truncate(args.count);
    println!(
        "\nKernel retrieval ({} held-out images, 256×256 crops; PSNR of F(x, k) vs y: identity x, \
         k = G(x, y), k after {} Adam steps)",
        files.len(),
        args.retrieval_steps
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "blur", "identity", "G(x, y)", "retrieved"
    );
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
    let mut sums = [[0.0f64; 3]; 2];
    let names = ["uniform shake + γ 2.2, gain 1.5", "camera motion field 3×3"];
    for (n, file) in files.iter().enumerate() {
        let full = load_image(file)?.pixels;
        let luma = if full.dim().0 == 3 {
            deblur_core::color::luma_tensor(array_to_tensor(&full, &device))
        } else {
            array_to_tensor(&full, &device)
        };
        let [_, _, h, w] = luma.dims();
        if h < 256 || w < 256 {
            return Err(format!("{}: {h}×{w} is smaller than 256×256", file.display()).into());
        }
        let x = luma.narrow(2, 0, 256).narrow(3, 0, 256);
        let shake = deblur_kernels::shake::ShakeConfig::new(31);
        for (b, name) in names.iter().enumerate() {
            let y = if b == 0 {
                let kernel = deblur_kernels::KernelSource::sample_kernel(
                    &deblur_kernels::KernelFamily::by_name("shake", 31)?,
                    &mut rng,
                )?
                .to_tensor(&device);
                let linear = x.clone().clamp(0.0, 1.0).powf_scalar(2.2) * 1.5;
                same.apply(linear, kernel)?
                    .clamp(0.0, 1.0)
                    .powf_scalar(1.0 / 2.2)
            } else {
                let config = CameraMotionConfig {
                    shake: shake.clone(),
                    max_rotation_deg: 2.0,
                    max_redraws: 20,
                };
                let (field, _, _) =
                    camera_motion_field(&config, [3, 3], Default::default(), [256, 256], &mut rng)?;
                let blurred = field.blur_image(
                    &tensor_to_array(x.clone(), 0)?,
                    Boundary::Same(Padding::Reflect),
                    0.0,
                    0,
                    &device,
                )?;
                array_to_tensor(&blurred, &device)
            };
            let start =
                model.blur_with(x.clone(), model.extract_code(x.clone(), y.clone())?.mean)?;
            let found = deblur_models::kernel_space::retrieve_code(
                &model,
                x.clone(),
                y.clone(),
                args.retrieval_steps,
                args.retrieval_lr,
            )?;
            let values = [
                psnr_tensors(x.clone(), y.clone()),
                psnr_tensors(start.clone(), y.clone()),
                psnr_tensors(found.reblurred.clone(), y.clone()),
            ];
            rows.push(format!(
                "retrieval,{},{},{:.3},{:.3},{:.3}",
                file.file_name().unwrap_or_default().to_string_lossy(),
                name,
                values[0],
                values[1],
                values[2]
            ));
            for (s, v) in sums[b].iter_mut().zip(values) {
                *s += v;
            }
        }
        eprint!("\r{}/{} images", n + 1, files.len());
    }
    eprintln!();
    let count = files.len().max(1) as f64;
    for (b, name) in names.iter().enumerate() {
        println!(
            "{:<28} {:>10.2} {:>10.2} {:>10.2}",
            name,
            sums[b][0] / count,
            sums[b][1] / count,
            sums[b][2] / count
        );
    }
    if let Some(csv) = &args.csv {
        let text = rows.join("\n") + "\n";
        deblur_core::npy::write_atomic(csv, |w| std::io::Write::write_all(w, text.as_bytes()))?;
    }
    Ok(())
}
