#include "nbd/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <optional>

#include "common/check.h"
#include "common/log.h"
#include "common/read_buffer.h"
#include "nbd/protocol.h"

namespace tandem::nbd {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;
using Protocol = asio::generic::stream_protocol;
using Socket = Protocol::socket;
using Acceptor = asio::basic_socket_acceptor<Protocol>;

constexpr uint16_t kHandshakeFlags = kFlagFixedNewstyle | kFlagNoZeroes;
// Option data up to this size is read and discarded (with NBD_REP_ERR_TOO_BIG);
// beyond it the client is treated as hostile and disconnected.
constexpr uint32_t kMaxSkippedOptionBytes = 1u << 20;
// Options per connection before the client is deemed a denial of service.
constexpr int kMaxOptionsPerConnection = 4096;
// Replies gathered into one socket write.
constexpr size_t kMaxBatchReplies = 64;
constexpr size_t kMaxBatchBytes = 4u << 20;

// Completion of every co_spawn: an exception escaping a coroutine is a bug,
// so it propagates out of io_context::run() (crash loudly).
void RethrowIfError(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

uint32_t ResolveErrorReply(Errc code) {
  switch (code) {
    case Errc::kNotFound:
      return kRepErrUnknown;
    case Errc::kInvalidArgument:
      return kRepErrInvalid;
    default:
      return kRepErrPolicy;
  }
}

// NBD_OPT_GO refused by BlockExport::Open: the export exists but may not be
// used now, which the spec calls a policy refusal; ESHUTDOWN asks the client
// to go away, a missing device is an unknown export.
uint32_t OpenErrorReply(int error) {
  switch (error) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return kRepErrUnknown;
    case ESHUTDOWN:
      return kRepErrShutdown;
    default:
      return kRepErrPolicy;
  }
}

BlockOp ToBlockOp(uint16_t type) {
  switch (type) {
    case kCmdRead:
      return BlockOp::kRead;
    case kCmdWrite:
      return BlockOp::kWrite;
    case kCmdFlush:
      return BlockOp::kFlush;
    case kCmdTrim:
      return BlockOp::kTrim;
    case kCmdWriteZeroes:
      return BlockOp::kWriteZeroes;
  }
  TANDEM_CHECK_MSG(false, "ToBlockOp: command not validated");
}

// Calls export->Open and resumes the coroutine with its result. The
// completion is posted so that an export answering inline does not resume
// the coroutine inside its own initiation.
awaitable<OpenResult> AwaitOpen(BlockExport* block_export, OpenMode mode) {
  auto ex = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(use_awaitable), void(OpenResult)>(
      [block_export, mode, ex](auto handler) {
        using Handler = decltype(handler);
        auto h = std::make_shared<std::optional<Handler>>(std::move(handler));
        block_export->Open(mode, [h, ex](OpenResult r) {
          TANDEM_CHECK_MSG(h->has_value(), "BlockExport::Open called back twice");
          asio::post(ex, [h, r = std::move(r)]() mutable {
            Handler handler_moved = std::move(**h);
            h->reset();
            std::move(handler_moved)(std::move(r));
          });
        });
      },
      use_awaitable);
}

std::string ErrnoMessage(int error) { return std::strerror(error); }

}  // namespace

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  ListenAddress a;
  if (text.starts_with("unix:") || text.starts_with("/")) {
    a.is_unix = true;
    a.path = std::string(text.starts_with("unix:") ? text.substr(5) : text);
    if (a.path.empty()) return MakeError(Errc::kInvalidArgument, "empty unix socket path");
    if (a.path.size() >= sizeof(sockaddr_un::sun_path)) {
      return MakeError(Errc::kInvalidArgument, "unix socket path too long: " + a.path);
    }
    return a;
  }
  std::string_view host, port;
  if (text.starts_with("[")) {
    size_t close = text.find("]:");
    if (close == std::string_view::npos) {
      return MakeError(Errc::kInvalidArgument,
                       "listen address '" + std::string(text) + "': want [V6ADDR]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return MakeError(Errc::kInvalidArgument,
                       "listen address '" + std::string(text) + "': want HOST:PORT or unix:PATH");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  error_code ec;
  asio::ip::make_address(std::string(host), ec);
  if (host.empty() || ec) {
    return MakeError(Errc::kInvalidArgument,
                     "listen address '" + std::string(text) + "': bad IP address");
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos ||
      std::stoul(std::string(port)) > 65535) {
    return MakeError(Errc::kInvalidArgument,
                     "listen address '" + std::string(text) + "': bad port");
  }
  a.host = std::string(host);
  a.port = static_cast<uint16_t>(std::stoul(std::string(port)));
  return a;
}

class Connection;

struct NbdServer::Impl : std::enable_shared_from_this<NbdServer::Impl> {
  struct Listener {
    ListenerOptions options;
    ListenAddress address;
    std::unique_ptr<Acceptor> acceptor;
    std::string bound;
  };

  Impl(asio::io_context& io_context, ServerOptions opts, ExportResolver resolver,
       ExportLister lister)
      : io(io_context),
        options(std::move(opts)),
        resolve(std::move(resolver)),
        list(std::move(lister)) {}

  awaitable<void> AcceptLoop(std::shared_ptr<Impl> self, size_t index);
  void CloseListeners();
  void Remove(std::list<std::shared_ptr<Connection>>::iterator it);
  void MaybeFinishStop();

  asio::io_context& io;
  const ServerOptions options;
  const ExportResolver resolve;
  const ExportLister list;
  std::vector<Listener> listeners;
  std::list<std::shared_ptr<Connection>> connections;
  int accept_loops = 0;
  uint64_t connection_seq = 0;
  bool started = false;
  bool stopping = false;
  bool stopped = false;
  std::vector<std::function<void()>> stop_waiters;
};

// One client connection: handshake, then transmission. Lives on the server's
// io_context; kept alive by its own coroutines and the server's list.
// Invariant: opened_ iff Open succeeded and Close has not been called yet.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<NbdServer::Impl> server, Socket socket,
             const ListenerOptions& listener, std::string peer)
      : server_(std::move(server)),
        socket_(std::move(socket)),
        listener_(listener),
        peer_(std::move(peer)),
        event_(socket_.get_executor()),
        handshake_timer_(socket_.get_executor()) {}

  void set_self_iterator(std::list<std::shared_ptr<Connection>>::iterator it) { self_it_ = it; }

  awaitable<void> Run() {
    auto self = shared_from_this();
    if (uint32_t ms = server_->options.handshake_timeout_ms; ms > 0) {
      handshake_timer_.expires_after(std::chrono::milliseconds(ms));
      handshake_timer_.async_wait([weak = weak_from_this()](error_code ec) {
        auto conn = weak.lock();
        if (ec || !conn || conn->in_transmission_ || conn->stopping_) return;
        conn->Warn("handshake timed out; disconnecting");
        error_code ignored;
        conn->socket_.close(ignored);
      });
    }
    Next next = co_await Negotiate();
    handshake_timer_.cancel();
    if (next == Next::kTransmission) co_await Serve();
    co_await Finish();
  }

  // Stop(): stop reading. In transmission the in-flight requests finish and
  // their replies are flushed (within stop_write_grace_ms); during the
  // handshake there is nothing to finish and the socket closes at once.
  void Stop() {
    if (stopping_) return;
    stopping_ = true;
    error_code ec;
    if (in_transmission_) {
      read_cancel_.emit(asio::cancellation_type::terminal);
      socket_.shutdown(Socket::shutdown_receive, ec);
    } else {
      socket_.close(ec);
    }
    Notify();
  }

 private:
  enum class Next { kContinue, kTransmission, kClose };

  struct Outgoing {
    Bytes header;
    SharedBytes data;     // may be null
    uint64_t charge = 0;  // see Charge()
  };

  // ---- I/O helpers ----

  awaitable<bool> ReadExact(void* p, size_t n) {
    if (stopping_) co_return false;
    error_code ec = co_await in_.ReadExact(p, n, [this](asio::mutable_buffer b) {
      return socket_.async_read_some(
          b, asio::bind_cancellation_slot(read_cancel_.slot(), asio::as_tuple(use_awaitable)));
    });
    co_return !ec;
  }

  // Handshake-phase write; transmission replies go through QueueReply.
  awaitable<bool> WriteNow(const Bytes& b) {
    error_code ec;
    co_await asio::async_write(socket_, asio::buffer(b), asio::redirect_error(use_awaitable, ec));
    co_return !ec;
  }

  awaitable<Next> ReplyOption(const Bytes& b) {
    co_return (co_await WriteNow(b)) ? Next::kContinue : Next::kClose;
  }

  // Wakes the connection coroutine when it waits in WaitEvent.
  void Notify() { event_.cancel(); }
  void Release(uint64_t charge) {
    TANDEM_CHECK(pending_ > 0 && pending_bytes_ >= charge);
    --pending_;
    pending_bytes_ -= charge;
  }
  // Waits for Notify() or the deadline; returns false on the deadline.
  awaitable<bool> WaitEvent(std::chrono::steady_clock::time_point deadline) {
    event_.expires_at(deadline);
    error_code ec;
    co_await event_.async_wait(asio::redirect_error(use_awaitable, ec));
    co_return ec == asio::error::operation_aborted;
  }
  awaitable<void> WaitEvent() { co_await WaitEvent(std::chrono::steady_clock::time_point::max()); }

  void Warn(const std::string& what) { Log(LogLevel::kWarn, "nbd " + peer_ + ": " + what); }

  // ---- Handshake ----

  awaitable<Next> Negotiate() {
    if (!co_await WriteNow(EncodeGreeting(kHandshakeFlags))) co_return Next::kClose;
    uint8_t flags_buf[kClientFlagsSize];
    if (!co_await ReadExact(flags_buf, sizeof flags_buf)) co_return Next::kClose;
    auto flags = DecodeClientFlags(ByteSpan(flags_buf, sizeof flags_buf), kHandshakeFlags);
    if (!flags.ok()) {
      Warn(flags.error().message);
      co_return Next::kClose;
    }
    no_zeroes_ = (*flags & kClientFlagNoZeroes) != 0;
    for (int n = 0; n < kMaxOptionsPerConnection; ++n) {
      uint8_t header_buf[kOptionHeaderSize];
      if (!co_await ReadExact(header_buf, sizeof header_buf)) co_return Next::kClose;
      auto header = DecodeOptionHeader(ByteSpan(header_buf, sizeof header_buf));
      if (!header.ok()) {
        Warn(header.error().message);
        co_return Next::kClose;
      }
      Next next = co_await HandleOption(*header);
      if (next != Next::kContinue) co_return next;
    }
    Warn("too many options; disconnecting");
    co_return Next::kClose;
  }

  awaitable<Next> HandleOption(const OptionHeader& h) {
    const uint32_t opt = h.option;
    if (h.length > kMaxOptionDataBytes) {
      std::string why = std::string(OptionName(opt)) + " with " + std::to_string(h.length) +
                        " bytes of data exceeds the limit of " +
                        std::to_string(kMaxOptionDataBytes);
      if (opt == kOptExportName || h.length > kMaxSkippedOptionBytes) {
        Warn(why + "; disconnecting");
        co_return Next::kClose;
      }
      Bytes skip(h.length);
      if (!co_await ReadExact(skip.data(), skip.size())) co_return Next::kClose;
      co_return co_await ReplyOption(EncodeOptionError(opt, kRepErrTooBig, why));
    }
    Bytes data(h.length);
    if (!data.empty() && !co_await ReadExact(data.data(), data.size())) co_return Next::kClose;

    switch (opt) {
      case kOptExportName:
        co_return co_await HandleExportName(
            std::string(reinterpret_cast<const char*>(data.data()), data.size()));
      case kOptInfo:
      case kOptGo:
        co_return co_await HandleInfoOrGo(opt, data);
      case kOptList: {
        if (!data.empty()) {
          co_return co_await ReplyOption(
              EncodeOptionError(opt, kRepErrInvalid, "NBD_OPT_LIST takes no data"));
        }
        Bytes out;
        if (server_->list) {
          for (const std::string& name : server_->list()) {
            Bytes one = EncodeRepServer(name);
            out.insert(out.end(), one.begin(), one.end());
          }
        }
        Bytes ack = EncodeOptionReply(opt, kRepAck);
        out.insert(out.end(), ack.begin(), ack.end());
        co_return co_await ReplyOption(out);
      }
      case kOptAbort:
        // The client may close without reading the ack; ignore write errors.
        co_await WriteNow(EncodeOptionReply(opt, kRepAck));
        co_return Next::kClose;
      case kOptStructuredReply:
        if (!data.empty()) {
          co_return co_await ReplyOption(
              EncodeOptionError(opt, kRepErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data"));
        }
        structured_ = true;
        co_return co_await ReplyOption(EncodeOptionReply(opt, kRepAck));
      default:
        co_return co_await ReplyOption(EncodeOptionError(
            opt, kRepErrUnsup,
            "option " + std::to_string(opt) + " (" + OptionName(opt) + ") is not supported"));
    }
  }

  Result<ExportRef> Resolve(std::string_view requested) {
    bool on_default = requested.empty();
    std::string_view name = requested;
    if (on_default) {
      if (listener_.default_export.empty()) {
        return MakeError(Errc::kNotFound, "no default export; give an export name");
      }
      name = listener_.default_export;
    }
    auto ref = server_->resolve(name, on_default);
    if (ref.ok()) TANDEM_CHECK_MSG(ref->block_export != nullptr, "resolver returned no export");
    return ref;
  }

  // Opens the export; on success the connection owns one Open (opened_).
  // Returns the refusal, if any, as an OpenResult.
  awaitable<OpenResult> OpenExport(const ExportRef& ref) {
    OpenResult r = co_await AwaitOpen(ref.block_export, ref.mode);
    if (r.error != 0) {
      if (r.message.empty()) r.message = ErrnoMessage(r.error);
      co_return r;
    }
    export_ = ref.block_export;
    mode_ = ref.mode;
    opened_ = true;
    if (stopping_) co_return OpenResult{ESHUTDOWN, "server is shutting down"};
    session_.export_size = export_->SizeBytes();
    session_.transmission_flags = TransmissionFlags(*export_, mode_);
    session_.structured_replies = structured_;
    co_return r;
  }

  awaitable<Next> HandleExportName(std::string name) {
    auto ref = Resolve(name);
    if (!ref.ok()) {
      Warn("NBD_OPT_EXPORT_NAME '" + name + "': " + ref.error().message + "; disconnecting");
      co_return Next::kClose;
    }
    OpenResult r = co_await OpenExport(*ref);
    if (r.error != 0) {
      Warn("NBD_OPT_EXPORT_NAME '" + name + "' refused: " + r.message + "; disconnecting");
      co_return Next::kClose;
    }
    // Without NBD_OPT_STRUCTURED_REPLY negotiated before, structured_ is false.
    if (!co_await WriteNow(
            EncodeExportNameReply(session_.export_size, session_.transmission_flags, no_zeroes_))) {
      co_return Next::kClose;
    }
    co_return Next::kTransmission;
  }

  awaitable<Next> HandleInfoOrGo(uint32_t opt, const Bytes& data) {
    auto req = DecodeInfoRequest(data);
    if (!req.ok()) {
      co_return co_await ReplyOption(EncodeOptionError(opt, kRepErrInvalid, req.error().message));
    }
    auto ref = Resolve(req->name);
    if (!ref.ok()) {
      co_return co_await ReplyOption(
          EncodeOptionError(opt, ResolveErrorReply(ref.error().code), ref.error().message));
    }
    uint64_t size;
    uint16_t flags;
    if (opt == kOptGo) {
      OpenResult r = co_await OpenExport(*ref);
      if (r.error != 0) {
        Warn(std::string("NBD_OPT_GO '") + req->name + "' refused: " + r.message);
        co_return co_await ReplyOption(EncodeOptionError(opt, OpenErrorReply(r.error), r.message));
      }
      size = session_.export_size;
      flags = session_.transmission_flags;
    } else {
      // NBD_OPT_INFO never opens: it reports what NBD_OPT_GO would.
      size = ref->block_export->SizeBytes();
      flags = TransmissionFlags(*ref->block_export, ref->mode);
    }
    Bytes out = EncodeInfoExport(opt, size, flags);
    bool wants_name = false;
    for (uint16_t t : req->info_types) wants_name |= t == kInfoName;
    if (!ref->canonical_name.empty() && (wants_name || ref->canonical_name != req->name)) {
      Bytes b = EncodeInfoName(opt, ref->canonical_name);
      out.insert(out.end(), b.begin(), b.end());
    }
    Bytes bs = EncodeInfoBlockSize(opt, kMinBlockSize, kPreferredBlockSize, kMaxPayloadBytes);
    out.insert(out.end(), bs.begin(), bs.end());
    Bytes ack = EncodeOptionReply(opt, kRepAck);
    out.insert(out.end(), ack.begin(), ack.end());
    if (!co_await WriteNow(out)) co_return Next::kClose;
    co_return opt == kOptGo ? Next::kTransmission : Next::kContinue;
  }

  // ---- Transmission ----

  awaitable<void> Serve() {
    in_transmission_ = true;
    const uint32_t max_pending = server_->options.max_requests_in_flight;
    const uint64_t max_bytes = server_->options.max_bytes_in_flight;
    for (;;) {
      while (pending_ >= max_pending && !stopping_ && !write_failed_) co_await WaitEvent();
      if (stopping_ || write_failed_) co_return;
      uint8_t header_buf[kRequestHeaderSize];
      if (!co_await ReadExact(header_buf, sizeof header_buf)) co_return;
      auto req = DecodeRequest(ByteSpan(header_buf, sizeof header_buf));
      if (!req.ok()) {
        Warn(req.error().message + "; disconnecting");
        co_return;
      }
      if (Status s = CheckPayloadLength(*req); !s.ok()) {
        Warn(s.error().message + "; disconnecting");
        co_return;
      }
      // Buffered bytes (write payloads, read data) are bounded too; one
      // request of any legal size is always admitted.
      const uint64_t charge = Charge(*req);
      while (pending_bytes_ > 0 && pending_bytes_ + charge > max_bytes && !stopping_ &&
             !write_failed_) {
        co_await WaitEvent();
      }
      if (stopping_ || write_failed_) co_return;
      SharedBytes payload;
      if (HasPayload(*req)) {
        Bytes b(req->length);
        if (!co_await ReadExact(b.data(), b.size())) co_return;
        payload = MakeShared(std::move(b));
      }
      if (req->type == kCmdDisc) co_return;
      ++pending_;
      pending_bytes_ += charge;
      RequestCheck check = CheckRequest(*req, session_);
      if (check.error != 0) {
        QueueError(*req, check.error, check.message);
      } else if (req->length == 0 && req->type != kCmdFlush) {
        // Zero-length I/O is a no-op the export never sees.
        QueueSuccess(*req, req->type == kCmdRead ? MakeShared({}) : nullptr);
      } else {
        Submit(*req, std::move(payload));
      }
    }
  }

  void Submit(const Request& r, SharedBytes payload) {
    BlockRequest br;
    br.op = ToBlockOp(r.type);
    br.offset = r.offset;
    br.length = r.length;
    // FUA matters only where data is written; on READ and FLUSH it is a no-op.
    br.fua = (r.flags & kCmdFlagFua) != 0 &&
             (r.type == kCmdWrite || r.type == kCmdWriteZeroes || r.type == kCmdTrim);
    br.no_hole = (r.flags & kCmdFlagNoHole) != 0;
    br.data = std::move(payload);
    ++at_export_;
    export_->Submit(std::move(br), [self = shared_from_this(), r](BlockResult res) {
      self->OnComplete(r, std::move(res));
    });
  }

  void OnComplete(const Request& r, BlockResult res) {
    TANDEM_CHECK(at_export_ > 0);
    --at_export_;
    if (res.error != 0) {
      QueueError(r, ErrnoToNbdError(res.error), ErrnoMessage(res.error));
    } else if (r.type == kCmdRead && (!res.data || res.data->size() != r.length)) {
      Warn("export returned a short read");
      QueueError(r, kEio, "export returned a short read");
    } else {
      QueueSuccess(r, r.type == kCmdRead ? std::move(res.data) : nullptr);
    }
    Notify();
  }

  void QueueSuccess(const Request& r, SharedBytes read_data) {
    if (r.type == kCmdRead && session_.structured_replies) {
      const auto length = static_cast<uint32_t>(read_data->size());
      if (length == 0) {
        QueueReply(r, EncodeChunkNone(r.cookie), nullptr);
      } else {
        Bytes header = EncodeChunkOffsetDataHeader(r.cookie, r.offset, length, true);
        QueueReply(r, std::move(header), std::move(read_data));
      }
    } else if (session_.structured_replies) {
      QueueReply(r, EncodeChunkNone(r.cookie), nullptr);
    } else {
      QueueReply(r, EncodeSimpleReply(0, r.cookie), std::move(read_data));
    }
  }

  void QueueError(const Request& r, uint32_t error, const std::string& message) {
    if (session_.structured_replies) {
      QueueReply(r, EncodeChunkError(r.cookie, error, message), nullptr);
    } else {
      QueueReply(r, EncodeSimpleReply(error, r.cookie), nullptr);
    }
  }

  // The bytes a request keeps buffered until its reply is written.
  static uint64_t Charge(const Request& r) {
    bool buffered = r.type == kCmdWrite || r.type == kCmdRead;
    return buffered && r.length <= kMaxPayloadBytes ? r.length : 0;
  }

  // Queues the reply to `r`. pending_ and pending_bytes_ drop when it is
  // written (or dropped because the socket failed).
  void QueueReply(const Request& r, Bytes header, SharedBytes data) {
    if (write_failed_) {
      Release(Charge(r));
      Notify();
      return;
    }
    queue_.push_back(Outgoing{std::move(header), std::move(data), Charge(r)});
    if (!writing_) {
      writing_ = true;
      asio::co_spawn(socket_.get_executor(), WriteLoop(shared_from_this()), RethrowIfError);
    }
  }

  // `self` keeps the connection alive while the writer runs.
  awaitable<void> WriteLoop([[maybe_unused]] std::shared_ptr<Connection> self) {
    std::vector<Outgoing> batch;
    std::vector<asio::const_buffer> buffers;
    // Let the completions that are ready run first: their replies go out in
    // this loop's first write instead of one write each.
    co_await asio::post(socket_.get_executor(), use_awaitable);
    while (!queue_.empty() && !write_failed_) {
      batch.clear();
      buffers.clear();
      size_t bytes = 0;
      while (!queue_.empty() && batch.size() < kMaxBatchReplies && bytes < kMaxBatchBytes) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
        bytes += batch.back().header.size() + (batch.back().data ? batch.back().data->size() : 0);
      }
      for (const Outgoing& o : batch) {
        buffers.push_back(asio::buffer(o.header));
        if (o.data && !o.data->empty()) buffers.push_back(asio::buffer(*o.data));
      }
      error_code ec;
      co_await asio::async_write(socket_, buffers, asio::redirect_error(use_awaitable, ec));
      for (const Outgoing& o : batch) Release(o.charge);
      if (ec) {
        if (!stopping_) Warn("write failed: " + ec.message());
        write_failed_ = true;
        for (const Outgoing& o : queue_) Release(o.charge);
        queue_.clear();
        error_code ignored;
        read_cancel_.emit(asio::cancellation_type::terminal);
        socket_.shutdown(Socket::shutdown_both, ignored);
      }
      Notify();
    }
    writing_ = false;
    Notify();
  }

  // Waits for in-flight requests, closes the export, flushes replies and
  // closes the socket; then leaves the server.
  awaitable<void> Finish() {
    auto self = shared_from_this();
    while (at_export_ > 0) co_await WaitEvent();
    if (opened_) {
      opened_ = false;
      export_->Close(mode_);
    }
    auto deadline = std::chrono::steady_clock::time_point::max();
    while (writing_) {
      if (stopping_ && deadline == std::chrono::steady_clock::time_point::max()) {
        deadline = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(server_->options.stop_write_grace_ms);
      }
      if (!co_await WaitEvent(deadline)) {
        error_code ignored;
        socket_.close(ignored);  // the writer fails and finishes
        deadline = std::chrono::steady_clock::time_point::max();
      }
    }
    error_code ignored;
    socket_.shutdown(Socket::shutdown_both, ignored);
    socket_.close(ignored);
    server_->Remove(self_it_);
  }

  std::shared_ptr<NbdServer::Impl> server_;
  Socket socket_;
  const ListenerOptions& listener_;  // owned by the server, outlives connections
  const std::string peer_;
  asio::steady_timer event_;
  asio::steady_timer handshake_timer_;
  asio::cancellation_signal read_cancel_;
  ReadBuffer in_{128 * 1024};  // requests arrive in bursts: one read for many
  std::list<std::shared_ptr<Connection>>::iterator self_it_;

  bool no_zeroes_ = false;
  bool structured_ = false;
  bool in_transmission_ = false;
  bool stopping_ = false;

  BlockExport* export_ = nullptr;
  OpenMode mode_ = OpenMode::kReadOnly;
  bool opened_ = false;
  Session session_;

  uint32_t pending_ = 0;        // requests read whose reply is not yet written
  uint64_t pending_bytes_ = 0;  // their Charge()
  uint32_t at_export_ = 0;      // requests submitted whose callback has not run
  std::deque<Outgoing> queue_;
  bool writing_ = false;
  bool write_failed_ = false;
};

