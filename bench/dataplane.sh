#!/usr/bin/env bash
# Data-plane benchmark (issue 3), everything side by side in one run:
#   baselines: fio io_uring on a local file (direct I/O); fio --ioengine=nbd
#              against `nbdkit file` on a unix socket
#   Tandem:    1, 2 and 3 replicas on loopback, fio --ioengine=nbd on the
#              Primary's unix socket; ext4 on the loop path (2 replicas)
#   resync:    a volume whose Secondary is down while 1% is rewritten:
#              resync time against a full sync
# Usage: bench/dataplane.sh BUILD_DIR [RUNTIME_S] [RESYNC_SIZE]
# Prints a Markdown table; scripts/bench records it in bench/results/.
set -euo pipefail
BUILD=${1:?build dir}
RUNTIME=${2:-8}
RESYNC_SIZE=${3:-4G}
export TANDEMD=$BUILD/apps/tandemd TANDEMADM=$BUILD/apps/tandemadm PORT=${PORT:-7500}
VOLUME_SIZE=1G
# Backing files are preallocated, as the FILE storage provider makes them:
# O_DIRECT writes into holes pay for block allocation on every first write.
export PREALLOC=1
source "$(dirname "$0")/../tests/dataplane/lib.sh"

# fio_run NAME IOENGINE-ARGS... -> "iops lat_us_mean" of the job
fio_json() {
  # fio's nbd engine prints a line of its own on stdout: keep the JSON apart.
  fio --output-format=json --output="$SCRATCH/fio.json" --time_based --runtime="$RUNTIME" \
    --ramp_time=1 --group_reporting --name=b "$@" >/dev/null 2>&1 || true
  cat "$SCRATCH/fio.json"
}
iops_of() { python3 -c "import json,sys; j=json.load(sys.stdin)['jobs'][0]; d=j['write'] if j['write']['iops']>0 else j['read']; print('%d %.0f %.0f' % (d['iops'], d['lat_ns']['mean']/1000, d['bw_bytes']/1048576))"; }

WORKLOADS=("randwrite 4k 1" "randwrite 4k 32" "randread 4k 32" "write 1M 8")
declare -A R

measure() {  # label, then fio target args
  local label=$1 w rw bs qd
  shift
  for w in "${WORKLOADS[@]}"; do
    read -r rw bs qd <<<"$w"
    R["$label|$w"]=$(fio_json --rw="$rw" --bs="$bs" --iodepth="$qd" --size=512M "$@" | iops_of)
  done
}

# --- baselines
fallocate -l 1G "$SCRATCH/local.img"
measure "fio io_uring, local file" --ioengine=io_uring --direct=1 --filename="$SCRATCH/local.img"
nbdkit -P "$SCRATCH/nbdkit.pid" -U "$SCRATCH/nbdkit.sock" file "$SCRATCH/local.img"
sleep 0.3
measure "fio nbd, nbdkit file" --ioengine=nbd --uri="nbd+unix:///?socket=$SCRATCH/nbdkit.sock"
kill "$(cat "$SCRATCH/nbdkit.pid")"

# --- Tandem with 1, 2, 3 replicas
for replicas in 1 2 3; do
  write_res "$replicas"
  for ((n = 0; n < replicas; n++)); do
    adm $n create-md r0 >/dev/null
    start_node $n
    adm $n up r0
  done
  [ "$replicas" -gt 1 ] && adm 0 wait-connect r0 --timeout 30
  adm 0 new-current-uuid r0 --clear-bitmap
  adm 0 primary r0
  measure "Tandem, $replicas replica(s)" --ioengine=nbd --uri="$(nbd_uri 0)"
  adm 0 secondary r0
  for ((n = 0; n < replicas; n++)); do stop_node $n; done
  rm -rf "$SCRATCH"/n*
done

