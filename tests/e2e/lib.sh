# Harness for end-to-end tests: one tandem-controller and, per node N (1..3),
# a tandemd and a tandem-satellite on 127.0.0.(10+N), each node with its own
# --root under a scratch directory; driven with the tandem CLI. Sourced by the
# *_test.sh scripts; ctest passes the binaries in TANDEM, TANDEM_CONTROLLER,
# TANDEM_SATELLITE, TANDEMD, TANDEMADM and a base PORT:
#   PORT       REST API of the controller (127.0.0.11)
#   PORT+1     satellites (each on its own address)
#   PORT+10..  TCP ports of resources (TcpPortAutoRange)
#
# Every daemon is started with setsid and a pid file and stopped by that pid
# only. Traffic goes to 127.0.0.0/8 only.
set -euo pipefail

: "${TANDEM:?}" "${TANDEM_CONTROLLER:?}" "${TANDEM_SATELLITE:?}" "${TANDEMD:?}" "${TANDEMADM:?}"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/tandem-e2e.XXXXXX")
PORT=${PORT:-7500}
REST="127.0.0.11:$PORT"
SAT_PORT=$((PORT + 1))
NODES=3
WAIT_POLL_MS=100 # each poll runs the CLI and jq

# shellcheck source=../common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

node_name() { echo "node$1"; }
node_ip() { echo "127.0.0.$((10 + $1))"; }
root_of() { echo "$SCRATCH/n$1"; }
pool_dir() { echo "$SCRATCH/n$1/pool"; }
tandem() { "$TANDEM" --controllers "$REST" "$@"; }
adm() {
  local n=$1
  shift
  "$TANDEMADM" --root "$(root_of "$n")" --node "$(node_name "$n")" "$@"
}

# start_daemon PIDFILE LOG CMD...: setsid in a subshell, so that the daemon is
# not a job of this shell.
start_daemon() {
  local pidfile=$1 logfile=$2
  shift 2
  (setsid "$@" --pid-file "$pidfile" </dev/null >>"$logfile" 2>&1 &)
  local i
  for ((i = 0; i < 200; i++)); do
    [ -s "$pidfile" ] && return 0
    sleep 0.05
  done
  cat "$logfile" >&2
  fail "$1 did not start: $*"
}

stop_pidfile() {
  local pidfile=$1 sig=${2:-TERM} pid i
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  rm -f "$pidfile"
}

start_tandemd() {
  local n=$1 root
  root=$(root_of "$n")
  mkdir -p "$root/run/tandem" "$(pool_dir "$n")"
  # shellcheck disable=SC2086 # TANDEMD_ARGS: extra flags, word-split on purpose
  start_daemon "$root/tandemd.pid" "$root/tandemd.log" \
    "$TANDEMD" --root "$root" --node "$(node_name "$n")" ${TANDEMD_ARGS:-}
  local i
  for ((i = 0; i < 200; i++)); do
    [ -S "$root/run/tandem/tandemd.sock" ] && return 0
    sleep 0.05
  done
  fail "tandemd of node $n has no admin socket"
}

start_satellite() {
  local n=$1 root
  root=$(root_of "$n")
  start_daemon "$root/satellite.pid" "$root/satellite.log" \
    "$TANDEM_SATELLITE" --root "$root" --node "$(node_name "$n")" \
    --listen "$(node_ip "$n"):$SAT_PORT"
}

start_controller() {
  mkdir -p "$SCRATCH/ctl"
  start_daemon "$SCRATCH/ctl/controller.pid" "$SCRATCH/ctl/controller.log" \
    "$TANDEM_CONTROLLER" --root "$SCRATCH/ctl" --rest-listen "$REST"
  wait_for "the controller's REST API" 10 tandem controller version
}

stop_node() {
  stop_pidfile "$(root_of "$1")/satellite.pid" "${2:-TERM}"
  stop_pidfile "$(root_of "$1")/tandemd.pid" "${2:-TERM}"
  local dev
  dev="$(root_of "$1")/run/tandem/dev"
  if grep -q " $dev " /proc/mounts 2>/dev/null; then umount -l "$dev" 2>/dev/null || true; fi
}

# start_cluster [N]: a controller and N nodes (default 3) with tandemd and
# satellite, registered and ONLINE, each with a FILE_THIN pool "pool1".
start_cluster() {
  local n
  NODES=${1:-3}
  start_controller
  tandem controller set-property TcpPortAutoRange "$((PORT + 10))-$((PORT + 49))" >/dev/null
  for ((n = 1; n <= NODES; n++)); do
    start_tandemd $n
    start_satellite $n
    tandem node create "$(node_name $n)" "$(node_ip $n)" --port "$SAT_PORT" >/dev/null
    tandem storage-pool create filethin "$(node_name $n)" pool1 "$(pool_dir $n)" >/dev/null
  done
  for ((n = 1; n <= NODES; n++)); do
    wait_for "node$n ONLINE" 20 node_online "$(node_name $n)"
  done
  wait_for "pool capacities" 20 pools_reported
}

node_online() {
  [ "$(tandem -m node list | jq -r --arg n "$1" '.[0][] | select(.name==$n) | .connection_status')" = ONLINE ]
}
pools_reported() {
  [ "$(tandem -m storage-pool list | jq '[.[0][] | select(.provider_kind=="FILE_THIN" and (.free_capacity // 0) > 0)] | length')" = "$NODES" ]
}

