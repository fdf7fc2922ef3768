//! Resampling of images and kernels between the levels of a coarse-to-fine pyramid, and a noise
//! estimate for blurred photos.
//!
//! - [`resize_area`]: shrinks an image by averaging the input area each output pixel covers
//!   (exact box integration, separable), so downscaling also averages the noise down.
//! - [`rescale_kernel`]: maps a kernel estimated at one scale to another by bilinear sampling
//!   about the kernel centre `(K-1)/2`, clipped to non-negative values and renormalised.
//! - [`estimate_noise_std`]: the median absolute deviation of the finest diagonal Haar wavelet
//!   band divided by 0.6745 (Donoho & Johnstone 1994, "Ideal spatial adaptation by wavelet
//!   shrinkage"); blur removes most image content from that band, so on a blurred photo it sees
//!   the noise.

use ndarray::{Array2, ArrayView2};

use crate::{Error, Kernel, Result};

/// The weights of an `n_in → n_out` area resampling: row `o` holds the overlap of output pixel
/// `o` (the input interval `[o·n_in/n_out, (o+1)·n_in/n_out)`) with each input pixel, divided by
/// the interval's length.
fn area_weights(n_in: usize, n_out: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|o| {
            let (a, b) = (o as f64 * scale, (o + 1) as f64 * scale);
            let mut row = Vec::new();
            let mut i = a.floor() as usize;
            while (i as f64) < b && i < n_in {
                let overlap = (b.min(i as f64 + 1.0) - a.max(i as f64)).max(0.0);
                if overlap > 0.0 {
                    row.push((i, (overlap / scale) as f32));
                }
                i += 1;
            }
            row
        })
        .collect()
}

/// Resizes `image` (`[h, w]`) to `size` (`[rows, cols]`, each at most the input's) by area
/// averaging. A constant image stays constant; halving averages 2×2 blocks.
///
/// # Errors
/// [`Error::InvalidParameter`] for an empty output or one larger than the input.
pub fn resize_area(image: ArrayView2<f32>, size: [usize; 2]) -> Result<Array2<f32>> {
    let (h, w) = image.dim();
    let [oh, ow] = size;
    if oh == 0 || ow == 0 || oh > h || ow > w {
        return Err(Error::invalid(
            "resize",
            format!("area resizing shrinks: {h}x{w} cannot become {oh}x{ow}"),
        ));
    }
    let (wy, wx) = (area_weights(h, oh), area_weights(w, ow));
    // columns first: [h, ow]
    let mut cols = Array2::<f32>::zeros((h, ow));
    for r in 0..h {
        for (o, weights) in wx.iter().enumerate() {
            cols[[r, o]] = weights.iter().map(|&(i, a)| a * image[[r, i]]).sum();
        }
    }
    let mut out = Array2::<f32>::zeros((oh, ow));
    for (o, weights) in wy.iter().enumerate() {
        for &(i, a) in weights {
            let row = cols.row(i);
            let mut dst = out.row_mut(o);
            dst.scaled_add(a, &row);
        }
    }
    Ok(out)
}

/// Bilinear sample of `k` at real coordinates, 0 outside.
fn sample(k: &Array2<f32>, y: f64, x: f64) -> f32 {
    let (h, w) = k.dim();
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = ((y - y0) as f32, (x - x0) as f32);
    let at = |r: f64, c: f64| -> f32 {
        if r < 0.0 || c < 0.0 || r >= h as f64 || c >= w as f64 {
            0.0
        } else {
            k[[r as usize, c as usize]]
        }
    };
    let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1.0) * fx;
    let bottom = at(y0 + 1.0, x0) * (1.0 - fx) + at(y0 + 1.0, x0 + 1.0) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// The kernel `kernel` (estimated on an image resized by `1/factor`) at the full scale, on a
