#!/usr/bin/env python3
"""Tabulates and plots experiments/photos/run.sh: test utilisation, perplexity and PSNR against steps.

    python3 experiments/photos/tabulate.py [RUN_DIR]      # default runs/photos
    python3 experiments/photos/tabulate.py --from-raw     # rebuild from experiments/results/raw/photos
    python3 experiments/photos/tabulate.py --explain [EXPLAIN_DIR]   # explain.sh's runs (runs/photos-explain)

Reads RUN_DIR/NAME/eval/step-*.json (ibq-reconstruct on the 2,100 test patches, EMA weights) and the
training window's utilisation from RUN_DIR/NAME/train.log, writes experiments/results/raw/photos/NAME.tsv,
experiments/results/photos.md (every scored checkpoint) and photos.png (the paper's Fig. 2 layout: one
panel per metric, one line per run; gnuplot). --explain reads EXPLAIN_DIR/VARIANT/ibq_d32/ (explain.sh),
writes raw/photos-explain/VARIANT.tsv and photos-explain.md: each variant's final checkpoint beside the
baseline and beside run.sh's D = 32 and D = 256 IBQ runs. Standard library only.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "experiments", "results")
RAW = os.path.join(RESULTS, "raw", "photos")
RAW_EXPLAIN = os.path.join(RESULTS, "raw", "photos-explain")
NAME = re.compile(r"^(ibq|vq)_d(\d+)$")
COLUMNS = ["step", "utilisation", "codes_used", "perplexity", "psnr", "ssim", "train_window_utilisation"]


def window_usage(log):
    """{step: usage_window} from the trainer's `step N/T ... usage_window U` lines (the last run wins)."""
    usage = {}
    if os.path.isfile(log):
        for line in open(log, errors="replace"):
            m = re.match(r"step (\d+)/\d+ .*usage_window ([0-9.eE+-]+)", line)
            if m:
                usage[int(m[1])] = float(m[2])
    return usage


def from_runs(src, raw=RAW, runs="*"):
    """Writes raw/NAME.tsv for every run src/NAME (NAME matching the glob `runs`, then the folder whose
    eval/ holds the scores) with scored checkpoints; returns the run names."""
    names = []
    os.makedirs(raw, exist_ok=True)
    for d in sorted(glob.glob(os.path.join(src, runs, "eval"))):
        run = os.path.dirname(d)
        name = os.path.relpath(run, src).split(os.sep)[0]
        if runs == "*" and not NAME.match(name):
            continue
        window = window_usage(os.path.join(run, "train.log"))
        rows = []
        for f in sorted(glob.glob(os.path.join(d, "step-*.json"))):
            step = int(re.search(r"step-(\d+)\.json$", f)[1])
            e = json.load(open(f))
            logged = [s for s in window if s <= step]  # the window logged last before this checkpoint
            rows.append([step, e["utilisation"], e["codes_used"], e["perplexity"], e["psnr"], e["ssim"],
                         window[max(logged)] if logged else float("nan")])
        rows.sort()
        if rows:
            with open(os.path.join(raw, name + ".tsv"), "w") as fh:
                fh.write("# " + "\t".join(COLUMNS) + "\n")
                for r in rows:
                    fh.write("\t".join(str(v) for v in r) + "\n")
            names.append(name)
    return names


def read_raw(name, raw=RAW):
    with open(os.path.join(raw, name + ".tsv")) as fh:
        header = fh.readline().lstrip("# ").rstrip("\n").split("\t")
        return [dict(zip(header, map(float, line.split("\t")))) for line in fh if line.strip()]


def percent(share):
    """A share as a percentage, with a second decimal below 1% so that a collapsed codebook is not 0.0%."""
    return f"{100 * share:.{2 if share < 0.01 else 1}f}%"


def label(name):
    m = NAME.match(name)
    return f"{m[1].upper()} D={m[2]}"


