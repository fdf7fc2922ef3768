//! Spatially varying blur by overlap-add of locally uniform blurs (SVOLA; the "efficient filter
//! flow" of Hirsch, Sra, Schölkopf and Harmeling, CVPR 2010, used for non-uniform blur by GLKM).
//!
//! The image is covered by a grid of `R = gh × gw` overlapping regions with window images `w_r`
//! that sum to one at every pixel (a partition of unity); region `r` has its own kernel `k_r`:
//!
//! ```text
//! y = Σ_r k_r ⋆ (w_r ⊙ x)          (window first, then blur)
//! ```
//!
//! with `⋆` the valid cross-correlation of [`crate::blur`] (same convention, same centre). Each
//! pixel of `x` is spread by the interpolated kernel `Σ_r w_r(p) k_r`; with all kernels equal the
//! operator is the uniform blur exactly. Windows live on the blur's input domain: for a
//! [`Boundary::Same`] blur the image is first extended by its padding, then windowed (padding is
//! linear, so equal kernels again give the uniform `same` blur).
//!
//! Each region is blurred over its window's bounding box only, by the direct or the FFT method
//! ([`BlurMethod::Auto`] chooses per region as the uniform blur does), and the pieces are added
//! into the output. Differentiable in the image and in every kernel; [`Svola::adjoint`] gives
//! `Aᵀ` explicitly for solvers without autodiff.

use burn::tensor::{Device, Tensor, TensorData};

use crate::blur::{BlurMethod, Boundary, UniformBlur, same_pads};
use crate::pad::{Padding, pad};
use crate::svola_host::{HostRegion, SvolaGeometry};
use crate::{Error, Result};

/// The 1-D taper the windows are built from (separable: `w_(i,j)(u, v) = a_i(u) · b_j(v)`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum WindowShape {
    /// Linear interpolation between region centres at `0, (N−1)/(g−1), …, N−1`: each pixel's
    /// kernel is the bilinear interpolation of its neighbouring region kernels. Sums to one
    /// by construction.
    #[default]
    Tent,
    /// Bartlett–Hann tapers over patches of `⌈2N/(g+1)⌉` samples (50 % overlap; Hirsch et al.),
    /// divided by their sum so that they form a partition of unity (flat towards the borders).
    BartlettHann,
}

/// One axis's windows: per region, the first sample of its support and its values there.
#[derive(Clone, Debug, PartialEq)]
pub struct AxisWindows {
    /// `(start, values)` per region, values strictly inside `[0, 1]`, support `start..start+len`.
    pub regions: Vec<(usize, Vec<f32>)>,
}

impl AxisWindows {
    /// Windows of `shape` for `regions` regions over `len` samples.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for no region or fewer samples than regions.
    pub fn new(shape: WindowShape, regions: usize, len: usize) -> Result<Self> {
        if regions == 0 || len < regions {
            return Err(Error::invalid(
                "grid",
                format!("{regions} regions over {len} pixels: use 1 to {len} regions per axis"),
            ));
        }
        if regions == 1 {
            return Ok(AxisWindows {
                regions: vec![(0, vec![1.0; len])],
            });
        }
        let dense: Vec<Vec<f64>> = match shape {
            WindowShape::Tent => {
                let step = (len - 1) as f64 / (regions - 1) as f64;
                (0..regions)
                    .map(|i| {
                        let centre = i as f64 * step;
                        (0..len)
                            .map(|u| (1.0 - (u as f64 - centre).abs() / step).max(0.0))
                            .collect()
                    })
                    .collect()
            }
            WindowShape::BartlettHann => {
                let patch = (2 * len).div_ceil(regions + 1).min(len);
                // a taper of patch + 2 samples without its two zero end points: positive inside
                let taper: Vec<f64> = (1..=patch)
                    .map(|n| {
                        let t = n as f64 / (patch + 1) as f64;
                        0.62 - 0.48 * (t - 0.5).abs()
                            - 0.38 * (2.0 * std::f64::consts::PI * t).cos()
                    })
                    .collect();
                let raw: Vec<Vec<f64>> = (0..regions)
                    .map(|i| {
                        let start =
                            ((i * (len - patch)) as f64 / (regions - 1) as f64).round() as usize;
                        let mut v = vec![0.0; len];
                        v[start..start + patch].copy_from_slice(&taper);
                        v
                    })
                    .collect();
                let total: Vec<f64> = (0..len).map(|u| raw.iter().map(|r| r[u]).sum()).collect();
                raw.into_iter()
                    .map(|r| r.iter().zip(&total).map(|(v, t)| v / t).collect())
                    .collect()
            }
        };
        let regions = dense
            .into_iter()
            .map(|v| {
                let first = v.iter().position(|&x| x > 0.0).unwrap_or(0);
                let last = v.iter().rposition(|&x| x > 0.0).unwrap_or(first);
                (first, v[first..=last].iter().map(|&x| x as f32).collect())
            })
            .collect();
        Ok(AxisWindows { regions })
    }
}

