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

/// Weights that load but hold a NaN or an infinity (a damaged or diverged file) are refused with
/// an error naming the file and the count, not passed on to produce a NaN image or loss; the
/// same file with finite weights loads.
#[test]
fn weights_that_are_not_finite_are_an_error() {
    use burn::module::{ModuleMapper, Param};
    use burn::tensor::Tensor;
    use deblur_models::weights::load_denoiser_from;
    use deblur_priors::DenoiserConfig;
    /// Sets the first entry of every float parameter to `value`.
    struct Poison(f32);
    impl ModuleMapper for Poison {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let value = self.0;
            param.map(|t| {
                let shape = t.shape();
                let mut data = t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
                data[0] = value;
                Tensor::from_data(
                    burn::tensor::TensorData::new(data, shape),
                    &Device::default(),
                )
            })
        }
    }
    let device = Device::default();
    let dir = tempfile::tempdir().unwrap();
    let config = DenoiserConfig::new().with_width(4).with_depth(3);
    let json = serde_json::to_string(&config).unwrap();
    let save = |name: &str, poison: Option<f32>| {
        let bpk = dir.path().join(format!("{name}.bpk"));
        let net = config.init(&device);
        let net = match poison {
            Some(v) => net.map(&mut Poison(v)),
            None => net,
        };
        net.into_record().save(&bpk).unwrap();
        std::fs::write(bpk.with_extension("json"), &json).unwrap();
        bpk
    };
    assert!(load_denoiser_from(Some(&save("good", None)), None, "", &device).is_ok());
    // three layers, weight and bias each: six poisoned entries
    for (name, value) in [("nan", f32::NAN), ("inf", f32::INFINITY)] {
        let error = match load_denoiser_from(Some(&save(name, Some(value))), None, "", &device) {
            Ok(_) => panic!("{name} weights must not load"),
            Err(e) => e.to_string(),
        };
        assert!(
            error.contains(&format!("{name}.bpk"))
                && error.contains("6 of the weights are not finite"),
            "{error}"
        );
    }
}
