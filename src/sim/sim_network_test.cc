#include "sim/sim_network.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace tandem::sim {
namespace {

using engine::Message;
using engine::MsgType;

// Classifies messages without the engine's protocol.cc: Data travels on the
// data stream, everything else on the control stream; no codec.
class FakeWire : public WireModel {
 public:
  MsgType TypeOf(const Message& msg) const override {
    return std::visit([](const auto& m) { return std::decay_t<decltype(m)>::kType; }, msg);
  }
  engine::StreamKind StreamOf(MsgType type) const override {
    return type == MsgType::kData ? engine::StreamKind::kData : engine::StreamKind::kControl;
  }
  Result<Message> Transfer(Message msg) const override {
    if (TypeOf(msg) == reject) return MakeError(Errc::kCorrupt, "rejected by the fake codec");
    return msg;
  }
  MsgType reject = MsgType::kHello;
};

struct Received {
  Time at;
  NodeId self, peer;
  std::string what;  // "up", "down", "data <id>", "ack <id>"
};

class Recorder : public NetEndpoint {
 public:
  void OnTransportUp(NodeId self, NodeId peer) override { Add(self, peer, "up"); }
  void OnTransportDown(NodeId self, NodeId peer) override { Add(self, peer, "down"); }
  void OnMessage(NodeId self, NodeId peer, Message msg) override {
    if (auto* d = std::get_if<engine::Data>(&msg)) {
      Add(self, peer, "data " + std::to_string(d->id));
    } else if (auto* a = std::get_if<engine::WriteAck>(&msg)) {
      Add(self, peer, "ack " + std::to_string(a->id));
    } else {
      Add(self, peer, "other");
    }
  }
  std::vector<std::string> For(NodeId self, const std::string& prefix = "") const {
    std::vector<std::string> out;
    for (const Received& r : log) {
      if (r.self == self && r.what.rfind(prefix, 0) == 0) out.push_back(r.what);
    }
    return out;
  }
  int Count(NodeId self, const std::string& what) const {
    int n = 0;
    for (const Received& r : log) n += r.self == self && r.what == what;
    return n;
  }
  std::vector<Received> log;
  Simulation* sim = nullptr;

 private:
  void Add(NodeId self, NodeId peer, std::string what) {
    log.push_back(Received{sim->now(), self, peer, std::move(what)});
  }
};

Message DataMsg(uint64_t id) {
  engine::Data d;
  d.id = id;
  return d;
}
Message AckMsg(uint64_t id) {
  engine::WriteAck a;
  a.id = id;
  return a;
}

const NodeId kA(0), kB(1), kC(2);

class SimNetworkTest : public ::testing::Test {
 protected:
  SimNetworkTest() { Reset(1); }
  void Reset(uint64_t seed, NetworkOptions options = {}) {
    net_.reset();
    sim_ = std::make_unique<Simulation>(seed);
    rec_ = Recorder();
    rec_.sim = sim_.get();
    net_ = std::make_unique<SimNetwork>(sim_.get(), 3, &wire_, &rec_, options);
  }
  void RunFor(Time t) { sim_->RunUntil(sim_->now() + t); }
  void ConnectAB() {
    net_->SetWant(kA, kB, true);
    net_->SetWant(kB, kA, true);
    RunFor(kSec);
    ASSERT_TRUE(net_->connected(kA, kB));
  }

