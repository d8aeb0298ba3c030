#!/usr/bin/env bash
# ibq-train-tokenizer under mpirun: a run on 2 ranks logs its rank count and compute/communication split;
# its checkpoint (world_size 2) resumes on 1 rank (batch 2B) and on 4 ranks (batch B/2), and both end
# where the uninterrupted 2-rank run ends (same global batches; float summation order only). SIGUSR1 to
# one rank stops every rank after the step with a checkpoint and exit status 3, and the run resumes from it.
# SIGKILL to one rank ends the job (non-zero) within 60 s, and it resumes from its last checkpoint.
set -eu
tok=$1 dir=$2 src=$3
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpi() { local n=$1; shift; mpirun --oversubscribe -np "$n" "$tok" "$@"; }
tiny=(--config "$src/experiments/quickstart.ini" --data.train_limit=200 --model.ch=8 --model.ch_mult=1,2,2
      --model.norm_groups=4 --model.z_channels=8 --model.embed_dim=8 --model.codebook_size=64
      --dist.sync_entropy=true --train.warmup_steps=3 --train.time_limit=0 --output.keep=5 --runtime.threads=1)
short=(--train.steps=16 --log.every=4 --output.checkpoint_every=8)
# 200 images, 8 per step: the epoch ends with a tail of 0; 16 steps cross no epoch; 24 per step below.
mpi 2 "${tiny[@]}" "${short[@]}" --train.batch_size=4 --output.dir="$dir/two" > "$dir/two.log" 2>&1 || fail "2 ranks: $(cat "$dir/two.log")"
grep -q "MPI: 2 ranks" "$dir/two.log" || fail "the log does not say 2 ranks: $(head -5 "$dir/two.log")"
grep -q "steps of 4 per rank x 2 ranks" "$dir/two.log" || fail "no per-rank batch line: $(head -5 "$dir/two.log")"
grep -q "^step 16/16 .* compute_ms [0-9.e+-]* comm_ms [0-9.e+-]*" "$dir/two.log" || fail "no compute/comm split: $(grep ^step "$dir/two.log")"
[ "$(grep -c '^step 16/16' "$dir/two.log")" = 1 ] || fail "more than rank 0 logged"
ws=$(h5dump -a /world_size "$dir/two/ckpt-00000016.h5" | grep -o "(0): [0-9]*" | grep -o "[0-9]*$")
[ "$ws" = 2 ] || fail "world_size attribute is '$ws', not 2"

# Resume the step-8 checkpoint on 1 rank and on 4 ranks.
for n in 1 4; do
  b=$((8 / n))
  mkdir -p "$dir/on$n" && cp "$dir/two/ckpt-00000008.h5" "$dir/on$n/"
  mpi $n "${tiny[@]}" "${short[@]}" --train.batch_size=$b --output.dir="$dir/on$n" > "$dir/on$n.log" 2>&1 || fail "resume on $n: $(cat "$dir/on$n.log")"
  grep -q "resumed from $dir/on$n/ckpt-00000008.h5 at step 8 (written by 2 ranks)" "$dir/on$n.log" || fail "no resume on $n: $(cat "$dir/on$n.log")"
  for g in params ema; do
    h5diff -d 2e-4 "$dir/two/ckpt-00000016.h5" "$dir/on$n/ckpt-00000016.h5" "/$g" "/$g" > "$dir/diff-$n-$g" \
      || fail "/$g after resuming on $n ranks differs from the 2-rank run by more than 2e-4: $(head -8 "$dir/diff-$n-$g")"
  done
  # The logged losses agree to the printed digits' float noise.
  l2=$(grep "^step 16/16" "$dir/two.log" | awk '{print $6}') ln=$(grep "^step 16/16" "$dir/on$n.log" | awk '{print $6}')
  awk -v a="$l2" -v b="$ln" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-3 * a) }' || fail "loss $ln on $n ranks vs $l2 on 2"
done
[ "$(h5dump -a /world_size "$dir/on4/ckpt-00000016.h5" | grep -o "(0): [0-9]*" | grep -o "[0-9]*$")" = 4 ] || fail "world_size not 4"

