//! The SVOLA blur ([`crate::svola`]) on host planes: every region cut, windowed and zero-padded
//! in one pass, the regions blurred in parallel through [`PlaneCorrelation`] (host FFTs of
//! 5-smooth sizes), the pieces overlap-added into the output; the backward pass reuses each
//! region's spectra. This is what `Svola` runs on `flex` (through [`crate::flex_ext`]), where
//! the per-region tensor operations (narrow, window product, pad, placement, and their backward
//! passes) cost more than the transforms.

use rayon::prelude::*;

use crate::host_fft::{PlaneCorrelation, Relation};
use crate::pad::{add_planes_at, crop_planes};

/// One region: its window over its support in the blur's input, and the output it reaches.
#[derive(Clone, Debug, PartialEq)]
pub struct HostRegion {
    /// The region's kernel: index into the kernel stack.
    pub index: usize,
    /// Support start `[row, col]` in the input.
    pub start: [usize; 2],
    /// Support extent `[rows, cols]`.
    pub extent: [usize; 2],
    /// Output range `[lo, hi)` per axis.
    pub out: [(usize, usize); 2],
    /// The window over the support, row-major `extent[0] × extent[1]`.
    pub window: Vec<f32>,
}

impl HostRegion {
    /// `[rows, cols]` of the region's output piece.
    fn piece(&self) -> [usize; 2] {
        [self.out[0].1 - self.out[0].0, self.out[1].1 - self.out[1].0]
    }

    /// `[rows, cols]` of the zero-padded patch whose valid correlation is the piece.
    pub fn patch(&self, kernel: [usize; 2]) -> [usize; 2] {
        let [ph, pw] = self.piece();
        [ph + kernel[0] - 1, pw + kernel[1] - 1]
    }
}

/// The geometry of an SVOLA blur for one input and kernel size.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SvolaGeometry {
    /// Input (the padded image, for `same`) `[rows, cols]`.
    pub input: [usize; 2],
    /// Kernel `[rows, cols]`.
    pub kernel: [usize; 2],
    /// Output `[rows, cols]`.
    pub output: [usize; 2],
    /// The regions that reach the output.
    pub regions: Vec<HostRegion>,
}

/// Gradients `(d x, d kernels)`, each when asked for.
pub type Gradients = (Option<Vec<f32>>, Option<Vec<f32>>);

/// The forward pass's per-region plans (they hold the spectra the backward pass needs).
#[derive(Debug)]
pub struct SvolaPass {
    plans: Vec<PlaneCorrelation>,
    planes: usize,
    kernel_channels: usize,
}

impl SvolaGeometry {
    /// The windowed, zero-padded patch of `region` over the `planes` planes of `x`.
    fn cut(&self, region: &HostRegion, x: &[f32], planes: usize) -> Vec<f32> {
        let [ih, iw] = self.input;
        let [ph, pw] = region.patch(self.kernel);
        let (r_lo, c_lo) = (region.out[0].0, region.out[1].0);
        let [eh, ew] = region.extent;
        let mut patch = vec![0f32; planes * ph * pw];
        for (plane, dst) in patch.chunks_mut(ph * pw).enumerate() {
            let src = &x[plane * ih * iw..(plane + 1) * ih * iw];
            for r in 0..eh {
                // support row r is input row start + r and patch row start + r − r_lo
                let (row, patch_row) = (region.start[0] + r, region.start[0] + r - r_lo);
                let offset = region.start[1] - c_lo;
                let line = &src[row * iw + region.start[1]..row * iw + region.start[1] + ew];
                let weights = &region.window[r * ew..(r + 1) * ew];
                let out = &mut dst[patch_row * pw + offset..patch_row * pw + offset + ew];
                for ((o, v), w) in out.iter_mut().zip(line).zip(weights) {
                    *o = v * w;
                }
            }
        }
        patch
    }

    /// Blurs `x` (`[n, c, input]`, row-major, `planes = n·c`) with `kernels` (`[R, kc, kernel]`,
    /// `kc` 1 or `c`): the output `[n, c, output]` and the pass for [`SvolaGeometry::backward`].
    pub fn forward(
        &self,
        x: &[f32],
        [n, c]: [usize; 2],
        kernels: &[f32],
        kc: usize,
    ) -> (SvolaPass, Vec<f32>) {
        let planes = n * c;
        let [kh, kw] = self.kernel;
        let [oh, ow] = self.output;
        let per_kernel = kc * kh * kw;
        let results: Vec<(PlaneCorrelation, Vec<f32>)> = self
            .regions
            .par_iter()
            .map(|region| {
                let [ph, pw] = region.patch(self.kernel);
                let patch = self.cut(region, x, planes);
                let k = &kernels[region.index * per_kernel..(region.index + 1) * per_kernel];
                let plan = PlaneCorrelation::new(
                    Relation::Correlate,
                    &patch,
                    [n, c, ph, pw],
                    k,
                    [1, kc, kh, kw],
                );
                let piece = plan.forward();
                (plan, piece)
            })
            .collect();
        let mut out = vec![0f32; planes * oh * ow];
        let mut plans = Vec::with_capacity(results.len());
        for (region, (plan, piece)) in self.regions.iter().zip(results) {
            let at = [region.out[0].0, region.out[1].0];
            add_planes_at(&mut out, self.output, &piece, region.piece(), at);
            plans.push(plan);
        }
        (
            SvolaPass {
                plans,
                planes,
                kernel_channels: kc,
            },
            out,
        )
    }

