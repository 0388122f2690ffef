#include "tandemd/daemon.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/log.h"
#include "tandemd/frontends.h"

namespace tandem::tandemd {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;
using asio::local::stream_protocol;
using engine::AdminDone;
using engine::SsCode;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr uint32_t kMaxAdminFrame = 16u << 20;
constexpr int kDaemonError = -100;

namespace {

json::object Response(const AdminDone& d) {
  json::object o;
  o["ok"] = d.ok();
  o["code"] = static_cast<int>(d.code);
  o["message"] = d.message.empty() && !d.ok() ? engine::SsCodeMessage(d.code) : d.message;
  return o;
}

json::object Ok() { return json::object{{"ok", true}, {"code", 1}, {"message", ""}}; }

json::object Err(std::string msg) {
  return json::object{{"ok", false}, {"code", kDaemonError}, {"message", std::move(msg)}};
}

std::string Str(const json::object& o, const char* k) {
  const json::value* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool Bool(const json::object& o, const char* k) {
  const json::value* v = o.if_contains(k);
  return v && v->is_bool() && v->as_bool();
}

// -1 when absent; -2 when malformed.
int64_t Int(const json::object& o, const char* k) {
  const json::value* v = o.if_contains(k);
  if (!v || v->is_null()) return -1;
  if (v->is_int64() && v->as_int64() >= 0) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  return -2;
}

}  // namespace

// --- paths ----------------------------------------------------------------------

Paths::Paths(std::string r) : root(r.empty() ? "/" : std::move(r)) {
  if (root.size() > 1 && root.back() == '/') root.pop_back();
}
static std::string Join(const std::string& root, const std::string& rel) {
  return root == "/" ? "/" + rel : root + "/" + rel;
}
std::string Paths::state_dir() const { return Join(root, "var/lib/tandem/tandemd"); }
std::string Paths::run_dir() const { return Join(root, "run/tandem"); }
std::string Paths::admin_socket() const { return run_dir() + "/tandemd.sock"; }
std::string Paths::nbd_dir() const { return run_dir() + "/nbd"; }
std::string Paths::nbd_socket(const std::string& res, uint16_t vnr) const {
  return nbd_dir() + "/" + res + "-" + std::to_string(vnr) + ".sock";
}
std::string Paths::fuse_dir() const { return run_dir() + "/dev"; }
std::string Paths::res_dir() const { return Join(root, "etc/tandem/resources.d"); }
std::string Paths::by_res_dir() const { return Join(root, "dev/tandem/by-res"); }

// --- one admin connection ----------------------------------------------------------

class Daemon::AdminConn : public std::enable_shared_from_this<AdminConn> {
 public:
  AdminConn(Daemon* d, stream_protocol::socket s)
      : daemon_(d), sock_(std::move(s)), wake_(d->ctx_) {}

  asio::awaitable<void> Serve() {
    auto self = shared_from_this();
    for (;;) {
      uint32_t len = 0;
      auto [ec, n] = co_await asio::async_read(sock_, asio::buffer(&len, 4), kTuple);
      if (ec) break;
      if (len > kMaxAdminFrame) {
        co_await Send(Err("request of " + std::to_string(len) + " bytes is too large"));
        break;
      }
      std::string body(len, '\0');
      auto [ec2, n2] = co_await asio::async_read(sock_, asio::buffer(body), kTuple);
      if (ec2) break;
      boost::system::error_code jec;
      json::value v = json::parse(body, jec);
      if (jec || !v.is_object()) {
        co_await Send(Err("malformed request: not a JSON object"));
        continue;
      }
      const json::object& req = v.as_object();
      if (Str(req, "cmd") == "events2") {
        co_await Events(Bool(req, "now"));
        break;
      }
      // Wait for the asynchronous reply.
      std::optional<json::object> resp;
      asio::steady_timer done(daemon_->ctx_, asio::steady_timer::time_point::max());
      daemon_->Handle(req, [&resp, &done, alive = alive_](json::object o) {
        if (!*alive) return;
        resp = std::move(o);
        done.cancel();
      });
      if (!resp) co_await done.async_wait(kTuple);
      if (!resp) break;
      if (!co_await Send(*resp)) break;
    }
    *alive_ = false;
    boost::system::error_code ec;
    sock_.close(ec);
  }

