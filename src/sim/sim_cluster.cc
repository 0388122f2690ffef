#include "sim/sim_cluster.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "common/check.h"
#include "engine/metadata.h"

namespace tandem::sim {

using engine::Action;
using engine::AdminDone;
using engine::Resource;
using engine::SsCode;

std::string NodeNameFor(int id) {
  static const char* const kNames[] = {
      "alpha",   "bravo", "charlie", "delta",  "echo",     "foxtrot", "golf",   "hotel",  "india",
      "juliett", "kilo",  "lima",    "mike",   "november", "oscar",   "papa",   "quebec", "romeo",
      "sierra",  "tango", "uniform", "victor", "whiskey",  "xray",    "yankee", "zulu"};
  if (id >= 0 && id < static_cast<int>(std::size(kNames))) return kNames[id];
  return "node" + std::to_string(id);
}

namespace {

const SimCluster* g_current = nullptr;

AdminDone Failed(SsCode code, std::string message) {
  AdminDone d;
  d.code = code;
  d.message = std::move(message);
  return d;
}

}  // namespace

SimCluster::SimCluster(Simulation* sim, ClusterOptions options)
    : sim_(sim), options_(std::move(options)), wire_(options_.codec_round_trip) {
  TANDEM_CHECK(options_.nodes >= 1 && options_.nodes <= kMaxNodes);
  TANDEM_CHECK(options_.volumes >= 1);
  TANDEM_CHECK(options_.volume_bytes % kBlockSize == 0 && options_.volume_bytes > 0);
  network_ = std::make_unique<SimNetwork>(sim_, options_.nodes, &wire_,
                                          static_cast<NetEndpoint*>(this), options_.net);
  network_->SetErrorHandler([this](const std::string& what) { Fail(what); });
  nodes_.resize(options_.nodes);
  for (int i = 0; i < options_.nodes; ++i) CreateNode(i);
  for (Node& node : nodes_) StartResource(node);
  g_current = this;
}

SimCluster::~SimCluster() {
  if (g_current == this) g_current = nullptr;
  // Resources go first: they may hold pointers into their Env.
  for (Node& node : nodes_) node.res.reset();
}

const SimCluster* SimCluster::Current() { return g_current; }

std::vector<NodeId> SimCluster::all() const {
  std::vector<NodeId> out;
  for (int i = 0; i < size(); ++i)
    if (nodes_[i].member) out.push_back(node(i));
  return out;
}

void SimCluster::CreateNode(int id) {
  Node& node = nodes_[id];
  node.id = NodeId(static_cast<uint8_t>(id));
  node.name = NodeNameFor(id);
  auto is_diskless = [&](int x) {
    return std::find(options_.diskless.begin(), options_.diskless.end(), x) !=
           options_.diskless.end();
  };
  node.diskless = is_diskless(id);
  engine::ResourceConfig& c = node.config;
  c.name = options_.resource;
  c.self = node.id;
  for (int i = 0; i < options_.nodes; ++i) {
    c.nodes.push_back(
        engine::NodeConfig{NodeId(static_cast<uint8_t>(i)), NodeNameFor(i), is_diskless(i)});
  }
  for (int v = 0; v < options_.volumes; ++v)
    c.volumes.push_back(VolumeNr(static_cast<uint16_t>(v)));
  c.options = options_.options;
  c.TEST_broken_flush = options_.broken_flush;
  if (options_.adjust) options_.adjust(&c);
  node.env = std::make_unique<SimEnv>(sim_);
  if (node.diskless) return;

  engine::CreateMdParams p;
  p.backing_bytes = options_.volume_bytes;
  p.internal = false;
  p.node_id = static_cast<uint8_t>(id);
  p.al_extents = c.options.al_extents;
  for (int i = 0; i < options_.nodes; ++i) {
    p.all_nodes.push_back(static_cast<uint8_t>(i));
    if (i != id && !is_diskless(i)) p.peers_with_bitmap.push_back(static_cast<uint8_t>(i));
  }
  p.max_peers = std::max<uint32_t>(1, static_cast<uint32_t>(p.peers_with_bitmap.size()));
  for (int v = 0; v < options_.volumes; ++v) {
    Result<Bytes> md = engine::CreateMetadata(p);
    if (!md.ok()) {
      Fail("create-md for " + node.name + " failed: " + md.error().message);
      md = Bytes(engine::kMdBlock, 0);
    }
    node.disks.push_back(std::make_unique<SimDisk>(sim_, options_.volume_bytes,
                                                   std::move(md).value(), options_.disk));
  }
}

void SimCluster::StartResource(Node& node) {
  TANDEM_CHECK(!node.res);
  node.res = std::make_unique<Resource>(node.config, node.env.get());
  network_->NodeStarted(node.id);
}

SimDisk* SimCluster::disk(NodeId n, VolumeNr vnr) {
  Node& node = N(n);
  if (vnr.value() >= node.disks.size()) return nullptr;
  return node.disks[vnr.value()].get();
}

std::optional<engine::ResourceStatus> SimCluster::Status(NodeId n) const {
  const Node& node = N(n);
  if (!node.res) return std::nullopt;
  return node.res->GetStatus();
}

std::string SimCluster::StatusLine(NodeId n) const {
  std::optional<engine::ResourceStatus> st = Status(n);
  if (!st) return name(n) + " down";
  std::string s = name(n) + " " + engine::RoleName(st->role);
  for (const engine::VolumeStatus& v : st->volumes) {
    s += " v" + std::to_string(v.vnr.value()) + ":" + engine::DiskStateName(v.disk);
  }
  s += st->quorum ? " quorum:yes" : " quorum:no";
  if (st->suspended) s += " suspended";
  for (const engine::ConnectionStatus& c : st->connections) {
    s += " " + NodeNameFor(c.peer.value()) + ":" + engine::ConnStateName(c.conn);
    for (const engine::PeerDeviceStatus& pd : c.volumes) {
      s += "/" + std::string(engine::ReplStateName(pd.repl)) + "/" +
           engine::DiskStateName(pd.peer_disk);
    }
  }
  return s;
}

// --- host loop ---------------------------------------------------------------

void SimCluster::Deliver(NodeId n, const std::function<void(Resource&)>& fn) {
  Node& node = N(n);
  if (!node.res) return;
  ++node.dispatch_depth;
  node.res->AdvanceTime(sim_->now());
  fn(*node.res);
  Drain(node);
  --node.dispatch_depth;
}

void SimCluster::Drain(Node& node) {
  // A nested delivery (an app callback submitting to the same node) leaves
  // the draining to the outermost one.
  if (node.dispatch_depth > 1) return;
  std::vector<Action> actions;
  for (;;) {
    if (!node.res) return;
    actions.clear();
    node.res->TakeActions(&actions);
    if (actions.empty()) return;
    for (Action& a : actions) Execute(node, a);
  }
}

void SimCluster::Execute(Node& node, Action& action) {
  auto valid_peer = [&](NodeId peer, const char* what) {
    if (peer.value() < size() && peer != node.id) return true;
    Fail(node.name + ": " + what + " names invalid peer " + std::to_string(peer.value()));
    return false;
  };
  std::visit(
      [&](auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, engine::SendMsg>) {
          if (!valid_peer(a.peer, "SendMsg")) return;
          if (options_.trace_messages) {
            Trace(node.name, std::string("send ") + engine::MsgTypeName(wire_.TypeOf(a.msg)) +
                                 " to " + name(a.peer));
          }
          network_->Send(node.id, a.peer, std::move(a.msg));
        } else if constexpr (std::is_same_v<T, engine::DiskIo>) {
          SimDisk* d = node.diskless ? nullptr : disk(node.id, a.vnr);
          if (!d) {
            Fail(node.name + ": disk I/O on volume " + std::to_string(a.vnr.value()) +
                 " of a node without that disk");
            return;
          }
          NodeId id = node.id;
          uint64_t inc = node.incarnation, io_id = a.io_id;
          std::string err = d->Submit(a, [this, id, inc, io_id](bool ok, SharedBytes data) {
            OnDiskDone(id, inc, io_id, ok, std::move(data));
          });
          if (!err.empty()) {
            Fail(node.name + ": malformed disk I/O (" + err + "): area " +
                 (a.area == engine::DiskArea::kData ? "data" : "meta") + " offset " +
                 std::to_string(a.offset) + " length " + std::to_string(a.length));
          }
        } else if constexpr (std::is_same_v<T, engine::Complete>) {
          auto it = node.app.find(a.req_id);
          if (it == node.app.end()) {
            Fail(node.name + ": Complete for unknown or already completed request " +
                 std::to_string(a.req_id));
            return;
          }
          PendingApp p = std::move(it->second);
          node.app.erase(it);
          AppResult r;
          r.status = a.status;
          r.data = std::move(a.data);
          if (app_observer_) app_observer_(node.id, p.req, r);
          if (p.done) p.done(r);
        } else if constexpr (std::is_same_v<T, engine::WantConnection>) {
          if (valid_peer(a.peer, "WantConnection")) network_->SetWant(node.id, a.peer, a.want);
        } else if constexpr (std::is_same_v<T, engine::DropConnection>) {
          if (valid_peer(a.peer, "DropConnection")) network_->Drop(node.id, a.peer);
        } else if constexpr (std::is_same_v<T, engine::ArmTimer>) {
          if (options_.trace_messages) Trace(node.name, "timer at " + FormatTime(a.at));
          if (node.timer) sim_->Cancel(node.timer);
          NodeId id = node.id;
          uint64_t inc = node.incarnation;
          node.timer = sim_->At(std::max(a.at, sim_->now()), [this, id, inc] {
            Node& nd = N(id);
            if (nd.incarnation != inc) return;
            nd.timer = 0;
            Deliver(id, [](Resource&) {});
          });
        } else if constexpr (std::is_same_v<T, engine::AdminDone>) {
          FinishAdmin(a);
        } else if constexpr (std::is_same_v<T, engine::Event>) {
          Trace(node.name, a.line);
        }
      },
      action);
}

