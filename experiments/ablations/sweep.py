#!/usr/bin/env python3
"""Reads an ablation sweep file (experiments/ablations/*.sweep). Standard library only.

A sweep file is one line per entry, after `defaults` lines shared by the entries of a kind:

    defaults tokenizer --config=experiments/quickstart.ini --train.steps=300 eval:--data.limit=2000
    tokenizer ibq_k1024_d32 --model.codebook_size=1024 --model.embed_dim=32
    ar fmnist-s tokenizer=codebook/ibq_k16384_d32 --model.preset=fmnist-s

KIND is `tokenizer` (ibq-train-tokenizer, then ibq-eval on the test set) or `ar` (ibq-tokenize once per
tokenizer, ibq-train-ar, ibq-sample, then ibq-eval of the samples). A bare argument goes to the training
driver; `eval:`, `sample:` and `tokenize:` send one to ibq-eval, ibq-sample or ibq-tokenize. `tokenizer=S/N`
names the entry N of sweep S whose checkpoint an `ar` entry uses. When an option is set twice, the later
setting wins: an entry's `--key=value` replaces the default's (Boost.Program_options refuses an option
given twice, so only the last is passed on). `#` starts a comment.

    sweep.py names FILE                  entry names, in file order
    sweep.py kind FILE NAME              tokenizer or ar
    sweep.py args FILE NAME STAGE        STAGE's arguments, one per line (STAGE: train, eval, sample, tokenize)
    sweep.py get FILE NAME KEY           the value of KEY=... (tokenizer=...), or nothing
"""
import shlex
import sys

KINDS = ("tokenizer", "ar")
STAGES = ("train", "eval", "sample", "tokenize")


class SweepError(Exception):
    pass


def parse(path):
    """[(kind, name, [tokens])] with the defaults merged in, in file order."""
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        raise SweepError(f"cannot read sweep file '{path}': {e.strerror}")
    defaults = {k: [] for k in KINDS}
    entries, seen = [], set()
    for no, line in enumerate(lines, 1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        where = f"{path}:{no}"
        if words[0] == "defaults":
            if len(words) < 2 or words[1] not in KINDS:
                raise SweepError(f"{where}: 'defaults' takes a kind ({' or '.join(KINDS)}) first")
            defaults[words[1]] += words[2:]
            continue
        if words[0] not in KINDS or len(words) < 2:
            raise SweepError(f"{where}: a line is 'defaults KIND ARGS' or 'KIND NAME ARGS' with KIND "
                             f"{' or '.join(KINDS)}; got '{line.strip()}'")
        kind, name = words[0], words[1]
        if not name.replace("_", "").replace("-", "").isalnum():
            raise SweepError(f"{where}: entry name '{name}' must be letters, digits, '_' or '-'")
        if name in seen:
            raise SweepError(f"{where}: entry '{name}' is defined twice")
        seen.add(name)
        entries.append((kind, name, merge(defaults[kind], words[2:])))
    if not entries:
        raise SweepError(f"{path}: no entries")
    return entries


def split_stage(token):
    """('eval', '--data.limit=2000') for eval:--data.limit=2000; ('', token) without a stage prefix."""
    prefix, sep, rest = token.partition(":")
    return (prefix, rest) if sep and prefix in STAGES else ("", token)


def key_of(token):
    """The option a token sets ('eval:data.limit' for eval:--data.limit=2000, '=tokenizer' for tokenizer=...)."""
    stage, arg = split_stage(token)
    if arg.startswith("--"):
        return stage + ":" + arg[2:].split("=", 1)[0]
    if "=" in arg and not stage:
        return "=" + arg.split("=", 1)[0]
    return None


def merge(defaults, own):
    """defaults + own, keeping only the last setting of each option (the entry's over the defaults')."""
    tokens = defaults + own
    last = {key_of(t): i for i, t in enumerate(tokens)}
    return [t for i, t in enumerate(tokens) if key_of(t) is None or last[key_of(t)] == i]


def entry(path, name):
    for e in parse(path):
        if e[1] == name:
            return e
    raise SweepError(f"{path}: no entry '{name}' (entries: {', '.join(e[1] for e in parse(path))})")


def stage_args(tokens, stage):
    out = []
    for t in tokens:
        if key_of(t) is None:
            raise SweepError(f"argument '{t}' is neither --key=value, STAGE:--key=value nor key=value")
        own, arg = split_stage(t)
        if arg.startswith("--") and own == ("" if stage == "train" else stage):
            out.append(arg)
    return out


def main(argv):
    if len(argv) < 3 or argv[1] not in ("names", "kind", "args", "get"):
        sys.stderr.write(__doc__)
        return 2
    try:
        cmd, path = argv[1], argv[2]
        if cmd == "names":
            print("\n".join(e[1] for e in parse(path)))
        elif cmd == "kind":
            print(entry(path, argv[3])[0])
        elif cmd == "args":
            if argv[4] not in STAGES:
                raise SweepError(f"unknown stage '{argv[4]}' (one of {', '.join(STAGES)})")
            for a in stage_args(entry(path, argv[3])[2], argv[4]):
                print(a)
        else:
            for t in entry(path, argv[3])[2]:
                if t.startswith(argv[4] + "="):
                    print(t.split("=", 1)[1])
    except SweepError as e:
        sys.stderr.write(f"sweep: {e}\n")
        return 2
    except IndexError:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
