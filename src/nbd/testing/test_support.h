// Test doubles for the NBD tests (unit and integration): an in-memory
// BlockExport and a harness running an NbdServer on its own io_context
// thread. Test-only; not part of the nbd library.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/block_export.h"
#include "common/check.h"
#include "nbd/server.h"

namespace tandem::nbd::testing {

// A volume in memory. Lives on the io_context it is given: callbacks are
// posted there (never run inline), so completions interleave like a real
// asynchronous export. Counts opens and closes per mode so tests can check
// the Open/Close pairing. With hold_requests, Submit parks requests until
// ReleaseHeld() (to test pipelining and ordering).
class MemoryExport : public BlockExport {
 public:
  MemoryExport(boost::asio::io_context& io, uint64_t size) : io_(io), data_(size, 0) {}

  uint64_t SizeBytes() const override { return data_.size(); }
  bool CanTrim() const override { return can_trim; }
  bool CanWriteZeroes() const override { return can_write_zeroes; }
  bool CanFlush() const override { return can_flush; }
  bool CanMultiConn() const override { return can_multi_conn; }

  void Open(OpenMode mode, std::function<void(OpenResult)> cb) override {
    OpenResult r;
    if (refuse_error != 0) {
      r = {refuse_error, refuse_message};
    } else {
      ++open_count[static_cast<int>(mode)];
      ++open_now;
    }
    boost::asio::post(io_, [cb = std::move(cb), r]() { cb(r); });
  }
  void Close(OpenMode mode) override {
    TANDEM_CHECK_MSG(in_flight == 0, "Close with requests in flight");
    TANDEM_CHECK(open_now > 0);
    --open_now;
    ++close_count[static_cast<int>(mode)];
  }

  void Submit(BlockRequest req, std::function<void(BlockResult)> cb) override {
    ++in_flight;
    ++submitted;
    last_request = req;
    auto run = [this, req = std::move(req), cb = std::move(cb)]() {
      BlockResult res = Execute(req);
      --in_flight;
      cb(std::move(res));
    };
    if (hold_requests) {
      held_.push_back(std::move(run));
    } else if (max_delay_us > 0) {
      // Each request completes after its own random delay: out of order.
      auto timer = std::make_shared<boost::asio::steady_timer>(
          io_, std::chrono::microseconds(rng_() % max_delay_us));
      timer->async_wait([timer, run = std::move(run)](boost::system::error_code) { run(); });
    } else {
      boost::asio::post(io_, std::move(run));
    }
  }
  void Post(std::function<void()> fn) override { boost::asio::post(io_, std::move(fn)); }

  // Completes held requests in reverse order of arrival.
  void ReleaseHeldReversed() {
    auto held = std::move(held_);
    held_.clear();
    for (auto it = held.rbegin(); it != held.rend(); ++it) (*it)();
  }
  size_t held_count() const { return held_.size(); }

  std::vector<uint8_t>& bytes() { return data_; }

  // Knobs and observations; touch them on the io thread (or while idle).
  bool can_trim = true, can_write_zeroes = true, can_flush = true, can_multi_conn = true;
  bool hold_requests = false;
  uint32_t max_delay_us = 0;  // > 0: complete requests after random delays
  int refuse_error = 0;
  std::string refuse_message;
  int open_count[2] = {0, 0};
  int close_count[2] = {0, 0};
  int open_now = 0;
  int in_flight = 0;
  int submitted = 0;
  int flushes = 0;
  BlockRequest last_request;

 private:
  BlockResult Execute(const BlockRequest& req) {
    BlockResult res;
    if (req.offset > data_.size() || req.length > data_.size() - req.offset) {
      res.error = EINVAL;
      return res;
    }
    switch (req.op) {
      case BlockOp::kRead:
        res.data =
            MakeShared(Bytes(data_.begin() + req.offset, data_.begin() + req.offset + req.length));
        break;
      case BlockOp::kWrite:
        TANDEM_CHECK(req.data && req.data->size() == req.length);
        std::memcpy(data_.data() + req.offset, req.data->data(), req.length);
        break;
      case BlockOp::kTrim:
      case BlockOp::kWriteZeroes:
        std::memset(data_.data() + req.offset, 0, req.length);
        break;
      case BlockOp::kFlush:
        ++flushes;
        break;
    }
    return res;
  }

  boost::asio::io_context& io_;
  std::vector<uint8_t> data_;
  std::vector<std::function<void()>> held_;
  std::mt19937 rng_{12345};
};

// A temporary directory removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tandem-nbd-XXXXXX").string();
    TANDEM_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs an io_context on a thread with an NbdServer serving named
// MemoryExports. Exports are added before Start(). Names map to a mode:
// "NAME" is read-write and "NAME:ro" read-only, like tandemd.
class ServerHarness {
 public:
  ServerHarness() : work_(boost::asio::make_work_guard(io_)) {
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ServerHarness() {
    if (server_) StopServer();
    work_.reset();
    thread_.join();
  }

  boost::asio::io_context& io() { return io_; }

  MemoryExport* AddExport(const std::string& name, uint64_t size) {
    exports_[name] = std::make_unique<MemoryExport>(io_, size);
    return exports_[name].get();
  }

  // Starts the server on the given listeners; returns the bound addresses.
  std::vector<std::string> StartServer(std::vector<ListenerOptions> listeners,
                                       uint32_t max_in_flight = 64,
                                       uint64_t max_bytes_in_flight = 128u << 20,
                                       uint32_t handshake_timeout_ms = 30000) {
    ServerOptions opts;
    opts.listeners = std::move(listeners);
    opts.max_requests_in_flight = max_in_flight;
    opts.max_bytes_in_flight = max_bytes_in_flight;
    opts.handshake_timeout_ms = handshake_timeout_ms;
    return RunOnIo([&] {
      server_ = std::make_unique<NbdServer>(
          io_, opts,
          [this](std::string_view name, bool) -> Result<ExportRef> {
            std::string n(name);
            OpenMode mode = OpenMode::kReadWrite;
            if (n.size() > 3 && n.ends_with(":ro")) {
              n.resize(n.size() - 3);
              mode = OpenMode::kReadOnly;
            }
            auto it = exports_.find(n);
            if (it == exports_.end()) {
              return MakeError(Errc::kNotFound, "no export named '" + std::string(name) + "'");
            }
            return ExportRef{it->second.get(), mode, std::string(name)};
          },
          [this] {
            std::vector<std::string> names;
            for (auto& [n, e] : exports_) names.push_back(n);
            return names;
          });
      Status st = server_->Start();
      TANDEM_CHECK_MSG(st.ok(), st.error().message.c_str());
      return server_->BoundAddresses();
    });
  }

  void StopServer() {
    std::promise<void> stopped;
    boost::asio::post(io_, [&] { server_->Stop([&] { stopped.set_value(); }); });
    stopped.get_future().get();
    RunOnIo([&] {
      server_.reset();
      return 0;
    });
  }

  // Runs fn on the io thread and returns its result.
  template <class F>
  auto RunOnIo(F fn) -> decltype(fn()) {
    std::promise<decltype(fn())> p;
    boost::asio::post(io_, [&] { p.set_value(fn()); });
    return p.get_future().get();
  }

  size_t ConnectionCount() {
    return RunOnIo([&] { return server_->ConnectionCount(); });
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::map<std::string, std::unique_ptr<MemoryExport>> exports_;
  std::unique_ptr<NbdServer> server_;
};

}  // namespace tandem::nbd::testing
