#include "satellite/satellite.h"

#include <unistd.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/log.h"
#include "engine/uuid_compare.h"
#include "satellite/storage.h"
#include "tandemd/daemon.h"

namespace tandem::satellite {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kRetryInterval = std::chrono::seconds(3);

namespace {

std::string HostName() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

std::string StateFile(const std::string& root) {
  return (fs::path(root) / "var/lib/tandem/satellite/state.json").string();
}

std::string Str(const json::object& o, const char* k) {
  const json::value* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : "";
}

int64_t Int(const json::object& o, const char* k) {
  const json::value* v = o.if_contains(k);
  if (!v) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->as_double());
  return 0;
}

// "key:value" of an events2 line.
std::string Field(const std::string& line, const std::string& key) {
  std::string pat = " " + key + ":";
  size_t at = line.find(pat);
  if (at == std::string::npos) return "";
  size_t start = at + pat.size();
  size_t end = line.find(' ', start);
  return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace

struct Satellite::Conn {
  explicit Conn(tcp::socket s) : sock(std::move(s)) {}
  tcp::socket sock;
  std::mutex write_mu;
  bool synced = false;  // a full sync arrived on this connection
  void Close() {
    boost::system::error_code ec;
    sock.shutdown(tcp::socket::shutdown_both, ec);
  }
  bool Send(const json::object& msg) {
    std::string f = satproto::EncodeFrame(msg);
    std::lock_guard<std::mutex> l(write_mu);
    boost::system::error_code ec;
    asio::write(sock, asio::buffer(f), ec);
    return !ec;
  }
};

Satellite::Satellite(SatelliteOptions options)
    : options_(std::move(options)),
      applier_(options_.root, options_.node.empty() ? HostName() : options_.node) {
  if (options_.node.empty()) options_.node = HostName();
}

Satellite::~Satellite() {
  Stop();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

Status Satellite::Start() {
  // The cluster this node belongs to, if it was ever synced.
  {
    std::ifstream in(StateFile(options_.root));
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      boost::system::error_code ec;
      json::value v = json::parse(ss.str(), ec);
      if (!ec && v.is_object()) {
        cluster_id_ = Str(v.as_object(), "cluster_id");
        // Split brains seen before a restart: tandemd's events2 --now shows
        // only StandAlone, not why.
        if (const json::value* sb = v.as_object().if_contains("split_brain"); sb && sb->is_array()) {
          for (const json::value& e : sb->as_array()) {
            if (!e.is_array() || e.as_array().size() != 2 || !e.as_array()[0].is_string() ||
                !e.as_array()[1].is_string())
              continue;
            split_brain_.insert({std::string(e.as_array()[0].as_string()),
                                 std::string(e.as_array()[1].as_string())});
          }
        }
      }
    }
  }
  boost::system::error_code ec;
  tcp::endpoint ep(asio::ip::make_address(options_.listen_address, ec), options_.listen_port);
  if (ec) return Error{Errc::kInvalidArgument, "bad listen address " + options_.listen_address};
  acceptor_ = std::make_unique<tcp::acceptor>(ctx_);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(16, ec);
  if (ec) {
    return Error{Errc::kIoError, "cannot listen on " + options_.listen_address + ":" +
                                     std::to_string(options_.listen_port) + ": " + ec.message()};
  }
  port_ = acceptor_->local_endpoint().port();
  for (int i = 0; i < std::max(1, options_.workers); ++i) threads_.emplace_back([this] { Worker(); });
  threads_.emplace_back([this] { Reporter(); });
  threads_.emplace_back([this] { Sender(); });
  std::thread([this] { EventsListener(); }).detach();
  Logf(LogLevel::kInfo, "tandem-satellite {} listening on {}:{}", options_.node, options_.listen_address, port_);
  return {};
}

void Satellite::Stop() {
  std::shared_ptr<Conn> c;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
    stopping_ = true;
    c = conn_;
  }
  work_cv_.notify_all();
  report_cv_.notify_all();
  {
    std::lock_guard<std::mutex> l(out_mu_);
    out_stop_ = true;
  }
  out_cv_.notify_all();
  if (c) c->Close();
  boost::system::error_code ec;
  if (acceptor_) {
    acceptor_->cancel(ec);
    acceptor_->close(ec);
  }
}

void Satellite::Run() {
  std::vector<std::thread> readers;
  while (true) {
    tcp::socket s(ctx_);
    boost::system::error_code ec;
    acceptor_->accept(s, ec);
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) break;
    }
    if (ec) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    s.set_option(tcp::no_delay(true), ec);
    auto conn = std::make_shared<Conn>(std::move(s));
    std::shared_ptr<Conn> old;
    {
      std::lock_guard<std::mutex> l(mu_);
      old = conn_;
      conn_ = conn;
    }
    // One controller at a time: a new connection replaces the old one.
    if (old) old->Close();
    readers.emplace_back([this, conn] { Serve(conn); });
  }
  for (std::thread& t : readers) t.join();
}

