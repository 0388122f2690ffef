// Specification tests for the connect-time sync decision (drbd-semantics.md
// §5.4, §6). One test per rule of the §5.4 table, the UG's 2-node table, every
// after-sb policy, and a randomized mirror-symmetry property: both ends of a
// connection must reach the same decision from their own point of view.
#include "engine/uuid_compare.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace tandem::engine {
namespace {

constexpr NodeId kA{0};
constexpr NodeId kB{1};
constexpr NodeId kC{2};

// Generation UUIDs with bit 0 clear; `| kUuidPrimaryBit` marks "made by a
// Primary".
constexpr uint64_t kParent = 0x1000;
constexpr uint64_t kG1 = 0x2000;
constexpr uint64_t kG2 = 0x3000;
constexpr uint64_t kG3 = 0x4000;
constexpr uint64_t kOld = 0x5000;

UuidSide Side(NodeId id, uint64_t current) {
  UuidSide s;
  s.node_id = id;
  s.current = current;
  s.disk = DiskState::kUpToDate;
  return s;
}

void SetBitmap(UuidSide& s, NodeId peer, uint64_t uuid) { s.bitmap_uuids[peer.value()] = uuid; }

// Node A (lower id) holds resolve_conflicts.
HandshakeDecision DecideA(const UuidSide& a, const UuidSide& b, const HandshakePolicy& p = {}) {
  return DecideSync(a, b, p, /*resolve_conflicts=*/true);
}
HandshakeDecision DecideB(const UuidSide& a, const UuidSide& b, const HandshakePolicy& p = {}) {
  return DecideSync(b, a, p, /*resolve_conflicts=*/false);
}

HandshakeOutcome Mirror(HandshakeOutcome o) {
  switch (o) {
    case HandshakeOutcome::kBecomeSource:
      return HandshakeOutcome::kBecomeTarget;
    case HandshakeOutcome::kBecomeTarget:
      return HandshakeOutcome::kBecomeSource;
    default:
      return o;
  }
}

BitmapPrep Mirror(BitmapPrep b) {
  switch (b) {
    case BitmapPrep::kCopyFromOther:
      return BitmapPrep::kClear;
    case BitmapPrep::kClear:
      return BitmapPrep::kCopyFromOther;
    default:
      return b;
  }
}

SyncStrategy Mirror(SyncStrategy s) {
  switch (s) {
    case SyncStrategy::kSourceUseBitmap:
      return SyncStrategy::kTargetUseBitmap;
    case SyncStrategy::kSourceSetBitmap:
      return SyncStrategy::kTargetSetBitmap;
    case SyncStrategy::kSourceCopyBitmap:
      return SyncStrategy::kTargetClearBitmap;
    case SyncStrategy::kSourceIfBothFailed:
      return SyncStrategy::kTargetIfBothFailed;
    case SyncStrategy::kTargetUseBitmap:
      return SyncStrategy::kSourceUseBitmap;
    case SyncStrategy::kTargetSetBitmap:
      return SyncStrategy::kSourceSetBitmap;
    case SyncStrategy::kTargetClearBitmap:
      return SyncStrategy::kSourceCopyBitmap;
    case SyncStrategy::kTargetIfBothFailed:
      return SyncStrategy::kSourceIfBothFailed;
    default:
      return s;
  }
}

int MirrorRule(int rule) {
  switch (rule) {
    case 2:
      return 3;
    case 3:
      return 2;
    case 5:
      return 7;
    case 7:
      return 5;
    case 6:
      return 8;
    case 8:
      return 6;
    default:
      return rule;
  }
}

// Both ends' decisions describe the same resync.
::testing::AssertionResult Agree(const HandshakeDecision& a, const HandshakeDecision& b) {
  if (a.outcome != Mirror(b.outcome)) {
    return ::testing::AssertionFailure()
           << "outcomes " << HandshakeOutcomeName(a.outcome) << " vs "
           << HandshakeOutcomeName(b.outcome) << " (" << a.reason << " | " << b.reason << ")";
  }
  const bool syncing =
      a.outcome == HandshakeOutcome::kBecomeSource || a.outcome == HandshakeOutcome::kBecomeTarget;
  if (syncing && (a.bitmap != Mirror(b.bitmap) || a.other_node != b.other_node)) {
    return ::testing::AssertionFailure()
           << "bitmap preparation differs (" << a.reason << " | " << b.reason << ")";
  }
  if (a.split_brain_detected != b.split_brain_detected) {
    return ::testing::AssertionFailure() << "split_brain_detected differs";
  }
  return ::testing::AssertionSuccess();
}

// Runs both ends, checks they agree, returns A's decision.
HandshakeDecision Decide(const UuidSide& a, const UuidSide& b, const HandshakePolicy& p = {}) {
  HandshakeDecision da = DecideA(a, b, p);
  HandshakeDecision db = DecideB(a, b, p);
  EXPECT_TRUE(Agree(da, db));
  return da;
}

// --- The §5.4 rule table, one rule per test --------------------------------

TEST(UuidCompare, Rule1_JustCreatedBoth) {
  UuidSide a = Side(kA, kUuidJustCreated);
  UuidSide b = Side(kB, 0);  // 0 counts as JUST_CREATED
  UuidCompareResult r = UuidCompare(a, b, true);
  EXPECT_EQ(r.strategy, SyncStrategy::kNoSync);
  EXPECT_EQ(r.rule, 1);
  EXPECT_EQ(r.rule_name, "just-created-both");
}

TEST(UuidCompare, Rule2_JustCreatedSelf) {
  UuidSide a = Side(kA, 0);
  UuidSide b = Side(kB, kG1);
  UuidCompareResult r = UuidCompare(a, b, true);
  EXPECT_EQ(r.strategy, SyncStrategy::kTargetSetBitmap);
  EXPECT_EQ(r.rule, 2);
  EXPECT_EQ(r.rule_name, "just-created-self");
  HandshakeDecision d = Decide(a, b);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeTarget);
  EXPECT_EQ(d.bitmap, BitmapPrep::kSetAll);
}

