//! PSNR/SSIM against values printed by scikit-image 0.26.0 (`scripts/reference_metrics.py`:
//! `peak_signal_noise_ratio(data_range=255)` and `structural_similarity(gaussian_weights=True,
//! sigma=1.5, use_sample_covariance=False, data_range=255)`) on two Levin 2009 pairs, and the
//! shift-compensated protocol on a Levin image moved by known shifts.

use std::path::PathBuf;

use deblur_core::load_image;
use deblur_metrics::{ShiftOptions, SsimOptions, psnr, shift_compensated_score, ssim};
use ndarray::{Array2, Axis};

fn levin(name: &str) -> Array2<f32> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(name);
    load_image(&path)
        .unwrap()
        .pixels
        .index_axis(Axis(0), 0)
        .to_owned()
}

#[test]
fn psnr_and_ssim_match_scikit_image() {
    // (ground truth, blurred observation, PSNR, SSIM) from scikit-image 0.26.0
    let cases = [
        (
            "levin_im1.png",
            "levin_im1_kernel1_img.png",
            23.733_154_062_2,
            0.724_028_249_4,
        ),
        (
            "levin_im2.png",
            "levin_im2_kernel4_img.png",
            18.583_010_525_6,
            0.371_737_963_9,
        ),
    ];
    for (gt, est, want_psnr, want_ssim) in cases {
        let (gt, est) = (levin(gt), levin(est));
        let got_psnr = psnr(est.view(), gt.view(), 1.0);
        let got_ssim = ssim(est.view(), gt.view(), &SsimOptions::default());
        assert!(
            (got_psnr - want_psnr).abs() < 1e-4,
            "psnr {got_psnr} vs {want_psnr}"
        );
        assert!(
            (got_ssim - want_ssim).abs() < 1e-5,
            "ssim {got_ssim} vs {want_ssim}"
        );
    }
}

fn bilinear(img: &Array2<f32>, y: f64, x: f64) -> f32 {
    let (h, w) = img.dim();
    let y = y.clamp(0.0, (h - 1) as f64);
    let x = x.clamp(0.0, (w - 1) as f64);
    let (y0, x0) = (y.floor() as usize, x.floor() as usize);
    let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
    let (fy, fx) = ((y - y0 as f64) as f32, (x - x0 as f64) as f32);
    let top = img[[y0, x0]] * (1.0 - fx) + img[[y0, x1]] * fx;
    let bottom = img[[y1, x0]] * (1.0 - fx) + img[[y1, x1]] * fx;
    top * (1.0 - fy) + bottom * fy
}

/// The ground truth moved by `(dx, dy)`: content that was at `p` is now at `p + (dx, dy)`.
fn moved(gt: &Array2<f32>, dx: f64, dy: f64) -> Array2<f32> {
    Array2::from_shape_fn(gt.dim(), |(y, x)| {
        bilinear(gt, y as f64 - dy, x as f64 - dx)
    })
}

#[test]
fn whole_pixel_shift_scores_as_identical() {
    let gt = levin("levin_im1.png");
    let est = moved(&gt, 2.0, -1.0);
    let score = shift_compensated_score(est.view(), gt.view(), &ShiftOptions::default()).unwrap();
    assert_eq!((score.shift_x, score.shift_y), (2.0, -1.0));
    assert!(score.psnr >= 60.0, "psnr {}", score.psnr);
    // without the search the same image scores far lower
    let plain = shift_compensated_score(est.view(), gt.view(), &ShiftOptions::default().no_shift())
        .unwrap();
    assert!(plain.psnr < 30.0, "unaligned psnr {}", plain.psnr);
}

#[test]
fn sub_pixel_shift_is_recovered_within_a_quarter_pixel() {
    let gt = levin("levin_im1.png");
    let est = moved(&gt, 2.25, -1.5);
    let score = shift_compensated_score(est.view(), gt.view(), &ShiftOptions::default()).unwrap();
    assert!(
        (score.shift_x - 2.25).abs() <= 0.25 && (score.shift_y + 1.5).abs() <= 0.25,
        "{score:?}"
    );
    // double bilinear interpolation limits the PSNR to about 35 dB
    assert!(
        score.psnr > 30.0 && score.psnr < 45.0,
        "psnr {}",
        score.psnr
    );
}
