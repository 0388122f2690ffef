// SimHarness: one simulated run with everything a test or scenario needs: the
// simulation, the cluster, the history of application I/O and the invariant
// checkers, plus synchronous helpers that read like the steps of a DRBD test
// ("write block 3 on alpha with FUA", "crash bravo", "wait until healthy").
//
// Every helper records what it did in the History, so the checkers judge
// scripted scenarios exactly like randomized runs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "sim/checkers.h"
#include "sim/history.h"
#include "sim/sim_cluster.h"
#include "sim/simulation.h"

namespace tandem::sim {

// The outcome of one run, as the runner prints it.
struct RunResult {
  bool ok = true;
  std::string violation;
  std::string trace;
  std::string summary;  // configuration and counters, one line
  uint64_t events = 0;
  Time sim_time = 0;
};

class SimHarness {
 public:
  SimHarness(uint64_t seed, ClusterOptions options);
  // The options drawn from the run's own RNG (randomized configurations).
  SimHarness(uint64_t seed, const std::function<ClusterOptions(Simulation&)>& make_options);
  SimHarness(const SimHarness&) = delete;
  SimHarness& operator=(const SimHarness&) = delete;

  Simulation sim;
  SimCluster cluster;
  History history;
  Checkers checkers;

  NodeId node(int i) const { return cluster.node(i); }

  // Up on every node, wait until all are connected, new-current-uuid
  // --clear-bitmap on the first diskful node, wait until healthy.
  // False (and the cluster failed) when that does not work.
  bool UpSkipSync(Time timeout = 60 * kSec);

  // --- synchronous application I/O (stamped, recorded, reads checked).
  // Each runs the simulation until the request completes (or `timeout`: then
  // the result is lost and the request stays in flight).
  AppResult Write(NodeId n, uint64_t block, uint32_t blocks = 1, bool fua = false,
                  VolumeNr vnr = VolumeNr(0));
  AppResult Zero(NodeId n, uint64_t block, uint32_t blocks = 1, bool trim = true,
                 VolumeNr vnr = VolumeNr(0));
  AppResult Read(NodeId n, uint64_t block, uint32_t blocks = 1, VolumeNr vnr = VolumeNr(0));
  AppResult Flush(NodeId n);

  // Crash a node and tell the history (unflushed data may be gone).
  void Crash(NodeId n);

  bool WaitHealthy(Time timeout = 300 * kSec);
  // Invariants 1, 4 and 5 (requires a healthy cluster).
  void FinalChecks();
  // Records a scenario expectation; false and the run failed when !cond.
  bool Expect(bool cond, const std::string& what);

  RunResult Result(std::string summary = "") const;

 private:
  // `record` runs when the request completes (even after the wait gave up).
  AppResult SubmitAndWait(NodeId n, engine::AppRequest req,
                          std::function<void(const AppResult&)> record, Time timeout);
  std::function<void(const AppResult&)> RecordWrite(NodeId n, uint64_t seq);
};

ClusterOptions DefaultClusterOptions();
HistoryOptions HistoryOptionsFor(const ClusterOptions& options);

}  // namespace tandem::sim
