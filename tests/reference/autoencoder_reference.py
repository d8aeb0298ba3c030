#!/usr/bin/python3
"""PyTorch reference for ibq's taming Encoder/Decoder (include/ibq/models/autoencoder.hpp) -> tests/fixtures/autoencoder.h5.

Run with the system interpreter (PyTorch 1.13 CPU, h5py, numpy):
    /usr/bin/python3 tests/reference/autoencoder_reference.py

The modules below are written from the reference code (TencentARC/SEED-Voken, see docs/math.md; taming's
diffusionmodules/model.py as SEED-Voken uses it): GroupNorm(eps 1e-6) -> swish -> conv ResnetBlocks with a
1x1 nin_shortcut, single-head AttnBlocks with q/k/v/proj_out 1x1 convs and scale C^-1/2, Downsample as
F.pad(0,1,0,1) + stride-2 conv, Upsample as nearest x2 + conv, and the reference's module names, so the
state dict is what the C++ model declares. The configuration is small (and uses 2 GroupNorm groups instead
of 32 so that 4 channels are legal); every structural feature is exercised: two levels, a channel change
(nin_shortcut), attention at the lowest resolution, the mid block, down- and upsampling.

Written (float64): params/<state-dict name>; x [2,3,8,8]; z = encoder(x); x_hat = decoder(z); r (random,
like x_hat); grads of L = sum(x_hat * r) with respect to x and to every parameter (grads/<name>).
"""
import os

import h5py
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(20251123)
DT = torch.float64
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "autoencoder.h5")
CFG = dict(ch=4, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,), z_channels=4, in_channels=3, out_ch=3,
           resolution=8, groups=2)


def normalize(c):
    return nn.GroupNorm(CFG["groups"], c, eps=1e-6, affine=True)


def swish(x):
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = normalize(cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2, self.conv2 = normalize(cout), nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)
        self.changes = cin != cout

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))  # dropout(0.0) is the identity
        return (self.nin_shortcut(x) if self.changes else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = normalize(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        q = q.reshape(b, c, hh * ww).permute(0, 2, 1)                 # b, hw, c
        w = torch.bmm(q, k.reshape(b, c, hh * ww)) * c ** -0.5        # b, hw(query), hw(key)
        w = F.softmax(w, dim=2)
        o = torch.bmm(v.reshape(b, c, hh * ww), w.permute(0, 2, 1))   # b, c, hw(query)
        return x + self.proj_out(o.reshape(b, c, hh, ww))


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0))


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Mid(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block_1, self.attn_1, self.block_2 = ResnetBlock(c, c), AttnBlock(c), ResnetBlock(c, c)

    def forward(self, h):
        return self.block_2(self.attn_1(self.block_1(h)))


class Encoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, attn_resolutions, z_channels, in_channels, resolution, **_):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, 1, 1)
        in_mult, res = (1,) + tuple(ch_mult), resolution
        self.down = nn.ModuleList()
        for i, mult in enumerate(ch_mult):
            level = nn.Module()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            block_in, block_out = ch * in_mult[i], ch * mult
            for _ in range(num_res_blocks):
                level.block.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if res in attn_resolutions:
                    level.attn.append(AttnBlock(block_in))
            if i != len(ch_mult) - 1:
                level.downsample = Downsample(block_in)
                res //= 2
            self.down.append(level)
        self.mid = Mid(block_in)
        self.norm_out, self.conv_out = normalize(block_in), nn.Conv2d(block_in, z_channels, 3, 1, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for i, level in enumerate(self.down):
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn) > 0:
                    h = level.attn[j](h)
            if i != len(self.down) - 1:
                h = level.downsample(h)
        return self.conv_out(swish(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, attn_resolutions, z_channels, out_ch, resolution, **_):
        super().__init__()
        block_in = ch * ch_mult[-1]
        res = resolution // 2 ** (len(ch_mult) - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, 1, 1)
        self.mid = Mid(block_in)
        self.up = nn.ModuleList()
        for i in reversed(range(len(ch_mult))):
            level = nn.Module()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            block_out = ch * ch_mult[i]
            for _ in range(num_res_blocks + 1):
                level.block.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if res in attn_resolutions:
                    level.attn.append(AttnBlock(block_in))
            if i != 0:
                level.upsample = Upsample(block_in)
                res *= 2
            self.up.insert(0, level)
        self.norm_out, self.conv_out = normalize(block_in), nn.Conv2d(block_in, out_ch, 3, 1, 1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for i in reversed(range(len(self.up))):
            level = self.up[i]
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn) > 0:
                    h = level.attn[j](h)
            if i != 0:
                h = level.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class Autoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = Encoder(**CFG), Decoder(**CFG)


def main():
    model = Autoencoder().to(DT)
    # Randomise the GroupNorm affine parameters too, so that their gradients and placement are tested.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".norm" in name:
                p.copy_(torch.empty_like(p).uniform_(0.5, 1.5) if name.endswith("weight") else 0.1 * torch.randn_like(p))
    x = torch.empty(2, CFG["in_channels"], 8, 8, dtype=DT).uniform_(-1, 1).requires_grad_(True)
    z = model.encoder(x)
    x_hat = model.decoder(z)
    r = torch.randn_like(x_hat)
    (x_hat * r).sum().backward()
    with h5py.File(OUT, "w") as f:
        for k, v in CFG.items():
            f.attrs[k] = v
        for name, p in model.named_parameters():
            f["params/" + name] = p.detach().numpy()
            f["grads/" + name] = p.grad.numpy()
        f["x"], f["z"], f["x_hat"], f["r"] = x.detach().numpy(), z.detach().numpy(), x_hat.detach().numpy(), r.numpy()
        f["grad_x"] = x.grad.numpy()
    print(f"wrote {OUT}: {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main()
