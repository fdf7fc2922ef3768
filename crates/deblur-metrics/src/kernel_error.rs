//! Kernel error: MSE and PSNR between an estimated and a reference kernel after centring, so that
//! a kernel that is right but translated (blind deblurring cannot fix the translation) is not
//! penalised.

use deblur_core::resample::gaussian_smooth_zero;
use deblur_core::{Kernel, Result};
use ndarray::Array2;

/// The result of [`kernel_error`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelError {
    /// Mean squared error per pixel of the common canvas (kernels summing to 1).
    pub mse: f64,
    /// `10 log10(max(reference)² / mse)`.
    pub psnr: f64,
    /// Whole-pixel shift `[rows, cols]` applied to the centred estimate that gave the least error.
    pub shift: [isize; 2],
}

/// Compares `estimate` with `reference`: both are placed on a common canvas (the larger of the two
/// sizes in each axis, centres aligned), recentred on their centres of mass, and the estimate is
/// further moved by up to `max_shift` whole pixels to minimise the MSE.
///
/// # Errors
/// Only kernel-geometry errors from `deblur-core`, which cannot happen for valid kernels.
pub fn kernel_error(
    estimate: &Kernel,
    reference: &Kernel,
    max_shift: usize,
) -> Result<KernelError> {
    let [eh, ew] = estimate.size();
    let [rh, rw] = reference.size();
    let canvas = [eh.max(rh), ew.max(rw)];
    let est = estimate.resize_canvas(canvas)?.recentre()?;
    let refk = reference.resize_canvas(canvas)?.recentre()?;
    let peak = f64::from(refk.values().iter().fold(0f32, |m, &v| m.max(v)));
    let mut best = KernelError {
        mse: f64::INFINITY,
        psnr: 0.0,
        shift: [0, 0],
    };
    let m = max_shift as isize;
    for dy in -m..=m {
        for dx in -m..=m {
            let moved: Array2<f32> = shifted(est.values(), [dy, dx]);
            let mse = crate::mse(moved.view(), refk.values().view());
            if mse < best.mse {
                best = KernelError {
                    mse,
                    psnr: 10.0 * (peak * peak / mse).log10(),
                    shift: [dy, dx],
                };
            }
        }
    }
    Ok(best)
}

fn shifted(values: &Array2<f32>, shift: [isize; 2]) -> Array2<f32> {
    let (h, w) = values.dim();
    Array2::from_shape_fn((h, w), |(y, x)| {
        let (sy, sx) = (y as isize - shift[0], x as isize - shift[1]);
        if sy >= 0 && sx >= 0 && (sy as usize) < h && (sx as usize) < w {
            values[[sy as usize, sx as usize]]
        } else {
            0.0
        }
    })
}

/// Similarity of two kernels that may differ by a translation: both are placed on a common
/// canvas and recentred, each is smoothed by a 3σ-truncated Gaussian of `sigma` px (so that two
/// estimates of one motion path that run a pixel apart still overlap; 0: no smoothing), and the
/// largest normalised inner product `⟨a, shift(b)⟩ / (‖a‖ ‖b‖)` over whole-pixel shifts of up to
/// `max_shift` is returned. 1 for kernels equal up to a shift; for non-negative kernels with
/// disjoint supports (after smoothing) 0.
///
/// # Errors
/// Only kernel-geometry errors from `deblur-core`, which cannot happen for valid kernels.
pub fn kernel_similarity(a: &Kernel, b: &Kernel, sigma: f64, max_shift: usize) -> Result<f64> {
    let [ah, aw] = a.size();
    let [bh, bw] = b.size();
    let canvas = [ah.max(bh), aw.max(bw)];
    let a = gaussian_smooth_zero(a.resize_canvas(canvas)?.recentre()?.values(), sigma);
    let b = gaussian_smooth_zero(b.resize_canvas(canvas)?.recentre()?.values(), sigma);
    let norm = |v: &Array2<f32>| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let scale = norm(&a) * norm(&b);
    if scale <= 0.0 {
        return Ok(0.0);
    }
    let m = max_shift as isize;
    let mut best = f64::NEG_INFINITY;
    for dy in -m..=m {
        for dx in -m..=m {
            let moved = shifted(&b, [dy, dx]);
            let dot: f64 = a
                .iter()
                .zip(moved.iter())
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum();
            best = best.max(dot / scale);
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three taps on a 9² canvas, and the same kernel moved by (2, 1).
    fn three_taps_and_moved() -> (Kernel, Kernel) {
        let mut v = Array2::zeros((9, 9));
        v[[2, 3]] = 1.0;
        v[[3, 3]] = 1.0;
        v[[3, 4]] = 2.0;
        let k = Kernel::new(v).unwrap();
        let moved = k.shift([2, 1]).unwrap();
        (k, moved)
    }

    #[test]
    fn translated_kernel_has_zero_error_and_delta_has_a_known_one() {
        let (k, moved) = three_taps_and_moved();
        let e = kernel_error(&moved, &k, 2).unwrap();
        assert!(e.mse < 1e-12, "{e:?}");
        // delta vs a two-tap kernel [0.5, 0.5]: best alignment puts the delta on one tap:
        // squared errors 0.5² + 0.5² over 9 pixels → MSE 0.5 / 9
        let mut two = Array2::zeros((3, 3));
        two[[1, 1]] = 1.0;
        two[[1, 2]] = 1.0;
        let e = kernel_error(
            &Kernel::delta([3, 3]).unwrap(),
            &Kernel::new(two).unwrap(),
            1,
        )
        .unwrap();
        assert!((e.mse - 0.5 / 9.0).abs() < 1e-9, "{e:?}");
    }

    #[test]
    fn similarity_is_one_up_to_a_shift_and_known_for_a_delta() {
        let (k, moved) = three_taps_and_moved();
        for sigma in [0.0, 1.0] {
            let s = kernel_similarity(&moved, &k, sigma, 2).unwrap();
            assert!((s - 1.0).abs() < 1e-6, "σ {sigma}: {s}");
        }
        // a delta against two taps of ½: ⟨δ, shift(k)⟩ = ½ at best, ‖δ‖ = 1, ‖k‖ = √½ → 1/√2
        let mut two = Array2::zeros((3, 3));
        two[[1, 1]] = 1.0;
        two[[1, 2]] = 1.0;
        let two = Kernel::new(two).unwrap();
        let s = kernel_similarity(&Kernel::delta([3, 3]).unwrap(), &two, 0.0, 1).unwrap();
        assert!((s - 0.5f64.sqrt()).abs() < 1e-6, "{s}");
        // a horizontal and a vertical line of 7 taps share one tap at best: 1/7 unsmoothed
        let mut h = Array2::zeros((7, 7));
        h.row_mut(3).fill(1.0);
        let v = h.t().to_owned();
        let (h, v) = (Kernel::new(h).unwrap(), Kernel::new(v).unwrap());
        let s = kernel_similarity(&h, &v, 0.0, 3).unwrap();
        assert!((s - 1.0 / 7.0).abs() < 1e-6, "{s}");
    }
}
