//! The Levin et al. 2009 benchmark ("Understanding and evaluating blind deconvolution
//! algorithms"): 4 images × 8 kernels, scored by the shift-compensated protocol, with the error
//! ratio against non-blind deconvolution by the true kernel.
//!
//! The ground-truth kernel PNGs do not all share one orientation with the observations (see
//! `../shared/data/README.md`: kernels 4 and 8 fit only when rotated by 180°), and the observations
//! are offset from the ground truth by a few pixels. [`orient_true_kernel`] therefore picks the
//! orientation and offset that re-blur the ground truth best, and reports it.

use std::path::Path;
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use deblur_core::convert::{array_to_tensor, tensor_to_array};
use deblur_core::{Boundary, Kernel, Padding, UniformBlur, load_image};
use deblur_metrics::{ShiftOptions, ShiftScore, error_ratio, psnr, shift_compensated_score};
use ndarray::{Array2, Axis, s};
use serde::Serialize;

use crate::nonblind::{HyperLaplacianConfig, hyper_laplacian_deconv};
use crate::{Error, Result};

/// Kernel sizes SelfDeblur estimates for Levin kernels 1–8 (ground-truth PNG size − 2, except 27).
pub const SELFDEBLUR_KERNEL_SIZES: [usize; 8] = [17, 15, 13, 27, 11, 19, 21, 21];

/// One benchmark case.
#[derive(Clone, Debug)]
pub struct LevinItem {
    /// `imI_kernelJ`.
    pub name: String,
    /// Image number 1–4.
    pub image: usize,
    /// Kernel number 1–8.
    pub kernel: usize,
    /// The blurred observation, `[h, w]` in [0, 1].
    pub blurred: Array2<f32>,
    /// The ground truth.
    pub sharp: Array2<f32>,
    /// The ground-truth kernel as stored (unoriented).
    pub true_kernel: Kernel,
}

fn gray(path: &Path) -> Result<Array2<f32>> {
    Ok(load_image(path)?.pixels.index_axis(Axis(0), 0).to_owned())
}

/// `gt/kernelJ.png`, or `gt/kernelJ.npy` where only that exists (screening folders).
fn kernel_file(dir: &Path, kernel: usize) -> std::path::PathBuf {
    let png = dir.join("gt").join(format!("kernel{kernel}.png"));
    let npy = png.with_extension("npy");
    if !png.exists() && npy.exists() {
        npy
    } else {
        png
    }
}

/// Loads the cases of a Levin folder (`imI_kernelJ_img.png`, `gt/imI.png`, `gt/kernelJ.png`; a
/// folder of the same layout made for screening may store the kernels as `gt/kernelJ.npy`),
/// optionally only those named in `only` (e.g. `im1_kernel4`).
///
/// # Errors
/// I/O and decoding errors naming the file; [`Error::UnknownCase`] for an unknown name.
pub fn load_levin(dir: &Path, only: Option<&[String]>) -> Result<Vec<LevinItem>> {
    let mut items = Vec::new();
    for image in 1..=4 {
        for kernel in 1..=8 {
            let name = format!("im{image}_kernel{kernel}");
            if only.is_some_and(|o| !o.contains(&name)) {
                continue;
            }
            items.push(LevinItem {
                blurred: gray(&dir.join(format!("{name}_img.png")))?,
                sharp: gray(&dir.join("gt").join(format!("im{image}.png")))?,
                true_kernel: Kernel::load(kernel_file(dir, kernel))?,
                name,
                image,
                kernel,
            });
        }
    }
    if let Some(o) = only
        && let Some(missing) = o.iter().find(|n| !items.iter().any(|i| &i.name == *n))
    {
        return Err(Error::UnknownCase {
            set: "Levin",
            name: missing.clone(),
            hint: "names look like im1_kernel4".into(),
        });
    }
    Ok(items)
}

/// The orientation and offset of a true kernel that best explain an observation.
#[derive(Clone, Debug)]
pub struct OrientedKernel {
    /// The kernel in the orientation that fits (a cross-correlation kernel for our blur).
    pub kernel: Kernel,
    /// Whether the stored kernel had to be rotated by 180°.
    pub rotated: bool,
    /// Offset `[rows, cols]` of the observation relative to the re-blurred ground truth.
    pub offset: [isize; 2],
    /// PSNR of the re-blurred, offset ground truth against the observation (interior).
    pub fit_psnr: f64,
}