void Satellite::Serve(std::shared_ptr<Conn> conn) {
  satproto::FrameDecoder dec;
  char buf[64 * 1024];
  while (true) {
    boost::system::error_code ec;
    size_t n = conn->sock.read_some(asio::buffer(buf), ec);
    if (ec) break;
    dec.Feed(buf, n);
    bool bad = false;
    for (;;) {
      Result<json::object> m = dec.Next();
      if (!m.ok()) {
        if (m.code() != Errc::kNotFound) {
          Logf(LogLevel::kInfo, "controller connection: {}; closing", m.error().message);
          bad = true;
        }
        break;
      }
      Handle(conn, *m);
    }
    if (bad) break;
  }
  conn->Close();
  std::lock_guard<std::mutex> l(mu_);
  if (conn_ == conn) conn_.reset();
}

void Satellite::Handle(const std::shared_ptr<Conn>& conn, const json::object& msg) {
  std::string type = satproto::TypeOf(msg);
  if (type == "hello") {
    Result<satproto::Hello> h = satproto::HelloFromJson(msg);
    if (h.ok()) {
      Logf(LogLevel::kInfo, "controller says hello (node {}, protocol {})", h->node, h->protocol);
    }
    conn->Send(satproto::ToJson(satproto::Hello{satproto::kProtocolVersion, options_.node, "",
                                                "tandem-satellite 0.1"}));
  } else if (type == "ping") {
    conn->Send(satproto::Pong(static_cast<uint64_t>(Int(msg, "seq"))));
  } else if (type == "full_sync") {
    Result<satproto::FullSync> m = satproto::FullSyncFromJson(msg);
    if (!m.ok()) {
      conn->Send(satproto::ErrorMessage("BAD_MESSAGE", "full_sync: " + m.error().message));
      return;
    }
    OnFullSync(conn, std::move(m).value());
  } else if (type == "update") {
    Result<satproto::Update> m = satproto::UpdateFromJson(msg);
    if (!m.ok()) {
      conn->Send(satproto::ErrorMessage("BAD_MESSAGE", "update: " + m.error().message));
      return;
    }
    OnUpdate(std::move(m).value());
  } else if (type == "pong" || type == "error") {
    // nothing to do
  } else {
    conn->Send(satproto::ErrorMessage("UNKNOWN_MESSAGE", "unknown message type '" + type + "'"));
  }
}

