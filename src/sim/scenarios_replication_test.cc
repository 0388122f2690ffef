// The scenario catalogue of drbd-semantics.md §11.2 (replication, roles,
// split brain, resync, crash recovery), one TEST per row, run against the
// engine under the deterministic simulator (label `sim`).
//
// Each TEST names its row ("S05" is row 5) and the LINBIT/drbd9-tests test it
// mirrors. The steps are those of the row; the assertions are the states the
// row lists (role, disk, connection, replication, peer disk, resync amounts)
// and every test ends with the data comparison (WaitHealthy + FinalChecks) or
// the row's own end state. Every run uses seed 1 and is deterministic.
//
// Rows not covered here because the engine does not implement what they
// need: 24 and 25 (fencing handlers), 36 (Ahead/Behind congestion).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/metadata.h"
#include "sim/harness.h"
#include "sim/stamp.h"

namespace tandem::sim {
namespace {

using engine::AdminDone;
using engine::ConnState;
using engine::DiskState;
using engine::MsgType;
using engine::ReplState;
using engine::Role;
using engine::SsCode;

constexpr uint64_t kSeed = 1;
constexpr size_t kTraceCapacity = 2'000'000;
const VolumeNr kV0{0};
const NodeId kAlpha{0};
const NodeId kBravo{1};
const NodeId kCharlie{2};
const NodeId kDelta{3};

// Options every scenario starts from: `nodes` nodes, 4 MiB volume, DRBD's
// defaults, a trace long enough to hold the whole run (the tests read it like
// drbdsetup events2).
ClusterOptions BaseOptions(int nodes) {
  ClusterOptions o;
  o.nodes = nodes;
  o.volume_bytes = 4ull << 20;
  o.trace_capacity = kTraceCapacity;
  // Far above what any scenario needs (the largest, S44, runs about 110 000 events):
  // a livelocked engine fails in about a second instead of running for minutes.
  o.max_events = 1'000'000;
  return o;
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// A UUID without its "Primary" bit (drbd-semantics.md §5.1).
uint64_t Gen(uint64_t uuid) { return uuid & ~1ull; }

// One "resync-start" event line, parsed.
struct ResyncStart {
  std::string who;
  std::string role;  // SyncSource / SyncTarget
  int peer = -1;
  unsigned long long kib = 0;
};

class Scenario : public ::testing::Test {
 protected:
  void Make(ClusterOptions options) {
    h_ = std::make_unique<SimHarness>(kSeed, std::move(options));
  }

  void TearDown() override {
    if (!h_) return;
    EXPECT_FALSE(h_->cluster.failed()) << h_->cluster.failure() << "\n" << Dump();
    EXPECT_LT(h_->cluster.trace().size(), kTraceCapacity) << "trace overflowed: marks are off";
  }

  SimHarness& h() { return *h_; }
  SimCluster& c() { return h_->cluster; }
  const std::string& Name(NodeId n) { return c().name(n); }

  // --- status
  std::optional<engine::ResourceStatus> St(NodeId n) { return c().Status(n); }
  Role RoleOf(NodeId n) {
    auto st = St(n);
    return st ? st->role : Role::kUnknown;
  }
  DiskState DiskOf(NodeId n) {
    auto st = St(n);
    return st && !st->volumes.empty() ? st->volumes[0].disk : DiskState::kDiskless;
  }
  uint64_t UuidOf(NodeId n) {
    auto st = St(n);
    return st && !st->volumes.empty() ? st->volumes[0].current_uuid : 0;
  }
  std::optional<engine::ConnectionStatus> ConnStatus(NodeId n, NodeId peer) {
    auto st = St(n);
    if (!st) return std::nullopt;
    for (const auto& cs : st->connections) {
      if (cs.peer == peer) return cs;
    }
    return std::nullopt;
  }
  ConnState ConnOf(NodeId n, NodeId peer) {
    auto cs = ConnStatus(n, peer);
    return cs ? cs->conn : ConnState::kStandAlone;
  }
  engine::PeerDeviceStatus PeerDev(NodeId n, NodeId peer) {
    auto cs = ConnStatus(n, peer);
    if (!cs || cs->volumes.empty()) return engine::PeerDeviceStatus{};
    return cs->volumes[0];
  }
  ReplState ReplOf(NodeId n, NodeId peer) { return PeerDev(n, peer).repl; }
  DiskState PeerDiskOf(NodeId n, NodeId peer) { return PeerDev(n, peer).peer_disk; }
  uint64_t OosOf(NodeId n, NodeId peer) { return PeerDev(n, peer).out_of_sync_bytes; }

  // Both ends Connected and Established to each other.
  bool Established(NodeId a, NodeId b) {
    return ConnOf(a, b) == ConnState::kConnected && ConnOf(b, a) == ConnState::kConnected &&
           ReplOf(a, b) == ReplState::kEstablished && ReplOf(b, a) == ReplState::kEstablished;
  }
  bool StandAloneBoth(NodeId a, NodeId b) {
    return ConnOf(a, b) == ConnState::kStandAlone && ConnOf(b, a) == ConnState::kStandAlone;
  }

  // Runs until pred() holds (polled every simulated millisecond).
  bool WaitFor(const std::function<bool()>& pred, Time timeout = 60 * kSec) {
    return c().RunUntil(pred, timeout, 1 * kMs);
  }

  // --- the trace as an events2 stream
  size_t Mark() { return c().trace().size(); }
  // Lines at or after `mark` logged by `who` (any node when empty) that
  // contain `needle`.
  std::vector<std::string> Lines(size_t mark, const std::string& who, const std::string& needle) {
    std::vector<std::string> out;
    const auto& t = c().trace();
    for (size_t i = mark; i < t.size(); ++i) {
      const std::string& line = t[i];
      size_t a = line.find(' ');
      if (a == std::string::npos) continue;
      size_t b = line.find(' ', a + 1);
      if (b == std::string::npos) continue;
      if (!who.empty() && line.compare(a + 1, b - a - 1, who) != 0) continue;
      if (line.find(needle, b) != std::string::npos) out.push_back(line);
    }
    return out;
  }
  bool Logged(size_t mark, NodeId who, const std::string& needle) {
    return !Lines(mark, Name(who), needle).empty();
  }
  std::vector<ResyncStart> ResyncStarts(size_t mark) {
    std::vector<ResyncStart> out;
    for (const std::string& line : Lines(mark, "", " resync-start ")) {
      ResyncStart r;
      size_t a = line.find(' ');
      size_t b = line.find(' ', a + 1);
      r.who = line.substr(a + 1, b - a - 1);
      char role[32] = {0};
      unsigned vol = 0;
      const char* rest = line.c_str() + line.find("resync-start");
      if (std::sscanf(
              rest,
              "resync-start name:%*s peer-node-id:%d volume:%u role:%31s out-of-sync-kib:%llu",
              &r.peer, &vol, role, &r.kib) == 4) {
        r.role = role;
        out.push_back(r);
      }
    }
    return out;
  }
  // Every resync started since `mark`, as sorted "source->target kib (side)"
  // strings, one per end.
  std::vector<std::string> Resyncs(size_t mark) {
    std::vector<std::string> out;
    for (const ResyncStart& r : ResyncStarts(mark)) {
      std::string peer = NodeNameFor(r.peer);
      if (r.role == "SyncSource") {
        out.push_back(r.who + "->" + peer + " " + std::to_string(r.kib) + " KiB (source)");
      } else {
        out.push_back(peer + "->" + r.who + " " + std::to_string(r.kib) + " KiB (target)");
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // What Resyncs() shows for one resync of `kib` from `src` to `dst`.
  static std::vector<std::string> OneResync(NodeId src, NodeId dst, unsigned long long kib) {
    std::string s = NodeNameFor(src.value()) + "->" + NodeNameFor(dst.value()) + " " +
                    std::to_string(kib) + " KiB";
    return {s + " (source)", s + " (target)"};
  }
  static std::string Join(const std::vector<std::string>& v) {
    std::string s = "[";
    for (const auto& x : v) s += (s.size() > 1 ? ", " : "") + x;
    return s + "]";
  }

  // Status of every node and the end of the trace, for failure messages.
  std::string Dump(size_t tail = 250) {
    std::string s = "--- status\n";
    for (NodeId n : c().all()) s += c().StatusLine(n) + "\n";
    s += "--- last trace lines\n";
    const auto& t = c().trace();
    for (size_t i = t.size() > tail ? t.size() - tail : 0; i < t.size(); ++i) s += t[i] + "\n";
    return s;
  }

  // --- I/O
  // A write recorded in the history that this test does not wait for.
  std::shared_ptr<std::optional<AppResult>> WriteAsync(NodeId n, uint64_t block, bool fua = false) {
    auto result = std::make_shared<std::optional<AppResult>>();
    uint64_t seq = h().history.BeginWrite(n, kV0, block, 1, false, fua, h().sim.now());
    Bytes buf(kAppBlock);
    FillStampedBlock(Stamp{n.value(), 0, block, seq}, buf.data());
    engine::AppRequest req;
    req.vnr = kV0;
    req.op = engine::AppOp::kWrite;
    req.offset = block * kAppBlock;
    req.length = kAppBlock;
    req.fua = fua;
    req.data = MakeShared(std::move(buf));
    SimHarness* hp = h_.get();
    c().Submit(n, std::move(req), [hp, seq, result](const AppResult& r) {
      hp->history.EndWrite(seq, r.ok() ? WriteOutcome::kAcked : WriteOutcome::kUnknown,
                           hp->sim.now());
      *result = r;
    });
    return result;
  }
  // A write the history does not know about (two writers on one block).
  std::shared_ptr<std::optional<AppResult>> RawWrite(NodeId n, uint64_t block, uint8_t fill) {
    auto result = std::make_shared<std::optional<AppResult>>();
    engine::AppRequest req;
    req.vnr = kV0;
    req.op = engine::AppOp::kWrite;
    req.offset = block * kAppBlock;
    req.length = kAppBlock;
    req.data = MakeShared(Bytes(kAppBlock, fill));
    c().Submit(n, std::move(req), [result](const AppResult& r) { *result = r; });
    return result;
  }
  Bytes BlockOf(NodeId n, uint64_t block, bool durable = false) {
    SimDisk* d = c().disk(n, kV0);
    const Bytes& all = durable ? d->DurableContents(engine::DiskArea::kData)
                               : d->Contents(engine::DiskArea::kData);
    return Bytes(all.begin() + static_cast<long>(block * kAppBlock),
                 all.begin() + static_cast<long>((block + 1) * kAppBlock));
  }
  Bytes DataOf(NodeId n) { return c().disk(n, kV0)->Contents(engine::DiskArea::kData); }

  // Data comparison for scenarios that discard one side's writes on purpose
  // (split brain): the invariant-5 history check would flag the discarded
  // writes, so check roles and identical replicas, and that every diskful
  // replica now holds exactly `survivor_data`.
  void ExpectConvergedTo(const Bytes& survivor_data) {
    std::string why;
    ASSERT_TRUE(c().Healthy(&why)) << why << "\n" << Dump();
    h().checkers.CheckRoles();
    h().checkers.CheckConverged();
    ASSERT_FALSE(c().failed()) << c().failure() << "\n" << Dump();
    for (NodeId n : c().all()) {
      if (c().diskless(n)) continue;
      EXPECT_TRUE(DataOf(n) == survivor_data)
          << Name(n) << " does not hold the survivor's data after the resolution\n"
          << Dump();
    }
  }

  // --- row 6
  // Split brain for the after-sb policies: alpha is Primary when both ends
  // disconnect and writes `first_blocks` blocks (then demotes unless
  // `first_stays_primary`); bravo then becomes Primary, writes
  // `second_blocks` blocks and demotes. *survivor_data: the data of the node
  // that should win, taken before they meet again.
  void RunSplit(int first_blocks, int second_blocks, bool first_stays_primary, NodeId survivor,
                Bytes* survivor_data) {
    ASSERT_TRUE(h().UpSkipSync()) << Dump();
    ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
    ASSERT_TRUE(c().Disconnect(kAlpha, kBravo).ok()) << Dump();
    ASSERT_TRUE(c().Disconnect(kBravo, kAlpha).ok()) << Dump();
    for (int i = 0; i < first_blocks; ++i) ASSERT_TRUE(h().Write(kAlpha, 10 + i).ok()) << Dump();
    if (!first_stays_primary) {
      ASSERT_TRUE(c().Secondary(kAlpha).ok()) << Dump();
    }
    if (second_blocks > 0) {
      ASSERT_TRUE(c().Primary(kBravo).ok()) << Dump();
      for (int i = 0; i < second_blocks; ++i)
        ASSERT_TRUE(h().Write(kBravo, 100 + i).ok()) << Dump();
      ASSERT_TRUE(c().Secondary(kBravo).ok()) << Dump();
    }
    *survivor_data = DataOf(survivor);
  }
  // Reconnects and checks the automatic recovery: no StandAlone, `target`
  // SyncTarget of a bitmap resync of `kib`, data = the survivor's.
  void ReconnectExpectRecovery(NodeId source, NodeId target, unsigned long long kib,
                               const Bytes& survivor_data) {
    size_t mark = Mark();
    ASSERT_TRUE(c().Connect(kAlpha, kBravo).ok()) << Dump();
    ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
    ASSERT_TRUE(h().WaitHealthy(120 * kSec)) << Dump();
    EXPECT_TRUE(Lines(mark, "", "split-brain name:").empty()) << "the policy must resolve it\n"
                                                              << Dump();
    EXPECT_TRUE(Lines(mark, "", "connection:StandAlone").empty()) << Dump();
    EXPECT_TRUE(Logged(mark, target, "replication:SyncTarget")) << Dump();
    EXPECT_TRUE(Logged(mark, source, "replication:SyncSource")) << Dump();
    EXPECT_EQ(Resyncs(mark), OneResync(source, target, kib)) << Dump();
    ASSERT_NO_FATAL_FAILURE(ExpectConvergedTo(survivor_data));
  }

  // --- row 8
  // alpha (first Primary) drops its connections, charlie is promoted and
  // writes 3 blocks (p2 ahead); bravo stays Secondary throughout.
  void PromoteBoth() {
    ASSERT_TRUE(h().UpSkipSync()) << Dump();
    ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
    ASSERT_TRUE(WaitFor([&] { return ConnStatus(kCharlie, kAlpha)->peer_role == Role::kPrimary; }))
        << Dump();
    ASSERT_TRUE(c().Disconnect(kAlpha, kBravo).ok()) << Dump();
    ASSERT_TRUE(c().Disconnect(kAlpha, kCharlie).ok()) << Dump();
    ASSERT_TRUE(WaitFor([&] {
      return ConnOf(kBravo, kAlpha) == ConnState::kConnecting &&
             ConnOf(kCharlie, kAlpha) == ConnState::kConnecting;
    })) << Dump();
    AdminDone d = c().Primary(kCharlie);
    ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
    for (uint64_t b = 0; b < 3; ++b) ASSERT_TRUE(h().Write(kCharlie, 40 + b).ok()) << Dump();
  }

  // --- row 44
  // Random writes over a 64 MiB volume (16 AL extents) with al-extents 7, with
  // the Primary crashing (writes in flight) twice and the Secondary once; after
  // every recovery the replicas are identical and hold every durable write.
  void AlStressRun() {
    ASSERT_TRUE(h().UpSkipSync()) << Dump();
    const uint64_t blocks = c().volume_bytes() / kAppBlock;
    NodeId primary = kAlpha;
    ASSERT_TRUE(c().Primary(primary).ok()) << Dump();
    // Crash the Primary, then the Secondary, then the Primary again.
    for (int round = 0; round < 3; ++round) {
      SCOPED_TRACE("round " + std::to_string(round));
      for (int i = 0; i < 80; ++i) {
        uint64_t b = h().sim.Uniform(0, blocks - 1);
        if (h().history.Busy(kV0, b)) continue;
        ASSERT_TRUE(h().Write(primary, b, 1, /*fua=*/i % 10 == 0).ok()) << Dump();
      }
      ASSERT_TRUE(h().Flush(primary).ok()) << Dump();
      for (int i = 0; i < 8; ++i) {
        uint64_t b = h().sim.Uniform(0, blocks - 1);
        if (!h().history.Busy(kV0, b)) WriteAsync(primary, b);
      }
      c().RunFor(300 * kUs);
      NodeId victim = round == 1 ? (primary == kAlpha ? kBravo : kAlpha) : primary;
      NodeId other = victim == kAlpha ? kBravo : kAlpha;
      h().Crash(victim);
      ASSERT_TRUE(WaitFor([&] { return c().app_inflight() == 0; }, 30 * kSec)) << Dump();
      if (victim == primary) {
        // Fail over: the survivor takes over and writes while the other is down.
        ASSERT_TRUE(WaitFor([&] { return ConnOf(other, victim) != ConnState::kConnected; }))
            << Dump();
        AdminDone d = c().Primary(other);
        ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
        primary = other;
      }
      for (int i = 0; i < 20; ++i) {
        uint64_t b = h().sim.Uniform(0, blocks - 1);
        if (h().history.Busy(kV0, b)) continue;
        ASSERT_TRUE(h().Write(primary, b).ok()) << Dump();
      }
      AdminDone d = c().Restart(victim);
      ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
      ASSERT_TRUE(h().WaitHealthy(600 * kSec)) << Dump();
      h().checkers.CheckConverged();
      ASSERT_FALSE(c().failed()) << c().failure() << "\n" << Dump();
    }
    h().FinalChecks();
  }

  std::unique_ptr<SimHarness> h_;
};

// --- Row 1 [connect, resync-initial] -------------------------------------------

// Fresh metadata on both nodes: Inconsistent, Connected/Established, no sync;
// `primary --force` on alpha makes it UpToDate and starts a full sync to bravo.
TEST_F(Scenario, S01_FreshMetadataPrimaryForceFullSync) {
  Make(BaseOptions(2));
  ASSERT_TRUE(c().UpAll()) << Dump();
  ASSERT_TRUE(WaitFor([&] { return Established(kAlpha, kBravo); })) << Dump();
  c().RunFor(2 * kSec);
  for (NodeId n : {kAlpha, kBravo}) {
    NodeId peer = n == kAlpha ? kBravo : kAlpha;
    EXPECT_EQ(DiskOf(n), DiskState::kInconsistent) << Dump();
    EXPECT_EQ(PeerDiskOf(n, peer), DiskState::kInconsistent) << Dump();
    EXPECT_EQ(ConnOf(n, peer), ConnState::kConnected) << Dump();
    EXPECT_EQ(ReplOf(n, peer), ReplState::kEstablished) << Dump();
  }
  EXPECT_TRUE(ResyncStarts(0).empty())
      << "fresh metadata must not sync: " << Join(Resyncs(0)) << "\n"
      << Dump();

  size_t mark = Mark();
  AdminDone d = c().Primary(kAlpha, /*force=*/true);
  ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
  EXPECT_EQ(DiskOf(kAlpha), DiskState::kUpToDate) << Dump();
  EXPECT_EQ(RoleOf(kAlpha), Role::kPrimary) << Dump();
  for (uint64_t b = 0; b < 4; ++b) ASSERT_TRUE(h().Write(kAlpha, b * 100).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  // The whole 4 MiB device, from alpha to bravo, once.
  EXPECT_EQ(Resyncs(mark), OneResync(kAlpha, kBravo, 4096)) << Dump();
  EXPECT_TRUE(Logged(mark, kBravo, "replication:SyncTarget")) << Dump();
  h().FinalChecks();
}

// --- Row 2 [setup of many tests] --------------------------------------------------

// new-current-uuid --clear-bitmap after the first connect: both UpToDate at
// once, nothing out of sync, no resync.
TEST_F(Scenario, S02_SkipInitialSyncBothUpToDate) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  for (NodeId n : {kAlpha, kBravo}) {
    NodeId peer = n == kAlpha ? kBravo : kAlpha;
    EXPECT_EQ(DiskOf(n), DiskState::kUpToDate) << Dump();
    EXPECT_EQ(PeerDiskOf(n, peer), DiskState::kUpToDate) << Dump();
    EXPECT_EQ(ReplOf(n, peer), ReplState::kEstablished) << Dump();
    EXPECT_EQ(OosOf(n, peer), 0u) << Dump();
  }
  EXPECT_TRUE(ResyncStarts(0).empty()) << Join(Resyncs(0)) << "\n" << Dump();
  EXPECT_EQ(Gen(UuidOf(kAlpha)), Gen(UuidOf(kBravo))) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  for (uint64_t b = 0; b < 8; ++b) ASSERT_TRUE(h().Write(kAlpha, b * 31).ok()) << Dump();
  ASSERT_TRUE(h().Flush(kAlpha).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// --- Row 3 [resync, invalidate] -----------------------------------------------------

// The Secondary disconnects, the Primary writes one block, the Secondary
// reconnects: a bitmap resync of exactly that block, bravo Inconsistent then
// UpToDate.
TEST_F(Scenario, S03_SecondaryDisconnectBitmapResyncOfWrittenBlock) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  ASSERT_TRUE(c().Disconnect(kBravo, kAlpha).ok()) << Dump();
  ASSERT_TRUE(WaitFor([&] { return ConnOf(kAlpha, kBravo) != ConnState::kConnected; })) << Dump();
  EXPECT_EQ(ConnOf(kBravo, kAlpha), ConnState::kStandAlone) << Dump();

  ASSERT_TRUE(h().Write(kAlpha, 17).ok()) << Dump();
  EXPECT_EQ(OosOf(kAlpha, kBravo), uint64_t{kAppBlock}) << Dump();

  size_t mark = Mark();
  ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  EXPECT_EQ(Resyncs(mark), OneResync(kAlpha, kBravo, 4)) << Dump();
  EXPECT_TRUE(Logged(mark, kBravo, "disk:Inconsistent")) << "bravo never went Inconsistent\n"
                                                         << Dump();
  EXPECT_EQ(DiskOf(kBravo), DiskState::kUpToDate) << Dump();
  EXPECT_EQ(OosOf(kAlpha, kBravo), 0u) << Dump();
  h().FinalChecks();
}

// A SyncTarget may be promoted while its UpToDate source is connected; its
// first write starts a new generation, which the source follows. When the
// resync ends the Primary keeps that generation instead of taking back the
// source's older current UUID (§5.2, §5.3); a reconnect then needs no resync.
TEST_F(Scenario, S03b_PrimarySyncTargetKeepsItsGeneration) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  ASSERT_TRUE(c().Disconnect(kBravo, kAlpha).ok()) << Dump();
  ASSERT_TRUE(WaitFor([&] { return ConnOf(kAlpha, kBravo) != ConnState::kConnected; })) << Dump();
  for (uint64_t b = 0; b < 256; ++b) ASSERT_TRUE(h().Write(kAlpha, b).ok()) << Dump();
  ASSERT_TRUE(c().Secondary(kAlpha).ok()) << Dump();
  ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
  ASSERT_TRUE(WaitFor([&] { return ReplOf(kBravo, kAlpha) == ReplState::kSyncTarget; })) << Dump();
  ASSERT_TRUE(c().Primary(kBravo).ok()) << "a SyncTarget with its source at hand" << Dump();
  ASSERT_TRUE(h().Write(kBravo, 300).ok()) << Dump();
  auto gen = [&](NodeId n) { return UuidOf(n) & ~uint64_t{1}; };  // bit 0: the role
  const uint64_t generation = gen(kBravo);
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  EXPECT_EQ(gen(kBravo), generation) << "the Primary kept the generation it started" << Dump();
  EXPECT_EQ(gen(kAlpha), generation) << "the source follows the Primary's generation" << Dump();

  ASSERT_TRUE(c().Disconnect(kAlpha, kBravo).ok()) << Dump();
  ASSERT_TRUE(WaitFor([&] { return ConnOf(kBravo, kAlpha) != ConnState::kConnected; })) << Dump();
  size_t mark = Mark();
  ASSERT_TRUE(c().Connect(kAlpha, kBravo).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  EXPECT_TRUE(Resyncs(mark).empty()) << "nothing differs, nothing to resync" << Dump();
  h().FinalChecks();
}

// --- Row 4 [resync, resync-chain-close] -------------------------------------------

// One data generation per node (charlie oldest, bravo newer, alpha newest),
// then a chain oldest first, then the newest joins the oldest (a wave of
// resyncs), then the ring closes without any resync.
// DISABLED (known engine gap, issue 2): a node is not told when a peer moves to a newer generation it did not write; the chain resyncs the wrong amount.
TEST_F(Scenario, DISABLED_S04_GenerationsChainThenRingWithoutResync) {
  Make(BaseOptions(3));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  // Each write as a short Primary period of alpha (the test writes through an
  // auto-promoting open).
  auto write_on_alpha = [&](uint64_t block) {
    ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
    ASSERT_TRUE(h().Write(kAlpha, block).ok()) << Dump();
    ASSERT_TRUE(h().Flush(kAlpha).ok()) << Dump();
    ASSERT_TRUE(c().Secondary(kAlpha).ok()) << Dump();
  };
  auto disconnect_node = [&](NodeId n) {
    for (NodeId peer : c().all()) {
      if (peer == n) continue;
      if (ConnOf(n, peer) != ConnState::kStandAlone) {
        ASSERT_TRUE(c().Disconnect(n, peer).ok()) << Dump();
      }
    }
    ASSERT_TRUE(WaitFor([&] {
      for (NodeId peer : c().all()) {
        if (peer != n && ConnOf(peer, n) == ConnState::kConnected) return false;
      }
      return true;
    })) << Dump();
  };
  // Generations: charlie leaves after write 0, bravo after write 1.
  ASSERT_NO_FATAL_FAILURE(write_on_alpha(0));
  ASSERT_NO_FATAL_FAILURE(disconnect_node(kCharlie));
  ASSERT_NO_FATAL_FAILURE(write_on_alpha(1));
  ASSERT_NO_FATAL_FAILURE(disconnect_node(kBravo));
  ASSERT_NO_FATAL_FAILURE(write_on_alpha(2));

  // Chain, oldest first: bravo -> charlie, 4 KiB (write 1).
  size_t mark = Mark();
  ASSERT_TRUE(c().Connect(kBravo, kCharlie).ok()) << Dump();
  ASSERT_TRUE(c().Connect(kCharlie, kBravo).ok()) << Dump();
  ASSERT_TRUE(WaitFor([&] {
    return Established(kBravo, kCharlie) && DiskOf(kCharlie) == DiskState::kUpToDate &&
           !ResyncStarts(mark).empty();
  })) << Dump();
  c().RunFor(1 * kSec);
  EXPECT_EQ(Resyncs(mark), OneResync(kBravo, kCharlie, 4)) << Dump();

  // The newest (alpha) with the former oldest (charlie): alpha -> charlie
  // 4 KiB (write 2), then the wave charlie -> bravo 4 KiB.
  mark = Mark();
  ASSERT_TRUE(c().Connect(kCharlie, kAlpha).ok()) << Dump();
  ASSERT_TRUE(WaitFor([&] {
    return Established(kAlpha, kCharlie) && Established(kCharlie, kBravo) &&
           ResyncStarts(mark).size() >= 4 && DiskOf(kBravo) == DiskState::kUpToDate &&
           DiskOf(kCharlie) == DiskState::kUpToDate;
  })) << Join(Resyncs(mark))
      << "\n"
      << Dump();
  c().RunFor(1 * kSec);
  std::vector<std::string> want = OneResync(kAlpha, kCharlie, 4);
  std::vector<std::string> wave = OneResync(kCharlie, kBravo, 4);
  want.insert(want.end(), wave.begin(), wave.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(Resyncs(mark), want) << Dump();

  // Close the ring (bravo - alpha): no resync at all.
  mark = Mark();
  ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
  ASSERT_TRUE(c().Connect(kAlpha, kBravo).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  EXPECT_TRUE(ResyncStarts(mark).empty())
      << "closing the ring resynced: " << Join(Resyncs(mark)) << "\n"
      << Dump();
  EXPECT_TRUE(Lines(mark, "", "replication:SyncSource").empty()) << Dump();
  EXPECT_TRUE(Lines(mark, "", "replication:SyncTarget").empty()) << Dump();
  h().FinalChecks();
}

// --- Row 5 [split-brain] ----------------------------------------------------------

// Ten rounds: both disconnect, each is Primary for one write, both reconnect
// => StandAlone on both (split brain seen by both). The victim (alpha)
// reconnects with --discard-my-data: SyncTarget of a bitmap resync of the
// blocks changed on either side (8 KiB), survivor bravo SyncSource.
TEST_F(Scenario, S05_SplitBrainDetectedOnBothAndDiscardMyDataResolves) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  for (uint64_t round = 0; round < 10; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_TRUE(c().Disconnect(kAlpha, kBravo).ok()) << Dump();
    ASSERT_TRUE(c().Disconnect(kBravo, kAlpha).ok()) << Dump();
    for (NodeId n : {kAlpha, kBravo}) {
      ASSERT_TRUE(c().Primary(n).ok()) << Dump();
      ASSERT_TRUE(h().Write(n, 2 * round + n.value()).ok()) << Dump();
      ASSERT_TRUE(c().Secondary(n).ok()) << Dump();
    }
    Bytes survivor = DataOf(kBravo);

    size_t mark = Mark();
    ASSERT_TRUE(c().Connect(kAlpha, kBravo).ok()) << Dump();
    ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
    ASSERT_TRUE(WaitFor([&] {
      return Logged(mark, kAlpha, "split-brain") && Logged(mark, kBravo, "split-brain") &&
             StandAloneBoth(kAlpha, kBravo);
    })) << "both ends must detect the split brain and end StandAlone\n"
        << Dump();
    c().RunFor(2 * kSec);
    EXPECT_TRUE(StandAloneBoth(kAlpha, kBravo)) << Dump();
    EXPECT_TRUE(ResyncStarts(mark).empty()) << Dump();

    mark = Mark();
    ASSERT_TRUE(c().Connect(kAlpha, kBravo, /*discard_my_data=*/true).ok()) << Dump();
    ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
    ASSERT_TRUE(h().WaitHealthy()) << Dump();
    EXPECT_TRUE(Logged(mark, kAlpha, "replication:SyncTarget")) << Dump();
    EXPECT_TRUE(Logged(mark, kBravo, "replication:SyncSource")) << Dump();
    EXPECT_EQ(Resyncs(mark), OneResync(kBravo, kAlpha, 8)) << "bitmap-based, not full\n" << Dump();
    ASSERT_NO_FATAL_FAILURE(ExpectConvergedTo(survivor));
  }
}

// The victim reconnects at once, while the StandAlone verdict still holds the
// old transport open (found by tandemd's split-brain test): the connect must
// start from a fresh transport, not wait forever on the old one.
TEST_F(Scenario, S05_DiscardMyDataRightAfterTheVerdict) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Disconnect(kAlpha, kBravo).ok()) << Dump();
  ASSERT_TRUE(c().Disconnect(kBravo, kAlpha).ok()) << Dump();
  for (NodeId n : {kAlpha, kBravo}) {
    ASSERT_TRUE(c().Primary(n).ok()) << Dump();
    ASSERT_TRUE(h().Write(n, n.value()).ok()) << Dump();
    ASSERT_TRUE(c().Secondary(n).ok()) << Dump();
  }
  Bytes survivor = DataOf(kBravo);
  size_t mark = Mark();
  ASSERT_TRUE(c().Connect(kAlpha, kBravo).ok()) << Dump();
  ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
  ASSERT_TRUE(WaitFor([&] {
    return Logged(mark, kAlpha, "split-brain") && Logged(mark, kBravo, "split-brain") &&
           StandAloneBoth(kAlpha, kBravo);
  })) << Dump();
  mark = Mark();
  ASSERT_TRUE(c().Connect(kAlpha, kBravo, /*discard_my_data=*/true).ok()) << Dump();
  ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  EXPECT_TRUE(Logged(mark, kAlpha, "replication:SyncTarget")) << Dump();
  ASSERT_NO_FATAL_FAILURE(ExpectConvergedTo(survivor));
}

// --- Row 6 [split-brain; drbd-semantics.md §6] --------------------------------------

ClusterOptions AfterSb0(engine::AfterSb0 policy) {
  ClusterOptions o = BaseOptions(2);
  o.options.after_sb_0pri = policy;
  return o;
}

// discard-zero-changes: bravo started a new generation (new-current-uuid)
// but changed nothing; it is the target; alpha's 2 blocks go to bravo.
TEST_F(Scenario, S06_AfterSb0priDiscardZeroChanges) {
  Make(AfterSb0(engine::AfterSb0::kDiscardZeroChanges));
  Bytes survivor;
  ASSERT_NO_FATAL_FAILURE(RunSplit(2, 0, false, kAlpha, &survivor));
  AdminDone d = c().NewCurrentUuid(kBravo, kV0, /*clear_bitmap=*/false);
  ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
  EXPECT_EQ(OosOf(kBravo, kAlpha), 0u) << Dump();
  ReconnectExpectRecovery(kAlpha, kBravo, 8, survivor);
}

// discard-least-changes: alpha (Primary at the split) changed 1 block, bravo
// 3: alpha is the target of a 16 KiB resync (the union).
TEST_F(Scenario, S06_AfterSb0priDiscardLeastChanges) {
  Make(AfterSb0(engine::AfterSb0::kDiscardLeastChanges));
  Bytes survivor;
  ASSERT_NO_FATAL_FAILURE(RunSplit(1, 3, false, kBravo, &survivor));
  ReconnectExpectRecovery(kBravo, kAlpha, 16, survivor);
}

// discard-younger-primary: alpha was Primary at the split, bravo became
// Primary later (younger) and is the target, though it changed more.
TEST_F(Scenario, S06_AfterSb0priDiscardYoungerPrimary) {
  Make(AfterSb0(engine::AfterSb0::kDiscardYoungerPrimary));
  Bytes survivor;
  ASSERT_NO_FATAL_FAILURE(RunSplit(1, 3, false, kAlpha, &survivor));
  ReconnectExpectRecovery(kAlpha, kBravo, 16, survivor);
}

// discard-older-primary: alpha was Primary at the split (older) and is the
// target, though it changed more.
TEST_F(Scenario, S06_AfterSb0priDiscardOlderPrimary) {
  Make(AfterSb0(engine::AfterSb0::kDiscardOlderPrimary));
  Bytes survivor;
  ASSERT_NO_FATAL_FAILURE(RunSplit(3, 1, false, kBravo, &survivor));
  ReconnectExpectRecovery(kBravo, kAlpha, 16, survivor);
}

// after-sb-1pri discard-secondary: alpha is still Primary when they meet
// again; bravo (Secondary) is the target though it changed more.
TEST_F(Scenario, S06_AfterSb1priDiscardSecondary) {
  ClusterOptions o = BaseOptions(2);
  o.options.after_sb_1pri = engine::AfterSb1::kDiscardSecondary;
  Make(o);
  Bytes survivor;
  ASSERT_NO_FATAL_FAILURE(RunSplit(1, 3, /*first_stays_primary=*/true, kAlpha, &survivor));
  ASSERT_EQ(RoleOf(kAlpha), Role::kPrimary) << Dump();
  ReconnectExpectRecovery(kAlpha, kBravo, 16, survivor);
  EXPECT_EQ(RoleOf(kAlpha), Role::kPrimary) << Dump();
}

// --- Row 7 (derived from drbd_uuid_compare rule 12) --------------------------------

// Like `drbdmeta set-gi` in the DRBD tests (or two nodes provisioned apart
// with `create-md --initial-current-uuid --uptodate`): gives a node's fresh
// metadata its own current UUID, consistent and UpToDate, no history.
void SetGi(SimDisk* disk, uint64_t current_uuid) {
  const Bytes& md = disk->Contents(engine::DiskArea::kMeta);
  Result<engine::Superblock> sb = engine::DecodeSuperblock(ByteSpan(md.data(), engine::kMdBlock));
  ASSERT_TRUE(sb.ok()) << sb.error().message;
  sb.value().current_uuid = current_uuid;
  sb.value().flags |= engine::kMdConsistent | engine::kMdWasUpToDate;
  disk->Poke(engine::DiskArea::kMeta, 0, engine::EncodeSuperblock(sb.value()));
}

// Two nodes with different metadata histories (each its own generation, no
// common history or bitmap UUID): "unrelated data", StandAlone on both, and
// they stay so.
TEST_F(Scenario, S07_UnrelatedDataStandAloneOnBoth) {
  Make(BaseOptions(2));
  ASSERT_NO_FATAL_FAILURE(SetGi(c().disk(kAlpha, kV0), 0x1111'2222'3333'4440ull));
  ASSERT_NO_FATAL_FAILURE(SetGi(c().disk(kBravo, kV0), 0x5555'6666'7777'8880ull));
  size_t mark = Mark();
  ASSERT_TRUE(c().UpAll()) << Dump();
  EXPECT_EQ(DiskOf(kAlpha), DiskState::kUpToDate) << Dump();
  EXPECT_EQ(DiskOf(kBravo), DiskState::kUpToDate) << Dump();
  ASSERT_NE(Gen(UuidOf(kAlpha)), Gen(UuidOf(kBravo))) << Dump();
  ASSERT_TRUE(WaitFor([&] {
    return Logged(mark, kAlpha, "unrelated-data") && Logged(mark, kBravo, "unrelated-data") &&
           StandAloneBoth(kAlpha, kBravo);
  })) << "expected unrelated-data and StandAlone on both\n"
      << Dump();
  c().RunFor(30 * kSec);
  EXPECT_TRUE(StandAloneBoth(kAlpha, kBravo)) << Dump();
  EXPECT_TRUE(ResyncStarts(mark).empty()) << Join(Resyncs(mark)) << "\n" << Dump();
  EXPECT_TRUE(Lines(mark, "", "split-brain name:").empty()) << "unrelated, not split brain\n"
                                                            << Dump();
  EXPECT_EQ(DiskOf(kAlpha), DiskState::kUpToDate) << Dump();
  EXPECT_EQ(DiskOf(kBravo), DiskState::kUpToDate) << Dump();
}

// --- Row 8 [two-primaries-reject] ---------------------------------------------------

ClusterOptions RrConflict(engine::RrConflict policy) {
  ClusterOptions o = BaseOptions(3);
  o.options.rr_conflict = policy;
  o.options.connect_int = 2 * kSec;
  return o;
}

// rr-conflict disconnect: alpha's connects to bravo and to charlie both end
// StandAlone on both ends; after alpha demotes and reconnects it becomes
// SyncTarget of charlie's 3 blocks.
// DISABLED (known engine gap, issue 2): after the demoted old Primary reconnects, connect/refuse loops without settling (livelock in the simulator).
TEST_F(Scenario, DISABLED_S08_RrConflictDisconnectGoesStandAlone) {
  Make(RrConflict(engine::RrConflict::kDisconnect));
  ASSERT_NO_FATAL_FAILURE(PromoteBoth());
  for (NodeId peer : {kBravo, kCharlie}) {
    SCOPED_TRACE("alpha connects to " + Name(peer));
    ASSERT_TRUE(c().Connect(kAlpha, peer).ok()) << Dump();
    ASSERT_TRUE(WaitFor([&] { return StandAloneBoth(kAlpha, peer); }, 30 * kSec))
        << "alpha (Primary, older data) and " << Name(peer) << " must both end StandAlone\n"
        << Dump();
  }
  EXPECT_EQ(RoleOf(kAlpha), Role::kPrimary) << Dump();
  EXPECT_EQ(RoleOf(kCharlie), Role::kPrimary) << Dump();

  size_t mark = Mark();
  ASSERT_TRUE(c().Secondary(kAlpha).ok()) << Dump();
  for (NodeId peer : {kBravo, kCharlie}) {
    ASSERT_TRUE(c().Connect(kAlpha, peer).ok()) << Dump();
    ASSERT_TRUE(c().Connect(peer, kAlpha).ok()) << Dump();
  }
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  EXPECT_TRUE(Logged(mark, kAlpha, "replication:SyncTarget")) << Dump();
  for (const ResyncStart& r : ResyncStarts(mark)) {
    if (r.who == "alpha") {
      EXPECT_EQ(r.role, "SyncTarget") << Dump();
      EXPECT_EQ(r.kib, 12u) << Dump();
    }
  }
  ASSERT_TRUE(c().Secondary(kCharlie).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// rr-conflict retry-connect: the connections keep returning to Connecting
// (never StandAlone); once alpha demotes it joins by itself as SyncTarget.
// DISABLED (known engine gap, issue 2): same connect/refuse loop as S08_RrConflictDisconnectGoesStandAlone.
TEST_F(Scenario, DISABLED_S08_RrConflictRetryConnectKeepsConnecting) {
  Make(RrConflict(engine::RrConflict::kRetryConnect));
  ASSERT_NO_FATAL_FAILURE(PromoteBoth());
  size_t mark = Mark();
  ASSERT_TRUE(c().Connect(kAlpha, kBravo).ok()) << Dump();
  ASSERT_TRUE(c().Connect(kAlpha, kCharlie).ok()) << Dump();
  c().RunFor(10 * kSec);
  EXPECT_TRUE(Lines(mark, "", "connection:StandAlone").empty()) << Dump();
  for (NodeId peer : {kBravo, kCharlie}) {
    EXPECT_NE(ConnOf(kAlpha, peer), ConnState::kStandAlone) << Dump();
    EXPECT_NE(ConnOf(peer, kAlpha), ConnState::kStandAlone) << Dump();
    EXPECT_NE(ReplOf(kAlpha, peer), ReplState::kSyncTarget)
        << "a Primary must not become SyncTarget\n"
        << Dump();
  }
  // It really retried: more than one attempt reached the peers.
  EXPECT_GE(Lines(mark, "alpha", "connection:Connecting").size(), 2u) << Dump();
  EXPECT_EQ(RoleOf(kAlpha), Role::kPrimary) << Dump();

  mark = Mark();
  ASSERT_TRUE(c().Secondary(kAlpha).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << "after the demotion alpha must join by itself\n" << Dump();
  EXPECT_TRUE(Logged(mark, kAlpha, "replication:SyncTarget")) << Dump();
  EXPECT_TRUE(Lines(mark, "", "connection:StandAlone").empty()) << Dump();
  ASSERT_TRUE(c().Secondary(kCharlie).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// --- Row 9 [autopromote] ------------------------------------------------------------

// A writer's open promotes, its close demotes; an open on alpha while bravo
// is Primary (auto-promoted) fails with a message naming bravo.
TEST_F(Scenario, S09_AutoPromoteOnOpenDemoteOnCloseRefusedWhilePeerPrimary) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();

  AdminDone d = c().OpenForWrite(kAlpha);
  ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
  EXPECT_EQ(RoleOf(kAlpha), Role::kPrimary) << Dump();
  ASSERT_TRUE(h().Write(kAlpha, 1).ok()) << Dump();
  c().CloseWriter(kAlpha);
  ASSERT_TRUE(WaitFor([&] { return RoleOf(kAlpha) == Role::kSecondary; }, 10 * kSec))
      << "the last close must demote\n"
      << Dump();

  d = c().OpenForWrite(kBravo);
  ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
  EXPECT_EQ(RoleOf(kBravo), Role::kPrimary) << Dump();
  ASSERT_TRUE(h().Write(kBravo, 2).ok()) << Dump();

  d = c().OpenForWrite(kAlpha);
  EXPECT_FALSE(d.ok()) << "open for write while bravo is Primary must fail\n" << Dump();
  EXPECT_NE(d.message.find("bravo"), std::string::npos)
      << "the refusal must name the Primary: \"" << d.message << "\"\n"
      << Dump();
  EXPECT_EQ(RoleOf(kAlpha), Role::kSecondary) << Dump();
  EXPECT_EQ(h().Write(kAlpha, 3).status, engine::IoStatus::kNotPrimary) << Dump();

  c().CloseWriter(kBravo);
  ASSERT_TRUE(WaitFor([&] { return RoleOf(kBravo) == Role::kSecondary; }, 10 * kSec)) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// --- Row 10 (derived from drbd_set_role; §1.2, §1.3) ------------------------------

// primary on bravo while alpha is Primary fails with SS_TWO_PRIMARIES; a
// promotion issued while alpha is Primary succeeds when alpha demotes within
// auto-promote-timeout.
TEST_F(Scenario, S10_PromoteWhilePeerPrimaryRefusedThenSucceedsAfterDemote) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  AdminDone d = c().Primary(kBravo);
  EXPECT_FALSE(d.ok()) << Dump();
  EXPECT_EQ(d.code, SsCode::kTwoPrimaries) << engine::SsCodeName(d.code) << " " << d.message << "\n"
                                           << Dump();
  EXPECT_NE(d.message.find("alpha"), std::string::npos) << d.message;
  EXPECT_EQ(RoleOf(kBravo), Role::kSecondary) << Dump();

  auto result = std::make_shared<std::optional<AdminDone>>();
  Time issued = h().sim.now();
  c().Admin(
      kBravo, "primary", [](engine::Resource& r, uint64_t cookie) { r.Primary(cookie, false); },
      [result](const AdminDone& done) { *result = done; });
  c().RunFor(500 * kMs);
  ASSERT_FALSE(result->has_value()) << "the promotion must wait for the peer, not fail at once\n"
                                    << Dump();
  ASSERT_TRUE(c().Secondary(kAlpha).ok()) << Dump();
  ASSERT_TRUE(WaitFor([&] { return result->has_value(); }, 10 * kSec)) << Dump();
  EXPECT_TRUE((*result)->ok()) << engine::SsCodeName((*result)->code) << " " << (*result)->message
                               << "\n"
                               << Dump();
  EXPECT_LE(h().sim.now() - issued, c().config(kBravo).options.auto_promote_timeout + 100 * kMs)
      << Dump();
  EXPECT_EQ(RoleOf(kBravo), Role::kPrimary) << Dump();
  EXPECT_EQ(RoleOf(kAlpha), Role::kSecondary) << Dump();
  ASSERT_TRUE(h().Write(kBravo, 9).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// --- Row 11 [concurrent-promote-demote, twopc-conflict-one-initiator] -------------

// Five rounds of three simultaneous promotions: every command finishes (no
// deadlock), exactly one succeeds, exactly one node is Primary.
TEST_F(Scenario, S11_ConcurrentPromotionsExactlyOneWins) {
  Make(BaseOptions(3));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<std::shared_ptr<std::optional<AdminDone>>> results(3);
    for (int i = 0; i < 3; ++i) {
      int n = (round + i) % 3;
      results[n] = std::make_shared<std::optional<AdminDone>>();
      auto slot = results[n];
      c().Admin(
          c().node(n), "primary",
          [](engine::Resource& r, uint64_t cookie) { r.Primary(cookie, false); },
          [slot](const AdminDone& done) { *slot = done; });
    }
    ASSERT_TRUE(WaitFor(
        [&] {
          return std::all_of(results.begin(), results.end(),
                             [](const auto& r) { return r->has_value(); });
        },
        30 * kSec))
        << "a promotion never finished (deadlock?)\n"
        << Dump();
    int winners = 0, primaries = 0;
    NodeId winner{};
    for (int n = 0; n < 3; ++n) {
      if ((*results[n])->ok()) {
        ++winners;
        winner = c().node(n);
      }
      if (RoleOf(c().node(n)) == Role::kPrimary) ++primaries;
    }
    ASSERT_EQ(winners, 1) << Dump();
    ASSERT_EQ(primaries, 1) << Dump();
    ASSERT_EQ(RoleOf(winner), Role::kPrimary) << Dump();
    h().checkers.CheckRoles();
    ASSERT_TRUE(h().Write(winner, static_cast<uint64_t>(round)).ok()) << Dump();
    ASSERT_TRUE(c().Secondary(winner).ok()) << Dump();
  }
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// --- Row 12 [migrate] ------------------------------------------------------------------

// allow-two-primaries, 4 nodes (charlie and delta diskless): hand-overs
// alpha -> bravo (diskful -> diskful), bravo -> charlie (-> diskless),
// charlie -> delta (diskless -> diskless), each with a write on the new side
// while both are Primary; no peer is ever seen Consistent or Outdated.
TEST_F(Scenario, S12_LiveMigrationHandOversWithTwoPrimaries) {
  ClusterOptions o = BaseOptions(4);
  o.diskless = {2, 3};
  o.options.allow_two_primaries = true;
  Make(o);
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  ASSERT_TRUE(h().Write(kAlpha, 0).ok()) << Dump();
  uint64_t block = 1;
  for (auto [from, to] :
       {std::pair{kAlpha, kBravo}, std::pair{kBravo, kCharlie}, std::pair{kCharlie, kDelta}}) {
    SCOPED_TRACE(Name(from) + " -> " + Name(to));
    AdminDone d = c().Primary(to);
    ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
    EXPECT_EQ(RoleOf(from), Role::kPrimary) << Dump();
    ASSERT_TRUE(h().Write(to, block++).ok()) << Dump();
    ASSERT_TRUE(h().Write(to, 0).ok()) << Dump();
    ASSERT_TRUE(c().Secondary(from).ok()) << Dump();
    ASSERT_TRUE(h().Write(to, block++).ok()) << Dump();
    for (NodeId n : c().all()) {
      if (!c().diskless(n)) {
        EXPECT_EQ(DiskOf(n), DiskState::kUpToDate) << Dump();
      }
    }
  }
  ASSERT_TRUE(c().Secondary(kDelta).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  EXPECT_TRUE(Lines(0, "", "peer-disk:Consistent").empty())
      << Join(Lines(0, "", "peer-disk:Consistent"));
  EXPECT_TRUE(Lines(0, "", "peer-disk:Outdated").empty())
      << Join(Lines(0, "", "peer-disk:Outdated"));
  EXPECT_TRUE(ResyncStarts(0).empty()) << Join(Resyncs(0));
  h().FinalChecks();
}

// --- Row 13 (our own; drbd-semantics.md §1.5) --------------------------------------

// Two Primaries write the same block at the same moment: the conflict is
// detected (connection dropped), the nodes reconnect and resync, and the
// replicas end identical (never silent divergence).
TEST_F(Scenario, S13_TwoPrimariesOverlappingWritesDropResyncConverge) {
  ClusterOptions o = BaseOptions(2);
  o.options.allow_two_primaries = true;
  Make(o);
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  // Each Primary writes once first, so the generation is settled (the first
  // write after a promotion may start a new one) before the conflict.
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  ASSERT_TRUE(h().Write(kAlpha, 1).ok()) << Dump();
  ASSERT_TRUE(c().Primary(kBravo).ok()) << Dump();
  ASSERT_TRUE(h().Write(kBravo, 2).ok()) << Dump();
  c().RunFor(100 * kMs);
  ASSERT_TRUE(Established(kAlpha, kBravo)) << Dump();
  ASSERT_EQ(Gen(UuidOf(kAlpha)), Gen(UuidOf(kBravo))) << Dump();
  const uint64_t kBlock = 77;
  size_t mark = Mark();
  auto wa = RawWrite(kAlpha, kBlock, 0xA1);
  auto wb = RawWrite(kBravo, kBlock, 0xB2);
  ASSERT_TRUE(WaitFor([&] { return wa->has_value() && wb->has_value(); }, 60 * kSec)) << Dump();
  EXPECT_FALSE((*wa)->lost) << Dump();
  EXPECT_FALSE((*wb)->lost) << Dump();
  EXPECT_TRUE(Logged(mark, kAlpha, "connection:ProtocolError") ||
              Logged(mark, kBravo, "connection:ProtocolError"))
      << "the conflicting writes must drop the connection\n"
      << Dump();
  ASSERT_TRUE(WaitFor(
      [&] {
        std::string why;
        return c().Healthy(&why);
      },
      120 * kSec))
      << Dump();
  EXPECT_FALSE(ResyncStarts(mark).empty()) << "the reconnect must resync\n" << Dump();
  ASSERT_TRUE(c().Secondary(kBravo).ok()) << Dump();
  ASSERT_TRUE(c().Secondary(kAlpha).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  Bytes a = BlockOf(kAlpha, kBlock), b = BlockOf(kBravo, kBlock);
  EXPECT_TRUE(a == b) << "the conflicting block diverged\n" << Dump();
  EXPECT_TRUE(a == Bytes(kAppBlock, 0xA1) || a == Bytes(kAppBlock, 0xB2))
      << "the block holds neither write";
  // The raw writes are outside the history: compare the replicas only.
  h().checkers.CheckRoles();
  h().checkers.CheckConverged();
}

// --- Row 31 [resync-after-primary-crash] -------------------------------------------

// alpha (Primary) crashes with a last write on its own disk that never
// reached bravo; bravo is promoted without writing; alpha restarts and is
// SyncTarget: its unreplicated write is rolled back to bravo's data.
TEST_F(Scenario, S31_PrimaryCrashUnreplicatedWriteRolledBack) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  for (uint64_t b = 0; b < 8; ++b) ASSERT_TRUE(h().Write(kAlpha, b).ok()) << Dump();
  ASSERT_TRUE(h().Flush(kAlpha).ok()) << Dump();

  const uint64_t kBlock = 5;
  c().network().SetMsgFault(kAlpha, kBravo, MsgType::kData, MsgFault::kDrop);
  auto w = WriteAsync(kAlpha, kBlock, /*fua=*/true);
  ASSERT_TRUE(
      WaitFor([&] { return BlockOf(kAlpha, kBlock, true) != BlockOf(kBravo, kBlock); }, 1 * kSec))
      << "the write never reached alpha's disk\n"
      << Dump();
  ASSERT_FALSE(w->has_value()) << "protocol C must not complete a write bravo never got\n"
                               << Dump();
  h().Crash(kAlpha);
  c().network().SetMsgFault(kAlpha, kBravo, MsgType::kData, MsgFault::kNone);
  Bytes bravo_block = BlockOf(kBravo, kBlock);

  ASSERT_TRUE(WaitFor([&] { return ConnOf(kBravo, kAlpha) != ConnState::kConnected; })) << Dump();
  AdminDone d = c().Primary(kBravo);
  ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();

  size_t mark = Mark();
  d = c().Restart(kAlpha);
  ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  EXPECT_TRUE(Logged(mark, kAlpha, "replication:SyncTarget")) << Dump();
  EXPECT_TRUE(Logged(mark, kBravo, "replication:SyncSource")) << Dump();
  EXPECT_FALSE(Logged(mark, kAlpha, "replication:SyncSource")) << Dump();
  EXPECT_EQ(RoleOf(kBravo), Role::kPrimary) << Dump();
  EXPECT_TRUE(BlockOf(kAlpha, kBlock) == bravo_block) << "alpha's unreplicated write survived\n"
                                                      << Dump();
  h().FinalChecks();
}

// Row 31 with a failed attach: alpha's restart applies its activity log (every
// extent that may have had writes in flight is out of sync, drbd-semantics.md
// §4.4 step 3), but the first metadata write, the bitmap page holding those
// bits, fails and detaches the disk. The AL must not be re-initialised then:
// the next attach applies it again, and alpha's unreplicated write is rolled
// back to bravo's data. Before, the ring was wiped after the failed bitmap
// write, the bits were lost with it and block 5 stayed different (random seed
// 1014).
TEST_F(Scenario, S31b_FailedAttachKeepsTheActivityLogToApply) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  for (uint64_t b = 0; b < 8; ++b) ASSERT_TRUE(h().Write(kAlpha, b).ok()) << Dump();
  ASSERT_TRUE(h().Flush(kAlpha).ok()) << Dump();

  const uint64_t kBlock = 5;
  c().network().SetMsgFault(kAlpha, kBravo, MsgType::kData, MsgFault::kDrop);
  auto w = WriteAsync(kAlpha, kBlock, /*fua=*/true);
  ASSERT_TRUE(
      WaitFor([&] { return BlockOf(kAlpha, kBlock, true) != BlockOf(kBravo, kBlock); }, 1 * kSec))
      << "the write never reached alpha's disk\n"
      << Dump();
  h().Crash(kAlpha);
  c().network().SetMsgFault(kAlpha, kBravo, MsgType::kData, MsgFault::kNone);
  const Bytes bravo_block = BlockOf(kBravo, kBlock);

  ASSERT_TRUE(WaitFor([&] { return ConnOf(kBravo, kAlpha) != ConnState::kConnected; })) << Dump();
  AdminDone d = c().Primary(kBravo);
  ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
  ASSERT_TRUE(h().Write(kBravo, 100).ok()) << Dump();  // a new generation: alpha is SyncTarget

  c().disk(kAlpha, kV0)->FailWrites(engine::DiskArea::kMeta, 1);
  size_t mark = Mark();
  d = c().Restart(kAlpha);
  ASSERT_FALSE(d.ok()) << "the attach survived its failed metadata write\n" << Dump();
  ASSERT_TRUE(Logged(mark, kAlpha, "apply-al")) << Dump();
  ASSERT_TRUE(Logged(mark, kAlpha, "local disk I/O error")) << Dump();

  mark = Mark();
  d = c().Attach(kAlpha, kV0);
  ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
  EXPECT_TRUE(Logged(mark, kAlpha, "apply-al")) << "the failed attach re-initialised the AL\n"
                                                << Dump();
  ASSERT_TRUE(c().Connect(kAlpha, kBravo).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  EXPECT_TRUE(Logged(mark, kAlpha, "replication:SyncTarget")) << Dump();
  EXPECT_TRUE(BlockOf(kAlpha, kBlock) == bravo_block) << "alpha's unreplicated write survived\n"
                                                      << Dump();
  h().FinalChecks();
}

// A SyncSource's resync reply races a newer write of the Primary that the
// SyncTarget does not receive itself. bravo is SyncTarget of alpha and not
// connected to charlie, the Primary; alpha reads block 40 for bravo, then
// receives charlie's next write to it. The block's bit towards bravo is set
// already, so before, alpha told bravo nothing: the late reply with the older
// data cleared the block on both sides and bravo kept it (random seeds 1051,
// 1306). Bits are cleared only when provably in sync (drbd-semantics.md §8.3):
// alpha now sends OutOfSync for a block whose reply is not acknowledged yet,
// and bravo does not clear a block announced so while its reply is in flight.
TEST_F(Scenario, S41b_ResyncReplyOlderThanAWriteTheTargetMissedIsNotInSync) {
  Make(BaseOptions(3));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kCharlie).ok()) << Dump();
  const uint64_t kBlock = 40;
  ASSERT_TRUE(h().Write(kCharlie, 0).ok()) << Dump();
  ASSERT_TRUE(c().Disconnect(kBravo, kAlpha).ok()) << Dump();
  ASSERT_TRUE(c().Disconnect(kBravo, kCharlie).ok()) << Dump();
  ASSERT_TRUE(h().Write(kCharlie, kBlock).ok()) << Dump();  // bravo misses it

  // Every resync reply from alpha to bravo is late.
  c().network().SetMsgFault(kAlpha, kBravo, MsgType::kResyncReply, MsgFault::kDelay, 500 * kMs);
  size_t mark = Mark();
  ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
  ASSERT_TRUE(
      WaitFor([&] { return Logged(mark, kBravo, "replication:SyncTarget"); }, 5 * kSec))
      << Dump();
  c().RunFor(300 * kMs);  // bravo asked for the block; alpha read it and replied
  ASSERT_TRUE(BlockOf(kBravo, kBlock) != BlockOf(kAlpha, kBlock)) << "the reply came early\n"
                                                                  << Dump();
  ASSERT_TRUE(h().Write(kCharlie, kBlock).ok()) << Dump();  // newer than the reply
  const Bytes newest = BlockOf(kAlpha, kBlock);
  ASSERT_TRUE(WaitFor([&] { return Logged(mark, kBravo, "resync-finished"); }, 10 * kSec))
      << Dump();
  c().network().SetMsgFault(kAlpha, kBravo, MsgType::kResyncReply, MsgFault::kNone);
  EXPECT_TRUE(BlockOf(kBravo, kBlock) == newest)
      << "bravo's resync ended with a reply older than alpha's block\n"
      << Dump();
  ASSERT_TRUE(c().Connect(kBravo, kCharlie).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// A bitmap exchange that never ends (here the bitmap is lost; in life a peer
// stuck on its disk) does not hold the connection for ever: after
// kBitmapExchangeTimeout the connection is dropped, the reconnect exchanges
// the bitmaps anew and the resync runs (found by random seed 441).
TEST_F(Scenario, BitmapExchangeThatNeverEndsReconnects) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  ASSERT_TRUE(c().Disconnect(kBravo, kAlpha).ok()) << Dump();
  for (uint64_t b = 0; b < 8; ++b) ASSERT_TRUE(h().Write(kAlpha, b * 3).ok()) << Dump();
  c().network().SetMsgFault(kAlpha, kBravo, MsgType::kBitmap, MsgFault::kDrop);
  size_t mark = Mark();
  ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
  ASSERT_TRUE(WaitFor([&] { return Logged(mark, kBravo, "replication:WFBitMapT"); }, 5 * kSec))
      << Dump();
  c().RunFor(5 * kSec);
  EXPECT_FALSE(Logged(mark, kBravo, "replication:SyncTarget")) << "the bitmap was lost" << Dump();
  c().network().SetMsgFault(kAlpha, kBravo, MsgType::kBitmap, MsgFault::kNone);
  ASSERT_TRUE(h().WaitHealthy(60 * kSec)) << Dump();
  EXPECT_TRUE(Logged(mark, kAlpha, "bitmap exchange with bravo timed out") ||
              Logged(mark, kBravo, "bitmap exchange with alpha timed out"))
      << Dump();
  EXPECT_TRUE(Logged(mark, kBravo, "replication:SyncTarget")) << Dump();
  h().FinalChecks();
}

// --- Row 32 [resync-interrupt-variants, resync-multiple-interrupt] --------------

// A 1 MiB resync to bravo is cut twice (once from the target's side, once
// from the source's) while the Primary keeps writing; each restart resumes
// from the bitmap instead of starting over, and the data ends identical.
TEST_F(Scenario, S32_ResyncInterruptedByConnectionLossResumes) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  ASSERT_TRUE(c().Disconnect(kBravo, kAlpha).ok()) << Dump();
  for (uint64_t b = 0; b < 256; ++b) ASSERT_TRUE(h().Write(kAlpha, b).ok()) << Dump();
  ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
  uint64_t next_block = 300;

  for (NodeId cutter : {kBravo, kAlpha}) {
    SCOPED_TRACE("cut by " + Name(cutter));
    NodeId other = cutter == kAlpha ? kBravo : kAlpha;
    ASSERT_TRUE(WaitFor([&] { return ReplOf(kAlpha, kBravo) == ReplState::kSyncSource; }))
        << Dump();
    uint64_t total = PeerDev(kAlpha, kBravo).resync_total_bytes;
    ASSERT_GT(total, 64u * 1024) << Dump();
    // Busy Primary: writes while the resync runs.
    for (int i = 0; i < 4; ++i)
      ASSERT_TRUE(h().Write(kAlpha, 0 + static_cast<uint64_t>(i) * 7).ok()) << Dump();
    ASSERT_TRUE(WaitFor([&] { return PeerDev(kAlpha, kBravo).resynced_bytes >= total / 4; }))
        << Dump();
    ASSERT_EQ(ReplOf(kAlpha, kBravo), ReplState::kSyncSource)
        << "the resync finished before the cut\n"
        << Dump();
    uint64_t done = PeerDev(kAlpha, kBravo).resynced_bytes;
    ASSERT_LT(done, total) << Dump();
    ASSERT_TRUE(c().Disconnect(cutter, other).ok()) << Dump();
    ASSERT_TRUE(WaitFor([&] { return ConnOf(other, cutter) != ConnState::kConnected; })) << Dump();
    uint64_t written = 0;
    for (int i = 0; i < 3; ++i, ++written)
      ASSERT_TRUE(h().Write(kAlpha, next_block++).ok()) << Dump();
    size_t mark = Mark();
    ASSERT_TRUE(c().Connect(cutter, other).ok()) << Dump();
    ASSERT_TRUE(WaitFor([&] { return !Lines(mark, "alpha", "resync-start").empty(); })) << Dump();
    uint64_t resumed = PeerDev(kAlpha, kBravo).resync_total_bytes;
    EXPECT_LT(resumed, total) << "the resync started over\n" << Dump();
    EXPECT_LE(resumed, total - done + written * kAppBlock)
        << "blocks already resynced were sent again\n"
        << Dump();
  }
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// An online verify alpha -> bravo is cut by a partition; after the heal a new
// verify runs to the end and reports exactly the 4 blocks altered behind the
// engine's back on bravo; invalidate on bravo then makes the data identical.
TEST_F(Scenario, S32_VerifyInterruptedByConnectionLossCompletes) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  for (uint64_t b = 0; b < 16; ++b) ASSERT_TRUE(h().Write(kAlpha, b * 60).ok()) << Dump();
  ASSERT_TRUE(h().Flush(kAlpha).ok()) << Dump();
  const uint64_t blocks = c().volume_bytes() / kAppBlock;
  for (uint64_t b = blocks - 4; b < blocks; ++b) {
    c().disk(kBravo, kV0)->Poke(engine::DiskArea::kData, b * kAppBlock, Bytes(kAppBlock, 0x5A));
  }
  auto verify = [&](Time timeout) {
    return c().AdminSync(
        kAlpha, "verify bravo",
        [](engine::Resource& r, uint64_t cookie) { r.Verify(cookie, kBravo, kV0); }, timeout);
  };
  size_t mark = Mark();
  AdminDone d = verify(60 * kSec);
  ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
  ASSERT_TRUE(WaitFor([&] { return ReplOf(kAlpha, kBravo) == ReplState::kVerifyS; }, 5 * kSec))
      << Dump();
  c().Partition(kAlpha, kBravo);
  ASSERT_TRUE(WaitFor([&] { return ConnOf(kAlpha, kBravo) != ConnState::kConnected; })) << Dump();
  EXPECT_TRUE(Lines(mark, "alpha", "verify-finished").empty()) << "the verify was not interrupted\n"
                                                               << Dump();
  c().Heal(kAlpha, kBravo);
  ASSERT_TRUE(WaitFor([&] { return Established(kAlpha, kBravo); })) << Dump();

  mark = Mark();
  d = verify(60 * kSec);
  ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
  ASSERT_TRUE(WaitFor([&] { return !Lines(mark, "alpha", "verify-finished").empty(); }, 120 * kSec))
      << Dump();
  std::vector<std::string> fin = Lines(mark, "alpha", "verify-finished");
  EXPECT_NE(fin[0].find("out-of-sync-kib:16"), std::string::npos) << fin[0] << "\n" << Dump();
  EXPECT_EQ(Lines(mark, "alpha", "Out of sync:").size() > 0, true) << Dump();
  EXPECT_TRUE(ResyncStarts(mark).empty()) << "verify must not resync by itself\n" << Dump();

  // bravo leaves VerifyT when alpha's end-of-verify message arrives.
  ASSERT_TRUE(WaitFor([&] { return ReplOf(kBravo, kAlpha) == ReplState::kEstablished; })) << Dump();
  d = c().AdminSync(kBravo, "invalidate",
                    [](engine::Resource& r, uint64_t cookie) { r.Invalidate(cookie, kV0); });
  ASSERT_TRUE(d.ok()) << d.message << "\n" << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// --- Row 33 [switch-sync-source] -----------------------------------------------

// charlie missed 1 MiB; while it resyncs, its sync source crashes; the other
// UpToDate node takes over as SyncSource and charlie finishes.
TEST_F(Scenario, S33_SyncSourceDiesAnotherNodeTakesOver) {
  Make(BaseOptions(3));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  c().Isolate(kCharlie);
  ASSERT_TRUE(WaitFor([&] { return ConnOf(kAlpha, kCharlie) != ConnState::kConnected; })) << Dump();
  for (uint64_t b = 0; b < 256; ++b) ASSERT_TRUE(h().Write(kAlpha, b).ok()) << Dump();
  ASSERT_TRUE(h().Flush(kAlpha).ok()) << Dump();
  ASSERT_TRUE(c().Secondary(kAlpha).ok()) << Dump();

  c().HealNetwork();
  NodeId source{};
  ASSERT_TRUE(WaitFor([&] {
    for (NodeId n : {kAlpha, kBravo}) {
      engine::PeerDeviceStatus pd = PeerDev(kCharlie, n);
      if (pd.repl == ReplState::kSyncTarget && pd.resynced_bytes >= 64 * 1024) {
        source = n;
        return true;
      }
    }
    return false;
  })) << Dump();
  NodeId survivor = source == kAlpha ? kBravo : kAlpha;
  ASSERT_EQ(DiskOf(kCharlie), DiskState::kInconsistent) << Dump();
  size_t mark = Mark();
  h().Crash(source);
  ASSERT_TRUE(WaitFor(
      [&] { return DiskOf(kCharlie) == DiskState::kUpToDate && Established(kCharlie, survivor); },
      300 * kSec))
      << "charlie did not finish from " << Name(survivor) << "\n"
      << Dump();
  // charlie's resync towards the survivor became the active one and finished.
  std::string towards = "peer-node-id:" + std::to_string(survivor.value()) + " ";
  EXPECT_TRUE(Logged(mark, kCharlie,
                     towards + "conn-name:" + Name(survivor) + " volume:0 replication:SyncTarget"))
      << Dump();
  EXPECT_TRUE(Logged(mark, kCharlie, "resync-finished name:r0 " + towards)) << Dump();
  ASSERT_TRUE(c().Restart(source).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// --- Row 34 [resync-finish, resync-missed-end-no-bits] -----------------------------

// The target's final UUID message of a resync is lost; on the next connect
// the handshake detects the missed finish: no full sync, nothing forgotten.
TEST_F(Scenario, S34_LostResyncFinishDetectedOnReconnect) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  ASSERT_TRUE(c().Disconnect(kBravo, kAlpha).ok()) << Dump();
  for (uint64_t b = 0; b < 16; ++b) ASSERT_TRUE(h().Write(kAlpha, b * 3).ok()) << Dump();
  ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
  // The handshake is over once bravo is SyncTarget; from now on every UUID
  // message bravo sends alpha is dropped (the final one of the resync).
  ASSERT_TRUE(
      c().RunUntil([&] { return ReplOf(kBravo, kAlpha) == ReplState::kSyncTarget; }, 30 * kSec))
      << Dump();
  c().network().SetMsgFault(kBravo, kAlpha, MsgType::kUuids, MsgFault::kDrop);
  ASSERT_TRUE(WaitFor([&] {
    return DiskOf(kBravo) == DiskState::kUpToDate &&
           ReplOf(kBravo, kAlpha) == ReplState::kEstablished;
  })) << Dump();
  ASSERT_GE(c().network().stats().fault_dropped, 1u) << "nothing was dropped\n" << Dump();
  // The Primary keeps writing meanwhile.
  ASSERT_TRUE(h().Write(kAlpha, 200).ok()) << Dump();

  ASSERT_TRUE(c().Disconnect(kBravo, kAlpha).ok()) << Dump();
  c().network().SetMsgFault(kBravo, kAlpha, MsgType::kUuids, MsgFault::kNone);
  ASSERT_TRUE(WaitFor([&] { return ConnOf(kAlpha, kBravo) != ConnState::kConnected; })) << Dump();
  size_t mark = Mark();
  ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  for (const ResyncStart& r : ResyncStarts(mark)) {
    EXPECT_LT(r.kib, 4096u) << "full sync after a missed resync finish\n" << Dump();
  }
  EXPECT_TRUE(Lines(mark, "", "split-brain").empty()) << Dump();
  EXPECT_TRUE(Lines(mark, "", "unrelated-data").empty()) << Dump();
  EXPECT_EQ(OosOf(kAlpha, kBravo), 0u) << Dump();
  EXPECT_EQ(OosOf(kBravo, kAlpha), 0u) << Dump();
  EXPECT_EQ(Gen(UuidOf(kAlpha)), Gen(UuidOf(kBravo))) << Dump();
  h().FinalChecks();
}

// --- Row 35 [busy-resync, write-during-resync, c-min-rate] -------------------------

// A 2 MiB resync over a slower link while the Primary writes all the time,
// also into out-of-sync blocks: the resync ends in finite time.
TEST_F(Scenario, S35_HeavyWritesDuringResyncTerminates) {
  ClusterOptions o = BaseOptions(2);
  o.net.min_delay = 1 * kMs;
  o.net.max_delay = 4 * kMs;
  Make(o);
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  ASSERT_TRUE(c().Disconnect(kBravo, kAlpha).ok()) << Dump();
  for (uint64_t b = 0; b < 512; ++b) ASSERT_TRUE(h().Write(kAlpha, b).ok()) << Dump();
  size_t mark = Mark();
  ASSERT_TRUE(c().Connect(kBravo, kAlpha).ok()) << Dump();
  ASSERT_TRUE(WaitFor([&] { return ReplOf(kBravo, kAlpha) == ReplState::kSyncTarget; })) << Dump();
  int during = 0;
  for (int i = 0; i < 300; ++i) {
    uint64_t block = h().sim.Uniform(0, 767);
    ASSERT_TRUE(h().Write(kAlpha, block).ok()) << Dump();
    if (ReplOf(kBravo, kAlpha) == ReplState::kSyncTarget) ++during;
  }
  EXPECT_GE(during, 50) << "too few writes overlapped the resync for this test to mean anything\n"
                        << Dump();
  ASSERT_TRUE(h().WaitHealthy(300 * kSec)) << "the resync did not terminate\n" << Dump();
  EXPECT_TRUE(Logged(mark, kBravo, "resync-finished")) << Dump();
  h().FinalChecks();
}

// --- Row 40 [day0-uuid-*, recreate-node-day0] --------------------------------------

// Both nodes share the day-0 generation of new-current-uuid --clear-bitmap.
// The first write after a promotion must start a new generation even though
// every peer is connected (otherwise a node re-provisioned with the day-0
// UUID would be taken as UpToDate without a resync); the connected peer
// follows the new generation.
TEST_F(Scenario, S40_Day0FirstWriteAfterPromotionStartsNewGeneration) {
  Make(BaseOptions(2));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  uint64_t day0 = Gen(UuidOf(kAlpha));
  ASSERT_NE(day0, 0u) << Dump();
  ASSERT_EQ(Gen(UuidOf(kBravo)), day0) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  ASSERT_TRUE(h().Write(kAlpha, 0).ok()) << Dump();
  uint64_t after = Gen(UuidOf(kAlpha));
  EXPECT_NE(after, day0) << "the first write after promotion kept the day-0 UUID " << Hex(day0)
                         << "\n"
                         << Dump();
  ASSERT_TRUE(WaitFor([&] { return Gen(UuidOf(kBravo)) == after; }, 5 * kSec))
      << "bravo " << Hex(UuidOf(kBravo)) << " alpha " << Hex(UuidOf(kAlpha)) << "\n"
      << Dump();
  ASSERT_TRUE(h().Write(kAlpha, 1).ok()) << Dump();
  EXPECT_EQ(Gen(UuidOf(kAlpha)), after) << "one new generation, not one per write\n" << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// --- Row 41 [diskless-primary-resync-absent-peer, diskless-primary-uuid-bump] ------

// charlie (diskless) is Primary; bravo is away twice while charlie writes.
// Each absence bumps the generation once; each rejoin is a bitmap resync of
// exactly the blocks written meanwhile, from alpha, with no split brain.
// DISABLED (known engine gap, issue 2): the rejoin resyncs one extra 4 KiB block (24 KiB instead of 20 KiB): a bit set before the absence is not cleared.
TEST_F(Scenario, DISABLED_S41_DisklessPrimaryAbsentPeerBitmapResyncOnRejoin) {
  ClusterOptions o = BaseOptions(3);
  o.diskless = {2};
  Make(o);
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kCharlie).ok()) << Dump();
  ASSERT_TRUE(h().Write(kCharlie, 0).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  uint64_t block = 10;
  for (int absence = 0; absence < 2; ++absence) {
    SCOPED_TRACE("absence " + std::to_string(absence));
    c().Isolate(kBravo);
    ASSERT_TRUE(WaitFor([&] {
      return ConnOf(kAlpha, kBravo) != ConnState::kConnected &&
             ConnOf(kCharlie, kBravo) != ConnState::kConnected;
    })) << Dump();
    uint64_t before = Gen(UuidOf(kAlpha));
    ASSERT_TRUE(h().Write(kCharlie, block++).ok()) << Dump();
    uint64_t bumped = Gen(UuidOf(kAlpha));
    EXPECT_NE(bumped, before) << "no new generation while bravo is away\n" << Dump();
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(h().Write(kCharlie, block++).ok()) << Dump();
    EXPECT_EQ(Gen(UuidOf(kAlpha)), bumped) << "more than one new generation per absence\n"
                                           << Dump();
    size_t mark = Mark();
    c().HealNetwork();
    ASSERT_TRUE(h().WaitHealthy()) << Dump();
    EXPECT_EQ(Resyncs(mark), OneResync(kAlpha, kBravo, 20)) << Dump();
    EXPECT_TRUE(Lines(mark, "", "split-brain").empty()) << Dump();
    EXPECT_EQ(Gen(UuidOf(kBravo)), Gen(UuidOf(kAlpha))) << Dump();
  }
  ASSERT_TRUE(c().Secondary(kCharlie).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// --- Row 42 [peer-acks, resync-reconciliation] ---------------------------------------

// alpha (Primary) crashes with writes in flight that reached bravo but not
// yet charlie; the two Secondaries reconcile and end identical before alpha
// returns.
TEST_F(Scenario, S42_SecondariesIdenticalAfterPrimaryCrashWithWritesInFlight) {
  Make(BaseOptions(3));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  for (uint64_t b = 0; b < 16; ++b) ASSERT_TRUE(h().Write(kAlpha, b).ok()) << Dump();
  ASSERT_TRUE(h().Flush(kAlpha).ok()) << Dump();
  // Everything alpha sends charlie from now on is late.
  c().network().SetMsgFault(kAlpha, kCharlie, MsgType::kData, MsgFault::kDelay, 50 * kMs);
  std::vector<std::shared_ptr<std::optional<AppResult>>> writes;
  for (uint64_t b = 0; b < 6; ++b) writes.push_back(WriteAsync(kAlpha, 100 + b));
  ASSERT_TRUE(WaitFor([&] { return BlockOf(kBravo, 105) != BlockOf(kCharlie, 105); }, 1 * kSec))
      << "the in-flight writes never reached bravo\n"
      << Dump();
  h().Crash(kAlpha);
  c().network().SetMsgFault(kAlpha, kCharlie, MsgType::kData, MsgFault::kNone);
  ASSERT_TRUE(WaitFor(
      [&] {
        return ConnOf(kBravo, kAlpha) != ConnState::kConnected &&
               ConnOf(kCharlie, kAlpha) != ConnState::kConnected && Established(kBravo, kCharlie) &&
               DiskOf(kBravo) == DiskState::kUpToDate && DiskOf(kCharlie) == DiskState::kUpToDate &&
               OosOf(kBravo, kCharlie) == 0 && OosOf(kCharlie, kBravo) == 0;
      },
      120 * kSec))
      << Dump();
  c().RunFor(5 * kSec);  // any reconciliation resync has long finished
  ASSERT_TRUE(Established(kBravo, kCharlie)) << Dump();
  EXPECT_TRUE(c().disk(kBravo, kV0)->Contents(engine::DiskArea::kData) ==
              c().disk(kCharlie, kV0)->Contents(engine::DiskArea::kData))
      << "bravo and charlie, both UpToDate and in sync by their bitmaps, hold different data "
         "(writes in flight when the Primary died must become out of sync between them)\n"
      << Dump();
  ASSERT_TRUE(c().Restart(kAlpha).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// alpha (Primary) loses both Secondaries at different points of its writes:
// bravo is cut off (silently on alpha's side, so alpha still sends it its
// writes) with alpha's last write still unconfirmed (its peer-ack not sent
// yet); alpha's next write reaches charlie only and is acknowledged once
// ko-count drops bravo, before alpha starts a new generation; then alpha
// crashes. bravo and
// charlie meet again with equal generations and bits towards each other. The
// one further along alpha's writes (charlie, by dagtag) must be the source,
// as in DRBD's reconciliation (drbd-semantics.md §3.6), not the lower node id:
// bravo's older block would overwrite the acknowledged write (random seed 124,
// found at af95f00).
TEST_F(Scenario, S42b_SecondaryFurtherAlongTheLostPrimarysWritesIsTheSource) {
  Make(BaseOptions(3));
  ASSERT_TRUE(h().UpSkipSync()) << Dump();
  ASSERT_TRUE(c().Primary(kAlpha).ok()) << Dump();
  for (uint64_t b = 0; b < 16; ++b) ASSERT_TRUE(h().Write(kAlpha, b).ok()) << Dump();
  ASSERT_TRUE(h().Flush(kAlpha).ok()) << Dump();
  c().RunFor(1 * kSec);  // every peer-ack so far has arrived
  ASSERT_TRUE(h().Write(kAlpha, 20).ok()) << Dump();
  c().Partition(kAlpha, kBravo, /*silent=*/true);
  c().Partition(kBravo, kCharlie);
  const uint64_t kBlock = 42;
  auto w = WriteAsync(kAlpha, kBlock);
  ASSERT_TRUE(WaitFor([&] { return w->has_value(); })) << Dump();
  ASSERT_TRUE(w->value().ok()) << Dump();
  const Bytes written = BlockOf(kCharlie, kBlock);
  ASSERT_TRUE(written != BlockOf(kBravo, kBlock)) << "bravo got the write it was cut off from\n"
                                                  << Dump();
  ASSERT_EQ(Gen(UuidOf(kCharlie)), Gen(UuidOf(kBravo))) << "the test needs equal generations\n"
                                                        << Dump();
  h().Crash(kAlpha);
  ASSERT_TRUE(WaitFor([&] {
    return ConnOf(kBravo, kAlpha) != ConnState::kConnected &&
           ConnOf(kBravo, kCharlie) != ConnState::kConnected &&
           ConnOf(kCharlie, kBravo) != ConnState::kConnected && OosOf(kBravo, kCharlie) > 0 &&
           OosOf(kCharlie, kBravo) > 0;
  })) << "both Secondaries must hold blocks the other may miss\n"
      << Dump();

  size_t mark = Mark();
  c().HealNetwork();
  ASSERT_TRUE(WaitFor([&] {
    return Established(kBravo, kCharlie) && OosOf(kBravo, kCharlie) == 0 &&
           OosOf(kCharlie, kBravo) == 0 && DiskOf(kBravo) == DiskState::kUpToDate &&
           DiskOf(kCharlie) == DiskState::kUpToDate;
  })) << Dump();
  EXPECT_TRUE(Logged(mark, kCharlie, "replication:SyncSource")) << Dump();
  EXPECT_FALSE(Logged(mark, kBravo, "replication:SyncSource")) << Dump();
  // Before alpha returns with its copy, the acknowledged write lives on.
  EXPECT_TRUE(BlockOf(kCharlie, kBlock) == written)
      << "the resync overwrote the acknowledged write with older data\n"
      << Dump();
  EXPECT_TRUE(BlockOf(kBravo, kBlock) == written) << Dump();
  ASSERT_TRUE(c().Restart(kAlpha).ok()) << Dump();
  ASSERT_TRUE(h().WaitHealthy()) << Dump();
  h().FinalChecks();
}

// --- Row 44 [stress-al, endurance] -------------------------------------------------

ClusterOptions AlStressOptions(engine::WireProtocol protocol) {
  ClusterOptions o = BaseOptions(2);
  o.volume_bytes = 64ull << 20;
  o.options.al_extents = 7;
  o.options.protocol = protocol;
  return o;
}

TEST_F(Scenario, S44_AlStressCrashesProtocolC) {
  Make(AlStressOptions(engine::WireProtocol::kC));
  AlStressRun();
}

TEST_F(Scenario, S44_AlStressCrashesProtocolA) {
  Make(AlStressOptions(engine::WireProtocol::kA));
  AlStressRun();
}

}  // namespace
}  // namespace tandem::sim