awaitable<void> NbdServer::Impl::AcceptLoop(std::shared_ptr<Impl> self, size_t index) {
  Listener& l = listeners[index];
  while (!stopping) {
    error_code ec;
    Socket socket = co_await l.acceptor->async_accept(asio::redirect_error(use_awaitable, ec));
    if (stopping) break;
    if (ec) {
      Log(LogLevel::kWarn, "nbd accept on " + l.bound + ": " + ec.message());
      asio::steady_timer backoff(io, std::chrono::milliseconds(100));
      co_await backoff.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    if (!l.address.is_unix) {
      socket.set_option(asio::ip::tcp::no_delay(true), ec);
    }
    auto conn = std::make_shared<Connection>(self, std::move(socket), l.options,
                                             l.bound + "#" + std::to_string(++connection_seq));
    connections.push_back(conn);
    conn->set_self_iterator(std::prev(connections.end()));
    asio::co_spawn(io, conn->Run(), RethrowIfError);
  }
  --accept_loops;
  MaybeFinishStop();
}

void NbdServer::Impl::CloseListeners() {
  for (Listener& l : listeners) {
    if (!l.acceptor) continue;
    error_code ec;
    l.acceptor->close(ec);
    if (l.address.is_unix) ::unlink(l.address.path.c_str());
  }
}

void NbdServer::Impl::Remove(std::list<std::shared_ptr<Connection>>::iterator it) {
  connections.erase(it);
  MaybeFinishStop();
}

void NbdServer::Impl::MaybeFinishStop() {
  if (!stopping || stopped || !connections.empty() || accept_loops > 0) return;
  stopped = true;
  for (auto& w : stop_waiters) asio::post(io, std::move(w));
  stop_waiters.clear();
}

namespace {

// Removes a socket file no server is listening on. Refuses to touch other
// file types, and a socket someone still accepts on.
Status RemoveStaleSocket(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return {};
  if (!S_ISSOCK(st.st_mode)) {
    return MakeError(Errc::kAlreadyExists, path + " exists and is not a socket");
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return MakeError(Errc::kIoError, "socket: " + ErrnoMessage(errno));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::close(fd);
  if (rc == 0) return MakeError(Errc::kAlreadyExists, path + " is in use by a running server");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return MakeError(Errc::kIoError, "unlink " + path + ": " + ErrnoMessage(errno));
  }
  return {};
}

}  // namespace

NbdServer::NbdServer(asio::io_context& io, ServerOptions options, ExportResolver resolve,
                     ExportLister list)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(resolve), std::move(list))) {
  TANDEM_CHECK_MSG(impl_->resolve != nullptr, "NbdServer needs an export resolver");
}