/// A spatially varying blur: a grid of regions with their windows, a boundary rule and an
/// implementation choice. The kernels are passed per call (`[R, kc, kh, kw]`, region `r = i·gw
/// + j` for grid row `i` and column `j`), so that they can be trainable tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Svola {
    /// Regions `[rows, columns]`.
    pub grid: [usize; 2],
    /// The window taper.
    pub window: WindowShape,
    /// Border handling (as [`UniformBlur`]).
    pub boundary: Boundary,
    /// Implementation of each region's blur.
    pub method: BlurMethod,
}

/// A [`Svola`] prepared for one image size and kernel size on one device: the windows are
/// computed and placed on the device once, so that repeated calls (a solver's every step) only
/// blur. [`Svola::apply`] and [`Svola::adjoint`] build one per call.
pub struct SvolaPlan {
    svola: Svola,
    image: [usize; 2],
    kernel: [usize; 2],
    /// The regions that reach the output: supports, output ranges, windows (host values).
    host: std::sync::Arc<SvolaGeometry>,
    /// Each region's window as a `[1, 1, rows, cols]` tensor on the plan's device.
    windows: Vec<Tensor<4>>,
}

impl Svola {
    /// A `grid` of tent windows with the given boundary and automatic method choice.
    pub fn new(grid: [usize; 2], boundary: Boundary) -> Self {
        Svola {
            grid,
            window: WindowShape::Tent,
            boundary,
            method: BlurMethod::Auto,
        }
    }

    /// The same blur with another window taper.
    pub fn with_window(self, window: WindowShape) -> Self {
        Svola { window, ..self }
    }

    /// The same blur forced to `method`.
    pub fn with_method(self, method: BlurMethod) -> Self {
        Svola { method, ..self }
    }

    /// Number of regions.
    pub fn regions(&self) -> usize {
        self.grid[0] * self.grid[1]
    }

    /// The size of the blur's input (the image, extended for `same`) for an image of `image`.
    fn input_size(&self, image: [usize; 2], kernel: [usize; 2]) -> [usize; 2] {
        match self.boundary {
            Boundary::Valid => image,
            Boundary::Same(_) => [image[0] + kernel[0] - 1, image[1] + kernel[1] - 1],
        }
    }

    /// The windows `[R, 1, h, w]` over a blur input (padded, for `same`) of `size`, for
    /// inspection and tests.
    ///
    /// # Errors
    /// As [`AxisWindows::new`].
    pub fn windows(&self, size: [usize; 2], device: &Device) -> Result<Tensor<4>> {
        let plan = SvolaPlan {
            svola: Svola {
                boundary: Boundary::Valid,
                ..*self
            },
            image: size,
            kernel: [1, 1],
            host: Default::default(),
            windows: Vec::new(),
        }
        .with_regions(device)?;
        let placed = plan
            .host
            .regions
            .iter()
            .zip(plan.windows)
            .map(|(p, window)| {
                window.pad(
                    [
                        (p.start[0], size[0] - p.start[0] - p.extent[0]),
                        (p.start[1], size[1] - p.start[1] - p.extent[1]),
                    ],
                    burn::tensor::ops::PadMode::Constant(0.0),
                )
            })
            .collect();
        Ok(Tensor::cat(placed, 0))
    }

