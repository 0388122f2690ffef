// Bitmap: one bit per 4 KiB block of a volume, set = out of sync towards one
// peer (drbd-semantics.md §4.2). Keeps a running count of set bits.
//
// Compact encoding (for the bitmap exchange, drbd-semantics.md §8.1): run
// lengths of alternating clear/set bits, each run length varint-encoded.
// EncodeCompact falls back to
// the plain little-endian word encoding when that is shorter. The byte format
// is specified in docs/bitmap-encoding.md.
#pragma once

#include <cstdint>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace tandem::engine {

class Bitmap {
 public:
  Bitmap() = default;
  explicit Bitmap(uint64_t bits);

  uint64_t size() const { return bits_; }
  // Grows or shrinks; new bits are clear.
  void Resize(uint64_t bits);

  bool Test(uint64_t bit) const;
  // Set/Clear return how many bits actually changed.
  uint64_t Set(uint64_t bit);
  uint64_t Clear(uint64_t bit);
  uint64_t SetRange(uint64_t first, uint64_t count);
  uint64_t ClearRange(uint64_t first, uint64_t count);
  void SetAll();
  void ClearAll();
  uint64_t Count() const { return count_; }
  // Count of set bits in [first, first+count).
  uint64_t CountRange(uint64_t first, uint64_t count) const;
  // First set bit at or after `from`; size() if none.
  uint64_t FindNextSet(uint64_t from) const;
  // First clear bit at or after `from`; size() if none.
  uint64_t FindNextClear(uint64_t from) const;
  // this |= other (sizes must match).
  void Or(const Bitmap& other);
  bool operator==(const Bitmap& other) const;

  const std::vector<uint64_t>& words() const { return words_; }

  // Wire encodings. Decoders validate and never read past the input.
  Bytes EncodeCompact() const;
  static Result<Bitmap> DecodeCompact(ByteSpan in, uint64_t bits);

 private:
  void Recount();
  uint64_t bits_ = 0;
  uint64_t count_ = 0;
  std::vector<uint64_t> words_;
};

}  // namespace tandem::engine