void SimCluster::OnDiskDone(NodeId n, uint64_t incarnation, uint64_t io_id, bool ok,
                            SharedBytes data) {
  if (N(n).incarnation != incarnation) return;
  Deliver(n, [&](Resource& r) { r.OnDiskComplete(io_id, ok, std::move(data)); });
}

void SimCluster::OnTransportUp(NodeId self, NodeId peer) {
  Trace(name(self), "transport up to " + name(peer));
  Deliver(self, [&](Resource& r) { r.OnTransportUp(peer); });
}

void SimCluster::OnTransportDown(NodeId self, NodeId peer) {
  Trace(name(self), "transport down to " + name(peer));
  Deliver(self, [&](Resource& r) { r.OnTransportDown(peer); });
}

void SimCluster::OnMessage(NodeId self, NodeId peer, engine::Message msg) {
  Deliver(self, [&](Resource& r) { r.OnMessage(peer, std::move(msg)); });
}

// --- admin -------------------------------------------------------------------

void SimCluster::Admin(NodeId n, std::string what, AdminCall call, AdminCallback done) {
  if (!running(n)) {
    Trace(name(n), "admin " + what + " refused: node is down");
    sim_->After(0, [done] {
      if (done) done(Failed(SsCode::kInTransientState, "node is down"));
    });
    return;
  }
  uint64_t cookie = next_cookie_++;
  Trace(name(n), "admin " + what);
  admin_[cookie] = PendingAdmin{n, std::move(what), std::move(done)};
  Deliver(n, [&](Resource& r) { call(r, cookie); });
}

