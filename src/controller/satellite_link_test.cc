// SatelliteHub against an in-test satellite speaking satproto over real TCP
// on 127.0.0.1 (docs/satellite-protocol.md: handshake, node states, full
// sync on every connect, updates, reports), and the desired state computed
// from the model (desired.h).
#include "controller/satellite_link.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "controller/desired.h"
#include "controller/names.h"

namespace tandem::controller {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// One satellite endpoint: accepts the hub's connections one after another and
// queues what it receives.
class FakeSatellite {
 public:
  FakeSatellite() : acceptor_(ctx_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeSatellite() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    // shutdown() wakes a thread blocked in accept(); close() alone does not.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    CloseConnection();
    thread_.join();
    boost::system::error_code ec;
    acceptor_.close(ec);
  }
  int port() const { return acceptor_.local_endpoint().port(); }

  // The next message of this type (others are dropped), or an empty object.
  json::object Next(const std::string& type, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> l(mu_);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      while (!inbox_.empty()) {
        json::object m = std::move(inbox_.front());
        inbox_.pop_front();
        if (satproto::TypeOf(m) == type) return m;
      }
      if (cv_.wait_until(l, deadline) == std::cv_status::timeout && inbox_.empty()) return {};
    }
  }
  void Send(const json::object& m) {
    std::lock_guard<std::mutex> l(mu_);
    if (!sock_) return;
    std::string f = satproto::EncodeFrame(m);
    boost::system::error_code ec;
    asio::write(*sock_, asio::buffer(f), ec);
  }
  void CloseConnection() {
    std::lock_guard<std::mutex> l(mu_);
    if (sock_) {
      boost::system::error_code ec;
      sock_->shutdown(tcp::socket::shutdown_both, ec);
    }
  }
  int connections() {
    std::lock_guard<std::mutex> l(mu_);
    return connections_;
  }

 private:
  void Loop() {
    for (;;) {
      auto s = std::make_shared<tcp::socket>(ctx_);
      boost::system::error_code ec;
      acceptor_.accept(*s, ec);
      if (ec) return;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (stop_) return;
        sock_ = s;
        ++connections_;
      }
      satproto::FrameDecoder dec;
      char buf[4096];
      for (;;) {
        size_t n = s->read_some(asio::buffer(buf), ec);
        if (ec) break;
        dec.Feed(buf, n);
        for (;;) {
          Result<json::object> m = dec.Next();
          if (!m.ok()) break;
          std::lock_guard<std::mutex> l(mu_);
          inbox_.push_back(std::move(*m));
          cv_.notify_all();
        }
      }
      std::lock_guard<std::mutex> l(mu_);
      sock_.reset();
    }
  }

  asio::io_context ctx_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<json::object> inbox_;
  std::shared_ptr<tcp::socket> sock_;
  int connections_ = 0;
  bool stop_ = false;
};

HubOptions FastOptions() {
  HubOptions o;
  o.cluster_id = "c0ffee";
  o.ping_interval_ms = 100;
  o.silence_timeout_ms = 2000;
  o.backoff_min_ms = 50;
  o.backoff_max_ms = 200;
  return o;
}

satproto::ResourceDesired Rsc(const std::string& name, int port) {
  satproto::ResourceDesired r;
  r.name = name;
  r.port = port;
  r.nodes = {{"alpha", 0, "127.0.0.1", false, false}};
  r.volumes = {{0, 1024, 1000, "pool1"}};
  return r;
}

std::string StatusOf(const SatelliteHub& hub, const std::string& node) {
  ObservedMap m = hub.Observed();
  auto it = m.find(node);
  return it == m.end() ? "" : it->second->status;
}

