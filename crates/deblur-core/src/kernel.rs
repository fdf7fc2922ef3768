//! Blur kernels (point-spread functions): validation, normalisation, file formats and geometry.
//!
//! A [`Kernel`] is a 2-D array of non-negative, finite values summing to 1. Its centre for a side
//! of length K is index `(K − 1) / 2` (integer division) for odd and even K alike; every blur
//! operator of this crate and every geometric helper here uses that convention.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{Array2, Array3, ArrayD, Axis, Ix2, Ix3, s};

use crate::convert::{BitDepth, load_image, save_image};
use crate::npy::{read_npy, write_atomic, write_npy};
use crate::{Error, Result};

/// A validated blur kernel: finite, non-negative, summing to 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    values: Array2<f32>,
}

impl Kernel {
    /// Validates `values` (finite, ≥ 0, positive sum, non-empty) and normalises them to sum 1.
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::NonFiniteKernel`], [`Error::NegativeKernel`] or
    /// [`Error::ZeroSumKernel`], naming the first offending entry.
    pub fn new(values: Array2<f32>) -> Result<Self> {
        let (h, w) = values.dim();
        if h == 0 || w == 0 {
            return Err(Error::Empty { shape: vec![h, w] });
        }
        let mut sum = 0f64;
        for ((row, col), &v) in values.indexed_iter() {
            if !v.is_finite() {
                return Err(Error::NonFiniteKernel { row, col });
            }
            if v < 0.0 {
                return Err(Error::NegativeKernel { row, col, value: v });
            }
            sum += f64::from(v);
        }
        if sum <= 0.0 {
            return Err(Error::ZeroSumKernel);
        }
        // divide in f64: `1 / sum` of a tiny sum overflows f32 (found by fuzzing: a kernel of
        // denormal values became NaN); each tap is at most the sum, so `v / sum` lies in [0, 1]
        Ok(Kernel {
            values: values.mapv(|v| (f64::from(v) / sum) as f32),
        })
    }

    /// A discrete delta (identity blur) of size `size`, with its 1 at the centre `(K − 1) / 2`.
    ///
    /// # Errors
    /// [`Error::Empty`] if a side is zero.
    pub fn delta(size: [usize; 2]) -> Result<Self> {
        let mut values = Array2::zeros((size[0], size[1]));
        if size[0] == 0 || size[1] == 0 {
            return Err(Error::Empty {
                shape: size.to_vec(),
            });
        }
        values[[(size[0] - 1) / 2, (size[1] - 1) / 2]] = 1.0;
        Ok(Kernel { values })
    }

    /// The normalised values, `[height, width]`.
    pub fn values(&self) -> &Array2<f32> {
        &self.values
    }

    /// Consumes the kernel and returns its values.
    pub fn into_values(self) -> Array2<f32> {
        self.values
    }

    /// `[height, width]`.
    pub fn size(&self) -> [usize; 2] {
        let (h, w) = self.values.dim();
        [h, w]
    }

    /// Centre index `[(h − 1) / 2, (w − 1) / 2]`.
    pub fn centre_index(&self) -> [usize; 2] {
        let [h, w] = self.size();
        [(h - 1) / 2, (w - 1) / 2]
    }

    /// Centre of mass `[row, col]` in pixel indices.
    pub fn centre_of_mass(&self) -> [f32; 2] {
        let (mut r, mut c) = (0f64, 0f64);
        for ((row, col), &v) in self.values.indexed_iter() {
            r += row as f64 * f64::from(v);
            c += col as f64 * f64::from(v);
        }
        [r as f32, c as f32]
    }

    /// The kernel rotated by 180° (a flip of both axes): turns a cross-correlation kernel into
    /// the equivalent convolution kernel and back. For even sizes the centre index moves by one.
    pub fn rotate_180(&self) -> Kernel {
        Kernel {
            values: self.values.slice(s![..;-1, ..;-1]).to_owned(),
        }
    }

    /// Pads with zeros or crops to `size`, keeping the centre index `(K − 1) / 2` on the same
    /// pixel, then renormalises (cropping may cut mass).
    ///
    /// # Errors
    /// [`Error::Empty`] for a zero size, [`Error::ZeroSumKernel`] if cropping removes all mass.
    pub fn resize_canvas(&self, size: [usize; 2]) -> Result<Kernel> {
        if size[0] == 0 || size[1] == 0 {
            return Err(Error::Empty {
                shape: size.to_vec(),
            });
        }
        let old = self.size();
        let mut out = Array2::<f32>::zeros((size[0], size[1]));
        // new index = old index + offset, offset = new centre − old centre
        let offset = [0, 1].map(|a| ((size[a] - 1) / 2) as isize - ((old[a] - 1) / 2) as isize);
        for ((row, col), &v) in self.values.indexed_iter() {
            let (nr, nc) = (row as isize + offset[0], col as isize + offset[1]);
            if nr >= 0 && nc >= 0 && (nr as usize) < size[0] && (nc as usize) < size[1] {
                out[[nr as usize, nc as usize]] = v;
            }
        }
        Kernel::new(out)
    }

    /// Shifts the kernel by whole pixels (zero fill) so that its centre of mass is as close to the
    /// centre index as rounding allows. Mass shifted off the canvas is dropped and the rest renormalised.
    ///
    /// # Errors
    /// [`Error::ZeroSumKernel`] only if all mass would leave the canvas (cannot happen for a valid kernel).
    pub fn recentre(&self) -> Result<Kernel> {
        let com = self.centre_of_mass();
        let centre = self.centre_index();
        let shift = [0, 1].map(|a| (centre[a] as f32 - com[a]).round() as isize);
        self.shift(shift)
    }

    /// Moves the kernel by `shift = [rows, cols]` whole pixels (zero fill), renormalising.
    ///
    /// # Errors
    /// [`Error::ZeroSumKernel`] if all mass leaves the canvas.
    pub fn shift(&self, shift: [isize; 2]) -> Result<Kernel> {
        let [h, w] = self.size();
        let mut out = Array2::<f32>::zeros((h, w));
        for ((row, col), &v) in self.values.indexed_iter() {
            let (nr, nc) = (row as isize + shift[0], col as isize + shift[1]);
            if nr >= 0 && nc >= 0 && (nr as usize) < h && (nc as usize) < w {
                out[[nr as usize, nc as usize]] = v;
            }
        }
        Kernel::new(out)
    }

    /// The `[1, 1, h, w]` tensor of this kernel.
    pub fn to_tensor(&self, device: &Device) -> Tensor<4> {
        let [h, w] = self.size();
        let data: Vec<f32> = self.values.iter().copied().collect();
        Tensor::from_data(TensorData::new(data, [1, 1, h, w]), device)
    }

    /// Reads a `[1, 1, h, w]` (or `[h, w]`-sized) tensor back as a kernel, validating it.
    ///
    /// # Errors
    /// Validation errors as in [`Kernel::new`]; [`Error::ShapeMismatch`] if the tensor holds more
    /// than one kernel.
    pub fn from_tensor(tensor: Tensor<4>) -> Result<Kernel> {
        let [n, c, h, w] = tensor.dims();
        if n * c != 1 {
            return Err(Error::ShapeMismatch {
                what: "kernel tensor".into(),
                expected: vec![1, 1, h, w],
                found: vec![n, c, h, w],
            });
        }
        let values: Vec<f32> = tensor
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| Error::invalid("kernel tensor", format!("{e:?}")))?;
        let arr = Array2::from_shape_vec((h, w), values)
            .map_err(|e| Error::invalid("kernel tensor", e.to_string()))?;
        Kernel::new(arr.mapv(|v| if v < 0.0 && v > -1e-12 { 0.0 } else { v }))
    }

    /// Writes the kernel as an image scaled so that its maximum is white (8 or 16 bit PNG/TIFF).
    ///
    /// # Errors
    /// As [`save_image`].
    pub fn save_image(&self, path: impl AsRef<Path>, depth: BitDepth) -> Result<()> {
        let max = self.values.iter().fold(0f32, |m, &v| m.max(v));
        let scaled = self.values.mapv(|v| v / max).insert_axis(Axis(0));
        save_image(path, &scaled, depth)
    }

    /// Writes the kernel as a 2-D `float32` `.npy` file (normalised values).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn save_npy(&self, path: impl AsRef<Path>) -> Result<()> {
        write_npy(path.as_ref(), &self.values.clone().into_dyn())
    }

    /// Reads a kernel from a PNG/TIFF/BMP/JPEG image (gray, or RGB with equal channels), a 2-D
    /// `.npy` file (`f32`/`f64`, or a stack holding exactly one kernel), or a CSV/text file of
    /// numbers (comma or whitespace separated, one row per line). The values are validated and
    /// normalised to sum 1.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::NotAnImage`], [`Error::BadKernelFile`] or a validation error; every
    /// message names the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Kernel> {
        let path = path.as_ref();
        let mut stack = load_kernel_stack(path)?;
        if stack.len() != 1 {
            return Err(bad_file(
                path,
                format!(
                    "holds {} kernels; pick one, or load it as a stack",
                    stack.len()
                ),
            ));
        }
        Ok(stack.remove(0))
    }
}

