//! Fixtures the tests of deblur-rs share, so that each test file states only what it checks:
//! the synthetic blind problem (a dead-leaves image blurred by a camera-shake kernel), the
//! paths of the shared data and of the shipped weights, host copies of tensors, and the lock
//! that keeps tests drawing from burn's process-wide RNG apart.
//!
//! Test code: every function panics (with the reason) on what would be a broken fixture.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use deblur_core::convert::array_to_tensor;
use deblur_core::{Boundary, Kernel, UniformBlur};
use deblur_kernels::bank::kernel_rng;
use deblur_kernels::{ColorMode, DeadLeaves, ImageSource, KernelFamily};
use deblur_models::KernelGenerator;
use ndarray::{Array3, s};

static RNG_LOCK: Mutex<()> = Mutex::new(());

/// Holds burn's process-wide RNG for one test: the CPU backend seeds a single generator, so
/// tests that seed and draw from it must not interleave (a failed test does not poison it).
pub fn rng_lock() -> MutexGuard<'static, ()> {
    RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The repository's root folder.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared/data/<name>` beside the repository (CI puts `shared` there too).
///
/// # Panics
/// If it is missing, with where it was looked for.
pub fn shared_data(name: &str) -> PathBuf {
    let path = repo().join("../shared/data").join(name);
    assert!(
        path.exists(),
        "{name} not found at {}; the tests need ../shared/data beside the checkout",
        path.display()
    );
    path
}

/// The shipped `weights/` folder.
pub fn weights_dir() -> PathBuf {
    repo().join("weights")
}

/// The shipped K = 31 kernel generator (`shake-k31-v1`), in evaluation mode.
///
/// # Panics
/// If the shipped weights are missing or damaged.
pub fn shipped_generator(device: &Device) -> KernelGenerator {
    deblur_models::weights::load_generator(&weights_dir(), "shake-k31-v1", device)
        .unwrap_or_else(|e| panic!("the shipped generator: {e}"))
        .valid()
}

/// The values of a tensor on the host, as `f32`.
///
/// # Panics
/// If the tensor cannot be read back.
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap_or_else(|e| panic!("reading a tensor back: {e}"))
}

/// The largest absolute difference of two equally long slices.
///
/// # Panics
/// If the lengths differ.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared slices differ in length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A camera-shake kernel of side `side` drawn from `(seed, index)`, on a `canvas`² canvas.
///
/// # Panics
/// If `side` < 3 or the canvas is smaller than the kernel.
pub fn shake_kernel(side: usize, canvas: usize, seed: u64, index: u64) -> Kernel {
    let family = KernelFamily::by_name("shake", side).expect("a shake family of this side");
    Kernel::new(family.sampler().draw(&mut kernel_rng(seed, index)).0)
        .and_then(|k| k.resize_canvas([canvas, canvas]))
        .expect("a shake kernel on its canvas")
}

/// A synthetic blind problem: a grey dead-leaves image blurred by a known kernel.
pub struct Problem {
    /// The `[1, 1, obs, obs]` observation (valid blur: no boundary guesswork).
    pub observation: Tensor<4>,
    /// The kernel that blurred it.
    pub kernel: Kernel,
    /// The sharp image over the observation's field of view, `[1, obs, obs]`.
    pub sharp: Array3<f32>,
}

/// An `obs`² observation of dead leaves drawn from `(image_seed, 0)`, blurred (valid) by
/// `kernel`.
///
/// # Panics
/// If the blur fails (it cannot for a valid kernel).
pub fn dead_leaves_problem(
    obs: usize,
    kernel: Kernel,
    image_seed: u64,
    device: &Device,
) -> Problem {
    let [kh, kw] = kernel.size();
    let sharp = DeadLeaves::new(obs + kh.max(kw) - 1, ColorMode::Gray)
        .sample(&mut kernel_rng(image_seed, 0))
        .expect("dead leaves");
    let observation = UniformBlur::new(Boundary::Valid)
        .apply(array_to_tensor(&sharp, device), kernel.to_tensor(device))
        .expect("a valid blur");
    let (cy, cx) = ((kh - 1) / 2, (kw - 1) / 2);
    let sharp = sharp.slice(s![.., cy..cy + obs, cx..cx + obs]).to_owned();
    Problem {
        observation,
        kernel,
        sharp,
    }
}
