//! Blind deblurring of a whole image as users run it: colour handling, kernel estimation on a
//! crop for large images, and the final read-out.
//!
//! - **Colour** ([`ColorPath`]): deblur the luma (OpenCV full-range Y, as SelfDeblur's colour
//!   script) and merge the input's chroma back, or deblur RGB with one shared kernel.
//! - **Large images**: the kernel is estimated on a window (by default the most textured
//!   `crop_side`² window, or one the caller names), then the whole image is deconvolved with it
//!   by hyper-Laplacian non-blind deconvolution.
//! - **Presets** ([`Preset`]): `fast` (the CPU default: a small DIP on a 192² window for a few
//!   hundred steps, then hyper-Laplacian deconvolution of the whole image), `quick` (a
//!   32-channel DIP on the whole image) and `paper` (the published settings, for GPUs). Every
//!   preset is a [`BlindMethod`] run by the same solver loop.

use burn::tensor::Device;
use deblur_core::Kernel;
use deblur_core::color::{YCbCrStandard, luma, merge_luma};
use deblur_core::convert::{array_to_tensor, tensor_to_array};
use deblur_priors::DipConfig;
use ndarray::{Array2, Array3, Axis, s};
use serde::{Deserialize, Serialize};

use crate::glkm::{GlkmConfig, GlkmModels, KernelStart};
use crate::nonblind::{HyperLaplacianConfig, hyper_laplacian_deconv};
use crate::selfdeblur::SelfDeblurConfig;
use crate::solver::{Observer, SolveOutput, SolverConfig};
use crate::{Error, Result};

/// How colour images are deblurred.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ColorPath {
    /// Deblur the luma, keep the input's chroma (default for RGB input).
    #[default]
    Luma,
    /// Deblur the three channels with one shared kernel.
    Rgb,
}

/// Where the kernel is estimated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CropChoice {
    /// The whole image if both sides are at most `side`, else the most textured `side`² window.
    Auto {
        /// Window side.
        side: usize,
    },
    /// A given window `[x, y, width, height]`.
    Window([usize; 4]),
    /// Always the whole image.
    Full,
}

/// A blind method: which kernel model the solver loop optimises with the DIP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BlindMethod {
    /// SelfDeblur: the kernel MLP.
    SelfDeblur(SelfDeblurConfig),
    /// DIP-GLKM: the learned kernel generator, started by the initializer (needs [`GlkmModels`]).
    Glkm(GlkmConfig),
}

impl BlindMethod {
    /// The loop settings.
    pub fn solver(&self) -> &SolverConfig {
        match self {
            BlindMethod::SelfDeblur(c) => &c.solver,
            BlindMethod::Glkm(c) => &c.solver,
        }
    }

    /// Runs the method on `observation` (`[1, c, h, w]`).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if GLKM is asked for without its models, and the method's errors.
    pub fn run(
        &self,
        observation: burn::tensor::Tensor<4>,
        glkm: Option<&GlkmModels>,
        observer: &mut dyn Observer,
    ) -> Result<SolveOutput> {
        match self {
            BlindMethod::SelfDeblur(c) => c.run(observation, observer),
            BlindMethod::Glkm(c) => {
                let models = glkm.ok_or_else(|| {
                    Error::InvalidConfig(
                        "GLKM needs a trained kernel generator (the shipped weights/ folder, or \
                         --weights DIR); use the SelfDeblur method to deblur without one"
                            .into(),
                    )
                })?;
                c.run(observation, models, observer)
            }
        }
    }
}

/// Which kernel model a preset uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MethodKind {
    /// The kernel MLP (SelfDeblur).
    SelfDeblur,
    /// The learned kernel generator (DIP-GLKM).
    Glkm,
}

/// Speed/quality presets of [`BlindRequest::preset`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Preset {
    /// About a minute for a 255² image on two CPU cores: kernel estimation on the most textured
    /// 192² window with a 16-channel DIP for 425 steps (SelfDeblur kernel lr 2e-3), then
    /// hyper-Laplacian deconvolution of the whole image.
    Fast,
    /// A 32-channel DIP on the whole image (up to 256²), 500 steps: minutes on a CPU.
    Quick,
    /// The published settings (128-channel DIP, 5000 steps): for GPUs.
    Paper,
}

