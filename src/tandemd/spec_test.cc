#include "tandemd/spec.h"

#include <gtest/gtest.h>

namespace tandem::tandemd {
namespace {

namespace json = boost::json;

ResourceSpec TwoNodes() {
  ResourceSpec s;
  s.name = "r0";
  s.node_id = 1;
  s.shared_secret = "s";
  s.nodes = {{0, "alpha", "127.0.0.11:7000", false}, {1, "bravo", "127.0.0.12:7000", false}};
  s.volumes = {{0, "/srv/r0.img", "internal"}};
  s.options.quorum = engine::kQuorumMajority;
  s.options.after_sb_0pri = engine::AfterSb0::kDiscardZeroChanges;
  s.options.ping_int = 3 * engine::kSec;
  return s;
}

Result<ResourceSpec> Parse(const std::string& text) { return SpecFromJson(json::parse(text)); }

TEST(SpecTest, RoundTripsThroughJson) {
  ResourceSpec s = TwoNodes();
  Result<ResourceSpec> back = SpecFromJson(SpecToJson(s));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->name, "r0");
  EXPECT_EQ(back->nodes, s.nodes);
  EXPECT_EQ(back->volumes, s.volumes);
  EXPECT_EQ(back->options.quorum, engine::kQuorumMajority);
  EXPECT_EQ(back->options.after_sb_0pri, engine::AfterSb0::kDiscardZeroChanges);
  EXPECT_EQ(back->options.ping_int, 3 * engine::kSec);
}

TEST(SpecTest, OptionsUseDrbdNamesAndMilliseconds) {
  json::object o = OptionsToJson(TwoNodes().options);
  EXPECT_EQ(o.at("quorum").as_string(), "majority");
  EXPECT_EQ(o.at("after-sb-0pri").as_string(), "discard-zero-changes");
  EXPECT_EQ(o.at("ping-int-ms").as_int64(), 3000);
  EXPECT_EQ(o.at("protocol").as_string(), "C");
}

TEST(SpecTest, UnknownFieldsAndOptionsAreErrors) {
  json::object o = SpecToJson(TwoNodes());
  o["colour"] = "blue";
  Result<ResourceSpec> r = SpecFromJson(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("unknown field 'colour'"), std::string::npos);

  o = SpecToJson(TwoNodes());
  o["options"].as_object()["allow-too-primaries"] = true;
  r = SpecFromJson(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("unknown option 'allow-too-primaries'"), std::string::npos);
}

TEST(SpecTest, BadValuesSayWhatIsExpected) {
  json::object o = SpecToJson(TwoNodes());
  o["options"].as_object()["after-sb-1pri"] = "flip-a-coin";
  Result<ResourceSpec> r = SpecFromJson(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("expected one of disconnect, consensus"), std::string::npos);
  o = SpecToJson(TwoNodes());
  o["options"].as_object()["max-epoch-size"] = 0;
  r = SpecFromJson(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("out of range"), std::string::npos);
}

TEST(SpecTest, ValidationCatchesInconsistentSpecs) {
  ResourceSpec s = TwoNodes();
  s.node_id = 5;
  EXPECT_NE(s.Validate().find("not among the nodes"), std::string::npos);
  s = TwoNodes();
  s.nodes[1].id = 0;
  EXPECT_NE(s.Validate().find("appears twice"), std::string::npos);
  s = TwoNodes();
  s.volumes[0].disk = "relative.img";
  EXPECT_NE(s.Validate().find("not an absolute path"), std::string::npos);
  s = TwoNodes();
  s.name = "-bad";
  EXPECT_NE(s.Validate().find("invalid resource name"), std::string::npos);
  EXPECT_FALSE(Parse(R"({"name":"r0"})").ok());
  EXPECT_FALSE(Parse(R"([1,2])").ok());
}

TEST(SpecTest, BitmapSlotsCountTheOtherDiskfulNodes) {
  ResourceSpec s = TwoNodes();
  s.nodes.push_back({2, "tiebreaker", "127.0.0.13:7000", true});
  EXPECT_EQ(s.MaxPeers(), 1u);
  EXPECT_EQ(s.DiskfulPeers(), std::vector<uint8_t>{0});
  engine::ResourceConfig c = s.ToEngineConfig();
  ASSERT_EQ(c.nodes.size(), 3u);
  EXPECT_TRUE(c.nodes[2].diskless);
  EXPECT_EQ(c.self, NodeId(1));
}

}  // namespace
}  // namespace tandem::tandemd
