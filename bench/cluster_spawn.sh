#!/usr/bin/env bash
# Control-plane benchmark (issue 5): how fast does a 3-node cluster spawn many
# small 2-replica resources and bring them all to UpToDate?
#
#   bench/cluster_spawn.sh [N] [BUILD_DIR]
#
#   N          resources to spawn (default 1000)
#   BUILD_DIR  a CMake build dir; binaries in BUILD_DIR/apps (as for ctest).
#              Or BIN_DIR=DIR with all binaries flat in DIR.
#   env:       PORT (base port, default 21000), SIZE (default 4M),
#              TIMEOUT_S (wait for UpToDate, default 600),
#              RECORD=0 (do not write bench/results/), KEEP_SCRATCH=1
#
# One tandem-controller (REST on 127.0.0.11:PORT) and three nodes, each a
# tandemd and a tandem-satellite on 127.0.0.1{1,2,3}, started and registered
# as in tests/e2e/lib.sh (whose helpers this script sources). Then
#   tandem rg create grp --place-count 2 --storage-pool pool1; tandem vg create grp
# and N spawns (POST /v1/resource-groups/grp/spawn with curl, one request
# after the other). Measured:
#   - wall time of the spawn requests (spawns/s)
#   - time from the first spawn until every diskful volume is UpToDate
#     (GET /v1/view/resources every second, counting state.disk_state)
#   - latency of GET /v1/view/resources at the end (p50/p99 of 20 calls)
#   - VmRSS of every daemon, CPU seconds (utime+stime) of every satellite and
#     tandemd, and per-resource cost on each satellite
# Prints a Markdown table; with RECORD=1 (default) appends it, with date,
# machine, commit and command, to bench/results/DATE-cluster-spawn.md.
# Every daemon is started with setsid and a pid file and stopped by that pid.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
N=${1:-1000}
BUILD=${2:-}
COMMAND="bench/cluster_spawn.sh $N"
BINARIES=""
if [ -n "${BIN_DIR:-}" ]; then
  COMMAND="BIN_DIR=DIR $COMMAND"
  BINARIES=" (prebuilt binaries from BIN_DIR, not built from this tree by the script)"
else
  COMMAND="$COMMAND BUILD_DIR"
  [ -n "$BUILD" ] || { echo "usage: $0 [N] BUILD_DIR  (or BIN_DIR=DIR $0 [N])" >&2; exit 2; }
  BIN_DIR=$BUILD/apps
fi
BIN_DIR=$(cd "$BIN_DIR" && pwd)
for b in tandem tandem-controller tandem-satellite tandemd tandemadm; do
  [ -x "$BIN_DIR/$b" ] || { echo "no executable $BIN_DIR/$b" >&2; exit 2; }
done
export TANDEM=$BIN_DIR/tandem TANDEM_CONTROLLER=$BIN_DIR/tandem-controller \
  TANDEM_SATELLITE=$BIN_DIR/tandem-satellite TANDEMD=$BIN_DIR/tandemd TANDEMADM=$BIN_DIR/tandemadm
export PORT=${PORT:-21000}
SIZE=${SIZE:-4M}
TIMEOUT_S=${TIMEOUT_S:-600}
RECORD=${RECORD:-1}