void Satellite::OnFullSync(const std::shared_ptr<Conn>& conn, satproto::FullSync m) {
  std::unique_lock<std::mutex> l(mu_);
  if (!cluster_id_.empty() && !m.cluster_id.empty() && m.cluster_id != cluster_id_) {
    l.unlock();
    Logf(LogLevel::kInfo, "refusing a full sync from cluster {}: this node belongs to cluster {}", m.cluster_id,
         cluster_id_);
    conn->Send(satproto::ErrorMessage(
        "OTHER_CONTROLLER", "this node belongs to cluster " + cluster_id_ + ", not " +
                                m.cluster_id));
    conn->Close();
    return;
  }
  if (cluster_id_.empty() && !m.cluster_id.empty()) {
    cluster_id_ = m.cluster_id;
    Status s = SaveState();
    if (!s.ok()) Logf(LogLevel::kInfo, "{}", s.error().message);
  }
  conn->synced = true;
  pools_.clear();
  for (satproto::PoolDesired& p : m.pools) pools_[p.name] = std::move(p);
  std::set<std::string> wanted;
  std::map<std::string, satproto::ResourceDesired> desired;
  for (satproto::ResourceDesired& r : m.resources) {
    wanted.insert(r.name);
    desired[r.name] = std::move(r);
  }
  std::vector<std::string> gone;
  for (const std::string& name : applier_.Managed()) {
    if (!wanted.count(name)) gone.push_back(name);
  }
  for (const auto& [name, r] : desired_) {
    if (!wanted.count(name) && std::find(gone.begin(), gone.end(), name) == gone.end())
      gone.push_back(name);
  }
  desired_ = desired;
  // A pool change can change every resource: forget what was applied.
  applied_.clear();
  OpenGeneration(m.generation, static_cast<int>(desired.size() + gone.size()));
  for (auto& [name, r] : desired) Enqueue(name, Work{false, r, {m.generation}});
  for (const std::string& name : gone) Enqueue(name, Removal(name, {m.generation}));
  full_report_ = true;
  dirty_ = true;
  FinishGenerations({});
  report_cv_.notify_all();
}

void Satellite::OnUpdate(satproto::Update m) {
  std::lock_guard<std::mutex> l(mu_);
  if (m.has_pools) {
    pools_.clear();
    for (satproto::PoolDesired& p : m.pools) pools_[p.name] = std::move(p);
  }
  OpenGeneration(m.generation, static_cast<int>(m.upsert.size() + m.remove.size()));
  for (satproto::ResourceDesired& r : m.upsert) {
    desired_[r.name] = r;
    std::string name = r.name;
    Enqueue(name, Work{false, std::move(r), {m.generation}});
  }
  for (const std::string& name : m.remove) {
    desired_.erase(name);
    Enqueue(name, Removal(name, {m.generation}));
  }
  dirty_ = true;
  FinishGenerations({});
}

Satellite::Work Satellite::Removal(const std::string& name, std::vector<uint64_t> generations) {
  Work w;
  w.remove = true;
  w.desired.name = name;
  w.generations = std::move(generations);
  return w;
}

void Satellite::OpenGeneration(uint64_t gen, int items) { outstanding_[gen] += items; }

void Satellite::Enqueue(const std::string& name, Work w) {
  auto it = pending_.find(name);
  if (it != pending_.end()) {
    // The newer desired state covers the older one.
    w.generations.insert(w.generations.end(), it->second.generations.begin(),
                         it->second.generations.end());
    it->second = std::move(w);
  } else {
    pending_.emplace(name, std::move(w));
  }
  work_cv_.notify_one();
}

void Satellite::FinishGenerations(const std::vector<uint64_t>& gens) {
  for (uint64_t g : gens) {
    auto it = outstanding_.find(g);
    if (it != outstanding_.end()) --it->second;
  }
  // Acknowledge every generation whose work, and all before it, is done.
  uint64_t ack = 0;
  while (!outstanding_.empty() && outstanding_.begin()->second <= 0) {
    ack = outstanding_.begin()->first;
    outstanding_.erase(outstanding_.begin());
  }
  if (ack == 0 || ack <= acked_) return;
  acked_ = ack;
  satproto::Applied a;
  a.generation = ack;
  for (const auto& [name, err] : errors_) a.errors.push_back({name, err});
  std::shared_ptr<Conn> c = conn_;
  if (c && c->synced) {
    // Sent from a detached copy so that mu_ is not held while writing.
    Post(c, satproto::ToJson(a));
  }
}

void Satellite::Post(std::shared_ptr<Conn> c, json::object msg) {
  std::lock_guard<std::mutex> l(out_mu_);
  outbox_.emplace_back(std::move(c), std::move(msg));
  out_cv_.notify_one();
}

