# Issue 5, end to end: rg create / vg create / rg spawn gives two UpToDate
# replicas and a diskless tiebreaker; data written through NBD on one replica
# is on the other; make-available gives a third node a diskless resource that
# reads and writes through its peers; r delete and rd delete remove the
# backing files.
source "$(dirname "$0")/lib.sh"

start_cluster

log "spawn a 2-replica volume"
tandem resource-group create grp --place-count 2 --storage-pool pool1 >/dev/null
tandem volume-group create grp >/dev/null
tandem resource-group spawn-resources grp vol1 32M >/dev/null
wait_for "two UpToDate replicas of vol1" 60 count_is vol1 UpToDate 2
wait_for "a tiebreaker for vol1" 20 count_is vol1 TieBreaker 1
tandem resource list
nodes_of vol1
log "replicas on $A and $B, tiebreaker on $C"
for n in $A $B; do
  f=$(pool_dir "${n#node}")/vol1_00000.img
  [ -f "$f" ] || fail "no backing file $f"
done
[ ! -e "$(pool_dir "${C#node}")/vol1_00000.img" ] || fail "the tiebreaker has a backing file"
[ "$(tandem -m resource list -r vol1 | jq -r '[.[0][] | .layer_object.drbd.connections | to_entries[] | .value.connected] | all')" = true ] \
  || fail "not every connection is Connected"
tandem resource list | grep -q "vol1.*$A.*Unused.*Ok.*UpToDate" || fail "r l does not show $A Unused Ok UpToDate"

log "write through NBD on $A, read back on $B"
head -c 8M /dev/urandom >"$SCRATCH/data"
uri=$(nbd_uri_of vol1 "$A")
[ -n "$uri" ] && [ "$uri" != null ] || fail "no nbd_uri reported for $A"
nbdcopy "$SCRATCH/data" "$uri"
wait_for "$A InUse to end" 10 in_use_is vol1 "$A" false
uri_b=$(nbd_uri_of vol1 "$B")
same_prefix "$(ro_uri "$uri_b")" "$SCRATCH/data" || fail "$B does not hold what $A wrote"

log "make vol1 available on $C (diskless) and write there"
tandem resource make-available "$C" vol1 >/dev/null
wait_for "$C Diskless" 30 disk_state_is vol1 "$C" Diskless
head -c 4M /dev/urandom >"$SCRATCH/data2"
nbdcopy "$SCRATCH/data2" "$(nbd_uri_of vol1 "$C")"
same_prefix "$(ro_uri "$(nbd_uri_of vol1 "$A")")" "$SCRATCH/data2" \
  || fail "$A does not hold what the diskless $C wrote"

log "r delete and rd delete remove the backing files"
tandem resource delete "$C" vol1 >/dev/null
wait_for "vol1 gone from $C" 20 test ! -e "$(root_of "${C#node}")/etc/tandem/resources.d/vol1.res"
tandem resource-definition delete vol1 >/dev/null
for n in $A $B; do
  wait_for "vol1 files gone on $n" 20 test ! -e "$(pool_dir "${n#node}")/vol1_00000.img"
done
[ -z "$(ls "$(root_of "${A#node}")/etc/tandem/resources.d")" ] || fail ".res files left on $A"
log "ok"
