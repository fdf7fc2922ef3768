//! The uniform-blur protocol of Lai, Huang, Hu, Ahuja and Yang (CVPR 2016, "A comparative study
//! for single image blind deblurring"), built from the sharp images and kernels in a folder:
//!
//! 1. every sharp image (`images/CATEGORY_NN.png`) is reduced to its luma (full-range Y);
//! 2. it is blurred by each kernel (`kernels/kernel_NN.png`, normalised to sum 1) as a
//!    cross-correlation with the kernel as stored, the output the same size as the sharp image,
//!    the image extended beyond its border by symmetric (mirror) reflection;
//! 3. Gaussian noise of standard deviation 0.01 (1 %) is added from a seed derived from the
//!    protocol seed and the case's name (so a subset draws the same noise as the full set);
//! 4. the result is clipped to [0, 1] and quantised to 8 bits.
//!
//! Results are scored against the sharp luma by [`lai_score`]: a whole-pixel alignment within
//! ±40 px (blind estimates are known only up to a shift, and Lai's kernels do not all have their
//! mass at the canvas centre), then the shift-compensated protocol
//! ([`deblur_metrics::shift_compensated_score`]). The set is for evaluation only: nothing is
//! trained or tuned on it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use deblur_core::color::{YCbCrStandard, luma};
use deblur_core::{Boundary, Kernel, Padding, UniformBlur, blur_image, load_image};
use deblur_kernels::{ColorMode, ImageSource, ImageSpec};
use deblur_metrics::{ShiftOptions, shift_compensated_score};
use ndarray::{Array2, Axis};
use rand::SeedableRng;
use serde::Serialize;

use crate::{Error, Result};

/// Noise of the protocol: 1 % of the intensity range.
pub const LAI_NOISE_STD: f32 = 0.01;

/// The `--quick` screening subset: one image of each of four categories.
pub const LAI_QUICK_IMAGES: [&str; 4] = ["natural_02", "text_03", "manmade_03", "people_05"];

/// A sharp image of the set.
#[derive(Clone, Debug)]
pub struct LaiImage {
    /// File stem, e.g. `natural_01`.
    pub name: String,
    /// The part of the name before the last `_`, e.g. `natural`.
    pub category: String,
    /// The sharp luma `[h, w]` in [0, 1].
    pub sharp: Array2<f32>,
}

/// A kernel of the set.
#[derive(Clone, Debug)]
pub struct LaiKernel {
    /// 1-based number from the file name `kernel_NN.png`.
    pub index: usize,
    /// The kernel as stored, normalised.
    pub kernel: Kernel,
}

/// The loaded set: sharp images and kernels (cases are made on demand by [`LaiSet::case`]).
#[derive(Clone, Debug)]
pub struct LaiSet {
    /// Sharp images, in file-name order.
    pub images: Vec<LaiImage>,
    /// Kernels, in file-name order.
    pub kernels: Vec<LaiKernel>,
    /// Noise standard deviation of the observations. Default: [`LAI_NOISE_STD`].
    pub noise_std: f32,
}

/// One blurred observation of the set.
#[derive(Clone, Debug)]
pub struct LaiCase {
    /// `IMAGE_kernelN`, e.g. `natural_01_kernel3`.
    pub name: String,
    /// Index into [`LaiSet::images`].
    pub image: usize,
    /// Index into [`LaiSet::kernels`].
    pub kernel: usize,
    /// The blurred, noisy, quantised luma.
    pub blurred: Array2<f32>,
}

/// What a Lai folder holds, for error messages.
const LAI_LAYOUT: &str = "the Lai set needs images/ and kernels/";

/// The PNG files of `dir`, sorted by name; `needs` says what the folder should hold.
fn png_files(dir: &Path, needs: &str) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Dataset {
        path: dir.to_path_buf(),
        reason: format!("cannot read the folder ({e}); {needs}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("png"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Dataset {
            path: dir.to_path_buf(),
            reason: "no PNG files found".into(),
        });
    }
    Ok(files)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Loads `dir/images/*.png` (as luma) and `dir/kernels/kernel_NN.png`, optionally only the images