// Writes posted messages in order, without holding mu_ while a write blocks.
void Satellite::Sender() {
  std::unique_lock<std::mutex> l(out_mu_);
  while (true) {
    out_cv_.wait(l, [this] { return out_stop_ || !outbox_.empty(); });
    if (out_stop_) return;
    auto [c, msg] = std::move(outbox_.front());
    outbox_.pop_front();
    l.unlock();
    c->Send(msg);
    l.lock();
  }
}

void Satellite::Worker() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    work_cv_.wait(l, [this] {
      if (stopping_) return true;
      for (const auto& [name, w] : pending_)
        if (!running_.count(name)) return true;
      return false;
    });
    if (stopping_) return;
    // Removals first: they free ports and space that new resources may need.
    auto it = pending_.end();
    for (auto p = pending_.begin(); p != pending_.end(); ++p) {
      if (running_.count(p->first)) continue;
      if (p->second.remove) {
        it = p;
        break;
      }
      if (it == pending_.end()) it = p;
    }
    if (it == pending_.end()) continue;
    std::string name = it->first;
    Work w = std::move(it->second);
    pending_.erase(it);
    running_.insert(name);
    PoolMap pools = pools_;
    bool same = !w.remove && applied_.count(name) && applied_[name] == w.desired;
    l.unlock();

    Status s;
    if (w.remove) {
      s = applier_.Remove(name);
      if (s.ok()) Logf(LogLevel::kInfo, "removed {}", name);
    } else if (!same) {
      s = applier_.Apply(w.desired, pools);
      if (s.ok()) Logf(LogLevel::kInfo, "applied {}", name);
    }
    if (!s.ok()) Logf(LogLevel::kWarn, "{}: {}", name, s.error().message);

    l.lock();
    running_.erase(name);
    if (s.ok()) {
      errors_.erase(name);
      if (w.remove) {
        applied_.erase(name);
        reported_.erase(name);
        sync_skipped_.erase(name);
      } else {
        applied_[name] = w.desired;
      }
    } else {
      errors_[name] = s.error().message;
      applied_.erase(name);
    }
    dirty_ = true;
    FinishGenerations(w.generations);
    report_cv_.notify_all();
    // Another update for this resource may have waited for us.
    if (pending_.count(name)) work_cv_.notify_one();
  }
}

