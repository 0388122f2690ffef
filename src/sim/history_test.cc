#include "sim/history.h"

#include <gtest/gtest.h>

#include "sim/stamp.h"

namespace tandem::sim {
namespace {

const NodeId kAlpha(0), kBravo(1);
const VolumeNr kV0(0);

// --- stamps --------------------------------------------------------------------

TEST(Stamp, RoundTrips) {
  Stamp s{2, 1, 77, 12345};
  Bytes b = MakeStampedBlock(s);
  Stamp out;
  ASSERT_EQ(ParseBlock(b, &out), BlockKind::kStamped);
  EXPECT_EQ(out, s);
}

TEST(Stamp, ZeroBlockIsZero) {
  EXPECT_EQ(ParseBlock(Bytes(kAppBlock, 0), nullptr), BlockKind::kZero);
}

TEST(Stamp, TornBlockIsGarbage) {
  Bytes a = MakeStampedBlock(Stamp{0, 0, 5, 1});
  Bytes b = MakeStampedBlock(Stamp{0, 0, 5, 2});
  std::copy(b.begin() + 2048, b.begin() + 2560, a.begin() + 2048);  // one sector of b
  EXPECT_EQ(ParseBlock(a, nullptr), BlockKind::kGarbage);
}

TEST(Stamp, HalfZeroedBlockIsGarbage) {
  Bytes a = MakeStampedBlock(Stamp{0, 0, 5, 1});
  std::fill(a.begin() + 512, a.end(), 0);
  EXPECT_EQ(ParseBlock(a, nullptr), BlockKind::kGarbage);
}

TEST(Stamp, DifferentWritesGiveDifferentPayloads) {
  EXPECT_NE(MakeStampedBlock(Stamp{0, 0, 5, 1}), MakeStampedBlock(Stamp{0, 0, 5, 2}));
  EXPECT_NE(MakeStampedBlock(Stamp{0, 0, 5, 1}), MakeStampedBlock(Stamp{0, 0, 6, 1}));
}

// --- history -------------------------------------------------------------------

class HistoryTest : public ::testing::Test {
 protected:
  HistoryTest() : h_(Options(true)) {}
  static HistoryOptions Options(bool fua_is_durable) {
    HistoryOptions o;
    o.blocks_per_volume = 16;
    o.fua_is_durable = fua_is_durable;
    o.node_names = {"alpha", "bravo"};
    return o;
  }
  uint64_t Write(uint64_t block, WriteOutcome outcome, bool fua = false, NodeId n = kAlpha) {
    uint64_t seq = h_.BeginWrite(n, kV0, block, 1, false, fua, now_++);
    h_.EndWrite(seq, outcome, now_++);
    return seq;
  }
  uint64_t Trim(uint64_t block) {
    uint64_t seq = h_.BeginWrite(kAlpha, kV0, block, 1, true, false, now_++);
    h_.EndWrite(seq, WriteOutcome::kAcked, now_++);
    return seq;
  }
  void FlushOk(NodeId n = kAlpha) {
    uint64_t f = h_.BeginFlush(n, now_++);
    h_.EndFlush(f, true, now_++);
  }
  Bytes Block(uint64_t block, uint64_t seq) { return MakeStampedBlock(Stamp{0, 0, block, seq}); }
  std::string Check(uint64_t block, const Bytes& content) {
    return h_.CheckBlock(kV0, block, h_.floor(kV0, block), content);
  }

