//! Uniform (spatially invariant) blur on burn tensors, its adjoint, and seeded noise.
//!
//! **Convention.** Blur is *cross-correlation* (PyTorch `conv2d`, no kernel flip), with the
//! kernel centre at index `c = (K − 1) / 2` (integer division) for odd and even K:
//!
//! ```text
//! valid: y[i, j] = Σ_{u,v} x[i + u,     j + v    ] · k[u, v]      (output H − K + 1)
//! same:  y[i, j] = Σ_{u,v} x[i + u − c, j + v − c] · k[u, v]      (x extended by a Padding)
//! ```
//!
//! So a delta at pixel `p` of a sharp image appears in the `same` output as the kernel rotated
//! by 180° about `p`: `y[p + c − u] = k[u]`. A kernel estimated under this model is the 180°
//! rotation of the kernel of a true-convolution model (PyTorch's `conv2d`, which the \[SD\], \[BKS\]
//! and \[GLKM\] code use for the blur).
//!
//! Two implementations give the same numbers: direct (`conv2d`) and FFT (on `flex` host
//! `realfft` transforms of 5-smooth sizes, elsewhere burn `signal` at powers of two). [`BlurMethod::Auto`] picks the one a measured cost model
//! ([`BlurMethod::cost_model`]) predicts to be faster.
//! Both are differentiable with respect to the image and the kernel.
//!
//! Kernels are `[kn, kc, kh, kw]` tensors with `kn ∈ {1, n}` and `kc ∈ {1, c}`: one kernel for
//! everything, one per channel, one per batch element, or one per element and channel.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

use crate::fft::{irfft2, rfft2};
use crate::pad::{PadWidths, Padding, pad, pad_adjoint};
use crate::{Error, Result};

/// What the blur does at the image border.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Boundary {
    /// No padding: an `h × w` image gives `(h − kh + 1) × (w − kw + 1)`.
    Valid,
    /// Output the size of the input; the image is extended by the given padding.
    Same(Padding),
}

/// Which implementation computes the blur.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum BlurMethod {
    /// Whichever [`BlurMethod::cost_model`] predicts to be faster for the sizes at hand.
    #[default]
    Auto,
    /// Direct cross-correlation (`conv2d`).
    Direct,
    /// FFT: on `flex` host transforms of 5-smooth sizes, elsewhere burn's FFT at powers of two.
    Fft,
}

/// Cost of one FFT point (per `P·Q·log2(P·Q)`, `P`, `Q` 5-smooth) relative to one direct
/// multiply-add for the host transforms on `flex`, fitted to forward+backward timings of
/// `benches/blur.rs` (`docs/benchmarks.md`, 2026-12-04: 0.6–1.0 at 256², 1.4–1.8 at 1024²; the
/// FFT wins from a 5 px kernel at 256²).
pub const FFT_COST_PER_POINT: f64 = 1.2;

/// The same for burn's `signal` FFTs at power-of-two sizes (the other backends), fitted to the
/// `flex` timings of that path before the host transforms existed (crossover near K = 17 at 256²
/// and K = 27 at 1024²).
pub const FFT_COST_PER_POINT_POW2: f64 = 6.0;

impl BlurMethod {
    /// Predicted relative costs `(direct, fft)` of a valid correlation of an `input` image
    /// (already padded) with a `kernel` on `device`.
    pub fn cost_model(input: [usize; 2], kernel: [usize; 2], device: &Device) -> (f64, f64) {
        let out =
            (input[0] + 1).saturating_sub(kernel[0]) * (input[1] + 1).saturating_sub(kernel[1]);
        let direct = (out * kernel[0] * kernel[1]) as f64;
        let (per_point, len): (f64, fn(usize) -> usize) = if crate::device::is_flex(device) {
            (FFT_COST_PER_POINT, crate::host_fft::fast_len)
        } else {
            (FFT_COST_PER_POINT_POW2, usize::next_power_of_two)
        };
        let points = (len(input[0]) * len(input[1])) as f64;
        (direct, per_point * points * points.log2())
    }

