//! Minimal reader and writer for NumPy `.npy` files (format versions 1–3) holding little-endian
//! `f32` or `f64` arrays, C or Fortran order. Enough for kernels and kernel banks; no pickles.

use std::io::Write;
use std::path::Path;

use ndarray::{ArrayD, IxDyn, ShapeBuilder};

use crate::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::BadKernelFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads an `.npy` file of `f32` or `f64` values into an `f32` array of its stored shape.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read, [`Error::BadKernelFile`] if it is not a supported
/// `.npy` file.
pub fn read_npy(path: &Path) -> Result<ArrayD<f32>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes).map_err(|reason| bad(path, reason))
}

fn parse_npy(bytes: &[u8]) -> std::result::Result<ArrayD<f32>, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("missing the .npy magic header".into());
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(format!("unsupported .npy version {major}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = dict_value(header, "descr").ok_or("header has no 'descr'")?;
    let fortran = dict_value(header, "fortran_order").ok_or("header has no 'fortran_order'")?;
    let shape_text = dict_value(header, "shape").ok_or("header has no 'shape'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = match fortran {
        "True" => true,
        "False" => false,
        other => return Err(format!("bad fortran_order {other}")),
    };
    let shape: Vec<usize> = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| format!("bad shape {shape_text}"))?;
    // a forged shape must not overflow the element count (found by the libFuzzer target)
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|n| n.checked_mul(8).is_some())
        .ok_or_else(|| format!("shape {shape_text} is too large"))?;
    let body = &bytes[start + header_len..];
    let values: Vec<f32> = match descr {
        "<f4" | "=f4" => {
            if body.len() < count * 4 {
                return Err("file is shorter than its shape says".into());
            }
            body.chunks_exact(4)
                .take(count)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
        "<f8" | "=f8" => {
            if body.len() < count * 8 {
                return Err("file is shorter than its shape says".into());
            }
            body.chunks_exact(8)
                .take(count)
                .map(|c| {
                    f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect()
        }
        other => {
            return Err(format!(
                "dtype {other} is not supported; save the array as float32 or float64"
            ));
        }
    };
    let dims = IxDyn(&shape);
    let array = if fortran {
        ArrayD::from_shape_vec(dims.f(), values)
    } else {
        ArrayD::from_shape_vec(dims, values)
    }
    .map_err(|e| e.to_string())?;
    Ok(array.as_standard_layout().into_owned())
}

/// Finds `'key': value` in a Python dict literal and returns the value text.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pattern_single = format!("'{key}':");
    let pattern_double = format!("\"{key}\":");
    let pos = header
        .find(&pattern_single)
        .map(|p| p + pattern_single.len())
        .or_else(|| {
            header
                .find(&pattern_double)
                .map(|p| p + pattern_double.len())
        })?;
    let rest = header[pos..].trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

/// Encodes an `f32` array as `.npy` (version 1.0, little-endian, C order).
pub fn encode_npy(array: &ArrayD<f32>) -> Vec<u8> {
    let shape = array.shape();
    let shape_text = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad so that magic + version + length + header + newline is a multiple of 64 bytes.
    let total = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + array.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in array.as_standard_layout().iter() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes an `f32` array as `.npy`, atomically (temporary file, then rename).
///
/// # Errors
/// [`Error::Io`] if the file cannot be written.
pub fn write_npy(path: &Path, array: &ArrayD<f32>) -> Result<()> {
    write_atomic(path, |w| w.write_all(&encode_npy(array)))
}

/// Writes a file through `write` into a temporary file beside `path`, then renames it over `path`.
/// A failure leaves any existing file at `path` untouched and no partial file behind.
///
/// # Errors
/// [`Error::Io`] if the folder is not writable or `write` fails.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    // never rename over a folder, link, device or pipe
    crate::outputs::check_writable(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".deblur-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(path, e))?;
    {
        let mut writer = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut writer).map_err(|e| Error::io(path, e))?;
        writer.flush().map_err(|e| Error::io(path, e))?;
    }
    // temporary files are created private (0600); give the result the permissions of the file it
    // replaces, or the usual 0644 for a new file
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let permissions = std::fs::metadata(path)
            .map(|m| m.permissions())
            .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o644));
        std::fs::set_permissions(tmp.path(), permissions).map_err(|e| Error::io(path, e))?;
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shape whose product overflows `usize` is refused, not multiplied (the libFuzzer kernel
    /// target's find, `fuzz/artifacts`: shape `(12876694597310582329, 1, 1)`).
    #[test]
    fn an_overflowing_shape_is_an_error() {
        let header =
            "{'descr': '<f4', 'fortran_order': False, 'shape': (12876694597310582329, 2, 1), }";
        let mut bytes = MAGIC.to_vec();
        bytes.extend([1, 0]);
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend([0u8; 16]);
        let err = parse_npy(&bytes).unwrap_err();
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn round_trip_keeps_shape_and_values() {
        let a =
            ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5]).unwrap();
        let bytes = encode_npy(&a);
        assert_eq!(
            (10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize) % 64,
            0
        );
        let b = parse_npy(&bytes).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn reads_fortran_order_f64() {
        // Hand-built file: a 2x2 float64 matrix [[1, 2], [3, 4]] stored column-major.
        let header = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }\n";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for v in [1.0f64, 3.0, 2.0, 4.0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let a = parse_npy(&bytes).unwrap();
        assert_eq!(a.shape(), &[2, 2]);
        assert_eq!(
            a.iter().copied().collect::<Vec<_>>(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
    }

    #[test]
    fn rejects_integer_dtype_with_advice() {
        let header = "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }\n";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&7i64.to_le_bytes());
        assert!(parse_npy(&bytes).unwrap_err().contains("float32"));
    }
}
