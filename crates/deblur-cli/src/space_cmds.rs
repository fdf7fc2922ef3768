//! `deblur transfer`: blur transfer through a trained blur-kernel space (Tran et al. 2021, §3.4).

use std::path::{Path, PathBuf};

use clap::Args;
use deblur_core::burn::tensor::{Device, Tensor};
use deblur_core::convert::{array_to_tensor, tensor_to_array};
use deblur_core::{BitDepth, device_from_name, load_image, save_image};
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
    /// The trained kernel space (kernel_space.bpk from `deblur train kernel-space`, with
    /// kernel_space.json beside it).
    #[arg(long)]
    model: PathBuf,
    /// Compute device.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Images the folder mode reads.
fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "png" | "jpg" | "jpeg" | "tif" | "tiff" | "bmp"))
}

pub fn transfer(args: TransferArgs) -> Result<(), Box<dyn std::error::Error>> {
    let device = device_from_name(&args.device)?;
    if !args.model.is_file() {
        return Err(format!(
            "{}: no such model file; train one with `deblur train kernel-space`",
            args.model.display()
        )
        .into());
    }
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
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_image(p))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(format!("{} holds no PNG/JPEG/TIFF/BMP images", dir.display()).into());
            }
            files
        }
        None => args.target.clone(),
    };
    let outputs: Vec<PathBuf> = match (&args.out_dir, &args.output, targets.len()) {
        (Some(dir), _, _) => targets
            .iter()
            .map(|t| dir.join(t.file_name().unwrap_or_default()).with_extension("png"))
            .collect(),
        (None, Some(file), 1) => vec![file.clone()],
        (None, Some(dir), _) => targets
            .iter()
            .map(|t| dir.join(t.file_name().unwrap_or_default()).with_extension("png"))
            .collect(),
        (None, None, _) => return Err("give -o OUTPUT (or --out DIR with --targets)".into()),
    };
    let images: Vec<_> = targets
        .iter()
        .map(|t| load_image(t).map(|l| l.pixels))
        .collect::<Result<_, _>>()?;
    let model = deblur_models::weights::load_kernel_space_files(
        &args.model,
        &args.model.with_extension("json"),
        &device,
    )?;
    let code = source_code(&model, &sharp, &blurry, &device)?;
    if let Some(dir) = outputs[0].parent().filter(|d| !d.as_os_str().is_empty())
        && (targets.len() > 1 || args.out_dir.is_some())
    {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    for ((target, image), out) in targets.iter().zip(&images).zip(&outputs) {
        let result = apply(&model, image, &code, &device)
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
