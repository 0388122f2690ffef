#!/usr/bin/env bash
# Two nodes: create-md, up, the initial full sync, writes through NBD with
# nbdcopy and fio, and byte-identical replicas afterwards.
source "$(dirname "$0")/lib.sh"

write_res 2
up_nodes 2
[ "$(disk_state 0)" = Inconsistent ] || fail "fresh disk is $(disk_state 0), expected Inconsistent"

log "initial full sync from node 0"
adm 0 primary r0 --force
adm 1 wait-sync r0 --timeout 60 || fail "initial sync did not finish"
[ "$(disk_state 1)" = UpToDate ] || fail "node 1 is $(disk_state 1) after the sync"
adm 0 secondary r0

log "nbdcopy 16 MiB into node 0 (auto-promote)"
head -c 16M /dev/urandom >"$SCRATCH/data.bin"
nbdcopy "$SCRATCH/data.bin" "$(nbd_uri 0)"
# The last writer leaving demotes after a flush to the peers: not at once.
role_is() { [ "$(role_of "$1")" = "$2" ]; }
wait_for "node 0 to demote after the writer left" 10 role_is 0 Secondary
nbdcopy "$(nbd_uri_ro 1)" "$SCRATCH/back.bin" || fail "read back from node 1"
cmp -n 16777216 "$SCRATCH/data.bin" "$SCRATCH/back.bin" || fail "node 1 returned other data"

log "fio with verification through node 1"
fio --name=v --ioengine=nbd --uri="$(nbd_uri 1)" --rw=randwrite --bs=4k --iodepth=16 \
  --size=8M --verify=crc32c --do_verify=1 --verify_state_save=0 --output="$SCRATCH/fio.txt" >/dev/null ||
  { cat "$SCRATCH/fio.txt"; fail "fio verify"; }
adm 0 wait-sync r0 --timeout 30 || fail "not in sync after fio"

s0=$(data_sha 0)
s1=$(data_sha 1)
[ "$s0" = "$s1" ] || fail "replicas differ: $s0 vs $s1"
log "replicas identical ($s0)"
