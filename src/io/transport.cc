#include "io/transport.h"

#include <openssl/rand.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/check.h"
#include "common/log.h"
#include "common/read_buffer.h"

namespace tandem::io {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct Transport::Stream {
  Stream(asio::io_context& ctx, engine::StreamKind k) : sock(ctx), wake(ctx), kind(k) {}
  tcp::socket sock;
  asio::steady_timer wake;  // delayed sends (fault hook)
  engine::StreamKind kind;
  std::deque<std::pair<Clock::time_point, Bytes>> out;
  ReadBuffer in;  // frames arrive in bursts: one read for many
  bool writing = false;
  void Close() {
    boost::system::error_code ec;
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
    wake.cancel();
  }
};

struct Transport::Link {
  explicit Link(asio::io_context& ctx) : ping_timer(ctx) {}
  uint8_t peer = 0;
  tcp::endpoint address;
  bool dialer = false;  // we dial this peer (our node id is lower)
  bool want = false;
  bool up = false;
  bool dialing = false;
  uint64_t gen = 1;  // bumped whenever the connection is torn down
  std::array<std::shared_ptr<Stream>, 2> streams;
  std::deque<engine::Message> early;  // received before the connection was up
  asio::steady_timer ping_timer;
  Clock::time_point last_rx{};
  Clock::time_point ping_sent_at{};
  bool ping_sent = false;
  std::chrono::milliseconds backoff{0};
};

namespace {

Bytes RandomChallenge() {
  Bytes b(32);
  TANDEM_CHECK(RAND_bytes(b.data(), static_cast<int>(b.size())) == 1);
  return b;
}

// Reads one frame; an error message on failure.
asio::awaitable<Result<engine::Message>> ReadFrame(tcp::socket& sock, ReadBuffer& in,
                                                   uint64_t* bytes) {
  auto read_some = [&sock](asio::mutable_buffer b) { return sock.async_read_some(b, kTuple); };
  std::array<uint8_t, engine::kHeaderSize> hdr{};
  boost::system::error_code ec = co_await in.ReadExact(hdr.data(), hdr.size(), read_some);
  if (ec) co_return Error{Errc::kIoError, ec == asio::error::eof ? "closed by peer" : ec.message()};
  Result<engine::FrameHeader> h = engine::DecodeHeader(hdr);
  if (!h.ok()) co_return h.error();
  Bytes body(h->length);
  if (!body.empty()) {
    ec = co_await in.ReadExact(body.data(), body.size(), read_some);
    if (ec) co_return Error{Errc::kIoError, ec.message()};
  }
  *bytes += engine::kHeaderSize + body.size();
  co_return engine::DecodeBody(*h, body);
}

asio::awaitable<Result<bool>> WriteFrame(tcp::socket& sock, const engine::Message& m) {
  Bytes frame = engine::Encode(m);
  auto [ec, n] = co_await asio::async_write(sock, asio::buffer(frame), kTuple);
  if (ec) co_return Error{Errc::kIoError, ec.message()};
  co_return true;
}

}  // namespace

Result<tcp::endpoint> ParseEndpoint(const std::string& s) {
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return Error{Errc::kInvalidArgument, "bad address '" + s + "': expected [ipv6]:port"};
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos) {
      return Error{Errc::kInvalidArgument, "bad address '" + s + "': expected ip:port"};
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  boost::system::error_code ec;
  asio::ip::address addr = asio::ip::make_address(host, ec);
  if (ec) return Error{Errc::kInvalidArgument, "bad address '" + s + "': " + ec.message()};
  char* end = nullptr;
  unsigned long p = strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p == 0 || p > 65535) {
    return Error{Errc::kInvalidArgument, "bad port in '" + s + "'"};
  }
  return tcp::endpoint(addr, static_cast<uint16_t>(p));
}

Transport::Transport(asio::io_context& ctx, TransportOptions options, Handler* handler)
    : ctx_(ctx),
      options_(std::move(options)),
      handler_(handler),
      alive_(std::make_shared<bool>(true)) {
  for (const TransportPeer& p : options_.peers) AddLink(p);
}

void Transport::AddLink(const TransportPeer& p) {
  auto link = std::make_unique<Link>(ctx_);
  link->peer = p.id;
  link->address = p.address;
  link->dialer = options_.self < p.id;
  link->backoff = options_.min_backoff;
  links_[p.id] = std::move(link);
}

Transport::~Transport() { Stop(); }

