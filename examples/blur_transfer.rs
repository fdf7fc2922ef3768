//! Blur transfer through the shipped blur-kernel space (Tran et al. 2021, §3.4): the blur of one
//! sharp/blurry pair is encoded by G as a kernel code and applied by F to another sharp image.
//! Here the pair is the included Levin image and its blur by the included Levin kernel, and the
//! target is the same scene transposed (new content for F); the kernel's blur of the target is
//! the reference the transfer is scored against.
//!
//! Run with: `cargo run --release --example blur_transfer [cpu|wgpu|cuda]`
//! Writes `blur_transfer.png` (target | transferred blur | true blur).

use std::error::Error;

use deblur::core::convert::{array_to_tensor, tensor_to_array};
use deblur::core::visual::side_by_side;
use deblur::core::{
    BitDepth, Boundary, Kernel, Padding, UniformBlur, device_from_name, load_image, save_image,
};
use deblur::metrics::psnr_tensors;
use deblur::models::weights::{find_weights_dir, load_kernel_space};

fn main() -> Result<(), Box<dyn Error>> {
    let device = device_from_name(&std::env::args().nth(1).unwrap_or_else(|| "cpu".into()))?;
    let sharp = array_to_tensor(&load_image("examples/data/im1_sharp.png")?.pixels, &device);
    let kernel = Kernel::load("examples/data/im1_kernel4_kernel.png")?.to_tensor(&device);
    let blur = UniformBlur::new(Boundary::Same(Padding::Reflect));
    let blurry = blur.apply(sharp.clone(), kernel.clone())?;
    let dir = find_weights_dir().ok_or("run from the repository: weights/ not found")?;
    let space = load_kernel_space(&dir, "compact-v1", &device)?;

    // new content: the scene transposed; its true blur for reference
    let target = sharp.clone().swap_dims(2, 3);
    let reference = blur.apply(target.clone(), kernel)?;
    let transferred = space
        .transfer(sharp, blurry, target.clone())?
        .clamp(0.0, 1.0);

    println!(
        "PSNR against the true blur of the target: target itself {:.2} dB, transferred {:.2} dB",
        psnr_tensors(target.clone(), reference.clone()),
        psnr_tensors(transferred.clone(), reference.clone())
    );
    let picture = side_by_side(&[
        &tensor_to_array(target, 0)?,
        &tensor_to_array(transferred, 0)?,
        &tensor_to_array(reference, 0)?,
    ]);
    save_image("blur_transfer.png", &picture, BitDepth::Eight)?;
    println!("wrote blur_transfer.png (target | transferred blur | true blur)");
    Ok(())
}