  void Push(const std::string& line) {
    if (!subscribed_) return;
    queue_.push_back(line);
    wake_.cancel();
  }

 private:
  asio::awaitable<bool> Send(const json::object& o) {
    std::string s = json::serialize(o);
    uint32_t len = static_cast<uint32_t>(s.size());
    std::array<asio::const_buffer, 2> bufs{asio::buffer(&len, 4), asio::buffer(s)};
    auto [ec, n] = co_await asio::async_write(sock_, bufs, kTuple);
    co_return !ec;
  }

  asio::awaitable<void> Events(bool now) {
    auto self = shared_from_this();
    if (now) {
      for (auto& [name, host] : daemon_->hosts_) {
        for (const std::string& l : host->ExistsLines()) queue_.push_back(l);
      }
      queue_.push_back("exists -");
    }
    subscribed_ = true;
    daemon_->subscribers_.push_back(weak_from_this());
    // Notice the client going away: a read that completes (EOF) ends it.
    uint8_t dummy = 0;
    bool closed = false;
    sock_.async_read_some(asio::buffer(&dummy, 1),
                          [this, self, &closed](boost::system::error_code, size_t) {
                            closed = true;
                            wake_.cancel();
                          });
    while (!closed && !daemon_->stopping_) {
      while (!queue_.empty()) {
        json::object o{{"event", queue_.front()}};
        queue_.pop_front();
        if (!co_await Send(o)) co_return;
      }
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(kTuple);
    }
    subscribed_ = false;
  }

  Daemon* daemon_;
  stream_protocol::socket sock_;
  asio::steady_timer wake_;
  std::deque<std::string> queue_;
  bool subscribed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// --- daemon ----------------------------------------------------------------------------

Daemon::Daemon(DaemonOptions options)
    : options_(std::move(options)), paths_(options_.root), uring_(ctx_) {}

Daemon::~Daemon() {
  for (auto& [n, h] : hosts_) h->Close();
}

Result<bool> Daemon::Start() {
  std::error_code fec;
  for (const std::string& d : {paths_.state_dir(), paths_.run_dir(), paths_.nbd_dir()}) {
    fs::create_directories(d, fec);
    if (fec) return Error{Errc::kIoError, "cannot create " + d + ": " + fec.message()};
  }
  if (auto r = uring_.Start(); !r.ok()) return r.error();
  // One tandemd per root: a lock file next to the socket.
  std::string lock = paths_.run_dir() + "/tandemd.lock";
  int lfd = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) != 0) {
    return Error{Errc::kBusy, "another tandemd is running with root " + paths_.root};
  }  // lfd stays open for the life of the process: the lock is ours.
  ::unlink(paths_.admin_socket().c_str());
  admin_ = std::make_unique<stream_protocol::acceptor>(ctx_);
  boost::system::error_code ec;
  stream_protocol::endpoint ep(paths_.admin_socket());
  admin_->open(ep.protocol(), ec);
  if (!ec) admin_->bind(ep, ec);
  if (!ec) admin_->listen(64, ec);
  if (ec)
    return Error{Errc::kIoError, "admin socket " + paths_.admin_socket() + ": " + ec.message()};
  chmod(paths_.admin_socket().c_str(), 0600);
  frontends_ = std::make_unique<Frontends>(ctx_, paths_, options_);
  if (auto r = frontends_->Start(); !r.ok()) return r.error();
  if (!options_.pid_file.empty()) {
    std::string pid = std::to_string(getpid()) + "\n";
    if (auto r = io::WriteFileAtomic(options_.pid_file, pid); !r.ok()) return r.error();
  }
  asio::co_spawn(ctx_, AcceptAdmin(), asio::detached);
  LoadPersisted();
  return true;
}

void Daemon::Run() {
  asio::signal_set signals(ctx_, SIGTERM, SIGINT);
  signals.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    Logf(LogLevel::kInfo, "tandemd: signal {}, stopping", sig);
    Shutdown();
  });
  ctx_.run();
}