TEST(UuidCompare, Rule3_JustCreatedPeer) {
  UuidSide a = Side(kA, kG1 | kUuidPrimaryBit);
  UuidSide b = Side(kB, kUuidJustCreated);
  UuidCompareResult r = UuidCompare(a, b, false);
  EXPECT_EQ(r.strategy, SyncStrategy::kSourceSetBitmap);
  EXPECT_EQ(r.rule, 3);
  EXPECT_EQ(r.rule_name, "just-created-peer");
  EXPECT_EQ(Decide(a, b).outcome, HandshakeOutcome::kBecomeSource);
}

TEST(UuidCompare, Rule4a_MissedFinishSource) {
  // I finished a resync as source; the target's final UUID message was lost.
  UuidSide a = Side(kA, kG1);
  a.flags = kUuidFlagMissedFinishSource;
  UuidSide b = Side(kB, kG1);
  UuidCompareResult r = UuidCompare(a, b, false);
  EXPECT_EQ(r.strategy, SyncStrategy::kSourceUseBitmap);
  EXPECT_EQ(r.rule, 4);
  EXPECT_EQ(r.rule_name, "sync-source-missed-finish");
  EXPECT_EQ(UuidCompare(b, a, true).strategy, SyncStrategy::kTargetUseBitmap);
  EXPECT_EQ(Decide(a, b).outcome, HandshakeOutcome::kBecomeSource);
}

TEST(UuidCompare, Rule4a_MissedFinishTarget) {
  UuidSide a = Side(kA, kG1);
  UuidSide b = Side(kB, kG1);
  b.flags = kUuidFlagMissedFinishTarget;  // the peer finished as target
  UuidCompareResult r = UuidCompare(a, b, false);
  EXPECT_EQ(r.strategy, SyncStrategy::kSourceUseBitmap);
  EXPECT_EQ(r.rule_name, "sync-source-missed-finish");
  EXPECT_EQ(UuidCompare(b, a, true).rule_name, "sync-target-missed-finish");
}

TEST(UuidCompare, Rule4a_ContradictingMissedFinishIsATie) {
  UuidSide a = Side(kA, kG1);
  a.flags = kUuidFlagMissedFinishSource;
  UuidSide b = Side(kB, kG1);
  b.flags = kUuidFlagMissedFinishSource;
  EXPECT_EQ(UuidCompare(a, b, true).strategy, SyncStrategy::kSourceUseBitmap);
  EXPECT_EQ(UuidCompare(b, a, false).strategy, SyncStrategy::kTargetUseBitmap);
}

TEST(UuidCompare, Rule4b_Reconnected) {
  UuidSide a = Side(kA, kG1);
  a.flags = kUuidFlagReconnect | kUuidFlagCrashedPrimary;
  UuidSide b = Side(kB, kG1);
  b.flags = kUuidFlagReconnect | kUuidFlagPrimaryLostQuorum;  // 4b precedes 4c..4g
  UuidCompareResult r = UuidCompare(a, b, true);
  EXPECT_EQ(r.strategy, SyncStrategy::kNoSync);
  EXPECT_EQ(r.rule, 4);
  EXPECT_EQ(r.rule_name, "reconnected");
}

TEST(UuidCompare, Rule4c_CrashedPrimaryFollowsProtocolCSemantics) {
  // 4c needs the wire protocol, which UuidCompare does not get: exactly one
  // CRASHED_PRIMARY without RECONNECT is decided by 4g (crashed side is
  // SOURCE_IF_BOTH_FAILED), which for protocol A/B gives the same direction.
  UuidSide a = Side(kA, kG1);
  a.flags = kUuidFlagCrashedPrimary;
  UuidSide b = Side(kB, kG1);
  UuidCompareResult r = UuidCompare(a, b, false);
  EXPECT_EQ(r.strategy, SyncStrategy::kSourceIfBothFailed);
  EXPECT_EQ(r.rule_name, "both-off");
  EXPECT_EQ(Decide(a, b).outcome, HandshakeOutcome::kBecomeSource);
}

TEST(UuidCompare, Rule4d_LostQuorum) {
  // A Primary lost quorum and nobody started a newer generation: its
  // local-only writes win (§7.4).
  UuidSide a = Side(kA, kG1);
  UuidSide b = Side(kB, kG1);
  b.flags = kUuidFlagPrimaryLostQuorum | kUuidFlagCrashedPrimary;
  a.flags = kUuidFlagReconnect;  // 4d precedes 4e
  UuidCompareResult r = UuidCompare(a, b, true);
  EXPECT_EQ(r.strategy, SyncStrategy::kTargetIfBothFailed);
  EXPECT_EQ(r.rule, 4);
  EXPECT_EQ(r.rule_name, "lost-quorum");
  EXPECT_EQ(Decide(a, b).outcome, HandshakeOutcome::kBecomeTarget);
}

TEST(UuidCompare, Rule4d_LostQuorumOnBothSidesIsATie) {
  UuidSide a = Side(kA, kG1);
  a.flags = kUuidFlagPrimaryLostQuorum;
  UuidSide b = Side(kB, kG1);
  b.flags = kUuidFlagPrimaryLostQuorum;
  EXPECT_EQ(UuidCompare(a, b, true).strategy, SyncStrategy::kSourceIfBothFailed);
  EXPECT_EQ(UuidCompare(b, a, false).strategy, SyncStrategy::kTargetIfBothFailed);
}

