//! The quick start of the crate docs on the included example image: blind deblurring with the
//! defaults, on the CPU.
//!
//! `cargo run --release --example quickstart` (about a minute on two cores), then look at
//! `restored.png` and `kernel.png`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let image = deblur::core::load_image("examples/data/im1_kernel4_img.png")?;
    let result = deblur::blind(
        &image.pixels,
        &deblur::BlindOptions::default().kernel_size(27),
    )?;
    deblur::core::save_image("restored.png", &result.image, image.bit_depth)?;
    result
        .kernel
        .save_image("kernel.png", deblur::core::BitDepth::Sixteen)?;
    println!(
        "wrote restored.png and kernel.png ({:.1} s, noise σ ≈ {:.4})",
        result.seconds, result.noise_std
    );
    Ok(())
}
