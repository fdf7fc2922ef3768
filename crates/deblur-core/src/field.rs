//! Kernel fields: one blur kernel per region of an `R_h × R_w` grid, the data of a spatially
//! varying blur ([`crate::Svola`]).
//!
//! # File format
//! A field is stored as an `.npy` array of `f32` with shape `R_h × R_w × K_h × K_w` (regions row
//! by row from the top left, each kernel in the same convention as a single kernel file: applied
//! as a cross-correlation, centre at `(K − 1) / 2`, summing to one), and an optional JSON sidecar
//! beside it (`field.json` for `field.npy`):
//!
//! ```json
//! { "grid": [3, 3], "kernel_size": [31, 31], "window": "tent" }
//! ```
//!
//! `window` is `"tent"` (bilinear interpolation between region centres, the default when there
//! is no sidecar) or `"bartlett-hann"`. An `N × K × K` stack is read as a field when the sidecar
//! gives a grid with `R_h · R_w = N`. Other keys in the sidecar (how the field was made) are kept
//! for the reader and ignored here. On loading, the sidecar must agree with the array, and every
//! kernel must be finite and non-negative with positive mass (it is then normalised).

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use ndarray::{Array2, ArrayD, Axis, IxDyn};

use crate::kernel::Kernel;
use crate::npy::{read_npy, write_atomic};
use crate::svola::{Svola, WindowShape};
use crate::{BlurMethod, Boundary, Error, Result};

/// A grid of kernels and the window taper that blends them.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelField {
    grid: [usize; 2],
    window: WindowShape,
    method: BlurMethod,
    kernels: Vec<Kernel>,
}

impl KernelField {
    /// A field of `kernels` (row by row) on a `grid`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the count is not `grid[0] · grid[1]`, the grid has a zero
    /// side, or the kernels differ in size.
    pub fn new(grid: [usize; 2], window: WindowShape, kernels: Vec<Kernel>) -> Result<Self> {
        if grid[0] == 0 || grid[1] == 0 {
            return Err(Error::invalid(
                "grid",
                format!("{}x{} has no region", grid[0], grid[1]),
            ));
        }
        if kernels.len() != grid[0] * grid[1] {
            return Err(Error::invalid(
                "grid",
                format!(
                    "a {}x{} grid needs {} kernels, found {}",
                    grid[0],
                    grid[1],
                    grid[0] * grid[1],
                    kernels.len()
                ),
            ));
        }
        let size = kernels[0].size();
        if let Some(other) = kernels.iter().find(|k| k.size() != size) {
            return Err(Error::invalid(
                "kernel size",
                format!(
                    "the kernels of a field share one size: {:?} and {:?}",
                    size,
                    other.size()
                ),
            ));
        }
        Ok(KernelField {
            grid,
            window,
            method: BlurMethod::Auto,
            kernels,
        })
    }

    /// The same kernel in every region: the uniform blur as a field.
    ///
    /// # Errors
    /// As [`KernelField::new`].
    pub fn uniform(grid: [usize; 2], window: WindowShape, kernel: &Kernel) -> Result<Self> {
        KernelField::new(grid, window, vec![kernel.clone(); grid[0] * grid[1]])
    }

    /// The same field blurring by `method` (direct, FFT or the automatic choice, the default).
    pub fn with_method(&self, method: BlurMethod) -> Self {
        KernelField {
            method,
            ..self.clone()
        }
    }

    /// Regions per axis `[rows, columns]`.
    pub fn grid(&self) -> [usize; 2] {
        self.grid
    }

    /// The window taper.
    pub fn window(&self) -> WindowShape {
        self.window
    }

    /// The kernels, row by row.
    pub fn kernels(&self) -> &[Kernel] {
        &self.kernels
    }

    /// Kernel height and width.
    pub fn kernel_size(&self) -> [usize; 2] {
        self.kernels[0].size()
    }

    /// The spatially varying blur of this field with `boundary`.
    pub fn svola(&self, boundary: Boundary) -> Svola {
        Svola::new(self.grid, boundary)
            .with_window(self.window)
            .with_method(self.method)
    }

    /// The kernels as one tensor `[R, 1, kh, kw]` in region order, as [`Svola::apply`] takes them.
    pub fn to_tensor(&self, device: &Device) -> Tensor<4> {
        // `new` guarantees at least one kernel, all of one size
        crate::kernel::kernels_to_tensor(&self.kernels, device)
            .expect("a field holds kernels of one size")
    }