TEST(UuidCompare, Rule4e_SurvivorOfCrashedPrimaryIsSource) {
  UuidSide a = Side(kA, kG1);
  a.flags = kUuidFlagReconnect;  // saw the Primary go away
  UuidSide b = Side(kB, kG1);
  b.flags = kUuidFlagCrashedPrimary;
  UuidCompareResult r = UuidCompare(a, b, false);
  EXPECT_EQ(r.strategy, SyncStrategy::kSourceIfBothFailed);
  EXPECT_EQ(r.rule_name, "reconnected");
  EXPECT_EQ(UuidCompare(b, a, true).strategy, SyncStrategy::kTargetIfBothFailed);
}

TEST(UuidCompare, Rule4f_OneSideReconnectIsNoSync) {
  UuidSide a = Side(kA, kG1);
  UuidSide b = Side(kB, kG1);
  b.flags = kUuidFlagReconnect;
  UuidCompareResult r = UuidCompare(a, b, true);
  EXPECT_EQ(r.strategy, SyncStrategy::kNoSync);
  EXPECT_EQ(r.rule_name, "reconnected");
}

TEST(UuidCompare, Rule4g_BothOff) {
  UuidSide a = Side(kA, kG1);
  UuidSide b = Side(kB, kG1);
  b.flags = kUuidFlagCrashedPrimary;
  EXPECT_EQ(UuidCompare(a, b, true).strategy, SyncStrategy::kTargetIfBothFailed);
  a.flags = kUuidFlagCrashedPrimary;  // both were Primary: tie-break
  UuidCompareResult r = UuidCompare(a, b, true);
  EXPECT_EQ(r.strategy, SyncStrategy::kSourceIfBothFailed);
  EXPECT_EQ(r.rule_name, "both-off");
  EXPECT_EQ(UuidCompare(b, a, false).strategy, SyncStrategy::kTargetIfBothFailed);
}

TEST(UuidCompare, Rule5_BitmapPeer) {
  // The peer tracked its changes since my generation (bit 0: it was Primary).
  UuidSide a = Side(kA, kG1);
  UuidSide b = Side(kB, kG2 | kUuidPrimaryBit);
  SetBitmap(b, kA, kG1 | kUuidPrimaryBit);
  UuidCompareResult r = UuidCompare(a, b, true);
  EXPECT_EQ(r.strategy, SyncStrategy::kTargetUseBitmap);
  EXPECT_EQ(r.rule, 5);
  EXPECT_EQ(r.rule_name, "bitmap-peer");
  HandshakeDecision d = Decide(a, b);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeTarget);
  EXPECT_EQ(d.bitmap, BitmapPrep::kUse);
  EXPECT_EQ(d.reason, "uuid_compare()=SyncTarget-use-bitmap by rule=bitmap-peer");
}

TEST(UuidCompare, Rule6_BitmapPeerOther) {
  // I am at the generation the peer keeps a bitmap for towards node C.
  UuidSide a = Side(kA, kG1);
  UuidSide b = Side(kB, kG2);
  SetBitmap(b, kC, kG1);
  UuidCompareResult r = UuidCompare(a, b, true);
  EXPECT_EQ(r.strategy, SyncStrategy::kTargetClearBitmap);
  EXPECT_EQ(r.rule, 6);
  EXPECT_EQ(r.rule_name, "bitmap-peer-other");
  EXPECT_EQ(r.other_node, kC.value());
  HandshakeDecision d = Decide(a, b);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeTarget);
  EXPECT_EQ(d.bitmap, BitmapPrep::kClear);
}

TEST(UuidCompare, Rule7_BitmapSelf) {
  UuidSide a = Side(kA, kG2);
  SetBitmap(a, kB, kG1);
  UuidSide b = Side(kB, kG1);
  UuidCompareResult r = UuidCompare(a, b, false);
  EXPECT_EQ(r.strategy, SyncStrategy::kSourceUseBitmap);
  EXPECT_EQ(r.rule, 7);
  EXPECT_EQ(r.rule_name, "bitmap-self");
}

TEST(UuidCompare, Rule8_BitmapSelfOther) {
  UuidSide a = Side(kA, kG2);
  SetBitmap(a, kC, kG1);
  UuidSide b = Side(kB, kG1);
  UuidCompareResult r = UuidCompare(a, b, false);
  EXPECT_EQ(r.strategy, SyncStrategy::kSourceCopyBitmap);
  EXPECT_EQ(r.rule, 8);
  EXPECT_EQ(r.rule_name, "bitmap-self-other");
  EXPECT_EQ(r.other_node, kC.value());
  HandshakeDecision d = Decide(a, b);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeSource);
  EXPECT_EQ(d.bitmap, BitmapPrep::kCopyFromOther);
  EXPECT_EQ(d.other_node, kC.value());
}

TEST(UuidCompare, Rule5And7ContradictingIsATie) {
  // Each side keeps the other's current as its bitmap UUID: no consistent
  // genealogy. Strict table order would make both ends SyncTarget.
  UuidSide a = Side(kA, kG1);
  SetBitmap(a, kB, kG2);
  UuidSide b = Side(kB, kG2);
  SetBitmap(b, kA, kG1);
  EXPECT_EQ(UuidCompare(a, b, true).rule_name, "bitmap-self");
  EXPECT_EQ(UuidCompare(b, a, false).rule_name, "bitmap-peer");
  EXPECT_EQ(Decide(a, b).outcome, HandshakeOutcome::kBecomeSource);
}

TEST(UuidCompare, Rule9_HistoryPeer) {
  UuidSide a = Side(kA, kG1);
  UuidSide b = Side(kB, kG2);
  b.history = {kG1, kOld};
  UuidCompareResult r = UuidCompare(a, b, true);
  EXPECT_EQ(r.strategy, SyncStrategy::kTargetSetBitmap);
  EXPECT_EQ(r.rule, 9);
  EXPECT_EQ(r.rule_name, "history-peer");
  EXPECT_EQ(Decide(a, b).bitmap, BitmapPrep::kSetAll);
}

