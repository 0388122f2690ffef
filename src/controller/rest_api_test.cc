// REST handlers without sockets: status codes, JSON shapes with the OpenAPI
// field names, lenient input, and refused requests that change nothing.
#include "controller/rest_api.h"

#include <gmock/gmock.h>

#include "controller/codec.h"
#include "controller/test_fixture.h"

namespace tandem::controller {
namespace {

using ::testing::HasSubstr;

class RestApiTest : public testing::ControllerTest {
 protected:
  void SetUp() override {
    ControllerTest::SetUp();
    api_ = std::make_unique<RestApi>(service_.get(), store_.get());
  }
  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "") {
    return api_->Handle({method, target, body});
  }
  json::value Json(const HttpResponse& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    EXPECT_FALSE(ec) << r.body;
    return v;
  }
  void Node3() {
    for (const char* n : {"n1", "n2", "n3"}) {
      auto r = Call(
          "POST", "/v1/nodes",
          std::string(R"({"name":")") + n +
              R"(","type":"satellite","net_interfaces":[{"name":"default","address":"10.0.0.1","satellite_port":3366,"satellite_encryption_type":"plain","is_active":true}]})");
      ASSERT_EQ(r.status, 201) << r.body;
      r = Call(
          "POST", std::string("/v1/nodes/") + n + "/storage-pools",
          R"({"storage_pool_name":"ssd","provider_kind":"FILE_THIN","props":{"StorDriver/StorPoolName":"/srv/ssd","Tandem/Capacity/TotalKib":"104857600"}})");
      ASSERT_EQ(r.status, 201) << r.body;
    }
  }
  std::unique_ptr<RestApi> api_;
};

TEST_F(RestApiTest, VersionHasStringFieldsAndApiVersion) {
  auto r = Call("GET", "/v1/controller/version");
  ASSERT_EQ(r.status, 200);
  auto v = Json(r).as_object();
  for (const char* k : {"version", "git_hash", "build_time", "rest_api_version"}) {
    ASSERT_TRUE(v.contains(k)) << k;
    EXPECT_TRUE(v.at(k).is_string()) << k;
  }
  EXPECT_EQ(std::string(v.at("rest_api_version").as_string()).substr(0, 2), "1.");
}