/// Tries the stored kernel and its 180° rotation, blurs the ground truth with each (reflect
/// padding), searches integer offsets within ±`max_offset`, and keeps the best fit over the
/// interior (a 20-pixel border is ignored). The rotation is taken only if it fits better by at
/// least [`ROTATION_MARGIN_DB`]: a nearly symmetric kernel (Levin kernel 3) fits both ways, and
/// then the stored orientation deconvolves better.
///
/// # Errors
/// Blur errors (kernel larger than the image).
pub fn orient_true_kernel(
    sharp: &Array2<f32>,
    blurred: &Array2<f32>,
    kernel: &Kernel,
    max_offset: usize,
    device: &Device,
) -> Result<OrientedKernel> {
    let x = array_to_tensor(&sharp.clone().insert_axis(Axis(0)), device);
    let (h, w) = blurred.dim();
    let border = 20usize.max(max_offset + 1);
    let mut best: Option<OrientedKernel> = None;
    let mut best_unrotated: Option<OrientedKernel> = None;
    for rotated in [false, true] {
        let k = if rotated {
            kernel.rotate_180()
        } else {
            kernel.clone()
        };
        let reblurred = UniformBlur::new(Boundary::Same(Padding::Reflect))
            .apply(x.clone(), k.to_tensor(device))?;
        let reblurred = tensor_to_array(reblurred, 0)?
            .index_axis(Axis(0), 0)
            .to_owned();
        let target = blurred.slice(s![border..h - border, border..w - border]);
        let m = max_offset as isize;
        for dy in -m..=m {
            for dx in -m..=m {
                let (r0, c0) = (
                    (border as isize - dy) as usize,
                    (border as isize - dx) as usize,
                );
                let window = reblurred.slice(s![r0..r0 + h - 2 * border, c0..c0 + w - 2 * border]);
                let fit = psnr(window, target, 1.0);
                if best.as_ref().is_none_or(|b| fit > b.fit_psnr) {
                    best = Some(OrientedKernel {
                        kernel: k.clone(),
                        rotated,
                        offset: [dy, dx],
                        fit_psnr: fit,
                    });
                }
            }
        }
        if !rotated {
            best_unrotated = best.clone();
        }
    }
    match (best, best_unrotated) {
        (Some(b), Some(u)) if b.rotated && b.fit_psnr < u.fit_psnr + ROTATION_MARGIN_DB => Ok(u),
        (Some(b), _) => Ok(b),
        _ => Err(Error::setting(
            "kernel",
            "no orientation of the true kernel fits",
        )),
    }
}

/// How much better (dB) the rotated kernel must re-blur the ground truth to be preferred.
pub const ROTATION_MARGIN_DB: f64 = 1.0;

/// One row of a benchmark table.
#[derive(Clone, Debug, Serialize)]
pub struct LevinRow {
    /// `imI_kernelJ`.
    pub name: String,
    /// PSNR of the result (shift-compensated, dB).
    pub psnr: f64,
    /// SSIM of the result.
    pub ssim: f64,
    /// Error ratio against non-blind deconvolution with the oriented true kernel.
    pub error_ratio: f64,
    /// Seconds spent by the method.
    pub seconds: f64,
    /// PSNR of the blurred input (shift-compensated).
    pub blurred_psnr: f64,
    /// PSNR of non-blind hyper-Laplacian deconvolution with the oriented true kernel.
    pub true_kernel_psnr: f64,
    /// Whether the true kernel had to be rotated by 180° to fit.
    pub kernel_rotated: bool,
    /// The method's re-blur residual of its result in noise levels, where it reports one (the
    /// blind pipeline's [`crate::pipeline::BlindResult::residual`]).
    pub residual: Option<f64>,
}

/// What a method under [`run_levin`] returns: the restored image, the same size as the blurred
/// one, and its re-blur residual in noise levels where the method measures one.
pub type Restored = (Array2<f32>, Option<f64>);

