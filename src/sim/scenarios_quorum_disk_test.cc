// Named scenarios of drbd-semantics.md §11.2 about quorum (§7), disks and
// I/O errors (§2.4, §9), resync and verify (§8), resize (§10) and snapshot
// consistency: rows 14-23, 26-30, 37-39 and 43, plus two extras (last man
// standing with graceful disconnects; re-attach after a Secondary's write
// error resyncs exactly one AL extent).
//
// Each TEST drives the steps of its row on a seeded SimHarness and asserts
// the states the row lists, the way the LINBIT drbd9-tests script named in
// its comment watches drbdsetup events2. The tests are the specification: a
// failure is an engine defect to diagnose from the printed trace, never a
// reason to relax an assertion.
//
// Not covered here: rows 24, 25 and 36 (fencing handlers and Ahead/Behind are
// not implemented by the engine).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/metadata.h"
#include "sim/harness.h"
#include "sim/stamp.h"

namespace tandem::sim {
namespace {

using engine::AdminDone;
using engine::ConnState;
using engine::DiskArea;
using engine::DiskState;
using engine::IoStatus;
using engine::OnNoQuorum;
using engine::ReplState;
using engine::Resource;
using engine::ResourceStatus;
using engine::SsCode;
using engine::Role;

const NodeId kAlpha(0), kBravo(1), kCharlie(2), kDelta(3), kEcho(4);
constexpr VolumeNr kVol0(0);
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kAlExtent = engine::kAlExtentBytes;  // 4 MiB

// --- cluster shapes ---------------------------------------------------------

ClusterOptions Cluster(int nodes, std::vector<int> diskless = {}) {
  ClusterOptions o;
  o.nodes = nodes;
  o.diskless = std::move(diskless);
  o.trace_capacity = 4000;
  return o;
}

ClusterOptions QuorumCluster(int nodes, OnNoQuorum on_no_quorum, std::vector<int> diskless = {}) {
  ClusterOptions o = Cluster(nodes, std::move(diskless));
  o.options.quorum = engine::kQuorumMajority;
  o.options.on_no_quorum = on_no_quorum;
  return o;
}

// --- diagnostics --------------------------------------------------------------

// Every node's status line, the violation if any, and the end of the trace.
std::string Dump(const SimHarness& h) {
  std::string s = "\n--- status\n";
  for (NodeId n : h.cluster.all()) s += "  " + h.cluster.StatusLine(n) + "\n";
  if (h.cluster.failed()) s += "--- violation: " + h.cluster.failure() + "\n";
  const auto& trace = h.cluster.trace();
  size_t from = trace.size() > 120 ? trace.size() - 120 : 0;
  s += "--- trace (last " + std::to_string(trace.size() - from) + " lines)\n";
  for (size_t i = from; i < trace.size(); ++i) s += trace[i] + "\n";
  return s;
}

// Engine event lines of node `n` in the trace, oldest first ("t=... alpha X"
// -> "X").
std::vector<std::string> EventsOf(const SimHarness& h, NodeId n) {
  std::vector<std::string> out;
  const std::string who = " " + h.cluster.name(n) + " ";
  for (const std::string& line : h.cluster.trace()) {
    size_t sp = line.find(' ');
    if (sp == std::string::npos || line.compare(sp, who.size(), who) != 0) continue;
    out.push_back(line.substr(sp + who.size()));
  }
  return out;
}

// True when the events contain lines containing each of `parts`, in order.
bool EventsInOrder(const std::vector<std::string>& events, const std::vector<std::string>& parts) {
  size_t next = 0;
  for (const std::string& e : events) {
    if (next < parts.size() && e.find(parts[next]) != std::string::npos) ++next;
  }
  return next == parts.size();
}

// --- status accessors (volume 0) ------------------------------------------------

ResourceStatus St(const SimHarness& h, NodeId n) {
  std::optional<ResourceStatus> st = h.cluster.Status(n);
  return st ? *st : ResourceStatus{};
}

DiskState Disk(const SimHarness& h, NodeId n) {
  ResourceStatus st = St(h, n);
  return st.volumes.empty() ? DiskState::kDiskless : st.volumes[0].disk;
}

bool Quorum(const SimHarness& h, NodeId n) { return St(h, n).quorum; }
Role RoleOf(const SimHarness& h, NodeId n) { return St(h, n).role; }
uint64_t SizeOf(const SimHarness& h, NodeId n) {
  ResourceStatus st = St(h, n);
  return st.volumes.empty() ? 0 : st.volumes[0].size_bytes;
}

std::optional<engine::ConnectionStatus> ConnTo(const SimHarness& h, NodeId n, NodeId peer) {
  for (const engine::ConnectionStatus& c : St(h, n).connections) {
    if (c.peer == peer) return c;
  }
  return std::nullopt;
}

ConnState Conn(const SimHarness& h, NodeId n, NodeId peer) {
  auto c = ConnTo(h, n, peer);
  return c ? c->conn : ConnState::kStandAlone;
}

engine::PeerDeviceStatus PeerDev(const SimHarness& h, NodeId n, NodeId peer) {
  auto c = ConnTo(h, n, peer);
  return c && !c->volumes.empty() ? c->volumes[0] : engine::PeerDeviceStatus{};
}

ReplState Repl(const SimHarness& h, NodeId n, NodeId peer) { return PeerDev(h, n, peer).repl; }
DiskState PeerDisk(const SimHarness& h, NodeId n, NodeId peer) {
  return PeerDev(h, n, peer).peer_disk;
}
uint64_t OutOfSync(const SimHarness& h, NodeId n, NodeId peer) {
  return PeerDev(h, n, peer).out_of_sync_bytes;
}

bool BothConnected(const SimHarness& h, NodeId a, NodeId b) {
  return Conn(h, a, b) == ConnState::kConnected && Conn(h, b, a) == ConnState::kConnected;
}
bool NeitherConnected(const SimHarness& h, NodeId a, NodeId b) {
  return Conn(h, a, b) != ConnState::kConnected && Conn(h, b, a) != ConnState::kConnected;
}

// --- running ----------------------------------------------------------------------

bool WaitFor(SimHarness& h, const std::function<bool()>& pred, Time timeout = 30 * kSec) {
  return h.cluster.RunUntil(pred, timeout, 1 * kMs);
}

// Runs until done() holds (checked after every event) and returns whether it
// did, with the distinct successive values sample() showed meanwhile: one
// field of an events2 stream.
template <class Sample>
auto WatchUntil(SimHarness& h, Sample sample, const std::function<bool()>& done, Time timeout) {
  using T = decltype(sample());
  std::vector<T> seen{sample()};
  bool reached = h.cluster.RunUntil(
      [&] {
        T v = sample();
        if (!(v == seen.back())) seen.push_back(v);
        return done();
      },
      timeout);
  return std::make_pair(reached, seen);
}

// Runs for `duration` and returns whether pred() held after every event.
bool HoldsFor(SimHarness& h, const std::function<bool()>& pred, Time duration) {
  bool held = pred();
  h.cluster.RunUntil(
      [&] {
        held = held && pred();
        return false;
      },
      duration);
  return held;
}

template <class T>
bool Contains(const std::vector<T>& v, T x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string DiskStates(const std::vector<DiskState>& v) {
  std::string s;
  for (DiskState d : v) s += std::string(s.empty() ? "" : "->") + engine::DiskStateName(d);
  return s;
}
std::string ReplStates(const std::vector<ReplState>& v) {
  std::string s;
  for (ReplState r : v) s += std::string(s.empty() ? "" : "->") + engine::ReplStateName(r);
  return s;
}

// --- application and admin helpers ---------------------------------------------------

// A write the application submitted and is still blocked in (suspended I/O).
struct PendingWrite {
  std::shared_ptr<std::optional<AppResult>> result = std::make_shared<std::optional<AppResult>>();
  bool done() const { return result->has_value(); }
  IoStatus status() const { return done() ? (*result)->status : IoStatus::kOk; }
};

// Submits a stamped one-block write on `n` without waiting; recorded in the
// history like SimHarness::Write.
PendingWrite SubmitWrite(SimHarness& h, NodeId n, uint64_t block) {
  uint64_t seq = h.history.BeginWrite(n, kVol0, block, 1, false, false, h.sim.now());
  Bytes buf(kAppBlock);
  FillStampedBlock(Stamp{n.value(), kVol0.value(), block, seq}, buf.data());
  engine::AppRequest req;
  req.vnr = kVol0;
  req.op = engine::AppOp::kWrite;
  req.offset = block * kAppBlock;
  req.length = kAppBlock;
  req.data = MakeShared(std::move(buf));
  PendingWrite w;
  SimHarness* hp = &h;
  h.cluster.Submit(n, std::move(req), [hp, seq, result = w.result](const AppResult& r) {
    *result = r;
    hp->history.EndWrite(seq, r.ok() ? WriteOutcome::kAcked : WriteOutcome::kUnknown,
                         hp->sim.now());
  });
  return w;
}

AdminDone Down(SimHarness& h, NodeId n) {
  return h.cluster.AdminSync(n, "down", [](Resource& r, uint64_t c) { r.Down(c); });
}

AdminDone SetOnNoQuorum(SimHarness& h, NodeId n, OnNoQuorum value) {
  engine::Options o = h.cluster.config(n).options;
  o.on_no_quorum = value;
  return h.cluster.AdminSync(n, "adjust on-no-quorum",
                             [o](Resource& r, uint64_t c) { r.SetOptions(c, o); });
}

// --- direct disk access (behind the engine's back) --------------------------------------

ByteSpan BlockOf(const Bytes& area, uint64_t block) {
  return ByteSpan(area.data() + block * kAppBlock, kAppBlock);
}

bool SameBlock(const Bytes& a, const Bytes& b, uint64_t block) {
  return std::memcmp(a.data() + block * kAppBlock, b.data() + block * kAppBlock, kAppBlock) == 0;
}

bool IsZeroBlock(const Bytes& area, uint64_t block) {
  ByteSpan s = BlockOf(area, block);
  return std::all_of(s.begin(), s.end(), [](uint8_t b) { return b == 0; });
}

// Overwrites `block` of a node's data area with a pattern no application
// write produces ("dd to the backing disk").
void Scribble(SimHarness& h, NodeId n, uint64_t block, uint8_t salt) {
  Bytes junk(kAppBlock);
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<uint8_t>(i * 31 + salt + 1);
  h.cluster.disk(n, kVol0)->Poke(DiskArea::kData, block * kAppBlock, junk);
}

// Rewrites the last agreed size in a node's superblock, as if its backing
// device had been grown offline after that size was agreed.
bool SetAgreedSize(SimHarness& h, NodeId n, uint64_t bytes) {
  SimDisk* d = h.cluster.disk(n, kVol0);
  const Bytes& md = d->Contents(DiskArea::kMeta);
  auto sb = engine::DecodeSuperblock(ByteSpan(md.data(), engine::kMdBlock));
  if (!sb.ok()) return false;
  sb->effective_size_sectors = bytes / kSectorSize;
  Bytes enc = engine::EncodeSuperblock(*sb);
  d->Poke(DiskArea::kMeta, 0, enc);
  return true;
}

// =====================================================================================
// Quorum (§7)
// =====================================================================================

// §11.2 row 14 — LINBIT tests `quorum` (part 1) and `quorum-isolate-primary`
// (test_write_between_disconnects): the Primary is cut from one Secondary,
// then from the other; its next write fails with EIO although it reached its
// own disk. Another node is promoted in the quorate partition and writes; the
// old Primary is demoted and rejoins as SyncTarget (Inconsistent, then
// UpToDate), its unreplicated write rolled back.
TEST(QuorumDiskScenario, S14_QuorumIsolatedPrimaryGetsEio) {
  SimHarness h(1401, QuorumCluster(3, OnNoQuorum::kIoError));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);

  h.cluster.Partition(kAlpha, kBravo);
  ASSERT_TRUE(WaitFor(h, [&] { return NeitherConnected(h, kAlpha, kBravo); })) << Dump(h);
  EXPECT_TRUE(Quorum(h, kAlpha)) << "alpha still sees 2 of 3 nodes" << Dump(h);

  h.cluster.Partition(kAlpha, kCharlie);
  AppResult w = h.Write(kAlpha, 1);
  ASSERT_FALSE(w.lost) << Dump(h);
  ASSERT_EQ(w.status, IoStatus::kIoError)
      << "a write on a Primary that lost quorum must fail with EIO, got "
      << engine::IoStatusName(w.status) << Dump(h);
  EXPECT_FALSE(Quorum(h, kAlpha)) << Dump(h);

  ASSERT_TRUE(WaitFor(h, [&] { return NeitherConnected(h, kAlpha, kCharlie); })) << Dump(h);
  EXPECT_TRUE(Quorum(h, kBravo)) << Dump(h);
  EXPECT_TRUE(Quorum(h, kCharlie)) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kBravo).ok()) << "the quorate partition may promote" << Dump(h);
  ASSERT_TRUE(h.Write(kBravo, 2).ok()) << Dump(h);