    /// The field from a `[R, 1, kh, kw]` tensor of a solver (each kernel validated and normalised).
    ///
    /// # Errors
    /// As [`KernelField::new`] and [`Kernel::from_tensor`].
    pub fn from_tensor(grid: [usize; 2], window: WindowShape, kernels: Tensor<4>) -> Result<Self> {
        let [r, _, _, _] = kernels.dims();
        let list = (0..r)
            .map(|i| Kernel::from_tensor(kernels.clone().narrow(0, i, 1)))
            .collect::<Result<Vec<_>>>()?;
        KernelField::new(grid, window, list)
    }

    /// Blurs a host image `[c, h, w]` with this field (every channel alike; the kernels are
    /// placed on the grid over the image, or over its padded extension for a `same` boundary),
    /// then adds seeded Gaussian noise of `noise_std`. The field counterpart of
    /// [`crate::blur_image`], behind `deblur blur --kernel-field`.
    ///
    /// # Errors
    /// [`Error::KernelLargerThanImage`], [`Error::InvalidParameter`] for a grid finer than the
    /// image, and the errors of [`crate::add_gaussian_noise`].
    pub fn blur_image(
        &self,
        image: &ndarray::Array3<f32>,
        boundary: Boundary,
        noise_std: f32,
        seed: u64,
        device: &Device,
    ) -> Result<ndarray::Array3<f32>> {
        let x = crate::convert::array_to_tensor(image, device);
        let y = crate::add_gaussian_noise(self.blur(x, boundary)?, noise_std, seed)?;
        crate::convert::tensor_to_array(y, 0)
    }

    /// Blurs images `[n, c, h, w]` with this field, every image and channel alike.
    ///
    /// # Errors
    /// As [`KernelField::blur_image`], without the noise.
    pub fn blur(&self, images: Tensor<4>, boundary: Boundary) -> Result<Tensor<4>> {
        let [n, c, h, w] = images.dims();
        // channels as a batch of one-channel images: the field's kernels have one channel
        let device = images.device();
        let x = images.reshape([n * c, 1, h, w]);
        let y = self.svola(boundary).apply(x, self.to_tensor(&device))?;
        let [_, _, oh, ow] = y.dims();
        Ok(y.reshape([n, c, oh, ow]))
    }

    /// The sidecar of a field file: `field.json` beside `field.npy`.
    pub fn sidecar_path(path: &Path) -> PathBuf {
        path.with_extension("json")
    }

    /// Writes the field as `R_h × R_w × K_h × K_w` `.npy` and its JSON sidecar (with `extra`
    /// key/value pairs describing how it was made), each atomically.
    ///
    /// # Errors
    /// [`Error::Io`] when a file cannot be written.
    pub fn save(&self, path: &Path, extra: &[(&str, String)]) -> Result<()> {
        let [kh, kw] = self.kernel_size();
        let mut array = ArrayD::<f32>::zeros(IxDyn(&[self.grid[0], self.grid[1], kh, kw]));
        for (i, kernel) in self.kernels.iter().enumerate() {
            array
                .index_axis_mut(Axis(0), i / self.grid[1])
                .index_axis_mut(Axis(0), i % self.grid[1])
                .assign(kernel.values());
        }
        let mut json = format!(
            "{{\n  \"grid\": [{}, {}],\n  \"kernel_size\": [{kh}, {kw}],\n  \"window\": \"{}\"",
            self.grid[0],
            self.grid[1],
            window_name(self.window)
        );
        for (key, value) in extra {
            json.push_str(&format!(",\n  \"{key}\": {value}"));
        }
        json.push_str("\n}\n");
        crate::npy::write_npy(path, &array)?;
        let sidecar = KernelField::sidecar_path(path);
        write_atomic(&sidecar, |file| {
            use std::io::Write;
            file.write_all(json.as_bytes())
        })
    }

