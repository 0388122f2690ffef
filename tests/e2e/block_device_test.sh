#!/usr/bin/env bash
# A resource made available as a block device: `r make-available NODE RES
# --block-device` on the tiebreaker's node gives a diskless resource there
# with a loop device (/dev/tandem/by-res/RES/0 under the node's root) that is
# InUse; mkfs.ext4, mount and files work through it, the data reaching the
# two replicas. Clearing Tandem/BlockDevice detaches it (Unused again); a
# block device on a replica's node then mounts the same files.
# Needs root and /dev/fuse; skipped otherwise.
if [ "$(id -u)" != 0 ] || [ ! -e /dev/fuse ]; then
  echo "SKIP: needs root and /dev/fuse"
  exit 0
fi
source "$(dirname "$0")/lib.sh"
: "${BLOCKCHECK:?}"
TANDEMD_ARGS=--fuse
mnt="$SCRATCH/mnt"
mkdir -p "$mnt"
release_devices() {
  mountpoint -q "$mnt" && umount "$mnt"
  local n
  for ((n = 1; n <= NODES; n++)); do
    for link in "$(root_of $n)"/dev/tandem/by-res/*/*; do
      [ -L "$link" ] && losetup -d "$(readlink "$link")" 2>/dev/null
    done
  done
  return 0
}
trap 'release_devices; cleanup' EXIT

start_cluster
spawn vol1 64M
nodes_of vol1
device_path_of() { rsc_json vol1 "$1" | jq -r '.volumes[0].device_path // ""'; }
# The by-res link on the node (the controller names the path either way).
link_of() { echo "$(root_of "${1#node}")/dev/tandem/by-res/vol1/0"; }
has_device() { [ -b "$(readlink "$(link_of "$1")")" ]; }
no_device() { [ ! -e "$(link_of "$1")" ]; }

log "make vol1 available on $C as a block device"
tandem resource make-available "$C" vol1 --block-device >/dev/null
wait_for "a block device on $C" 30 has_device "$C"
[ "$(device_path_of "$C")" = /dev/tandem/by-res/vol1/0 ] || fail "device path: $(device_path_of "$C")"
link=$(link_of "$C")
wait_for "$C InUse" 20 in_use_is vol1 "$C" true
[ "$(disk_state_of vol1 "$C")" = Diskless ] || fail "$C is $(disk_state_of vol1 "$C"), not a diskless client"
mkfs.ext4 -q -F "$link" || fail "mkfs.ext4 on $link"
mount "$link" "$mnt" || fail "mount $link"
for i in 1 2 3; do head -c 1M /dev/urandom >"$mnt/file$i"; done
(cd "$mnt" && sha256sum file*) >"$SCRATCH/sums"
umount "$mnt"

log "clear Tandem/BlockDevice on $C"
tandem resource set-property "$C" vol1 Tandem/BlockDevice false >/dev/null
wait_for "no block device on $C" 30 no_device "$C"
wait_for "$C Unused" 20 in_use_is vol1 "$C" false

log "a block device on $A sees the files"
tandem resource make-available "$A" vol1 --block-device >/dev/null
wait_for "a block device on $A" 30 has_device "$A"
mount "$(link_of "$A")" "$mnt" || fail "mount on $A"
(cd "$mnt" && sha256sum -c --quiet "$SCRATCH/sums") || fail "the files differ on $A"
umount "$mnt"
tandem resource set-property "$A" vol1 Tandem/BlockDevice >/dev/null  # deleted: detach
wait_for "no block device on $A" 30 no_device "$A"
replicas_identical vol1 "$A" "$B" || fail "the replicas differ"
log "ok"
