//! Pictures for people: contact sheets of kernels and side-by-side panels of images.

use ndarray::{Array3, s};

use crate::kernel::Kernel;

/// Lays out kernels in a grid, each scaled so that its maximum is white and enlarged by
/// nearest-neighbour to about `cell_px` pixels, with a 2-pixel mid-gray gap.
/// Returns a `[1, h, w]` gray image in `[0, 1]`.
pub fn kernel_contact_sheet(kernels: &[Kernel], cell_px: usize, columns: usize) -> Array3<f32> {
    let columns = columns.max(1).min(kernels.len().max(1));
    let rows = kernels.len().div_ceil(columns).max(1);
    let max_side = kernels
        .iter()
        .map(|k| k.size()[0].max(k.size()[1]))
        .max()
        .unwrap_or(1);
    let zoom = (cell_px / max_side).max(1);
    let cell = max_side * zoom;
    let gap = 2;
    let (h, w) = (
        rows * cell + (rows + 1) * gap,
        columns * cell + (columns + 1) * gap,
    );
    let mut sheet = Array3::from_elem((1, h, w), 0.5f32);
    for (i, k) in kernels.iter().enumerate() {
        let (r, c) = (i / columns, i % columns);
        let (y0, x0) = (gap + r * (cell + gap), gap + c * (cell + gap));
        sheet
            .slice_mut(s![0, y0..y0 + cell, x0..x0 + cell])
            .fill(0.0);
        let [kh, kw] = k.size();
        let max = k
            .values()
            .iter()
            .fold(0f32, |m, &v| m.max(v))
            .max(f32::MIN_POSITIVE);
        // centre a smaller kernel in its cell
        let (oy, ox) = (y0 + (cell - kh * zoom) / 2, x0 + (cell - kw * zoom) / 2);
        for ((ky, kx), &v) in k.values().indexed_iter() {
            let (yy, xx) = (oy + ky * zoom, ox + kx * zoom);
            sheet
                .slice_mut(s![0, yy..yy + zoom, xx..xx + zoom])
                .fill(v / max);
        }
    }
    sheet
}

/// Places images of equal channel count side by side (top-aligned) with a 4-pixel white gap.
/// Gray images are promoted to RGB if any image is RGB.
pub fn side_by_side(images: &[&Array3<f32>]) -> Array3<f32> {
    let channels = images.iter().map(|i| i.dim().0).max().unwrap_or(1);
    let gap = 4;
    let h = images.iter().map(|i| i.dim().1).max().unwrap_or(0);
    let w = images.iter().map(|i| i.dim().2).sum::<usize>() + gap * images.len().saturating_sub(1);
    let mut out = Array3::from_elem((channels, h, w), 1.0f32);
    let mut x0 = 0;
    for img in images {
        let (c, ih, iw) = img.dim();
        for ch in 0..channels {
            let src = if c == 1 { 0 } else { ch };
            out.slice_mut(s![ch, ..ih, x0..x0 + iw])
                .assign(&img.slice(s![src, .., ..]));
        }
        x0 += iw + gap;
    }
    out
}

/// Draws one or more curves (e.g. loss per step) as a `[3, height, width]` RGB picture: white
/// background, a gray frame, curves in distinct colours, y on a log scale when `log_y` (values
/// ≤ 0 are skipped there). Each curve spans the full width; non-finite values are skipped.
pub fn line_plot(curves: &[&[f32]], width: usize, height: usize, log_y: bool) -> Array3<f32> {
    const COLOURS: [[f32; 3]; 4] = [
        [0.12, 0.35, 0.8],
        [0.85, 0.3, 0.1],
        [0.1, 0.6, 0.25],
        [0.55, 0.2, 0.7],
    ];
    let (width, height) = (width.max(16), height.max(16));
    let mut img = Array3::from_elem((3, height, width), 1.0f32);
    let margin = 6usize;
    let map = |v: f32| -> Option<f64> {
        if !v.is_finite() || (log_y && v <= 0.0) {
            None
        } else if log_y {
            Some(f64::from(v).log10())
        } else {
            Some(f64::from(v))
        }
    };
    let values: Vec<f64> = curves
        .iter()
        .flat_map(|c| c.iter().filter_map(|&v| map(v)))
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (x0, x1, y0, y1) = (margin, width - margin - 1, margin, height - margin - 1);
    for x in x0..=x1 {
        for c in 0..3 {
            img[[c, y0, x]] = 0.6;
            img[[c, y1, x]] = 0.6;
        }
    }
    for y in y0..=y1 {
        for c in 0..3 {
            img[[c, y, x0]] = 0.6;
            img[[c, y, x1]] = 0.6;
        }
    }
    for (i, curve) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let n = curve.len().max(2);
        let mut previous: Option<(f64, f64)> = None;
        for (step, &v) in curve.iter().enumerate() {
            let Some(m) = map(v) else {
                previous = None;
                continue;
            };
            let px = x0 as f64 + (x1 - x0) as f64 * step as f64 / (n - 1) as f64;
            let py = y1 as f64 - (y1 - y0) as f64 * (m - lo) / span;
            let (sx, sy) = previous.unwrap_or((px, py));
            let segments = ((px - sx).abs().max((py - sy).abs()).ceil() as usize).max(1);
            for t in 0..=segments {
                let f = t as f64 / segments as f64;
                let (x, y) = (
                    (sx + (px - sx) * f).round() as usize,
                    (sy + (py - sy) * f).round() as usize,
                );
                for c in 0..3 {
                    img[[c, y.min(height - 1), x.min(width - 1)]] = colour[c];
                }
            }
            previous = Some((px, py));
        }
    }
    img
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_plot_draws_a_decreasing_curve_from_top_left_to_bottom_right() {
        let losses: Vec<f32> = (0..100).map(|i| 1.0 / (1.0 + i as f32)).collect();
        let img = super::line_plot(&[&losses], 120, 80, true);
        assert_eq!(img.dim(), (3, 80, 120));
        // first point at the top-left corner of the frame, last at the bottom-right (blue curve)
        assert!(img[[2, 6, 6]] > 0.7 && img[[0, 6, 6]] < 0.2);
        assert!(img[[2, 73, 113]] > 0.7 && img[[0, 73, 113]] < 0.2);
        // the background stays white
        assert_eq!(img[[0, 20, 100]], 1.0);
    }

    use super::*;

    #[test]
    fn contact_sheet_places_each_kernel_scaled_to_white() {
        let a = Kernel::delta([3, 3]).unwrap();
        let b = Kernel::new(ndarray::Array2::from_elem((5, 5), 1.0)).unwrap();
        let sheet = kernel_contact_sheet(&[a, b], 10, 2);
        // max side 5 → zoom 2 → cells of 10 px; 2 px gaps: 1 row, 2 columns → 14 × 26
        assert_eq!(sheet.dim(), (1, 14, 26));
        // first kernel: the delta centred in the first cell (its 6 px centred at offset 2)
        assert_eq!(sheet[[0, 2 + 2 + 2, 2 + 2 + 2]], 1.0);
        assert_eq!(sheet[[0, 2, 2]], 0.0);
        // second kernel is flat: all white
        assert_eq!(sheet[[0, 2, 14]], 1.0);
        assert_eq!(sheet[[0, 0, 0]], 0.5);
    }
}