    /// The plan for images of `image` and kernels of `kernel` on `device`.
    ///
    /// # Errors
    /// [`Error::KernelLargerThanImage`], [`Error::InvalidParameter`] for a grid finer than the
    /// image.
    pub fn plan(
        &self,
        image: [usize; 2],
        kernel: [usize; 2],
        device: &Device,
    ) -> Result<SvolaPlan> {
        UniformBlur::new(self.boundary).output_size(image, kernel)?;
        SvolaPlan {
            svola: *self,
            image,
            kernel,
            host: Default::default(),
            windows: Vec::new(),
        }
        .with_regions(device)
    }

    /// Blurs `image` `[n, c, h, w]` with `kernels` `[R, kc, kh, kw]` (kc = 1 or c).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a kernel count other than the grid's,
    /// [`Error::KernelLargerThanImage`], [`Error::InvalidParameter`] for a grid finer than the
    /// image.
    pub fn apply(&self, image: Tensor<4>, kernels: Tensor<4>) -> Result<Tensor<4>> {
        let [_, _, h, w] = image.dims();
        let [_, _, kh, kw] = kernels.dims();
        self.plan([h, w], [kh, kw], &image.device())?
            .apply(image, kernels)
    }

    /// The adjoint of [`Svola::apply`] for the same kernels: `Aᵀ r = Σ_r w_r ⊙ (k_r ∗ r)`
    /// (restricted to each window), mapped back through the padding for `same`, so that
    /// `⟨A x, r⟩ = ⟨x, Aᵀ r⟩`.
    ///
    /// # Errors
    /// As [`Svola::apply`], plus [`Error::ShapeMismatch`] if `residual` is not the output size.
    pub fn adjoint(
        &self,
        residual: Tensor<4>,
        kernels: Tensor<4>,
        image_size: [usize; 2],
    ) -> Result<Tensor<4>> {
        let [_, _, kh, kw] = kernels.dims();
        self.plan(image_size, [kh, kw], &residual.device())?
            .adjoint(residual, kernels)
    }
}

impl SvolaPlan {
    /// The operator the plan was made for.
    pub fn svola(&self) -> Svola {
        self.svola
    }

    /// The regions' supports, output ranges and windows.
    fn with_regions(mut self, device: &Device) -> Result<Self> {
        let svola = self.svola;
        let input = svola.input_size(self.image, self.kernel);
        let rows = AxisWindows::new(svola.window, svola.grid[0], input[0])?;
        let cols = AxisWindows::new(svola.window, svola.grid[1], input[1])?;
        let out_len = [input[0] + 1 - self.kernel[0], input[1] + 1 - self.kernel[1]];
        let mut host = SvolaGeometry {
            input,
            kernel: self.kernel,
            output: out_len,
            regions: Vec::new(),
        };
        let kernel = self.kernel;
        let reach = |axis: usize, start: usize, len: usize| {
            // output g reads inputs g..g+k: it meets the support when g + k > start, g < start + len
            let lo = (start + 1).saturating_sub(kernel[axis]);
            let hi = (start + len).min(out_len[axis]);
            (lo, hi.max(lo))
        };
        // regions whose output range is empty (a kernel as large as the input) add nothing
        for (i, (r0, a)) in rows.regions.iter().enumerate() {
            for (j, (c0, b)) in cols.regions.iter().enumerate() {
                let out = [reach(0, *r0, a.len()), reach(1, *c0, b.len())];
                if out.iter().any(|(lo, hi)| hi == lo) {
                    continue;
                }
                let values: Vec<f32> = a
                    .iter()
                    .flat_map(|av| b.iter().map(move |bv| av * bv))
                    .collect();
                self.windows.push(Tensor::from_data(
                    TensorData::new(values.clone(), [1, 1, a.len(), b.len()]),
                    device,
                ));
                host.regions.push(HostRegion {
                    index: i * svola.grid[1] + j,
                    start: [*r0, *c0],
                    extent: [a.len(), b.len()],
                    out,
                    window: values,
                });
            }
        }
        self.host = std::sync::Arc::new(host);
        Ok(self)
    }

