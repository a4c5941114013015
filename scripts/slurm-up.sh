#!/usr/bin/env bash
# Bring up a one-node Slurm cluster on this machine, for the cluster tests (test/cluster/) and to
# try `ntk sweep --slurm` by hand. Needs root and Debian's slurm-wlm and munge packages.
#
#   eval "$(scripts/slurm-up.sh DIR)"   # starts munged, slurmctld, slurmd; prints the variables
#   ...                                 # SLURM_CONF=DIR/slurm.conf sbatch …
#   kill $NTK_SLURM_PIDS                # stops what it started (by pid)
#
# It writes DIR/slurm.conf (this host as the only node, ProctrackType=proctrack/pgid,
# TaskPlugin=task/none, SlurmUser=root, state and logs under DIR), starts the daemons in the
# foreground mode (-D) in the background, and waits until the node takes jobs. On stdout: shell
# assignments NTK_SLURM_PIDS (munged's too when this script started it) and SLURM_CONF. On
# failure: the reason on stderr and exit 1, with whatever it started stopped again.
set -euo pipefail
dir=${1:?usage: slurm-up.sh DIR}
mkdir -p "$dir/spool/ctld" "$dir/spool/d" "$dir/log" "$dir/run"
dir=$(cd "$dir" && pwd)
fail() { echo "slurm-up: $*" >&2; [ -n "${pids:-}" ] && kill $pids 2>/dev/null; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (munged --force and slurmd run as root here)"
for b in munged munge unmunge slurmctld slurmd sbatch sinfo; do command -v $b >/dev/null || fail "$b is not installed (apt-get install slurm-wlm munge)"; done
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ { print int($2 / 1024 / 2) }' /proc/meminfo)
cat > "$dir/slurm.conf" <<CONF
ClusterName=ntk
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=$((6817 + RANDOM % 1000))
SlurmdPort=$((7817 + RANDOM % 1000))
AuthType=auth/munge
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
StateSaveLocation=$dir/spool/ctld
SlurmdSpoolDir=$dir/spool/d
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MaxArraySize=10001
MinJobAge=600
KillWait=5
InactiveLimit=0
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
export SLURM_CONF=$dir/slurm.conf
pids=
# munged: started (and later stopped) only when no munged answers already
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge
  munged --force --pid-file="$dir/run/munged.pid" || fail "munged did not start"
  for i in $(seq 1 50); do [ -s "$dir/run/munged.pid" ] && break; sleep 0.1; done
  pids="$(cat "$dir/run/munged.pid" 2>/dev/null || true)"
  munge -n </dev/null | unmunge >/dev/null 2>&1 || fail "munged started but does not answer"
fi
slurmctld -D -i >"$dir/log/slurmctld.stdout" 2>&1 &
pids="$pids $!"
slurmd -D >"$dir/log/slurmd.stdout" 2>&1 &
pids="$pids $!"
for i in $(seq 1 100); do
  state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
  case "$state" in idle*|mix*|alloc*) break ;; esac
  sleep 0.1
done
case "$state" in
  idle*|mix*|alloc*) ;;
  *) fail "the node did not become idle (state '${state:-unknown}'); see $dir/log/slurmctld.log and slurmd.log: $(tail -n 3 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" 2>/dev/null | tr '\n' ' ')" ;;
esac
echo "NTK_SLURM_PIDS='${pids# }'"
echo "SLURM_CONF='$SLURM_CONF'"