    /// Gradients `(d x, d kernels)` of `⟨grad, y⟩` for an output gradient `grad`
    /// (`[n, c, output]`); `want` says which to compute. Kernels of regions that reach no output
    /// get a zero gradient; `regions` is the kernel count `R`.
    pub fn backward(
        &self,
        pass: &SvolaPass,
        grad: &[f32],
        regions: usize,
        want: [bool; 2],
    ) -> Gradients {
        let planes = pass.planes;
        let [kh, kw] = self.kernel;
        let per_kernel = pass.kernel_channels * kh * kw;
        let parts: Vec<Gradients> = self
            .regions
            .par_iter()
            .zip(pass.plans.par_iter())
            .map(|(region, plan)| {
                let at = [region.out[0].0, region.out[1].0];
                let g = crop_planes(grad, self.output, at, region.piece());
                plan.backward(&g, want)
            })
            .collect();
        let dx = want[0].then(|| {
            self.scatter(
                self.regions
                    .iter()
                    .zip(&parts)
                    .filter_map(|(region, (dpatch, _))| Some((region, dpatch.as_deref()?))),
                planes,
            )
        });
        let dk = want[1].then(|| {
            let mut dk = vec![0f32; regions * per_kernel];
            for (region, (_, part)) in self.regions.iter().zip(parts) {
                if let Some(part) = part {
                    dk[region.index * per_kernel..(region.index + 1) * per_kernel]
                        .copy_from_slice(&part);
                }
            }
            dk
        });
        (dx, dk)
    }

    /// `Σ_r w_r ⊙ (patch_r restricted to the support)` placed in the input `[planes, input]`:
    /// the map back from the regions' patch planes to the input (the transpose of the cut).
    fn scatter<'a>(
        &self,
        patches: impl Iterator<Item = (&'a HostRegion, &'a [f32])>,
        planes: usize,
    ) -> Vec<f32> {
        let [ih, iw] = self.input;
        let mut dx = vec![0f32; planes * ih * iw];
        for (region, patch) in patches {
            let [ph, pw] = region.patch(self.kernel);
            let [eh, ew] = region.extent;
            let (r_lo, c_lo) = (region.out[0].0, region.out[1].0);
            dx.par_chunks_mut(ih * iw)
                .zip(patch.par_chunks(ph * pw))
                .for_each(|(plane, part)| {
                    for r in 0..eh {
                        let row = region.start[0] + r;
                        let patch_row = row - r_lo;
                        let offset = region.start[1] - c_lo;
                        let src = &part[patch_row * pw + offset..patch_row * pw + offset + ew];
                        let weights = &region.window[r * ew..(r + 1) * ew];
                        let dst =
                            &mut plane[row * iw + region.start[1]..row * iw + region.start[1] + ew];
                        for ((d, s), w) in dst.iter_mut().zip(src).zip(weights) {
                            *d += s * w;
                        }
                    }
                });
        }
        dx
    }

    /// The adjoint `Aᵀ r = Σ_r w_r ⊙ (k_r ∗ r)` of [`SvolaGeometry::forward`] for a residual
    /// `[n, c, output]`: `[n, c, input]`. Each region's piece of the residual is fully convolved
    /// with its kernel (the patch) in parallel, then the patches are scattered back.
    pub fn adjoint(
        &self,
        residual: &[f32],
        [n, c]: [usize; 2],
        kernels: &[f32],
        kc: usize,
    ) -> Vec<f32> {
        let [kh, kw] = self.kernel;
        let per_kernel = kc * kh * kw;
        let patches: Vec<Vec<f32>> = self
            .regions
            .par_iter()
            .map(|region| {
                let [rh, rw] = region.piece();
                let at = [region.out[0].0, region.out[1].0];
                let piece = crop_planes(residual, self.output, at, region.piece());
                let k = &kernels[region.index * per_kernel..(region.index + 1) * per_kernel];
                PlaneCorrelation::new(
                    Relation::Convolve,
                    &piece,
                    [n, c, rh, rw],
                    k,
                    [1, kc, kh, kw],
                )
                .forward()
            })
            .collect();
        self.scatter(
            self.regions.iter().zip(patches.iter().map(Vec::as_slice)),
            n * c,
        )
    }
}
