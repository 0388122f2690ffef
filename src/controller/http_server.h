// HttpServer: HTTP/1.1 on one io_context thread (Boost.Beast), handing each
// request to a handler. Keep-alive, a body limit, idle timeouts. Only
// http_server.cc includes Beast.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "controller/rest_api.h"

namespace tandem::controller {

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  explicit HttpServer(Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; port 0 picks a free port. Returns the bound port.
  Result<uint16_t> Start(const std::string& address, uint16_t port);
  // Serves until Stop() or SIGINT/SIGTERM. Runs the handler on this thread.
  void Run();
  // Thread-safe; makes Run() return after in-flight requests are answered.
  void Stop();
  // Runs `tick` on the serving thread every `period` while Run() runs (the
  // handler and the tick never run at the same time). Call before Run().
  void Every(std::chrono::milliseconds period, std::function<void()> tick);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "ADDR:PORT", ":PORT", "[v6]:PORT" or "ADDR" (default port).
Result<std::pair<std::string, uint16_t>> ParseListenAddress(const std::string& text,
                                                            uint16_t default_port);

}  // namespace tandem::controller
