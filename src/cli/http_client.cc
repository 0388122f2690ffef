#include "cli/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

namespace tandem::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

Result<Endpoint> ParseEndpoint(const std::string& text) {
  std::string rest = text;
  for (const char* scheme : {"linstor://", "http://"}) {
    if (rest.rfind(scheme, 0) == 0) rest = rest.substr(std::string(scheme).size());
  }
  if (rest.rfind("linstor+ssl://", 0) == 0 || rest.rfind("https://", 0) == 0) {
    return MakeError(Errc::kUnsupported, "TLS controllers are not supported yet: '" + text + "'");
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  Endpoint e;
  std::string port_text;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos)
      return MakeError(Errc::kInvalidArgument, "bad controller '" + text + "'");
    e.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port_text = rest.substr(close + 2);
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    e.host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
  } else {
    e.host = rest;
  }
  if (e.host.empty()) return MakeError(Errc::kInvalidArgument, "bad controller '" + text + "'");
  if (!port_text.empty()) {
    char* end = nullptr;
    long p = std::strtol(port_text.c_str(), &end, 10);
    if (*end != '\0' || p < 1 || p > 65535)
      return MakeError(Errc::kInvalidArgument, "bad port in '" + text + "'");
    e.port = static_cast<uint16_t>(p);
  }
  return e;
}

Result<HttpResult> HttpCall(const Endpoint& endpoint, const std::string& method,
                            const std::string& target, const std::string& body,
                            int timeout_seconds) {
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(timeout_seconds));
    auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port));
    stream.connect(results);
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, endpoint.host);
    req.set(http::field::user_agent, "tandem-cli");
    req.set(http::field::content_type, "application/json");
    req.keep_alive(false);
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256ull << 20);
    http::read(stream, buffer, parser);
    beast::error_code ec;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    return HttpResult{static_cast<int>(parser.get().result_int()), parser.get().body()};
  } catch (const std::exception& e) {
    return MakeError(Errc::kIoError, "cannot reach controller " + endpoint.host + ":" +
                                         std::to_string(endpoint.port) + ": " + e.what());
  }
}

}  // namespace tandem::cli
