#!/usr/bin/env bash
# The loop path: the FUSE file under a loop device with direct I/O, mkfs.ext4,
# mount, files; after a role switch the peer mounts and sees the files.
# Needs root and /dev/fuse; skipped (exit 0 with a note) otherwise.
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ] || [ ! -e /dev/fuse ]; then
  echo "SKIP: needs root and /dev/fuse"
  exit 0
fi
VOLUME_SIZE=128M
TANDEMD_ARGS=--fuse
write_res 2
up_synced 2
mnt="$SCRATCH/mnt"
mkdir -p "$mnt"
umount_all() {
  mountpoint -q "$mnt" && umount "$mnt" || true
  for n in 0 1; do adm $n detach-device r0 >/dev/null 2>&1 || true; done
}
trap 'umount_all; cleanup' EXIT

link0="$(root_of 0)/dev/tandem/by-res/r0/0"
adm 0 attach-device r0 || fail "attach-device on node 0"
[ -b "$(readlink "$link0")" ] || fail "$link0 is not a link to a block device"
[ "$(role_of 0)" = Primary ] || fail "opening the loop device did not promote node 0"
mkfs.ext4 -q -F "$link0" || fail "mkfs.ext4"
mount "$link0" "$mnt" || fail "mount"
for i in 1 2 3; do head -c 1M /dev/urandom >"$mnt/file$i"; done
sha256sum "$mnt"/file* | sed "s|$mnt/||" >"$SCRATCH/sums"
umount "$mnt"
adm 0 detach-device r0 || fail "detach-device"
wait_for "node 0 to demote" 10 bash -c "[ \"\$(\"$TANDEMADM\" --root $(root_of 0) --json status r0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"role\"])')\" = Secondary ]"
adm 1 wait-sync r0 --timeout 30

log "role switch: node 1 mounts"
link1="$(root_of 1)/dev/tandem/by-res/r0/0"
adm 1 attach-device r0 || fail "attach-device on node 1"
mount "$link1" "$mnt" || fail "mount on node 1"
(cd "$mnt" && sha256sum -c "$SCRATCH/sums") || fail "files differ on node 1"
umount "$mnt"
adm 1 detach-device r0
