"""Writes the small GKPILE-layout checkpoints and reference outputs used by tests/import_gkpile.rs.

Run once by hand (not part of the build or the tests), from the repository root:
    pip install torch==2.15.0 numpy
    python3 scripts/make_gkpile_fixture.py

The modules below only reproduce the *parameter names and shapes* of the reference code's
networks (reference spec §4.1 and §4.3: a DCGAN generator for K = 31 and a torchvision-style
ResNet-18), at reduced widths so the files stay small: generator ngf = 8, ResNet base width 4.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(7)
OUT = "tests/data/gkpile_fixture"


def gen_block(cin, cout, k, s, p):
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout, eps=0.8), nn.ReLU())


class Gen(nn.Module):
    """K = 31 geometry: 1 → 3 → 7 → 15 → 31, with the reference module names main1 / main2."""

    def __init__(self, ngf=8, nz=100):
        super().__init__()
        self.main1 = nn.Sequential()
        self.main1.add_module("0", gen_block(nz, 4 * ngf, 3, 1, 0))
        self.main2 = nn.Sequential()
        self.main2.add_module("1", gen_block(4 * ngf, 2 * ngf, 5, 2, 1))
        self.main2.add_module("2", gen_block(2 * ngf, ngf, 5, 2, 1))
        self.main2.add_module("3", nn.ConvTranspose2d(ngf, 1, 5, 2, 1, bias=False))

    def forward(self, z):
        x = self.main2(self.main1(z))
        n, _, h, w = x.shape
        return F.softmax(x.view(n, 1, h * w), dim=2).view(n, 1, h, w)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNetBody(nn.Module):
    def __init__(self, width=4, nz=100):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        widths = [width, 2 * width, 4 * width, 8 * width]
        cin = width
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(Block(cin, w, stride), Block(w, w, 1)))
            cin = w
        self.fc = nn.Linear(8 * width, nz)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(x.mean(dim=(2, 3)))


class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = ResNetBody()

    def forward(self, x):
        return self.model(x).reshape(x.shape[0], 100, 1, 1)


def randomise(net):
    """Non-trivial values everywhere, including the BatchNorm running statistics."""
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.uniform_(0.5, 1.5)
            elif name.endswith("weight") and t.dim() == 1:
                t.uniform_(0.8, 1.2)
            else:
                t.normal_(0.0, 0.1)


g, e = Gen(), Enc()
randomise(g)
randomise(e)
g.eval()
e.eval()
z = torch.randn(2, 100, 1, 1)
y = torch.rand(2, 1, 40, 40)
with torch.no_grad():
    g_out, e_out = g(z), e(y)
torch.save(g.state_dict(), f"{OUT}/netG_k31_ngf8.pth")
torch.save(e.state_dict(), f"{OUT}/netE_width4.pth")
for name, t in [("z", z), ("g_out", g_out), ("y", y), ("e_out", e_out)]:
    np.save(f"{OUT}/{name}.npy", t.numpy().astype(np.float32))
print("generator tensors", len(g.state_dict()), "initializer tensors", len(e.state_dict()))
print("g_out sums", g_out.sum(dim=(1, 2, 3)).tolist(), "e_out[0,:3]", e_out[0, :3, 0, 0].tolist())
