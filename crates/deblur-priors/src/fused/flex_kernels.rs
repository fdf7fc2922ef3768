//! Plain-Rust kernels on flex's CPU tensors for the fused DIP operations: the convolution's
//! forward and input gradient as banded im2col + GEMM, its weight gradient as tiled im2col + one
//! GEMM per tile, and batch normalisation with batch statistics
//! fused with LeakyReLU, forward and backward. They work on contiguous `f32` buffers and use
//! rayon (the pool flex itself uses) across channels or planes.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use rayon::prelude::*;

/// Elements of one im2col tile (≈ 16 MB of `f32`): large enough for GEMM efficiency, small enough
/// to stay in memory for the 128-channel reference network at any image size.
const IM2COL_TILE_ELEMS: usize = 1 << 22;

/// Elements of one im2col band of the inference convolution (4 MB of `f32`): measured on the
/// denoiser's 48-channel layer at 256², 2²⁰ to 2²¹ ran alike and 2¹⁸ or 2²² slower.
const FORWARD_TILE_ELEMS: usize = 1 << 20;

/// Input-channel groups of the weight gradient, computed side by side: a constant, not the
/// thread count, so that the result (whose rounding depends on the GEMM shapes) is the same on
/// every machine.
const WEIGHT_GRAD_GROUPS: usize = 2;

pub(crate) use deblur_core::flex_ext::{contiguous_f32, dims4, from_vec};

fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("fused DIP kernels need contiguous f32 tensors")
}

/// Gradient of a bias-carrying, unpadded convolution with respect to its weight.
///
/// `x`: `[n, ci, h, w]`, `grad`: `[n, co, ho, wo]` with `ho = (h − k) / stride + 1`; returns
/// `[co, ci, k, k]` = (Σₙ colsₙ · Gₙᵀ)ᵀ, where `colsₙ` is the `[ci·k·k, ho·wo]` im2col matrix of
/// image n, built a band of output rows at a time (for a 1×1 stride-1 convolution the image
/// itself, not copied). The input channels are split into [`WEIGHT_GRAD_GROUPS`] groups computed
/// side by side, each group's rows of dWᵀ its own GEMMs; the count is a constant, so the result
/// does not depend on the number of threads.
pub(crate) fn conv2d_weight_grad(
    x: &FlexTensor,
    grad: &FlexTensor,
    kernel: usize,
    stride: usize,
) -> FlexTensor {
    let x = contiguous_f32(x);
    let grad = contiguous_f32(grad);
    let [n, ci, h, w] = dims4(&x);
    let [_, co, ho, wo] = dims4(&grad);
    let taps = kernel * kernel;
    let band = (IM2COL_TILE_ELEMS / (ci * taps * wo).max(1)).clamp(1, ho);
    let xs = slice(&x);
    let x2 = x.reshape(vec![n * ci, h * w].into());
    // [n·co, ho·wo]: a band of output rows of image b is a strided [co, band·wo] view of it
    let g2 = grad.reshape(vec![n * co, ho * wo].into());
    let groups = WEIGHT_GRAD_GROUPS.clamp(1, ci);
    let parts: Vec<FlexTensor> = (0..groups)
        .into_par_iter()
        .map(|g| {
            let (c0, c1) = (g * ci / groups, (g + 1) * ci / groups);
            let gc = c1 - c0;
            let mut acc: Option<FlexTensor> = None;
            for b in 0..n {
                let image = &xs[(b * ci + c0) * h * w..(b * ci + c1) * h * w];
                let mut oy0 = 0;
                while oy0 < ho {
                    let th = band.min(ho - oy0);
                    let cols_len = th * wo;
                    let cols = band_cols(
                        &x2,
                        image,
                        b * ci + c0,
                        [gc, h, w],
                        [kernel, stride, 0],
                        oy0..oy0 + th,
                        wo,
                    );
                    let g_band = g2.narrow(0, b * co, co).narrow(1, oy0 * wo, cols_len);
                    // dWᵀ = cols · Gᵀ ([ci·k·k, co]): this orientation runs flex's GEMM about
                    // twice as fast as G · colsᵀ on these shapes (measured 215 vs 106 GFLOP/s
                    // with AVX-512 kernels)
                    let part = Flex::float_matmul(cols, g_band.transpose(0, 1));
                    acc = Some(match acc {
                        Some(a) => Flex::float_add(a, part),
                        None => part,
                    });
                    oy0 += th;
                }
            }
            acc.expect("convolution with an empty batch or output")
        })
        .collect();
    let acc = if parts.len() == 1 {
        parts.into_iter().next().expect("one group")
    } else {
        Flex::float_cat(parts, 0)
    };
    acc.transpose(0, 1)
        .to_contiguous()
        .reshape(vec![co, ci, kernel, kernel].into())
}

