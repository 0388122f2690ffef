// A small blocking HTTP/1.1 client for the REST API (Boost.Beast; only
// http_client.cc includes it). Used by the CLI and by integration tests.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace tandem::cli {

struct Endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 3370;
};

// "host", "host:port", "[v6]:port", "linstor://host:port", "http://host:port".
Result<Endpoint> ParseEndpoint(const std::string& text);

struct HttpResult {
  int status = 0;
  std::string body;
};

// Errors: kIoError when the controller cannot be reached (connect, timeout).
Result<HttpResult> HttpCall(const Endpoint& endpoint, const std::string& method,
                            const std::string& target, const std::string& body = "",
                            int timeout_seconds = 30);

}  // namespace tandem::cli
