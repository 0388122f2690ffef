#!/usr/bin/env bash
# A full sync of a volume whose backing file is not a multiple of 256 KiB
# (internal metadata makes the data area end mid-bitmap-word) finishes once
# and for good: no bit over the metadata area is left to resync again and
# again (a livelock seen with satellite-sized files).
source "$(dirname "$0")/lib.sh"

VOLUME_SIZE=17825792 # 17 MiB: the data area is 4336 blocks, the bitmap 4352 bits
write_res 2
up_nodes 2
adm 0 primary r0 --force
adm 1 wait-sync r0 --timeout 60 || fail "the full sync did not finish"
adm 0 secondary r0
sleep 3
starts=$(grep -c "resync-start" "$(root_of 1)/tandemd.log" || true)
[ "$starts" = 1 ] || fail "$starts resyncs started, expected exactly one"
[ "$(data_sha 0)" = "$(data_sha 1)" ] || fail "replicas differ after the full sync"
log "ok"
