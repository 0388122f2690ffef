// Specification tests for calc_quorum (drbd-semantics.md §7.2): the listed
// consequences and §11.2 scenarios 14-20, evaluated from one node's view.
#include "engine/quorum.h"

#include <gtest/gtest.h>

namespace tandem::engine {
namespace {

// A diskful peer as this node sees it.
QuorumPeer Peer(int id, bool connected, DiskState disk) {
  QuorumPeer p;
  p.id = NodeId(static_cast<uint8_t>(id));
  p.connected = connected;
  p.disk = disk;
  return p;
}
QuorumPeer Connected(int id, DiskState disk = DiskState::kUpToDate) { return Peer(id, true, disk); }
// Lost without knowing why: it may have formed a partition of its own.
QuorumPeer Lost(int id) { return Peer(id, false, DiskState::kDUnknown); }
// Left gracefully (`drbdadm down`), so we know it is Outdated.
QuorumPeer Gone(int id) { return Peer(id, false, DiskState::kOutdated); }

QuorumPeer Tiebreaker(int id, bool connected) {
  QuorumPeer p = Peer(id, connected, DiskState::kDiskless);
  p.intentional_diskless = true;
  return p;
}

QuorumInput Diskful(int quorum = kQuorumMajority) {
  QuorumInput in;
  in.quorum = quorum;
  in.self_disk = DiskState::kUpToDate;
  return in;
}

TEST(Quorum, OffAlwaysHasQuorum) {
  QuorumInput in = Diskful(kQuorumOff);
  in.peers = {Lost(1), Lost(2)};
  in.had_quorum = false;
  EXPECT_TRUE(CalcQuorum(in).have_quorum);
  in.self_diskless = true;
  EXPECT_TRUE(CalcQuorum(in).have_quorum);
}

TEST(Quorum, ThreeDiskful_AloneLosesQuorum) {
  QuorumInput in = Diskful();
  in.peers = {Lost(1), Lost(2)};
  QuorumResult r = CalcQuorum(in);
  EXPECT_FALSE(r.have_quorum);
  EXPECT_EQ(r.voters, 3);
  EXPECT_EQ(r.quorum_at, 2);
  EXPECT_EQ(r.unknown, 2);
}

TEST(Quorum, ThreeDiskful_TwoKeepQuorum) {
  QuorumInput in = Diskful();
  in.peers = {Connected(1, DiskState::kOutdated), Lost(2)};  // any attached disk is present
  QuorumResult r = CalcQuorum(in);
  EXPECT_TRUE(r.have_quorum);
  EXPECT_EQ(r.up_to_date, 1);
  EXPECT_EQ(r.present, 1);
}

TEST(Quorum, IsolatedPrimaryLosesQuorum_Scenario14) {
  // The isolated Primary of 3 loses quorum; the other two keep it.
  QuorumInput primary = Diskful();
  primary.peers = {Lost(1), Lost(2)};
  EXPECT_FALSE(CalcQuorum(primary).have_quorum);
  QuorumInput other = Diskful();
  other.peers = {Lost(0), Connected(2)};
  EXPECT_TRUE(CalcQuorum(other).have_quorum);
}

TEST(Quorum, MinorityLosesQuorum_Scenario16) {
  // 5 diskful nodes, peers lost ungracefully one by one: quorum:no exactly when
  // the partition is <= N/2.
  for (int lost = 0; lost <= 4; ++lost) {
    QuorumInput in = Diskful();
    for (int id = 1; id <= 4; ++id) in.peers.push_back(id <= lost ? Lost(id) : Connected(id));
    const int partition = 5 - lost;
    EXPECT_EQ(CalcQuorum(in).have_quorum, partition > 5 / 2) << "partition " << partition;
  }
}

TEST(Quorum, LastManStanding_Scenario15) {
  // Secondaries taken down gracefully are Outdated and stop voting.
  QuorumInput in = Diskful();
  in.peers = {Gone(1), Connected(2)};
  EXPECT_TRUE(CalcQuorum(in).have_quorum);
  in.peers = {Gone(1), Gone(2)};
  QuorumResult r = CalcQuorum(in);
  EXPECT_TRUE(r.have_quorum);
  EXPECT_EQ(r.outdated, 2);
  EXPECT_EQ(r.voters, 1);
  EXPECT_EQ(r.quorum_at, 1);
}

TEST(Quorum, LastManStanding_PeerOutdatedFlagCounts) {
  // MDF_PEER_OUTDATED persists, so the peer is Outdated even with its disk
  // state unknown after a restart.
  QuorumInput in = Diskful();
  QuorumPeer fenced = Lost(1);
  fenced.outdated_flag = true;
  in.peers = {fenced, Gone(2)};
  EXPECT_TRUE(CalcQuorum(in).have_quorum);
}

TEST(Quorum, LastManStanding_UngracefulLossWhileOthersOutdated) {
  QuorumInput in = Diskful();
  in.peers = {Gone(1), Lost(2)};
  QuorumResult r = CalcQuorum(in);
  EXPECT_FALSE(r.have_quorum);
  EXPECT_EQ(r.voters, 3);  // an unknown node brings the outdated ones back to the vote
}

TEST(Quorum, MinimumRedundancyDisablesLastManStanding) {
  QuorumInput in = Diskful();
  in.minimum_redundancy = 2;
  in.peers = {Gone(1), Gone(2)};
  QuorumResult r = CalcQuorum(in);
  EXPECT_FALSE(r.have_quorum);
  EXPECT_EQ(r.min_redundancy_at, 2);
}

TEST(Quorum, MinimumRedundancyCountsOnlyUpToDateNodes) {
  QuorumInput in = Diskful();
  in.minimum_redundancy = kQuorumMajority;
  in.peers = {Connected(1, DiskState::kInconsistent), Connected(2, DiskState::kInconsistent)};
  QuorumResult r = CalcQuorum(in);
  EXPECT_FALSE(r.have_quorum);  // 3 of 3 visible, but only 1 UpToDate of the 2 required
  in.peers[0].disk = DiskState::kUpToDate;
  EXPECT_TRUE(CalcQuorum(in).have_quorum);
}

// Two diskful nodes A (0, Primary) and B (1) plus diskless tiebreaker C (2).

TEST(Quorum, Tiebreaker_Case1_CutABBothKeepQuorum_Scenario17) {
  QuorumInput a = Diskful();
  a.peers = {Lost(1), Tiebreaker(2, true)};
  QuorumResult ra = CalcQuorum(a);
  EXPECT_TRUE(ra.have_quorum);
  EXPECT_TRUE(ra.by_tiebreaker);
  QuorumInput b = Diskful();
  b.peers = {Lost(0), Tiebreaker(2, true)};
  EXPECT_TRUE(CalcQuorum(b).have_quorum);
}

TEST(Quorum, Tiebreaker_Case2_CutABAndBC_Scenario18) {
  QuorumInput a = Diskful();
  a.peers = {Lost(1), Tiebreaker(2, true)};
  EXPECT_TRUE(CalcQuorum(a).have_quorum);
  QuorumInput b = Diskful();
  b.peers = {Lost(0), Tiebreaker(2, false)};
  QuorumResult rb = CalcQuorum(b);
  EXPECT_FALSE(rb.have_quorum);
  EXPECT_EQ(rb.missing_diskless, 1);
}

TEST(Quorum, Tiebreaker_Case3_PrimaryIsolated_Scenario19) {
  QuorumInput a = Diskful();
  a.peers = {Lost(1), Tiebreaker(2, false)};
  EXPECT_FALSE(CalcQuorum(a).have_quorum);
  QuorumInput b = Diskful();
  b.peers = {Lost(0), Tiebreaker(2, true)};
  EXPECT_TRUE(CalcQuorum(b).have_quorum);
}

TEST(Quorum, Tiebreaker_IsStickyOnlyKeepsQuorum) {
  // B lost quorum (case 2); reconnecting to C alone must not give it back, or
  // C could make A and B quorate at the same time.
  QuorumInput b = Diskful();
  b.peers = {Lost(0), Tiebreaker(2, true)};
  b.had_quorum = false;
  QuorumResult r = CalcQuorum(b);
  EXPECT_FALSE(r.have_quorum);
  EXPECT_FALSE(r.by_tiebreaker);
}

TEST(Quorum, Tiebreaker_DisabledPeerIsSkipped) {
  QuorumInput a = Diskful();
  QuorumPeer c = Tiebreaker(2, true);
  c.tiebreaker = false;
  a.peers = {Lost(1), c};
  QuorumResult r = CalcQuorum(a);
  EXPECT_FALSE(r.have_quorum);
  EXPECT_EQ(r.diskless, 0);
}

TEST(Quorum, AllowRemoteReadNoIsSkipped) {
  QuorumInput in = Diskful();
  QuorumPeer p = Lost(1);
  p.allow_remote_read = false;
  in.peers = {p, Connected(2)};
  QuorumResult r = CalcQuorum(in);
  EXPECT_EQ(r.voters, 2);
  EXPECT_TRUE(r.have_quorum);
}

TEST(Quorum, QuorumlessTracking_Scenario20) {
  // A, B diskful, C diskless. B (Primary) was isolated from A and C, so A knows
  // B left its quorate partition without quorum. When C-A breaks later, A
  // still has quorum: B cannot form one.
  QuorumInput a = Diskful();
  QuorumPeer b = Lost(1);
  b.quorumless = true;
  a.peers = {b, Tiebreaker(2, false)};
  QuorumResult r = CalcQuorum(a);
  EXPECT_TRUE(r.have_quorum);
  EXPECT_EQ(r.quorumless, 1);
  EXPECT_EQ(r.voters, 1);

  // Without that knowledge A would lose quorum.
  a.peers[0].quorumless = false;
  EXPECT_FALSE(CalcQuorum(a).have_quorum);
}

TEST(Quorum, QuorumlessCountsAsUnknownWhenTheMissingCouldFormAQuorum) {
  QuorumInput in = Diskful();
  QuorumPeer q = Lost(1);
  q.quorumless = true;
  in.peers = {q, Lost(2), Lost(3), Connected(4)};
  QuorumResult r = CalcQuorum(in);
  EXPECT_FALSE(r.have_quorum);
  EXPECT_EQ(r.quorumless, 0);
  EXPECT_EQ(r.unknown, 3);
  EXPECT_EQ(r.voters, 5);
}

TEST(Quorum, All) {
  QuorumInput in = Diskful(kQuorumAll);
  in.peers = {Connected(1), Connected(2)};
  EXPECT_TRUE(CalcQuorum(in).have_quorum);
  in.peers[1] = Lost(2);
  QuorumResult r = CalcQuorum(in);
  EXPECT_FALSE(r.have_quorum);
  EXPECT_EQ(r.quorum_at, 3);
}

TEST(Quorum, Numeric) {
  QuorumInput in = Diskful(2);
  in.peers = {Connected(1), Lost(2), Lost(3), Lost(4)};
  QuorumResult r = CalcQuorum(in);
  EXPECT_TRUE(r.have_quorum);  // 2 of 5 suffice when quorum is 2
  EXPECT_EQ(r.quorum_at, 2);
  in.peers[0] = Lost(1);
  EXPECT_FALSE(CalcQuorum(in).have_quorum);
}

TEST(Quorum, DetachedSelfIsNotPresent) {
  QuorumInput in = Diskful();
  in.self_disk = DiskState::kDiskless;
  in.peers = {Connected(1), Lost(2)};
  EXPECT_FALSE(CalcQuorum(in).have_quorum);
}

TEST(Quorum, DisklessSelfNeedsAQuorateUpToDatePeer) {
  QuorumInput in;
  in.quorum = kQuorumMajority;
  in.self_diskless = true;
  QuorumPeer quorate = Connected(1);
  quorate.has_quorum = true;
  in.peers = {quorate, Lost(2)};
  EXPECT_TRUE(CalcQuorum(in).have_quorum);

  in.peers[0].has_quorum = false;
  EXPECT_FALSE(CalcQuorum(in).have_quorum);

  in.peers[0].has_quorum = true;
  in.peers[0].disk = DiskState::kConsistent;  // not UpToDate
  EXPECT_FALSE(CalcQuorum(in).have_quorum);

  // Even a majority of connected data nodes is not enough without their word.
  in.peers = {Connected(1), Connected(2), Connected(3)};
  EXPECT_FALSE(CalcQuorum(in).have_quorum);
}

TEST(Quorum, Explain) {
  QuorumInput in = Diskful();
  in.peers = {Connected(1), Lost(2)};
  EXPECT_EQ(CalcQuorum(in).Explain(), "2 of 3 nodes visible, need 2: quorum");

  in.peers = {Lost(1), Lost(2)};
  EXPECT_EQ(CalcQuorum(in).Explain(), "1 of 3 nodes visible, need 2: no quorum");

  in.minimum_redundancy = 2;
  in.peers = {Gone(1), Gone(2)};
  EXPECT_EQ(CalcQuorum(in).Explain(),
            "1 of 1 nodes visible, need 1, 1 UpToDate, need 2: no quorum");

  in.minimum_redundancy = kQuorumOff;
  in.peers = {Lost(1), Tiebreaker(2, true)};
  EXPECT_EQ(CalcQuorum(in).Explain(),
            "1 of 2 nodes visible, need 2; kept by diskless tiebreaker (1 of 1 diskless visible): "
            "quorum");
}

}  // namespace
}  // namespace tandem::engine
