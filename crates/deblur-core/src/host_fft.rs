//! Real 2-D FFTs of host planes of any size (`realfft`/`rustfft`: mixed radix, SIMD), and the
//! FFT correlation of stacks of planes that the `flex` blur uses.
//!
//! burn's `signal` FFT takes power-of-two lengths only, so a 1054-pixel padded photo becomes a
//! 2048-pixel transform (4× the area). Here the transform size is the smallest 5-smooth length
//! (`2^a 3^b 5^c`, [`fast_len`]) that holds the result, and rows and columns are transformed in
//! parallel.
//!
//! **Layout.** A plane's half spectrum is stored *column-major*: `q/2 + 1` columns of `p`
//! complex values, because the second pass (along the height) then runs on contiguous memory.
//! Spectra are only ever combined with spectra of the same [`Fft2`], so the layout is internal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

/// The smallest `m ≥ n` of the form `2^a 3^b 5^c` (1 for 0).
pub fn fast_len(n: usize) -> usize {
    let mut m = n.max(1);
    loop {
        let mut r = m;
        for f in [2, 3, 5] {
            while r.is_multiple_of(f) {
                r /= f;
            }
        }
        if r == 1 {
            return m;
        }
        m += 1;
    }
}

/// A planned real 2-D transform of `p × q` planes (forward unnormalised, inverse scaled by
/// `1 / (p q)`), shared through a process-wide cache.
pub struct Fft2 {
    p: usize,
    q: usize,
    row_forward: Arc<dyn RealToComplex<f32>>,
    row_inverse: Arc<dyn ComplexToReal<f32>>,
    col_forward: Arc<dyn Fft<f32>>,
    col_inverse: Arc<dyn Fft<f32>>,
}

impl std::fmt::Debug for Fft2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fft2({} × {})", self.p, self.q)
    }
}

/// Planned transforms by `(p, q)`.
type PlanCache = HashMap<(usize, usize), Arc<Fft2>>;

/// Rows or columns handed to one rayon task at a time.
const CHUNK: usize = 16;

impl Fft2 {
    /// The transform for `p × q` planes (both ≥ 1), planned once per size and process.
    pub fn new(p: usize, q: usize) -> Arc<Fft2> {
        static CACHE: OnceLock<Mutex<PlanCache>> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry((p, q))
            .or_insert_with(|| {
                let mut real = RealFftPlanner::<f32>::new();
                let mut complex = FftPlanner::<f32>::new();
                Arc::new(Fft2 {
                    p,
                    q,
                    row_forward: real.plan_fft_forward(q),
                    row_inverse: real.plan_fft_inverse(q),
                    col_forward: complex.plan_fft_forward(p),
                    col_inverse: complex.plan_fft_inverse(p),
                })
            })
            .clone()
    }

    /// `[p, q]`.
    pub fn size(&self) -> [usize; 2] {
        [self.p, self.q]
    }

    /// Number of complex values in one half spectrum: `(q/2 + 1) · p`.
    pub fn spectrum_len(&self) -> usize {
        (self.q / 2 + 1) * self.p
    }

    /// The half spectrum (column-major, see the module) of an `h × w` plane placed at the top
    /// left of a `p × q` canvas of zeros (`h ≤ p`, `w ≤ q`).
    pub fn forward(&self, plane: &[f32], [h, w]: [usize; 2]) -> Vec<Complex32> {
        assert!(h <= self.p && w <= self.q && plane.len() == h * w);
        let (p, cols) = (self.p, self.q / 2 + 1);
        // rows: real → half complex, [h][cols]
        let mut rows = vec![Complex32::default(); h * cols];
        rows.par_chunks_mut(cols * CHUNK)
            .zip(plane.par_chunks(w * CHUNK))
            .for_each_init(
                || (vec![0.0f32; self.q], self.row_forward.make_scratch_vec()),
                |(line, scratch), (out, input)| {
                    for (o, i) in out.chunks_mut(cols).zip(input.chunks(w)) {
                        line[..w].copy_from_slice(i);
                        line[w..].fill(0.0);
                        self.row_forward
                            .process_with_scratch(line, o, scratch)
                            .expect("row lengths match the plan");
                    }
                },
            );
        // columns: transpose into [cols][p] (rows h..p stay zero), then complex FFTs in place
        let mut spec = vec![Complex32::default(); cols * p];
        spec.par_chunks_mut(p * CHUNK).enumerate().for_each_init(
            || vec![Complex32::default(); self.col_forward.get_inplace_scratch_len()],
            |scratch, (block, out)| {
                for (j, column) in out.chunks_mut(p).enumerate() {
                    let col = block * CHUNK + j;
                    for (r, v) in column[..h].iter_mut().enumerate() {
                        *v = rows[r * cols + col];
                    }
                    self.col_forward.process_with_scratch(column, scratch);
                }
            },
        );
        spec
    }

