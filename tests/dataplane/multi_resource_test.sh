#!/usr/bin/env bash
# One tandemd per node hosts several resources: r0 with internal metadata and
# r1 with an external meta-disk, each on its own port. adjust changes r0's
# options while fio writes to it without disturbing the I/O; down of r1 leaves
# r0 serving.
source "$(dirname "$0")/lib.sh"

write_res 2
for n in 0 1; do
  d=$(root_of $n)
  truncate -s 32M "$d/r1.img"
  truncate -s 4M "$d/r1.meta"
  sed -e "s/resource r0/resource r1/" -e "s/:$PORT;/:$((PORT + 1));/" \
    -e "s|disk $(disk_of $n); meta-disk internal;|disk $d/r1.img; meta-disk $d/r1.meta;|" \
    "$d/etc/tandem/resources.d/r0.res" >"$d/etc/tandem/resources.d/r1.res"
done
for n in 0 1; do
  adm $n create-md r0
  adm $n create-md r1
  start_node $n
  adm $n up r0
  adm $n up r1
done
for r in r0 r1; do
  adm 0 wait-connect $r --timeout 20 || fail "$r did not connect"
  adm 0 new-current-uuid $r --clear-bitmap
  adm 1 wait-sync $r --timeout 30 || fail "$r not UpToDate"
done
[ "$("$TANDEMADM" --root "$(root_of 0)" --json status | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ] ||
  fail "status does not list both resources"
size1=$(adm 0 --json status r1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["volumes"][0]["size"])')
[ "$size1" = 33554432 ] || fail "r1 with external metadata should expose all 32 MiB, shows $size1"

log "adjust r0 while fio writes to it"
fio --name=w --ioengine=nbd --uri="$(nbd_uri 0 r0)" --rw=randwrite --bs=4k --iodepth=8 --size=16M \
  --time_based --runtime=4 --verify=crc32c --do_verify=1 --verify_state_save=0 --output="$SCRATCH/fio.txt" >/dev/null &
fio_pid=$!
sleep 1
for n in 0 1; do
  sed -i 's/cram-hmac-alg sha256;/cram-hmac-alg sha256; max-epoch-size 4096;/' \
    "$(root_of $n)/etc/tandem/resources.d/r0.res"
  adm $n adjust r0 || fail "adjust r0 on node $n"
done
wait $fio_pid || { cat "$SCRATCH/fio.txt"; fail "fio saw errors across adjust"; }
grep -q '"max-epoch-size":4096' "$(root_of 0)/var/lib/tandem/tandemd/r0.json" ||
  fail "the adjusted option was not persisted"
adm 0 wait-sync r0 --timeout 30

log "r1 through its own socket, then down"
head -c 8M /dev/urandom >"$SCRATCH/r1.bin"
nbdcopy "$SCRATCH/r1.bin" "$(nbd_uri 0 r1)"
adm 1 wait-sync r1 --timeout 30
nbdcopy "$(nbd_uri_ro 1 r1)" "$SCRATCH/r1.back"
cmp -n 8388608 "$SCRATCH/r1.bin" "$SCRATCH/r1.back" || fail "r1 replica differs"
for n in 0 1; do adm $n down r1; done
[ ! -e "$(nbd_sock 0 r1)" ] || fail "r1's NBD socket is still there after down"
nbdinfo "$(nbd_uri 0 r0)" >/dev/null || fail "r0 stopped serving after r1 went down"