    /// Checks an image `[n, c, h, w]` of the plan's size against `kernels`; the output size.
    fn check(&self, image: [usize; 4], kernels: [usize; 4]) -> Result<[usize; 2]> {
        let svola = self.svola;
        let [r, kc, kh, kw] = kernels;
        if r != svola.regions() || (kc != 1 && kc != image[1]) {
            return Err(Error::ShapeMismatch {
                what: format!(
                    "kernels of a {}x{} SVOLA grid (one per region; channels 1 or the image's)",
                    svola.grid[0], svola.grid[1]
                ),
                expected: vec![svola.regions(), image[1], kh, kw],
                found: kernels.to_vec(),
            });
        }
        if [image[2], image[3]] != self.image || [kh, kw] != self.kernel {
            return Err(Error::ShapeMismatch {
                what: "image and kernel of the SVOLA plan".into(),
                expected: vec![self.image[0], self.image[1], self.kernel[0], self.kernel[1]],
                found: vec![image[2], image[3], kh, kw],
            });
        }
        UniformBlur::new(svola.boundary).output_size(self.image, self.kernel)
    }

    /// [`Svola::apply`] with the plan's windows.
    ///
    /// # Errors
    /// As [`Svola::apply`], plus [`Error::ShapeMismatch`] for an image or kernel of another size
    /// than the plan's.
    pub fn apply(&self, image: Tensor<4>, kernels: Tensor<4>) -> Result<Tensor<4>> {
        let [n, c, ..] = image.dims();
        let out = self.check(image.dims(), kernels.dims())?;
        let [kh, kw] = self.kernel;
        let x = match self.svola.boundary {
            Boundary::Valid => image,
            Boundary::Same(padding) => pad(image, same_pads(self.kernel), padding),
        };
        let device = x.device();
        #[cfg(feature = "flex")]
        if self.host_path(&device) {
            return Ok(crate::flex_ext::svola_relate(x, kernels, self.host.clone()));
        }
        let valid = UniformBlur::new(Boundary::Valid).with_method(self.svola.method);
        let mut total: Option<Tensor<4>> = None;
        for (p, window) in self.host.regions.iter().zip(&self.windows) {
            let ((r_lo, r_hi), (c_lo, c_hi)) = (p.out[0], p.out[1]);
            let patch =
                x.clone()
                    .narrow(2, p.start[0], p.extent[0])
                    .narrow(3, p.start[1], p.extent[1])
                    * window.clone();
            // zero context so that the valid blur of the patch covers exactly out[0] × out[1]
            let pads = [
                (p.start[0] - r_lo, r_hi + kh - 1 - p.start[0] - p.extent[0]),
                (p.start[1] - c_lo, c_hi + kw - 1 - p.start[1] - p.extent[1]),
            ];
            let kernel = kernels.clone().narrow(0, p.index, 1);
            let piece = valid.apply(pad(patch, pads, Padding::Zero), kernel)?;
            let sum = total.unwrap_or_else(|| Tensor::zeros([n, c, out[0], out[1]], &device));
            total = Some(place_add(sum, piece, [r_lo, c_lo]));
        }
        Ok(total.unwrap_or_else(|| Tensor::zeros([n, c, out[0], out[1]], &device)))
    }

    /// Whether [`SvolaPlan::apply`] runs on the host ([`crate::svola_host`]): on flex, when the
    /// regions' blurs are FFTs (forced, or chosen for the largest region).
    #[cfg(feature = "flex")]
    fn host_path(&self, device: &Device) -> bool {
        if !crate::device::is_flex(device) {
            return false;
        }
        let Some(largest) = self.host.regions.iter().max_by_key(|r| {
            let [h, w] = r.extent;
            h * w
        }) else {
            return false;
        };
        let patch = largest.patch(self.kernel);
        self.svola.method.resolve(patch, self.kernel, device) == BlurMethod::Fft
    }

