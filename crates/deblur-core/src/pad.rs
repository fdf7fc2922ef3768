//! Boundary extension of `[batch, channels, height, width]` tensors and its adjoint.
//!
//! Every mode except zero padding is an index map (each output row/column copies one input
//! row/column), applied with `select` so that it is differentiable on every backend, works for any
//! pad width (reflections repeat periodically when the pad exceeds the image) and has an exact
//! adjoint (`select_assign` with summation).

use burn::tensor::ops::PadMode;
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};

/// How an image is extended beyond its border.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Padding {
    /// Zeros outside the image.
    Zero,
    /// Mirror without repeating the edge pixel (`dcb|abcd|cba`): PyTorch `ReflectionPad2d`,
    /// NumPy `reflect`.
    Reflect,
    /// Mirror repeating the edge pixel (`cba|abcd|dcb`): MATLAB `symmetric`, NumPy `symmetric`.
    Symmetric,
    /// Repeat the edge pixel (`aaa|abcd|ddd`): PyTorch `replicate`, NumPy `edge`.
    Replicate,
    /// Wrap around (`bcd|abcd|abc`): periodic boundary, PyTorch `circular`.
    Circular,
}

impl Padding {
    /// Source index for position `i` (may be negative or ≥ n) of a dimension of length `n`.
    /// `None` means a zero (only for [`Padding::Zero`]).
    pub fn source(self, i: isize, n: usize) -> Option<usize> {
        let n_i = n as isize;
        match self {
            Padding::Zero => (0..n_i).contains(&i).then_some(i as usize),
            Padding::Replicate => Some(i.clamp(0, n_i - 1) as usize),
            Padding::Circular => Some(i.rem_euclid(n_i) as usize),
            Padding::Reflect => {
                if n == 1 {
                    return Some(0);
                }
                let period = 2 * n_i - 2;
                let m = i.rem_euclid(period);
                Some(if m >= n_i { period - m } else { m } as usize)
            }
            Padding::Symmetric => {
                let period = 2 * n_i;
                let m = i.rem_euclid(period);
                Some(if m >= n_i { period - 1 - m } else { m } as usize)
            }
        }
    }

    /// Parses `zero`, `reflect`, `symmetric`, `replicate` or `circular`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "zero" | "zeros" | "constant" => Some(Padding::Zero),
            "reflect" => Some(Padding::Reflect),
            "symmetric" => Some(Padding::Symmetric),
            "replicate" | "edge" => Some(Padding::Replicate),
            "circular" | "wrap" | "periodic" => Some(Padding::Circular),
            _ => None,
        }
    }
}

/// Pad widths `[(top, bottom), (left, right)]`.
pub type PadWidths = [(usize, usize); 2];

fn index_map(
    mode: Padding,
    n: usize,
    before: usize,
    after: usize,
    device: &burn::tensor::Device,
) -> Tensor<1, Int> {
    let idx: Vec<i64> = (0..n + before + after)
        .map(|p| mode.source(p as isize - before as isize, n).unwrap_or(0) as i64)
        .collect();
    let len = idx.len();
    Tensor::from_data(TensorData::new(idx, [len]), device)
}

/// Extends `x` (`[n, c, h, w]`) by `pads` with boundary `mode`.
///
/// # Shapes
/// `[n, c, h, w]` → `[n, c, h + top + bottom, w + left + right]`
///
/// # Panics
/// If `h` or `w` is zero.
pub fn pad(x: Tensor<4>, pads: PadWidths, mode: Padding) -> Tensor<4> {
    if pads == [(0, 0), (0, 0)] {
        return x;
    }
    let [_, _, h, w] = x.dims();
    assert!(h > 0 && w > 0, "cannot pad an empty image");
    #[cfg(feature = "flex")]
    if crate::flex_ext::on_flex(&x) {
        return crate::flex_ext::pad(x, pads, mode, false);
    }
    if mode == Padding::Zero {
        return x.pad(pads, PadMode::Constant(0.0));
    }
    let device = x.device();
    let mut out = x;
    if pads[0] != (0, 0) {
        out = out.select(2, index_map(mode, h, pads[0].0, pads[0].1, &device));
    }
    if pads[1] != (0, 0) {
        out = out.select(3, index_map(mode, w, pads[1].0, pads[1].1, &device));
    }
    out
}