    /// The concrete method for a (padded) input and kernel size on `device`.
    pub fn resolve(self, input: [usize; 2], kernel: [usize; 2], device: &Device) -> BlurMethod {
        match self {
            BlurMethod::Auto => {
                let (direct, fft) = Self::cost_model(input, kernel, device);
                if fft < direct {
                    BlurMethod::Fft
                } else {
                    BlurMethod::Direct
                }
            }
            other => other,
        }
    }
}

/// A uniform blur: a boundary rule and an implementation choice. The kernel is passed per call so
/// that it can be a trainable tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UniformBlur {
    /// Border handling.
    pub boundary: Boundary,
    /// Implementation.
    pub method: BlurMethod,
}

impl UniformBlur {
    /// A blur with the given boundary and automatic method choice.
    pub fn new(boundary: Boundary) -> Self {
        UniformBlur {
            boundary,
            method: BlurMethod::Auto,
        }
    }

    /// The same blur forced to `method`.
    pub fn with_method(self, method: BlurMethod) -> Self {
        UniformBlur { method, ..self }
    }

    /// Output `[h, w]` for an input of `[h, w]` and a kernel of `[kh, kw]`.
    ///
    /// # Errors
    /// [`Error::KernelLargerThanImage`] if the kernel does not fit.
    pub fn output_size(&self, image: [usize; 2], kernel: [usize; 2]) -> Result<[usize; 2]> {
        if kernel[0] == 0 || kernel[1] == 0 || kernel[0] > image[0] || kernel[1] > image[1] {
            return Err(Error::KernelLargerThanImage { kernel, image });
        }
        Ok(match self.boundary {
            Boundary::Valid => [image[0] - kernel[0] + 1, image[1] - kernel[1] + 1],
            Boundary::Same(_) => image,
        })
    }

    /// Blurs `image` `[n, c, h, w]` with `kernel` `[kn, kc, kh, kw]`.
    ///
    /// # Errors
    /// [`Error::KernelLargerThanImage`], or [`Error::ShapeMismatch`] if the kernel's batch or
    /// channel count is neither 1 nor the image's.
    pub fn apply(&self, image: Tensor<4>, kernel: Tensor<4>) -> Result<Tensor<4>> {
        let [_, _, h, w] = image.dims();
        let [_, _, kh, kw] = kernel.dims();
        self.output_size([h, w], [kh, kw])?;
        check_kernel_broadcast(image.dims(), kernel.dims())?;
        let padded = match self.boundary {
            Boundary::Valid => [h, w],
            Boundary::Same(_) => [h + kh - 1, w + kw - 1],
        };
        let method = self.method.resolve(padded, [kh, kw], &image.device());
        Ok(match self.boundary {
            Boundary::Valid => correlate_valid(image, kernel, [(0, 0), (0, 0)], method),
            Boundary::Same(padding) => {
                let pads = same_pads([kh, kw]);
                if padding == Padding::Zero && method == BlurMethod::Direct {
                    // let conv2d pad with zeros instead of materialising a padded copy
                    correlate_valid(image, kernel, pads, method)
                } else {
                    correlate_valid(pad(image, pads, padding), kernel, [(0, 0), (0, 0)], method)
                }
            }
        })
    }

