//! Plug-and-play non-blind deconvolution with a learned denoiser prior, by half-quadratic
//! splitting (Zhang et al., "Plug-and-play image restoration with deep denoiser prior", TPAMI
//! 2021, §4: DPIR): for `min_x 1/(2σ²) ‖k ⋆ x − y‖² + λ Φ(x)` the splitting `z ≈ x` alternates
//!
//! - the data step `x = argmin ‖k ⋆ x − y‖² + μ_t ‖x − z‖²`, one division in the Fourier domain;
//! - the prior step `z = D(x, σ_t)`, the denoiser at the level `σ_t` the splitting implies,
//!
//! with `σ_t` falling geometrically from `sigma_start` to the observation's noise level over the
//! iterations and `μ_t = λ σ² / σ_t²` (DPIR's schedule: 8 iterations from 49/255, λ = 0.23).
//!
//! The canvas and its boundary are those of [`crate::hyper_laplacian_deconv`]: the observation is
//! mirrored out to a power-of-two grid at least a kernel wider on every side, and with
//! [`DeconvBoundary::Unknown`] the pixels outside the image are replaced by the blur of the current
//! estimate before each data step (the missing-data E-step), so only observed pixels constrain
//! the solution. The denoiser sees the image and a margin of one kernel around it.

use burn::tensor::Tensor;
use deblur_core::fft::{Spectrum, irfft2, rfft2};
use deblur_priors::Denoiser;
use serde::{Deserialize, Serialize};

use crate::nonblind::{DeconvBoundary, crop, deconv_tiled, observed_split, power, setup};
use crate::{Error, Result};

fn default_inner() -> usize {
    16
}

/// Most denoising levels, and most data steps per level, [`PnpConfig`] accepts (8 and 16 by
/// default; a count in the millions is a typing error, not a setting).
pub const MAX_PNP_STEPS: usize = 1000;

/// Largest trade-off λ [`PnpConfig`] accepts: at 10⁶ the prior already outweighs the data a
/// million times at the last level, and far larger values overflow the data step's weight
/// `μ_t` in single precision (the result turned to NaN at λ = 10³⁰⁰).
pub const MAX_PNP_LAMBDA: f64 = 1e6;

/// Settings of [`pnp_deconv`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PnpConfig {
    /// Standard deviation σ of the observation's noise (intensities in [0, 1]); the last
    /// denoising level. Floored at 0.001.
    pub noise_std: f64,
    /// Half-quadratic splitting iterations. Default: 8.
    pub iterations: usize,
    /// The first denoising level. Default: 49/255.
    pub sigma_start: f64,
    /// Trade-off λ of the prior (μ_t = λ σ² / σ_t²). Default: 0.23.
    pub lambda: f64,
    /// Data steps per denoising level (with the unknown boundary, each re-estimates the
    /// extension first; more of them let it settle for long kernels). Default: 16.
    #[serde(default = "default_inner")]
    pub inner_iterations: usize,
    /// How the unobserved extension of the image is treated. Default: unknown.
    pub boundary: DeconvBoundary,
    /// Images with a side above this are deconvolved in overlapping tiles whose FFT grid is this
    /// side (as [`crate::HyperLaplacianConfig::tile`]). Default: 1024.
    pub tile: Option<usize>,
}

impl PnpConfig {
    /// The settings for a kernel that was estimated, not known (the blind pipeline's final step):
    /// λ = 1, the prior four times stronger against the data than DPIR's 0.23, which amplified
    /// the errors of failed estimates below the input on our screening sets (docs/benchmarks.md).
    /// The noise level is set at run time.
    pub fn blind() -> Self {
        PnpConfig {
            lambda: 1.0,
            ..PnpConfig::new(0.0)
        }
    }

    /// DPIR's settings for an observation with noise `noise_std`.
    pub fn new(noise_std: f64) -> Self {
        PnpConfig {
            noise_std,
            iterations: 8,
            sigma_start: 49.0 / 255.0,
            lambda: 0.23,
            inner_iterations: 16,
            boundary: DeconvBoundary::Unknown,
            tile: Some(1024),
        }
    }

    /// The denoising levels σ_t, from `sigma_start` down to the noise level (geometric).
    pub fn levels(&self) -> Vec<f64> {
        let end = self.noise_std.max(1e-3).min(self.sigma_start);
        let n = self.iterations.max(1);
        (0..n)
            .map(|t| {
                if n == 1 {
                    end
                } else {
                    let f = t as f64 / (n - 1) as f64;
                    (self.sigma_start.ln() * (1.0 - f) + end.ln() * f).exp()
                }
            })
            .collect()
    }

