#include "controller/satellite_link.h"

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <deque>

#include "common/log.h"
#include "controller/names.h"

namespace tandem::controller {

namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
}  // namespace

// One TCP connection to a satellite. Lives on the hub's thread; `outbox`,
// `synced` and `closed` are read by the REST thread under Impl::mu.
struct SatelliteHub::Session {
  explicit Session(asio::io_context& ctx) : sock(ctx), wake(ctx), buf(64 * 1024) {}
  tcp::socket sock;
  asio::steady_timer wake;  // the writer sleeps here while the outbox is empty
  std::vector<char> buf;
  satproto::FrameDecoder decoder;
  std::deque<std::string> outbox;
  bool synced = false;  // the full sync is queued: updates may follow it
  bool closed = false;
  uint64_t full_generation = 0;
  uint64_t ping_seq = 0;
  Clock::time_point last_rx = Clock::now();
};

struct SatelliteHub::Link {
  std::string name;
  std::optional<SatelliteEndpoint> endpoint;
  std::vector<satproto::PoolDesired> pools;
  std::map<std::string, satproto::ResourceDesired> resources;  // by NameKey
  uint64_t generation = 0;                                     // last generation sent
  std::shared_ptr<Session> session;                            // current connection, if any
  std::shared_ptr<asio::steady_timer> idle;                    // backoff and "no endpoint" sleeps
  bool removed = false;
  bool running = false;  // its dial loop was started
  std::shared_ptr<const ObservedNode> observed = std::make_shared<ObservedNode>();
};

struct SatelliteHub::Impl {
  explicit Impl(HubOptions o) : opt(std::move(o)) {}

  HubOptions opt;
  asio::io_context ctx;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<Link>> links;
  uint64_t version = 0;
  bool started = false;
  bool stopping = false;

  // ---- state changes, REQUIRES mu ----------------------------------------

  // Changes what `l` observed. Readers get the node only through Observed(),
  // which copies the pointer under `mu`: while we hold `mu` and ours is the
  // only reference, nobody can see the node, so it is changed in place
  // instead of copied (a copy per report made every report O(resources of
  // the node)). Otherwise the readers keep their snapshot and we copy.
  template <class F>
  void Publish(Link& l, F&& modify) {
    if (l.observed.use_count() == 1) {
      // Pairs with the release of the last reader's reference count decrement.
      std::atomic_thread_fence(std::memory_order_acquire);
      // Created non-const by make_shared below or in Link.
      ObservedNode& n = const_cast<ObservedNode&>(*l.observed);
      modify(n);
      n.version = version + 1;
    } else {
      auto n = std::make_shared<ObservedNode>(*l.observed);
      modify(*n);
      n->version = version + 1;
      l.observed = std::move(n);
    }
    ++version;
  }

  void SetStatus(Link& l, const std::string& status, const std::string& message) {
    if (l.observed->status == status && l.observed->message == message) return;
    if (l.observed->status != status) {
      Logf(LogLevel::kInfo, "satellite {}: {}{}{}", l.name, status, message.empty() ? "" : ": ",
           message);
    }
    Publish(l, [&](ObservedNode& n) {
      n.status = status;
      n.message = message;
    });
  }

  void Send(const std::shared_ptr<Session>& s, const json::object& msg) {
    s->outbox.push_back(satproto::EncodeFrame(msg));
    asio::post(ctx, [s] { s->wake.cancel(); });
  }

  void Enqueue(Link& l, satproto::Update u) {
    if (!l.session || !l.session->synced || l.session->closed) return;  // the next full sync has it
    u.generation = ++l.generation;
    Send(l.session, satproto::ToJson(u));
  }

  // Closes the current connection (if any) and wakes the dial loop.
  void Kick(const std::shared_ptr<Link>& l) {
    asio::post(ctx, [this, l] {
      std::shared_ptr<Session> s;
      {
        std::lock_guard<std::mutex> lock(mu);
        s = l->session;
      }
      if (s) s->sock.close();
      l->idle->cancel();
    });
  }

  void StartLink(const std::shared_ptr<Link>& l) {
    if (!started || l->running) return;
    l->running = true;
    asio::co_spawn(ctx, DialLoop(l), asio::detached);
  }

