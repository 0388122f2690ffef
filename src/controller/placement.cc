#include "controller/placement.h"

#include <algorithm>
#include <cstdlib>
#include <regex>
#include <set>

#include "common/check.h"
#include "controller/names.h"

namespace tandem::controller {
namespace {

constexpr const char* kStrategies[] = {"MaxFreeSpace", "MinReservedSpace", "MinRscCount",
                                       "MaxThroughput"};

std::string AuxKey(const std::string& key) {
  if (key.rfind("Aux/", 0) == 0) return key;
  return "Aux/" + key;
}

// "key" or "key=value"; the key gets the Aux/ prefix when it has none.
std::pair<std::string, std::optional<std::string>> SplitKeyValue(const std::string& spec) {
  auto eq = spec.find('=');
  if (eq == std::string::npos) return {AuxKey(spec), std::nullopt};
  return {AuxKey(spec.substr(0, eq)), spec.substr(eq + 1)};
}

std::optional<std::string> NodeProp(const Node& node, const std::string& key) {
  auto it = node.props.find(key);
  if (it == node.props.end()) return std::nullopt;
  return it->second;
}

double ParseDouble(const std::string& text, double fallback) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  return (end == text.c_str() || *end != '\0') ? fallback : v;
}

std::optional<int64_t> PropInt(const Props& props, const char* key) {
  auto it = props.find(key);
  if (it == props.end()) return std::nullopt;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (end == it->second.c_str() || *end != '\0') return std::nullopt;
  return v;
}

std::string JoinQuoted(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += "'" + items[i] + "'";
  }
  return out;
}

struct Candidate {
  const Node* node;
  PoolRating best;  // the node's best pool
};

// Group constraints over the nodes chosen so far (existing replicas included).
class GroupConstraints {
 public:
  GroupConstraints(const SelectFilter& f) {
    for (const auto& s : f.replicas_on_same) {
      auto [k, v] = SplitKeyValue(s);
      if (!v) same_keys_.push_back(k);
    }
    for (const auto& s : f.replicas_on_different) {
      auto [k, v] = SplitKeyValue(s);
      if (v) {
        different_values_.push_back({k, *v});
      } else {
        x_limits_[k] = 1;
      }
    }
    for (const auto& [k, x] : f.x_replicas_on_different) {
      std::string key = AuxKey(k);
      auto it = x_limits_.find(key);
      x_limits_[key] =
          it == x_limits_.end() ? std::max(1, x) : std::min(it->second, std::max(1, x));
    }
  }

  // Keys a node must have to be a candidate at all.
  std::vector<std::string> RequiredKeys() const {
    std::vector<std::string> keys = same_keys_;
    for (const auto& [k, x] : x_limits_) keys.push_back(k);
    return keys;
  }

  bool Allows(const std::vector<const Node*>& chosen, const Node& next) const {
    for (const auto& k : same_keys_) {
      if (!chosen.empty() && NodeProp(*chosen.front(), k) != NodeProp(next, k)) return false;
    }
    for (const auto& [k, v] : different_values_) {
      if (NodeProp(next, k) != v) continue;
      for (const Node* n : chosen) {
        if (NodeProp(*n, k) == v) return false;
      }
    }
    for (const auto& [k, limit] : x_limits_) {
      auto value = NodeProp(next, k);
      int same = 0;
      for (const Node* n : chosen) {
        if (NodeProp(*n, k) == value) ++same;
      }
      if (same >= limit) return false;
    }
    return true;
  }

  std::string Describe() const {
    std::vector<std::string> parts;
    for (const auto& k : same_keys_) parts.push_back("replicas-on-same '" + k + "'");
    for (const auto& [k, v] : different_values_) {
      parts.push_back("replicas-on-different '" + k + "=" + v + "'");
    }
    for (const auto& [k, x] : x_limits_) {
      parts.push_back(x == 1 ? "replicas-on-different '" + k + "'"
                             : "x-replicas-on-different '" + k + "' (at most " + std::to_string(x) +
                                   ")");
    }
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? " and " : "") + parts[i];
    return out;
  }
  bool empty() const {
    return same_keys_.empty() && different_values_.empty() && x_limits_.empty();
  }

 private:
  std::vector<std::string> same_keys_;
  std::vector<std::pair<std::string, std::string>> different_values_;
  std::map<std::string, int> x_limits_;
};