/// The im2col band `[c·k·k, rows·wo]` of channels `first..first + c` (rows of `x2`, the input as
/// `[n·ci, h·w]`; `image` the same channels' values) for the output rows `rows`, with
/// `[kernel, stride, zero_pad]`. A 1×1 stride-1 convolution without padding reads a strided
/// view of the input itself (no copy).
#[allow(clippy::too_many_arguments)]
fn band_cols(
    x2: &FlexTensor,
    image: &[f32],
    first: usize,
    [c, h, w]: [usize; 3],
    [kernel, stride, zero_pad]: [usize; 3],
    rows: std::ops::Range<usize>,
    wo: usize,
) -> FlexTensor {
    let len = rows.len() * wo;
    if kernel == 1 && stride == 1 && zero_pad == 0 {
        x2.narrow(0, first, c).narrow(1, rows.start * wo, len)
    } else {
        let cols = im2col_band(image, [c, h, w], kernel, stride, zero_pad, rows, wo);
        from_vec(cols, &[c * kernel * kernel, len])
    }
}

/// The im2col matrix `[ci·k·k, rows·wo]` of the output rows `rows` of one image `[ci, h, w]`
/// seen with `zero_pad` zeros around it (stride `stride`): row `c·k² + ky·k + kx` holds, for each
/// output pixel, the value under kernel tap `(ky, kx)` of channel `c`.
fn im2col_band(
    image: &[f32],
    [ci, h, w]: [usize; 3],
    kernel: usize,
    stride: usize,
    zero_pad: usize,
    rows: std::ops::Range<usize>,
    wo: usize,
) -> Vec<f32> {
    // filled by appending, on one thread: zeroing the buffer first cost as much as the copy
    // (freed memory is kept for reuse, so the allocator cannot hand out fresh zero pages), and
    // the callers already run bands side by side
    let mut cols = Vec::with_capacity(ci * kernel * kernel * rows.len() * wo);
    for c in 0..ci {
        let plane = &image[c * h * w..(c + 1) * h * w];
        for ky in 0..kernel {
            for kx in 0..kernel {
                for oy in rows.clone() {
                    // row and first column in the unpadded image (may lie in the zeros)
                    let iy = (oy * stride + ky).checked_sub(zero_pad).filter(|&y| y < h);
                    let Some(iy) = iy else {
                        cols.resize(cols.len() + wo, 0.0);
                        continue;
                    };
                    let line = &plane[iy * w..(iy + 1) * w];
                    if stride == 1 {
                        // output columns whose tap falls left of, inside and right of the line
                        let lo = zero_pad.saturating_sub(kx).min(wo);
                        let hi = (w + zero_pad).saturating_sub(kx).min(wo);
                        cols.resize(cols.len() + lo, 0.0);
                        cols.extend_from_slice(&line[lo + kx - zero_pad..hi + kx - zero_pad]);
                        cols.resize(cols.len() + wo - hi, 0.0);
                    } else {
                        cols.extend((0..wo).map(|ox| {
                            (ox * stride + kx)
                                .checked_sub(zero_pad)
                                .and_then(|x| line.get(x))
                                .copied()
                                .unwrap_or(0.0)
                        }));
                    }
                }
            }
        }
    }
    cols
}