fn bad_file(path: &Path, reason: impl Into<String>) -> Error {
    Error::BadKernelFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Names the file in a validation error.
fn validate_in(path: &Path, values: Array2<f32>) -> Result<Kernel> {
    Kernel::new(values).map_err(|e| bad_file(path, e.to_string()))
}

/// Reads one or more kernels: an `.npy` file `N×K×K` gives N kernels, a kernel field `R×C×K×K`
/// its R·C region kernels row by row; any other kernel file gives one. See [`Kernel::load`] for
/// the formats.
///
/// # Errors
/// As [`Kernel::load`].
pub fn load_kernel_stack(path: impl AsRef<Path>) -> Result<Vec<Kernel>> {
    let path = path.as_ref();
    let ext = crate::convert::extension(path);
    match ext.as_str() {
        "npy" => {
            let array = read_npy(path)?;
            match array.ndim() {
                2 => {
                    let a = array
                        .into_dimensionality::<Ix2>()
                        .map_err(|e| bad_file(path, e.to_string()))?;
                    Ok(vec![validate_in(path, a)?])
                }
                3 => {
                    let a = array
                        .into_dimensionality::<Ix3>()
                        .map_err(|e| bad_file(path, e.to_string()))?;
                    a.outer_iter()
                        .enumerate()
                        .map(|(i, k)| {
                            Kernel::new(k.to_owned())
                                .map_err(|e| bad_file(path, format!("kernel {i}: {e}")))
                        })
                        .collect()
                }
                // a kernel field (`deblur kernels field`, checked against its sidecar as
                // `KernelField::load` checks it): its region kernels, row by row
                4 => Ok(crate::field::KernelField::from_npy(path, array)?
                    .kernels()
                    .to_vec()),
                d => Err(bad_file(
                    path,
                    format!(
                        "expected a 2-D kernel, an N×K×K stack or an R×C×K×K field, found {d} \
                         dimensions"
                    ),
                )),
            }
        }
        "csv" | "txt" => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            Ok(vec![validate_in(
                path,
                parse_csv(&text).map_err(|r| bad_file(path, r))?,
            )?])
        }
        _ => {
            let img = load_image(path)?;
            Ok(vec![validate_in(
                path,
                image_to_kernel_values(&img.pixels).map_err(|r| bad_file(path, r))?,
            )?])
        }
    }
}

