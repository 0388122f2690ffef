// NbdServer: serves BlockExports to NBD clients (the Linux kernel nbd driver,
// qemu, libnbd tools) over unix sockets and TCP. Fixed newstyle negotiation
// only; the wire format lives in protocol.h, the prose spec in docs/nbd.md.
//
// Threading: the server runs entirely on the io_context it is given, and it
// calls every BlockExport directly (Open, Close, Submit, SizeBytes) from that
// thread. REQUIRES: every export the resolver returns belongs to the thread
// running that io_context (tandemd runs its exports and the server on one
// single-threaded io_context). Start() and Stop() must be called on that
// thread too, or before the io_context runs.
//
// Ownership: the server does not own exports; the resolver's caller keeps
// them alive until Stop() has completed.
//
// Per connection: requests are pipelined (up to max_requests_in_flight), the
// export may complete them in any order and replies go out in completion
// order; one writer serializes the socket. Every successful Open is paired
// with exactly one Close, issued after the connection's in-flight requests
// have completed, whatever ended the connection (NBD_CMD_DISC, EOF, a
// protocol violation, a socket error or Stop()).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_export.h"
#include "common/result.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tandem::nbd {

class Connection;  // server.cc

// What an export name resolves to.
struct ExportRef {
  BlockExport* block_export = nullptr;  // not owned; see the class comment
  OpenMode mode = OpenMode::kReadOnly;
  std::string canonical_name;  // sent as NBD_INFO_NAME when it differs from the request
};

// Resolves a client's export name. on_default_name is true when the client
// sent the empty name and `name` is the listener's default export. Errors
// become option errors carrying the error's message: kNotFound ->
// NBD_REP_ERR_UNKNOWN, kInvalidArgument -> NBD_REP_ERR_INVALID, any other ->
// NBD_REP_ERR_POLICY (NBD_OPT_EXPORT_NAME can only disconnect). Called on the
// io_context thread, also for NBD_OPT_INFO; must not block or open anything.
using ExportResolver =
    std::function<Result<ExportRef>(std::string_view name, bool on_default_name)>;
// The names NBD_OPT_LIST reports, in order.
using ExportLister = std::function<std::vector<std::string>()>;

struct ListenerOptions {
  // "unix:/path/to.sock" (or an absolute path) for a unix socket; otherwise
  // "HOST:PORT" or "[V6ADDR]:PORT" for TCP. Port 0 picks a free port (see
  // NbdServer::BoundAddresses). A stale socket file is removed before bind
  // and the file is unlinked on Stop().
  std::string address;
  // The export used when a client sends the empty name; empty: none, and the
  // empty name is unknown.
  std::string default_export;
};

struct ServerOptions {
  std::vector<ListenerOptions> listeners;  // at least one
  // Requests a connection may have at the export at once; reading from the
  // socket pauses beyond that. 1..4096.
  uint32_t max_requests_in_flight = 64;
  // Bytes of write payloads and read data a connection may hold buffered
  // (from reading a request until its reply is written). At least 32 MiB.
  uint64_t max_bytes_in_flight = 128u << 20;
  // On Stop(), how long a connection whose in-flight requests are done may
  // take to flush replies to a client that does not read them.
  uint32_t stop_write_grace_ms = 2000;
  // A client that has not reached transmission this long after connecting is
  // disconnected (it holds a connection without using it). 0: no limit.
  uint32_t handshake_timeout_ms = 30000;
};

// Parsed ListenerOptions::address.
struct ListenAddress {
  bool is_unix = false;
  std::string path;   // unix
  std::string host;   // tcp
  uint16_t port = 0;  // tcp
};
Result<ListenAddress> ParseListenAddress(std::string_view text);

class NbdServer {
 public:
  NbdServer(boost::asio::io_context& io, ServerOptions options, ExportResolver resolve,
            ExportLister list);
  // REQUIRES: not started, or Stop() has completed.
  ~NbdServer();
  NbdServer(const NbdServer&) = delete;
  NbdServer& operator=(const NbdServer&) = delete;

  // Validates the options, binds and listens on every listener, and starts
  // accepting. On error nothing stays bound.
  [[nodiscard]] Status Start();
  // The bound address of each listener, in order: the socket path for unix
  // listeners, "HOST:PORT" with the real port for TCP. REQUIRES: started.
  std::vector<std::string> BoundAddresses() const;

  // Closes the listeners (unlinking socket files), stops reading from every
  // connection, waits for their in-flight requests, closes the exports and
  // the sockets, then runs `done` on the io_context thread. Idempotent: a
  // second call runs its `done` when the first completes.
  void Stop(std::function<void()> done);

  // Open connections (for tests and status).
  size_t ConnectionCount() const;

 private:
  friend class Connection;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tandem::nbd
