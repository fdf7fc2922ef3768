//! Shift-compensated scoring by the Levin et al. 2009 / SelfDeblur protocol (\[Levin\]; the
//! `comp_upto_shift` script of SelfDeblur's `statistic/` folder). Blind deblurring cannot recover the absolute position of the image, so
//! the estimate is aligned to the ground truth before it is scored:
//!
//! 1. crop `crop` pixels (15) from every side of the ground truth;
//! 2. for every sub-pixel shift `(sx, sy)` in steps of `step` (0.25 px) within `±max_shift` (10 px),
//!    resample the estimate bilinearly at the cropped grid moved by the shift:
//!    `aligned[r, c] = estimate(r + crop + sy, c + crop + sx)`;
//! 3. keep the shift with the least sum of squared differences (ties: the first in MATLAB's
//!    column-major search order);
//! 4. score the aligned crop with PSNR and Wang's SSIM (valid filtering).
//!
//! A reported shift `(shift_x, shift_y)` means the estimate's content sits `shift` pixels to the
//! right/down of where the ground truth has it.

use ndarray::{Array2, ArrayView2, s};
use rayon::prelude::*;
use serde::Serialize;

use crate::{SsimOptions, psnr, ssim};
use deblur_core::{Error, Result};

/// Settings of [`shift_compensated_score`]. `Default` is the Levin/SelfDeblur protocol.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShiftOptions {
    /// Largest shift searched, in pixels, along each axis. Default: 10.
    pub max_shift: f64,
    /// Step of the shift search, in pixels. Default: 0.25.
    pub step: f64,
    /// Pixels cropped from every side of the ground truth. Must be ≥ `max_shift`. Default: 15.
    pub crop: usize,
    /// Data range for PSNR and SSIM. Default: 1.0 (images in `[0, 1]`).
    pub data_range: f64,
}

impl Default for ShiftOptions {
    fn default() -> Self {
        ShiftOptions {
            max_shift: 10.0,
            step: 0.25,
            crop: 15,
            data_range: 1.0,
        }
    }
}

impl ShiftOptions {
    /// The same options without a shift search (the estimate is only cropped).
    pub fn no_shift(self) -> Self {
        ShiftOptions {
            max_shift: 0.0,
            ..self
        }
    }
}

/// The result of [`shift_compensated_score`].
#[derive(Clone, Debug, Serialize)]
pub struct ShiftScore {
    /// PSNR in dB of the aligned crop.
    pub psnr: f64,
    /// SSIM of the aligned crop (Wang, valid filtering).
    pub ssim: f64,
    /// Horizontal shift found, in pixels.
    pub shift_x: f64,
    /// Vertical shift found, in pixels.
    pub shift_y: f64,
    /// Sum of squared differences at the chosen shift.
    pub ssd: f64,
    /// The aligned, cropped estimate.
    #[serde(skip)]
    pub aligned: Array2<f32>,
    /// The cropped ground truth it was compared with.
    #[serde(skip)]
    pub reference: Array2<f32>,
}

/// Horizontal pass of the bilinear resampling: `out[row, c] = est(row, c + c0 + fx)` for integer
/// `c0` and fraction `fx ∈ [0, 1)`, rows `r0 .. r0 + rows`.
fn resample_columns(
    est: ArrayView2<f32>,
    r0: usize,
    rows: usize,
    c0: usize,
    cols: usize,
    fx: f32,
) -> Array2<f32> {
    let w = est.ncols();
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        let x = c + c0;
        let left = est[[r + r0, x]];
        if fx == 0.0 {
            left
        } else {
            left * (1.0 - fx) + est[[r + r0, (x + 1).min(w - 1)]] * fx
        }
    })
}

