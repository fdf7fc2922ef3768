//! Camera-shake kernels after Boracchi & Foi 2012 ("Modeling the performance of image restoration
//! from motion blur"), in the form popularised by DeblurGAN's `motion_blur` code (\[BF\]; the GLKM paper
//! \[GLKM\] §IV-B trains its generator on such kernels): a random 2-D trajectory of `T` samples whose velocity receives a centripetal pull, Gaussian
//! shake and rare impulsive "big shakes", renormalised to constant speed; its first `exposure`
//! fraction is rasterised with bilinear weights into a K×K PSF.
//!
//! Departures (design choices, recorded here): the path length is drawn per kernel in
//! `[min_length_fraction, 1] × max_length_px` (DeblurGAN uses one fixed length); the trajectory
//! is rasterised directly at size K, centred on its centroid, and redrawn if it does not fit, so
//! that no mass is clipped (DeblurGAN rasterises on a 64×64 canvas).

use burn::config::Config;
use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::raster::{Sample, rasterise_centred};

/// DeblurGAN's exposure ("anxiety") values, one drawn per kernel when [`ShakeConfig::anxiety`] is unset.
pub const DEBLURGAN_ANXIETY: [f64; 8] = [0.01, 0.009, 0.008, 0.007, 0.005, 0.003, 0.002, 0.001];

/// Settings of the camera-shake generator.
#[derive(Config, Debug, PartialEq)]
pub struct ShakeConfig {
    /// Kernel side K in pixels.
    pub size: usize,
    /// Number of trajectory samples T. Default: 2000.
    #[config(default = 2000)]
    pub samples: usize,
    /// Largest path length in pixels; `None` takes `1.5 · K` (DeblurGAN: 60 on a 64 canvas; shake
    /// paths curl, so their extent is well below their length).
    #[config(default = "None")]
    pub max_length_px: Option<f64>,
    /// Smallest path length as a fraction of the largest; each kernel draws its length uniformly
    /// in between. Default: 0.25 (1.0 gives DeblurGAN's fixed length).
    #[config(default = 0.25)]
    pub min_length_fraction: f64,
    /// Exposure/anxiety parameter `expl`; `None` draws one of [`DEBLURGAN_ANXIETY`] per kernel.
    #[config(default = "None")]
    pub anxiety: Option<f64>,
    /// Upper bound of the centripetal term (drawn as `max · U[0, 1)`). Default: 0.7.
    #[config(default = 0.7)]
    pub max_centripetal: f64,
    /// Upper bound of the probability of a big shake (drawn as `max · U`). Default: 0.2.
    #[config(default = 0.2)]
    pub max_prob_big_shake: f64,
    /// Upper bound of the Gaussian shake (drawn as `max · U`). Default: 10.
    #[config(default = 10.0)]
    pub max_gaussian_shake: f64,
    /// Fraction of the trajectory (in time) that is exposed. Default: 1.0 (full exposure).
    #[config(default = 1.0)]
    pub exposure: f64,
    /// Redraws allowed when a trajectory does not fit the canvas before its length is halved. Default: 20.
    #[config(default = 20)]
    pub max_redraws: usize,
}

impl Default for ShakeConfig {
    /// Camera-shake kernels of 31×31 pixels with the default trajectory settings.
    fn default() -> Self {
        ShakeConfig::new(31)
    }
}

impl ShakeConfig {
    /// Checks the ranges of every field.
    ///
    /// # Errors
    /// [`crate::Error::InvalidSetting`] naming the field.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |field: &'static str, rule: &str| {
            Err(crate::Error::InvalidSetting {
                setting: field,
                rule: rule.to_string(),
            })
        };
        if self.size < 3 {
            return bad("shake.size", "must be at least 3");
        }
        if self.samples < 2 {
            return bad("shake.samples", "must be at least 2");
        }
        if let Some(l) = self.max_length_px
            && !(l > 0.0 && l.is_finite())
        {
            return bad("shake.max_length_px", "must be positive");
        }
        if !(0.0..=1.0).contains(&self.min_length_fraction) {
            return bad("shake.min_length_fraction", "must be in [0, 1]");
        }
        if !(self.exposure > 0.0 && self.exposure <= 1.0) {
            return bad("shake.exposure", "must be in (0, 1]");
        }
        Ok(())
    }

    fn max_length(&self) -> f64 {
        self.max_length_px.unwrap_or(1.5 * self.size as f64)
    }
}

