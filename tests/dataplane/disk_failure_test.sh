#!/usr/bin/env bash
# Fault hooks: a Secondary whose disk fails writes detaches (Failed, then
# Diskless) while I/O goes on at the Primary; re-attached, it resyncs only
# what changed. A frozen disk holds its completions until thawed.
source "$(dirname "$0")/lib.sh"

write_res 2
up_synced 2
adm 0 primary r0
# The first write after a promotion starts a new generation; let it settle
# before the disk fails (a failure in that very write needs a full resync).
qemu-io -f raw -c "write -P 0x54 8M 64k" "$(nbd_uri 0)" >/dev/null || fail "first write"

log "node 1's disk fails writes"
adm 1 fault r0 --kind fail-io --op write
qemu-io -f raw -c "write -P 0x55 0 256k" "$(nbd_uri 0)" >/dev/null || fail "the Primary's write failed"
wait_for "node 1 to detach" 20 bash -c "[ \"\$(\"$TANDEMADM\" --root $(root_of 1) --json status r0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"volumes\"][0][\"disk\"])')\" = Diskless ]"
grep -q "disk:Failed" "$(root_of 1)/tandemd.log" || fail "node 1 never went Failed"
qemu-io -f raw -c "write -P 0x66 1M 256k" "$(nbd_uri 0)" >/dev/null || fail "I/O stopped at the Primary"

log "repaired and re-attached"
adm 1 fault r0 --kind clear
before=$(bytes_written 1)
adm 1 attach r0
adm 1 wait-sync r0 --timeout 30 || fail "no resync after re-attach"
moved=$(( $(bytes_written 1) - before ))
log "resync after re-attach wrote $moved bytes"
[ "$moved" -le $((8 << 20)) ] || fail "re-attach resynced $moved bytes: more than the activity log's extents"
[ "$(data_sha 0)" = "$(data_sha 1)" ] || fail "replicas differ after re-attach"

log "a frozen disk holds completions until thawed"
adm 0 fault r0 --kind freeze-disk
qemu-io -f raw -c "write -P 0x77 2M 4k" "$(nbd_uri 0)" >"$SCRATCH/frozen.txt" 2>&1 &
qio=$!
sleep 1
kill -0 $qio 2>/dev/null || fail "a write completed on a frozen disk"
adm 0 fault r0 --kind thaw-disk
wait $qio || fail "the write failed after the thaw"
