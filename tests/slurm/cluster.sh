#!/usr/bin/env bash
# A real single-node SLURM cluster (munge, slurmctld, slurmd) started in a scratch folder, used, and
# stopped again: hpc/slurm/train_tokenizer.sbatch runs a tiny Fashion-MNIST config on 2 tasks to the
# end; the same job signalled mid-run (SLURM's warning signal to the batch shell) checkpoints, requeues
# itself, resumes, and ends with exactly the parameters of the uninterrupted run; and an ablation sweep
# submitted by experiments/ablations/run.sh --slurm runs as a job array, one entry per task.
#   cluster.sh SOURCE_DIR BIN_DIR SCRATCH     (exit 77 = skipped: SLURM is not installed)
set -u
src=$1 bin=$2 d=$3
for exe in slurmctld slurmd sbatch scontrol munged; do
  command -v "$exe" > /dev/null || [ -x "/usr/sbin/$exe" ] || {
    echo "SKIP: $exe is not installed (apt-get install slurm-wlm slurm-client munge, or bash hpc/setup.sh --with-slurm)"
    exit 77
  }
done
rm -rf "$d" && mkdir -p "$d"/{state,spool,run}
d=$(cd "$d" && pwd)
host=$(hostname -s)
started=()
cleanup() {
  for pid in "${started[@]}"; do kill "$pid" 2> /dev/null; done
  sleep 0.5
  for pid in "${started[@]}"; do kill -9 "$pid" 2> /dev/null; done
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$d"/slurmctld.log "$d"/slurmd.log; do echo "--- $f"; tail -15 "$f"; done; exit 1; }

# munge (the cluster's authentication), unless one is already running.
if ! pgrep -x munged > /dev/null; then
  mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null
  [ -s /etc/munge/munge.key ] || { mkdir -p /etc/munge; dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null;
                                   chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
  runuser -u munge -- /usr/sbin/munged || fail "munged did not start"
  sleep 0.3
  started+=("$(pgrep -x munged | head -1)")
fi
cpus=$(nproc)
cat > "$d/slurm.conf" <<CONF
ClusterName=ibqtest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$d/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=2000
MpiDefault=pmix
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$host CPUs=$cpus RealMemory=8000 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$d/slurm.conf
/usr/sbin/slurmctld -c || fail "slurmctld did not start"
for i in $(seq 50); do [ -s "$d/run/slurmctld.pid" ] && break; sleep 0.1; done
started+=("$(cat "$d/run/slurmctld.pid")")
/usr/sbin/slurmd -c || fail "slurmd did not start"
for i in $(seq 50); do [ -s "$d/run/slurmd.pid" ] && break; sleep 0.1; done
started+=("$(cat "$d/run/slurmd.pid")")
for i in $(seq 100); do sinfo -h -o %t 2>/dev/null | grep -q idle && break; sleep 0.2; done
sinfo -h -o %t | grep -q idle || fail "the node did not come up: $(sinfo 2>&1)"
echo "cluster up: $(sinfo -h -o '%P %D %t %c')"

state() { scontrol show job "$1" 2>/dev/null | grep -o "JobState=[A-Z_]*" | cut -d= -f2; }
wait_done() {  # job id, seconds
  for i in $(seq $(( $2 * 5 ))); do
    case $(state "$1") in COMPLETED) return 0 ;; FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) return 1 ;; esac
    sleep 0.2
  done
  return 1
}
tiny=(--data.train_limit=256 --model.ch=8 --model.ch_mult=1,2,2 --model.norm_groups=4 --model.z_channels=8
      --model.embed_dim=8 --model.codebook_size=64 --train.batch_size=4 --train.steps=400 --train.warmup_steps=10
      --train.time_limit=0 --log.every=20 --output.checkpoint_every=100000)
