//! 2-D discrete Fourier transforms of real `[.., h, w]` tensors.
//!
//! On plain (non-autodiff) `flex` tensors the transforms run on the host through
//! [`crate::host_fft`] (`realfft`, any length: pick sizes with [`transform_len`]). Elsewhere they
//! use burn's `signal` FFTs (power-of-two lengths, differentiable): burn offers a real
//! forward/inverse FFT and a complex forward FFT; the complex inverse is built from the forward
//! one by conjugation: `ifft(Z) = conj(fft(conj(Z))) / N`.

use burn::signal::{cfft, irfft, rfft};
use burn::tensor::{Device, Tensor};

/// The transform length to use for a signal of at least `n` samples on `device`: the smallest
/// 5-smooth length where the host transforms run (plain `flex`), else the next power of two.
pub fn transform_len(n: usize, device: &Device) -> usize {
    if on_host(device) {
        crate::host_fft::fast_len(n)
    } else {
        n.next_power_of_two()
    }
}

/// Whether [`rfft2`] and [`irfft2`] run on the host for tensors on `device`.
fn on_host(device: &Device) -> bool {
    crate::device::is_flex(device) && !device.is_autodiff()
}

/// A half spectrum of a real 2-D signal: `[.., p, q/2 + 1]` real and imaginary parts.
#[derive(Clone, Debug)]
pub struct Spectrum {
    /// Real part.
    pub re: Tensor<4>,
    /// Imaginary part.
    pub im: Tensor<4>,
}

impl Spectrum {
    /// Element-wise product `self · other` (broadcasting over batch and channel).
    pub fn mul(&self, other: &Spectrum) -> Spectrum {
        Spectrum {
            re: self.re.clone() * other.re.clone() - self.im.clone() * other.im.clone(),
            im: self.re.clone() * other.im.clone() + self.im.clone() * other.re.clone(),
        }
    }

    /// Element-wise product `self · conj(other)`.
    pub fn mul_conj(&self, other: &Spectrum) -> Spectrum {
        Spectrum {
            re: self.re.clone() * other.re.clone() + self.im.clone() * other.im.clone(),
            im: self.im.clone() * other.re.clone() - self.re.clone() * other.im.clone(),
        }
    }
}

/// The 2-D DFT of a real `[n, c, p, q]` tensor (`p`, `q` from [`transform_len`]), as the half
/// spectrum `[n, c, p, q/2 + 1]`.
pub fn rfft2(x: Tensor<4>) -> Spectrum {
    if on_host(&x.device()) {
        return host::rfft2(x);
    }
    let p = x.dims()[2];
    let (re, im) = rfft(x, 3, None); // [n, c, p, q/2+1] along the width
    let (re, im) = cfft(re, im, 2, Some(p)); // full complex transform along the height
    Spectrum { re, im }
}

/// The inverse of [`rfft2`]: a real `[n, c, p, q]` tensor from its half spectrum (`q` the full width).
pub fn irfft2(spectrum: Spectrum, q: usize) -> Tensor<4> {
    if on_host(&spectrum.re.device()) {
        return host::irfft2(spectrum, q);
    }
    let p = spectrum.re.dims()[2];
    // inverse complex FFT along the height by conjugation
    let (re, im) = cfft(spectrum.re, spectrum.im.neg(), 2, Some(p));
    let scale = 1.0 / p as f32;
    let (re, im) = (re * scale, im.neg() * scale);
    irfft(re, im, 3, Some(q))
}