# A signal to one rank stops all of them after the current step, with a checkpoint.
mpi 2 "${tiny[@]}" --train.batch_size=4 --train.steps=100000 --log.every=1000 --output.checkpoint_every=100000 \
  --output.dir="$dir/sig" > "$dir/sig.log" 2>&1 &
job=$!
for i in $(seq 1 300); do grep -q "steps of" "$dir/sig.log" && break; sleep 0.1; done
sleep 1
rank1=$(pgrep -f "^$tok .*--output.dir=$dir/sig" | tail -1)
[ -n "$rank1" ] || fail "no rank process found"
kill -USR1 "$rank1"
set +e; wait "$job"; rc=$?; set -e
[ "$rc" = 3 ] || fail "exit status $rc after SIGUSR1, not 3: $(tail -5 "$dir/sig.log")"
grep -q "stopped by SIGUSR1 at step [0-9]*/100000; checkpoint $dir/sig/ckpt-" "$dir/sig.log" || fail "no stop line: $(tail -5 "$dir/sig.log")"
ck=$(ls "$dir/sig"/ckpt-*.h5)
[ "$(echo "$ck" | wc -l)" = 1 ] || fail "expected one checkpoint: $ck"
ls "$dir/sig" | grep -v "^ckpt-[0-9]*\.h5$" && fail "stray files in the run directory"
mpi 2 "${tiny[@]}" --train.batch_size=4 --train.steps=100000 --log.every=1000 --train.stop_after=$(( $(basename "$ck" .h5 | sed 's/ckpt-0*//') + 2 )) \
  --output.dir="$dir/sig" > "$dir/sig2.log" 2>&1 || fail "resume after the signal: $(tail -5 "$dir/sig2.log")"
grep -q "resumed from $ck" "$dir/sig2.log" || fail "did not resume from $ck"

# A rank dies (SIGKILL, as a failed node): the job ends non-zero within a bounded time instead of hanging in
# a collective, and train.resume=auto continues from its last checkpoint on 2 ranks.
mpi 2 "${tiny[@]}" --train.batch_size=4 --train.steps=100000 --log.every=1000 --output.checkpoint_every=5 \
  --output.dir="$dir/die" > "$dir/die.log" 2>&1 &
job=$!
for i in $(seq 1 600); do ls "$dir/die"/ckpt-*.h5 > /dev/null 2>&1 && break; sleep 0.1; done
kill -0 "$job" 2> /dev/null || fail "the 2-rank run ended before a rank was killed: $(tail -5 "$dir/die.log")"
grep -q "MPI: 2 ranks" "$dir/die.log" || fail "the run is not on 2 ranks: $(head -3 "$dir/die.log")"
sleep 0.7
victim=
for p in $(pgrep -f "^$tok .*--output.dir=$dir/die"); do
  tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$p
done
[ -n "$victim" ] || fail "no rank-1 process found"
kill -KILL "$victim"
start=$(date +%s.%N)
for i in $(seq 1 600); do kill -0 "$job" 2> /dev/null || break; sleep 0.1; done
if kill -0 "$job" 2> /dev/null; then kill -KILL "$job"; fail "the job still ran 60 s after rank 1 died"; fi
set +e; wait "$job"; rc=$?; set -e
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ "$rc" != 0 ] || fail "the job exited 0 after rank 1 died"
mpi 2 "${tiny[@]}" --train.batch_size=4 --train.steps=100000 --log.every=1000 --output.checkpoint_every=5 \
  --train.stop_after=$(( $(ls "$dir/die"/ckpt-*.h5 | tail -1 | sed 's/.*ckpt-0*//; s/\.h5$//') + 3 )) \
  --output.dir="$dir/die" > "$dir/die2.log" 2>&1 || fail "resume after a rank died: $(tail -5 "$dir/die2.log")"
grep -q "resumed from $dir/die/ckpt-" "$dir/die2.log" || fail "did not resume: $(head -5 "$dir/die2.log")"
echo "2-rank checkpoint resumed on 1 and 4 ranks within 2e-4; SIGUSR1 stopped all ranks at $(basename "$ck") (exit 3);"
echo "rank 1 killed: the job ended in $took s (exit $rc) and $(grep -o 'resumed from [^ ]*' "$dir/die2.log") on 2 ranks"
