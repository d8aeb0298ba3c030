#!/usr/bin/python3
"""An independent PyTorch run of ibq's tokenizer training recipe, to cross-check the C++ trainer's dynamics.

ibq-train-tokenizer + ibq-reconstruct (C++) and this script train the same model with the same recipe
(docs/math.md, experiments/quickstart.ini, the 300-step settings of experiments/ablations/codebook.sweep)
and report the same test metrics: codebook utilisation, perplexity and PSNR, to be compared over several
seeds on each side (the runs share the recipe, not the random streams, so only the statistics can agree). The network and
quantizers are imported from the other references here: autoencoder_reference (taming Encoder/Decoder),
ibq_reference (IndexPropagationQuantize, entropy loss) and vq_reference (VectorQuantizer2).

Run with the system interpreter (PyTorch 1.13 CPU, numpy, h5py for shards):
    /usr/bin/python3 tests/reference/train_reference.py --quantizer ibq --K 1024 --D 32 --steps 300 \
        --warmup 30 --seed 1 --json out.json
    /usr/bin/python3 tests/reference/train_reference.py --data shards --train a.h5,b.h5 --test c.h5 --in-channels 3 ...

Recipe (as the C++): loss = L1 + w2 L2 + L_Q (+ 0.05 entropy loss for IBQ); Adam (0.5, 0.9), eps 1e-8; lr of
0-based step s = cosine_lr(lr, s, steps, warmup) (optim/schedule.hpp); EMA shadow = d shadow + (1 - d) params
after every step from the initial values, no warm-up (optim/ema.hpp); per-epoch shuffles with a short last
batch. Evaluation (drivers/ibq-reconstruct.cpp) on the first --test-limit test images with the EMA weights:
codes by argmax (IBQ) / nearest code (VQ); E[code] -> post_quant_conv -> decoder; clamp to [-1, 1],
lround((x + 1) 127.5) to uint8; PSNR = mean over images of 10 log10(1 / mse) on uint8 / 255 (exact images,
PSNR = inf, left out); utilisation = distinct codes / K; perplexity = exp(entropy of the code histogram).
"""
import argparse
import ast
import gzip
import json
import math
import os
import sys
import time
import types

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import autoencoder_reference as aer  # noqa: E402  (main() is guarded)
import vq_reference  # noqa: E402


def load_definitions(path, name):
    """Imports only the imports, functions and classes of a reference script. ibq_reference.py writes its
    fixture (tests/fixtures/ibq.h5) at module level, which a plain import would redo."""
    tree = ast.parse(open(path).read(), path)
    tree.body = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
    mod = types.ModuleType(name)
    exec(compile(tree, path, "exec"), mod.__dict__)
    return mod


ibq_ref = load_definitions(os.path.join(HERE, "ibq_reference.py"), "ibq_reference")


def fashion_mnist(split, size, channels):
    """uint8 [N, C, size, size]: idx images zero-padded symmetrically (data/image_set.hpp pad_images)."""
    with gzip.open(f"/usr/share/datasets/fashion-mnist/{split}-images-idx3-ubyte.gz") as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    top, left = (size - 28) // 2, (size - 28) // 2
    x = np.zeros((raw.shape[0], 1, size, size), np.uint8)
    x[:, 0, top:top + 28, left:left + 28] = raw
    return torch.from_numpy(np.repeat(x, channels, axis=1))


def shards(paths):
    """ibq image shards (docs/formats.md): dataset images, uint8 [N, H, W, C] -> [N, C, H, W]."""
    import h5py
    parts = []
    for p in paths.split(","):
        with h5py.File(p, "r") as f:
            parts.append(torch.from_numpy(f["images"][...]).permute(0, 3, 1, 2).contiguous())
    return torch.cat(parts)