void SimCluster::FinishAdmin(const AdminDone& d) {
  auto it = admin_.find(d.cookie);
  if (it == admin_.end() && d.cookie == 0) {
    // Cookie 0 is never issued by this host; the engine uses it for internal
    // commands (CloseWriter's demotion) whose AdminDone it should swallow.
    // Known engine defect: tolerated, counted, traced.
    ++stray_admin_done_;
    Trace("sim", std::string("ignored AdminDone with cookie 0 -> ") + engine::SsCodeName(d.code));
    return;
  }
  if (it == admin_.end()) {
    Fail("AdminDone for unknown cookie " + std::to_string(d.cookie));
    return;
  }
  PendingAdmin p = std::move(it->second);
  admin_.erase(it);
  Trace(name(p.node), "admin " + p.what + " -> " + engine::SsCodeName(d.code) +
                          (d.message.empty() ? "" : " (" + d.message + ")"));
  if (p.done) p.done(d);
}

AdminDone SimCluster::AdminSync(NodeId n, std::string what, AdminCall call, Time timeout) {
  auto result = std::make_shared<std::optional<AdminDone>>();
  Admin(n, std::move(what), std::move(call), [result](const AdminDone& d) { *result = d; });
  RunUntil([&] { return result->has_value(); }, timeout);
  if (result->has_value()) return **result;
  return Failed(SsCode::kTimeout, "no AdminDone within the simulation's timeout");
}

