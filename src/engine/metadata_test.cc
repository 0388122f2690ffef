// Tests of the on-disk metadata format (docs/metadata-format.md). The golden
// tests pin the exact bytes: if one fails, the format changed, and that needs
// a version bump, not a new golden value.
#include "engine/metadata.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace tandem::engine {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;
constexpr uint64_t kTiB = 1024 * kGiB;
constexpr size_t kChecksumOffset = 8;  // both block kinds

// ---------------------------------------------------------------------------
// Helpers

// A superblock with every field set to a distinct, valid value.
Superblock GoldenSuperblock() {
  Superblock sb;
  sb.version = 1;
  sb.node_id = 2;
  sb.effective_size_sectors = 0x0000'0001'0203'0405;
  sb.current_uuid = 0x1122'3344'5566'7788;
  sb.device_uuid = 0x99aa'bbcc'ddee'ff00;
  sb.flags = kMdConsistent | kMdWasUpToDate | kMdAlClean;
  sb.max_peers = 2;
  sb.al_extents = 1237;
  sb.al_ring_slots = 8;
  sb.bm_block_size = 4096;
  sb.al_offset = 4096;
  sb.bm_offset = 4096 + 8 * 4096;
  sb.bm_slot_bytes = 8192;
  sb.md_bytes = sb.bm_offset + 2 * 8192;
  sb.dagtag = 0xdead'beef;
  sb.peers[0] = {
      .bitmap_uuid = 0x0101, .bitmap_dagtag = 0x0202, .flags = kMdNodeExists, .bitmap_index = 0};
  sb.peers[1] = {.bitmap_uuid = 0x0303,
                 .bitmap_dagtag = 0x0404,
                 .flags = kMdNodeExists | kMdPeerOutdated,
                 .bitmap_index = 1};
  sb.peers[2].flags = kMdNodeExists;  // ourselves
  sb.history[0] = 0xabcd;
  sb.history[31] = 0xef01;
  return sb;
}

// One AL transaction; context_start and context default to "no context".
AlTransaction Tr(uint64_t tr_number, std::vector<std::pair<uint16_t, uint32_t>> updates,
                 uint32_t context_start = 0, std::vector<uint32_t> context = {}) {
  AlTransaction tr;
  tr.tr_number = tr_number;
  tr.updates = std::move(updates);
  tr.context_start = context_start;
  tr.context = std::move(context);
  return tr;
}

AlTransaction GoldenTransaction() {
  return AlTransaction{.tr_number = 0x0102'0304'0506'0708,
                       .updates = {{3, 100}, {7, kAlNoExtent}},
                       .context_start = 918,
                       .context = {5, 6, kAlNoExtent}};
}

uint32_t ReadU32(const Bytes& b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}
uint64_t ReadU64(const Bytes& b, size_t off) {
  uint64_t v;
  std::memcpy(&v, b.data() + off, 8);
  return v;
}
void WriteU32(Bytes* b, size_t off, uint32_t v) { std::memcpy(b->data() + off, &v, 4); }

// Recomputes the checksum of a 4 KiB block after a test edited a field, so
// the decoder gets past the checksum to the check under test.
void Reseal(Bytes* block) {
  std::memset(block->data() + kChecksumOffset, 0, 8);
  uint64_t sum = Checksum64(*block);
  std::memcpy(block->data() + kChecksumOffset, &sum, 8);
}

std::string Hex(const Bytes& b, size_t off, size_t n) {
  return HexDump(ByteSpan(b.data() + off, n));
}

// An AL ring of `slots` blocks; Put() writes transaction tr into block i.
class Ring {
 public:
  explicit Ring(size_t slots) : bytes_(slots * kMdBlock, 0) {}
  void Put(size_t i, const AlTransaction& tr) {
    Bytes b = EncodeAlTransaction(tr);
    std::copy(b.begin(), b.end(), bytes_.begin() + i * kMdBlock);
  }
  void Tear(size_t i) { bytes_[i * kMdBlock + 2000] ^= 0x40; }
  ByteSpan span() const { return bytes_; }

 private:
  Bytes bytes_;
};

// ---------------------------------------------------------------------------
// Layout

