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

#include <optional>
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

// query-size-info (REST QuerySizeInfoResponse): where a spawn with `filter`
// (already merged with the group's) would put its diskful replicas now, and
// the largest volume that fits all of them. The choice is the autoplacer's
// for a new resource definition of size 0, so it is the spawn's choice
// whenever the volume fits. Per chosen pool the largest volume is
//   fat pools:  min(free, total - placed volumes)
//   thin pools: min(total x ratio - placed volumes, free x ratio)
// (ratio: MaxOversubscriptionRatio of the pool, else the controller, else
// 20), the autoplacer's own space test solved for the size. max_vlm_size,
// available (free) and capacity (total) are the minimum over the chosen pools:
// every replica needs the space. Pools of unknown capacity do not limit them
// and are listed in `unknown_capacity`; with no known pool the sizes are
// unset. Errors: Autoplace's (kRefused with the reason when the filter cannot
// be met).
struct SizeInfoPool {
  std::string node;
  std::string pool;
  bool thin = false;
  std::optional<double> oversubscription_ratio;  // thin pools
};
struct SizeInfo {
  std::optional<int64_t> max_vlm_size_kib;
  std::optional<int64_t> available_kib;
  std::optional<int64_t> capacity_kib;
  double default_max_oversubscription_ratio = 20;
  double max_oversubscription_ratio = 20;  // the smallest ratio of the chosen thin pools
  std::vector<SizeInfoPool> next_spawn;
  std::vector<PlacementChoice> unknown_capacity;
};
Result<SizeInfo> QuerySizeInfo(const Cluster& cluster, const SelectFilter& filter);

// The pool score inputs, exposed for tests.
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