def gnuplot(script):
    """Runs a gnuplot script in experiments/results; False (with a warning) where gnuplot is missing."""
    if shutil.which("gnuplot") is None:
        sys.stderr.write("tabulate: gnuplot is not installed (Debian: gnuplot-nox); no plot\n")
        return False
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, cwd=RESULTS)
    if r.returncode != 0:
        raise SystemExit(f"tabulate: gnuplot failed: {r.stderr.strip()}")
    return True


def plot(names):
    png = "photos.png"
    s = (f"set terminal pngcairo size 1500,450 font 'sans,10' noenhanced\nset output '{png}'\nset key below\n"
         "set xlabel 'training step'\nset grid\nset multiplot layout 1,3 title "
         "'K = 16384, 64x64 photo patches, 8x8 tokens: 2,100 test patches, EMA weights'\n")
    for col, title in ((2, "test utilisation (%)"), (4, "test perplexity"), (5, "test PSNR (dB)")):
        scale = "100*" if col == 2 else ""
        s += f"set title '{title}'\nplot " + ", ".join(
            f"'raw/photos/{n}.tsv' using 1:({scale}${col}) with linespoints lw 2 "
            f"dt {1 if n.startswith('ibq') else 2} title '{label(n)}'" for n in names) + "\n"
    s += "unset multiplot\n"
    return png if gnuplot(s) else None


CHANGES = {"baseline": "none (1000 steps)", "seed2": "seed 2 (the seed noise)", "entropy": "entropy loss x2 (0.1)",
           "lr": "learning rate x2 (2e-3)", "batch": "batch x2 (32)"}


def explain(src):
    """photos-explain.md (and .png): explain.sh's variants at their final checkpoint against the baseline,
    and run.sh's D = 32 and D = 256 IBQ runs at steps 1000 and 3000 (the steps and D explanations)."""
    names = from_runs(src, RAW_EXPLAIN, "*/ibq_d32")
    names = [n for n in CHANGES if n in names] + sorted(n for n in names if n not in CHANGES)
    if not names:
        sys.exit(f"tabulate: no scored checkpoints under {src}: run experiments/photos/explain.sh first")
    final = {n: read_raw(n, RAW_EXPLAIN)[-1] for n in names}
    base = {int(r["step"]): r for r in read_raw("baseline", RAW_EXPLAIN)} if "baseline" in names else {}
    out = ["# What limits IBQ's test utilisation on the photo patches",
           "",
           "Made by `experiments/photos/explain.sh` and `experiments/photos/tabulate.py --explain` (raw rows in",
           "`raw/photos-explain/`). IBQ, K = 16384, D = 32, the photos config; each variant changes one thing",
           "against the 1000-step baseline. EMA weights scored by `ibq-reconstruct` on the 2,100 test patches;",
           "`train window`: the codes the training batches used in the last 100-step log window.",
           "README.md in this folder says what the numbers mean.", ""]
    s = ("set terminal pngcairo size 800,500 font 'sans,10' noenhanced\nset output 'photos-explain.png'\n"
         "set key bottom right\nset xlabel 'training step'\nset ylabel 'test utilisation (%)'\nset grid\n"
         "set title 'IBQ, K = 16384, D = 32: one change against the 1000-step baseline'\nplot "
         + ", ".join(f"'raw/photos-explain/{n}.tsv' using 1:(100*$2) with linespoints lw 2 "
                     f"title '{CHANGES.get(n, n)}'" for n in names)
         + (", 'raw/photos/ibq_d32.tsv' using 1:(100*$2) with linespoints lw 2 dt 2 "
            "title '3000 steps (run.sh ibq_d32)'" if os.path.isfile(os.path.join(RAW, "ibq_d32.tsv")) else "")
         + "\n")
    if gnuplot(s):
        out += ["![photos-explain.png](photos-explain.png)", ""]
    out += ["| run | change | step | test utilisation | against the baseline at that step | codes used | perplexity "
            "| PSNR (dB) | SSIM | train window |", "|---|---|---|---|---|---|---|---|---|---|"]

    def row(run, change, r, base=None):
        b = (base or {}).get(int(r["step"]))  # the baseline at the same step: the variants share its schedule
        delta = f"{100 * (r['utilisation'] - b['utilisation']):+.1f} points" if b else ""
        out.append(f"| {run} | {change} | {int(r['step'])} | {percent(r['utilisation'])} | {delta} | "
                   f"{int(r['codes_used'])} | {r['perplexity']:.0f} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
                   f"{percent(r['train_window_utilisation'])} |")
    for n in names:
        row(f"explain.sh {n}", CHANGES.get(n, n), final[n], base)
    for n, change in (("ibq_d32", "3000 steps (cosine to 3000)"), ("ibq_d256", "D = 256, 3000 steps")):
        if os.path.isfile(os.path.join(RAW, n + ".tsv")):
            for r in read_raw(n):
                if int(r["step"]) in (1000, 3000):
                    row(f"run.sh {n}", change, r)
    out.append("")
    md = os.path.join(RESULTS, "photos-explain.md")
    with open(md, "w") as fh:
        fh.write("\n".join(out))
    steps = ", ".join(f"{n}: step {int(final[n]['step'])}" for n in names)
    print(f"tabulate: {md} ({steps})")


