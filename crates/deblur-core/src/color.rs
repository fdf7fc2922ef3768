//! RGB ↔ YCbCr in the two conventions the reference codes use.
//!
//! - [`YCbCrStandard::Bt601Studio`]: MATLAB `rgb2ycbcr` on doubles in `[0, 1]` (ITU-R BT.601,
//!   studio range): `Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255`, Y in `[16/255, 235/255]`.
//!   Used by the evaluation scripts of \[Lai\] (MATLAB `rgb2ycbcr`).
//! - [`YCbCrStandard::FullRange`]: OpenCV `cvtColor(RGB2YCrCb)` on floats:
//!   `Y = 0.299 R + 0.587 G + 0.114 B`, `Cr = 0.713 (R − Y) + 0.5`, `Cb = 0.564 (B − Y) + 0.5`.
//!   Used by SelfDeblur's colour script.
//!
//! The inverse is the exact matrix inverse of the forward transform (OpenCV's own inverse uses
//! rounded constants and differs by < 1e-3), so a round trip is lossless up to `f32` rounding.
//! Arrays are `[channels, height, width]`; YCbCr arrays hold the channels in the order Y, Cb, Cr.

use burn::tensor::Tensor;
use ndarray::{Array2, Array3, ArrayView2, Axis};

use crate::{Error, Result};

/// Which YCbCr definition to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum YCbCrStandard {
    /// MATLAB `rgb2ycbcr`: BT.601 studio range.
    #[default]
    Bt601Studio,
    /// OpenCV `RGB2YCrCb`: full range.
    FullRange,
}

impl YCbCrStandard {
    /// Rows Y, Cb, Cr of the forward matrix (applied to R, G, B) and the offsets.
    fn forward(self) -> ([[f64; 3]; 3], [f64; 3]) {
        match self {
            YCbCrStandard::Bt601Studio => (
                [
                    [65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0],
                    [-37.797 / 255.0, -74.203 / 255.0, 112.0 / 255.0],
                    [112.0 / 255.0, -93.786 / 255.0, -18.214 / 255.0],
                ],
                [16.0 / 255.0, 128.0 / 255.0, 128.0 / 255.0],
            ),
            YCbCrStandard::FullRange => {
                let y = FULL_RANGE_LUMA.map(f64::from);
                // Cb = 0.564 (B − Y), Cr = 0.713 (R − Y)
                let cb = [-0.564 * y[0], -0.564 * y[1], 0.564 * (1.0 - y[2])];
                let cr = [0.713 * (1.0 - y[0]), -0.713 * y[1], -0.713 * y[2]];
                ([y, cb, cr], [0.0, 0.5, 0.5])
            }
        }
    }
}

fn invert3(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let mut inv = [[0.0; 3]; 3];
    for (i, row) in inv.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            // cofactor of m[j][i]
            let (r0, r1) = match j {
                0 => (1, 2),
                1 => (0, 2),
                _ => (0, 1),
            };
            let (c0, c1) = match i {
                0 => (1, 2),
                1 => (0, 2),
                _ => (0, 1),
            };
            let minor = m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
            let sign = if (i + j) % 2 == 0 { 1.0 } else { -1.0 };
            *v = sign * minor / det;
        }
    }
    inv
}

fn apply(
    input: &Array3<f32>,
    m: [[f64; 3]; 3],
    pre: [f64; 3],
    post: [f64; 3],
) -> Result<Array3<f32>> {
    let (c, h, w) = input.dim();
    if c != 3 {
        return Err(Error::ShapeMismatch {
            what: "colour conversion needs 3 channels".into(),
            expected: vec![3, h, w],
            found: vec![c, h, w],
        });
    }
    let mut out = Array3::<f32>::zeros((3, h, w));
    for y in 0..h {
        for x in 0..w {
            let v = [0, 1, 2].map(|ch| f64::from(input[[ch, y, x]]) - pre[ch]);
            for (o, row) in m.iter().enumerate() {
                out[[o, y, x]] = (row[0] * v[0] + row[1] * v[1] + row[2] * v[2] + post[o]) as f32;
            }
        }
    }
    Ok(out)
}

