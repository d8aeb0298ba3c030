#!/usr/bin/env python3
"""kill -9 campaign: training killed at seeded random moments and restarted ends bitwise equal to an
uninterrupted run; a killed ibq-tokenize --output.append never leaves half-written data that looks complete.

  kill_campaign.py TOK TOKENIZE AR INSPECT DIR SRC [--seed S] [--kills N]

- ibq-train-tokenizer (checkpoint every step, keep 2): N kills (SIGKILL). Most land at a random moment of the
  run; every fourth lands the moment a checkpoint's temporary file appears (the middle of a write). After
  every kill `ibq-inspect --verify` must pass every ckpt-*.h5 in the directory: no half-written file is
  ever visible under a checkpoint's name. Then a last start runs to the end, and params/, ema/, optim/ and
  metrics/ must equal the uninterrupted run's, bitwise (h5diff).
- ibq-train-ar: the same with N / 3 kills.
- ibq-tokenize --output.append=true of 2000 images onto a dataset of 40 grids, killed N / 4 times (every
  second time the moment its temporary copy appears): after each kill the file holds the 40 grids (the old
  file, untouched) or all 2040 (complete), never anything between; a finished append equals an
  uninterrupted one.
Replay: the seed and each kill's moment are printed; the kill moments are a pure function of the seed.
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("tok")
ap.add_argument("tokenize")
ap.add_argument("ar")
ap.add_argument("inspect")
ap.add_argument("dir")
ap.add_argument("src")
ap.add_argument("--seed", type=int, default=24)
ap.add_argument("--kills", type=int, default=20)
args = ap.parse_args()
rng = random.Random(args.seed)
os.makedirs(args.dir, exist_ok=True)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run(cmd, log):
    with open(log, "w") as out:
        rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    if rc != 0:
        fail(f"{' '.join(cmd[:1])} exited {rc}: {open(log).read()[-3000:]}")


def writing(folder, pid):
    """True while process pid has a temporary file in folder (name.tmp.<pid>): it is writing a file."""
    suffix = f".tmp.{pid}"
    return os.path.isdir(folder) and any(f.endswith(suffix) for f in os.listdir(folder))


def kill_at(cmd, log, folder, moment, mid_write):
    """Starts cmd; kills it at `moment` seconds, or (mid_write) when a temporary file appears in folder.
    Returns what happened: 'finished', 'killed' or 'killed mid-write'."""
    with open(log, "a") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        start = time.monotonic()
        while p.poll() is None:
            if mid_write and writing(folder, p.pid):
                p.send_signal(signal.SIGKILL)
                p.wait()
                return "killed mid-write"
            if not mid_write and time.monotonic() - start >= moment:
                during = writing(folder, p.pid)
                p.send_signal(signal.SIGKILL)
                p.wait()
                return "killed mid-write" if during else "killed"
            time.sleep(0.0005 if mid_write else 0.002)
        if p.returncode != 0:
            fail(f"a restarted run failed (exit {p.returncode}): {open(log).read()[-3000:]}")
        return "finished"


def verify_all(folder, what):
    if not os.path.isdir(folder):
        return 0
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.startswith("ckpt-") and f.endswith(".h5"))
    if not files:
        return 0
    r = subprocess.run([args.inspect, "--verify"] + files, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{what}: a checkpoint under its final name does not verify:\n{r.stdout}{r.stderr}")
    return len(files)


def same(a, b, groups, what):
    for g in groups:
        r = subprocess.run(["h5diff", "-r", a, b, "/" + g, "/" + g], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"{what}: /{g} differs from the uninterrupted run: {r.stdout[:2000]}")


def campaign(name, cmd, steps, kills, horizon, groups):
    """cmd: the trainer's command without --output.dir. Kill moments are uniform from half the time to the
    first checkpoint (start-up) to `horizon` seconds after it (training, a checkpoint every step)."""
    ref, work = os.path.join(args.dir, name + "-ref"), os.path.join(args.dir, name + "-killed")
    for d in (ref, work):
        subprocess.call(["rm", "-rf", d])
    # The uninterrupted run; it also measures when the first checkpoint appears, so that the kill moments
    # span start-up (no checkpoint yet) and training, whatever this machine's speed.
    t0 = time.monotonic()
    first = None
    with open(os.path.join(args.dir, name + "-ref.log"), "w") as out:
        p = subprocess.Popen(cmd + ["--output.dir=" + ref], stdout=out, stderr=subprocess.STDOUT)
        while p.poll() is None:
            if first is None and os.path.exists(os.path.join(ref, "ckpt-00000001.h5")):
                first = time.monotonic() - t0
            time.sleep(0.002)
    if p.returncode != 0:
        fail(f"{name}: the uninterrupted run failed: {open(os.path.join(args.dir, name + '-ref.log')).read()[-3000:]}")
    ref_s = time.monotonic() - t0
    window = (0.5 * first, first + horizon)
    log = os.path.join(args.dir, name + "-killed.log")
    open(log, "w").close()
    outcomes = {"killed": 0, "killed mid-write": 0, "finished": 0}
    delivered = 0
    attempt = 0
    while delivered < kills:
        mid_write = attempt % 4 == 3
        moment = rng.uniform(*window)
        what = kill_at(cmd + ["--output.dir=" + work], log, work, moment, mid_write)
        attempt += 1
        outcomes[what] += 1
        if what == "finished":
            fail(f"{name}: the run finished before {kills} kills ({delivered} so far); give it more steps")
        delivered += 1
        n = verify_all(work, f"{name} after kill {delivered}")
        print(f"{name}: kill {delivered}: {what}" + ("" if mid_write else f" at {moment:.3f} s")
              + f", {n} checkpoints verified", flush=True)
    run(cmd + ["--output.dir=" + work], os.path.join(args.dir, name + "-final.log"))
    last = f"ckpt-{steps:08d}.h5"
    same(os.path.join(ref, last), os.path.join(work, last), groups, name)
    print(f"{name}: {delivered} SIGKILLs ({outcomes['killed mid-write']} during a checkpoint write, moments in "
          f"[{window[0]:.2f}, {window[1]:.2f}] s), then bitwise equal to the uninterrupted run ({ref_s:.1f} s)",
          flush=True)
    return outcomes


src = args.src
tok_cmd = [args.tok, "--config", f"{src}/experiments/quickstart.ini", "--data.train_limit=64", "--model.ch=8",
           "--model.ch_mult=1,2", "--model.norm_groups=4", "--model.z_channels=8", "--model.embed_dim=8",
           "--model.codebook_size=64", "--model.dropout=0.1", "--train.batch_size=4", "--train.steps=120",
           "--train.warmup_steps=2", "--train.time_limit=0", "--log.every=1", "--output.checkpoint_every=1",
           "--output.keep=2", "--runtime.threads=2"]
campaign("tokenizer", tok_cmd, 120, args.kills, 1.0, ["params", "ema", "optim", "metrics"])

# The AR trainer, on the tokens of the tokenizer run above.
tokens = os.path.join(args.dir, "tokens.h5")
subprocess.call(["rm", "-f", tokens])
base_cmd = [args.tokenize, f"--input.checkpoint={args.dir}/tokenizer-ref/ckpt-00000120.h5", "--runtime.threads=2"]
run(base_cmd + ["--data.limit=64", "--output.path=" + tokens], os.path.join(args.dir, "tokenize.log"))
ar_cmd = [args.ar, "--config", f"{src}/experiments/fashion_mnist_ar.ini", "--data.tokens=" + tokens,
          "--model.layers=2", "--model.dim=32", "--model.heads=2", "--model.vocab_size=64", "--model.grid=16",
          "--train.steps=120",
          "--train.warmup_epochs=0.2", "--train.batch_size=8", "--log.every=1", "--output.checkpoint_every=1",
          "--output.keep=2", "--runtime.threads=2"]
campaign("ar", ar_cmd, 120, max(1, args.kills // 3), 1.0, ["params", "optim", "metrics"])

# ibq-tokenize --output.append: killed, the file holds the old grids or all of them, never a part.
import h5py  # noqa: E402 (only this part needs it)


def grids(path):
    with h5py.File(path, "r") as f:
        return f["tokens"].shape[0], f["tokens"][:].tobytes(), f["labels"][:].tobytes()


app, ref_app = os.path.join(args.dir, "append.h5"), os.path.join(args.dir, "append-ref.h5")
subprocess.call(["rm", "-f", ref_app])
test_split = ["--data.split=test"]
run(base_cmd + test_split + ["--data.limit=40", "--output.path=" + ref_app], os.path.join(args.dir, "append-ref.log"))
base = grids(ref_app)
run(base_cmd + test_split + ["--data.limit=2000", "--output.path=" + ref_app, "--output.append=true"],
    os.path.join(args.dir, "append-ref.log"))
append_cmd = base_cmd + test_split + ["--data.limit=2000", "--output.path=" + app, "--output.append=true"]
want = grids(ref_app)
subprocess.call(["rm", "-f", app])
run(base_cmd + test_split + ["--data.limit=40", "--output.path=" + app], os.path.join(args.dir, "append.log"))
kills = max(1, args.kills // 4)
for k in range(kills):
    moment = rng.uniform(0.3, 2.5)
    what = kill_at(append_cmd, os.path.join(args.dir, "append.log"), args.dir, moment, k % 2 == 1)
    got = grids(app)
    if got[0] == base[0]:
        state = "old file intact"
        if got != base:
            fail("tokenize append: the old grids changed after a kill")
    elif got == want:
        state = "append complete"
        break
    else:
        fail(f"tokenize append: after a kill the file holds {got[0]} grids (not {base[0]} or {want[0]})")
    print(f"tokenize append: kill {k + 1} ({what}" + ("" if k % 2 else f" at {moment:.3f} s") + f"): {state}",
          flush=True)
if grids(app)[0] == base[0]:
    run(append_cmd, os.path.join(args.dir, "append.log"))
if grids(app) != want:
    fail("tokenize append: the finished append differs from an uninterrupted one")
print(f"tokenize append: {kills} kills, the file was always the old or the complete one; the result equals an "
      f"uninterrupted append ({want[0]} grids)")
print("kill campaign passed")