  // ---- the network, on the hub's thread ----------------------------------

  asio::awaitable<void> DialLoop(std::shared_ptr<Link> l) {
    int backoff = opt.backoff_min_ms;
    for (;;) {
      std::optional<SatelliteEndpoint> ep;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (l->removed || stopping) co_return;
        ep = l->endpoint;
      }
      bool was_online = false;
      if (ep) was_online = co_await RunSession(l, *ep);
      {
        std::lock_guard<std::mutex> lock(mu);
        if (l->removed || stopping) co_return;
      }
      if (was_online) backoff = opt.backoff_min_ms;
      if (ep) {
        l->idle->expires_after(milliseconds(backoff));
        backoff = std::min(backoff * 2, opt.backoff_max_ms);
      } else {
        l->idle->expires_after(std::chrono::hours(24));
      }
      co_await l->idle->async_wait(kTuple);
    }
  }

  // One message from the socket; an error when the connection is done.
  asio::awaitable<Result<json::object>> Read(Session& s) {
    for (;;) {
      Result<json::object> m = s.decoder.Next();
      if (m.ok() || m.code() != Errc::kNotFound) co_return m;
      auto [ec, n] = co_await s.sock.async_read_some(asio::buffer(s.buf), kTuple);
      if (ec) co_return Error{Errc::kIoError, ec.message()};
      s.decoder.Feed(s.buf.data(), n);
      s.last_rx = Clock::now();
    }
  }

  asio::awaitable<void> Writer(std::shared_ptr<Session> s) {
    for (;;) {
      std::deque<std::string> batch;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (s->closed) co_return;
        batch.swap(s->outbox);
      }
      if (batch.empty()) {
        s->wake.expires_at(Clock::time_point::max());
        co_await s->wake.async_wait(kTuple);
        continue;
      }
      for (const std::string& frame : batch) {
        auto [ec, n] = co_await asio::async_write(s->sock, asio::buffer(frame), kTuple);
        if (ec) {
          s->sock.close();
          co_return;
        }
      }
    }
  }

  asio::awaitable<void> Pinger(std::shared_ptr<Session> s) {
    asio::steady_timer t(ctx);
    for (;;) {
      t.expires_after(milliseconds(opt.ping_interval_ms));
      co_await t.async_wait(kTuple);
      std::lock_guard<std::mutex> lock(mu);
      if (s->closed) co_return;
      if (Clock::now() - s->last_rx > milliseconds(opt.silence_timeout_ms)) {
        s->sock.close();  // the reader sees it and the link goes OFFLINE
        co_return;
      }
      Send(s, satproto::Ping(++s->ping_seq));
    }
  }

  // Returns whether the node got ONLINE on this connection.
  asio::awaitable<bool> RunSession(std::shared_ptr<Link> l, SatelliteEndpoint ep) {
    auto s = std::make_shared<Session>(ctx);
    boost::system::error_code aec;
    asio::ip::address addr = asio::ip::make_address(ep.address, aec);
    if (aec) {
      std::lock_guard<std::mutex> lock(mu);
      SetStatus(*l, kOffline, "'" + ep.address + "' is not an IP address");
      co_return false;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      l->session = s;
    }
    // Connecting and the hello have the silence timeout as deadline.
    asio::steady_timer deadline(ctx, milliseconds(opt.silence_timeout_ms));
    deadline.async_wait([s](boost::system::error_code ec) {
      if (!ec) s->sock.close();
    });
    std::string where = ep.address + ":" + std::to_string(ep.port);
    bool online = false;
    std::string why;
    std::string refused_status;
    auto [cec] =
        co_await s->sock.async_connect(tcp::endpoint(addr, static_cast<uint16_t>(ep.port)), kTuple);
    if (cec) {
      why = "cannot connect to " + where + ": " + cec.message();
    } else {
      s->sock.set_option(tcp::no_delay(true));
      satproto::Hello hello;
      hello.node = l->name;
      hello.cluster_id = opt.cluster_id;
      std::string frame = satproto::EncodeFrame(satproto::ToJson(hello));
      auto [wec, wn] = co_await asio::async_write(s->sock, asio::buffer(frame), kTuple);
      // (No co_await inside a conditional expression: GCC 12 miscompiles it.)
      Result<json::object> reply = Error{Errc::kIoError, wec.message()};
      if (!wec) reply = co_await Read(*s);
      deadline.cancel();
      if (!reply.ok()) {
        why = "no hello from " + where + ": " + reply.error().message;
      } else if (satproto::TypeOf(*reply) != "hello") {
        why = where + " answered '" + satproto::TypeOf(*reply) + "' instead of hello";
      } else {
        Result<satproto::Hello> h = satproto::HelloFromJson(*reply);
        if (!h.ok()) {
          why = "bad hello from " + where + ": " + h.error().message;
        } else if (h->protocol != satproto::kProtocolVersion) {
          refused_status = "VERSION_MISMATCH";
          why = where + " speaks protocol " + std::to_string(h->protocol) + ", not " +
                std::to_string(satproto::kProtocolVersion);
        } else if (NameKey(h->node) != NameKey(l->name)) {
          refused_status = "HOSTNAME_MISMATCH";
          why = "the satellite at " + where + " is '" + h->node + "', not '" + l->name + "'";
        } else {
          online = co_await Serve(l, s);
          why = "connection to " + where + " lost";
        }
      }
    }
    deadline.cancel();
    s->sock.close();
    {
      std::lock_guard<std::mutex> lock(mu);
      s->closed = true;
      if (l->session == s) l->session = nullptr;
      const std::string& now = l->observed->status;
      if (!refused_status.empty()) {
        SetStatus(*l, refused_status, why);
      } else if (now == kOnline || now == kConnected || now == kOffline) {
        SetStatus(*l, kOffline, why);
      }  // OTHER_CONTROLLER stays until a later session succeeds
    }
    s->wake.cancel();
    co_return online;
  }

  // After matching hellos: the full sync, then messages until the end.
  asio::awaitable<bool> Serve(std::shared_ptr<Link> l, std::shared_ptr<Session> s) {
    {
      std::lock_guard<std::mutex> lock(mu);
      satproto::FullSync fs;
      fs.generation = ++l->generation;
      fs.cluster_id = opt.cluster_id;
      fs.pools = l->pools;
      fs.resources.reserve(l->resources.size());
      for (const auto& [name, r] : l->resources) fs.resources.push_back(r);
      s->full_generation = fs.generation;
      s->synced = true;
      s->outbox.push_front(satproto::EncodeFrame(satproto::ToJson(fs)));
      SetStatus(*l, kConnected, "");
    }
    s->last_rx = Clock::now();
    asio::co_spawn(ctx, Writer(s), asio::detached);
    asio::co_spawn(ctx, Pinger(s), asio::detached);
    bool online = false;
    for (;;) {
      Result<json::object> m = co_await Read(*s);
      if (!m.ok()) break;
      if (!Handle(*l, *s, *m, &online)) break;
    }
    co_return online;
  }

  // One message from a satellite; false closes the connection.
  bool Handle(Link& l, Session& s, const json::object& m, bool* online) {
    std::string type = satproto::TypeOf(m);
    std::lock_guard<std::mutex> lock(mu);
    if (type == "applied") {
      Result<satproto::Applied> a = satproto::AppliedFromJson(m);
      if (!a.ok()) return false;
      bool now_online = a->generation >= s.full_generation;
      Publish(l, [&](ObservedNode& n) {
        n.applied_generation = a->generation;
        n.apply_errors.clear();
        for (const satproto::ApplyError& e : a->errors) n.apply_errors[e.resource] = e.message;
      });
      if (now_online && !*online) {
        *online = true;
        SetStatus(l, kOnline, "");
      }
    } else if (type == "report") {
      Result<satproto::Report> r = satproto::ReportFromJson(m);
      if (!r.ok()) return false;
      Publish(l, [&](ObservedNode& n) {
        if (r->full) {
          n.pools.clear();
          n.resources.clear();
        }
        for (satproto::PoolState& p : r->pools) n.pools[p.name] = std::move(p);
        for (satproto::ResourceState& rs : r->resources) n.resources[rs.name] = std::move(rs);
        for (const std::string& d : r->deleted) n.resources.erase(d);
      });
    } else if (type == "error") {
      const json::value* code = m.if_contains("code");
      const json::value* msg = m.if_contains("message");
      std::string text = msg && msg->is_string() ? std::string(msg->as_string()) : "";
      if (code && code->is_string() && code->as_string() == "OTHER_CONTROLLER") {
        SetStatus(l, "OTHER_CONTROLLER", text);
        return false;
      }
      Logf(LogLevel::kWarn, "satellite {}: error: {}", l.name, text);
    }
    // pong: last_rx was updated by the read.
    return true;
  }
};

