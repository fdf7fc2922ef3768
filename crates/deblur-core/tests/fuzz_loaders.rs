//! Mutation fuzzing of the file loaders (images, kernels as PNG / `.npy` / CSV): valid seed files
//! are damaged by seeded random edits (bit flips, byte overwrites with boundary values,
//! truncation, insertion and deletion of runs, duplicated chunks) and every result must be
//! either a value or a typed error, never a panic. `cargo fuzz` and `arbitrary` are not
//! available offline here; this is the dependency-free equivalent, deterministic per seed.
//!
//! CI runs `DEBLUR_FUZZ_CASES` mutations per seed file (default 300); a long run:
//! `DEBLUR_FUZZ_CASES=200000 cargo test --release -p deblur-core --test fuzz_loaders`.

use std::path::Path;

use deblur_core::fuzz::mutate;
use deblur_core::kernel::load_kernel_stack;
use deblur_core::{BitDepth, Kernel, load_image};
use ndarray::Array3;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn cases() -> usize {
    std::env::var("DEBLUR_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// Feeds `cases()` mutations of `seed` (written to `name` in a temporary folder) to `load`;
/// a panic fails the test with the seed that reproduces it.
fn fuzz(name: &str, seed: &[u8], load: impl Fn(&Path) -> bool + std::panic::RefUnwindSafe) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let mut accepted = 0usize;
    let n = cases();
    let first: u64 = std::env::var("DEBLUR_FUZZ_FIRST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for case in first..first + n as u64 {
        let mut rng = StdRng::seed_from_u64(case);
        let mut bytes = seed.to_vec();
        for _ in 0..rng.random_range(1..4) {
            mutate(&mut bytes, &mut rng);
        }
        std::fs::write(&path, &bytes).unwrap();
        let outcome = std::panic::catch_unwind(|| load(&path));
        match outcome {
            Ok(ok) => accepted += usize::from(ok),
            Err(_) => panic!("{name}: case {case} panicked (reproduce with StdRng seed {case})"),
        }
    }
    eprintln!("{name}: {n} mutations, {accepted} still loaded, the rest refused with an error");
}

fn seed_file(write: impl FnOnce(&Path)) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed");
    write(&path);
    std::fs::read(&path).unwrap()
}

/// A small image with structure (so that decoders walk several rows and filters).
fn picture(channels: usize) -> Array3<f32> {
    Array3::from_shape_fn((channels, 12, 17), |(c, y, x)| {
        ((x * 7 + y * 3 + c * 5) % 11) as f32 / 10.0
    })
}

fn image_loads(path: &Path) -> bool {
    load_image(path).is_ok_and(|img| img.pixels.iter().all(|v| v.is_finite()))
}

fn kernel_loads(path: &Path) -> bool {
    match load_kernel_stack(path) {
        Ok(stack) => {
            // whatever loads must be a valid kernel: finite, non-negative, summing to 1
            for k in &stack {
                let sum: f32 = k.values().sum();
                assert!(
                    k.values().iter().all(|v| v.is_finite() && *v >= 0.0),
                    "{}: an invalid kernel was accepted: {:?}",
                    path.display(),
                    k.values()
                );
                assert!((sum - 1.0).abs() < 1e-3, "{}: sum {sum}", path.display());
            }
            true
        }
        Err(_) => false,
    }
}

#[test]
fn png_and_tiff_images_never_panic() {
    for (name, channels, depth) in [
        ("a.png", 1, BitDepth::Eight),
        ("b.png", 3, BitDepth::Sixteen),
        ("c.tif", 3, BitDepth::Eight),
        ("d.bmp", 1, BitDepth::Eight),
    ] {
        let seed = seed_file(|p| {
            let p = p.with_file_name(name);
            deblur_core::save_image(&p, &picture(channels), depth).unwrap();
            std::fs::rename(&p, p.with_file_name("seed")).unwrap();
        });
        fuzz(name, &seed, image_loads);
    }
}

#[test]
fn kernel_files_never_panic_and_never_load_invalid() {
    let mut values = ndarray::Array2::<f32>::zeros((7, 7));
    values.row_mut(3).fill(1.0);
    values[[2, 5]] = 0.5;
    let kernel = Kernel::new(values).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("k.npy");
    kernel.save_npy(&npy).unwrap();
    fuzz("k.npy", &std::fs::read(&npy).unwrap(), kernel_loads);
    let png = dir.path().join("k.png");
    kernel.save_image(&png, BitDepth::Sixteen).unwrap();
    fuzz("k.png", &std::fs::read(&png).unwrap(), kernel_loads);
    let csv: String = kernel
        .values()
        .rows()
        .into_iter()
        .map(|r| {
            r.iter()
                .map(|v| format!("{v:.4}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join("\n");
    fuzz("k.csv", csv.as_bytes(), kernel_loads);
}