  ASSERT_TRUE(h.cluster.Secondary(kAlpha).ok()) << Dump(h);
  h.cluster.HealNetwork();
  auto [healthy, alpha_disk] = WatchUntil(
      h, [&] { return Disk(h, kAlpha); }, [&] { return h.cluster.Healthy(); }, 120 * kSec);
  ASSERT_TRUE(healthy) << Dump(h);
  EXPECT_TRUE(Contains(alpha_disk, DiskState::kInconsistent))
      << "the old Primary must resync as target; its disk went " << DiskStates(alpha_disk)
      << Dump(h);
  EXPECT_EQ(alpha_disk.back(), DiskState::kUpToDate) << DiskStates(alpha_disk);
  EXPECT_TRUE(IsZeroBlock(h.cluster.disk(kAlpha, kVol0)->Contents(DiskArea::kData), 1))
      << "the write that failed with EIO reached only alpha's disk and must be rolled back"
      << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// Row 14 with the Primary cut from both Secondaries at once (found by the
// network-namespace partition test of tandemd): both Secondaries lose it in
// the same instant, each still sees it through the other for a moment, and
// both must still end UpToDate so that the quorate partition can promote.
TEST(QuorumDiskScenario, S14b_IsolatedAtOncePrimaryLeavesPromotableMajority) {
  ClusterOptions o = QuorumCluster(3, OnNoQuorum::kIoError);
  // Both notice at the same instant (their ping timers run in step).
  o.net.min_detect_delay = o.net.max_detect_delay = 50 * kMs;
  o.net.min_delay = o.net.max_delay = 100 * kUs;
  SimHarness h(1402, o);
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  // The Secondaries never learn that the last epoch reached both of them.
  for (NodeId to : {kBravo, kCharlie}) {
    h.cluster.network().SetMsgFault(kAlpha, to, engine::MsgType::kPeerAck, MsgFault::kDrop);
  }
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);
  h.cluster.Isolate(kAlpha);
  ASSERT_TRUE(WaitFor(h, [&] {
    return NeitherConnected(h, kAlpha, kBravo) && NeitherConnected(h, kAlpha, kCharlie);
  })) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] {
    return Disk(h, kBravo) == DiskState::kUpToDate && Disk(h, kCharlie) == DiskState::kUpToDate;
  })) << "the majority must keep (or regain) UpToDate data" << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kBravo).ok()) << "the quorate partition may promote" << Dump(h);
  ASSERT_TRUE(h.Write(kBravo, 2).ok()) << Dump(h);
}

// §11.2 row 15 — LINBIT test `quorum` ("Verifying the last man standing
// mechanism"): `down` on the Secondaries one by one. Each leaves gracefully,
// so the Primary marks it Outdated, it drops out of the vote and the Primary
// keeps quorum and keeps writing, down to being alone.
TEST(QuorumDiskScenario, S15_QuorumLastManStandingDown) {
  SimHarness h(1501, QuorumCluster(3, OnNoQuorum::kIoError));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);

  uint64_t block = 1;
  for (NodeId leaving : {kBravo, kCharlie}) {
    SCOPED_TRACE("down " + h.cluster.name(leaving));
    ASSERT_TRUE(Down(h, leaving).ok()) << Dump(h);
    ASSERT_TRUE(WaitFor(h, [&] { return NeitherConnected(h, kAlpha, leaving); })) << Dump(h);
    h.cluster.RunFor(1 * kSec);
    EXPECT_EQ(PeerDisk(h, kAlpha, leaving), DiskState::kOutdated)
        << "a peer that went down gracefully is Outdated" << Dump(h);
    EXPECT_TRUE(Quorum(h, kAlpha)) << "last man standing keeps quorum" << Dump(h);
    AppResult w = h.Write(kAlpha, block++);
    EXPECT_TRUE(w.ok()) << "the Primary keeps writing, got " << engine::IoStatusName(w.status)
                        << Dump(h);
  }

  ASSERT_TRUE(h.cluster.Up(kBravo).ok()) << Dump(h);
  ASSERT_TRUE(h.cluster.Up(kCharlie).ok()) << Dump(h);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// Extra to row 15 (§7.2 "last man standing", §7.3 rule 1): the Secondaries
// leave by a graceful `disconnect` of all their connections, one after the
// other. Each ends Outdated (it left a Primary gracefully), the Primary sees
// it Outdated and keeps quorum and writing until it is alone.
TEST(QuorumDiskScenario, S15b_QuorumLastManStandingGracefulDisconnect) {
  SimHarness h(1502, QuorumCluster(3, OnNoQuorum::kIoError));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);

  uint64_t block = 1;
  for (NodeId leaving : {kBravo, kCharlie}) {
    SCOPED_TRACE("disconnect " + h.cluster.name(leaving));
    for (NodeId peer : h.cluster.all()) {
      if (peer == leaving || Conn(h, leaving, peer) == ConnState::kStandAlone) continue;
      ASSERT_TRUE(h.cluster.Disconnect(leaving, peer).ok()) << Dump(h);
    }
    ASSERT_TRUE(WaitFor(h, [&] { return NeitherConnected(h, kAlpha, leaving); })) << Dump(h);
    h.cluster.RunFor(1 * kSec);
    EXPECT_EQ(Disk(h, leaving), DiskState::kOutdated)
        << "a Secondary that gracefully leaves a Primary outdates itself" << Dump(h);
    EXPECT_EQ(PeerDisk(h, kAlpha, leaving), DiskState::kOutdated) << Dump(h);
    EXPECT_TRUE(Quorum(h, kAlpha)) << "last man standing keeps quorum" << Dump(h);
    AppResult w = h.Write(kAlpha, block++);
    EXPECT_TRUE(w.ok()) << "the Primary keeps writing, got " << engine::IoStatusName(w.status)
                        << Dump(h);
  }

  ASSERT_TRUE(h.cluster.ConnectAll(kBravo).ok()) << Dump(h);
  ASSERT_TRUE(h.cluster.ConnectAll(kCharlie).ok()) << Dump(h);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 16 — LINBIT test `quorum` (part 2): 5 diskful nodes; nodes break
// away ungracefully (network cut) one by one. The Primary's partition reports
// quorum:yes while it holds more than N/2 nodes and quorum:no exactly when it
// shrinks to N/2 or fewer; from then on its writes fail with EIO.
TEST(QuorumDiskScenario, S16_QuorumLostExactlyAtMinority) {
  SimHarness h(1601, QuorumCluster(5, OnNoQuorum::kIoError));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);

  std::vector<NodeId> partition = h.cluster.all();
  uint64_t block = 1;
  for (NodeId victim : {kEcho, kDelta, kCharlie}) {
    SCOPED_TRACE("isolate " + h.cluster.name(victim));
    h.cluster.Isolate(victim);
    partition.erase(std::find(partition.begin(), partition.end(), victim));
    ASSERT_TRUE(WaitFor(h, [&] {
      for (NodeId n : h.cluster.all()) {
        if (n != victim && !NeitherConnected(h, n, victim)) return false;
      }
      return true;
    })) << Dump(h);
    const bool majority = partition.size() * 2 > 5;
    for (NodeId n : partition) {
      EXPECT_EQ(Quorum(h, n), majority)
          << h.cluster.name(n) << " in a partition of " << partition.size() << " of 5"
          << Dump(h);
    }
    EXPECT_FALSE(Quorum(h, victim)) << "an isolated node has no quorum" << Dump(h);
    AppResult w = h.Write(kAlpha, block++);
    if (majority) {
      EXPECT_TRUE(w.ok()) << engine::IoStatusName(w.status) << Dump(h);
    } else {
      EXPECT_EQ(w.status, IoStatus::kIoError)
          << "writes fail without quorum, got " << engine::IoStatusName(w.status) << Dump(h);
    }
  }

  h.cluster.HealNetwork();
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  EXPECT_TRUE(Quorum(h, kAlpha)) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 17 — LINBIT test `quorum-tiebreaker` case 1: 2 diskful + 1
// diskless tiebreaker; cutting Primary alpha from Secondary bravo leaves both
// with quorum via charlie (no node ever shows quorum:no), bravo becomes
// Outdated and alpha keeps writing.
TEST(QuorumDiskScenario, S17_TiebreakerCutPrimarySecondary) {
  SimHarness h(1701, QuorumCluster(3, OnNoQuorum::kIoError, {2}));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);

  h.cluster.Partition(kAlpha, kBravo);
  bool lost = false;
  auto all_quorate = [&] {
    for (NodeId n : h.cluster.all()) lost = lost || !Quorum(h, n);
    return true;
  };
  bool outdated = h.cluster.RunUntil(
      [&] {
        all_quorate();
        return NeitherConnected(h, kAlpha, kBravo) && Disk(h, kBravo) == DiskState::kOutdated;
      },
      30 * kSec);
  EXPECT_TRUE(HoldsFor(h, [&] { return all_quorate() && !lost; }, 2 * kSec));
  EXPECT_FALSE(lost) << "no node may lose quorum when only A-B breaks" << Dump(h);
  EXPECT_TRUE(outdated) << "bravo must become Outdated, is " << engine::DiskStateName(Disk(h, kBravo))
                        << Dump(h);
  AppResult w = h.Write(kAlpha, 1);
  EXPECT_TRUE(w.ok()) << engine::IoStatusName(w.status) << Dump(h);

  h.cluster.HealNetwork();
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 18 — LINBIT test `quorum-tiebreaker` case 2: cut A-B and B-C;
// bravo loses quorum, Primary alpha keeps it (with charlie). When the
// tiebreaker then "switches sides" (A-C cut, B-C back), bravo must not regain
// quorum through the diskless node alone.
TEST(QuorumDiskScenario, S18_TiebreakerSecondaryLosesTiebreaker) {
  SimHarness h(1801, QuorumCluster(3, OnNoQuorum::kIoError, {2}));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);

  h.cluster.Partition(kAlpha, kBravo);
  h.cluster.Partition(kBravo, kCharlie);
  bool alpha_lost = false;
  ASSERT_TRUE(h.cluster.RunUntil(
      [&] {
        alpha_lost = alpha_lost || !Quorum(h, kAlpha);
        return NeitherConnected(h, kAlpha, kBravo) && NeitherConnected(h, kBravo, kCharlie);
      },
      30 * kSec))
      << Dump(h);
  h.cluster.RunFor(1 * kSec);
  EXPECT_FALSE(alpha_lost) << "the Primary keeps quorum through the tiebreaker" << Dump(h);
  EXPECT_TRUE(Quorum(h, kAlpha)) << Dump(h);
  EXPECT_FALSE(Quorum(h, kBravo)) << "bravo alone must lose quorum" << Dump(h);
  AppResult w = h.Write(kAlpha, 1);
  EXPECT_TRUE(w.ok()) << engine::IoStatusName(w.status) << Dump(h);

  // The tiebreaker switches sides: nobody may gain quorum from that.
  h.cluster.Partition(kAlpha, kCharlie);
  h.cluster.Heal(kBravo, kCharlie);
  bool bravo_regained = false;
  bool reconnected = h.cluster.RunUntil(
      [&] {
        bravo_regained = bravo_regained || Quorum(h, kBravo);
        return BothConnected(h, kBravo, kCharlie);
      },
      30 * kSec);
  ASSERT_TRUE(reconnected) << Dump(h);
  EXPECT_TRUE(HoldsFor(h, [&] { return !Quorum(h, kBravo); }, 2 * kSec)) << Dump(h);
  EXPECT_FALSE(bravo_regained)
      << "a node that lost quorum must not regain it via a diskless node alone" << Dump(h);

  h.cluster.HealNetwork();
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  EXPECT_TRUE(Quorum(h, kBravo)) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 19 — LINBIT test `quorum-tiebreaker` case 3 / case3_promote: the
// Primary alpha is cut from bravo and charlie at once; alpha loses quorum,
// bravo keeps it (never quorum:no) and may promote. Bravo writes one block;
// after demoting alpha and healing, alpha resyncs exactly that block (4 KiB)
// from bravo.
TEST(QuorumDiskScenario, S19_TiebreakerIsolatedPrimaryLosesQuorum) {
  SimHarness h(1901, QuorumCluster(3, OnNoQuorum::kIoError, {2}));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);
  // Barrier-acked everywhere: nothing of it is out of sync after the cut.
  ASSERT_TRUE(h.Flush(kAlpha).ok()) << Dump(h);

  h.cluster.Partition(kAlpha, kBravo);
  h.cluster.Partition(kAlpha, kCharlie);
  bool bravo_lost = false;
  ASSERT_TRUE(h.cluster.RunUntil(
      [&] {
        bravo_lost = bravo_lost || !Quorum(h, kBravo);
        return NeitherConnected(h, kAlpha, kBravo) && NeitherConnected(h, kAlpha, kCharlie);
      },
      30 * kSec))
      << Dump(h);
  EXPECT_TRUE(HoldsFor(h, [&] { return Quorum(h, kBravo); }, 1 * kSec)) << Dump(h);
  EXPECT_FALSE(bravo_lost) << "the Secondary keeps quorum with the tiebreaker" << Dump(h);
  EXPECT_FALSE(Quorum(h, kAlpha)) << "the isolated Primary loses quorum" << Dump(h);

  ASSERT_TRUE(h.cluster.Secondary(kAlpha).ok()) << Dump(h);
  AdminDone promote = h.cluster.Primary(kBravo);
  ASSERT_TRUE(promote.ok()) << "bravo may promote: " << promote.message << Dump(h);
  ASSERT_TRUE(h.Write(kBravo, 1).ok()) << Dump(h);

  h.cluster.HealNetwork();
  auto [healthy, alpha_repl] = WatchUntil(
      h, [&] { return Repl(h, kAlpha, kBravo); }, [&] { return h.cluster.Healthy(); },
      60 * kSec);
  ASSERT_TRUE(healthy) << Dump(h);
  EXPECT_TRUE(Contains(alpha_repl, ReplState::kSyncTarget))
      << "alpha must resync from bravo: " << ReplStates(alpha_repl) << Dump(h);
  EXPECT_EQ(PeerDev(h, kAlpha, kBravo).resync_total_bytes, 4 * kKiB)
      << "exactly the one block bravo wrote" << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 20 — LINBIT test `quorum-check-quorumless` (isolate_primary): 2