/// named in `images` (file stems) and the kernels numbered in `kernels` (1-based).
///
/// # Errors
/// [`Error::Dataset`] for a missing folder, [`Error::UnknownCase`] for an unknown name or number; decoding errors
/// (naming the file) for an unreadable image or kernel.
pub fn load_lai(
    dir: &Path,
    images: Option<&[String]>,
    kernels: Option<&[usize]>,
) -> Result<LaiSet> {
    let mut set = LaiSet {
        images: Vec::new(),
        kernels: Vec::new(),
        noise_std: LAI_NOISE_STD,
    };
    for path in png_files(&dir.join("images"), LAI_LAYOUT)? {
        let name = stem(&path);
        if images.is_some_and(|only| !only.contains(&name)) {
            continue;
        }
        let loaded = load_image(&path)?;
        let sharp = luma(&loaded.pixels, YCbCrStandard::FullRange)?;
        let category = name
            .rsplit_once('_')
            .map_or(name.as_str(), |(c, _)| c)
            .to_string();
        set.images.push(LaiImage {
            name,
            category,
            sharp,
        });
    }
    for path in png_files(&dir.join("kernels"), LAI_LAYOUT)? {
        let name = stem(&path);
        let index = name
            .strip_prefix("kernel_")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| Error::Dataset {
                path: path.clone(),
                reason: "kernel files are named kernel_NN.png".into(),
            })?;
        if kernels.is_some_and(|only| !only.contains(&index)) {
            continue;
        }
        set.kernels.push(LaiKernel {
            index,
            kernel: Kernel::load(&path)?,
        });
    }
    if let Some(only) = images
        && let Some(missing) = only
            .iter()
            .find(|n| !set.images.iter().any(|i| &i.name == *n))
    {
        return Err(Error::UnknownCase {
            set: "Lai",
            name: missing.clone(),
            hint: "image names look like natural_01".into(),
        });
    }
    if let Some(only) = kernels
        && let Some(missing) = only
            .iter()
            .find(|n| !set.kernels.iter().any(|k| k.index == **n))
    {
        return Err(Error::UnknownCase {
            set: "Lai",
            name: format!("kernel {missing}"),
            hint: format!(
                "the set has kernels {:?}",
                set.kernels.iter().map(|k| k.index).collect::<Vec<_>>()
            ),
        });
    }
    Ok(set)
}

/// A screening set under the same protocol, built from training data instead of the evaluation
/// images, crossed with `kernels` (numbered from 1). From a folder: `count` mosaics of
/// `tiles × tiles` consecutive images of it (sorted by name; luma), so that large kernels fit
/// while the content keeps its native sharpness; with `blend` > 0 neighbouring tiles overlap by
/// `blend` px and cross-fade (raised cosine) instead of meeting at a seam, a straight step edge
/// across the whole mosaic that real photos do not have and that kernel estimators lock onto.
/// From a procedural source (`dead-leaves`, `text-pages`; `blend` unused): `count` images of
/// side `180 · tiles` (a train400 mosaic's size), image `i` drawn from seed `i`. Every image's
/// category is `screen` (folders) or the source's name.
///
/// # Errors
/// [`Error::Dataset`] for a missing folder or too few images, [`Error::InvalidSetting`] for no
/// kernels, `count` or `tiles` 0, or a `blend` above half the tiles' side; decoding errors
/// naming the file.
pub fn screening_set(
    source: &ImageSpec,
    count: usize,
    tiles: usize,
    blend: usize,
    kernels: Vec<Kernel>,
) -> Result<LaiSet> {
    if count == 0 || tiles == 0 || kernels.is_empty() {
        return Err(Error::setting(
            "screening set",
            format!(
                "needs images (got {count}), tiles (got {tiles}) and kernels (got {})",
                kernels.len()
            ),
        ));
    }
    let images = match source {
        ImageSpec::Folder(dir) => mosaics(dir, count, tiles, blend)?,
        procedural => {
            let pages = procedural
                .open(tiles.saturating_mul(180), ColorMode::Gray, false)
                .map_err(|e| Error::setting("screening images", e.to_string()))?;
            (0..count)
                .map(|i| {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(i as u64);
                    let page = pages
                        .sample(&mut rng)
                        .map_err(|e| Error::setting("screening images", e.to_string()))?;
                    Ok(LaiImage {
                        // no colon in names: they become file names under --images-out
                        name: format!("{}_{:02}", procedural.to_string().replace(':', "-"), i + 1),
                        category: procedural.to_string(),
                        sharp: page.index_axis_move(Axis(0), 0),
                    })
                })
                .collect::<Result<Vec<_>>>()?
        }
    };
    let kernels = kernels
        .into_iter()
        .enumerate()
        .map(|(i, kernel)| LaiKernel {
            index: i + 1,
            kernel,
        })
        .collect();
    Ok(LaiSet {
        images,
        kernels,
        noise_std: LAI_NOISE_STD,
    })
}

