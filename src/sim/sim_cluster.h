// SimCluster: N simulated nodes running the replication engine for one
// resource, wired to simulated disks and a simulated network, and the host
// loop that carries out the engine's actions (engine/resource.h).
//
// Host loop contract, per node: before delivering any event (message,
// transport up/down, disk completion, timer, admin command, app request) the
// host calls AdvanceTime(now); after it, the host drains TakeActions() and
// carries each action out: SendMsg -> network; DiskIo -> the node's SimDisk
// (io_id echoed to OnDiskComplete); Complete -> the app callback of that
// request; WantConnection / DropConnection -> network; ArmTimer -> one pending
// timer event per node (the latest wins); AdminDone -> the admin callback of
// that cookie; Event -> the trace. Everything the engine does wrong at this
// boundary (I/O to a diskless node, completing an unknown request, ...) is a
// violation (Fail()).
//
// Nodes are named alpha, bravo, charlie, ... with node ids 0..N-1. Diskful
// nodes get one SimDisk per volume with external metadata created by
// CreateMetadata (one bitmap slot per diskful peer, none for diskless peers).
//
// Callbacks (app, admin) run from the host loop; they may submit new requests
// but must not crash or restart nodes (schedule that as an event instead).
//
// Thread-safety: none.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/resource.h"
#include "sim/engine_wire_model.h"
#include "sim/sim_disk.h"
#include "sim/sim_network.h"
#include "sim/simulation.h"

namespace tandem::sim {

struct ClusterOptions {
  int nodes = 3;
  std::vector<int> diskless;  // node ids that are intentionally diskless
  int volumes = 1;
  uint64_t volume_bytes = 4ull << 20;  // data area of each volume
  uint64_t max_volume_bytes = 0;       // largest size Grow may reach (history); 0: volume_bytes
  engine::Options options;             // every node's resource options
  // Per-node adjustments after the defaults (e.g. a different option on one node).
  std::function<void(engine::ResourceConfig*)> adjust;
  bool broken_flush = false;  // ResourceConfig::TEST_broken_flush on every node
  SimDiskOptions disk;
  NetworkOptions net;
  bool codec_round_trip = true;
  size_t trace_capacity = 400;
  bool verbose = false;         // print every trace line as it happens
  bool trace_messages = false;  // one trace line per message sent and per timer
  std::string resource = "r0";
  uint64_t max_events = 20'000'000;  // a run that needs more is declared stuck
};

// What the application learns about one request.
struct AppResult {
  bool lost = false;  // the node crashed before completing it
  engine::IoStatus status = engine::IoStatus::kOk;
  SharedBytes data;  // reads
  bool ok() const { return !lost && status == engine::IoStatus::kOk; }
};
using AppCallback = std::function<void(const AppResult&)>;
using AdminCallback = std::function<void(const engine::AdminDone&)>;
using AppObserver = std::function<void(NodeId, const engine::AppRequest&, const AppResult&)>;

std::string NodeNameFor(int id);  // alpha, bravo, ... zulu, then "node26"

class SimCluster : private NetEndpoint {
 public:
  SimCluster(Simulation* sim, ClusterOptions options);
  ~SimCluster() override;
  SimCluster(const SimCluster&) = delete;
  SimCluster& operator=(const SimCluster&) = delete;