def main():
    args = sys.argv[1:]
    if args[:1] == ["--explain"]:
        return explain(args[1] if len(args) > 1 else os.path.join(ROOT, "runs", "photos-explain"))
    if args == ["--from-raw"]:
        names = sorted(os.path.basename(f)[:-4] for f in glob.glob(os.path.join(RAW, "*.tsv")))
    else:
        names = from_runs(args[0] if args else os.path.join(ROOT, "runs", "photos"))
    names = sorted((n for n in names if NAME.match(n)), key=lambda n: (n.split("_")[0], -int(n.split("_d")[1])))
    if not names:
        sys.exit("tabulate: no scored checkpoints: run experiments/photos/run.sh first")
    out = ["# Fig. 2 on colour photographs: IBQ and VQ at K = 16384",
           "",
           "Made by `experiments/photos/run.sh` and `experiments/photos/tabulate.py` (raw rows in `raw/photos/`).",
           "Each checkpoint's EMA weights scored by `ibq-reconstruct` on the 2,100 test patches (7 photographs",
           "that no run trains on); `train window`: the share of the codes that the training batches used in",
           "the last log window (100 steps, 102,400 tokens) ending at or before the checkpoint.",
           "README.md in this folder says what the numbers mean.", ""]
    png = plot(names)
    if png:
        out += [f"![{png}]({png})", ""]
    for n in names:
        rows = read_raw(n)
        out += [f"## {label(n)}", "", "| step | test utilisation | codes used | perplexity | PSNR (dB) | SSIM | train window |",
                "|---|---|---|---|---|---|---|"]
        for r in rows:
            out.append(f"| {int(r['step'])} | {percent(r['utilisation'])} | {int(r['codes_used'])} | "
                       f"{r['perplexity']:.0f} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
                       f"{percent(r['train_window_utilisation'])} |")
        out.append("")
    for n in names:  # experiments/photos/run.sh --diagnose: codes against patches and photographs seen
        usage = os.path.join(RAW, n + "_usage.tsv")
        if not os.path.isfile(usage):
            continue
        out += [f"## {label(n)}, final checkpoint: the codes the data can show", "",
                "| codes seen in | patches | photographs | utilisation | codes |", "|---|---|---|---|---|"]
        for line in open(usage).read().splitlines()[1:]:
            what, images, photos, u, sd = line.split("\t")
            spread = f" ± {100 * float(sd):.1f}" if float(sd) > 0 else ""
            out.append(f"| {what} | {images} | {photos} | {100 * float(u):.1f}%{spread} | {float(u) * 16384:.0f} |")
        out.append("")
    md = os.path.join(RESULTS, "photos.md")
    with open(md, "w") as fh:
        fh.write("\n".join(out))
    print(f"tabulate: {md} ({', '.join(f'{n}: {len(read_raw(n))} checkpoints' for n in names)})")


if __name__ == "__main__":
    main()
