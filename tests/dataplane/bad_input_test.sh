#!/usr/bin/env bash
# Bad input gets a clear error and changes nothing: a broken .res file, an
# unknown resource, a bad admin request, a malformed NBD handshake. The
# daemon goes on serving its other resources.
source "$(dirname "$0")/lib.sh"

write_res 1
adm 0 create-md r0
start_node 0
adm 0 up r0
adm 0 new-current-uuid r0 --clear-bitmap
res=$(root_of 0)/etc/tandem/resources.d

log "a .res file with a typo"
cp "$res/r0.res" "$SCRATCH/good.res"
sed 's/protocol C;/protocol C; allow-too-primaries;/' "$SCRATCH/good.res" | sed 's/resource r0/resource r1/' >"$res/r1.res"
if adm 0 up r1 2>"$SCRATCH/err.txt"; then fail "up with a broken .res file succeeded"; fi
grep -q "r1.res:[0-9]*:.*allow-too-primaries" "$SCRATCH/err.txt" || { cat "$SCRATCH/err.txt"; fail "error does not name file, line and option"; }
rm "$res/r1.res"

log "unknown resource"
if adm 0 primary nosuch 2>"$SCRATCH/err.txt"; then fail "primary of an unknown resource succeeded"; fi
grep -q "unknown resource 'nosuch'" "$SCRATCH/err.txt" || { cat "$SCRATCH/err.txt"; fail "unclear error"; }
if adm 0 up nosuch 2>"$SCRATCH/err.txt"; then fail "up of a resource in no file succeeded"; fi
grep -q "nosuch" "$SCRATCH/err.txt" || { cat "$SCRATCH/err.txt"; fail "unclear error"; }

log "a disk that does not exist"
sed "s|disk $(disk_of 0)|disk $SCRATCH/missing.img|; s/resource r0/resource r2/; s/:$PORT;/:$((PORT + 1));/" \
  "$SCRATCH/good.res" >"$res/r2.res"
if adm 0 up r2 2>"$SCRATCH/err.txt"; then fail "up with a missing disk succeeded"; fi
grep -q "missing.img" "$SCRATCH/err.txt" || { cat "$SCRATCH/err.txt"; fail "error does not name the disk"; }
adm 0 status r2 2>/dev/null && fail "a failed up left r2 behind"
rm "$res/r2.res"

log "online grow: bad sizes, external metadata"
size_before=$(stat -c %s "$(disk_of 0)")
if adm 0 grow r0 2>"$SCRATCH/err.txt"; then fail "grow without --size succeeded"; fi
if adm 0 grow r0 --size lots 2>"$SCRATCH/err.txt"; then fail "grow with a bad size succeeded"; fi
adm 0 grow r0 --size 1M >"$SCRATCH/out.txt" 2>&1 || fail "a grow below the size is 'nothing to do'"
[ "$(stat -c %s "$(disk_of 0)")" = "$size_before" ] || fail "a refused grow changed the file"
truncate -s 8M "$SCRATCH/ext-data.img"
truncate -s 1M "$SCRATCH/ext-meta.img"
sed "s|disk $(disk_of 0); meta-disk internal;|disk $SCRATCH/ext-data.img; meta-disk $SCRATCH/ext-meta.img;|; s/resource r0/resource r3/; s/:$PORT;/:$((PORT + 2));/" \
  "$SCRATCH/good.res" >"$res/r3.res"
adm 0 create-md r3
adm 0 up r3
if adm 0 grow r3 --size 16M 2>"$SCRATCH/err.txt"; then fail "grow with external metadata succeeded"; fi
grep -q "internal metadata" "$SCRATCH/err.txt" || { cat "$SCRATCH/err.txt"; fail "unclear error"; }
[ "$(stat -c %s "$SCRATCH/ext-data.img")" = $((8 * 1048576)) ] || fail "the refused grow changed the file"
adm 0 down r3
rm "$res/r3.res"

log "garbage on the admin and NBD sockets"
python3 - "$(root_of 0)/run/tandem/tandemd.sock" "$(nbd_sock 0)" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(struct.pack("<I", 5) + b"{oops")
n = struct.unpack("<I", s.recv(4))[0]; body = s.recv(n)
assert b"malformed" in body, body
s.sendall(struct.pack("<I", 0xffffffff)); s.close()
for junk in (b"\x00" * 200, b"NBDMAGIC" + b"\xff" * 64, b""):
    t = socket.socket(socket.AF_UNIX); t.connect(sys.argv[2])
    t.recv(18)
    t.sendall(junk); t.close()
PY
[ "$(disk_state 0)" = UpToDate ] || fail "r0 changed: $(disk_state 0)"
nbdinfo "$(nbd_uri 0)" >/dev/null || fail "NBD no longer served after garbage"
qemu-io -f raw -c "write -P 1 0 4k" "$(nbd_uri 0)" >/dev/null || fail "writes no longer work"
