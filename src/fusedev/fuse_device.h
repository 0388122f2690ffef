// FuseDevice: block volumes as regular files on one FUSE mount.
//
// tandemd mounts one FuseDevice at <root>/run/tandem/dev and adds a file per
// volume: <mountpoint>/<resource>/<vnr>. Consumers open the file (a loop
// device with --direct-io=on, a VM image, dd) and every open, read, write,
// fsync and fallocate becomes a call on the volume's BlockExport. The file's
// size is the export's SizeBytes(), re-read on every stat, so an online grow
// shows at once. Files bypass the page cache (FOPEN_DIRECT_IO), so O_DIRECT
// works and no data sits in a kernel cache that a peer cannot see.
//
// Threading: the session runs on one thread of its own, which reads requests
// from /dev/fuse and never blocks: every request that needs the export is
// handed to the export's thread with BlockExport::Post() and answered from its
// callback (libfuse replies are thread-safe). Parallelism thus comes from the
// exports, not from extra FUSE threads. The public methods are thread-safe,
// but AddVolume/RemoveVolume/Stop block and must not run on an export's thread
// (RemoveVolume and Stop wait for callbacks that run there).
//
// Ownership: FuseDevice does not own the exports. An export must stay alive
// from AddVolume until RemoveVolume (or Stop) returns; after that FuseDevice
// never touches it again.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/block_export.h"
#include "common/ids.h"
#include "common/result.h"

namespace tandem {

struct FuseDeviceOptions {
  // Largest write the kernel sends in one request; at least 4096. libfuse
  // 3.14 cannot take more than 1 MiB (256 pages); larger values are lowered
  // to what it takes.
  uint32_t max_write = 1u << 20;
  // Requests the kernel keeps in flight in the background (asynchronous
  // direct I/O, as a loop device with --direct-io=on issues it); at least 1.
  // The kernel default of 12 would cap the queue depth seen by the exports.
  uint16_t max_background = 512;
  // Queue length at which the kernel reports the mount as congested; at
  // most max_background.
  uint16_t congestion_threshold = 384;
  // Let processes of other users open the files (permissions are still
  // checked against mode 0660 and the daemon's uid/gid).
  bool allow_other = true;
  // Before mounting, lazily detach FUSE mounts of this kind (fstype
  // fuse.tandem) left at the mountpoint by a crashed previous run.
  bool detach_stale_mounts = true;
};

class FuseDevice {
 public:
  explicit FuseDevice(FuseDeviceOptions options = {});
  // Stops if still running (see Stop()).
  ~FuseDevice();
  FuseDevice(const FuseDevice&) = delete;
  FuseDevice& operator=(const FuseDevice&) = delete;

  // Creates the mountpoint directory (and its parents) if missing, detaches
  // stale mounts there, mounts, and starts the session thread. Fails with
  // kIoError when mounting fails (no /dev/fuse, no permission) and with
  // kInvalidArgument for invalid options (max_write < 4096, max_background
  // 0, congestion_threshold > max_background) or when the device was started
  // before. A FuseDevice is started at most once.
  [[nodiscard]] Status Start(const std::string& mountpoint);

  // Stops the session thread, waits until every request handed to an export
  // has completed, Closes every handle still open (so each successful Open is
  // paired with one Close), then closes /dev/fuse and unmounts lazily (the
  // mount leaves the namespace even while files are open). Open files see
  // ENOTCONN afterwards. Idempotent.
  // REQUIRES: not called on an export's thread; the exports still run their
  // threads (Stop posts the last Closes there and waits for them). Stop hangs
  // as long as an export does not complete a request.
  void Stop();

  // Makes <mountpoint>/<resource>/<vnr> appear. Allowed before Start and
  // while mounted. Fails with kInvalidArgument for a bad resource name or a
  // null export, kAlreadyExists when the volume is there.
  [[nodiscard]] Status AddVolume(const std::string& resource, VolumeNr vnr, BlockExport* exp);

  // Makes the file disappear. Handles still open on it fail every further
  // request with ENODEV; RemoveVolume Closes them on the export itself and
  // waits until no request to the export is in flight. Fails with kNotFound.
  // REQUIRES: not called on the export's thread.
  [[nodiscard]] Status RemoveVolume(const std::string& resource, VolumeNr vnr);

  // The mountpoint given to Start(), made absolute; and a volume's file there.
  const std::string& mountpoint() const;
  std::string VolumePath(const std::string& resource, VolumeNr vnr) const;

  class Impl;  // in fuse_device.cc; public only for the libfuse callbacks there

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem
