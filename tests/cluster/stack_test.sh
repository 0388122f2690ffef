#!/usr/bin/env bash
# The whole stack in network namespaces: a controller and four nodes
# (satellite + tandemd each), a 2-replica volume with its tiebreaker, and the
# block checker writing on the Primary throughout while a Secondary is
# partitioned and healed, then killed (-9, satellite and tandemd) and
# restarted, then evacuated. No write fails, no acknowledged write is lost,
# and the replicas end UpToDate and identical. Needs root; skipped otherwise.
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: needs root for network namespaces"
  exit 0
fi
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/netns.sh"
source "$(dirname "$0")/stack.sh"
: "${BLOCKCHECK:?}"
trap stack_cleanup EXIT

NODES=4
netns_setup 5 # namespace 0: the controller; 1..4: the nodes
start_cluster 4
# Fast failure detection (DRBD units: ping-int in s, ping-timeout in 0.1 s).
tandem controller set-property DrbdOptions/Net/ping-int 1 >/dev/null
tandem controller set-property DrbdOptions/Net/ping-timeout 5 >/dev/null
# Resyncs run beside the writer: no throttling for application I/O.
tandem controller set-property DrbdOptions/PeerDevice/c-min-rate 0 >/dev/null
spawn vol1 16M
read -r A B <<<"$(nodes_in_state vol1 UpToDate)"
a=${A#node} b=${B#node}
log "vol1 on $A and $B, tiebreaker on $(nodes_in_state vol1 TieBreaker)"

"$BLOCKCHECK" write --uri "$(nbd_uri_of vol1 "$A")" --log "$SCRATCH/bc.log" --blocks 2048 \
  --fua-every 5 --flush-every 13 >"$SCRATCH/bc.out" 2>&1 &
bc=$!
wait_for "writes to be acknowledged" 20 grep -q "^F" "$SCRATCH/bc.log"
acked() { grep -c "^[WD]" "$SCRATCH/bc.log"; }
writer_alive() {
  kill -0 "$bc" 2>/dev/null && return 0
  cat "$SCRATCH/bc.out" >&2
  dump_state
  fail "the writer on $A stopped ($1): a write failed"
}
acked_more_than() { [ "$(acked)" -gt "$1" ]; }
synced_on_primary() { adm "$a" wait-sync vol1 --timeout "$1" || { dump_state; fail "$2"; }; }

log "partition $B"
partition "$b"
wait_for "$B OFFLINE" 30 node_status_is "$B" OFFLINE
n=$(acked)
wait_for "writes to go on without $B" 30 acked_more_than $((n + 200))
writer_alive "partition"
heal "$b"
wait_for "$B ONLINE" 30 node_status_is "$B" ONLINE
synced_on_primary 90 "$B did not resync after the partition"
writer_alive "heal"

log "kill -9 $B"
stop_node "$b" KILL
wait_for "$B OFFLINE" 30 node_status_is "$B" OFFLINE
n=$(acked)
wait_for "writes to go on without $B" 30 acked_more_than $((n + 200))
restart_node "$b"
wait_for "$B ONLINE" 30 node_status_is "$B" ONLINE
synced_on_primary 90 "$B did not resync after its restart"
writer_alive "restart"

log "evacuate $B while $A writes"
tandem node evacuate "$B" >/dev/null
tandem -m resource list -r vol1 | jq -e --arg n "$B" \
  '.[0][] | select(.node_name==$n) | .flags | index("EVACUATE")' >/dev/null ||
  fail "vol1 on $B was not kept while its replacement syncs"
wait_for "vol1 off $B" 120 test ! -e "$(root_of "$b")/etc/tandem/resources.d/vol1.res"
wait_for "$B's backing file removed" 30 test ! -e "$(pool_dir "$b")/vol1_00000.img"
read -r X Y <<<"$(nodes_in_state vol1 UpToDate)"
NEW=$X
[ "$NEW" != "$A" ] || NEW=$Y
[ -n "$NEW" ] && [ "$NEW" != "$B" ] || fail "no new UpToDate replica: $(states_of vol1)"
synced_on_primary 60 "vol1 not in sync after the evacuation"
writer_alive "evacuation"
kill -TERM "$bc"
wait "$bc" || true
log "$(acked) writes acknowledged; vol1 now on $A and $NEW"

"$BLOCKCHECK" verify --uri "$(ro_uri "$(nbd_uri_of vol1 "$A")")" --log "$SCRATCH/bc.log" ||
  fail "$A lost acknowledged writes"
"$BLOCKCHECK" verify --uri "$(ro_uri "$(nbd_uri_of vol1 "$NEW")")" --log "$SCRATCH/bc.log" ||
  fail "$NEW lost acknowledged writes"
replicas_identical vol1 "$A" "$NEW" || fail "the replicas on $A and $NEW differ"
log "ok"
