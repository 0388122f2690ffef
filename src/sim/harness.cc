#include "sim/harness.h"

#include <memory>
#include <optional>

#include "sim/stamp.h"

namespace tandem::sim {

using engine::AppOp;
using engine::AppRequest;
using engine::IoStatus;

ClusterOptions DefaultClusterOptions() { return ClusterOptions{}; }

HistoryOptions HistoryOptionsFor(const ClusterOptions& options) {
  HistoryOptions h;
  h.volumes = options.volumes;
  h.blocks_per_volume = std::max(options.volume_bytes, options.max_volume_bytes) / kAppBlock;
  h.fua_is_durable = options.options.protocol == engine::WireProtocol::kC;
  h.ack_raises_floor = h.fua_is_durable;
  for (int i = 0; i < options.nodes; ++i) h.node_names.push_back(NodeNameFor(i));
  return h;
}

SimHarness::SimHarness(uint64_t seed, ClusterOptions options)
    : SimHarness(seed, [&options](Simulation&) { return options; }) {}

SimHarness::SimHarness(uint64_t seed,
                       const std::function<ClusterOptions(Simulation&)>& make_options)
    : sim(seed),
      cluster(&sim, make_options(sim)),
      history(HistoryOptionsFor(cluster.options())),
      checkers(&cluster, &history) {}

bool SimHarness::UpSkipSync(Time timeout) {
  if (!cluster.UpAll(timeout)) {
    cluster.Fail("up failed");
    return false;
  }
  auto all_connected = [&] {
    for (NodeId n : cluster.all()) {
      auto st = cluster.Status(n);
      if (!st || st->connections.size() + 1 != cluster.all().size()) return false;
      for (const auto& c : st->connections) {
        if (c.conn != engine::ConnState::kConnected) return false;
      }
    }
    return true;
  };
  if (!cluster.RunUntil(all_connected, timeout, 1 * kMs)) {
    std::string lines;
    for (NodeId n : cluster.all()) lines += " | " + cluster.StatusLine(n);
    cluster.Fail("the nodes did not connect:" + lines);
    return false;
  }
  for (NodeId n : cluster.all()) {
    if (cluster.diskless(n)) continue;
    for (int v = 0; v < cluster.options().volumes; ++v) {
      engine::AdminDone d = cluster.NewCurrentUuid(n, VolumeNr(static_cast<uint16_t>(v)), true);
      if (!d.ok()) {
        cluster.Fail("new-current-uuid --clear-bitmap failed: " + d.message);
        return false;
      }
    }
    break;
  }
  std::string why;
  if (!cluster.RunUntil([&] { return cluster.Healthy(&why); }, timeout, 1 * kMs)) {
    cluster.Fail("the cluster did not become healthy after skipping the initial sync: " + why);
    return false;
  }
  return true;
}

AppResult SimHarness::SubmitAndWait(NodeId n, AppRequest req,
                                    std::function<void(const AppResult&)> record, Time timeout) {
  auto result = std::make_shared<std::optional<AppResult>>();
  cluster.Submit(n, std::move(req), [result, record](const AppResult& r) {
    *result = r;
    if (record) record(r);
  });
  cluster.RunUntil([&] { return result->has_value(); }, timeout);
  if (result->has_value()) return **result;
  AppResult lost;
  lost.lost = true;
  return lost;
}

std::function<void(const AppResult&)> SimHarness::RecordWrite(NodeId n, uint64_t seq) {
  auto st = cluster.Status(n);
  bool was_primary = st && st->role == engine::Role::kPrimary;
  return [this, seq, was_primary](const AppResult& r) {
    WriteOutcome o = WriteOutcome::kUnknown;
    if (r.ok()) {
      o = WriteOutcome::kAcked;
    } else if (!r.lost && !was_primary &&
               (r.status == IoStatus::kNotPrimary || r.status == IoStatus::kInvalid)) {
      o = WriteOutcome::kRejected;
    }
    history.EndWrite(seq, o, sim.now());
  };
}

AppResult SimHarness::Write(NodeId n, uint64_t block, uint32_t blocks, bool fua, VolumeNr vnr) {
  uint64_t seq = history.BeginWrite(n, vnr, block, blocks, false, fua, sim.now());
  Bytes buf(uint64_t{blocks} * kAppBlock);
  for (uint32_t i = 0; i < blocks; ++i) {
    FillStampedBlock(Stamp{n.value(), vnr.value(), block + i, seq}, buf.data() + i * kAppBlock);
  }
  AppRequest req;
  req.vnr = vnr;
  req.op = AppOp::kWrite;
  req.offset = block * kAppBlock;
  req.length = blocks * kAppBlock;
  req.fua = fua;
  req.data = MakeShared(std::move(buf));
  return SubmitAndWait(n, std::move(req), RecordWrite(n, seq), 60 * kSec);
}

AppResult SimHarness::Zero(NodeId n, uint64_t block, uint32_t blocks, bool trim, VolumeNr vnr) {
  uint64_t seq = history.BeginWrite(n, vnr, block, blocks, true, false, sim.now());
  AppRequest req;
  req.vnr = vnr;
  req.op = trim ? AppOp::kTrim : AppOp::kWriteZeroes;
  req.offset = block * kAppBlock;
  req.length = blocks * kAppBlock;
  return SubmitAndWait(n, std::move(req), RecordWrite(n, seq), 60 * kSec);
}

AppResult SimHarness::Read(NodeId n, uint64_t block, uint32_t blocks, VolumeNr vnr) {
  History::ReadToken token = history.BeginRead(vnr, block, blocks, sim.now());
  AppRequest req;
  req.vnr = vnr;
  req.op = AppOp::kRead;
  req.offset = block * kAppBlock;
  req.length = blocks * kAppBlock;
  return SubmitAndWait(
      n, std::move(req),
      [this, n, token = std::move(token)](const AppResult& r) {
        if (!r.ok()) return;
        std::string err = r.data ? history.CheckRead(token, *r.data) : "read ok without data";
        if (!err.empty()) {
          cluster.Fail("invariant 3: read on " + cluster.name(n) + ": " + err);
        }
      },
      60 * kSec);
}

AppResult SimHarness::Flush(NodeId n) {
  uint64_t id = history.BeginFlush(n, sim.now());
  AppRequest req;
  req.op = AppOp::kFlush;
  return SubmitAndWait(
      n, std::move(req),
      [this, id](const AppResult& r) { history.EndFlush(id, r.ok(), sim.now()); }, 60 * kSec);
}

void SimHarness::Crash(NodeId n) {
  cluster.Crash(n);
  history.NodeCrashed(n, sim.now());
}

bool SimHarness::WaitHealthy(Time timeout) { return cluster.Quiesce(timeout); }

void SimHarness::FinalChecks() {
  std::string why;
  if (!cluster.Healthy(&why)) {
    cluster.Fail("final checks on an unhealthy cluster: " + why);
    return;
  }
  checkers.CheckRoles();
  if (!cluster.failed()) checkers.CheckConverged();
  if (!cluster.failed()) checkers.CheckDurable();
}

bool SimHarness::Expect(bool cond, const std::string& what) {
  if (!cond) cluster.Fail("expectation failed: " + what);
  return cond;
}

RunResult SimHarness::Result(std::string summary) const {
  RunResult r;
  r.ok = !cluster.failed();
  r.violation = cluster.failure();
  r.trace = cluster.TraceText();
  r.summary = std::move(summary);
  r.events = sim.events_run();
  r.sim_time = sim.now();
  return r;
}

}  // namespace tandem::sim