    /// The top-left `h × w` crop of the real plane whose half spectrum is `spec` (consumed as
    /// scratch), scaled by `1 / (p q)`.
    pub fn inverse(&self, mut spec: Vec<Complex32>, [h, w]: [usize; 2]) -> Vec<f32> {
        assert!(h <= self.p && w <= self.q && spec.len() == self.spectrum_len());
        let (p, q, cols) = (self.p, self.q, self.q / 2 + 1);
        spec.par_chunks_mut(p * CHUNK).for_each_init(
            || vec![Complex32::default(); self.col_inverse.get_inplace_scratch_len()],
            |scratch, block| {
                for column in block.chunks_mut(p) {
                    self.col_inverse.process_with_scratch(column, scratch);
                }
            },
        );
        let scale = 1.0 / (p * q) as f32;
        let mut out = vec![0.0f32; h * w];
        out.par_chunks_mut(w * CHUNK).enumerate().for_each_init(
            || {
                (
                    vec![Complex32::default(); cols],
                    vec![0.0f32; q],
                    self.row_inverse.make_scratch_vec(),
                )
            },
            |(line, real, scratch), (block, out)| {
                for (i, o) in out.chunks_mut(w).enumerate() {
                    let r = block * CHUNK + i;
                    for (c, v) in line.iter_mut().enumerate() {
                        *v = spec[c * p + r];
                    }
                    // a real signal's DC (and even-length Nyquist) bins are real; rounding
                    // in the column pass leaves a tiny imaginary part there
                    line[0].im = 0.0;
                    if q % 2 == 0 {
                        line[cols - 1].im = 0.0;
                    }
                    self.row_inverse
                        .process_with_scratch(line, real, scratch)
                        .expect("row lengths match the plan");
                    for (d, s) in o.iter_mut().zip(&real[..w]) {
                        *d = s * scale;
                    }
                }
            },
        );
        out
    }
}

/// Which linear map of the planes [`PlaneCorrelation`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Relation {
    /// Valid cross-correlation: `y[i] = Σ_u x[i + u] k[u]`, output `h − kh + 1`.
    Correlate,
    /// Full convolution (the adjoint of `Correlate`): `y[m] = Σ_u x[m − u] k[u]`, output
    /// `h + kh − 1`.
    Convolve,
}

impl Relation {
    /// Output size along one axis for an input of `n` and a kernel of `k`.
    pub fn output_len(self, n: usize, k: usize) -> usize {
        match self {
            Relation::Correlate => n + 1 - k,
            Relation::Convolve => n + k - 1,
        }
    }
}

/// Stacks of planes related to stacks of kernels: `x` `[n, c, h, w]`, kernels `[kn, kc, kh, kw]`
/// with `kn ∈ {1, n}`, `kc ∈ {1, c}`. Holds the spectra of the forward pass so the backward
/// pass needs one forward and two inverse transforms per plane.
#[derive(Debug)]
pub struct PlaneCorrelation {
    relation: Relation,
    fft: Arc<Fft2>,
    x_dims: [usize; 4],
    k_dims: [usize; 4],
    x_spectra: Vec<Vec<Complex32>>,
    k_spectra: Vec<Vec<Complex32>>,
}