/// `count` mosaics of `tiles × tiles` consecutive images of `dir` (luma), every tile cropped to
/// the group's smallest, neighbours overlapping by `blend` px ([`screening_set`]).
pub(crate) fn mosaics(
    dir: &Path,
    count: usize,
    tiles: usize,
    blend: usize,
) -> Result<Vec<LaiImage>> {
    let files = png_files(
        dir,
        "--screen-images takes a folder of PNG training images, text-pages or dead-leaves",
    )?;
    let per_image = tiles.saturating_mul(tiles);
    if files.len() < count.saturating_mul(per_image) {
        return Err(Error::Dataset {
            path: dir.to_path_buf(),
            reason: format!(
                "{} images, {count} mosaics of {tiles}x{tiles} need {}",
                files.len(),
                count.saturating_mul(per_image)
            ),
        });
    }
    let mut images = Vec::new();
    for (index, group) in files.chunks(per_image).take(count).enumerate() {
        let parts = group
            .iter()
            .map(|path| Ok(luma(&load_image(path)?.pixels, YCbCrStandard::FullRange)?))
            .collect::<Result<Vec<_>>>()?;
        let (th, tw) = parts.iter().fold((usize::MAX, usize::MAX), |(h, w), p| {
            (h.min(p.nrows()), w.min(p.ncols()))
        });
        if blend > th.min(tw) / 2 {
            return Err(Error::setting(
                "screening blend",
                format!(
                    "{blend} px of cross-fade needs tiles of at least twice that; {} has {tw}x{th}",
                    dir.display()
                ),
            ));
        }
        images.push(LaiImage {
            name: format!("mosaic_{:02}", index + 1),
            category: "screen".into(),
            sharp: cross_faded(&parts, tiles, [th, tw], blend),
        });
    }
    Ok(images)
}

/// `parts` (row-major, `tiles` per row) cropped to `th × tw` and laid out with a stride of the
/// tile minus `blend`: every pixel is the weighted mean of the tiles covering it, each tile's
/// weight a raised-cosine ramp over `blend` px at its inner edges (1 elsewhere). The ramps of two
/// neighbours sum to 1, so with `blend` 0 this is the plain mosaic.
fn cross_faded(
    parts: &[Array2<f32>],
    tiles: usize,
    [th, tw]: [usize; 2],
    blend: usize,
) -> Array2<f32> {
    let ramp = |i: usize, len: usize, first: bool, last: bool| -> f32 {
        let rise = |j: usize| {
            let t = (j as f32 + 0.5) / blend as f32;
            0.5 - 0.5 * (std::f32::consts::PI * t).cos()
        };
        let mut w = 1.0;
        if !first && i < blend {
            w *= rise(i);
        }
        if !last && i + blend >= len {
            w *= rise(len - 1 - i);
        }
        w
    };
    let (sh, sw) = (th - blend, tw - blend);
    let (h, w) = (sh * (tiles - 1) + th, sw * (tiles - 1) + tw);
    let mut sum = Array2::<f32>::zeros((h, w));
    let mut weight = Array2::<f32>::zeros((h, w));
    for (n, part) in parts.iter().enumerate() {
        let (r, c) = (n / tiles, n % tiles);
        for y in 0..th {
            let wy = ramp(y, th, r == 0, r + 1 == tiles);
            for x in 0..tw {
                let wgt = wy * ramp(x, tw, c == 0, c + 1 == tiles);
                sum[[r * sh + y, c * sw + x]] += wgt * part[[y, x]];
                weight[[r * sh + y, c * sw + x]] += wgt;
            }
        }
    }
    sum / weight
}