  History h_;
  Time now_ = 1;
};

TEST_F(HistoryTest, NeverWrittenBlockMayBeZero) { EXPECT_EQ(Check(3, Bytes(kAppBlock, 0)), ""); }

TEST_F(HistoryTest, ReadMustShowTheLatestAcknowledgedWrite) {
  uint64_t w1 = Write(3, WriteOutcome::kAcked);
  uint64_t w2 = Write(3, WriteOutcome::kAcked);
  EXPECT_EQ(Check(3, Block(3, w2)), "");
  EXPECT_NE(Check(3, Block(3, w1)), "");
  EXPECT_NE(Check(3, Bytes(kAppBlock, 0)), "");
}

TEST_F(HistoryTest, ReadMayShowAWriteStillInFlight) {
  uint64_t w1 = Write(3, WriteOutcome::kAcked);
  History::ReadToken t = h_.BeginRead(kV0, 3, 1, now_++);
  uint64_t w2 = h_.BeginWrite(kAlpha, kV0, 3, 1, false, false, now_++);
  EXPECT_EQ(h_.CheckRead(t, Block(3, w1)), "");
  EXPECT_EQ(h_.CheckRead(t, Block(3, w2)), "");
}

TEST_F(HistoryTest, ReadMayShowAFailedWriteButNotARejectedOne) {
  Write(3, WriteOutcome::kAcked);
  uint64_t failed = Write(3, WriteOutcome::kUnknown);
  uint64_t rejected = Write(3, WriteOutcome::kRejected);
  EXPECT_EQ(Check(3, Block(3, failed)), "");
  EXPECT_NE(Check(3, Block(3, rejected)), "");
}

TEST_F(HistoryTest, ReadOfAnotherBlocksDataIsMisplaced) {
  uint64_t w = Write(4, WriteOutcome::kAcked);
  EXPECT_NE(Check(3, Block(4, w)).find("holds the data of"), std::string::npos);
}

TEST_F(HistoryTest, GarbageIsNeverAllowed) {
  Bytes torn = Block(3, Write(3, WriteOutcome::kAcked));
  torn[100] ^= 1;
  EXPECT_NE(Check(3, torn).find("garbage"), std::string::npos);
}

TEST_F(HistoryTest, TrimmedBlockReadsZero) {
  Write(3, WriteOutcome::kAcked);
  Trim(3);
  EXPECT_EQ(Check(3, Bytes(kAppBlock, 0)), "");
}

TEST_F(HistoryTest, ZeroIsAllowedWhileATrimIsInFlight) {
  Write(3, WriteOutcome::kAcked);
  h_.BeginWrite(kAlpha, kV0, 3, 1, true, false, now_++);
  EXPECT_EQ(Check(3, Bytes(kAppBlock, 0)), "");
}

TEST_F(HistoryTest, FuaWriteIsDurableAtOnce) {
  uint64_t w = Write(3, WriteOutcome::kAcked, /*fua=*/true);
  EXPECT_EQ(h_.durable_floor(kV0, 3), w);
}

TEST_F(HistoryTest, FuaIsNotDurableWhenTheProtocolSaysSo) {
  History h(Options(false));
  uint64_t seq = h.BeginWrite(kAlpha, kV0, 3, 1, false, true, 1);
  h.EndWrite(seq, WriteOutcome::kAcked, 2);
  EXPECT_EQ(h.durable_floor(kV0, 3), 0u);
}

TEST_F(HistoryTest, FlushMakesEarlierAcknowledgedWritesDurable) {
  uint64_t w = Write(3, WriteOutcome::kAcked);
  EXPECT_EQ(h_.durable_floor(kV0, 3), 0u);
  FlushOk();
  EXPECT_EQ(h_.durable_floor(kV0, 3), w);
}

TEST_F(HistoryTest, FlushOnAnotherNodeDoesNotCoverAWrite) {
  Write(3, WriteOutcome::kAcked);
  FlushOk(kBravo);
  EXPECT_EQ(h_.durable_floor(kV0, 3), 0u);
}

TEST_F(HistoryTest, WriteAcknowledgedAfterTheFlushWasSubmittedIsNotCovered) {
  uint64_t f = h_.BeginFlush(kAlpha, now_++);
  Write(3, WriteOutcome::kAcked);
  h_.EndFlush(f, true, now_++);
  EXPECT_EQ(h_.durable_floor(kV0, 3), 0u);
}

TEST_F(HistoryTest, FailedFlushMakesNothingDurable) {
  Write(3, WriteOutcome::kAcked);
  uint64_t f = h_.BeginFlush(kAlpha, now_++);
  h_.EndFlush(f, false, now_++);
  EXPECT_EQ(h_.durable_floor(kV0, 3), 0u);
}

TEST_F(HistoryTest, CrashLetsTheBlockFallBackToItsLatestDurableWrite) {
  uint64_t w1 = Write(3, WriteOutcome::kAcked, /*fua=*/true);
  uint64_t w2 = Write(3, WriteOutcome::kAcked);
  EXPECT_NE(Check(3, Block(3, w1)), "");
  h_.NodeCrashed(kBravo, now_++);
  EXPECT_EQ(Check(3, Block(3, w1)), "");
  EXPECT_EQ(Check(3, Block(3, w2)), "");
  EXPECT_NE(Check(3, Bytes(kAppBlock, 0)), "");
}

TEST_F(HistoryTest, DurableAfterACrashRaisesTheFloorAgain) {
  uint64_t w1 = Write(3, WriteOutcome::kAcked);
  uint64_t f = h_.BeginFlush(kAlpha, now_++);
  h_.NodeCrashed(kBravo, now_++);
  EXPECT_EQ(Check(3, Bytes(kAppBlock, 0)), "");
  h_.EndFlush(f, true, now_++);
  EXPECT_NE(Check(3, Bytes(kAppBlock, 0)), "");
  EXPECT_EQ(Check(3, Block(3, w1)), "");
}

TEST_F(HistoryTest, AFlushAfterACrashDoesNotMakeTheCrashedNodesWritesDurable) {
  uint64_t w1 = Write(3, WriteOutcome::kAcked, false, kBravo);
  uint64_t open = h_.BeginFlush(kBravo, now_++);
  h_.NodeCrashed(kBravo, now_++);
  FlushOk(kBravo);  // after the restart
  h_.EndFlush(open, true, now_++);
  EXPECT_EQ(h_.durable_floor(kV0, 3), 0u) << "write #" << w1 << " may have died in the crash";
  EXPECT_EQ(Check(3, Bytes(kAppBlock, 0)), "");
  uint64_t w2 = Write(4, WriteOutcome::kAcked, false, kBravo);
  FlushOk(kBravo);
  EXPECT_EQ(h_.durable_floor(kV0, 4), w2) << "writes after the restart count again";
}

TEST_F(HistoryTest, CheckAreaNamesLostDurableData) {
  Write(2, WriteOutcome::kAcked, /*fua=*/true);
  h_.NodeCrashed(kAlpha, now_++);
  Bytes area(16 * kAppBlock, 0);
  std::string err = h_.CheckArea(kV0, area);
  EXPECT_NE(err.find("lost durable-acknowledged data"), std::string::npos) << err;
  EXPECT_NE(err.find("block 2"), std::string::npos) << err;
}

TEST_F(HistoryTest, CheckAreaAcceptsTheLatestWrites) {
  Bytes area(16 * kAppBlock, 0);
  for (uint64_t b = 0; b < 4; ++b) {
    uint64_t w = Write(b, WriteOutcome::kAcked);
    Bytes blk = Block(b, w);
    std::copy(blk.begin(), blk.end(), area.begin() + b * kAppBlock);
  }
  EXPECT_EQ(h_.CheckArea(kV0, area), "");
}

TEST_F(HistoryTest, MultiBlockWriteCoversEachBlock) {
  uint64_t seq = h_.BeginWrite(kAlpha, kV0, 4, 3, false, false, now_++);
  EXPECT_TRUE(h_.Busy(kV0, 5));
  h_.EndWrite(seq, WriteOutcome::kAcked, now_++);
  EXPECT_FALSE(h_.Busy(kV0, 5));
  EXPECT_EQ(Check(6, Block(6, seq)), "");
  EXPECT_EQ(Check(7, Bytes(kAppBlock, 0)), "");
}

}  // namespace
}  // namespace tandem::sim
