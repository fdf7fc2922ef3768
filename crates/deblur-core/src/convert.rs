//! Conversions between image files, `ndarray` arrays (`[channels, height, width]`, `f32` in
//! `[0, 1]`) and burn tensors (`[batch, channels, height, width]`). The only place in the
//! workspace that touches the `image` crate's pixel types.

use std::io::Cursor;
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, Rgb};
use ndarray::Array3;

use crate::npy::write_atomic;
use crate::{Error, Result};

/// Bit depth of a stored image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitDepth {
    /// 8 bits per channel.
    Eight,
    /// 16 bits per channel (PNG and TIFF only).
    Sixteen,
}

/// An image read from disk, with what the reader had to change.
#[derive(Clone, Debug)]
pub struct LoadedImage {
    /// Pixels as `[channels, height, width]` in `[0, 1]`; 1 (gray) or 3 (RGB) channels.
    pub pixels: Array3<f32>,
    /// Bit depth of the file (8 or 16; float files report 16).
    pub bit_depth: BitDepth,
    /// True when the file had an alpha channel, which was dropped.
    pub dropped_alpha: bool,
}

/// The largest image [`load_image`] reads, in million pixels. A 64-megapixel colour image is
/// 768 MB of `f32` pixels, and a few hundred bytes of a compressed BMP or PNG can declare one,
/// so the limit is checked before decoding; call [`load_image_limited`] to choose another.
pub const DEFAULT_MAX_MEGAPIXELS: f64 = 64.0;

/// Reads a PNG, JPEG, TIFF or BMP file (8 or 16 bit; gray, gray+alpha, RGB or RGBA) of at most
/// [`DEFAULT_MAX_MEGAPIXELS`]. Alpha is dropped and reported in [`LoadedImage::dropped_alpha`].
///
/// # Errors
/// [`Error::Io`] if the file cannot be opened, [`Error::NotAnImage`] if it cannot be decoded,
/// [`Error::ImageTooLarge`] above the limit.
pub fn load_image(path: impl AsRef<Path>) -> Result<LoadedImage> {
    load_image_limited(path, DEFAULT_MAX_MEGAPIXELS)
}