/// The host path: [`crate::host_fft::Fft2`] per plane, spectra converted between its
/// column-major layout and the tensors' `[.., p, q/2 + 1]`.
mod host {
    use super::Spectrum;
    use crate::host_fft::Fft2;
    use burn::tensor::{Tensor, TensorData};
    use realfft::num_complex::Complex32;

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 tensor data")
    }

    pub(super) fn rfft2(x: Tensor<4>) -> Spectrum {
        let [n, c, p, q] = x.dims();
        let device = x.device();
        let fft = Fft2::new(p, q);
        let cols = q / 2 + 1;
        let xs = values(x);
        let (mut re, mut im) = (vec![0f32; n * c * p * cols], vec![0f32; n * c * p * cols]);
        for ((plane, re), im) in xs
            .chunks(p * q)
            .zip(re.chunks_mut(p * cols))
            .zip(im.chunks_mut(p * cols))
        {
            let spec = fft.forward(plane, [p, q]);
            for (col, column) in spec.chunks(p).enumerate() {
                for (r, v) in column.iter().enumerate() {
                    re[r * cols + col] = v.re;
                    im[r * cols + col] = v.im;
                }
            }
        }
        let dims = [n, c, p, cols];
        Spectrum {
            re: Tensor::from_data(TensorData::new(re, dims), &device),
            im: Tensor::from_data(TensorData::new(im, dims), &device),
        }
    }

    pub(super) fn irfft2(spectrum: Spectrum, q: usize) -> Tensor<4> {
        let [n, c, p, cols] = spectrum.re.dims();
        assert_eq!(cols, q / 2 + 1, "half spectrum width against q");
        let device = spectrum.re.device();
        let fft = Fft2::new(p, q);
        let (re, im) = (values(spectrum.re), values(spectrum.im));
        let mut out = Vec::with_capacity(n * c * p * q);
        for (re, im) in re.chunks(p * cols).zip(im.chunks(p * cols)) {
            let mut spec = vec![Complex32::default(); p * cols];
            for (col, column) in spec.chunks_mut(p).enumerate() {
                for (r, v) in column.iter_mut().enumerate() {
                    *v = Complex32::new(re[r * cols + col], im[r * cols + col]);
                }
            }
            out.extend(fft.inverse(spec, [p, q]));
        }
        Tensor::from_data(TensorData::new(out, [n, c, p, q]), &device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn round_trip_and_dc_term() {
        let device = Device::default();
        let vals: Vec<f32> = (0..32).map(|i| ((i * 5) % 9) as f32 - 3.0).collect();
        let sum: f32 = vals.iter().sum();
        let x: Tensor<4> = Tensor::from_data(TensorData::new(vals.clone(), [1, 1, 4, 8]), &device);
        let spec = rfft2(x);
        assert_eq!(spec.re.dims(), [1, 1, 4, 5]);
        // the DC coefficient is the plain sum
        let dc = spec
            .re
            .clone()
            .narrow(2, 0, 1)
            .narrow(3, 0, 1)
            .into_scalar::<f32>();
        assert!((dc - sum).abs() < 1e-4);
        let back: Vec<f32> = irfft2(spec, 8)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        for (a, b) in back.iter().zip(&vals) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    /// The host transforms (plain flex) against burn's `signal` FFTs (which the autodiff device
    /// takes) on the same power-of-two plane, both ways.
    #[test]
    fn host_transforms_match_burn_signal() {
        let plain = Device::default();
        let tracked = Device::default().autodiff();
        let vals: Vec<f32> = (0..2 * 16 * 8)
            .map(|i| ((i * 7) % 13) as f32 * 0.1 - 0.6)
            .collect();
        let on = |device: &Device| {
            let x: Tensor<4> =
                Tensor::from_data(TensorData::new(vals.clone(), [2, 1, 16, 8]), device);
            let spec = rfft2(x);
            let re: Vec<f32> = spec.re.to_data().convert::<f32>().try_into_vec().unwrap();
            let im: Vec<f32> = spec.im.to_data().convert::<f32>().try_into_vec().unwrap();
            let back: Vec<f32> = irfft2(spec, 8)
                .into_data()
                .convert::<f32>()
                .try_into_vec()
                .unwrap();
            (re, im, back)
        };
        assert!(super::on_host(&plain) && !super::on_host(&tracked));
        let (a, b) = (on(&plain), on(&tracked));
        for (x, y) in
            a.0.iter()
                .chain(&a.1)
                .chain(&a.2)
                .zip(b.0.iter().chain(&b.1).chain(&b.2))
        {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
        assert_eq!(transform_len(1054, &plain), 1080);
        assert_eq!(transform_len(1054, &tracked), 2048);
    }
}
