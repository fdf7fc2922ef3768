//! The normalized sparsity of an image's gradients (Krishnan, Tay & Fergus, "Blind deconvolution
//! using a normalized sparsity measure", CVPR 2011): ‖∇x‖₁ / ‖∇x‖₂. Blur spreads an edge's
//! gradient over many small values and raises it; a sharp image of the same scene scores lower.
//! It is scale-invariant, so two restorations of one observation compare directly.

use ndarray::ArrayView2;

/// `‖∇x‖₁ / ‖∇x‖₂` over the forward differences of `image` (horizontal and vertical together)
/// whose pixels lie at least `border` px inside the image, divided by the square root of their
/// count (so that the value does not grow with the image: 1 for gradients of equal magnitude,
/// smaller the sparser they are). `None` for a flat interior or one with no gradient left.
pub fn gradient_sparsity(image: ArrayView2<'_, f32>, border: usize) -> Option<f64> {
    let (h, w) = image.dim();
    if h < 2 * border + 2 || w < 2 * border + 2 {
        return None;
    }
    let (mut l1, mut l2, mut n) = (0f64, 0f64, 0usize);
    for y in border..h - border - 1 {
        for x in border..w - border - 1 {
            let v = f64::from(image[[y, x]]);
            for g in [
                f64::from(image[[y, x + 1]]) - v,
                f64::from(image[[y + 1, x]]) - v,
            ] {
                l1 += g.abs();
                l2 += g * g;
                n += 1;
            }
        }
    }
    (l2 > 0.0).then(|| l1 / l2.sqrt() / (n as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// A vertical step of height 1 on an 8×8 image: 7 of the n = 2·7·7 = 98 forward differences
    /// are 1, the rest 0, so ℓ1 = 7, ℓ2 = √7 and the measure is √7 / √98 (hand-computed); the
    /// step spread over 3 px (⅓ each) raises it to √21 / √98.
    #[test]
    fn a_step_is_sparser_than_its_blur_by_the_hand_computed_ratio() {
        let step = Array2::from_shape_fn((8, 8), |(_, x)| if x >= 4 { 1.0f32 } else { 0.0 });
        let sharp = gradient_sparsity(step.view(), 0).unwrap();
        assert!((sharp - (7f64 / 98.0).sqrt()).abs() < 1e-9, "{sharp}");
        let ramp = Array2::from_shape_fn((8, 8), |(_, x)| match x {
            0..=2 => 0.0f32,
            3 => 1.0 / 3.0,
            4 => 2.0 / 3.0,
            _ => 1.0,
        });
        let blurred = gradient_sparsity(ramp.view(), 0).unwrap();
        // 21 differences of ⅓: ℓ1 = 7, ℓ2 = √(21/9), ratio √21
        assert!((blurred - (21f64 / 98.0).sqrt()).abs() < 1e-6, "{blurred}");
        assert!(gradient_sparsity(Array2::<f32>::ones((8, 8)).view(), 0).is_none());
        assert!(gradient_sparsity(step.view(), 4).is_none());
    }
}
