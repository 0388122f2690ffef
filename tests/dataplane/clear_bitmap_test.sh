#!/usr/bin/env bash
# Three nodes whose disks are known to be equal (all zero): new-current-uuid
# --clear-bitmap skips the initial sync entirely.
source "$(dirname "$0")/lib.sh"

write_res 3
for n in 0 1 2; do
  adm $n create-md r0
  start_node $n
  adm $n up r0
done
adm 0 wait-connect r0 --timeout 20 || fail "nodes did not connect"
adm 0 new-current-uuid r0 --clear-bitmap
for n in 0 1 2; do
  adm $n wait-sync r0 --timeout 30 || fail "node $n not UpToDate after --clear-bitmap"
done
for n in 1 2; do
  w=$(bytes_written $n)
  [ "$w" -eq 0 ] || fail "node $n wrote $w data bytes: a sync ran"
done
head -c 4M /dev/urandom >"$SCRATCH/data.bin"
nbdcopy "$SCRATCH/data.bin" "$(nbd_uri 2)"
for n in 0 1; do adm $n wait-sync r0 --timeout 30; done
[ "$(data_sha 0)" = "$(data_sha 2)" ] && [ "$(data_sha 1)" = "$(data_sha 2)" ] ||
  fail "replicas differ after writing through node 2"
log "no sync ran; three identical replicas"