// Depth-first search in rank order; the first complete group found is the
// lexicographically best one. Bounded so that a pathological filter cannot
// stall the controller.
bool ChooseGroup(const std::vector<Candidate>& ranked, size_t start, int need,
                 const GroupConstraints& constraints, std::vector<const Node*>* chosen,
                 std::vector<size_t>* picked, int* budget) {
  if (need == 0) return true;
  for (size_t i = start; i < ranked.size(); ++i) {
    if (ranked.size() - i < static_cast<size_t>(need)) return false;
    if (--*budget < 0) return false;
    if (!constraints.Allows(*chosen, *ranked[i].node)) continue;
    chosen->push_back(ranked[i].node);
    picked->push_back(i);
    if (ChooseGroup(ranked, i + 1, need - 1, constraints, chosen, picked, budget)) return true;
    chosen->pop_back();
    picked->pop_back();
  }
  return false;
}

bool NodeAcceptsPlacement(const Node& node) {
  if (node.type != NodeType::kSatellite && node.type != NodeType::kCombined) return false;
  if (!node.flags.empty()) return false;  // DELETE, EVACUATE, EVICTED, LOST
  auto it = node.props.find(prop::kAutoplaceTarget);
  if (it != node.props.end()) {
    auto b = ParseBool(it->second);
    if (b.ok() && !*b) return false;
  }
  return true;
}

}  // namespace

PoolCapacity CapacityOf(const StoragePool& pool) {
  PoolCapacity c;
  c.total_kib =
      pool.total_capacity_kib ? pool.total_capacity_kib : PropInt(pool.props, prop::kCapacityTotal);
  c.free_kib =
      pool.free_capacity_kib ? pool.free_capacity_kib : PropInt(pool.props, prop::kCapacityFree);
  if (!c.free_kib && c.total_kib) c.free_kib = c.total_kib;
  return c;
}

int64_t ResourceSizeKib(const Cluster& cluster, std::string_view rd) {
  int64_t sum = 0;
  for (const VolumeDefinition* vd : cluster.VolumeDefinitionsOf(rd)) sum += vd->size_kib;
  return sum;
}

std::vector<PoolRating> RatePools(const Cluster& cluster, const std::vector<PoolRating>& inputs) {
  std::vector<PoolRating> out = inputs;
  if (out.empty()) return out;
  const Props& ctrl = cluster.controller_props();
  double weights[4] = {1, 0, 0, 0};
  for (int s = 0; s < 4; ++s) {
    auto it = ctrl.find(std::string(prop::kWeightsPrefix) + kStrategies[s]);
    if (it != ctrl.end()) weights[s] = ParseDouble(it->second, weights[s]);
  }
  auto value = [](const PoolRating& r, int s) {
    switch (s) {
      case 0:
        return r.free_kib;
      case 1:
        return r.reserved_kib;
      case 2:
        return r.rsc_count;
      default:
        return r.throughput;
    }
  };
  const bool minimizing[4] = {false, true, true, false};
  for (auto& r : out) r.score = 0;
  for (int s = 0; s < 4; ++s) {
    if (weights[s] == 0) continue;
    double lo = value(out[0], s);
    double hi = lo;
    for (const auto& r : out) {
      lo = std::min(lo, value(r, s));
      hi = std::max(hi, value(r, s));
    }
    if (hi == lo) continue;
    for (auto& r : out) {
      double norm = (value(r, s) - lo) / (hi - lo);
      if (minimizing[s]) norm = 1 - norm;
      r.score += weights[s] * norm;
    }
  }
  return out;
}