/// FNV-1a of a case name, mixed with the protocol seed: the noise seed of that case.
pub(crate) fn case_seed(seed: u64, name: &str) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Blurs `sharp` by `kernel` as the protocol does (symmetric extension, same size), adds noise of
/// `noise_std` from `seed`, clips to [0, 1] and quantises to 8 bits.
///
/// # Errors
/// [`deblur_core::Error::KernelLargerThanImage`] and noise-setting errors.
pub fn synthesize_observation(
    sharp: &Array2<f32>,
    kernel: &Kernel,
    noise_std: f32,
    seed: u64,
    device: &Device,
) -> Result<Array2<f32>> {
    let blurred = blur_image(
        &sharp.clone().insert_axis(Axis(0)),
        kernel,
        UniformBlur::new(Boundary::Same(Padding::Symmetric)),
        noise_std,
        seed,
        device,
    )?;
    Ok(blurred
        .index_axis(Axis(0), 0)
        .mapv(|v| (v.clamp(0.0, 1.0) * 255.0).round() / 255.0))
}

impl LaiSet {
    /// Number of cases (images × kernels).
    pub fn len(&self) -> usize {
        self.images.len() * self.kernels.len()
    }

    /// Whether the set has no case.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Case `n` (kernel-major within an image: image `n / kernels`, kernel `n % kernels`), its
    /// observation made by [`synthesize_observation`] with the set's noise from `seed`.
    ///
    /// # Errors
    /// As [`synthesize_observation`]; [`Error::UnknownCase`] for `n` out of range.
    pub fn case(&self, n: usize, seed: u64, device: &Device) -> Result<LaiCase> {
        if n >= self.len() {
            return Err(Error::UnknownCase {
                set: "Lai",
                name: n.to_string(),
                hint: format!("the set has cases 0 to {}", self.len().saturating_sub(1)),
            });
        }
        let (image, kernel) = (n / self.kernels.len(), n % self.kernels.len());
        let name = format!(
            "{}_kernel{}",
            self.images[image].name, self.kernels[kernel].index
        );
        let blurred = synthesize_observation(
            &self.images[image].sharp,
            &self.kernels[kernel].kernel,
            self.noise_std,
            case_seed(seed, &name),
            device,
        )?;
        Ok(LaiCase {
            name,
            image,
            kernel,
            blurred,
        })
    }
}

/// One scored case.
#[derive(Clone, Debug, Serialize)]
pub struct LaiRow {
    /// `IMAGE_kernelN`.
    pub name: String,
    /// Image category (natural, text, manmade, people, saturated).
    pub category: String,
    /// Kernel number.
    pub kernel: usize,
    /// Kernel size in pixels (as stored).
    pub kernel_size: usize,
    /// Shift-compensated PSNR of the result (dB).
    pub psnr: f64,
    /// SSIM of the result.
    pub ssim: f64,
    /// Seconds the method took.
    pub seconds: f64,
    /// Shift-compensated PSNR of the blurred input.
    pub blurred_psnr: f64,
}

/// Largest integer misalignment [`align_integer`] searches, in pixels: half the largest Lai
/// kernel. A blind estimate is only known up to a shift, and a recentred estimate of a kernel
/// whose mass sits off its canvas centre moves the result by that offset, beyond the ±10 px of
/// the Levin protocol.
pub const LAI_MAX_OFFSET: usize = 40;

/// `image` moved by whole pixels: `out[r, c] = image[r + dy, c + dx]`, edges replicated.
pub fn shift_integer(image: &Array2<f32>, [dy, dx]: [isize; 2]) -> Array2<f32> {
    let (h, w) = image.dim();
    Array2::from_shape_fn((h, w), |(r, c)| {
        let rr = (r as isize + dy).clamp(0, h as isize - 1) as usize;
        let cc = (c as isize + dx).clamp(0, w as isize - 1) as usize;
        image[[rr, cc]]
    })
}

