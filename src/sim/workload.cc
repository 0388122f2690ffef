#include "sim/workload.h"

#include <algorithm>

#include "common/check.h"
#include "sim/stamp.h"

namespace tandem::sim {

using engine::AdminDone;
using engine::AppOp;
using engine::AppRequest;
using engine::DiskArea;
using engine::DiskState;
using engine::IoStatus;
using engine::MsgType;
using engine::Resource;
using engine::Role;

namespace {

std::string Ms(Time t) { return std::to_string(t / kMs) + "ms"; }

constexpr MsgType kFaultableTypes[] = {
    MsgType::kParams,        MsgType::kSizes,       MsgType::kUuids,       MsgType::kState,
    MsgType::kTwopcPrepare,  MsgType::kTwopcReply,  MsgType::kTwopcCommit, MsgType::kTwopcAbort,
    MsgType::kData,          MsgType::kBarrier,     MsgType::kBarrierAck,  MsgType::kWriteAck,
    MsgType::kOutOfSync,     MsgType::kReadRequest, MsgType::kReadReply,   MsgType::kBitmap,
    MsgType::kResyncRequest, MsgType::kResyncReply, MsgType::kResyncAck,   MsgType::kCurrentUuid,
    MsgType::kPing,          MsgType::kPingAck};

}  // namespace

Workload::Workload(SimCluster* cluster, History* history, Checkers* checkers,
                   WorkloadOptions options)
    : cluster_(cluster),
      history_(history),
      checkers_(checkers),
      options_(options),
      opened_(cluster->size(), false),
      repair_busy_(cluster->size(), false) {}

std::vector<NodeId> Workload::Running() const {
  std::vector<NodeId> out;
  for (NodeId n : cluster_->all()) {
    if (cluster_->running(n)) out.push_back(n);
  }
  return out;
}

bool Workload::IsPrimary(NodeId n) const {
  auto st = cluster_->Status(n);
  return st && st->role == Role::kPrimary;
}

bool Workload::HasQuorum(NodeId n) const {
  auto st = cluster_->Status(n);
  return st && st->quorum;
}

// --- phases ------------------------------------------------------------------

bool Workload::Setup() {
  if (!cluster_->UpAll()) {
    cluster_->Fail("setup: bringing the nodes up failed");
    return false;
  }
  auto all_connected = [&] {
    for (NodeId n : cluster_->all()) {
      auto st = cluster_->Status(n);
      if (!st || st->connections.size() + 1 != static_cast<size_t>(cluster_->size())) return false;
      for (const auto& c : st->connections) {
        if (c.conn != engine::ConnState::kConnected) return false;
      }
    }
    return true;
  };
  if (!cluster_->RunUntil(all_connected, 60 * kSec, 1 * kMs)) {
    std::string lines;
    for (NodeId n : cluster_->all()) lines += " | " + cluster_->StatusLine(n);
    cluster_->Fail("setup: the nodes did not connect:" + lines);
    return false;
  }
  NodeId first{};
  for (NodeId n : cluster_->all()) {
    if (!cluster_->diskless(n)) {
      first = n;
      break;
    }
  }
  for (int v = 0; v < cluster_->options().volumes; ++v) {
    AdminDone d = cluster_->NewCurrentUuid(first, VolumeNr(static_cast<uint16_t>(v)), true);
    if (!d.ok()) {
      cluster_->Fail("setup: new-current-uuid --clear-bitmap failed: " + d.message);
      return false;
    }
  }
  std::string why;
  if (!cluster_->RunUntil([&] { return cluster_->Healthy(&why); }, 60 * kSec, 1 * kMs)) {
    cluster_->Fail("setup: the cluster did not become healthy: " + why);
    return false;
  }
  std::vector<NodeId> nodes = cluster_->all();
  writer_ = nodes[sim().Pick(nodes.size())];
  AdminDone d = cluster_->Primary(writer_);
  if (!d.ok()) {
    cluster_->Fail("setup: primary on " + cluster_->name(writer_) + " failed: " + d.message);
    return false;
  }
  session_ = Session::kActive;
  auto_mode_ = false;
  ++session_gen_;
  return true;
}

void Workload::Run() {
  for (int i = 0; i < options_.steps && !cluster_->failed(); ++i) Step();
}

void Workload::RunAll() {
  if (!Setup()) return;
  Run();
  if (cluster_->failed() || !Heal()) return;
  checkers_->CheckStep();
  if (!cluster_->failed()) checkers_->CheckConverged();
  if (!cluster_->failed()) checkers_->CheckDurable();
}

void Workload::Step() {
  ++stats_.ops;
  MaybeFault();
  CheckSession();
  DoOp();
  cluster_->RunFor(sim().UniformTime(options_.min_think, options_.max_think));
  if (!cluster_->failed()) checkers_->CheckStep();
}

// --- sessions (who writes) ---------------------------------------------------

void Workload::CheckSession() {
  if (session_ == Session::kNone || session_ == Session::kStarting) return;
  if (!cluster_->running(writer_)) {
    session_ = Session::kNone;
    ++session_gen_;
    return;
  }
  bool quorum_on = cluster_->config(writer_).options.quorum != engine::kQuorumOff;
  if (session_ == Session::kActive && quorum_on && !HasQuorum(writer_)) {
    // The writer is cut off: the application moves elsewhere (failover). The
    // old Primary stays Primary until someone demotes it.
    cluster_->Trace("sim", "failover: " + cluster_->name(writer_) + " lost quorum");
    ++stats_.failovers;
    session_ = Session::kNone;
    ++session_gen_;
    return;
  }
  if (session_ == Session::kEnding && !demote_issued_ && cluster_->app_inflight(writer_) == 0) {
    demote_issued_ = true;
    uint64_t gen = session_gen_;
    NodeId n = writer_;
    if (auto_mode_) {
      opened_[n.value()] = false;
      cluster_->CloseWriter(n);
      session_ = Session::kNone;
      ++session_gen_;
      return;
    }
    cluster_->Admin(
        n, "secondary", [](Resource& r, uint64_t c) { r.Secondary(c, false); },
        [this, gen](const AdminDone&) {
          if (gen != session_gen_) return;
          session_ = Session::kNone;
          ++session_gen_;
        });
  }
}

void Workload::StartSession() {
  std::vector<NodeId> nodes = Running();
  if (nodes.empty()) return;
  NodeId n = nodes[sim().Pick(nodes.size())];
  auto_mode_ = sim().Chance(options_.auto_promote_chance);
  session_ = Session::kStarting;
  writer_ = n;
  uint64_t gen = ++session_gen_;
  ++stats_.role_changes;
  bool is_auto = auto_mode_;
  auto done = [this, gen, n, is_auto](const AdminDone& d) {
    if (gen != session_gen_) return;
    if (d.ok()) {
      session_ = Session::kActive;
      if (is_auto) opened_[n.value()] = true;
    } else {
      session_ = Session::kNone;
      ++session_gen_;
    }
  };
  if (auto_mode_) {
    cluster_->Admin(
        n, "open-for-write", [](Resource& r, uint64_t c) { r.OpenForWrite(c); }, done);
  } else {
    cluster_->Admin(
        n, "primary", [](Resource& r, uint64_t c) { r.Primary(c, false); }, done);
  }
}

void Workload::EndSession() {
  session_ = Session::kEnding;
  demote_issued_ = false;
  ++stats_.role_changes;
}

void Workload::DemoteStray() {
  for (NodeId n : Running()) {
    if (session_ != Session::kNone && n == writer_) continue;
    if (!IsPrimary(n)) continue;
    if (opened_[n.value()]) {
      opened_[n.value()] = false;
      cluster_->CloseWriter(n);
    } else {
      bool force = sim().Chance(0.5);
      cluster_->Admin(
          n, force ? "secondary --force" : "secondary",
          [force](Resource& r, uint64_t c) { r.Secondary(c, force); }, nullptr);
    }
    return;
  }
}

// --- operations --------------------------------------------------------------

void Workload::DoOp() {
  const WorkloadOptions& o = options_;
  int total = o.w_write + o.w_read + o.w_flush + o.w_trim + o.w_zeroes + o.w_role + o.w_stray;
  int r = static_cast<int>(sim().Uniform(0, total - 1));
  if (session_ == Session::kNone && sim().Chance(0.3)) {
    StartSession();
    return;
  }
  if ((r -= o.w_role) < 0) {
    if (session_ == Session::kActive) {
      EndSession();
    } else if (session_ == Session::kNone) {
      DemoteStray();
    }
    return;
  }
  if ((r -= o.w_stray) < 0) {
    std::vector<NodeId> nodes = Running();
    if (!nodes.empty()) Write(nodes[sim().Pick(nodes.size())], AppOp::kWrite);
    return;
  }
  if (session_ != Session::kActive || !cluster_->running(writer_) ||
      cluster_->app_inflight(writer_) >= static_cast<size_t>(o.max_inflight)) {
    return;
  }
  if ((r -= o.w_write) < 0) return Write(writer_, AppOp::kWrite);
  if ((r -= o.w_read) < 0) return Read(writer_);
  if ((r -= o.w_flush) < 0) return Flush(writer_);
  if ((r -= o.w_trim) < 0) return Write(writer_, AppOp::kTrim);
  Write(writer_, AppOp::kWriteZeroes);
}

bool Workload::PickRange(VolumeNr vnr, uint32_t blocks, bool for_write, uint64_t* first) {
  (void)vnr;
  uint64_t nb = history_->blocks_per_volume();
  uint64_t hot = std::min(options_.hot_blocks, nb);
  for (int attempt = 0; attempt < 8; ++attempt) {
    uint64_t span = sim().Chance(0.8) ? hot : nb;
    if (span < blocks) span = nb;
    uint64_t f = sim().Uniform(0, span - blocks);
    bool free = true;
    for (uint64_t b = f; for_write && b < f + blocks; ++b) free = free && !history_->Busy(vnr, b);
    if (free) {
      *first = f;
      return true;
    }
  }
  return false;
}

void Workload::Write(NodeId n, AppOp op) {
  VolumeNr vnr(static_cast<uint16_t>(sim().Uniform(0, cluster_->options().volumes - 1)));
  uint32_t blocks =
      sim().Chance(0.7) ? 1 : static_cast<uint32_t>(sim().Uniform(1, options_.max_blocks_per_io));
  uint64_t first;
  if (!PickRange(vnr, blocks, true, &first)) return;
  bool fua = sim().Chance(options_.fua_chance);
  bool zero = op != AppOp::kWrite;
  uint64_t seq = history_->BeginWrite(n, vnr, first, blocks, zero, fua, sim().now());
  AppRequest req;
  req.vnr = vnr;
  req.op = op;
  req.offset = first * kAppBlock;
  req.length = blocks * kAppBlock;
  req.fua = fua;
  if (!zero) {
    Bytes buf(req.length);
    for (uint32_t i = 0; i < blocks; ++i) {
      FillStampedBlock(Stamp{n.value(), vnr.value(), first + i, seq}, buf.data() + i * kAppBlock);
    }
    req.data = MakeShared(std::move(buf));
    ++stats_.writes;
  } else {
    ++stats_.trims;
  }
  // Only a write refused by a node that was not Primary when it was submitted
  // is known not to have been applied anywhere.
  bool was_primary = IsPrimary(n);
  cluster_->Submit(n, std::move(req), [this, seq, was_primary](const AppResult& r) {
    WriteOutcome o = WriteOutcome::kUnknown;
    if (r.ok()) {
      o = WriteOutcome::kAcked;
    } else if (!r.lost && !was_primary &&
               (r.status == IoStatus::kNotPrimary || r.status == IoStatus::kInvalid)) {
      o = WriteOutcome::kRejected;
    }
    history_->EndWrite(seq, o, sim().now());
  });
}

void Workload::Read(NodeId n) {
  VolumeNr vnr(static_cast<uint16_t>(sim().Uniform(0, cluster_->options().volumes - 1)));
  uint32_t blocks =
      sim().Chance(0.7) ? 1 : static_cast<uint32_t>(sim().Uniform(1, options_.max_blocks_per_io));
  uint64_t first;
  if (!PickRange(vnr, blocks, false, &first)) return;
  History::ReadToken token = history_->BeginRead(vnr, first, blocks, sim().now());
  AppRequest req;
  req.vnr = vnr;
  req.op = AppOp::kRead;
  req.offset = first * kAppBlock;
  req.length = blocks * kAppBlock;
  ++stats_.reads;
  cluster_->Submit(n, req, [this, n, token = std::move(token)](const AppResult& r) {
    if (!r.ok()) return;
    if (!r.data) {
      cluster_->Fail("read on " + cluster_->name(n) + " completed ok without data");
      return;
    }
    std::string err = history_->CheckRead(token, *r.data);
    if (!err.empty()) cluster_->Fail("invariant 3: read on " + cluster_->name(n) + ": " + err);
  });
}

void Workload::Flush(NodeId n) {
  uint64_t id = history_->BeginFlush(n, sim().now());
  AppRequest req;
  req.op = AppOp::kFlush;
  ++stats_.flushes;
  cluster_->Submit(n, req,
                   [this, id](const AppResult& r) { history_->EndFlush(id, r.ok(), sim().now()); });
}

// --- faults ------------------------------------------------------------------

void Workload::MaybeFault() {
  const FaultOptions& f = options_.faults;
  if (static_cast<int>(faults_.size()) >= f.max_active || !sim().Chance(f.per_step)) return;
  InjectFault();
}

void Workload::AddFault(std::string what, Time duration, std::function<void()> end) {
  uint64_t id = next_fault_++;
  cluster_->Trace("sim", "fault: " + what + " for " + Ms(duration));
  ++stats_.faults;
  ActiveFault& f = faults_[id];
  f.what = std::move(what);
  f.end = std::move(end);
  f.end_event = sim().After(duration, [this, id] { EndFault(id); });
}

void Workload::EndFault(uint64_t id) {
  auto it = faults_.find(id);
  if (it == faults_.end()) return;
  ActiveFault f = std::move(it->second);
  faults_.erase(it);
  cluster_->Trace("sim", "fault ends: " + f.what);
  if (f.end) f.end();
}

void Workload::CrashNode(NodeId n) {
  opened_[n.value()] = false;
  cluster_->Crash(n);
  history_->NodeCrashed(n, sim().now());
  if (session_ != Session::kNone && writer_ == n) {
    session_ = Session::kNone;
    ++session_gen_;
  }
}

void Workload::Reattach(NodeId n) {
  sim().After(sim().UniformTime(1 * kMs, 100 * kMs), [this, n] {
    auto st = cluster_->Status(n);
    if (!st || cluster_->diskless(n)) return;
    for (const auto& v : st->volumes) {
      if (v.disk == DiskState::kDiskless) cluster_->StartAttach(n, v.vnr, nullptr);
    }
  });
}

void Workload::InjectFault() {
  const FaultOptions& fo = options_.faults;
  enum Kind { kCrash, kCut2, kCut1, kIsolate, kFlap, kWriteErr, kReadErr, kFreeze, kMsg };
  std::vector<Kind> kinds;
  if (fo.crashes) kinds.push_back(kCrash);
  if (fo.partitions && cluster_->size() > 1) {
    kinds.insert(kinds.end(), {kCut2, kCut1, kIsolate, kFlap});
  }
  if (fo.disk_errors) kinds.insert(kinds.end(), {kWriteErr, kReadErr});
  if (fo.disk_freezes) kinds.push_back(kFreeze);
  if (fo.message_faults && cluster_->size() > 1) kinds.push_back(kMsg);
  if (kinds.empty()) return;
  Kind kind = kinds[sim().Pick(kinds.size())];
  Time duration = sim().UniformTime(fo.min_duration, fo.max_duration);
  std::vector<NodeId> nodes = cluster_->all();
  NodeId a = nodes[sim().Pick(nodes.size())];
  NodeId b = a;
  if (nodes.size() > 1) {
    while (b == a) b = nodes[sim().Pick(nodes.size())];
  }
  std::vector<NodeId> diskful;
  for (NodeId n : nodes) {
    if (!cluster_->diskless(n)) diskful.push_back(n);
  }
  switch (kind) {
    case kCrash: {
      std::vector<NodeId> up = Running();
      int crashed = cluster_->size() - static_cast<int>(up.size());
      if (crashed >= fo.max_crashed || up.empty()) return;
      NodeId n = up[sim().Pick(up.size())];
      // Without quorum (or fencing) nothing tells a stale node it is stale,
      // so TESTING.md's guarantee holds only while the schedule leaves an
      // up-to-date replica: crash a node only while every other running
      // diskful node is in sync with it.
      if (cluster_->options().options.quorum == engine::kQuorumOff && !InSyncWithAll(n)) return;
      CrashNode(n);
      AddFault("crash " + cluster_->name(n), duration, [this, n] {
        if (cluster_->running(n)) return;
        cluster_->StartRestart(n, [this, n](const AdminDone& d) {
          if (!d.ok()) cluster_->Trace("sim", "restart of " + cluster_->name(n) + ": " + d.message);
        });
      });
      return;
    }
    case kCut2: {
      bool silent = sim().Chance(0.3);
      cluster_->Partition(a, b, silent);
      AddFault("partition " + cluster_->name(a) + " <-> " + cluster_->name(b), duration,
               [this, a, b] { cluster_->Heal(a, b); });
      return;
    }
    case kCut1: {
      bool silent = sim().Chance(0.3);
      cluster_->PartitionOneWay(a, b, silent);
      AddFault("partition " + cluster_->name(a) + " -> " + cluster_->name(b), duration,
               [this, a, b] { cluster_->network().SetLink(a, b, true); });
      return;
    }
    case kIsolate: {
      bool silent = sim().Chance(0.3);
      cluster_->Isolate(a, silent);
      AddFault("isolate " + cluster_->name(a), duration, [this, a] {
        for (NodeId o : cluster_->all()) {
          if (o != a) cluster_->Heal(a, o);
        }
      });
      return;
    }
    case kFlap: {
      cluster_->Partition(a, b);
      AddFault("flap " + cluster_->name(a) + " <-> " + cluster_->name(b),
               sim().UniformTime(1 * kMs, 50 * kMs), [this, a, b] { cluster_->Heal(a, b); });
      return;
    }
    case kWriteErr:
    case kReadErr: {
      if (diskful.empty()) return;
      NodeId n = diskful[sim().Pick(diskful.size())];
      VolumeNr vnr(static_cast<uint16_t>(sim().Uniform(0, cluster_->options().volumes - 1)));
      DiskArea area = sim().Chance(0.85) ? DiskArea::kData : DiskArea::kMeta;
      int count = sim().Chance(0.5) ? -1 : static_cast<int>(sim().Uniform(1, 3));
      bool writes = kind == kWriteErr;
      SimDisk* d = cluster_->disk(n, vnr);
      if (writes) {
        d->FailWrites(area, count);
      } else {
        d->FailReads(area, count);
      }
      std::string what = std::string(writes ? "write" : "read") + " errors (" +
                         (count < 0 ? "all" : std::to_string(count)) + ") on " + cluster_->name(n) +
                         " v" + std::to_string(vnr.value()) +
                         (area == DiskArea::kData ? " data" : " meta");
      AddFault(what, duration, [this, n, d, area, writes] {
        if (writes) {
          d->FailWrites(area, 0);
        } else {
          d->FailReads(area, 0);
        }
        Reattach(n);
      });
      return;
    }
    case kFreeze: {
      if (diskful.empty()) return;
      NodeId n = diskful[sim().Pick(diskful.size())];
      VolumeNr vnr(static_cast<uint16_t>(sim().Uniform(0, cluster_->options().volumes - 1)));
      DiskArea area = sim().Chance(0.8) ? DiskArea::kData : DiskArea::kMeta;
      SimDisk* d = cluster_->disk(n, vnr);
      d->Freeze(area);
      AddFault("freeze " + cluster_->name(n) + " v" + std::to_string(vnr.value()) +
                   (area == DiskArea::kData ? " data" : " meta"),
               duration, [d, area] { d->Unfreeze(area); });
      return;
    }
    case kMsg: {
      MsgType type = kFaultableTypes[sim().Pick(std::size(kFaultableTypes))];
      bool drop = sim().Chance(0.6);
      Time delay = drop ? 0 : sim().UniformTime(1 * kMs, 1 * kSec);
      cluster_->network().SetMsgFault(a, b, type, drop ? MsgFault::kDrop : MsgFault::kDelay, delay);
      AddFault(std::string(drop ? "drop " : "delay ") + engine::MsgTypeName(type) + " " +
                   cluster_->name(a) + " -> " + cluster_->name(b),
               duration, [this, a, b, type] {
                 cluster_->network().SetMsgFault(a, b, type, MsgFault::kNone);
               });
      return;
    }
  }
}

// --- healing -----------------------------------------------------------------

bool Workload::InSyncWithAll(NodeId n) const {
  for (NodeId o : Running()) {
    if (o == n || cluster_->diskless(o)) continue;
    auto st = cluster_->Status(o);
    if (!st) return false;
    for (const auto& v : st->volumes)
      if (v.disk != DiskState::kUpToDate) return false;
    for (const auto& c : st->connections) {
      if (c.peer != n) continue;
      if (c.conn != engine::ConnState::kConnected) return false;
      for (const auto& pd : c.volumes)
        if (pd.repl != engine::ReplState::kEstablished ||
            (!cluster_->diskless(n) && pd.peer_disk != DiskState::kUpToDate) ||
            pd.out_of_sync_bytes)
          return false;
    }
  }
  return true;
}

NodeId Workload::Survivor() const {
  std::vector<NodeId> candidates;
  for (NodeId n : cluster_->all()) {
    auto st = cluster_->Status(n);
    if (!st || cluster_->diskless(n) || st->volumes.empty()) continue;
    if (st->volumes[0].disk == DiskState::kUpToDate) candidates.push_back(n);
  }
  if (candidates.empty()) {
    for (NodeId n : cluster_->all()) {
      if (!cluster_->diskless(n)) return n;
    }
    return cluster_->node(0);
  }
  auto has = [&](NodeId n) {
    return std::find(candidates.begin(), candidates.end(), n) != candidates.end();
  };
  if (session_ == Session::kActive && has(writer_)) return writer_;
  if (auto last = history_->last_ack_node(); last && has(*last)) return *last;
  return candidates.front();
}

void Workload::Repair() {
  NodeId survivor = Survivor();
  for (NodeId n : Running()) {
    if (repair_busy_[n.value()]) continue;
    auto st = cluster_->Status(n);
    auto issue = [&](std::string what, SimCluster::AdminCall call) {
      repair_busy_[n.value()] = true;
      cluster_->Admin(n, std::move(what), std::move(call),
                      [this, n](const AdminDone&) { repair_busy_[n.value()] = false; });
    };
    bool is_writer = session_ != Session::kNone && n == writer_;
    if (st->role == Role::kPrimary && !is_writer) {
      if (opened_[n.value()]) {
        opened_[n.value()] = false;
        cluster_->CloseWriter(n);
      } else {
        issue("secondary --force", [](Resource& r, uint64_t c) { r.Secondary(c, true); });
      }
      continue;
    }
    bool attached = false;
    for (const auto& v : st->volumes) {
      if (!cluster_->diskless(n) && v.disk == DiskState::kDiskless) {
        repair_busy_[n.value()] = true;
        cluster_->StartAttach(n, v.vnr, [this, n](const AdminDone& d) {
          repair_busy_[n.value()] = false;
          // A Primary without access to good data refuses its own stale disk
          // (ERR_DATA_NOT_CURRENT): the application gives up on it, so that
          // the next round demotes it and the disk can attach.
          if (d.code == engine::SsCode::kDataNotCurrent && session_ != Session::kNone &&
              writer_ == n) {
            cluster_->Trace("sim", "repair: " + cluster_->name(n) +
                                       " has no good data to attach to; the writer stops");
            session_ = Session::kNone;
            ++session_gen_;
          }
        });
        attached = true;
        break;
      }
    }
    if (attached) continue;
    for (const auto& c : st->connections) {
      if (c.conn != engine::ConnState::kStandAlone) continue;
      bool discard = n != survivor && c.peer == survivor;
      if (discard) ++stats_.split_brain_resolutions;
      NodeId peer = c.peer;
      issue(std::string("connect ") + cluster_->name(peer) + (discard ? " --discard-my-data" : ""),
            [peer, discard](Resource& r, uint64_t cookie) { r.Connect(cookie, peer, discard); });
      break;
    }
  }
}

bool Workload::Heal() {
  cluster_->Trace("sim", "heal: ending every fault");
  while (!faults_.empty()) {
    auto it = faults_.begin();
    sim().Cancel(it->second.end_event);
    EndFault(it->first);
  }
  cluster_->HealNetwork();
  for (NodeId n : cluster_->all()) {
    for (int v = 0; v < cluster_->options().volumes; ++v) {
      if (SimDisk* d = cluster_->disk(n, VolumeNr(static_cast<uint16_t>(v)))) d->ClearFaults();
    }
    if (!cluster_->running(n)) cluster_->StartRestart(n, nullptr);
  }
  Time deadline = sim().now() + options_.heal_timeout;
  std::string why;
  while (!cluster_->failed() && sim().now() < deadline) {
    if (cluster_->RunUntil([&] { return cluster_->Healthy(&why); }, 2 * kSec, 10 * kMs)) break;
    Repair();
  }
  if (cluster_->failed()) return false;
  if (!cluster_->Healthy(&why)) {
    std::string lines;
    for (NodeId n : cluster_->all()) lines += " | " + cluster_->StatusLine(n);
    cluster_->Fail("heal: the cluster did not converge within " + Ms(options_.heal_timeout) + ": " +
                   why + lines);
    return false;
  }
  return true;
}

}  // namespace tandem::sim
