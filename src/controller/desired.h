// What each satellite must hold, computed from the object model
// (docs/satellite-protocol.md, "Desired state"). Pure functions of a Cluster;
// the controller calls them on its REST thread after each change and hands
// the results to the SatelliteHub.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/model.h"
#include "satproto/messages.h"

namespace tandem::controller {

// Controller property holding the cluster's identity (created once).
inline constexpr const char kClusterIdProp[] = "Cluster/LocalID";

struct SatelliteEndpoint {
  std::string address;
  int port = satproto::kDefaultSatellitePort;
  bool operator==(const SatelliteEndpoint&) const = default;
};

// The address the controller dials: the active net interface, else the first.
// nullopt for nodes that are not dialed (CONTROLLER, AUXILIARY, no interface).
std::optional<SatelliteEndpoint> EndpointOf(const Node& node);

// The pools of `node`, as the satellite needs them.
std::vector<satproto::PoolDesired> DesiredPools(const Cluster& c, std::string_view node);

// `DrbdOptions/<Section>/<option>` properties of a chain, by .res section;
// keys without a section (auto-quorum, AutoEvict...) are controller settings
// and are left out.
// Plus c-fill-target = kManagedFillTargetSectors and max-buffers =
// kManagedMaxBuffers when no property sets them.
satproto::DrbdOptions DrbdOptionsOf(const std::vector<PropsLevel>& chain);
inline constexpr const char kManagedFillTargetSectors[] = "20480";  // 10 MiB
// Resync requests in flight are capped at max-buffers / 2 pages: DRBD's 2048
// (4 MiB per 100 ms step) held a rebuild to 36 MiB/s; 8000 (DRBD's tuning
// guide value) lets c-fill-target and c-max-rate decide.
inline constexpr const char kManagedMaxBuffers[] = "8000";

// For every node that has a resource of `rd`: what that node must run.
// Keyed by the node's name as stored.
std::map<std::string, satproto::ResourceDesired> DesiredResource(const Cluster& c,
                                                                 const ResourceDefinition& rd);

// Every resource of every node: node -> resource name -> desired.
std::map<std::string, std::map<std::string, satproto::ResourceDesired>> DesiredAll(
    const Cluster& c);

}  // namespace tandem::controller
