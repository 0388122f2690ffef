#!/usr/bin/env bash
# A replica moves while the Primary writes (what LINSTOR's evacuation does to
# tandemd): r0 on nodes 0 and 1, node 0 Primary under the block checker. Node 2
# joins by adjust: node 0 stays Primary and connects to it online, node 2
# full-syncs. Node 1 then leaves by adjust and goes down. No write fails, no
# acknowledged write is lost, node 0 and node 2 end identical, and node 0 no
# longer knows node 1.
source "$(dirname "$0")/lib.sh"
: "${BLOCKCHECK:?}"
VOLUME_SIZE=16M
# The joining node syncs while the writer runs: no throttling for application I/O.
DISK="disk { c-min-rate 0; }"

# Node 2 has its config and disk, but r0 lists nodes 0 and 1 only.
RES_NODES="0 1" write_res 3 "$DISK"
# Spare bitmap slots, so that a node can join (as LINSTOR's peer slots).
CREATE_MD_ARGS="--max-peers 3" up_synced 2

"$BLOCKCHECK" write --uri "$(nbd_uri 0)" --log "$SCRATCH/bc.log" --blocks 2048 \
  --fua-every 7 --flush-every 31 >"$SCRATCH/bc.out" 2>&1 &
bc=$!
wait_for "writes to be acknowledged" 20 grep -q "^F" "$SCRATCH/bc.log"
[ "$(role_of 0)" = Primary ] || fail "node 0 is not Primary under the writer"

peers_of() { status_json "$1" | json_get '" ".join(sorted(c["name"] for c in d["connections"]))'; }

# Node 2 joins.
RES_NODES="0 1 2" write_res 3 "$DISK"
adm 2 create-md r0 --max-peers 3
start_node 2
adm 2 up r0
adm 0 adjust r0 || fail "adjust on the Primary refused the new node"
adm 1 adjust r0 || fail "adjust on node 1 refused the new node"
[ "$(role_of 0)" = Primary ] || fail "node 0 stopped being Primary during adjust"
adm 2 wait-sync r0 --timeout 90 || { dump_state; fail "node 2 did not sync"; }
[ "$(peers_of 0)" = "node1 node2" ] || fail "node 0 peers: $(peers_of 0)"
log "node 2 joined and synced while node 0 wrote"

# Node 1 leaves.
RES_NODES="0 2" write_res 3 "$DISK"
adm 0 adjust r0 || fail "adjust on the Primary refused the leaving node"
adm 2 adjust r0 || fail "adjust on node 2 refused the leaving node"
adm 1 down r0
[ "$(peers_of 0)" = "node2" ] || fail "node 0 still knows: $(peers_of 0)"
grep -q "destroy connection.*conn-name:node1" "$(root_of 0)/tandemd.log" ||
  fail "no 'destroy connection' event for node 1 on node 0"
sleep 1
kill -0 "$bc" 2>/dev/null || { cat "$SCRATCH/bc.out"; fail "the writer stopped: a write failed"; }
kill -TERM "$bc"
wait "$bc" || true
acked=$(grep -c "^[WD]" "$SCRATCH/bc.log")
log "$acked writes acknowledged across the join and the leave"

adm 0 wait-sync r0 --timeout 30 || fail "nodes 0 and 2 not in sync"
"$BLOCKCHECK" verify --uri "$(nbd_uri_ro 2)" --log "$SCRATCH/bc.log" || fail "node 2 lost writes"
"$BLOCKCHECK" verify --uri "$(nbd_uri_ro 0)" --log "$SCRATCH/bc.log" || fail "node 0 lost writes"
[ "$(data_sha 0)" = "$(data_sha 2)" ] || fail "nodes 0 and 2 differ"
log "ok"
