#!/usr/bin/python3
"""PyTorch peer for bench/ar_step.cpp: one AR transformer training step of the reference model, timed.

    /usr/bin/python3 bench/ar_step_torch.py --threads 2 --layers 4 --dim 128 --heads 2 --vocab 1024 --grid 8 \
        --classes 10 --batch 64 [--reps 5]

The model is tests/reference/ar_reference.py's GPT (the module the C++ model's parity fixture comes from:
RMSNorm, AdaLN, 2-D RoPE, causal attention as softmax(QK^T / sqrt(d) + mask) V, SwiGLU), in float32,
without dropout (--autocast: under torch.autocast("cpu", bfloat16)). The step: cross-entropy of the teacher-forced logits, zero_grad, backward, AdamW (0.9,
0.95, weight decay 0.05 on every parameter). Prints one JSON line: seconds (median of --reps after a
warm-up), peak_mib (peak resident set minus the resident set once model and inputs exist) and params.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [here, os.path.join(os.path.dirname(here), "tests", "reference")]
import ar_reference as ar  # noqa: E402
from peer_util import peak_resident_mib, resident_mib  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, required=True)
    for name, default in [("layers", 4), ("dim", 128), ("heads", 2), ("vocab", 1024), ("grid", 8),
                          ("classes", 10), ("batch", 64), ("multiple_of", 64), ("reps", 5)]:
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--autocast", action="store_true",
                    help='forward and loss under torch.autocast("cpu", dtype=torch.bfloat16), as bf16-mixed trains')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # ar_reference's modules read their sizes from module constants.
    ar.LAYERS, ar.DIM, ar.HEADS, ar.VOCAB, ar.GRID, ar.CLASSES = (args.layers, args.dim, args.heads, args.vocab,
                                                                  args.grid, args.classes)
    ar.MULTIPLE_OF, ar.DT = args.multiple_of, torch.float32
    model = ar.GPT().float()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05)
    tokens = torch.randint(0, args.vocab, (args.batch, args.grid * args.grid))
    labels = torch.randint(0, args.classes + 1, (args.batch,))
    base = resident_mib()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.autocast):
            logits = model(tokens[:, :-1], labels)
            loss = F.cross_entropy(logits.reshape(-1, args.vocab), tokens.reshape(-1))
        loss.backward()
        opt.step()

    step()  # warm-up (AdamW's moments appear here)
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": statistics.median(times), "peak_mib": peak_resident_mib() - base,
                      "params": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
