// The five invariants of TESTING.md, checked against a running SimCluster and
// the History of what the application was told. A broken invariant calls
// SimCluster::Fail() with a description; the run then stops and prints its
// seed and trace.
//
//  1. At most one Primary unless two primaries are allowed. The engine cannot
//     know about a Primary it cannot reach, so this is checked per group of
//     nodes connected to each other: no two Primaries ever see each other
//     Connected (CheckRoles, after every workload step).
//  2. With quorum on, no application write (write, flush, trim, write-zeroes)
//     completes ok on a node that reports quorum:no at that moment
//     (OnAppComplete, for every completion). Reads are exempt: quorum guards
//     promotion and writes (drbd-semantics.md §7.1).
//  3. A read returns the latest acknowledged write to each block or a newer
//     one (History::CheckRead; the workload calls it per read).
//  4. After healing and quiescence every diskful replica is UpToDate and the
//     data areas are byte-identical (CheckConverged).
//  5. Every durable-acknowledged write, or a newer write to its block, is on
//     the UpToDate replicas at the end (CheckDurable).
#pragma once

#include <string>

#include "engine/resource.h"
#include "sim/history.h"
#include "sim/sim_cluster.h"

namespace tandem::sim {

class Checkers {
 public:
  // Installs itself as the cluster's app observer.
  Checkers(SimCluster* cluster, History* history);

  // Invariant 1.
  void CheckRoles();
  // Invariant 2.
  void OnAppComplete(NodeId node, const engine::AppRequest& req, const AppResult& result);
  // Every per-step invariant.
  void CheckStep() { CheckRoles(); }
  // Invariant 4. REQUIRES: the cluster is quiesced.
  void CheckConverged();
  // Invariant 5. REQUIRES: the cluster is quiesced.
  void CheckDurable();

  uint64_t role_checks() const { return role_checks_; }

 private:
  SimCluster* cluster_;
  History* history_;
  uint64_t role_checks_ = 0;
};

}  // namespace tandem::sim