impl PlaneCorrelation {
    /// Transforms `x` and the kernels (row-major values). Panics if the kernel does not fit a
    /// valid correlation or does not broadcast: callers check shapes first.
    pub fn new(
        relation: Relation,
        x: &[f32],
        x_dims: [usize; 4],
        k: &[f32],
        k_dims: [usize; 4],
    ) -> PlaneCorrelation {
        let [n, c, h, w] = x_dims;
        let [kn, kc, kh, kw] = k_dims;
        assert!(kn == 1 || kn == n, "kernel batch {kn} against {n}");
        assert!(kc == 1 || kc == c, "kernel channels {kc} against {c}");
        assert!(x.len() == n * c * h * w && k.len() == kn * kc * kh * kw);
        // the largest of input and output must fit the circular transform
        let (oh, ow) = (relation.output_len(h, kh), relation.output_len(w, kw));
        let fft = Fft2::new(fast_len(h.max(oh)), fast_len(w.max(ow)));
        let x_spectra = x
            .chunks(h * w)
            .map(|plane| fft.forward(plane, [h, w]))
            .collect();
        let k_spectra = k
            .chunks(kh * kw)
            .map(|plane| fft.forward(plane, [kh, kw]))
            .collect();
        PlaneCorrelation {
            relation,
            fft,
            x_dims,
            k_dims,
            x_spectra,
            k_spectra,
        }
    }

    /// Output `[n, c, oh, ow]`.
    pub fn output_dims(&self) -> [usize; 4] {
        let [n, c, h, w] = self.x_dims;
        let [_, _, kh, kw] = self.k_dims;
        [
            n,
            c,
            self.relation.output_len(h, kh),
            self.relation.output_len(w, kw),
        ]
    }

    /// Index of the kernel plane that plane `i` of `x` uses.
    fn kernel_of(&self, i: usize) -> usize {
        let [_, c, _, _] = self.x_dims;
        let [kn, kc, _, _] = self.k_dims;
        let (b, ch) = (i / c, i % c);
        (if kn == 1 { 0 } else { b }) * kc + if kc == 1 { 0 } else { ch }
    }

    /// The related planes, row-major `[n, c, oh, ow]`.
    pub fn forward(&self) -> Vec<f32> {
        let [_, _, oh, ow] = self.output_dims();
        let conj = self.relation == Relation::Correlate;
        let mut out = Vec::with_capacity(self.x_spectra.len() * oh * ow);
        for (i, xs) in self.x_spectra.iter().enumerate() {
            let product = multiply(xs, &self.k_spectra[self.kernel_of(i)], conj);
            out.extend(self.fft.inverse(product, [oh, ow]));
        }
        out
    }

    /// Gradients `(d x, d k)` (row-major, the shapes of `x` and the kernels) of `⟨g, y⟩` for an
    /// output gradient `g` `[n, c, oh, ow]`; `want` says which to compute.
    pub fn backward(&self, grad: &[f32], want: [bool; 2]) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        let [_, _, h, w] = self.x_dims;
        let [_, _, kh, kw] = self.k_dims;
        let [_, _, oh, ow] = self.output_dims();
        let correlate = self.relation == Relation::Correlate;
        let mut dx = want[0].then(|| Vec::with_capacity(self.x_spectra.len() * h * w));
        let mut dk_spectra =
            vec![vec![Complex32::default(); self.fft.spectrum_len()]; self.k_spectra.len()];
        for (i, (xs, g)) in self.x_spectra.iter().zip(grad.chunks(oh * ow)).enumerate() {
            let gs = self.fft.forward(g, [oh, ow]);
            let j = self.kernel_of(i);
            if let Some(dx) = dx.as_mut() {
                // correlate: full convolution of g with k; convolve: valid correlation of g with k
                dx.extend(
                    self.fft
                        .inverse(multiply(&gs, &self.k_spectra[j], !correlate), [h, w]),
                );
            }
            if want[1] {
                // correlate: dk[u] = Σ_i x[i + u] g[i]; convolve: dk[u] = Σ_m g[m] x[m − u]
                let acc = &mut dk_spectra[j];
                let (a, b) = if correlate { (xs, &gs) } else { (&gs, xs) };
                acc.par_iter_mut()
                    .zip(a.par_iter().zip(b.par_iter()))
                    .for_each(|(d, (a, b))| *d += a * b.conj());
            }
        }
        let dk = want[1].then(|| {
            dk_spectra
                .into_iter()
                .flat_map(|s| self.fft.inverse(s, [kh, kw]))
                .collect()
        });
        (dx, dk)
    }
}