TEST_F(RestApiTest, HealthAnswers200) {
  EXPECT_EQ(Call("GET", "/health").status, 200);
  auto m = Call("GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_THAT(m.body, HasSubstr("tandem_nodes 0"));
}

TEST_F(RestApiTest, NodeCreateListGetDelete) {
  Node3();
  auto list = Json(Call("GET", "/v1/nodes")).as_array();
  ASSERT_EQ(list.size(), 3u);
  auto n = list[0].as_object();
  EXPECT_EQ(n.at("name"), "n1");
  EXPECT_EQ(n.at("type"), "SATELLITE");
  EXPECT_EQ(n.at("connection_status"), "OFFLINE");
  auto nif = n.at("net_interfaces").as_array()[0].as_object();
  EXPECT_EQ(nif.at("satellite_encryption_type"), "PLAIN");
  EXPECT_EQ(nif.at("is_active"), true);
  auto one = Call("GET", "/v1/nodes/N2");
  ASSERT_EQ(one.status, 200);
  EXPECT_TRUE(Json(one).is_object());
  auto del = Call("DELETE", "/v1/nodes/n2");
  EXPECT_EQ(del.status, 200);
  EXPECT_EQ(Json(del).as_array()[0].at("ret_code").as_int64(),
            rc::Compose(0, rc::kMaskDel, rc::kMaskNode, rc::kDeleted));
  auto gone = Call("GET", "/v1/nodes/n2");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(Json(gone).as_array()[0].at("message"), "Node 'n2' not found.");
}

TEST_F(RestApiTest, ModifyNodeProps) {
  Node3();
  auto r = Call("PUT", "/v1/nodes/n1", R"({"override_props":{"Aux/rack":"r1"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto filtered = Json(Call("GET", "/v1/nodes?props=Aux/rack=r1")).as_array();
  ASSERT_EQ(filtered.size(), 1u);
  EXPECT_EQ(filtered[0].at("name"), "n1");
}

TEST_F(RestApiTest, MalformedJsonIs400AndChangesNothing) {
  std::string before = *ExportDb(*store_);
  auto r = Call("POST", "/v1/nodes", R"({"name":"n1", )");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(Json(r).as_array()[0].at("ret_code").as_int64(),
            static_cast<int64_t>(rc::kApiCallParseError));
  auto wrong_type = Call("POST", "/v1/nodes", R"({"name":5})");
  EXPECT_EQ(wrong_type.status, 400);
  EXPECT_THAT(wrong_type.body, HasSubstr("Field 'name' must be a string"));
  EXPECT_EQ(cluster_->nodes.size(), 0u);
  (void)before;
}

TEST_F(RestApiTest, LenientInputIsAccepted) {
  Node3();
  // Lower-case enums, explicit nulls, unknown fields, numbers as strings.
  auto rd = Call(
      "POST", "/v1/resource-definitions",
      R"({"resource_definition":{"name":"res","layer_data":[{"type":"drbd"},{"type":"storage"}],"whatever":1},"drbd_port":null})");
  ASSERT_EQ(rd.status, 201) << rd.body;
  auto vd = Call("POST", "/v1/resource-definitions/res/volume-definitions",
                 R"({"volume_definition":{"size_kib":"1048576","flags":[]}})");
  ASSERT_EQ(vd.status, 201) << vd.body;
  auto ap = Call(
      "POST", "/v1/resource-definitions/res/autoplace",
      R"({"diskless_on_remaining":null,"select_filter":{"place_count":2,"storage_pool_list":["ssd"],"diskless_type":"DRBD_DISKLESS"}})");
  ASSERT_EQ(ap.status, 201) << ap.body;
  auto again = Call("POST", "/v1/resource-definitions/res/autoplace", "");
  EXPECT_EQ(again.status, 201) << again.body;  // idempotent
}

TEST_F(RestApiTest, ViewResourcesHasTheFieldsClientsRead) {
  Node3();
  ASSERT_EQ(Call("POST", "/v1/resource-groups",
                 R"({"name":"rg","select_filter":{"place_count":2,"storage_pool":"ssd"}})")
                .status,
            201);
  auto sp = Call("POST", "/v1/resource-groups/rg/spawn",
                 R"({"resource_definition_name":"vm-100-disk-0","volume_sizes":[1048576]})");
  ASSERT_EQ(sp.status, 201) << sp.body;
  auto all = Json(Call("GET", "/v1/view/resources")).as_array();
  ASSERT_EQ(all.size(), 3u);  // two replicas and a tiebreaker
  for (const auto& item : all) {
    const auto& r = item.as_object();
    EXPECT_TRUE(r.contains("name"));
    EXPECT_TRUE(r.contains("node_name"));
    EXPECT_EQ(r.at("layer_object").at("type"), "DRBD");
    EXPECT_TRUE(r.at("state").as_object().contains("in_use"));
    const auto& vol = r.at("volumes").as_array()[0].as_object();
    EXPECT_TRUE(vol.contains("volume_number"));
    EXPECT_TRUE(vol.contains("provider_kind"));
    EXPECT_EQ(vol.at("layer_data_list")
                  .as_array()[0]
                  .at("data")
                  .at("drbd_volume_definition")
                  .at("minor_number"),
              1000);
  }
  auto one = Json(Call("GET", "/v1/view/resources?resources=vm-100-disk-0&nodes=n1")).as_array();
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].at("volumes").as_array()[0].at("provider_kind"), "FILE_THIN");
  auto page = Json(Call("GET", "/v1/view/resources?offset=1&limit=1")).as_array();
  EXPECT_EQ(page.size(), 1u);
  auto zero = Json(Call("GET", "/v1/view/resources?offset=0&limit=0")).as_array();
  EXPECT_EQ(zero.size(), 3u);
}

