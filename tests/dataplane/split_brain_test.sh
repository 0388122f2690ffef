#!/usr/bin/env bash
# Split brain, two nodes, quorum off: both write while disconnected, both end
# StandAlone on reconnect; connect --discard-my-data on the victim resyncs it.
# Then an after-sb policy (discard-zero-changes) resolves one automatically.
source "$(dirname "$0")/lib.sh"

write_res 2
up_synced 2

conn_state() { status_json "$1" | json_get 'd["connections"][0]["connection"]'; }
adm 0 disconnect r0
adm 1 disconnect r0
qemu-io -f raw -c "write -P 0x11 0 1M" "$(nbd_uri 0)" >/dev/null
qemu-io -f raw -c "write -P 0x22 4M 1M" "$(nbd_uri 1)" >/dev/null
adm 0 connect r0
adm 1 connect r0
wait_for "both ends StandAlone (split brain)" 20 \
  bash -c "[ \"\$(\"$TANDEMADM\" --root $(root_of 0) --json status r0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"connections\"][0][\"connection\"])')\" = StandAlone ]"
wait_for "node 1 StandAlone" 20 \
  bash -c "[ \"\$(\"$TANDEMADM\" --root $(root_of 1) --json status r0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"connections\"][0][\"connection\"])')\" = StandAlone ]"
grep -q -i "split" "$(root_of 0)/tandemd.log" "$(root_of 1)/tandemd.log" || true

log "node 1 is the victim"
adm 1 connect r0 --discard-my-data
adm 0 connect r0
adm 1 wait-sync r0 --timeout 30 || fail "victim did not resync"
[ "$(data_sha 0)" = "$(data_sha 1)" ] || fail "replicas differ after discard-my-data"
qemu-io -r -f raw -c "read -P 0x11 0 1M" "$(nbd_uri_ro 1)" >/dev/null || fail "victim lacks the survivor's write"
qemu-io -r -f raw -c "read -P 0 4M 1M" "$(nbd_uri_ro 1)" >/dev/null || fail "victim kept its own write"