namespace {

// The autoplacer for `rd`, or for a new definition of `size_kib` without
// replicas when rd is nullptr (query-size-info). `ratings_out`, when given,
// receives the rating of every pool that passed the filters.
Result<PlacementResult> Place(const Cluster& cluster, const ResourceDefinition* rd,
                              const int64_t size_kib, const SelectFilter& f,
                              std::map<std::string, PoolRating>* ratings_out) {
  PlacementResult result;
  std::vector<const Node*> existing_nodes;
  std::set<std::string> hosting;  // nodes with a diskful or user diskless replica
  for (const Resource* r : rd ? cluster.ResourcesOf(rd->name) : std::vector<const Resource*>{}) {
    if (r->tiebreaker()) continue;  // a tiebreaker may be turned into a replica
    hosting.insert(NameKey(r->node_name));
    if (!r->diskless()) {
      ++result.existing_diskful;
      if (const Node* n = cluster.FindNode(r->node_name)) existing_nodes.push_back(n);
    }
  }
  if (f.additional_place_count) {
    if (*f.additional_place_count < 0) {
      return MakeError(Errc::kInvalidArgument, "additional_place_count must not be negative");
    }
    result.target = result.existing_diskful + *f.additional_place_count;
  } else {
    int pc = f.place_count.value_or(kDefaultPlaceCount);
    if (pc < 0) {  // "max"/"all": every suitable node
      pc = static_cast<int>(cluster.nodes.size());
    }
    result.target = pc;
  }
  if (result.target > 32) {
    return MakeError(Errc::kInvalidArgument, "place count " + std::to_string(result.target) +
                                                 " exceeds the 32 replicas a resource can have");
  }
  int need = std::max(0, result.target - result.existing_diskful);

  // Validate the filter before looking at nodes.
  std::vector<std::string> layers;
  for (const auto& l : f.layer_stack) {
    auto canon = ParseLayerName(l);
    if (!canon.ok()) return canon.error();
    layers.push_back(*canon);
  }
  std::vector<ProviderKind> providers;
  for (const auto& p : f.provider_list) {
    auto kind = ParseProviderKind(p);
    if (!kind.ok()) return kind.error();
    providers.push_back(*kind);
  }
  std::optional<std::regex> avoid_regex;
  if (f.not_place_with_rsc_regex && !f.not_place_with_rsc_regex->empty()) {
    try {
      avoid_regex.emplace(*f.not_place_with_rsc_regex, std::regex::ECMAScript | std::regex::icase);
    } catch (const std::regex_error&) {
      return MakeError(Errc::kInvalidArgument, "do_not_place_with_regex '" +
                                                   *f.not_place_with_rsc_regex +
                                                   "' is not a valid regular expression");
    }
  }
  GroupConstraints constraints(f);

  // Stage-wise node filtering. Each stage names what the survivors have.
  std::vector<const Node*> nodes;
  for (const auto& [key, node] : cluster.nodes.rows()) nodes.push_back(&node);
  std::string failed_stage;
  size_t failed_count = 0;
  auto stage = [&](const std::string& what, auto&& keep) {
    std::vector<const Node*> next;
    for (const Node* n : nodes) {
      if (keep(*n)) next.push_back(n);
    }
    nodes.swap(next);
    if (failed_stage.empty() && nodes.size() < static_cast<size_t>(need)) {
      failed_stage = what;
      failed_count = nodes.size();
    }
  };
  auto count_word = [](const std::string& singular, const std::string& plural, size_t n) {
    return n == 1 ? singular : plural;
  };
  (void)count_word;

  stage("are available for placement (satellites without AutoplaceTarget=false)",
        [&](const Node& n) { return NodeAcceptsPlacement(n); });
  if (rd) {
    stage("do not hold '" + rd->name + "' yet",
          [&](const Node& n) { return hosting.count(NameKey(n.name)) == 0; });
  }
  if (!f.node_name_list.empty()) {
    std::set<std::string> allowed;
    for (const auto& n : f.node_name_list) allowed.insert(NameKey(n));
    stage("are in the node list " + JoinQuoted(f.node_name_list),
          [&](const Node& n) { return allowed.count(NameKey(n.name)) > 0; });
  }
  if (!f.not_place_with_rsc.empty() || avoid_regex) {
    std::set<std::string> avoid_rds;
    for (const auto& r : f.not_place_with_rsc) avoid_rds.insert(NameKey(r));
    std::string what = "do not hold ";
    if (!f.not_place_with_rsc.empty()) what += "resources " + JoinQuoted(f.not_place_with_rsc);
    if (avoid_regex) {
      what += std::string(f.not_place_with_rsc.empty() ? "" : " or ") + "resources matching '" +
              *f.not_place_with_rsc_regex + "'";
    }
    stage(what, [&](const Node& n) {
      for (const Resource* r : cluster.ResourcesOnNode(n.name)) {
        if (avoid_rds.count(NameKey(r->rd_name))) return false;
        if (avoid_regex && std::regex_match(r->rd_name, *avoid_regex)) return false;
      }
      return true;
    });
  }
  for (const auto& s : f.replicas_on_same) {
    auto [k, v] = SplitKeyValue(s);
    if (!v) continue;
    stage("have " + k + "=" + *v, [&](const Node& n) { return NodeProp(n, k) == v; });
  }
  for (const auto& k : constraints.RequiredKeys()) {
    stage("have the property '" + k + "'",
          [&](const Node& n) { return NodeProp(n, k).has_value(); });
  }
  // Existing replicas fix the value of replicas-on-same keys.
  if (!existing_nodes.empty()) {
    for (const auto& s : f.replicas_on_same) {
      auto [k, v] = SplitKeyValue(s);
      if (v) continue;
      auto want = NodeProp(*existing_nodes.front(), k);
      stage("have " + k + "=" + want.value_or("") + " like the existing replicas",
            [&](const Node& n) { return NodeProp(n, k) == want; });
    }
  }
  for (const auto& l : layers) {
    if (!LayerSupported(l)) {
      stage("support the layer " + l, [](const Node&) { return false; });
    }
  }

  // Pools per node, filtered by name, provider and space.
  std::map<std::string, std::vector<const StoragePool*>> pools_of;  // node key -> pools
  auto pool_stage = [&](const std::string& what, auto&& keep) {
    for (auto& [node, pools] : pools_of) {
      std::vector<const StoragePool*> next;
      for (const StoragePool* p : pools) {
        if (keep(*p)) next.push_back(p);
      }
      pools.swap(next);
    }
    stage(what, [&](const Node& n) { return !pools_of[NameKey(n.name)].empty(); });
  };
  for (const Node* n : nodes) {
    auto& list = pools_of[NameKey(n->name)];
    cluster.pools.ForPrefix(ChildPrefix(n->name),
                            [&](const StoragePool& p) { list.push_back(&p); });
  }
  if (!f.storage_pool_list.empty()) {
    std::set<std::string> names;
    for (const auto& p : f.storage_pool_list) names.insert(NameKey(p));
    pool_stage(std::string(f.storage_pool_list.size() == 1 ? "match storage pool "
                                                           : "match storage pools ") +
                   JoinQuoted(f.storage_pool_list),
               [&](const StoragePool& p) {
                 return names.count(NameKey(p.name)) > 0 && p.provider != ProviderKind::kDiskless;
               });
  } else {
    pool_stage("have a diskful storage pool",
               [&](const StoragePool& p) { return p.provider != ProviderKind::kDiskless; });
  }
  if (!providers.empty()) {
    std::string names;
    for (auto k : providers) names += std::string(names.empty() ? "" : ", ") + ProviderKindName(k);
    pool_stage("have a pool of provider " + names, [&](const StoragePool& p) {
      return std::find(providers.begin(), providers.end(), p.provider) != providers.end();
    });
  }
  pool_stage("have a pool with AutoplaceTarget not false", [&](const StoragePool& p) {
    auto it = p.props.find(prop::kAutoplaceTarget);
    if (it == p.props.end()) return true;
    auto b = ParseBool(it->second);
    return !b.ok() || *b;
  });

  // Reserved space, resource counts and throughput per pool.
  // Filled on first use per pool from the cluster's index: the sums are of
  // integers, so they equal a scan of every resource exactly. Throughput
  // limits sum doubles; they are added up in resource key order, as a scan
  // would.
  std::map<std::string, PoolRating> ratings;  // pool key -> rating
  const bool throttled = cluster.HasThrottledVolumes();
  auto rating_of = [&](const StoragePool& p) -> PoolRating& {
    auto [it, inserted] = ratings.try_emplace(PoolKey(p.node_name, p.name));
    if (!inserted) return it->second;
    PoolRating& r = it->second;
    PoolUsage u = cluster.UsageOfPool(p.node_name, p.name);
    r.reserved_kib = static_cast<double>(u.reserved_kib);
    r.rsc_count = u.rsc_count;
    if (throttled) {
      for (const Resource* rsc : cluster.ResourcesOnNode(p.node_name)) {
        if (rsc->diskless() || PoolKey(rsc->node_name, rsc->storage_pool) != it->first) continue;
        for (const VolumeDefinition* vd : cluster.VolumeDefinitionsOf(rsc->rd_name)) {
          for (const char* k : {prop::kThrottleRead, prop::kThrottleWrite}) {
            auto pit = vd->props.find(k);
            if (pit != vd->props.end()) r.throughput -= ParseDouble(pit->second, 0);
          }
        }
      }
    }
    return r;
  };
  double default_ratio = 20;
  if (auto it = cluster.controller_props().find(prop::kMaxOversubscription);
      it != cluster.controller_props().end()) {
    default_ratio = ParseDouble(it->second, default_ratio);
  }
  pool_stage("have " + std::to_string(size_kib) + " KiB free in a matching pool",
             [&](const StoragePool& p) {
               PoolRating& r = rating_of(p);
               PoolCapacity cap = CapacityOf(p);
               if (!cap.total_kib) {
                 r.free_kib = 0;  // unknown capacity: no check, lowest free-space rating
                 return true;
               }
               if (IsThin(p.provider)) {
                 double ratio = default_ratio;
                 if (auto it = p.props.find(prop::kMaxOversubscription); it != p.props.end()) {
                   ratio = ParseDouble(it->second, ratio);
                 }
                 r.free_kib = static_cast<double>(*cap.free_kib);
                 return r.reserved_kib + static_cast<double>(size_kib) <=
                            static_cast<double>(*cap.total_kib) * ratio &&
                        static_cast<double>(size_kib) <= r.free_kib * ratio;
               }
               r.free_kib = std::min(static_cast<double>(*cap.free_kib),
                                     static_cast<double>(*cap.total_kib) - r.reserved_kib);
               return r.free_kib >= static_cast<double>(size_kib);
             });

  if (!failed_stage.empty()) {
    return MakeError(Errc::kRefused, "Not enough available nodes: need " + std::to_string(need) +
                                         ", " + std::to_string(failed_count) + " " + failed_stage);
  }

  // Rate the surviving pools; each node offers its best.
  std::vector<PoolRating> inputs;
  for (const Node* n : nodes) {
    for (const StoragePool* p : pools_of[NameKey(n->name)]) {
      PoolRating r = rating_of(*p);
      r.node = n->name;
      r.pool = p->name;
      auto it = p->props.find(prop::kMaxThroughput);
      r.throughput += it == p->props.end() ? 0 : ParseDouble(it->second, 0);
      inputs.push_back(r);
    }
  }
  std::vector<PoolRating> rated = RatePools(cluster, inputs);
  std::map<std::string, PoolRating> best;  // node key -> best pool
  for (const auto& r : rated) {
    auto [it, inserted] = best.emplace(NameKey(r.node), r);
    if (!inserted && (r.score > it->second.score || (r.score == it->second.score &&
                                                     NameKey(r.pool) < NameKey(it->second.pool)))) {
      it->second = r;
    }
  }
  std::vector<Candidate> ranked;
  for (const Node* n : nodes) ranked.push_back({n, best[NameKey(n->name)]});
  std::stable_sort(ranked.begin(), ranked.end(), [](const Candidate& a, const Candidate& b) {
    if (a.best.score != b.best.score) return a.best.score > b.best.score;
    return NameKey(a.node->name) < NameKey(b.node->name);
  });

  std::vector<const Node*> chosen = existing_nodes;
  std::vector<size_t> picked;
  int budget = 200000;
  if (!ChooseGroup(ranked, 0, need, constraints, &chosen, &picked, &budget)) {
    return MakeError(Errc::kRefused, "Not enough available nodes: need " + std::to_string(need) +
                                         ", " + std::to_string(ranked.size()) +
                                         " candidates, but no group of them satisfies " +
                                         constraints.Describe());
  }
  std::set<std::string> placed;
  for (size_t i : picked) {
    result.diskful.push_back({ranked[i].node->name, ranked[i].best.pool});
    placed.insert(NameKey(ranked[i].node->name));
  }

  if (f.diskless_on_remaining.value_or(false)) {
    std::set<std::string> diskless_names;
    for (const auto& p : f.storage_pool_diskless_list) diskless_names.insert(NameKey(p));
    for (const auto& [key, node] : cluster.nodes.rows()) {
      if (!NodeAcceptsPlacement(node) || placed.count(key) || hosting.count(key)) continue;
      const StoragePool* chosen_pool = nullptr;
      cluster.pools.ForPrefix(ChildPrefix(node.name), [&](const StoragePool& p) {
        if (chosen_pool || p.provider != ProviderKind::kDiskless) return;
        if (!diskless_names.empty() && !diskless_names.count(NameKey(p.name))) return;
        chosen_pool = &p;
      });
      if (chosen_pool) result.diskless.push_back({node.name, chosen_pool->name});
    }
  }
  if (ratings_out) *ratings_out = std::move(ratings);
  return result;
}

double OversubscriptionRatio(const Cluster& cluster, const StoragePool* pool) {
  double ratio = 20;
  if (auto it = cluster.controller_props().find(prop::kMaxOversubscription);
      it != cluster.controller_props().end()) {
    ratio = ParseDouble(it->second, ratio);
  }
  if (pool) {
    if (auto it = pool->props.find(prop::kMaxOversubscription); it != pool->props.end()) {
      ratio = ParseDouble(it->second, ratio);
    }
  }
  return ratio;
}

}  // namespace