/// Scores `estimate` against `reference` (same size, gray, values in `[0, data_range]`) after the
/// best sub-pixel alignment.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the sizes differ; [`Error::InvalidParameter`] if `crop < max_shift`,
/// the step is not positive, or the crop leaves less than an SSIM window (11 px).
pub fn shift_compensated_score(
    estimate: ArrayView2<f32>,
    reference: ArrayView2<f32>,
    options: &ShiftOptions,
) -> Result<ShiftScore> {
    if estimate.dim() != reference.dim() {
        return Err(Error::ShapeMismatch {
            what: "estimate and reference".into(),
            expected: vec![reference.nrows(), reference.ncols()],
            found: vec![estimate.nrows(), estimate.ncols()],
        });
    }
    if options.step.is_nan()
        || options.step <= 0.0
        || !options.step.is_finite()
        || !options.max_shift.is_finite()
        || options.max_shift < 0.0
    {
        return Err(Error::invalid(
            "shift step",
            "step must be finite and > 0, max_shift finite and ≥ 0",
        ));
    }
    if (options.crop as f64) < options.max_shift.ceil() {
        return Err(Error::invalid(
            "crop",
            format!(
                "crop ({}) must be at least max_shift ({})",
                options.crop, options.max_shift
            ),
        ));
    }
    let (h, w) = reference.dim();
    let crop = options.crop;
    // saturating: a crop near usize::MAX must be refused, not wrap around
    let needed = crop.saturating_mul(2).saturating_add(11);
    if h < needed || w < needed {
        return Err(Error::invalid(
            "crop",
            format!("a {h}x{w} image cropped by {crop} px leaves less than the 11 px SSIM window"),
        ));
    }
    let (ch, cw) = (h - 2 * crop, w - 2 * crop);
    let gt = reference
        .slice(s![crop..crop + ch, crop..crop + cw])
        .to_owned();
    let n_steps = (options.max_shift / options.step).floor() as i64;
    let shifts: Vec<f64> = (-n_steps..=n_steps)
        .map(|i| i as f64 * options.step)
        .collect();
    let split = |s: f64| -> (usize, f32) {
        let fl = s.floor();
        (((crop as f64) + fl) as usize, (s - fl) as f32)
    };
    let rows_needed = (crop as f64 - options.max_shift.ceil()) as usize;
    let row_span = ch + 2 * options.max_shift.ceil() as usize + 1;
    let row_span = row_span.min(h - rows_needed);
    // For each horizontal shift, resample the columns once; then search the vertical shifts.
    // ssd[(ix, iy)]: ix indexes shift_x, iy shift_y.
    let per_x: Vec<Vec<f64>> = shifts
        .par_iter()
        .map(|&sx| {
            let (c0, fx) = split(sx);
            let cols = resample_columns(estimate, rows_needed, row_span, c0, cw, fx);
            shifts
                .iter()
                .map(|&sy| {
                    let (r0, fy) = split(sy);
                    let r0 = r0 - rows_needed;
                    let mut ssd = 0f64;
                    for r in 0..ch {
                        let top = cols.row(r + r0);
                        let bottom = cols.row((r + r0 + 1).min(row_span - 1));
                        let truth = gt.row(r);
                        let mut acc = 0f32;
                        for c in 0..cw {
                            let v = if fy == 0.0 {
                                top[c]
                            } else {
                                top[c] * (1.0 - fy) + bottom[c] * fy
                            };
                            let d = v - truth[c];
                            acc += d * d;
                        }
                        ssd += f64::from(acc);
                    }
                    ssd
                })
                .collect()
        })
        .collect();
    // MATLAB's find on ssdem(i = x, j = y) scans column-major: y outer, x inner
    let (mut best, mut bx, mut by) = (f64::INFINITY, 0usize, 0usize);
    for iy in 0..shifts.len() {
        for (ix, row) in per_x.iter().enumerate() {
            if row[iy] < best {
                (best, bx, by) = (row[iy], ix, iy);
            }
        }
    }
    let (sx, sy) = (shifts[bx], shifts[by]);
    let aligned = resample(estimate, crop, ch, cw, sx, sy);
    let score = psnr(aligned.view(), gt.view(), options.data_range);
    let ssim_options = SsimOptions {
        data_range: options.data_range,
        ..SsimOptions::default()
    };
    let ssim_value = ssim(aligned.view(), gt.view(), &ssim_options);
    Ok(ShiftScore {
        psnr: score,
        ssim: ssim_value,
        shift_x: sx,
        shift_y: sy,
        ssd: best,
        aligned,
        reference: gt,
    })
}

