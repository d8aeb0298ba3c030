#!/usr/bin/env python3
"""Collects ablation results into experiments/results/: a Markdown table per sweep, raw per-entry files,
and PNG plots (gnuplot). Standard library only.

    tabulate.py experiments/ablations/codebook.sweep [more.sweep ...]
    tabulate.py --from-raw experiments/ablations/codebook.sweep      # from experiments/results/raw/ only

For each entry of a sweep, reads $IBQ_ABLATION_DIR/<sweep>/<name>/eval.json (ibq-eval) and train.log
(the training driver's step lines), and writes
    experiments/results/raw/<sweep>/<name>.json       the evaluation, as ibq-eval wrote it
    experiments/results/raw/<sweep>/<name>.log.tsv    step, then every value the step lines print
    experiments/results/<sweep>.md                    the table (entries without results: "not run")
    experiments/results/<sweep>*.png                  plots (below)
The table's first columns are the settings that differ between the sweep's entries (an entry that leaves
one at its default shows "-"), in file order. Plots: for a tokenizer sweep over K, utilisation, PSNR and
rFD against K, one line per (quantizer, D); for a tokenizer sweep, utilisation against training step (at
the largest K when K varies: the collapse plot); for an AR sweep, FD and class accuracy against size.
--from-raw rebuilds everything from the raw files, so the tables can be regenerated without the runs.
Environment: IBQ_ABLATION_DIR (default runs/ablations), IBQ_RESULTS (default experiments/results).
"""
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sweep as sweeplib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
SHORT = {"model.quantizer": "quantizer", "model.codebook_size": "K", "model.embed_dim": "D",
         "model.preset": "model", "model.layers": "layers", "model.dim": "width", "train.seed": "seed", "quant.double_quant": "double quant",
         "quant.use_entropy": "entropy loss", "quant.beta_on_codebook": "beta on codebook"}
TOKENIZER_COLUMNS = [("utilisation", lambda e: f"{100 * e['utilisation']:.1f}%"),
                     ("codes", lambda e: f"{int(e['codes_used'])}"),
                     ("perplexity", lambda e: f"{e['perplexity']:.0f}"),
                     ("PSNR (dB)", lambda e: f"{e['psnr']:.2f}"),
                     ("SSIM", lambda e: f"{e['ssim']:.4f}"),
                     ("rFD (FMNIST)", lambda e: f"{e['rfd_fmnist']:.2f}"),
                     ("recon. accuracy", lambda e: f"{100 * e['recon_accuracy']:.1f}%")]
AR_COLUMNS = [("parameters", lambda e: f"{e['parameters'] / 1e6:.2f} M" if e.get("parameters") else "-"),
              ("FD (FMNIST)", lambda e: f"{e['fd_fmnist']:.1f}"),
              ("IS (FMNIST)", lambda e: f"{e['is_fmnist']:.2f} ± {e['is_fmnist_std']:.2f}"),
              ("class accuracy", lambda e: f"{100 * e['class_accuracy']:.1f}%"),
              ("real data: FD / IS / accuracy",
               lambda e: f"{e['real_fd_fmnist']:.1f} / {e['real_is_fmnist']:.2f} / {100 * e['real_class_accuracy']:.1f}%")]
STEP_LINE = re.compile(r"^step (\d+)/\d+ (.*)$")


def parse_log(path):
    """[(step, {name: value})] from a driver log's step lines, the last run's value for a repeated step."""
    rows = {}
    if not os.path.exists(path):
        return []
    for line in open(path, encoding="utf-8", errors="replace"):
        m = STEP_LINE.match(line.strip())
        if not m:
            continue
        words, vals = m.group(2).split(), {}
        for k, v in zip(words[::2], words[1::2]):
            try:
                vals[k] = float(v)
            except ValueError:
                pass
        rows[int(m.group(1))] = vals
    return sorted(rows.items())


def parameters_of(path):
    if os.path.exists(path):
        m = re.search(r"\), (\d+) parameters \(", open(path, encoding="utf-8", errors="replace").read())
        if m:
            return int(m.group(1))
    return None


def write_tsv(path, rows):
    keys = []
    for _, vals in rows:
        keys += [k for k in vals if k not in keys]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(["step"] + keys) + "\n")
        for step, vals in rows:
            f.write("\t".join([str(step)] + [repr(vals[k]) if k in vals else "" for k in keys]) + "\n")


def read_tsv(path):
    if not os.path.exists(path):
        return []
    lines = open(path, encoding="utf-8").read().splitlines()
    keys = lines[0].split("\t")
    out = []
    for line in lines[1:]:
        cells = line.split("\t")
        out.append((int(cells[0]), {k: float(c) for k, c in zip(keys[1:], cells[1:]) if c}))
    return out


