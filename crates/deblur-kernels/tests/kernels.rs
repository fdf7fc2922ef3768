//! Kernel generators, banks, image sources and pairs: validity, determinism, diversity and the
//! geometric facts each generator promises.

use burn::tensor::Device;
use deblur_core::{Boundary, Kernel, Padding, UniformBlur};
use deblur_kernels::bank::kernel_rng;
use deblur_kernels::shake::{ShakeConfig, rasterise_trajectory, shake_trajectory};
use deblur_kernels::simple::linear_kernel;
use deblur_kernels::{
    ColorMode, DeadLeaves, Error, FolderSource, ImageSource, ImageSpec, KernelBank, KernelFamily,
    PairConfig, PairGenerator, TextPages, bank_stats, synthesize_bank,
};
use ndarray::Array2;

const GENERATORS: [&str; 5] = ["shake", "gp", "linear", "gaussian", "disk"];

fn assert_valid(k: &Array2<f32>, size: usize, what: &str) {
    assert_eq!(k.dim(), (size, size), "{what}");
    assert!(
        k.iter().all(|&v| v >= 0.0 && v.is_finite()),
        "{what}: negative or non-finite"
    );
    let sum: f64 = k.iter().map(|&v| f64::from(v)).sum();
    assert!((sum - 1.0).abs() < 1e-6, "{what}: sum {sum}");
    let kernel = Kernel::new(k.clone()).unwrap();
    let [r, c] = kernel.centre_of_mass();
    let centre = ((size - 1) / 2) as f32;
    assert!(
        (r - centre).abs() <= 1.0 && (c - centre).abs() <= 1.0,
        "{what}: centre of mass ({r}, {c})"
    );
}

#[test]
fn every_generator_gives_valid_centred_kernels() {
    for name in GENERATORS {
        for size in [15, 31, 32] {
            let generator = KernelFamily::by_name(name, size).unwrap();
            let sampler = generator.sampler();
            for i in 0..20 {
                let (k, _) = sampler.draw(&mut kernel_rng(3, i));
                assert_valid(&k, size, &format!("{name} K={size} #{i}"));
            }
        }
    }
}

#[test]
fn shake_trajectories_that_fit_lose_no_mass() {
    let config = ShakeConfig::new(31);
    let mut fitted = 0;
    for i in 0..50 {
        let trajectory = shake_trajectory(&config, 20.0, &mut kernel_rng(11, i));
        if let Some(k) = rasterise_trajectory(&trajectory, 31, 1.0) {
            // raw splat, before any renormalisation: all mass inside the canvas
            let sum: f64 = k.iter().map(|&v| f64::from(v)).sum();
            assert!((sum - 1.0).abs() < 1e-6, "sum {sum}");
            fitted += 1;
        }
    }
    assert!(
        fitted > 40,
        "only {fitted} of 50 trajectories of length 20 fit a 31 px canvas"
    );
    // the trajectory has the requested length: T − 1 steps of constant speed
    let t = shake_trajectory(&config, 20.0, &mut kernel_rng(1, 1));
    let length: f64 = t
        .points
        .windows(2)
        .map(|w| ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt())
        .sum();
    assert!((length - 20.0).abs() < 1e-6, "{length}");
}

#[test]
fn banks_are_deterministic_and_diverse() {
    for name in GENERATORS {
        let generator = KernelFamily::by_name(name, 21).unwrap();
        let a = synthesize_bank(&generator, 40, 5, &|_| {}).unwrap();
        let b = synthesize_bank(&generator, 40, 5, &|_| {}).unwrap();
        let c = synthesize_bank(&generator, 40, 6, &|_| {}).unwrap();
        assert_eq!(a.kernels, b.kernels, "{name}: same seed, different bank");
        assert_ne!(a.kernels, c.kernels, "{name}: different seeds, same bank");
        for i in 0..a.kernels.len() {
            for j in 0..i {
                assert_ne!(
                    a.kernels[i], a.kernels[j],
                    "{name}: kernels {i} and {j} identical"
                );
            }
        }
    }
}

#[test]
fn linear_kernels_have_the_requested_length() {
    for (length, angle) in [(15.0, 0.0), (11.0, 90.0), (17.0, 30.0), (9.0, 135.0)] {
        let k = Kernel::new(linear_kernel(31, length, angle).unwrap()).unwrap();
        // a uniform segment of length L has variance L²/12 along it; the bilinear splat adds
        // about 1/6 per axis, so √(12 λ₁) ≈ √(L² + 2)
        let measured = bank_stats(std::slice::from_ref(&k))
            .principal_length_px
            .mean;
        let expected = (length * length + 2.0f64).sqrt();
        assert!(
            (measured - expected).abs() < 0.5,
            "L={length} at {angle}°: measured {measured}"
        );
    }
}