// diskful + 1 diskless; Primary bravo is isolated, so alpha and charlie know
// it left their quorate partition without quorum. When alpha then also loses
// charlie, alpha keeps quorum (bravo is known quorumless) and may promote.
// DISABLED (known engine gap, issue 2): quorumless tracking (drbd-semantics.md §7.2) is not implemented: UpdateQuorum never marks a peer quorumless.
TEST(QuorumDiskScenario, DISABLED_S20_QuorumlessNodeDoesNotCount) {
  SimHarness h(2001, QuorumCluster(3, OnNoQuorum::kIoError, {2}));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kBravo).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kBravo, 0).ok()) << Dump(h);

  h.cluster.Isolate(kBravo);
  ASSERT_TRUE(WaitFor(h, [&] {
    return NeitherConnected(h, kBravo, kAlpha) && NeitherConnected(h, kBravo, kCharlie);
  })) << Dump(h);
  h.cluster.RunFor(1 * kSec);
  EXPECT_FALSE(Quorum(h, kBravo)) << Dump(h);
  EXPECT_TRUE(Quorum(h, kAlpha)) << Dump(h);

  ASSERT_TRUE(h.cluster.Disconnect(kAlpha, kCharlie).ok()) << Dump(h);
  ASSERT_TRUE(h.cluster.Disconnect(kCharlie, kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] { return NeitherConnected(h, kAlpha, kCharlie); })) << Dump(h);
  h.cluster.RunFor(1 * kSec);
  EXPECT_TRUE(Quorum(h, kAlpha))
      << "bravo is known to have left without quorum: alpha keeps quorum" << Dump(h);
  AdminDone promote = h.cluster.Primary(kAlpha);
  ASSERT_TRUE(promote.ok()) << "the promotion proves alpha has quorum: " << promote.message
                            << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 1).ok()) << Dump(h);

  ASSERT_TRUE(h.cluster.Secondary(kBravo).ok()) << Dump(h);
  h.cluster.HealNetwork();
  ASSERT_TRUE(h.cluster.Connect(kAlpha, kCharlie).ok()) << Dump(h);
  ASSERT_TRUE(h.cluster.Connect(kCharlie, kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 21 — LINBIT test `quorum-suspended-cancel`: on-no-quorum
// suspend-io; the isolated Primary reports suspended and its writer blocks.
// Switching on-no-quorum to io-error at runtime releases the writer with EIO.
TEST(QuorumDiskScenario, S21_SuspendedWriterGetsEioAfterSwitchToIoError) {
  SimHarness h(2101, QuorumCluster(3, OnNoQuorum::kSuspendIo));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);

  h.cluster.Isolate(kAlpha);
  ASSERT_TRUE(WaitFor(h, [&] {
    return NeitherConnected(h, kAlpha, kBravo) && NeitherConnected(h, kAlpha, kCharlie);
  })) << Dump(h);
  EXPECT_FALSE(Quorum(h, kAlpha)) << Dump(h);
  EXPECT_TRUE(St(h, kAlpha).suspended) << "suspended:quorum" << Dump(h);

  PendingWrite w = SubmitWrite(h, kAlpha, 1);
  h.cluster.RunFor(5 * kSec);
  EXPECT_FALSE(w.done()) << "the writer must block while I/O is suspended, got "
                         << engine::IoStatusName(w.status()) << Dump(h);

  ASSERT_TRUE(SetOnNoQuorum(h, kAlpha, OnNoQuorum::kIoError).ok()) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] { return w.done(); }, 1 * kSec))
      << "switching to io-error must release the blocked writer" << Dump(h);
  EXPECT_EQ(w.status(), IoStatus::kIoError) << engine::IoStatusName(w.status()) << Dump(h);
  EXPECT_FALSE(St(h, kAlpha).suspended) << Dump(h);
  AppResult again = h.Write(kAlpha, 2);
  EXPECT_EQ(again.status, IoStatus::kIoError) << engine::IoStatusName(again.status) << Dump(h);

  ASSERT_TRUE(h.cluster.Secondary(kAlpha).ok()) << Dump(h);
  h.cluster.HealNetwork();
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 22 — LINBIT tests `quorum-suspend-failover-busy`/`-dless`
// (§7.4): a frozen (suspend-io) Primary with an open writer is forced to
// Secondary after the quorate partition promoted another node and wrote. The
// frozen write fails with EIO, new opens are refused until the writer closes,
// and after healing the old Primary becomes SyncTarget and catches up.
TEST(QuorumDiskScenario, S22_ForceSecondaryFailsFrozenIoThenSyncTarget) {
  SimHarness h(2201, QuorumCluster(3, OnNoQuorum::kSuspendIo));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.OpenForWrite(kAlpha).ok()) << Dump(h);
  ASSERT_EQ(RoleOf(h, kAlpha), Role::kPrimary) << "auto-promote on open" << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);

  h.cluster.Isolate(kAlpha);
  ASSERT_TRUE(WaitFor(h, [&] {
    return NeitherConnected(h, kAlpha, kBravo) && NeitherConnected(h, kAlpha, kCharlie);
  })) << Dump(h);
  PendingWrite frozen = SubmitWrite(h, kAlpha, 1);
  h.cluster.RunFor(2 * kSec);
  ASSERT_FALSE(frozen.done()) << "I/O on the Primary without quorum is frozen" << Dump(h);

  ASSERT_TRUE(h.cluster.Primary(kBravo).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kBravo, 2).ok()) << Dump(h);

  AdminDone d = h.cluster.Secondary(kAlpha, /*force=*/true);
  ASSERT_TRUE(d.ok()) << d.message << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] { return frozen.done(); }, 1 * kSec))
      << "secondary --force must fail the frozen I/O" << Dump(h);
  EXPECT_EQ(frozen.status(), IoStatus::kIoError) << engine::IoStatusName(frozen.status()) << Dump(h);
  EXPECT_EQ(RoleOf(h, kAlpha), Role::kSecondary) << Dump(h);
  EXPECT_FALSE(h.cluster.OpenForWrite(kAlpha).ok())
      << "opens are refused until the failed writer closed (force-io-failures)" << Dump(h);
  AppResult late = h.Write(kAlpha, 3);
  EXPECT_FALSE(late.ok()) << "I/O keeps failing until the writer closed" << Dump(h);
  h.cluster.CloseWriter(kAlpha);

  h.cluster.HealNetwork();
  auto [healthy, alpha_repl] = WatchUntil(
      h, [&] { return Repl(h, kAlpha, kBravo); }, [&] { return h.cluster.Healthy(); },
      60 * kSec);
  ASSERT_TRUE(healthy) << Dump(h);
  EXPECT_TRUE(Contains(alpha_repl, ReplState::kSyncTarget))
      << "the old Primary catches up as SyncTarget: " << ReplStates(alpha_repl) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// Row 22 with an explicit Primary and no opener: writes frozen without quorum
// fail at `secondary --force` all the same. Before, the forced demotion of a
// Primary without openers only flushed and demoted, the frozen write lived on
// into the Secondary role and completed once the heal restored quorum, on data
// the split-brain resync was replacing (random seeds 94 and 297 lost such
// acknowledged writes).
TEST(QuorumDiskScenario, S22b_ForceSecondaryWithoutOpenerFailsFrozenIo) {
  SimHarness h(2202, QuorumCluster(3, OnNoQuorum::kSuspendIo));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);

  h.cluster.Isolate(kAlpha);
  ASSERT_TRUE(WaitFor(h, [&] {
    return NeitherConnected(h, kAlpha, kBravo) && NeitherConnected(h, kAlpha, kCharlie);
  })) << Dump(h);
  PendingWrite frozen = SubmitWrite(h, kAlpha, 1);
  h.cluster.RunFor(2 * kSec);
  ASSERT_FALSE(frozen.done()) << "I/O on the Primary without quorum is frozen" << Dump(h);

  ASSERT_TRUE(h.cluster.Primary(kBravo).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kBravo, 2).ok()) << Dump(h);

  AdminDone d = h.cluster.Secondary(kAlpha, /*force=*/true);
  ASSERT_TRUE(d.ok()) << d.message << Dump(h);
  ASSERT_TRUE(WaitFor(
      h, [&] { return frozen.done(); }, 1 * kSec))
      << "secondary --force must fail the frozen I/O" << Dump(h);
  EXPECT_EQ(frozen.status(), IoStatus::kIoError)
      << engine::IoStatusName(frozen.status()) << Dump(h);
  EXPECT_EQ(RoleOf(h, kAlpha), Role::kSecondary) << Dump(h);

  h.cluster.HealNetwork();
  auto [healthy, alpha_repl] = WatchUntil(
      h, [&] { return Repl(h, kAlpha, kBravo); }, [&] { return h.cluster.Healthy(); }, 60 * kSec);
  ASSERT_TRUE(healthy) << Dump(h);
  EXPECT_TRUE(Contains(alpha_repl, ReplState::kSyncTarget))
      << "the old Primary catches up as SyncTarget: " << ReplStates(alpha_repl) << Dump(h);
  EXPECT_EQ(frozen.status(), IoStatus::kIoError) << "a failed write stays failed" << Dump(h);
  EXPECT_EQ(RoleOf(h, kAlpha), Role::kSecondary) << Dump(h);
  EXPECT_EQ(RoleOf(h, kBravo), Role::kPrimary) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 23 — LINBIT tests `outdate` and `lost-primary-after-no-writes`
// (§7.3 rule 3): in a chain A-B-C with A Primary, C (no direct link to the
// Primary) is Outdated; connecting C-A makes it UpToDate (after resyncing
// what A wrote); losing A-C makes it Outdated again; healing makes it UpToDate.
TEST(QuorumDiskScenario, S23_FarAwayNodeIsOutdated) {
  SimHarness h(2301, Cluster(3));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Disconnect(kAlpha, kCharlie).ok()) << Dump(h);
  ASSERT_TRUE(h.cluster.Disconnect(kCharlie, kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] { return NeitherConnected(h, kAlpha, kCharlie); })) << Dump(h);

  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  EXPECT_TRUE(WaitFor(h, [&] { return Disk(h, kCharlie) == DiskState::kOutdated; }, 2 * kSec))
      << "charlie reaches the Primary only through bravo: Outdated" << Dump(h);
  EXPECT_EQ(Disk(h, kBravo), DiskState::kUpToDate) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);

  ASSERT_TRUE(h.cluster.Connect(kAlpha, kCharlie).ok()) << Dump(h);
  ASSERT_TRUE(h.cluster.Connect(kCharlie, kAlpha).ok()) << Dump(h);
  EXPECT_TRUE(WaitFor(h, [&] {
    return BothConnected(h, kAlpha, kCharlie) && Disk(h, kCharlie) == DiskState::kUpToDate &&
           Repl(h, kCharlie, kAlpha) == ReplState::kEstablished;
  })) << "connected to the Primary, charlie becomes UpToDate"
      << Dump(h);

  h.cluster.Partition(kAlpha, kCharlie);
  EXPECT_TRUE(WaitFor(h, [&] {
    return NeitherConnected(h, kAlpha, kCharlie) && Disk(h, kCharlie) == DiskState::kOutdated;
  })) << "without the A-C link charlie is Outdated again"
      << Dump(h);

  h.cluster.Heal(kAlpha, kCharlie);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  EXPECT_EQ(Disk(h, kCharlie), DiskState::kUpToDate) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §7.3 rule 3 applied after the lost-peer 2PC: when the Primary crashes, the
