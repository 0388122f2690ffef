#include "sim/stamp.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"

namespace tandem::sim {

namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t BlockChecksum(const uint8_t* block) {
  return Checksum64(ByteSpan(block, 24),
                    Checksum64(ByteSpan(block + kStampHeaderBytes, kAppBlock - kStampHeaderBytes)));
}

}  // namespace

void FillStampedBlock(const Stamp& stamp, uint8_t* out) {
  std::memset(out, 0, kStampHeaderBytes);
  std::memcpy(out, &kStampMagic, 4);
  out[4] = stamp.writer;
  std::memcpy(out + 6, &stamp.vnr, 2);
  std::memcpy(out + 8, &stamp.block, 8);
  std::memcpy(out + 16, &stamp.seq, 8);
  uint64_t state = SplitMix(stamp.seq * 0x100000001b3ull ^ stamp.block);
  for (size_t off = kStampHeaderBytes; off < kAppBlock; off += 8) {
    state = SplitMix(state);
    std::memcpy(out + off, &state, 8);
  }
  uint64_t sum = BlockChecksum(out);
  std::memcpy(out + 24, &sum, 8);
}

Bytes MakeStampedBlock(const Stamp& stamp) {
  Bytes b(kAppBlock);
  FillStampedBlock(stamp, b.data());
  return b;
}

BlockKind ParseBlock(ByteSpan block, Stamp* stamp) {
  TANDEM_CHECK(block.size() == kAppBlock);
  uint32_t magic;
  std::memcpy(&magic, block.data(), 4);
  if (magic != kStampMagic) {
    bool zero = std::all_of(block.begin(), block.end(), [](uint8_t b) { return b == 0; });
    return zero ? BlockKind::kZero : BlockKind::kGarbage;
  }
  uint64_t sum;
  std::memcpy(&sum, block.data() + 24, 8);
  if (sum != BlockChecksum(block.data())) return BlockKind::kGarbage;
  Stamp s;
  s.writer = block[4];
  std::memcpy(&s.vnr, block.data() + 6, 2);
  std::memcpy(&s.block, block.data() + 8, 8);
  std::memcpy(&s.seq, block.data() + 16, 8);
  if (stamp) *stamp = s;
  return BlockKind::kStamped;
}

}  // namespace tandem::sim