SatelliteHub::SatelliteHub(HubOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

SatelliteHub::~SatelliteHub() { Stop(); }

void SatelliteHub::Start() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->started) return;
  impl_->started = true;
  impl_->work.emplace(impl_->ctx.get_executor());
  for (auto& [name, l] : impl_->links) impl_->StartLink(l);
  impl_->thread = std::thread([this] { impl_->ctx.run(); });
}

void SatelliteHub::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->started || impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->ctx.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void SatelliteHub::SetNode(const std::string& node, std::optional<SatelliteEndpoint> endpoint,
                           std::vector<satproto::PoolDesired> pools,
                           std::map<std::string, satproto::ResourceDesired> resources) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::shared_ptr<Link>& l = impl_->links[node];
  bool created = !l;
  if (created) {
    l = std::make_shared<Link>();
    l->name = node;
    l->idle = std::make_shared<asio::steady_timer>(impl_->ctx);
  }
  bool moved = l->endpoint != endpoint;
  l->endpoint = std::move(endpoint);
  satproto::Update u;
  if (pools != l->pools) {
    u.has_pools = true;
    u.pools = pools;
    l->pools = std::move(pools);
  }
  std::map<std::string, satproto::ResourceDesired> by_key;
  for (auto& [name, r] : resources) by_key.emplace(NameKey(name), std::move(r));
  for (const auto& [key, r] : by_key) {
    auto it = l->resources.find(key);
    if (it == l->resources.end() || !(it->second == r)) u.upsert.push_back(r);
  }
  for (const auto& [key, r] : l->resources) {
    if (!by_key.count(key)) u.remove.push_back(r.name);
  }
  l->resources = std::move(by_key);
  if (moved && !created) {
    impl_->Kick(l);  // redial the new address; it gets a full sync
  } else if (u.has_pools || !u.upsert.empty() || !u.remove.empty()) {
    impl_->Enqueue(*l, std::move(u));
  }
  impl_->StartLink(l);
}