// survivors notice at different moments. The first one to notice still hears
// from the other that the Primary is there; that is not a far-away Primary,
// only news that has not travelled yet, and DRBD's lost-peer 2PC (which cannot
// finish while a peer still has a link to the dead Primary) settles it. Both
// survivors stay UpToDate and either can take over (random seeds 8, 386: both
// had outdated themselves and the next handshake took the crashed Primary's
// data over theirs).
TEST(QuorumDiskScenario, S23b_SurvivorsOfACrashedPrimaryStayUpToDate) {
  for (int i = 0; i < 16; ++i) {
    SimHarness h(2310 + i, Cluster(3));
    ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
    ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
    ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);
    ASSERT_TRUE(h.Flush(kAlpha).ok()) << Dump(h);
    h.Crash(kAlpha);
    ASSERT_TRUE(WaitFor(h, [&] {
      return Conn(h, kBravo, kAlpha) != ConnState::kConnected &&
             Conn(h, kCharlie, kAlpha) != ConnState::kConnected;
    })) << Dump(h);
    h.cluster.RunUntil([] { return false; }, 100 * kMs, 1 * kMs);
    EXPECT_EQ(Disk(h, kBravo), DiskState::kUpToDate) << "run " << i << Dump(h);
    EXPECT_EQ(Disk(h, kCharlie), DiskState::kUpToDate) << "run " << i << Dump(h);
    ASSERT_TRUE(h.cluster.Primary(kBravo).ok()) << "run " << i << Dump(h);
    ASSERT_TRUE(h.Write(kBravo, 1).ok()) << Dump(h);
  }
}

// §2.1: Outdated data is never promoted without --force, even with an UpToDate
// peer at hand. bravo leaves the Primary gracefully (Outdated, §7.3 rule 1)
// but stays connected to charlie; alpha writes once more and demotes. bravo's
// promotion waits until it has taken that write from charlie, so its first
// read is not stale (random seeds 274, 279: an Outdated node was promoted,
// wrote on stale data and later met the old Primary in a split brain).
TEST(QuorumDiskScenario, S23c_OutdatedNodeIsPromotedOnlyAfterCatchingUp) {
  SimHarness h(2330, Cluster(3));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);
  ASSERT_TRUE(h.cluster.Disconnect(kBravo, kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] {
    return NeitherConnected(h, kAlpha, kBravo) && Disk(h, kBravo) == DiskState::kOutdated;
  })) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 5).ok()) << Dump(h);
  ASSERT_TRUE(h.cluster.Secondary(kAlpha).ok()) << Dump(h);
  ASSERT_EQ(Disk(h, kBravo), DiskState::kOutdated) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kBravo).ok()) << Dump(h);
  std::vector<std::string> events = EventsOf(h, kBravo);
  std::string disk_at_promotion;
  for (const std::string& e : events) {
    if (e.find("change device") != std::string::npos && e.find("disk:") != std::string::npos)
      disk_at_promotion = e.substr(e.find("disk:"));
    if (e.find("change resource") != std::string::npos && e.find("role:Primary") != std::string::npos)
      break;
  }
  EXPECT_NE(disk_at_promotion, "disk:Outdated") << "promoted on Outdated data" << Dump(h);
  AppResult r = h.Read(kBravo, 5);
  EXPECT_EQ(r.status, IoStatus::kOk) << Dump(h);
  ASSERT_TRUE(h.cluster.Connect(kBravo, kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.cluster.Connect(kAlpha, kBravo).ok()) << Dump(h);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  h.FinalChecks();  // invariant 3: the read returned alpha's write
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §2.1/§7.3: an Outdated disk becomes UpToDate only when no node can hold newer
// data. alpha and charlie lose their links to the Primary bravo but still see
// it through delta: both are Outdated (far-away Primary, rule 3). bravo writes
// on with delta; then bravo and delta drop out of sight. alpha and charlie are
// on one generation with nothing out of sync between them, but the two nodes
// they lost, last seen UpToDate, hold the newer write: they stay Outdated, and
// a promotion is refused until they are resynced (random seed 449: the two
// Outdated nodes made each other UpToDate, one was promoted and read zeroes).
TEST(QuorumDiskScenario, S23e_OutdatedNodesDoNotVouchForEachOther) {
  SimHarness h(2350, Cluster(4));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kBravo).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kBravo, 0).ok()) << Dump(h);
  h.cluster.Partition(kBravo, kAlpha);
  h.cluster.Partition(kBravo, kCharlie);
  ASSERT_TRUE(WaitFor(h, [&] {
    return Disk(h, kAlpha) == DiskState::kOutdated && Disk(h, kCharlie) == DiskState::kOutdated;
  })) << "far-away Primary (§7.3 rule 3)" << Dump(h);
  ASSERT_TRUE(h.Write(kBravo, 5).ok()) << "bravo and delta store it" << Dump(h);
  h.cluster.Partition(kDelta, kAlpha);
  h.cluster.Partition(kDelta, kCharlie);
  ASSERT_TRUE(WaitFor(h, [&] {
    return Conn(h, kAlpha, kDelta) != ConnState::kConnected &&
           Conn(h, kCharlie, kDelta) != ConnState::kConnected;
  })) << Dump(h);
  h.cluster.RunFor(5 * kSec);
  EXPECT_EQ(Disk(h, kAlpha), DiskState::kOutdated) << Dump(h);
  EXPECT_EQ(Disk(h, kCharlie), DiskState::kOutdated)
      << "upgraded on the word of another Outdated node" << Dump(h);
  AdminDone d = h.cluster.Primary(kCharlie);
  EXPECT_FALSE(d.ok()) << "promoted on data without bravo's last write" << Dump(h);

  ASSERT_TRUE(h.cluster.Secondary(kBravo).ok()) << Dump(h);
  h.cluster.HealNetwork();
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kCharlie).ok()) << Dump(h);
  EXPECT_TRUE(h.Read(kCharlie, 5).ok()) << Dump(h);
  h.FinalChecks();  // invariant 3: the read returned bravo's write
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §1.2: a promotion is valid only on UpToDate data, and the check must hold when
// the promotion's 2PC commits, not only when it starts. The diskless alpha asks
// to be Primary while bravo and charlie are UpToDate; charlie's answer is slow,
// and meanwhile both detach their disks. The commit finds no UpToDate data and
// the promotion fails instead of making alpha a Primary without data (random
// seed 222: a promotion prepared on a peer's stale UpToDate state committed a
// second later on a Consistent disk, and the cluster never converged).
TEST(QuorumDiskScenario, S23f_PromotionRechecksItsDataWhenThe2pcCommits) {
  SimHarness h(2360, Cluster(3, {0}));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  h.cluster.network().SetMsgFault(kCharlie, kAlpha, engine::MsgType::kTwopcReply,
                                  MsgFault::kDelay, 200 * kMs);
  std::optional<AdminDone> promoted;
  h.cluster.Admin(
      kAlpha, "primary", [](Resource& r, uint64_t c) { r.Primary(c, false); },
      [&](const AdminDone& d) { promoted = d; });
  h.cluster.RunFor(20 * kMs);
  ASSERT_FALSE(promoted) << "the 2PC waits for charlie's slow answer" << Dump(h);
  ASSERT_TRUE(h.cluster.Detach(kBravo, kVol0).ok()) << Dump(h);
  ASSERT_TRUE(h.cluster.Detach(kCharlie, kVol0).ok()) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] { return promoted.has_value(); }, 60 * kSec)) << Dump(h);
  h.cluster.network().SetMsgFault(kCharlie, kAlpha, engine::MsgType::kTwopcReply,
                                  MsgFault::kNone);
  EXPECT_EQ(promoted->code, SsCode::kNoUpToDateDisk) << promoted->message << Dump(h);
  EXPECT_EQ(RoleOf(h, kAlpha), Role::kSecondary) << "Primary without UpToDate data" << Dump(h);
  ASSERT_TRUE(h.cluster.Attach(kBravo, kVol0).ok()) << Dump(h);
  ASSERT_TRUE(h.cluster.Attach(kCharlie, kVol0).ok()) << Dump(h);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §3.2: a BarrierAck counts the writes the receiver got in the epoch. Here a
// protocol A write never reaches bravo (its Data is lost while the connection
// stays up) and bravo acks the epoch's barrier with a count of 0. alpha must
// not take that ack as "replicated": it drops the connection, the write is out
// of sync towards bravo, and the reconnect resyncs it (random seed 1489: the
// ack cleared the write from the transfer log and the replicas stayed
// different).
TEST(QuorumDiskScenario, S26f_BarrierAckWithTooFewWritesDropsTheConnection) {
  ClusterOptions o = Cluster(2);
  o.options.protocol = engine::WireProtocol::kA;
  SimHarness h(2605, o);
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);
  ASSERT_TRUE(h.Flush(kAlpha).ok()) << Dump(h);
  h.cluster.network().SetMsgFault(kAlpha, kBravo, engine::MsgType::kData, MsgFault::kDrop);
  ASSERT_TRUE(h.Write(kAlpha, 3).ok()) << "protocol A: handed to the network" << Dump(h);
  h.cluster.network().SetMsgFault(kAlpha, kBravo, engine::MsgType::kData, MsgFault::kNone);
  h.Flush(kAlpha);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  h.FinalChecks();  // invariant 4: bravo got block 3 by resync
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
  bool noticed = false;
  for (const std::string& e : EventsOf(h, kAlpha))
    noticed |= e.find("BarrierAck for epoch") != std::string::npos;
  EXPECT_TRUE(noticed) << "the short count went unnoticed" << Dump(h);
}

// §7.3 rule 3 after a Primary's lost-peer 2PC: the link alpha-charlie breaks,
// alpha (Primary) times out first and goes on writing with bravo. charlie's end
// still looks up, but alpha's lost-peer notice reaches it through bravo: it
// drops the link and is Outdated at once, so when alpha demotes before charlie
// has noticed anything, charlie is not promoted on data missing alpha's last
// writes (random seed 256: charlie, still UpToDate, was promoted and read
// zeroes).
TEST(QuorumDiskScenario, S23d_NodeThePrimaryLostLearnsItThroughTheMesh) {
  int outdated_early = 0;
  for (int i = 0; i < 8; ++i) {
    SimHarness h(2340 + i, Cluster(3));
    ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
    ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
    ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);
    h.cluster.Partition(kAlpha, kCharlie);
    PendingWrite w = SubmitWrite(h, kAlpha, 7);
    ASSERT_TRUE(WaitFor(h, [&] { return Conn(h, kAlpha, kCharlie) != ConnState::kConnected; }))
        << Dump(h);
    if (Conn(h, kCharlie, kAlpha) == ConnState::kConnected) {
      // charlie has not timed out yet: the notice travels alpha-bravo-charlie.
      h.cluster.RunUntil([] { return false; }, 10 * kMs, 1 * kMs);
      EXPECT_EQ(Disk(h, kCharlie), DiskState::kOutdated) << "run " << i << Dump(h);
      ++outdated_early;
    }
    ASSERT_TRUE(WaitFor(h, [&] { return w.done(); })) << Dump(h);
    ASSERT_EQ(w.status(), IoStatus::kOk) << Dump(h);
    ASSERT_TRUE(h.cluster.Secondary(kAlpha).ok()) << Dump(h);
    ASSERT_TRUE(h.cluster.Primary(kCharlie).ok()) << "run " << i << Dump(h);
    EXPECT_EQ(h.Read(kCharlie, 7).status, IoStatus::kOk) << Dump(h);
    h.cluster.HealNetwork();
    ASSERT_TRUE(h.WaitHealthy()) << "run " << i << Dump(h);
    h.FinalChecks();  // invariant 3: charlie read alpha's write
    ASSERT_FALSE(h.cluster.failed()) << "run " << i << Dump(h);
  }
  EXPECT_GT(outdated_early, 0) << "no run had alpha notice first";
}

// =====================================================================================
// Disks and I/O errors (§2.4, §9)
// =====================================================================================

// Two diskful nodes on a 16 MiB volume (four AL extents), so that a resync
// of one extent is distinguishable from a full sync.
ClusterOptions IoErrorCluster() {
  ClusterOptions o = Cluster(2);
  o.volume_bytes = 16 * kMiB;
  return o;
}