TEST(MetadataLayout, TenGiBOneSlot) {
  Result<MdLayout> l = ComputeLayout(10 * kGiB, 1, 8, /*internal=*/true);
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->bm_bits, 2'621'440u);
  EXPECT_EQ(l->al_offset, 4096u);
  EXPECT_EQ(l->al_bytes, 32'768u);
  EXPECT_EQ(l->bm_offset, 36'864u);
  EXPECT_EQ(l->bm_slot_bytes, 327'680u);
  EXPECT_EQ(l->md_bytes, 364'544u);  // 356 KiB; DRBD's rule of thumb says 0.35 MiB
  EXPECT_EQ(l->usable_bytes, 10 * kGiB - 364'544u);
}

TEST(MetadataLayout, HundredGiBTwoSlots) {
  Result<MdLayout> l = ComputeLayout(100 * kGiB, 2, 8, true);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->bm_bits, 26'214'400u);
  EXPECT_EQ(l->bm_slot_bytes, 3'276'800u);
  EXPECT_EQ(l->md_bytes, 6'590'464u);  // 6.285 MiB; rule of thumb 6.29 MiB
  EXPECT_EQ(l->usable_bytes, 100 * kGiB - 6'590'464u);
}

TEST(MetadataLayout, OneTiBOneSlot) {
  Result<MdLayout> l = ComputeLayout(kTiB, 1, 8, true);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->bm_bits, 268'435'456u);
  EXPECT_EQ(l->bm_slot_bytes, 32 * kMiB);
  EXPECT_EQ(l->md_bytes, 33'591'296u);  // 32.035 MiB; rule of thumb 32.04 MiB
  EXPECT_EQ(l->usable_bytes, kTiB - 33'591'296u);
}

TEST(MetadataLayout, CloseToDrbdRuleOfThumb) {
  // 36 KiB + size/32768 per slot: ours is 4 KiB + ring + slots*ALIGN(size/32768, 4 KiB).
  for (uint64_t size : {10 * kGiB, 100 * kGiB, kTiB}) {
    for (uint32_t peers : {1u, 3u}) {
      Result<MdLayout> l = ComputeLayout(size, peers, 8, true);
      ASSERT_TRUE(l.ok());
      uint64_t rule = 36 * kKiB + peers * (size / 32768);
      EXPECT_EQ(l->md_bytes, rule) << size << " bytes, " << peers << " slots";
    }
  }
}

TEST(MetadataLayout, ExternalKeepsTheWholeBacking) {
  Result<MdLayout> l = ComputeLayout(10 * kGiB + 1000, 1, 8, /*internal=*/false);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->usable_bytes, 10 * kGiB);
  EXPECT_EQ(l->bm_bits, 2'621'441u);  // the partial last block has a bit
  EXPECT_EQ(l->bm_slot_bytes, 327'680u + 4096u);
}

TEST(MetadataLayout, InternalUsableIsRoundedDownTo4KiB) {
  Result<MdLayout> l = ComputeLayout(10 * kGiB + 1000, 1, 8, true);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->usable_bytes % 4096, 0u);
  EXPECT_EQ(l->usable_bytes, 10 * kGiB - l->md_bytes);
}

TEST(MetadataLayout, RingSlotsSizeTheAl) {
  Result<MdLayout> l = ComputeLayout(kGiB, 1, 64, true);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->al_bytes, 64u * 4096);
  EXPECT_EQ(l->bm_offset, 4096u + 64 * 4096);
}

TEST(MetadataLayout, RejectsBadPeerCount) {
  EXPECT_EQ(ComputeLayout(kGiB, 0, 8, true).code(), Errc::kInvalidArgument);
  EXPECT_EQ(ComputeLayout(kGiB, 32, 8, true).code(), Errc::kInvalidArgument);
  EXPECT_TRUE(ComputeLayout(kGiB, 31, 8, true).ok());
}

TEST(MetadataLayout, RejectsBadRingSize) {
  EXPECT_EQ(ComputeLayout(kGiB, 1, 1, true).code(), Errc::kInvalidArgument);
  EXPECT_EQ(ComputeLayout(kGiB, 1, 1025, true).code(), Errc::kInvalidArgument);
  EXPECT_TRUE(ComputeLayout(kGiB, 1, 2, true).ok());
  EXPECT_TRUE(ComputeLayout(kGiB, 1, 1024, true).ok());
}

TEST(MetadataLayout, RejectsBackingTooSmall) {
  // 1 MiB, 1 slot: md = 4 KiB + 32 KiB + 4 KiB = 40 KiB.
  Result<MdLayout> l = ComputeLayout(kMiB, 1, 8, true);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->md_bytes, 40 * kKiB);
  EXPECT_TRUE(ComputeLayout(44 * kKiB, 1, 8, true).ok());
  EXPECT_EQ(ComputeLayout(44 * kKiB - 1, 1, 8, true).code(), Errc::kInvalidArgument);
  EXPECT_EQ(ComputeLayout(0, 1, 8, true).code(), Errc::kInvalidArgument);
  EXPECT_TRUE(ComputeLayout(4096, 1, 8, false).ok());
  EXPECT_EQ(ComputeLayout(4095, 1, 8, false).code(), Errc::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// Superblock

TEST(Superblock, RoundTrips) {
  Superblock sb = GoldenSuperblock();
  Bytes b = EncodeSuperblock(sb);
  ASSERT_EQ(b.size(), kMdBlock);
  Result<Superblock> back = DecodeSuperblock(b);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, sb);
}

