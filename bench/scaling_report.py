#!/usr/bin/python3
"""Tabulates bench/scaling.sh's runs and projects data-parallel efficiency to 64 and 512 ranks.

    python3 bench/scaling_report.py RUNS.json ALLREDUCE.jsonl

RUNS.json: {"runs": [{"name", "ranks", "threads", "batch", "img_per_s", "compute_ms", "comm_ms"}...],
            "params": generator parameters of the measured model, "reference_step_s": measured seconds of one
            reference-tokenizer step at "reference_batch" images on one rank (or null)}
ALLREDUCE.jsonl: bench_allreduce's lines at 2 ranks (bytes, seconds) and its parameter counts.

The projection is the ring allreduce's cost model, t(P, S) = 2 (P - 1) / P * S / beta + 2 (P - 1) * alpha,
with alpha and beta fitted to the 2-rank measurements (t = S / beta + 2 alpha), applied to each gradient
buffer a step reduces (generator and discriminator separately, as the trainer does). Efficiency at P ranks
is t_compute / (t_compute + t_allreduce(P)): the trainer reduces after the backward pass, with no overlap.
The 2-rank fit is shared memory on one machine; a second column uses a stated network instead.
"""
import json
import sys

NETWORK = {"name": "assumed InfiniBand HDR (200 Gb/s): alpha 2 us, beta 23 GB/s", "alpha": 2e-6, "beta": 23e9}


def fit(points):
    """Least squares t = a + b S; alpha = a / 2, beta = 1 / b."""
    n = len(points)
    sx = sum(s for s, _ in points)
    sy = sum(t for _, t in points)
    sxx = sum(s * s for s, _ in points)
    sxy = sum(s * t for s, t in points)
    b = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    a = (sy - b * sx) / n
    return max(a, 0.0) / 2, 1.0 / b


def ring(p, nbytes, alpha, beta):
    return 2 * (p - 1) / p * nbytes / beta + 2 * (p - 1) * alpha


def main():
    runs = json.load(open(sys.argv[1]))
    lines = [json.loads(l) for l in open(sys.argv[2]) if l.startswith("{")]
    points = [(l["bytes"], l["seconds"]) for l in lines if "bytes" in l]
    counts = next(l for l in lines if "tokenizer_params" in l)
    alpha, beta = fit([p for p in points if p[0] >= 4096])

    base = next(r for r in runs["runs"] if r["ranks"] == 1 and r["threads"] == 1)
    print("| run | ranks x threads | batch per rank | img/s | compute ms/step | comm ms/step | vs 1 x 1 |")
    print("|---|---|---|---|---|---|---|")
    for r in runs["runs"]:
        comm = "-" if r["ranks"] == 1 else "%.1f" % r["comm_ms"]
        print("| %s | %d x %d | %d | %.1f | %.0f | %s | %.2fx |" % (
            r["name"], r["ranks"], r["threads"], r["batch"], r["img_per_s"], r["compute_ms"], comm,
            r["img_per_s"] / base["img_per_s"]))
    print()
    print("MPI_Allreduce at 2 ranks (this machine, shared memory): " + ", ".join(
        "%s %.3f ms" % (human(s), t * 1e3) for s, t in points[::2]))
    print("fit: alpha %.2f us, beta %.2f GB/s" % (alpha * 1e6, beta / 1e9))
    print()

    two = next((r for r in runs["runs"] if r["ranks"] == 2 and r["threads"] == 1), None)
    models = [("quickstart tokenizer (measured step, %d params)" % runs["params"],
               [4 * runs["params"]], base["compute_ms"] / 1e3)]
    if runs.get("reference_step_s"):
        models.append(("reference tokenizer K=16384 + PatchGAN (%d + %d params; measured step of %d image(s))" % (
            counts["tokenizer_params"], counts["discriminator_params"], runs["reference_batch"]),
            [4 * counts["tokenizer_params"], 4 * counts["discriminator_params"]], runs["reference_step_s"]))
    print("| model | compute s/step | ranks | allreduce s (fit) | efficiency (fit) | allreduce s (network) "
          "| efficiency (network) |")
    print("|---|---|---|---|---|---|---|")
    for name, sizes, tc in models:
        for p in (2, 64, 512):
            t_fit = sum(ring(p, s, alpha, beta) for s in sizes)
            t_net = sum(ring(p, s, NETWORK["alpha"], NETWORK["beta"]) for s in sizes)
            print("| %s | %.3f | %d | %.4f | %.1f%% | %.4f | %.1f%% |" % (
                name, tc, p, t_fit, 100 * tc / (tc + t_fit), t_net, 100 * tc / (tc + t_net)))
    if two:
        print()
        print("check: the fit predicts %.1f ms of allreduce per step at 2 ranks for the quickstart model; "
              "the 2-rank run measured %.1f ms (which also holds the loss/stat reductions and waiting for the "
              "slower rank)." % (1e3 * ring(2, 4 * runs["params"], alpha, beta), two["comm_ms"]))
    print()
    print("network column: " + NETWORK["name"] + " (not measured here: a stated assumption).")


def human(b):
    for unit, div in (("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if b >= div:
            return "%g %s" % (b / div, unit)
    return "%d B" % b


if __name__ == "__main__":
    main()