    pub(crate) fn validate(&self) -> Result<()> {
        // intensities are in [0, 1], so are the noise and the denoising levels; the first level
        // is not below the noise floor 0.001, so that μ_t = λ σ² / σ_t² stays finite
        if (0.0..=1.0).contains(&self.noise_std)
            && (1e-3..=1.0).contains(&self.sigma_start)
            && self.lambda > 0.0
            && self.lambda <= MAX_PNP_LAMBDA
            && (1..=MAX_PNP_STEPS).contains(&self.iterations)
            && (1..=MAX_PNP_STEPS).contains(&self.inner_iterations)
        {
            Ok(())
        } else {
            Err(Error::setting(
                "plug-and-play",
                format!(
                    "σ {:?}, first level {:?}, λ {:?}, {} × {} iterations: need σ in [0, 1], a \
                     first level in [0.001, 1], λ in (0, {MAX_PNP_LAMBDA:e}], and 1 to \
                     {MAX_PNP_STEPS} iterations and data steps",
                    self.noise_std,
                    self.sigma_start,
                    self.lambda,
                    self.iterations,
                    self.inner_iterations
                ),
            ))
        }
    }
}

/// Plug-and-play deconvolution of `blurred` (`[n, c, h, w]`) by `kernel` (`[1, 1, kh, kw]`, the
/// cross-correlation kernel of the blur) with `denoiser` as the image prior. Channels the
/// denoiser does not take together (a grey network on a colour image) are restored one by one.
///
/// # Errors
/// [`Error::InvalidSetting`] for invalid settings; shape errors for a kernel batch;
/// kernel-larger-than-image errors.
pub fn pnp_deconv(
    blurred: Tensor<4>,
    kernel: Tensor<4>,
    denoiser: &Denoiser,
    config: &PnpConfig,
) -> Result<Tensor<4>> {
    // eight denoiser passes and their FFT steps: run them from a worker of the pool
    deblur_core::on_pool(move || pnp_deconv_here(blurred, kernel, denoiser, config))
}

