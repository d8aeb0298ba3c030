"""PyTorch reference for ibq's LPIPS (include/ibq/gan/perceptual.hpp) -> tests/fixtures/lpips.h5.

Run with the system interpreter (PyTorch 1.13 CPU, h5py, numpy):
    /usr/bin/python3 tests/reference/lpips_reference.py

Written from LPIPS v0.1 (VGG16) as the reference code (TencentARC/SEED-Voken) uses it, see docs/math.md: the ScalingLayer
(x - shift) / scale, torchvision's VGG16 `features` cut after relu1_2, relu2_2, relu3_3, relu4_3 and
relu5_3, normalize_tensor (eps 1e-10), squared differences, bias-free 1x1 heads NetLinLayer
(Dropout + Conv2d, named lin<k>.model.1), spatial mean, sum over stages. The weights are random and the
stage widths narrow (4, 8, 8, 16, 16 instead of 64 ... 512) so the fixture stays small; the topology and
names are torchvision's. Dropout is off (eval), as the values must be deterministic.

Written (float64): params/<name> (features.<i>.weight/bias, lin<k>.model.1.weight); x0, x1 [2,3,32,32] in
[-1, 1]; d = LPIPS(x0, x1) [2,1,1,1]; r (random, like d); grad_x1 of sum(d * r).
"""
import os

import h5py
import torch
import torch.nn as nn

torch.manual_seed(20261202)
DT = torch.float64
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "lpips.h5")
WIDTHS = (4, 8, 8, 16, 16)
CONVS = (2, 2, 3, 3, 3)


def vgg16_features(widths):
    layers, cin = [], 3
    for s, (w, n) in enumerate(zip(widths, CONVS)):
        if s > 0:
            layers.append(nn.MaxPool2d(2, 2))
        for _ in range(n):
            layers += [nn.Conv2d(cin, w, 3, padding=1), nn.ReLU(inplace=False)]
            cin = w
    layers.append(nn.MaxPool2d(2, 2))  # torchvision's last pool (features.30), unused by LPIPS
    return nn.Sequential(*layers)


class NetLinLayer(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(cin, 1, 1, stride=1, padding=0, bias=False))

    def forward(self, x):
        return self.model(x)


class Lpips(nn.Module):
    def __init__(self, widths):
        super().__init__()
        self.features = vgg16_features(widths)
        for k, w in enumerate(widths):
            setattr(self, "lin%d" % k, NetLinLayer(w))
        self.register_buffer("shift", torch.tensor([-.030, -.088, -.188], dtype=DT)[None, :, None, None])
        self.register_buffer("scale", torch.tensor([.458, .448, .450], dtype=DT)[None, :, None, None])
        # Stage ends: the ReLU after the last conv of each stage (torchvision indices 3, 8, 15, 22, 29).
        self.ends = [3, 8, 15, 22, 29]

    def stages(self, x):
        outs, h = [], (x - self.shift) / self.scale
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.ends:
                outs.append(h)
            if i == self.ends[-1]:
                break
        return outs

    def forward(self, x0, x1):
        total = 0
        for k, (f0, f1) in enumerate(zip(self.stages(x0), self.stages(x1))):
            n0 = f0 / (torch.sqrt(torch.sum(f0 ** 2, dim=1, keepdim=True)) + 1e-10)
            n1 = f1 / (torch.sqrt(torch.sum(f1 ** 2, dim=1, keepdim=True)) + 1e-10)
            total = total + getattr(self, "lin%d" % k)((n0 - n1) ** 2).mean([2, 3], keepdim=True)
        return total


def main():
    net = Lpips(WIDTHS).to(DT)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith("lin"):
                p.uniform_(0.0, 0.5)  # the learned heads are non-negative
    net.eval()
    x0 = torch.rand(2, 3, 32, 32, dtype=DT) * 2 - 1
    x1 = (x0 + 0.3 * torch.randn(2, 3, 32, 32, dtype=DT)).clamp(-1, 1).requires_grad_(True)
    d = net(x0, x1)
    r = torch.randn_like(d)
    (d * r).sum().backward()
    with h5py.File(OUT, "w") as f:
        f.attrs["widths"] = list(WIDTHS)
        for name, p in net.named_parameters():
            f["params/" + name] = p.detach().numpy()
        f["x0"], f["x1"] = x0.numpy(), x1.detach().numpy()
        f["d"], f["r"], f["grad_x1"] = d.detach().numpy(), r.numpy(), x1.grad.numpy()
    print("wrote", OUT, "d =", d.flatten().tolist())


if __name__ == "__main__":
    main()