/// Width and height of an image file, from its header only (nothing is decoded).
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened, [`Error::NotAnImage`] when its header is not
/// that of a supported image.
pub fn image_size(path: impl AsRef<Path>) -> Result<(usize, usize)> {
    let path = path.as_ref();
    let (w, h) = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .into_dimensions()
        .map_err(|e| Error::NotAnImage {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    Ok((w as usize, h as usize))
}

/// [`load_image`] for images of at most `max_megapixels` million pixels (`f64::INFINITY`: no
/// limit but the decoder's own 512 MiB). The size is read from the file's header first, so an
/// oversized image is refused before it is decoded; the decoder's allocation is capped to match,
/// and the pixels are converted without an intermediate copy.
///
/// # Errors
/// [`Error::ImageTooLarge`] above the limit, [`Error::InvalidParameter`] for a limit that is not
/// positive, and the errors of [`load_image`].
pub fn load_image_limited(path: impl AsRef<Path>, max_megapixels: f64) -> Result<LoadedImage> {
    let path = path.as_ref();
    if max_megapixels.is_nan() || max_megapixels <= 0.0 {
        return Err(Error::invalid(
            "max_megapixels",
            format!("{max_megapixels} is not a positive number of megapixels"),
        ));
    }
    let too_large = |width: u32, height: u32| {
        let megapixels = f64::from(width) * f64::from(height) / 1e6;
        (megapixels > max_megapixels).then(|| Error::ImageTooLarge {
            path: path.to_path_buf(),
            width,
            height,
            megapixels,
            limit: max_megapixels,
        })
    };
    // an unreadable header is reported by the decoder below, with its own message
    if let Ok((w, h)) = image_size(path)
        && let Some(err) = too_large(w as u32, h as u32)
    {
        return Err(err);
    }
    let not_image = |reason: String| Error::NotAnImage {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    if reader.format().is_none() {
        return Err(not_image("unknown file format".into()));
    }
    let mut limits = image::Limits::default();
    if max_megapixels.is_finite() {
        // 8 bytes per pixel holds the widest stored pixel (16-bit RGBA); never above the default
        let bytes = (max_megapixels * 1e6 * 8.0).ceil() as u64;
        limits.max_alloc = Some(limits.max_alloc.map_or(bytes, |m| m.min(bytes)));
    }
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| not_image(e.to_string()))?;
    if let Some(err) = too_large(decoded.width(), decoded.height()) {
        return Err(err);
    }
    Ok(from_dynamic(&decoded))
}

/// Converts a decoded [`DynamicImage`] to a [`LoadedImage`], straight into the `f32` array (no
/// intermediate copy of the image): integer samples are divided by their type's maximum, float
/// samples are clamped to `[0, 1]`.
pub fn from_dynamic(img: &DynamicImage) -> LoadedImage {
    let color = img.color();
    let bit_depth = if color.bits_per_pixel() / u16::from(color.channel_count()) > 8 {
        BitDepth::Sixteen
    } else {
        BitDepth::Eight
    };
    let channels = if color.has_color() { 3 } else { 1 };
    let pixels = match img {
        DynamicImage::ImageLuma8(b) => planes(b, channels, 255.0),
        DynamicImage::ImageLumaA8(b) => planes(b, channels, 255.0),
        DynamicImage::ImageRgb8(b) => planes(b, channels, 255.0),
        DynamicImage::ImageRgba8(b) => planes(b, channels, 255.0),
        DynamicImage::ImageLuma16(b) => planes(b, channels, 65535.0),
        DynamicImage::ImageLumaA16(b) => planes(b, channels, 65535.0),
        DynamicImage::ImageRgb16(b) => planes(b, channels, 65535.0),
        DynamicImage::ImageRgba16(b) => planes(b, channels, 65535.0),
        DynamicImage::ImageRgb32F(b) => planes(b, channels, 1.0),
        DynamicImage::ImageRgba32F(b) => planes(b, channels, 1.0),
        // a layout added to `image` later: through its own conversion
        other if channels == 3 => planes(&other.to_rgb32f(), 3, 1.0),
        other => planes(&other.to_luma32f(), 1, 1.0),
    };
    LoadedImage {
        pixels,
        bit_depth,
        dropped_alpha: color.has_alpha(),
    }
}

/// The first `channels` samples of every pixel of `buffer`, divided by `scale` and clamped to
/// `[0, 1]` (a NaN sample of a float file becomes 0), as `[channels, height, width]` planes.
fn planes<P>(buffer: &ImageBuffer<P, Vec<P::Subpixel>>, channels: usize, scale: f32) -> Array3<f32>
where
    P: image::Pixel,
    f32: From<P::Subpixel>,
{
    let (w, h) = (buffer.width() as usize, buffer.height() as usize);
    let stride = usize::from(P::CHANNEL_COUNT);
    let samples = buffer.as_raw();
    let mut out = Array3::zeros((channels, h, w));
    for (c, mut plane) in out.outer_iter_mut().enumerate() {
        for (value, pixel) in plane.iter_mut().zip(samples.chunks_exact(stride)) {
            let v = f32::from(pixel[c]) / scale;
            *value = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        }
    }
    out
}

/// The lower-case extension of `path` ("" if none).
pub(crate) fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default()
}

fn format_for(path: &Path) -> Result<ImageFormat> {
    let ext = extension(path);
    match ext.as_str() {
        "png" => Ok(ImageFormat::Png),
        "tif" | "tiff" => Ok(ImageFormat::Tiff),
        "jpg" | "jpeg" => Ok(ImageFormat::Jpeg),
        "bmp" => Ok(ImageFormat::Bmp),
        _ => Err(Error::UnsupportedOutput {
            path: path.to_path_buf(),
            reason: "unknown output extension; use .png, .tif, .jpg or .bmp".into(),
        }),
    }
}

/// Converts `[channels, height, width]` pixels in `[0, 1]` (values outside are clipped) to a
/// [`DynamicImage`] of 1 or 3 channels.
///
/// # Errors
/// [`Error::ShapeMismatch`] when the channel count is not 1 or 3, [`Error::Empty`] for an empty array.
pub fn to_dynamic(pixels: &Array3<f32>, depth: BitDepth) -> Result<DynamicImage> {
    let (c, h, w) = pixels.dim();
    if h == 0 || w == 0 {
        return Err(Error::Empty {
            shape: vec![c, h, w],
        });
    }
    let quant8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let quant16 = |v: f32| (v.clamp(0.0, 1.0) * 65535.0).round() as u16;
    let (wu, hu) = (w as u32, h as u32);
    let img = match (c, depth) {
        (1, BitDepth::Eight) => DynamicImage::ImageLuma8(ImageBuffer::from_fn(wu, hu, |x, y| {
            Luma([quant8(pixels[[0, y as usize, x as usize]])])
        })),
        (1, BitDepth::Sixteen) => {
            DynamicImage::ImageLuma16(ImageBuffer::from_fn(wu, hu, |x, y| {
                Luma([quant16(pixels[[0, y as usize, x as usize]])])
            }))
        }
        (3, BitDepth::Eight) => DynamicImage::ImageRgb8(ImageBuffer::from_fn(wu, hu, |x, y| {
            let (x, y) = (x as usize, y as usize);
            Rgb([0, 1, 2].map(|ch| quant8(pixels[[ch, y, x]])))
        })),
        (3, BitDepth::Sixteen) => DynamicImage::ImageRgb16(ImageBuffer::from_fn(wu, hu, |x, y| {
            let (x, y) = (x as usize, y as usize);
            Rgb([0, 1, 2].map(|ch| quant16(pixels[[ch, y, x]])))
        })),
        _ => {
            return Err(Error::ShapeMismatch {
                what: "image channels (1 or 3)".into(),
                expected: vec![3, h, w],
                found: vec![c, h, w],
            });
        }
    };
    Ok(img)
}

/// Writes `[channels, height, width]` pixels in `[0, 1]` as PNG, TIFF (8 or 16 bit), JPEG or BMP
/// (8 bit), chosen by the extension. The write is atomic: on any failure an existing file at
/// `path` is left as it was.
///
/// # Errors
/// [`Error::UnsupportedOutput`] for an unknown extension or 16 bits in JPEG/BMP; [`Error::Io`] if
/// the file cannot be written.
pub fn save_image(path: impl AsRef<Path>, pixels: &Array3<f32>, depth: BitDepth) -> Result<()> {
    let path = path.as_ref();
    let format = format_for(path)?;
    if depth == BitDepth::Sixteen && !matches!(format, ImageFormat::Png | ImageFormat::Tiff) {
        return Err(Error::UnsupportedOutput {
            path: path.to_path_buf(),
            reason: "16-bit output needs .png or .tif".into(),
        });
    }
    let img = to_dynamic(pixels, depth)?;
    let mut bytes = Cursor::new(Vec::new());
    img.write_to(&mut bytes, format)
        .map_err(|e| Error::UnsupportedOutput {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    write_atomic(path, |w| std::io::Write::write_all(w, bytes.get_ref()))
}

/// Moves `[channels, height, width]` pixels to a `[1, channels, height, width]` tensor.
pub fn array_to_tensor(pixels: &Array3<f32>, device: &Device) -> Tensor<4> {
    let (c, h, w) = pixels.dim();
    let data: Vec<f32> = pixels.as_standard_layout().iter().copied().collect();
    Tensor::from_data(TensorData::new(data, [1, c, h, w]), device)
}

/// Reads batch element `index` of a `[batch, channels, height, width]` tensor back to the host.
///
/// # Errors
/// [`Error::InvalidParameter`] if `index` is out of range.
pub fn tensor_to_array(tensor: Tensor<4>, index: usize) -> Result<Array3<f32>> {
    let [n, c, h, w] = tensor.dims();
    if index >= n {
        return Err(Error::invalid(
            "index",
            format!("batch index {index} out of range for batch size {n}"),
        ));
    }
    let item = tensor.narrow(0, index, 1);
    let values: Vec<f32> = item
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::invalid("tensor", format!("{e:?}")))?;
    Array3::from_shape_vec((c, h, w), values).map_err(|e| Error::invalid("tensor", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(c: usize, h: usize, w: usize) -> Array3<f32> {
        Array3::from_shape_fn((c, h, w), |(ch, y, x)| {
            ((ch * 7 + y * 5 + x * 3) % 256) as f32 / 255.0
        })
    }

    #[test]
    fn png_8bit_round_trip_is_exact_on_8bit_values() {
        let dir = tempfile::tempdir().unwrap();
        for c in [1, 3] {
            let img = ramp(c, 9, 13);
            let path = dir.path().join(format!("r{c}.png"));
            save_image(&path, &img, BitDepth::Eight).unwrap();
            let back = load_image(&path).unwrap();
            assert_eq!(back.bit_depth, BitDepth::Eight);
            assert_eq!(back.pixels.dim(), (c, 9, 13));
            let max_err = (&back.pixels - &img)
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()));
            assert!(max_err < 1e-6, "max error {max_err}");
        }
    }

    #[test]
    fn sixteen_bit_png_and_tiff_keep_precision() {
        let dir = tempfile::tempdir().unwrap();
        let img =
            Array3::from_shape_fn((3, 4, 5), |(c, y, x)| (c * 20 + y * 5 + x) as f32 / 1000.0);
        for ext in ["png", "tif"] {
            let path = dir.path().join(format!("a.{ext}"));
            save_image(&path, &img, BitDepth::Sixteen).unwrap();
            let back = load_image(&path).unwrap();
            assert_eq!(back.bit_depth, BitDepth::Sixteen, "{ext}");
            let max_err = (&back.pixels - &img)
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()));
            assert!(max_err <= 0.5 / 65535.0 + 1e-7, "{ext}: {max_err}");
        }
    }

    #[test]
    fn rgba_drops_alpha_and_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        let rgba =
            image::RgbaImage::from_fn(3, 2, |x, y| image::Rgba([x as u8 * 50, y as u8 * 80, 7, 9]));
        rgba.save(&path).unwrap();
        let back = load_image(&path).unwrap();
        assert!(back.dropped_alpha);
        assert_eq!(back.pixels.dim(), (3, 2, 3));
        assert!((back.pixels[[0, 1, 2]] - 100.0 / 255.0).abs() < 1e-6);
        assert!((back.pixels[[1, 1, 2]] - 80.0 / 255.0).abs() < 1e-6);
    }

    #[test]
    fn failed_write_keeps_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keep.jpg");
        std::fs::write(&path, b"precious").unwrap();
        let err = save_image(&path, &ramp(1, 4, 4), BitDepth::Sixteen).unwrap_err();
        assert!(matches!(err, Error::UnsupportedOutput { .. }));
        let bad_channels = Array3::<f32>::zeros((2, 4, 4));
        assert!(save_image(&path, &bad_channels, BitDepth::Eight).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.png");
        save_image(&path, &ramp(1, 3, 3), BitDepth::Eight).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }

    #[test]
    fn not_an_image_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        std::fs::write(&path, b"this is text").unwrap();
        assert!(matches!(load_image(&path), Err(Error::NotAnImage { .. })));
        assert!(matches!(
            load_image(dir.path().join("missing.png")),
            Err(Error::Io { .. })
        ));
    }

    /// A BMP of 12000 × 12000 pixels in 1 080 bytes: run-length encoded, its data one
    /// end-of-bitmap code. Decoding it would take 432 MB and converting it 1.7 GB more.
    fn tiny_huge_bmp(side: u32) -> Vec<u8> {
        let palette = 256 * 4;
        let offset = 14 + 40 + palette;
        let mut b = Vec::new();
        b.extend_from_slice(b"BM");
        b.extend_from_slice(&(offset as u32 + 2).to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&(offset as u32).to_le_bytes());
        b.extend_from_slice(&40u32.to_le_bytes());
        b.extend_from_slice(&side.to_le_bytes());
        b.extend_from_slice(&side.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes()); // planes
        b.extend_from_slice(&8u16.to_le_bytes()); // bits per pixel
        b.extend_from_slice(&1u32.to_le_bytes()); // BI_RLE8
        b.extend_from_slice(&2u32.to_le_bytes()); // data size
        b.extend_from_slice(&[0; 8]); // resolution
        b.extend_from_slice(&256u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        for i in 0..=255u8 {
            b.extend_from_slice(&[i, i, i, 0]);
        }
        b.extend_from_slice(&[0, 1]); // end of bitmap
        b
    }

    #[test]
    fn a_small_file_declaring_a_huge_image_is_refused_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.bmp");
        std::fs::write(&path, tiny_huge_bmp(12_000)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1080);
        match load_image(&path) {
            Err(Error::ImageTooLarge {
                width,
                height,
                megapixels,
                limit,
                ..
            }) => {
                assert_eq!((width, height), (12_000, 12_000));
                assert!((megapixels - 144.0).abs() < 1e-9);
                assert_eq!(limit, DEFAULT_MAX_MEGAPIXELS);
            }
            other => panic!("expected ImageTooLarge, got {other:?}"),
        }
        // the same file at a size under the limit decodes (to the palette's first entry)
        std::fs::write(&path, tiny_huge_bmp(64)).unwrap();
        let small = load_image(&path).unwrap();
        assert_eq!(small.pixels.dim().1, 64);
        assert!(small.pixels.iter().all(|v| *v == 0.0));
        // a limit below 64² refuses it; a limit that is not positive is a typed error
        assert!(matches!(
            load_image_limited(&path, 0.004),
            Err(Error::ImageTooLarge { .. })
        ));
        for bad in [0.0, -1.0, f64::NAN] {
            assert!(matches!(
                load_image_limited(&path, bad),
                Err(Error::InvalidParameter { .. })
            ));
        }
    }

    #[test]
    fn float_pixels_are_clamped_and_nan_becomes_zero() {
        let img = DynamicImage::ImageRgb32F(ImageBuffer::from_fn(2, 1, |x, _| {
            if x == 0 {
                Rgb([f32::NAN, 1.5, -0.25])
            } else {
                Rgb([0.25, f32::INFINITY, f32::NEG_INFINITY])
            }
        }));
        let loaded = from_dynamic(&img);
        assert_eq!(loaded.bit_depth, BitDepth::Sixteen);
        let p = &loaded.pixels;
        assert_eq!([p[[0, 0, 0]], p[[1, 0, 0]], p[[2, 0, 0]]], [0.0, 1.0, 0.0]);
        assert_eq!([p[[0, 0, 1]], p[[1, 0, 1]], p[[2, 0, 1]]], [0.25, 1.0, 0.0]);
        // 16-bit gray with alpha: the gray sample over 65535, alpha dropped and reported
        let la =
            DynamicImage::ImageLumaA16(ImageBuffer::from_pixel(1, 1, image::LumaA([13107, 9])));
        let loaded = from_dynamic(&la);
        assert!(loaded.dropped_alpha);
        assert_eq!(loaded.pixels.dim(), (1, 1, 1));
        assert!((loaded.pixels[[0, 0, 0]] - 0.2).abs() < 1e-7);
    }

    #[test]
    fn direct_conversion_equals_the_image_crates_own_bit_for_bit() {
        // the `image` crate's to_rgb32f / to_luma32f (what the loader used before converting
        // straight into the array) is the reference, for every 8- and 16-bit value
        let rgb8 = DynamicImage::ImageRgb8(ImageBuffer::from_fn(256, 1, |x, _| {
            Rgb([x as u8, 255 - x as u8, (x * 7 % 256) as u8])
        }));
        let gray16 = DynamicImage::ImageLuma16(ImageBuffer::from_fn(256, 256, |x, y| {
            Luma([(y * 256 + x) as u16])
        }));
        let ours = from_dynamic(&rgb8).pixels;
        let theirs = rgb8.to_rgb32f();
        for (x, _, p) in theirs.enumerate_pixels() {
            for c in 0..3 {
                assert_eq!(ours[[c, 0, x as usize]].to_bits(), p[c].to_bits());
            }
        }
        let ours = from_dynamic(&gray16).pixels;
        for (x, y, p) in gray16.to_luma32f().enumerate_pixels() {
            assert_eq!(ours[[0, y as usize, x as usize]].to_bits(), p[0].to_bits());
        }
    }

    #[test]
    fn tensor_round_trip() {
        let device = Device::default();
        let img = ramp(3, 5, 6);
        let t = array_to_tensor(&img, &device);
        assert_eq!(t.dims(), [1, 3, 5, 6]);
        assert_eq!(tensor_to_array(t, 0).unwrap(), img);
    }
}
