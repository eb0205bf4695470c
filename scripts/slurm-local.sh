#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the test that submits
# docs/slurm/sweep.sbatch (cmd/lenetkit/slurm_test.go). Needs root and
# Debian's slurm-wlm and munge. Running it again while the cluster is up
# changes nothing. Prints one line saying what it did.
set -euo pipefail

conf=${SLURM_CONF:-/etc/slurm/slurm.conf}
marker="# written by lenetkit's scripts/slurm-local.sh"
node=$(hostname -s)
state=/var/lib/slurm
logs=/var/log/slurm

die() { echo "slurm-local: $*" >&2; exit 1; }

# alive PIDFILE: the process the file names is running.
alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_state() { sinfo -h -N -n "$node" -o %t 2>/dev/null | head -n1; }

[[ $(id -u) == 0 ]] || die "needs root (it starts munged, slurmctld and slurmd); run it with sudo"
for cmd in munged slurmctld slurmd sinfo; do
  command -v "$cmd" >/dev/null || die "$cmd not found; install Debian's slurm-wlm and munge (apt-get install slurm-wlm munge)"
done

if alive /run/munge/munged.pid && alive /run/slurmctld.pid && alive /run/slurmd.pid &&
  [[ $(node_state) =~ ^(idle|mix|alloc)$ ]]; then
  echo "slurm-local: already up: node $node $(node_state), $conf"
  exit 0
fi

# A slurm.conf this script did not write belongs to a real cluster.
if [[ -e $conf ]] && ! grep -qxF "$marker" "$conf"; then
  die "$conf exists and was not written by this script; move it away, or set SLURM_CONF to another path (for this script and for sbatch)"
fi

did=()

# Debian's package makes the key at install time; a bare image may lack it.
if [[ ! -s /etc/munge/munge.key ]]; then
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  did+=("created the munge key")
fi
if ! alive /run/munge/munged.pid; then
  # Without systemd nothing makes munged's runtime directory.
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- munged
  did+=("started munged")
fi

# The node's CPUs and memory as slurmd sees them; a larger figure than the
# real one would leave the node drained as "low RealMemory".
hw=$(slurmd -C | head -n1 | sed 's/^NodeName=[^ ]* //')

install -d -m 0755 "$(dirname "$conf")"
install -d -o slurm -g slurm -m 0755 "$state/slurmctld" "$logs"
install -d -m 0755 "$state/slurmd"
cat >"$conf.new" <<EOF
$marker
ClusterName=lenetkit
SlurmctldHost=$node(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$state/slurmctld
SlurmdSpoolDir=$state/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
# No cgroups: containers and CI machines rarely delegate them.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# Cores only: with memory consumable too, a job that names no --mem takes
# the whole node's and the array's tasks would run one at a time.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# A node back after a restart takes jobs again without an scontrol.
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
NodeName=$node NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$conf
if cmp -s "$conf.new" "$conf"; then
  rm "$conf.new"
else
  mv "$conf.new" "$conf"
  did+=("wrote $conf")
  # Daemons still up from before read the old file until told.
  if alive /run/slurmctld.pid && scontrol reconfigure; then did+=("reconfigured slurmctld"); fi
fi
if ! alive /run/slurmctld.pid; then
  slurmctld -f "$conf"
  did+=("started slurmctld")
fi
if ! alive /run/slurmd.pid; then
  slurmd -f "$conf"
  did+=("started slurmd")
fi

for _ in $(seq 60); do
  s=$(node_state)
  [[ $s =~ ^(idle|mix|alloc)$ ]] && break
  # A node the controller remembers as down from an earlier run.
  if [[ $s =~ ^(down|drain|drng)$ && ! " ${did[*]} " =~ " resumed " ]] && scontrol update NodeName="$node" State=RESUME 2>/dev/null; then
    did+=("resumed node $node")
  fi
  sleep 1
done
s=$(node_state)
[[ $s =~ ^(idle|mix|alloc)$ ]] ||
  die "node $node is ${s:-unknown to sinfo} after 60 s, not idle; see $logs/slurmctld.log and $logs/slurmd.log"

[[ ${#did[@]} -gt 0 ]] || did=("waited for node $node")
what=$(printf '%s, ' "${did[@]}")
echo "slurm-local: ${what%, }; node $node $s, $conf"