Result<bool> Transport::Start() {
  acceptor_ = std::make_unique<tcp::acceptor>(ctx_);
  boost::system::error_code ec;
  acceptor_->open(options_.listen.protocol(), ec);
  if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(options_.listen, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::string where =
        options_.listen.address().to_string() + ":" + std::to_string(options_.listen.port());
    acceptor_.reset();
    return Error{Errc::kIoError, "cannot listen on " + where + ": " + ec.message()};
  }
  asio::co_spawn(ctx_, AcceptLoop(), asio::detached);
  return true;
}

void Transport::Stop() {
  if (stopped_) return;
  stopped_ = true;
  *alive_ = false;
  if (acceptor_) {
    boost::system::error_code ec;
    acceptor_->close(ec);
  }
  for (auto& [id, link] : links_) {
    ++link->gen;
    link->up = false;
    for (auto& s : link->streams) {
      if (s) s->Close();
      s.reset();
    }
    link->ping_timer.cancel();
  }
}

Transport::Link* Transport::FindLink(uint8_t peer) {
  auto it = links_.find(peer);
  return it == links_.end() ? nullptr : it->second.get();
}

bool Transport::IsUp(uint8_t peer) const {
  auto it = links_.find(peer);
  return it != links_.end() && it->second->up;
}

void Transport::SetPeer(const TransportPeer& p) {
  if (p.id == options_.self || stopped_) return;
  Link* link = FindLink(p.id);
  if (!link) {
    AddLink(p);
    options_.peers.push_back(p);
    return;
  }
  if (link->address == p.address) return;
  link->address = p.address;
  for (TransportPeer& q : options_.peers)
    if (q.id == p.id) q.address = p.address;
  Fail(p.id, link->gen, "the peer's address changed");
}

void Transport::SetWant(uint8_t peer, bool want) {
  Link* link = FindLink(peer);
  if (!link || stopped_) return;
  Logf(LogLevel::kDebug, "{}: want node {}: {} (up {}, dialing {})", options_.resource, peer, want,
       link->up, link->dialing);
  link->want = want;
  if (!want) {
    Fail(peer, link->gen, "connection no longer wanted");
    return;
  }
  if (link->dialer && !link->up && !link->dialing) {
    link->dialing = true;
    link->backoff = options_.min_backoff;
    asio::co_spawn(ctx_, DialLoop(peer, link->gen), asio::detached);
  }
}

void Transport::Drop(uint8_t peer) {
  Link* link = FindLink(peer);
  if (link) Fail(peer, link->gen, "dropped by the engine");
}

void Transport::SetSendFault(engine::MsgType type, uint8_t peer, SendFault fault,
                             std::chrono::milliseconds delay) {
  FaultKey key{static_cast<uint16_t>(type), peer};
  if (fault == SendFault::kNone) {
    faults_.erase(key);
  } else {
    faults_[key] = FaultVal{fault, delay};
  }
}

void Transport::ClearSendFaults() { faults_.clear(); }

void Transport::Send(uint8_t peer, const engine::Message& msg) {
  Link* link = FindLink(peer);
  if (!link || !link->up) return;  // as if lost with the connection
  engine::MsgType type = engine::TypeOf(msg);
  Clock::time_point not_before{};
  if (!faults_.empty()) {
    for (uint8_t p : {peer, uint8_t{255}}) {
      auto it = faults_.find(FaultKey{static_cast<uint16_t>(type), p});
      if (it == faults_.end()) continue;
      if (it->second.fault == SendFault::kDrop) return;
      not_before = Clock::now() + it->second.delay;
    }
  }
  Bytes frame = engine::Encode(msg);
  ++stats_.messages_sent;
  stats_.bytes_sent += frame.size();
  Enqueue(link, engine::StreamFor(type), std::move(frame), not_before);
}

void Transport::Enqueue(Link* link, engine::StreamKind kind, Bytes frame,
                        Clock::time_point not_before) {
  std::shared_ptr<Stream> s = link->streams[static_cast<int>(kind)];
  if (!s) return;
  s->out.emplace_back(not_before, std::move(frame));
  if (!s->writing) {
    s->writing = true;
    asio::co_spawn(ctx_, WriteLoop(link->peer, link->gen, s), asio::detached);
  }
}

