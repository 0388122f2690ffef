#!/usr/bin/env bash
# Control-plane scale benchmark (issue 4): one tandem-controller, N satellites
# played by tandem-satellite-loadgen, M spawned 2-replica resources.
#
#   bench/controlplane.sh [N] [M] [BUILD_DIR]
#
#   N          fake satellite nodes (default 100, at most 254)
#   M          resource definitions to spawn (default 10000)
#   BUILD_DIR  a CMake build dir (tandem-controller and tandem in BUILD_DIR/apps,
#              the load generator in BUILD_DIR/bench); default ./build.
#   env:       PORT (REST port on 127.0.0.11; the satellites listen on PORT+1
#              on 127.0.1.K; default 22000), BATCH (spawns per curl process,
#              default 1000), RECORD=0 (do not write bench/results/),
#              KEEP_SCRATCH=1, PERF=1 or PERF=view (perf record -g the
#              controller during the spawns or the 20 views; the report stays
#              in the scratch dir), WRAP="heaptrack -o FILE" (a command the
#              controller runs under, e.g. a heap profiler)
#
# Steps: start the controller (setsid, pid file) and the load generator;
# register nodeKKK at 127.0.1.K with a FILE_THIN pool "pool1" each; wait for
# all ONLINE; rg create grp --place-count 2 --storage-pool pool1; vg create
# grp; spawn M resource definitions (POST /v1/resource-groups/grp/spawn, 4 MiB,
# one request after the other over a kept-alive connection, BATCH requests
# per curl process). Measured: spawn rate overall and of the first and last
# batch, per-request latency, GET /v1/view/resources (the first one, then 20
# calls, p50/p99, and the controller's CPU time per call, then one after a
# change to one resource definition),
# controller VmRSS/VmHWM, then SIGTERM and a restart on the same database:
# time until GET /v1/controller/version answers and until all N nodes are
# ONLINE again. Everything is stopped by its pid; the scratch dir is removed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
N=${1:-100}
M=${2:-10000}
BUILD=${3:-$ROOT/build}
BUILD=$(cd "$BUILD" && pwd)
PORT=${PORT:-22000}
BATCH=${BATCH:-1000}
RECORD=${RECORD:-1}
CTL=$BUILD/apps/tandem-controller
CLI=$BUILD/apps/tandem
GEN=$BUILD/bench/tandem-satellite-loadgen
for b in "$CTL" "$CLI" "$GEN"; do
  [ -x "$b" ] || { echo "no executable $b" >&2; exit 2; }
done
[ "$N" -ge 1 ] && [ "$N" -le 254 ] || { echo "N must be 1..254" >&2; exit 2; }
[ "$BATCH" -le "$M" ] || BATCH=$M

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/controlplane.XXXXXX")
REST=127.0.0.11:$PORT
URL=http://$REST
SAT_PORT=$((PORT + 1))
CTL_PIDF=$SCRATCH/controller.pid
GEN_PIDF=$SCRATCH/loadgen.pid
PERF_PID=""

