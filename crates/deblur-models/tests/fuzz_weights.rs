//! Mutation fuzzing of the weights loader: a generator's `.bpk` and its `.json` config, damaged
//! by seeded random edits ([`deblur_core::fuzz::mutate`]), must load or fail with an error naming
//! the file, never panic. `DEBLUR_FUZZ_CASES` mutations per file (default 200).

use burn::module::Module;
use burn::tensor::Device;
use deblur_core::fuzz::mutate;
use deblur_models::KernelGeneratorConfig;
use deblur_models::weights::load_generator_files;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[test]
fn damaged_weights_and_configs_never_panic() {
    let cases: u64 = std::env::var("DEBLUR_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let device = Device::default();
    let dir = tempfile::tempdir().unwrap();
    let (bpk, json) = (dir.path().join("g.bpk"), dir.path().join("g.json"));
    let config = KernelGeneratorConfig::new(31).with_base_channels(2);
    config.init(&device).into_record().save(&bpk).unwrap();
    std::fs::write(&json, serde_json::to_string(&config).unwrap()).unwrap();
    let (good_bpk, good_json) = (std::fs::read(&bpk).unwrap(), std::fs::read(&json).unwrap());
    assert!(load_generator_files(&bpk, &json, &device).is_ok());
    let first: u64 = std::env::var("DEBLUR_FUZZ_FIRST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut loaded = 0;
    for case in first..first + cases {
        let mut rng = StdRng::seed_from_u64(case);
        // damage the weights, the config, or both
        let which = rng.random_range(0..3);
        let (mut b, mut j) = (good_bpk.clone(), good_json.clone());
        for _ in 0..rng.random_range(1..4) {
            if which != 1 {
                mutate(&mut b, &mut rng);
            }
            if which != 0 {
                mutate(&mut j, &mut rng);
            }
        }
        std::fs::write(&bpk, &b).unwrap();
        std::fs::write(&json, &j).unwrap();
        let outcome =
            std::panic::catch_unwind(|| load_generator_files(&bpk, &json, &device).is_ok());
        match outcome {
            Ok(ok) => loaded += usize::from(ok),
            Err(_) => panic!("case {case} panicked (reproduce with StdRng seed {case})"),
        }
    }
    eprintln!("{cases} damaged weight/config pairs: {loaded} still loaded, the rest refused");
}

/// Weights whose config describes another network (here: another width) are refused with an
/// error naming both files, not a panic in the record loader.
#[test]
fn weights_that_do_not_fit_their_config_are_an_error() {
    let device = Device::default();
    let dir = tempfile::tempdir().unwrap();
    let (bpk, json) = (dir.path().join("g.bpk"), dir.path().join("g.json"));
    KernelGeneratorConfig::new(31)
        .with_base_channels(2)
        .init(&device)
        .into_record()
        .save(&bpk)
        .unwrap();
    let other = KernelGeneratorConfig::new(31).with_base_channels(4);
    std::fs::write(&json, serde_json::to_string(&other).unwrap()).unwrap();
    let error = match load_generator_files(&bpk, &json, &device) {
        Ok(_) => panic!("mismatched weights must not load"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains("g.bpk") && error.contains("g.json"),
        "{error}"
    );
}