  Simulation& sim() { return *sim_; }
  SimNetwork& network() { return *network_; }
  const ClusterOptions& options() const { return options_; }
  int size() const { return static_cast<int>(nodes_.size()); }
  NodeId node(int i) const { return NodeId(static_cast<uint8_t>(i)); }
  // The member nodes (every node unless SetMember took one out).
  std::vector<NodeId> all() const;
  // Whether a node belongs to the resource: the health check and the final
  // checkers look only at members. Tests of membership changes (Reconfigure)
  // take a node out before it joins and after it left.
  void SetMember(NodeId n, bool member) { N(n).member = member; }
  bool member(NodeId n) const { return N(n).member; }
  const std::string& name(NodeId n) const { return N(n).name; }
  bool diskless(NodeId n) const { return N(n).diskless; }
  bool running(NodeId n) const { return N(n).res != nullptr; }
  engine::Resource* resource(NodeId n) { return N(n).res.get(); }
  const engine::ResourceConfig& config(NodeId n) const { return N(n).config; }
  // nullptr for a diskless node.
  SimDisk* disk(NodeId n, VolumeNr vnr);
  uint64_t volume_bytes() const { return options_.volume_bytes; }
  // nullopt while the node is down.
  std::optional<engine::ResourceStatus> Status(NodeId n) const;
  std::string StatusLine(NodeId n) const;  // one line for traces

  // --- lifecycle
  // drbdadm up: attach every volume (metadata read from the disk), then
  // connect to all peers. `done` gets the first failure, or the connect result.
  void StartUp(NodeId n, AdminCallback done);
  engine::AdminDone Up(NodeId n, Time timeout = 60 * kSec);
  // Up on every member node at once, then runs until all are done.
  bool UpAll(Time timeout = 60 * kSec);
  // The process dies: the Resource is destroyed, its disks crash, its
  // connections break; its pending app requests report lost, its pending admin
  // commands fail.
  // REQUIRES: not called from inside this node's host loop.
  void Crash(NodeId n);
  // A new Resource on the crashed node, then StartUp.
  void StartRestart(NodeId n, AdminCallback done);
  engine::AdminDone Restart(NodeId n, Time timeout = 60 * kSec);

  // --- admin commands. `call` issues the command on the node's resource with
  // the cookie; `done` runs when its AdminDone arrives (or fails at once when
  // the node is down, or with kTimeout when it crashes first).
  using AdminCall = std::function<void(engine::Resource&, uint64_t cookie)>;
  void Admin(NodeId n, std::string what, AdminCall call, AdminCallback done);
  // Runs the simulation until the command is done; kTimeout after `timeout`.
  engine::AdminDone AdminSync(NodeId n, std::string what, AdminCall call, Time timeout = 60 * kSec);
  engine::AdminDone Primary(NodeId n, bool force = false);
  engine::AdminDone Secondary(NodeId n, bool force = false);
  engine::AdminDone Attach(NodeId n, VolumeNr vnr);
  engine::AdminDone Detach(NodeId n, VolumeNr vnr);
  engine::AdminDone Connect(NodeId n, NodeId peer, bool discard_my_data = false);
  engine::AdminDone ConnectAll(NodeId n);
  engine::AdminDone Disconnect(NodeId n, NodeId peer);
  // adjust with a changed node set; on success a restart uses the new set.
  engine::AdminDone Reconfigure(NodeId n, std::vector<engine::NodeConfig> nodes);
  engine::AdminDone NewCurrentUuid(NodeId n, VolumeNr vnr, bool clear_bitmap);
  engine::AdminDone OpenForWrite(NodeId n);
  void CloseWriter(NodeId n);
  // Attach with the metadata currently on the node's disk, as an async call.
  // A grow that a crash interrupted is settled first, as tandemd does: the new
  // metadata area is kept if its superblock is valid, else the disk is cut
  // back to its old size.
  void StartAttach(NodeId n, VolumeNr vnr, AdminCallback done);
  // Online grow of one node's backing device to `data_bytes` (Resource::Grow).
  void StartGrow(NodeId n, VolumeNr vnr, uint64_t data_bytes, AdminCallback done);
  engine::AdminDone Grow(NodeId n, VolumeNr vnr, uint64_t data_bytes);

  // --- network faults
  void Partition(NodeId a, NodeId b, bool silent = false);  // both directions
  void PartitionOneWay(NodeId from, NodeId to, bool silent = false);
  void Heal(NodeId a, NodeId b);
  void Isolate(NodeId n, bool silent = false);
  void HealNetwork();

