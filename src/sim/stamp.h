// Stamped blocks: every 4 KiB block the simulated application writes carries a
// 32-byte header naming the block and the write, and a checksum over the whole
// block, so any block read back (or left on a disk at the end) tells which
// write it came from, or that it is torn or misplaced.
//
// Header (little-endian): magic u32 "STMP", writer node u8, vnr u16 (at 6),
// pad u8, block number u64, global sequence number u64, checksum u64 over
// bytes [0, 24) and [32, 4096). The rest of the block is derived from the
// sequence number and the block number.
#pragma once

#include <cstdint>

#include "common/bytes.h"
#include "common/ids.h"

namespace tandem::sim {

inline constexpr uint32_t kStampMagic = 0x504d5453;  // "STMP"
inline constexpr size_t kStampHeaderBytes = 32;
inline constexpr uint32_t kAppBlock = kBlockSize;  // 4 KiB

struct Stamp {
  uint8_t writer = 0;
  uint16_t vnr = 0;
  uint64_t block = 0;
  uint64_t seq = 0;
  bool operator==(const Stamp&) const = default;
};

// Writes one stamped block into out[0, kAppBlock).
void FillStampedBlock(const Stamp& stamp, uint8_t* out);
Bytes MakeStampedBlock(const Stamp& stamp);

enum class BlockKind : uint8_t {
  kZero,     // all zeroes: never written, trimmed or zeroed
  kStamped,  // a complete, intact stamped block
  kGarbage,  // anything else: torn, corrupt, or not ours
};

// REQUIRES: block.size() == kAppBlock.
BlockKind ParseBlock(ByteSpan block, Stamp* stamp);

}  // namespace tandem::sim