/// `size` canvas: `out[i, j] = kernel((K−1)/2 + (i − (S−1)/2) / factor, …)` bilinearly, negative
/// values clipped, renormalised to sum 1. Sampling an upscaled kernel spreads each coarse tap over
/// `factor²` fine taps, so the result is as smooth as the coarse estimate allows.
///
/// # Errors
/// [`Error::InvalidParameter`] for a non-positive factor or an empty canvas; the kernel's own
/// validation when nothing of it lands on the canvas.
pub fn rescale_kernel(kernel: &Kernel, factor: f64, size: [usize; 2]) -> Result<Kernel> {
    if !(factor.is_finite() && factor > 0.0) || size[0] == 0 || size[1] == 0 {
        return Err(Error::invalid(
            "kernel rescale",
            format!("factor {factor} must be > 0 and the canvas {size:?} non-empty"),
        ));
    }
    let k = kernel.values();
    let (kh, kw) = k.dim();
    let (cy, cx) = (((kh - 1) / 2) as f64, ((kw - 1) / 2) as f64);
    let (oy, ox) = (((size[0] - 1) / 2) as f64, ((size[1] - 1) / 2) as f64);
    let out = Array2::from_shape_fn((size[0], size[1]), |(i, j)| {
        sample(
            k,
            cy + (i as f64 - oy) / factor,
            cx + (j as f64 - ox) / factor,
        )
        .max(0.0)
    });
    Kernel::new(out)
}

