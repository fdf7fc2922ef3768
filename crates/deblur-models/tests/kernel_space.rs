//! The encoded blur-kernel space (F and G): parameter counts against the reference spec's derived
//! totals, shapes for valid and padded sizes, the loss, errors, and save → load.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use deblur_models::kernel_space::{KernelSpaceConfig, charbonnier_sum};

/// burn's CPU backend seeds one process-wide RNG: tests that initialise networks must not interleave.
static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn ramp(shape: [usize; 4], device: &Device) -> Tensor<4> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|i| ((i * 37) % 101) as f32 / 100.0).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

#[test]
fn the_paper_preset_has_the_reference_parameter_counts() {
    let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::default();
    // reference spec §3.2–3.4 (derived from the reference code): E 814 208, G 25 542 656 without
    // the VAE head (91 602 944 with it), U-Net 21 037 120, R 1 811 203; KernelWizard 49 205 187
    // without the VAE head, 115 265 475 with it
    let paper = KernelSpaceConfig::paper().init(&device).unwrap();
    assert_eq!(paper.num_params(), 49_205_187);
    drop(paper);
    let vae = KernelSpaceConfig::paper()
        .with_vae(true)
        .init(&device)
        .unwrap();
    assert_eq!(vae.num_params(), 115_265_475);
}

#[test]
fn the_compact_preset_has_its_hand_counted_size() {
    let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::default();
    // nf 16, 1 channel, code 64, blocks 2 / 4 / 2, counted layer by layer:
    // E: 160 + 2·2320 + 4·2320 = 14 080
    // G: 25 088 (7×7, 32→16) + 4608 + 18 432 + 3·36 864 + 4·36 864 = 306 176
    // U-Net: down 4096 + 8192 + 32 768 + 131 072 + 262 144; up 393 216 + 262 144 + 65 536
    //        + 16 384 + 8208 = 1 183 760
    // R: 8·2320 + 2·9280 + 2320 + 145 = 39 585
    let compact = KernelSpaceConfig::compact().init(&device).unwrap();
    assert_eq!(compact.num_params(), 14_080 + 306_176 + 1_183_760 + 39_585);
    assert_eq!(compact.num_params(), 1_543_601);
}

#[test]
fn shapes_for_valid_and_padded_sides() {
    let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::default();
    let model = KernelSpaceConfig::compact().init(&device).unwrap();
    let x = ramp([2, 1, 128, 256], &device);
    let code = model.extract(x.clone(), x.clone());
    assert_eq!(code.mean.dims(), [2, 64, 1, 2]);
    assert!(code.spread.is_none());
    assert_eq!(model.blur(x, code.mean).dims(), [2, 1, 128, 256]);
    // any side ≥ 16: extended to 128 · ⌈side/128⌉ and cropped back
    let x = ramp([1, 1, 100, 150], &device);
    let code = model.extract_code(x.clone(), x.clone()).unwrap();
    assert_eq!(code.mean.dims(), [1, 64, 1, 2]);
    let y = model.blur_with(x.clone(), code.mean.clone()).unwrap();
    assert_eq!(y.dims(), [1, 1, 100, 150]);
    // a code from another grid is averaged and applied uniformly
    let small = ramp([1, 1, 40, 40], &device);
    assert_eq!(
        model.transfer(small.clone(), small, x).unwrap().dims(),
        [1, 1, 100, 150]
    );
    // the VAE head splits 2 × code channels into mean and spread
    let vae = KernelSpaceConfig::compact()
        .with_vae(true)
        .init(&device)
        .unwrap();
    let x = ramp([1, 1, 128, 128], &device);
    let code = vae.extract(x.clone(), x);
    assert_eq!(code.mean.dims(), [1, 64, 1, 1]);
    assert_eq!(code.spread.unwrap().dims(), [1, 64, 1, 1]);
}

fn err<T>(r: Result<T, deblur_models::Error>) -> String {
    r.err().expect("an error").to_string()
}

#[test]
fn bad_inputs_are_errors_naming_the_problem() {
    let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::default();
    let model = KernelSpaceConfig::compact().init(&device).unwrap();
    let x = ramp([1, 1, 64, 64], &device);
    let rgb = ramp([1, 3, 64, 64], &device);
    let other = ramp([1, 1, 64, 80], &device);
    let tiny = ramp([1, 1, 8, 64], &device);
    assert!(err(model.extract_code(rgb.clone(), rgb.clone())).contains("3 channel(s) given"));
    assert!(err(model.extract_code(x.clone(), other)).contains("does not match"));
    assert!(err(model.extract_code(tiny.clone(), tiny)).contains("at least 16 px"));
    let wrong_code = ramp([1, 32, 1, 1], &device);
    assert!(err(model.blur_with(x, wrong_code)).contains("this model needs 1×64"));
    assert!(
        KernelSpaceConfig::compact()
            .with_width(0)
            .init(&device)
            .is_err()
    );
}