asio::awaitable<void> Transport::WriteLoop(uint8_t peer, uint64_t gen, std::shared_ptr<Stream> s) {
  std::shared_ptr<bool> alive = alive_;
  std::vector<Bytes> batch;
  std::vector<asio::const_buffer> bufs;
  // Let the handlers that are ready run first: the frames they queue go out
  // in this loop's first write instead of one write each.
  co_await asio::post(ctx_, asio::use_awaitable);
  if (!*alive) co_return;
  while (!s->out.empty()) {
    Clock::time_point nb = s->out.front().first;
    if (nb != Clock::time_point{} && nb > Clock::now()) {
      s->wake.expires_at(nb);
      co_await s->wake.async_wait(kTuple);
      if (!*alive) co_return;
      if (!s->sock.is_open()) break;
      continue;
    }
    batch.clear();
    bufs.clear();
    size_t bytes = 0;
    while (!s->out.empty() && batch.size() < 256 && bytes < (4u << 20)) {
      Clock::time_point t = s->out.front().first;
      if (t != Clock::time_point{} && t > Clock::now()) break;
      bytes += s->out.front().second.size();
      batch.push_back(std::move(s->out.front().second));
      s->out.pop_front();
    }
    for (const Bytes& b : batch) bufs.emplace_back(asio::buffer(b));
    auto [ec, n] = co_await asio::async_write(s->sock, bufs, kTuple);
    if (!*alive) co_return;
    if (ec) {
      s->writing = false;
      Fail(peer, gen, "send failed: " + ec.message());
      co_return;
    }
  }
  s->writing = false;
}

asio::awaitable<void> Transport::AcceptLoop() {
  std::shared_ptr<bool> alive = alive_;
  for (;;) {
    auto [ec, sock] = co_await acceptor_->async_accept(kTuple);
    if (!*alive) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // EMFILE and friends: pause instead of spinning.
      asio::steady_timer t(ctx_, std::chrono::milliseconds(100));
      co_await t.async_wait(kTuple);
      if (!*alive) co_return;
      continue;
    }
    asio::co_spawn(ctx_, HandleAccepted(std::move(sock)), asio::detached);
  }
}

asio::awaitable<void> Transport::HandleAccepted(tcp::socket sock) {
  std::shared_ptr<bool> alive = alive_;
  boost::system::error_code ec;
  sock.set_option(tcp::no_delay(true), ec);
  // The stream kind is learnt from the Hello; Handshake fills it in.
  auto s = std::make_shared<Stream>(ctx_, engine::StreamKind::kData);
  s->sock = std::move(sock);
  Result<uint8_t> peer = co_await Handshake(s, -1, engine::StreamKind::kData, false);
  if (!*alive) co_return;
  if (!peer.ok()) {
    ++stats_.handshakes_failed;
    Logf(LogLevel::kInfo, "{}: refused incoming connection: {}", options_.resource,
         peer.error().message);
    s->Close();
    co_return;
  }
  Install(FindLink(*peer), s);
}

asio::awaitable<void> Transport::DialLoop(uint8_t peer, uint64_t gen) {
  std::shared_ptr<bool> alive = alive_;
  Link* link = FindLink(peer);
  bool first = true;
  while (*alive && link->want && !link->up) {
    if (!first) {
      asio::steady_timer t(ctx_, link->backoff);
      co_await t.async_wait(kTuple);
      if (!*alive) co_return;
      link->backoff = std::min(options_.max_backoff, link->backoff * 2);
      if (!link->want || link->up) break;
    }
    first = false;
    gen = link->gen;
    Logf(LogLevel::kDebug, "{}: dialing node {} (gen {})", options_.resource, peer, gen);
    bool ok = true;
    for (engine::StreamKind kind : {engine::StreamKind::kData, engine::StreamKind::kControl}) {
      auto s = std::make_shared<Stream>(ctx_, kind);
      auto [ec] = co_await s->sock.async_connect(link->address, kTuple);
      if (!*alive) co_return;
      if (ec || link->gen != gen || !link->want) {
        ok = false;
        break;
      }
      boost::system::error_code ec2;
      s->sock.set_option(tcp::no_delay(true), ec2);
      Result<uint8_t> r = co_await Handshake(s, peer, kind, true);
      if (!*alive) co_return;
      if (!r.ok() || link->gen != gen || !link->want) {
        if (!r.ok()) {
          ++stats_.handshakes_failed;
          Logf(LogLevel::kInfo, "{}: handshake with node {} failed: {}", options_.resource, peer,
               r.error().message);
        }
        s->Close();
        ok = false;
        break;
      }
      Install(link, s);
      if (link->gen != gen) {
        ok = false;
        break;
      }
    }
    if (ok && link->up) break;
    if (!link->up) Fail(peer, link->gen, "connect attempt failed");
  }
  link->dialing = false;
  if (*alive) link->backoff = options_.min_backoff;
}

