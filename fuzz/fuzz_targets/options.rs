//! Argument validation: any combination of the blind pipeline's options becomes a checked
//! request or an error naming the setting (never a panic), and any set of output names is
//! accepted or refused by `check_outputs` without a panic and without touching the disk.
#![no_main]
use deblur_core::outputs::{Output, check_outputs};
use deblur_optim::{BlindOptions, ColorPath, ImagePrior, MethodKind, Preset, VdipVariant};
use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

fn options(u: &mut Unstructured<'_>) -> libfuzzer_sys::arbitrary::Result<BlindOptions> {
    let mut o = BlindOptions::default()
        .method(*u.choose(&[MethodKind::SelfDeblur, MethodKind::Glkm, MethodKind::L0])?)
        .preset(*u.choose(&[Preset::Fast, Preset::Quick, Preset::Paper])?)
        .image_prior(*u.choose(&[
            ImagePrior::Dip,
            ImagePrior::Vdip(VdipVariant::Std),
            ImagePrior::Vdip(VdipVariant::Sparse),
            ImagePrior::Vdip(VdipVariant::Extreme),
        ])?)
        .color(*u.choose(&[ColorPath::Luma, ColorPath::Rgb])?)
        .seed(u64::arbitrary(u)?);
    o.kernel_size = Option::<usize>::arbitrary(u)?;
    o.iterations = Option::<usize>::arbitrary(u)?;
    o.window_side = Option::<usize>::arbitrary(u)?;
    o.window = Option::<[usize; 4]>::arbitrary(u)?;
    Ok(o)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    if let Ok(o) = options(&mut u)
        && let Ok(request) = o.request(None)
    {
        let _ = request.validate();
    }
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..3)
        .filter_map(|_| String::arbitrary(&mut u).ok())
        .collect();
    let paths: Vec<_> = names.iter().map(|n| dir.path().join(n)).collect();
    let outputs: Vec<Output<'_>> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| match i % 4 {
            0 => Output::Image(p),
            1 => Output::Npy(p),
            2 => Output::Kernel(p),
            _ => Output::File(p),
        })
        .collect();
    let input = dir.path().join("input.png");
    let _ = check_outputs(&[&input], &outputs);
    // Checking never writes: the folder holds nothing afterwards.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
});