/// Mean squared difference of `estimate[r + dy, c + dx]` and `reference[r, c]` over the pixels
/// at least `border` from the edge.
fn shifted_mse(
    estimate: &Array2<f32>,
    reference: &Array2<f32>,
    [dy, dx]: [isize; 2],
    border: usize,
) -> f64 {
    let (h, w) = reference.dim();
    let mut sum = 0f64;
    for r in border..h - border {
        let rr = (r as isize + dy) as usize;
        let (a, b) = (estimate.row(rr), reference.row(r));
        let mut acc = 0f32;
        for c in border..w - border {
            let d = a[(c as isize + dx) as usize] - b[c];
            acc += d * d;
        }
        sum += f64::from(acc);
    }
    sum / ((h - 2 * border) * (w - 2 * border)).max(1) as f64
}

/// The whole-pixel shift `[dy, dx]` within ±`max_offset` that best aligns `estimate` with
/// `reference` (same size): searched on both shrunk 4× by area averaging, then refined within
/// ±4 px at full resolution. Moving the estimate by it ([`shift_integer`]) leaves a residual
/// below the Levin protocol's ±10 px search.
///
/// # Errors
/// [`Error::InvalidSetting`] for an image too small for the search.
pub fn align_integer(
    estimate: &Array2<f32>,
    reference: &Array2<f32>,
    max_offset: usize,
) -> Result<[isize; 2]> {
    let (h, w) = reference.dim();
    if estimate.dim() != (h, w) || h < 4 * max_offset + 32 || w < 4 * max_offset + 32 {
        return Err(Error::setting(
            "alignment",
            format!(
                "needs two images of the same size, larger than {0}x{0}",
                4 * max_offset + 32
            ),
        ));
    }
    let small = [h / 4, w / 4];
    let (es, rs) = (
        deblur_core::resample::resize_area(estimate.view(), small)?,
        deblur_core::resample::resize_area(reference.view(), small)?,
    );
    let m = (max_offset / 4) as isize;
    let mut best = (f64::INFINITY, [0isize, 0]);
    for dy in -m..=m {
        for dx in -m..=m {
            let e = shifted_mse(&es, &rs, [dy, dx], m as usize + 1);
            if e < best.0 {
                best = (e, [dy, dx]);
            }
        }
    }
    let centre = [best.1[0] * 4, best.1[1] * 4];
    let mut fine = (f64::INFINITY, centre);
    let border = max_offset + 5;
    for dy in centre[0] - 4..=centre[0] + 4 {
        for dx in centre[1] - 4..=centre[1] + 4 {
            let e = shifted_mse(estimate, reference, [dy, dx], border);
            if e < fine.0 {
                fine = (e, [dy, dx]);
            }
        }
    }
    Ok(fine.1)
}

/// The Lai-protocol score: [`align_integer`] within ±[`LAI_MAX_OFFSET`] px, then the
/// shift-compensated protocol (±10 px in quarter pixels, 15 px crop) of the moved estimate.
///
/// # Errors
/// Alignment and scoring errors.
pub fn lai_score(
    estimate: &Array2<f32>,
    reference: &Array2<f32>,
) -> Result<deblur_metrics::ShiftScore> {
    let offset = align_integer(estimate, reference, LAI_MAX_OFFSET)?;
    let moved = shift_integer(estimate, offset);
    Ok(shift_compensated_score(
        moved.view(),
        reference.view(),
        &ShiftOptions::default(),
    )?)
}

/// What [`run_lai`] calls after each case: the row, the case and the restored image.
pub type OnRow<'a> = dyn FnMut(&LaiRow, &LaiCase, &Array2<f32>) -> Result<()> + 'a;

