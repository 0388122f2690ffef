# Harness for data-plane tests: tandemd nodes on 127.0.0.(10+N), each with its
# own --root under a scratch directory, driven with tandemadm and real NBD
# clients. Sourced by the *_test.sh scripts; ctest passes the binaries in
# TANDEMD, TANDEMADM and BLOCKCHECK.
#
# Every daemon is started with setsid and a pid file and stopped by that pid
# only. Traffic goes to 127.0.0.0/8 only.
set -euo pipefail

: "${TANDEMD:?}" "${TANDEMADM:?}"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/tandem-dp.XXXXXX")
NODES=0
PORT=${PORT:-7000}
VOLUME_SIZE=${VOLUME_SIZE:-64M}

# shellcheck source=../common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

node_name() { echo "node$1"; }
node_ip() { echo "127.0.0.$((10 + $1))"; }
root_of() { echo "$SCRATCH/n$1"; }
disk_of() { echo "$SCRATCH/n$1/disk${2:-0}.img"; }
nbd_sock() { echo "$(root_of "$1")/run/tandem/nbd/${2:-r0}-${3:-0}.sock"; }
# A URI for libnbd tools; export "" (the volume's own socket, read-write).
nbd_uri() { echo "nbd+unix:///?socket=$(nbd_sock "$1" "${2:-r0}" "${3:-0}")"; }
nbd_uri_ro() { echo "nbd+unix:///${2:-r0}/${3:-0}:ro?socket=$(nbd_sock "$1" "${2:-r0}" "${3:-0}")"; }

adm() {
  local n=$1
  shift
  "$TANDEMADM" --root "$(root_of "$n")" --node "$(node_name "$n")" "$@"
}

# write_res N [extra lines inside the resource]: an r0 for nodes 0..N-1, or
# for the nodes listed in RES_NODES ("0 2": a changed node set), written to
# the config of every node 0..N-1; NET_OPTS adds options to its net section.
write_res() {
  local count=$1 extra=${2:-} i
  local members=${RES_NODES:-$(seq -s ' ' 0 $((count - 1)))}
  NODES=$count
  for ((i = 0; i < count; i++)); do
    mkdir -p "$(root_of "$i")/etc/tandem/resources.d"
    if [ "${PREALLOC:-0}" = 1 ]; then
      fallocate -l "$VOLUME_SIZE" "$(disk_of "$i")"  # as the FILE provider does
    else
      truncate -s "$VOLUME_SIZE" "$(disk_of "$i")"
    fi
  done
  for ((i = 0; i < count; i++)); do
    {
      echo "resource r0 {"
      echo "  net { protocol C; shared-secret \"tandem-test\"; cram-hmac-alg sha256; ${NET_OPTS:-} }"
      echo "  $extra"
      local j
      for j in $members; do
        echo "  on $(node_name "$j") {"
        echo "    node-id $j;"
        echo "    address $(node_ip "$j"):$PORT;"
        echo "    volume 0 { device minor 0; disk $(disk_of "$j"); meta-disk internal; }"
        echo "  }"
      done
      echo "}"
    } >"$(root_of "$i")/etc/tandem/resources.d/r0.res"
  done
}

start_node() {
  local n=$1 root
  root=$(root_of "$n")
  mkdir -p "$root/run/tandem"
  # In a subshell, so the daemon is not a job of this shell.
  (setsid "$TANDEMD" --root "$root" --node "$(node_name "$n")" --enable-faults \
    --pid-file "$root/tandemd.pid" ${TANDEMD_ARGS:-} </dev/null >>"$root/tandemd.log" 2>&1 &)
  local i
  for ((i = 0; i < 200; i++)); do
    [ -S "$root/run/tandem/tandemd.sock" ] && [ -s "$root/tandemd.pid" ] && return 0
    sleep 0.05
  done
  cat "$root/tandemd.log" >&2
  fail "tandemd on node $n did not start"
}

# up_nodes N: create-md (with CREATE_MD_ARGS), start and up r0 on nodes 0..N-1, wait until
# connected.
up_nodes() {
  local count=$1 n
  for ((n = 0; n < count; n++)); do
    adm $n create-md r0 ${CREATE_MD_ARGS:-}
    start_node $n
    adm $n up r0
  done
  [ "$count" -lt 2 ] || adm 0 wait-connect r0 --timeout 20 || fail "nodes did not connect"
}

# up_synced N: up_nodes, then skip the initial sync (the disks are all zero).
up_synced() {
  local n
  up_nodes "$1"
  adm 0 new-current-uuid r0 --clear-bitmap
  for ((n = 1; n < $1; n++)); do adm $n wait-sync r0 --timeout 30 || fail "node $n not UpToDate"; done
}

pid_of() { cat "$(root_of "$1")/tandemd.pid" 2>/dev/null || true; }

# stop_node N [SIGNAL]: stop our own daemon by its pid and wait for it.
stop_node() {
  local n=$1 sig=${2:-TERM} pid
  pid=$(pid_of "$n")
  if [ -n "$pid" ]; then
    kill "-$sig" "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 200; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    rm -f "$(root_of "$n")/tandemd.pid"
  fi
  # A killed daemon leaves its FUSE mount dead; detach it lazily.
  local dev
  dev="$(root_of "$n")/run/tandem/dev"
  if grep -q " $dev " /proc/mounts 2>/dev/null; then umount -l "$dev" 2>/dev/null || true; fi
}
kill_node() { stop_node "$1" KILL; }

dump_state() {
  local i
  for ((i = 0; i < NODES; i++)); do
    echo "--- node $i status" >&2
    adm "$i" status >&2 2>&1 || true
    adm "$i" --json status >&2 2>&1 || true
    echo "--- node $i log (tail)" >&2
    tail -n 30 "$(root_of "$i")/tandemd.log" >&2 2>/dev/null || true
  done
}

cleanup() {
  local i
  for ((i = 0; i < NODES; i++)); do stop_node "$i" KILL; done
  if [ "${KEEP_SCRATCH:-0}" = 1 ]; then
    echo "scratch kept in $SCRATCH" >&2
  else
    rm -rf "$SCRATCH"
  fi
}
trap cleanup EXIT

# Status field of the resource as JSON, through python for robustness.
status_json() { adm "$1" --json status r0; }
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin)[0]; print(eval(sys.argv[1]))" "$1"; }

role_of() { status_json "$1" | json_get 'd["role"]'; }
disk_state() { status_json "$1" | json_get 'd["volumes"][0]["disk"]'; }
volume_size() { status_json "$1" | json_get 'd["volumes"][0]["size"]'; }


# The data area of node N's backing file (internal metadata sits behind it).
data_sha() {
  local n=$1 size
  size=$(volume_size "$n")
  head -c "$size" "$(disk_of "$n")" | sha256sum | cut -d' ' -f1
}

# Bytes a node's disk has written so far (resync accounting).
bytes_written() {
  adm "$1" stats r0 | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['disks'][0]['bytes_written'])"
}