submit() {  # name, extra sbatch args...
  local name=$1; shift
  (cd "$d" && IBQ_ROOT=$src IBQ_BIN=$bin sbatch --parsable --ntasks=2 --cpus-per-task=1 -o "$d/$name.out" "$@" \
     "$src/hpc/slurm/train_tokenizer.sbatch" "$src/experiments/quickstart.ini" "${tiny[@]}" --output.dir="$d/$name")
}

# 1. Uninterrupted: 2 tasks to the end.
a=$(submit full) || fail "sbatch refused the job"
wait_done "$a" 180 || fail "job $a ended $(state "$a"): $(tail -20 "$d/full.out")"
[ -f "$d/full/ckpt-00000400.h5" ] || fail "no final checkpoint: $(ls "$d/full"; tail -20 "$d/full.out")"
grep -q "MPI: 2 ranks" "$d/full.out" || fail "the job did not run on 2 ranks: $(head -5 "$d/full.out")"
grep -q "finished at step 400/400" "$d/full.out" || fail "no finish line: $(tail "$d/full.out")"
echo "job $a: 2 tasks, finished, $(grep -c '^step ' "$d/full.out") log lines"

# 2. Signalled mid-run: checkpoint, requeue, resume, same end.
b=$(submit preempt) || fail "sbatch refused the second job"
for i in $(seq 600); do grep -q "^step 60/400" "$d/preempt.out" 2>/dev/null && break; sleep 0.1; done
grep -q "^step 60/400" "$d/preempt.out" || fail "job $b did not start training: $(tail "$d/preempt.out")"
scancel --batch --signal=USR1 "$b" || fail "scancel --signal failed"
# slurmctld holds a requeued job back for two minutes (Reason=BeginTime). Once the old instance is gone
# (the job pending, no slurmstepd of it left, its PMIx socket removed) the test releases it, as an
# operator would with `scontrol update JobId=... StartTime=now`. Released earlier, the new step cannot
# bind the old step's PMIx socket and fails to launch.
for i in $(seq 900); do
  if [ "$(state "$b")" = PENDING ] && ! pgrep -f "^slurmstepd: \[$b\." > /dev/null &&
     ! ls "$d/spool/" 2>/dev/null | grep -q "pmix.$b\."; then
    sleep 2
    scontrol update JobId="$b" StartTime=now && break
  fi
  sleep 0.2
done
wait_done "$b" 420 || fail "job $b ended $(state "$b"): $(tail -30 "$d/preempt.out")"
out=$d/preempt.out
grep -q "signal received: asking the job step to checkpoint" "$out" || fail "the batch shell saw no signal: $(cat "$out")"
stop=$(grep -o "stopped by SIGUSR1 at step [0-9]*" "$out" | grep -o "[0-9]*$")
[ -n "$stop" ] && [ "$stop" -gt 0 ] && [ "$stop" -lt 400 ] || fail "no mid-run stop: $(cat "$out")"
grep -q "requeueing" "$out" || fail "the job did not requeue itself"
grep -q "resumed from $d/preempt/ckpt-$(printf %08d "$stop").h5 at step $stop" "$out" || fail "no resume from step $stop: $(cat "$out")"
restarts=$(scontrol show job "$b" | grep -o "Restarts=[0-9]*" | cut -d= -f2)
[ "$restarts" = 1 ] || fail "Restarts=$restarts, not 1"
ls "$d/preempt" | grep -v "^ckpt-[0-9]*\.h5$" && fail "stray (half-written?) files in the run directory"
for g in params ema optim; do
  h5diff "$d/full/ckpt-00000400.h5" "$d/preempt/ckpt-00000400.h5" "/$g" "/$g" > "$d/diff-$g" \
    || fail "/$g after the requeue differs from the uninterrupted run: $(head "$d/diff-$g")"
done
echo "job $b: stopped at step $stop by SIGUSR1, requeued (Restarts=1), resumed; final parameters bitwise equal"

