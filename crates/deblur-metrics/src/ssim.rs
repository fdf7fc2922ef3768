//! Structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004, "Image quality assessment: from
//! error visibility to structural similarity"), as in Wang's reference `ssim.m`: an 11×11 Gaussian
//! window (σ = 1.5) normalised to sum 1, `C1 = (K1 L)²`, `C2 = (K2 L)²` with K1 = 0.01, K2 = 0.03,
//! and the mean of the SSIM map.

use ndarray::{Array2, ArrayView2, s};

/// How the windowed moments are filtered at the border.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SsimFiltering {
    /// Only positions where the window fits (MATLAB `filter2(…, 'valid')`, as `ssim.m`;
    /// equal to scikit-image's result, which crops the window radius).
    #[default]
    Valid,
    /// Output of input size with zero padding (`filter2(…, 'same')`).
    Same,
}

/// Settings of [`ssim()`]; `Default` is Wang's `ssim.m` without down-sampling, data range 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SsimOptions {
    /// Dynamic range L of the pixel values. Default: 1.0 (images in `[0, 1]`).
    pub data_range: f64,
    /// Window side. Default: 11.
    pub window: usize,
    /// Gaussian standard deviation in pixels. Default: 1.5.
    pub sigma_px: f64,
    /// K1. Default: 0.01.
    pub k1: f64,
    /// K2. Default: 0.03.
    pub k2: f64,
    /// Border handling. Default: valid.
    pub filtering: SsimFiltering,
    /// Wang's automatic down-sampling: `f = max(1, round(min(h, w) / 256))`, an f×f box filter with
    /// symmetric padding, then every f-th pixel. Default: false.
    pub downsample: bool,
}

impl Default for SsimOptions {
    fn default() -> Self {
        SsimOptions {
            data_range: 1.0,
            window: 11,
            sigma_px: 1.5,
            k1: 0.01,
            k2: 0.03,
            filtering: SsimFiltering::Valid,
            downsample: false,
        }
    }
}