fn image_to_kernel_values(pixels: &Array3<f32>) -> std::result::Result<Array2<f32>, String> {
    let gray = pixels.index_axis(Axis(0), 0).to_owned();
    if pixels.dim().0 == 3 {
        for ch in 1..3 {
            let other = pixels.index_axis(Axis(0), ch);
            if gray
                .iter()
                .zip(other.iter())
                .any(|(a, b)| (a - b).abs() > 0.5 / 255.0)
            {
                return Err(
                    "colour image with unequal channels; a kernel image must be gray".into(),
                );
            }
        }
    }
    Ok(gray)
}

fn parse_csv(text: &str) -> std::result::Result<Array2<f32>, String> {
    let mut rows: Vec<Vec<f32>> = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let row = line
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<f32>()
                    .map_err(|_| format!("line {}: {t:?} is not a number", line_no + 1))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if let Some(first) = rows.first()
            && first.len() != row.len()
        {
            return Err(format!(
                "line {}: {} values where earlier rows have {}",
                line_no + 1,
                row.len(),
                first.len()
            ));
        }
        rows.push(row);
    }
    let h = rows.len();
    let w = rows.first().map_or(0, Vec::len);
    if h == 0 || w == 0 {
        return Err("no numbers found".into());
    }
    Array2::from_shape_vec((h, w), rows.concat()).map_err(|e| e.to_string())
}

/// Writes kernels of one size as an `N×K×K` `float32` `.npy` stack.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the kernels differ in size, [`Error::Empty`] for no kernels,
/// [`Error::Io`] on write failure.
pub fn save_kernel_stack(path: impl AsRef<Path>, kernels: &[Kernel]) -> Result<()> {
    let first = kernels
        .first()
        .ok_or(Error::Empty { shape: vec![0] })?
        .size();
    let mut stack = Array3::<f32>::zeros((kernels.len(), first[0], first[1]));
    for (i, k) in kernels.iter().enumerate() {
        if k.size() != first {
            return Err(Error::ShapeMismatch {
                what: format!("kernel {i} of the stack"),
                expected: first.to_vec(),
                found: k.size().to_vec(),
            });
        }
        stack.index_axis_mut(Axis(0), i).assign(k.values());
    }
    let dynamic: ArrayD<f32> = stack.into_dyn();
    write_npy(path.as_ref(), &dynamic)
}

