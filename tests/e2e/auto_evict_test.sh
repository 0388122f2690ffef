# Issue 5, Auto-Evict (user guide "Auto-Evict"): a node offline for longer
# than DrbdOptions/AutoEvictAfterTime is EVICTED and its replica is placed on
# another node, which syncs to UpToDate, so the resource has two replicas
# again; with AutoEvictAllowEviction=false on a node it is never evicted.
# `node restore` clears EVICTED; the returning node drops the resource it no
# longer holds. (AutoEvictAfterTime is in minutes; fractions are accepted, so
# that this test waits seconds.)
source "$(dirname "$0")/lib.sh"

start_cluster
tandem controller set-property DrbdOptions/AutoEvictAfterTime 0.05 >/dev/null  # 3 s
spawn vol1 16M
nodes_of vol1
log "replicas on $A and $B, tiebreaker on $C; $A is kept, $B dies"
tandem node set-property "$A" DrbdOptions/AutoEvictAllowEviction false >/dev/null

flags_of() { tandem -m node list | jq -r --arg n "$1" '.[0][] | select(.name==$n) | (.flags // []) | join(",")'; }
flags_are() { [ "$(flags_of "$1")" = "$2" ]; }

stop_node "${B#node}" KILL
wait_for "$B EVICTED" 30 flags_are "$B" EVICTED
tandem node list
wait_for "vol1 UpToDate on $A and $C" 60 nodes_in_state_are vol1 UpToDate "$(sorted "$A" "$C")"
[ -z "$(tandem -m resource list -n "$B" | jq -r '.[0][] | .name')" ] || fail "$B still holds resources"
tandem resource list

log "$A is offline too, but may not be evicted"
stop_node "${A#node}" KILL
sleep 6
[ "$(flags_of "$A")" = "" ] || fail "$A was evicted despite AutoEvictAllowEviction=false"
restart_node "${A#node}"
wait_for "$A ONLINE" 20 node_status_is "$A" ONLINE

log "restore $B and bring it back"
tandem node restore "$B" >/dev/null
flags_are "$B" "" || fail "$B is still $(flags_of "$B")"
restart_node "${B#node}"
wait_for "$B ONLINE" 20 node_status_is "$B" ONLINE
wait_for "vol1 dropped on $B" 20 test ! -e "$(root_of "${B#node}")/etc/tandem/resources.d/vol1.res"
[ ! -e "$(pool_dir "${B#node}")/vol1_00000.img" ] || fail "vol1's backing file is left on $B"
log "ok"