/// 1-D Gaussian of `size` taps centred at `(size − 1) / 2`, normalised to sum 1.
pub(crate) fn gaussian_1d(size: usize, sigma: f64) -> Vec<f64> {
    let c = (size as f64 - 1.0) / 2.0;
    let g: Vec<f64> = (0..size)
        .map(|i| (-(i as f64 - c).powi(2) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f64 = g.iter().sum();
    g.into_iter().map(|v| v / sum).collect()
}

/// Separable correlation with `g` along both axes; valid or zero-padded same.
fn filter(img: &Array2<f64>, g: &[f64], filtering: SsimFiltering) -> Array2<f64> {
    let k = g.len();
    let src = match filtering {
        SsimFiltering::Valid => img.clone(),
        SsimFiltering::Same => {
            let (h, w) = img.dim();
            let before = (k - 1) / 2;
            let mut p = Array2::zeros((h + k - 1, w + k - 1));
            p.slice_mut(s![before..before + h, before..before + w])
                .assign(img);
            p
        }
    };
    let (h, w) = src.dim();
    let (oh, ow) = (h + 1 - k, w + 1 - k);
    let mut rows = Array2::<f64>::zeros((h, ow));
    for y in 0..h {
        for x in 0..ow {
            rows[[y, x]] = (0..k).map(|u| src[[y, x + u]] * g[u]).sum();
        }
    }
    let mut out = Array2::<f64>::zeros((oh, ow));
    for y in 0..oh {
        for x in 0..ow {
            out[[y, x]] = (0..k).map(|u| rows[[y + u, x]] * g[u]).sum();
        }
    }
    out
}

/// Wang's down-sampling step: f×f mean filter with symmetric padding, then every f-th pixel.
fn downsample(img: &Array2<f64>, f: usize) -> Array2<f64> {
    let (h, w) = img.dim();
    let c = (f - 1) / 2; // MATLAB imfilter's centre for an f×f filter
    let sym = |i: isize, n: usize| -> usize {
        let n = n as isize;
        let m = i.rem_euclid(2 * n);
        (if m >= n { 2 * n - 1 - m } else { m }) as usize
    };
    let (oh, ow) = (h.div_ceil(f), w.div_ceil(f));
    Array2::from_shape_fn((oh, ow), |(oy, ox)| {
        let (y, x) = ((oy * f) as isize, (ox * f) as isize);
        let mut sum = 0.0;
        for u in 0..f as isize {
            for v in 0..f as isize {
                sum += img[[sym(y + u - c as isize, h), sym(x + v - c as isize, w)]];
            }
        }
        sum / (f * f) as f64
    })
}

/// Mean SSIM of two gray images of the same size.
///
/// # Panics
/// If the shapes differ, or an image is smaller than the window in `Valid` mode.
#[must_use]
pub fn ssim(a: ArrayView2<f32>, b: ArrayView2<f32>, options: &SsimOptions) -> f64 {
    assert_eq!(a.dim(), b.dim(), "ssim: shapes differ");
    let mut x = a.mapv(f64::from);
    let mut y = b.mapv(f64::from);
    if options.downsample {
        let (h, w) = x.dim();
        let f = ((h.min(w) as f64 / 256.0).round() as usize).max(1);
        if f > 1 {
            x = downsample(&x, f);
            y = downsample(&y, f);
        }
    }
    let (h, w) = x.dim();
    assert!(
        options.filtering == SsimFiltering::Same || (h >= options.window && w >= options.window),
        "ssim: image {h}x{w} smaller than the {} px window",
        options.window
    );
    let g = gaussian_1d(options.window, options.sigma_px);
    let c1 = (options.k1 * options.data_range).powi(2);
    let c2 = (options.k2 * options.data_range).powi(2);
    let f = |m: &Array2<f64>| filter(m, &g, options.filtering);
    let mu_x = f(&x);
    let mu_y = f(&y);
    let xx = f(&(&x * &x));
    let yy = f(&(&y * &y));
    let xy = f(&(&x * &y));
    let mut total = 0.0;
    for (((&mx, &my), (&sxx, &syy)), &sxy) in
        mu_x.iter().zip(&mu_y).zip(xx.iter().zip(&yy)).zip(&xy)
    {
        let (vx, vy, cov) = (sxx - mx * mx, syy - my * my, sxy - mx * my);
        total +=
            ((2.0 * mx * my + c1) * (2.0 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
    }
    total / mu_x.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_score_one_and_window_sums_to_one() {
        let a = Array2::from_shape_fn((20, 24), |(y, x)| ((y * 3 + x * 7) % 11) as f32 / 10.0);
        assert!((ssim(a.view(), a.view(), &SsimOptions::default()) - 1.0).abs() < 1e-12);
        let g = gaussian_1d(11, 1.5);
        assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // exp(−25 / 4.5) relative weight at the window edge
        assert!((g[0] / g[5] - (-25.0f64 / 4.5).exp()).abs() < 1e-12);
    }

    #[test]
    fn constant_images_follow_the_luminance_term() {
        // hand-computed: constant a = 0.5, b = 0.25 → variances 0, so
        // SSIM = (2·0.5·0.25 + C1)(C2) / ((0.25 + 0.0625 + C1)(C2)) = (0.25 + 1e-4) / (0.3125 + 1e-4)
        let a = Array2::from_elem((16, 16), 0.5f32);
        let b = Array2::from_elem((16, 16), 0.25f32);
        let expected = (0.25 + 1e-4) / (0.3125 + 1e-4);
        assert!((ssim(a.view(), b.view(), &SsimOptions::default()) - expected).abs() < 1e-9);
    }

    #[test]
    fn downsampling_factor_two_averages_blocks() {
        // 2×2 box filter (centre 0) with symmetric padding, then stride 2: block means.
        let img = Array2::from_shape_fn((4, 4), |(y, x)| (y * 4 + x) as f64);
        let d = downsample(&img, 2);
        assert_eq!(d.dim(), (2, 2));
        assert_eq!(d[[0, 0]], (0.0 + 1.0 + 4.0 + 5.0) / 4.0);
        assert_eq!(d[[1, 1]], (10.0 + 11.0 + 14.0 + 15.0) / 4.0);
    }
}