asio::awaitable<Result<uint8_t>> Transport::Handshake(std::shared_ptr<Stream> s, int expected_peer,
                                                      engine::StreamKind kind, bool dialer) {
  std::shared_ptr<bool> alive = alive_;
  // A deadline: a peer that stalls the handshake is closed.
  auto deadline = std::make_shared<asio::steady_timer>(ctx_, options_.handshake_timeout);
  deadline->async_wait([s](const boost::system::error_code& ec) {
    if (!ec) s->Close();
  });
  struct Cancel {
    std::shared_ptr<asio::steady_timer> t;
    ~Cancel() { t->cancel(); }
  } cancel{deadline};

  Bytes my_challenge = RandomChallenge();
  auto hello_for = [&](uint8_t peer, engine::StreamKind k) {
    engine::Hello h;
    h.node_id = options_.self;
    h.peer_node_id = peer;
    h.stream = static_cast<uint8_t>(k);
    h.resource = options_.resource;
    h.challenge = my_challenge;
    return h;
  };
  uint64_t rx = 0;
  if (dialer) {
    Result<bool> w =
        co_await WriteFrame(s->sock, hello_for(static_cast<uint8_t>(expected_peer), kind));
    if (!w.ok()) co_return w.error();
  }
  Result<engine::Message> m = co_await ReadFrame(s->sock, s->in, &rx);
  if (!*alive) co_return Error{Errc::kIoError, "stopped"};
  if (!m.ok()) co_return Error{m.code(), "reading Hello: " + m.error().message};
  auto* hello = std::get_if<engine::Hello>(&*m);
  if (!hello) co_return Error{Errc::kCorrupt, "first message is not Hello"};
  if (hello->resource != options_.resource) {
    co_return Error{Errc::kRefused, "peer is for resource '" + hello->resource + "'"};
  }
  if (hello->peer_node_id != options_.self) {
    co_return Error{Errc::kRefused, "peer expects node " + std::to_string(hello->peer_node_id) +
                                        ", we are " + std::to_string(options_.self)};
  }
  Link* link = FindLink(hello->node_id);
  if (!link) {
    co_return Error{Errc::kRefused, "unknown peer node " + std::to_string(hello->node_id)};
  }
  if (dialer && hello->node_id != expected_peer) {
    co_return Error{Errc::kRefused, "connected to node " + std::to_string(hello->node_id) +
                                        ", expected " + std::to_string(expected_peer)};
  }
  if (!dialer && link->dialer) {
    co_return Error{Errc::kRefused, "node " + std::to_string(hello->node_id) +
                                        " dials us, but we dial it (lower node id dials)"};
  }
  if (hello->stream > 1) co_return Error{Errc::kCorrupt, "bad stream kind"};
  if (dialer && hello->stream != static_cast<uint8_t>(kind)) {
    co_return Error{Errc::kCorrupt, "stream kind mismatch"};
  }
  if (hello->challenge.size() != 32) co_return Error{Errc::kCorrupt, "challenge is not 32 bytes"};
  if (hello->version_max < engine::kProtoVersion || hello->version_min > engine::kProtoVersion) {
    co_return Error{Errc::kUnsupported, "no common protocol version"};
  }
  kind = static_cast<engine::StreamKind>(hello->stream);
  s->kind = kind;
  uint8_t peer = hello->node_id;
  if (!dialer) {
    if (!link->want) co_return Error{Errc::kRefused, "connection not wanted (StandAlone)"};
    Result<bool> w = co_await WriteFrame(s->sock, hello_for(peer, kind));
    if (!w.ok()) co_return w.error();
  }
  engine::AuthResponse auth;
  auth.hmac = engine::ComputeAuth(options_.shared_secret, hello->challenge, options_.self,
                                  static_cast<uint8_t>(kind));
  Result<bool> w = co_await WriteFrame(s->sock, auth);
  if (!w.ok()) co_return w.error();
  Result<engine::Message> a = co_await ReadFrame(s->sock, s->in, &rx);
  if (!*alive) co_return Error{Errc::kIoError, "stopped"};
  if (!a.ok()) co_return Error{a.code(), "reading AuthResponse: " + a.error().message};
  auto* resp = std::get_if<engine::AuthResponse>(&*a);
  if (!resp) co_return Error{Errc::kCorrupt, "second message is not AuthResponse"};
  if (!engine::VerifyAuth(options_.shared_secret, my_challenge, peer, static_cast<uint8_t>(kind),
                          resp->hmac)) {
    co_return Error{Errc::kAuthFailed, "authentication failed (shared-secret differs?)"};
  }
  co_return peer;
}