# Each resource holds sockets (peer links, NBD unix sockets) in tandemd.
want_fds=$((N * 8 + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
  ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi

# lib.sh makes its scratch dir under TMPDIR: give it one of our own.
BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cluster-spawn.XXXXXX")
export TMPDIR=$BENCH_TMP
source "$ROOT/tests/e2e/lib.sh"
TOP_PID=""
finish() {
  if [ -n "$TOP_PID" ]; then kill "$TOP_PID" 2>/dev/null || true; fi
  cleanup
  [ "${KEEP_SCRATCH:-0}" = 1 ] || rm -rf "$BENCH_TMP"
}
trap finish EXIT
URL="http://$REST"
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# As lib.sh's start_cluster, but with a TcpPortAutoRange big enough for N.
log "starting controller and 3 nodes (binaries in $BIN_DIR, scratch $SCRATCH)"
start_controller
tandem controller set-property TcpPortAutoRange "$((PORT + 10))-$((PORT + 10 + N + 100))" >/dev/null
for n in 1 2 3; do
  start_tandemd $n
  start_satellite $n
  tandem node create "$(node_name $n)" "$(node_ip $n)" --port "$SAT_PORT" >/dev/null
  tandem storage-pool create filethin "$(node_name $n)" pool1 "$(pool_dir $n)" >/dev/null
done
for n in 1 2 3; do wait_for "node$n ONLINE" 20 node_online "$(node_name $n)"; done
wait_for "pool capacities" 20 pools_reported

tandem resource-group create grp --place-count 2 --storage-pool pool1 >/dev/null
tandem volume-group create grp >/dev/null
SIZE_KIB=$(numfmt --from=iec "$SIZE")
SIZE_KIB=$((SIZE_KIB / 1024))

# Samples of top while the cluster works, for the report.
TOPLOG=$SCRATCH/top.log
(
  while :; do
    echo "--- $(date +%T)"
    top -b -n1 -w 200 | head -15
    sleep 3
  done
) >"$TOPLOG" 2>&1 &
TOP_PID=$!


log "spawning $N resources of $SIZE with 2 replicas"
# cpu_ticks -> "busy total" jiffies of the whole machine (all cores)
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
spawn_errors=0
read -r BUSY0 TOTAL0 < <(cpu_ticks)
T0=$(now)
for ((i = 1; i <= N; i++)); do
  name=$(printf 'res%04d' "$i")
  res=$(curl -sS -o "$SCRATCH/spawn.out" -w '%{http_code} %{time_total}' -X POST \
    -H 'Content-Type: application/json' \
    -d "{\"resource_definition_name\":\"$name\",\"volume_sizes\":[$SIZE_KIB]}" \
    "$URL/v1/resource-groups/grp/spawn") || res="000 0"
  code=${res%% *}
  echo "${res#* }" >>"$SCRATCH/spawn_lat.txt"
  echo "$name $EPOCHREALTIME" >>"$SCRATCH/spawn_done.txt"
  if [ "${code:0:1}" != 2 ]; then
    spawn_errors=$((spawn_errors + 1))
    [ "$spawn_errors" -le 5 ] && echo "spawn $name: HTTP $code $(head -c 300 "$SCRATCH/spawn.out")" >&2
  fi
done
T1=$(now)
SPAWN_S=$(elapsed "$T0" "$T1")
log "spawn requests done in ${SPAWN_S}s ($spawn_errors errors)"

# view_counts -> "resources diskful uptodate tiebreaker/diskless other_states"
view_counts() {
  curl -sS --max-time 60 "$URL/v1/view/resources" >"$SCRATCH/view.json" || return 1
  jq -r '[length,
          ([.[] | .volumes[]? | select(.state.disk_state=="UpToDate")] | length),
          ([.[] | .volumes[]? | select(.state.disk_state=="TieBreaker" or .state.disk_state=="Diskless")] | length),
          ([.[] | .name] | unique | length)] | @tsv' "$SCRATCH/view.json"
}
WANT=$((N * 2))
up=0
T_DONE=""
progress=$SCRATCH/progress.tsv
while :; do
  if read -r nrsc up tb ndefs < <(view_counts); then
    t=$(elapsed "$T0" "$(now)")
    printf '%s\t%s\t%s\t%s\n' "$t" "$nrsc" "$up" "$tb" >>"$progress"
    log "t=${t}s: $nrsc resources, $up/$WANT volumes UpToDate, $tb tiebreaker/diskless"
    if [ "$up" -ge "$WANT" ]; then
      T_DONE=$(now)
      break
    fi
  fi
  if awk -v a="$T0" -v b="$(now)" -v m="$TIMEOUT_S" 'BEGIN { exit !(b - a > m) }'; then
    log "timeout: $up/$WANT volumes UpToDate after ${TIMEOUT_S}s"
    break
  fi
  sleep 1
done
read -r BUSY1 TOTAL1 < <(cpu_ticks)
MACHINE_BUSY=$(awk -v b="$((BUSY1 - BUSY0))" -v t="$((TOTAL1 - TOTAL0))" -v c="$(nproc)" \
  'BEGIN { printf "%.0f%% of %d cores", (t > 0 ? 100 * b / t : 0), c }')
if [ -n "$T_DONE" ]; then
  UPTODATE_S=$(elapsed "$T0" "$T_DONE")
  UPTODATE_TXT="$UPTODATE_S"
else
  UPTODATE_S=$TIMEOUT_S
  UPTODATE_TXT="not reached in ${TIMEOUT_S} s ($up/$WANT)"
fi
# Let the tiebreakers settle a moment for the per-node counts.
sleep 2
view_counts >/dev/null || true

# Latency of the full view.
lat=$SCRATCH/lat.txt
: >"$lat"
for ((i = 0; i < 20; i++)); do
  curl -sS -o /dev/null -w '%{time_total}\n' "$URL/v1/view/resources" >>"$lat"
done
# pct P < seconds -> the P quantile in ms
pct() { sort -n | awk -v p="$1" '{ a[NR] = $1 } END { i = int((NR - 1) * p + 0.5) + 1; printf "%.0f", a[i] * 1000 }'; }
VIEW_P50=$(pct 0.5 <"$lat")
VIEW_P99=$(pct 0.99 <"$lat")
tenth=$(((N + 9) / 10))
SPAWN_FIRST=$(head -n "$tenth" "$SCRATCH/spawn_lat.txt" | pct 0.5)
SPAWN_LAST=$(tail -n "$tenth" "$SCRATCH/spawn_lat.txt" | pct 0.5)
SPAWN_P99=$(pct 0.99 <"$SCRATCH/spawn_lat.txt")
VIEW_KB=$(($(stat -c %s "$SCRATCH/view.json") / 1024))

rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "gone"; }
cpu_s() {  # utime+stime of PID in seconds
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo "gone"
}
count_on() {  # count_on NODE FILTER
  jq --arg n "$1" "[.[] | select(.node_name==\$n) | $2] | length" "$SCRATCH/view.json"
}

