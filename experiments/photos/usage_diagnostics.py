#!/usr/bin/python3
"""Where a photo run's codebook utilisation comes from: how many codes the data set can show at all.

    /usr/bin/python3 experiments/photos/usage_diagnostics.py NAME TRAIN_TOKENS.h5 TEST_TOKENS.h5 K

The tokens are ibq-tokenize's output for the run's final checkpoint (experiments/photos/run.sh --diagnose
makes them). Test utilisation counts the distinct codes in 2,100 patches of 7 photographs (134,400 tokens);
that number is bounded by how many tokens and how many different photographs it sees, not only by the
codebook. This script measures both bounds on the training patches, whose labels name their photograph:
- the distinct codes in random subsets of n training patches, n from 100 to all 32,400 (5 draws each);
- 2,100 training patches from 7 random photographs, the test set's shape (20 draws);
- the codes of the whole training set, of the test set, and of both.
Writes experiments/results/raw/photos/NAME_usage.tsv and prints a Markdown table. numpy and h5py.
"""
import os
import sys

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(path):
    with h5py.File(path, "r") as f:
        return f["tokens"][...].reshape(len(f["tokens"]), -1), f["labels"][...]


def distinct(tokens):
    return len(np.unique(tokens))


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    name, train_path, test_path, K = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    train, train_labels = read(train_path)
    test, test_labels = read(test_path)
    rng = np.random.default_rng(1)
    rows = []  # (what, images, photos, mean utilisation, sd)

    def add(what, draws, photos):
        u = np.array([distinct(t) / K for t in draws])
        rows.append((what, len(draws[0]), photos, u.mean(), u.std(ddof=1) if len(u) > 1 else 0.0))

    for n in (100, 300, 1000, 2100, 5000, 10000, 20000):
        if n < len(train):
            add("train, random patches", [train[rng.choice(len(train), n, replace=False)] for _ in range(5)],
                len(np.unique(train_labels)))
    photos = np.unique(train_labels)
    k = len(np.unique(test_labels))
    per_photo = len(test) // k
    draws = []
    enough = [p for p in photos if np.sum(train_labels == p) >= per_photo]
    for _ in range(20 if len(enough) >= k else 0):
        chosen = rng.choice(enough, k, replace=False)
        idx = np.concatenate([rng.choice(np.flatnonzero(train_labels == p), per_photo, replace=False) for p in chosen])
        draws.append(train[idx])
    if draws:
        add(f"train, {per_photo} patches of each of {k} random photographs", draws, k)
    add("train, all patches", [train], len(photos))
    add("test, all patches", [test], k)
    add("train and test", [np.concatenate([train, test])], len(photos) + k)

    raw = os.path.join(ROOT, "experiments", "results", "raw", "photos")
    os.makedirs(raw, exist_ok=True)
    with open(os.path.join(raw, f"{name}_usage.tsv"), "w") as fh:
        fh.write("# what\timages\tphotographs\tutilisation\tsd\n")
        for r in rows:
            fh.write("\t".join(str(v) for v in r) + "\n")
    print(f"| {name}: codes seen in | images | photographs | utilisation | codes |\n|---|---|---|---|---|")
    for what, n, p, u, sd in rows:
        print(f"| {what} | {n} | {p} | {100 * u:.1f}%" + (f" ± {100 * sd:.1f}" if sd > 0 else "") + f" | {u * K:.0f} |")


if __name__ == "__main__":
    main()