    /// [`Svola::adjoint`] with the plan's windows.
    ///
    /// # Errors
    /// As [`Svola::adjoint`].
    pub fn adjoint(&self, residual: Tensor<4>, kernels: Tensor<4>) -> Result<Tensor<4>> {
        let [n, c, rh, rw] = residual.dims();
        let out = self.check([n, c, self.image[0], self.image[1]], kernels.dims())?;
        if [rh, rw] != out {
            return Err(Error::ShapeMismatch {
                what: "residual of the SVOLA blur".into(),
                expected: vec![n, c, out[0], out[1]],
                found: vec![n, c, rh, rw],
            });
        }
        let input = self.svola.input_size(self.image, self.kernel);
        let device = residual.device();
        #[cfg(feature = "flex")]
        let host = !device.is_autodiff() && self.host_path(&device);
        #[cfg(not(feature = "flex"))]
        let host = false;
        let total = if host {
            // on plain flex tensors the values already live on the host
            let values = |t: Tensor<4>| -> Result<Vec<f32>> {
                Ok(t.into_data().convert::<f32>().try_into_vec::<f32>()?)
            };
            let kc = kernels.dims()[1];
            let out = self
                .host
                .adjoint(&values(residual)?, [n, c], &values(kernels)?, kc);
            Tensor::from_data(TensorData::new(out, [n, c, input[0], input[1]]), &device)
        } else {
            self.adjoint_by_regions(residual, kernels, [n, c], input)?
        };
        Ok(match self.svola.boundary {
            Boundary::Valid => total,
            Boundary::Same(padding) => {
                crate::pad::pad_adjoint(total, same_pads(self.kernel), padding, self.image)
            }
        })
    }

    /// The adjoint region by region through tensor operations (any backend, autodiff): the
    /// padded input's `[n, c, input]` before the boundary's adjoint.
    fn adjoint_by_regions(
        &self,
        residual: Tensor<4>,
        kernels: Tensor<4>,
        [n, c]: [usize; 2],
        input: [usize; 2],
    ) -> Result<Tensor<4>> {
        let [kh, kw] = self.kernel;
        let device = residual.device();
        let valid = UniformBlur::new(Boundary::Valid).with_method(self.svola.method);
        let mut total = Tensor::<4>::zeros([n, c, input[0], input[1]], &device);
        for (p, window) in self.host.regions.iter().zip(&self.windows) {
            let ((r_lo, r_hi), (c_lo, c_hi)) = (p.out[0], p.out[1]);
            let part = residual
                .clone()
                .narrow(2, r_lo, r_hi - r_lo)
                .narrow(3, c_lo, c_hi - c_lo);
            let context = [r_hi - r_lo + kh - 1, c_hi - c_lo + kw - 1];
            let spread = valid.adjoint(part, kernels.clone().narrow(0, p.index, 1), context)?;
            let patch = spread.narrow(2, p.start[0] - r_lo, p.extent[0]).narrow(
                3,
                p.start[1] - c_lo,
                p.extent[1],
            ) * window.clone();
            total = place_add(total, patch, p.start);
        }
        Ok(total)
    }
}