/// The adjoint of [`pad`]: folds every padded pixel back onto the pixel it copies, summing.
/// `size` is the `[h, w]` of the unpadded image.
///
/// # Shapes
/// `[n, c, h + top + bottom, w + left + right]` → `[n, c, h, w]`
pub fn pad_adjoint(y: Tensor<4>, pads: PadWidths, mode: Padding, size: [usize; 2]) -> Tensor<4> {
    if pads == [(0, 0), (0, 0)] {
        return y;
    }
    let [h, w] = size;
    if mode == Padding::Zero {
        return y.narrow(2, pads[0].0, h).narrow(3, pads[1].0, w);
    }
    #[cfg(feature = "flex")]
    if crate::flex_ext::on_flex(&y) {
        return crate::flex_ext::pad(y, pads, mode, true);
    }
    let device = y.device();
    let [n, c, _, wp] = y.dims();
    let mut out = y;
    if pads[0] != (0, 0) {
        let idx = index_map(mode, h, pads[0].0, pads[0].1, &device);
        out =
            Tensor::zeros([n, c, h, wp], &device).select_assign(2, idx, out, IndexingUpdateOp::Add);
    }
    if pads[1] != (0, 0) {
        let idx = index_map(mode, w, pads[1].0, pads[1].1, &device);
        out =
            Tensor::zeros([n, c, h, w], &device).select_assign(3, idx, out, IndexingUpdateOp::Add);
    }
    out
}

/// Source column of every column of a row padded by `(left, right)` (`None`: a zero).
fn column_sources(mode: Padding, w: usize, (left, right): (usize, usize)) -> Vec<Option<usize>> {
    (0..w + left + right)
        .map(|p| mode.source(p as isize - left as isize, w))
        .collect()
}

/// [`pad`] on host planes: `xs` holds `planes` row-major `h × w` planes (any count); returns
/// the padded planes, `(h + top + bottom) × (w + left + right)` each. Planes run in parallel.
pub fn pad_planes(xs: &[f32], [h, w]: [usize; 2], pads: PadWidths, mode: Padding) -> Vec<f32> {
    use rayon::prelude::*;
    let (ph, pw) = (h + pads[0].0 + pads[0].1, w + pads[1].0 + pads[1].1);
    let cols = column_sources(mode, w, pads[1]);
    let left = pads[1].0;
    let mut out = vec![0f32; xs.len() / (h * w) * ph * pw];
    out.par_chunks_mut(ph * pw)
        .zip(xs.par_chunks(h * w))
        .for_each(|(o, x)| {
            for (py, dst) in o.chunks_mut(pw).enumerate() {
                let Some(sy) = mode.source(py as isize - pads[0].0 as isize, h) else {
                    continue;
                };
                let src = &x[sy * w..(sy + 1) * w];
                dst[left..left + w].copy_from_slice(src);
                for p in (0..left).chain(left + w..pw) {
                    if let Some(sx) = cols[p] {
                        dst[p] = src[sx];
                    }
                }
            }
        });
    out
}

/// Adds each `[h, w]` plane of `src` into the matching `[th, tw]` plane of `dst` at rows
/// `at[0]..`, columns `at[1]..` (overlap-add on host planes; the piece must fit).
pub fn add_planes_at(
    dst: &mut [f32],
    [th, tw]: [usize; 2],
    src: &[f32],
    [h, w]: [usize; 2],
    at: [usize; 2],
) {
    assert!(
        at[0] + h <= th && at[1] + w <= tw,
        "piece outside the plane"
    );
    for (plane, part) in dst.chunks_mut(th * tw).zip(src.chunks(h * w)) {
        for (r, row) in part.chunks(w).enumerate() {
            let start = (at[0] + r) * tw + at[1];
            for (d, s) in plane[start..start + w].iter_mut().zip(row) {
                *d += s;
            }
        }
    }
}

/// The `[h, w]` region at `at` of every `[th, tw]` plane of `src`, copied (the adjoint of
/// [`add_planes_at`]).
pub fn crop_planes(
    src: &[f32],
    [th, tw]: [usize; 2],
    at: [usize; 2],
    [h, w]: [usize; 2],
) -> Vec<f32> {
    assert!(
        at[0] + h <= th && at[1] + w <= tw,
        "region outside the plane"
    );
    let mut out = Vec::with_capacity(src.len() / (th * tw).max(1) * h * w);
    for plane in src.chunks(th * tw) {
        for r in 0..h {
            let start = (at[0] + r) * tw + at[1];
            out.extend_from_slice(&plane[start..start + w]);
        }
    }
    out
}