bool WaitStatus(const SatelliteHub& hub, const std::string& node, const std::string& want) {
  for (int i = 0; i < 300; ++i) {
    if (StatusOf(hub, node) == want) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

void Hello(FakeSatellite& sat, const std::string& node, int protocol = 1) {
  satproto::Hello h;
  h.protocol = protocol;
  h.node = node;
  h.version = "test";
  sat.Send(satproto::ToJson(h));
}

TEST(SatelliteHubTest, HandshakeFullSyncUpdatesAndReports) {
  FakeSatellite sat;
  SatelliteHub hub(FastOptions());
  hub.SetNode("alpha", SatelliteEndpoint{"127.0.0.1", sat.port()},
              {{"pool1", "FILE_THIN", {{"StorDriver/FileDir", "/srv/p"}}}},
              {{"vol1", Rsc("vol1", 7000)}});
  EXPECT_EQ(StatusOf(hub, "alpha"), kOffline);
  hub.Start();

  json::object hello = sat.Next("hello");
  ASSERT_FALSE(hello.empty());
  EXPECT_EQ(hello.at("node"), "alpha");
  EXPECT_EQ(hello.at("cluster_id"), "c0ffee");
  Hello(sat, "ALPHA");  // names compare case-insensitively

  json::object full = sat.Next("full_sync");
  ASSERT_FALSE(full.empty());
  Result<satproto::FullSync> fs = satproto::FullSyncFromJson(full);
  ASSERT_TRUE(fs.ok()) << fs.error().message;
  EXPECT_EQ(fs->cluster_id, "c0ffee");
  ASSERT_EQ(fs->resources.size(), 1u);
  EXPECT_EQ(fs->resources[0].name, "vol1");
  ASSERT_EQ(fs->pools.size(), 1u);
  ASSERT_TRUE(WaitStatus(hub, "alpha", kConnected));

  // ONLINE once the full sync is applied.
  sat.Send(satproto::ToJson(satproto::Applied{fs->generation, {}}));
  ASSERT_TRUE(WaitStatus(hub, "alpha", kOnline));

  // A change goes out as an update with the next generation; an unchanged
  // resource is not sent again.
  hub.SetResources({NameKey("vol1"), NameKey("vol2")},
                   {{"alpha", {{NameKey("vol1"), Rsc("vol1", 7000)},
                               {NameKey("vol2"), Rsc("vol2", 7001)}}}});
  Result<satproto::Update> u = satproto::UpdateFromJson(sat.Next("update"));
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->generation, fs->generation + 1);
  ASSERT_EQ(u->upsert.size(), 1u);
  EXPECT_EQ(u->upsert[0].name, "vol2");
  EXPECT_TRUE(u->remove.empty());

  hub.SetResources({NameKey("vol1")}, {});
  Result<satproto::Update> del = satproto::UpdateFromJson(sat.Next("update"));
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->remove, std::vector<std::string>{"vol1"});

  // Reports land in the observed state; an apply error is kept per resource.
  satproto::Report rep;
  rep.full = true;
  rep.pools = {{"pool1", "FILE_THIN", 1000, 600, true, ""}};
  satproto::ResourceState st;
  st.name = "vol2";
  st.role = "Secondary";
  st.volumes = {{0, "UpToDate", 1024, 4, "nbd+unix:///vol2/0?socket=/x", ""}};
  rep.resources = {st};
  sat.Send(satproto::ToJson(rep));
  sat.Send(satproto::ToJson(satproto::Applied{del->generation, {{"vol3", "no pool"}}}));
  std::shared_ptr<const ObservedNode> obs;
  for (int i = 0; i < 300; ++i) {
    obs = hub.Observed().at("alpha");
    if (obs->resources.count("vol2") && obs->apply_errors.count("vol3")) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(obs->resources.count("vol2"));
  EXPECT_EQ(obs->resources.at("vol2").volumes.at(0).disk_state, "UpToDate");
  ASSERT_TRUE(obs->pools.count("pool1"));
  EXPECT_EQ(obs->pools.at("pool1").free_kib, 600);
  EXPECT_EQ(obs->apply_errors.at("vol3"), "no pool");

  // Pings are answered by nothing here, but frames keep coming, so the
  // connection stays up; the hub pings.
  EXPECT_FALSE(sat.Next("ping").empty());
}

TEST(SatelliteHubTest, ReconnectsAndSendsTheWholeStateAgain) {
  FakeSatellite sat;
  SatelliteHub hub(FastOptions());
  hub.SetNode("alpha", SatelliteEndpoint{"127.0.0.1", sat.port()}, {},
              {{"vol1", Rsc("vol1", 7000)}});
  hub.Start();
  ASSERT_FALSE(sat.Next("hello").empty());
  Hello(sat, "alpha");
  Result<satproto::FullSync> first = satproto::FullSyncFromJson(sat.Next("full_sync"));
  ASSERT_TRUE(first.ok());
  sat.Send(satproto::ToJson(satproto::Applied{first->generation, {}}));
  ASSERT_TRUE(WaitStatus(hub, "alpha", kOnline));

  sat.CloseConnection();
  ASSERT_TRUE(WaitStatus(hub, "alpha", kOffline));
  // A change while offline is not lost: the next full sync carries it.
  hub.SetResources({NameKey("vol2")}, {{"alpha", {{NameKey("vol2"), Rsc("vol2", 7001)}}}});
  ASSERT_FALSE(sat.Next("hello").empty());
  Hello(sat, "alpha");
  Result<satproto::FullSync> second = satproto::FullSyncFromJson(sat.Next("full_sync"));
  ASSERT_TRUE(second.ok());
  EXPECT_GT(second->generation, first->generation);
  ASSERT_EQ(second->resources.size(), 2u);
  EXPECT_EQ(sat.connections(), 2);
}

TEST(SatelliteHubTest, RefusedSatellitesShowWhy) {
  FakeSatellite sat;
  SatelliteHub hub(FastOptions());
  hub.SetNode("alpha", SatelliteEndpoint{"127.0.0.1", sat.port()}, {}, {});
  hub.Start();
  ASSERT_FALSE(sat.Next("hello").empty());
  Hello(sat, "bravo");
  ASSERT_TRUE(WaitStatus(hub, "alpha", "HOSTNAME_MISMATCH"));
  EXPECT_NE(hub.Observed().at("alpha")->message.find("bravo"), std::string::npos);

  ASSERT_FALSE(sat.Next("hello").empty());  // retried
  Hello(sat, "alpha", 2);
  ASSERT_TRUE(WaitStatus(hub, "alpha", "VERSION_MISMATCH"));

  ASSERT_FALSE(sat.Next("hello").empty());
  Hello(sat, "alpha");
  ASSERT_FALSE(sat.Next("full_sync").empty());
  sat.Send(satproto::ErrorMessage("OTHER_CONTROLLER", "this node belongs to cluster x"));
  ASSERT_TRUE(WaitStatus(hub, "alpha", "OTHER_CONTROLLER"));
}

TEST(SatelliteHubTest, NodesWithoutEndpointAreNotDialedAndRemovedNodesGo) {
  SatelliteHub hub(FastOptions());
  hub.SetNode("aux", std::nullopt, {}, {});
  hub.Start();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(StatusOf(hub, "aux"), kOffline);
  hub.RetainNodes({});
  EXPECT_TRUE(hub.Observed().empty());
}

// ---- desired state from the model -------------------------------------------

TEST(DesiredTest, DrbdOptionsBySection) {
  Props props{{"DrbdOptions/Net/protocol", "C"},
              {"DrbdOptions/Resource/quorum", "majority"},
              {"DrbdOptions/PeerDevice/c-max-rate", "100M"},
              {"DrbdOptions/Disk/on-io-error", "detach"},
              {"DrbdOptions/auto-quorum", "io-error"},
              {"DrbdOptions/AutoEvictAllowEviction", "true"},
              {"DrbdOptions/Handlers/split-brain", "/bin/true"},
              {"Aux/rack", "1"}};
  Props weaker{{"DrbdOptions/Net/protocol", "A"}, {"DrbdOptions/Net/ping-int", "3"}};
  satproto::DrbdOptions o = DrbdOptionsOf({{"resource", &props}, {"controller", &weaker}});
  EXPECT_EQ(o["net"]["protocol"], "C");  // the stronger level wins
  EXPECT_EQ(o["net"]["ping-int"], "3");
  EXPECT_EQ(o["resource"]["quorum"], "majority");
  EXPECT_EQ(o["peer-device"]["c-max-rate"], "100M");
  EXPECT_EQ(o["disk"]["on-io-error"], "detach");
  EXPECT_EQ(o["peer-device"]["c-fill-target"], kManagedFillTargetSectors);  // the default
  EXPECT_EQ(o["net"]["max-buffers"], kManagedMaxBuffers);                    // the default
  EXPECT_EQ(o.size(), 4u);  // no handlers, no controller-only settings
  Props own{{"DrbdOptions/Disk/c-fill-target", "100"}, {"DrbdOptions/Net/max-buffers", "2048"}};
  satproto::DrbdOptions d = DrbdOptionsOf({{"resource", &own}});
  EXPECT_EQ(d["disk"]["c-fill-target"], "100") << "a property wins over the default";
  EXPECT_FALSE(d["peer-device"].count("c-fill-target"));
  EXPECT_EQ(d["net"]["max-buffers"], "2048");
}

TEST(DesiredTest, EveryNodeOfAResourceGetsItsPart) {
  Cluster c;
  Txn t(&c);
  for (auto [name, ip] : {std::pair{"alpha", "127.0.0.11"}, std::pair{"bravo", "127.0.0.12"},
                          std::pair{"charlie", "127.0.0.13"}}) {
    Node n;
    n.name = name;
    n.net_interfaces = {{"default", ip, 3366, "PLAIN", true, ""}};
    t.Put(c.nodes, NodeKey(name), n);
  }
  ResourceDefinition rd;
  rd.name = "vol1";
  rd.port = 7005;
  rd.secret = "s";
  t.Put(c.rds, NodeKey("vol1"), rd);
  VolumeDefinition vd;
  vd.rd_name = "vol1";
  vd.size_kib = 4096;
  vd.minor = 1001;
  t.Put(c.vds, VdKey("vol1", 0), vd);
  int id = 0;
  for (const char* node : {"alpha", "bravo", "charlie"}) {
    Resource r;
    r.rd_name = "vol1";
    r.node_name = node;
    r.node_id = id++;
    r.storage_pool = std::string(node) == "charlie" ? kDefaultDisklessPool : "pool1";
    if (std::string(node) == "charlie") r.flags = {kFlagTieBreaker};
    t.Put(c.resources, RscKey("vol1", node), r);
  }
  t.Commit();

  auto d = DesiredResource(c, *c.FindRd("vol1"));
  ASSERT_EQ(d.size(), 3u);
  const satproto::ResourceDesired& b = d.at("bravo");
  EXPECT_EQ(b.node_id, 1);
  EXPECT_EQ(b.port, 7005);
  EXPECT_FALSE(b.diskless);
  ASSERT_EQ(b.nodes.size(), 3u);
  EXPECT_EQ(b.nodes[2].address, "127.0.0.13");
  EXPECT_TRUE(b.nodes[2].tiebreaker);
  ASSERT_EQ(b.volumes.size(), 1u);
  EXPECT_EQ(b.volumes[0].size_kib, 4096);
  EXPECT_EQ(b.volumes[0].pool, "pool1");
  EXPECT_TRUE(d.at("charlie").tiebreaker);
  EXPECT_TRUE(d.at("charlie").diskless);

  auto ep = EndpointOf(*c.FindNode("alpha"));
  ASSERT_TRUE(ep.has_value());
  EXPECT_EQ(ep->address, "127.0.0.11");
  Node aux = *c.FindNode("alpha");
  aux.type = NodeType::kAuxiliary;
  EXPECT_FALSE(EndpointOf(aux).has_value());
}

}  // namespace
}  // namespace tandem::controller
