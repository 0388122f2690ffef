# Issue 5, resource and node lifecycle through the controller:
# - a satellite restart interrupts no I/O (tandemd keeps running) and the node
#   comes back ONLINE with the same state;
# - `r create --auto-place +1` adds a third replica that syncs to UpToDate;
# - `node evacuate` moves a node's replicas away and the node shows EVACUATE;
#   the leaving replica stays (flagged EVACUATE) until the new one is UpToDate;
#   `node restore` clears it.
source "$(dirname "$0")/lib.sh"
: "${BLOCKCHECK:?}"

start_cluster
spawn vol1 32M
nodes_of vol1

log "restart the satellite of $A while writing there"
"$BLOCKCHECK" write --uri "$(nbd_uri_of vol1 "$A")" --log "$SCRATCH/bc.log" --blocks 1024 \
  --count 20000 --fua-every 5 --flush-every 13 >"$SCRATCH/bc.out" 2>&1 &
bc=$!
wait_for "writes to be acknowledged" 20 grep -q "^F" "$SCRATCH/bc.log"
stop_pidfile "$(root_of "${A#node}")/satellite.pid" KILL
wait_for "$A OFFLINE" 20 node_status_is "$A" OFFLINE
start_satellite "${A#node}"
wait_for "$A ONLINE" 20 node_status_is "$A" ONLINE
wait "$bc" || fail "the writer failed across the satellite restart: $(cat "$SCRATCH/bc.out")"
[ "$(grep -c "^[WD]" "$SCRATCH/bc.log")" = 20000 ] || fail "not every write was acknowledged"
grep -q "destroy resource name:vol1\|down vol1" "$(root_of "${A#node}")/tandemd.log" \
  && fail "the satellite restart took vol1 down"
wait_for "$A UpToDate after the restart" 10 disk_state_is vol1 "$A" UpToDate

log "auto-place +1: a third replica on $C"
tandem resource create vol1 --auto-place +1 >/dev/null
syncing_shown() { tandem resource list | grep -q "vol1.*$C.*SyncTarget([0-9.]*%)"; }
wait_for "r l to show $C's sync progress" 30 syncing_shown
tandem resource list
wait_for "three UpToDate replicas" 60 count_is vol1 UpToDate 3
[ -f "$(pool_dir "${C#node}")/vol1_00000.img" ] || fail "no backing file on $C"
replicas_identical vol1 "$A" "$C" || fail "the new replica on $C differs from $A"

tandem resource-definition delete vol1 >/dev/null

spawn vol2 16M
nodes_of vol2
log "evacuate $A: vol2 moves from $A to $C"
head -c 4M /dev/urandom >"$SCRATCH/data"
nbdcopy "$SCRATCH/data" "$(nbd_uri_of vol2 "$B")"
wait_for "$B Unused" 10 in_use_is vol2 "$B" false
tandem node evacuate "$A" >/dev/null
tandem -m node list | jq -e --arg n "$A" '.[0][] | select(.name==$n) | .flags | index("EVACUATE")' >/dev/null \
  || fail "$A is not marked EVACUATE"
# The leaving replica stays until its replacement is UpToDate.
tandem -m resource list | jq -e --arg n "$A" \
  '.[0][] | select(.name=="vol2" and .node_name==$n) | .flags | index("EVACUATE")' >/dev/null \
  || fail "vol2 on $A was not kept, flagged EVACUATE, while its replacement syncs"
wait_for "vol2 off $A" 30 test ! -e "$(root_of "${A#node}")/etc/tandem/resources.d/vol2.res"
wait_for "vol2 UpToDate on $B and $C" 60 nodes_in_state_are vol2 UpToDate "$(sorted "$B" "$C")"
[ ! -e "$(pool_dir "${A#node}")/vol2_00000.img" ] || fail "vol2's backing file is left on $A"
same_prefix "$(ro_uri "$(nbd_uri_of vol2 "$C")")" "$SCRATCH/data" || fail "$C lacks vol2's data"
tandem node list
tandem node restore "$A" >/dev/null
tandem -m node list | jq -e --arg n "$A" '.[0][] | select(.name==$n) | .flags | index("EVACUATE") | not' >/dev/null \
  || fail "$A is still EVACUATE after restore"
log "ok"
