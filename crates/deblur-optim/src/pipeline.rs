//! Blind deblurring of a whole image as users run it: colour handling, kernel estimation on a
//! crop for large images, and the final read-out.
//!
//! - **Colour** ([`ColorPath`]): deblur the luma (OpenCV full-range Y, as SelfDeblur's colour
//!   script) and merge the input's chroma back, or deblur RGB with one shared kernel.
//! - **Large images**: the kernel is estimated on a window (by default the most textured
//!   `crop_side`² window, or one the caller names), then the whole image is deconvolved with it
//!   by hyper-Laplacian non-blind deconvolution.

use burn::tensor::Device;
use deblur_core::Kernel;
use deblur_core::color::{YCbCrStandard, luma, merge_luma};
use deblur_core::convert::{array_to_tensor, tensor_to_array};
use deblur_priors::DipConfig;
use ndarray::{Array2, Array3, Axis, s};
use serde::{Deserialize, Serialize};

use crate::nonblind::{HyperLaplacianConfig, hyper_laplacian_deconv};
use crate::selfdeblur::SelfDeblurConfig;
use crate::solver::Observer;
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

/// Settings of a blind deblurring run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlindRequest {
    /// The SelfDeblur-style solver settings (kernel size, networks, schedules).
    pub method: SelfDeblurConfig,
    /// Colour handling.
    pub color: ColorPath,
    /// Where to estimate the kernel.
    pub crop: CropChoice,
    /// Non-blind deconvolution used for the full image when the kernel came from a window.
    pub nonblind: HyperLaplacianConfig,
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
    let out = request.method.run(observation, observer)?;
    let kernel = Kernel::from_tensor(out.kernel.clone().to_device(device))?;
    let restored = match window {
        None => tensor_to_array(out.image.to_device(device), 0)?,
        Some(_) => {
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

/// A small-network SelfDeblur for CPUs: a 32-channel DIP (skip 8, 5 scales), kernel learning rate
/// 5e-4 (the settings of the 1000-iteration reference runs in `../shared/data/README.md`), the
/// reference schedule scaled to `iterations`.
pub fn selfdeblur_quick(kernel_size: [usize; 2], iterations: usize) -> SelfDeblurConfig {
    let mut config = SelfDeblurConfig::paper(kernel_size).with_iterations(iterations);
    config.dip = DipConfig::narrow(1, 32, 8, 5);
    config.solver.kernel_lr.base = 5e-4;
    config
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