#[test]
fn longer_shake_gives_larger_support() {
    let mean_extent = |max_len: f64| {
        let generator = KernelFamily::Shake(ShakeConfig::new(41).with_max_length_px(Some(max_len)));
        bank_stats(
            &synthesize_bank(&generator, 200, 9, &|_| {})
                .unwrap()
                .kernels,
        )
        .extent_px
        .mean
    };
    let (short, medium, long) = (mean_extent(8.0), mean_extent(18.0), mean_extent(34.0));
    assert!(short < medium && medium < long, "{short} {medium} {long}");
}

#[test]
fn bank_round_trips_with_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.npy");
    let generator = KernelFamily::by_name("shake", 17).unwrap();
    let bank = synthesize_bank(&generator, 12, 3, &|_| {}).unwrap();
    bank.save(&path).unwrap();
    let back = KernelBank::load(&path).unwrap();
    assert_eq!(back.sidecar, bank.sidecar);
    assert_eq!(back.kernels.len(), 12);
    for (a, b) in back.kernels.iter().zip(&bank.kernels) {
        assert!((a.values() - b.values()).iter().all(|v| v.abs() < 1e-7));
    }
    let sidecar = back.sidecar.unwrap();
    assert_eq!((sidecar.count, sidecar.seed, sidecar.size), (12, 3, 17));
}

fn kurtosis(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    values.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n / (var * var)
}

