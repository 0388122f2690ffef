# Issue 5, node lifecycle: a node that dies (its satellite and tandemd killed
# with SIGKILL) goes OFFLINE and its replica shows Unknown, never a stale
# UpToDate, while writes go on on the other replica; when it comes back it is
# ONLINE again, resyncs only what changed, and both replicas end UpToDate and
# identical with every acknowledged write.
source "$(dirname "$0")/lib.sh"
: "${BLOCKCHECK:?}"

start_cluster
spawn vol1 64M
read -r A B <<<"$(nodes_in_state vol1 UpToDate)"
log "replicas on $A and $B"

"$BLOCKCHECK" write --uri "$(nbd_uri_of vol1 "$A")" --log "$SCRATCH/bc.log" --blocks 1024 \
  --count 30000 --fua-every 5 --flush-every 13 >"$SCRATCH/bc.out" 2>&1 &
bc=$!
wait_for "writes to be acknowledged" 20 grep -q "^F" "$SCRATCH/bc.log"
wait_for "$A InUse" 10 in_use_is vol1 "$A" true

log "kill $B"
stop_node "${B#node}" KILL
before=$(grep -c "^[WD]" "$SCRATCH/bc.log")
wait_for "$B OFFLINE" 20 node_status_is "$B" OFFLINE
wait_for "$B Unknown" 10 disk_state_is vol1 "$B" Unknown
tandem resource list
tandem resource list | grep -q "vol1.*$B.*Unknown.*Unknown.*Unknown" || fail "r l does not show $B as Unknown"
disk_state_is vol1 "$A" UpToDate || fail "$A is not UpToDate while $B is gone"
wait "$bc" || fail "the writer failed while $B was gone: $(cat "$SCRATCH/bc.out")"
after=$(grep -c "^[WD]" "$SCRATCH/bc.log")
log "$before writes acknowledged before the kill, $after at the end"
[ "$after" -gt "$before" ] || fail "no writes were acknowledged after $B died"

log "bring $B back"
restart_node "${B#node}"
wait_for "$B ONLINE" 20 node_status_is "$B" ONLINE
# Right after its restart, before the handshake, tandemd reports the disk as
# it was (UpToDate); wait for the resync itself, then for the end of it.
resync_seen() { [ "$(bytes_written "${B#node}" vol1)" -gt 0 ]; }
wait_for "a resync to $B" 60 resync_seen
in_sync() {
  disk_state_is vol1 "$B" UpToDate &&
    tandem resource list | grep -q "vol1.*$B.*Ok.*UpToDate" &&
    [ "$(rsc_json vol1 "$A" | jq -r --arg p "$B" '.volumes[0].state.replication_states[$p].replication_state')" = Established ]
}
wait_for "$B UpToDate" 60 in_sync
moved=$(bytes_written "${B#node}" vol1)
log "the resync wrote $moved bytes on $B (the writer touched 4 MiB of 64 MiB)"
[ "$moved" -le $((8 << 20)) ] || fail "the resync moved $moved bytes: more than what changed"
"$BLOCKCHECK" verify --uri "$(ro_uri "$(nbd_uri_of vol1 "$B")")" --log "$SCRATCH/bc.log" \
  || fail "$B lost acknowledged writes"
replicas_identical vol1 "$A" "$B" || fail "the replicas differ"
tandem resource list | grep -q "vol1.*$B.*Unused.*Ok.*UpToDate" || fail "r l does not show $B healthy"

log "$B dies for good: node lost"
stop_node "${B#node}" KILL
tandem node lost "$B" >/dev/null
[ -z "$(tandem -m node list | jq -r --arg n "$B" '.[0][] | select(.name==$n) | .name')" ] \
  || fail "$B is still registered"
wait_for "$A to drop $B from vol1" 20 bash -c "! grep -q '\"$B\"' '$(root_of "${A#node}")/etc/tandem/resources.d/vol1.res'"
wait_for "$A UpToDate without $B" 20 disk_state_is vol1 "$A" UpToDate
tandem resource list
log "ok"