def crop(x, r, gen=None):
    """Training: a random r x r crop per image (data.crop = random); test (gen None): the centre crop."""
    h, w = x.shape[-2:]
    if h == r and w == r:
        return x
    if gen is None:
        return x[..., (h - r) // 2:(h - r) // 2 + r, (w - r) // 2:(w - r) // 2 + r]
    ys = torch.randint(0, h - r + 1, (len(x),), generator=gen).tolist()
    xs = torch.randint(0, w - r + 1, (len(x),), generator=gen).tolist()
    return torch.stack([im[:, y:y + r, xx:xx + r] for im, y, xx in zip(x, ys, xs)])


def to_model(u8):
    return u8.float() / 127.5 - 1.0  # the reference's pixel / 127.5 - 1


class Tokenizer(nn.Module):
    """Encoder -> quant_conv -> quantizer -> post_quant_conv -> Decoder, the reference's state-dict names."""

    def __init__(self, a):
        super().__init__()
        cfg = dict(ch=a.ch, ch_mult=a.ch_mult, num_res_blocks=a.res_blocks, attn_resolutions=a.attn_resolutions,
                   z_channels=a.z_channels, in_channels=a.in_channels, out_ch=a.in_channels, resolution=a.resolution)
        self.encoder, self.decoder = aer.Encoder(**cfg), aer.Decoder(**cfg)
        self.quant_conv = nn.Conv2d(a.z_channels, a.D, 1)
        self.post_quant_conv = nn.Conv2d(a.D, a.z_channels, 1)
        self.quantize = nn.Module()
        self.quantize.embedding = nn.Embedding(a.K, a.D)  # N(0, 1): IBQ's init
        if a.quantizer == "vq":  # VectorQuantizer2's init
            self.quantize.embedding.weight.data.uniform_(-1.0 / a.K, 1.0 / a.K)
        self.kind, self.K = a.quantizer, a.K
        self.ibq = ibq_ref.IndexPropagationQuantize(a.K, a.D, 0.25, entropy_temperature=0.01)

    def forward(self, x):
        """-> x_hat, L_Q, entropy loss (None for VQ), codes."""
        z, E = self.quant_conv(self.encoder(x)), self.quantize.embedding.weight
        if self.kind == "ibq":
            z_q, (quant_loss, _, _, entropy_loss), (_, _, ind) = self.ibq.forward(z, E)
        else:
            z_q, quant_loss, ind, _ = vq_reference.vector_quantizer2(z, E, 0.25, legacy=True, l2_normalize=False)
            entropy_loss = None
        return self.decoder(self.post_quant_conv(z_q)), quant_loss, entropy_loss, ind

    @torch.no_grad()
    def encode(self, x):
        """Codes [B, h, w]: IBQ's largest inner product (the C++ takes argmax of the logits, not of the softmax)."""
        z, E = self.quant_conv(self.encoder(x)), self.quantize.embedding.weight
        if self.kind == "ibq":
            return torch.einsum("bchw,kc->bkhw", z, E).argmax(1)
        ind = vq_reference.vector_quantizer2(z, E, 0.25, True, False)[2]
        return ind.view(z.shape[0], z.shape[2], z.shape[3])

    @torch.no_grad()
    def decode(self, codes):
        zq = self.quantize.embedding.weight[codes].permute(0, 3, 1, 2)  # [B, D, h, w]
        return self.decoder(self.post_quant_conv(zq))


def cosine_lr(peak, step, total, warmup, floor=0.0):
    """ibq::cosine_lr (include/ibq/optim/schedule.hpp), line for line."""
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    span = total - warmup
    if span <= 0:
        return peak
    t = min(1.0, (step - warmup) / span)
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def batches(n, batch, gen):
    """Epoch after epoch: a fresh permutation, cut into batches; the tail is a smaller batch (as the C++)."""
    while True:
        order = torch.randperm(n, generator=gen)
        yield from order.split(batch)


@torch.no_grad()
def evaluate(model, test_u8, a):
    counts, psnrs = torch.zeros(a.K, dtype=torch.float64), []
    for first in range(0, len(test_u8), 100):  # ibq-reconstruct's eval.batch_size
        orig = test_u8[first:first + 100]
        codes = model.encode(to_model(orig))
        counts += torch.bincount(codes.flatten(), minlength=a.K).double()
        u = (model.decode(codes).double().clamp(-1, 1) + 1) * 127.5
        recon = torch.floor(u + 0.5)  # lround on values >= 0 (torch.round would round halves to even)
        mse = ((orig.double() - recon) / 255.0).pow(2).flatten(1).mean(1)
        psnrs += [10 * math.log10(1 / m) for m in mse.tolist() if m > 0]  # exact images: left out
    p = counts[counts > 0] / counts.sum()
    return {"utilisation": float((counts > 0).sum()) / a.K, "codes": int((counts > 0).sum()),
            "perplexity": math.exp(float(-(p * p.log()).sum())), "psnr": float(np.mean(psnrs))}


def main():
    ints = lambda s: tuple(int(v) for v in s.split(",") if v)  # noqa: E731
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", choices=["fashion-mnist", "shards"], default="fashion-mnist")
    ap.add_argument("--train", help="shards: comma-separated training shards")
    ap.add_argument("--test", help="shards: comma-separated test shards")
    ap.add_argument("--quantizer", choices=["ibq", "vq"], default="ibq")
    ap.add_argument("--K", type=int, default=1024)
    ap.add_argument("--D", type=int, default=64)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--test-limit", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ch", type=int, default=32)
    ap.add_argument("--ch-mult", type=ints, default=(1, 2, 2))
    ap.add_argument("--res-blocks", type=int, default=1)
    ap.add_argument("--attn-resolutions", type=ints, default=())
    ap.add_argument("--z-channels", type=int, default=64)
    ap.add_argument("--in-channels", type=int, default=1)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--norm-groups", type=int, default=8)
    ap.add_argument("--entropy-weight", type=float, default=0.05)
    ap.add_argument("--l2-weight", type=float, default=1.0)
    ap.add_argument("--json", help="write the metrics here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    aer.CFG["groups"] = a.norm_groups  # aer.normalize() reads its group count from this dict

    if a.data == "fashion-mnist":
        train_u8 = fashion_mnist("train", a.resolution, a.in_channels)
        test_u8 = fashion_mnist("t10k", a.resolution, a.in_channels)
    else:
        train_u8, test_u8 = shards(a.train), shards(a.test)
    test_u8 = crop(test_u8[:a.test_limit], a.resolution)
    assert train_u8.shape[1] == a.in_channels, f"the images have {train_u8.shape[1]} channels: set --in-channels"

    torch.manual_seed(a.seed)  # initialisation (the imports seeded torch too)
    model = Tokenizer(a)
    params = list(model.parameters())
    ema = [p.detach().clone() for p in params]  # the shadow starts at the initial values
    opt = torch.optim.Adam(params, lr=a.lr, betas=(0.5, 0.9), eps=1e-8)
    gen = torch.Generator().manual_seed(a.seed)  # data order and crops
    order = batches(len(train_u8), a.batch, gen)
    model.train()
    t0 = time.time()
    for s in range(a.steps):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(a.lr, s, a.steps, a.warmup)
        x = to_model(crop(train_u8[next(order)], a.resolution, gen))
        x_hat, quant_loss, entropy_loss, _ = model(x)
        loss = (x - x_hat).abs().mean() + a.l2_weight * (x - x_hat).pow(2).mean() + quant_loss
        if entropy_loss is not None:
            loss = loss + a.entropy_weight * entropy_loss
        if not math.isfinite(loss.item()):
            sys.exit(f"diverged at step {s + 1}: loss {loss.item()}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(a.ema).add_(p, alpha=1.0 - a.ema)
        if (s + 1) % 25 == 0 or s + 1 == a.steps:
            print(f"step {s + 1} loss {loss.item():.4f} quant {quant_loss.item():.4f}", file=sys.stderr)
    seconds = time.time() - t0

    with torch.no_grad():  # evaluate with the EMA weights
        for e, p in zip(ema, params):
            p.copy_(e)
    model.eval()
    out = dict(evaluate(model, test_u8, a), steps=a.steps, seconds=round(seconds, 2))
    print(json.dumps(out))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