AdminDone SimCluster::Primary(NodeId n, bool force) {
  return AdminSync(n, force ? "primary --force" : "primary",
                   [force](Resource& r, uint64_t c) { r.Primary(c, force); });
}

AdminDone SimCluster::Secondary(NodeId n, bool force) {
  return AdminSync(n, force ? "secondary --force" : "secondary",
                   [force](Resource& r, uint64_t c) { r.Secondary(c, force); });
}

void SimCluster::StartAttach(NodeId n, VolumeNr vnr, AdminCallback done) {
  SimDisk* d = disk(n, vnr);
  if (!d) {
    sim_->After(0, [done] {
      if (done) done(Failed(SsCode::kNoLocalDisk, "node has no disk for this volume"));
    });
    return;
  }
  Admin(
      n, "attach v" + std::to_string(vnr.value()),
      [d, vnr](Resource& r, uint64_t c) {
        if (d->growing()) {
          const Bytes& next = d->Contents(engine::DiskArea::kMetaNext);
          bool valid = next.size() >= engine::kMdBlock &&
                       engine::DecodeSuperblock(ByteSpan(next.data(), engine::kMdBlock)).ok();
          if (valid) {
            d->CommitGrow();
          } else {
            d->AbandonGrow();
          }
        }
        Bytes md = d->Contents(engine::DiskArea::kMeta);  // as read from the disk now
        r.Attach(c, vnr, md, d->size(engine::DiskArea::kData), /*internal_md=*/false);
      },
      std::move(done));
}

void SimCluster::StartGrow(NodeId n, VolumeNr vnr, uint64_t data_bytes, AdminCallback done) {
  SimDisk* d = disk(n, vnr);
  std::string why;
  Result<engine::MdLayout> layout = MakeError(Errc::kInvalidArgument, "no disk");
  if (d && !d->growing()) {
    const Bytes& md = d->Contents(engine::DiskArea::kMeta);
    Result<engine::Superblock> sb = engine::DecodeSuperblock(md);
    if (sb.ok())
      layout = engine::ComputeLayout(data_bytes, sb->max_peers, sb->al_ring_slots, false);
  }
  if (!d || !layout.ok() || data_bytes <= d->size(engine::DiskArea::kData)) {
    // Refusals come from the engine; the disk stays as it is.
    Admin(
        n, "grow v" + std::to_string(vnr.value()),
        [vnr, data_bytes](Resource& r, uint64_t c) { r.Grow(c, vnr, data_bytes); },
        std::move(done));
    return;
  }
  d->BeginGrow(data_bytes, layout->md_bytes);
  Admin(
      n, "grow v" + std::to_string(vnr.value()) + " to " + std::to_string(data_bytes),
      [vnr, data_bytes](Resource& r, uint64_t c) { r.Grow(c, vnr, data_bytes); },
      [d, done = std::move(done)](const AdminDone& a) {
        // Before the actions that follow: they address the new area.
        if (d->growing()) {
          if (a.code == engine::SsCode::kSuccess) {
            d->CommitGrow();
          } else if (a.code != engine::SsCode::kTimeout) {
            d->AbandonGrow();
          }
        }
        if (done) done(a);
      });
}

