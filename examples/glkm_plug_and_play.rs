//! Plug-and-play with the GLKM kernel prior: the shipped kernel generator (started by its
//! initializer) estimates the kernel together with a *different* image model than the DIP: the
//! pixels themselves under a hyper-Laplacian penalty. The same solver loop runs it; only the two
//! models change. The whole image is then deconvolved non-blindly with the estimated kernel.
//!
//! Run with: `cargo run --release --example glkm_plug_and_play [cpu|wgpu|cuda] [iterations]`

use std::error::Error;

use deblur::core::burn::module::Module;
use deblur::core::convert::{array_to_tensor, tensor_to_array};
use deblur::core::{Boundary, Padding, UniformBlur, device_from_name, load_image};
use deblur::metrics::{ShiftOptions, score_images};
use deblur::models::weights::{find_weights_dir, load_generator, load_initializer};
use deblur::optim::models::{GlkmKernel, PixelImage};
use deblur::optim::solver::{ImagePenalty, Silent, SolverConfig, solve};
use deblur::optim::{GlkmModels, HyperLaplacianConfig, hyper_laplacian_deconv};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let device = device_from_name(&args.next().unwrap_or_else(|| "cpu".into()))?;
    let iterations: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);
    let blurred = load_image("examples/data/im1_kernel4_img.png")?.pixels;
    let sharp = load_image("examples/data/im1_sharp.png")?.pixels;

    // The shipped kernel prior: generator G and initializer E (K = 31).
    let dir = find_weights_dir().ok_or("run from the repository: weights/ not found")?;
    let models = GlkmModels {
        generator: load_generator(&dir, "shake-k31-v1", &device)?.valid(),
        initializer: load_initializer(&dir, "shake-k31-v1", &device)
            .ok()
            .map(|e| e.valid()),
    };
    let observation = array_to_tensor(&blurred, &device);
    let autodiff = device.clone().autodiff();

    // Image model: free pixels, started from the blurry image. Kernel model: w = g1(E(y)).
    let mut image = PixelImage::new(observation.clone(), &autodiff);
    let z0 = models.initial_latent(&observation);
    let mut kernel = GlkmKernel::new(models.generator.clone(), z0, &autodiff);
    let blur = UniformBlur::new(Boundary::Same(Padding::Reflect));
    let config = SolverConfig::constant(iterations, 2e-3, 5e-3)
        .with_image_penalty(ImagePenalty::HyperLaplacian { alpha: 0.8 }, 2e-3);
    let out = solve(
        observation.clone(),
        &mut image,
        &mut kernel,
        &blur,
        &config,
        &mut Silent,
    )?;

    // Final read-out: hyper-Laplacian deconvolution with the estimated kernel.
    let restored = hyper_laplacian_deconv(
        observation,
        out.kernel.to_device(&device),
        &HyperLaplacianConfig::default(),
    )?;
    let restored = tensor_to_array(restored, 0)?.mapv(|v| v.clamp(0.0, 1.0));
    let before = score_images(&blurred, &sharp, &ShiftOptions::default())?;
    let after = score_images(&restored, &sharp, &ShiftOptions::default())?;
    println!(
        "GLKM kernel + pixel/hyper-Laplacian image, {iterations} iterations in {:.1} s: \
         PSNR {:.2} dB -> {:.2} dB, SSIM {:.3} -> {:.3}",
        out.seconds, before.psnr, after.psnr, before.ssim, after.ssim
    );
    Ok(())
}
