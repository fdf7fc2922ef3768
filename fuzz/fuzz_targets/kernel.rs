//! Kernel loaders (`.npy` stacks, 8/16-bit PNG, CSV): whatever loads is a valid kernel
//! (finite, non-negative, summing to 1); everything else is an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let ext = ["npy", "png", "csv"][usize::from(which % 3)];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("kernel.{ext}"));
    std::fs::write(&path, bytes).unwrap();
    if let Ok(stack) = deblur_core::kernel::load_kernel_stack(&path) {
        for kernel in &stack {
            let values = kernel.values();
            assert!(values.iter().all(|v| v.is_finite() && *v >= 0.0));
            assert!((values.sum() - 1.0).abs() < 1e-3, "sum {}", values.sum());
        }
    }
});