/// Unpadded convolution with bias (the fused convolution's forward, in training and inference, and
/// the GEMMs of its input gradient): `x` `[n, ci, h, w]`, `weight` `[co, ci, k, k]`,
/// `bias` `[co]` → `[n, co, (h − k) / stride + 1, (w − k) / stride + 1]`, one GEMM
/// `colsᵀ [band·wo, ci·k·k] · Wᵀ [ci·k·k, co]` per band of output rows, the bands side by side,
/// then transposed into the NCHW output. flex's own convolution converts the input to NHWC and
/// scatters its tiles back on one thread, which left the second core idle during plug-and-play
/// deconvolution. The input must be at least `k` on each side (the callers pad it).
pub(crate) fn conv2d_forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    stride: usize,
) -> FlexTensor {
    conv2d_zero_padded(x, weight, bias, stride, 0)
}

/// [`conv2d_forward`] of `x` seen with `zero_pad` zeros around each plane (read as zeros by the
/// im2col, never materialised).
fn conv2d_zero_padded(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    stride: usize,
    zero_pad: usize,
) -> FlexTensor {
    let x = contiguous_f32(x);
    let weight = contiguous_f32(weight);
    let [n, ci, h, w] = dims4(&x);
    let [co, _, kernel, _] = dims4(&weight);
    let (hp, wp) = (h + 2 * zero_pad, w + 2 * zero_pad);
    let (ho, wo) = ((hp - kernel) / stride + 1, (wp - kernel) / stride + 1);
    let rows = ci * kernel * kernel;
    let band = (FORWARD_TILE_ELEMS / (rows * wo).max(1)).clamp(1, ho);
    let wt = weight.reshape(vec![co, rows].into()).transpose(0, 1);
    let bias = contiguous_f32(bias);
    let bias = slice(&bias);
    let xs = slice(&x);
    let x2 = x.reshape(vec![n * ci, h * w].into());
    let plane = ho * wo;
    let mut out = vec![0f32; n * co * plane];
    for (b, out_b) in out.chunks_mut(co * plane).enumerate() {
        let image = &xs[b * ci * h * w..(b + 1) * ci * h * w];
        // the bands run side by side: flex's GEMM does not split these skinny products over
        // threads (one or two threads measured alike)
        let parts: Vec<(usize, FlexTensor)> = (0..ho)
            .step_by(band)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|oy0| {
                let th = band.min(ho - oy0);
                let cols = band_cols(
                    &x2,
                    image,
                    b * ci,
                    [ci, h, w],
                    [kernel, stride, zero_pad],
                    oy0..oy0 + th,
                    wo,
                );
                // outᵀ = colsᵀ · Wᵀ ([band·wo, co]): the long side as GEMM rows, about 1.5×
                // faster than W · cols here
                let cols = cols.transpose(0, 1);
                (oy0, contiguous_f32(&Flex::float_matmul(cols, wt.clone())))
            })
            .collect();
        // transposed in tiles of 16 pixels × a group of (up to) 16 channels: the group's values
        // of 16 pixels are 16 cache lines of the band's [band·wo, co] product, written back as
        // runs of 16 pixels, one per channel (one channel at a time read every co-th value of
        // the whole product); groups of 8 give narrow layers two tasks
        const TILE: usize = 16;
        let group = if co >= 2 * TILE { TILE } else { TILE / 2 };
        out_b
            .par_chunks_mut(group * plane)
            .zip(bias.par_chunks(group))
            .enumerate()
            .for_each(|(g, (dst, bias))| {
                let c0 = g * group;
                let gc = bias.len();
                let mut tile = [[0f32; TILE]; TILE];
                for (oy0, part) in &parts {
                    let part = slice(part);
                    for (block, pixels) in part.chunks(TILE * co).enumerate() {
                        let np = pixels.len() / co;
                        for (pp, values) in pixels.chunks_exact(co).enumerate() {
                            for (cl, (&v, &b)) in values[c0..c0 + gc].iter().zip(bias).enumerate() {
                                tile[cl][pp] = v + b;
                            }
                        }
                        let at = oy0 * wo + block * TILE;
                        for (cl, row) in tile.iter().take(gc).enumerate() {
                            dst[cl * plane + at..cl * plane + at + np].copy_from_slice(&row[..np]);
                        }
                    }
                }
            });
    }
    from_vec(out, &[n, co, ho, wo])
}