TEST(UuidCompare, Rule9_HistorySelf) {
  UuidSide a = Side(kA, kG2);
  a.history = {kG1 | kUuidPrimaryBit};
  UuidSide b = Side(kB, kG1);
  UuidCompareResult r = UuidCompare(a, b, true);
  EXPECT_EQ(r.strategy, SyncStrategy::kSourceSetBitmap);
  EXPECT_EQ(r.rule_name, "history-self");
}

TEST(UuidCompare, Rule10_BitmapBoth_SplitBrainAutoRecover) {
  UuidSide a = Side(kA, kG1);
  SetBitmap(a, kB, kParent);
  UuidSide b = Side(kB, kG2);
  SetBitmap(b, kA, kParent | kUuidPrimaryBit);
  UuidCompareResult r = UuidCompare(a, b, true);
  EXPECT_EQ(r.strategy, SyncStrategy::kSplitBrainAutoRecover);
  EXPECT_EQ(r.rule, 10);
  EXPECT_EQ(r.rule_name, "bitmap-both");
  HandshakeDecision d = Decide(a, b);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kSplitBrain);
  EXPECT_TRUE(d.split_brain_detected);
  EXPECT_EQ(d.reason, "Split-Brain detected but unresolved, dropping connection!");
}

TEST(UuidCompare, Rule11_HistoryBoth_SplitBrainDisconnect) {
  UuidSide a = Side(kA, kG1);
  a.history = {kG3, kParent};
  UuidSide b = Side(kB, kG2);
  b.history = {kParent};
  UuidCompareResult r = UuidCompare(a, b, true);
  EXPECT_EQ(r.strategy, SyncStrategy::kSplitBrainDisconnect);
  EXPECT_EQ(r.rule, 11);
  EXPECT_EQ(r.rule_name, "history-both");
  EXPECT_EQ(Decide(a, b).outcome, HandshakeOutcome::kSplitBrain);
}

TEST(UuidCompare, Rule12_UnrelatedData) {
  UuidSide a = Side(kA, kG1);
  a.history = {kG3};
  UuidSide b = Side(kB, kG2);
  b.history = {kOld};
  UuidCompareResult r = UuidCompare(a, b, true);
  EXPECT_EQ(r.strategy, SyncStrategy::kUnrelatedData);
  EXPECT_EQ(r.rule, 12);
  HandshakeDecision d = Decide(a, b);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kUnrelatedData);
  EXPECT_EQ(d.reason, "Unrelated data, aborting!");
}

TEST(UuidCompare, CurrentsCompareWithPrimaryBitMasked) {
  UuidSide a = Side(kA, kG1 | kUuidPrimaryBit);
  UuidSide b = Side(kB, kG1);
  EXPECT_EQ(UuidCompare(a, b, true).rule, 4);
}

TEST(UuidCompare, Day0_SameGenerationWithoutFlagsIsNoSync) {
  // Both nodes carry the same day-0 UUID and no flags: nothing tells them
  // apart, so no resync. This is why the engine must create a new current
  // UUID on the first write after promotion (§5.2, §11.2 scenario 40).
  UuidSide a = Side(kA, kG1);
  a.primary = true;
  a.dirty_bits = 100;  // writes that were not tagged with a new generation
  UuidSide b = Side(kB, kG1);
  HandshakeDecision d = Decide(a, b);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kNoSync);
  EXPECT_EQ(d.compare.rule_name, "both-off");
}

// --- UG drbd-internals "How DRBD uses generation identifiers" ---------------

TEST(UuidCompare, UserGuideTwoNodeTable) {
  struct Row {
    const char* name;
    UuidSide a, b;
    SyncStrategy strategy;  // from A's point of view
    HandshakeOutcome outcome;
  };
  auto with_bitmap = [](UuidSide s, NodeId peer, uint64_t uuid) {
    SetBitmap(s, peer, uuid);
    return s;
  };
  auto with_history = [](UuidSide s, std::vector<uint64_t> h) {
    s.history = std::move(h);
    return s;
  };
  const std::vector<Row> rows = {
      {"both empty: nothing (start manually)", Side(kA, 0), Side(kB, 0), SyncStrategy::kNoSync,
       HandshakeOutcome::kNoSync},
      {"one empty: full sync from the other", Side(kA, 0), Side(kB, kG1),
       SyncStrategy::kTargetSetBitmap, HandshakeOutcome::kBecomeTarget},
      {"equal: nothing", Side(kA, kG1), Side(kB, kG1), SyncStrategy::kNoSync,
       HandshakeOutcome::kNoSync},
      {"my bitmap == peer current, peer bitmap 0: bitmap-based source",
       with_bitmap(Side(kA, kG2), kB, kG1), Side(kB, kG1), SyncStrategy::kSourceUseBitmap,
       HandshakeOutcome::kBecomeSource},
      {"my current in peer history: full sync, I am target", Side(kA, kG1),
       with_history(Side(kB, kG2), {kG1}), SyncStrategy::kTargetSetBitmap,
       HandshakeOutcome::kBecomeTarget},
      {"bitmap UUIDs equal, currents differ: split brain, auto-recovery allowed",
       with_bitmap(Side(kA, kG1), kB, kParent), with_bitmap(Side(kB, kG2), kA, kParent),
       SyncStrategy::kSplitBrainAutoRecover, HandshakeOutcome::kSplitBrain},
      {"only history in common: split brain, manual", with_history(Side(kA, kG1), {kParent}),
       with_history(Side(kB, kG2), {kParent}), SyncStrategy::kSplitBrainDisconnect,
       HandshakeOutcome::kSplitBrain},
      {"no match at all: unrelated data", Side(kA, kG1), Side(kB, kG2),
       SyncStrategy::kUnrelatedData, HandshakeOutcome::kUnrelatedData},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(UuidCompare(row.a, row.b, true).strategy, row.strategy);
    EXPECT_EQ(Decide(row.a, row.b).outcome, row.outcome);
  }
}

// --- DecideSync post-processing ---------------------------------------------