Result<PlacementResult> Autoplace(const Cluster& cluster, const PlacementRequest& request) {
  const ResourceDefinition* rd = cluster.FindRd(request.rd_name);
  if (rd == nullptr) {
    return MakeError(Errc::kNotFound, "Resource definition '" + request.rd_name + "' not found.");
  }
  return Place(cluster, rd, ResourceSizeKib(cluster, rd->name), request.filter, nullptr);
}

Result<SizeInfo> QuerySizeInfo(const Cluster& cluster, const SelectFilter& filter) {
  std::map<std::string, PoolRating> ratings;
  auto placed = Place(cluster, nullptr, 0, filter, &ratings);
  if (!placed.ok()) return placed.error();
  SizeInfo info;
  info.default_max_oversubscription_ratio = OversubscriptionRatio(cluster, nullptr);
  info.max_oversubscription_ratio = info.default_max_oversubscription_ratio;
  bool first_thin = true;
  for (const PlacementChoice& choice : placed->diskful) {
    const StoragePool* pool = cluster.FindPool(choice.node, choice.pool);
    TANDEM_CHECK(pool != nullptr);
    SizeInfoPool out{choice.node, pool->name, IsThin(pool->provider), std::nullopt};
    PoolCapacity cap = CapacityOf(*pool);
    if (!cap.total_kib) {
      info.unknown_capacity.push_back(choice);
      info.next_spawn.push_back(out);
      continue;
    }
    double reserved = ratings[PoolKey(pool->node_name, pool->name)].reserved_kib;
    double total = static_cast<double>(*cap.total_kib);
    double free = static_cast<double>(*cap.free_kib);
    double max_size = 0;
    if (out.thin) {
      double ratio = OversubscriptionRatio(cluster, pool);
      out.oversubscription_ratio = ratio;
      // The autoplacer's test: placed + new <= total x ratio, new <= free x ratio.
      max_size = std::min(total * ratio - reserved, free * ratio);
      if (first_thin || ratio < info.max_oversubscription_ratio) {
        info.max_oversubscription_ratio = ratio;
        first_thin = false;
      }
    } else {
      max_size = std::min(free, total - reserved);
    }
    int64_t max_kib = std::max<int64_t>(0, static_cast<int64_t>(max_size));
    int64_t free_kib = std::max<int64_t>(0, static_cast<int64_t>(std::min(free, total)));
    if (!info.max_vlm_size_kib || max_kib < *info.max_vlm_size_kib) info.max_vlm_size_kib = max_kib;
    if (!info.available_kib || free_kib < *info.available_kib) info.available_kib = free_kib;
    if (!info.capacity_kib || *cap.total_kib < *info.capacity_kib)
      info.capacity_kib = *cap.total_kib;
    info.next_spawn.push_back(out);
  }
  return info;
}

}  // namespace tandem::controller