/// `total` with `piece` added at `at` (rows, columns): in place on flex (one pass over the piece),
/// elsewhere by zero-padding the piece to `total`'s size.
fn place_add(total: Tensor<4>, piece: Tensor<4>, at: [usize; 2]) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if crate::flex_ext::on_flex(&total) {
        return crate::flex_ext::add_at(total, piece, at);
    }
    let [_, _, th, tw] = total.dims();
    let [_, _, ph, pw] = piece.dims();
    total
        + pad(
            piece,
            [(at[0], th - at[0] - ph), (at[1], tw - at[1] - pw)],
            Padding::Zero,
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn host(t: Tensor<4>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn windows_sum_to_one_everywhere() {
        let device = Device::default();
        for shape in [WindowShape::Tent, WindowShape::BartlettHann] {
            for (grid, size) in [([3, 3], [40, 33]), ([2, 4], [17, 64]), ([1, 3], [9, 9])] {
                let w = Svola::new(grid, Boundary::Valid)
                    .with_window(shape)
                    .windows(size, &device)
                    .unwrap();
                let sum = host(w.clone().sum_dim(0));
                assert!(
                    sum.iter().all(|&v| (v - 1.0).abs() < 1e-5),
                    "{shape:?} {grid:?}: {:?}",
                    &sum[..8]
                );
                assert!(host(w).iter().all(|&v| (0.0..=1.0).contains(&v)));
            }
        }
    }

    #[test]
    fn tent_windows_by_hand() {
        // 5 samples, 3 regions: centres 0, 2, 4
        let w = AxisWindows::new(WindowShape::Tent, 3, 5).unwrap();
        assert_eq!(w.regions[0], (0, vec![1.0, 0.5]));
        assert_eq!(w.regions[1], (1, vec![0.5, 1.0, 0.5]));
        assert_eq!(w.regions[2], (3, vec![0.5, 1.0]));
        assert!(AxisWindows::new(WindowShape::Tent, 6, 5).is_err());
        assert!(AxisWindows::new(WindowShape::Tent, 0, 5).is_err());
    }

    #[test]
    fn equal_kernels_are_the_uniform_blur() {
        let device = Device::default();
        device.seed(1);
        let x = Tensor::<4>::random([1, 2, 30, 27], Distribution::Default, &device);
        let k = Tensor::<4>::random([1, 1, 5, 4], Distribution::Default, &device);
        for boundary in [Boundary::Valid, Boundary::Same(Padding::Symmetric)] {
            for method in [BlurMethod::Direct, BlurMethod::Fft] {
                let uniform = UniformBlur::new(boundary).with_method(method);
                let expected = host(uniform.apply(x.clone(), k.clone()).unwrap());
                for shape in [WindowShape::Tent, WindowShape::BartlettHann] {
                    let svola = Svola::new([3, 3], boundary)
                        .with_window(shape)
                        .with_method(method);
                    let got = host(svola.apply(x.clone(), k.clone().repeat_dim(0, 9)).unwrap());
                    let err = got
                        .iter()
                        .zip(&expected)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0f32, f32::max);
                    assert!(err < 1e-4, "{boundary:?} {method:?} {shape:?}: {err}");
                }
            }
        }
    }

    #[test]
    fn adjoint_identity() {
        let device = Device::default();
        device.seed(2);
        let k = Tensor::<4>::random([6, 1, 5, 3], Distribution::Default, &device);
        for boundary in [Boundary::Valid, Boundary::Same(Padding::Reflect)] {
            for method in [BlurMethod::Direct, BlurMethod::Fft] {
                let svola = Svola::new([2, 3], boundary)
                    .with_window(WindowShape::BartlettHann)
                    .with_method(method);
                // two images of two channels sharing each region's kernel (on flex the FFT
                // method runs both maps on the host, `svola_host`)
                let x = Tensor::<4>::random([2, 2, 21, 26], Distribution::Default, &device);
                let ax = svola.apply(x.clone(), k.clone()).unwrap();
                let r = Tensor::<4>::random(ax.shape(), Distribution::Default, &device);
                let atr = svola.adjoint(r.clone(), k.clone(), [21, 26]).unwrap();
                let lhs = f64::from((ax * r).sum().into_scalar::<f32>());
                let rhs = f64::from((x * atr).sum().into_scalar::<f32>());
                assert!(
                    (lhs - rhs).abs() < 1e-4 * lhs.abs(),
                    "{boundary:?} {method:?}: {lhs} vs {rhs}"
                );
            }
        }
    }

    #[test]
    fn an_impulse_in_a_region_shows_that_regions_kernel() {
        // a 3×3 grid over a 41² input with tent windows: the centre of region (i, j) is at
        // (20i, 20j), where only that region's window is non-zero (it is 1 there)
        let device = Device::default();
        let kernels: Vec<f32> = (0..9)
            .flat_map(|r| {
                let mut k = vec![0f32; 9];
                k[r] = 1.0; // region r's kernel is a delta at tap r of a 3×3 canvas
                k
            })
            .collect();
        let kernels = Tensor::<4>::from_data(TensorData::new(kernels, [9, 1, 3, 3]), &device);
        let svola = Svola::new([3, 3], Boundary::Valid);
        for r in 0..9 {
            let (ci, cj) = (20 * (r / 3), 20 * (r % 3));
            let mut x = vec![0f32; 41 * 41];
            x[ci * 41 + cj] = 1.0;
            let x = Tensor::<4>::from_data(TensorData::new(x, [1, 1, 41, 41]), &device);
            let y = host(svola.apply(x, kernels.clone()).unwrap());
            // valid correlation: y[i, j] = Σ x[i + u, j + v] k[u, v]; the delta at tap (u, v)
            // moves the impulse to (ci − u, cj − v)
            let (u, v) = (r / 3, r % 3);
            let (oi, oj) = (ci as isize - u as isize, cj as isize - v as isize);
            let nonzero: Vec<usize> = (0..y.len()).filter(|&i| y[i].abs() > 1e-6).collect();
            if oi >= 0 && oj >= 0 && (oi as usize) < 39 && (oj as usize) < 39 {
                assert_eq!(nonzero, vec![oi as usize * 39 + oj as usize], "region {r}");
                assert!((y[nonzero[0]] - 1.0).abs() < 1e-6);
            } else {
                assert!(nonzero.is_empty(), "region {r}");
            }
        }
    }

    #[test]
    fn gradients_reach_the_image_and_every_kernel() {
        // d/dk_r of ⟨A x, g⟩ = the correlation of w_r ⊙ x with g: check one tap per region
        // against finite differences
        let device = Device::default().autodiff();
        device.seed(5);
        let x = Tensor::<4>::random([1, 1, 16, 18], Distribution::Default, &device);
        let g = Tensor::<4>::random([1, 1, 14, 16], Distribution::Default, &device);
        let k0: Vec<f32> = (0..4 * 9).map(|i| ((i * 7) % 11) as f32 / 11.0).collect();
        let make = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [4, 1, 3, 3]), &device);
        let svola = Svola::new([2, 2], Boundary::Valid).with_window(WindowShape::BartlettHann);
        let k = make(k0.clone()).require_grad();
        let loss = (svola.apply(x.clone(), k.clone()).unwrap() * g.clone()).sum();
        let grad = k
            .grad(&loss.backward())
            .unwrap()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        for idx in [0usize, 13, 22, 35] {
            let eps = 1e-2f32;
            let value = |delta: f32| {
                let mut v = k0.clone();
                v[idx] += delta;
                f64::from(
                    (svola.apply(x.clone(), make(v)).unwrap() * g.clone())
                        .sum()
                        .into_scalar::<f32>(),
                )
            };
            let fd = (value(eps) - value(-eps)) / (2.0 * f64::from(eps));
            let got = f64::from(grad[idx]);
            assert!(
                (fd - got).abs() < 1e-2 * (1.0 + got.abs()),
                "[{idx}] fd {fd} vs {got}"
            );
        }
    }

    /// The FFT path (on flex: the host implementation, `svola_host`) with a batch of two
    /// two-channel images, per-channel kernels and the `same` boundary: gradients of the image
    /// and of the kernels against central finite differences of the forward pass.
    #[test]
    fn fft_path_gradients_match_finite_differences() {
        let device = Device::default().autodiff();
        device.seed(9);
        let x0: Vec<f32> = (0..2 * 2 * 16 * 18)
            .map(|i| ((i * 37) % 101) as f32 / 101.0)
            .collect();
        let g = Tensor::<4>::random([2, 2, 16, 18], Distribution::Default, &device);
        let k0: Vec<f32> = (0..4 * 2 * 9)
            .map(|i| ((i * 7) % 11) as f32 / 11.0)
            .collect();
        let image =
            |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [2, 2, 16, 18]), &device);
        let kernels =
            |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [4, 2, 3, 3]), &device);
        let svola = Svola::new([2, 2], Boundary::Same(Padding::Symmetric))
            .with_window(WindowShape::Tent)
            .with_method(BlurMethod::Fft);
        let (x, k) = (
            image(x0.clone()).require_grad(),
            kernels(k0.clone()).require_grad(),
        );
        let loss = (svola.apply(x.clone(), k.clone()).unwrap() * g.clone()).sum();
        let grads = loss.backward();
        let vec = |t: Tensor<4>| {
            t.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap()
        };
        let (gx, gk) = (vec(x.grad(&grads).unwrap()), vec(k.grad(&grads).unwrap()));
        let loss_at = |xv: Vec<f32>, kv: Vec<f32>| {
            f64::from(
                (svola.apply(image(xv), kernels(kv)).unwrap() * g.clone())
                    .sum()
                    .into_scalar::<f32>(),
            )
        };
        let eps = 1e-2f32;
        for idx in [0usize, 17, 40, 53, 71] {
            let (mut up, mut down) = (k0.clone(), k0.clone());
            up[idx] += eps;
            down[idx] -= eps;
            let fd = (loss_at(x0.clone(), up) - loss_at(x0.clone(), down)) / (2.0 * f64::from(eps));
            let got = f64::from(gk[idx]);
            assert!(
                (fd - got).abs() < 1e-2 * (1.0 + got.abs()),
                "k[{idx}] fd {fd} vs {got}"
            );
        }
        for idx in [0usize, 19, 150, 600, 1151] {
            let (mut up, mut down) = (x0.clone(), x0.clone());
            up[idx] += eps;
            down[idx] -= eps;
            let fd = (loss_at(up, k0.clone()) - loss_at(down, k0.clone())) / (2.0 * f64::from(eps));
            let got = f64::from(gx[idx]);
            assert!(
                (fd - got).abs() < 1e-2 * (1.0 + got.abs()),
                "x[{idx}] fd {fd} vs {got}"
            );
        }
    }

    #[test]
    fn wrong_kernel_counts_are_refused() {
        let device = Device::default();
        let x = Tensor::<4>::zeros([1, 1, 20, 20], &device);
        let svola = Svola::new([3, 3], Boundary::Valid);
        let err = svola
            .apply(x.clone(), Tensor::zeros([4, 1, 3, 3], &device))
            .unwrap_err();
        assert!(err.to_string().contains("3x3 SVOLA grid"), "{err}");
        assert!(
            Svola::new([30, 1], Boundary::Valid)
                .apply(x, Tensor::zeros([30, 1, 3, 3], &device))
                .is_err()
        );
    }

    /// The in-place placement (flex) against the sum with a zero-padded piece (burn's own `pad`
    /// and add): values, and the gradients of both inputs under autodiff.
    #[test]
    fn placing_a_piece_matches_padding_and_adding() {
        let device = Device::default().autodiff();
        let total0 = Tensor::<4>::random([2, 1, 9, 11], Distribution::Default, &device);
        let piece0 = Tensor::<4>::random([2, 1, 4, 5], Distribution::Default, &device);
        let weights = Tensor::<4>::random([2, 1, 9, 11], Distribution::Default, &device);
        let run = |fused: bool| {
            let (total, piece) = (total0.clone().require_grad(), piece0.clone().require_grad());
            let out = if fused {
                place_add(total.clone(), piece.clone(), [3, 6])
            } else {
                total.clone()
                    + piece
                        .clone()
                        .pad([(3, 2), (6, 0)], burn::tensor::ops::PadMode::Constant(0.0))
            };
            let value = host(out.clone());
            let grads = (out * weights.clone()).sum().backward();
            (
                value,
                host(total.grad(&grads).unwrap()),
                host(piece.grad(&grads).unwrap()),
            )
        };
        let (a, b) = (run(true), run(false));
        for (x, y) in [(&a.0, &b.0), (&a.1, &b.1), (&a.2, &b.2)] {
            assert_eq!(x.len(), y.len());
            for (p, q) in x.iter().zip(y) {
                assert!((p - q).abs() < 1e-6, "{p} vs {q}");
            }
        }
    }
}
