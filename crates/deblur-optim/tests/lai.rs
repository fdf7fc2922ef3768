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
    let set = screening_set(&ImageSpec::TextPages(None), 2, 2, 0, vec![kernel.clone()]).unwrap();
    assert_eq!(set.images.len(), 2);
    assert_eq!(set.images[1].name, "text-pages_02");
    assert_eq!(set.images[0].category, "text-pages");
    assert_eq!(set.images[0].sharp.dim(), (360, 360));
    let again = screening_set(&ImageSpec::TextPages(None), 2, 2, 0, vec![kernel.clone()]).unwrap();
    assert_eq!(set.images[1].sharp, again.images[1].sharp);
    assert_ne!(set.images[0].sharp, set.images[1].sharp);
    let err = screening_set(&ImageSpec::TextPages(None), 0, 2, 0, vec![kernel]).unwrap_err();
    assert!(err.to_string().contains("needs images (got 0)"), "{err}");
}

#[test]
fn cross_faded_mosaics_have_no_seam_and_keep_tile_centres() {
    use deblur_core::{BitDepth, save_image};
    use ndarray::Array3;
    // four flat gray tiles of 20² (two 0.2, two 0.8 in a checkerboard), one extra file unused
    let dir = tempfile::tempdir().unwrap();
    for (i, v) in [0.2f32, 0.8, 0.8, 0.2, 0.5].iter().enumerate() {
        let tile = Array3::from_elem((1, 20, 20), *v);
        save_image(
            dir.path().join(format!("t{i}.png")),
            &tile,
            BitDepth::Sixteen,
        )
        .unwrap();
    }
    let kernel = deblur_core::Kernel::delta([3, 3]).unwrap();
    let spec = ImageSpec::Folder(dir.path().to_path_buf());
    let plain = screening_set(&spec, 1, 2, 0, vec![kernel.clone()]).unwrap();
    let seamed = &plain.images[0].sharp;
    assert_eq!(seamed.dim(), (40, 40));
    // the plain mosaic jumps by 0.6 from column 19 to 20
    assert!((seamed[[5, 20]] - seamed[[5, 19]] - 0.6).abs() < 1e-4);
    let faded = screening_set(&spec, 1, 2, 8, vec![kernel.clone()]).unwrap();
    let x = &faded.images[0].sharp;
    // side 20 + (20 - 8) = 32; away from the overlaps the tiles are untouched
    assert_eq!(x.dim(), (32, 32));
    assert!((x[[2, 2]] - 0.2).abs() < 1e-4 && (x[[2, 29]] - 0.8).abs() < 1e-4);
    // across the 8 px overlap a raised-cosine ramp from 0.2 to 0.8: the largest step between
    // neighbours is 0.6 · sin(π / 16) ≈ 0.117 (weights at (j + ½)/8, j = 0..7), a tenth of the
    // ramp per pixel on average, and the middle of the overlap sits at the mean
    let row: Vec<f32> = (0..32).map(|c| x[[2, c]]).collect();
    let largest = row
        .windows(2)
        .map(|p| (p[1] - p[0]).abs())
        .fold(0f32, f32::max);
    let expected = 0.6 * (std::f32::consts::PI / 16.0).sin();
    assert!((largest - expected).abs() < 1e-3, "{largest} vs {expected}");
    assert!(((row[15] + row[16]) / 2.0 - 0.5).abs() < 1e-4);
    // the centre, where four tiles overlap, is their mean
    assert!(((x[[15, 15]] + x[[16, 16]] + x[[15, 16]] + x[[16, 15]]) / 4.0 - 0.5).abs() < 1e-4);
    // a cross-fade wider than half a tile is refused
    let err = screening_set(&spec, 1, 2, 11, vec![kernel]).unwrap_err();
    assert!(err.to_string().contains("cross-fade"), "{err}");
}