TEST(Superblock, GoldenBytes) {
  Bytes b = EncodeSuperblock(GoldenSuperblock());
  // Header: magic "1DMT", version 1, checksum.
  EXPECT_EQ(Hex(b, 0, 8), "31 44 4d 54 01 00 00 00");
  EXPECT_EQ(ReadU64(b, 8), 0x533c'8699'5d8f'a708u);
  // The first 64 bytes, also listed in docs/metadata-format.md.
  EXPECT_EQ(Hex(b, 0, 64),
            "31 44 4d 54 01 00 00 00 08 a7 8f 5d 99 86 3c 53\n"
            "05 04 03 02 01 00 00 00 88 77 66 55 44 33 22 11\n"
            "00 ff ee dd cc bb aa 99 ef be ad de 00 00 00 00\n"
            "00 d0 00 00 00 00 00 00 00 10 00 00 00 00 00 00");
  // Field offsets from docs/metadata-format.md.
  EXPECT_EQ(ReadU64(b, 16), 0x0000'0001'0203'0405u);       // effective_size_sectors
  EXPECT_EQ(ReadU64(b, 24), 0x1122'3344'5566'7788u);       // current_uuid
  EXPECT_EQ(ReadU64(b, 32), 0x99aa'bbcc'ddee'ff00u);       // device_uuid
  EXPECT_EQ(ReadU64(b, 40), 0xdead'beefu);                 // dagtag
  EXPECT_EQ(ReadU64(b, 48), 4096u + 8 * 4096 + 2 * 8192);  // md_bytes
  EXPECT_EQ(ReadU64(b, 56), 4096u);                        // al_offset
  EXPECT_EQ(ReadU64(b, 64), 4096u + 8 * 4096);             // bm_offset
  EXPECT_EQ(ReadU64(b, 72), 8192u);                        // bm_slot_bytes
  EXPECT_EQ(ReadU32(b, 80), 0x15u);                        // flags
  EXPECT_EQ(ReadU32(b, 84), 2u);                           // max_peers
  EXPECT_EQ(ReadU32(b, 88), 1237u);                        // al_extents
  EXPECT_EQ(ReadU32(b, 92), 8u);                           // al_ring_slots
  EXPECT_EQ(ReadU32(b, 96), 4096u);                        // bm_block_size
  EXPECT_EQ(Hex(b, 100, 4), "02 00 00 00");                // node_id + reserved
  // Peer 1 at 104 + 24: bitmap_uuid, bitmap_dagtag, flags, bitmap_index.
  EXPECT_EQ(ReadU64(b, 128), 0x0303u);
  EXPECT_EQ(ReadU64(b, 136), 0x0404u);
  EXPECT_EQ(ReadU32(b, 144), 0x22u);
  EXPECT_EQ(ReadU32(b, 148), 1u);
  EXPECT_EQ(ReadU32(b, 104 + 3 * 24 + 20), 0xffffffffu);  // peer 3: bitmap_index -1
  EXPECT_EQ(ReadU64(b, 872), 0xabcdu);                    // history[0]
  EXPECT_EQ(ReadU64(b, 872 + 31 * 8), 0xef01u);           // history[31]
  for (size_t i = 1128; i < kMdBlock; ++i) ASSERT_EQ(b[i], 0) << "padding at " << i;
}

TEST(Superblock, DefaultStructIsRejectedAsLayoutless) {
  // A default Superblock has no layout (md_bytes 0): it encodes, but a reader
  // must not trust offsets that describe no area.
  EXPECT_EQ(DecodeSuperblock(EncodeSuperblock(Superblock{})).code(), Errc::kCorrupt);
}

TEST(Superblock, AnyFlippedByteIsCorrupt) {
  Bytes good = EncodeSuperblock(GoldenSuperblock());
  for (size_t off : {size_t{0}, size_t{9}, size_t{20}, size_t{100}, size_t{500}, size_t{4095}}) {
    Bytes b = good;
    b[off] ^= 0x01;
    EXPECT_EQ(DecodeSuperblock(b).code(), Errc::kCorrupt) << "offset " << off;
  }
}

TEST(Superblock, BadMagicIsCorrupt) {
  Bytes b = EncodeSuperblock(GoldenSuperblock());
  WriteU32(&b, 0, 0x12345678);
  Reseal(&b);
  Result<Superblock> r = DecodeSuperblock(b);
  EXPECT_EQ(r.code(), Errc::kCorrupt);
  EXPECT_NE(r.error().message.find("bad magic"), std::string::npos);
}

TEST(Superblock, AlTransactionIsNotASuperblock) {
  EXPECT_EQ(DecodeSuperblock(EncodeAlTransaction(GoldenTransaction())).code(), Errc::kCorrupt);
}

TEST(Superblock, TruncatedBlock) {
  Bytes b = EncodeSuperblock(GoldenSuperblock());
  b.resize(4095);
  EXPECT_EQ(DecodeSuperblock(b).code(), Errc::kTruncated);
  EXPECT_EQ(DecodeSuperblock({}).code(), Errc::kTruncated);
}

TEST(Superblock, BytesAfterTheBlockAreIgnored) {
  Bytes b = EncodeSuperblock(GoldenSuperblock());
  b.resize(3 * kMdBlock, 0xee);
  Result<Superblock> r = DecodeSuperblock(b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, GoldenSuperblock());
}

TEST(Superblock, OtherVersionIsUnsupported) {
  Superblock sb = GoldenSuperblock();
  sb.version = 2;
  EXPECT_EQ(DecodeSuperblock(EncodeSuperblock(sb)).code(), Errc::kUnsupported);
}

TEST(Superblock, NonZeroPaddingIsCorrupt) {
  Bytes b = EncodeSuperblock(GoldenSuperblock());
  b[2000] = 1;
  Reseal(&b);
  EXPECT_EQ(DecodeSuperblock(b).code(), Errc::kCorrupt);
  b = EncodeSuperblock(GoldenSuperblock());
  b[101] = 1;  // reserved byte after node_id
  Reseal(&b);
  EXPECT_EQ(DecodeSuperblock(b).code(), Errc::kCorrupt);
}

// Each out-of-range field is rejected even with a valid checksum.
struct FieldCase {
  const char* name;
  void (*mutate)(Superblock*);
  Errc expected;
};

class SuperblockFieldRange : public ::testing::TestWithParam<FieldCase> {};

TEST_P(SuperblockFieldRange, IsRejected) {
  Superblock sb = GoldenSuperblock();
  GetParam().mutate(&sb);
  EXPECT_EQ(DecodeSuperblock(EncodeSuperblock(sb)).code(), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Fields, SuperblockFieldRange,
    ::testing::Values(
        FieldCase{"NodeId32", [](Superblock* s) { s->node_id = 32; }, Errc::kCorrupt},
        FieldCase{"MaxPeers0",
                  [](Superblock* s) {
                    s->max_peers = 0;
                    s->md_bytes = s->bm_offset;
                  },
                  Errc::kCorrupt},
        FieldCase{"MaxPeers32", [](Superblock* s) { s->max_peers = 32; }, Errc::kCorrupt},
        FieldCase{"BitmapIndexTooLarge", [](Superblock* s) { s->peers[1].bitmap_index = 2; },
                  Errc::kCorrupt},
        FieldCase{"BitmapIndexBelowMinusOne", [](Superblock* s) { s->peers[1].bitmap_index = -2; },
                  Errc::kCorrupt},
        FieldCase{"SharedBitmapSlot", [](Superblock* s) { s->peers[1].bitmap_index = 0; },
                  Errc::kCorrupt},
        FieldCase{"OwnBitmapSlot",
                  [](Superblock* s) {
                    s->peers[1].bitmap_index = -1;
                    s->peers[2].bitmap_index = 1;
                  },
                  Errc::kCorrupt},
        FieldCase{"RingSlots1", [](Superblock* s) { s->al_ring_slots = 1; }, Errc::kCorrupt},
        FieldCase{"RingSlots1025", [](Superblock* s) { s->al_ring_slots = 1025; }, Errc::kCorrupt},
        FieldCase{"AlExtents0", [](Superblock* s) { s->al_extents = 0; }, Errc::kCorrupt},
        FieldCase{"AlExtentsBeyondRing", [](Superblock* s) { s->al_extents = 918 * 7 + 1; },
                  Errc::kCorrupt},
        FieldCase{"BmBlockSize8K", [](Superblock* s) { s->bm_block_size = 8192; }, Errc::kCorrupt},
        FieldCase{"AlOffset", [](Superblock* s) { s->al_offset = 8192; }, Errc::kCorrupt},
        FieldCase{"BmOffset", [](Superblock* s) { s->bm_offset += 4096; }, Errc::kCorrupt},
        FieldCase{"BmSlotUnaligned", [](Superblock* s) { s->bm_slot_bytes = 8000; },
                  Errc::kCorrupt},
        FieldCase{"MdBytes", [](Superblock* s) { s->md_bytes += 4096; }, Errc::kCorrupt},
        FieldCase{"UnknownDeviceFlag", [](Superblock* s) { s->flags |= 1u << 8; },
                  Errc::kUnsupported},
        FieldCase{"UnknownPeerFlag", [](Superblock* s) { s->peers[5].flags = 1u << 6; },
                  Errc::kUnsupported}),
    [](const ::testing::TestParamInfo<FieldCase>& param) { return std::string(param.param.name); });

// ---------------------------------------------------------------------------
// AL transactions

TEST(AlTransaction, ContextCapacityFillsTheBlock) {
  // 40 header + 64 x 2 slots + 64 x 4 extents = 424; (4096 - 424) / 4.
  EXPECT_EQ(AlContextCapacity(), 918u);
}

TEST(AlTransaction, RoundTrips) {
  AlTransaction tr = GoldenTransaction();
  Result<AlTransaction> back = DecodeAlTransaction(EncodeAlTransaction(tr));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, tr);
}

TEST(AlTransaction, FullTransactionRoundTrips) {
  AlTransaction tr;
  tr.tr_number = 42;
  for (uint16_t i = 0; i < kAlMaxUpdates; ++i) tr.updates.emplace_back(65535 - i, 1000u + i);
  tr.context_start = 65536 - 918;
  for (uint32_t i = 0; i < 918; ++i) tr.context.push_back(i * 3);
  Result<AlTransaction> back = DecodeAlTransaction(EncodeAlTransaction(tr));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, tr);
}

TEST(AlTransaction, EmptyTransactionRoundTrips) {
  AlTransaction tr;
  Result<AlTransaction> back = DecodeAlTransaction(EncodeAlTransaction(tr));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, tr);
}

TEST(AlTransaction, GoldenBytes) {
  Bytes b = EncodeAlTransaction(GoldenTransaction());
  ASSERT_EQ(b.size(), kMdBlock);
  EXPECT_EQ(Hex(b, 0, 8), "4c 41 4d 54 01 00 00 00");  // magic "LAMT", version 1
  EXPECT_EQ(ReadU64(b, 8), 0xeaee'0908'ba61'79bdu);
  EXPECT_EQ(ReadU64(b, 16), 0x0102'0304'0506'0708u);                              // tr_number
  EXPECT_EQ(ReadU32(b, 24), 2u);                                                  // n_updates
  EXPECT_EQ(ReadU32(b, 28), 918u);                                                // context_start
  EXPECT_EQ(ReadU32(b, 32), 3u);                                                  // n_context
  EXPECT_EQ(ReadU32(b, 36), 0u);                                                  // reserved
  EXPECT_EQ(Hex(b, 40, 6), "03 00 07 00 00 00");                                  // update slots
  EXPECT_EQ(Hex(b, 168, 12), "64 00 00 00 ff ff ff ff 00 00 00 00");              // update extents
  EXPECT_EQ(Hex(b, 424, 16), "05 00 00 00 06 00 00 00 ff ff ff ff 00 00 00 00");  // context
  for (size_t i = 436; i < kMdBlock; ++i) ASSERT_EQ(b[i], 0) << "padding at " << i;
}

TEST(AlTransaction, AllZeroBlockIsEmpty) {
  Result<AlTransaction> r = DecodeAlTransaction(Bytes(kMdBlock, 0));
  EXPECT_EQ(r.code(), Errc::kCorrupt);
  EXPECT_NE(r.error().message.find("empty"), std::string::npos);
}

TEST(AlTransaction, FlippedByteIsCorrupt) {
  for (size_t off : {size_t{3}, size_t{16}, size_t{41}, size_t{430}, size_t{4095}}) {
    Bytes b = EncodeAlTransaction(GoldenTransaction());
    b[off] ^= 0x80;
    EXPECT_EQ(DecodeAlTransaction(b).code(), Errc::kCorrupt) << "offset " << off;
  }
}

TEST(AlTransaction, SuperblockIsNotATransaction) {
  Result<AlTransaction> r = DecodeAlTransaction(EncodeSuperblock(GoldenSuperblock()));
  EXPECT_EQ(r.code(), Errc::kCorrupt);
  EXPECT_NE(r.error().message.find("bad magic"), std::string::npos);
}

TEST(AlTransaction, TruncatedBlock) {
  Bytes b = EncodeAlTransaction(GoldenTransaction());
  b.resize(100);
  EXPECT_EQ(DecodeAlTransaction(b).code(), Errc::kTruncated);
}

TEST(AlTransaction, OtherVersionIsUnsupported) {
  Bytes b = EncodeAlTransaction(GoldenTransaction());
  WriteU32(&b, 4, 7);
  Reseal(&b);
  EXPECT_EQ(DecodeAlTransaction(b).code(), Errc::kUnsupported);
}

TEST(AlTransaction, StructuralLimitsAreChecked) {
  auto decode_with = [](size_t off, uint32_t v) {
    Bytes b = EncodeAlTransaction(GoldenTransaction());
    WriteU32(&b, off, v);
    Reseal(&b);
    return DecodeAlTransaction(b).code();
  };
  EXPECT_EQ(decode_with(24, 65), Errc::kCorrupt);           // n_updates > 64
  EXPECT_EQ(decode_with(32, 919), Errc::kCorrupt);          // n_context > capacity
  EXPECT_EQ(decode_with(28, 65534), Errc::kCorrupt);        // context past slot 65535
  EXPECT_EQ(decode_with(36, 1), Errc::kCorrupt);            // reserved
  EXPECT_EQ(decode_with(168 + 4 * 5, 9), Errc::kCorrupt);   // unused update entry
  EXPECT_EQ(decode_with(424 + 4 * 10, 9), Errc::kCorrupt);  // context padding
}

// ---------------------------------------------------------------------------
// Activity-log recovery

TEST(AlRecovery, EmptyRingHasNoActiveExtents) {
  Ring ring(8);
  EXPECT_TRUE(RecoverActiveExtents(ring.span(), 1237).empty());
  EXPECT_TRUE(RecoverActiveExtents({}, 1237).empty());
}

TEST(AlRecovery, UpdatesOfOneTransaction) {
  Ring ring(8);
  ring.Put(0, Tr(1, {{0, 50}, {1, 7}, {2, 50}}));
  EXPECT_EQ(RecoverActiveExtents(ring.span(), 10), (std::vector<uint32_t>{7, 50}));
}

TEST(AlRecovery, NewerUpdatesWinAndFreedSlotsDrop) {
  Ring ring(8);
  ring.Put(0, Tr(1, {{0, 10}, {1, 11}, {2, 12}}));
  ring.Put(1, Tr(2, {{1, kAlNoExtent}, {2, 22}}));
  EXPECT_EQ(RecoverActiveExtents(ring.span(), 10), (std::vector<uint32_t>{10, 22}));
}

TEST(AlRecovery, LaterEntryOfATransactionWins) {
  Ring ring(4);
  ring.Put(0, Tr(1, {{0, 10}, {0, 20}}));
  EXPECT_EQ(RecoverActiveExtents(ring.span(), 4), (std::vector<uint32_t>{20}));
}

TEST(AlRecovery, ContextDescribesSlotsAsOfItsTransaction) {
  Ring ring(4);
  // tr 5 knows slots 0..3 as {1,2,3,4}; tr 6 then replaces slot 2.
  ring.Put(2, Tr(5, {}, 0, {1, 2, 3, 4}));
  ring.Put(3, Tr(6, {{2, 30}}));
  EXPECT_EQ(RecoverActiveExtents(ring.span(), 4), (std::vector<uint32_t>{1, 2, 4, 30}));
}

TEST(AlRecovery, OlderTransactionsAreIgnoredOnceEverySlotIsKnown) {
  Ring ring(4);
  ring.Put(0, Tr(1, {{0, 99}, {1, 98}}));
  ring.Put(1, Tr(2, {}, 0, {5, kAlNoExtent}));
  EXPECT_EQ(RecoverActiveExtents(ring.span(), 2), (std::vector<uint32_t>{5}));
}

TEST(AlRecovery, RingWrapsAround) {
  // Four blocks, transactions 1..6 written round-robin: blocks hold 5, 6, 3, 4.
  Ring ring(4);
  std::vector<AlTransaction> trs;
  for (uint64_t n = 1; n <= 6; ++n) {
    uint16_t slot = static_cast<uint16_t>((n - 1) % 3);
    uint32_t extent = static_cast<uint32_t>(100 * n);
    AlTransaction tr = Tr(n, {{slot, extent}});
    ring.Put((n - 1) % 4, tr);
  }
  // Newest per slot: slot 0 <- tr 4 (400), slot 1 <- tr 5 (500), slot 2 <- tr 6 (600).
  EXPECT_EQ(RecoverActiveExtents(ring.span(), 3), (std::vector<uint32_t>{400, 500, 600}));
}

TEST(AlRecovery, RollingContextRebuildsALargeAl) {
  // 2000 slots need ceil(2000 / 918) = 3 contexts; the writer rolls them.
  constexpr uint32_t kSlots = 2000;
  const uint32_t cap = static_cast<uint32_t>(AlContextCapacity());
  std::vector<uint32_t> al(kSlots, kAlNoExtent);
  Ring ring(8);
  uint32_t cursor = 0;
  for (uint64_t n = 1; n <= 20; ++n) {
    uint16_t slot = static_cast<uint16_t>((n * 37) % kSlots);
    al[slot] = static_cast<uint32_t>(n * 1000);
    AlTransaction tr = Tr(n, {{slot, al[slot]}}, cursor);
    for (uint32_t i = cursor; i < std::min(kSlots, cursor + cap); ++i) tr.context.push_back(al[i]);
    cursor = cursor + cap >= kSlots ? 0 : cursor + cap;
    ring.Put((n - 1) % 8, tr);
  }
  std::vector<uint32_t> expected;
  for (uint32_t e : al) {
    if (e != kAlNoExtent) expected.push_back(e);
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(RecoverActiveExtents(ring.span(), kSlots), expected);
}

TEST(AlRecovery, TornNewestBlockIsSkipped) {
  // The crash hit while tr 3 was being written: its data write was never
  // submitted, so the AL as of tr 2 is the right answer.
  Ring ring(4);
  ring.Put(0, Tr(1, {{0, 10}}));
  ring.Put(1, Tr(2, {{1, 11}}));
  ring.Put(2, Tr(3, {{0, kAlNoExtent}, {2, 12}}));
  ring.Tear(2);
  EXPECT_EQ(RecoverActiveExtents(ring.span(), 3), (std::vector<uint32_t>{10, 11}));
}

TEST(AlRecovery, TornNewestBlockAfterWrap) {
  Ring ring(2);
  ring.Put(0, Tr(3, {{0, 30}}, 0, {30, 20}));
  ring.Put(1, Tr(4, {{1, 40}}, 0, {30, 40}));
  ring.Tear(1);
  EXPECT_EQ(RecoverActiveExtents(ring.span(), 2), (std::vector<uint32_t>{20, 30}));
}

TEST(AlRecovery, PartialTrailingBlockIsIgnored) {
  Bytes b = EncodeAlTransaction(Tr(1, {{0, 10}}));
  Bytes ring(b);
  ring.resize(kMdBlock + 100, 0xff);
  EXPECT_EQ(RecoverActiveExtents(ring, 4), (std::vector<uint32_t>{10}));
}

TEST(AlRecovery, SlotsOutsideTheAlAreIgnored) {
  Ring ring(2);
  ring.Put(0, Tr(1, {{0, 10}, {5, 50}}, 3, {70}));
  EXPECT_EQ(RecoverActiveExtents(ring.span(), 2), (std::vector<uint32_t>{10}));
  EXPECT_TRUE(RecoverActiveExtents(ring.span(), 0).empty());
}

// ---------------------------------------------------------------------------
// create-md

CreateMdParams ThreeNodeParams() {
  CreateMdParams p;
  p.backing_bytes = 10 * kGiB;
  p.internal = true;
  p.node_id = 1;
  p.max_peers = 2;
  p.peers_with_bitmap = {2, 0};
  p.all_nodes = {0, 1, 2};
  return p;
}

TEST(CreateMetadata, ProducesAFreshArea) {
  CreateMdParams p = ThreeNodeParams();
  Result<Bytes> area = CreateMetadata(p);
  ASSERT_TRUE(area.ok()) << area.error().message;
  Result<MdLayout> l = ComputeLayout(p.backing_bytes, 2, 8, true);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(area->size(), l->md_bytes);

  Result<Superblock> sb = DecodeSuperblock(*area);
  ASSERT_TRUE(sb.ok()) << sb.error().message;
  EXPECT_EQ(sb->version, 1u);
  EXPECT_EQ(sb->node_id, 1);
  EXPECT_EQ(sb->current_uuid, 4u);  // kUuidJustCreated
  EXPECT_EQ(sb->device_uuid, 0u);
  EXPECT_EQ(sb->flags, uint32_t{kMdAlClean});
  EXPECT_EQ(sb->max_peers, 2u);
  EXPECT_EQ(sb->al_extents, 1237u);
  EXPECT_EQ(sb->al_ring_slots, 8u);
  EXPECT_EQ(sb->bm_block_size, 4096u);
  EXPECT_EQ(sb->md_bytes, l->md_bytes);
  EXPECT_EQ(sb->al_offset, l->al_offset);
  EXPECT_EQ(sb->bm_offset, l->bm_offset);
  EXPECT_EQ(sb->bm_slot_bytes, l->bm_slot_bytes);
  EXPECT_EQ(sb->effective_size_sectors, l->usable_bytes / 512);
  EXPECT_EQ(sb->dagtag, 0u);
  EXPECT_EQ(sb->peers[2].bitmap_index, 0);
  EXPECT_EQ(sb->peers[0].bitmap_index, 1);
  EXPECT_EQ(sb->peers[1].bitmap_index, -1);
  for (int n : {0, 1, 2}) EXPECT_EQ(sb->peers[n].flags, uint32_t{kMdNodeExists}) << n;
  for (int n = 3; n < kMaxNodes; ++n) EXPECT_EQ(sb->peers[n], MdPeerSlot{}) << n;
  for (uint64_t h : sb->history) EXPECT_EQ(h, 0u);

  ByteSpan rest(area->data() + kMdBlock, area->size() - kMdBlock);
  EXPECT_TRUE(std::all_of(rest.begin(), rest.end(), [](uint8_t b) { return b == 0; }));
  ByteSpan ring(area->data() + sb->al_offset, sb->al_ring_slots * kMdBlock);
  EXPECT_TRUE(RecoverActiveExtents(ring, sb->al_extents).empty());
}

TEST(CreateMetadata, ExternalUsesTheWholeBacking) {
  CreateMdParams p = ThreeNodeParams();
  p.internal = false;
  Result<Bytes> area = CreateMetadata(p);
  ASSERT_TRUE(area.ok());
  Result<Superblock> sb = DecodeSuperblock(*area);
  ASSERT_TRUE(sb.ok());
  EXPECT_EQ(sb->effective_size_sectors, 10 * kGiB / 512);
}

TEST(CreateMetadata, RejectsBadParameters) {
  auto code_with = [](void (*mutate)(CreateMdParams*)) {
    CreateMdParams p = ThreeNodeParams();
    mutate(&p);
    return CreateMetadata(p).code();
  };
  EXPECT_EQ(code_with([](CreateMdParams* p) {
              p->peers_with_bitmap = {0, 2, 3};
            }),
            Errc::kInvalidArgument);  // more than max_peers
  EXPECT_EQ(code_with([](CreateMdParams* p) { p->node_id = 32; }), Errc::kInvalidArgument);
  EXPECT_EQ(code_with([](CreateMdParams* p) { p->peers_with_bitmap = {32}; }),
            Errc::kInvalidArgument);
  EXPECT_EQ(code_with([](CreateMdParams* p) {
              p->all_nodes = {0, 1, 40};
            }),
            Errc::kInvalidArgument);
  EXPECT_EQ(code_with([](CreateMdParams* p) { p->peers_with_bitmap = {1}; }),
            Errc::kInvalidArgument);  // self
  EXPECT_EQ(code_with([](CreateMdParams* p) {
              p->peers_with_bitmap = {2, 2};
            }),
            Errc::kInvalidArgument);
  EXPECT_EQ(code_with([](CreateMdParams* p) { p->max_peers = 0; }), Errc::kInvalidArgument);
  EXPECT_EQ(code_with([](CreateMdParams* p) { p->al_ring_slots = 1; }), Errc::kInvalidArgument);
  EXPECT_EQ(code_with([](CreateMdParams* p) { p->al_extents = 0; }), Errc::kInvalidArgument);
  EXPECT_EQ(code_with([](CreateMdParams* p) { p->al_extents = 918 * 7 + 1; }),
            Errc::kInvalidArgument);  // the 8-block ring cannot describe it
  EXPECT_EQ(code_with([](CreateMdParams* p) { p->backing_bytes = 8192; }), Errc::kInvalidArgument);
}

TEST(CreateMetadata, LargestAlForTheRing) {
  CreateMdParams p = ThreeNodeParams();
  p.al_extents = 918 * 7;
  EXPECT_TRUE(CreateMetadata(p).ok());
}

// ---------------------------------------------------------------------------
// Bitmap pages

TEST(BitmapPages, SlotsAreContiguousRegions) {
  Superblock sb = GoldenSuperblock();  // bm_offset 36864, 8 KiB per slot
  EXPECT_EQ(BitmapPageOffset(sb, 0, 0), 36'864u);
  EXPECT_EQ(BitmapPageOffset(sb, 0, 1), 36'864u + 4096);
  EXPECT_EQ(BitmapPageOffset(sb, 1, 0), 36'864u + 8192);
  EXPECT_EQ(BitmapPageOffset(sb, 1, 1), 36'864u + 8192 + 4096);
  EXPECT_EQ(BitmapPageOffset(sb, 1, 1) + kMdBlock, sb.md_bytes);
}

}  // namespace
}  // namespace tandem::engine

namespace tandem::engine {
namespace {

// metadata-format.md §9: the grown backing offers what was asked and, with
// internal metadata, puts the new area past the old end; it is the smallest
// 4 KiB-aligned size that does.
TEST(GrowBackingBytes, SmallestSizeThatOffersTheSizeAndDoesNotOverlap) {
  for (bool internal : {true, false}) {
    for (uint64_t old_backing : {64 * kMiB, 1 * kGiB + 4096, 100 * kGiB}) {
      for (uint64_t want : {old_backing + 4096, old_backing + 1, 2 * old_backing, 3 * kTiB}) {
        Result<uint64_t> b = GrowBackingBytes(old_backing, want, 3, 8, internal);
        ASSERT_TRUE(b.ok()) << b.error().message;
        EXPECT_EQ(*b % kMdBlock, 0u);
        Result<MdLayout> l = ComputeLayout(*b, 3, 8, internal);
        ASSERT_TRUE(l.ok());
        EXPECT_GE(l->usable_bytes, want) << old_backing << " -> " << want;
        if (internal) {
          EXPECT_GE(l->usable_bytes, old_backing) << "the areas would overlap";
        }
        Result<MdLayout> smaller = ComputeLayout(*b - kMdBlock, 3, 8, internal);
        EXPECT_TRUE(!smaller.ok() || smaller->usable_bytes < want ||
                    (internal && smaller->usable_bytes < old_backing))
            << "not the smallest: " << *b;
      }
    }
  }
  // Already large enough: nothing to grow.
  Result<uint64_t> same = GrowBackingBytes(1 * kGiB, 512 * kMiB, 3, 8, true);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, 1 * kGiB);
}

}  // namespace
}  // namespace tandem::engine