void Daemon::Shutdown() {
  if (stopping_) return;
  stopping_ = true;
  boost::system::error_code ec;
  if (admin_) admin_->close(ec);
  ::unlink(paths_.admin_socket().c_str());
  for (auto& w : subscribers_) {
    if (auto s = w.lock()) s->Push("");
  }
  auto finish = [this] {
    for (auto& [n, h] : hosts_) h->Close();
    uring_.Stop();
    if (!options_.pid_file.empty()) ::unlink(options_.pid_file.c_str());
    ctx_.stop();
  };
  if (frontends_) return frontends_->Stop(finish);
  finish();
}

asio::awaitable<void> Daemon::AcceptAdmin() {
  for (;;) {
    auto [ec, sock] = co_await admin_->async_accept(kTuple);
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) co_return;
      continue;
    }
    auto conn = std::make_shared<AdminConn>(this, std::move(sock));
    asio::co_spawn(ctx_, conn->Serve(), asio::detached);
  }
}

ResourceHost* Daemon::Find(const std::string& name) {
  auto it = hosts_.find(name);
  return it == hosts_.end() ? nullptr : it->second.get();
}

void Daemon::Broadcast(const std::string& line) {
  Log(LogLevel::kInfo, line);  // the engine's events are the daemon's log, as in DRBD
  size_t live = 0;
  for (auto& w : subscribers_) {
    if (auto s = w.lock()) {
      s->Push(line);
      subscribers_[live++] = w;
    }
  }
  subscribers_.resize(live);
}

void Daemon::Persist(const ResourceSpec& spec) {
  auto r = io::WriteFileAtomic(paths_.state_dir() + "/" + spec.name + ".json",
                           json::serialize(SpecToJson(spec)) + "\n");
  if (!r.ok()) Logf(LogLevel::kError, "tandemd: persisting {}: {}", spec.name, r.error().message);
}

void Daemon::Unpersist(const std::string& name) {
  ::unlink((paths_.state_dir() + "/" + name + ".json").c_str());
}

void Daemon::LoadPersisted() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(paths_.state_dir(), ec)) {
    if (e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    boost::system::error_code jec;
    json::value v = json::parse(ss.str(), jec);
    Result<ResourceSpec> spec =
        jec ? Result<ResourceSpec>(Error{Errc::kCorrupt, jec.message()}) : SpecFromJson(v);
    if (!spec.ok()) {
      Logf(LogLevel::kError, "tandemd: ignoring {}: {}", e.path().string(), spec.error().message);
      continue;
    }
    std::string name = spec->name;
    BringUp(std::move(spec).value(), [name](const AdminDone& d) {
      Logf(LogLevel::kInfo, "tandemd: restored {}: {}", name, d.ok() ? "up" : d.message.c_str());
    });
  }
}

void Daemon::BringUp(ResourceSpec spec, std::function<void(const AdminDone&)> done) {
  std::string name = spec.name;
  auto host = std::make_unique<ResourceHost>(
      ctx_, &uring_, spec, [this](const std::string& l) { Broadcast(l); }, paths_.state_dir());
  if (auto r = host->Open(); !r.ok()) {
    AdminDone d;
    d.code = SsCode::kInvalidArgument;
    d.message = name + ": " + r.error().message;
    return done(d);
  }
  ResourceHost* h = host.get();
  hosts_[name] = std::move(host);
  h->Up([this, name, h, done](const AdminDone& d) {
    if (!d.ok()) {
      // Roll back: nothing of a failed up remains.
      auto it = hosts_.find(name);
      if (it != hosts_.end() && it->second.get() == h) {
        std::unique_ptr<ResourceHost> dead = std::move(it->second);
        hosts_.erase(it);
        dead->Close();
        retired_.push_back(std::move(dead));
      }
      return done(d);
    }
    Persist(h->spec());
    frontends_->AddResource(h);
    done(d);
  });
}

