//! The Lai et al. 2016 protocol as built from `../shared/data/lai2016`: deterministic from its
//! seed, with the stated noise level.

use std::path::PathBuf;

use burn::tensor::Device;
use deblur_kernels::ImageSpec;
use deblur_optim::lai::{LAI_NOISE_STD, load_lai, screening_set, synthesize_observation};

fn lai_dir() -> PathBuf {
    deblur_testkit::shared_data("lai2016")
}

#[test]
fn the_set_is_rebuilt_bit_for_bit_from_its_seed() {
    let device = Device::default();
    let set = load_lai(&lai_dir(), Some(&["text_05".to_string()]), Some(&[1, 4])).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(set.images[0].category, "text");
    assert_eq!(set.kernels[1].kernel.size(), [75, 75]);
    let a = set.case(1, 7, &device).unwrap();
    let b = set.case(1, 7, &device).unwrap();
    assert_eq!(a.name, "text_05_kernel4");
    assert_eq!(a.blurred, b.blurred, "same seed, same observation");
    let c = set.case(1, 8, &device).unwrap();
    assert_ne!(a.blurred, c.blurred, "another seed draws other noise");
    // a subset draws the same noise for a case as the full set does
    let full = load_lai(&lai_dir(), Some(&["text_05".to_string()]), None).unwrap();
    assert_eq!(full.case(3, 7, &device).unwrap().blurred, a.blurred);
    // the noise is 1 %: compare with the noise-free blur (quantisation adds 1/255/√12 ≈ 0.0011)
    let clean = synthesize_observation(
        &set.images[0].sharp,
        &set.kernels[1].kernel,
        0.0,
        0,
        &device,
    )
    .unwrap();
    // over pixels away from black and white (clipping removes noise there)
    let (mut sum, mut n) = (0f64, 0usize);
    for (y, x) in a.blurred.iter().zip(clean.iter()) {
        if (0.1..0.9).contains(x) {
            sum += f64::from((y - x) * (y - x));
            n += 1;
        }
    }
    let std = (sum / n as f64).sqrt() as f32;
    assert!(n > 1000, "only {n} mid-grey pixels");
    assert!(
        (std - LAI_NOISE_STD).abs() < 0.001,
        "noise std {std} should be about {LAI_NOISE_STD}"
    );
}

#[test]
fn procedural_screening_sets_are_named_sized_and_reproducible() {
    let kernel = deblur_core::Kernel::new(ndarray::Array2::from_elem((5, 5), 1.0 / 25.0)).unwrap();
    let set = screening_set(&ImageSpec::TextPages, 2, 2, vec![kernel.clone()]).unwrap();
    assert_eq!(set.images.len(), 2);
    assert_eq!(set.images[1].name, "text-pages_02");
    assert_eq!(set.images[0].category, "text-pages");
    assert_eq!(set.images[0].sharp.dim(), (360, 360));
    let again = screening_set(&ImageSpec::TextPages, 2, 2, vec![kernel.clone()]).unwrap();
    assert_eq!(set.images[1].sharp, again.images[1].sharp);
    assert_ne!(set.images[0].sharp, set.images[1].sharp);
    let err = screening_set(&ImageSpec::TextPages, 0, 2, vec![kernel]).unwrap_err();
    assert!(err.to_string().contains("needs images (got 0)"), "{err}");
}