def settings(entries):
    """{name: {key: value}} of the training settings, and the keys that differ between entries."""
    own = {}
    for kind, name, tokens in entries:
        own[name] = {}
        for t in tokens:
            key = sweeplib.key_of(t)
            if key and key.startswith(":") and "=" in t:
                own[name][key[1:]] = t.split("=", 1)[1]
    keys = []
    for s in own.values():
        keys += [k for k in s if k not in keys]
    varying = [k for k in keys if len({own[n].get(k) for n in own}) > 1]
    return own, varying


def gnuplot(script, where):
    if shutil.which("gnuplot") is None:
        sys.stderr.write("tabulate: gnuplot is not installed (Debian: gnuplot-nox); no plots\n")
        return False
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, cwd=where)
    if r.returncode != 0:
        raise SystemExit(f"tabulate: gnuplot failed: {r.stderr.strip()}")
    return True


def plot_header(png, title, w=1500, h=450):
    return (f"set terminal pngcairo size {w},{h} font 'sans,10' noenhanced\nset output '{png}'\nset key below\n"
            f"set grid\nset title '{title}' noenhanced\n")


def dat(where, name, lines):
    path = os.path.join(where, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def tabulate(path, from_raw, runs, results):
    entries = sweeplib.parse(path)
    sweep = os.path.basename(path)[: -len(".sweep")] if path.endswith(".sweep") else os.path.basename(path)
    raw = os.path.join(results, "raw", sweep)
    os.makedirs(raw, exist_ok=True)
    own, varying = settings(entries)
    evals, logs = {}, {}
    for kind, name, _ in entries:
        jpath, tpath = os.path.join(raw, name + ".json"), os.path.join(raw, name + ".log.tsv")
        if not from_raw:
            src = os.path.join(runs, sweep, name)
            if os.path.exists(os.path.join(src, "eval.json")):
                e = json.load(open(os.path.join(src, "eval.json"), encoding="utf-8"))
                if kind == "ar":
                    e["parameters"] = parameters_of(os.path.join(src, "train.log"))
                with open(jpath, "w", encoding="utf-8") as f:
                    json.dump(e, f, indent=1)
                    f.write("\n")
                write_tsv(tpath, parse_log(os.path.join(src, "train.log")))
        if os.path.exists(jpath):
            evals[name] = json.load(open(jpath, encoding="utf-8"))
            logs[name] = read_tsv(tpath)
    comment = []
    for line in open(path, encoding="utf-8"):
        if not line.startswith("#"):
            break
        comment.append(line[1:].strip())
    kinds = {k for k, _, _ in entries}
    columns = AR_COLUMNS if kinds == {"ar"} else TOKENIZER_COLUMNS
    head = ["entry"] + [SHORT.get(k, k) for k in varying] + [c for c, _ in columns]
    out = [f"# Sweep `{sweep}`", "", f"From `experiments/ablations/{sweep}.sweep`, tabulated by "
           "`experiments/ablations/tabulate.py`.", ""]
    out += ["> " + c if c else ">" for c in comment] + [""] if comment else []
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for kind, name, _ in entries:
        cells = [f"`{name}`"] + [own[name].get(k, "-") for k in varying]
        if name in evals:
            cells += [f(evals[name]) for _, f in columns]
        else:
            cells += ["not run"] + [""] * (len(columns) - 1)
        out.append("| " + " | ".join(cells) + " |")
    missing = [n for _, n, _ in entries if n not in evals]
    out.append("")
    if evals:
        first = next(iter(evals.values()))
        if kinds == {"ar"}:
            out.append(f"Scores: {int(first['images'])} samples against the {int(first['reference_images'])} test "
                       f"images, the IS analogue over {int(first['is_splits'])} parts; 'real data' scores as many "
                       "training images the same way (the small-sample floor of the FD).")
        else:
            out.append(f"Scores: {int(first['images'])} {first['split']} images, {first['weights']} weights; "
                       "utilisation is distinct codes over all of them / K.")
        out.append("FD/rFD and IS are Fashion-MNIST feature scores (the order-1 classifier's features and softmax, "
                   f"`{os.path.basename(first['classifier'])}`), not ImageNet FID/IS.")
    if missing:
        out.append(f"Not run: {', '.join(missing)}.")
    pngs = plots(sweep, entries, own, varying, evals, logs, results)
    for png in pngs:
        out += ["", f"![{png}]({png})"]
    md = os.path.join(results, sweep + ".md")
    with open(md, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    print(f"tabulate: {md} ({len(evals)} of {len(entries)} entries{', plots ' + ', '.join(pngs) if pngs else ''})")


def plots(sweep, entries, own, varying, evals, logs, results):
    work = os.path.join(results, "raw", sweep)
    pngs = []
    tok = [n for k, n, _ in entries if k == "tokenizer" and n in evals]
    if "model.codebook_size" in varying and tok:
        groups = {}
        for n in tok:
            s = own[n]
            groups.setdefault((s.get("model.quantizer", "ibq"), s.get("model.embed_dim", "")), []).append(n)
        plots_ = []
        for i, ((q, d), names) in enumerate(sorted(groups.items())):
            rows = sorted((int(evals[n]["codebook_size"]), evals[n]) for n in names)
            f = dat(work, f"k_{q}_d{d}.dat", [f"{k} {100 * e['utilisation']} {e['psnr']} {e['rfd_fmnist']}" for k, e in rows])
            plots_.append((os.path.basename(f), q.upper() + (f" D={d}" if d else ""), i + 1))
        png = f"{sweep}.png"
        s = plot_header(os.path.join("..", "..", png), "", 1500, 450) + "set logscale x 2\nset xlabel 'codebook size K'\n"
        s += "set multiplot layout 1,3\n"
        for col, label in ((2, "utilisation (%)"), (3, "PSNR (dB)"), (4, "rFD (FMNIST features)")):
            s += f"set title '{label} against K' noenhanced\nset ylabel '{label}'\nplot " + ", ".join(
                f"'{f}' using 1:{col} with linespoints lw 2 dt {1 if 'VQ' in t else 2} title '{t}'" for f, t, _ in plots_) + "\n"
        s += "unset multiplot\n"
        if gnuplot(s, work):
            pngs.append(png)
    if tok and any(logs.get(n) for n in tok):
        chosen = tok
        suffix = "usage"
        if "model.codebook_size" in varying:
            top = max(int(evals[n]["codebook_size"]) for n in tok)
            chosen = [n for n in tok if int(evals[n]["codebook_size"]) == top]
            suffix = f"usage_k{top}"
        series = []
        for n in chosen:
            if logs.get(n):
                f = dat(work, f"usage_{n}.dat", [f"{st} {100 * v.get('usage_window', 0)}" for st, v in logs[n]])
                series.append((os.path.basename(f), n))
        png = f"{sweep}_{suffix}.png"
        s = plot_header(os.path.join("..", "..", png), "codebook utilisation per logging window against training step "
                        f"({sweep}{', K = ' + suffix[7:] if suffix != 'usage' else ''})", 1000, 500)
        s += "set xlabel 'step'\nset ylabel 'distinct codes in the window / K (%)'\nset yrange [0:*]\nplot " + ", ".join(
            f"'{f}' using 1:2 with linespoints lw 2 title '{t}'" for f, t in series) + "\n"
        if gnuplot(s, work):
            pngs.append(png)
    ar = [n for k, n, _ in entries if k == "ar" and n in evals]
    if ar:
        f = dat(work, "ar.dat", [f"{i} {n} {evals[n]['fd_fmnist']} {100 * evals[n]['class_accuracy']} {evals[n]['real_fd_fmnist']}"
                                 for i, n in enumerate(ar)])
        png = f"{sweep}.png"
        s = plot_header(os.path.join("..", "..", png), "", 1100, 420) + "set multiplot layout 1,2\nset xrange [-0.5:%g]\n" % (len(ar) - 0.5)
        s += "set title 'FD (FMNIST features) against model size'\nset ylabel 'FD'\nset yrange [0:*]\n"
        s += (f"plot '{os.path.basename(f)}' using 1:3:xtic(2) with linespoints lw 2 title 'samples', "
              f"'' using 1:5 with lines dt 2 title 'real data, same count'\n")
        s += "set title 'class accuracy of the samples'\nset ylabel '%'\nset yrange [0:100]\n"
        s += f"plot '{os.path.basename(f)}' using 1:4:xtic(2) with linespoints lw 2 title 'classifier agrees'\n"
        s += "unset multiplot\n"
        if gnuplot(s, work):
            pngs.append(png)
    return pngs


def main(argv):
    from_raw = "--from-raw" in argv
    files = [a for a in argv[1:] if a != "--from-raw"]
    if not files or any(a.startswith("-") for a in files):
        sys.stderr.write(__doc__)
        return 2
    runs = os.environ.get("IBQ_ABLATION_DIR", os.path.join(ROOT, "runs", "ablations"))
    results = os.environ.get("IBQ_RESULTS", os.path.join(ROOT, "experiments", "results"))
    try:
        for path in files:
            tabulate(path, from_raw, runs, results)
    except sweeplib.SweepError as e:
        sys.stderr.write(f"tabulate: {e}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