/// `values` convolved with a normalised Gaussian of `sigma` px truncated at 3σ, zero outside the
/// array (for small host arrays such as kernels: separable, direct). `sigma ≤ 0` returns a copy.
pub fn gaussian_smooth_zero(values: &Array2<f32>, sigma: f64) -> Array2<f32> {
    if sigma.is_nan() || sigma <= 0.0 {
        return values.clone();
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let taps: Vec<f64> = (-radius..=radius)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = taps.iter().sum();
    let taps: Vec<f32> = taps.iter().map(|t| (t / total) as f32).collect();
    let (h, w) = values.dim();
    let pass = |input: &Array2<f32>, along_rows: bool| {
        Array2::from_shape_fn((h, w), |(y, x)| {
            let mut sum = 0f32;
            for (i, &t) in taps.iter().enumerate() {
                let o = i as isize - radius;
                let (sy, sx) = if along_rows {
                    (y as isize + o, x as isize)
                } else {
                    (y as isize, x as isize + o)
                };
                if sy >= 0 && sx >= 0 && (sy as usize) < h && (sx as usize) < w {
                    sum += t * input[[sy as usize, sx as usize]];
                }
            }
            sum
        })
    };
    pass(&pass(values, true), false)
}

/// Noise standard deviation of `image` (`[h, w]`, values in [0, 1]) from the finest diagonal Haar
/// band: `median(|HH|) / 0.6745` with `HH = (a − b − c + d) / 2` over the 2×2 blocks.
///
/// On an image quantised to 8 bits (every value a multiple of 1/255, as a grey PNG or JPEG is
/// loaded) `|HH|` takes only multiples of 1/510, and at the noise levels of photos the plain
/// median falls on one of a few such steps: at σ = 0.01 it reads 0.0087 or 0.0116 depending on
/// which side of a step the true median lies. There the median is interpolated within its step
/// (the grouped median of a histogram: each integer `t = |a − b − c + d|` in units of 1/255 stands
/// for the interval `[t − ½, t + ½]`, `[0, ½]` for 0), which estimates the noise the image carries,
/// quantisation included, without the steps.
///
/// # Errors
/// [`Error::InvalidParameter`] for an image smaller than 2×2.
pub fn estimate_noise_std(image: ArrayView2<f32>) -> Result<f64> {
    let (h, w) = image.dim();
    if h < 2 || w < 2 {
        return Err(Error::invalid(
            "noise estimate",
            format!("needs at least a 2x2 image, got {h}x{w}"),
        ));
    }
    let mut band: Vec<f32> = Vec::with_capacity((h / 2) * (w / 2));
    for r in (0..h - 1).step_by(2) {
        for c in (0..w - 1).step_by(2) {
            let d = image[[r, c]] - image[[r, c + 1]] - image[[r + 1, c]] + image[[r + 1, c + 1]];
            band.push((d / 2.0).abs());
        }
    }
    let median = if image.iter().all(|&v| on_8bit_grid(v)) {
        grouped_median_8bit(&band)
    } else {
        let mid = band.len() / 2;
        let (_, median, _) = band.select_nth_unstable_by(mid, f32::total_cmp);
        f64::from(*median)
    };
    Ok(median / 0.6745)
}

/// Levels of the 8-bit quantisation [`estimate_noise_std`] recognises.
const EIGHT_BIT: f32 = 255.0;

/// Whether `v` is a multiple of 1/255 in [0, 1] (up to `f32` rounding).
fn on_8bit_grid(v: f32) -> bool {
    let level = v * EIGHT_BIT;
    (-1e-3..=EIGHT_BIT + 1e-3).contains(&level) && (level - level.round()).abs() < 1e-3
}

/// The grouped median of a band of `|HH|` values of an 8-bit image, each `t / 510` for an
/// integer `t = |a − b − c + d|` in levels: see [`estimate_noise_std`].
fn grouped_median_8bit(band: &[f32]) -> f64 {
    let steps = 2.0 * f64::from(EIGHT_BIT);
    let mut counts = vec![0u64; steps as usize + 1];
    for &v in band {
        // exact up to the f32 rounding of the four values, far below half a step
        counts[((f64::from(v) * steps).round() as usize).min(steps as usize)] += 1;
    }
    let half = band.len() as f64 / 2.0;
    let mut below = 0u64;
    for (t, &n) in counts.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= half {
            // t stands for the interval [t − ½, t + ½] of the unrounded value, [0, ½] for 0
            let (lower, width) = if t == 0 {
                (0.0, 0.5)
            } else {
                (t as f64 - 0.5, 1.0)
            };
            return (lower + width * (half - below as f64) / n as f64) / steps;
        }
        below += n;
    }
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn gaussian_smoothing_of_a_delta_by_hand() {
        // σ = 1: taps e^{−i²/2}, i = −3..3, sum 1 + 2(0.606531 + 0.135335 + 0.011109) = 2.505949;
        // a centred delta becomes the outer product, (1 / 2.505949)² = 0.159241 at the centre
        let mut delta = Array2::<f32>::zeros((9, 9));
        delta[[4, 4]] = 1.0;
        let g = gaussian_smooth_zero(&delta, 1.0);
        assert!((g[[4, 4]] - 0.159_241).abs() < 1e-5, "{}", g[[4, 4]]);
        assert!((g[[4, 5]] - 0.159_241 * 0.606_531).abs() < 1e-5);
        assert!((g.sum() - 1.0).abs() < 1e-5);
        assert_eq!(g[[0, 0]], 0.0, "3σ truncation: nothing 4 px away");
        // near the border mass is lost (zero outside), and σ = 0 is the identity
        let mut corner = Array2::<f32>::zeros((5, 5));
        corner[[0, 0]] = 1.0;
        assert!(gaussian_smooth_zero(&corner, 1.0).sum() < 0.5);
        assert_eq!(gaussian_smooth_zero(&corner, 0.0), corner);
    }
    use rand_distr::{Distribution, Normal};

    #[test]
    fn halving_averages_two_by_two_blocks() {
        let img = Array2::from_shape_fn((4, 6), |(r, c)| (r * 6 + c) as f32);
        let out = resize_area(img.view(), [2, 3]).unwrap();
        // hand-computed: block (0,0) = (0 + 1 + 6 + 7) / 4 = 3.5, block (1,2) = (16+17+22+23)/4
        assert_eq!(out.dim(), (2, 3));
        assert!((out[[0, 0]] - 3.5).abs() < 1e-5);
        assert!((out[[1, 2]] - 19.5).abs() < 1e-5);
    }

    #[test]
    fn area_resize_keeps_constants_and_means() {
        let img = Array2::from_elem((7, 10), 0.3f32);
        let out = resize_area(img.view(), [3, 4]).unwrap();
        assert!(out.iter().all(|&v| (v - 0.3).abs() < 1e-6));
        // the weights of every output pixel sum to 1 and cover the input once in total
        let w = area_weights(10, 4);
        let total: f32 = w.iter().flatten().map(|&(_, a)| a).sum();
        assert!((total - 4.0).abs() < 1e-5);
        assert!(resize_area(img.view(), [8, 4]).is_err());
    }

    #[test]
    fn rescaled_kernel_scales_its_spread() {
        // a horizontal 3-tap line, doubled: taps at -2..2 around the centre with a tent profile
        let mut k = Array2::<f32>::zeros((5, 5));
        for c in 1..4 {
            k[[2, c]] = 1.0;
        }
        let up = rescale_kernel(&Kernel::new(k).unwrap(), 2.0, [9, 9]).unwrap();
        let v = up.values();
        assert!((v.sum() - 1.0).abs() < 1e-5);
        // hand-computed: the centre row samples the line at x = 2 + (j − 4)/2, so columns 2..=6
        // are full taps, 1 and 7 half taps; rows 3 and 5 sample halfway to an empty row
        let row: Vec<f32> = v.row(4).to_vec();
        assert!((v[[3, 4]] - row[4] / 2.0).abs() < 1e-6 && v[[2, 4]] == 0.0);
        assert!(row[4] > 0.0 && (row[2] - row[4]).abs() < 1e-6 && (row[6] - row[4]).abs() < 1e-6);
        assert!((row[1] - row[4] / 2.0).abs() < 1e-6 && row[0] == 0.0);
        // a rescale by 1 on the same canvas is the identity
        let same = rescale_kernel(&up, 1.0, [9, 9]).unwrap();
        assert!(
            same.values()
                .iter()
                .zip(v)
                .all(|(a, b)| (a - b).abs() < 1e-6)
        );
    }

    #[test]
    fn noise_estimate_recovers_the_std_of_white_noise() {
        let mut rng = StdRng::seed_from_u64(5);
        let normal = Normal::new(0.0f32, 0.01).unwrap();
        // a smooth ramp (invisible to the diagonal band) plus σ = 0.01 noise
        let img = Array2::from_shape_fn((256, 256), |(r, c)| {
            0.2 + 0.002 * (r + c) as f32 + normal.sample(&mut rng)
        });
        let sigma = estimate_noise_std(img.view()).unwrap();
        assert!((sigma - 0.01).abs() < 0.0008, "estimated {sigma}");
        assert!(estimate_noise_std(Array2::<f32>::zeros((1, 5)).view()).is_err());
    }

    #[test]
    fn quantised_noise_estimate_interpolates_the_median_within_its_step() {
        // four 2×2 blocks whose |a − b − c + d| is 2, 3, 3, 3 levels of 1/255: half of the
        // 4 values lies below 2.5 + (2 − 1) / 3 in the grouped histogram (one value in [1.5, 2.5),
        // three spread over [2.5, 3.5)), so |HH| = 2.8333 / 510 and σ = that / 0.6745
        let top = [2.0f32, 0.0, 3.0, 0.0, 3.0, 0.0, 3.0, 0.0];
        let img = Array2::from_shape_fn((2, 8), |(r, c)| if r == 0 { top[c] / 255.0 } else { 0.0 });
        let expected = (2.5 + 1.0 / 3.0) / 510.0 / 0.6745;
        let sigma = estimate_noise_std(img.view()).unwrap();
        assert!((sigma - expected).abs() < 1e-9, "{sigma} vs {expected}");
        // off the 8-bit grid the plain median is taken: the third smallest of 2, 3, 3, 3 (× 1/510)
        let img = img.mapv(|v| v * 1.01);
        let plain = estimate_noise_std(img.view()).unwrap();
        assert!(
            (plain - 3.0 * 1.01 / 510.0 / 0.6745).abs() < 1e-7,
            "{plain}"
        );
    }

    #[test]
    fn noise_estimate_of_an_8_bit_image_has_no_steps() {
        // a smooth ramp plus σ noise, quantised to 8 bits as a PNG stores it: the image then
        // carries σ² plus the rounding's (1/255)²/12. The plain median of |HH| sits on a multiple
        // of 1/510 and read 0.0087 or 0.0116 at σ = 0.01 (−13 % / +16 %).
        for (seed, sigma) in [(1u64, 0.005f32), (2, 0.01), (3, 0.013), (4, 0.02)] {
            let mut rng = StdRng::seed_from_u64(seed);
            let normal = Normal::new(0.0f32, sigma).unwrap();
            let img = Array2::from_shape_fn((512, 512), |(r, c)| {
                let v = 0.3 + 0.0005 * (r + c) as f32 + normal.sample(&mut rng);
                (v.clamp(0.0, 1.0) * 255.0).round() / 255.0
            });
            let carried = (f64::from(sigma).powi(2) + (1.0f64 / 255.0).powi(2) / 12.0).sqrt();
            let estimate = estimate_noise_std(img.view()).unwrap();
            assert!(
                (estimate / carried - 1.0).abs() < 0.03,
                "σ {sigma}: estimated {estimate}, carried {carried}"
            );
        }
    }
}
