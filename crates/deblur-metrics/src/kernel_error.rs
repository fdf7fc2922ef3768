//! Kernel error: MSE and PSNR between an estimated and a reference kernel after centring, so that
//! a kernel that is right but translated (blind deblurring cannot fix the translation) is not
//! penalised.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translated_kernel_has_zero_error_and_delta_has_a_known_one() {
        let mut v = Array2::zeros((9, 9));
        v[[2, 3]] = 1.0;
        v[[3, 3]] = 1.0;
        v[[3, 4]] = 2.0;
        let k = Kernel::new(v).unwrap();
        let moved = k.shift([2, 1]).unwrap();
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
}
