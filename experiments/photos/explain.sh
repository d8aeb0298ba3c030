#!/usr/bin/env bash
# What limits IBQ's test utilisation on the photo patches: 1000-step IBQ runs at D = 32 (K = 16384, the
# photos config), a baseline and one change each, so that each explanation is tested by a run rather than
# argued. The other two explanations have their runs already: steps (the 3000-step run of run.sh against
# the baseline here) and the code dimension (run.sh's D = 256 against D = 32).
#
#   experiments/photos/explain.sh [VARIANT ...]    # default: all, one after another
#   experiments/photos/explain.sh baseline lr & experiments/photos/explain.sh entropy batch &   # two cores
#
# VARIANT      change against the baseline (1000 steps, cosine to zero, everything else as run.sh's runs)
#   baseline   none
#   seed2      --train.seed=2: the seed noise that the other differences are measured against
#   entropy    --loss.entropy_loss_weight=0.1: twice the entropy loss
#   lr         --train.lr=2e-3: twice the learning rate
#   batch      --train.batch_size=32: twice the batch (twice the tokens a step, twice the compute)
#
# Each variant is a run.sh run in the folder VARIANT/ibq_d32 under $IBQ_EXPLAIN_DIR (default
# runs/photos-explain): checkpoints every 250 steps, each scored on the 2,100 test patches once training
# ends; an interrupted variant resumes when run again.
# Then experiments/photos/tabulate.py --explain writes experiments/results/photos-explain.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${IBQ_EXPLAIN_DIR:-$root/runs/photos-explain}

change() {
  case "$1" in
    baseline) ;;
    seed2) echo --train.seed=2 ;;
    entropy) echo --loss.entropy_loss_weight=0.1 ;;
    lr) echo --train.lr=2e-3 ;;
    batch) echo --train.batch_size=32 ;;
    *) echo "explain.sh: unknown variant '$1' (baseline, seed2, entropy, lr, batch)" >&2; return 2 ;;
  esac
}

variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(baseline seed2 entropy lr batch)
for v in "${variants[@]}"; do change "$v" > /dev/null || exit 2; done
for v in "${variants[@]}"; do
  # shellcheck disable=SC2046  # change prints zero or one option, never with spaces
  IBQ_PHOTOS_DIR=$out/$v bash "$here/run.sh" ibq_d32 -- --train.steps=1000 $(change "$v")
done