# The view of one resource: rsc_json RES NODE
rsc_json() {
  tandem -m resource list -r "$1" | jq --arg n "$2" '.[0][] | select(.node_name==$n)'
}
disk_state_of() { rsc_json "$1" "$2" | jq -r '.volumes[0].state.disk_state'; }
# Nodes holding RES, with the disk state: "node1=UpToDate node2=UpToDate ..."
states_of() {
  tandem -m resource list -r "$1" | jq -r '[.[0][] | "\(.node_name)=\(.volumes[0].state.disk_state)"] | sort | join(" ")'
}
count_state() {
  tandem -m resource list -r "$1" | jq --arg s "$2" '[.[0][] | select(.volumes[0].state.disk_state==$s)] | length'
}
nodes_in_state() {
  tandem -m resource list -r "$1" | jq -r --arg s "$2" '[.[0][] | select(.volumes[0].state.disk_state==$s) | .node_name] | sort | join(" ")'
}
nbd_uri_of() { rsc_json "$1" "$2" | jq -r '.volumes[0].nbd_uri'; }


dump_state() {
  local n
  echo "--- tandem r l" >&2
  tandem resource list >&2 2>&1 || true
  tandem node list >&2 2>&1 || true
  echo "--- controller log (tail)" >&2
  tail -n 30 "$SCRATCH/ctl/controller.log" >&2 2>/dev/null || true
  for ((n = 1; n <= NODES; n++)); do
    echo "--- node $n: tandemadm status" >&2
    adm $n status >&2 2>&1 || true
    echo "--- node $n: satellite log (tail)" >&2
    tail -n 20 "$(root_of $n)/satellite.log" >&2 2>/dev/null || true
    echo "--- node $n: tandemd log (tail)" >&2
    tail -n 20 "$(root_of $n)/tandemd.log" >&2 2>/dev/null || true
  done
}

cleanup() {
  local n
  for ((n = 1; n <= NODES; n++)); do stop_node $n KILL; done
  stop_pidfile "$SCRATCH/ctl/controller.pid" KILL
  if [ "${KEEP_SCRATCH:-0}" = 1 ]; then
    echo "scratch kept in $SCRATCH" >&2
  else
    rm -rf "$SCRATCH"
  fi
}
trap cleanup EXIT

# Predicates for wait_for (evaluated on every poll).
count_is() { [ "$(count_state "$1" "$2")" = "$3" ]; }
disk_state_is() { [ "$(disk_state_of "$1" "$2")" = "$3" ]; }
in_use_is() { [ "$(rsc_json "$1" "$2" | jq -r .state.in_use)" = "$3" ]; }

# same_prefix URI FILE: the first bytes of the volume behind URI equal FILE.
same_prefix() {
  local out="$SCRATCH/read.$$"
  nbdcopy "$1" "$out" && cmp -n "$(stat -c %s "$2")" "$out" "$2"
  local rc=$?
  rm -f "$out"
  return $rc
}
ro_uri() { echo "${1/\?/:ro?}"; }
node_status_is() {
  [ "$(tandem -m node list | jq -r --arg n "$1" '.[0][] | select(.name==$n) | .connection_status')" = "$2" ]
}
restart_node() {
  start_tandemd "$1"
  start_satellite "$1"
}
# spawn RES SIZE: a 2-replica resource from group grp (created on first use),
# waited for until both replicas are UpToDate.
spawn() {
  if ! tandem -m resource-group list | jq -e '.[0][] | select(.name=="grp")' >/dev/null; then
    tandem resource-group create grp --place-count 2 --storage-pool pool1 >/dev/null
    tandem volume-group create grp >/dev/null
  fi
  tandem resource-group spawn-resources grp "$1" "$2" >/dev/null
  wait_for "two UpToDate replicas of $1" 60 count_is "$1" UpToDate 2
}
# Bytes node N's disk of RES wrote since its tandemd started.
bytes_written() {
  adm "$1" stats "$2" | jq '.[0].disks[0].bytes_written'
}
# Both replicas hold the same data (whole volumes, read-only over NBD).
replicas_identical() {
  local res=$1 a=$2 b=$3
  nbdcopy "$(ro_uri "$(nbd_uri_of "$res" "$a")")" "$SCRATCH/$a.img" &&
    nbdcopy "$(ro_uri "$(nbd_uri_of "$res" "$b")")" "$SCRATCH/$b.img" &&
    cmp "$SCRATCH/$a.img" "$SCRATCH/$b.img"
  local rc=$?
  rm -f "$SCRATCH/$a.img" "$SCRATCH/$b.img"
  return $rc
}
# nodes_of RES: A and B become the nodes of RES's UpToDate replicas, C its
# tiebreaker's.
nodes_of() {
  read -r A B <<<"$(nodes_in_state "$1" UpToDate)"
  C=$(nodes_in_state "$1" TieBreaker)
}
nodes_in_state_are() { [ "$(nodes_in_state "$1" "$2")" = "$3" ]; }
# sorted WORD...: the words sorted, space-separated (as nodes_in_state prints).
sorted() { printf '%s\n' "$@" | sort | xargs; }
