//! Pictures for people: contact sheets of kernels and side-by-side panels of images (charts:
//! [`crate::plot`]).

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

#[cfg(test)]
mod tests {
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
