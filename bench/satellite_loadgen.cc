// tandem-satellite-loadgen: N fake satellites in one process, for the
// control-plane benchmark (bench/controlplane.sh). Not used by tests.
//
//   tandem-satellite-loadgen [--nodes N] [--port PORT] [--net 127.0.1] [--ready-file F]
//
// Satellite K (1..N) is named nodeKKK (node001, node002, ...) and listens on
// NET.K:PORT; it speaks the controller side's protocol (docs/satellite-protocol.md)
// but does nothing: it acknowledges every full sync and update at once and
// reports what a healthy node would, one FILE_THIN pool "pool1" of 1 TiB whose
// free space shrinks by the volumes it holds, and every resource Secondary,
// UpToDate (Diskless for diskless and tiebreaker replicas) and Connected to
// every other node of the resource.
//
// Everything runs on one Asio thread. SIGTERM/SIGINT stop it. Addresses are
// restricted to 127.0.0.0/8.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "satproto/messages.h"

namespace tandem::bench {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

constexpr int64_t kPoolTotalKib = int64_t{1} << 30;  // 1 TiB
constexpr char kPool[] = "pool1";

// One fake satellite: its name and what the controller last told it.
// Invariant: `used_kib` is the sum of size_kib of the diskful volumes in `resources`.
struct FakeNode {
  std::string name;
  std::map<std::string, satproto::ResourceDesired> resources;  // by name
  int64_t used_kib = 0;
  uint64_t messages = 0;
};

int64_t DiskfulKib(const satproto::ResourceDesired& r) {
  if (r.diskless || r.tiebreaker) return 0;
  int64_t kib = 0;
  for (const satproto::VolumeDesired& v : r.volumes) kib += v.size_kib;
  return kib;
}

void Upsert(FakeNode& n, const satproto::ResourceDesired& r) {
  auto it = n.resources.find(r.name);
  if (it != n.resources.end()) {
    n.used_kib -= DiskfulKib(it->second);
    it->second = r;
  } else {
    n.resources.emplace(r.name, r);
  }
  n.used_kib += DiskfulKib(r);
}

void Remove(FakeNode& n, const std::string& name) {
  auto it = n.resources.find(name);
  if (it == n.resources.end()) return;
  n.used_kib -= DiskfulKib(it->second);
  n.resources.erase(it);
}

satproto::PoolState PoolOf(const FakeNode& n) {
  satproto::PoolState p;
  p.name = kPool;
  p.provider = "FILE_THIN";
  p.total_kib = kPoolTotalKib;
  p.free_kib = kPoolTotalKib - n.used_kib;
  p.supports_reflink = true;
  return p;
}

// What tandemd would report for a healthy, idle replica.
satproto::ResourceState StateOf(const FakeNode& n, const satproto::ResourceDesired& r) {
  const bool diskless = r.diskless || r.tiebreaker;
  satproto::ResourceState s;
  s.name = r.name;
  s.role = "Secondary";
  for (const satproto::VolumeDesired& v : r.volumes) {
    satproto::VolumeState vs;
    vs.vnr = v.vnr;
    vs.disk_state = diskless ? "Diskless" : "UpToDate";
    vs.usable_kib = v.size_kib;
    s.volumes.push_back(std::move(vs));
  }
  for (const satproto::NodeRef& peer : r.nodes) {
    if (peer.name == n.name) continue;
    satproto::ConnectionState c;
    c.node = peer.name;
    c.connection = "Connected";
    c.peer_role = "Secondary";
    for (const satproto::VolumeDesired& v : r.volumes) {
      c.volumes.push_back(
          {v.vnr, "Established", peer.diskless || peer.tiebreaker ? "Diskless" : "UpToDate", 100});
    }
    s.connections.push_back(std::move(c));
  }
  return s;
}

class Loadgen {
 public:
  Loadgen(asio::io_context& ctx, std::vector<FakeNode> nodes)
      : ctx_(ctx), nodes_(std::move(nodes)) {}

