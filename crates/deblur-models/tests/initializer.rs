//! Collaborative training of the kernel initializer on a tiny configuration: the kernel error of
//! G(E(y)) on a fixed batch falls, and a resumed run continues the same loss curve.

use burn::module::Module;
use burn::tensor::Device;
use deblur_core::{Boundary, Kernel, Padding};
use deblur_kernels::{
    ColorMode, DeadLeaves, KernelFamily as Synth, PairConfig, PairGenerator, synthesize_bank,
};
use deblur_models::train_init::{InitTrainConfig, InitTrainer};
use deblur_models::{
    GanTrainConfig, GanTrainer, InitializerConfig, KernelGenerator, KernelGeneratorConfig,
};

/// burn's CPU backend seeds one process-wide RNG: tests that initialise networks must not interleave.
static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn setup(device: &Device) -> (KernelGenerator, Vec<Kernel>) {
    let bank = synthesize_bank(&Synth::by_name("shake", 31).unwrap(), 64, 2, &|_| {})
        .unwrap()
        .kernels;
    let config = GanTrainConfig {
        model: KernelGeneratorConfig::new(31).with_base_channels(8),
        batch: 16,
        lr: 2e-3,
        beta1: 0.5,
        seed: 1,
    };
    let mut gan = GanTrainer::new(config, &bank, device).unwrap();
    for _ in 0..30 {
        gan.train_step();
    }
    (gan.generator().valid(), bank)
}

fn tiny() -> InitTrainConfig {
    InitTrainConfig {
        model: InitializerConfig::narrow(4),
        batch: 4,
        lr: 1e-3,
        inner_steps: 5,
        inner_lr: 0.01,
        latent_weight: 0.1,
        noise_std: [0.0, 0.01],
        seed: 5,
    }
}

#[test]
fn training_lowers_the_kernel_error_and_resume_continues_the_curve() {
    let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::default();
    let (generator, bank) = setup(&device);
    let images = DeadLeaves::new(40, ColorMode::Gray);
    // a fixed evaluation batch
    let eval = PairGenerator::new(
        images.clone(),
        bank.clone(),
        PairConfig {
            batch: 8,
            boundary: Boundary::Same(Padding::Reflect),
            noise_std: [0.0, 0.0],
            response: None,
            field: None,
            seed: 99,
        },
        &device,
    )
    .unwrap()
    .next_batch()
    .unwrap();
    let kernel_error = |trainer: &InitTrainer<DeadLeaves>| -> f32 {
        let e = trainer.initializer().valid();
        let z = e.forward(eval.blurred.clone());
        (generator.forward(z) - eval.kernels.clone())
            .abs()
            .mean()
            .into_scalar::<f32>()
    };
    let mut trainer = InitTrainer::new(
        tiny(),
        generator.clone(),
        images.clone(),
        bank.clone(),
        &device,
    )
    .unwrap();
    let before = kernel_error(&trainer);
    let dir = tempfile::tempdir().unwrap();
    let mut losses = Vec::new();
    for step in 0..20 {
        losses.push(trainer.train_step().unwrap());
        if step == 9 {
            trainer.save_checkpoint(dir.path()).unwrap();
        }
    }
    let after = kernel_error(&trainer);
    assert!(
        after < before,
        "kernel L1 on the evaluation batch {before} → {after}"
    );
    let mut resumed = InitTrainer::resume(dir.path(), generator, images, bank, &device).unwrap();
    assert_eq!(resumed.step_count(), 10);
    for expected in &losses[10..13] {
        let got = resumed.train_step().unwrap();
        assert_eq!(got.step, expected.step);
        // bit for bit, not merely close
        assert_eq!(got, *expected);
    }
}

#[test]
fn a_run_configured_before_the_noise_setting_resumes_without_noise() {
    // config.json as written by runs before `noise_std` existed (the shipped v1 initializer's run)
    let old = r#"{"model":{"latent_dim":100,"in_channels":1,"base_width":32},"batch":32,
        "lr":0.0002,"inner_steps":20,"inner_lr":0.01,"latent_weight":0.1,"seed":0}"#;
    let config: InitTrainConfig = serde_json::from_str(old).unwrap();
    assert_eq!(config.noise_std, [0.0, 0.0]);
    assert_eq!(config.batch, 32);
    let mut noisy = config.clone();
    noisy.noise_std = [0.0, 0.02];
    let text = serde_json::to_string(&noisy).unwrap();
    let back: InitTrainConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, noisy);
}
