#!/usr/bin/env bash
# Rebuild benchmark (issue 5; users-and-perf.md: a Longhorn replica rebuild can
# take days): how fast does a replica come back, fully and partially?
#
#   bench/rebuild.sh BUILD_DIR        (or BIN_DIR=DIR bench/rebuild.sh)
#   env: SIZE (volume, default 512M), PORT (default 22000), RECORD=0 (do not
#        write bench/results/), KEEP_SCRATCH=1, PROPS="KEY=VALUE ..." (controller
#        properties set first, e.g. DrbdOptions/PeerDevice/c-fill-target=2048)
#
# A controller and four nodes (tandemd + satellite each) on 127.0.0.11-14, as
# tests/e2e/lib.sh starts them; vol1 of SIZE with 2 replicas (FILE_THIN),
# filled with random data. Measured, side by side:
#   - baseline: nbdcopy of the data file to a plain file (the local disk)
#   - replicated write: nbdcopy of the data file into vol1 over NBD
#   - full rebuild: `r create --auto-place +1`, time until the new replica is
#     UpToDate (it syncs from each UpToDate peer in turn: see docs/architecture.md)
#   - partial rebuild: a Secondary killed (-9), 1% of the volume rewritten,
#     restarted: time until in sync, bytes its disk wrote
#   - evacuation: `node evacuate` of a replica's node, time until it is off
# Prints a Markdown table; with RECORD=1 appends it to bench/results/DATE-rebuild.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${1:-}
COMMAND="bench/rebuild.sh"
if [ -n "${BIN_DIR:-}" ]; then
  COMMAND="BIN_DIR=DIR $COMMAND"
else
  [ -n "$BUILD" ] || { echo "usage: $0 BUILD_DIR  (or BIN_DIR=DIR $0)" >&2; exit 2; }
  COMMAND="$COMMAND BUILD_DIR"
  BIN_DIR=$BUILD/apps
fi
BIN_DIR=$(cd "$BIN_DIR" && pwd)
export TANDEM=$BIN_DIR/tandem TANDEM_CONTROLLER=$BIN_DIR/tandem-controller \
  TANDEM_SATELLITE=$BIN_DIR/tandem-satellite TANDEMD=$BIN_DIR/tandemd TANDEMADM=$BIN_DIR/tandemadm
export PORT=${PORT:-22000}
SIZE=${SIZE:-512M}
RECORD=${RECORD:-1}
[ -z "${SIZE//[0-9]/}" ] || [ "${SIZE%M}" != "$SIZE" ] || { echo "SIZE in M, e.g. 512M" >&2; exit 2; }
MIB=${SIZE%M}

BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/rebuild.XXXXXX")
export TMPDIR=$BENCH_TMP
source "$ROOT/tests/e2e/lib.sh"
finish() {
  cleanup
  [ "${KEEP_SCRATCH:-0}" = 1 ] || rm -rf "$BENCH_TMP"
}
trap finish EXIT
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
rate() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.0f", m / s }'; }

start_cluster 4
for kv in ${PROPS:-}; do
  tandem controller set-property "${kv%%=*}" "${kv#*=}" >/dev/null
  COMMAND="$COMMAND (controller property $kv)"
done
tandem resource-group create grp --place-count 2 --storage-pool pool1 >/dev/null
tandem volume-group create grp >/dev/null
tandem resource-group spawn-resources grp vol1 "$SIZE" >/dev/null
wait_for "two UpToDate replicas" 60 count_is vol1 UpToDate 2
read -r A B <<<"$(nodes_in_state vol1 UpToDate)"
usable=$(adm "${A#node}" --json status vol1 | jq '.[0].volumes[0].size')
head -c "$usable" /dev/urandom >"$SCRATCH/data"

t0=$(now)
nbdcopy "$SCRATCH/data" "$SCRATCH/copy"
sync -f "$SCRATCH/copy"
t_local=$(elapsed "$t0" "$(now)")
rm -f "$SCRATCH/copy"
t0=$(now)
nbdcopy "$SCRATCH/data" "$(nbd_uri_of vol1 "$A")"
t_write=$(elapsed "$t0" "$(now)")
log "local copy ${t_local}s, replicated write ${t_write}s"

t0=$(now)
tandem resource create vol1 --auto-place +1 >/dev/null
wait_for "three UpToDate replicas" 3600 count_is vol1 UpToDate 3
t_full=$(elapsed "$t0" "$(now)")
read -r X Y Z <<<"$(nodes_in_state vol1 UpToDate)"
NEW=""
for n in $X $Y $Z; do [ "$n" = "$A" ] || [ "$n" = "$B" ] || NEW=$n; done
log "full rebuild on $NEW ${t_full}s"

b=${B#node}
stop_node "$b" KILL
wait_for "$B OFFLINE" 30 node_status_is "$B" OFFLINE
cmds=()
changed=0
for ((off = 0; changed + 65536 <= usable / 100; off += usable / 160 / 4096 * 4096)); do
  cmds+=(-c "write -P 0x5a $off 64k")
  changed=$((changed + 65536))
done
qemu-io -f raw "${cmds[@]}" "$(nbd_uri_of vol1 "$A")" >/dev/null
t0=$(now)
restart_node "$b"
adm "$b" wait-sync vol1 --timeout 600 >/dev/null
adm "${A#node}" wait-sync vol1 --timeout 600 >/dev/null
t_part=$(elapsed "$t0" "$(now)")
moved=$(bytes_written "$b" vol1)
log "partial rebuild ${t_part}s, $moved bytes written for $changed changed"

t0=$(now)
tandem node evacuate "$NEW" >/dev/null
wait_for "vol1 off $NEW" 3600 test ! -e "$(root_of "${NEW#node}")/etc/tandem/resources.d/vol1.res"
t_evac=$(elapsed "$t0" "$(now)")
log "evacuation of $NEW ${t_evac}s"
replicas_identical vol1 "$A" "$B" || fail "replicas differ at the end"

table="$SCRATCH/table.md"
{
  echo "| $MIB MiB volume, 2 replicas (FILE_THIN, loopback) | time | MiB/s |"
  echo "|---|---|---|"
  echo "| baseline: nbdcopy file -> file (local disk) | ${t_local} s | $(rate "$MIB" "$t_local") |"
  echo "| replicated write: nbdcopy -> vol1 over NBD (protocol C) | ${t_write} s | $(rate "$MIB" "$t_write") |"
  echo "| full rebuild: \`r create --auto-place +1\` until UpToDate | ${t_full} s | $(rate "$MIB" "$t_full") |"
  echo "| partial rebuild: kill -9, 1% rewritten ($changed B), restart until in sync; wrote $moved B | ${t_part} s | |"
  echo "| evacuation: \`node evacuate\` until the replica is off the node | ${t_evac} s | $(rate "$MIB" "$t_evac") |"
} >"$table"
cat "$table"
if [ "$RECORD" = 1 ]; then
  source "$HERE/record.sh"
  record_result "$ROOT" rebuild "$COMMAND" "$table"
fi
