# hpc/slurm/common.sh — sourced by the batch scripts: where the drivers are, and one job step run so that
# a time-limit warning or a preemption ends in a checkpoint and a requeue, never in lost work.
#
# Environment: IBQ_ROOT (the ibq checkout; default: the submission folder), IBQ_BIN (the drivers; default
# $IBQ_ROOT/build/bin), IBQ_MPI (srun's --mpi; default pmix), IBQ_SRUN_ARGS (extra srun options),
# IBQ_THREADS (threads per task; default SLURM_CPUS_PER_TASK or 1).
set -uo pipefail
ibq_root=${IBQ_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
ibq_bin=${IBQ_BIN:-$ibq_root/build/bin}
ibq_threads=${IBQ_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
export OMP_NUM_THREADS=$ibq_threads OMP_PROC_BIND=${OMP_PROC_BIND:-false}
cd "$ibq_root" || { echo "[ibq] cannot enter IBQ_ROOT '$ibq_root'" >&2; exit 2; }

ibq_log() { echo "[ibq $(date +%H:%M:%S)] job ${SLURM_JOB_ID:-?} (restart ${SLURM_RESTART_COUNT:-0}): $*"; }

ibq_driver() {  # the path of a driver, or a clear error
  local exe=$ibq_bin/$1
  [ -x "$exe" ] || { ibq_log "no driver '$exe': build ibq first (bash hpc/build.sh) or set IBQ_BIN" >&2; exit 2; }
  echo "$exe"
}

# ibq_step DRIVER ARGS...: srun DRIVER on every task of the allocation. The batch shell gets SLURM's
# warning signal (--signal=B:USR1@T) or SIGTERM (preemption, scancel); it forwards SIGUSR1 to the step,
# whose ranks stop after the current training step, rank 0 writes a checkpoint, and the driver exits with
# status 3; then the job requeues itself and the restarted job resumes from the newest checkpoint
# (train.resume=auto). A driver exiting 3 on its own (a signal sent to the step directly) requeues too.
ibq_step() {
  local exe preempted=0 pid rc
  exe=$(ibq_driver "$1") || exit 2
  shift
  trap 'preempted=1; ibq_log "signal received: asking the job step to checkpoint and stop"; kill -USR1 "$pid" 2>/dev/null' USR1 TERM
  ibq_log "srun $(basename "$exe") $* (${SLURM_NTASKS:-1} tasks, $ibq_threads threads each)"
  # shellcheck disable=SC2086
  srun --mpi="${IBQ_MPI:-pmix}" --kill-on-bad-exit=1 ${IBQ_SRUN_ARGS:-} "$exe" "$@" &
  pid=$!
  wait "$pid"; rc=$?
  while kill -0 "$pid" 2>/dev/null; do wait "$pid"; rc=$?; done  # wait was cut short by the trap
  trap - USR1 TERM
  if [ "$preempted" = 1 ] || [ "$rc" = 3 ]; then
    ibq_log "stopped with a checkpoint (status $rc); requeueing"
    scontrol requeue "$SLURM_JOB_ID" || { ibq_log "scontrol requeue failed: resubmit the job to continue"; exit 3; }
    exit 0
  fi
  ibq_log "step finished with status $rc"
  return "$rc"
}