TEST(DecideSync, IfBothFailedFollowsAPrimary) {
  // Rule 4d says B (lost quorum) is source, but A is Primary now.
  UuidSide a = Side(kA, kG1);
  UuidSide b = Side(kB, kG1);
  b.flags = kUuidFlagPrimaryLostQuorum;
  EXPECT_EQ(Decide(a, b).outcome, HandshakeOutcome::kBecomeTarget);  // nobody Primary
  a.primary = true;
  HandshakeDecision d = Decide(a, b);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeSource);
  EXPECT_EQ(d.bitmap, BitmapPrep::kUse);
  b.primary = true;  // two Primaries: neither is overwritten
  EXPECT_EQ(Decide(a, b).outcome, HandshakeOutcome::kNoSync);
}

TEST(DecideSync, DiskStateOverridesNoSyncWithOneSideInconsistent) {
  UuidSide a = Side(kA, kG1);
  UuidSide b = Side(kB, kG1);
  b.disk = DiskState::kInconsistent;
  HandshakeDecision d = Decide(a, b);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeSource);
  EXPECT_EQ(d.bitmap, BitmapPrep::kUse);

  // Fresh metadata on both (rule 1), one side made UpToDate: full sync.
  a.current = b.current = kUuidJustCreated;
  d = Decide(a, b);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeSource);
  EXPECT_EQ(d.bitmap, BitmapPrep::kSetAll);

  // Both Inconsistent (fresh resource, §11.2 scenario 1): nothing to do.
  a.disk = DiskState::kInconsistent;
  EXPECT_EQ(Decide(a, b).outcome, HandshakeOutcome::kNoSync);
}

TEST(DecideSync, DiskStateOverridesIfBothFailedDirection) {
  // 4g says the crashed Primary B is source, but A's disk is better.
  UuidSide a = Side(kA, kG1);
  UuidSide b = Side(kB, kG1);
  b.flags = kUuidFlagCrashedPrimary;
  b.disk = DiskState::kOutdated;
  EXPECT_EQ(Decide(a, b).outcome, HandshakeOutcome::kBecomeSource);
}

// Split brain after divergence from `kParent`: A at kG1, B at kG2, both with a
// bitmap for the other since kParent (rule 10).
struct SplitBrain {
  UuidSide a = Side(kA, kG1);
  UuidSide b = Side(kB, kG2);
  SplitBrain(bool a_was_primary, bool b_was_primary, uint64_t a_changes, uint64_t b_changes) {
    SetBitmap(a, kB, kParent | (a_was_primary ? kUuidPrimaryBit : 0));
    SetBitmap(b, kA, kParent | (b_was_primary ? kUuidPrimaryBit : 0));
    a.dirty_bits = a_changes;
    b.dirty_bits = b_changes;
  }
};

HandshakePolicy Policy0(AfterSb0 p) {
  HandshakePolicy policy;
  policy.after_sb_0pri = p;
  return policy;
}

TEST(DecideSync, After0pri_Disconnect) {
  SplitBrain sb(true, false, 1, 0);
  HandshakeDecision d = Decide(sb.a, sb.b, Policy0(AfterSb0::kDisconnect));
  EXPECT_EQ(d.outcome, HandshakeOutcome::kSplitBrain);
  EXPECT_TRUE(d.split_brain_detected);
}

TEST(DecideSync, After0pri_DiscardYoungerPrimary) {
  // A was Primary at the split, B became Primary later: B's data is discarded.
  SplitBrain sb(true, false, 10, 10);
  HandshakeDecision d = Decide(sb.a, sb.b, Policy0(AfterSb0::kDiscardYoungerPrimary));
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeSource);
  EXPECT_EQ(d.bitmap, BitmapPrep::kUse);
  EXPECT_TRUE(d.split_brain_detected);
  EXPECT_EQ(d.reason,
            "Split-Brain detected, 0 primaries, automatically solved. Sync from this node");
}

TEST(DecideSync, After0pri_DiscardYoungerPrimaryUndecidedFallsThroughToChanges) {
  SplitBrain sb(false, false, 0, 5);  // zero-changes decides
  EXPECT_EQ(Decide(sb.a, sb.b, Policy0(AfterSb0::kDiscardYoungerPrimary)).outcome,
            HandshakeOutcome::kBecomeTarget);
  SplitBrain sb2(true, true, 7, 3);  // then least-changes
  EXPECT_EQ(Decide(sb2.a, sb2.b, Policy0(AfterSb0::kDiscardYoungerPrimary)).outcome,
            HandshakeOutcome::kBecomeSource);
}

TEST(DecideSync, After0pri_DiscardOlderPrimary) {
  SplitBrain sb(true, false, 10, 10);
  EXPECT_EQ(Decide(sb.a, sb.b, Policy0(AfterSb0::kDiscardOlderPrimary)).outcome,
            HandshakeOutcome::kBecomeTarget);
}

TEST(DecideSync, After0pri_DiscardZeroChanges) {
  const HandshakePolicy p = Policy0(AfterSb0::kDiscardZeroChanges);
  SplitBrain a_unchanged(false, false, 0, 4);
  EXPECT_EQ(Decide(a_unchanged.a, a_unchanged.b, p).outcome, HandshakeOutcome::kBecomeTarget);
  SplitBrain both_changed(false, false, 1, 4);
  EXPECT_EQ(Decide(both_changed.a, both_changed.b, p).outcome, HandshakeOutcome::kSplitBrain);
  SplitBrain none_changed(false, false, 0, 0);  // tie: resolve_conflicts (A) is source
  EXPECT_EQ(Decide(none_changed.a, none_changed.b, p).outcome, HandshakeOutcome::kBecomeSource);
}

