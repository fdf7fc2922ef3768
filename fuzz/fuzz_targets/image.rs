//! Image loader: any bytes, under any of the four extensions, load as finite pixels in [0, 1] or
//! fail with an error; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let ext = ["png", "tif", "bmp", "jpg"][usize::from(which % 4)];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("input.{ext}"));
    std::fs::write(&path, bytes).unwrap();
    if let Ok(image) = deblur_core::load_image(&path) {
        assert!(
            image
                .pixels
                .iter()
                .all(|v| v.is_finite() && (0.0..=1.0).contains(v))
        );
    }
});
