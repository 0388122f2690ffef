#include "sim/sim_network.h"

#include <algorithm>
#include <utility>

#include "common/check.h"

namespace tandem::sim {

SimNetwork::SimNetwork(Simulation* sim, int nodes, const WireModel* wire, NetEndpoint* endpoint,
                       NetworkOptions options)
    : sim_(sim),
      n_(nodes),
      wire_(wire),
      endpoint_(endpoint),
      options_(options),
      alive_(nodes, true),
      incarnation_(nodes, 0),
      want_(nodes, std::vector<bool>(nodes, false)),
      link_(nodes, std::vector<Link>(nodes)),
      pairs_(static_cast<size_t>(nodes) * nodes) {
  TANDEM_CHECK(nodes >= 1 && nodes <= kMaxNodes);
}

SimNetwork::Pair& SimNetwork::PairOf(NodeId a, NodeId b) {
  int lo = std::min(a.value(), b.value()), hi = std::max(a.value(), b.value());
  TANDEM_CHECK(lo != hi && hi < n_);
  return pairs_[lo * n_ + hi];
}

const SimNetwork::Pair& SimNetwork::PairOf(NodeId a, NodeId b) const {
  return const_cast<SimNetwork*>(this)->PairOf(a, b);
}

bool SimNetwork::CanEstablish(NodeId a, NodeId b) const {
  int x = a.value(), y = b.value();
  return alive_[x] && alive_[y] && want_[x][y] && want_[y][x] && link_[x][y].up && link_[y][x].up;
}

bool SimNetwork::CanStayUp(NodeId a, NodeId b) const {
  int x = a.value(), y = b.value();
  auto ok = [](const Link& l) { return l.up || l.silent; };
  return alive_[x] && alive_[y] && want_[x][y] && want_[y][x] && ok(link_[x][y]) && ok(link_[y][x]);
}

void SimNetwork::Evaluate(NodeId a, NodeId b) {
  Pair& p = PairOf(a, b);
  switch (p.state) {
    case PairState::kIdle:
      if (CanEstablish(a, b)) {
        p.state = PairState::kConnecting;
        uint64_t inst = ++p.instance;
        Time delay = sim_->UniformTime(options_.min_connect_delay, options_.max_connect_delay);
        sim_->After(delay, [this, a, b, inst] { OnConnectTimer(a, b, inst); });
      }
      break;
    case PairState::kConnecting:
      if (!CanEstablish(a, b)) {
        p.state = PairState::kIdle;
        ++p.instance;
      }
      break;
    case PairState::kUp:
      if (!CanStayUp(a, b)) Break(a, b, -1);
      break;
    case PairState::kClosing:
      break;
  }
}

void SimNetwork::OnConnectTimer(NodeId a, NodeId b, uint64_t inst) {
  Pair& p = PairOf(a, b);
  if (p.instance != inst || p.state != PairState::kConnecting) return;
  if (!CanEstablish(a, b)) {
    p.state = PairState::kIdle;
    ++p.instance;
    return;
  }
  p.state = PairState::kUp;
  p.told_up = {false, false};
  for (auto& per_stream : p.last) per_stream = {sim_->now(), sim_->now()};
  p.held[0].clear();
  p.held[1].clear();
  ++stats_.connections;
  NodeId lo = a.value() < b.value() ? a : b;
  NodeId hi = a.value() < b.value() ? b : a;
  // Which end hears first is up to chance, as with real sockets.
  bool lo_first = sim_->Chance(0.5);
  NodeId first = lo_first ? lo : hi, second = lo_first ? hi : lo;
  p.told_up[EndOf(first, second)] = true;
  endpoint_->OnTransportUp(first, second);
  // The first end may have dropped the connection already.
  if (PairOf(a, b).instance != inst) return;
  PairOf(a, b).told_up[EndOf(second, first)] = true;
  endpoint_->OnTransportUp(second, first);
}

void SimNetwork::Break(NodeId a, NodeId b, int initiator) {
  Pair& p = PairOf(a, b);
  TANDEM_CHECK(p.state == PairState::kUp);
  p.state = PairState::kClosing;
  ++p.instance;
  ++stats_.breaks;
  p.held[0].clear();
  p.held[1].clear();
  NodeId ends[2] = {a.value() < b.value() ? a : b, a.value() < b.value() ? b : a};
  for (int end = 0; end < 2; ++end) {
    NodeId self = ends[end];
    if (!p.told_up[end] || !alive_[self.value()]) continue;
    ++p.downs_pending;
    Time delay = end == initiator
                     ? options_.local_close_delay
                     : sim_->UniformTime(options_.min_detect_delay, options_.max_detect_delay);
    uint64_t inc = incarnation_[self.value()];
    sim_->After(delay, [this, a, b, end, inc] { OnDownTimer(a, b, end, inc); });
  }
  p.told_up = {false, false};
  if (p.downs_pending == 0) {
    p.state = PairState::kIdle;
    Evaluate(a, b);
  }
}

void SimNetwork::OnDownTimer(NodeId a, NodeId b, int end, uint64_t node_incarnation) {
  Pair& p = PairOf(a, b);
  NodeId ends[2] = {a.value() < b.value() ? a : b, a.value() < b.value() ? b : a};
  NodeId self = ends[end], peer = ends[1 - end];
  TANDEM_CHECK(p.downs_pending > 0);
  --p.downs_pending;
  // A node that crashed since never hears about its old connections.
  if (alive_[self.value()] && incarnation_[self.value()] == node_incarnation) {
    endpoint_->OnTransportDown(self, peer);
  }
  Pair& q = PairOf(a, b);  // the callback may not touch pairs_'s storage, but be safe
  if (q.downs_pending == 0 && q.state == PairState::kClosing) {
    q.state = PairState::kIdle;
    Evaluate(a, b);
  }
}

void SimNetwork::SetWant(NodeId self, NodeId peer, bool want) {
  if (want_[self.value()][peer.value()] == want) return;
  want_[self.value()][peer.value()] = want;
  Evaluate(self, peer);
}

void SimNetwork::Drop(NodeId self, NodeId peer) {
  Pair& p = PairOf(self, peer);
  if (p.state == PairState::kUp) {
    Break(self, peer, EndOf(self, peer));
  } else if (p.state == PairState::kConnecting) {
    p.state = PairState::kIdle;
    ++p.instance;
    Evaluate(self, peer);
  }
}

void SimNetwork::Send(NodeId from, NodeId to, engine::Message msg) {
  ++stats_.sent;
  Pair& p = PairOf(from, to);
  if (p.state != PairState::kUp || !p.told_up[EndOf(from, to)]) {
    ++stats_.lost;
    return;
  }
  engine::MsgType type = wire_->TypeOf(msg);
  Time extra = 0;
  auto f = faults_.find({from.value(), to.value(), static_cast<uint16_t>(type)});
  if (f != faults_.end()) {
    if (f->second.fault == MsgFault::kDrop) {
      ++stats_.fault_dropped;
      return;
    }
    if (f->second.fault == MsgFault::kDelay) extra = f->second.delay;
  }
  Result<engine::Message> carried = wire_->Transfer(std::move(msg));
  if (!carried.ok()) {
    if (on_error_) on_error_("wire: " + carried.error().message);
    return;
  }
  int stream = static_cast<int>(wire_->StreamOf(type));
  TANDEM_CHECK(stream == 0 || stream == 1);
  Time& last = p.last[EndOf(from, to)][stream];
  Time at = std::max(
      sim_->now() + sim_->UniformTime(options_.min_delay, options_.max_delay) + extra, last);
  last = at;
  uint64_t inst = p.instance;
  sim_->At(at, [this, from, to, inst, m = std::move(carried).value()]() mutable {
    Deliver(from, to, inst, std::move(m));
  });
}

void SimNetwork::Deliver(NodeId from, NodeId to, uint64_t inst, engine::Message msg) {
  Pair& p = PairOf(from, to);
  if (p.instance != inst) {
    ++stats_.lost;
    return;
  }
  auto& held = p.held[EndOf(from, to)];
  if (!link_[from.value()][to.value()].up || !held.empty()) {
    held.push_back(HeldMsg{inst, std::move(msg)});
    return;
  }
  ++stats_.delivered;
  endpoint_->OnMessage(to, from, std::move(msg));
}

void SimNetwork::ReleaseHeld(NodeId from, NodeId to) {
  Pair& p = PairOf(from, to);
  if (p.held[EndOf(from, to)].empty()) return;
  uint64_t inst = p.instance;
  sim_->After(options_.min_delay, [this, from, to, inst] {
    for (;;) {
      Pair& q = PairOf(from, to);
      auto& held = q.held[EndOf(from, to)];
      if (q.instance != inst || held.empty() || !link_[from.value()][to.value()].up) return;
      HeldMsg h = std::move(held.front());
      held.pop_front();
      ++stats_.delivered;
      endpoint_->OnMessage(to, from, std::move(h.msg));
    }
  });
}

void SimNetwork::NodeCrashed(NodeId n) {
  int x = n.value();
  alive_[x] = false;
  ++incarnation_[x];
  for (int y = 0; y < n_; ++y) {
    if (y == x) continue;
    want_[x][y] = false;
    Evaluate(n, NodeId(static_cast<uint8_t>(y)));
  }
}

void SimNetwork::NodeStarted(NodeId n) {
  alive_[n.value()] = true;
  for (int y = 0; y < n_; ++y) {
    if (y != n.value()) Evaluate(n, NodeId(static_cast<uint8_t>(y)));
  }
}

void SimNetwork::SetLink(NodeId from, NodeId to, bool up, bool silent) {
  Link& l = link_[from.value()][to.value()];
  l.up = up;
  l.silent = !up && silent;
  if (up) ReleaseHeld(from, to);
  Evaluate(from, to);
}

void SimNetwork::SetMsgFault(NodeId from, NodeId to, engine::MsgType type, MsgFault fault,
                             Time delay) {
  auto key = std::make_tuple(int{from.value()}, int{to.value()}, static_cast<uint16_t>(type));
  if (fault == MsgFault::kNone) {
    faults_.erase(key);
  } else {
    faults_[key] = FaultSpec{fault, delay};
  }
}

void SimNetwork::HealAll() {
  faults_.clear();
  for (int x = 0; x < n_; ++x) {
    for (int y = 0; y < n_; ++y) {
      if (x != y && !link_[x][y].up) {
        SetLink(NodeId(static_cast<uint8_t>(x)), NodeId(static_cast<uint8_t>(y)), true);
      }
    }
  }
}

bool SimNetwork::has_faults() const {
  if (!faults_.empty()) return true;
  for (int x = 0; x < n_; ++x) {
    for (int y = 0; y < n_; ++y) {
      if (x != y && !link_[x][y].up) return true;
    }
  }
  return false;
}

bool SimNetwork::connected(NodeId a, NodeId b) const {
  const Pair& p = PairOf(a, b);
  return p.state == PairState::kUp && p.told_up[0] && p.told_up[1];
}

uint64_t SimNetwork::instance(NodeId a, NodeId b) const { return PairOf(a, b).instance; }

}  // namespace tandem::sim