void SatelliteHub::SetResources(
    const std::set<std::string>& keys,
    const std::map<std::string, std::map<std::string, satproto::ResourceDesired>>& now) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  static const std::map<std::string, satproto::ResourceDesired> kNone;
  for (auto& [node, l] : impl_->links) {
    auto nit = now.find(node);
    const auto& want = nit == now.end() ? kNone : nit->second;
    satproto::Update u;
    for (const std::string& key : keys) {
      auto w = want.find(key);
      auto have = l->resources.find(key);
      if (w != want.end()) {
        if (have == l->resources.end() || !(have->second == w->second)) {
          u.upsert.push_back(w->second);
          l->resources[key] = w->second;
        }
      } else if (have != l->resources.end()) {
        u.remove.push_back(have->second.name);
        l->resources.erase(have);
      }
    }
    if (!u.upsert.empty() || !u.remove.empty()) impl_->Enqueue(*l, std::move(u));
  }
}

void SatelliteHub::RetainNodes(const std::set<std::string>& nodes) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (auto it = impl_->links.begin(); it != impl_->links.end();) {
    if (nodes.count(it->first)) {
      ++it;
      continue;
    }
    it->second->removed = true;
    impl_->Kick(it->second);
    it = impl_->links.erase(it);
    ++impl_->version;
  }
}

ObservedMap SatelliteHub::Observed() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  ObservedMap out;
  for (const auto& [name, l] : impl_->links) out[name] = l->observed;
  return out;
}

uint64_t SatelliteHub::observed_version() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->version;
}

}  // namespace tandem::controller