#[test]
fn dead_leaves_have_heavy_tailed_gradients() {
    let source = DeadLeaves::new(128, ColorMode::Gray);
    let img = source.sample(&mut kernel_rng(1, 0)).unwrap();
    let mut grads = Vec::new();
    for y in 0..128 {
        for x in 0..127 {
            grads.push(f64::from(img[[0, y, x + 1]] - img[[0, y, x]]));
        }
    }
    let k = kurtosis(&grads);
    assert!(k > 3.0, "gradient kurtosis {k}");
    // and the image is not flat
    let (lo, hi) = img
        .iter()
        .fold((1f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(hi - lo > 0.3);
    let rgb = DeadLeaves::new(32, ColorMode::Rgb)
        .sample(&mut kernel_rng(1, 1))
        .unwrap();
    assert_eq!(rgb.dim(), (3, 32, 32));
}

#[test]
fn text_pages_are_two_toned_lines_of_ink_on_paper() {
    let source = TextPages::new(360, ColorMode::Gray);
    let page = source.sample(&mut kernel_rng(4, 0)).unwrap();
    assert_eq!(page.dim(), (1, 360, 360));
    assert_eq!(
        page,
        source.sample(&mut kernel_rng(4, 0)).unwrap(),
        "same seed, same page"
    );
    assert_ne!(page, source.sample(&mut kernel_rng(4, 1)).unwrap());
    let plane = page.index_axis(ndarray::Axis(0), 0);
    let (lo, hi) = plane
        .iter()
        .fold((1f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
    // ink is 0.02–0.25 and paper 0.75–0.97 (± a 0.04 gradient): both tones are present
    assert!(lo <= 0.25 && hi >= 0.71, "range {lo}..{hi}");
    let mid = 0.5 * (lo + hi);
    let dark = plane.iter().filter(|&&v| v < mid).count() as f64 / plane.len() as f64;
    // strokes cover some of the page but paper dominates, as on a printed page
    assert!((0.03..0.4).contains(&dark), "ink covers {dark}");
    // most pixels are pure paper or pure ink (anti-aliasing only at stroke edges)
    let near_tone = plane
        .iter()
        .filter(|&&v| (v - lo).abs() < 0.08 || (v - hi).abs() < 0.1)
        .count() as f64
        / plane.len() as f64;
    assert!(
        near_tone > 0.8,
        "only {near_tone} of the pixels are near a tone"
    );
    // text runs in lines: the ink per row varies far more than per column does over a page
    let ink_rows: Vec<f64> = plane
        .rows()
        .into_iter()
        .map(|r| r.iter().filter(|&&v| v < mid).count() as f64)
        .collect();
    let blank_rows = ink_rows.iter().filter(|&&n| n == 0.0).count();
    assert!(blank_rows > 36, "{blank_rows} blank rows: no line spacing");
    assert_eq!(
        "text-pages".parse::<ImageSpec>().unwrap(),
        ImageSpec::TextPages(None)
    );
    assert_eq!(ImageSpec::TextPages(None).to_string(), "text-pages");
    // glyph heights: parsed, printed back, applied (smaller glyphs: more strokes, more ink
    // edges per page), and refused by name when impossible
    let small: ImageSpec = "text-pages:5-14".parse().unwrap();
    assert_eq!(small, ImageSpec::TextPages(Some([5, 14])));
    assert_eq!(small.to_string(), "text-pages:5-14");
    for bad in [
        "text-pages:2-14",
        "text-pages:14-5",
        "text-pages:5",
        "text-pages:a-b",
    ] {
        let err = bad.parse::<ImageSpec>().unwrap_err();
        assert!(err.contains("text-pages:LO-HI"), "{bad}: {err}");
    }
    let edges = |spec: &ImageSpec| {
        let page = spec
            .open(300, ColorMode::Gray, false)
            .unwrap()
            .sample(&mut kernel_rng(3, 0))
            .unwrap();
        let p = page.index_axis(ndarray::Axis(0), 0);
        let mut n = 0;
        for y in 0..300 {
            for x in 1..300 {
                n += usize::from((p[[y, x]] - p[[y, x - 1]]).abs() > 0.2);
            }
        }
        n
    };
    let (default_edges, small_edges) = (edges(&ImageSpec::TextPages(None)), edges(&small));
    assert!(
        small_edges > default_edges * 3 / 2,
        "{small_edges} strong edges with 5-14 px glyphs, {default_edges} with 10-28 px"
    );
    assert!(TextPages::new(0, ColorMode::Gray).validate().is_err());
    let rgb = TextPages::new(40, ColorMode::Rgb)
        .sample(&mut kernel_rng(4, 2))
        .unwrap();
    assert_eq!(rgb.dim(), (3, 40, 40));
}

#[test]
fn folder_source_reports_bad_folders() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        FolderSource::new(dir.path(), 16, ColorMode::Gray, true),
        Err(Error::EmptyFolder { .. })
    ));
    let sub = dir.path().join("nested");
    std::fs::create_dir(&sub).unwrap();
    let small = ndarray::Array3::<f32>::from_elem((1, 10, 12), 0.5);
    deblur_core::save_image(sub.join("small.png"), &small, deblur_core::BitDepth::Eight).unwrap();
    match FolderSource::new(dir.path(), 16, ColorMode::Gray, true) {
        Err(Error::ImageTooSmall {
            height: 10,
            width: 12,
            ..
        }) => {}
        other => panic!("expected ImageTooSmall, got {other:?}"),
    }
    let source = FolderSource::new(dir.path(), 8, ColorMode::Rgb, true).unwrap();
    assert_eq!(source.files().len(), 1);
    let crop = source.sample(&mut kernel_rng(0, 0)).unwrap();
    assert_eq!(crop.dim(), (3, 8, 8));
    std::fs::write(sub.join("broken.png"), b"not a png").unwrap();
    let err = FolderSource::new(dir.path(), 8, ColorMode::Gray, true).unwrap_err();
    assert!(err.to_string().contains("broken.png"), "{err}");
}

#[test]
fn pairs_are_the_blur_of_the_sharp_image_with_the_returned_kernel() {
    let device = Device::default();
    let images = DeadLeaves::new(40, ColorMode::Rgb);
    let kernels = KernelFamily::by_name("shake", 9).unwrap();
    for boundary in [Boundary::Same(Padding::Reflect), Boundary::Valid] {
        let config = PairConfig {
            batch: 3,
            boundary,
            noise_std: [0.0, 0.0],
            response: None,
            field: None,
            seed: 4,
        };
        let mut pairs =
            PairGenerator::new(images.clone(), kernels.clone(), config.clone(), &device).unwrap();
        let batch = pairs.next_batch().unwrap();
        assert_eq!(batch.kernels.dims(), [3, 1, 9, 9]);
        let expected = UniformBlur::new(boundary)
            .apply(batch.sharp.clone(), batch.kernels.clone())
            .unwrap();
        let diff = (expected - batch.blurred.clone())
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(diff < 1e-6, "{boundary:?}: {diff}");
        // same seed → same batch
        let again = PairGenerator::new(images.clone(), kernels.clone(), config, &device)
            .unwrap()
            .next_batch()
            .unwrap();
        assert_eq!(
            (again.sharp - batch.sharp).abs().max().into_scalar::<f32>(),
            0.0
        );
    }
    let noisy = PairConfig {
        batch: 2,
        boundary: Boundary::Valid,
        noise_std: [0.01, 0.02],
        response: None,
        field: None,
        seed: 1,
    };
    let batch = PairGenerator::new(images, kernels, noisy, &device)
        .unwrap()
        .next_batch()
        .unwrap();
    assert!(batch.noise_std.iter().all(|s| (0.01..0.02).contains(s)));
}

#[test]
fn bad_names_and_banks_are_typed_errors() {
    use deblur_kernels::{Error, KernelFamily, mean_kernel};
    let err = KernelFamily::by_name("wobble", 31).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownFamily(name) if name == "wobble"),
        "{err:?}"
    );
    assert!(err.to_string().contains("shake, gp"), "{err}");
    assert!(matches!(
        KernelFamily::by_name("shake", 2).unwrap_err(),
        Error::InvalidSetting {
            setting: "size",
            ..
        }
    ));
    assert!(matches!(mean_kernel(&[]).unwrap_err(), Error::EmptyBank));
    let kernels = [
        deblur_core::Kernel::delta([3, 3]).unwrap(),
        deblur_core::Kernel::delta([5, 5]).unwrap(),
    ];
    assert!(matches!(
        mean_kernel(&kernels).unwrap_err(),
        Error::KernelSizeMismatch {
            index: 1,
            found: [5, 5],
            expected: [3, 3]
        }
    ));
}