void Daemon::Handle(const json::object& req, Reply reply) {
  std::string cmd = Str(req, "cmd");
  if (stopping_) return reply(Err("tandemd is stopping"));
  if (cmd == "up") return HandleUp(req, std::move(reply));
  if (cmd == "list") {
    json::array names;
    for (auto& [n, h] : hosts_) names.push_back(json::string(n));
    json::object o = Ok();
    o["resources"] = std::move(names);
    return reply(o);
  }
  if (cmd == "status" || cmd == "stats") {
    std::string name = Str(req, "resource");
    json::array arr;
    for (auto& [n, h] : hosts_) {
      if (!name.empty() && n != name) continue;
      arr.push_back(cmd == "status" ? h->StatusJson() : h->StatsJson());
    }
    if (!name.empty() && arr.empty()) return reply(Err("unknown resource '" + name + "'"));
    json::object o = Ok();
    o["resources"] = std::move(arr);
    return reply(o);
  }
  std::string name = Str(req, "resource");
  if (name.empty()) return reply(Err("missing 'resource'"));
  if (cmd == "adjust") return HandleAdjust(req, std::move(reply));
  ResourceHost* h = Find(name);
  if (!h) return reply(Err("unknown resource '" + name + "' (is it up?)"));
  auto done = [reply](const AdminDone& d) { reply(Response(d)); };

  // Peer: a node id or a node name; -1 = all.
  int peer = -1;
  if (const json::value* p = req.if_contains("peer")) {
    if (p->is_int64()) {
      peer = static_cast<int>(p->as_int64());
      if (!h->spec().FindNode(static_cast<uint8_t>(peer)) || peer == h->spec().node_id) {
        return reply(Err("resource " + name + " has no peer with node id " + std::to_string(peer)));
      }
    } else if (p->is_string()) {
      const NodeSpec* n = h->spec().FindNodeByName(std::string(p->as_string()));
      if (!n || n->id == h->spec().node_id) {
        return reply(
            Err("resource " + name + " has no peer named '" + std::string(p->as_string()) + "'"));
      }
      peer = n->id;
    } else if (!p->is_null()) {
      return reply(Err("'peer' must be a node id or name"));
    }
  }
  int64_t vol = Int(req, "volume");
  if (vol == -2 || vol > 65534) return reply(Err("'volume' must be a volume number"));
  if (vol >= 0 && !h->spec().FindVolume(static_cast<uint16_t>(vol))) {
    return reply(Err("resource " + name + " has no volume " + std::to_string(vol)));
  }
  VolumeNr vnr(static_cast<uint16_t>(vol < 0 ? h->spec().volumes.front().vnr : vol));
  bool force = Bool(req, "force");

  if (cmd == "down") return HandleDown(h, std::move(reply));
  if (cmd == "attach") return h->Attach(static_cast<int>(vol), done);
  if (cmd == "detach") return h->Detach(static_cast<int>(vol), done);
  if (cmd == "primary") {
    return h->Admin([force](engine::Resource& r, uint64_t c) { r.Primary(c, force); }, done);
  }
  if (cmd == "secondary") {
    return h->Admin([force](engine::Resource& r, uint64_t c) { r.Secondary(c, force); }, done);
  }
  if (cmd == "connect") {
    bool discard = Bool(req, "discard_my_data");
    if (peer < 0 && !discard) {
      return h->Admin([](engine::Resource& r, uint64_t c) { r.ConnectAll(c); }, done);
    }
    std::vector<uint8_t> peers;
    for (const NodeSpec& n : h->spec().nodes) {
      if (n.id != h->spec().node_id && (peer < 0 || n.id == peer)) peers.push_back(n.id);
    }
    auto remaining = std::make_shared<size_t>(peers.size());
    auto first_err = std::make_shared<std::optional<AdminDone>>();
    for (uint8_t p : peers) {
      h->Admin([p, discard](engine::Resource& r, uint64_t c) { r.Connect(c, NodeId(p), discard); },
               [remaining, first_err, done](const AdminDone& d) {
                 if (!d.ok() && !*first_err) *first_err = d;
                 if (--*remaining == 0) {
                   AdminDone ok;
                   done(*first_err ? **first_err : ok);
                 }
               });
    }
    return;
  }
  if (cmd == "disconnect") {
    std::vector<uint8_t> peers;
    for (const NodeSpec& n : h->spec().nodes) {
      if (n.id != h->spec().node_id && (peer < 0 || n.id == peer)) peers.push_back(n.id);
    }
    auto remaining = std::make_shared<size_t>(peers.size());
    auto first_err = std::make_shared<std::optional<AdminDone>>();
    for (uint8_t p : peers) {
      h->Admin([p](engine::Resource& r, uint64_t c) { r.Disconnect(c, NodeId(p)); },
               [remaining, first_err, done](const AdminDone& d) {
                 if (!d.ok() && d.code != SsCode::kAlreadyStandAlone && !*first_err) *first_err = d;
                 if (--*remaining == 0) {
                   AdminDone ok;
                   done(*first_err ? **first_err : ok);
                 }
               });
    }
    return;
  }
  if (cmd == "verify" || cmd == "invalidate-remote") {
    if (peer < 0) {
      // The first connected peer.
      for (const engine::ConnectionStatus& c : h->Status().connections) {
        if (c.conn == engine::ConnState::kConnected) {
          peer = c.peer.value();
          break;
        }
      }
      if (peer < 0) return reply(Err(name + " is not connected to any peer"));
    }
    NodeId p(static_cast<uint8_t>(peer));
    if (cmd == "verify") {
      return h->Admin([p, vnr](engine::Resource& r, uint64_t c) { r.Verify(c, p, vnr); }, done);
    }
    return h->Admin([p, vnr](engine::Resource& r, uint64_t c) { r.InvalidateRemote(c, p, vnr); },
                    done);
  }
  if (cmd == "invalidate") {
    return h->Admin([vnr](engine::Resource& r, uint64_t c) { r.Invalidate(c, vnr); }, done);
  }
  if (cmd == "resize") {
    int64_t size = Int(req, "size");
    if (size == -2) return reply(Err("'size' must be a byte count"));
    uint64_t bytes = size < 0 ? 0 : static_cast<uint64_t>(size);
    return h->Admin([vnr, bytes](engine::Resource& r, uint64_t c) { r.Resize(c, vnr, bytes); },
                    done);
  }
  if (cmd == "grow") {
    int64_t size = Int(req, "size");
    if (size <= 0) return reply(Err("'size' must be a byte count (the usable size wanted)"));
    return h->Grow(vnr.value(), static_cast<uint64_t>(size), Bool(req, "preallocate"), done);
  }
  if (cmd == "new-current-uuid") {
    bool clear = Bool(req, "clear_bitmap");
    return h->Admin(
        [vnr, clear](engine::Resource& r, uint64_t c) { r.NewCurrentUuid(c, vnr, clear); }, done);
  }
  if (cmd == "fault") {
    if (!options_.enable_faults) return reply(Err("fault hooks are off (tandemd --enable-faults)"));
    Result<bool> r = h->Fault(req);
    return reply(r.ok() ? Ok() : Err(r.error().message));
  }
  reply(Err("unknown command '" + cmd + "'"));
}

