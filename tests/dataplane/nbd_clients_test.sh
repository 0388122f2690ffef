#!/usr/bin/env bash
# NBD conformance with real clients: nbdinfo (size, flags, list), nbdcopy
# round trips, qemu-img and qemu-io, fio --ioengine=nbd, TCP, and a refused
# promotion that says why.
source "$(dirname "$0")/lib.sh"
NBD_PORT=$((PORT + 5))

write_res 2
for n in 0 1; do
  adm $n create-md r0
  TANDEMD_ARGS="--nbd-listen $(node_ip $n):$NBD_PORT" start_node $n
  adm $n up r0
done
adm 0 wait-connect r0 --timeout 20 || fail "nodes did not connect"
adm 0 new-current-uuid r0 --clear-bitmap
adm 1 wait-sync r0 --timeout 30 || fail "not UpToDate"
size=$(volume_size 0)

log "nbdinfo"
nbdinfo --json "$(nbd_uri 0)" >"$SCRATCH/info.json" || fail "nbdinfo"
python3 - "$SCRATCH/info.json" "$size" <<'PY' || fail "nbdinfo reports wrong size or flags"
import json, sys
d = json.load(open(sys.argv[1]))
e = d["exports"][0]
assert e["export-size"] == int(sys.argv[2]), e["export-size"]
for k in ("can_flush", "can_fua", "can_trim", "can_zero", "can_multi_conn"):
    assert e[k] is True, k
assert e["is_read_only"] is False
assert d["protocol"] == "newstyle-fixed"
PY
nbdinfo --list "nbd://$(node_ip 0):$NBD_PORT" >"$SCRATCH/list.txt" || fail "nbdinfo --list over TCP"
grep -q "r0/0" "$SCRATCH/list.txt" || fail "export r0/0 not listed"
ro=$(nbdinfo --json "nbd+unix:///r0/0:ro?socket=$(nbd_sock 0)" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["exports"][0]["is_read_only"])')
[ "$ro" = True ] || fail "r0/0:ro is not read-only"

log "nbdcopy round trip over TCP"
head -c 8M /dev/urandom >"$SCRATCH/a.bin"
nbdcopy "$SCRATCH/a.bin" "nbd://$(node_ip 0):$NBD_PORT/r0/0"
nbdcopy "nbd://$(node_ip 1):$NBD_PORT/r0/0:ro" "$SCRATCH/b.bin"
cmp -n 8388608 "$SCRATCH/a.bin" "$SCRATCH/b.bin" || fail "nbdcopy round trip differs"

log "qemu-img and qemu-io"
qemu-img info "$(nbd_uri 0)" | grep -q "virtual size" || fail "qemu-img info"
qemu-io -f raw -c "write -P 0xcd 1M 256k" -c "flush" -c "write -z 2M 64k" -c "discard 3M 64k" \
  "$(nbd_uri 0)" >"$SCRATCH/qio.txt" || { cat "$SCRATCH/qio.txt"; fail "qemu-io writes"; }
qemu-io -r -f raw -c "read -P 0xcd 1M 256k" -c "read -P 0 2M 64k" -c "read -P 0 3M 64k" \
  "$(nbd_uri_ro 1)" >"$SCRATCH/qio2.txt" || { cat "$SCRATCH/qio2.txt"; fail "qemu-io read-back on node 1"; }
qemu-img convert -n -f raw -O raw "$SCRATCH/a.bin" "$(nbd_uri 1)" || fail "qemu-img convert"

log "fio --ioengine=nbd"
fio --name=r --ioengine=nbd --uri="$(nbd_uri 0)" --rw=randrw --bs=4k --iodepth=32 --size=16M \
  --runtime=3 --time_based --output="$SCRATCH/fio.txt" >/dev/null || { cat "$SCRATCH/fio.txt"; fail "fio"; }

log "refused promotion"
adm 0 primary r0
if nbdinfo "$(nbd_uri 1)" >"$SCRATCH/refused.txt" 2>&1; then fail "node 1 opened read-write while node 0 is Primary"; fi
# qemu prints the server's reason; libnbd prints it in its debug output.
if qemu-img info "$(nbd_uri 1)" >"$SCRATCH/refused.txt" 2>&1; then fail "qemu opened read-write on node 1"; fi
grep -q "r0 is Primary on node0" "$SCRATCH/refused.txt" || { cat "$SCRATCH/refused.txt"; fail "refusal does not say why"; }
LIBNBD_DEBUG=1 nbdinfo "$(nbd_uri 1)" >"$SCRATCH/refused.txt" 2>&1 || true
grep -q "r0 is Primary on node0" "$SCRATCH/refused.txt" || { cat "$SCRATCH/refused.txt"; fail "libnbd did not get the reason"; }
nbdinfo "$(nbd_uri_ro 1)" >/dev/null || fail "read-only open on the Secondary"
adm 0 secondary r0