  // Binds every node's listener; false (with a message) when one cannot be bound.
  bool Listen(const std::string& net, int port) {
    for (size_t k = 0; k < nodes_.size(); ++k) {
      std::string addr = net + "." + std::to_string(k + 1);
      boost::system::error_code ec;
      asio::ip::address ip = asio::ip::make_address(addr, ec);
      if (ec || !ip.is_v4() || (ip.to_v4().to_uint() >> 24) != 127) {
        std::cerr << "tandem-satellite-loadgen: " << addr << " is not in 127.0.0.0/8\n";
        return false;
      }
      auto acc = std::make_unique<tcp::acceptor>(ctx_);
      tcp::endpoint ep(ip, static_cast<uint16_t>(port));
      acc->open(ep.protocol(), ec);
      if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) acc->bind(ep, ec);
      if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        std::cerr << "tandem-satellite-loadgen: cannot listen on " << addr << ":" << port << ": "
                  << ec.message() << "\n";
        return false;
      }
      acceptors_.push_back(std::move(acc));
    }
    for (size_t k = 0; k < nodes_.size(); ++k) {
      asio::co_spawn(ctx_, Accept(k), asio::detached);
    }
    return true;
  }

  void Stop() {
    for (auto& a : acceptors_) {
      boost::system::error_code ec;
      a->close(ec);
    }
    for (auto& [id, s] : sessions_) {
      if (auto sock = s.lock()) {
        boost::system::error_code ec;
        sock->close(ec);
      }
    }
  }

  void PrintSummary() const {
    uint64_t msgs = 0;
    size_t rscs = 0;
    for (const FakeNode& n : nodes_) {
      msgs += n.messages;
      rscs += n.resources.size();
    }
    std::cerr << "tandem-satellite-loadgen: " << nodes_.size() << " nodes, " << msgs
              << " messages handled, " << rscs << " resources held\n";
  }

 private:
  asio::awaitable<void> Accept(size_t k) {
    for (;;) {
      auto [ec, sock] = co_await acceptors_[k]->async_accept(kTuple);
      if (ec) co_return;
      sock.set_option(tcp::no_delay(true));
      auto s = std::make_shared<tcp::socket>(std::move(sock));
      uint64_t id = next_session_++;
      sessions_[id] = s;
      asio::co_spawn(ctx_, Serve(k, s, id), asio::detached);
    }
  }

  // One controller connection: handles messages until it closes. A newer
  // connection to the same node is handled the same way (the controller
  // closes the old one first).
  asio::awaitable<void> Serve(size_t k, std::shared_ptr<tcp::socket> sock, uint64_t id) {
    FakeNode& n = nodes_[k];
    satproto::FrameDecoder dec;
    std::vector<char> buf(256 * 1024);
    std::string out;
    for (;;) {
      auto [ec, got] = co_await sock->async_read_some(asio::buffer(buf), kTuple);
      if (ec) break;
      dec.Feed(buf.data(), got);
      out.clear();
      bool bad = false;
      for (;;) {
        Result<json::object> m = dec.Next();
        if (!m.ok()) {
          bad = m.code() != Errc::kNotFound;
          break;
        }
        ++n.messages;
        Handle(n, *m, &out);
      }
      if (!out.empty()) {
        auto [wec, wn] = co_await asio::async_write(*sock, asio::buffer(out), kTuple);
        if (wec) break;
      }
      if (bad) {
        std::cerr << "tandem-satellite-loadgen: " << n.name << ": protocol error, closing\n";
        break;
      }
    }
    boost::system::error_code ec;
    sock->close(ec);
    sessions_.erase(id);
  }

  // Appends the answers to `m` to `out`.
  void Handle(FakeNode& n, const json::object& m, std::string* out) {
    std::string type = satproto::TypeOf(m);
    if (type == "hello") {
      satproto::Hello h;
      h.node = n.name;
      h.version = "loadgen";
      *out += satproto::EncodeFrame(satproto::ToJson(h));
    } else if (type == "full_sync") {
      Result<satproto::FullSync> fs = satproto::FullSyncFromJson(m);
      if (!fs.ok()) {
        *out += satproto::EncodeFrame(satproto::ErrorMessage("BAD_MESSAGE", fs.error().message));
        return;
      }
      n.resources.clear();
      n.used_kib = 0;
      for (const satproto::ResourceDesired& r : fs->resources) Upsert(n, r);
      satproto::Report rep;
      rep.full = true;
      rep.pools.push_back(PoolOf(n));
      rep.resources.reserve(n.resources.size());
      for (const auto& [name, r] : n.resources) rep.resources.push_back(StateOf(n, r));
      *out += satproto::EncodeFrame(satproto::ToJson(rep));
      *out += satproto::EncodeFrame(satproto::ToJson(satproto::Applied{fs->generation, {}}));
    } else if (type == "update") {
      Result<satproto::Update> u = satproto::UpdateFromJson(m);
      if (!u.ok()) {
        *out += satproto::EncodeFrame(satproto::ErrorMessage("BAD_MESSAGE", u.error().message));
        return;
      }
      satproto::Report rep;
      for (const std::string& d : u->remove) {
        Remove(n, d);
        rep.deleted.push_back(d);
      }
      for (const satproto::ResourceDesired& r : u->upsert) {
        Upsert(n, r);
        rep.resources.push_back(StateOf(n, r));
      }
      rep.pools.push_back(PoolOf(n));
      *out += satproto::EncodeFrame(satproto::ToJson(rep));
      *out += satproto::EncodeFrame(satproto::ToJson(satproto::Applied{u->generation, {}}));
    } else if (type == "ping") {
      const json::value* seq = m.if_contains("seq");
      uint64_t s = 0;
      if (seq && seq->is_uint64()) s = seq->as_uint64();
      if (seq && seq->is_int64() && seq->as_int64() >= 0)
        s = static_cast<uint64_t>(seq->as_int64());
      *out += satproto::EncodeFrame(satproto::Pong(s));
    } else {
      *out += satproto::EncodeFrame(
          satproto::ErrorMessage("UNKNOWN_TYPE", "unknown message type '" + type + "'"));
    }
  }

  asio::io_context& ctx_;
  std::vector<FakeNode> nodes_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  std::map<uint64_t, std::weak_ptr<tcp::socket>> sessions_;
  uint64_t next_session_ = 0;
};

}  // namespace
}  // namespace tandem::bench