#[test]
fn the_charbonnier_loss_is_a_sum_with_epsilon_inside_the_root() {
    let device = Device::default();
    let a = Tensor::<4>::from_data(
        TensorData::new(vec![0.0f32, 1.0, 0.5, 2.0], [1, 1, 2, 2]),
        &device,
    );
    let b = Tensor::<4>::from_data(
        TensorData::new(vec![0.0f32, 0.0, 0.5, 0.0], [1, 1, 2, 2]),
        &device,
    );
    // √1e-6 + √(1 + 1e-6) + √1e-6 + √(4 + 1e-6)
    let expected = 1e-3 + (1.0f64 + 1e-6).sqrt() + 1e-3 + (4.0f64 + 1e-6).sqrt();
    let got = charbonnier_sum(a, b).into_scalar::<f32>() as f64;
    assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
}

#[test]
fn save_then_load_gives_identical_outputs() {
    let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::default();
    let config = KernelSpaceConfig::compact();
    let model = config.init(&device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kernel_space.bpk");
    model.clone().into_record().save(&path).unwrap();
    let fresh = config.init(&device).unwrap();
    let x = ramp([1, 1, 128, 128], &device);
    let y = ramp([1, 1, 128, 128], &device).flip([2]);
    let before = model.blur(x.clone(), model.extract(x.clone(), y.clone()).mean);
    let differs = fresh.blur(x.clone(), fresh.extract(x.clone(), y.clone()).mean);
    assert!((before.clone() - differs).abs().max().into_scalar::<f32>() > 1e-3);
    std::fs::write(
        path.with_extension("json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    let loaded = deblur_models::weights::load_kernel_space_files(
        &path,
        &path.with_extension("json"),
        &device,
    )
    .unwrap();
    let after = loaded.blur(x.clone(), loaded.extract(x, y).mean);
    assert_eq!(
        before.into_data().try_to_vec::<f32>().unwrap(),
        after.into_data().try_to_vec::<f32>().unwrap()
    );
}

mod training {
    use super::RNG_LOCK;
    use burn::tensor::Device;
    use deblur_kernels::{ColorMode, DeadLeaves, KernelFamily, synthesize_bank};
    use deblur_models::kernel_space::KernelSpaceConfig;
    use deblur_models::train_space::{SpaceData, SpaceTrainConfig, SpaceTrainer};

    fn synthetic(images: DeadLeaves) -> SpaceData<DeadLeaves> {
        SpaceData::Synthetic {
            images,
            kernels: bank(),
        }
    }

    fn tiny() -> SpaceTrainConfig {
        SpaceTrainConfig {
            model: KernelSpaceConfig::compact()
                .with_width(4)
                .with_front_blocks(1)
                .with_back_blocks(1)
                .with_extractor_blocks(1)
                .with_code_channels(8),
            batch: 2,
            crop: 128,
            lr: 2e-3,
            min_lr: 0.0,
            periods: vec![100],
            seed: 3,
            ..SpaceTrainConfig::compact()
        }
    }

    fn bank() -> Vec<deblur_core::Kernel> {
        synthesize_bank(&KernelFamily::by_name("shake", 9).unwrap(), 16, 2, &|_| {})
            .unwrap()
            .kernels
    }

    #[test]
    fn the_cosine_schedule_restarts_after_each_period_and_repeats_the_last() {
        let config = SpaceTrainConfig {
            lr: 1.0,
            min_lr: 0.0,
            periods: vec![10, 20],
            ..SpaceTrainConfig::compact()
        };
        // lr(t) = ½(1 + cos(π t / T)) within each period
        for (step, expected) in [
            (0, 1.0),
            (5, 0.5),
            (10, 1.0),
            (20, 0.5),
            (25, 0.5 * (1.0 + (std::f64::consts::PI * 0.75).cos())),
            (30, 1.0),
            (40, 0.5),
            (50, 1.0),
        ] {
            assert!(
                (config.lr_at(step) - expected).abs() < 1e-12,
                "step {step}: {} vs {expected}",
                config.lr_at(step)
            );
        }
    }

    #[test]
    fn a_few_steps_lower_the_loss_and_a_resumed_run_continues_bit_for_bit() {
        let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let device = Device::default();
        let images = DeadLeaves::new(128, ColorMode::Gray);
        let mut trainer = SpaceTrainer::new(tiny(), synthetic(images.clone()), &device).unwrap();
        let losses: Vec<f32> = (0..24)
            .map(|_| trainer.train_step().unwrap().loss)
            .collect();
        let first: f32 = losses[..4].iter().sum::<f32>() / 4.0;
        let last: f32 = losses[20..].iter().sum::<f32>() / 4.0;
        assert!(last < 0.7 * first, "loss {first} → {last}");

        // uninterrupted 4 steps against 2 + checkpoint + resume + 2
        let dir = tempfile::tempdir().unwrap();
        let mut a = SpaceTrainer::new(tiny(), synthetic(images.clone()), &device).unwrap();
        let straight: Vec<f32> = (0..4).map(|_| a.train_step().unwrap().loss).collect();
        let mut a2 = SpaceTrainer::new(tiny(), synthetic(images.clone()), &device).unwrap();
        let again: Vec<f32> = (0..4).map(|_| a2.train_step().unwrap().loss).collect();
        assert_eq!(straight, again, "two uninterrupted runs");
        let mut b = SpaceTrainer::new(tiny(), synthetic(images.clone()), &device).unwrap();
        let mut resumed: Vec<f32> = (0..2).map(|_| b.train_step().unwrap().loss).collect();
        b.save_checkpoint(dir.path()).unwrap();
        drop(b);
        let mut c = SpaceTrainer::resume(dir.path(), synthetic(images), &device).unwrap();
        assert_eq!(c.step_count(), 2);
        resumed.extend((0..2).map(|_| c.train_step().unwrap().loss));
        // bit for bit (this caught residual-block biases that a fresh run left frozen and a
        // resumed one trained)
        assert_eq!(straight, resumed);
    }

    #[test]
    fn folder_pairs_train_and_bad_trees_are_named() {
        use deblur_kernels::PairFolders;
        let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let device = Device::default();
        let dir = tempfile::tempdir().unwrap();
        let (sharp, blur) = (dir.path().join("sharp/seq"), dir.path().join("blur/seq"));
        std::fs::create_dir_all(&sharp).unwrap();
        std::fs::create_dir_all(&blur).unwrap();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
        let images = DeadLeaves::new(160, ColorMode::Gray);
        for i in 0..3 {
            let x = deblur_kernels::ImageSource::sample(&images, &mut rng).unwrap();
            let y = x.mapv(|v| 0.5 * v + 0.25);
            let name = format!("{i:03}.png");
            deblur_core::save_image(sharp.join(&name), &x, deblur_core::BitDepth::Eight).unwrap();
            deblur_core::save_image(blur.join(&name), &y, deblur_core::BitDepth::Eight).unwrap();
        }
        let pairs = PairFolders::new(dir.path(), 128, ColorMode::Gray, true).unwrap();
        assert_eq!(pairs.files().len(), 3);
        // the same crop and symmetry of both images: blur = 0.5 sharp + 0.25 (up to 8 bits)
        let (a, b) = pairs.sample(&mut rng).unwrap();
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (0.5 * x + 0.25 - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1.5 / 255.0, "{worst}");
        let mut trainer =
            SpaceTrainer::<DeadLeaves>::new(tiny(), SpaceData::Folders(pairs), &device).unwrap();
        let losses: Vec<f32> = (0..3).map(|_| trainer.train_step().unwrap().loss).collect();
        assert!(losses.iter().all(|l| l.is_finite()));
        // a sharp image without its twin is named
        deblur_core::save_image(sharp.join("lonely.png"), &a, deblur_core::BitDepth::Eight)
            .unwrap();
        let err = PairFolders::new(dir.path(), 128, ColorMode::Gray, true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lonely.png") && err.contains("blurry twin"),
            "{err}"
        );
    }

    #[test]
    fn crops_of_the_wrong_size_are_refused() {
        let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let device = Device::default();
        let images = DeadLeaves::new(96, ColorMode::Gray);
        let err = SpaceTrainer::new(tiny(), synthetic(images), &device)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("96 px crops"), "{err}");
        let odd = SpaceTrainConfig {
            crop: 200,
            ..tiny()
        };
        let images = DeadLeaves::new(200, ColorMode::Gray);
        assert!(SpaceTrainer::new(odd, synthetic(images), &device).is_err());
    }
}

#[test]
fn retrieval_lowers_the_reblur_error_from_the_extracted_code() {
    let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::default();
    // seeded, and 50 steps: unseeded, 20 steps lowered the error by less than half in about one
    // run of four (a flaky test); with 50 steps the ratio was 0.21–0.30 for seeds 0–5
    device.seed(0);
    let model = KernelSpaceConfig::compact()
        .with_width(8)
        .init(&device)
        .unwrap();
    // a blurry image F can express exactly: F(x, k*) for a code k* away from G's start
    let x = ramp([1, 1, 100, 120], &device);
    let k_star = Tensor::<4>::random(
        [1, 64, 1, 1],
        burn::tensor::Distribution::Normal(0.0, 3.0),
        &device,
    );
    let y = model.blur_with(x.clone(), k_star).unwrap();
    let found = deblur_models::kernel_space::retrieve_code(&model, x, y, 50, 0.1).unwrap();
    assert_eq!(found.code.dims(), [1, 64, 1, 1]);
    assert_eq!(found.reblurred.dims(), [1, 1, 100, 120]);
    let (first, last) = (found.mse_start, found.mse_end);
    assert!(first > 0.0 && last < 0.5 * first, "MSE {first} → {last}");
}