void Transport::Install(Link* link, std::shared_ptr<Stream> s) {
  if (stopped_) return;
  int k = static_cast<int>(s->kind);
  // A second stream of a kind we hold means the peer saw the old connection
  // die and reconnected: ours is dead too.
  if (link->streams[k] || link->up) Fail(link->peer, link->gen, "peer reconnected");
  if (!link->want) {
    s->Close();
    return;
  }
  link->streams[k] = s;
  link->last_rx = Clock::now();
  StartIo(link, s);
  if (link->streams[0] && link->streams[1] && !link->up) {
    link->up = true;
    link->ping_sent = false;
    link->backoff = options_.min_backoff;
    ArmPing(link);
    uint64_t gen = link->gen;
    uint8_t peer = link->peer;
    handler_->OnUp(peer);
    while (link->gen == gen && !link->early.empty() && !stopped_) {
      engine::Message m = std::move(link->early.front());
      link->early.pop_front();
      handler_->OnMessage(peer, std::move(m));
    }
  }
}

void Transport::StartIo(Link* link, std::shared_ptr<Stream> s) {
  asio::co_spawn(ctx_, ReadLoop(link->peer, link->gen, s), asio::detached);
}

asio::awaitable<void> Transport::ReadLoop(uint8_t peer, uint64_t gen, std::shared_ptr<Stream> s) {
  std::shared_ptr<bool> alive = alive_;
  for (;;) {
    Result<engine::Message> m = co_await ReadFrame(s->sock, s->in, &stats_.bytes_received);
    if (!*alive) co_return;
    Link* link = FindLink(peer);
    if (link->gen != gen) co_return;
    if (!m.ok()) {
      Fail(peer, gen, "receive: " + m.error().message);
      co_return;
    }
    ++stats_.messages_received;
    link->last_rx = Clock::now();
    engine::MsgType type = engine::TypeOf(*m);
    if (type == engine::MsgType::kPing) {
      Enqueue(link, engine::StreamKind::kControl, engine::Encode(engine::PingAck{}), {});
      continue;
    }
    if (type == engine::MsgType::kPingAck) continue;
    if (engine::StreamFor(type) != s->kind) {
      Fail(peer, gen,
           std::string("protocol error: ") + engine::MsgTypeName(type) + " on the wrong stream");
      co_return;
    }
    if (!link->up) {
      link->early.push_back(std::move(*m));
      continue;
    }
    handler_->OnMessage(peer, std::move(*m));
    if (!*alive) co_return;
  }
}

void Transport::ArmPing(Link* link) {
  std::shared_ptr<bool> alive = alive_;
  uint64_t gen = link->gen;
  uint8_t peer = link->peer;
  Clock::time_point at = link->ping_sent ? link->ping_sent_at + options_.ping_timeout
                                         : link->last_rx + options_.ping_int;
  link->ping_timer.expires_at(at);
  link->ping_timer.async_wait([this, alive, gen, peer](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    Link* l = FindLink(peer);
    if (l->gen != gen || !l->up) return;
    Clock::time_point now = Clock::now();
    if (l->ping_sent) {
      if (l->last_rx < l->ping_sent_at) {
        Fail(peer, gen, "ping timeout");
        return;
      }
      l->ping_sent = false;
    }
    if (now - l->last_rx >= options_.ping_int) {
      Enqueue(l, engine::StreamKind::kControl, engine::Encode(engine::Ping{}), {});
      l->ping_sent = true;
      l->ping_sent_at = now;
    }
    ArmPing(l);
  });
}

void Transport::Fail(uint8_t peer, uint64_t gen, const std::string& why) {
  Link* link = FindLink(peer);
  if (!link || link->gen != gen || stopped_) return;
  bool had_streams = link->streams[0] || link->streams[1];
  bool was_up = link->up;
  ++link->gen;
  link->up = false;
  for (auto& s : link->streams) {
    if (s) s->Close();
    s.reset();
  }
  link->early.clear();
  link->ping_timer.cancel();
  if (was_up || had_streams) {
    Logf(LogLevel::kInfo, "{}: connection to node {} closed: {}", options_.resource, peer, why);
  }
  if (was_up) handler_->OnDown(peer);
  if (stopped_) return;
  if (link->want && link->dialer && !link->dialing) {
    link->dialing = true;
    asio::co_spawn(ctx_, DialLoop(peer, link->gen), asio::detached);
  }
}

}  // namespace tandem::io
