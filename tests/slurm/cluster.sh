#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the cluster test (tests/slurm/test_slurm.py).
#
#   tests/slurm/cluster.sh can-install   exit 0 if this machine can run it (root; the packages, or apt-get)
#   tests/slurm/cluster.sh install       Debian's slurmctld, slurmd, slurm-client, slurmdbd, munge, mariadb-server
#   tests/slurm/cluster.sh start         write the configuration, start the daemons (nothing twice)
#   tests/slurm/cluster.sh stop          stop the daemons this script started, by their PIDs
#   tests/slurm/cluster.sh status        exit 0 if every daemon runs and the node takes jobs
#
# No systemd: munged, mariadbd, slurmdbd, slurmctld and slurmd are started by hand and their PIDs kept in
# $JETTAG_SLURM_STATE (default /var/lib/jettag-slurm), with their output. No cgroups: processes are tracked
# with proctrack/linuxproc. Accounting (slurmdbd on MariaDB) is on, because the Snakemake executor asks
# `sacct` for the jobs' states whenever `sacct` is installed. The node is this machine, named localhost;
# two partitions share it: `cpu` (the default) and `gpu` (no GPUs here: it only checks the routing).
# The configuration goes to /etc/slurm: `srun` inside a job step reads the default path. A slurm.conf
# that this script did not write is never replaced.
set -euo pipefail

STATE="${JETTAG_SLURM_STATE:-/var/lib/jettag-slurm}"
PIDS="$STATE/pids"
CLUSTER=jettag
MARK="# written by jettag tests/slurm/cluster.sh"
DB_PASSWORD=jettag-slurmdbd
PACKAGES="slurmctld slurmd slurm-client slurmdbd munge mariadb-server"
DAEMONS="munged mariadbd slurmdbd slurmctld slurmd"