/// Runs `method` on every case of `set` (observations from `seed`) and scores each result.
/// `method` receives the set and the case and returns the restored luma (same size); only it is
/// timed. `on_row` then receives the row, the case and the restored image (e.g. to print or save).
///
/// # Errors
/// Errors of the method, the synthesis, the scoring and `on_row`.
pub fn run_lai(
    set: &LaiSet,
    seed: u64,
    method: &mut dyn FnMut(&LaiSet, &LaiCase) -> Result<Array2<f32>>,
    device: &Device,
    on_row: &mut OnRow<'_>,
) -> Result<Vec<LaiRow>> {
    let mut rows = Vec::with_capacity(set.len());
    for n in 0..set.len() {
        let case = set.case(n, seed, device)?;
        let start = Instant::now();
        let restored = method(set, &case)?;
        let seconds = start.elapsed().as_secs_f64();
        let image = &set.images[case.image];
        let kernel = &set.kernels[case.kernel];
        let score = lai_score(&restored, &image.sharp)?;
        let blurred = lai_score(&case.blurred, &image.sharp)?;
        let row = LaiRow {
            name: case.name.clone(),
            category: image.category.clone(),
            kernel: kernel.index,
            kernel_size: kernel.kernel.size()[0].max(kernel.kernel.size()[1]),
            psnr: score.psnr,
            ssim: score.ssim,
            seconds,
            blurred_psnr: blurred.psnr,
        };
        on_row(&row, &case, &restored)?;
        rows.push(row);
    }
    Ok(rows)
}

/// Mean PSNR, SSIM, seconds and blurred PSNR of the rows whose `key` equals each distinct value,
/// in order of first appearance: `(key, count, psnr, ssim, seconds, blurred_psnr)`.
pub fn group_means(
    rows: &[LaiRow],
    key: impl Fn(&LaiRow) -> String,
) -> Vec<(String, usize, f64, f64, f64, f64)> {
    let mut keys: Vec<String> = Vec::new();
    for r in rows {
        let k = key(r);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|k| {
            let group: Vec<&LaiRow> = rows.iter().filter(|r| key(r) == k).collect();
            let n = group.len() as f64;
            let mean = |f: &dyn Fn(&LaiRow) -> f64| group.iter().map(|r| f(r)).sum::<f64>() / n;
            (
                k,
                group.len(),
                mean(&|r| r.psnr),
                mean(&|r| r.ssim),
                mean(&|r| r.seconds),
                mean(&|r| r.blurred_psnr),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_alignment_finds_a_large_offset() {
        // a smooth random-ish pattern, moved 23 px down and 17 px left
        let reference = Array2::from_shape_fn((220, 240), |(r, c)| {
            let (y, x) = (r as f32, c as f32);
            0.5 + 0.25 * (0.07 * x + 0.3 * (0.05 * y).sin()).sin() * (0.045 * y).cos()
        });
        let moved = shift_integer(&reference, [-23, 17]);
        // moved[r, c] = reference[r − 23, c + 17]: reading moved at (r + 23, c − 17) undoes it
        assert_eq!(align_integer(&moved, &reference, 40).unwrap(), [23, -17]);
    }

    #[test]
    fn case_seeds_depend_on_the_name_and_the_seed() {
        assert_ne!(
            case_seed(0, "natural_01_kernel1"),
            case_seed(0, "natural_01_kernel2")
        );
        assert_ne!(
            case_seed(0, "natural_01_kernel1"),
            case_seed(1, "natural_01_kernel1")
        );
        assert_eq!(
            case_seed(3, "text_02_kernel4"),
            case_seed(3, "text_02_kernel4")
        );
    }

    #[test]
    fn observation_is_quantised_and_blurred() {
        let device = deblur_core::default_device();
        // a vertical step edge blurred by a horizontal 3-tap box, no noise
        let sharp = Array2::from_shape_fn((8, 8), |(_, c)| if c < 4 { 0.0 } else { 1.0 });
        let mut k = Array2::<f32>::zeros((3, 3));
        k.row_mut(1).fill(1.0 / 3.0);
        let y = synthesize_observation(&sharp, &Kernel::new(k).unwrap(), 0.0, 0, &device).unwrap();
        // hand-computed: columns 3 and 4 see one third and two thirds of the step, quantised
        assert_eq!(y[[2, 3]], (255.0f32 / 3.0).round() / 255.0);
        assert_eq!(y[[2, 4]], (2.0 * 255.0f32 / 3.0).round() / 255.0);
        assert_eq!(y[[2, 0]], 0.0);
        assert_eq!(y[[2, 7]], 1.0);
        assert!(
            y.iter()
                .all(|v| ((v * 255.0).round() - v * 255.0).abs() < 1e-4)
        );
    }
}
