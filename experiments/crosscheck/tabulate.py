#!/usr/bin/env python3
"""Tabulates experiments/crosscheck/run.sh: the C++ trainer against the PyTorch reference run, per setting.

    python3 experiments/crosscheck/tabulate.py [RUN_DIR]      # default runs/crosscheck
    python3 experiments/crosscheck/tabulate.py --from-raw     # rebuild from experiments/results/raw/crosscheck

Reads RUN_DIR/{cpp,torch}/QUANTIZER_kK_dD_sSEED.json, copies them to experiments/results/raw/crosscheck/ and
writes experiments/results/crosscheck.md: per setting and side, the mean and sample standard deviation over
seeds of test utilisation, perplexity and PSNR, every seed's value, and the gap between the sides in units
of its standard error (sqrt(s_cpp^2 / n_cpp + s_torch^2 / n_torch)). The two sides share the recipe, not
the random streams, so agreement means a gap within the seed noise, not equal digits. Standard library only.
"""
import json
import math
import os
import re
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "experiments", "results")
RAW = os.path.join(RESULTS, "raw", "crosscheck")
ENTRY = re.compile(r"^(ibq|vq)_k(\d+)_d(\d+)_s(\d+)\.json$")
METRICS = [("utilisation", "utilisation (%)", 100.0, 1), ("perplexity", "perplexity", 1.0, 0),
           ("psnr", "PSNR (dB)", 1.0, 2)]


def load(src):
    """{(quantizer, K, D): {side: {seed: metrics}}} from src/{cpp,torch}/*.json."""
    runs = {}
    for side in ("cpp", "torch"):
        d = os.path.join(src, side)
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            m = ENTRY.match(f)
            if not m:
                continue
            with open(os.path.join(d, f)) as fh:
                runs.setdefault((m[1], int(m[2]), int(m[3])), {}).setdefault(side, {})[int(m[4])] = json.load(fh)
    return runs


def copy_raw(src, dst):
    """A run's JSON without its machine's paths: the checkpoint is named relative to the checkout."""
    e = json.load(open(src))
    if "checkpoint" in e:
        rel = os.path.relpath(e["checkpoint"], ROOT)
        e["checkpoint"] = rel if not rel.startswith("..") else os.path.basename(e["checkpoint"])
    with open(dst, "w") as fh:
        json.dump(e, fh, indent=1)
        fh.write("\n")


def stats(values):
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return mean, sd


def table(runs):
    out = ["| setting | metric | C++ mean ± sd (seeds) | PyTorch mean ± sd (seeds) | gap / its std. error |",
           "|---|---|---|---|---|"]
    for (q, k, d) in sorted(runs):
        sides = runs[(q, k, d)]
        for key, label, scale, digits in METRICS:
            cells, summary = [], {}
            for side in ("cpp", "torch"):
                seeds = sides.get(side, {})
                vals = [scale * seeds[s][key] for s in sorted(seeds)]
                if not vals:
                    cells.append("—")
                    continue
                mean, sd = stats(vals)
                summary[side] = (mean, sd, len(vals))
                each = ", ".join(f"{v:.{digits}f}" for v in vals)
                spread = f" ± {sd:.{digits}f}" if len(vals) > 1 else ""
                cells.append(f"{mean:.{digits}f}{spread} ({each})")
            gap = "—"
            if len(summary) == 2 and summary["cpp"][2] > 1 and summary["torch"][2] > 1:
                (m1, s1, n1), (m2, s2, n2) = summary["cpp"], summary["torch"]
                se = math.sqrt(s1 * s1 / n1 + s2 * s2 / n2)
                gap = f"{m1 - m2:+.{digits}f} = {(m1 - m2) / se:+.1f} se" if se > 0 else f"{m1 - m2:+.{digits}f}"
            out.append(f"| {q.upper()} K={k} D={d} | {label} | {cells[0]} | {cells[1]} | {gap} |")
    return out


def main():
    args = sys.argv[1:]
    if args == ["--from-raw"]:
        src = RAW
    else:
        src = args[0] if args else os.path.join(ROOT, "runs", "crosscheck")
        for side in ("cpp", "torch"):
            os.makedirs(os.path.join(RAW, side), exist_ok=True)
            d = os.path.join(src, side)
            for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                if ENTRY.match(f):
                    copy_raw(os.path.join(d, f), os.path.join(RAW, side, f))
    runs = load(src)
    if not runs:
        sys.exit(f"tabulate: no QUANTIZER_kK_dD_sSEED.json under {src}/cpp or {src}/torch: run experiments/crosscheck/run.sh")
    md = os.path.join(RESULTS, "crosscheck.md")
    with open(md, "w") as fh:
        fh.write("# The C++ trainer against an independent PyTorch run of the recipe\n\n"
                 "Made by `experiments/crosscheck/run.sh` and `experiments/crosscheck/tabulate.py` (raw JSON in\n"
                 "`raw/crosscheck/`). Quick-start autoencoder on Fashion-MNIST 32x32, 300 steps of 16 images,\n"
                 "EMA weights scored on the first 2000 test images; sd is the sample standard deviation over seeds.\n"
                 "README.md in this folder says what the numbers mean.\n\n" + "\n".join(table(runs)) + "\n")
    print(f"tabulate: {md} ({sum(len(s) for v in runs.values() for s in v.values())} runs)")


if __name__ == "__main__":
    main()