# --- ext4 on the loop path, 2 replicas
ext4=""
if [ "$(id -u)" = 0 ] && [ -e /dev/fuse ]; then
  TANDEMD_ARGS=--fuse write_res 2
  for n in 0 1; do adm $n create-md r0 >/dev/null; TANDEMD_ARGS=--fuse start_node $n; adm $n up r0; done
  adm 0 wait-connect r0 --timeout 30
  adm 0 new-current-uuid r0 --clear-bitmap
  adm 0 attach-device r0 >/dev/null
  dev=$(readlink "$(root_of 0)/dev/tandem/by-res/r0/0")
  mkfs.ext4 -q -F "$dev"
  mkdir -p "$SCRATCH/mnt"
  mount "$dev" "$SCRATCH/mnt"
  measure "ext4 on loop, 2 replicas" --ioengine=io_uring --direct=1 --filename="$SCRATCH/mnt/f"
  umount "$SCRATCH/mnt"
  adm 0 detach-device r0
  for n in 0 1; do stop_node $n; done
  rm -rf "$SCRATCH"/n*
  ext4="ext4 on loop, 2 replicas"
fi

# --- resync: 1% rewritten against a full sync
VOLUME_SIZE=$RESYNC_SIZE write_res 2
for n in 0 1; do adm $n create-md r0 >/dev/null; start_node $n; adm $n up r0; done
adm 0 wait-connect r0 --timeout 30
t0=$(date +%s.%N)
adm 0 primary r0 --force
adm 1 wait-sync r0 --timeout 3600
t_full=$(python3 -c "import time; print(time.time() - $t0)")
stop_node 1 KILL
size=$(volume_size 0)
fio --name=rw --ioengine=nbd --uri="$(nbd_uri 0)" --rw=randwrite --bs=64k --iodepth=8 \
  --io_size=$((size / 100)) --size="$size" >/dev/null
adm 0 secondary r0
t0=$(date +%s.%N)
start_node 1
adm 1 wait-sync r0 --timeout 3600
t_part=$(python3 -c "import time; print(time.time() - $t0)")

# --- table
col() { echo "${R["$1|$2"]:-- - -}"; }
printf "| configuration | 4k randwrite QD1 IOPS (mean µs) | 4k randwrite QD32 IOPS | 4k randread QD32 IOPS | 1M write QD8 MiB/s |\n"
printf "|---|---|---|---|---|\n"
for label in "fio io_uring, local file" "fio nbd, nbdkit file" "Tandem, 1 replica(s)" \
  "Tandem, 2 replica(s)" "Tandem, 3 replica(s)" $([ -n "$ext4" ] && echo "ext4-loop"); do
  [ "$label" = ext4-loop ] && label=$ext4
  read -r a al _ <<<"$(col "$label" "randwrite 4k 1")"
  read -r b _ _ <<<"$(col "$label" "randwrite 4k 32")"
  read -r c _ _ <<<"$(col "$label" "randread 4k 32")"
  read -r _ _ d <<<"$(col "$label" "write 1M 8")"
  printf "| %s | %s (%s) | %s | %s | %s |\n" "$label" "$a" "$al" "$b" "$c" "$d"
done
base_w=$(col "fio nbd, nbdkit file" "randwrite 4k 32" | cut -d' ' -f1)
base_r=$(col "fio nbd, nbdkit file" "randread 4k 32" | cut -d' ' -f1)
base_l=$(col "fio nbd, nbdkit file" "randwrite 4k 1" | cut -d' ' -f2)
t2=$(col "Tandem, 2 replica(s)" "randwrite 4k 32" | cut -d' ' -f1)
t2r=$(col "Tandem, 2 replica(s)" "randread 4k 32" | cut -d' ' -f1)
t2l=$(col "Tandem, 2 replica(s)" "randwrite 4k 1" | cut -d' ' -f2)
echo
python3 - "$base_w" "$t2" "$base_r" "$t2r" "$base_l" "$t2l" "$t_full" "$t_part" "$RESYNC_SIZE" <<'PY'
import sys
bw, tw, br, tr, bl, tl, full, part, size = sys.argv[1:]
bw, tw, br, tr, bl, tl, full, part = map(float, (bw, tw, br, tr, bl, tl, full, part))
print("| ratio (2 replicas vs nbdkit file) | value | target |")
print("|---|---|---|")
print(f"| 4k randwrite QD32 IOPS | {tw/bw:.0%} | >= 50% |")
print(f"| 4k randread QD32 IOPS | {tr/br:.0%} | >= 90% |")
print(f"| 4k randwrite QD1 latency | {tl/bl:.2f}x | <= 2x |")
print(f"| resync of 1% of {size} vs full sync | {part:.1f} s vs {full:.1f} s = {part/full:.1%} | <= 5% |")
PY