#[test]
fn a_camera_response_blurs_in_linear_light_and_saturates_both_images() {
    use deblur_kernels::CameraResponse;
    let device = Device::default();
    // an 8×8 black image with a white 2×2 block in the middle: unchanged by the crop's flips and
    // transposes, so the crop is known
    let dir = tempfile::tempdir().unwrap();
    let mut img = image::GrayImage::new(8, 8);
    for (r, c) in [(3, 3), (3, 4), (4, 3), (4, 4)] {
        img.put_pixel(c, r, image::Luma([255]));
    }
    img.save(dir.path().join("block.png")).unwrap();
    let images = FolderSource::new(dir.path(), 8, ColorMode::Gray, true).unwrap();
    // a horizontal 3-tap box
    let mut k = Array2::<f32>::zeros((3, 3));
    k.row_mut(1).fill(1.0 / 3.0);
    let kernels = vec![Kernel::new(k).unwrap()];
    let batch = |response| {
        let config = PairConfig {
            batch: 1,
            boundary: Boundary::Same(Padding::Reflect),
            noise_std: [0.0, 0.0],
            response,
            field: None,
            seed: 0,
        };
        PairGenerator::new(images.clone(), kernels.as_slice(), config, &device)
            .unwrap()
            .next_batch()
            .unwrap()
    };
    let at = |t: &burn::tensor::Tensor<4>, r: usize, c: usize| -> f32 {
        t.clone()
            .narrow(2, r, 1)
            .narrow(3, c, 1)
            .into_scalar::<f32>()
    };
    // display values blurred directly: 1/3 beside the block, 2/3 on its edge
    let plain = batch(None);
    assert!((at(&plain.blurred, 3, 2) - 1.0 / 3.0).abs() < 1e-6);
    assert!((at(&plain.blurred, 3, 3) - 2.0 / 3.0).abs() < 1e-6);
    // γ = 2, gain 1: blurred in linear light, then √: √(1/3) = 0.57735, √(2/3) = 0.81650
    let curve = batch(Some(CameraResponse {
        gamma: 2.0,
        gain: [1.0, 1.0],
    }));
    assert!((at(&curve.blurred, 3, 2) - 0.577_35).abs() < 1e-5);
    assert!((at(&curve.blurred, 3, 3) - 0.816_50).abs() < 1e-5);
    assert!((at(&curve.sharp, 3, 3) - 1.0).abs() < 1e-6);
    // gain 2: the block's edge saturates (4/3 → 1) and beside it √(2/3)
    let bright = batch(Some(CameraResponse {
        gamma: 2.0,
        gain: [2.0, 2.0],
    }));
    assert!((at(&bright.blurred, 3, 3) - 1.0).abs() < 1e-6);
    assert!((at(&bright.blurred, 3, 2) - 0.816_50).abs() < 1e-5);
    assert!((at(&bright.sharp, 3, 3) - 1.0).abs() < 1e-6);
    assert!(at(&bright.sharp, 0, 0).abs() < 1e-6);
    // a bad curve is refused
    let bad = PairConfig {
        response: Some(CameraResponse {
            gamma: 0.0,
            gain: [1.0, 1.0],
        }),
        ..PairConfig::default()
    };
    assert!(PairGenerator::new(images.clone(), kernels.as_slice(), bad, &device).is_err());
}