/// RGB `[3, h, w]` in `[0, 1]` → YCbCr `[3, h, w]` (channels Y, Cb, Cr) in the given standard.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the input does not have 3 channels.
pub fn rgb_to_ycbcr(rgb: &Array3<f32>, standard: YCbCrStandard) -> Result<Array3<f32>> {
    let (m, offset) = standard.forward();
    apply(rgb, m, [0.0; 3], offset)
}

/// YCbCr `[3, h, w]` (channels Y, Cb, Cr) → RGB `[3, h, w]`; the exact inverse of [`rgb_to_ycbcr`].
/// Values are not clipped.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the input does not have 3 channels.
pub fn ycbcr_to_rgb(ycbcr: &Array3<f32>, standard: YCbCrStandard) -> Result<Array3<f32>> {
    let (m, offset) = standard.forward();
    apply(ycbcr, invert3(m), offset, [0.0; 3])
}

/// The weights of R, G and B in the full-range luma ([`YCbCrStandard::FullRange`], BT.601).
pub const FULL_RANGE_LUMA: [f32; 3] = [0.299, 0.587, 0.114];

/// The full-range luma of a batch of images `[n, c, h, w]` on any device, as `[n, 1, h, w]`: the
/// weighted sum [`FULL_RANGE_LUMA`] for three channels, the channel mean otherwise (one channel:
/// the image itself). The tensor counterpart of [`luma`] with [`YCbCrStandard::FullRange`].
pub fn luma_tensor(images: Tensor<4>) -> Tensor<4> {
    let [_, c, _, _] = images.dims();
    if c == 3 {
        let w = Tensor::<1>::from_floats(FULL_RANGE_LUMA, &images.device()).reshape([1, 3, 1, 1]);
        (images * w).sum_dim(1)
    } else {
        images.mean_dim(1)
    }
}

/// The luma channel Y of an RGB image `[3, h, w]`, as `[h, w]`. A 1-channel image is returned as is.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the input has neither 1 nor 3 channels.
pub fn luma(image: &Array3<f32>, standard: YCbCrStandard) -> Result<Array2<f32>> {
    if image.dim().0 == 1 {
        return Ok(image.index_axis(Axis(0), 0).to_owned());
    }
    Ok(rgb_to_ycbcr(image, standard)?
        .index_axis(Axis(0), 0)
        .to_owned())
}

