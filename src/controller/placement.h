// The autoplacer (user guide §2.11.2): which nodes and storage pools receive
// the replicas of a resource definition.
//
// Pure function of the cluster state and the request: the same state and
// request always give the same answer. Steps:
//   1. Filter nodes and pools by every constraint of the select filter,
//      counting the survivors after each step (for the error message).
//   2. Rate each remaining pool with the strategies MaxFreeSpace,
//      MinReservedSpace, MinRscCount and MaxThroughput, each normalized to
//      [0, 1] over the candidates (minimizing strategies inverted), weighted
//      by the controller properties Autoplacer/Weights/* (defaults 1, 0, 0, 0)
//      and summed. Each node offers its best pool.
//   3. Choose the group of nodes: candidates are ranked by score (then by
//      name) and the lexicographically first group in that ranking that
//      satisfies replicas_on_same / replicas_on_different /
//      x_replicas_on_different together with the existing replicas wins.
// Existing diskful replicas count toward place_count; additional_place_count
// (--auto-place +N) places N more than exist.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "controller/model.h"

namespace tandem::controller {

struct PlacementRequest {
  std::string rd_name;
  SelectFilter filter;  // already merged with the resource group's filter
};

struct PlacementChoice {
  std::string node;
  std::string pool;
};

struct PlacementResult {
  int existing_diskful = 0;
  int target = 0;                         // diskful replicas wanted in total
  std::vector<PlacementChoice> diskful;   // new diskful replicas, best first
  std::vector<PlacementChoice> diskless;  // diskless_on_remaining
};

// Errors: kInvalidArgument for a malformed filter (bad regex, unknown layer,
// bad place count), kRefused when the constraints cannot be met; the message
// then says why, e.g. "Not enough available nodes: need 3, 2 match storage
// pool 'ssd'".
Result<PlacementResult> Autoplace(const Cluster& cluster, const PlacementRequest& request);

// The pool score inputs, exposed for tests and for query-size-info later.
struct PoolRating {
  std::string node;
  std::string pool;
  double free_kib = 0;      // free space for new volumes (unknown capacity: 0)
  double reserved_kib = 0;  // sum of the volume sizes placed in the pool
  double rsc_count = 0;
  double throughput = 0;
  double score = 0;
};
std::vector<PoolRating> RatePools(const Cluster& cluster, const std::vector<PoolRating>& inputs);

// Sum of the sizes of the volume definitions of a resource definition.
int64_t ResourceSizeKib(const Cluster& cluster, std::string_view rd);

// Capacity of a pool: the satellite's report, else the Tandem/Capacity/* props.
struct PoolCapacity {
  std::optional<int64_t> total_kib;
  std::optional<int64_t> free_kib;
};
PoolCapacity CapacityOf(const StoragePool& pool);

}  // namespace tandem::controller
