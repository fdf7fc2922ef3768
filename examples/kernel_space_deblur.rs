//! Blind deblurring through the encoded kernel space (Tran et al. 2021, Algorithm 1) beside
//! SelfDeblur on a blur a convolution cannot express: the included Levin image taken in linear
//! light (γ = 2.2) with an exposure gain of 1.5, so that its highlights saturate, blurred there by
//! the included kernel, mapped back, with 1 % noise and 8 bits. Both methods run the fast preset's
//! loop on the whole 255² image (SelfDeblur: DIP + kernel MLP + convolution; kernel space: DIP +
//! code + the shipped F), and their convergence is plotted as in the paper's Fig. 6.
//!
//! Run with: `cargo run --release --example kernel_space_deblur [cpu|wgpu|cuda] [STEPS]`
//! Writes `kernel_space_convergence.png` (each loop's loss relative to its first step, and the
//! PSNR of its latent image against the saturated sharp image) and `kernel_space_deblur.png`
//! (observation | SelfDeblur | kernel space | sharp).
//!
//! `... --example kernel_space_deblur cpu STEPS variants` instead compares the method's variants
//! (code optimised directly or by the code network; joint or alternating updates) on procedural
//! dead-leaves images (128², no evaluation image) under the same saturated camera with synthetic
//! 31 px shake kernels, and prints the mean PSNR of each.

use std::error::Error;

use deblur::core::burn::tensor::Tensor;
use deblur::core::convert::{array_to_tensor, tensor_to_array};
use deblur::core::plot::{Chart, Scale, Series};
use deblur::core::visual::side_by_side;
use deblur::core::{
    BitDepth, Boundary, Kernel, Padding, UniformBlur, add_gaussian_noise, device_from_name,
    load_image, save_image,
};
use deblur::metrics::psnr_tensors;
use deblur::models::weights::{find_weights_dir, load_kernel_space};
use deblur::optim::pipeline::{BlindMethod, BlindRequest};
use deblur::optim::solver::{Observer, Progress};
use deblur::optim::{MethodKind, Preset, Resources};

/// Keeps every loss and the PSNR of the latent image every `every` steps.
struct Trace {
    sharp: Tensor<4>,
    every: usize,
    losses: Vec<f32>,
    psnrs: Vec<(usize, f64)>,
}

impl Observer for Trace {
    fn on_step(&mut self, progress: &Progress) {
        self.losses.push(progress.loss);
    }

    fn wants_snapshot(&self, step: usize) -> bool {
        step.is_multiple_of(self.every)
    }

    fn on_snapshot(&mut self, step: usize, image: Tensor<4>, _kernel: Tensor<4>) {
        let image = image.inner().clamp(0.0, 1.0);
        self.psnrs
            .push((step, psnr_tensors(image, self.sharp.clone())));
    }
}

/// The camera of this example: linear light (γ 2.2) with a gain of 1.5, the blur taken there,
/// clipped at 1 (saturation), back to display values, 1 % noise from `seed`, 8 bits. Returns the
/// saturated sharp image and the observation.
fn saturated(
    sharp: Tensor<4>,
    kernel: Tensor<4>,
    seed: u64,
) -> Result<(Tensor<4>, Tensor<4>), Box<dyn Error>> {
    let (gamma, gain) = (2.2f32, 1.5f32);
    let linear = sharp.clamp(0.0, 1.0).powf_scalar(gamma) * gain;
    let display = |t: Tensor<4>| t.clamp(0.0, 1.0).powf_scalar(1.0 / gamma);
    let reference = display(linear.clone());
    let blurred = UniformBlur::new(Boundary::Same(Padding::Reflect)).apply(linear, kernel)?;
    let observed = add_gaussian_noise(display(blurred), 0.01, seed)?;
    Ok((
        reference,
        (observed.clamp(0.0, 1.0) * 255.0).round() / 255.0,
    ))
}

