#!/usr/bin/python3
"""PyTorch reference for ibq's VQ baseline quantizer (VectorQuantizer2, spec section 1.2) -> tests/fixtures/vq.h5.

Run with the system interpreter (PyTorch 1.13 CPU, h5py, numpy):
    /usr/bin/python3 tests/reference/vq_reference.py

A float64 transcription of taming / SEED-Voken VectorQuantizer2.forward. Each group (legacy, nonlegacy,
l2norm) holds the inputs z [B, D, H, W] and E [K, D], the outputs z_q, indices (int32, b-h-w raster) and
loss ([1]), a direction r, and grad_z / grad_E: the gradients of L = sum(z_q * r) + loss. Group attributes
give beta, legacy and l2_normalize. The inputs sit near a few codes only (some codes are never selected)
and every position's nearest code beats the second nearest by a clear margin.
"""
import os

import h5py
import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(20241210)
DT = torch.float64
B, D, H, W, K = 2, 4, 3, 3, 7
USED = [0, 2, 3, 5]  # codes 1, 4, 6 are never the nearest: their rows of grad_E must be exactly 0
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "vq.h5")


def vector_quantizer2(z, weight, beta, legacy, l2_normalize):
    """VectorQuantizer2.forward (remap and sane_index_shape off); l2_normalize affects the distance only."""
    z = z.permute(0, 2, 3, 1).contiguous()  # b c h w -> b h w c
    z_flattened = z.view(-1, weight.shape[1])
    zd, ed = z_flattened, weight
    if l2_normalize:
        zd = F.normalize(zd, p=2, dim=-1)
        ed = F.normalize(ed, p=2, dim=-1)
    d = torch.sum(zd ** 2, dim=1, keepdim=True) + torch.sum(ed ** 2, dim=1) - 2 * torch.einsum(
        "bd,dn->bn", zd, ed.t())
    min_encoding_indices = torch.argmin(d, dim=1)
    z_q = F.embedding(min_encoding_indices, weight).view(z.shape)
    if not legacy:
        loss = beta * torch.mean((z_q.detach() - z) ** 2) + torch.mean((z_q - z.detach()) ** 2)
    else:
        loss = torch.mean((z_q.detach() - z) ** 2) + beta * torch.mean((z_q - z.detach()) ** 2)
    z_q = z + (z_q - z).detach()
    z_q = z_q.permute(0, 3, 1, 2).contiguous()  # b h w c -> b c h w
    return z_q, loss, min_encoding_indices, d


def margin(d):
    s = torch.sort(d, dim=1).values
    return (s[:, 1] - s[:, 0]).min().item()


def make_inputs():
    E = torch.randn(K, D, dtype=DT)
    choice = torch.tensor(USED)[torch.randint(len(USED), (B * H * W,))]
    choice[: len(USED)] = torch.tensor(USED)  # every listed code is used at least once
    z_bhwc = E[choice] + 0.15 * torch.randn(B * H * W, D, dtype=DT)
    z = z_bhwc.view(B, H, W, D).permute(0, 3, 1, 2).contiguous()
    return z, E


def write_case(f, name, z0, E0, beta, legacy, l2_normalize):
    z = z0.clone().requires_grad_(True)
    E = E0.clone().requires_grad_(True)
    z_q, loss, ind, d = vector_quantizer2(z, E, beta, legacy, l2_normalize)
    assert margin(d.detach()) > 0.05, f"{name}: nearest and second-nearest codes too close"
    assert set(ind.tolist()) == set(USED), f"{name}: used codes {sorted(set(ind.tolist()))}"
    r = torch.randn(z_q.shape, dtype=DT)
    ((z_q * r).sum() + loss).backward()
    g = f.create_group(name)
    g["z"] = z0.numpy()
    g["E"] = E0.numpy()
    g["z_q"] = z_q.detach().numpy()
    g["indices"] = ind.numpy().astype(np.int32)
    g["loss"] = loss.detach().reshape(1).numpy()
    g["r"] = r.numpy()
    g["grad_z"] = z.grad.numpy()
    g["grad_E"] = E.grad.numpy()
    g.attrs["beta"] = beta
    g.attrs["legacy"] = int(legacy)
    g.attrs["l2_normalize"] = int(l2_normalize)


def main():
    z, E = make_inputs()
    with h5py.File(OUT, "w") as f:
        f.attrs["B"], f.attrs["D"], f.attrs["H"], f.attrs["W"], f.attrs["K"] = B, D, H, W, K
        write_case(f, "legacy", z, E, 0.25, True, False)
        write_case(f, "nonlegacy", z, E, 0.25, False, False)
        write_case(f, "l2norm", z, E, 0.25, True, True)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
