#!/usr/bin/env bash
# The r0.res of seed 003 (a hand-made DRBD cluster), with only its paths and
# addresses adapted, works end to end: no node-id, `on` sections with the
# full host names, allow-two-primaries, after-sb policies, syncer rate.
source "$(dirname "$0")/lib.sh"

NODES=2
for n in 0 1; do
  mkdir -p "$(root_of $n)/etc/tandem/resources.d"
  truncate -s 32M "$(disk_of $n)"
  cat >"$(root_of $n)/etc/tandem/resources.d/r0.res" <<RES
resource r0 {
    meta-disk internal;
    device /dev/drbd0;
    disk $(disk_of $n);

    syncer { rate 1000M; }
        net {
                allow-two-primaries;
                after-sb-0pri discard-zero-changes;
                after-sb-1pri discard-secondary;
                after-sb-2pri disconnect;
        }
    startup { become-primary-on both; }

    on node1.mondomaine.net { address $(node_ip 0):$PORT; }
    on node2.mondomaine.net { address $(node_ip 1):$PORT; }
}
RES
done
sadm() {
  local n=$1
  shift
  "$TANDEMADM" --root "$(root_of $n)" --node "node$((n + 1)).mondomaine.net" "$@"
}
for n in 0 1; do
  sadm $n create-md r0
  start_node $n
  sadm $n up r0
done
sadm 0 wait-connect r0 --timeout 20 || fail "seed-003 nodes did not connect"
sadm 0 primary r0 --force
sadm 1 wait-sync r0 --timeout 60 || fail "initial sync"
log "become-primary-on both: allow-two-primaries lets node 2 promote too"
sadm 1 primary r0 || fail "second Primary refused despite allow-two-primaries"
sadm 0 status r0
qemu-io -f raw -c "write -P 0x33 0 1M" "$(nbd_uri 0)" >/dev/null
qemu-io -r -f raw -c "read -P 0x33 0 1M" "$(nbd_uri_ro 1)" >/dev/null || fail "write on node 1 not visible on node 2"
