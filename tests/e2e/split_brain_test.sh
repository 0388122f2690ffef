# Issue 5, truthful state: a split brain is shown as a split brain. Two nodes,
# so no tiebreaker and no quorum: both sides write while disconnected; on
# reconnect both go StandAlone, and `tandem r l` says SplitBrain(peer) on each
# side instead of hiding it, also after a satellite restart. `tandemadm connect --discard-my-data` on the
# victim resolves it: the victim resyncs and both end UpToDate and identical.
source "$(dirname "$0")/lib.sh"

start_cluster 2
spawn vol1 16M
[ "$(tandem -m resource list -r vol1 | jq '.[0] | length')" = 2 ] || fail "expected no tiebreaker"

log "disconnect, write on both sides, reconnect"
adm 1 disconnect vol1
adm 2 disconnect vol1
head -c 1M /dev/urandom >"$SCRATCH/a"
head -c 1M /dev/urandom >"$SCRATCH/b"
nbdcopy "$SCRATCH/a" "$(nbd_uri_of vol1 node1)"
nbdcopy "$SCRATCH/b" "$(nbd_uri_of vol1 node2)"
adm 1 connect vol1
adm 2 connect vol1
split_on() {
  [ "$(rsc_json vol1 "$1" | jq -r --arg p "$2" '.layer_object.drbd.connections[$p].split_brain')" = true ]
}
wait_for "the split brain on node1" 20 split_on node1 node2
wait_for "the split brain on node2" 20 split_on node2 node1
tandem resource list
tandem resource list | grep -q "vol1.*node1.*SplitBrain(node2)" || fail "r l hides the split brain on node1"
tandem resource list | grep -q "vol1.*node2.*SplitBrain(node1)" || fail "r l hides the split brain on node2"

log "a satellite restart does not forget it"
stop_pidfile "$(root_of 1)/satellite.pid" KILL
wait_for "node1 OFFLINE" 20 node_status_is node1 OFFLINE
start_satellite 1
wait_for "node1 ONLINE" 20 node_status_is node1 ONLINE
wait_for "the split brain on node1 after the restart" 20 split_on node1 node2

log "node2 discards its data"
adm 2 connect vol1 --discard-my-data
adm 1 connect vol1
wait_for "node2 UpToDate again" 60 disk_state_is vol1 node2 UpToDate
wait_for "the connection to be Ok" 20 bash -c "'$TANDEM' --controllers $REST resource list | grep -q 'vol1.*node2.*Ok.*UpToDate'"
same_prefix "$(ro_uri "$(nbd_uri_of vol1 node2)")" "$SCRATCH/a" || fail "node2 does not hold node1's data"
replicas_identical vol1 node1 node2 || fail "the replicas differ"
log "ok"
