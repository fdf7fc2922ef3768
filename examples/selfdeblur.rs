//! SelfDeblur through the library API: deblur the included Levin image (im1, kernel 4) and score
//! it against the ground truth by the shift-compensated protocol.
//!
//! Run with: `cargo run --release --example selfdeblur [cpu|wgpu|cuda] [iterations]`

use std::error::Error;

use deblur::core::convert::{array_to_tensor, tensor_to_array};
use deblur::core::{device_from_name, load_image};
use deblur::metrics::{ShiftOptions, score_images};
use deblur::optim::solver::Silent;
use deblur::optim::{BlindRequest, MethodKind, Preset};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let device = device_from_name(&args.next().unwrap_or_else(|| "cpu".into()))?;
    let iterations: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(300);
    let blurred = load_image("examples/data/im1_kernel4_img.png")?.pixels;
    let sharp = load_image("examples/data/im1_sharp.png")?.pixels;

    // Levin kernel 4 is 27 px wide: estimate a 27×27 kernel with the small-network preset.
    let request = BlindRequest::preset(MethodKind::SelfDeblur, Preset::Quick, 27, Some(iterations));
    let result = request.method.run(
        array_to_tensor(&blurred, &device),
        &Default::default(),
        &mut Silent,
    )?;
    let restored = tensor_to_array(result.image.to_device(&device), 0)?.mapv(|v| v.clamp(0.0, 1.0));

    let before = score_images(&blurred, &sharp, &ShiftOptions::default())?;
    let after = score_images(&restored, &sharp, &ShiftOptions::default())?;
    println!(
        "SelfDeblur, {iterations} iterations in {:.0} s: PSNR {:.2} dB -> {:.2} dB, SSIM {:.3} -> {:.3}",
        result.seconds, before.psnr, after.psnr, before.ssim, after.ssim
    );
    Ok(())
}