satproto::Report Satellite::BuildReport(bool full) {
  std::map<std::string, satproto::ResourceDesired> desired;
  PoolMap pools;
  std::map<std::string, std::string> errors;
  std::set<std::pair<std::string, std::string>> split;
  {
    std::lock_guard<std::mutex> l(mu_);
    desired = desired_;
    pools = pools_;
    errors = errors_;
    split = split_brain_;
  }
  satproto::Report rep;
  rep.full = full;
  for (const auto& [name, p] : pools) rep.pools.push_back(PoolStateOf(p));

  std::map<std::string, json::object> status;
  std::string daemon_error;
  Result<json::object> st =
      tandemd::AdminCall(applier_.admin_socket(), json::object{{"cmd", "status"}});
  if (!st.ok()) {
    daemon_error = "tandemd is not reachable: " + st.error().message;
  } else if (const json::value* arr = st->if_contains("resources"); arr && arr->is_array()) {
    for (const json::value& v : arr->as_array()) {
      if (v.is_object()) status[Str(v.as_object(), "name")] = v.as_object();
    }
  }
  tandemd::Paths paths(options_.root);
  for (const auto& [name, r] : desired) {
    satproto::ResourceState s;
    s.name = name;
    auto it = status.find(name);
    if (it == status.end()) {
      s.role = "Unknown";
      s.error = errors.count(name) ? errors[name]
                                   : (!daemon_error.empty() ? daemon_error : "not up in tandemd");
      rep.resources.push_back(std::move(s));
      continue;
    }
    const json::object& o = it->second;
    s.role = Str(o, "role");
    s.in_use = s.role == "Primary";
    if (errors.count(name)) s.error = errors[name];
    for (const json::value& vv : o.at("volumes").as_array()) {
      const json::object& vo = vv.as_object();
      satproto::VolumeState v;
      v.vnr = static_cast<int>(Int(vo, "volume"));
      v.disk_state = Str(vo, "disk");
      v.usable_kib = Int(vo, "size") / 1024;
      for (const satproto::VolumeDesired& vd : r.volumes) {
        if (vd.vnr != v.vnr || r.diskless) continue;
        auto p = pools.find(vd.pool);
        if (p != pools.end() && !p->second.Directory().empty())
          v.allocated_kib = AllocatedKib(VolumeFile(p->second.Directory(), name, vd.vnr));
      }
      v.nbd_uri = "nbd+unix:///" + name + "/" + std::to_string(v.vnr) +
                  "?socket=" + paths.nbd_socket(name, static_cast<uint16_t>(v.vnr));
      std::string link = paths.by_res_dir() + "/" + name + "/" + std::to_string(v.vnr);
      std::error_code ec;
      if (fs::is_symlink(link, ec)) v.device_path = "/dev/tandem/by-res/" + name + "/" +
                                                     std::to_string(v.vnr);
      s.volumes.push_back(std::move(v));
    }
    for (const json::value& cv : o.at("connections").as_array()) {
      const json::object& co = cv.as_object();
      satproto::ConnectionState c;
      c.node = Str(co, "name");
      c.connection = Str(co, "connection");
      c.peer_role = Str(co, "role");
      c.split_brain = split.count({name, c.node}) > 0;
      for (const json::value& pv : co.at("volumes").as_array()) {
        const json::object& po = pv.as_object();
        satproto::PeerVolumeState p;
        p.vnr = static_cast<int>(Int(po, "volume"));
        p.replication = Str(po, "replication");
        p.peer_disk = Str(po, "peer_disk");
        const json::value* d = po.if_contains("done");
        p.done = d && d->is_number() ? d->to_number<double>() : 0;
        c.volumes.push_back(std::move(p));
      }
      s.connections.push_back(std::move(c));
    }
    MaybeSkipInitialSync(r, o);
    rep.resources.push_back(std::move(s));
  }
  return rep;
}

// Freshly created replicas all hold zeros (new files), so the first sync
// would copy zeros over zeros. When every diskful replica is new, Inconsistent
// and connected, the diskful node with the lowest node id declares the data
// current with a cleared bitmap, as `new-current-uuid --clear-bitmap` does by
// hand. A replica added later finds UpToDate peers and syncs normally.
void Satellite::MaybeSkipInitialSync(const satproto::ResourceDesired& r, const json::object& st) {
  if (r.diskless || sync_skipped_.count(r.name)) return;
  for (const satproto::NodeRef& n : r.nodes) {
    if (!n.diskless && n.node_id < r.node_id) return;  // not ours to decide
  }
  for (const json::value& vv : st.at("volumes").as_array()) {
    const json::object& vo = vv.as_object();
    if (Str(vo, "disk") != "Inconsistent") return;
    const json::value* cu = vo.if_contains("current_uuid");
    if (!cu || !cu->is_number() || cu->to_number<uint64_t>() != engine::kUuidJustCreated) return;
  }
  int diskful_peers = 0;
  for (const satproto::NodeRef& n : r.nodes) {
    if (!n.diskless && n.name != options_.node) ++diskful_peers;
  }
  int ready = 0;
  for (const json::value& cv : st.at("connections").as_array()) {
    const json::object& co = cv.as_object();
    const satproto::NodeRef* n = r.FindNode(Str(co, "name"));
    if (!n || n->diskless) continue;
    if (Str(co, "connection") != "Connected") return;
    for (const json::value& pv : co.at("volumes").as_array()) {
      if (Str(pv.as_object(), "peer_disk") != "Inconsistent") return;
    }
    ++ready;
  }
  if (ready < diskful_peers || diskful_peers == 0) return;
  for (const json::value& vv : st.at("volumes").as_array()) {
    int64_t vnr = Int(vv.as_object(), "volume");
    Result<json::object> res = tandemd::AdminCall(
        applier_.admin_socket(), json::object{{"cmd", "new-current-uuid"},
                                              {"resource", r.name},
                                              {"volume", vnr},
                                              {"clear_bitmap", true}});
    if (!res.ok()) return;
  }
  Logf(LogLevel::kInfo, "{}: every replica is new; skipped the initial sync", r.name);
  std::lock_guard<std::mutex> l(mu_);
  sync_skipped_.insert(r.name);
}