void Daemon::HandleUp(const json::object& req, Reply reply) {
  const json::value* s = req.if_contains("spec");
  if (!s) return reply(Err("missing 'spec'"));
  Result<ResourceSpec> spec = SpecFromJson(*s);
  if (!spec.ok()) return reply(Err("bad spec: " + spec.error().message));
  if (Find(spec->name)) return reply(Err(spec->name + " is already up (use adjust)"));
  BringUp(std::move(spec).value(), [reply](const AdminDone& d) { reply(Response(d)); });
}

void Daemon::HandleDown(ResourceHost* h, Reply reply) {
  std::string name = h->name();
  frontends_->RemoveResource(name, [this, name, h, reply] {
    if (Find(name) != h) return reply(Err(name + " went away during down"));
    DownAfterFrontends(h, reply);
  });
}

void Daemon::DownAfterFrontends(ResourceHost* h, Reply reply) {
  std::string name = h->name();
  h->Down([this, name, h, reply](const AdminDone& d) {
    // Let the goodbye messages leave before the sockets close.
    auto t = std::make_shared<asio::steady_timer>(ctx_, std::chrono::milliseconds(200));
    t->async_wait([this, t, name, h, reply, d](const boost::system::error_code&) {
      auto it = hosts_.find(name);
      if (it != hosts_.end() && it->second.get() == h) {
        std::unique_ptr<ResourceHost> dead = std::move(it->second);
        hosts_.erase(it);
        dead->Close();
        retired_.push_back(std::move(dead));
      }
      Unpersist(name);
      reply(Response(d.ok() || d.code == SsCode::kNothingToDo ? AdminDone{} : d));
    });
  });
}

