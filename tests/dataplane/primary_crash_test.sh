#!/usr/bin/env bash
# kill -9 of the Primary during writes: another node is promoted and the block
# checker finds every write that was acknowledged with FUA, or followed by an
# acknowledged flush. The crashed node comes back as SyncTarget.
source "$(dirname "$0")/lib.sh"
: "${BLOCKCHECK:?}"

write_res 2
up_synced 2

"$BLOCKCHECK" write --uri "$(nbd_uri 0)" --log "$SCRATCH/bc.log" --blocks 4096 \
  --fua-every 5 --flush-every 13 >"$SCRATCH/bc.out" 2>&1 &
bc=$!
wait_for "writes to be acknowledged" 20 grep -q "^F" "$SCRATCH/bc.log"
sleep 1
kill_node 0
wait "$bc" || true
acked=$(grep -c "^[WD]" "$SCRATCH/bc.log")
log "node 0 killed after $acked acknowledged writes"

wait_for "node 1 to see node 0 gone" 20 \
  bash -c "[ \"\$(\"$TANDEMADM\" --root $(root_of 1) --json status r0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"connections\"][0][\"connection\"])')\" != Connected ]"
adm 1 primary r0 || fail "node 1 could not be promoted"
"$BLOCKCHECK" verify --uri "$(nbd_uri 1)" --log "$SCRATCH/bc.log" || fail "lost acknowledged writes"
adm 1 secondary r0

start_node 0  # tandemd brings r0 up again from its persisted spec
adm 0 wait-sync r0 --timeout 60 || fail "node 0 did not resync"
[ "$(data_sha 0)" = "$(data_sha 1)" ] || fail "replicas differ after the crashed Primary came back"
"$BLOCKCHECK" verify --uri "$(nbd_uri 0)" --log "$SCRATCH/bc.log" || fail "node 0 lost writes"
