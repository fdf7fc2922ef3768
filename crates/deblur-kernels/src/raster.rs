//! Rasterisation of a continuous path into a kernel: every sample splats its weight onto the four
//! nearest pixels with bilinear (tent) weights, the path is first moved so that its weighted
//! centroid lands on the kernel centre `(K − 1) / 2`.

use ndarray::Array2;

/// A path sample: `(row, col)` position in pixels and its weight.
pub(crate) type Sample = (f64, f64, f64);

/// Splats `samples` into a `size × size` array after translating them so that their weighted
/// centroid sits on the centre index. Returns `None` if any sample (with its tent support) falls
/// outside the canvas, so that no mass is ever clipped.
pub(crate) fn rasterise_centred(samples: &[Sample], size: usize) -> Option<Array2<f32>> {
    let total: f64 = samples.iter().map(|s| s.2).sum();
    if total <= 0.0 {
        return None;
    }
    let cy = samples.iter().map(|s| s.0 * s.2).sum::<f64>() / total;
    let cx = samples.iter().map(|s| s.1 * s.2).sum::<f64>() / total;
    let centre = ((size - 1) / 2) as f64;
    rasterise_at(samples, size, (centre - cy, centre - cx))
}

/// Splats `samples` moved by `(dy, dx)` into a `size × size` array (the kernel centre is
/// `(K − 1) / 2`, so a sample at `(0, 0)` with offset `((K−1)/2, (K−1)/2)` lands there). `None`
/// if any sample falls outside the canvas or the weights do not sum to a positive value.
pub(crate) fn rasterise_at(
    samples: &[Sample],
    size: usize,
    offset: (f64, f64),
) -> Option<Array2<f32>> {
    let total: f64 = samples.iter().map(|s| s.2).sum();
    if total <= 0.0 {
        return None;
    }
    let (dy, dx) = offset;
    let mut out = Array2::<f64>::zeros((size, size));
    let limit = (size - 1) as f64;
    for &(r, c, w) in samples {
        let (y, x) = (r + dy, c + dx);
        if !(0.0..=limit).contains(&y) || !(0.0..=limit).contains(&x) {
            return None;
        }
        let (y0, x0) = (y.floor(), x.floor());
        let (fy, fx) = (y - y0, x - x0);
        let (y0, x0) = (y0 as usize, x0 as usize);
        let (y1, x1) = ((y0 + 1).min(size - 1), (x0 + 1).min(size - 1));
        out[[y0, x0]] += w * (1.0 - fy) * (1.0 - fx);
        out[[y0, x1]] += w * (1.0 - fy) * fx;
        out[[y1, x0]] += w * fy * (1.0 - fx);
        out[[y1, x1]] += w * fy * fx;
    }
    Some(out.mapv(|v| (v / total) as f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_sample_lands_on_the_centre_and_offsets_split_bilinearly() {
        let k = rasterise_centred(&[(3.3, 7.9, 1.0)], 5).unwrap();
        assert_eq!(k[[2, 2]], 1.0);
        // two samples 1 px apart: centroid between them, each splits half-half
        let k = rasterise_centred(&[(0.0, 0.0, 1.0), (0.0, 1.0, 1.0)], 4).unwrap();
        // centroid col 0.5 → moved to 1.0: samples at cols 0.5 and 1.5
        assert!(
            (k[[1, 0]] - 0.25).abs() < 1e-7
                && (k[[1, 1]] - 0.5).abs() < 1e-7
                && (k[[1, 2]] - 0.25).abs() < 1e-7
        );
        assert!(rasterise_centred(&[(0.0, 0.0, 1.0), (0.0, 9.0, 1.0)], 5).is_none());
    }
}