/// Mean PSNR of the kernel-space method's latent image over four dead-leaves problems for each
/// variant of its code model and update.
fn variants(
    resources: &Resources,
    steps: usize,
    device: &deblur::core::burn::tensor::Device,
) -> Result<(), Box<dyn Error>> {
    use deblur::kernels::{ColorMode, DeadLeaves, KernelFamily, synthesize_bank};
    use deblur::optim::solver::{Silent, UpdateMode};
    use deblur::optim::space::CodeGenerator;
    use deblur::optim::{ComposedMethod, KernelPart};
    use rand::SeedableRng;
    let kernels = synthesize_bank(&KernelFamily::by_name("shake", 31)?, 4, 77, &|_| {})?.kernels;
    let leaves = DeadLeaves::new(128, ColorMode::Gray);
    let mut rng = rand::rngs::StdRng::seed_from_u64(78);
    let mut problems = Vec::new();
    for (i, kernel) in kernels.iter().enumerate() {
        let sharp = array_to_tensor(&leaves.render(&mut rng), device);
        problems.push(saturated(sharp, kernel.to_tensor(device), 100 + i as u64)?);
    }
    let BlindMethod::Composed(base) =
        BlindRequest::preset(MethodKind::KernelSpace, Preset::Fast, 31, Some(steps)).method
    else {
        return Err("the kernel-space preset is a composed method".into());
    };
    let with = |generator: CodeGenerator, update: UpdateMode| -> ComposedMethod {
        let mut m = (*base).clone();
        if let KernelPart::Code { generator: g, .. } = &mut m.kernel {
            *g = generator;
        }
        m.solver.update = update;
        m
    };
    let dip = CodeGenerator::Dip {
        width: 64,
        warmup: 300,
        seed: 0,
    };
    let alternating = UpdateMode::Alternating {
        image_steps: 1,
        kernel_steps: 1,
    };
    println!(
        "{} dead-leaves problems, {steps} steps each",
        problems.len()
    );
    for (name, method) in [
        (
            "direct code, joint",
            with(CodeGenerator::Direct, UpdateMode::Joint),
        ),
        ("code network, joint", with(dip, UpdateMode::Joint)),
        (
            "direct code, alternating",
            with(CodeGenerator::Direct, alternating),
        ),
        ("code network, alternating", with(dip, alternating)),
    ] {
        let (mut sum, mut seconds) = (0.0, 0.0);
        for (reference, observed) in &problems {
            let out = method.run(observed.clone(), resources, &mut Silent)?;
            sum += psnr_tensors(out.image.inner().clamp(0.0, 1.0), reference.clone());
            seconds += out.seconds;
        }
        let n = problems.len() as f64;
        let input: f64 = problems
            .iter()
            .map(|(r, o)| psnr_tensors(o.clone(), r.clone()))
            .sum::<f64>()
            / n;
        println!(
            "{name:<26} {:.2} dB (observations {input:.2} dB), {:.1} s per image",
            sum / n,
            seconds / n
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let device = device_from_name(&args.next().unwrap_or_else(|| "cpu".into()))?;
    let steps: usize = args.next().map_or(Ok(425), |s| s.parse())?;
    let dir = find_weights_dir().ok_or("run from the repository: weights/ not found")?;
    let space = load_kernel_space(&dir, "compact-v1", &device)?;
    let resources = Resources::none().with_kernel_space(Some(&space));
    if args.next().as_deref() == Some("variants") {
        return variants(&resources, steps, &device);
    }
    let sharp = array_to_tensor(&load_image("examples/data/im1_sharp.png")?.pixels, &device);
    let kernel = Kernel::load("examples/data/im1_kernel4_kernel.png")?.to_tensor(&device);
    let (reference, observed) = saturated(sharp, kernel, 1)?;
    let mut traces = Vec::new();
    let mut restored = Vec::new();
    for (name, kind) in [
        ("SelfDeblur", MethodKind::SelfDeblur),
        ("kernel space", MethodKind::KernelSpace),
    ] {
        let BlindMethod::Composed(method) =
            BlindRequest::preset(kind, Preset::Fast, 31, Some(steps)).method
        else {
            return Err("the fast preset of a network method is a composed method".into());
        };
        let mut trace = Trace {
            sharp: reference.clone(),
            every: (steps / 20).max(1),
            losses: Vec::new(),
            psnrs: Vec::new(),
        };
        let out = method.run(observed.clone(), &resources, &mut trace)?;
        let image = out.image.inner().clamp(0.0, 1.0);
        println!(
            "{name}: {steps} steps in {:.1} s, latent image {:.2} dB (observation {:.2} dB)",
            out.seconds,
            psnr_tensors(image.clone(), reference.clone()),
            psnr_tensors(observed.clone(), reference.clone())
        );
        restored.push(tensor_to_array(image, 0)?);
        traces.push((name, trace));
    }

    let mut loss = Chart::new(
        "loss relative to the first step",
        "step",
        "loss / first loss (log scale)",
    )
    .with_y_scale(Scale::Log10);
    let mut psnr = Chart::new(
        "latent image against the saturated sharp image",
        "step",
        "PSNR (dB)",
    );
    for (name, trace) in &traces {
        let first = trace.losses.first().copied().unwrap_or(1.0).max(1e-12);
        let relative: Vec<f32> = trace.losses.iter().map(|l| l / first).collect();
        loss = loss.with_series(Series::from_values(*name, &relative, 1.0));
        psnr = psnr.with_series(Series {
            label: name.to_string(),
            points: trace.psnrs.iter().map(|&(s, p)| (s as f64, p)).collect(),
        });
    }
    let picture = side_by_side(&[&loss.render(), &psnr.render()]);
    save_image("kernel_space_convergence.png", &picture, BitDepth::Eight)?;
    let strip = side_by_side(&[
        &tensor_to_array(observed, 0)?,
        &restored[0],
        &restored[1],
        &tensor_to_array(reference, 0)?,
    ]);
    save_image("kernel_space_deblur.png", &strip, BitDepth::Eight)?;
    println!(
        "wrote kernel_space_convergence.png and kernel_space_deblur.png \
         (observation | SelfDeblur | kernel space | sharp)"
    );
    Ok(())
}