// §11.2 row 26 (first half) — LINBIT test `io-errors`: a write error on the
// Secondary's backing disk detaches it (disk Failed, then Diskless); the
// Primary sees peer-disk Diskless and the application does not notice.
TEST(QuorumDiskScenario, S26_SecondaryWriteErrorDetaches) {
  SimHarness h(2601, IoErrorCluster());
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);

  h.cluster.disk(kBravo, kVol0)->FailWrites(DiskArea::kData, -1);
  AppResult w = h.Write(kAlpha, 1);
  EXPECT_TRUE(w.ok()) << "the Primary's own disk has the write: "
                      << engine::IoStatusName(w.status) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] {
    return Disk(h, kBravo) == DiskState::kDiskless &&
           PeerDisk(h, kAlpha, kBravo) == DiskState::kDiskless;
  })) << "bravo detaches and alpha sees peer-disk Diskless"
      << Dump(h);
  EXPECT_TRUE(EventsInOrder(EventsOf(h, kBravo), {"disk:Failed", "disk:Diskless"}))
      << "bravo's disk goes Failed, then Diskless" << Dump(h);
  EXPECT_EQ(Repl(h, kAlpha, kBravo), ReplState::kEstablished) << Dump(h);
  EXPECT_TRUE(BothConnected(h, kAlpha, kBravo)) << "a disk error is no network error" << Dump(h);
  EXPECT_TRUE(h.Write(kAlpha, 2).ok()) << Dump(h);
  EXPECT_TRUE(h.Read(kAlpha, 0, 3).ok()) << Dump(h);

  h.checkers.CheckDurable();  // the remaining UpToDate replica holds every acked write
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// Extra (b), §11.2 row 26 (second half) — LINBIT test `io-errors`: after the
// Secondary's write error, `attach` again gives a bitmap-based resync of
// exactly one AL extent (4096 KiB: the activity log of the failed disk plus
// the Primary's bits), not a full sync of the 16 MiB volume.
TEST(QuorumDiskScenario, S26b_SecondaryReattachResyncsOneAlExtent) {
  SimHarness h(2602, IoErrorCluster());
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);
  SimDisk* bravo_disk = h.cluster.disk(kBravo, kVol0);
  bravo_disk->FailWrites(DiskArea::kData, -1);
  ASSERT_TRUE(h.Write(kAlpha, 1).ok()) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] { return PeerDisk(h, kAlpha, kBravo) == DiskState::kDiskless; }))
      << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 2).ok()) << Dump(h);

  bravo_disk->ClearFaults();
  AdminDone d = h.cluster.Attach(kBravo, kVol0);
  ASSERT_TRUE(d.ok()) << d.message << Dump(h);
  auto [healthy, bravo_repl] = WatchUntil(
      h, [&] { return Repl(h, kBravo, kAlpha); }, [&] { return h.cluster.Healthy(); },
      120 * kSec);
  ASSERT_TRUE(healthy) << Dump(h);
  EXPECT_TRUE(Contains(bravo_repl, ReplState::kSyncTarget)) << ReplStates(bravo_repl) << Dump(h);
  EXPECT_EQ(PeerDev(h, kBravo, kAlpha).resync_total_bytes, kAlExtent)
      << "re-attach resyncs one AL extent (4096 KiB), not the whole "
      << h.cluster.volume_bytes() / kKiB << " KiB" << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// Extra (c), §3.5: under protocol A the Primary does not wait for the
// Secondary, so a write the Secondary fails to store must still be answered
// with a negative ack, or the Primary counts it replicated. Here bravo's
// activity-log transaction for a new extent fails: bravo detaches before the
// write reaches its data area and its activity log never names that extent,
// so only alpha's bit for bravo can bring the block back (random seed 37:
// replicas differed after the re-attach's resync).
TEST(QuorumDiskScenario, S26c_ProtocolASecondaryThatFailsAWriteNegAcksIt) {
  ClusterOptions o = IoErrorCluster();
  o.options.protocol = engine::WireProtocol::kA;
  SimHarness h(2603, o);
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);
  ASSERT_TRUE(h.Flush(kAlpha).ok()) << Dump(h);  // bravo has stored all so far
  SimDisk* bravo_disk = h.cluster.disk(kBravo, kVol0);
  bravo_disk->FailWrites(DiskArea::kMeta, -1);
  const uint64_t far_block = 2 * kAlExtent / kAppBlock;  // a cold extent on bravo
  ASSERT_TRUE(h.Write(kAlpha, far_block).ok()) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] { return PeerDisk(h, kAlpha, kBravo) == DiskState::kDiskless; }))
      << Dump(h);
  ASSERT_TRUE(h.Flush(kAlpha).ok()) << Dump(h);

  bravo_disk->ClearFaults();
  AdminDone d = h.cluster.Attach(kBravo, kVol0);
  ASSERT_TRUE(d.ok()) << d.message << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] { return h.cluster.Healthy(); }, 120 * kSec)) << Dump(h);
  h.FinalChecks();  // invariant 4: bravo holds far_block again
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 27 (first half) — LINBIT test `io-errors`: a write error on the
// Primary's disk detaches it (Failed, then Diskless); it stays Primary and
// application I/O continues through the peer (writes, reads, flushes).
TEST(QuorumDiskScenario, S27_PrimaryWriteErrorDetachesIoContinues) {
  SimHarness h(2701, IoErrorCluster());
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);

  h.cluster.disk(kAlpha, kVol0)->FailWrites(DiskArea::kData, -1);
  AppResult w = h.Write(kAlpha, 1);
  EXPECT_TRUE(w.ok()) << "the peer has the write: " << engine::IoStatusName(w.status) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] {
    return Disk(h, kAlpha) == DiskState::kDiskless &&
           PeerDisk(h, kBravo, kAlpha) == DiskState::kDiskless;
  })) << Dump(h);
  EXPECT_TRUE(EventsInOrder(EventsOf(h, kAlpha), {"disk:Failed", "disk:Diskless"})) << Dump(h);
  EXPECT_EQ(RoleOf(h, kAlpha), Role::kPrimary) << Dump(h);
  for (uint64_t b = 2; b < 6; ++b) {
    AppResult r = h.Write(kAlpha, b);
    EXPECT_TRUE(r.ok()) << "block " << b << ": " << engine::IoStatusName(r.status) << Dump(h);
  }
  EXPECT_TRUE(h.Read(kAlpha, 0, 6).ok()) << "reads are served by the peer" << Dump(h);
  EXPECT_TRUE(h.Flush(kAlpha).ok()) << Dump(h);

  h.checkers.CheckDurable();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 27 (second half) — LINBIT test `io-errors`: the detached Primary
// re-attaches and becomes SyncTarget of one AL extent (4096 KiB) while it
// stays Primary; its data then equals the peer's.
TEST(QuorumDiskScenario, S27b_PrimaryReattachIsSyncTargetOfOneExtent) {
  SimHarness h(2702, IoErrorCluster());
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);
  SimDisk* alpha_disk = h.cluster.disk(kAlpha, kVol0);
  alpha_disk->FailWrites(DiskArea::kData, -1);
  ASSERT_TRUE(h.Write(kAlpha, 1).ok()) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] { return Disk(h, kAlpha) == DiskState::kDiskless; })) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 2).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 3).ok()) << Dump(h);

  alpha_disk->ClearFaults();
  AdminDone d = h.cluster.Attach(kAlpha, kVol0);
  ASSERT_TRUE(d.ok()) << d.message << Dump(h);
  auto [healthy, alpha_repl] = WatchUntil(
      h, [&] { return Repl(h, kAlpha, kBravo); }, [&] { return h.cluster.Healthy(); },
      120 * kSec);
  ASSERT_TRUE(healthy) << Dump(h);
  EXPECT_TRUE(Contains(alpha_repl, ReplState::kSyncTarget))
      << "the re-attached Primary is SyncTarget: " << ReplStates(alpha_repl) << Dump(h);
  EXPECT_EQ(PeerDev(h, kAlpha, kBravo).resync_total_bytes, kAlExtent)
      << "one AL extent (4096 KiB)" << Dump(h);
  EXPECT_EQ(RoleOf(h, kAlpha), Role::kPrimary) << Dump(h);
  EXPECT_TRUE(h.Read(kAlpha, 0, 4).ok()) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// A Primary re-attaches its disk and writes while it waits for the peer's
// bitmap (WFBitMapT, about to be SyncTarget of the UpToDate peer). Those
// writes go to the peer as data, as DRBD's drbd_should_do_remote sends every
// write to an UpToDate peer: with only an out-of-sync notice they lived on
// the re-attached disk alone, and the resync from the peer then overwrote
// them with its older blocks (random seed 12 lost a FUA write this way).
TEST(QuorumDiskScenario, S27c_PrimaryWritesDuringBitmapExchangeReachTheSyncSource) {
  SimHarness h(2703, IoErrorCluster());
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);
  ASSERT_TRUE(h.cluster.Detach(kAlpha, kVol0).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 1, 1, /*fua=*/true).ok()) << Dump(h);

  // Bravo's bitmap takes a while to arrive: alpha stays WFBitMapT long
  // enough for a write to be issued in it.
  h.cluster.network().SetMsgFault(kBravo, kAlpha, engine::MsgType::kBitmap, MsgFault::kDelay,
                                  50 * kMs);
  std::optional<AdminDone> attached;
  h.cluster.StartAttach(kAlpha, kVol0, [&](const AdminDone& d) { attached = d; });
  ASSERT_TRUE(h.cluster.RunUntil([&] { return Repl(h, kAlpha, kBravo) == ReplState::kWFBitMapT; },
                                 30 * kSec))
      << Dump(h);
  EXPECT_EQ(PeerDisk(h, kAlpha, kBravo), DiskState::kUpToDate) << Dump(h);
  const uint64_t first_write = h.history.stats().writes + 1;
  AppResult w = h.Write(kAlpha, 2, 1, /*fua=*/true);
  ASSERT_TRUE(w.ok()) << engine::IoStatusName(w.status) << Dump(h);
  EXPECT_EQ(Repl(h, kAlpha, kBravo), ReplState::kWFBitMapT)
      << "the write completed within the bitmap exchange" << Dump(h);
  h.cluster.network().SetMsgFault(kBravo, kAlpha, engine::MsgType::kBitmap, MsgFault::kNone);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  ASSERT_TRUE(attached && attached->ok()) << Dump(h);

  for (NodeId n : {kAlpha, kBravo}) {
    const Bytes& data = h.cluster.disk(n, kVol0)->DurableContents(DiskArea::kData);
    Stamp st;
    ASSERT_EQ(ParseBlock(ByteSpan(data).subspan(2 * kAppBlock, kAppBlock), &st),
              BlockKind::kStamped)
        << h.cluster.name(n) << " lost the write made during the bitmap exchange" << Dump(h);
    EXPECT_EQ(st.seq, first_write) << h.cluster.name(n) << Dump(h);
  }
  EXPECT_EQ(RoleOf(h, kAlpha), Role::kPrimary) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// A Primary that lost its disk and went on writing through its peer exposes a
// newer generation than its own disk holds. With that peer gone it has no
// good data left: attaching the stale disk is refused (DRBD's
// ERR_DATA_NOT_CURRENT) instead of serving it as current; once the peer is
// back the attach succeeds and the disk is SyncTarget (random seed 209 served
// such a disk as UpToDate and lost the writes made while it was away).
TEST(QuorumDiskScenario, S27d_PrimaryRefusesItsStaleDiskWithoutAnUpToDatePeer) {
  SimHarness h(2704, IoErrorCluster());
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);
  SimDisk* alpha_disk = h.cluster.disk(kAlpha, kVol0);
  alpha_disk->FailWrites(DiskArea::kData, -1);
  ASSERT_TRUE(h.Write(kAlpha, 1).ok()) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] { return Disk(h, kAlpha) == DiskState::kDiskless; })) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 2).ok()) << "bravo stores it" << Dump(h);

  h.cluster.Partition(kAlpha, kBravo);
  ASSERT_TRUE(WaitFor(h, [&] { return Conn(h, kAlpha, kBravo) != ConnState::kConnected; }))
      << Dump(h);
  alpha_disk->ClearFaults();
  AdminDone d = h.cluster.Attach(kAlpha, kVol0);
  EXPECT_EQ(d.code, SsCode::kDataNotCurrent) << d.message << Dump(h);
  EXPECT_NE(d.message.find("can only attach to data with current UUID"), std::string::npos)
      << d.message;
  EXPECT_EQ(Disk(h, kAlpha), DiskState::kDiskless) << "the refused attach changed nothing"
                                                   << Dump(h);

  h.cluster.Heal(kAlpha, kBravo);
  ASSERT_TRUE(WaitFor(h, [&] { return PeerDisk(h, kAlpha, kBravo) == DiskState::kUpToDate; },
                      60 * kSec))
      << Dump(h);
  d = h.cluster.Attach(kAlpha, kVol0);
  ASSERT_TRUE(d.ok()) << d.message << Dump(h);
  auto [healthy, alpha_repl] = WatchUntil(
      h, [&] { return Repl(h, kAlpha, kBravo); }, [&] { return h.cluster.Healthy(); },
      120 * kSec);
  ASSERT_TRUE(healthy) << Dump(h);
  EXPECT_TRUE(Contains(alpha_repl, ReplState::kSyncTarget))
      << "the stale disk is SyncTarget: " << ReplStates(alpha_repl) << Dump(h);
  EXPECT_TRUE(h.Read(kAlpha, 0, 3).ok()) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 28 — LINBIT test `io-errors-diskless`: 2 diskful + 1 diskless
