//! Motion kernels from Gaussian-process trajectories, in the style of Schuler et al. 2015
//! ("Learning to deblur") as DeepInverse's `MotionBlurGenerator` does: the horizontal and vertical
//! camera positions over the exposure `t ∈ [0, 1]` are independent draws of a zero-mean Gaussian
//! process with a Matérn-3/2 covariance `σ² (1 + √3 r / ℓ) exp(−√3 r / ℓ)`, scaled to pixels and
//! rasterised with bilinear weights.
//!
//! The process is sampled at `knots` times through a Cholesky factor (computed once per
//! configuration) and linearly interpolated to `steps` samples for rasterisation.

use burn::config::Config;
use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::raster::{Sample, rasterise_centred};

/// Settings of the Gaussian-process motion generator.
#[derive(Config, Debug, PartialEq)]
pub struct GpConfig {
    /// Kernel side K in pixels.
    pub size: usize,
    /// Matérn length scale ℓ on the unit exposure interval. Default: 0.3 (DeepInverse).
    #[config(default = 0.3)]
    pub length_scale: f64,
    /// Marginal standard deviation σ, in units of half the kernel side. Default: 0.25 (DeepInverse).
    #[config(default = 0.25)]
    pub sigma: f64,
    /// Times at which the process is drawn. Default: 64.
    #[config(default = 64)]
    pub knots: usize,
    /// Samples rasterised along the interpolated path. Default: 1000.
    #[config(default = 1000)]
    pub steps: usize,
}

impl Default for GpConfig {
    /// Gaussian-process kernels of 31×31 pixels with the default settings.
    fn default() -> Self {
        GpConfig::new(31)
    }
}

impl GpConfig {
    /// Checks the ranges of every field.
    ///
    /// # Errors
    /// [`crate::Error::InvalidSetting`] naming the field.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |setting: &'static str, rule: &str| {
            Err(crate::Error::InvalidSetting {
                setting,
                rule: rule.to_string(),
            })
        };
        if self.size < 3 {
            return bad("gp.size", "must be at least 3");
        }
        if self.length_scale.is_nan()
            || self.length_scale <= 0.0
            || self.sigma.is_nan()
            || self.sigma <= 0.0
        {
            return bad("gp.length_scale, gp.sigma", "must be positive");
        }
        if self.knots < 2 || self.steps < 2 {
            return bad("gp.knots, gp.steps", "must be at least 2");
        }
        Ok(())
    }
}

/// A Gaussian-process path sampler with its Cholesky factor precomputed.
#[derive(Clone, Debug)]
pub struct GpSampler {
    config: GpConfig,
    chol: Array2<f64>,
}

impl GpSampler {
    /// Precomputes the Cholesky factor of the Matérn-3/2 covariance at the knots.
    pub fn new(config: GpConfig) -> Self {
        let n = config.knots;
        let t = |i: usize| i as f64 / (n - 1) as f64;
        let s3 = 3f64.sqrt();
        let mut cov = Array2::from_shape_fn((n, n), |(i, j)| {
            let r = (t(i) - t(j)).abs() / config.length_scale;
            config.sigma * config.sigma * (1.0 + s3 * r) * (-s3 * r).exp()
        });
        for i in 0..n {
            cov[[i, i]] += 1e-9; // jitter keeps the factorisation stable
        }
        GpSampler {
            chol: cholesky(&cov),
            config,
        }
    }

    /// Draws one path `(x, y)` at the knots, in units of half the kernel side.
    fn path(&self, rng: &mut impl Rng) -> Vec<(f64, f64)> {
        let n = self.config.knots;
        let draw = |rng: &mut dyn rand::RngCore| -> Vec<f64> {
            let z: Vec<f64> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
            (0..n)
                .map(|i| (0..=i).map(|j| self.chol[[i, j]] * z[j]).sum())
                .collect()
        };
        let xs = draw(rng);
        let ys = draw(rng);
        xs.into_iter().zip(ys).collect()
    }

    /// Draws one kernel (values summing to 1). Paths that leave the canvas are redrawn; after 20
    /// failures the path is shrunk until it fits.
    pub fn kernel(&self, rng: &mut impl Rng) -> Array2<f32> {
        let k = self.config.size;
        let half = (k - 1) as f64 / 2.0;
        let mut scale = half;
        loop {
            for _ in 0..20 {
                let knots = self.path(rng);
                let samples = interpolate(&knots, self.config.steps, scale);
                if let Some(kernel) = rasterise_centred(&samples, k) {
                    return kernel;
                }
            }
            scale *= 0.7;
        }
    }
}

fn interpolate(knots: &[(f64, f64)], steps: usize, scale: f64) -> Vec<Sample> {
    let n = knots.len();
    (0..steps)
        .map(|s| {
            let pos = s as f64 / (steps - 1) as f64 * (n - 1) as f64;
            let i = (pos.floor() as usize).min(n - 2);
            let f = pos - i as f64;
            let x = knots[i].0 * (1.0 - f) + knots[i + 1].0 * f;
            let y = knots[i].1 * (1.0 - f) + knots[i + 1].1 * f;
            (y * scale, x * scale, 1.0)
        })
        .collect()
}

/// Lower Cholesky factor of a symmetric positive-definite matrix.
fn cholesky(a: &Array2<f64>) -> Array2<f64> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            if i == j {
                l[[i, j]] = (a[[i, i]] - s).max(1e-12).sqrt();
            } else {
                l[[i, j]] = (a[[i, j]] - s) / l[[j, j]];
            }
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_reproduces_the_matrix() {
        let a = ndarray::array![[4.0, 2.0, 0.6], [2.0, 5.0, 1.0], [0.6, 1.0, 3.0]];
        let l = cholesky(&a);
        let back = l.dot(&l.t());
        assert!((&back - &a).iter().all(|v| v.abs() < 1e-12));
    }
}
