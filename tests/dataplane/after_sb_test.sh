#!/usr/bin/env bash
# The after-sb-0pri policy decides a split brain by itself:
# discard-zero-changes makes the node that started a new generation but
# wrote nothing the SyncTarget; neither node ends StandAlone.
source "$(dirname "$0")/lib.sh"

NET_OPTS="after-sb-0pri discard-zero-changes;" write_res 2
up_synced 2

adm 0 disconnect r0
adm 1 disconnect r0
qemu-io -f raw -c "write -P 0x44 0 1M" "$(nbd_uri 0)" >/dev/null
adm 1 new-current-uuid r0   # a new generation on node 1, without any change
adm 0 connect r0
adm 1 connect r0
adm 1 wait-sync r0 --timeout 30 || fail "the policy did not resolve the split brain"
grep -q "replication:SyncTarget" "$(root_of 1)/tandemd.log" || fail "node 1 was not the SyncTarget"
[ "$(data_sha 0)" = "$(data_sha 1)" ] || fail "replicas differ"
qemu-io -r -f raw -c "read -P 0x44 0 1M" "$(nbd_uri_ro 1)" >/dev/null || fail "node 1 lacks node 0's write"