// Primary; one diskful disk fails all reads and writes. The application on
// the diskless Primary never sees an error as long as one UpToDate disk
// remains; the failed node detaches and later re-attaches and catches up.
TEST(QuorumDiskScenario, S28_DisklessPrimaryShieldedFromDiskErrors) {
  SimHarness h(2801, Cluster(3, {2}));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kCharlie).ok()) << Dump(h);
  for (uint64_t b = 0; b < 4; ++b) ASSERT_TRUE(h.Write(kCharlie, b).ok()) << Dump(h);

  SimDisk* alpha_disk = h.cluster.disk(kAlpha, kVol0);
  alpha_disk->FailWrites(DiskArea::kData, -1);
  alpha_disk->FailReads(DiskArea::kData, -1);
  for (uint64_t b = 4; b < 12; ++b) {
    AppResult w = h.Write(kCharlie, b);
    EXPECT_TRUE(w.ok()) << "write " << b << ": " << engine::IoStatusName(w.status) << Dump(h);
    AppResult r = h.Read(kCharlie, b - 4);
    EXPECT_TRUE(r.ok()) << "read " << b - 4 << ": " << engine::IoStatusName(r.status) << Dump(h);
  }
  EXPECT_TRUE(WaitFor(h, [&] { return PeerDisk(h, kCharlie, kAlpha) == DiskState::kDiskless; }))
      << "the failed disk detaches" << Dump(h);
  EXPECT_EQ(PeerDisk(h, kCharlie, kBravo), DiskState::kUpToDate) << Dump(h);
  EXPECT_TRUE(h.Read(kCharlie, 0, 12).ok()) << Dump(h);
  EXPECT_TRUE(h.Flush(kCharlie).ok()) << Dump(h);

  alpha_disk->ClearFaults();
  AdminDone d = h.cluster.Attach(kAlpha, kVol0);
  ASSERT_TRUE(d.ok()) << d.message << Dump(h);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// ko-count (drbd-semantics.md §9): a Secondary that stays connected but whose
// disk hangs stops answering writes; after timeout * ko-count the Primary
// drops it and the write completes. Without ko-count it would hang forever.
TEST(QuorumDiskScenario, S29b_KoCountDropsASecondaryWithAHungDisk) {
  ClusterOptions o = Cluster(2);
  o.options.timeout = 1 * kSec;
  o.options.ko_count = 3;
  SimHarness h(2902, o);
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  h.cluster.disk(kBravo, kVol0)->Freeze(DiskArea::kData);
  h.cluster.disk(kBravo, kVol0)->Freeze(DiskArea::kMeta);
  AppResult w = h.Write(kAlpha, 0, 1, false, kVol0);
  ASSERT_TRUE(w.ok()) << "the write must complete once bravo is dropped" << Dump(h);
  EXPECT_NE(h.cluster.Status(kAlpha)->connections[0].conn, engine::ConnState::kConnected)
      << Dump(h);
  h.cluster.disk(kBravo, kVol0)->ClearFaults();
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
}

// §11.2 row 29 — LINBIT test `disk-timeout` (app write on the Primary): the
// Primary's backing disk hangs. DRBD with disk-timeout detaches the node when
// the timeout expires and completes the write through the peer. The engine
// has no disk-timeout option (engine::Options); this states DRBD's behaviour
// with a disk-timeout well below 30 s and fails until the engine detects a
// frozen backing device.
TEST(QuorumDiskScenario, S29_FrozenPrimaryDiskDetachesAfterTimeout) {
  ClusterOptions o = Cluster(2);
  o.options.disk_timeout = 5 * kSec;  // off by default, as in DRBD
  SimHarness h(2901, o);
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);

  SimDisk* alpha_disk = h.cluster.disk(kAlpha, kVol0);
  alpha_disk->Freeze(DiskArea::kData);
  PendingWrite w = SubmitWrite(h, kAlpha, 1);
  bool served = WaitFor(
      h, [&] { return w.done() && Disk(h, kAlpha) == DiskState::kDiskless; }, 30 * kSec);
  EXPECT_TRUE(served) << "after the disk timeout alpha detaches and the write completes via "
                         "bravo; after 30 s the write is "
                      << (w.done() ? engine::IoStatusName(w.status()) : "still pending")
                      << " and alpha's disk " << engine::DiskStateName(Disk(h, kAlpha))
                      << Dump(h);
  if (served) {
    EXPECT_EQ(w.status(), IoStatus::kOk) << Dump(h);
  }
  alpha_disk->Unfreeze(DiskArea::kData);
  h.cluster.RunFor(1 * kSec);
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 30 — LINBIT test `allow-remote-read`: with allow-remote-read no,
// a Primary whose disk failed still writes (remotely) but its reads fail.
TEST(QuorumDiskScenario, S30_AllowRemoteReadNo) {
  GTEST_SKIP() << "allow-remote-read is not an engine option (engine::Options has no such knob; "
                  "quorum.h models it only inside CalcQuorum): row 30 cannot be driven";
}

// =====================================================================================
// Resync, checksums and verify (§8)
// =====================================================================================

// §11.2 row 37 — LINBIT test `checksum-resync`: a full resync
// (invalidate-remote) of mostly identical data with csums transfers only the
// blocks that differ. Observed physically: bravo runs with disk-flushes off,
// so the replicated writes sit in its volatile cache; a block the resync
// rewrites (FUA) becomes durable, a block found identical is not written.
TEST(QuorumDiskScenario, S37_ChecksumResyncTransfersOnlyDifferingBlocks) {
  ClusterOptions o = Cluster(2);
  o.options.csums = true;
  o.adjust = [](engine::ResourceConfig* c) {
    if (c->self == kBravo) c->options.disk_flushes = false;
  };
  SimHarness h(3701, o);
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  constexpr uint64_t kWritten = 64;
  for (uint64_t b = 0; b < kWritten; ++b) ASSERT_TRUE(h.Write(kAlpha, b).ok()) << Dump(h);
  const std::set<uint64_t> differing = {3, 17, 40, 63};
  for (uint64_t b : differing) Scribble(h, kBravo, b, static_cast<uint8_t>(b));
  SimDisk* bravo = h.cluster.disk(kBravo, kVol0);
  for (uint64_t b = 0; b < kWritten; ++b) {
    if (differing.count(b)) continue;
    ASSERT_FALSE(SameBlock(bravo->Contents(DiskArea::kData), bravo->DurableContents(DiskArea::kData), b))
        << "precondition: block " << b << " is only in bravo's volatile cache";
  }

  AdminDone d = h.cluster.AdminSync(
      kAlpha, "invalidate-remote bravo",
      [](Resource& r, uint64_t c) { r.InvalidateRemote(c, kBravo, kVol0); });
  ASSERT_TRUE(d.ok()) << d.message << Dump(h);
  auto [healthy, bravo_repl] = WatchUntil(
      h, [&] { return Repl(h, kBravo, kAlpha); }, [&] { return h.cluster.Healthy(); },
      120 * kSec);
  ASSERT_TRUE(healthy) << Dump(h);
  EXPECT_TRUE(Contains(bravo_repl, ReplState::kSyncTarget)) << ReplStates(bravo_repl) << Dump(h);
  EXPECT_EQ(PeerDev(h, kBravo, kAlpha).resync_total_bytes, h.cluster.volume_bytes())
      << "invalidate-remote is a full resync" << Dump(h);

  std::set<uint64_t> transferred;
  for (uint64_t b = 0; b < kWritten; ++b) {
    if (SameBlock(bravo->Contents(DiskArea::kData), bravo->DurableContents(DiskArea::kData), b))
      transferred.insert(b);
  }
  EXPECT_EQ(transferred, differing) << "with csums only the differing blocks are transferred ("
                                    << transferred.size() << " of " << kWritten
                                    << " written blocks were rewritten)" << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 37 (second part) — LINBIT test `checksum-resync`: detaching the
// SyncTarget in the middle of a checksum resync and attaching it again
// resumes from the persisted bitmap instead of starting over.
TEST(QuorumDiskScenario, S37b_ChecksumResyncResumesAfterDetachAttach) {
  ClusterOptions o = Cluster(2);
  o.options.csums = true;
  o.options.c_plan_ahead = 0;       // fixed rate: 400 KiB/s, 10 blocks per 100 ms
  o.options.resync_rate_kib = 400;
  SimHarness h(3702, o);
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  for (uint64_t b = 0; b < 32; ++b) ASSERT_TRUE(h.Write(kAlpha, b * 30).ok()) << Dump(h);
  for (uint64_t b = 0; b < 8; ++b) Scribble(h, kBravo, b * 120 + 1, static_cast<uint8_t>(b));

  AdminDone d = h.cluster.AdminSync(
      kAlpha, "invalidate-remote bravo",
      [](Resource& r, uint64_t c) { r.InvalidateRemote(c, kBravo, kVol0); });
  ASSERT_TRUE(d.ok()) << d.message << Dump(h);
  const uint64_t full = h.cluster.volume_bytes();
  ASSERT_TRUE(WaitFor(h, [&] {
    return Repl(h, kBravo, kAlpha) == ReplState::kSyncTarget &&
           OutOfSync(h, kBravo, kAlpha) < full / 2;
  })) << "the resync makes progress" << Dump(h);

  AdminDone detach = h.cluster.Detach(kBravo, kVol0);
  ASSERT_TRUE(detach.ok()) << detach.message << Dump(h);
  EXPECT_EQ(Disk(h, kBravo), DiskState::kDiskless) << Dump(h);
  const uint64_t left = std::max(OutOfSync(h, kBravo, kAlpha), OutOfSync(h, kAlpha, kBravo));
  ASSERT_GT(left, 0u) << "detached in the middle of the resync" << Dump(h);
  ASSERT_LT(left, full / 2) << Dump(h);
  h.cluster.RunFor(1 * kSec);
  EXPECT_EQ(Repl(h, kAlpha, kBravo), ReplState::kEstablished)
      << "the resync stops with the target's disk" << Dump(h);

  AdminDone attach = h.cluster.Attach(kBravo, kVol0);
  ASSERT_TRUE(attach.ok()) << attach.message << Dump(h);
  auto [healthy, bravo_repl] = WatchUntil(
      h, [&] { return Repl(h, kBravo, kAlpha); }, [&] { return h.cluster.Healthy(); },
      120 * kSec);
  ASSERT_TRUE(healthy) << Dump(h);
  EXPECT_TRUE(Contains(bravo_repl, ReplState::kSyncTarget)) << ReplStates(bravo_repl) << Dump(h);
  const uint64_t resumed = PeerDev(h, kBravo, kAlpha).resync_total_bytes;
  EXPECT_GT(resumed, 0u) << Dump(h);
  EXPECT_LE(resumed, left) << "the resync resumes where it stopped (" << left / kKiB
                           << " KiB left) instead of restarting (" << full / kKiB << " KiB)"
                           << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// §11.2 row 38 — LINBIT tests `verify` and `invalidate` (§8.4): 4 blocks are
// altered directly on bravo's backing disk. Online verify from alpha reports
// exactly those blocks ("Out of sync" lines, out-of-sync 16 KiB on the
// verifying node) and starts no resync by itself; a reconnect then resyncs
// only those 16 KiB.
TEST(QuorumDiskScenario, S38_VerifyFindsExactlyTheAlteredBlocks) {
  SimHarness h(3801, Cluster(2));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  for (uint64_t b = 0; b < 16; ++b) ASSERT_TRUE(h.Write(kAlpha, b).ok()) << Dump(h);
  ASSERT_TRUE(h.Flush(kAlpha).ok()) << Dump(h);
  const std::vector<uint64_t> altered = {2, 9, 100, 700};
  for (uint64_t b : altered) Scribble(h, kBravo, b, static_cast<uint8_t>(b));

  AdminDone d = h.cluster.AdminSync(kAlpha, "verify bravo", [](Resource& r, uint64_t c) {
    r.Verify(c, kBravo, kVol0);
  });
  ASSERT_TRUE(d.ok()) << d.message << Dump(h);
  auto [finished, alpha_repl] = WatchUntil(
      h, [&] { return Repl(h, kAlpha, kBravo); },
      [&] {
        return Repl(h, kAlpha, kBravo) == ReplState::kEstablished &&
               Repl(h, kBravo, kAlpha) == ReplState::kEstablished;
      },
      60 * kSec);
  ASSERT_TRUE(finished) << Dump(h);
  EXPECT_TRUE(Contains(alpha_repl, ReplState::kVerifyS)) << ReplStates(alpha_repl) << Dump(h);
  EXPECT_EQ(OutOfSync(h, kAlpha, kBravo), 16 * kKiB)
      << "the verifying node counts exactly the 4 altered blocks" << Dump(h);
  std::set<std::string> reported, expected;
  for (const std::string& e : EventsOf(h, kAlpha)) {
    size_t at = e.find("Out of sync: start=");
    if (at != std::string::npos) reported.insert(e.substr(at));
  }
  for (uint64_t b : altered) {
    expected.insert("Out of sync: start=" + std::to_string(b * kAppBlock / kSectorSize) +
                    ", size=8 (sectors)");
  }
  EXPECT_EQ(reported, expected) << Dump(h);

  EXPECT_TRUE(HoldsFor(
      h,
      [&] {
        return Repl(h, kAlpha, kBravo) == ReplState::kEstablished &&
               Repl(h, kBravo, kAlpha) == ReplState::kEstablished;
      },
      3 * kSec))
      << "verify starts no resync by itself" << Dump(h);
  EXPECT_EQ(OutOfSync(h, kAlpha, kBravo), 16 * kKiB) << Dump(h);
  const Bytes& alpha_data = h.cluster.disk(kAlpha, kVol0)->Contents(DiskArea::kData);
  const Bytes& bravo_data = h.cluster.disk(kBravo, kVol0)->Contents(DiskArea::kData);
  for (uint64_t b : altered) EXPECT_FALSE(SameBlock(alpha_data, bravo_data, b)) << "block " << b;

  ASSERT_TRUE(h.cluster.Disconnect(kAlpha, kBravo).ok()) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] { return NeitherConnected(h, kAlpha, kBravo); })) << Dump(h);
  ASSERT_TRUE(h.cluster.Connect(kAlpha, kBravo).ok()) << Dump(h);
  auto [healthy, bravo_repl] = WatchUntil(
      h, [&] { return Repl(h, kBravo, kAlpha); }, [&] { return h.cluster.Healthy(); },
      60 * kSec);
  ASSERT_TRUE(healthy) << Dump(h);
  EXPECT_TRUE(Contains(bravo_repl, ReplState::kSyncTarget)) << ReplStates(bravo_repl) << Dump(h);
  EXPECT_EQ(PeerDev(h, kBravo, kAlpha).resync_total_bytes, 16 * kKiB)
      << "only the blocks verify found are resynced" << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// =====================================================================================