    /// The adjoint (transpose) of [`UniformBlur::apply`] for the same kernel: maps an output-sized
    /// `residual` back to an image of `image_size`, so that `⟨A x, r⟩ = ⟨x, Aᵀ r⟩`.
    ///
    /// # Errors
    /// As [`UniformBlur::apply`], plus [`Error::ShapeMismatch`] if `residual` is not the output size.
    pub fn adjoint(
        &self,
        residual: Tensor<4>,
        kernel: Tensor<4>,
        image_size: [usize; 2],
    ) -> Result<Tensor<4>> {
        let [kn, kc, kh, kw] = kernel.dims();
        let expected = self.output_size(image_size, [kh, kw])?;
        let [n, c, rh, rw] = residual.dims();
        if [rh, rw] != expected {
            return Err(Error::ShapeMismatch {
                what: "residual of the blur".into(),
                expected: vec![n, c, expected[0], expected[1]],
                found: vec![n, c, rh, rw],
            });
        }
        check_kernel_broadcast(residual.dims(), [kn, kc, kh, kw])?;
        let padded = match self.boundary {
            Boundary::Valid => image_size,
            Boundary::Same(_) => [image_size[0] + kh - 1, image_size[1] + kw - 1],
        };
        let method = self.method.resolve(padded, [kh, kw], &residual.device());
        Ok(match self.boundary {
            Boundary::Valid => correlate_valid_adjoint(residual, kernel, method),
            Boundary::Same(padding) => {
                let pads = same_pads([kh, kw]);
                let padded = correlate_valid_adjoint(residual, kernel, method);
                pad_adjoint(padded, pads, padding, image_size)
            }
        })
    }
}

/// Pads for a `same` blur: `c` before and `K − 1 − c` after, per axis.
pub fn same_pads(kernel: [usize; 2]) -> PadWidths {
    let side = |k: usize| ((k - 1) / 2, k - 1 - (k - 1) / 2);
    [side(kernel[0]), side(kernel[1])]
}

fn check_kernel_broadcast(image: [usize; 4], kernel: [usize; 4]) -> Result<()> {
    let ok = (kernel[0] == 1 || kernel[0] == image[0]) && (kernel[1] == 1 || kernel[1] == image[1]);
    if ok {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            what: "kernel batch/channels must be 1 or match the image".into(),
            expected: vec![image[0], image[1], kernel[2], kernel[3]],
            found: kernel.to_vec(),
        })
    }
}

/// Valid cross-correlation of `x` (zero-padded by `zero_pads` inside `conv2d` for the direct
/// method; callers pass no pads for the FFT method).
fn correlate_valid(
    x: Tensor<4>,
    kernel: Tensor<4>,
    zero_pads: PadWidths,
    method: BlurMethod,
) -> Tensor<4> {
    match method {
        BlurMethod::Fft => {
            let x = if zero_pads == [(0, 0), (0, 0)] {
                x
            } else {
                pad(x, zero_pads, Padding::Zero)
            };
            correlate_fft(x, kernel, false)
        }
        _ => correlate_direct(x, kernel, zero_pads),
    }
}

/// Adjoint of a valid correlation: full convolution of `r` with the kernel.
fn correlate_valid_adjoint(
    residual: Tensor<4>,
    kernel: Tensor<4>,
    method: BlurMethod,
) -> Tensor<4> {
    let [_, _, kh, kw] = kernel.dims();
    match method {
        BlurMethod::Fft => correlate_fft(residual, kernel, true),
        _ => correlate_direct(
            residual,
            kernel.flip([2, 3]),
            [(kh - 1, kh - 1), (kw - 1, kw - 1)],
        ),
    }
}

fn correlate_direct(x: Tensor<4>, kernel: Tensor<4>, zero_pads: PadWidths) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let [kn, kc, kh, kw] = kernel.dims();
    let options = |groups| ConvOptions {
        stride: [1, 1],
        padding: zero_pads,
        dilation: [1, 1],
        groups,
    };
    let (oh, ow) = (
        h + zero_pads[0].0 + zero_pads[0].1 + 1 - kh,
        w + zero_pads[1].0 + zero_pads[1].1 + 1 - kw,
    );
    if kn == 1 && kc == 1 {
        // one kernel for all planes: fold channels into the batch
        let out = conv2d(x.reshape([n * c, 1, h, w]), kernel, None, options(1)); // [n·c, 1, oh, ow]
        return out.reshape([n, c, oh, ow]);
    }
    let weight = kernel.expand([n, c, kh, kw]).reshape([n * c, 1, kh, kw]);
    let out = conv2d(x.reshape([1, n * c, h, w]), weight, None, options(n * c)); // [1, n·c, oh, ow]
    out.reshape([n, c, oh, ow])
}

