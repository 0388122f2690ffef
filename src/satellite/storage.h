// Storage providers of tandem-satellite (docs/satellite-protocol.md, "What the
// satellite does with it"): FILE (preallocated files), FILE_THIN (sparse files)
// and DISKLESS. A volume is one file with internal metadata, sized so that
// its usable size is at least what the user asked for.
//
// Thread-safe: functions touch only the files they are given.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "satproto/messages.h"

namespace tandem::satellite {

enum class Provider { kFile, kFileThin, kDiskless };
Result<Provider> ParseProvider(const std::string& name);  // refuses LVM, ZFS, ...

// `<dir>/<resource>_<vnr as 5 digits>.img`
std::string VolumeFile(const std::string& dir, const std::string& resource, int vnr);

// Bytes the backing file needs so that `net_bytes` stay usable next to internal
// metadata with `max_peers` bitmap slots.
Result<uint64_t> GrossBytes(uint64_t net_bytes, uint32_t max_peers);

struct EnsureResult {
  bool created = false;  // the file did not exist (it needs create-md)
  bool grown = false;    // the file was made larger (it needs resize)
  uint64_t bytes = 0;    // file size now
};

// Creates the backing file of a volume or grows it to `gross_bytes`; never
// shrinks. FILE preallocates (fallocate), FILE_THIN leaves holes. The pool
// directory must exist.
Result<EnsureResult> EnsureVolumeFile(Provider provider, const std::string& dir,
                                      const std::string& path, uint64_t gross_bytes);

// Removes the file; a missing file is fine.
Status DeleteVolumeFile(const std::string& path);

// Capacity of a pool from statvfs of its directory; DISKLESS pools report
// none. FILE_THIN also tells whether the file system can clone (FICLONE).
satproto::PoolState PoolStateOf(const satproto::PoolDesired& pool);

// Blocks allocated to a file, in KiB (0 when it does not exist).
int64_t AllocatedKib(const std::string& path);

}  // namespace tandem::satellite