// The view is served from its cache until the model changes; what the cache
// answers is what a fresh view says.
TEST_F(RestApiTest, CachedViewEqualsAFreshOneAndFollowsChanges) {
  Node3();
  ASSERT_EQ(Call("POST", "/v1/resource-groups",
                 R"({"name":"rg","select_filter":{"place_count":2,"storage_pool":"ssd"}})")
                .status,
            201);
  for (const char* rd : {"a1", "a2", "a3"}) {
    auto sp = Call(
        "POST", "/v1/resource-groups/rg/spawn",
        std::string(R"({"resource_definition_name":")") + rd + R"(","volume_sizes":[1048576]})");
    ASSERT_EQ(sp.status, 201) << sp.body;
  }
  std::string cold = Call("GET", "/v1/view/resources").body;
  std::string warm = Call("GET", "/v1/view/resources").body;
  EXPECT_EQ(warm, cold);
  EXPECT_EQ(Json(Call("GET", "/v1/view/resources?nodes=n2")).as_array().size(),
            Json(Call("GET", "/v1/view/resources")).as_array().size() / 3);
  auto r = Call("PUT", "/v1/resource-definitions/a2/resources/n1",
                R"({"override_props":{"Aux/tag":"changed"}})");
  if (r.status == 404)
    r = Call("PUT", "/v1/resource-definitions/a2/resources/n2",
             R"({"override_props":{"Aux/tag":"changed"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string after = Call("GET", "/v1/view/resources").body;
  EXPECT_NE(after, cold);
  EXPECT_NE(after.find("\"Aux/tag\":\"changed\""), std::string::npos);
  // A volume definition's new size shows in its resources' views, not in others'.
  auto vd =
      Call("PUT", "/v1/resource-definitions/a3/volume-definitions/0", R"({"size_kib":2097152})");
  ASSERT_EQ(vd.status, 200) << vd.body;
  json::value resized = Json(Call("GET", "/v1/view/resources"));
  for (const auto& item : resized.as_array()) {
    const auto& vol = item.at("volumes").as_array()[0];
    bool diskless = vol.at("storage_pool_name") != "ssd";
    if (diskless) continue;
    EXPECT_EQ(vol.at("usable_size_kib").as_int64(), item.at("name") == "a3" ? 2097152 : 1048576)
        << item.at("name") << " on " << item.at("node_name");
  }
  // A deleted resource leaves the view.
  size_t before = Json(Call("GET", "/v1/view/resources")).as_array().size();
  ASSERT_EQ(Call("DELETE", "/v1/resource-definitions/a1").status, 200);
  json::value left = Json(Call("GET", "/v1/view/resources"));
  EXPECT_EQ(left.as_array().size(), before - 3);
  for (const auto& item : left.as_array()) EXPECT_NE(item.at("name"), "a1");
  // Each resource's own GET says the same as its entry in the view.
  json::value view = Json(Call("GET", "/v1/view/resources"));
  for (const auto& item : view.as_array()) {
    std::string rd(item.at("name").as_string()), node(item.at("node_name").as_string());
    auto one = Json(Call("GET", "/v1/resource-definitions/" + rd + "/resources/" + node));
    json::object expect = item.as_object();
    expect.erase("volumes");  // only the view carries them
    EXPECT_EQ(one, json::value(expect)) << rd << " on " << node;
  }
}

TEST_F(RestApiTest, StoragePoolViewsCarryCapacityAndStrings) {
  Node3();
  auto pools = Json(Call("GET", "/v1/view/storage-pools?storage_pools=ssd")).as_array();
  ASSERT_EQ(pools.size(), 3u);
  const auto& p = pools[0].as_object();
  EXPECT_EQ(p.at("provider_kind"), "FILE_THIN");
  EXPECT_TRUE(p.at("free_space_mgr_name").is_string());
  EXPECT_EQ(p.at("total_capacity"), 104857600);
  EXPECT_EQ(p.at("props").at("StorDriver/StorPoolName"), "/srv/ssd");
  auto single = Call("GET", "/v1/nodes/n1/storage-pools/ssd");
  EXPECT_EQ(single.status, 200);
  EXPECT_EQ(Call("GET", "/v1/nodes/n1/storage-pools/nope").status, 404);
}

TEST_F(RestApiTest, ResourceCreateTakesAnArrayAndAnswers201) {
  Node3();
  ASSERT_EQ(
      Call("POST", "/v1/resource-definitions", R"({"resource_definition":{"name":"res"}})").status,
      201);
  ASSERT_EQ(Call("POST", "/v1/resource-definitions/res/volume-definitions",
                 R"({"volume_definition":{"size_kib":1024}})")
                .status,
            201);
  auto r = Call(
      "POST", "/v1/resource-definitions/res/resources",
      R"([{"resource":{"node_name":"n1","props":{"StorPoolName":"ssd"}}},{"resource":{"node_name":"n2","flags":["DISKLESS"]}}])");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Json(r).as_array()[0].at("ret_code").as_int64(), 20185089);
  auto dup = Call("POST", "/v1/resource-definitions/res/resources/n1", R"({"resource":{}})");
  EXPECT_EQ(dup.status, 500);
  EXPECT_EQ(Json(dup).as_array()[0].at("ret_code").as_int64(), -4611686018407202314);
  auto vols = Json(Call("GET", "/v1/resource-definitions/res/resources/n2/volumes/0")).as_object();
  EXPECT_EQ(vols.at("provider_kind"), "DISKLESS");
}

TEST_F(RestApiTest, ControllerPropertiesSetAndDelete) {
  auto set = Call("POST", "/v1/controller/properties",
                  R"({"override_props":{"Autoplacer/Weights/MinRscCount":"2"}})");
  EXPECT_EQ(set.status, 201) << set.body;
  EXPECT_EQ(Json(Call("GET", "/v1/controller/properties")).at("Autoplacer/Weights/MinRscCount"),
            "2");
  auto bad =
      Call("POST", "/v1/controller/properties", R"({"override_props":{"TcpPortAutoRange":"x"}})");
  EXPECT_EQ(bad.status, 500);
  auto del = Call("DELETE", "/v1/controller/properties/Autoplacer/Weights/MinRscCount");
  EXPECT_EQ(del.status, 200);
  EXPECT_TRUE(Json(Call("GET", "/v1/controller/properties")).as_object().empty());
}

TEST_F(RestApiTest, UnknownPathsAnswerJson404) {
  auto r = Call("GET", "/v1/no-such-thing");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(Json(r).is_array());
}

TEST_F(RestApiTest, NodeEvacuateRestoreLostRoutes) {
  Node3();
  auto r = Call("PUT", "/v1/nodes/n1/evacuate");  // empty body, as linstor sends it
  ASSERT_EQ(r.status, 200) << r.body;
  auto node = Json(Call("GET", "/v1/nodes/n1"));
  EXPECT_THAT(json::serialize(node.at("flags")), HasSubstr("EVACUATE"));
  auto list = Json(Call("GET", "/v1/nodes?nodes=n1"));
  EXPECT_THAT(json::serialize(list.as_array().at(0).at("flags")), HasSubstr("EVACUATE"));
  EXPECT_EQ(Call("GET", "/v1/nodes/n1/evacuate").status, 405);
  std::string before = Call("GET", "/v1/nodes").body;
  EXPECT_EQ(Call("PUT", "/v1/nodes/n1/evacuate", R"({"target":["nx"]})").status, 404);
  EXPECT_EQ(Call("PUT", "/v1/nodes/n1/evacuate", R"({"do_not_target":"n2"})").status, 400);
  EXPECT_EQ(Call("PUT", "/v1/nodes/n1/evacuate", "[").status, 400);
  EXPECT_EQ(Call("PUT", "/v1/nodes/nx/evacuate", "{}").status, 404);
  EXPECT_EQ(Call("GET", "/v1/nodes").body, before);
  ASSERT_EQ(Call("PUT", "/v1/nodes/n1/restore").status, 200);
  EXPECT_THAT(Call("GET", "/v1/nodes/n1").body, ::testing::Not(HasSubstr("EVACUATE")));
  EXPECT_EQ(Call("DELETE", "/v1/nodes/nx/lost").status, 404);
  ASSERT_EQ(Call("DELETE", "/v1/nodes/n3/lost").status, 200);
  EXPECT_EQ(Call("GET", "/v1/nodes/n3").status, 404);
}

TEST_F(RestApiTest, GroupModifyReadsSelectFilter) {
  ASSERT_EQ(Call("POST", "/v1/resource-groups", R"({"name":"grp"})").status, 201);
  auto r = Call("PUT", "/v1/resource-groups/grp",
                R"({"description":"d","select_filter":{"place_count":3,"storage_pool":"ssd",)"
                R"("replicas_on_same":["Aux/rack"],"diskless_on_remaining":true},)"
                R"("override_props":{"Aux/x":"1"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto g = Json(Call("GET", "/v1/resource-groups/grp"));
  EXPECT_EQ(g.at("select_filter").at("place_count"), 3);
  EXPECT_THAT(json::serialize(g.at("select_filter")), HasSubstr("ssd"));
  EXPECT_THAT(json::serialize(g.at("select_filter")), HasSubstr("Aux/rack"));
  EXPECT_EQ(g.at("props").at("Aux/x"), "1");
  std::string before = Call("GET", "/v1/resource-groups").body;
  EXPECT_EQ(Call("PUT", "/v1/resource-groups/grp", R"({"select_filter":{"place_count":0}})").status,
            500);
  EXPECT_EQ(Call("PUT", "/v1/resource-groups/nogrp", "{}").status, 404);
  EXPECT_EQ(Call("GET", "/v1/resource-groups").body, before);
}

TEST_F(RestApiTest, NetInterfacesCreateModifyDeleteWithOpenApiFields) {
  Node3();
  auto created = Call("POST", "/v1/nodes/n1/net-interfaces",
                      R"({"name":"nic1","address":"10.0.1.1","satellite_port":3366})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto list = Json(Call("GET", "/v1/nodes/n1/net-interfaces")).as_array();
  ASSERT_EQ(list.size(), 2u);
  auto nif = list[1].as_object();
  for (const char* k :
       {"name", "address", "satellite_port", "satellite_encryption_type", "is_active", "uuid"}) {
    EXPECT_TRUE(nif.contains(k)) << k;
  }
  EXPECT_EQ(nif.at("name"), "nic1");
  EXPECT_EQ(nif.at("is_active"), false);
  auto put = Call("PUT", "/v1/nodes/n1/net-interfaces/nic1",
                  R"({"name":"nic1","address":"10.0.1.2","is_active":true})");
  ASSERT_EQ(put.status, 200) << put.body;
  auto one = Json(Call("GET", "/v1/nodes/n1/net-interfaces/nic1")).as_object();
  EXPECT_EQ(one.at("address"), "10.0.1.2");
  EXPECT_EQ(one.at("is_active"), true);
  EXPECT_EQ(Call("DELETE", "/v1/nodes/n1/net-interfaces/default").status, 200);
}

TEST_F(RestApiTest, RefusedNetInterfaceRequestsAnswerLinstorStatuses) {
  Node3();
  std::string before = Call("GET", "/v1/nodes").body;
  auto dup =
      Call("POST", "/v1/nodes/n1/net-interfaces", R"({"name":"default","address":"10.0.0.5"})");
  EXPECT_EQ(dup.status, 500);
  auto rc = Json(dup).as_array()[0].as_object().at("ret_code").as_int64();
  EXPECT_EQ(static_cast<uint64_t>(rc),
            static_cast<uint64_t>(
                rc::Compose(rc::kMaskError, rc::kMaskCrt, rc::kMaskNetIf, rc::kFailExistsNetIf)));
  EXPECT_EQ(
      Call("POST", "/v1/nodes/n1/net-interfaces", R"({"name":"x1","address":"1.2.3"})").status,
      500);
  EXPECT_EQ(Call("POST", "/v1/nodes/n1/net-interfaces", R"({"address":"10.0.0.5"})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/nodes/n1/net-interfaces", R"({"name":)").status, 400);
  EXPECT_EQ(Call("POST", "/v1/nodes/nonode/net-interfaces", R"({"name":"x1","address":"10.0.0.5"})")
                .status,
            404);
  EXPECT_EQ(Call("PUT", "/v1/nodes/n1/net-interfaces/nope", R"({"address":"10.0.0.5"})").status,
            404);
  EXPECT_EQ(Call("DELETE", "/v1/nodes/n1/net-interfaces/default").status, 500);  // the last one
  EXPECT_EQ(Call("GET", "/v1/nodes").body, before);
}

TEST_F(RestApiTest, QuerySizeInfoHasTheOpenApiShape) {
  Node3();
  ASSERT_EQ(Call("POST", "/v1/resource-groups",
                 R"({"name":"grp","select_filter":{"place_count":2,"storage_pool_list":["ssd"]}})")
                .status,
            201);
  auto r = Call("POST", "/v1/resource-groups/grp/query-size-info", "{}");
  ASSERT_EQ(r.status, 200) << r.body;
  auto o = Json(r).as_object();
  ASSERT_TRUE(o.at("reports").is_array());
  EXPECT_TRUE(o.at("reports").as_array().empty());
  auto space = o.at("space_info").as_object();
  for (const char* k : {"max_vlm_size_in_kib", "available_size_in_kib", "capacity_in_kib",
                        "default_max_oversubscription_ratio", "max_oversubscription_ratio",
                        "max_free_capacity_oversubscription_ratio",
                        "max_total_capacity_oversubscription_ratio", "next_spawn_result"}) {
    EXPECT_TRUE(space.contains(k)) << k;
  }
  EXPECT_TRUE(space.at("max_vlm_size_in_kib").is_int64());
  EXPECT_EQ(space.at("max_vlm_size_in_kib").as_int64(), 104857600LL * 20);  // thin, ratio 20
  EXPECT_EQ(space.at("capacity_in_kib").as_int64(), 104857600LL);
  EXPECT_TRUE(space.at("default_max_oversubscription_ratio").is_double());
  auto spawn = space.at("next_spawn_result").as_array();
  ASSERT_EQ(spawn.size(), 2u);
  for (const char* k : {"node_name", "stor_pool_name", "stor_pool_oversubscription_ratio",
                        "stor_pool_free_capacity_oversubscription_ratio",
                        "stor_pool_total_capacity_oversubscription_ratio"}) {
    EXPECT_TRUE(spawn[0].as_object().contains(k)) << k;
  }
  EXPECT_EQ(spawn[0].at("stor_pool_name"), "ssd");
  // select_filter fields override the group's.
  auto three = Json(Call("POST", "/v1/resource-groups/grp/query-size-info",
                         R"({"select_filter":{"place_count":3}})"));
  EXPECT_EQ(three.at("space_info").at("next_spawn_result").as_array().size(), 3u);
  auto max = Call("GET", "/v1/resource-groups/grp/query-max-volume-size");
  ASSERT_EQ(max.status, 200);
  auto cand = Json(max).at("candidates").as_array();
  ASSERT_EQ(cand.size(), 1u);
  for (const char* k : {"storage_pool", "max_volume_size_kib", "node_names", "all_thin"}) {
    EXPECT_TRUE(cand[0].as_object().contains(k)) << k;
  }
  EXPECT_EQ(cand[0].at("all_thin"), true);
}

TEST_F(RestApiTest, QuerySizeInfoRefusals) {
  Node3();
  std::string before = Call("GET", "/v1/resource-groups").body;
  EXPECT_EQ(Call("POST", "/v1/resource-groups/nogrp/query-size-info", "{}").status, 404);
  auto none = Call("POST", "/v1/resource-groups/DfltRscGrp/query-size-info",
                   R"({"select_filter":{"place_count":4}})");
  ASSERT_EQ(none.status, 200);
  auto o = Json(none).as_object();
  EXPECT_EQ(o.at("space_info").at("max_vlm_size_in_kib"), 0);
  EXPECT_TRUE(o.at("space_info").at("next_spawn_result").as_array().empty());
  ASSERT_EQ(o.at("reports").as_array().size(), 1u);
  EXPECT_THAT(json::serialize(o.at("reports")), HasSubstr("Not enough available nodes"));
  EXPECT_EQ(Call("POST", "/v1/resource-groups/DfltRscGrp/query-size-info", "[").status, 400);
  EXPECT_EQ(Call("GET", "/v1/resource-groups/DfltRscGrp/query-size-info").status, 405);
  EXPECT_EQ(Call("GET", "/v1/resource-groups").body, before);
  EXPECT_EQ(Call("GET", "/v1/resource-definitions").body, "[]");
}

}  // namespace
}  // namespace tandem::controller
