#!/usr/bin/env bash
# Three nodes with quorum in network namespaces: the isolated Primary gets EIO;
# the majority promotes and writes; after healing the old Primary becomes
# SyncTarget and all data is identical. Needs root; skipped otherwise.
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: needs root for network namespaces"
  exit 0
fi
source "$(dirname "$0")/../dataplane/lib.sh"
source "$(dirname "$0")/netns.sh"
trap 'cleanup; netns_cleanup' EXIT

netns_setup 3
# Fast failure detection for the test.
NET_OPTS="ping-int 1; ping-timeout 5;" write_res 3 "options { quorum majority; on-no-quorum io-error; }"
for n in 0 1 2; do
  adm $n create-md r0
  start_node $n
  adm $n up r0
done
adm 0 wait-connect r0 --timeout 20 || fail "nodes did not connect"
adm 0 new-current-uuid r0 --clear-bitmap
for n in 1 2; do adm $n wait-sync r0 --timeout 30 || fail "node $n not UpToDate"; done
adm 0 primary r0
qemu-io -f raw -c "write -P 0x01 0 1M" "$(nbd_uri 0)" >/dev/null || fail "write before the partition"

log "isolate the Primary"
partition 0
quorum_of() { status_json "$1" | json_get 'd["quorum"]'; }
wait_for "node 0 to lose quorum" 30 bash -c "[ \"\$(\"$TANDEMADM\" --root $(root_of 0) --json status r0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"quorum\"])')\" = False ]"
if qemu-io -f raw -c "write -P 0x02 0 64k" "$(nbd_uri 0)" >"$SCRATCH/eio.txt" 2>&1; then
  fail "the isolated Primary accepted a write"
fi
grep -qi "input/output error" "$SCRATCH/eio.txt" || { cat "$SCRATCH/eio.txt"; fail "expected EIO"; }

log "the majority promotes and writes"
wait_for "node 1 to see node 0 gone" 30 bash -c "[ \"\$(\"$TANDEMADM\" --root $(root_of 1) --json status r0 | python3 -c 'import json,sys; c=json.load(sys.stdin)[0][\"connections\"]; print([x[\"connection\"] for x in c if x[\"peer_node_id\"]==0][0])')\" != Connected ]"
adm 0 secondary r0 --force || true
wait_for "node 1 to be UpToDate with quorum" 10 bash -c "[ \"\$(\"$TANDEMADM\" --root $(root_of 1) --json status r0 | python3 -c 'import json,sys; d=json.load(sys.stdin)[0]; print(d[\"volumes\"][0][\"disk\"], d[\"quorum\"])')\" = 'UpToDate True' ]"
adm 1 primary r0 || fail "the majority could not promote"
qemu-io -f raw -c "write -P 0x03 2M 1M" "$(nbd_uri 1)" >/dev/null || fail "majority write"
adm 1 secondary r0

log "heal"
heal 0
for n in 0 1 2; do adm $n wait-sync r0 --timeout 60 || fail "node $n did not resync after healing"; done
for n in 1 2; do [ "$(data_sha $n)" = "$(data_sha 0)" ] || fail "node $n differs from node 0"; done
qemu-io -r -f raw -c "read -P 0x03 2M 1M" -c "read -P 0x01 0 64k" "$(nbd_uri_ro 0)" >"$SCRATCH/read.txt" 2>&1 ||
  { cat "$SCRATCH/read.txt"; fail "node 0 lacks the majority's write or kept its rejected one"; }
if grep -q "Pattern verification failed" "$SCRATCH/read.txt"; then
  cat "$SCRATCH/read.txt"
  fail "node 0 lacks the majority's write or kept its rejected one"
fi