#[test]
fn field_pairs_blur_by_a_camera_motion_field_instead_of_the_kernel() {
    use deblur_kernels::FieldPairs;
    let device = Device::default();
    let images = DeadLeaves::new(64, ColorMode::Gray);
    let kernels = KernelFamily::by_name("shake", 9).unwrap();
    let config = |field| PairConfig {
        batch: 3,
        boundary: Boundary::Same(Padding::Reflect),
        noise_std: [0.0, 0.0],
        response: None,
        field,
        seed: 6,
    };
    // one batch of 3 pairs, each blurred by a field with probability `fraction`
    let batch = |fraction| {
        PairGenerator::new(
            images.clone(),
            kernels.clone(),
            config(Some(FieldPairs {
                fraction,
                grid: [2, 2],
                max_rotation_deg: 5.0,
            })),
            &device,
        )
        .unwrap()
        .next_batch()
        .unwrap()
    };
    let all = batch(1.0);
    // not the blur by the returned (uniform) kernels, but still a blur: the mean is kept
    let uniform = UniformBlur::new(Boundary::Same(Padding::Reflect))
        .apply(all.sharp.clone(), all.kernels.clone())
        .unwrap();
    for i in 0..3 {
        let row = |t: &burn::tensor::Tensor<4>| t.clone().narrow(0, i, 1);
        let differs = (row(&uniform) - row(&all.blurred))
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(differs > 1e-3, "pair {i} looks uniform ({differs})");
        // and it is exactly the blur by the field the batch reports
        let field = all.fields[i].as_ref().expect("every pair has a field");
        let expected = field
            .blur(row(&all.sharp), Boundary::Same(Padding::Reflect))
            .unwrap();
        assert!(
            (expected - row(&all.blurred))
                .abs()
                .max()
                .into_scalar::<f32>()
                < 1e-6
        );
        let mean_shift = (row(&all.blurred).mean() - row(&all.sharp).mean())
            .abs()
            .into_scalar::<f32>();
        assert!(mean_shift < 0.02, "pair {i}: mean moved by {mean_shift}");
    }
    // a fraction of 0 leaves every pair to its kernel
    let none = batch(0.0);
    assert!(none.fields.iter().all(Option::is_none));
    let uniform = UniformBlur::new(Boundary::Same(Padding::Reflect))
        .apply(none.sharp.clone(), none.kernels.clone())
        .unwrap();
    assert!((uniform - none.blurred).abs().max().into_scalar::<f32>() < 1e-6);
    // a grid finer than 8 px per region is refused
    let fine = config(Some(FieldPairs {
        fraction: 0.5,
        grid: [9, 9],
        max_rotation_deg: 1.0,
    }));
    assert!(PairGenerator::new(images, kernels, fine, &device).is_err());
}

#[test]
fn extent_filtered_banks_keep_the_first_kernels_that_pass_in_drawing_order() {
    use deblur_kernels::stats::support_box;
    use deblur_kernels::synthesize_bank_within;
    let mut family = KernelFamily::by_name("shake", 25).unwrap();
    if let KernelFamily::Shake(c) = &mut family {
        c.max_length_px = Some(60.0);
        c.min_length_fraction = 1.0;
    }
    // the same selection by hand: the whole unfiltered bank, filtered afterwards
    let all = synthesize_bank(&family, 200, 11, &|_| {}).unwrap();
    let extent = |k: &Kernel| support_box(k, 0.05).1;
    let passing: Vec<usize> = (0..200)
        .filter(|&i| (15..=23).contains(&extent(&all.kernels[i])))
        .collect();
    assert!(passing.len() >= 4 && passing.len() < 200, "{passing:?}");
    let bank = synthesize_bank_within(&family, 4, 11, [0.6, 0.95], 10_000, &|_| {}).unwrap();
    // 0.6 · 25 = 15 px and 0.95 · 25 = 23.75 px
    for (kept, &index) in bank.kernels.iter().zip(&passing) {
        assert_eq!(kept.values(), all.kernels[index].values());
    }
    let sidecar = bank.sidecar.unwrap();
    assert_eq!(sidecar.count, 4);
    assert_eq!(sidecar.extent.unwrap().draws, passing[3] + 1);
    // a range no kernel reaches within the draws allowed is an error that says so
    let err = synthesize_bank_within(&family, 4, 11, [0.999, 1.0], 300, &|_| {}).unwrap_err();
    assert!(err.to_string().contains("of 300 kernels drawn"), "{err}");
    assert!(synthesize_bank_within(&family, 4, 11, [0.9, 0.5], 300, &|_| {}).is_err());
}
