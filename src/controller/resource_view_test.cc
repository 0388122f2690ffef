// The resource and volume views: the model's fields as the object codecs
// write them, joined with what the node reported (and "Unknown" when it did not).
#include "controller/resource_view.h"

#include <gtest/gtest.h>

#include "controller/codec.h"
#include "controller/test_fixture.h"

namespace tandem::controller {
namespace {

class ResourceViewTest : public testing::ControllerTest {
 protected:
  void SetUp() override {
    ControllerTest::SetUp();
    for (const char* n : {"a", "b", "c"}) {
      AddNode(n);
      AddPool(n, "pool", 1000000, ProviderKind::kFileThin);
    }
    AddRd("r1", 4096);
    Place("r1", "a");
    Place("r1", "b");
    Place("r1", "c", "", /*diskless=*/true);
  }

  json::object View(const std::string& node, const ObservedMap& obs) {
    const Resource* r = cluster_->FindResource("r1", node);
    EXPECT_NE(r, nullptr);
    JsonWriter w;
    WriteResourceView(w, *cluster_, *r, true, obs);
    std::string text = std::move(w).Take();
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    EXPECT_FALSE(ec) << text;
    return v.as_object();
  }

  static std::shared_ptr<const ObservedNode> Live(satproto::ResourceState st,
                                                  std::map<std::string, std::string> errors = {}) {
    auto o = std::make_shared<ObservedNode>();
    o->status = kOnline;
    o->version = 3;
    o->resources[st.name] = std::move(st);
    o->apply_errors = std::move(errors);
    return o;
  }
};

TEST_F(ResourceViewTest, CarriesTheCodecsFields) {
  const Resource* r = cluster_->FindResource("r1", "a");
  ASSERT_NE(r, nullptr);
  json::object v = View("a", {});
  for (const auto& field : ResourceToJson(*r)) {
    ASSERT_TRUE(v.contains(field.key())) << field.key();
    EXPECT_EQ(v.at(field.key()), field.value()) << field.key();
  }
  json::object rd = RdToJson(*cluster_->FindRd("r1"));
  const json::value* drbd_data = nullptr;
  for (const auto& layer : rd.at("layer_data").as_array()) {
    if (layer.at("type") == "DRBD") drbd_data = &layer.at("data");
  }
  ASSERT_NE(drbd_data, nullptr);
  const auto& drbd = v.at("layer_object").at("drbd").as_object();
  EXPECT_EQ(drbd.at("drbd_resource_definition"), *drbd_data);
  EXPECT_EQ(drbd.at("tcp_ports").as_array()[0], drbd_data->at("port"));
  EXPECT_EQ(drbd.at("node_id").as_int64(), r->node_id);
  const auto& vol = v.at("volumes").as_array()[0].as_object();
  EXPECT_EQ(vol.at("usable_size_kib").as_int64(), 4096);
  EXPECT_EQ(vol.at("provider_kind"), "FILE_THIN");
  EXPECT_EQ(vol.at("device_path"), "/dev/tandem/by-res/r1/0");
  EXPECT_EQ(vol.at("layer_data_list").as_array()[0].at("data"),
            drbd.at("drbd_volumes").as_array()[0]);
  EXPECT_EQ(vol.at("layer_data_list").as_array()[1].at("data"), v.at("layer_object")
                                                                    .at("children")
                                                                    .as_array()[0]
                                                                    .at("storage")
                                                                    .at("storage_volumes")
                                                                    .as_array()[0]);
}

TEST_F(ResourceViewTest, AnUnreportedNodeIsUnknownNeverStale) {
  json::object v = View("a", {});
  EXPECT_EQ(v.at("state").at("in_use"), false);
  const auto& vol = v.at("volumes").as_array()[0].as_object();
  EXPECT_EQ(vol.at("state").at("disk_state"), "Unknown");
  EXPECT_FALSE(vol.at("state").as_object().contains("replication_states"));
  EXPECT_TRUE(v.at("layer_object").at("drbd").at("connections").as_object().empty());
  EXPECT_EQ(v.at("layer_object").at("drbd").at("may_promote"), false);
}

TEST_F(ResourceViewTest, ShowsWhatTheNodeReported) {
  satproto::ResourceState st;
  st.name = "r1";
  st.role = "Primary";
  st.in_use = true;
  satproto::VolumeState vs;
  vs.disk_state = "UpToDate";
  vs.usable_kib = 4000;
  vs.allocated_kib = 123;
  vs.nbd_uri = "nbd+unix:///r1/0?socket=x";
  st.volumes.push_back(vs);
  satproto::ConnectionState to_b{
      "b", "Connected", "Secondary", false, {{0, "SyncSource", "", 42.5}}};
  satproto::ConnectionState to_c{"c", "StandAlone", "", true, {{0, "Off", "", 0}}};
  st.connections = {to_b, to_c};
  ObservedMap obs;
  obs["a"] = Live(st);
  json::object v = View("a", obs);
  EXPECT_EQ(v.at("state").at("in_use"), true);
  const auto& drbd = v.at("layer_object").at("drbd").as_object();
  EXPECT_EQ(drbd.at("connections").at("b").at("connected"), true);
  EXPECT_EQ(drbd.at("connections").at("c").at("message"), "StandAlone");
  EXPECT_EQ(drbd.at("connections").at("c").at("split_brain"), true);
  EXPECT_EQ(drbd.at("may_promote"), false) << "Primary";
  const auto& vol = v.at("volumes").as_array()[0].as_object();
  EXPECT_EQ(vol.at("state").at("disk_state"), "UpToDate");
  EXPECT_EQ(vol.at("allocated_size_kib").as_int64(), 123);
  EXPECT_EQ(vol.at("nbd_uri").as_string(), vs.nbd_uri);
  const auto& repl = vol.at("state").at("replication_states").as_object();
  EXPECT_EQ(repl.at("b").at("replication_state"), "SyncSource");
  EXPECT_EQ(repl.at("b").at("done_percentage").as_double(), 42.5);
  EXPECT_FALSE(repl.at("c").as_object().contains("done_percentage"));
  EXPECT_EQ(drbd.at("drbd_volumes").as_array()[0].at("usable_size_kib").as_int64(), 4000);

  // The single-volume view is the resource view's volume.
  JsonWriter w;
  WriteVolumeView(w, *cluster_, *cluster_->FindResource("r1", "a"), *cluster_->FindVd("r1", 0),
                  obs);
  EXPECT_EQ(json::parse(std::move(w).Take()), v.at("volumes").as_array()[0]);
}

TEST_F(ResourceViewTest, TiebreakerAndApplyErrors) {
  satproto::ResourceState st;
  st.name = "r1";
  satproto::VolumeState vs;
  vs.disk_state = "Diskless";
  st.volumes.push_back(vs);
  ObservedMap obs;
  obs["c"] = Live(st);
  json::object c = View("c", obs);
  const auto& drbd = c.at("layer_object").at("drbd").as_object();
  bool tiebreaker = cluster_->FindResource("r1", "c")->tiebreaker();
  EXPECT_EQ(c.at("volumes").as_array()[0].at("state").at("disk_state"),
            tiebreaker ? "TieBreaker" : "Diskless");
  EXPECT_EQ(drbd.at("flags").as_array()[0], "DISKLESS");
  EXPECT_EQ(c.at("volumes").as_array()[0].at("usable_size_kib").as_int64(), 4096);
  EXPECT_EQ(c.at("layer_object")
                .at("children")
                .as_array()[0]
                .at("storage")
                .at("storage_volumes")
                .as_array()[0]
                .at("disk_state"),
            "Diskless");

  satproto::ResourceState other;
  other.name = "not-r1";
  obs["b"] = Live(other, {{"r1", "create-md failed: no space"}});
  json::object b = View("b", obs);
  EXPECT_EQ(b.at("state").at("error"), "create-md failed: no space");
  EXPECT_EQ(b.at("volumes").as_array()[0].at("state").at("disk_state"), "Error");
}

}  // namespace
}  // namespace tandem::controller
