// SimNetwork: the simulated transport between the nodes of one resource.
//
// Model:
// - Every ordered node pair (A, B) has a link that is up or down, so one-way
//   partitions exist (A->B down while B->A is up).
// - A connection between A and B exists when both ends want it (the engine's
//   WantConnection) and both directions are up; establishing it takes a random
//   connect delay. Each connection has an instance number; messages of an old
//   instance are discarded.
// - A connection carries two streams, data and control (the WireModel says
//   which message goes where). Each stream delivers in order with a random
//   per-message delay: a message never overtakes an earlier one on the same
//   stream, while the control stream may overtake the data stream.
// - A connection breaks when a link goes down, when either end drops it or
//   stops wanting it, or when a node crashes. In-flight messages are lost;
//   each surviving end gets OnTransportDown after a random detection delay (a
//   crashed node gets nothing). A new connection is only established after
//   both ends heard about the old one going down; if both still want it, it
//   is re-established.
// - A link may also go down silently (like a cut cable without RST): the
//   connection stays up, messages across the link are held back (still in
//   order) until the link returns or the connection is dropped, so only the
//   engine's own timeouts notice.
// - Fault hook: drop, or delay by a fixed time, every message of one MsgType
//   on one directed link (DRBD's tests block single packet types this way).
//
// The network never calls into an endpoint from inside a method called by the
// host: every callback runs from a simulation event. Thread-safety: none.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/result.h"
#include "engine/protocol.h"
#include "sim/simulation.h"

namespace tandem::sim {

// What the network delivers to: in the simulator, the cluster's host loop.
class NetEndpoint {
 public:
  virtual ~NetEndpoint() = default;
  virtual void OnTransportUp(NodeId self, NodeId peer) = 0;
  virtual void OnTransportDown(NodeId self, NodeId peer) = 0;
  virtual void OnMessage(NodeId self, NodeId peer, engine::Message msg) = 0;
};

// How messages are classified and carried. The engine's model
// (EngineWireModel, engine_wire_model.h) uses engine/protocol.h and round-trips
// every message through Encode/Decode; tests of the network alone use a fake.
class WireModel {
 public:
  virtual ~WireModel() = default;
  virtual engine::MsgType TypeOf(const engine::Message& msg) const = 0;
  virtual engine::StreamKind StreamOf(engine::MsgType type) const = 0;
  // The message as the receiver will see it (through the codec, or as is).
  virtual Result<engine::Message> Transfer(engine::Message msg) const = 0;
};

struct NetworkOptions {
  Time min_delay = 20 * kUs;  // per message, uniform in [min, max]
  Time max_delay = 1 * kMs;
  Time min_connect_delay = 1 * kMs;
  Time max_connect_delay = 20 * kMs;
  Time min_detect_delay = 1 * kMs;  // until an end hears that its connection broke
  Time max_detect_delay = 100 * kMs;
  Time local_close_delay = 10 * kUs;  // the end that dropped the connection
};

enum class MsgFault : uint8_t { kNone, kDrop, kDelay };

struct NetworkStats {
  uint64_t sent = 0;
  uint64_t delivered = 0;
  uint64_t lost = 0;  // sent on a broken or not yet established connection
  uint64_t fault_dropped = 0;
  uint64_t connections = 0;  // established
  uint64_t breaks = 0;
};

class SimNetwork {
 public:
  SimNetwork(Simulation* sim, int nodes, const WireModel* wire, NetEndpoint* endpoint,
             NetworkOptions options = {});
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // Called with a description when the wire model rejects a message (a codec
  // bug); the message is then discarded.
  void SetErrorHandler(std::function<void(const std::string&)> handler) {
    on_error_ = std::move(handler);
  }

  // --- the host, carrying out engine actions
  void SetWant(NodeId self, NodeId peer, bool want);
  void Drop(NodeId self, NodeId peer);
  void Send(NodeId from, NodeId to, engine::Message msg);

  // --- node lifecycle
  // The node crashed: its connections break (the peers hear of it after a
  // detection delay), it wants nothing, and it gets no callbacks until Start.
  void NodeCrashed(NodeId n);
  void NodeStarted(NodeId n);
  bool alive(NodeId n) const { return alive_[n.value()]; }

  // --- faults
  void SetLink(NodeId from, NodeId to, bool up, bool silent = false);
  bool link_up(NodeId from, NodeId to) const { return link_[from.value()][to.value()].up; }
  void SetMsgFault(NodeId from, NodeId to, engine::MsgType type, MsgFault fault, Time delay = 0);
  // Every link up, no message faults.
  void HealAll();
  bool has_faults() const;

  // --- observation
  // The transport is established and neither end has been told it is down.
  bool connected(NodeId a, NodeId b) const;
  uint64_t instance(NodeId a, NodeId b) const;
  const NetworkStats& stats() const { return stats_; }
  int size() const { return n_; }

 private:
  enum class PairState : uint8_t {
    kIdle,        // no connection; may start one
    kConnecting,  // connect delay running
    kUp,          // established
    kClosing,     // broken; waiting for the ends to hear about it
  };
  struct HeldMsg {
    uint64_t instance;
    engine::Message msg;
  };
  struct Pair {
    PairState state = PairState::kIdle;
    uint64_t instance = 0;
    std::array<bool, 2> told_up{};  // [end]: end got OnTransportUp for this instance
    int downs_pending = 0;
    std::array<std::array<Time, 2>, 2> last{};  // [from end][stream]: last delivery time
    std::array<std::deque<HeldMsg>, 2> held;    // [from end]: waiting for a silent link
  };
  struct Link {
    bool up = true;
    bool silent = false;  // went down without breaking the connection
  };
  struct FaultSpec {
    MsgFault fault = MsgFault::kNone;
    Time delay = 0;
  };

  Pair& PairOf(NodeId a, NodeId b);
  const Pair& PairOf(NodeId a, NodeId b) const;
  static int EndOf(NodeId self, NodeId other) { return self.value() < other.value() ? 0 : 1; }
  bool CanEstablish(NodeId a, NodeId b) const;
  bool CanStayUp(NodeId a, NodeId b) const;
  void Evaluate(NodeId a, NodeId b);
  void OnConnectTimer(NodeId a, NodeId b, uint64_t instance);
  // `initiator`: the end that dropped the connection (hears of it at once), or
  // a non-member for a break from outside.
  void Break(NodeId a, NodeId b, int initiator);
  void OnDownTimer(NodeId a, NodeId b, int end, uint64_t node_incarnation);
  void Deliver(NodeId from, NodeId to, uint64_t instance, engine::Message msg);
  void ReleaseHeld(NodeId from, NodeId to);

  Simulation* sim_;
  int n_;
  const WireModel* wire_;
  NetEndpoint* endpoint_;
  NetworkOptions options_;
  std::function<void(const std::string&)> on_error_;
  std::vector<bool> alive_;
  std::vector<uint64_t> incarnation_;
  std::vector<std::vector<bool>> want_;                         // [self][peer]
  std::vector<std::vector<Link>> link_;                         // [from][to]
  std::vector<Pair> pairs_;                                     // index a * n + b with a < b
  std::map<std::tuple<int, int, uint16_t>, FaultSpec> faults_;  // (from, to, type)
  NetworkStats stats_;
};

}  // namespace tandem::sim