void Daemon::HandleAdjust(const json::object& req, Reply reply) {
  const json::value* s = req.if_contains("spec");
  if (!s) return reply(Err("missing 'spec'"));
  Result<ResourceSpec> spec = SpecFromJson(*s);
  if (!spec.ok()) return reply(Err("bad spec: " + spec.error().message));
  ResourceHost* h = Find(spec->name);
  if (!h) {
    // adjust of a resource that is not up brings it up, as drbdadm adjust does.
    return BringUp(std::move(spec).value(), [reply](const AdminDone& d) { reply(Response(d)); });
  }
  h->Adjust(*spec, [this, h, reply](const AdminDone& d) {
    if (d.ok()) Persist(h->spec());
    reply(Response(d));
  });
}

// --- client ------------------------------------------------------------------------

namespace {

Result<stream_protocol::socket*> Connect(asio::io_context& ctx, const std::string& path,
                                         std::unique_ptr<stream_protocol::socket>* out) {
  *out = std::make_unique<stream_protocol::socket>(ctx);
  boost::system::error_code ec;
  (*out)->connect(stream_protocol::endpoint(path), ec);
  if (ec) {
    return Error{Errc::kNotFound, "cannot reach tandemd at " + path + ": " + ec.message() +
                                      " (is tandemd running with this --root?)"};
  }
  return out->get();
}

Result<bool> SendFrame(stream_protocol::socket& s, const json::object& o) {
  std::string body = json::serialize(o);
  uint32_t len = static_cast<uint32_t>(body.size());
  boost::system::error_code ec;
  std::array<asio::const_buffer, 2> bufs{asio::buffer(&len, 4), asio::buffer(body)};
  asio::write(s, bufs, ec);
  if (ec) return Error{Errc::kIoError, "sending to tandemd: " + ec.message()};
  return true;
}

Result<json::object> ReadFrame(stream_protocol::socket& s) {
  uint32_t len = 0;
  boost::system::error_code ec;
  asio::read(s, asio::buffer(&len, 4), ec);
  if (ec) return Error{Errc::kIoError, "tandemd closed the connection"};
  if (len > kMaxAdminFrame) return Error{Errc::kCorrupt, "response too large"};
  std::string body(len, '\0');
  asio::read(s, asio::buffer(body), ec);
  if (ec) return Error{Errc::kIoError, "reading from tandemd: " + ec.message()};
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return Error{Errc::kCorrupt, "malformed response from tandemd"};
  return v.as_object();
}

}  // namespace

Result<json::object> AdminCall(const std::string& path, const json::object& request) {
  asio::io_context ctx;
  std::unique_ptr<stream_protocol::socket> s;
  if (auto r = Connect(ctx, path, &s); !r.ok()) return r.error();
  if (auto r = SendFrame(*s, request); !r.ok()) return r.error();
  return ReadFrame(*s);
}

Result<bool> AdminEvents(const std::string& path, bool now,
                         const std::function<bool(const std::string&)>& on_line) {
  asio::io_context ctx;
  std::unique_ptr<stream_protocol::socket> s;
  if (auto r = Connect(ctx, path, &s); !r.ok()) return r.error();
  if (auto r = SendFrame(*s, json::object{{"cmd", "events2"}, {"now", now}}); !r.ok()) {
    return r.error();
  }
  for (;;) {
    Result<json::object> f = ReadFrame(*s);
    if (!f.ok()) return true;  // the daemon ended the stream
    std::string line = Str(*f, "event");
    if (line.empty()) continue;
    if (!on_line(line)) return true;
  }
}

}  // namespace tandem::tandemd
