//! Parametric kernels: linear motion, (an)isotropic Gaussian, and disk (defocus). All are centred
//! on the kernel centre `(K − 1) / 2`.

use ndarray::Array2;

use crate::raster::{Sample, rasterise_centred};

/// Uniform linear motion of `length_px` pixels at `angle_deg` (counter-clockwise from the +x axis,
/// image y pointing down), rasterised with bilinear weights. Length 0 gives a delta.
///
/// Returns `None` if the segment does not fit in `size`.
pub fn linear_kernel(size: usize, length_px: f64, angle_deg: f64) -> Option<Array2<f32>> {
    let n = ((length_px * 8.0).ceil() as usize).max(1) + 1;
    let (c, s) = (angle_deg.to_radians().cos(), angle_deg.to_radians().sin());
    let samples: Vec<Sample> = (0..n)
        .map(|i| {
            let t = if n == 1 {
                0.0
            } else {
                (i as f64 / (n - 1) as f64 - 0.5) * length_px
            };
            (-t * s, t * c, 1.0)
        })
        .collect();
    rasterise_centred(&samples, size)
}

/// Anisotropic Gaussian with standard deviations `sigma_major_px` along `angle_deg` and
/// `sigma_minor_px` across it, sampled at pixel centres and normalised to sum 1.
pub fn gaussian_kernel(
    size: usize,
    sigma_major_px: f64,
    sigma_minor_px: f64,
    angle_deg: f64,
) -> Array2<f32> {
    let c = ((size - 1) / 2) as f64;
    let (cos, sin) = (angle_deg.to_radians().cos(), angle_deg.to_radians().sin());
    let (a, b) = (sigma_major_px.max(1e-3), sigma_minor_px.max(1e-3));
    let k = Array2::from_shape_fn((size, size), |(r, col)| {
        let (x, y) = (col as f64 - c, -(r as f64 - c));
        let u = x * cos + y * sin;
        let v = -x * sin + y * cos;
        (-(u * u) / (2.0 * a * a) - (v * v) / (2.0 * b * b)).exp()
    });
    let sum = k.sum();
    k.mapv(|v| (v / sum) as f32)
}

/// A uniform disk (defocus) of radius `radius_px`, anti-aliased by 8×8 super-sampling of each
/// pixel's coverage. A radius below 0.5 px gives a delta.
pub fn disk_kernel(size: usize, radius_px: f64) -> Array2<f32> {
    let c = ((size - 1) / 2) as f64;
    let r2 = radius_px * radius_px;
    let sub = 8;
    let mut k = Array2::from_shape_fn((size, size), |(r, col)| {
        let mut hits = 0usize;
        for i in 0..sub {
            for j in 0..sub {
                let y = r as f64 - c + (i as f64 + 0.5) / sub as f64 - 0.5;
                let x = col as f64 - c + (j as f64 + 0.5) / sub as f64 - 0.5;
                if x * x + y * y <= r2 {
                    hits += 1;
                }
            }
        }
        hits as f64
    });
    if k.sum() == 0.0 {
        k[[(size - 1) / 2, (size - 1) / 2]] = 1.0;
    }
    let sum = k.sum();
    k.mapv(|v| (v / sum) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_is_centred_with_the_requested_spread() {
        let k = gaussian_kernel(31, 3.0, 1.5, 0.0);
        let c = 15.0;
        let (mut vx, mut vy) = (0.0, 0.0);
        for ((r, col), &v) in k.indexed_iter() {
            vx += f64::from(v) * (col as f64 - c).powi(2);
            vy += f64::from(v) * (r as f64 - c).powi(2);
        }
        // discrete sampling of a Gaussian keeps the variance to within a fraction of a percent
        assert!(
            (vx.sqrt() - 3.0).abs() < 0.02 && (vy.sqrt() - 1.5).abs() < 0.02,
            "{vx} {vy}"
        );
    }

    #[test]
    fn disk_area_matches_pi_r_squared() {
        let k = disk_kernel(21, 6.0);
        let max = k.iter().fold(0f32, |m, &v| m.max(v));
        // full pixels carry the max; the coverage sum over pixels ≈ π r² = 113.1
        let area: f32 = k.iter().map(|&v| v / max).sum();
        assert!((area - 113.1).abs() < 1.0, "{area}");
        assert_eq!(disk_kernel(5, 0.1)[[2, 2]], 1.0);
    }
}
