// On-disk metadata of one volume replica: superblock with generation UUIDs and
// per-peer slots, the activity-log ring, per-slot bitmaps. The byte layout,
// versioning, checksums and crash-safe update order are specified in
// docs/metadata-format.md; this header and metadata.cc are its only
// implementation.
//
// The metadata area is one contiguous region. Internal metadata starts at
// byte MdLayout::usable_bytes of the backing device (the host maps area offset
// x to usable_bytes + x; for backing sizes that are a multiple of 4 KiB this is
// backing_bytes - md_bytes); external metadata starts at offset 0 of its own
// file.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "engine/types.h"

namespace tandem::engine {

inline constexpr uint32_t kMdBlock = 4096;
inline constexpr uint64_t kAlExtentBytes = 4ull << 20;  // 4 MiB per AL extent
inline constexpr uint32_t kAlDefaultRingSlots = 8;      // 8 x 4 KiB transactions
inline constexpr uint32_t kAlNoExtent = 0xffffffffu;

// Device flags (drbd-semantics.md §4.3, mdf_flag).
enum MdFlag : uint32_t {
  kMdConsistent = 1u << 0,
  kMdPrimaryInd = 1u << 1,
  kMdWasUpToDate = 1u << 2,
  kMdCrashedPrimary = 1u << 3,
  kMdAlClean = 1u << 4,
  kMdAlDisabled = 1u << 5,
  kMdPrimaryLostQuorum = 1u << 6,
  kMdHaveQuorum = 1u << 7,
};

// Per-peer flags (mdf_peer_flag).
enum MdPeerFlag : uint32_t {
  kMdPeerConnected = 1u << 0,
  kMdPeerOutdated = 1u << 1,
  kMdPeerFencing = 1u << 2,
  kMdPeerFullSync = 1u << 3,
  kMdPeerDeviceSeen = 1u << 4,
  kMdNodeExists = 1u << 5,
};

struct MdPeerSlot {
  uint64_t bitmap_uuid = 0;
  uint64_t bitmap_dagtag = 0;
  uint32_t flags = 0;         // MdPeerFlag
  int32_t bitmap_index = -1;  // bitmap slot, -1 = none (diskless peer)
  bool operator==(const MdPeerSlot&) const = default;
};

struct Superblock {
  uint32_t version = 1;
  uint8_t node_id = 0;
  uint64_t effective_size_sectors = 0;  // last agreed usable size
  uint64_t current_uuid = 0;
  uint64_t device_uuid = 0;
  uint32_t flags = 0;      // MdFlag
  uint32_t max_peers = 1;  // number of bitmap slots
  uint32_t al_extents = 1237;
  uint32_t al_ring_slots = kAlDefaultRingSlots;
  uint32_t bm_block_size = 4096;  // bytes per bitmap bit
  uint64_t md_bytes = 0;          // size of the whole md area
  uint64_t al_offset = 0;         // byte offsets inside the md area
  uint64_t bm_offset = 0;
  uint64_t bm_slot_bytes = 0;  // bytes of one slot's bitmap (4 KiB aligned)
  uint64_t dagtag = 0;         // data generation tag (sectors written as Primary)
  std::array<MdPeerSlot, kMaxNodes> peers{};
  std::array<uint64_t, kMaxNodes> history{};  // newest first, 0 = empty
  bool operator==(const Superblock&) const = default;
};

struct MdLayout {
  uint64_t backing_bytes = 0;
  uint64_t md_bytes = 0;   // whole md area, 4 KiB aligned
  uint64_t al_offset = 0;  // = kMdBlock
  uint64_t al_bytes = 0;   // ring_slots * 4 KiB
  uint64_t bm_offset = 0;
  uint64_t bm_slot_bytes = 0;
  uint64_t bm_bits = 0;       // bits per slot (over the whole backing device)
  uint64_t usable_bytes = 0;  // data area the volume exposes (internal md) or backing (external)
};

// Layout of the md area. With internal metadata the usable size shrinks by
// md_bytes (rounded down to 4 KiB). Fails on sizes too small to hold anything.
Result<MdLayout> ComputeLayout(uint64_t backing_bytes, uint32_t max_peers, uint32_t al_ring_slots,
                               bool internal);

// The smallest 4 KiB-aligned backing size that offers `usable` bytes.
Result<uint64_t> BackingBytesFor(uint64_t usable, uint32_t max_peers, uint32_t al_ring_slots,
                                 bool internal);

// The smallest 4 KiB-aligned backing size an online grow from `old_backing`
// may use to offer at least `want_usable` bytes (metadata-format.md §9): with
// internal metadata the new area must lie past the old device end, so the
// result also makes usable_bytes >= old_backing. Returns old_backing when it
// already offers want_usable.
Result<uint64_t> GrowBackingBytes(uint64_t old_backing, uint64_t want_usable, uint32_t max_peers,
                                  uint32_t al_ring_slots, bool internal);

// Exactly kMdBlock bytes, checksummed.
Bytes EncodeSuperblock(const Superblock& sb);
Result<Superblock> DecodeSuperblock(ByteSpan block);

// One activity-log transaction (one 4 KiB block of the ring).
struct AlTransaction {
  uint64_t tr_number = 0;
  // (slot, extent) updates made by this transaction; extent kAlNoExtent = slot freed.
  std::vector<std::pair<uint16_t, uint32_t>> updates;
  // Rolling context: slots [context_start, context_start + context.size()) of
  // the AL as they are after this transaction.
  uint32_t context_start = 0;
  std::vector<uint32_t> context;
  bool operator==(const AlTransaction&) const = default;
};

inline constexpr size_t kAlMaxUpdates = 64;
size_t AlContextCapacity();  // context entries that fit beside kAlMaxUpdates updates

Bytes EncodeAlTransaction(const AlTransaction& tr);
Result<AlTransaction> DecodeAlTransaction(ByteSpan block);

// Rebuilds the set of extents that were active from the ring (al_ring_slots
// blocks of 4 KiB): the newest valid transaction, then older ones until every
// slot of `al_extents` is known. Invalid (torn, zero) blocks are skipped.
// Returns the active extents, sorted, without duplicates.
std::vector<uint32_t> RecoverActiveExtents(ByteSpan ring, uint32_t al_extents);

// A fresh md area for create-md: superblock (current UUID kUuidJustCreated,
// no flags but AL clean), empty AL ring, clear bitmaps.
struct CreateMdParams {
  uint64_t backing_bytes = 0;
  bool internal = true;
  uint8_t node_id = 0;
  uint32_t max_peers = 1;
  uint32_t al_extents = 1237;
  uint32_t al_ring_slots = kAlDefaultRingSlots;
  // Peers that get a bitmap slot, in slot order; other node ids get none.
  std::vector<uint8_t> peers_with_bitmap;
  std::vector<uint8_t> all_nodes;  // every node id of the resource (kMdNodeExists)
};
Result<Bytes> CreateMetadata(const CreateMdParams& p);

// Bitmap pages: slot s, page p (4 KiB = 32768 bits) lives at
// bm_offset + s * bm_slot_bytes + p * 4096 in the md area.
uint64_t BitmapPageOffset(const Superblock& sb, uint32_t slot, uint64_t page);

}  // namespace tandem::engine