/// Gradient of an unpadded stride-1 convolution with respect to its input: the full
/// cross-correlation of `grad` `[n, co, ho, wo]` with the weight `[co, ci, k, k]` turned by 180°
/// and with its channel axes swapped, i.e. [`conv2d_forward`] of `grad` zero-padded by `k − 1`
/// (the zeros read by the im2col, not copied)
/// with that weight, so it runs as banded GEMMs on both cores. Returns `[n, ci, ho + k − 1,
/// wo + k − 1]`.
pub(crate) fn conv2d_input_grad(weight: &FlexTensor, grad: &FlexTensor) -> FlexTensor {
    let weight = contiguous_f32(weight);
    let grad = contiguous_f32(grad);
    let [co, ci, kernel, _] = dims4(&weight);
    let taps = kernel * kernel;
    let ws = slice(&weight);
    // turned[i, o, t] = weight[o, i, k² − 1 − t]
    let mut turned = vec![0f32; ci * co * taps];
    for (r, dst) in turned.chunks_mut(taps).enumerate() {
        let (i, o) = (r / co, r % co);
        let src = &ws[(o * ci + i) * taps..(o * ci + i + 1) * taps];
        for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
            *d = *s;
        }
    }
    let turned = from_vec(turned, &[ci, co, kernel, kernel]);
    let zero = from_vec(vec![0f32; ci], &[ci]);
    conv2d_zero_padded(&grad, &turned, &zero, 1, kernel - 1)
}

/// Sum of `grad` `[n, c, h, w]` over everything but the channel axis: the bias gradient.
pub(crate) fn channel_sums(grad: &FlexTensor) -> FlexTensor {
    let grad = contiguous_f32(grad);
    let [n, c, h, w] = dims4(&grad);
    let gs = slice(&grad);
    let hw = h * w;
    let sums: Vec<f32> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let mut s = 0f64;
            for b in 0..n {
                let off = (b * c + ch) * hw;
                s += gs[off..off + hw].iter().map(|&v| v as f64).sum::<f64>();
            }
            s as f32
        })
        .collect();
    from_vec(sums, &[c])
}

/// Independent accumulators per block: breaks the add dependency chain so the loop vectorises.
const LANES: usize = 16;
/// Values summed in `f32` before the block total is added in `f64`.
const BLOCK: usize = 4096;

/// LeakyReLU as a select (both sides computed), which vectorises where a branch would not.
#[inline(always)]
fn leaky(y: f32, slope: f32) -> f32 {
    if y < 0.0 { y * slope } else { y }
}

/// Σ f(xᵢ, yᵢ) over two equally long slices for an `f` that yields two summands per element;
/// both sums in f64 (blocks of [`BLOCK`] summed in f32 over [`LANES`] lanes). `f` must be a
/// branch-free closure over copied constants for the lane loop to vectorise.
#[inline(always)]
fn lane_sums2(xs: &[f32], ys: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f64, f64) {
    debug_assert_eq!(xs.len(), ys.len());
    let (mut t0, mut t1) = (0f64, 0f64);
    for (xb, yb) in xs.chunks(BLOCK).zip(ys.chunks(BLOCK)) {
        let (mut a0, mut a1) = ([0f32; LANES], [0f32; LANES]);
        let (xc, xr) = xb.as_chunks::<LANES>();
        let (yc, yr) = yb.as_chunks::<LANES>();
        for (x, y) in xc.iter().zip(yc) {
            for i in 0..LANES {
                let (u, v) = f(x[i], y[i]);
                a0[i] += u;
                a1[i] += v;
            }
        }
        let (mut s0, mut s1) = (a0.iter().sum::<f32>(), a1.iter().sum::<f32>());
        for (&x, &y) in xr.iter().zip(yr) {
            let (u, v) = f(x, y);
            s0 += u;
            s1 += v;
        }
        t0 += f64::from(s0);
        t1 += f64::from(s1);
    }
    (t0, t1)
}