log() { echo "== $(date +%T) $*" >&2; }
stop_pid() {  # stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}
pid_of() { cat "$1" 2>/dev/null || true; }
finish() {
  if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID" 2>/dev/null || true; fi
  stop_pid "$(pid_of "$CTL_PIDF")"
  stop_pid "$(pid_of "$GEN_PIDF")"
  if [ "${KEEP_SCRATCH:-0}" = 1 ]; then
    echo "scratch kept in $SCRATCH" >&2
  else
    rm -rf "$SCRATCH"
  fi
}
trap finish EXIT
tandem() { "$CLI" --controllers "$REST" "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# pct P < seconds (one per line) -> the P quantile in ms
pct() { sort -n | awk -v p="$1" '{ a[NR] = $1 } END { i = int((NR - 1) * p + 0.5) + 1; printf "%.1f", a[i] * 1000 }'; }
rss_mb() { awk -v k="$2:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo gone; }
cpu_s() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo gone
}
online_count() {
  curl -sS --max-time 30 "$URL/v1/nodes" 2>/dev/null |
    jq '[.[] | select(.connection_status == "ONLINE")] | length' 2>/dev/null || echo 0
}
# wait_until DESC SECONDS CMD...: polls CMD every 50 ms
wait_until() {
  local desc=$1 secs=$2 t0
  shift 2
  t0=$(now)
  until "$@"; do
    if awk -v a="$t0" -v b="$(now)" -v m="$secs" 'BEGIN { exit !(b - a > m) }'; then
      echo "timeout after ${secs}s: $desc" >&2
      tail -20 "$SCRATCH/controller.log" >&2 || true
      exit 1
    fi
    sleep 0.05
  done
}
version_answers() { curl -sf --max-time 1 -o /dev/null "$URL/v1/controller/version" 2>/dev/null; }
all_online() { [ "$(online_count)" = "$N" ]; }
start_controller() {
  rm -f "$CTL_PIDF"
  (setsid ${WRAP:-} "$CTL" --root "$SCRATCH/ctl" --rest-listen "$REST" --pid-file "$CTL_PIDF" \
    </dev/null >>"$SCRATCH/controller.log" 2>&1 &)
}

mkdir -p "$SCRATCH/ctl"
log "controller on $REST, $N fake satellites on 127.0.1.1-$N:$SAT_PORT, $M resources (scratch $SCRATCH)"
(setsid "$GEN" --nodes "$N" --port "$SAT_PORT" --ready-file "$GEN_PIDF" \
  </dev/null >>"$SCRATCH/loadgen.log" 2>&1 &)
start_controller
wait_until "controller REST API" 10 version_answers
wait_until "load generator listening" 10 test -s "$GEN_PIDF"
wait_until "controller pid file" 10 test -s "$CTL_PIDF"

# A port and a minor for every resource; nothing binds them.
tandem controller set-property TcpPortAutoRange "30000-$((30000 + M + 1000))" >/dev/null
log "registering $N nodes"
for ((k = 1; k <= N; k++)); do
  name=$(printf 'node%03d' "$k")
  tandem node create "$name" "127.0.1.$k" --port "$SAT_PORT" >/dev/null
  tandem storage-pool create filethin "$name" pool1 /srv/pool >/dev/null
done
T_REG=$(now)
wait_until "all $N nodes ONLINE" 60 all_online
log "all $N nodes ONLINE $(elapsed "$T_REG" "$(now)") s after the last registration"
tandem resource-group create grp --place-count 2 --storage-pool pool1 >/dev/null
tandem volume-group create grp >/dev/null

CTL_PID=$(pid_of "$CTL_PIDF")
start_perf() {
  perf record -g -o "$SCRATCH/perf.data" -p "$CTL_PID" >"$SCRATCH/perf.log" 2>&1 &
  PERF_PID=$!
  sleep 1
}
stop_perf() {
  if [ -n "$PERF_PID" ]; then
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=""
  fi
}
if [ "${PERF:-0}" = 1 ]; then start_perf; fi

log "spawning $M resource definitions, $BATCH per curl process"
LAT=$SCRATCH/spawn_lat.txt
BATCHES=$SCRATCH/batches.txt
: >"$LAT"
: >"$BATCHES"
T0=$(now)
for ((start = 1; start <= M; start += BATCH)); do
  end=$((start + BATCH - 1))
  [ "$end" -le "$M" ] || end=$M
  cfg=$SCRATCH/batch.cfg
  for ((i = start; i <= end; i++)); do
    printf 'url = "%s/v1/resource-groups/grp/spawn"\nheader = "Content-Type: application/json"\ndata = "{\\"resource_definition_name\\":\\"res%05d\\",\\"volume_sizes\\":[4096]}"\noutput = "/dev/null"\nwrite-out = "%%{http_code} %%{time_total}\\n"\n' \
      "$URL" "$i"
    [ "$i" -eq "$end" ] || echo next
  done >"$cfg"
  b0=$(now)
  curl -sS --config "$cfg" >>"$LAT" || true
  b1=$(now)
  echo "$((end - start + 1)) $(elapsed "$b0" "$b1")" >>"$BATCHES"
done
T1=$(now)
SPAWN_S=$(elapsed "$T0" "$T1")
stop_perf
OK=$(awk '$1 ~ /^2/' "$LAT" | wc -l)
FAILED=$((M - OK))
log "spawned in ${SPAWN_S}s, $FAILED failed"
if [ "$FAILED" -gt 0 ]; then
  awk '$1 !~ /^2/' "$LAT" | sort | uniq -c | head -5 >&2
fi
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }'; }
SPAWN_RATE=$(rate "$M" "$SPAWN_S")
read -r FN FS < <(head -1 "$BATCHES")
read -r LN LS < <(tail -1 "$BATCHES")
RATE_FIRST=$(rate "$FN" "$FS")
RATE_LAST=$(rate "$LN" "$LS")
awk '{ print $2 }' "$LAT" >"$SCRATCH/lat_s.txt"
SPAWN_P50=$(pct 0.5 <"$SCRATCH/lat_s.txt")
SPAWN_P99=$(pct 0.99 <"$SCRATCH/lat_s.txt")
SPAWN_MAX=$(pct 1 <"$SCRATCH/lat_s.txt")

# Let the last updates and reports settle before reading the view.
sleep 2
RSS0=$(rss_mb "$CTL_PID" VmRSS)
VIEW=$SCRATCH/view.json
VIEW_COLD_MS=$(curl -sS --max-time 60 -o "$VIEW" -w '%{time_total}' "$URL/v1/view/resources" |
  awk '{printf "%.1f", $1 * 1000}')
VIEW_RSC=$(jq length "$VIEW")
VIEW_UP=$(jq '[.[] | .volumes[]? | select(.state.disk_state == "UpToDate")] | length' "$VIEW")
VIEW_KB=$(($(stat -c %s "$VIEW") / 1024))
: >"$SCRATCH/view_lat.txt"
if [ "${PERF:-0}" = view ]; then start_perf; fi
VIEW_CPU0=$(cpu_s "$CTL_PID")
for ((i = 0; i < 20; i++)); do
  curl -sS -o /dev/null -w '%{time_total}\n' "$URL/v1/view/resources" >>"$SCRATCH/view_lat.txt"
done
VIEW_CPU_MS=$(echo "$(cpu_s "$CTL_PID") $VIEW_CPU0" | awk '{printf "%.1f", ($1 - $2) * 1000 / 20}')
stop_perf
# One committed change (a property of one resource definition), then a view:
# only that definition's resources are written anew.
curl -sS -o /dev/null -X PUT -H 'Content-Type: application/json' \
  -d '{"override_props":{"Aux/bench":"changed"}}' "$URL/v1/resource-definitions/res00001"
VIEW_CHANGED_MS=$(curl -sS -o /dev/null -w '%{time_total}' "$URL/v1/view/resources" |
  awk '{printf "%.1f", $1 * 1000}')
VIEW_P50=$(pct 0.5 <"$SCRATCH/view_lat.txt")
VIEW_P99=$(pct 0.99 <"$SCRATCH/view_lat.txt")
RSS=$(rss_mb "$CTL_PID" VmRSS)
HWM=$(rss_mb "$CTL_PID" VmHWM)
CPU=$(cpu_s "$CTL_PID")
DB_MB=$(du -sm "$SCRATCH/ctl" | cut -f1)
log "view p50 ${VIEW_P50} ms, RSS $RSS MiB"

log "restarting the controller on the same database"
stop_pid "$CTL_PID"
S0=$(now)
start_controller
wait_until "restarted controller REST API" 120 version_answers
S1=$(now)
wait_until "all $N nodes ONLINE after the restart" 120 all_online
S2=$(now)
START_S=$(elapsed "$S0" "$S1")
ONLINE_S=$(elapsed "$S0" "$S2")
CTL_PID=$(pid_of "$CTL_PIDF")
RSS2=$(rss_mb "$CTL_PID" VmRSS)
log "start-up ${START_S}s, all ONLINE after ${ONLINE_S}s"

met() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = (dir == "<") ? (v < t) : (v >= t); print (ok ? "met" : "**missed**") }'; }
TABLE=$SCRATCH/table.md
{
  echo "| metric | value | target |"
  echo "|---|---|---|"
  echo "| nodes (fake satellites) / resource definitions spawned (2 replicas, 4 MiB) | $N / $M ($FAILED failed requests) | |"
  echo "| spawn wall time | ${SPAWN_S} s | |"
  echo "| spawn rate, all / first $FN / last $LN | $SPAWN_RATE / $RATE_FIRST / $RATE_LAST per s | >= 100/s: $(met "$SPAWN_RATE" 100 ">=") |"
  echo "| spawn request latency p50 / p99 / max | $SPAWN_P50 / $SPAWN_P99 / $SPAWN_MAX ms | |"
  echo "| GET /v1/view/resources p50 / p99 (20 calls; $VIEW_RSC resources, $VIEW_UP UpToDate volumes, $VIEW_KB KiB) | $VIEW_P50 / $VIEW_P99 ms | p50 < 200 ms: $(met "$VIEW_P50" 200 "<") |"
  echo "| controller CPU per GET /v1/view/resources (mean of the 20) | $VIEW_CPU_MS ms | |"
  echo "| the first GET /v1/view/resources after the spawns (nothing cached) | $VIEW_COLD_MS ms | |"
  echo "| GET /v1/view/resources after one resource definition changed | $VIEW_CHANGED_MS ms | |"
  echo "| controller VmRSS after the spawns, before any view | $RSS0 MiB | < 150 MB: $(met "$RSS0" 143 "<") |"
  echo "| controller VmRSS / VmHWM after the 21 views (CPU) | $RSS / $HWM MiB ($CPU s) | < 150 MB: $(met "$RSS" 143 "<") |"
  echo "| controller start-up until /v1/controller/version answers (database $DB_MB MiB) | ${START_S} s | < 2 s: $(met "$START_S" 2 "<") |"
  echo "| controller start-up until all $N nodes ONLINE | ${ONLINE_S} s | |"
  echo "| controller VmRSS after the restart, all ONLINE | $RSS2 MiB | |"
} >"$TABLE"
cat "$TABLE"
c=$(grep -ciE 'error|warn|fail' "$SCRATCH/controller.log" || true)
if [ "${c:-0}" -gt 0 ]; then
  echo "--- controller.log: $c lines with error/warn/fail, first 5:" >&2
  grep -iE 'error|warn|fail' "$SCRATCH/controller.log" | head -5 >&2 || true
fi
if [ -s "$SCRATCH/perf.data" ]; then
  perf report -i "$SCRATCH/perf.data" --no-children --stdio --percent-limit 1.5 2>/dev/null |
    grep -v '^$' | head -120 >"$SCRATCH/perf.txt" || true
  echo "perf report (self, >=1.5%) in $SCRATCH/perf.txt" >&2
  KEEP_SCRATCH=1
fi

if [ "$RECORD" = 1 ]; then
  # shellcheck source=record.sh
  source "$HERE/record.sh"
  record_result "$ROOT" controlplane "bench/controlplane.sh $N $M BUILD_DIR" "$TABLE" "$(git -C "$ROOT" diff --quiet HEAD -- src || echo ' (+ uncommitted changes in src/)')"
fi
