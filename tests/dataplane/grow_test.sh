#!/usr/bin/env bash
# Online grow (docs/tandemd.md "Online grow"): r0 on nodes 0 and 1, node 0
# Primary under the block checker. Each node extends its backing file with
# `tandemadm grow` while the writes go on (the metadata moves to the new end);
# `tandemadm resize` on node 0 then agrees on the larger size, and the new part
# syncs. No write fails or is lost, the NBD export shows the new size, writes
# all over it reach node 1. Then the crash cases of the grow record: an
# interrupted grow (file extended, no superblock at its end) is undone at the
# next start, a finished one is kept. Bad requests are refused and change
# nothing.
source "$(dirname "$0")/lib.sh"
: "${BLOCKCHECK:?}"
VOLUME_SIZE=16M
write_res 2 "disk { c-min-rate 0; }"
up_synced 2
old_size=$(volume_size 0)
size_is() { [ "$(volume_size "$1")" = "$2" ]; }
old_file=$(stat -c %s "$(disk_of 0)")

"$BLOCKCHECK" write --uri "$(nbd_uri 0)" --log "$SCRATCH/bc1.log" --blocks $((old_size / 4096)) \
  --fua-every 7 --flush-every 31 >"$SCRATCH/bc1.out" 2>&1 &
bc=$!
wait_for "writes to be acknowledged" 20 grep -q "^F" "$SCRATCH/bc1.log"

# Bad requests first: nothing changes.
! adm 0 grow r0 >/dev/null 2>&1 || fail "grow without --size was accepted"
! adm 0 grow r0 --size 1x >/dev/null 2>&1 || fail "grow with a bad size was accepted"
out=$(adm 0 grow r0 --size 4M 2>&1) || fail "a grow to a smaller size should be 'nothing to do': $out"
[ "$(stat -c %s "$(disk_of 0)")" = "$old_file" ] || fail "a refused grow changed the file"

alloc_before=$(($(stat -c %b "$(disk_of 1)") * 512))
for n in 0 1; do
  # Node 1 as the FILE provider does it: the new part allocated.
  prealloc=$([ "$n" = 1 ] && echo --preallocate || true)
  adm "$n" grow r0 --size 48M $prealloc || { dump_state; fail "grow on node $n failed"; }
  [ "$(stat -c %s "$(disk_of "$n")")" -gt $((48 * 1048576)) ] || fail "node $n's file did not grow"
  [ "$(volume_size "$n")" = "$old_size" ] || fail "a grow alone changed node $n's size"
  grep -q "grow volume:0 backing:.* done" "$(root_of "$n")/tandemd.log" ||
    fail "no 'grow ... done' event on node $n"
  [ ! -e "$(root_of "$n")/var/lib/tandem/tandemd/r0-0.grow" ] || fail "node $n kept its grow record"
done
added=$(($(stat -c %b "$(disk_of 1)") * 512 - alloc_before))
grown_by=$(($(stat -c %s "$(disk_of 1)") - old_file))
[ "$added" -ge "$grown_by" ] || fail "--preallocate allocated $added bytes for $grown_by new ones"
adm 0 resize r0 --size 48M || { dump_state; fail "resize after the grows failed"; }
for n in 0 1; do
  wait_for "node $n to agree on 48 MiB" 20 size_is "$n" $((48 * 1048576))
done
nbd_size=$(nbdinfo --size "$(nbd_uri_ro 1)")
[ "$nbd_size" = $((48 * 1048576)) ] || fail "node 1 exports $nbd_size bytes"
sleep 1
kill -0 "$bc" 2>/dev/null || { cat "$SCRATCH/bc1.out"; fail "the writer stopped: a write failed"; }
kill -TERM "$bc"
wait "$bc" || true
log "$(grep -c "^[WD]" "$SCRATCH/bc1.log") writes acknowledged across both grows and the resize"
adm 0 wait-sync r0 --timeout 60 || { dump_state; fail "the new part did not sync"; }
"$BLOCKCHECK" verify --uri "$(nbd_uri_ro 1)" --log "$SCRATCH/bc1.log" || fail "node 1 lost writes"

# Writes over the whole grown volume reach node 1.
"$BLOCKCHECK" write --uri "$(nbd_uri 0)" --log "$SCRATCH/bc2.log" --blocks $((48 * 256)) \
  --count 3000 --seed 2 --fua-every 5 >"$SCRATCH/bc2.out" 2>&1 || fail "writes to the grown volume"
adm 0 wait-sync r0 --timeout 30 || fail "not in sync after the second writer"
"$BLOCKCHECK" verify --uri "$(nbd_uri_ro 1)" --log "$SCRATCH/bc2.log" || fail "node 1 lost writes"
[ "$(data_sha 0)" = "$(data_sha 1)" ] || fail "nodes 0 and 1 differ"

# An interrupted grow: the record says 48 MiB + md, the file is longer but has
# no superblock at its end. The next start cuts it back and attaches.
grown_file=$(stat -c %s "$(disk_of 1)")
stop_node 1
echo "$grown_file" >"$(root_of 1)/var/lib/tandem/tandemd/r0-0.grow"
truncate -s $((grown_file + 64 * 1048576)) "$(disk_of 1)"
start_node 1  # brings r0 up again
adm 1 wait-connect r0 --timeout 30 || { dump_state; fail "node 1 did not come back after an interrupted grow"; }
[ "$(stat -c %s "$(disk_of 1)")" = "$grown_file" ] || fail "the interrupted grow was not undone"
[ ! -e "$(root_of 1)/var/lib/tandem/tandemd/r0-0.grow" ] || fail "the record stayed"
adm 1 wait-sync r0 --timeout 30 || fail "node 1 did not reconnect"

# A finished grow whose record a crash left behind is kept.
stop_node 1
echo "$old_file" >"$(root_of 1)/var/lib/tandem/tandemd/r0-0.grow"
start_node 1
adm 1 wait-connect r0 --timeout 30 || { dump_state; fail "node 1 did not come back with a finished grow's record"; }
[ "$(stat -c %s "$(disk_of 1)")" = "$grown_file" ] || fail "a finished grow was undone"
[ "$(volume_size 1)" = $((48 * 1048576)) ] || fail "node 1's size after the restart: $(volume_size 1)"
adm 1 wait-sync r0 --timeout 30 || fail "node 1 did not reconnect"
[ "$(data_sha 0)" = "$(data_sha 1)" ] || fail "nodes 0 and 1 differ after the restarts"
log "ok"