  // --- application I/O. The request's id is assigned here.
  void Submit(NodeId n, engine::AppRequest req, AppCallback done);
  size_t app_inflight(NodeId n) const { return N(n).app.size(); }
  size_t app_inflight() const;
  size_t admin_inflight() const { return admin_.size(); }
  // AdminDone actions with cookie 0 (never issued by the host) that were ignored.
  uint64_t stray_admin_done() const { return stray_admin_done_; }
  // Sees every completion before its callback (invariant checkers).
  void SetAppObserver(AppObserver observer) { app_observer_ = std::move(observer); }

  // --- running
  // Runs until pred() holds (checked every `poll` of simulated time, or after
  // every event when poll is 0), the deadline passes, the run fails, or
  // nothing is left to do. Returns pred().
  bool RunUntil(const std::function<bool()>& pred, Time timeout, Time poll = 0);
  void RunFor(Time duration);
  // Healthy(): every node running, every diskful volume UpToDate, every pair
  // Connected with every peer device Established, no app I/O in flight, no
  // fault armed. Quiesce() runs until Healthy() (polling) or the timeout.
  bool Healthy(std::string* why = nullptr) const;
  bool Quiesce(Time timeout = 300 * kSec);

  // --- violations and trace
  // Records the first violation; the run stops at the next check.
  void Fail(const std::string& what);
  bool failed() const { return !failure_.empty(); }
  const std::string& failure() const { return failure_; }
  // Appends "t=<ms> <who> <line>" to the bounded trace.
  void Trace(const std::string& who, const std::string& line);
  const std::deque<std::string>& trace() const { return trace_; }
  std::string TraceText() const;
  // The most recently constructed cluster still alive (for a crash handler
  // that prints the trace when a TANDEM_CHECK aborts the process).
  static const SimCluster* Current();

 private:
  struct PendingApp {
    engine::AppRequest req;
    AppCallback done;
  };
  struct Node {
    NodeId id;
    std::string name;
    bool diskless = false;
    bool member = true;
    engine::ResourceConfig config;
    std::unique_ptr<SimEnv> env;
    std::unique_ptr<engine::Resource> res;        // null while down
    std::vector<std::unique_ptr<SimDisk>> disks;  // [vnr]; empty when diskless
    uint64_t incarnation = 0;
    Simulation::EventId timer = 0;
    int dispatch_depth = 0;
    std::map<uint64_t, PendingApp> app;  // by request id
  };
  struct PendingAdmin {
    NodeId node;
    std::string what;
    AdminCallback done;
  };

  Node& N(NodeId n) { return nodes_.at(n.value()); }
  const Node& N(NodeId n) const { return nodes_.at(n.value()); }
  void CreateNode(int id);
  void StartResource(Node& node);
  // Delivers one event to a running node: AdvanceTime, fn, then drain.
  void Deliver(NodeId n, const std::function<void(engine::Resource&)>& fn);
  void Drain(Node& node);
  // Runs events up to `t` (the clock then reads t), stopping early on failure
  // or when the event budget is spent.
  void RunTo(Time t);
  void Execute(Node& node, engine::Action& action);
  void OnDiskDone(NodeId n, uint64_t incarnation, uint64_t io_id, bool ok, SharedBytes data);
  void FinishAdmin(const engine::AdminDone& done);
  // NetEndpoint
  void OnTransportUp(NodeId self, NodeId peer) override;
  void OnTransportDown(NodeId self, NodeId peer) override;
  void OnMessage(NodeId self, NodeId peer, engine::Message msg) override;

  Simulation* sim_;
  ClusterOptions options_;
  EngineWireModel wire_;
  std::unique_ptr<SimNetwork> network_;
  std::vector<Node> nodes_;
  std::map<uint64_t, PendingAdmin> admin_;  // by cookie
  uint64_t next_cookie_ = 1;
  uint64_t next_req_ = 1;
  AppObserver app_observer_;
  std::string failure_;
  std::deque<std::string> trace_;
  uint64_t stray_admin_done_ = 0;
};

}  // namespace tandem::sim
