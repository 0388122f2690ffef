// Fuzz target for the metadata decoders: DecodeSuperblock, DecodeAlTransaction
// and RecoverActiveExtents must never crash on any input, and whatever decodes
// must re-encode to the same bytes (the v1 encoding is canonical: padding and
// unused entries must be zero) and decode again to an equal struct.
//
// Random bytes almost never pass a checksum, so each input is also tried with
// its checksums recomputed; that lets the fuzzer reach the field validation
// behind the checksum.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/bytes.h"
#include "common/check.h"
#include "engine/metadata.h"

namespace tandem::engine {
namespace {

constexpr size_t kChecksumOffset = 8;  // docs/metadata-format.md, both block kinds

// Recomputes the checksum of every whole 4 KiB block in place.
void Reseal(Bytes* data) {
  for (size_t off = 0; data->size() - off >= kMdBlock; off += kMdBlock) {
    std::memset(data->data() + off + kChecksumOffset, 0, 8);
    uint64_t sum = Checksum64(ByteSpan(data->data() + off, kMdBlock));
    std::memcpy(data->data() + off + kChecksumOffset, &sum, 8);
  }
}

void CheckSuperblock(ByteSpan in) {
  Result<Superblock> sb = DecodeSuperblock(in);
  if (!sb.ok()) return;
  Bytes again = EncodeSuperblock(*sb);
  TANDEM_CHECK(again.size() == kMdBlock);
  TANDEM_CHECK(std::equal(again.begin(), again.end(), in.begin()));
  Result<Superblock> sb2 = DecodeSuperblock(again);
  TANDEM_CHECK(sb2.ok());
  TANDEM_CHECK(*sb2 == *sb);
}

void CheckAlTransaction(ByteSpan in) {
  Result<AlTransaction> tr = DecodeAlTransaction(in);
  if (!tr.ok()) return;
  TANDEM_CHECK(tr->updates.size() <= kAlMaxUpdates);
  TANDEM_CHECK(tr->context.size() <= AlContextCapacity());
  Bytes again = EncodeAlTransaction(*tr);
  TANDEM_CHECK(again.size() == kMdBlock);
  TANDEM_CHECK(std::equal(again.begin(), again.end(), in.begin()));
  Result<AlTransaction> tr2 = DecodeAlTransaction(again);
  TANDEM_CHECK(tr2.ok());
  TANDEM_CHECK(*tr2 == *tr);
}

void CheckRecovery(ByteSpan ring, uint32_t al_extents) {
  std::vector<uint32_t> extents = RecoverActiveExtents(ring, al_extents);
  TANDEM_CHECK(extents.size() <= al_extents);
  TANDEM_CHECK(std::is_sorted(extents.begin(), extents.end()));
  TANDEM_CHECK(std::adjacent_find(extents.begin(), extents.end()) == extents.end());
  TANDEM_CHECK(std::find(extents.begin(), extents.end(), kAlNoExtent) == extents.end());
}

void FuzzOne(ByteSpan in) {
  // As given: short inputs exercise kTruncated, longer ones the "first block
  // only" rule.
  CheckSuperblock(in);
  CheckAlTransaction(in);

  // Padded (or cut) to exactly one block, then also resealed.
  Bytes block(in.begin(), in.begin() + std::min<size_t>(in.size(), kMdBlock));
  block.resize(kMdBlock, 0);
  CheckSuperblock(block);
  CheckAlTransaction(block);
  Reseal(&block);
  CheckSuperblock(block);
  CheckAlTransaction(block);

  // The input as an AL ring, with an AL size taken from its first bytes.
  uint32_t al_extents = 1237;
  if (in.size() >= 2) al_extents = 1 + (uint32_t{in[0]} | uint32_t{in[1]} << 8);
  CheckRecovery(in, al_extents);
  Bytes ring(in.begin(), in.end());
  Reseal(&ring);
  CheckRecovery(ring, al_extents);
  CheckRecovery(ring, 0);
}

Superblock SeedSuperblock() {
  Superblock sb;
  sb.node_id = 1;
  sb.effective_size_sectors = 20'000;
  sb.current_uuid = 0x1234'5678'9abc'def1;
  sb.device_uuid = 0x0fed'cba9'8765'4321;
  sb.flags = kMdConsistent | kMdAlClean;
  sb.max_peers = 2;
  sb.al_extents = 1237;
  sb.al_ring_slots = kAlDefaultRingSlots;
  sb.md_bytes = 4096 + 8 * 4096 + 2 * 4096;
  sb.al_offset = 4096;
  sb.bm_offset = 4096 + 8 * 4096;
  sb.bm_slot_bytes = 4096;
  sb.dagtag = 777;
  sb.peers[0] = {.bitmap_uuid = 11, .bitmap_dagtag = 5, .flags = kMdNodeExists, .bitmap_index = 0};
  sb.peers[1].flags = kMdNodeExists;
  sb.peers[2] = {.bitmap_uuid = 0,
                 .bitmap_dagtag = 0,
                 .flags = kMdNodeExists | kMdPeerOutdated,
                 .bitmap_index = 1};
  sb.history[0] = 0xaaaa;
  sb.history[1] = 0xbbbb;
  return sb;
}

}  // namespace
}  // namespace tandem::engine

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tandem::engine::FuzzOne(tandem::ByteSpan(data, size));
  return 0;
}

extern "C" size_t TandemFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  using namespace tandem::engine;
  size_t before = out->size();
  out->push_back(EncodeSuperblock(SeedSuperblock()));

  AlTransaction t1{.tr_number = 1,
                   .updates = {{0, 10}, {1, 11}},
                   .context_start = 0,
                   .context = {10, 11, kAlNoExtent}};
  AlTransaction t2{.tr_number = 2,
                   .updates = {{1, kAlNoExtent}, {2, 12}},
                   .context_start = 3,
                   .context = {kAlNoExtent, 99}};
  AlTransaction t3{.tr_number = 3, .updates = {{4, 14}}, .context_start = 0, .context = {}};
  out->push_back(EncodeAlTransaction(t1));
  // A three-block ring, newest in the middle (wrapped).
  std::vector<uint8_t> ring;
  for (const AlTransaction* t : {&t2, &t3, &t1}) {
    tandem::Bytes b = EncodeAlTransaction(*t);
    ring.insert(ring.end(), b.begin(), b.end());
  }
  out->push_back(std::move(ring));
  return out->size() - before;
}
