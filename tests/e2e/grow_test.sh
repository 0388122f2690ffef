#!/usr/bin/env bash
# Issue 5, `vd set-size` grows a volume online: vol1 (32 MiB, two replicas and
# a tiebreaker) grows to 64 MiB while a writer runs on one replica. Each
# replica's satellite has tandemd extend the backing file and move the
# metadata, the last one's resize makes the size agreed, and every node,
# the diskless tiebreaker included, exports 64 MiB. No write fails, data
# written over the whole grown volume reaches the other replica, and the
# replicas are identical. Shrinking is refused and changes nothing.
source "$(dirname "$0")/lib.sh"
: "${BLOCKCHECK:?}"

start_cluster
spawn vol1 32M
nodes_of vol1
# The size tandemd's engine agreed on for vol1 on node N (what NBD exports).
size_on() { nbdinfo --size "$(ro_uri "$(nbd_uri_of vol1 "$1")")"; }
size_is() { [ "$(size_on "$1")" = "$2" ]; }
file_of() { echo "$(pool_dir "${1#node}")/vol1_00000.img"; }
[ "$(size_on "$A")" = $((32 * 1048576)) ] || fail "vol1 on $A is $(size_on "$A") bytes"

"$BLOCKCHECK" write --uri "$(nbd_uri_of vol1 "$A")" --log "$SCRATCH/bc.log" --blocks 8192 \
  --count 20000 --fua-every 5 --flush-every 13 >"$SCRATCH/bc.out" 2>&1 &
bc=$!
wait_for "writes to be acknowledged" 20 grep -q "^F" "$SCRATCH/bc.log"

log "vd set-size vol1 0 64M while $A writes"
tandem volume-definition set-size vol1 0 64M >/dev/null || fail "set-size refused"
for n in $A $B $C; do
  wait_for "64 MiB on $n" 60 size_is "$n" $((64 * 1048576))
done
for n in $A $B; do
  [ "$(stat -c %s "$(file_of "$n")")" -gt $((64 * 1048576)) ] || fail "$n's backing file did not grow"
done
tandem resource list
wait "$bc" || fail "the writer failed across the grow: $(cat "$SCRATCH/bc.out")"
[ "$(grep -c "^[WD]" "$SCRATCH/bc.log")" = 20000 ] || fail "not every write was acknowledged"
wait_for "both replicas UpToDate" 60 count_is vol1 UpToDate 2
"$BLOCKCHECK" verify --uri "$(ro_uri "$(nbd_uri_of vol1 "$B")")" --log "$SCRATCH/bc.log" ||
  fail "$B lost writes"

log "write the whole grown volume on $A, read it on $B"
head -c 64M /dev/urandom >"$SCRATCH/data"
nbdcopy "$SCRATCH/data" "$(nbd_uri_of vol1 "$A")"
wait_for "$A Unused" 10 in_use_is vol1 "$A" false
same_prefix "$(ro_uri "$(nbd_uri_of vol1 "$B")")" "$SCRATCH/data" || fail "$B lacks the new data"
replicas_identical vol1 "$A" "$B" || fail "the replicas differ"

log "files grown already (as after a resize that collided with another node's): the size follows"
for n in $A $B; do adm "${n#node}" grow vol1 --size 96M >/dev/null || fail "tandemadm grow on $n"; done
[ "$(size_on "$A")" = $((64 * 1048576)) ] || fail "a grow alone changed the size"
tandem volume-definition set-size vol1 0 96M >/dev/null || fail "set-size refused"
for n in $A $B $C; do
  wait_for "96 MiB on $n" 60 size_is "$n" $((96 * 1048576))
done

log "shrinking is refused"
! tandem volume-definition set-size vol1 0 16M >/dev/null 2>&1 || fail "a shrink was accepted"
[ "$(size_on "$B")" = $((96 * 1048576)) ] || fail "the refused shrink changed the size"
log "ok"