/// The adjoint of [`pad_planes`] ([`pad_adjoint`] on host planes): every padded pixel's value is
/// added onto the pixel it copies. `[h, w]` is the unpadded plane size.
pub fn pad_planes_adjoint(
    gs: &[f32],
    [h, w]: [usize; 2],
    pads: PadWidths,
    mode: Padding,
) -> Vec<f32> {
    use rayon::prelude::*;
    let (ph, pw) = (h + pads[0].0 + pads[0].1, w + pads[1].0 + pads[1].1);
    let cols = column_sources(mode, w, pads[1]);
    let left = pads[1].0;
    let mut out = vec![0f32; gs.len() / (ph * pw) * h * w];
    out.par_chunks_mut(h * w)
        .zip(gs.par_chunks(ph * pw))
        .for_each(|(o, g)| {
            for (py, src) in g.chunks(pw).enumerate() {
                let Some(sy) = mode.source(py as isize - pads[0].0 as isize, h) else {
                    continue;
                };
                let dst = &mut o[sy * w..(sy + 1) * w];
                for (d, s) in dst.iter_mut().zip(&src[left..left + w]) {
                    *d += s;
                }
                for p in (0..left).chain(left + w..pw) {
                    if let Some(sx) = cols[p] {
                        dst[sx] += src[p];
                    }
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn row(values: &[f32]) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [1, 1, 1, values.len()]),
            &Device::default(),
        )
    }

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn modes_match_their_numpy_definitions() {
        // numpy.pad([1, 2, 3, 4], (3, 2), mode) for each mode, written out by hand.
        let x = || row(&[1.0, 2.0, 3.0, 4.0]);
        let p = [(0, 0), (3, 2)];
        assert_eq!(
            values(pad(x(), p, Padding::Zero)),
            [0., 0., 0., 1., 2., 3., 4., 0., 0.]
        );
        assert_eq!(
            values(pad(x(), p, Padding::Reflect)),
            [4., 3., 2., 1., 2., 3., 4., 3., 2.]
        );
        assert_eq!(
            values(pad(x(), p, Padding::Symmetric)),
            [3., 2., 1., 1., 2., 3., 4., 4., 3.]
        );
        assert_eq!(
            values(pad(x(), p, Padding::Replicate)),
            [1., 1., 1., 1., 2., 3., 4., 4., 4.]
        );
        assert_eq!(
            values(pad(x(), p, Padding::Circular)),
            [2., 3., 4., 1., 2., 3., 4., 1., 2.]
        );
    }

    #[test]
    fn wide_reflection_repeats_periodically() {
        // numpy.pad([1, 2, 3], (5, 0), 'reflect') = [2, 1, 2, 3, 2, 1, 2, 3] (numpy 1.26)
        assert_eq!(
            values(pad(
                row(&[1.0, 2.0, 3.0]),
                [(0, 0), (5, 0)],
                Padding::Reflect
            )),
            [2., 1., 2., 3., 2., 1., 2., 3.]
        );
    }

    #[test]
    fn adjoint_satisfies_inner_product_identity() {
        let device = Device::default();
        let x: Tensor<4> = Tensor::from_data(
            TensorData::new(
                (0..20)
                    .map(|i| ((i * 7) % 11) as f32 - 5.0)
                    .collect::<Vec<_>>(),
                [1, 1, 4, 5],
            ),
            &device,
        );
        let pads = [(2, 3), (4, 1)];
        for mode in [
            Padding::Zero,
            Padding::Reflect,
            Padding::Symmetric,
            Padding::Replicate,
            Padding::Circular,
        ] {
            let y: Tensor<4> = Tensor::from_data(
                TensorData::new(
                    (0..90)
                        .map(|i| ((i * 13) % 17) as f32 - 8.0)
                        .collect::<Vec<_>>(),
                    [1, 1, 9, 10],
                ),
                &device,
            );
            let lhs = (pad(x.clone(), pads, mode) * y.clone())
                .sum()
                .into_scalar::<f32>();
            let rhs = (x.clone() * pad_adjoint(y, pads, mode, [4, 5]))
                .sum()
                .into_scalar::<f32>();
            assert!((lhs - rhs).abs() < 1e-3, "{mode:?}: {lhs} vs {rhs}");
        }
    }
}