void Satellite::Reporter() {
  auto last_pools = Clock::now() - std::chrono::hours(1);
  auto last_retry = Clock::now();
  while (true) {
    bool full = false;
    {
      std::unique_lock<std::mutex> l(mu_);
      report_cv_.wait_for(l, std::chrono::milliseconds(100));
      if (stopping_) return;
      if (Clock::now() - last_retry >= kRetryInterval) {
        last_retry = Clock::now();
        RetryFailed();
      }
      bool pools_due = Clock::now() - last_pools >= std::chrono::seconds(10);
      if (!dirty_ && !full_report_ && !pools_due) continue;
      if (!conn_ || !conn_->synced) continue;
      full = full_report_;
      full_report_ = false;
      dirty_ = false;
    }
    satproto::Report rep = BuildReport(full);
    last_pools = Clock::now();
    // Incremental reports carry only what changed.
    std::lock_guard<std::mutex> l(mu_);
    satproto::Report out;
    out.full = full;
    out.pools = rep.pools;
    std::set<std::string> present;
    for (satproto::ResourceState& s : rep.resources) {
      present.insert(s.name);
      auto it = reported_.find(s.name);
      if (full || it == reported_.end() || !(it->second == s)) {
        reported_[s.name] = s;
        out.resources.push_back(std::move(s));
      }
    }
    for (auto it = reported_.begin(); it != reported_.end();) {
      if (!present.count(it->first)) {
        out.deleted.push_back(it->first);
        it = reported_.erase(it);
      } else {
        ++it;
      }
    }
    std::shared_ptr<Conn> c = conn_;
    if (c && c->synced) {
      Post(c, satproto::ToJson(out));
    }
  }
}

// Resources whose last apply failed are tried again (a port still held by a
// resource being removed, a pool directory created later, tandemd restarted).
void Satellite::RetryFailed() {
  for (const auto& [name, err] : errors_) {
    if (pending_.count(name) || running_.count(name)) continue;
    auto d = desired_.find(name);
    Enqueue(name, d != desired_.end() ? Work{false, d->second, {}} : Removal(name, {}));
  }
}

void Satellite::EventsListener() {
  while (true) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) return;
    }
    Result<bool> r = tandemd::AdminEvents(applier_.admin_socket(), false, [this](
                                                                             const std::string& line) {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) return false;
      dirty_ = true;
      std::string res = Field(line, "name");
      std::string peer = Field(line, "peer-node-id");
      if (!res.empty() && !peer.empty() && desired_.count(res)) {
        std::string peer_name;
        for (const satproto::NodeRef& n : desired_[res].nodes)
          if (std::to_string(n.node_id) == peer) peer_name = n.name;
        bool changed = false;
        if (line.rfind("split-brain", 0) == 0)
          changed = split_brain_.insert({res, peer_name}).second;
        if (Field(line, "connection") == "Connected")
          changed = split_brain_.erase({res, peer_name}) > 0 || changed;
        if (changed) {
          Status saved = SaveState();
          if (!saved.ok()) Logf(LogLevel::kWarn, "{}", saved.error().message);
        }
      }
      report_cv_.notify_all();
      return true;
    });
    (void)r;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

Status Satellite::SaveState() {
  std::string path = StateFile(options_.root);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    json::array sb;
    for (const auto& [res, peer] : split_brain_) sb.push_back(json::array{res, peer});
    out << json::serialize(json::object{{"cluster_id", cluster_id_}, {"split_brain", sb}}) << "\n";
    if (!out) return Error{Errc::kIoError, "cannot write " + tmp};
  }
  fs::rename(tmp, path, ec);
  if (ec) return Error{Errc::kIoError, "cannot rename " + tmp + ": " + ec.message()};
  return {};
}

}  // namespace tandem::satellite
