//! Import of GKPILE-layout PyTorch checkpoints: every tensor maps (no missing or unused keys) and
//! the imported models reproduce the outputs PyTorch computed for the same inputs within 1e-5.
//! Fixture: `tests/data/gkpile_fixture/`, written by `scripts/make_gkpile_fixture.py`
//! (PyTorch 2.15.0; reduced widths, same parameter names as the reference networks).

use std::path::PathBuf;

use deblur::core::burn::module::Module;
use deblur::core::burn::tensor::{Device, Tensor, TensorData};
use deblur::core::npy::read_npy;
use deblur::models::import::{import_generator, import_initializer};
use deblur::models::{InitializerConfig, KernelGeneratorConfig};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/gkpile_fixture")
        .join(name)
}

fn tensor(name: &str, device: &Device) -> Tensor<4> {
    let array = read_npy(&fixture(name)).unwrap();
    let shape: [usize; 4] = array.shape().try_into().unwrap();
    Tensor::from_data(
        TensorData::new(array.iter().copied().collect::<Vec<f32>>(), shape),
        device,
    )
}

fn max_abs_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

#[test]
fn generator_checkpoint_maps_every_tensor_and_reproduces_pytorch() {
    let device = Device::default();
    let config = KernelGeneratorConfig::new(31).with_base_channels(8);
    let (generator, report) =
        import_generator(&fixture("netG_k31_ngf8.pth"), &config, &device).unwrap();
    // 4 transposed convolutions + 3 BatchNorms × (γ, β, mean, var)
    assert_eq!(report.applied, 16);
    assert!(
        report.missing.is_empty() && report.unused.is_empty(),
        "{report:?}"
    );
    let out = generator.valid().forward(tensor("z.npy", &device));
    let diff = max_abs_diff(out, tensor("g_out.npy", &device));
    assert!(diff < 1e-5, "max abs difference {diff}");
}

#[test]
fn initializer_checkpoint_maps_every_tensor_and_reproduces_pytorch() {
    let device = Device::default();
    let (initializer, report) = import_initializer(
        &fixture("netE_width4.pth"),
        &InitializerConfig::narrow(4),
        &device,
    )
    .unwrap();
    assert!(
        report.missing.is_empty() && report.unused.is_empty(),
        "{report:?}"
    );
    // 20 convolutions, 20 BatchNorms × 4, the linear head's weight and bias
    assert_eq!(report.applied, 20 + 80 + 2);
    let out = initializer.valid().forward(tensor("y.npy", &device));
    let diff = max_abs_diff(out, tensor("e_out.npy", &device));
    assert!(diff < 1e-5, "max abs difference {diff}");
}

#[test]
fn a_checkpoint_of_the_wrong_network_is_refused() {
    let device = Device::default();
    let config = KernelGeneratorConfig::new(31).with_base_channels(8);
    let err = import_generator(&fixture("netE_width4.pth"), &config, &device).unwrap_err();
    assert!(
        err.to_string().contains("incomplete key map") || err.to_string().contains("netE_width4"),
        "{err}"
    );
}