TEST(DecideSync, After0pri_DiscardLeastChanges) {
  const HandshakePolicy p = Policy0(AfterSb0::kDiscardLeastChanges);
  SplitBrain fewer(false, false, 3, 7);
  EXPECT_EQ(Decide(fewer.a, fewer.b, p).outcome, HandshakeOutcome::kBecomeTarget);
  SplitBrain equal(false, false, 5, 5);
  EXPECT_EQ(Decide(equal.a, equal.b, p).outcome, HandshakeOutcome::kBecomeSource);
}

HandshakePolicy Policy1(AfterSb1 p1, AfterSb0 p0 = AfterSb0::kDiscardZeroChanges) {
  HandshakePolicy policy;
  policy.after_sb_0pri = p0;
  policy.after_sb_1pri = p1;
  return policy;
}

TEST(DecideSync, After1pri_Disconnect) {
  SplitBrain sb(false, false, 5, 0);
  sb.a.primary = true;
  EXPECT_EQ(Decide(sb.a, sb.b, Policy1(AfterSb1::kDisconnect)).outcome,
            HandshakeOutcome::kSplitBrain);
}

TEST(DecideSync, After1pri_Consensus) {
  // 0pri (zero-changes) discards the unchanged Secondary B: accepted.
  SplitBrain sb(false, false, 5, 0);
  sb.a.primary = true;
  EXPECT_EQ(Decide(sb.a, sb.b, Policy1(AfterSb1::kConsensus)).outcome,
            HandshakeOutcome::kBecomeSource);
  // 0pri would discard the Primary A: no consensus.
  SplitBrain sb2(false, false, 0, 5);
  sb2.a.primary = true;
  EXPECT_EQ(Decide(sb2.a, sb2.b, Policy1(AfterSb1::kConsensus)).outcome,
            HandshakeOutcome::kSplitBrain);
}

TEST(DecideSync, After1pri_DiscardSecondary) {
  SplitBrain sb(false, false, 0, 50);  // the Secondary's changes are discarded anyway
  sb.b.primary = true;
  HandshakeDecision d = Decide(sb.a, sb.b, Policy1(AfterSb1::kDiscardSecondary));
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeTarget);
  EXPECT_EQ(d.bitmap, BitmapPrep::kUse);
  EXPECT_EQ(d.reason,
            "Split-Brain detected, 1 primaries, automatically solved. Sync from peer node");
}

TEST(DecideSync, After1pri_ViolentlyAs0p) {
  // Follows 0pri even where consensus refuses: the Primary A would be
  // discarded. rr-conflict (disconnect) then refuses to overwrite it; with
  // rr-conflict retry-connect the connection is retried (the engine may demote
  // A meanwhile).
  SplitBrain sb(false, false, 0, 5);
  sb.a.primary = true;
  HandshakePolicy p = Policy1(AfterSb1::kViolentlyAs0p);
  HandshakeDecision d = Decide(sb.a, sb.b, p);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kRrConflict);
  EXPECT_TRUE(d.split_brain_detected);
  // Once A is Secondary the same verdict goes through.
  sb.a.primary = false;
  sb.b.primary = true;
  EXPECT_EQ(Decide(sb.a, sb.b, p).outcome, HandshakeOutcome::kBecomeTarget);
}

HandshakePolicy Policy2(AfterSb2 p2) {
  HandshakePolicy policy;
  policy.after_sb_0pri = AfterSb0::kDiscardLeastChanges;
  policy.after_sb_2pri = p2;
  return policy;
}

TEST(DecideSync, After2pri_Disconnect) {
  SplitBrain sb(true, true, 0, 5);
  sb.a.primary = sb.b.primary = true;
  EXPECT_EQ(Decide(sb.a, sb.b, Policy2(AfterSb2::kDisconnect)).outcome,
            HandshakeOutcome::kSplitBrain);
}

TEST(DecideSync, After2pri_ViolentlyAs0p) {
  // Any verdict overwrites a Primary; it only goes through with nothing to
  // resync (both unchanged: tie, A source).
  SplitBrain sb(true, true, 0, 5);
  sb.a.primary = sb.b.primary = true;
  HandshakePolicy p = Policy2(AfterSb2::kViolentlyAs0p);
  EXPECT_EQ(Decide(sb.a, sb.b, p).outcome, HandshakeOutcome::kRrConflict);
  SplitBrain quiet(true, true, 0, 0);
  quiet.a.primary = quiet.b.primary = true;
  EXPECT_EQ(Decide(quiet.a, quiet.b, p).outcome, HandshakeOutcome::kBecomeSource);
}

TEST(DecideSync, AlwaysAsbpResolvesUnrelatedParentsWithFullSync) {
  UuidSide a = Side(kA, kG1);
  a.history = {kParent};
  UuidSide b = Side(kB, kG2);
  b.history = {kParent};
  b.dirty_bits = 3;
  HandshakePolicy p = Policy0(AfterSb0::kDiscardZeroChanges);
  EXPECT_EQ(Decide(a, b, p).outcome, HandshakeOutcome::kSplitBrain);  // rule 11 needs always-asbp
  p.always_asbp = true;
  HandshakeDecision d = Decide(a, b, p);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeTarget);
  EXPECT_EQ(d.bitmap, BitmapPrep::kSetAll);
}

TEST(DecideSync, QuorumDecidesSplitBrain) {
  SplitBrain sb(false, false, 9, 1);
  sb.a.has_quorum = false;
  HandshakePolicy p;  // every after-sb policy: disconnect
  EXPECT_EQ(Decide(sb.a, sb.b, p).outcome, HandshakeOutcome::kSplitBrain);
  p.quorum_enabled = true;
  HandshakeDecision d = Decide(sb.a, sb.b, p);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeTarget);
  EXPECT_NE(d.reason.find("solved by quorum"), std::string::npos) << d.reason;
  sb.a.has_quorum = true;  // both quorate: quorum cannot decide
  EXPECT_EQ(Decide(sb.a, sb.b, p).outcome, HandshakeOutcome::kSplitBrain);
}