/// Per-channel mean and 1/√(σ² + ε) of `x` `[n, c, h, w]` (biased variance, two passes).
pub(crate) fn batch_stats(xs: &[f32], dims: [usize; 4], epsilon: f64) -> (Vec<f32>, Vec<f32>) {
    let [n, c, h, w] = dims;
    let hw = h * w;
    let count = (n * hw) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let planes = || (0..n).map(move |b| &xs[(b * c + ch) * hw..(b * c + ch + 1) * hw]);
            let mean = planes()
                .map(|p| lane_sums2(p, p, |x, _| (x, 0.0)).0)
                .sum::<f64>()
                / count;
            let m = mean as f32;
            let var = planes()
                .map(|p| lane_sums2(p, p, move |x, _| ((x - m) * (x - m), 0.0)).0)
                .sum::<f64>()
                / count;
            (m, (1.0 / (var + epsilon).sqrt()) as f32)
        })
        .unzip()
}

/// Forward of BN (batch statistics) → LeakyReLU: `lrelu(γ (x − μ) / σ + β)`.
pub(crate) fn bn_lrelu_forward(
    xs: &[f32],
    dims: [usize; 4],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    slope: f32,
) -> Vec<f32> {
    let [_, c, h, w] = dims;
    let hw = h * w;
    let mut out = vec![0f32; xs.len()];
    out.par_chunks_mut(hw)
        .zip(xs.par_chunks(hw))
        .enumerate()
        .for_each(|(plane, (o, x))| {
            let ch = plane % c;
            // slope copied into this frame, like the constants: read from a register in the loop
            let (scale, slope) = (gamma[ch] * inv_std[ch], slope);
            let shift = beta[ch] - mean[ch] * scale;
            for (o, &x) in o.iter_mut().zip(x) {
                *o = leaky(x * scale + shift, slope);
            }
        });
    out
}

/// Gradients of BN (batch statistics) → LeakyReLU with respect to x, γ and β.
///
/// With x̂ = (x − μ)/σ, y = γ x̂ + β and gy = gz · lrelu′(y):
/// dβ = Σ gy, dγ = Σ gy x̂, dx = (γ/σ) (gy − Σ gy / M − x̂ Σ gy x̂ / M), M = n·h·w.
#[allow(clippy::too_many_arguments)]
pub(crate) fn bn_lrelu_backward(
    xs: &[f32],
    gz: &[f32],
    dims: [usize; 4],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    slope: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let [n, c, h, w] = dims;
    let hw = h * w;
    // gy and x̂ of one element from the channel's constants (copied, so that nothing in the
    // element loops is read through a pointer)
    let grad_y = move |x: f32, g: f32, (m, inv, ga, be): (f32, f32, f32, f32)| {
        let xh = (x - m) * inv;
        let y = ga * xh + be;
        (g * if y < 0.0 { slope } else { 1.0 }, xh)
    };
    let constants = |ch: usize| (mean[ch], inv_std[ch], gamma[ch], beta[ch]);
    let (d_beta, d_gamma): (Vec<f32>, Vec<f32>) = (0..c)
        .into_par_iter()
        .map(|ch| {
            let k = constants(ch);
            let (mut sg, mut sgx) = (0f64, 0f64);
            for b in 0..n {
                let off = (b * c + ch) * hw;
                let (a, b) = lane_sums2(&xs[off..off + hw], &gz[off..off + hw], move |x, g| {
                    let (g, xh) = grad_y(x, g, k);
                    (g, g * xh)
                });
                sg += a;
                sgx += b;
            }
            (sg as f32, sgx as f32)
        })
        .unzip();
    let count = (n * hw) as f32;
    let mut dx = vec![0f32; xs.len()];
    dx.par_chunks_mut(hw)
        .zip(xs.par_chunks(hw).zip(gz.par_chunks(hw)))
        .enumerate()
        .for_each(|(plane, (d, (x, g)))| {
            // a copy of the closure on this stack frame: its slope is then read from a register
            let local = grad_y;
            let ch = plane % c;
            let k = constants(ch);
            let scale = gamma[ch] * inv_std[ch];
            let (mg, mgx) = (d_beta[ch] / count, d_gamma[ch] / count);
            for ((d, &x), &g) in d.iter_mut().zip(x).zip(g) {
                let (g, xh) = local(x, g, k);
                *d = scale * (g - mg - xh * mgx);
            }
        });
    (dx, d_gamma, d_beta)
}

