#include "controller/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <csignal>

namespace tandem::controller {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpServer::Impl {
  explicit Impl(Handler h) : handler(std::move(h)), acceptor(io), signals(io, SIGINT, SIGTERM) {}

  asio::awaitable<void> Accept() {
    for (;;) {
      tcp::socket socket(io);
      boost::system::error_code ec;
      co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (!acceptor.is_open()) co_return;
        continue;
      }
      asio::co_spawn(io, Session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> Session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(RestApi::kMaxBodyBytes);
      stream.expires_after(std::chrono::seconds(120));
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      HttpResponse response;
      bool keep_alive = false;
      unsigned version = 11;
      if (ec == http::error::body_limit) {
        response = HttpResponse{
            413, "application/json",
            R"([{"ret_code":-4611686018427387907,"message":"The request body is too large."}])"};
      } else if (ec) {
        break;  // closed, timed out or not HTTP
      } else {
        auto& req = parser.get();
        version = req.version();
        keep_alive = req.keep_alive();
        HttpRequest r{std::string(req.method_string()), std::string(req.target()),
                      std::move(req.body())};
        response = handler(r);
      }
      http::response<http::string_body> res{static_cast<http::status>(response.status), version};
      res.set(http::field::server, "tandem-controller");
      res.set(http::field::content_type, response.content_type);
      res.keep_alive(keep_alive);
      res.body() = std::move(response.body);
      res.prepare_payload();
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !keep_alive) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  Handler handler;
  asio::io_context io{1};
  tcp::acceptor acceptor;
  asio::signal_set signals;
  std::vector<std::shared_ptr<std::function<void()>>> tickers;
};

HttpServer::HttpServer(Handler handler) : impl_(std::make_unique<Impl>(std::move(handler))) {}
HttpServer::~HttpServer() = default;

Result<uint16_t> HttpServer::Start(const std::string& address, uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address.empty() ? "0.0.0.0" : address, ec);
  if (ec) return MakeError(Errc::kInvalidArgument, "invalid listen address '" + address + "'");
  tcp::endpoint endpoint(addr, port);
  auto& acc = impl_->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError(Errc::kIoError, "cannot listen on " + address + ":" + std::to_string(port) +
                                         ": " + ec.message());
  }
  asio::co_spawn(impl_->io, impl_->Accept(), asio::detached);
  impl_->signals.async_wait([this](const boost::system::error_code& e, int) {
    if (!e) Stop();
  });
  return acc.local_endpoint().port();
}

void HttpServer::Run() { impl_->io.run(); }

void HttpServer::Every(std::chrono::milliseconds period, std::function<void()> tick) {
  auto timer = std::make_shared<asio::steady_timer>(impl_->io);
  auto loop = std::make_shared<std::function<void()>>();
  *loop = [timer, period, tick = std::move(tick), weak = std::weak_ptr(loop)]() {
    timer->expires_after(period);
    timer->async_wait([tick, weak](const boost::system::error_code& e) {
      if (e) return;
      tick();
      if (auto l = weak.lock()) (*l)();
    });
  };
  impl_->tickers.push_back(loop);
  (*loop)();
}

void HttpServer::Stop() {
  asio::post(impl_->io, [this] {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    impl_->signals.cancel(ec);
    impl_->io.stop();
  });
}

Result<std::pair<std::string, uint16_t>> ParseListenAddress(const std::string& text,
                                                            uint16_t default_port) {
  std::string host = text;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos)
      return MakeError(Errc::kInvalidArgument, "bad address '" + text + "'");
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':')
        return MakeError(Errc::kInvalidArgument, "bad address '" + text + "'");
      port_text = text.substr(close + 2);
    }
  } else if (auto colon = text.rfind(':'); colon != std::string::npos && text.find(':') == colon) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (host.empty()) host = "0.0.0.0";
  uint16_t port = default_port;
  if (!port_text.empty()) {
    char* end = nullptr;
    long p = std::strtol(port_text.c_str(), &end, 10);
    if (*end != '\0' || p < 0 || p > 65535) {
      return MakeError(Errc::kInvalidArgument, "bad port in '" + text + "'");
    }
    port = static_cast<uint16_t>(p);
  }
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) return MakeError(Errc::kInvalidArgument, "'" + host + "' is not an IP address");
  return std::make_pair(host, port);
}

}  // namespace tandem::controller