/// A trajectory: positions `(x, y)` in pixels (x to the right, y down) and its total length.
#[derive(Clone, Debug)]
pub struct Trajectory {
    /// Sample positions.
    pub points: Vec<(f64, f64)>,
    /// Path length in pixels.
    pub length_px: f64,
}

/// Draws one Boracchi–Foi trajectory of path length `length_px`.
pub fn shake_trajectory(config: &ShakeConfig, length_px: f64, rng: &mut impl Rng) -> Trajectory {
    let t = config.samples;
    let centripetal = config.max_centripetal * rng.random::<f64>();
    let prob_big_shake = config.max_prob_big_shake * rng.random::<f64>();
    let gaussian_shake = config.max_gaussian_shake * rng.random::<f64>();
    let anxiety = config
        .anxiety
        .unwrap_or_else(|| DEBLURGAN_ANXIETY[rng.random_range(0..DEBLURGAN_ANXIETY.len())]);
    let angle = 2.0 * std::f64::consts::PI * rng.random::<f64>();
    let step = length_px / (t - 1) as f64;
    // complex numbers as (re, im)
    let (mut vx, mut vy) = if anxiety > 0.0 {
        (angle.cos() * anxiety, angle.sin() * anxiety)
    } else {
        (angle.cos() * step, angle.sin() * step)
    };
    let (mut x, mut y) = (0.0f64, 0.0f64);
    let mut points = Vec::with_capacity(t);
    points.push((x, y));
    for _ in 0..t - 1 {
        let (mut jx, mut jy) = (0.0, 0.0);
        if rng.random::<f64>() < prob_big_shake * anxiety {
            // jump = 2 v · exp(i(π + (U − 0.5))): reverse with a random deflection
            let phi = std::f64::consts::PI + (rng.random::<f64>() - 0.5);
            let (c, s) = (phi.cos(), phi.sin());
            jx = 2.0 * (vx * c - vy * s);
            jy = 2.0 * (vx * s + vy * c);
        }
        let n1: f64 = StandardNormal.sample(rng);
        let n2: f64 = StandardNormal.sample(rng);
        let dvx = jx + anxiety * (gaussian_shake * n1 - centripetal * x) * step;
        let dvy = jy + anxiety * (gaussian_shake * n2 - centripetal * y) * step;
        vx += dvx;
        vy += dvy;
        let speed = (vx * vx + vy * vy).sqrt();
        if speed > 0.0 {
            vx = vx / speed * step;
            vy = vy / speed * step;
        }
        x += vx;
        y += vy;
        points.push((x, y));
    }
    Trajectory { points, length_px }
}

/// Rasterises the exposed part of a trajectory into a K×K kernel centred on its centroid, or
/// `None` if it does not fit.
pub fn rasterise_trajectory(
    trajectory: &Trajectory,
    size: usize,
    exposure: f64,
) -> Option<Array2<f32>> {
    let n = trajectory.points.len();
    let exposed = ((exposure * n as f64).ceil() as usize).clamp(1, n);
    let samples: Vec<Sample> = trajectory.points[..exposed]
        .iter()
        .map(|&(x, y)| (y, x, 1.0))
        .collect();
    rasterise_centred(&samples, size)
}

/// Draws one camera-shake kernel (values summing to 1) and the path length used.
pub fn shake_kernel(config: &ShakeConfig, rng: &mut impl Rng) -> (Array2<f32>, f64) {
    let max_len = config.max_length();
    let mut length = max_len
        * (config.min_length_fraction + (1.0 - config.min_length_fraction) * rng.random::<f64>());
    loop {
        for _ in 0..config.max_redraws.max(1) {
            let trajectory = shake_trajectory(config, length, rng);
            if let Some(k) = rasterise_trajectory(&trajectory, config.size, config.exposure) {
                return (k, length);
            }
        }
        length *= 0.5;
    }
}