/// Replaces the luma of an RGB image by `new_luma` (`[h, w]`) and converts back to RGB, keeping the
/// original chroma: the colour path of SelfDeblur (`selfdeblur_ycbcr`). Output is clipped to `[0, 1]`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `rgb` is not `[3, h, w]` or `new_luma` is not `[h, w]`.
pub fn merge_luma(
    rgb: &Array3<f32>,
    new_luma: ArrayView2<f32>,
    standard: YCbCrStandard,
) -> Result<Array3<f32>> {
    let mut ycc = rgb_to_ycbcr(rgb, standard)?;
    let (_, h, w) = ycc.dim();
    if new_luma.dim() != (h, w) {
        return Err(Error::ShapeMismatch {
            what: "new luma channel".into(),
            expected: vec![h, w],
            found: vec![new_luma.nrows(), new_luma.ncols()],
        });
    }
    ycc.index_axis_mut(Axis(0), 0).assign(&new_luma);
    Ok(ycbcr_to_rgb(&ycc, standard)?.mapv(|v| v.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tensor_luma_is_the_array_luma() {
        let device = burn::tensor::Device::default();
        let rgb = Array3::from_shape_fn((3, 2, 3), |(c, y, x)| (c * 6 + y * 3 + x) as f32 / 17.0);
        let expected = luma(&rgb, YCbCrStandard::FullRange).unwrap();
        let t = crate::convert::array_to_tensor(&rgb, &device);
        let got = crate::convert::tensor_to_array(luma_tensor(t), 0).unwrap();
        for (a, b) in got.iter().zip(expected.iter()) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        // red alone: 0.299
        let red = Array3::from_shape_fn((3, 1, 1), |(c, _, _)| if c == 0 { 1.0 } else { 0.0 });
        let y = luma_tensor(crate::convert::array_to_tensor(&red, &device));
        assert!((y.into_scalar::<f32>() - 0.299).abs() < 1e-7);
    }

    fn rgb(values: [[f32; 3]; 4]) -> Array3<f32> {
        Array3::from_shape_fn((3, 2, 2), |(c, y, x)| values[y * 2 + x][c])
    }

    #[test]
    fn matlab_studio_range_known_values() {
        // MATLAB rgb2ycbcr on doubles: white → (235, 128, 128)/255, black → (16, 128, 128)/255,
        // pure red → (81.481, 90.203, 240)/255 (16 + 65.481, 128 − 37.797, 128 + 112).
        let img = rgb([
            [1.0, 1.0, 1.0],
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.5, 0.5, 0.5],
        ]);
        let ycc = rgb_to_ycbcr(&img, YCbCrStandard::Bt601Studio).unwrap();
        let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
        assert!(close(ycc[[0, 0, 0]], 235.0 / 255.0));
        assert!(close(ycc[[1, 0, 0]], 128.0 / 255.0) && close(ycc[[2, 0, 0]], 128.0 / 255.0));
        assert!(close(ycc[[0, 0, 1]], 16.0 / 255.0));
        assert!(close(ycc[[0, 1, 0]], 81.481 / 255.0));
        assert!(close(ycc[[1, 1, 0]], 90.203 / 255.0));
        assert!(close(ycc[[2, 1, 0]], 240.0 / 255.0));
    }

    #[test]
    fn opencv_full_range_known_values() {
        // OpenCV RGB2YCrCb (float): red → Y 0.299, Cr 0.713·0.701 + 0.5, Cb 0.564·(−0.299) + 0.5.
        let img = rgb([
            [1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
            [1.0, 1.0, 1.0],
            [0.2, 0.4, 0.6],
        ]);
        let ycc = rgb_to_ycbcr(&img, YCbCrStandard::FullRange).unwrap();
        assert!((ycc[[0, 0, 0]] - 0.299).abs() < 1e-6);
        assert!((ycc[[2, 0, 0]] - (0.713 * 0.701 + 0.5)).abs() < 1e-6);
        assert!((ycc[[1, 0, 0]] - (0.5 - 0.564 * 0.299)).abs() < 1e-6);
        assert!((ycc[[0, 1, 0]] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn round_trips_are_lossless() {
        let img = Array3::from_shape_fn((3, 7, 5), |(c, y, x)| {
            ((c * 31 + y * 17 + x * 13) % 97) as f32 / 96.0
        });
        for std in [YCbCrStandard::Bt601Studio, YCbCrStandard::FullRange] {
            let back = ycbcr_to_rgb(&rgb_to_ycbcr(&img, std).unwrap(), std).unwrap();
            let err = (&back - &img).iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(err < 1e-5, "{std:?}: {err}");
        }
    }

    #[test]
    fn merging_own_luma_is_identity_and_gray_stays_gray() {
        let img = Array3::from_shape_fn((3, 4, 4), |(c, y, x)| {
            0.1 + 0.2 * c as f32 + 0.01 * (y * 4 + x) as f32
        });
        let y = luma(&img, YCbCrStandard::FullRange).unwrap();
        let merged = merge_luma(&img, y.view(), YCbCrStandard::FullRange).unwrap();
        assert!((&merged - &img).iter().all(|v| v.abs() < 1e-5));
        assert!(rgb_to_ycbcr(&Array3::zeros((1, 2, 2)), YCbCrStandard::FullRange).is_err());
    }
}