/// One line of bilinear ×2 upsampling with half-pixel centres (`align_corners = false`):
/// `out[2i] = ¾ x[i] + ¼ x[i−1]`, `out[2i+1] = ¾ x[i] + ¼ x[i+1]`, indices clamped at the ends.
fn upsample_line(x: &[f32], out: &mut [f32]) {
    let n = x.len();
    for i in 0..n {
        let prev = x[i.saturating_sub(1)];
        let next = x[(i + 1).min(n - 1)];
        out[2 * i] = 0.75 * x[i] + 0.25 * prev;
        out[2 * i + 1] = 0.75 * x[i] + 0.25 * next;
    }
}

/// Adjoint of [`upsample_line`].
fn upsample_line_adjoint(g: &[f32], out: &mut [f32]) {
    let n = out.len();
    out.fill(0.0);
    for i in 0..n {
        out[i] += 0.75 * (g[2 * i] + g[2 * i + 1]);
        out[i.saturating_sub(1)] += 0.25 * g[2 * i];
        out[(i + 1).min(n - 1)] += 0.25 * g[2 * i + 1];
    }
}

/// Bilinear ×2 upsampling of every `[h, w]` plane to `[2h, 2w]` (separable: rows, then columns).
pub(crate) fn upsample2_planes(xs: &[f32], dims: [usize; 4]) -> Vec<f32> {
    let [_, _, h, w] = dims;
    let mut out = vec![0f32; xs.len() * 4];
    out.par_chunks_mut(4 * h * w)
        .zip(xs.par_chunks(h * w))
        .for_each_init(
            || vec![0f32; h * 2 * w], // [h, 2w], one per thread
            |wide, (o, x)| {
                for (src, dst) in x.chunks(w).zip(wide.chunks_mut(2 * w)) {
                    upsample_line(src, dst);
                }
                let w2 = 2 * w;
                for y in 0..h {
                    let (prev, next) = (y.saturating_sub(1), (y + 1).min(h - 1));
                    for xx in 0..w2 {
                        let c = wide[y * w2 + xx];
                        o[2 * y * w2 + xx] = 0.75 * c + 0.25 * wide[prev * w2 + xx];
                        o[(2 * y + 1) * w2 + xx] = 0.75 * c + 0.25 * wide[next * w2 + xx];
                    }
                }
            },
        );
    out
}

/// Adjoint of [`upsample2_planes`]: `[2h, 2w]` gradients back to `[h, w]` (`dims` of the input).
pub(crate) fn upsample2_planes_adjoint(gs: &[f32], dims: [usize; 4]) -> Vec<f32> {
    let [_, _, h, w] = dims;
    let w2 = 2 * w;
    let mut out = vec![0f32; gs.len() / 4];
    out.par_chunks_mut(h * w)
        .zip(gs.par_chunks(4 * h * w))
        .for_each_init(
            || vec![0f32; h * w2], // adjoint of the column pass, one per thread
            |wide, (o, g)| {
                wide.fill(0.0);
                for y in 0..h {
                    let (prev, next) = (y.saturating_sub(1), (y + 1).min(h - 1));
                    for xx in 0..w2 {
                        let (ge, go) = (g[2 * y * w2 + xx], g[(2 * y + 1) * w2 + xx]);
                        wide[y * w2 + xx] += 0.75 * (ge + go);
                        wide[prev * w2 + xx] += 0.25 * ge;
                        wide[next * w2 + xx] += 0.25 * go;
                    }
                }
                for (src, dst) in wide.chunks(w2).zip(o.chunks_mut(w)) {
                    upsample_line_adjoint(src, dst);
                }
            },
        );
    out
}