// Resize (§10.1) and snapshots
// =====================================================================================

// §11.2 row 39 — LINBIT tests `resize`, `resize-one`: every node's backing
// device has spare room beyond the agreed 4 MiB (the secondaries' spare area
// holds stale bytes). `resize` on the Primary grows the volume to the largest
// size all can offer; all nodes agree on it, writes beyond the old end work,
// and the new area is resynced from the Primary so all replicas end
// identical over the whole 8 MiB.
TEST(QuorumDiskScenario, S39_ResizeGrowsAndSyncsNewArea) {
  ClusterOptions o = Cluster(3);
  o.volume_bytes = 8 * kMiB;  // the grown backing devices
  SimHarness h(3901, o);
  const uint64_t old_size = 4 * kMiB;
  for (NodeId n : h.cluster.all()) ASSERT_TRUE(SetAgreedSize(h, n, old_size));
  for (NodeId n : {kBravo, kCharlie}) {
    for (uint64_t b = old_size / kAppBlock; b < o.volume_bytes / kAppBlock; b += 97) {
      Scribble(h, n, b, static_cast<uint8_t>(n.value()));
    }
  }
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  for (NodeId n : h.cluster.all()) ASSERT_EQ(SizeOf(h, n), old_size) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, 0).ok()) << Dump(h);
  const uint64_t new_block = old_size / kAppBlock + 5;
  AppResult beyond = h.Write(kAlpha, new_block);
  EXPECT_EQ(beyond.status, IoStatus::kInvalid) << "beyond the agreed size" << Dump(h);

  AdminDone d = h.cluster.AdminSync(kAlpha, "resize",
                                    [](Resource& r, uint64_t c) { r.Resize(c, kVol0, 0); });
  ASSERT_TRUE(d.ok()) << d.message << Dump(h);
  EXPECT_TRUE(WaitFor(h, [&] {
    for (NodeId n : h.cluster.all()) {
      if (SizeOf(h, n) != o.volume_bytes) return false;
    }
    return true;
  })) << "every node agrees on the new size"
      << Dump(h);
  AppResult grown = h.Write(kAlpha, new_block);
  EXPECT_TRUE(grown.ok()) << engine::IoStatusName(grown.status) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, o.volume_bytes / kAppBlock - 1).ok()) << Dump(h);

  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  for (NodeId n : {kBravo, kCharlie}) {
    EXPECT_EQ(PeerDev(h, n, kAlpha).resync_total_bytes, o.volume_bytes - old_size)
        << h.cluster.name(n) << " resyncs exactly the new area" << Dump(h);
  }
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// Online grow (metadata-format.md §9, docs/architecture.md "Online grow"):
// every node's backing device grows while alpha keeps writing; each node
// relocates its metadata, and the resize agreed afterwards syncs the new part.

engine::Superblock SuperblockOnDisk(SimHarness& h, NodeId n) {
  const Bytes& md = h.cluster.disk(n, kVol0)->Contents(DiskArea::kMeta);
  auto sb = engine::DecodeSuperblock(md);
  return sb.ok() ? *sb : engine::Superblock{};
}

uint64_t MdBytesFor(SimHarness& h, NodeId n, uint64_t data_bytes) {
  engine::Superblock sb = SuperblockOnDisk(h, n);
  auto l = engine::ComputeLayout(data_bytes, sb.max_peers, sb.al_ring_slots, false);
  return l.ok() ? l->md_bytes : 0;
}

TEST(QuorumDiskScenario, G1_OnlineGrowRelocatesMetadataWhileThePrimaryWrites) {
  ClusterOptions o = Cluster(3);
  o.volume_bytes = 4 * kMiB;
  o.max_volume_bytes = 260 * kMiB;  // past 128 MiB the bitmap needs a second page
  SimHarness h(6101, o);
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  const uint64_t old_md = SuperblockOnDisk(h, kAlpha).md_bytes;
  const uint64_t grown = o.max_volume_bytes;

  std::vector<PendingWrite> during;
  auto grow = [&](NodeId n) {
    auto result = std::make_shared<std::optional<AdminDone>>();
    h.cluster.StartGrow(n, kVol0, grown, [result](const AdminDone& d) { *result = d; });
    EXPECT_TRUE(WaitFor(h, [&] {
      // Writes all over the old area, so AL transactions and bitmap pages
      // are wanted while the metadata moves.
      if (during.size() < 400)
        during.push_back(SubmitWrite(h, kAlpha, (during.size() * 131) % 1024));
      return result->has_value();
    })) << Dump(h);
    return result->value_or(AdminDone{0, engine::SsCode::kTimeout, "no answer"});
  };
  for (NodeId n : {kAlpha, kBravo}) {
    AdminDone d = grow(n);
    ASSERT_TRUE(d.ok()) << h.cluster.name(n) << ": " << d.message << Dump(h);
  }
  EXPECT_EQ(SizeOf(h, kAlpha), 4 * kMiB) << "a grow alone changes no agreed size" << Dump(h);
  AdminDone early = h.cluster.AdminSync(
      kAlpha, "resize", [&](Resource& r, uint64_t c) { r.Resize(c, kVol0, grown); });
  EXPECT_FALSE(early.ok()) << "charlie's backing is still small" << Dump(h);
  EXPECT_EQ(SizeOf(h, kBravo), 4 * kMiB) << Dump(h);
  AdminDone d = grow(kCharlie);
  ASSERT_TRUE(d.ok()) << d.message << Dump(h);
  for (NodeId n : h.cluster.all()) {
    engine::Superblock sb = SuperblockOnDisk(h, n);
    EXPECT_EQ(sb.md_bytes, MdBytesFor(h, n, grown)) << h.cluster.name(n) << " uses the new layout";
    EXPECT_GT(sb.md_bytes, old_md);
    EXPECT_EQ(EventsInOrder(EventsOf(h, n), {"grow volume:0", "grow volume:0 backing:"}), true)
        << Dump(h);
  }
  // At once: charlie's new size may still be on its way to alpha.
  d = h.cluster.AdminSync(kAlpha, "resize",
                          [&](Resource& r, uint64_t c) { r.Resize(c, kVol0, grown); });
  ASSERT_EQ(d.code, engine::SsCode::kSuccess) << d.message << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] {
    for (NodeId n : h.cluster.all())
      if (SizeOf(h, n) != grown) return false;
    return true;
  })) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] {
    return std::all_of(during.begin(), during.end(),
                       [](const PendingWrite& w) { return w.done(); });
  })) << Dump(h);
  for (const PendingWrite& w : during) EXPECT_EQ(w.status(), IoStatus::kOk) << Dump(h);
  ASSERT_TRUE(h.Write(kAlpha, grown / kAppBlock - 1).ok()) << "the last block of the new part";
  ASSERT_TRUE(h.Write(kAlpha, 200 * kMiB / kAppBlock).ok()) << Dump(h);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  for (NodeId n : {kBravo, kCharlie})
    EXPECT_EQ(PeerDev(h, n, kAlpha).resync_total_bytes, grown - 4 * kMiB)
        << h.cluster.name(n) << " resyncs exactly the new part" << Dump(h);
  // A restart reads the relocated metadata.
  h.Crash(kBravo);
  ASSERT_TRUE(h.cluster.Restart(kBravo).ok()) << Dump(h);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  EXPECT_EQ(SizeOf(h, kBravo), grown) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// A node that crashes at any moment of its grow comes back with one valid
// metadata area, the old or the new, and loses nothing: the crash hits
// bravo (Secondary) or alpha (the writing Primary) at 40 points in time.
TEST(QuorumDiskScenario, G2_CrashDuringGrowKeepsOneValidMetadataArea) {
  int kept_old = 0, kept_new = 0;
  for (int i = 0; i < 40; ++i) {
    ClusterOptions o = Cluster(2);
    o.volume_bytes = 4 * kMiB;
    o.max_volume_bytes = 8 * kMiB;
    SimHarness h(6200 + i, o);
    ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
    ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
    NodeId victim = i % 2 ? kAlpha : kBravo;
    std::vector<PendingWrite> during;
    for (int k = 0; k < 32; ++k) during.push_back(SubmitWrite(h, kAlpha, (k * 37) % 1024));
    h.cluster.StartGrow(victim, kVol0, 8 * kMiB, nullptr);
    const Time at = h.sim.now() + (i / 2) * 60 * kUs;
    h.cluster.RunUntil([&] { return h.sim.now() >= at; }, 1 * kSec, 10 * kUs);
    h.Crash(victim);
    ASSERT_TRUE(h.cluster.Restart(victim).ok()) << "crash " << i << Dump(h);
    uint64_t data = h.cluster.disk(victim, kVol0)->size(DiskArea::kData);
    ASSERT_TRUE(data == 4 * kMiB || data == 8 * kMiB) << data;
    EXPECT_EQ(SuperblockOnDisk(h, victim).md_bytes, MdBytesFor(h, victim, data))
        << "crash " << i << ": the metadata describes the disk it is on" << Dump(h);
    (data == 4 * kMiB ? kept_old : kept_new)++;
    ASSERT_TRUE(WaitFor(h, [&] {
      return std::all_of(during.begin(), during.end(),
                         [](const PendingWrite& w) { return w.done(); });
    })) << Dump(h);
    if (victim == kAlpha) {
      // Promoted again once reconnected (alone, without quorum, it would
      // split the brain).
      ASSERT_TRUE(h.WaitHealthy()) << "crash " << i << Dump(h);
      ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
    }
    for (int k = 0; k < 16; ++k) ASSERT_TRUE(h.Write(kAlpha, (k * 53) % 1024).ok()) << Dump(h);
    ASSERT_TRUE(h.WaitHealthy()) << "crash " << i << Dump(h);
    h.FinalChecks();
    ASSERT_FALSE(h.cluster.failed()) << "crash " << i << Dump(h);
  }
  EXPECT_GT(kept_old, 0) << "some crashes came before the new superblock";
  EXPECT_GT(kept_new, 0) << "some after";
}

