//! DCGAN training of the kernel generator on a tiny configuration: the losses move, save → load
//! reproduces the generator exactly, and a resumed run continues the same loss curve.

use burn::module::Module;
use burn::tensor::Device;
use deblur_kernels::{KernelFamily as Synth, synthesize_bank};
use deblur_models::{GanTrainConfig, GanTrainer, KernelGeneratorConfig};

fn tiny() -> GanTrainConfig {
    GanTrainConfig {
        model: KernelGeneratorConfig::new(31).with_base_channels(8),
        batch: 16,
        lr: 2e-4,
        beta1: 0.5,
        seed: 3,
    }
}

fn bank() -> Vec<deblur_core::Kernel> {
    synthesize_bank(&Synth::by_name("shake", 31).unwrap(), 64, 1, &|_| {})
        .unwrap()
        .kernels
}

/// burn's CPU backend seeds one process-wide RNG: tests that initialise networks must not interleave.
static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_few_steps_lower_the_discriminator_loss() {
    let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::default();
    let mut trainer = GanTrainer::new(tiny(), &bank(), &device).unwrap();
    let losses: Vec<_> = (0..12).map(|_| trainer.train_step()).collect();
    let first = losses[0].d_loss;
    let last = losses[losses.len() - 1].d_loss;
    assert!(
        losses
            .iter()
            .all(|l| l.d_loss.is_finite() && l.g_loss.is_finite())
    );
    // D quickly learns to separate the (initially diffuse) fakes from sparse real kernels
    assert!(last < first, "D loss {first} → {last}");
}

#[test]
fn checkpoint_round_trip_and_resume_continue_the_same_curve() {
    let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::default();
    let dir = tempfile::tempdir().unwrap();
    let kernels = bank();
    let mut straight = GanTrainer::new(tiny(), &kernels, &device).unwrap();
    for _ in 0..3 {
        straight.train_step();
    }
    straight.save_checkpoint(dir.path()).unwrap();
    let mut resumed = GanTrainer::resume(dir.path(), &kernels, &device).unwrap();
    assert_eq!(resumed.step_count(), 3);
    // save → load: identical generator outputs (eval mode: running statistics)
    let z = straight.generator().sample_latent(4, 9, &device);
    let a = straight.generator().valid().forward(z.clone().inner());
    let again = straight.generator().valid().forward(z.clone().inner());
    let b = resumed.generator().valid().forward(z.inner());
    let repeat = (a.clone() - again).abs().max().into_scalar::<f32>();
    let diff = (a - b).abs().max().into_scalar::<f32>();
    eprintln!("repeat {repeat:e} load {diff:e}");
    assert!(diff < 1e-6, "loaded generator differs by {diff}");
    let next_straight: Vec<_> = (0..3).map(|_| straight.train_step()).collect();
    let next_resumed: Vec<_> = (0..3).map(|_| resumed.train_step()).collect();
    // bit for bit: the same losses, not merely close ones
    assert_eq!(next_straight, next_resumed);
}

#[test]
fn the_driver_logs_checkpoints_charts_and_resumes_without_duplicate_rows() {
    use deblur_models::driver::{RunFolder, Schedule, train};
    let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::default();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let bank = bank();
    let schedule = |steps| Schedule {
        steps,
        checkpoint_every: 2,
        time_limit: None,
    };
    let run = RunFolder::lock(&out).unwrap();
    // a second process (here: a second lock) is refused while the first holds the folder
    assert!(RunFolder::lock(&out).is_err());
    run.expect_new().unwrap();
    let mut trainer = GanTrainer::new(tiny(), &bank, &device).unwrap();
    let mut seen = Vec::new();
    train(&mut trainer, &run, schedule(3), &mut |_, l| {
        seen.push(l.step);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, vec![1, 2, 3]);
    for file in [
        "losses.csv",
        "losses.png",
        "generator.bpk",
        "generator.json",
    ] {
        assert!(out.join(file).exists(), "{file}");
    }
    assert!(run.expect_new().is_err(), "the folder now holds a run");
    // a row logged past the last checkpoint (step 3 was checkpointed at the end) stays; resume
    let mut resumed =
        GanTrainer::resume(&run.existing_checkpoint().unwrap(), &bank, &device).unwrap();
    assert_eq!(resumed.step_count(), 3);
    train(&mut resumed, &run, schedule(5), &mut |_, _| Ok(())).unwrap();
    let log = std::fs::read_to_string(out.join("losses.csv")).unwrap();
    let steps: Vec<&str> = log.lines().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(steps, vec!["step", "1", "2", "3", "4", "5"]);
    assert_eq!(
        log.lines().next().unwrap(),
        "step,d_loss,g_loss,d_real,d_fake,seconds"
    );
    // checkpoint_every 0 is refused before any step
    let zero = Schedule {
        steps: 9,
        checkpoint_every: 0,
        time_limit: None,
    };
    assert!(train(&mut resumed, &run, zero, &mut |_, _| Ok(())).is_err());
    assert_eq!(resumed.step_count(), 5);
    // a spent time limit stops after one step, between checkpoints, with that step checkpointed
    // and the model saved: a resume starts from step 6
    std::fs::remove_file(out.join("generator.bpk")).unwrap();
    let timed = Schedule {
        steps: 100,
        checkpoint_every: 50,
        time_limit: Some(std::time::Duration::ZERO),
    };
    train(&mut resumed, &run, timed, &mut |_, _| Ok(())).unwrap();
    assert_eq!(resumed.step_count(), 6);
    assert!(out.join("generator.bpk").exists());
    let again = GanTrainer::resume(&run.existing_checkpoint().unwrap(), &bank, &device).unwrap();
    assert_eq!(again.step_count(), 6);
}
