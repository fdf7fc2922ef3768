"""Prints the reference PSNR/SSIM values pinned in crates/deblur-metrics/tests/reference_values.rs.

Run once by hand (not part of the build or the tests):
    pip install scikit-image==0.26.0 numpy imageio
    python3 scripts/reference_metrics.py
"""
import imageio.v3 as iio
import numpy as np
import skimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

print("scikit-image", skimage.__version__)
pairs = [("levin_im1.png", "levin_im1_kernel1_img.png"), ("levin_im2.png", "levin_im2_kernel4_img.png")]
for gt_name, est_name in pairs:
    gt = iio.imread(f"tests/data/{gt_name}").astype(np.float64)
    est = iio.imread(f"tests/data/{est_name}").astype(np.float64)
    p = peak_signal_noise_ratio(gt, est, data_range=255)
    s = structural_similarity(gt, est, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, data_range=255)
    print(f"{est_name} vs {gt_name}: psnr={p:.10f} ssim={s:.10f}")
