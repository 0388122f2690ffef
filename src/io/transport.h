// Transport: the TCP connections of one resource to its peers (DESIGN.md §5,
// docs/replication-protocol.md §5 and "Transport" in docs/tandemd.md).
//
// Per peer, a connection is two TCP streams, data and control, each
// authenticated on its own with the Hello / AuthResponse HMAC handshake. The
// node with the lower node id dials; the other accepts on the resource's
// listening address. The connection is up when both streams completed the
// handshake; Handler::OnUp then fires, and messages that arrived on a stream
// before that are delivered right after it, in order. Any error on either
// stream (or a missed ping) closes both and fires Handler::OnDown once. While
// the engine wants the connection, the dialing side retries with backoff.
//
// Keepalive: when nothing arrived for ping-int, a Ping goes out on the control
// stream; if nothing arrives within ping-timeout after it, the connection is
// considered dead. Ping and PingAck are handled here, never passed up.
//
// Thread-safety: none; everything runs on the io_context's thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "engine/protocol.h"

namespace tandem::io {

struct TransportPeer {
  uint8_t id = 0;
  boost::asio::ip::tcp::endpoint address;
};

struct TransportOptions {
  std::string resource;
  uint8_t self = 0;
  std::string shared_secret;
  boost::asio::ip::tcp::endpoint listen;  // this node's address for the resource
  std::vector<TransportPeer> peers;
  std::chrono::milliseconds ping_int{10000};
  std::chrono::milliseconds ping_timeout{500};
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds min_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
};

// Fault hooks (tandemd --enable-faults): drop or delay every message of one
// type that this node sends to one peer (255 = any peer).
enum class SendFault : uint8_t { kNone, kDrop, kDelay };

struct TransportStats {
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t handshakes_failed = 0;
};

class Transport {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void OnUp(uint8_t peer) = 0;
    virtual void OnDown(uint8_t peer) = 0;
    virtual void OnMessage(uint8_t peer, engine::Message msg) = 0;
  };

  Transport(boost::asio::io_context& ctx, TransportOptions options, Handler* handler);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Binds the listening socket. Fails when the address is taken.
  [[nodiscard]] Result<bool> Start();
  // Closes every socket; no handler call happens after Stop returns.
  void Stop();

  // Adds a peer (adjust with a new node set) or changes its address; a changed
  // address closes the current connection. A peer that left the resource stays
  // known with want false, so its connections are refused.
  void SetPeer(const TransportPeer& peer);
  void SetWant(uint8_t peer, bool want);
  // Closes the current connection now (OnDown follows); reconnects if wanted.
  void Drop(uint8_t peer);
  void Send(uint8_t peer, const engine::Message& msg);
  bool IsUp(uint8_t peer) const;

  void SetSendFault(engine::MsgType type, uint8_t peer, SendFault fault,
                    std::chrono::milliseconds delay);
  void ClearSendFaults();

  const TransportStats& stats() const { return stats_; }
  const TransportOptions& options() const { return options_; }

 private:
  struct Stream;
  struct Link;

  void AddLink(const TransportPeer& p);
  Link* FindLink(uint8_t peer);
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> DialLoop(uint8_t peer, uint64_t gen);
  boost::asio::awaitable<void> HandleAccepted(boost::asio::ip::tcp::socket sock);
  // Runs the handshake on `s`; expected_peer < 0 on the accepting side.
  boost::asio::awaitable<Result<uint8_t>> Handshake(std::shared_ptr<Stream> s, int expected_peer,
                                                    engine::StreamKind kind, bool dialer);
  void Install(Link* link, std::shared_ptr<Stream> s);
  void StartIo(Link* link, std::shared_ptr<Stream> s);
  boost::asio::awaitable<void> ReadLoop(uint8_t peer, uint64_t gen, std::shared_ptr<Stream> s);
  void Flush(Link* link, std::shared_ptr<Stream> s);
  boost::asio::awaitable<void> WriteLoop(uint8_t peer, uint64_t gen, std::shared_ptr<Stream> s);
  void Fail(uint8_t peer, uint64_t gen, const std::string& why);
  void ArmPing(Link* link);
  void Enqueue(Link* link, engine::StreamKind kind, Bytes frame,
               std::chrono::steady_clock::time_point not_before);

  boost::asio::io_context& ctx_;
  TransportOptions options_;
  Handler* handler_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::map<uint8_t, std::unique_ptr<Link>> links_;
  std::shared_ptr<bool> alive_;
  bool stopped_ = false;
  TransportStats stats_;
  struct FaultKey {
    uint16_t type;
    uint8_t peer;
    bool operator<(const FaultKey& o) const {
      return type != o.type ? type < o.type : peer < o.peer;
    }
  };
  struct FaultVal {
    SendFault fault;
    std::chrono::milliseconds delay;
  };
  std::map<FaultKey, FaultVal> faults_;
};

// "127.0.0.1:7000" or "[::1]:7000" -> endpoint.
Result<boost::asio::ip::tcp::endpoint> ParseEndpoint(const std::string& s);

}  // namespace tandem::io