AdminDone SimCluster::Grow(NodeId n, VolumeNr vnr, uint64_t data_bytes) {
  auto result = std::make_shared<std::optional<AdminDone>>();
  StartGrow(n, vnr, data_bytes, [result](const AdminDone& d) { *result = d; });
  RunUntil([&] { return result->has_value(); }, 60 * kSec);
  return result->has_value() ? **result : Failed(SsCode::kTimeout, "grow timed out");
}

AdminDone SimCluster::Attach(NodeId n, VolumeNr vnr) {
  auto result = std::make_shared<std::optional<AdminDone>>();
  StartAttach(n, vnr, [result](const AdminDone& d) { *result = d; });
  RunUntil([&] { return result->has_value(); }, 60 * kSec);
  return result->has_value() ? **result : Failed(SsCode::kTimeout, "attach timed out");
}

AdminDone SimCluster::Detach(NodeId n, VolumeNr vnr) {
  return AdminSync(n, "detach v" + std::to_string(vnr.value()),
                   [vnr](Resource& r, uint64_t c) { r.Detach(c, vnr); });
}

AdminDone SimCluster::Connect(NodeId n, NodeId peer, bool discard_my_data) {
  return AdminSync(
      n, "connect " + name(peer) + (discard_my_data ? " --discard-my-data" : ""),
      [peer, discard_my_data](Resource& r, uint64_t c) { r.Connect(c, peer, discard_my_data); });
}

AdminDone SimCluster::ConnectAll(NodeId n) {
  return AdminSync(n, "connect-all", [](Resource& r, uint64_t c) { r.ConnectAll(c); });
}

AdminDone SimCluster::Reconfigure(NodeId n, std::vector<engine::NodeConfig> nodes) {
  AdminDone d = AdminSync(n, "reconfigure",
                          [nodes](Resource& r, uint64_t c) { r.Reconfigure(c, nodes); });
  if (d.ok()) N(n).config.nodes = std::move(nodes);
  return d;
}

AdminDone SimCluster::Disconnect(NodeId n, NodeId peer) {
  return AdminSync(n, "disconnect " + name(peer),
                   [peer](Resource& r, uint64_t c) { r.Disconnect(c, peer); });
}

AdminDone SimCluster::NewCurrentUuid(NodeId n, VolumeNr vnr, bool clear_bitmap) {
  return AdminSync(
      n,
      "new-current-uuid v" + std::to_string(vnr.value()) + (clear_bitmap ? " --clear-bitmap" : ""),
      [vnr, clear_bitmap](Resource& r, uint64_t c) { r.NewCurrentUuid(c, vnr, clear_bitmap); });
}

AdminDone SimCluster::OpenForWrite(NodeId n) {
  return AdminSync(n, "open-for-write", [](Resource& r, uint64_t c) { r.OpenForWrite(c); });
}

void SimCluster::CloseWriter(NodeId n) {
  Trace(name(n), "close-writer");
  Deliver(n, [](Resource& r) { r.CloseWriter(); });
}

// --- lifecycle ---------------------------------------------------------------

void SimCluster::StartUp(NodeId n, AdminCallback done) {
  Node& node = N(n);
  if (node.diskless) {
    Admin(
        n, "connect-all", [](Resource& r, uint64_t c) { r.ConnectAll(c); }, std::move(done));
    return;
  }
  struct State {
    int remaining = 0;
    std::optional<AdminDone> failure;
    AdminCallback done;
  };
  auto state = std::make_shared<State>();
  state->remaining = static_cast<int>(node.disks.size());
  state->done = std::move(done);
  for (int v = 0; v < static_cast<int>(node.disks.size()); ++v) {
    StartAttach(n, VolumeNr(static_cast<uint16_t>(v)), [this, n, state](const AdminDone& d) {
      if (!d.ok() && !state->failure) state->failure = d;
      if (--state->remaining > 0) return;
      if (state->failure) {
        if (state->done) state->done(*state->failure);
        return;
      }
      Admin(
          n, "connect-all", [](Resource& r, uint64_t c) { r.ConnectAll(c); }, state->done);
    });
  }
}