  FakeWire wire_;
  std::unique_ptr<Simulation> sim_;
  Recorder rec_;
  std::unique_ptr<SimNetwork> net_;
};

TEST_F(SimNetworkTest, NoConnectionUntilBothEndsWantIt) {
  net_->SetWant(kA, kB, true);
  RunFor(kSec);
  EXPECT_FALSE(net_->connected(kA, kB));
  EXPECT_TRUE(rec_.log.empty());
  net_->SetWant(kB, kA, true);
  RunFor(kSec);
  EXPECT_TRUE(net_->connected(kA, kB));
  EXPECT_EQ(rec_.For(kA), (std::vector<std::string>{"up"}));
  EXPECT_EQ(rec_.For(kB), (std::vector<std::string>{"up"}));
}

TEST_F(SimNetworkTest, EstablishingTakesTheConnectDelay) {
  NetworkOptions o;
  o.min_connect_delay = 5 * kMs;
  o.max_connect_delay = 6 * kMs;
  Reset(1, o);
  net_->SetWant(kA, kB, true);
  net_->SetWant(kB, kA, true);
  RunFor(4 * kMs);
  EXPECT_FALSE(net_->connected(kA, kB));
  RunFor(3 * kMs);
  EXPECT_TRUE(net_->connected(kA, kB));
}

TEST_F(SimNetworkTest, OneStreamDeliversInOrder) {
  ConnectAB();
  for (uint64_t i = 0; i < 200; ++i) net_->Send(kA, kB, DataMsg(i));
  RunFor(kSec);
  std::vector<std::string> got = rec_.For(kB, "data");
  ASSERT_EQ(got.size(), 200u);
  for (uint64_t i = 0; i < 200; ++i) EXPECT_EQ(got[i], "data " + std::to_string(i));
}

TEST_F(SimNetworkTest, ControlStreamMayOvertakeDataStream) {
  bool overtaken = false;
  for (uint64_t seed = 1; seed <= 20 && !overtaken; ++seed) {
    Reset(seed);
    ConnectAB();
    net_->Send(kA, kB, DataMsg(1));
    net_->Send(kA, kB, AckMsg(2));
    RunFor(kSec);
    overtaken = rec_.For(kB, "ack") == std::vector<std::string>{"ack 2"} &&
                rec_.For(kB).size() == 3 && rec_.For(kB)[1] == "ack 2";
  }
  EXPECT_TRUE(overtaken);
}

TEST_F(SimNetworkTest, MessagesWithoutAConnectionAreLost) {
  net_->Send(kA, kB, DataMsg(1));
  RunFor(kSec);
  EXPECT_TRUE(rec_.For(kB).empty());
  EXPECT_EQ(net_->stats().lost, 1u);
}

TEST_F(SimNetworkTest, OneWayCutBreaksTheConnectionForBothEnds) {
  ConnectAB();
  net_->SetLink(kA, kB, false);
  EXPECT_TRUE(net_->link_up(kB, kA));
  RunFor(kSec);
  EXPECT_EQ(rec_.Count(kA, "down"), 1);
  EXPECT_EQ(rec_.Count(kB, "down"), 1);
  EXPECT_FALSE(net_->connected(kA, kB));
}

TEST_F(SimNetworkTest, NoReconnectWhileALinkIsDownThenReconnectAfterHeal) {
  ConnectAB();
  net_->SetLink(kB, kA, false);
  RunFor(10 * kSec);
  EXPECT_EQ(rec_.Count(kA, "up"), 1);
  net_->SetLink(kB, kA, true);
  RunFor(kSec);
  EXPECT_EQ(rec_.Count(kA, "up"), 2);
  EXPECT_EQ(rec_.Count(kB, "up"), 2);
  EXPECT_EQ(net_->instance(kA, kB), 3u);  // connect, break, reconnect
}

TEST_F(SimNetworkTest, InFlightMessagesOfABrokenConnectionAreDiscarded) {
  ConnectAB();
  for (uint64_t i = 0; i < 10; ++i) net_->Send(kA, kB, DataMsg(i));
  net_->Drop(kA, kB);
  RunFor(kSec);
  EXPECT_TRUE(rec_.For(kB, "data").empty());
  EXPECT_EQ(rec_.Count(kB, "up"), 2);  // both still want it: reconnected
}

TEST_F(SimNetworkTest, TheDroppingEndHearsFirst) {
  NetworkOptions o;
  o.min_detect_delay = 50 * kMs;
  o.max_detect_delay = 60 * kMs;
  Reset(1, o);
  ConnectAB();
  net_->Drop(kB, kA);
  RunFor(kSec);
  ASSERT_EQ(rec_.Count(kA, "down"), 1);
  ASSERT_EQ(rec_.Count(kB, "down"), 1);
  Time a_down = 0, b_down = 0;
  for (const Received& r : rec_.log) {
    if (r.what == "down") (r.self == kA ? a_down : b_down) = r.at;
  }
  EXPECT_LT(b_down, a_down);
}

TEST_F(SimNetworkTest, NoNewConnectionBeforeBothEndsHeardTheOldOneGoDown) {
  ConnectAB();
  net_->Drop(kA, kB);
  RunFor(kSec);
  // Per end, the callbacks alternate: up, down, up.
  EXPECT_EQ(rec_.For(kA), (std::vector<std::string>{"up", "down", "up"}));
  EXPECT_EQ(rec_.For(kB), (std::vector<std::string>{"up", "down", "up"}));
}

TEST_F(SimNetworkTest, NotWantingAnyMoreClosesTheConnection) {
  ConnectAB();
  net_->SetWant(kA, kB, false);
  RunFor(kSec);
  EXPECT_EQ(rec_.Count(kA, "down"), 1);
  EXPECT_EQ(rec_.Count(kB, "down"), 1);
  EXPECT_EQ(rec_.Count(kA, "up"), 1);
}

TEST_F(SimNetworkTest, ACrashedNodeHearsNothingAndItsPeerHearsDown) {
  ConnectAB();
  net_->Send(kB, kA, DataMsg(1));
  net_->NodeCrashed(kA);
  RunFor(kSec);
  EXPECT_EQ(rec_.For(kA), (std::vector<std::string>{"up"}));
  EXPECT_EQ(rec_.Count(kB, "down"), 1);
  // Restarted, it connects again once it wants to.
  net_->NodeStarted(kA);
  net_->SetWant(kA, kB, true);
  RunFor(kSec);
  EXPECT_EQ(rec_.Count(kA, "up"), 2);
}

TEST_F(SimNetworkTest, SilentCutHoldsMessagesUntilHealed) {
  ConnectAB();
  net_->SetLink(kA, kB, false, /*silent=*/true);
  for (uint64_t i = 0; i < 5; ++i) net_->Send(kA, kB, DataMsg(i));
  net_->Send(kB, kA, AckMsg(9));
  RunFor(10 * kSec);
  EXPECT_TRUE(net_->connected(kA, kB));
  EXPECT_TRUE(rec_.For(kB, "data").empty());
  EXPECT_EQ(rec_.For(kA, "ack"), (std::vector<std::string>{"ack 9"}));
  net_->SetLink(kA, kB, true);
  net_->Send(kA, kB, DataMsg(5));
  RunFor(kSec);
  EXPECT_EQ(rec_.For(kB, "data"),
            (std::vector<std::string>{"data 0", "data 1", "data 2", "data 3", "data 4", "data 5"}));
}

TEST_F(SimNetworkTest, SilentCutMessagesAreLostWhenTheConnectionIsDropped) {
  ConnectAB();
  net_->SetLink(kA, kB, false, /*silent=*/true);
  net_->Send(kA, kB, DataMsg(1));
  RunFor(kSec);
  net_->Drop(kB, kA);  // the engine's timeout noticed
  RunFor(kSec);
  net_->SetLink(kA, kB, true);
  RunFor(kSec);
  EXPECT_TRUE(rec_.For(kB, "data").empty());
  EXPECT_EQ(rec_.Count(kB, "up"), 2);
}

TEST_F(SimNetworkTest, MessageFaultDropsOnlyThatTypeOnThatLink) {
  ConnectAB();
  net_->SetWant(kA, kC, true);
  net_->SetWant(kC, kA, true);
  RunFor(kSec);
  net_->SetMsgFault(kA, kB, MsgType::kData, MsgFault::kDrop);
  net_->Send(kA, kB, DataMsg(1));
  net_->Send(kA, kB, AckMsg(2));
  net_->Send(kB, kA, DataMsg(3));
  net_->Send(kA, kC, DataMsg(4));
  RunFor(kSec);
  EXPECT_EQ(rec_.For(kB), (std::vector<std::string>{"up", "ack 2"}));
  EXPECT_EQ(rec_.For(kA, "data"), (std::vector<std::string>{"data 3"}));
  EXPECT_EQ(rec_.For(kC, "data"), (std::vector<std::string>{"data 4"}));
  net_->SetMsgFault(kA, kB, MsgType::kData, MsgFault::kNone);
  net_->Send(kA, kB, DataMsg(5));
  RunFor(kSec);
  EXPECT_EQ(rec_.For(kB, "data"), (std::vector<std::string>{"data 5"}));
}

TEST_F(SimNetworkTest, MessageFaultDelaysThatType) {
  ConnectAB();
  net_->SetMsgFault(kA, kB, MsgType::kWriteAck, MsgFault::kDelay, 5 * kSec);
  Time sent = sim_->now();
  net_->Send(kA, kB, AckMsg(1));
  RunFor(10 * kSec);
  ASSERT_EQ(rec_.For(kB, "ack").size(), 1u);
  EXPECT_GE(rec_.log.back().at - sent, 5 * kSec);
}

TEST_F(SimNetworkTest, CodecErrorsAreReported) {
  ConnectAB();
  std::string error;
  net_->SetErrorHandler([&](const std::string& e) { error = e; });
  wire_.reject = MsgType::kData;
  net_->Send(kA, kB, DataMsg(1));
  RunFor(kSec);
  EXPECT_NE(error.find("rejected by the fake codec"), std::string::npos);
  EXPECT_TRUE(rec_.For(kB, "data").empty());
}

TEST_F(SimNetworkTest, HealAllRestoresEveryLink) {
  ConnectAB();
  net_->SetLink(kA, kB, false);
  net_->SetMsgFault(kB, kA, MsgType::kData, MsgFault::kDrop);
  EXPECT_TRUE(net_->has_faults());
  net_->HealAll();
  EXPECT_FALSE(net_->has_faults());
  RunFor(kSec);
  EXPECT_TRUE(net_->connected(kA, kB));
}

TEST_F(SimNetworkTest, TheSameSeedGivesTheSameDeliveries) {
  auto run = [&](uint64_t seed) {
    Reset(seed);
    ConnectAB();
    for (uint64_t i = 0; i < 20; ++i) {
      net_->Send(kA, kB, i % 3 ? DataMsg(i) : AckMsg(i));
    }
    RunFor(kSec);
    std::vector<std::pair<Time, std::string>> out;
    for (const Received& r : rec_.log) out.emplace_back(r.at, r.what);
    return out;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

}  // namespace
}  // namespace tandem::sim