impl Preset {
    /// Steps the preset runs unless told otherwise.
    pub fn default_iterations(self) -> usize {
        match self {
            // a 192² window for 425 steps beat a 128² window for 850 (docs/benchmarks.md)
            Preset::Fast => 425,
            Preset::Quick => 500,
            Preset::Paper => 5000,
        }
    }
}

/// Settings of a blind deblurring run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlindRequest {
    /// The method and its solver settings.
    pub method: BlindMethod,
    /// Colour handling.
    pub color: ColorPath,
    /// Where to estimate the kernel.
    pub crop: CropChoice,
    /// Non-blind deconvolution used for the full image when the kernel came from a window.
    pub nonblind: HyperLaplacianConfig,
    /// Deconvolve the whole image non-blindly with the estimated kernel even when the kernel was
    /// estimated on the whole image (instead of reading out the DIP's latent image).
    pub final_nonblind: bool,
}

impl BlindRequest {
    /// The request for `method` with `preset`, kernels of `kernel_size` (SelfDeblur; GLKM uses
    /// its generator's size) and `iterations` steps (default: the preset's), luma colour path.
    pub fn preset(
        method: MethodKind,
        preset: Preset,
        kernel_size: usize,
        iterations: Option<usize>,
    ) -> Self {
        let iterations = iterations.unwrap_or(preset.default_iterations());
        let k = [kernel_size, kernel_size];
        let dip = match preset {
            Preset::Fast => DipConfig::narrow(1, 16, 4, 4),
            Preset::Quick => DipConfig::narrow(1, 32, 8, 5),
            Preset::Paper => DipConfig::paper(1),
        };
        let method = match method {
            MethodKind::SelfDeblur => {
                let mut c = SelfDeblurConfig::paper(k).with_iterations(iterations);
                c.image = c.image.with_dip(dip);
                c.solver.kernel_lr.base = match preset {
                    // a few hundred steps need a faster kernel: on eight Levin images 2e-3 beat
                    // 5e-4, 1e-3 and 4e-3 (docs/benchmarks.md)
                    Preset::Fast => 2e-3,
                    // the kernel learning rate of the shorter reference runs (shared/data README)
                    Preset::Quick => 5e-4,
                    Preset::Paper => c.solver.kernel_lr.base,
                };
                BlindMethod::SelfDeblur(c)
            }
            MethodKind::Glkm => {
                let mut c = GlkmConfig::paper().with_iterations(iterations);
                c.image = c.image.with_dip(dip);
                if preset != Preset::Paper {
                    // short runs: a broad start and a faster w (measured on Levin, docs/benchmarks.md)
                    c.solver.kernel_lr.base = 5e-3;
                    c.start = KernelStart::Broad { sigma: 4.0 };
                }
                BlindMethod::Glkm(c)
            }
        };
        let (crop, final_nonblind) = match preset {
            Preset::Fast => (CropChoice::Auto { side: 192 }, true),
            Preset::Quick | Preset::Paper => (CropChoice::Auto { side: 256 }, false),
        };
        BlindRequest {
            method,
            color: ColorPath::Luma,
            crop,
            nonblind: HyperLaplacianConfig::default(),
            final_nonblind,
        }
    }
}

/// The result of [`deblur_blind`].
#[derive(Clone, Debug)]
pub struct BlindResult {
    /// The restored image `[c, h, w]` in [0, 1], same size and channels as the input.
    pub image: Array3<f32>,
    /// The estimated kernel (cross-correlation convention).
    pub kernel: Kernel,
    /// Loss per solver step.
    pub losses: Vec<f32>,
    /// Solver wall time in seconds.
    pub seconds: f64,
    /// The window `[x, y, w, h]` the kernel was estimated on, if not the whole image.
    pub window: Option<[usize; 4]>,
}