# 3. An ablation sweep as a job array (experiments/ablations/run.sh --slurm): each task trains its entry
#    as a job step and evaluates it; the tables then list both.
"$bin/ibq-train-classifier" --config "$src/experiments/fashion_mnist_classifier.ini" --data.train_limit=1280 \
  --data.test_limit=200 --train.epochs=1 --model.hidden=32 --output.path="$d/clf.h5" > "$d/clf.log" 2>&1 \
  || fail "classifier: $(tail -3 "$d/clf.log")"
cat > "$d/array.sweep" <<SWEEP
defaults tokenizer --config=experiments/quickstart.ini ${tiny[*]} --train.steps=20 eval:--data.limit=100
tokenizer vq --model.quantizer=vq
tokenizer ibq --model.quantizer=ibq
SWEEP
export IBQ_ABLATION_DIR=$d/ablations IBQ_CLASSIFIER=$d/clf.h5 IBQ_RESULTS=$d/results
mkdir -p "$IBQ_RESULTS"
IBQ_BIN=$bin bash "$src/experiments/ablations/run.sh" --slurm "$d/array.sweep" -- --ntasks=1 --cpus-per-task=1 %2 \
  > "$d/array.log" 2>&1 || fail "run.sh --slurm: $(cat "$d/array.log")"
arr=$(sed -n 's/.*job array \([0-9]*\) (2 entries)$/\1/p' "$d/array.log")
[ -n "$arr" ] || fail "no job array submitted: $(cat "$d/array.log")"
for i in $(seq 900); do [ -z "$(squeue -h -j "$arr" 2>/dev/null)" ] && break; sleep 0.2; done
for e in vq ibq; do
  [ -f "$IBQ_ABLATION_DIR/array/$e/eval.json" ] || fail "array entry $e was not evaluated: $(cat "$IBQ_ABLATION_DIR"/array/slurm-*.out)"
  grep -q "srun ibq-train-tokenizer .*(1 tasks, 1 threads each)" "$IBQ_ABLATION_DIR/array/$e/train.log" \
    || fail "entry $e did not train as a job step: $(head -5 "$IBQ_ABLATION_DIR/array/$e/train.log")"
  grep -q "finished at step 20/20" "$IBQ_ABLATION_DIR/array/$e/train.log" || fail "entry $e did not finish training"
done
ls "$IBQ_ABLATION_DIR"/array/slurm-"${arr}"_0.out "$IBQ_ABLATION_DIR"/array/slurm-"${arr}"_1.out > /dev/null \
  || fail "no per-task output files: $(ls "$IBQ_ABLATION_DIR/array")"
python3 "$src/experiments/ablations/tabulate.py" "$d/array.sweep" > "$d/tab.log" 2>&1 || fail "tabulate: $(cat "$d/tab.log")"
[ "$(grep -c '^| `\(vq\|ibq\)` | \(vq\|ibq\) | [0-9.]*% |' "$IBQ_RESULTS/array.md")" = 2 ] \
  || fail "the table does not list both array entries: $(cat "$IBQ_RESULTS/array.md")"
echo "job array $arr: 2 entries trained as job steps, evaluated and tabulated"

# 4. Evaluation on 2 tasks (hpc/slurm/evaluate.sbatch): each rank scores half the images, rank 0 writes.
e=$(cd "$d" && IBQ_ROOT=$src IBQ_BIN=$bin sbatch --parsable --ntasks=2 --cpus-per-task=1 -o "$d/eval.out" \
      "$src/hpc/slurm/evaluate.sbatch" --input.checkpoint="$d/full/ckpt-00000400.h5" --eval.classifier="$d/clf.h5" \
      --data.limit=100 --eval.batch_size=25 --output.json="$d/eval.json") || fail "sbatch refused the evaluation"
wait_done "$e" 180 || fail "evaluation job $e ended $(state "$e"): $(tail -20 "$d/eval.out")"
grep -q '"images": 100, .*"ranks": 2}' "$d/eval.json" || fail "evaluation JSON: $(cat "$d/eval.json" "$d/eval.out")"
echo "job $e: ibq-eval on 2 tasks, $(grep -o '"psnr": [0-9.]*' "$d/eval.json")"