// §7.4: the Primary that lost quorum loses a split brain against the partition
// that kept quorum and moved on, also once it has regained quorum through
// another peer (both sides quorate at the handshake).
TEST(DecideSync, PrimaryThatLostQuorumLosesTheSplitBrain) {
  SplitBrain sb(false, false, 9, 1);
  sb.a.flags = kUuidFlagPrimaryLostQuorum;
  HandshakePolicy p;
  EXPECT_EQ(Decide(sb.a, sb.b, p).outcome, HandshakeOutcome::kSplitBrain) << "quorum off";
  p.quorum_enabled = true;
  HandshakeDecision d = Decide(sb.a, sb.b, p);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeTarget) << d.reason;
  EXPECT_NE(d.reason.find("lost as Primary"), std::string::npos) << d.reason;
  EXPECT_EQ(Decide(sb.b, sb.a, p).outcome, HandshakeOutcome::kBecomeSource);
  sb.b.flags = kUuidFlagPrimaryLostQuorum;  // both: the flag cannot decide
  EXPECT_EQ(Decide(sb.a, sb.b, p).outcome, HandshakeOutcome::kSplitBrain);
}

TEST(DecideSync, DiscardMyDataMakesTheVictimTarget) {
  // Same parent: bitmap-based (§6 manual recovery).
  SplitBrain sb(true, true, 9, 1);
  sb.a.flags = kUuidFlagDiscardMyData;
  HandshakeDecision d = Decide(sb.a, sb.b);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeTarget);
  EXPECT_EQ(d.bitmap, BitmapPrep::kUse);
  EXPECT_TRUE(d.split_brain_detected);

  // Unrelated bitmap parents: full sync.
  UuidSide a = Side(kA, kG1);
  a.history = {kParent};
  UuidSide b = Side(kB, kG2);
  b.history = {kParent};
  b.flags = kUuidFlagDiscardMyData;
  d = Decide(a, b);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kBecomeSource);
  EXPECT_EQ(d.bitmap, BitmapPrep::kSetAll);
}

TEST(DecideSync, DiscardMyDataOnBothSidesStaysUnresolved) {
  SplitBrain sb(true, true, 9, 1);
  sb.a.flags = sb.b.flags = kUuidFlagDiscardMyData;
  EXPECT_EQ(Decide(sb.a, sb.b).outcome, HandshakeOutcome::kSplitBrain);
}

TEST(DecideSync, RrConflictDisconnect) {
  // The old Primary A reconnects to a partition that started a newer
  // generation (§11.2 scenario 8).
  UuidSide a = Side(kA, kG1 | kUuidPrimaryBit);
  a.primary = true;
  UuidSide b = Side(kB, kG2 | kUuidPrimaryBit);
  b.primary = true;
  SetBitmap(b, kA, kG1);
  b.dirty_bits = 8;
  HandshakeDecision d = Decide(a, b);
  EXPECT_EQ(d.outcome, HandshakeOutcome::kRrConflict);
  EXPECT_EQ(
      d.reason.rfind("I shall become SyncTarget, but I am primary! (rr-conflict disconnect)", 0),
      0u)
      << d.reason;
  EXPECT_EQ(DecideB(a, b, {}).outcome, HandshakeOutcome::kRrConflict);

  // After A demotes it joins as SyncTarget.
  a.primary = false;
  EXPECT_EQ(Decide(a, b).outcome, HandshakeOutcome::kBecomeTarget);
}

TEST(DecideSync, RrConflictRetryConnect) {
  UuidSide a = Side(kA, kG1);
  a.primary = true;
  UuidSide b = Side(kB, kG2);
  SetBitmap(b, kA, kG1);
  b.dirty_bits = 8;
  HandshakePolicy p;
  p.rr_conflict = RrConflict::kRetryConnect;
  EXPECT_EQ(Decide(a, b, p).outcome, HandshakeOutcome::kRetryConnect);
}

TEST(DecideSync, RrConflictIgnoresAnEmptyResync) {
  UuidSide a = Side(kA, kG1);
  a.primary = true;
  UuidSide b = Side(kB, kG2);
  SetBitmap(b, kA, kG1);
  EXPECT_EQ(Decide(a, b).outcome, HandshakeOutcome::kBecomeTarget);
}

TEST(DecideSync, Names) {
  EXPECT_STREQ(SyncStrategyName(SyncStrategy::kTargetUseBitmap), "SyncTarget-use-bitmap");
  EXPECT_STREQ(SyncStrategyName(SyncStrategy::kSplitBrainAutoRecover), "split-brain-auto-recover");
  EXPECT_STREQ(HandshakeOutcomeName(HandshakeOutcome::kRrConflict), "RrConflict");
  EXPECT_STREQ(HandshakeOutcomeName(HandshakeOutcome::kBecomeSource), "BecomeSource");
}

// --- Mirror symmetry ----------------------------------------------------------

class RandomSides {
 public:
  explicit RandomSides(uint64_t seed) : rng_(seed) {}

  UuidSide Side(NodeId id) {
    UuidSide s;
    s.node_id = id;
    s.current = Uuid(/*allow_zero=*/true);
    for (int i = 0; i < kNodes; ++i) s.bitmap_uuids[i] = Chance(2) ? Uuid(false) : 0;
    const int history = Pick(4);
    for (int i = 0; i < history; ++i) s.history.push_back(Uuid(false));
    for (uint32_t f :
         {kUuidFlagDiscardMyData, kUuidFlagCrashedPrimary, kUuidFlagReconnect,
          kUuidFlagPrimaryLostQuorum, kUuidFlagMissedFinishSource, kUuidFlagMissedFinishTarget}) {
      if (Chance(6)) s.flags |= f;
    }
    s.primary = Chance(3);
    static constexpr DiskState kDisks[] = {DiskState::kDiskless,   DiskState::kInconsistent,
                                           DiskState::kOutdated,   DiskState::kDUnknown,
                                           DiskState::kConsistent, DiskState::kUpToDate,
                                           DiskState::kUpToDate};
    s.disk = kDisks[Pick(std::size(kDisks))];
    static constexpr uint64_t kBits[] = {0, 0, 1, 5, 5};
    s.dirty_bits = kBits[Pick(std::size(kBits))];
    s.has_quorum = !Chance(4);
    return s;
  }

