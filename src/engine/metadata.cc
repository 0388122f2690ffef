// Implementation of the on-disk metadata format. docs/metadata-format.md is the
// prose spec; every offset below appears there, and the golden-bytes tests in
// metadata_test.cc pin the encoding so that a change here cannot go unnoticed.
#include "engine/metadata.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>

#include "common/check.h"
#include "engine/uuid_compare.h"

namespace tandem::engine {
namespace {

// Both block kinds share the header prefix [magic u32][version u32][checksum u64]
// so that the checksum scheme is identical: XXH3-64 (seed 0) over the whole
// 4 KiB block with the checksum field read as zero.
constexpr uint32_t kSuperblockMagic = 0x544d4431;  // "TMD1" (bytes 31 44 4d 54)
constexpr uint32_t kAlMagic = 0x544d414c;          // "TMAL" (bytes 4c 41 4d 54)
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kChecksumOffset = 8;

// Superblock v1 field offsets.
constexpr size_t kSbNodeIdOffset = 100;
constexpr size_t kSbPeersOffset = 104;
constexpr size_t kSbPeerBytes = 24;
constexpr size_t kSbHistoryOffset = kSbPeersOffset + kMaxNodes * kSbPeerBytes;  // 872
constexpr size_t kSbUsedBytes = kSbHistoryOffset + kMaxNodes * 8;               // 1128

// AL transaction v1 field offsets. The update list is stored as two fixed
// arrays (slots, then extents) so that every field is naturally aligned.
constexpr size_t kAlSlotsOffset = 40;
constexpr size_t kAlExtentsOffset = kAlSlotsOffset + kAlMaxUpdates * 2;    // 168
constexpr size_t kAlContextOffset = kAlExtentsOffset + kAlMaxUpdates * 4;  // 424
constexpr size_t kAlContextEntries = (kMdBlock - kAlContextOffset) / 4;    // 918

// AL slot numbers are u16 in an update, so an AL has at most 65536 slots.
constexpr uint64_t kMaxAlSlots = 65536;

constexpr uint32_t kMaxPeers = kMaxNodes - 1;
constexpr uint32_t kMinRingSlots = 2;
constexpr uint32_t kMaxRingSlots = 1024;

constexpr uint32_t kKnownMdFlags = 0xff;    // MdFlag bits 0..7
constexpr uint32_t kKnownPeerFlags = 0x3f;  // MdPeerFlag bits 0..5

constexpr uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
constexpr uint64_t AlignDown(uint64_t v, uint64_t a) { return v / a * a; }

// Largest al_extents a ring of `ring_slots` blocks can describe: the newest
// block may be torn, so the remaining ring_slots - 1 blocks must together carry
// a context for every slot (see RecoverActiveExtents).
uint64_t MaxAlExtents(uint32_t ring_slots) {
  if (ring_slots < 2) return 0;
  return std::min<uint64_t>(kMaxAlSlots, uint64_t{kAlContextEntries} * (ring_slots - 1));
}

uint64_t BlockChecksum(ByteSpan block) {
  std::array<uint8_t, kMdBlock> copy;
  std::memcpy(copy.data(), block.data(), kMdBlock);
  std::memset(copy.data() + kChecksumOffset, 0, 8);
  return Checksum64(ByteSpan(copy.data(), copy.size()));
}

void Seal(Bytes* block) {
  TANDEM_CHECK(block->size() == kMdBlock);
  ByteWriter w(block);
  w.PatchU64(kChecksumOffset, 0);
  w.PatchU64(kChecksumOffset, Checksum64(*block));
}

bool AllZero(ByteSpan b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

// Common header checks of both block kinds, in the order that gives the most
// useful error: size, magic, version (a future version may checksum
// differently), then checksum.
Status CheckHeader(ByteSpan block, uint32_t magic, const char* what) {
  if (block.size() < kMdBlock) {
    return MakeError(Errc::kTruncated, std::string(what) + ": block of " +
                                           std::to_string(block.size()) + " bytes, need 4096");
  }
  ByteReader r(block);
  if (r.U32() != magic) return MakeError(Errc::kCorrupt, std::string(what) + ": bad magic");
  uint32_t version = r.U32();
  if (version != kFormatVersion) {
    return MakeError(Errc::kUnsupported, std::string(what) + ": format version " +
                                             std::to_string(version) +
                                             " not supported (this build reads version 1)");
  }
  uint64_t stored = r.U64();
  if (stored != BlockChecksum(block)) {
    return MakeError(Errc::kCorrupt, std::string(what) + ": checksum mismatch");
  }
  return {};
}

Error Corrupt(std::string msg) {
  return MakeError(Errc::kCorrupt, "superblock: " + std::move(msg));
}

Status ValidateSuperblock(const Superblock& sb) {
  if (sb.node_id >= kMaxNodes) return Corrupt("node_id out of range");
  if (sb.max_peers < 1 || sb.max_peers > kMaxPeers) return Corrupt("max_peers out of range");
  if (sb.al_ring_slots < kMinRingSlots || sb.al_ring_slots > kMaxRingSlots) {
    return Corrupt("al_ring_slots out of range");
  }
  if (sb.al_extents < 1 || sb.al_extents > MaxAlExtents(sb.al_ring_slots)) {
    return Corrupt("al_extents out of range for the ring size");
  }
  if (sb.bm_block_size != kMdBlock) return Corrupt("bm_block_size must be 4096");
  if (sb.flags & ~kKnownMdFlags) {
    return MakeError(Errc::kUnsupported, "superblock: unknown device flag bits");
  }
  // The area layout is fully determined by these fields; check that they
  // describe the layout of ComputeLayout, so no offset derived from a decoded
  // superblock can point outside the area.
  if (sb.al_offset != kMdBlock) return Corrupt("al_offset must be 4096");
  if (sb.bm_offset != sb.al_offset + uint64_t{sb.al_ring_slots} * kMdBlock) {
    return Corrupt("bm_offset does not follow the AL ring");
  }
  if (sb.bm_slot_bytes == 0 || sb.bm_slot_bytes % kMdBlock != 0 ||
      sb.bm_slot_bytes > (uint64_t{1} << 50)) {
    return Corrupt("bm_slot_bytes invalid");
  }
  if (sb.md_bytes != sb.bm_offset + sb.max_peers * sb.bm_slot_bytes) {
    return Corrupt("md_bytes does not match the layout");
  }
  uint32_t used_slots = 0;  // bit i: bitmap slot i is taken by some peer
  for (size_t n = 0; n < sb.peers.size(); ++n) {
    const MdPeerSlot& p = sb.peers[n];
    if (p.flags & ~kKnownPeerFlags) {
      return MakeError(Errc::kUnsupported, "superblock: unknown peer flag bits");
    }
    if (p.bitmap_index < -1 || p.bitmap_index >= static_cast<int64_t>(sb.max_peers)) {
      return Corrupt("peer " + std::to_string(n) + ": bitmap_index out of range");
    }
    if (p.bitmap_index < 0) continue;
    if (n == sb.node_id) return Corrupt("own node has a bitmap slot");
    uint32_t bit = 1u << p.bitmap_index;
    if (used_slots & bit) return Corrupt("two peers share a bitmap slot");
    used_slots |= bit;
  }
  return {};
}

}  // namespace

Result<MdLayout> ComputeLayout(uint64_t backing_bytes, uint32_t max_peers, uint32_t al_ring_slots,
                               bool internal) {
  if (max_peers == 0 || max_peers > kMaxPeers) {
    return MakeError(Errc::kInvalidArgument,
                     "max_peers must be 1..31, got " + std::to_string(max_peers));
  }
  if (al_ring_slots < kMinRingSlots || al_ring_slots > kMaxRingSlots) {
    return MakeError(Errc::kInvalidArgument,
                     "al_ring_slots must be 2..1024, got " + std::to_string(al_ring_slots));
  }
  MdLayout l;
  l.backing_bytes = backing_bytes;
  // Written without "+ 4095" so that sizes near 2^64 cannot overflow.
  l.bm_bits = backing_bytes / kMdBlock + (backing_bytes % kMdBlock != 0 ? 1 : 0);
  uint64_t bm_bytes = l.bm_bits / 8 + (l.bm_bits % 8 != 0 ? 1 : 0);
  l.bm_slot_bytes = AlignUp(std::max<uint64_t>(bm_bytes, 1), kMdBlock);
  l.al_offset = kMdBlock;
  l.al_bytes = uint64_t{al_ring_slots} * kMdBlock;
  l.bm_offset = l.al_offset + l.al_bytes;
  l.md_bytes = l.bm_offset + max_peers * l.bm_slot_bytes;
  if (internal) {
    if (backing_bytes < l.md_bytes + kMdBlock) {
      return MakeError(Errc::kInvalidArgument,
                       "backing device of " + std::to_string(backing_bytes) +
                           " bytes cannot hold " + std::to_string(l.md_bytes) +
                           " bytes of internal metadata and 4 KiB of data");
    }
    l.usable_bytes = AlignDown(backing_bytes - l.md_bytes, kMdBlock);
  } else {
    if (backing_bytes < kMdBlock) {
      return MakeError(
          Errc::kInvalidArgument,
          "backing device of " + std::to_string(backing_bytes) + " bytes is smaller than 4 KiB");
    }
    l.usable_bytes = AlignDown(backing_bytes, kMdBlock);
  }
  return l;
}

Result<uint64_t> BackingBytesFor(uint64_t usable, uint32_t max_peers, uint32_t al_ring_slots,
                                 bool internal) {
  const uint64_t target = AlignUp(std::max<uint64_t>(usable, kMdBlock), kMdBlock);
  if (!internal) return target;
  // b = target + md_bytes(b): md_bytes grows with b, so iterating from below
  // reaches the smallest such b in a few rounds.
  uint64_t b = target;
  for (int round = 0; round < 16; ++round) {
    Result<MdLayout> ext = ComputeLayout(b, max_peers, al_ring_slots, false);
    if (!ext.ok()) return ext.error();
    uint64_t next = target + ext->md_bytes;
    if (next == b) return b;
    b = next;
  }
  return MakeError(Errc::kInvalidArgument,
                   "no backing size offers " + std::to_string(usable) + " usable bytes");
}

Result<uint64_t> GrowBackingBytes(uint64_t old_backing, uint64_t want_usable, uint32_t max_peers,
                                  uint32_t al_ring_slots, bool internal) {
  Result<MdLayout> now = ComputeLayout(old_backing, max_peers, al_ring_slots, internal);
  if (!now.ok()) return now.error();
  if (now->usable_bytes >= want_usable) return old_backing;
  return BackingBytesFor(internal ? std::max(want_usable, old_backing) : want_usable, max_peers,
                         al_ring_slots, internal);
}

Bytes EncodeSuperblock(const Superblock& sb) {
  Bytes out;
  out.reserve(kMdBlock);
  ByteWriter w(&out);
  w.U32(kSuperblockMagic);
  w.U32(sb.version);
  w.U64(0);  // checksum, sealed below
  w.U64(sb.effective_size_sectors);
  w.U64(sb.current_uuid);
  w.U64(sb.device_uuid);
  w.U64(sb.dagtag);
  w.U64(sb.md_bytes);
  w.U64(sb.al_offset);
  w.U64(sb.bm_offset);
  w.U64(sb.bm_slot_bytes);
  w.U32(sb.flags);
  w.U32(sb.max_peers);
  w.U32(sb.al_extents);
  w.U32(sb.al_ring_slots);
  w.U32(sb.bm_block_size);
  TANDEM_CHECK(w.size() == kSbNodeIdOffset);
  w.U8(sb.node_id);
  w.Zeros(3);
  TANDEM_CHECK(w.size() == kSbPeersOffset);
  for (const MdPeerSlot& p : sb.peers) {
    w.U64(p.bitmap_uuid);
    w.U64(p.bitmap_dagtag);
    w.U32(p.flags);
    w.U32(static_cast<uint32_t>(p.bitmap_index));
  }
  TANDEM_CHECK(w.size() == kSbHistoryOffset);
  for (uint64_t h : sb.history) w.U64(h);
  TANDEM_CHECK(w.size() == kSbUsedBytes);
  w.Zeros(kMdBlock - w.size());
  Seal(&out);
  return out;
}

Result<Superblock> DecodeSuperblock(ByteSpan block) {
  TANDEM_TRY(CheckHeader(block, kSuperblockMagic, "superblock"));
  block = block.first(kMdBlock);  // bytes after the first block are not ours
  ByteReader r(block);
  Superblock sb;
  r.Skip(4);
  sb.version = r.U32();
  r.Skip(8);
  sb.effective_size_sectors = r.U64();
  sb.current_uuid = r.U64();
  sb.device_uuid = r.U64();
  sb.dagtag = r.U64();
  sb.md_bytes = r.U64();
  sb.al_offset = r.U64();
  sb.bm_offset = r.U64();
  sb.bm_slot_bytes = r.U64();
  sb.flags = r.U32();
  sb.max_peers = r.U32();
  sb.al_extents = r.U32();
  sb.al_ring_slots = r.U32();
  sb.bm_block_size = r.U32();
  sb.node_id = r.U8();
  if (!AllZero(r.Raw(3))) return Corrupt("reserved bytes not zero");
  for (MdPeerSlot& p : sb.peers) {
    p.bitmap_uuid = r.U64();
    p.bitmap_dagtag = r.U64();
    p.flags = r.U32();
    p.bitmap_index = static_cast<int32_t>(r.U32());
  }
  for (uint64_t& h : sb.history) h = r.U64();
  // Version 1 owns the whole block: anything in the padding was written by a
  // writer that did not follow the versioning rules.
  if (!AllZero(r.Raw(kMdBlock - kSbUsedBytes))) return Corrupt("padding not zero");
  TANDEM_CHECK(r.AtEnd());
  TANDEM_TRY(ValidateSuperblock(sb));
  return sb;
}

size_t AlContextCapacity() { return kAlContextEntries; }

Bytes EncodeAlTransaction(const AlTransaction& tr) {
  // REQUIRES: the transaction fits one block and addresses AL slots only.
  TANDEM_CHECK(tr.updates.size() <= kAlMaxUpdates);
  TANDEM_CHECK(tr.context.size() <= kAlContextEntries);
  TANDEM_CHECK(uint64_t{tr.context_start} + tr.context.size() <= kMaxAlSlots);
  Bytes out;
  out.reserve(kMdBlock);
  ByteWriter w(&out);
  w.U32(kAlMagic);
  w.U32(kFormatVersion);
  w.U64(0);  // checksum, sealed below
  w.U64(tr.tr_number);
  w.U32(static_cast<uint32_t>(tr.updates.size()));
  w.U32(tr.context_start);
  w.U32(static_cast<uint32_t>(tr.context.size()));
  w.U32(0);  // reserved
  TANDEM_CHECK(w.size() == kAlSlotsOffset);
  for (size_t i = 0; i < kAlMaxUpdates; ++i) {
    w.U16(i < tr.updates.size() ? tr.updates[i].first : 0);
  }
  for (size_t i = 0; i < kAlMaxUpdates; ++i) {
    w.U32(i < tr.updates.size() ? tr.updates[i].second : 0);
  }
  TANDEM_CHECK(w.size() == kAlContextOffset);
  for (uint32_t e : tr.context) w.U32(e);
  w.Zeros(kMdBlock - w.size());
  Seal(&out);
  return out;
}

Result<AlTransaction> DecodeAlTransaction(ByteSpan block) {
  if (block.size() >= kMdBlock && AllZero(block.first(kMdBlock))) {
    return MakeError(Errc::kCorrupt, "al transaction: empty (all-zero) block");
  }
  TANDEM_TRY(CheckHeader(block, kAlMagic, "al transaction"));
  block = block.first(kMdBlock);
  auto corrupt = [](const char* msg) {
    return MakeError(Errc::kCorrupt, std::string("al transaction: ") + msg);
  };
  ByteReader r(block);
  r.Skip(16);
  AlTransaction tr;
  tr.tr_number = r.U64();
  uint32_t n_updates = r.U32();
  tr.context_start = r.U32();
  uint32_t n_context = r.U32();
  if (r.U32() != 0) return corrupt("reserved field not zero");
  if (n_updates > kAlMaxUpdates) return corrupt("too many updates");
  if (n_context > kAlContextEntries) return corrupt("context too long");
  if (uint64_t{tr.context_start} + n_context > kMaxAlSlots) return corrupt("context out of range");
  std::array<uint16_t, kAlMaxUpdates> slots;
  for (uint16_t& s : slots) s = r.U16();
  tr.updates.reserve(n_updates);
  for (size_t i = 0; i < kAlMaxUpdates; ++i) {
    uint32_t extent = r.U32();
    if (i < n_updates) {
      tr.updates.emplace_back(slots[i], extent);
    } else if (slots[i] != 0 || extent != 0) {
      return corrupt("unused update entry not zero");
    }
  }
  tr.context.resize(n_context);
  for (uint32_t& e : tr.context) e = r.U32();
  if (!AllZero(r.Raw(kMdBlock - r.pos()))) return corrupt("padding not zero");
  TANDEM_CHECK(r.AtEnd());
  return tr;
}

// Recovery walks the valid transactions from the newest (highest tr_number)
// to the oldest and fills in each AL slot from the first (= newest) piece of
// information about it:
//   1. the transaction's updates, last entry first (if a transaction lists a
//      slot twice, its later entry is the final value);
//   2. the transaction's context, which is the value of slots
//      [context_start, context_start + n_context) as of that transaction.
// Information about a slot already known is ignored: it is older. The walk
// ends when every slot is known or the transactions run out; slots still
// unknown are empty. docs/metadata-format.md ("Activity-log recovery") explains
// why this is exact under the writer's guarantees.
std::vector<uint32_t> RecoverActiveExtents(ByteSpan ring, uint32_t al_extents) {
  const uint64_t n_slots = std::min<uint64_t>(al_extents, kMaxAlSlots);
  if (n_slots == 0) return {};
  std::vector<AlTransaction> valid;
  for (size_t off = 0; ring.size() - off >= kMdBlock; off += kMdBlock) {
    Result<AlTransaction> tr = DecodeAlTransaction(ring.subspan(off, kMdBlock));
    if (tr.ok()) valid.push_back(std::move(tr).value());
  }
  // Stable, so equal tr_numbers (never written by a correct writer) resolve by
  // ring position and the result stays deterministic.
  std::stable_sort(valid.begin(), valid.end(), [](const AlTransaction& a, const AlTransaction& b) {
    return a.tr_number > b.tr_number;
  });

  std::vector<uint32_t> value(n_slots, kAlNoExtent);
  std::vector<bool> known(n_slots, false);
  uint64_t unknown = n_slots;
  auto learn = [&](uint64_t slot, uint32_t extent) {
    if (slot >= n_slots || known[slot]) return;
    known[slot] = true;
    value[slot] = extent;
    --unknown;
  };
  for (const AlTransaction& tr : valid) {
    if (unknown == 0) break;
    for (auto it = tr.updates.rbegin(); it != tr.updates.rend(); ++it) learn(it->first, it->second);
    for (size_t i = 0; i < tr.context.size(); ++i)
      learn(uint64_t{tr.context_start} + i, tr.context[i]);
  }

  std::vector<uint32_t> extents;
  for (uint32_t e : value) {
    if (e != kAlNoExtent) extents.push_back(e);
  }
  std::sort(extents.begin(), extents.end());
  extents.erase(std::unique(extents.begin(), extents.end()), extents.end());
  return extents;
}

Result<Bytes> CreateMetadata(const CreateMdParams& p) {
  auto invalid = [](std::string msg) { return MakeError(Errc::kInvalidArgument, std::move(msg)); };
  if (p.node_id >= kMaxNodes) return invalid("node_id must be < 32");
  if (p.peers_with_bitmap.size() > p.max_peers) {
    return invalid("more peers with a bitmap (" + std::to_string(p.peers_with_bitmap.size()) +
                   ") than bitmap slots (max_peers " + std::to_string(p.max_peers) + ")");
  }
  uint32_t seen = 0;
  for (uint8_t n : p.peers_with_bitmap) {
    if (n >= kMaxNodes) return invalid("peer node id " + std::to_string(n) + " must be < 32");
    if (n == p.node_id) return invalid("the own node cannot have a bitmap slot");
    if (seen & (1u << n)) return invalid("peer " + std::to_string(n) + " listed twice");
    seen |= 1u << n;
  }
  for (uint8_t n : p.all_nodes) {
    if (n >= kMaxNodes) return invalid("node id " + std::to_string(n) + " must be < 32");
  }
  Result<MdLayout> layout =
      ComputeLayout(p.backing_bytes, p.max_peers, p.al_ring_slots, p.internal);
  if (!layout.ok()) return layout.error();
  if (p.al_extents < 1 || p.al_extents > MaxAlExtents(p.al_ring_slots)) {
    return invalid("al_extents must be 1.." + std::to_string(MaxAlExtents(p.al_ring_slots)) +
                   " with " + std::to_string(p.al_ring_slots) + " ring slots");
  }

  Superblock sb;
  sb.version = kFormatVersion;
  sb.node_id = p.node_id;
  sb.effective_size_sectors = layout->usable_bytes / kSectorSize;
  sb.current_uuid = kUuidJustCreated;
  sb.device_uuid = 0;  // chosen by the engine, which owns randomness
  sb.flags = kMdAlClean;
  sb.max_peers = p.max_peers;
  sb.al_extents = p.al_extents;
  sb.al_ring_slots = p.al_ring_slots;
  sb.bm_block_size = kMdBlock;
  sb.md_bytes = layout->md_bytes;
  sb.al_offset = layout->al_offset;
  sb.bm_offset = layout->bm_offset;
  sb.bm_slot_bytes = layout->bm_slot_bytes;
  for (uint8_t n : p.all_nodes) sb.peers[n].flags |= kMdNodeExists;
  for (size_t i = 0; i < p.peers_with_bitmap.size(); ++i) {
    MdPeerSlot& slot = sb.peers[p.peers_with_bitmap[i]];
    slot.bitmap_index = static_cast<int32_t>(i);
    slot.flags |= kMdNodeExists;  // a peer we keep a bitmap for exists
  }
  TANDEM_CHECK(ValidateSuperblock(sb).ok());

  // All-zero AL blocks are invalid transactions, i.e. an empty AL; zero
  // bitmaps mean "in sync with every peer".
  Bytes area(layout->md_bytes, 0);
  Bytes block = EncodeSuperblock(sb);
  std::copy(block.begin(), block.end(), area.begin());
  return area;
}

uint64_t BitmapPageOffset(const Superblock& sb, uint32_t slot, uint64_t page) {
  // REQUIRES: slot < max_peers and the page lies inside the slot.
  TANDEM_CHECK(slot < sb.max_peers);
  TANDEM_CHECK(page < sb.bm_slot_bytes / kMdBlock);
  return sb.bm_offset + slot * sb.bm_slot_bytes + page * kMdBlock;
}

}  // namespace tandem::engine