/// [`pnp_deconv`] on the calling thread.
fn pnp_deconv_here(
    blurred: Tensor<4>,
    kernel: Tensor<4>,
    denoiser: &Denoiser,
    config: &PnpConfig,
) -> Result<Tensor<4>> {
    config.validate()?;
    let [n, c, h, w] = blurred.dims();
    if c != denoiser.channels() {
        if denoiser.channels() != 1 {
            return Err(Error::setting(
                "plug-and-play",
                format!(
                    "the denoiser takes {} channels, the image has {c}",
                    denoiser.channels()
                ),
            ));
        }
        let x = pnp_deconv(blurred.reshape([n * c, 1, h, w]), kernel, denoiser, config)?;
        return Ok(x.reshape([n, c, h, w]));
    }
    let [_, _, kh, kw] = kernel.dims();
    if let Some(tile) = config.tile
        && h.max(w) > tile
        && tile >= 6 * kh.max(kw)
    {
        let whole = PnpConfig {
            tile: None,
            ..*config
        };
        return deconv_tiled(blurred, kh.max(kw), tile, |part| {
            pnp_deconv(part, kernel.clone(), denoiser, &whole)
        });
    }
    let s = setup(blurred, kernel)?;
    let [_, _, p, q] = s.padded.dims();
    let observed = observed_split(&s, config.boundary);
    let k2 = power(&s.kernel);
    let mut ky = s.kernel.mul(&rfft2(s.padded.clone())); // K̃ · Y
    // the denoised region: the image and a margin of one kernel, within the canvas
    let (k, [oh, ow], [sh, sw]) = (kh.max(kw), s.offset, s.size);
    let (r0, c0) = (oh.saturating_sub(k), ow.saturating_sub(k));
    let (r1, c1) = ((oh + sh + k).min(p), (ow + sw + k).min(q));
    let sigma2 = config.noise_std.max(1e-3).powi(2);
    let mut z = s.padded.clone();
    let mut x_spectrum: Option<Spectrum> = None;
    for (t, level) in config.levels().into_iter().enumerate() {
        let mu = config.lambda * sigma2 / (level * level);
        let zs = rfft2(z.clone());
        if t > 0 {
            // the denoised estimate is the current one
            x_spectrum = Some(zs.clone());
        }
        let denominator = k2.clone() + mu;
        let (prior_re, prior_im) = (zs.re * mu, zs.im * mu);
        // with a fixed extension every data step would be the same: one is enough
        let steps = if observed.is_some() {
            config.inner_iterations
        } else {
            1
        };
        for _ in 0..steps {
            if let (Some((observed, unobserved)), Some(current)) = (&observed, &x_spectrum) {
                // E-step: the unobserved pixels are the blur of the current estimate
                let predicted = irfft2(current.mul_conj(&s.kernel), q);
                ky = s
                    .kernel
                    .mul(&rfft2(observed.clone() + predicted * unobserved.clone()));
            }
            let next = Spectrum {
                re: (ky.re.clone() + prior_re.clone()) / denominator.clone(),
                im: (ky.im.clone() + prior_im.clone()) / denominator.clone(),
            };
            x_spectrum = Some(next);
        }
        // only the last data step's image is needed in the pixel domain
        let x = irfft2(x_spectrum.clone().expect("steps ≥ 1 data step ran"), q);
        let region = x.clone().slice([0..n, 0..c, r0..r1, c0..c1]);
        let denoised = denoiser.forward(region, &[level as f32]);
        z = x.slice_assign([0..n, 0..c, r0..r1, c0..c1], denoised);
    }
    Ok(crop(z, &s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{Module, ModuleMapper, Param};
    use burn::tensor::Device;
    use deblur_core::{Boundary, Padding, UniformBlur};
    use deblur_priors::DenoiserConfig;

    /// Zeroes every weight: the network then predicts no noise and the denoiser is the identity.
    struct Zero;

    impl ModuleMapper for Zero {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.zeros_like())
        }
    }

    #[test]
    fn levels_fall_geometrically_to_the_noise_level() {
        let levels = PnpConfig::new(0.01).levels();
        assert_eq!(levels.len(), 8);
        assert!((levels[0] - 49.0 / 255.0).abs() < 1e-12);
        assert!((levels[7] - 0.01).abs() < 1e-12);
        // constant ratio (49/255 / 0.01)^(1/7) = 1.5256
        for pair in levels.windows(2) {
            assert!((pair[0] / pair[1] - 1.5256).abs() < 1e-3, "{pair:?}");
        }
    }

    /// Settings whose weights would overflow are refused before any work: λ = 10³⁰⁰ gave a NaN
    /// image before the bound, and a first level far below the noise floor makes μ_t infinite.
    #[test]
    fn settings_that_overflow_the_weights_are_refused() {
        let ok = PnpConfig::new(0.01);
        assert!(ok.validate().is_ok());
        let edge = PnpConfig {
            noise_std: 1.0,
            sigma_start: 1e-3,
            lambda: MAX_PNP_LAMBDA,
            ..ok
        };
        assert!(edge.validate().is_ok());
        for bad in [
            PnpConfig {
                lambda: 1e300,
                ..ok
            },
            PnpConfig {
                lambda: f64::NAN,
                ..ok
            },
            PnpConfig { lambda: 0.0, ..ok },
            PnpConfig {
                noise_std: 2.0,
                ..ok
            },
            PnpConfig {
                noise_std: f64::INFINITY,
                ..ok
            },
            PnpConfig {
                sigma_start: 1e-300,
                ..ok
            },
            PnpConfig {
                sigma_start: f64::NAN,
                ..ok
            },
        ] {
            let message = bad.validate().unwrap_err().to_string();
            assert!(message.contains("plug-and-play"), "{bad:?}: {message}");
        }
        // the largest accepted weight stays finite in single precision: μ ≤ λ (σ / 0.001)²
        let mu_max = MAX_PNP_LAMBDA * (1.0f64 / 1e-3).powi(2);
        assert!((mu_max as f32).is_finite());
    }

    /// With an identity denoiser and no noise, the splitting is iterated Tikhonov deconvolution
    /// with a vanishing weight (μ ≤ 0.23 · 10⁻⁶ / σ_t²). The kernel is asymmetric but invertible
    /// (|K| ≥ 0.2 at every frequency) and the scene is flat within 8 px of its border, so the mirror
    /// extension is the blur of the mirrored scene: the sharp image must come back almost
    /// exactly. Measured: 139.6 dB (float rounding) against the blurred input's 33.3 dB; with the
    /// conjugate transfer function (a mirrored kernel) it gives 27.6 dB.
    #[test]
    fn an_identity_prior_inverts_a_noise_free_blur() {
        let device = Device::default();
        let (h, w) = (40usize, 56usize);
        let sharp = Tensor::<4>::from_data(
            burn::tensor::TensorData::new(
                (0..h * w)
                    .map(|i| {
                        let (y, x) = ((i / w) as f32, (i % w) as f32);
                        let inside = (8.0..(h - 8) as f32).contains(&y)
                            && (8.0..(w - 8) as f32).contains(&x);
                        if inside {
                            0.5 + 0.3 * (0.37 * x).sin() * (0.23 * y).cos()
                                + 0.1 * (0.9 * x + y).sin()
                        } else {
                            0.5
                        }
                    })
                    .collect::<Vec<_>>(),
                [1, 1, h, w],
            ),
            &device,
        );
        // 0.6 at the centre, 0.3 to the right, 0.1 below: |K| ≥ 0.6 − 0.3 − 0.1 = 0.2
        let mut taps = vec![0f32; 9];
        (taps[4], taps[5], taps[7]) = (0.6, 0.3, 0.1);
        let kernel =
            Tensor::<4>::from_data(burn::tensor::TensorData::new(taps, [1, 1, 3, 3]), &device);
        let blurred = UniformBlur::new(Boundary::Same(Padding::Symmetric))
            .apply(sharp.clone(), kernel.clone())
            .unwrap();
        let denoiser = DenoiserConfig::new()
            .with_width(4)
            .with_depth(2)
            .init(&device)
            .map(&mut Zero);
        let config = PnpConfig {
            boundary: DeconvBoundary::Mirror,
            ..PnpConfig::new(0.0)
        };
        let x = pnp_deconv(blurred.clone(), kernel, &denoiser, &config).unwrap();
        let psnr = |a: Tensor<4>| {
            let mse: f32 = (a - sharp.clone()).square().mean().into_scalar();
            -10.0 * mse.log10()
        };
        let (restored, input) = (psnr(x), psnr(blurred));
        assert!(
            restored > 45.0 && restored > input + 20.0,
            "restored {restored:.2} dB, blurred {input:.2} dB"
        );
    }
}
