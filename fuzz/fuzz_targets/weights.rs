//! Weights loader: a generator config (`.json`) and record (`.bpk`) from the fuzzer's bytes
//! (the first two bytes give the config's length) load or fail with an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let split = (usize::from(u16::from_le_bytes([data[0], data[1]])) + 2).min(data.len());
    let (json, bpk) = (&data[2..split], &data[split..]);
    let dir = tempfile::tempdir().unwrap();
    let (json_path, bpk_path) = (dir.path().join("g.json"), dir.path().join("g.bpk"));
    std::fs::write(&json_path, json).unwrap();
    std::fs::write(&bpk_path, bpk).unwrap();
    let device = burn::tensor::Device::default();
    let _ = deblur_models::weights::load_generator_files(&bpk_path, &json_path, &device);
});