  HandshakePolicy Policy() {
    HandshakePolicy p;
    p.after_sb_0pri = static_cast<AfterSb0>(Pick(5));
    p.after_sb_1pri = static_cast<AfterSb1>(Pick(5));
    p.after_sb_2pri = static_cast<AfterSb2>(Pick(3));
    p.always_asbp = Chance(3);
    p.rr_conflict = Chance(2) ? RrConflict::kDisconnect : RrConflict::kRetryConnect;
    p.quorum_enabled = Chance(2);
    return p;
  }

  NodeId Node() { return NodeId(static_cast<uint8_t>(Pick(kNodes))); }
  bool Chance(int one_in) { return Pick(one_in) == 0; }
  size_t Pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

 private:
  static constexpr int kNodes = 4;

  // A small pool so that rules collide; bit 0 set at random.
  uint64_t Uuid(bool allow_zero) {
    static constexpr uint64_t kPool[] = {0x10, 0x20, 0x30, 0x40, kUuidJustCreated};
    uint64_t u = allow_zero && Chance(8) ? 0 : kPool[Pick(std::size(kPool))];
    if (u != 0 && Chance(3)) u |= kUuidPrimaryBit;
    return u;
  }

  std::mt19937_64 rng_;
};

// --- CompareDagtags: who got further in a lost Primary's writes (§3.6) ----------

TEST(CompareDagtags, TheSideFurtherAlongTheThirdNodesStreamIsAhead) {
  UuidSide b = Side(kB, kG1);
  UuidSide c = Side(kC, kG1);
  b.dagtags[kA.value()] = 80;
  c.dagtags[kA.value()] = 96;
  EXPECT_LT(CompareDagtags(b, c), 0);
  EXPECT_GT(CompareDagtags(c, b), 0);
}

TEST(CompareDagtags, EqualOrUnknownTellsNothing) {
  UuidSide b = Side(kB, kG1);
  UuidSide c = Side(kC, kG1);
  EXPECT_EQ(CompareDagtags(b, c), 0);
  b.dagtags[kA.value()] = 80;
  EXPECT_EQ(CompareDagtags(b, c), 0) << "0 is unknown, not behind";
  c.dagtags[kA.value()] = 80;
  EXPECT_EQ(CompareDagtags(b, c), 0);
}

TEST(CompareDagtags, OnlyThirdNodesCount) {
  // Each side's entries for itself and for the other side are not a lost
  // Primary's stream both received.
  UuidSide b = Side(kB, kG1);
  UuidSide c = Side(kC, kG1);
  b.dagtags[kC.value()] = 50;
  c.dagtags[kB.value()] = 90;
  b.dagtags[kB.value()] = 1;
  c.dagtags[kC.value()] = 1;
  EXPECT_EQ(CompareDagtags(b, c), 0);
}

TEST(CompareDagtags, ThirdNodesThatDisagreeTellNothing) {
  constexpr NodeId kD{3};
  UuidSide b = Side(kB, kG1);
  UuidSide c = Side(kC, kG1);
  b.dagtags[kA.value()] = 80;
  c.dagtags[kA.value()] = 96;
  b.dagtags[kD.value()] = 40;
  c.dagtags[kD.value()] = 8;
  EXPECT_EQ(CompareDagtags(b, c), 0);
  c.dagtags[kD.value()] = 40;
  EXPECT_LT(CompareDagtags(b, c), 0);
}

TEST(UuidCompare, MirroredInputsAgree) {
  RandomSides gen(0x7a4de3);
  std::map<int, int> rules;
  std::map<HandshakeOutcome, int> outcomes;
  constexpr int kCases = 20000;
  for (int n = 0; n < kCases; ++n) {
    const NodeId a_id = gen.Node();
    NodeId b_id = gen.Node();
    while (b_id == a_id) b_id = gen.Node();
    const UuidSide a = gen.Side(a_id);
    const UuidSide b = gen.Side(b_id);
    const HandshakePolicy policy = gen.Policy();
    const bool resolve = gen.Chance(2);

    const UuidCompareResult ca = UuidCompare(a, b, resolve);
    const UuidCompareResult cb = UuidCompare(b, a, !resolve);
    ASSERT_EQ(ca.strategy, Mirror(cb.strategy))
        << "case " << n << ": " << ca.rule_name << " vs " << cb.rule_name;
    ASSERT_EQ(ca.rule, MirrorRule(cb.rule)) << "case " << n;
    ASSERT_EQ(ca.other_node, cb.other_node) << "case " << n;

    const HandshakeDecision da = DecideSync(a, b, policy, resolve);
    const HandshakeDecision db = DecideSync(b, a, policy, !resolve);
    ASSERT_TRUE(Agree(da, db)) << "case " << n;
    ++rules[ca.rule];
    ++outcomes[da.outcome];
  }
  // The pool is small enough that every rule and outcome is exercised.
  for (int rule = 1; rule <= 12; ++rule) EXPECT_GT(rules[rule], 0) << "rule " << rule;
  for (HandshakeOutcome o :
       {HandshakeOutcome::kNoSync, HandshakeOutcome::kBecomeSource, HandshakeOutcome::kBecomeTarget,
        HandshakeOutcome::kSplitBrain, HandshakeOutcome::kUnrelatedData,
        HandshakeOutcome::kRetryConnect, HandshakeOutcome::kRrConflict}) {
    EXPECT_GT(outcomes[o], 0) << HandshakeOutcomeName(o);
  }
}

}  // namespace
}  // namespace tandem::engine
