// SatelliteHub: the controller's side of the controller-satellite protocol
// (docs/satellite-protocol.md). One connection per satellite node, all on one
// Asio thread: dial with a 1-10 s backoff, hello checks, the full sync on every
// (re)connect, then one update per change, pings every 2 s, 6 s of silence
// closes. What satellites report is kept in memory and read by the REST views.
//
// Thread-safety: the Set*/Retain calls come from the REST thread, Observed()
// from any thread; the network runs on the hub's own thread. One mutex guards
// the desired and the observed state; the REST thread never waits for the
// network.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "controller/desired.h"
#include "satproto/messages.h"

namespace tandem::controller {

// Connection states (REST `connection_status`).
inline constexpr const char kOffline[] = "OFFLINE";
inline constexpr const char kConnected[] = "CONNECTED";
inline constexpr const char kOnline[] = "ONLINE";

// What one satellite last told us. Immutable once published.
struct ObservedNode {
  std::string status = kOffline;
  std::string message;  // why the node is not ONLINE, when known
  std::map<std::string, satproto::PoolState> pools;          // by pool name
  std::map<std::string, satproto::ResourceState> resources;  // by resource name
  std::map<std::string, std::string> apply_errors;           // resource -> last error
  uint64_t applied_generation = 0;
  uint64_t version = 0;  // changes whenever anything above changes
  // The observed state is current (the satellite is connected).
  bool live() const { return status == kOnline || status == kConnected; }
};

using ObservedMap = std::map<std::string, std::shared_ptr<const ObservedNode>>;

struct HubOptions {
  std::string cluster_id;
  int ping_interval_ms = 2000;
  int silence_timeout_ms = 6000;
  int backoff_min_ms = 1000;
  int backoff_max_ms = 10000;
};

class SatelliteHub {
 public:
  explicit SatelliteHub(HubOptions options);
  ~SatelliteHub();  // stops
  SatelliteHub(const SatelliteHub&) = delete;
  SatelliteHub& operator=(const SatelliteHub&) = delete;

  void Start();
  void Stop();

  // The whole desired state of one node (`resources` by name). A node without endpoint is known but
  // not dialed. Changes against what was set before go out as one update.
  void SetNode(const std::string& node, std::optional<SatelliteEndpoint> endpoint,
               std::vector<satproto::PoolDesired> pools,
               std::map<std::string, satproto::ResourceDesired> resources);
  // Only the resources with these identities (NameKey) changed: for every
  // node, `now[node]` holds those it must still run, by identity; the others
  // of `keys` are deleted from it.
  void SetResources(const std::set<std::string>& keys,
                    const std::map<std::string, std::map<std::string, satproto::ResourceDesired>>& now);
  // Forgets (and disconnects) nodes not in `nodes`.
  void RetainNodes(const std::set<std::string>& nodes);

  // A consistent copy of what every node reported (cheap: shared pointers).
  ObservedMap Observed() const;
  // Bumps whenever something observed changed.
  uint64_t observed_version() const;

 private:
  struct Link;
  struct Session;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::controller
