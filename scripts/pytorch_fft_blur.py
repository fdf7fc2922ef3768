#!/usr/bin/env python3
"""Times one uniform blur through the FFT in PyTorch, forward and backward with gradients for
the image and the kernel: a 1 x 1 x S x S image, a K x K kernel, reflect padding to the same size
(K - 1)//2 before and K - 1 - (K - 1)//2 after, as deblur-rs' `Boundary::Same(Padding::Reflect)`,
cross-correlation as rfft2 of the padded image times the conjugate rfft2 of the zero-padded kernel
at the padded size, crop to S x S, loss = sum of squares, backward. The same work as
`cargo bench --bench blur -- fft/K` at S.

Written for the side-by-side harness (scripts/side-by-side-fft.sh); PyTorch lives in a scratch
virtual environment, never in the project. Prints one line per size:
`pytorch side=… kernel=… median_ms=… n=…`.

    python scripts/pytorch_fft_blur.py [--threads 2] [--sides 256,1024] [--kernel 31] [--iters 20]
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def blur_same_reflect_fft(x, k):
    kh, kw = k.shape[-2:]
    ch, cw = (kh - 1) // 2, (kw - 1) // 2
    xp = F.pad(x, (cw, kw - 1 - cw, ch, kh - 1 - ch), mode="reflect")
    p, q = xp.shape[-2:]
    spectrum = torch.fft.rfft2(xp) * torch.fft.rfft2(k, s=(p, q)).conj()
    y = torch.fft.irfft2(spectrum, s=(p, q))
    return y[..., : x.shape[-2], : x.shape[-1]]


def check():
    """The FFT path against conv2d (cross-correlation) on a small case."""
    x = torch.rand(1, 1, 40, 37, dtype=torch.float64)
    k = torch.rand(1, 1, 7, 6, dtype=torch.float64)
    xp = F.pad(x, (2, 3, 3, 3), mode="reflect")
    ref = F.conv2d(xp, k)
    got = blur_same_reflect_fft(x, k)
    assert torch.allclose(ref, got, atol=1e-10), (ref - got).abs().max()


def time_case(side, kernel, iters, warmup):
    torch.manual_seed(0)
    image = torch.rand(1, 1, side, side)
    k = torch.rand(1, 1, kernel, kernel)
    k = k / k.sum()
    times = []
    for i in range(warmup + iters):
        x = image.clone().requires_grad_(True)
        kk = k.clone().requires_grad_(True)
        start = time.perf_counter()
        loss = blur_same_reflect_fft(x, kk).pow(2).sum()
        loss.backward()
        _ = float(x.grad.sum()) + float(kk.grad.sum())
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, len(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sides", default="256,1024")
    parser.add_argument("--kernel", type=int, default=31)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    check()
    for side in [int(s) for s in args.sides.split(",")]:
        median_ms, n = time_case(side, args.kernel, args.iters, args.warmup)
        print(f"pytorch side={side} kernel={args.kernel} median_ms={median_ms:.2f} n={n}")


if __name__ == "__main__":
    main()
