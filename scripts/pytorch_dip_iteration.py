#!/usr/bin/env python3
"""Times one SelfDeblur iteration in PyTorch: the reference DIP skip network (1 output channel,
reference spec section 1) at 281 x 281, the kernel MLP (section 2.1) for a 27 x 27 kernel, valid
cross-correlation, MSE against a 255 x 255 observation, backward, one Adam step of both models
(lr 0.01 and 1e-4). The same work as `cargo bench --bench dip_iteration -- paper`.

Written for the side-by-side harness (scripts/side-by-side-dip.sh); PyTorch lives in a scratch
virtual environment, never in the project. Prints one line: `pytorch median_s=… mean_s=… n=…`.

    python scripts/pytorch_dip_iteration.py [--threads 2] [--iters 10] [--warmup 2]
"""

import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SKIP = 16
WIDTH = 128
SCALES = 5
NONLOCAL_FROM = 2


def conv(cin, cout, k, stride=1):
    """Reflection padding of (k - 1) / 2, then a biased convolution."""
    pad = (k - 1) // 2
    layers = [nn.ReflectionPad2d(pad)] if pad else []
    layers.append(nn.Conv2d(cin, cout, k, stride=stride, padding=0, bias=True))
    return nn.Sequential(*layers)


def bn_act(c):
    return [nn.BatchNorm2d(c), nn.LeakyReLU(0.2)]


class NonLocal(nn.Module):
    """Dot-product non-local block, sub-sampled by 2x2 max pooling, no softmax (spec 1.3)."""

    def __init__(self, c=WIDTH, inter=WIDTH // 2):
        super().__init__()
        self.inter = inter
        self.theta = nn.Conv2d(c, inter, 1)
        self.phi = nn.Conv2d(c, inter, 1)
        self.g = nn.Conv2d(c, inter, 1)
        self.w = nn.Sequential(nn.Conv2d(inter, c, 1), nn.BatchNorm2d(c))
        nn.init.zeros_(self.w[1].weight)
        nn.init.zeros_(self.w[1].bias)

    def forward(self, x):
        b, _, h, w = x.shape
        theta = self.theta(x).view(b, self.inter, -1).permute(0, 2, 1)
        phi = F.max_pool2d(self.phi(x), 2).view(b, self.inter, -1)
        g = F.max_pool2d(self.g(x), 2).view(b, self.inter, -1).permute(0, 2, 1)
        f = torch.matmul(theta, phi) / phi.shape[-1]
        y = torch.matmul(f, g).permute(0, 2, 1).reshape(b, self.inter, h, w)
        return self.w(y) + x


class Scale(nn.Module):
    """Scale i of the skip network: a 1x1 skip branch and a deeper branch, concatenated."""

    def __init__(self, i, cin):
        super().__init__()
        self.skip = nn.Sequential(conv(cin, SKIP, 1), *bn_act(SKIP))
        deeper = [conv(cin, WIDTH, 3, stride=2), *bn_act(WIDTH)]
        if i >= NONLOCAL_FROM:
            deeper.append(NonLocal())
        deeper += [conv(WIDTH, WIDTH, 3), *bn_act(WIDTH)]
        if i < SCALES - 1:
            deeper.append(Scale(i + 1, WIDTH))
        deeper.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
        self.deeper = nn.Sequential(*deeper)
        self.after = nn.Sequential(
            nn.BatchNorm2d(SKIP + WIDTH),
            conv(SKIP + WIDTH, WIDTH, 3),
            *bn_act(WIDTH),
            conv(WIDTH, WIDTH, 1),
            *bn_act(WIDTH),
        )

    def forward(self, x):
        parts = [self.skip(x), self.deeper(x)]
        h = min(p.shape[2] for p in parts)
        w = min(p.shape[3] for p in parts)
        parts = [
            p[:, :, (p.shape[2] - h) // 2 : (p.shape[2] - h) // 2 + h,
              (p.shape[3] - w) // 2 : (p.shape[3] - w) // 2 + w]
            for p in parts
        ]
        return self.after(torch.cat(parts, 1))


def skip_network(outputs=1):
    return nn.Sequential(Scale(0, 8), conv(WIDTH, outputs, 1), nn.Sigmoid())


def kernel_mlp(k):
    return nn.Sequential(nn.Linear(200, 1000), nn.ReLU6(), nn.Linear(1000, k * k), nn.Softmax(dim=-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--observed", type=int, default=255)
    ap.add_argument("--kernel", type=int, default=27)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    k, n = args.kernel, args.observed
    latent = n + k - 1
    net = skip_network(1)
    params = sum(p.numel() for p in net.parameters())
    # the reference spec's derived count (section 1.4): the network here is the reference's
    assert params == 2_365_521, params
    mlp = kernel_mlp(k)
    z = torch.rand(1, 8, latent, latent) * 0.1
    zk = torch.rand(200) * 0.1
    y = torch.rand(1, 1, n, n)
    opt = torch.optim.Adam(
        [{"params": net.parameters(), "lr": 0.01}, {"params": mlp.parameters(), "lr": 1e-4}]
    )
    times = []
    for i in range(args.warmup + args.iters):
        start = time.perf_counter()
        x = net(z + 0.001 * torch.randn_like(z))
        kernel = mlp(zk).view(1, 1, k, k)
        loss = F.mse_loss(F.conv2d(x, kernel), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        elapsed = time.perf_counter() - start
        if i >= args.warmup:
            times.append(elapsed)
    print(
        f"pytorch median_s={statistics.median(times):.4f} mean_s={statistics.mean(times):.4f} "
        f"n={len(times)} threads={args.threads} torch={torch.__version__} latent={latent}"
    )


if __name__ == "__main__":
    main()