/// The `side`² window with the largest gradient energy (sum of squared forward differences),
/// searched on a grid of stride `side / 16`. Returns `[x, y, w, h]`.
pub fn most_textured_window(image: &Array2<f32>, side: usize) -> [usize; 4] {
    let (h, w) = image.dim();
    let (wh, ww) = (side.min(h), side.min(w));
    // integral image of the gradient energy
    let mut integral = Array2::<f64>::zeros((h + 1, w + 1));
    for y in 0..h {
        for x in 0..w {
            let gx = if x + 1 < w {
                image[[y, x + 1]] - image[[y, x]]
            } else {
                0.0
            };
            let gy = if y + 1 < h {
                image[[y + 1, x]] - image[[y, x]]
            } else {
                0.0
            };
            let e = f64::from(gx * gx + gy * gy);
            integral[[y + 1, x + 1]] =
                e + integral[[y, x + 1]] + integral[[y + 1, x]] - integral[[y, x]];
        }
    }
    let stride = (side / 16).max(1);
    let mut best = (f64::MIN, 0, 0);
    let mut y = 0;
    while y + wh <= h {
        let mut x = 0;
        while x + ww <= w {
            let e = integral[[y + wh, x + ww]] - integral[[y, x + ww]] - integral[[y + wh, x]]
                + integral[[y, x]];
            if e > best.0 {
                best = (e, x, y);
            }
            x += stride;
        }
        y += stride;
    }
    [best.1, best.2, ww, wh]
}

/// Blind deblurring of `pixels` (`[c, h, w]`, c = 1 or 3, values in [0, 1]).
///
/// # Errors
/// [`Error::InvalidConfig`] for a bad window or channel count, the solver's errors, and
/// kernel-larger-than-image errors.
pub fn deblur_blind(
    pixels: &Array3<f32>,
    request: &BlindRequest,
    glkm: Option<&GlkmModels>,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<BlindResult> {
    let (c, h, w) = pixels.dim();
    if c != 1 && c != 3 {
        return Err(Error::InvalidConfig(format!(
            "images need 1 or 3 channels, got {c}"
        )));
    }
    let work: Array3<f32> = if c == 3 && request.color == ColorPath::Luma {
        luma(pixels, YCbCrStandard::FullRange)?.insert_axis(Axis(0))
    } else {
        pixels.clone()
    };
    let window = match request.crop {
        CropChoice::Full => None,
        CropChoice::Auto { side } if h <= side && w <= side => None,
        CropChoice::Auto { side } => Some(most_textured_window(
            &work.index_axis(Axis(0), 0).to_owned(),
            side,
        )),
        CropChoice::Window([x, y, ww, wh]) => {
            if ww == 0 || wh == 0 || x + ww > w || y + wh > h {
                return Err(Error::InvalidConfig(format!(
                    "crop {x},{y},{ww},{wh} does not fit the {w}x{h} image"
                )));
            }
            Some([x, y, ww, wh])
        }
    };
    let estimate_on = match window {
        Some([x, y, ww, wh]) => work.slice(s![.., y..y + wh, x..x + ww]).to_owned(),
        None => work.clone(),
    };
    let observation = array_to_tensor(&estimate_on, device);
    let out = request.method.run(observation, glkm, observer)?;
    let kernel = Kernel::from_tensor(out.kernel.clone().to_device(device))?;
    let restored = match window {
        None if !request.final_nonblind => tensor_to_array(out.image.to_device(device), 0)?,
        _ => {
            let full = array_to_tensor(&work, device);
            tensor_to_array(
                hyper_laplacian_deconv(full, kernel.to_tensor(device), &request.nonblind)?,
                0,
            )?
        }
    }
    .mapv(|v| v.clamp(0.0, 1.0));
    let image = if c == 3 && request.color == ColorPath::Luma {
        merge_luma(
            pixels,
            restored.index_axis(Axis(0), 0),
            YCbCrStandard::FullRange,
        )?
    } else {
        restored
    };
    Ok(BlindResult {
        image,
        kernel,
        losses: out.losses,
        seconds: out.seconds,
        window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textured_window_finds_the_busy_corner() {
        let mut img = Array2::<f32>::zeros((100, 120));
        for y in 60..100 {
            for x in 80..120 {
                img[[y, x]] = ((x + y) % 2) as f32;
            }
        }
        assert_eq!(most_textured_window(&img, 40), [80, 60, 40, 40]);
    }
}
