#include "io/transport.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <functional>

namespace tandem::io {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

uint16_t FreePort() {
  asio::io_context ctx;
  tcp::acceptor a(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

struct Recorder : Transport::Handler {
  std::vector<std::string> events;
  std::vector<engine::Message> messages;
  std::function<void(uint8_t)> on_up;
  void OnUp(uint8_t peer) override {
    events.push_back("up " + std::to_string(peer));
    if (on_up) on_up(peer);
  }
  void OnDown(uint8_t peer) override { events.push_back("down " + std::to_string(peer)); }
  void OnMessage(uint8_t, engine::Message m) override { messages.push_back(std::move(m)); }
  int Count(const std::string& e) const {
    return static_cast<int>(std::count(events.begin(), events.end(), e));
  }
};

class TransportTest : public ::testing::Test {
 protected:
  TransportOptions Options(uint8_t self, uint8_t peer, std::string secret = "s3cret") {
    TransportOptions o;
    o.resource = "r0";
    o.self = self;
    o.shared_secret = std::move(secret);
    o.listen = tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_[self]);
    o.peers.push_back({peer, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_[peer])});
    o.ping_int = std::chrono::milliseconds(200);
    o.ping_timeout = std::chrono::milliseconds(200);
    o.min_backoff = std::chrono::milliseconds(10);
    o.max_backoff = std::chrono::milliseconds(50);
    return o;
  }
  // Runs the loop until pred holds or 5 s passed.
  bool RunUntil(const std::function<bool()>& pred) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!pred() && std::chrono::steady_clock::now() < end) {
      ctx_.run_for(std::chrono::milliseconds(5));
    }
    return pred();
  }
  asio::io_context ctx_;
  uint16_t port_[2] = {FreePort(), FreePort()};
};

TEST_F(TransportTest, ConnectsAuthenticatesAndCarriesMessagesOnBothStreams) {
  Recorder ra, rb;
  Transport a(ctx_, Options(0, 1), &ra), b(ctx_, Options(1, 0), &rb);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  a.SetWant(1, true);
  b.SetWant(0, true);
  ASSERT_TRUE(RunUntil([&] { return a.IsUp(1) && b.IsUp(0); }));
  engine::Barrier bar;
  bar.epoch = 7;
  engine::BarrierAck ack;
  ack.epoch = 7;
  a.Send(1, bar);  // data stream
  b.Send(0, ack);  // control stream
  ASSERT_TRUE(RunUntil([&] { return ra.messages.size() == 1 && rb.messages.size() == 1; }));
  EXPECT_EQ(std::get<engine::Barrier>(rb.messages[0]).epoch, 7u);
  EXPECT_EQ(std::get<engine::BarrierAck>(ra.messages[0]).epoch, 7u);
  EXPECT_EQ(ra.Count("up 1"), 1);
  EXPECT_EQ(rb.Count("up 0"), 1);
}

TEST_F(TransportTest, WrongSecretNeverConnects) {
  Recorder ra, rb;
  Transport a(ctx_, Options(0, 1, "one"), &ra), b(ctx_, Options(1, 0, "two"), &rb);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  a.SetWant(1, true);
  b.SetWant(0, true);
  EXPECT_TRUE(
      RunUntil([&] { return a.stats().handshakes_failed + b.stats().handshakes_failed >= 4; }));
  EXPECT_FALSE(a.IsUp(1));
  EXPECT_FALSE(b.IsUp(0));
  EXPECT_TRUE(ra.events.empty());
}

TEST_F(TransportTest, AcceptorThatDoesNotWantRefuses) {
  Recorder ra, rb;
  Transport a(ctx_, Options(0, 1), &ra), b(ctx_, Options(1, 0), &rb);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  a.SetWant(1, true);
  EXPECT_TRUE(RunUntil([&] { return b.stats().handshakes_failed >= 2; }));
  EXPECT_FALSE(a.IsUp(1));
  b.SetWant(0, true);  // now it connects on the next retry
  EXPECT_TRUE(RunUntil([&] { return a.IsUp(1) && b.IsUp(0); }));
}

TEST_F(TransportTest, DropTearsDownBothEndsAndReconnects) {
  Recorder ra, rb;
  Transport a(ctx_, Options(0, 1), &ra), b(ctx_, Options(1, 0), &rb);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  a.SetWant(1, true);
  b.SetWant(0, true);
  ASSERT_TRUE(RunUntil([&] { return a.IsUp(1) && b.IsUp(0); }));
  b.Drop(0);  // the acceptor drops; the dialer notices and redials
  ASSERT_TRUE(RunUntil([&] { return ra.Count("down 1") == 1 && rb.Count("down 0") == 1; }));
  ASSERT_TRUE(RunUntil([&] { return ra.Count("up 1") == 2 && rb.Count("up 0") == 2; }));
}

TEST_F(TransportTest, PeerStopIsNoticed) {
  Recorder ra, rb;
  Transport a(ctx_, Options(0, 1), &ra);
  auto b = std::make_unique<Transport>(ctx_, Options(1, 0), &rb);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b->Start().ok());
  a.SetWant(1, true);
  b->SetWant(0, true);
  ASSERT_TRUE(RunUntil([&] { return a.IsUp(1); }));
  b.reset();
  EXPECT_TRUE(RunUntil([&] { return ra.Count("down 1") == 1; }));
  EXPECT_FALSE(a.IsUp(1));
}

TEST_F(TransportTest, DropFaultSwallowsOneMessageType) {
  Recorder ra, rb;
  Transport a(ctx_, Options(0, 1), &ra), b(ctx_, Options(1, 0), &rb);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  a.SetWant(1, true);
  b.SetWant(0, true);
  ASSERT_TRUE(RunUntil([&] { return a.IsUp(1) && b.IsUp(0); }));
  a.SetSendFault(engine::MsgType::kBarrier, 255, SendFault::kDrop, {});
  a.Send(1, engine::Barrier{});
  a.Send(1, engine::OutOfSync{});
  ASSERT_TRUE(RunUntil([&] { return !rb.messages.empty(); }));
  ctx_.run_for(std::chrono::milliseconds(50));
  ASSERT_EQ(rb.messages.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<engine::OutOfSync>(rb.messages[0]));
}

TEST(ParseEndpointTest, AcceptsIpv4AndIpv6AndRejectsGarbage) {
  EXPECT_EQ(ParseEndpoint("127.0.0.11:7000")->port(), 7000);
  EXPECT_TRUE(ParseEndpoint("[::1]:7001")->address().is_v6());
  EXPECT_FALSE(ParseEndpoint("127.0.0.1").ok());
  EXPECT_FALSE(ParseEndpoint("127.0.0.1:0").ok());
  EXPECT_FALSE(ParseEndpoint("127.0.0.1:70000").ok());
  EXPECT_FALSE(ParseEndpoint("host:7000").ok());
}

}  // namespace
}  // namespace tandem::io