int main(int argc, char** argv) {
  CLI::App app{"tandem-satellite-loadgen: N fake satellites for the control-plane benchmark"};
  int nodes = 100;
  int port = 3366;
  std::string net = "127.0.1";
  std::string ready_file;
  app.add_option("--nodes", nodes, "Fake satellites nodeKKK on NET.K, K = 1..N")
      ->check(CLI::Range(1, 254))
      ->capture_default_str();
  app.add_option("--port", port, "Satellite port of every node")->capture_default_str();
  app.add_option("--net", net, "First three octets of the addresses (within 127.0.0.0/8)")
      ->capture_default_str();
  app.add_option("--ready-file", ready_file, "Write the process id here once listening");
  CLI11_PARSE(app, argc, argv);

  std::vector<tandem::bench::FakeNode> fakes(static_cast<size_t>(nodes));
  for (int k = 1; k <= nodes; ++k) {
    char name[16];
    std::snprintf(name, sizeof name, "node%03d", k);
    fakes[static_cast<size_t>(k - 1)].name = name;
  }
  boost::asio::io_context ctx(1);
  tandem::bench::Loadgen gen(ctx, std::move(fakes));
  if (!gen.Listen(net, port)) return 1;
  boost::asio::signal_set signals(ctx, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int) { gen.Stop(); });
  if (!ready_file.empty()) {
    std::ofstream(ready_file, std::ios::trunc) << ::getpid() << "\n";
  }
  ctx.run();
  gen.PrintSummary();
  return 0;
}
