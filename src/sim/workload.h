// Workload: a simulated application plus a fault schedule, both driven by the
// simulation's RNG, in three phases:
//
//  Setup(): every node up, the initial sync skipped (new-current-uuid
//    --clear-bitmap), one node promoted.
//  Run():   `steps` steps; each may inject or end a fault, issues one
//    operation (stamped writes, reads, flushes, FUA writes, trims,
//    write-zeroes, a promotion or demotion through Primary/Secondary or
//    OpenForWrite/CloseWriter, failover when the writer died or lost quorum),
//    lets a random think time pass, and runs the per-step checkers.
//  Heal():  ends every fault, restarts crashed nodes, re-attaches failed
//    disks, demotes stray Primaries, resolves split brains (discarding the
//    side that is not the survivor) and waits until the cluster is healthy.
//
// Every fault is bounded (it ends by itself after its duration, or in Heal),
// so a run always heals. Writes never overlap another write in flight to the
// same block (History's precondition).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/checkers.h"
#include "sim/history.h"
#include "sim/sim_cluster.h"

namespace tandem::sim {

struct FaultOptions {
  bool crashes = true;
  bool partitions = true;  // two-way, one-way, isolation, flaps (some silent)
  bool disk_errors = true;
  bool disk_freezes = true;
  bool message_faults = true;  // drop or delay one message type on one link
  double per_step = 0.03;      // chance to start a fault at a step
  int max_active = 2;
  int max_crashed = 1;
  Time min_duration = 5 * kMs;
  Time max_duration = 2 * kSec;
};

struct WorkloadOptions {
  int steps = 300;
  int max_inflight = 6;  // app requests in flight on the writer
  Time min_think = 100 * kUs;
  Time max_think = 8 * kMs;
  uint64_t hot_blocks = 64;  // most I/O goes to the first hot_blocks blocks of a volume
  uint32_t max_blocks_per_io = 4;
  // Operation weights.
  int w_write = 40, w_read = 25, w_flush = 8, w_trim = 3, w_zeroes = 3, w_role = 2, w_stray = 1;
  double fua_chance = 0.15;
  double auto_promote_chance = 0.5;  // a session opens with OpenForWrite instead of Primary
  FaultOptions faults;
  Time heal_timeout = 300 * kSec;
};

struct WorkloadStats {
  uint64_t ops = 0, writes = 0, reads = 0, flushes = 0, trims = 0, role_changes = 0;
  uint64_t faults = 0, failovers = 0, split_brain_resolutions = 0;
};

class Workload {
 public:
  // The cluster, history and checkers must outlive the workload.
  Workload(SimCluster* cluster, History* history, Checkers* checkers, WorkloadOptions options);

  bool Setup();
  void Run();
  bool Heal();
  // Setup, Run, Heal, then invariants 4 and 5. The outcome is the cluster's
  // failed()/failure().
  void RunAll();

  const WorkloadStats& stats() const { return stats_; }

 private:
  enum class Session : uint8_t { kNone, kStarting, kActive, kEnding };
  struct ActiveFault {
    std::string what;
    Simulation::EventId end_event = 0;
    std::function<void()> end;
  };

  Simulation& sim() { return cluster_->sim(); }
  void Step();
  void DoOp();
  void CheckSession();
  void StartSession();
  void EndSession();
  void DemoteStray();
  bool IsPrimary(NodeId n) const;
  bool HasQuorum(NodeId n) const;
  std::vector<NodeId> Running() const;
  // App operations on node n.
  void Write(NodeId n, engine::AppOp op);
  void Read(NodeId n);
  void Flush(NodeId n);
  bool PickRange(VolumeNr vnr, uint32_t blocks, bool for_write, uint64_t* first);
  // Faults.
  void MaybeFault();
  void InjectFault();
  void AddFault(std::string what, Time duration, std::function<void()> end);
  void EndFault(uint64_t id);
  void CrashNode(NodeId n);
  void Reattach(NodeId n);
  // Heal helpers.
  void Repair();
  // Every other running diskful node is connected, UpToDate and in sync with n.
  bool InSyncWithAll(NodeId n) const;
  NodeId Survivor() const;

  SimCluster* cluster_;
  History* history_;
  Checkers* checkers_;
  WorkloadOptions options_;
  WorkloadStats stats_;
  Session session_ = Session::kNone;
  NodeId writer_{};  // the session's node
  bool auto_mode_ = false;
  uint64_t session_gen_ = 0;  // callbacks of an older session are ignored
  bool demote_issued_ = false;
  std::vector<bool> opened_;  // per node: opened for write (auto-promote), not yet closed
  std::map<uint64_t, ActiveFault> faults_;
  uint64_t next_fault_ = 1;
  std::vector<bool> repair_busy_;  // per node: a repair admin command is in flight
};

}  // namespace tandem::sim
