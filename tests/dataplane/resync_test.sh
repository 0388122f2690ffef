#!/usr/bin/env bash
# kill -9 of a Secondary, 1% of the volume rewritten, restart: the resync
# moves only the changed blocks.
source "$(dirname "$0")/lib.sh"
VOLUME_SIZE=64M

write_res 2
up_synced 2

kill_node 1
size=$(volume_size 0)
# 1% of the volume, in 64 KiB pieces spread over it.
changed=0
cmds=()
step=$((size / 10))
for ((off = 0; changed + 65536 <= size / 100; off += step / 16)); do
  cmds+=(-c "write -P 0x5a $off 64k")
  changed=$((changed + 65536))
done
qemu-io -f raw "${cmds[@]}" "$(nbd_uri 0)" >/dev/null || fail "qemu-io writes"
log "rewrote $changed bytes of $size while node 1 was down"

start_node 1  # tandemd brings r0 up again from its persisted spec
adm 1 wait-sync r0 --timeout 60 || fail "resync did not finish"
moved=$(bytes_written 1)
log "resync wrote $moved bytes on node 1"
[ "$moved" -ge "$changed" ] || fail "resync moved $moved bytes, less than the $changed changed"
[ "$moved" -le $((changed + changed / 2)) ] ||
  fail "resync moved $moved bytes for $changed changed: not only the changed blocks"
[ "$(data_sha 0)" = "$(data_sha 1)" ] || fail "replicas differ after the resync"