/// `a · b` or `a · conj(b)`, element-wise.
fn multiply(a: &[Complex32], b: &[Complex32], conj: bool) -> Vec<Complex32> {
    a.par_iter()
        .zip(b.par_iter())
        .map(|(a, b)| if conj { a * b.conj() } else { a * b })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    /// Direct evaluation of the two relations for one plane.
    fn direct(
        rel: Relation,
        x: &[f32],
        [h, w]: [usize; 2],
        k: &[f32],
        [kh, kw]: [usize; 2],
    ) -> Vec<f32> {
        let (oh, ow) = (rel.output_len(h, kh), rel.output_len(w, kw));
        let mut out = vec![0.0f64; oh * ow];
        for i in 0..oh {
            for j in 0..ow {
                for u in 0..kh {
                    for v in 0..kw {
                        let (a, b) = match rel {
                            Relation::Correlate => (i + u, j + v),
                            Relation::Convolve => {
                                if i < u || j < v || i - u >= h || j - v >= w {
                                    continue;
                                }
                                (i - u, j - v)
                            }
                        };
                        out[i * ow + j] += x[a * w + b] as f64 * k[u * kw + v] as f64;
                    }
                }
            }
        }
        out.into_iter().map(|v| v as f32).collect()
    }

    #[test]
    fn fast_lengths_are_five_smooth() {
        assert_eq!(
            [0, 1, 7, 11, 13, 17, 1054, 1025, 281].map(fast_len),
            [1, 1, 8, 12, 15, 18, 1080, 1080, 288]
        );
    }

    #[test]
    fn round_trip_of_an_odd_sized_plane() {
        let (h, w) = (15, 7);
        let x = lcg(h * w, 3);
        let fft = Fft2::new(fast_len(h + 2), 9);
        let back = fft.inverse(fft.forward(&x, [h, w]), [h, w]);
        for (a, b) in back.iter().zip(&x) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // the DC term is the plain sum (spectrum index 0 of column 0)
        let sum: f32 = x.iter().sum();
        assert!((fft.forward(&x, [h, w])[0].re - sum).abs() < 1e-4);
    }

    #[test]
    fn both_relations_match_direct_sums_with_broadcast_kernels() {
        // two images × two channels, one kernel per channel, sizes that are not powers of two
        let ([n, c, h, w], [kh, kw]) = ([2, 2, 13, 11], [5, 4]);
        let x = lcg(n * c * h * w, 1);
        let k = lcg(c * kh * kw, 2);
        for rel in [Relation::Correlate, Relation::Convolve] {
            let op = PlaneCorrelation::new(rel, &x, [n, c, h, w], &k, [1, c, kh, kw]);
            let got = op.forward();
            let [_, _, oh, ow] = op.output_dims();
            for p in 0..n * c {
                let want = direct(
                    rel,
                    &x[p * h * w..][..h * w],
                    [h, w],
                    &k[(p % c) * kh * kw..][..kh * kw],
                    [kh, kw],
                );
                for (a, b) in got[p * oh * ow..][..oh * ow].iter().zip(&want) {
                    assert!((a - b).abs() < 1e-5, "{rel:?}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn gradients_are_the_adjoints() {
        // ⟨g, A x⟩ = ⟨Aᵀ g, x⟩ for the image gradient, and the kernel gradient against a finite
        // difference of ⟨g, y(k)⟩, which is linear in k (so the difference is exact up to rounding)
        let ([n, c, h, w], [kh, kw]) = ([1, 3, 12, 10], [3, 5]);
        let x = lcg(n * c * h * w, 4);
        let k = lcg(kh * kw, 5);
        for rel in [Relation::Correlate, Relation::Convolve] {
            let op = PlaneCorrelation::new(rel, &x, [n, c, h, w], &k, [1, 1, kh, kw]);
            let y = op.forward();
            let g = lcg(y.len(), 6);
            let (dx, dk) = op.backward(&g, [true, true]);
            let (dx, dk) = (dx.unwrap(), dk.unwrap());
            let dot = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum::<f64>()
            };
            let lhs = dot(&g, &y);
            assert!((lhs - dot(&dx, &x)).abs() < 1e-4, "{rel:?} image adjoint");
            assert!((lhs - dot(&dk, &k)).abs() < 1e-4, "{rel:?} kernel adjoint");
            // one tap by itself: ⟨g, y(e_t)⟩ is the gradient's entry t
            let mut e = vec![0.0; kh * kw];
            e[7] = 1.0;
            let single = PlaneCorrelation::new(rel, &x, [n, c, h, w], &e, [1, 1, kh, kw]).forward();
            assert!((dot(&g, &single) - dk[7] as f64).abs() < 1e-4);
        }
    }
}
