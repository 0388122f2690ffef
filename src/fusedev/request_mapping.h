// Pure translations from what the FUSE kernel module asks for into what a
// BlockExport understands. No libfuse and no I/O here, so every rule of the
// mapping (docs/fusedev.md) is unit-tested on its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_export.h"
#include "common/ids.h"

namespace tandem::fusedev {

// Resource names become directory names: non-empty, at most 255 bytes, no '/'
// or NUL, and not "." or "..".
bool IsValidResourceName(std::string_view name);

// The file name of a volume: its number in decimal, no sign, no leading zero.
std::string VolumeFileName(VolumeNr vnr);
std::optional<VolumeNr> ParseVolumeFileName(std::string_view name);

// The mode an open(2) with these flags needs from the export.
OpenMode OpenModeForFlags(int flags);
// Writes through a handle opened with O_SYNC or O_DSYNC are sent with fua.
bool IsSyncOpen(int flags);

// A byte range after clamping to the volume size.
struct Range {
  uint64_t offset = 0;
  uint32_t length = 0;
};

// Reads behave like reads of a regular file: past the end they are short, at
// or after the end they are empty (length 0).
Range ClampRead(uint64_t offset, uint64_t length, uint64_t size);

// Writes behave like writes to a block device: a write starting at or past
// the end fails with ENOSPC (returned as nullopt), one crossing it is cut
// short.
std::optional<Range> ClampWrite(uint64_t offset, uint64_t length, uint64_t size);

// What one fallocate(2) call becomes.
struct FallocatePlan {
  enum class Kind : uint8_t {
    kNoOp,    // nothing to do: succeed at once
    kSubmit,  // send every one of `requests` to the export
    kError,   // fail with `error`
  };
  Kind kind = Kind::kNoOp;
  int error = 0;
  // BlockRequest lengths are 32-bit, fallocate ranges are not: a range is cut
  // into pieces of at most kMaxRangePiece bytes.
  std::vector<BlockRequest> requests;
};

inline constexpr uint32_t kMaxRangePiece = 1u << 30;

// Every mode is handled here:
//   PUNCH_HOLE|KEEP_SIZE -> kTrim (EOPNOTSUPP when !can_trim)
//   ZERO_RANGE[|KEEP_SIZE] -> kWriteZeroes, no_hole (EOPNOTSUPP when !can_write_zeroes)
//   0 (allocate) -> no-op inside the size, EOPNOTSUPP past the end, since
//     only a resize changes the size; KEEP_SIZE alone -> no-op
//   ZERO_RANGE without KEEP_SIZE reaching past the end -> EOPNOTSUPP
//   anything else (COLLAPSE, INSERT, UNSHARE, PUNCH without KEEP_SIZE) -> EOPNOTSUPP
// Ranges of trim and zeroing are clipped to the size; a range entirely past
// the end is a no-op.
FallocatePlan PlanFallocate(int mode, uint64_t offset, uint64_t length, uint64_t size,
                            bool can_trim, bool can_write_zeroes);

// The mount points of /proc/self/mountinfo `text` that sit exactly at `path`
// and whose file system type is `fstype`, once per stacked mount. Mount points
// in mountinfo escape space, tab, newline and backslash as \ooo.
int CountMountsAt(std::string_view mountinfo_text, std::string_view path, std::string_view fstype);

}  // namespace tandem::fusedev