NbdServer::~NbdServer() {
  TANDEM_CHECK_MSG(!impl_->started || impl_->stopped, "NbdServer destroyed before Stop completed");
}

Status NbdServer::Start() {
  Impl& s = *impl_;
  TANDEM_CHECK_MSG(!s.started, "NbdServer::Start called twice");
  if (s.options.listeners.empty()) return MakeError(Errc::kInvalidArgument, "no NBD listeners");
  if (s.options.max_requests_in_flight < 1 || s.options.max_requests_in_flight > 4096) {
    return MakeError(Errc::kInvalidArgument, "max_requests_in_flight must be in 1..4096");
  }
  if (s.options.max_bytes_in_flight < kMaxPayloadBytes) {
    return MakeError(Errc::kInvalidArgument,
                     "max_bytes_in_flight must be at least the 32 MiB maximum payload");
  }
  std::vector<Impl::Listener> bound;
  auto fail = [&](Error e) -> Status {
    for (Impl::Listener& l : bound) {
      error_code ec;
      l.acceptor->close(ec);
      if (l.address.is_unix) ::unlink(l.address.path.c_str());
    }
    return e;
  };
  for (const ListenerOptions& lo : s.options.listeners) {
    auto addr = ParseListenAddress(lo.address);
    if (!addr.ok()) return fail(addr.error());
    Impl::Listener l{lo, *addr, std::make_unique<Acceptor>(s.io), ""};
    Protocol::endpoint ep;
    if (addr->is_unix) {
      if (Status st = RemoveStaleSocket(addr->path); !st.ok()) return fail(st.error());
      ep = Protocol::endpoint(asio::local::stream_protocol::endpoint(addr->path));
    } else {
      ep = Protocol::endpoint(
          asio::ip::tcp::endpoint(asio::ip::make_address(addr->host), addr->port));
    }
    error_code ec;
    l.acceptor->open(ep.protocol(), ec);
    if (!ec && !addr->is_unix) l.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) l.acceptor->bind(ep, ec);
    if (!ec) l.acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return fail(MakeError(Errc::kIoError, "listen on " + lo.address + ": " + ec.message()));
    }
    if (addr->is_unix) {
      l.bound = addr->path;
    } else {
      Protocol::endpoint local = l.acceptor->local_endpoint(ec);
      asio::ip::tcp::endpoint tcp_ep;
      if (!ec && local.size() <= tcp_ep.capacity()) {
        std::memcpy(tcp_ep.data(), local.data(), local.size());
        tcp_ep.resize(local.size());
      }
      std::string host = tcp_ep.address().to_string();
      if (tcp_ep.address().is_v6()) host = "[" + host + "]";
      l.bound = host + ":" + std::to_string(tcp_ep.port());
    }
    bound.push_back(std::move(l));
  }
  s.listeners = std::move(bound);
  s.started = true;
  for (size_t i = 0; i < s.listeners.size(); ++i) {
    ++s.accept_loops;
    asio::co_spawn(s.io, s.AcceptLoop(impl_, i), RethrowIfError);
    Log(LogLevel::kInfo, "nbd: listening on " + s.listeners[i].bound);
  }
  return {};
}

std::vector<std::string> NbdServer::BoundAddresses() const {
  std::vector<std::string> out;
  for (const auto& l : impl_->listeners) out.push_back(l.bound);
  return out;
}

void NbdServer::Stop(std::function<void()> done) {
  Impl& s = *impl_;
  if (!s.started || s.stopped) {
    s.stopped = s.started;
    if (done) asio::post(s.io, std::move(done));
    return;
  }
  if (done) s.stop_waiters.push_back(std::move(done));
  if (s.stopping) return;
  s.stopping = true;
  s.CloseListeners();
  // Connection::Stop may not remove the connection synchronously; iterate a copy.
  std::vector<std::shared_ptr<Connection>> conns(s.connections.begin(), s.connections.end());
  for (auto& c : conns) c->Stop();
  s.MaybeFinishStop();
}

size_t NbdServer::ConnectionCount() const { return impl_->connections.size(); }

}  // namespace tandem::nbd
