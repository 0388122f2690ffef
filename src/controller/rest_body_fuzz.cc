// Fuzz target: arbitrary bodies and targets for the REST API. Every answer
// must be JSON, and a request with a malformed body must change nothing.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "controller/codec.h"
#include "controller/rest_api.h"

namespace {

using namespace tandem::controller;

struct World {
  World() {
    auto s = Store::Open(":memory:");
    store = std::move(*s);
    service = std::make_unique<Service>(&cluster, store.get());
    (void)service->Bootstrap();
    api = std::make_unique<RestApi>(service.get(), store.get());
    api->Handle(
        {"POST", "/v1/nodes", R"({"name":"n1","net_interfaces":[{"address":"127.0.0.1"}]})"});
    api->Handle(
        {"POST", "/v1/nodes/n1/storage-pools",
         R"({"storage_pool_name":"p1","provider_kind":"FILE","props":{"StorDriver/StorPoolName":"/x"}})"});
    api->Handle({"POST", "/v1/resource-definitions", R"({"resource_definition":{"name":"rd1"}})"});
  }
  Cluster cluster;
  std::unique_ptr<Store> store;
  std::unique_ptr<Service> service;
  std::unique_ptr<RestApi> api;
};

const char* kTargets[] = {
    "/v1/nodes",
    "/v1/nodes/n1",
    "/v1/nodes/n1/storage-pools",
    "/v1/resource-groups",
    "/v1/resource-groups/DfltRscGrp/spawn",
    "/v1/resource-groups/DfltRscGrp/volume-groups",
    "/v1/resource-definitions",
    "/v1/resource-definitions/rd1",
    "/v1/resource-definitions/rd1/volume-definitions",
    "/v1/resource-definitions/rd1/volume-definitions/0",
    "/v1/resource-definitions/rd1/resources",
    "/v1/resource-definitions/rd1/resources/n1",
    "/v1/resource-definitions/rd1/autoplace",
    "/v1/resource-definitions/rd1/resources/n1/make-available",
    "/v1/controller/properties",
    "/v1/nodes/n1/evacuate",
};
const char* kMethods[] = {"POST", "PUT", "GET", "DELETE"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  if (size < 1) return 0;
  const char* target = kTargets[data[0] % (sizeof kTargets / sizeof kTargets[0])];
  const char* method = kMethods[(data[0] >> 4) % 4];
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  boost::system::error_code ec;
  boost::json::parse(body, ec);
  std::string before = ec ? *ExportDb(*world.store) : "";
  HttpResponse r = world.api->Handle({method, target, body});
  boost::json::parse(r.body, ec);
  if (ec) __builtin_trap();  // every answer is JSON
  if (!before.empty()) {
    std::string after = *ExportDb(*world.store);
    auto strip = [](std::string s) {
      auto pos = s.find("\"exported_at_ms\"");
      return s.substr(0, pos) + s.substr(s.find(',', pos));
    };
    if (strip(before) != strip(after) && r.status == 400) __builtin_trap();
  }
  return 0;
}

extern "C" size_t TandemFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  const std::pair<uint8_t, const char*> seeds[] = {
      {0x00,
       R"({"name":"n2","type":"satellite","net_interfaces":[{"name":"default","address":"127.0.0.2"}]})"},
      {0x02,
       R"({"storage_pool_name":"p2","provider_kind":"file_thin","props":{"StorDriver/StorPoolName":"/y"}})"},
      {0x03,
       R"({"name":"rg1","select_filter":{"place_count":2,"storage_pool_list":["p1"],"replicas_on_same":["Aux/a"]}})"},
      {0x04,
       R"({"resource_definition_name":"sp1","volume_sizes":[1024],"select_filter":{"place_count":1}})"},
      {0x06,
       R"({"resource_definition":{"name":"rd2","layer_data":[{"type":"drbd"},{"type":"storage"}]},"drbd_port":7100})"},
      {0x08,
       R"({"volume_definition":{"size_kib":1024,"volume_number":1},"drbd_minor_number":2000})"},
      {0x19, R"({"size_kib":4096,"override_props":{"Aux/x":"1"}})"},
      {0x0a,
       R"([{"resource":{"node_name":"n1","props":{"StorPoolName":"p1"},"flags":["DISKLESS"]}}])"},
      {0x0c,
       R"({"select_filter":{"place_count":1,"x_replicas_on_different_map":{"Aux/z":1}},"diskless_on_remaining":null})"},
      {0x0e, R"({"override_props":{"TcpPortAutoRange":"7000-7005"},"delete_props":["x"]})"},
  };
  for (const auto& [first, body] : seeds) {
    std::vector<uint8_t> in{first};
    in.insert(in.end(), body, body + std::strlen(body));
    out->push_back(std::move(in));
  }
  return out->size();
}
