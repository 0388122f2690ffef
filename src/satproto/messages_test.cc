#include "satproto/messages.h"

#include <gtest/gtest.h>

namespace tandem::satproto {
namespace {

namespace json = boost::json;

ResourceDesired SampleResource() {
  ResourceDesired r;
  r.name = "vol1";
  r.port = 7001;
  r.secret = "s3cret";
  r.peer_slots = 7;
  r.node_id = 1;
  r.nodes = {{"n1", 0, "127.0.0.11", false, false},
             {"n2", 1, "127.0.0.12", false, false},
             {"n3", 2, "127.0.0.13", true, true}};
  r.volumes = {{0, 1048576, 1000, "pool1"}};
  r.options["net"]["protocol"] = "C";
  r.options["resource"]["quorum"] = "majority";
  r.block_device = true;
  return r;
}

// Every message survives encode -> frame -> decode unchanged.
json::object RoundTrip(const json::object& o) {
  FrameDecoder d;
  std::string f = EncodeFrame(o);
  d.Feed(f.data(), f.size());
  Result<json::object> m = d.Next();
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
  return m.ok() ? *m : json::object{};
}

TEST(SatProto, FullSyncRoundTrip) {
  FullSync s;
  s.generation = 42;
  s.cluster_id = "c-1";
  s.pools = {{"pool1", "FILE_THIN", {{"StorDriver/FileDir", "/srv/p1"}}}};
  s.resources = {SampleResource()};
  json::object o = RoundTrip(ToJson(s));
  EXPECT_EQ(TypeOf(o), "full_sync");
  Result<FullSync> back = FullSyncFromJson(o);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->generation, 42u);
  EXPECT_EQ(back->cluster_id, "c-1");
  ASSERT_EQ(back->pools.size(), 1u);
  EXPECT_EQ(back->pools[0], s.pools[0]);
  EXPECT_EQ(back->pools[0].Directory(), "/srv/p1");
  ASSERT_EQ(back->resources.size(), 1u);
  EXPECT_EQ(back->resources[0], s.resources[0]);
  ASSERT_NE(back->resources[0].FindNode("n3"), nullptr);
  EXPECT_TRUE(back->resources[0].FindNode("n3")->tiebreaker);
}

TEST(SatProto, UpdateKeepsWhetherPoolsWereSent) {
  Update u;
  u.generation = 7;
  u.upsert = {SampleResource()};
  u.remove = {"old"};
  Result<Update> a = UpdateFromJson(RoundTrip(ToJson(u)));
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->has_pools);
  EXPECT_EQ(a->remove, std::vector<std::string>{"old"});
  u.has_pools = true;  // an empty list still replaces the pools
  Result<Update> b = UpdateFromJson(RoundTrip(ToJson(u)));
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->has_pools);
  EXPECT_TRUE(b->pools.empty());
}

TEST(SatProto, ReportRoundTrip) {
  Report r;
  r.full = true;
  r.pools = {{"pool1", "FILE_THIN", 1000, 500, true, ""}, {"dl", "DISKLESS", {}, {}, false, ""}};
  ResourceState s;
  s.name = "vol1";
  s.role = "Primary";
  s.in_use = true;
  s.volumes = {{0, "UpToDate", 1048576, 4096, "nbd+unix:///vol1/0?socket=/x.sock", ""}};
  s.connections = {{"n2", "Connected", "Secondary", false, {{0, "SyncSource", "Inconsistent", 42.5}}}};
  r.resources = {s};
  r.deleted = {"gone"};
  Result<Report> back = ReportFromJson(RoundTrip(ToJson(r)));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->full);
  EXPECT_EQ(back->pools, r.pools);
  EXPECT_FALSE(back->pools[1].total_kib.has_value());
  EXPECT_EQ(back->resources, r.resources);
  EXPECT_EQ(back->deleted, r.deleted);
}

TEST(SatProto, HelloAndApplied) {
  Hello h{kProtocolVersion, "n1", "cid", ""};
  Result<Hello> hb = HelloFromJson(RoundTrip(ToJson(h)));
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(hb->node, "n1");
  EXPECT_EQ(hb->cluster_id, "cid");
  EXPECT_EQ(hb->protocol, kProtocolVersion);
  // A hello without a protocol field is protocol 0: a mismatch, not version 1.
  Result<Hello> none = HelloFromJson(json::object{{"type", "hello"}});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->protocol, 0);

  Applied a{9, {{"vol1", "pool directory /nope does not exist"}}};
  Result<Applied> ab = AppliedFromJson(RoundTrip(ToJson(a)));
  ASSERT_TRUE(ab.ok());
  EXPECT_EQ(ab->generation, 9u);
  EXPECT_EQ(ab->errors, a.errors);
}

TEST(SatProto, WrongTypesNameTheField) {
  json::object o = ToJson(FullSync{});
  o["resources"] = json::array{json::object{{"name", "r"}, {"port", "seven"}}};
  Result<FullSync> r = FullSyncFromJson(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("port"), std::string::npos) << r.error().message;
  json::object p{{"type", "report"}, {"pools", json::array{json::object{{"name", 3}}}}};
  Result<Report> rp = ReportFromJson(p);
  ASSERT_FALSE(rp.ok());
  EXPECT_NE(rp.error().message.find("name"), std::string::npos);
  // A resource without a name is refused.
  o["resources"] = json::array{json::object{{"port", 1}}};
  EXPECT_FALSE(FullSyncFromJson(o).ok());
}

TEST(SatProto, UnknownFieldsAreIgnored) {
  json::object o = ResourceToJson(SampleResource());
  o["future_field"] = json::array{1, 2};
  Result<ResourceDesired> r = ResourceFromJson(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, SampleResource());
}

TEST(SatProto, FrameDecoderHandlesSplitsAndSeveralFrames) {
  std::string both = EncodeFrame(Ping(1)) + EncodeFrame(Pong(2));
  FrameDecoder d;
  // Byte by byte: nothing until the first frame is complete.
  size_t first = EncodeFrame(Ping(1)).size();
  for (size_t i = 0; i < both.size(); ++i) {
    d.Feed(&both[i], 1);
    if (i + 1 < first) {
      EXPECT_EQ(d.Next().code(), Errc::kNotFound);
    }
  }
  Result<json::object> a = d.Next();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(TypeOf(*a), "ping");
  Result<json::object> b = d.Next();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(TypeOf(*b), "pong");
  EXPECT_EQ(b->at("seq").to_number<uint64_t>(), 2u);
  EXPECT_EQ(d.Next().code(), Errc::kNotFound);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(SatProto, FrameDecoderRefusesBadFrames) {
  auto frame = [](std::string body) {
    std::string f(4, '\0');
    uint32_t n = static_cast<uint32_t>(body.size());
    for (int i = 0; i < 4; ++i) f[i] = static_cast<char>(n >> (8 * i));
    return f + body;
  };
  for (std::string bad : {frame("not json"), frame("[1,2]"), frame("{\"seq\":1}"),
                          frame("{\"type\":5}"), std::string("\xff\xff\xff\x7f", 4)}) {
    FrameDecoder d;
    d.Feed(bad.data(), bad.size());
    Result<json::object> r = d.Next();
    EXPECT_EQ(r.code(), Errc::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace tandem::satproto