log() { printf '[cluster.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "$*"; exit 1; }

# a PID file's process is alive if it exists and is not a zombie
alive() { [ -s "$1" ] && ps -o stat= -p "$(cat "$1")" 2>/dev/null | grep -qv '^Z'; }

wait_for() { # wait_for SECONDS COMMAND...
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$end" ] && return 1
    sleep 0.5
  done
}

missing_packages() {
  local p missing=""
  for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  echo "$missing"
}

# starting the daemons needs root as much as installing them does
can_install() {
  [ "$(id -u)" = 0 ] || { echo "not root: cannot install and start Slurm's daemons"; return 1; }
  command -v dpkg-query >/dev/null || { echo "no dpkg: not a Debian machine"; return 1; }
  [ -z "$(missing_packages)" ] && return 0
  command -v apt-get >/dev/null || { echo "no apt-get: cannot install$(missing_packages)"; return 1; }
}

do_install() {
  local missing; missing="$(missing_packages)"
  [ -z "$missing" ] && return 0
  local reason; reason="$(can_install)" || die "$reason"
  log "apt-get install$missing"
  apt-get update -qq
  # the packages' postinst scripts try to start the services and are refused (no init system): harmless
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  [ -z "$(missing_packages)" ] || die "still missing after apt-get:$(missing_packages)"
}

write_config() {
  if [ -e /etc/slurm/slurm.conf ] && ! grep -qF "$MARK" /etc/slurm/slurm.conf; then
    die "/etc/slurm/slurm.conf exists and was not written by this script: leaving it (and this machine) alone"
  fi
  mkdir -p "$STATE" "$PIDS" /etc/slurm /run/slurm /var/log/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
  local cpus memory
  cpus="$(nproc)"
  # what slurmd finds, less a margin, or it marks the node invalid
  memory="$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.85}' /proc/meminfo)"
  cat > "$STATE/slurm.conf" <<EOF
$MARK
ClusterName=$CLUSTER
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
# sacct shows each job's comment: the Snakemake executor writes the rule and wildcards there
AccountingStoreFlags=job_comment
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
EOF
  cat > "$STATE/slurmdbd.conf" <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurm/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASSWORD
StorageLoc=slurm_acct_db
EOF
  # restart what runs on an older configuration
  if ! cmp -s "$STATE/slurm.conf" /etc/slurm/slurm.conf || ! cmp -s "$STATE/slurmdbd.conf" /etc/slurm/slurmdbd.conf
  then
    do_stop
    install -m 644 "$STATE/slurm.conf" /etc/slurm/slurm.conf
    # slurmdbd starts only with its configuration private to SlurmUser
    install -m 600 -o root -g root "$STATE/slurmdbd.conf" /etc/slurm/slurmdbd.conf
  fi
}

start_munged() {
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --force
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  if ! alive "$PIDS/munged.pid"; then
    runuser -u munge -- /usr/sbin/munged   # forks, and writes its PID
    wait_for 20 sh -c 'munge -n | unmunge' || die "munged does not answer"
    cp /run/munge/munged.pid "$PIDS/munged.pid"
  fi
}

start_mariadb() {
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld
  if ! alive "$PIDS/mariadbd.pid"; then
    nohup /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --innodb-buffer-pool-size=128M \
      > "$STATE/mariadbd.out" 2>&1 &
    echo $! > "$PIDS/mariadbd.pid"
    wait_for 60 mariadb-admin ping || { tail "$STATE/mariadbd.out" >&2; die "mariadbd did not start"; }
  fi
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

start_daemon() { # start_daemon NAME COMMAND...: in the foreground (-D), in the background of this shell
  local name=$1; shift
  alive "$PIDS/$name.pid" && return 0
  nohup "$@" > "$STATE/$name.out" 2>&1 &
  echo $! > "$PIDS/$name.pid"
}

node_takes_jobs() { sinfo -h -n localhost -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated|completing)'; }

do_start() {
  local t0=$SECONDS
  do_install
  write_config
  start_munged
  start_mariadb
  start_daemon slurmdbd /usr/sbin/slurmdbd -D
  wait_for 60 sh -c "grep -q 'slurmdbd version .* started' '$STATE/slurmdbd.out'" \
    || { tail "$STATE/slurmdbd.out" >&2; die "slurmdbd did not start"; }
  start_daemon slurmctld /usr/sbin/slurmctld -D -f /etc/slurm/slurm.conf
  # the machine's hostname is not the node's name
  start_daemon slurmd /usr/sbin/slurmd -D -N localhost -f /etc/slurm/slurm.conf
  wait_for 60 node_takes_jobs || { sinfo -N -l >&2 || true; tail "$STATE"/slurm*.out >&2; die "node not up"; }
  # slurmctld registers the cluster (and root's account) in slurmdbd by itself
  wait_for 60 sh -c "sacctmgr -n -P list cluster format=cluster | grep -qx $CLUSTER" \
    || die "cluster $CLUSTER not registered in slurmdbd"
  log "up in $((SECONDS - t0)) s: $(sinfo -h -o '%P %D %T %c cpus %m MB' | paste -sd ';' -)"
}

do_stop() {
  local d f pid
  for d in slurmd slurmctld slurmdbd mariadbd munged; do
    f="$PIDS/$d.pid"
    if alive "$f"; then
      pid="$(cat "$f")"
      kill "$pid"
      wait_for 30 sh -c "! ps -o stat= -p $pid | grep -qv '^Z'" || { log "$d ($pid) still alive: SIGKILL"; kill -9 "$pid"; }
      log "stopped $d ($pid)"
    fi
    rm -f "$f"
  done
}

do_status() {
  local d ok=0
  for d in $DAEMONS; do
    if alive "$PIDS/$d.pid"; then echo "$d: running ($(cat "$PIDS/$d.pid"))"; else echo "$d: not running"; ok=1; fi
  done
  [ "$ok" = 0 ] && node_takes_jobs
}

case "${1:-}" in
  can-install) can_install ;;
  install) do_install ;;
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  *) echo "usage: $0 can-install|install|start|stop|status" >&2; exit 2 ;;
esac
