#!/usr/bin/python3
"""PyTorch peer for bench/tokenizer_step.cpp: one tokenizer training step of the reference model, timed.

    /usr/bin/python3 bench/tokenizer_step_torch.py --threads 2 --ch 32 --mult 1,2,2 --blocks 1 --attn "" \
        --res 32 --in 1 --z 64 --d 64 --k 1024 --batch 16 --groups 8 [--reps 5] [--device cuda]

The model is the reference's: tests/reference/autoencoder_reference.py's taming Encoder/Decoder (the modules
the C++ model's fixtures come from), quant_conv / post_quant_conv 1x1 convs, and
tests/reference/ibq_reference.py's IndexPropagationQuantize (SEED-Voken's code). The step: loss =
mean|x_hat - x| + L_Q + 0.05 L_ent, zero_grad, backward, Adam (lr 1e-4, betas 0.5/0.9), all float32.

Prints one JSON line: seconds (median of --reps after a warm-up), peak_mib (peak resident set minus the
resident set once the model, optimizer and inputs exist; Adam's moments are allocated in the first step on
both sides; on a GPU the peak of allocated device memory above that point), and the median split: forward_s (of which encoder_s, quantizer_s, decoder_s), backward_s, adam_s.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [here, os.path.join(os.path.dirname(here), "tests", "reference")]
import autoencoder_reference as ae  # noqa: E402
from ibq_reference import IndexPropagationQuantize  # noqa: E402
from peer_util import PeakMemory, add_device_option, check_device, sync  # noqa: E402


def ints(s):
    return tuple(int(v) for v in s.split(",") if v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, required=True)
    for name, default in [("ch", 32), ("blocks", 1), ("res", 32), ("in", 1), ("z", 64), ("d", 64), ("k", 1024),
                          ("batch", 16), ("groups", 8), ("reps", 5)]:
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--mult", default="1,2,2")
    ap.add_argument("--attn", default="")
    ap.add_argument("--autocast", action="store_true",
                    help='forward and loss under torch.autocast(device, dtype=torch.bfloat16), as bf16-mixed trains')
    add_device_option(ap)
    args = ap.parse_args()
    dev = check_device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ae.CFG["groups"] = args.groups  # autoencoder_reference's normalize() reads it
    cfg = dict(ch=args.ch, ch_mult=ints(args.mult), num_res_blocks=args.blocks, attn_resolutions=ints(args.attn),
               z_channels=args.z, in_channels=getattr(args, "in"), out_ch=getattr(args, "in"), resolution=args.res)
    encoder, decoder = ae.Encoder(**cfg), ae.Decoder(**cfg)
    quant_conv, post_quant_conv = nn.Conv2d(args.z, args.d, 1), nn.Conv2d(args.d, args.z, 1)
    codebook = nn.Embedding(args.k, args.d)  # N(0, 1), as the reference
    quant = IndexPropagationQuantize(args.k, args.d, 0.25)
    modules = nn.ModuleList([encoder, decoder, quant_conv, post_quant_conv, codebook]).to(dev)
    adam = torch.optim.Adam(modules.parameters(), lr=1e-4, betas=(0.5, 0.9))
    n = args.batch * getattr(args, "in") * args.res * args.res
    x = torch.sin(0.37 * torch.arange(n, dtype=torch.float64)).float().reshape(args.batch, -1, args.res, args.res)
    x = x.to(dev)
    memory = PeakMemory(dev)
    memory.start()
    parts = {k: [] for k in ("seconds", "encoder_s", "quantizer_s", "decoder_s", "forward_s", "backward_s", "adam_s")}

    def autocast():
        return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.autocast)

    if args.autocast:
        # CUDA's autocast runs group_norm in fp32 (its fp32 list); PyTorch 1.13's CPU autocast leaves it out,
        # and its CPU group_norm refuses bf16 input with fp32 weights. Give the CPU peer CUDA's rule.
        def group_norm_fp32(self, x):
            with torch.autocast(dev.type, enabled=False):
                return F.group_norm(x.float(), self.num_groups, self.weight, self.bias, self.eps)
        torch.nn.GroupNorm.forward = group_norm_fp32

    def step(record):
        sync(dev)
        t0 = time.perf_counter()
        with autocast():
            z = quant_conv(encoder(x))
        sync(dev)
        t1 = time.perf_counter()
        with autocast():
            z_q, (quant_loss, _, _, entropy_loss), _ = quant.forward(z, codebook.weight)
        sync(dev)
        t2 = time.perf_counter()
        with autocast():
            x_hat = decoder(post_quant_conv(z_q))
            loss = (x_hat - x).abs().mean() + quant_loss + 0.05 * entropy_loss
        sync(dev)
        t3 = time.perf_counter()
        adam.zero_grad(set_to_none=True)
        loss.backward()
        sync(dev)
        t4 = time.perf_counter()
        adam.step()
        sync(dev)
        t5 = time.perf_counter()
        if record:
            for key, v in (("seconds", t5 - t0), ("encoder_s", t1 - t0), ("quantizer_s", t2 - t1),
                           ("decoder_s", t3 - t2), ("forward_s", t3 - t0), ("backward_s", t4 - t3),
                           ("adam_s", t5 - t4)):
                parts[key].append(v)

    step(False)  # warm-up
    for _ in range(args.reps):
        step(True)
    out = {k: statistics.median(v) for k, v in parts.items()}
    out["peak_mib"] = memory.peak_mib()
    out["device"] = str(dev)
    out["params"] = sum(p.numel() for p in modules.parameters())
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
