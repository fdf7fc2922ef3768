//! Summary statistics of a kernel bank, for `deblur kernels stats`.

use deblur_core::Kernel;
use serde::Serialize;

/// Min, mean and max of one quantity over a bank, with its 10th and 90th percentiles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    /// Smallest value.
    pub min: f64,
    /// 10th percentile.
    pub p10: f64,
    /// Mean.
    pub mean: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        values.sort_by(f64::total_cmp);
        let pick = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Spread {
            min: values[0],
            p10: pick(0.1),
            mean: values.iter().sum::<f64>() / values.len() as f64,
            p90: pick(0.9),
            max: values[values.len() - 1],
        }
    }
}

/// Statistics of a bank.
#[derive(Clone, Debug, Serialize)]
pub struct BankStats {
    /// Number of kernels.
    pub count: usize,
    /// Kernel side `[h, w]` (of the first kernel).
    pub size: [usize; 2],
    /// Pixels holding at least 1% of the kernel's maximum.
    pub support_px: Spread,
    /// Side of the bounding box of that support (the larger of height and width).
    pub extent_px: Spread,
    /// Fraction of pixels below 1% of the maximum.
    pub sparsity: Spread,
    /// Length of the kernel along its principal axis, `√(12 λ₁)` with λ₁ the largest eigenvalue of
    /// its second-moment matrix (the length of a uniform line segment with that spread).
    pub principal_length_px: Spread,
}

/// The number of taps of `kernel` holding at least `fraction` of its largest tap, and the side
/// of their bounding box (the larger of height and width; 0 for an all-zero kernel).
pub fn support_box(kernel: &Kernel, fraction: f32) -> (usize, usize) {
    let v = kernel.values();
    let threshold = fraction * v.iter().fold(0f32, |m, &x| m.max(x));
    let (mut n, mut r0, mut r1, mut c0, mut c1) = (0usize, usize::MAX, 0, usize::MAX, 0);
    for ((r, c), &x) in v.indexed_iter() {
        if x >= threshold && x > 0.0 {
            n += 1;
            (r0, r1, c0, c1) = (r0.min(r), r1.max(r), c0.min(c), c1.max(c));
        }
    }
    let side = if n == 0 {
        0
    } else {
        (r1 - r0).max(c1 - c0) + 1
    };
    (n, side)
}

/// Computes [`BankStats`] for kernels (empty input gives zeros).
pub fn bank_stats(kernels: &[Kernel]) -> BankStats {
    let mut support = Vec::new();
    let mut extent = Vec::new();
    let mut sparsity = Vec::new();
    let mut length = Vec::new();
    for k in kernels {
        let v = k.values();
        let (n, side) = support_box(k, 0.01);
        support.push(n as f64);
        extent.push(side as f64);
        sparsity.push(1.0 - n as f64 / v.len() as f64);
        let [cr, cc] = k.centre_of_mass().map(f64::from);
        let (mut srr, mut scc, mut src) = (0.0, 0.0, 0.0);
        for ((r, c), &x) in v.indexed_iter() {
            let (dr, dc, w) = (r as f64 - cr, c as f64 - cc, f64::from(x));
            srr += w * dr * dr;
            scc += w * dc * dc;
            src += w * dr * dc;
        }
        let tr = srr + scc;
        let det = srr * scc - src * src;
        let lambda = tr / 2.0 + ((tr * tr / 4.0 - det).max(0.0)).sqrt();
        length.push((12.0 * lambda).sqrt());
    }
    BankStats {
        count: kernels.len(),
        size: kernels.first().map_or([0, 0], Kernel::size),
        support_px: Spread::of(support),
        extent_px: Spread::of(extent),
        sparsity: Spread::of(sparsity),
        principal_length_px: Spread::of(length),
    }
}

/// The average of `kernels` (all of one size), renormalised: the "mean kernel" a learned
/// initializer's predictions are compared with.
///
/// # Errors
/// [`crate::Error::EmptyBank`] for no kernels, [`crate::Error::KernelSizeMismatch`] for kernels
/// of different sizes.
pub fn mean_kernel(kernels: &[Kernel]) -> crate::Result<Kernel> {
    let Some(first) = kernels.first() else {
        return Err(crate::Error::EmptyBank);
    };
    let size = first.size();
    let mut sum = ndarray::Array2::<f64>::zeros((size[0], size[1]));
    for (i, kernel) in kernels.iter().enumerate() {
        if kernel.size() != size {
            return Err(crate::Error::KernelSizeMismatch {
                index: i,
                found: kernel.size(),
                expected: size,
            });
        }
        sum.zip_mut_with(kernel.values(), |s, &v| *s += f64::from(v));
    }
    Ok(Kernel::new(sum.mapv(|v| v as f32))?)
}

#[cfg(test)]
mod mean_tests {
    use super::*;

    #[test]
    fn the_mean_of_two_deltas_is_half_each() {
        let a = Kernel::delta([3, 3]).unwrap();
        let mut v = ndarray::Array2::<f32>::zeros((3, 3));
        v[[0, 0]] = 1.0;
        let b = Kernel::new(v).unwrap();
        let m = mean_kernel(&[a, b.clone()]).unwrap();
        assert_eq!(m.values()[[1, 1]], 0.5);
        assert_eq!(m.values()[[0, 0]], 0.5);
        assert_eq!(m.values().sum(), 1.0);
        assert!(mean_kernel(&[]).is_err());
        let wide = Kernel::delta([3, 5]).unwrap();
        assert!(
            mean_kernel(&[b, wide])
                .unwrap_err()
                .to_string()
                .contains("[3, 5]")
        );
    }
}