/// Runs `method` on every item and scores its restored image.
///
/// # Errors
/// Errors of the method and of the scoring.
pub fn run_levin(
    items: &[LevinItem],
    method: &mut dyn FnMut(&LevinItem) -> Result<Restored>,
    nonblind: &HyperLaplacianConfig,
    device: &Device,
    on_row: &mut dyn FnMut(&LevinRow),
) -> Result<Vec<LevinRow>> {
    let options = ShiftOptions::default();
    let mut rows = Vec::with_capacity(items.len());
    for item in items {
        let start = Instant::now();
        let (restored, residual) = method(item)?;
        let seconds = start.elapsed().as_secs_f64();
        let score = shift_compensated_score(restored.view(), item.sharp.view(), &options)?;
        let blurred_score =
            shift_compensated_score(item.blurred.view(), item.sharp.view(), &options)?;
        let (oriented, reference) = true_kernel_result(item, nonblind, device)?;
        let row = LevinRow {
            name: item.name.clone(),
            psnr: score.psnr,
            ssim: score.ssim,
            error_ratio: error_ratio(&score, &reference),
            seconds,
            blurred_psnr: blurred_score.psnr,
            true_kernel_psnr: reference.psnr,
            kernel_rotated: oriented.rotated,
            residual,
        };
        on_row(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// Non-blind hyper-Laplacian deconvolution of an item with its oriented true kernel, clipped to
/// [0, 1]: the upper bound every blind method is compared with.
///
/// # Errors
/// Orientation and deconvolution errors.
pub fn true_kernel_deconvolution(
    item: &LevinItem,
    nonblind: &HyperLaplacianConfig,
    device: &Device,
) -> Result<(OrientedKernel, Array2<f32>)> {
    let oriented = orient_true_kernel(&item.sharp, &item.blurred, &item.true_kernel, 6, device)?;
    let x = deconvolve(item, oriented.kernel.to_tensor(device), nonblind, device)?;
    Ok((oriented, x))
}

/// Hyper-Laplacian deconvolution of the item's observation with `kernel` (`[1, 1, k, k]`),
/// clipped to [0, 1].
fn deconvolve(
    item: &LevinItem,
    kernel: Tensor<4>,
    nonblind: &HyperLaplacianConfig,
    device: &Device,
) -> Result<Array2<f32>> {
    let y = array_to_tensor(&item.blurred.clone().insert_axis(Axis(0)), device);
    let x = hyper_laplacian_deconv(y, kernel.to_device(device), nonblind)?;
    Ok(tensor_to_array(x, 0)?
        .index_axis(Axis(0), 0)
        .mapv(|v| v.clamp(0.0, 1.0)))
}

/// Reads out a kernel estimate (`[1, 1, k, k]`) the way the benchmark reads out every blind
/// method: hyper-Laplacian deconvolution of the whole observation, clipped to [0, 1], scored by
/// the shift-compensated protocol.
///
/// # Errors
/// Deconvolution and scoring errors.
pub fn kernel_result(
    item: &LevinItem,
    kernel: Tensor<4>,
    nonblind: &HyperLaplacianConfig,
    device: &Device,
) -> Result<ShiftScore> {
    let x = deconvolve(item, kernel, nonblind, device)?;
    Ok(shift_compensated_score(
        x.view(),
        item.sharp.view(),
        &ShiftOptions::default(),
    )?)
}

/// [`true_kernel_deconvolution`], scored by the shift-compensated protocol.
///
/// # Errors
/// Deconvolution and scoring errors.
pub fn true_kernel_result(
    item: &LevinItem,
    nonblind: &HyperLaplacianConfig,
    device: &Device,
) -> Result<(OrientedKernel, ShiftScore)> {
    let oriented = orient_true_kernel(&item.sharp, &item.blurred, &item.true_kernel, 6, device)?;
    let score = kernel_result(item, oriented.kernel.to_tensor(device), nonblind, device)?;
    Ok((oriented, score))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deblur_core::{BitDepth, save_image};
    use ndarray::{Array3, array};

    #[test]
    fn a_screening_folder_may_store_its_kernels_as_npy() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("gt")).unwrap();
        let image = Array3::from_shape_fn((1, 20, 20), |(_, y, x)| ((x + y) % 7) as f32 / 7.0);
        save_image(
            dir.path().join("im1_kernel2_img.png"),
            &image,
            BitDepth::Eight,
        )
        .unwrap();
        save_image(dir.path().join("gt/im1.png"), &image, BitDepth::Eight).unwrap();
        let kernel =
            Kernel::new(array![[0.0, 1.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]]).unwrap();
        kernel.save_npy(dir.path().join("gt/kernel2.npy")).unwrap();
        let only = ["im1_kernel2".to_string()];
        let items = load_levin(dir.path(), Some(&only)).unwrap();
        assert_eq!(items.len(), 1);
        // the stored kernel, normalised to sum 1: 1/4 and 3/4
        assert_eq!(items[0].true_kernel.values()[[0, 1]], 0.25);
        assert_eq!(items[0].true_kernel.values()[[1, 1]], 0.75);
        // without either file the error names the PNG of the Levin set's own layout
        std::fs::remove_file(dir.path().join("gt/kernel2.npy")).unwrap();
        let err = load_levin(dir.path(), Some(&only)).unwrap_err().to_string();
        assert!(err.contains("kernel2.png"), "{err}");
    }
}
