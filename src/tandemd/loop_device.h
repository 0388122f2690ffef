// Loop devices over the FUSE export (docs/tandemd.md, "Frontends"): the block
// device a user mounts. `tandemadm attach-device` and the satellite (a
// resource with Tandem/BlockDevice) use these. The loop device holds the FUSE
// file open read-write, so the node is Primary while it exists.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "tandemd/daemon.h"

namespace tandem::tandemd {

// Runs argv (no shell), returns its stdout and stderr, or an error that
// carries them when it exits non-zero.
Result<std::string> RunCommand(const std::vector<std::string>& argv);

// <root>/dev/tandem/by-res/<res>/<vnr>
std::string LoopLink(const Paths& paths, const std::string& res, uint16_t vnr);
// The loop device the link points at, or "" when there is none.
std::string LoopDeviceOf(const Paths& paths, const std::string& res, uint16_t vnr);
// `losetup --direct-io=on` on the volume's FUSE file, and the by-res link to
// it; returns the device. Idempotent: an existing link is kept.
Result<std::string> AttachLoopDevice(const Paths& paths, const std::string& res, uint16_t vnr);
// `losetup -d` and the link removed; nothing to do without a link.
Status DetachLoopDevice(const Paths& paths, const std::string& res, uint16_t vnr);

}  // namespace tandem::tandemd