# Per resource, from the logs: spawn request returned -> "applied RES" in every
# satellite log, and -> "disk:UpToDate" in the tandemd log of both diskful nodes.
# Prints "apply_p50 apply_p99 apply_max uptodate_p50 uptodate_p99 uptodate_max" (ms).
LAGS=$(python3 - "$SCRATCH/spawn_done.txt" "$(root_of 1)" "$(root_of 2)" "$(root_of 3)" <<'PY'
import re, sys, datetime
spawned = {}
for line in open(sys.argv[1]):
    name, t = line.split()
    spawned[name] = float(t)
ts = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\]")
def stamp(line):
    m = ts.match(line)
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp() if m else None
applied, uptodate = {}, {}
for root in sys.argv[2:]:
    for line in open(root + "/satellite.log"):
        m = re.search(r"\] applied (\S+)$", line)
        if m:
            applied.setdefault(m.group(1), []).append(stamp(line))
    for line in open(root + "/tandemd.log"):
        m = re.search(r"change device name:(\S+) volume:0 disk:UpToDate", line)
        if m:
            uptodate.setdefault(m.group(1), []).append(stamp(line))
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int((len(v) - 1) * p + 0.5))] if v else float("nan")
def lags(d, need):
    return [max(d[n][:need]) - t for n, t in spawned.items() if len(d.get(n, [])) >= need]
out = []
for v in (lags(applied, 3), lags(uptodate, 2)):
    out += ["%.0f" % (1000 * q(v, p)) for p in (0.5, 0.99, 1.0)]
print(" ".join(out))
PY
) || LAGS="- - - - - -"
read -r AP50 AP99 AMAX UP50 UP99 UMAX <<<"$LAGS"

CTL_PID=$(cat "$SCRATCH/ctl/controller.pid")
TABLE=$SCRATCH/table.md
{
  echo "| metric | value |"
  echo "|---|---|"
  echo "| resources spawned (2 replicas, $SIZE, FILE_THIN) | $N ($spawn_errors failed requests) |"
  echo "| spawn requests, wall time | ${SPAWN_S} s |"
  echo "| spawn rate (one request after the other) | $(awk -v n="$N" -v s="$SPAWN_S" 'BEGIN { printf "%.1f", n / s }') /s |"
  echo "| spawn request latency: median of the first / last 10%, p99 of all | $SPAWN_FIRST / $SPAWN_LAST / $SPAWN_P99 ms |"
  echo "| first spawn until all $WANT diskful volumes UpToDate | $UPTODATE_TXT s |"
  echo "| per resource: spawn returned -> applied by all 3 satellites, p50 / p99 / max | $AP50 / $AP99 / $AMAX ms |"
  echo "| per resource: spawn returned -> UpToDate on both diskful nodes, p50 / p99 / max | $UP50 / $UP99 / $UMAX ms |"
  echo "| machine CPU busy from first spawn to all UpToDate (anything on the VM) | $MACHINE_BUSY |"
  echo "| GET /v1/view/resources at the end, p50 / p99 (20 calls, $VIEW_KB KiB) | $VIEW_P50 / $VIEW_P99 ms |"
  echo "| controller RSS / CPU | $(rss_mb "$CTL_PID") MiB / $(cpu_s "$CTL_PID") s |"
  echo
  echo "| node | resources (diskful / tiebreaker) | satellite RSS MiB | satellite CPU s | satellite CPU ms per resource | time to all UpToDate per resource, ms | tandemd RSS MiB | tandemd CPU s |"
  echo "|---|---|---|---|---|---|---|---|"
  for n in 1 2 3; do
    node=$(node_name $n)
    sp=$(cat "$(root_of $n)/satellite.pid")
    tp=$(cat "$(root_of $n)/tandemd.pid")
    total=$(count_on "$node" '.')
    diskful=$(count_on "$node" 'select([.volumes[]?.state.disk_state] | any(. == "UpToDate"))')
    tb=$(count_on "$node" 'select([.volumes[]?.state.disk_state] | any(. == "TieBreaker" or . == "Diskless"))')
    scpu=$(cpu_s "$sp")
    per_cpu=$(awk -v c="$scpu" -v r="$total" 'BEGIN { if (r > 0) printf "%.1f", c * 1000 / r; else print "-" }')
    per_wall=$(awk -v t="$UPTODATE_S" -v r="$total" 'BEGIN { if (r > 0) printf "%.1f", t * 1000 / r; else print "-" }')
    echo "| $node | $total ($diskful / $tb) | $(rss_mb "$sp") | $scpu | $per_cpu | $per_wall | $(rss_mb "$tp") | $(cpu_s "$tp") |"
  done
  echo
  echo "LINSTOR reference: about 0.9 s per resource per satellite, serially (linstor-server #122)."
} >"$TABLE"
cat "$TABLE"

# Log excerpts for the report: errors and warnings of every daemon.
for n in 1 2 3; do
  for d in satellite tandemd; do
    f="$(root_of $n)/$d.log"
    c=$(grep -ciE 'error|warn|fail' "$f" 2>/dev/null || true)
    if [ "${c:-0}" -gt 0 ]; then
      echo "--- node$n $d.log: $c lines with error/warn/fail, first 5:" >&2
      grep -iE 'error|warn|fail' "$f" | head -5 >&2 || true
    fi
  done
done
c=$(grep -ciE 'error|warn|fail' "$SCRATCH/ctl/controller.log" 2>/dev/null || true)
if [ "${c:-0}" -gt 0 ]; then
  echo "--- controller.log: $c lines with error/warn/fail, first 5:" >&2
  grep -iE 'error|warn|fail' "$SCRATCH/ctl/controller.log" | head -5 >&2 || true
fi
if [ "${KEEP_SCRATCH:-0}" = 1 ]; then echo "top samples in $TOPLOG, progress in $progress" >&2; fi

if [ "$RECORD" = 1 ]; then
  # shellcheck source=record.sh
  source "$HERE/record.sh"
  record_result "$ROOT" cluster-spawn "$COMMAND" "$TABLE" "$BINARIES"
fi