/// Valid cross-correlation (or, with `adjoint`, full convolution) through the FFT: on `flex`,
/// host transforms of 5-smooth sizes with a handwritten backward pass
/// ([`crate::flex_ext::FftBlurOps`]); elsewhere burn's power-of-two `signal` FFTs.
fn correlate_fft(x: Tensor<4>, kernel: Tensor<4>, adjoint: bool) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if crate::flex_ext::on_flex(&x) {
        use crate::host_fft::Relation;
        let relation = if adjoint {
            Relation::Convolve
        } else {
            Relation::Correlate
        };
        return crate::flex_ext::fft_relate(x, kernel, relation);
    }
    let [_, _, h, w] = x.dims();
    let [_, _, kh, kw] = kernel.dims();
    // the adjoint output is (h + kh − 1) × (w + kw − 1); the circular transform must hold it
    let (out_h, out_w) = if adjoint {
        (h + kh - 1, w + kw - 1)
    } else {
        (h - kh + 1, w - kw + 1)
    };
    let p = if adjoint { out_h } else { h }.next_power_of_two();
    let q = if adjoint { out_w } else { w }.next_power_of_two();
    let x_spec = rfft2(x.pad(
        [(0, p - h), (0, q - w)],
        burn::tensor::ops::PadMode::Constant(0.0),
    ));
    let k_spec = rfft2(kernel.pad(
        [(0, p - kh), (0, q - kw)],
        burn::tensor::ops::PadMode::Constant(0.0),
    ));
    if adjoint {
        // x_adj[m] = Σ_u r[m − u] k[u]: circular convolution; r sits at the top-left, so the
        // result for m ∈ [0, out) never wraps.
        irfft2(x_spec.mul(&k_spec), q)
            .narrow(2, 0, out_h)
            .narrow(3, 0, out_w)
    } else {
        // y[i] = Σ_u x[i + u] k[u]: circular correlation, exact for i < h − kh + 1 because p ≥ h.
        irfft2(x_spec.mul_conj(&k_spec), q)
            .narrow(2, 0, out_h)
            .narrow(3, 0, out_w)
    }
}

/// Adds i.i.d. Gaussian noise of standard deviation `std` (image units) drawn on the host from
/// `seed`, so the same seed gives the same noise on every backend.
///
/// # Errors
/// [`Error::InvalidParameter`] if `std` is negative or not finite.
pub fn add_gaussian_noise(image: Tensor<4>, std: f32, seed: u64) -> Result<Tensor<4>> {
    if !(std.is_finite() && std >= 0.0) {
        return Err(Error::invalid(
            "noise std",
            format!("{std} must be finite and ≥ 0"),
        ));
    }
    if std == 0.0 {
        return Ok(image);
    }
    let dims = image.dims();
    let normal =
        Normal::new(0.0f32, std).map_err(|e| Error::invalid("noise std", e.to_string()))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let noise: Vec<f32> = (0..dims.iter().product::<usize>())
        .map(|_| normal.sample(&mut rng))
        .collect();
    let noise = Tensor::from_data(TensorData::new(noise, dims), &image.device());
    Ok(image + noise)
}

/// Blurs a host image `[c, h, w]` with one kernel shared by all channels, then adds seeded
/// Gaussian noise of `noise_std` (0 for none). The convenience entry point behind `deblur blur`.
///
/// # Errors
/// [`Error::KernelLargerThanImage`] and the errors of [`add_gaussian_noise`].
pub fn blur_image(
    image: &ndarray::Array3<f32>,
    kernel: &crate::Kernel,
    blur: UniformBlur,
    noise_std: f32,
    seed: u64,
    device: &burn::tensor::Device,
) -> Result<ndarray::Array3<f32>> {
    let x = crate::convert::array_to_tensor(image, device);
    let y = blur.apply(x, kernel.to_tensor(device))?;
    let y = add_gaussian_noise(y, noise_std, seed)?;
    crate::convert::tensor_to_array(y, 0)
}