    /// Reads a field file (see the module documentation for the format).
    ///
    /// # Errors
    /// [`Error::BadFieldFile`] naming the file and what is wrong: a shape that is not a grid of
    /// kernels, a sidecar that disagrees with the array or cannot be parsed, a non-finite,
    /// negative or empty kernel (with its region).
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::BadFieldFile {
            path: path.to_path_buf(),
            reason,
        };
        if crate::convert::extension(path) != "npy" {
            return Err(bad(
                "a kernel field is an .npy array R_h x R_w x K x K (see `deblur kernels field`)"
                    .into(),
            ));
        }
        KernelField::from_npy(path, read_npy(path)?)
    }

    /// [`KernelField::load`] of the array `array` already read from `path` (the sidecar is read
    /// beside `path`).
    ///
    /// # Errors
    /// As [`KernelField::load`].
    pub(crate) fn from_npy(path: &Path, array: ArrayD<f32>) -> Result<Self> {
        let bad = |reason: String| Error::BadFieldFile {
            path: path.to_path_buf(),
            reason,
        };
        let sidecar_path = KernelField::sidecar_path(path);
        let sidecar = match std::fs::read_to_string(&sidecar_path) {
            Ok(text) => Some(parse_sidecar(&text).map_err(|reason| Error::BadFieldFile {
                path: sidecar_path.clone(),
                reason,
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&sidecar_path, e)),
        };
        let shape = array.shape().to_vec();
        let (grid, kh, kw) = match (shape.as_slice(), &sidecar) {
            (&[gh, gw, kh, kw], _) => ([gh, gw], kh, kw),
            (&[n, kh, kw], Some((s, _))) => {
                if s.grid[0] * s.grid[1] != n {
                    return Err(bad(format!(
                        "holds {n} kernels but its sidecar gives a {}x{} grid ({} kernels)",
                        s.grid[0],
                        s.grid[1],
                        s.grid[0] * s.grid[1]
                    )));
                }
                (s.grid, kh, kw)
            }
            _ => {
                return Err(bad(format!(
                    "a kernel field is an R_h x R_w x K x K array (or N x K x K with a sidecar \
                     giving the grid); found shape {shape:?}"
                )));
            }
        };
        if let Some((s, _)) = &sidecar {
            if s.grid != grid {
                return Err(bad(format!(
                    "the array is a {}x{} grid but its sidecar says {}x{}",
                    grid[0], grid[1], s.grid[0], s.grid[1]
                )));
            }
            if let Some(size) = s.kernel_size
                && size != [kh, kw]
            {
                return Err(bad(format!(
                    "the kernels are {kh}x{kw} but the sidecar says {}x{}",
                    size[0], size[1]
                )));
            }
        }
        let flat = array
            .into_shape_with_order(IxDyn(&[grid[0] * grid[1], kh, kw]))
            .map_err(|e| bad(e.to_string()))?;
        let kernels = flat
            .outer_iter()
            .enumerate()
            .map(|(i, k)| {
                let values: Array2<f32> = k
                    .to_owned()
                    .into_dimensionality()
                    .map_err(|e| bad(e.to_string()))?;
                Kernel::new(values).map_err(|e| {
                    bad(format!(
                        "region {} (row {}, column {}): {e}",
                        i,
                        i / grid[1],
                        i % grid[1]
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let window = sidecar.map(|(_, w)| w).unwrap_or_default();
        KernelField::new(grid, window, kernels).map_err(|e| bad(e.to_string()))
    }
}

/// The sidecar's name for a window taper.
pub fn window_name(window: WindowShape) -> &'static str {
    match window {
        WindowShape::Tent => "tent",
        WindowShape::BartlettHann => "bartlett-hann",
    }
}

/// The sidecar's keys that matter here; others (how the field was made) are ignored.
#[derive(serde::Deserialize)]
struct Sidecar {
    grid: [usize; 2],
    #[serde(default)]
    kernel_size: Option<[usize; 2]>,
    #[serde(default)]
    window: Option<String>,
}

impl Sidecar {
    fn window(&self) -> std::result::Result<WindowShape, String> {
        match self.window.as_deref() {
            None | Some("tent") => Ok(WindowShape::Tent),
            Some("bartlett-hann") => Ok(WindowShape::BartlettHann),
            Some(other) => Err(format!(
                "unknown window {other:?}; use \"tent\" or \"bartlett-hann\""
            )),
        }
    }
}

fn parse_sidecar(text: &str) -> std::result::Result<(Sidecar, WindowShape), String> {
    let sidecar: Sidecar =
        serde_json::from_str(text).map_err(|e| format!("not a field sidecar: {e}"))?;
    if sidecar.grid[0] == 0 || sidecar.grid[1] == 0 {
        return Err(format!(
            "grid {}x{} has no region",
            sidecar.grid[0], sidecar.grid[1]
        ));
    }
    let window = sidecar.window()?;
    Ok((sidecar, window))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(size: usize, row: usize) -> Kernel {
        let mut v = Array2::<f32>::zeros((size, size));
        v.row_mut(row).fill(1.0);
        Kernel::new(v).unwrap()
    }

    #[test]
    fn a_field_round_trips_through_its_file_and_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.npy");
        let kernels = (0..6).map(|i| line(5, i % 5)).collect();
        let field = KernelField::new([2, 3], WindowShape::BartlettHann, kernels).unwrap();
        field.save(&path, &[("seed", "7".into())]).unwrap();
        let back = KernelField::load(&path).unwrap();
        assert_eq!(back, field);
        let text = std::fs::read_to_string(dir.path().join("f.json")).unwrap();
        assert!(text.contains("\"seed\": 7") && text.contains("bartlett-hann"));
        // Without the sidecar: the 4-D array alone, tent windows.
        std::fs::remove_file(dir.path().join("f.json")).unwrap();
        let bare = KernelField::load(&path).unwrap();
        assert_eq!(bare.grid(), [2, 3]);
        assert_eq!(bare.window(), WindowShape::Tent);
        assert_eq!(bare.kernels(), field.kernels());
    }

    #[test]
    fn mismatched_or_invalid_fields_are_refused_naming_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.npy");
        let field = KernelField::uniform([2, 2], WindowShape::Tent, &line(3, 1)).unwrap();
        field.save(&path, &[]).unwrap();
        let sidecar = dir.path().join("f.json");
        let message = |p: &Path| KernelField::load(p).unwrap_err().to_string();
        std::fs::write(&sidecar, "{\"grid\": [3, 3]}").unwrap();
        assert!(
            message(&path).contains("sidecar says 3x3"),
            "{}",
            message(&path)
        );
        std::fs::write(&sidecar, "{\"grid\": [2, 2], \"kernel_size\": [5, 5]}").unwrap();
        assert!(message(&path).contains("sidecar says 5x5"));
        std::fs::write(&sidecar, "{\"grid\": [2, 2], \"window\": \"round\"}").unwrap();
        assert!(message(&path).contains("unknown window"));
        // A 3-D stack whose count disagrees with the sidecar's grid.
        let stack = ArrayD::<f32>::from_elem(IxDyn(&[5, 3, 3]), 1.0 / 9.0);
        crate::npy::write_npy(&path, &stack).unwrap();
        std::fs::write(&sidecar, "{\"grid\": [2, 2]}").unwrap();
        assert!(message(&path).contains("holds 5 kernels"));
        // NaN and negative entries name the region.
        std::fs::remove_file(&sidecar).unwrap();
        let mut array = ArrayD::<f32>::from_elem(IxDyn(&[1, 2, 3, 3]), 1.0 / 9.0);
        array[[0, 1, 2, 2]] = f32::NAN;
        crate::npy::write_npy(&path, &array).unwrap();
        assert!(message(&path).contains("region 1 (row 0, column 1)"));
        array[[0, 1, 2, 2]] = -0.5;
        crate::npy::write_npy(&path, &array).unwrap();
        assert!(message(&path).contains("negative"));
        // A plain kernel is not a field.
        let flat = ArrayD::<f32>::from_elem(IxDyn(&[3, 3]), 1.0 / 9.0);
        crate::npy::write_npy(&path, &flat).unwrap();
        assert!(message(&path).contains("found shape [3, 3]"));
    }

    #[test]
    fn a_uniform_field_blurs_as_its_kernel() {
        use crate::blur::UniformBlur;
        use burn::tensor::TensorData;
        let device = Device::default();
        let kernel = line(5, 1);
        let field = KernelField::uniform([3, 3], WindowShape::Tent, &kernel).unwrap();
        let image = Tensor::<4>::from_data(
            TensorData::new(
                (0..32 * 40)
                    .map(|i| ((i * 37) % 101) as f32 / 100.0)
                    .collect::<Vec<_>>(),
                [1, 1, 32, 40],
            ),
            &device,
        );
        let boundary = Boundary::Valid;
        let varying = field
            .svola(boundary)
            .apply(image.clone(), field.to_tensor(&device))
            .unwrap();
        let uniform = UniformBlur::new(boundary)
            .apply(image, kernel.to_tensor(&device))
            .unwrap();
        let diff: f32 = (varying - uniform).abs().max().into_scalar();
        assert!(diff < 1e-5, "{diff}");
    }
}