/// Stacks kernels of one size into a `[n, 1, h, w]` tensor.
///
/// # Errors
/// [`Error::ShapeMismatch`] if sizes differ, [`Error::Empty`] for no kernels.
pub fn kernels_to_tensor(kernels: &[Kernel], device: &Device) -> Result<Tensor<4>> {
    let first = kernels
        .first()
        .ok_or(Error::Empty { shape: vec![0] })?
        .size();
    let mut data = Vec::with_capacity(kernels.len() * first[0] * first[1]);
    for (i, k) in kernels.iter().enumerate() {
        if k.size() != first {
            return Err(Error::ShapeMismatch {
                what: format!("kernel {i}"),
                expected: first.to_vec(),
                found: k.size().to_vec(),
            });
        }
        data.extend(k.values().iter().copied());
    }
    Ok(Tensor::from_data(
        TensorData::new(data, [kernels.len(), 1, first[0], first[1]]),
        device,
    ))
}

/// Writes a CSV file of the kernel's normalised values (one row per line), atomically.
///
/// # Errors
/// [`Error::Io`] on write failure.
pub fn save_kernel_csv(path: impl AsRef<Path>, kernel: &Kernel) -> Result<()> {
    let text: String = kernel
        .values()
        .outer_iter()
        .map(|row| {
            row.iter()
                .map(|v| format!("{v:e}"))
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    write_atomic(path.as_ref(), |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn validation_names_the_problem() {
        assert!(matches!(
            Kernel::new(array![[1.0, f32::NAN]]),
            Err(Error::NonFiniteKernel { row: 0, col: 1 })
        ));
        assert!(matches!(
            Kernel::new(array![[1.0], [-0.5]]),
            Err(Error::NegativeKernel { row: 1, col: 0, .. })
        ));
        assert!(matches!(
            Kernel::new(array![[0.0, 0.0]]),
            Err(Error::ZeroSumKernel)
        ));
        assert!(matches!(
            Kernel::new(Array2::zeros((0, 3))),
            Err(Error::Empty { .. })
        ));
        let k = Kernel::new(array![[1.0, 3.0]]).unwrap();
        assert_eq!(k.values(), &array![[0.25, 0.75]]);
    }

    #[test]
    fn centre_of_mass_and_centre_index() {
        // hand-computed: mass 1 at (0, 0) and 3 at (2, 1) → com = (1.5, 0.75)
        let k = Kernel::new(array![[1.0, 0.0], [0.0, 0.0], [0.0, 3.0]]).unwrap();
        assert_eq!(k.centre_of_mass(), [1.5, 0.75]);
        assert_eq!(k.centre_index(), [1, 0]);
        assert_eq!(Kernel::delta([4, 5]).unwrap().centre_of_mass(), [1.0, 2.0]);
    }

    #[test]
    fn resize_keeps_centre_pixel_and_rotation_flips() {
        let k = Kernel::new(array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]).unwrap();
        let padded = k.resize_canvas([5, 4]).unwrap();
        // old centre (1, 1) lands on new centre (2, 1)
        assert_eq!(padded.values()[[2, 1]], k.values()[[1, 1]]);
        assert_eq!(padded.values()[[1, 0]], k.values()[[0, 0]]);
        let back = padded.resize_canvas([3, 3]).unwrap();
        assert!((&back.values - &k.values).iter().all(|v| v.abs() < 1e-7));
        let r = k.rotate_180();
        assert_eq!(r.values()[[0, 0]], k.values()[[2, 2]]);
        assert_eq!(r.values()[[0, 2]], k.values()[[2, 0]]);
    }

    #[test]
    fn denormal_taps_normalise_to_finite_values() {
        // found by fuzzing the .npy loader: 1/sum of a denormal sum overflows f32
        let mut v = Array2::<f32>::zeros((3, 3));
        v[[1, 1]] = 1e-45;
        v[[1, 2]] = 1e-45;
        let k = Kernel::new(v).unwrap();
        assert!(k.values().iter().all(|x| x.is_finite()));
        assert!((k.values()[[1, 1]] - 0.5).abs() < 1e-6, "{:?}", k.values());
    }

    #[test]
    fn recentre_moves_mass_to_centre() {
        let mut v = Array2::zeros((7, 7));
        v[[0, 1]] = 1.0;
        v[[1, 1]] = 1.0;
        let k = Kernel::new(v).unwrap().recentre().unwrap();
        let com = k.centre_of_mass();
        assert!(
            (com[0] - 3.0).abs() <= 0.5 && (com[1] - 3.0).abs() <= 0.5,
            "{com:?}"
        );
    }

    #[test]
    fn file_formats_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let k = Kernel::new(array![[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]).unwrap();
        k.save_npy(dir.path().join("k.npy")).unwrap();
        let close = |a: &Kernel, b: &Kernel| (&a.values - &b.values).iter().all(|v| v.abs() < 1e-6);
        assert!(close(&Kernel::load(dir.path().join("k.npy")).unwrap(), &k));
        save_kernel_csv(dir.path().join("k.csv"), &k).unwrap();
        let from_csv = Kernel::load(dir.path().join("k.csv")).unwrap();
        assert!(
            (&from_csv.values - &k.values)
                .iter()
                .all(|v| v.abs() < 1e-6)
        );
        k.save_image(dir.path().join("k.png"), BitDepth::Sixteen)
            .unwrap();
        let from_png = Kernel::load(dir.path().join("k.png")).unwrap();
        assert!(
            (&from_png.values - &k.values)
                .iter()
                .all(|v| v.abs() < 1e-4)
        );
        save_kernel_stack(dir.path().join("s.npy"), &[k.clone(), k.rotate_180()]).unwrap();
        let stack = load_kernel_stack(dir.path().join("s.npy")).unwrap();
        assert_eq!(stack.len(), 2);
        assert!(close(&stack[1], &k.rotate_180()));
        assert!(matches!(
            Kernel::load(dir.path().join("s.npy")),
            Err(Error::BadKernelFile { .. })
        ));
    }

    #[test]
    fn a_kernel_field_reads_as_its_region_kernels_row_by_row() {
        let dir = tempfile::tempdir().unwrap();
        // a 2 × 3 field of 1 × 2 kernels: region (r, c) holds [r + 1, c + 1] before normalising
        let field = ndarray::Array4::from_shape_fn((2, 3, 1, 2), |(r, c, _, x)| {
            if x == 0 {
                r as f32 + 1.0
            } else {
                c as f32 + 1.0
            }
        });
        write_npy(&dir.path().join("f.npy"), &field.into_dyn()).unwrap();
        let kernels = load_kernel_stack(dir.path().join("f.npy")).unwrap();
        assert_eq!(kernels.len(), 6);
        // region (2, 1): [2, 1] / 3; region (1, 3): [1, 3] / 4
        assert_eq!(kernels[3].values(), &array![[2.0 / 3.0, 1.0 / 3.0]]);
        assert_eq!(kernels[2].values(), &array![[0.25, 0.75]]);
        let one = ndarray::Array4::from_elem((1, 1, 2, 2), 1.0f32);
        write_npy(&dir.path().join("one.npy"), &one.into_dyn()).unwrap();
        assert_eq!(
            Kernel::load(dir.path().join("one.npy")).unwrap().values(),
            &Array2::from_elem((2, 2), 0.25)
        );
        let mut bad = ndarray::Array4::from_elem((1, 2, 2, 2), 1.0f32);
        bad[[0, 1, 0, 0]] = -1.0;
        write_npy(&dir.path().join("bad.npy"), &bad.into_dyn()).unwrap();
        let msg = load_kernel_stack(dir.path().join("bad.npy"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("region 1 (row 0, column 1)") && msg.contains("bad.npy"),
            "{msg}"
        );
        // the field's sidecar is checked as `KernelField::load` checks it
        std::fs::write(dir.path().join("f.json"), r#"{"grid": [3, 2]}"#).unwrap();
        let msg = load_kernel_stack(dir.path().join("f.npy"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("sidecar says 3x2"), "{msg}");
        let five = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[1, 1, 1, 2, 2]), 1.0f32);
        write_npy(&dir.path().join("five.npy"), &five).unwrap();
        let msg = Kernel::load(dir.path().join("five.npy"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("found 5 dimensions"), "{msg}");
    }

    #[test]
    fn csv_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.csv");
        std::fs::write(&p, "1,2\n3,x\n").unwrap();
        let msg = Kernel::load(&p).unwrap_err().to_string();
        assert!(msg.contains("line 2") && msg.contains("k.csv"), "{msg}");
        std::fs::write(&p, "1,nan\n").unwrap();
        let msg = Kernel::load(&p).unwrap_err().to_string();
        assert!(msg.contains("non-finite"), "{msg}");
    }
}