// Grow refusals change nothing.
TEST(QuorumDiskScenario, G3_BadGrowsAreRefused) {
  ClusterOptions o = Cluster(2);
  o.max_volume_bytes = 8 * kMiB;
  SimHarness h(6301, o);
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  const engine::Superblock before = SuperblockOnDisk(h, kBravo);
  AdminDone d = h.cluster.Grow(kBravo, kVol0, 2 * kMiB);
  EXPECT_EQ(d.code, engine::SsCode::kShrink) << d.message;
  d = h.cluster.Grow(kBravo, kVol0, o.volume_bytes);
  EXPECT_EQ(d.code, engine::SsCode::kNothingToDo) << d.message;
  EXPECT_EQ(h.cluster.disk(kBravo, kVol0)->size(DiskArea::kData), o.volume_bytes);
  EXPECT_EQ(SuperblockOnDisk(h, kBravo).md_bytes, before.md_bytes);
  ASSERT_TRUE(h.cluster.Detach(kBravo, kVol0).ok()) << Dump(h);
  d = h.cluster.Grow(kBravo, kVol0, 8 * kMiB);
  EXPECT_EQ(d.code, engine::SsCode::kNoLocalDisk) << d.message;
  EXPECT_EQ(h.cluster.disk(kBravo, kVol0)->size(DiskArea::kData), o.volume_bytes)
      << "a refused grow leaves the disk as it was";
  ASSERT_TRUE(h.cluster.Attach(kBravo, kVol0).ok()) << Dump(h);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// =====================================================================================
// Membership changes: adjust with a new node set (Resource::Reconfigure)
// =====================================================================================

// The nodes of a cluster of `n`, without those in `out`.
std::vector<engine::NodeConfig> NodesWithout(const SimHarness& h, std::vector<NodeId> out) {
  std::vector<engine::NodeConfig> nodes;
  for (int i = 0; i < h.cluster.size(); ++i) {
    NodeId id = h.cluster.node(i);
    if (std::find(out.begin(), out.end(), id) != out.end()) continue;
    nodes.push_back({id, h.cluster.name(id), h.cluster.diskless(id)});
  }
  return nodes;
}

// The slot record `peer` has in `n`'s superblock as it is on disk now.
engine::MdPeerSlot SlotOnDisk(SimHarness& h, NodeId n, NodeId peer) {
  const Bytes& md = h.cluster.disk(n, kVol0)->Contents(DiskArea::kMeta);
  auto sb = engine::DecodeSuperblock(md);
  return sb.ok() ? sb->peers[peer.value()] : engine::MdPeerSlot{.bitmap_index = -99};
}

// LINSTOR's evacuation, as the engine sees it: alpha is Primary of alpha,
// bravo and charlie (quorum on) and keeps writing while delta joins (every
// member is adjusted to the four-node set; delta comes up and full-syncs
// from the others) and charlie then leaves (adjusted out everywhere, then
// taken down). No write fails, quorum holds throughout, charlie's bitmap slot
// on alpha is freed, and alpha, bravo and delta end identical.
TEST(QuorumDiskScenario, M1_ReplicaMovesToAJoiningNodeWhileThePrimaryWrites) {
  ClusterOptions o = QuorumCluster(4, OnNoQuorum::kIoError);
  o.trace_capacity = 20000;
  o.adjust = [](engine::ResourceConfig* c) {
    if (c->self == kDelta) return;
    std::erase_if(c->nodes, [](const engine::NodeConfig& n) { return n.id == kDelta; });
  };
  SimHarness h(5101, o);
  h.cluster.SetMember(kDelta, false);
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  for (uint64_t b = 0; b < 64; ++b) ASSERT_TRUE(h.Write(kAlpha, b * 13).ok()) << Dump(h);

  // delta joins.
  for (NodeId n : {kAlpha, kBravo, kCharlie}) {
    AdminDone d = h.cluster.Reconfigure(n, NodesWithout(h, {}));
    ASSERT_TRUE(d.ok()) << d.message << Dump(h);
    EXPECT_EQ(Conn(h, n, kDelta), ConnState::kStandAlone) << "a new peer starts StandAlone";
  }
  h.cluster.SetMember(kDelta, true);
  ASSERT_TRUE(h.cluster.Up(kDelta).ok()) << Dump(h);
  for (NodeId n : {kAlpha, kBravo, kCharlie}) ASSERT_TRUE(h.cluster.ConnectAll(n).ok()) << Dump(h);
  std::vector<PendingWrite> during;
  ASSERT_TRUE(WaitFor(h, [&] {
    if (during.size() < 200) during.push_back(SubmitWrite(h, kAlpha, (during.size() * 7) % 1000));
    return Disk(h, kDelta) == DiskState::kUpToDate && BothConnected(h, kDelta, kAlpha) &&
           BothConnected(h, kDelta, kBravo) && BothConnected(h, kDelta, kCharlie);
  })) << "delta syncs and connects to every member" << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] {
    return std::all_of(during.begin(), during.end(), [](const PendingWrite& w) { return w.done(); });
  })) << Dump(h);
  for (const PendingWrite& w : during) EXPECT_EQ(w.status(), IoStatus::kOk) << Dump(h);
  EXPECT_GT(PeerDev(h, kDelta, kAlpha).resync_total_bytes + PeerDev(h, kDelta, kBravo).resync_total_bytes +
                PeerDev(h, kDelta, kCharlie).resync_total_bytes,
            0u)
      << "delta's data came by resync" << Dump(h);

  // charlie leaves.
  ASSERT_GE(SlotOnDisk(h, kAlpha, kCharlie).bitmap_index, 0) << Dump(h);
  for (NodeId n : {kAlpha, kBravo, kDelta}) {
    AdminDone d = h.cluster.Reconfigure(n, NodesWithout(h, {kCharlie}));
    ASSERT_TRUE(d.ok()) << d.message << Dump(h);
    EXPECT_FALSE(ConnTo(h, n, kCharlie).has_value())
        << h.cluster.name(n) << " has forgotten charlie" << Dump(h);
    EXPECT_TRUE(Quorum(h, n)) << h.cluster.name(n) << Dump(h);
  }
  EXPECT_TRUE(WaitFor(h, [&] { return SlotOnDisk(h, kAlpha, kCharlie) == engine::MdPeerSlot{}; }))
      << "charlie's bitmap slot is free for the next node" << Dump(h);
  AdminDone down = h.cluster.AdminSync(kCharlie, "down", [](Resource& r, uint64_t c) { r.Down(c); });
  ASSERT_TRUE(down.ok()) << down.message << Dump(h);
  h.cluster.SetMember(kCharlie, false);
  for (uint64_t b = 0; b < 64; ++b) ASSERT_TRUE(h.Write(kAlpha, 500 + b).ok()) << Dump(h);
  EXPECT_TRUE(Quorum(h, kAlpha)) << "two of the three members are enough" << Dump(h);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// A node id that now names another node (charlie left, a new node got its id)
// is forgotten and added anew: the old connection closes and charlie's slot is
// freed, so nothing charlie's bitmap said is taken for the newcomer.
TEST(QuorumDiskScenario, M3_AReusedNodeIdStartsFresh) {
  SimHarness h(5301, Cluster(3));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_GE(SlotOnDisk(h, kAlpha, kCharlie).bitmap_index, 0) << Dump(h);
  auto renamed = NodesWithout(h, {});
  renamed[2].name = "newcomer";
  AdminDone d = h.cluster.Reconfigure(kAlpha, renamed);
  ASSERT_TRUE(d.ok()) << d.message << Dump(h);
  auto c = ConnTo(h, kAlpha, kCharlie);
  ASSERT_TRUE(c.has_value()) << Dump(h);
  EXPECT_EQ(c->name, "newcomer");
  EXPECT_EQ(c->conn, ConnState::kStandAlone) << "a new peer starts StandAlone" << Dump(h);
  EXPECT_TRUE(WaitFor(h, [&] { return SlotOnDisk(h, kAlpha, kCharlie) == engine::MdPeerSlot{}; }))
      << "the old node's slot is freed" << Dump(h);
  EXPECT_TRUE(BothConnected(h, kAlpha, kBravo)) << Dump(h);
}

// A node set that leaves this node out, lists a node twice or changes this
// node's own disk is refused, and nothing changes.
TEST(QuorumDiskScenario, M2_BadNodeSetsAreRefusedAndChangeNothing) {
  SimHarness h(5201, Cluster(3));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  auto without_self = NodesWithout(h, {kAlpha});
  auto twice = NodesWithout(h, {});
  twice.push_back(twice.back());
  auto self_diskless = NodesWithout(h, {});
  self_diskless[0].diskless = true;
  auto bad_id = NodesWithout(h, {});
  bad_id.push_back({NodeId(static_cast<uint8_t>(kMaxNodes)), "far", false});
  struct Case {
    const char* what;
    std::vector<engine::NodeConfig> nodes;
    engine::SsCode code;
  };
  for (const Case& c : {Case{"without self", without_self, engine::SsCode::kInvalidArgument},
                        Case{"a node twice", twice, engine::SsCode::kInvalidArgument},
                        Case{"own disk", self_diskless, engine::SsCode::kNotSupported},
                        Case{"id out of range", bad_id, engine::SsCode::kInvalidArgument}}) {
    AdminDone d = h.cluster.Reconfigure(kAlpha, c.nodes);
    EXPECT_EQ(d.code, c.code) << c.what << ": " << d.message;
    EXPECT_FALSE(d.message.empty()) << c.what;
    EXPECT_EQ(St(h, kAlpha).connections.size(), 2u) << c.what << Dump(h);
    EXPECT_TRUE(BothConnected(h, kAlpha, kBravo) && BothConnected(h, kAlpha, kCharlie))
        << c.what << Dump(h);
    EXPECT_EQ(h.cluster.config(kAlpha).nodes.size(), 3u) << c.what;
  }
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

// A full sync on backing devices larger than the agreed size (thin files of
// different gross sizes, as satellites make them): the source marks only the
// agreed size out of sync, so once the target is UpToDate nothing is left to
// resync. (Marking up to the backing size left bits the target never asks
// for: the pair resynced them again every second, for ever.)
TEST(QuorumDiskScenario, FullSyncOnLargerBackingEndsOnce) {
  ClusterOptions o = Cluster(2);
  o.volume_bytes = 8 * kMiB;
  o.trace_capacity = 20000;
  SimHarness h(4401, o);
  for (NodeId n : h.cluster.all()) ASSERT_TRUE(SetAgreedSize(h, n, 4 * kMiB));
  ASSERT_TRUE(h.cluster.UpAll()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha, /*force=*/true).ok()) << Dump(h);
  ASSERT_TRUE(WaitFor(h, [&] { return Disk(h, kBravo) == DiskState::kUpToDate; })) << Dump(h);
  h.cluster.RunFor(10 * kSec);
  int starts = 0;
  for (const std::string& e : EventsOf(h, kBravo))
    if (e.find("resync-start") != std::string::npos) ++starts;
  EXPECT_EQ(starts, 1) << "one full sync, then nothing" << Dump(h);
  EXPECT_EQ(OutOfSync(h, kAlpha, kBravo), 0u) << Dump(h);
  EXPECT_EQ(PeerDev(h, kBravo, kAlpha).resync_total_bytes, 4 * kMiB) << Dump(h);
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
}

// §11.2 row 43 — LINBIT test `consistent-snapshots`: with many writes in
// flight on the Primary, once they completed and a flush on the Primary
// completed, the backing devices of all diskful nodes are byte-identical,
// both as read now and as would survive a power loss (a snapshot taken then
// is consistent across nodes).
TEST(QuorumDiskScenario, S43_FlushSettlesIdenticalBackingDevices) {
  SimHarness h(4301, Cluster(3));
  ASSERT_TRUE(h.UpSkipSync()) << Dump(h);
  ASSERT_TRUE(h.cluster.Primary(kAlpha).ok()) << Dump(h);
  std::vector<PendingWrite> writes;
  for (uint64_t i = 0; i < 48; ++i) writes.push_back(SubmitWrite(h, kAlpha, (i * 37) % 1000));
  ASSERT_TRUE(WaitFor(h, [&] {
    return std::all_of(writes.begin(), writes.end(), [](const PendingWrite& w) { return w.done(); });
  })) << Dump(h);
  for (const PendingWrite& w : writes) ASSERT_EQ(w.status(), IoStatus::kOk) << Dump(h);
  ASSERT_TRUE(h.Flush(kAlpha).ok()) << Dump(h);

  const SimDisk* ref = h.cluster.disk(kAlpha, kVol0);
  for (NodeId n : {kBravo, kCharlie}) {
    const SimDisk* d = h.cluster.disk(n, kVol0);
    EXPECT_TRUE(d->Contents(DiskArea::kData) == ref->Contents(DiskArea::kData))
        << h.cluster.name(n) << " differs from alpha right after the flush" << Dump(h);
    EXPECT_TRUE(d->DurableContents(DiskArea::kData) == ref->DurableContents(DiskArea::kData))
        << h.cluster.name(n) << "'s durable image differs from alpha's after the flush" << Dump(h);
  }
  ASSERT_TRUE(h.WaitHealthy()) << Dump(h);
  h.FinalChecks();
  EXPECT_FALSE(h.cluster.failed()) << Dump(h);
}

}  // namespace
}  // namespace tandem::sim