AdminDone SimCluster::Up(NodeId n, Time timeout) {
  auto result = std::make_shared<std::optional<AdminDone>>();
  StartUp(n, [result](const AdminDone& d) { *result = d; });
  RunUntil([&] { return result->has_value(); }, timeout);
  return result->has_value() ? **result : Failed(SsCode::kTimeout, "up timed out");
}

bool SimCluster::UpAll(Time timeout) {
  auto results = std::make_shared<std::vector<std::optional<AdminDone>>>(size());
  for (int i = 0; i < size(); ++i) {
    if (!nodes_[i].member) {
      (*results)[i] = AdminDone{0, engine::SsCode::kNothingToDo, "not a member"};
      continue;
    }
    StartUp(node(i), [results, i](const AdminDone& d) { (*results)[i] = d; });
  }
  bool all = RunUntil(
      [&] {
        return std::all_of(results->begin(), results->end(),
                           [](const auto& r) { return r.has_value(); });
      },
      timeout);
  if (!all) return false;
  for (int i = 0; i < size(); ++i) {
    if (!(*results)[i]->ok()) {
      Trace("sim", "up " + name(node(i)) + " failed: " + (*results)[i]->message);
      return false;
    }
  }
  return true;
}

void SimCluster::Crash(NodeId n) {
  Node& node = N(n);
  TANDEM_CHECK_MSG(node.dispatch_depth == 0, "Crash() from inside the node's host loop");
  if (!node.res) return;
  Trace(node.name, "CRASH");
  node.res.reset();
  if (node.timer) sim_->Cancel(node.timer);
  node.timer = 0;
  ++node.incarnation;
  for (auto& d : node.disks) d->Crash();
  network_->NodeCrashed(n);
  std::map<uint64_t, PendingApp> app;
  app.swap(node.app);
  for (auto& [id, p] : app) {
    sim_->After(0, [done = std::move(p.done)] {
      AppResult r;
      r.lost = true;
      if (done) done(r);
    });
  }
  for (auto it = admin_.begin(); it != admin_.end();) {
    if (it->second.node != n) {
      ++it;
      continue;
    }
    AdminCallback done = std::move(it->second.done);
    it = admin_.erase(it);
    sim_->After(0, [done] {
      if (done) done(Failed(SsCode::kTimeout, "node crashed"));
    });
  }
}

void SimCluster::StartRestart(NodeId n, AdminCallback done) {
  Node& node = N(n);
  TANDEM_CHECK_MSG(!node.res, "Restart() of a running node");
  Trace(node.name, "RESTART");
  StartResource(node);
  StartUp(n, std::move(done));
}

AdminDone SimCluster::Restart(NodeId n, Time timeout) {
  auto result = std::make_shared<std::optional<AdminDone>>();
  StartRestart(n, [result](const AdminDone& d) { *result = d; });
  RunUntil([&] { return result->has_value(); }, timeout);
  return result->has_value() ? **result : Failed(SsCode::kTimeout, "restart timed out");
}

// --- network faults ----------------------------------------------------------

void SimCluster::PartitionOneWay(NodeId from, NodeId to, bool silent) {
  Trace("sim", "cut " + name(from) + " -> " + name(to) + (silent ? " (silent)" : ""));
  network_->SetLink(from, to, false, silent);
}

void SimCluster::Partition(NodeId a, NodeId b, bool silent) {
  PartitionOneWay(a, b, silent);
  PartitionOneWay(b, a, silent);
}

void SimCluster::Heal(NodeId a, NodeId b) {
  Trace("sim", "heal " + name(a) + " <-> " + name(b));
  network_->SetLink(a, b, true);
  network_->SetLink(b, a, true);
}

void SimCluster::Isolate(NodeId n, bool silent) {
  for (NodeId other : all()) {
    if (other != n) Partition(n, other, silent);
  }
}

void SimCluster::HealNetwork() {
  Trace("sim", "heal network");
  network_->HealAll();
}

// --- app I/O -----------------------------------------------------------------

void SimCluster::Submit(NodeId n, engine::AppRequest req, AppCallback done) {
  Node& node = N(n);
  if (!node.res) {
    sim_->After(0, [done] {
      AppResult r;
      r.lost = true;
      if (done) done(r);
    });
    return;
  }
  req.id = next_req_++;
  node.app[req.id] = PendingApp{req, std::move(done)};
  Deliver(n, [&](Resource& r) { r.Submit(req); });
}

