//! 2-D discrete Fourier transforms of real `[.., h, w]` tensors on burn's `signal` FFTs
//! (power-of-two lengths, differentiable). burn offers a real forward/inverse FFT and a complex
//! forward FFT; the complex inverse is built from the forward one by conjugation:
//! `ifft(Z) = conj(fft(conj(Z))) / N`.

use burn::signal::{cfft, irfft, rfft};
use burn::tensor::Tensor;

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

/// The 2-D DFT of a real `[n, c, p, q]` tensor (`p`, `q` powers of two), as the half spectrum
/// `[n, c, p, q/2 + 1]`.
pub fn rfft2(x: Tensor<4>) -> Spectrum {
    let p = x.dims()[2];
    let (re, im) = rfft(x, 3, None); // [n, c, p, q/2+1] along the width
    let (re, im) = cfft(re, im, 2, Some(p)); // full complex transform along the height
    Spectrum { re, im }
}

/// The inverse of [`rfft2`]: a real `[n, c, p, q]` tensor from its half spectrum (`q` the full width).
pub fn irfft2(spectrum: Spectrum, q: usize) -> Tensor<4> {
    let p = spectrum.re.dims()[2];
    // inverse complex FFT along the height by conjugation
    let (re, im) = cfft(spectrum.re, spectrum.im.neg(), 2, Some(p));
    let scale = 1.0 / p as f32;
    let (re, im) = (re * scale, im.neg() * scale);
    irfft(re, im, 3, Some(q))
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
}