/// `aligned[r, c] = est(r + crop + sy, c + crop + sx)` by bilinear interpolation.
fn resample(
    est: ArrayView2<f32>,
    crop: usize,
    ch: usize,
    cw: usize,
    sx: f64,
    sy: f64,
) -> Array2<f32> {
    let (h, w) = est.dim();
    Array2::from_shape_fn((ch, cw), |(r, c)| {
        let y = (r + crop) as f64 + sy;
        let x = (c + crop) as f64 + sx;
        let (y0, x0) = (y.floor(), x.floor());
        let (fy, fx) = ((y - y0) as f32, (x - x0) as f32);
        let (y0, x0) = (y0 as usize, x0 as usize);
        let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
        let top = est[[y0, x0]] * (1.0 - fx) + est[[y0, x1]] * fx;
        let bottom = est[[y1, x0]] * (1.0 - fx) + est[[y1, x1]] * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

/// Levin's error ratio `‖aligned − gt‖₂ / ‖aligned_true_kernel − gt‖₂`: the error of a blind
/// result over the error of non-blind deconvolution with the true kernel, both scored by
/// [`shift_compensated_score`] against the same ground truth. Below ~2–3 is considered a success.
#[must_use]
pub fn error_ratio(blind: &ShiftScore, true_kernel: &ShiftScore) -> f64 {
    (blind.ssd / true_kernel.ssd).sqrt()
}

/// [`shift_compensated_score`] for host images `[c, h, w]`: colour images (3 channels) are
/// compared on their luma, computed with MATLAB's `rgb2ycbcr` (BT.601 studio range) as in the Lai
/// benchmark scripts; gray images as they are.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the sizes differ or an image has neither 1 nor 3 channels, and
/// the errors of [`shift_compensated_score`].
pub fn score_images(
    estimate: &ndarray::Array3<f32>,
    reference: &ndarray::Array3<f32>,
    options: &ShiftOptions,
) -> Result<ShiftScore> {
    use deblur_core::color::{YCbCrStandard, luma};
    let (_, eh, ew) = estimate.dim();
    let (_, rh, rw) = reference.dim();
    if (eh, ew) != (rh, rw) {
        return Err(Error::ShapeMismatch {
            what: "estimate and reference".into(),
            expected: vec![rh, rw],
            found: vec![eh, ew],
        });
    }
    let est = luma(estimate, YCbCrStandard::Bt601Studio)?;
    let gt = luma(reference, YCbCrStandard::Bt601Studio)?;
    shift_compensated_score(est.view(), gt.view(), options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene(h: usize, w: usize) -> Array2<f32> {
        Array2::from_shape_fn((h, w), |(y, x)| {
            let (yf, xf) = (y as f32, x as f32);
            0.5 + 0.25 * (0.31 * xf + 0.17 * yf).sin() + 0.2 * (0.07 * xf * yf / 9.0).cos()
        })
    }

    #[test]
    fn whole_pixel_shift_is_found_exactly() {
        let gt = scene(80, 90);
        // estimate content moved 3 px right and 2 px up: est[y, x] = gt[y + 2, x − 3]
        let est = Array2::from_shape_fn((80, 90), |(y, x)| {
            gt[[(y + 2).min(79), x.saturating_sub(3)]]
        });
        let score =
            shift_compensated_score(est.view(), gt.view(), &ShiftOptions::default()).unwrap();
        assert_eq!((score.shift_x, score.shift_y), (3.0, -2.0));
        assert!(score.psnr.is_infinite() || score.psnr > 100.0);
        assert!((score.ssim - 1.0).abs() < 1e-9);
    }

    #[test]
    fn rejects_bad_settings() {
        let gt = scene(40, 40);
        let bad = ShiftOptions {
            crop: 5,
            ..ShiftOptions::default()
        };
        assert!(shift_compensated_score(gt.view(), gt.view(), &bad).is_err());
        let small = scene(30, 30);
        assert!(
            shift_compensated_score(small.view(), small.view(), &ShiftOptions::default()).is_err()
        );
        assert!(
            shift_compensated_score(gt.view(), small.view(), &ShiftOptions::default()).is_err()
        );
    }
}