size_t SimCluster::app_inflight() const {
  size_t total = 0;
  for (const Node& node : nodes_) total += node.app.size();
  return total;
}

// --- running -----------------------------------------------------------------

void SimCluster::RunTo(Time t) {
  for (;;) {
    if (failed()) return;
    std::optional<Time> next = sim_->NextEventTime();
    if (!next || *next > t) break;
    sim_->Step();
    if (sim_->events_run() > options_.max_events) {
      Fail("more than " + std::to_string(options_.max_events) +
           " events: the run does not settle (livelock?)");
      return;
    }
  }
  if (!failed() && t > sim_->now()) sim_->RunUntil(t);
}

void SimCluster::RunFor(Time duration) { RunTo(sim_->now() + duration); }

bool SimCluster::RunUntil(const std::function<bool()>& pred, Time timeout, Time poll) {
  Time deadline = sim_->now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (failed() || sim_->now() >= deadline) return false;
    if (poll > 0) {
      RunTo(std::min(deadline, sim_->now() + poll));
      continue;
    }
    std::optional<Time> next = sim_->NextEventTime();
    if (!next || *next > deadline) {
      RunTo(deadline);
      continue;
    }
    sim_->Step();
    if (sim_->events_run() > options_.max_events) {
      Fail("more than " + std::to_string(options_.max_events) +
           " events: the run does not settle (livelock?)");
    }
  }
}

bool SimCluster::Healthy(std::string* why) const {
  auto no = [&](std::string what) {
    if (why) *why = std::move(what);
    return false;
  };
  if (network_->has_faults()) return no("network faults armed");
  for (const Node& node : nodes_) {
    if (!node.member) continue;
    if (!node.res) return no(node.name + " is down");
    for (const auto& d : node.disks) {
      if (d->has_faults()) return no(node.name + " has disk faults armed");
    }
    if (!node.app.empty()) return no(node.name + " has app I/O in flight");
    engine::ResourceStatus st = node.res->GetStatus();
    if (!node.diskless) {
      for (const engine::VolumeStatus& v : st.volumes) {
        if (v.disk != engine::DiskState::kUpToDate) {
          return no(node.name + " v" + std::to_string(v.vnr.value()) + " is " +
                    engine::DiskStateName(v.disk));
        }
      }
    }
    for (const Node& other : nodes_) {
      if (other.id == node.id || !other.member) continue;
      auto c =
          std::find_if(st.connections.begin(), st.connections.end(),
                       [&](const engine::ConnectionStatus& cs) { return cs.peer == other.id; });
      if (c == st.connections.end()) return no(node.name + " has no connection to " + other.name);
      if (c->conn != engine::ConnState::kConnected) {
        return no(node.name + " is " + engine::ConnStateName(c->conn) + " to " + other.name);
      }
      for (const engine::PeerDeviceStatus& pd : c->volumes) {
        if (pd.repl != engine::ReplState::kEstablished) {
          return no(node.name + " is " + engine::ReplStateName(pd.repl) + " to " + other.name);
        }
      }
    }
  }
  return true;
}

bool SimCluster::Quiesce(Time timeout) {
  return RunUntil([&] { return Healthy(); }, timeout, 10 * kMs);
}

// --- violations and trace ----------------------------------------------------

void SimCluster::Fail(const std::string& what) {
  if (!failure_.empty()) return;
  failure_ = what;
  Trace("sim", "VIOLATION " + what);
}

void SimCluster::Trace(const std::string& who, const std::string& line) {
  std::string s = FormatTime(sim_->now()) + " " + who + " " + line;
  if (options_.verbose) std::printf("%s\n", s.c_str());
  trace_.push_back(std::move(s));
  while (trace_.size() > options_.trace_capacity) trace_.pop_front();
}

std::string SimCluster::TraceText() const {
  std::string out;
  for (const std::string& line : trace_) out += line + "\n";
  return out;
}

}  // namespace tandem::sim
