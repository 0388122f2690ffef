// Test fixture for controller unit tests: an in-memory store, a cluster and a
// service, with helpers that build nodes and pools in one line each.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "controller/codec.h"
#include "controller/service.h"
#include "controller/store.h"

namespace tandem::controller::testing {

inline std::string Describe(const rc::ApiCallRcList& list) {
  std::string out;
  for (const auto& r : list) out += "[" + std::to_string(r.ret_code) + "] " + r.message + "\n";
  return out;
}

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(":memory:"); }

  void Reopen(const std::string& path) {
    service_.reset();
    cluster_ = std::make_unique<Cluster>();
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
    ASSERT_TRUE(LoadCluster(*store_, cluster_.get()).ok());
    service_ = std::make_unique<Service>(cluster_.get(), store_.get());
    ASSERT_TRUE(service_->Bootstrap().ok());
  }

  static void ExpectOk(const rc::ApiCallRcList& list) {
    EXPECT_FALSE(rc::HasError(list)) << Describe(list);
  }

  void AddNode(const std::string& name, Props props = {}) {
    Node n;
    n.name = name;
    n.props = std::move(props);
    NetInterface nif;
    nif.name = "default";
    nif.address = "127.0.0.1";
    n.net_interfaces.push_back(nif);
    ExpectOk(service_->CreateNode(n));
  }

  // A pool with known capacity (KiB); free defaults to total.
  void AddPool(const std::string& node, const std::string& pool, int64_t total_kib,
               ProviderKind kind = ProviderKind::kFile, std::optional<int64_t> free_kib = {},
               Props props = {}) {
    StoragePool p;
    p.name = pool;
    p.provider = kind;
    p.props = std::move(props);
    p.props[prop::kStorDriverPoolName] = "/srv/" + pool;
    ExpectOk(service_->CreatePool(node, p));
    ExpectOk(service_->ReportCapacity(node, pool, total_kib, free_kib.value_or(total_kib)));
  }

  void AddRd(const std::string& name, int64_t size_kib = 1024, const std::string& rg = "") {
    RdCreateRequest req;
    req.rd.name = name;
    req.rd.rg_name = rg;
    ExpectOk(service_->CreateRd(req));
    VdCreateRequest vd;
    vd.vd.size_kib = size_kib;
    ExpectOk(service_->CreateVd(name, vd));
  }

  void Place(const std::string& rd, const std::string& node, const std::string& pool = "pool",
             bool diskless = false) {
    ResourceCreateRequest req;
    req.rsc.node_name = node;
    if (diskless) {
      req.rsc.flags = {kFlagDrbdDiskless};
    } else {
      req.rsc.props[prop::kStorPoolName] = pool;
    }
    ExpectOk(service_->CreateResources(rd, {req}));
  }

  std::vector<std::string> NodesOf(const PlacementResult& r) const {
    std::vector<std::string> out;
    for (const auto& c : r.diskful) out.push_back(c.node);
    return out;
  }

  std::vector<std::string> ResourceNodes(const std::string& rd,
                                         bool include_diskless = true) const {
    std::vector<std::string> out;
    for (const Resource* r : cluster_->ResourcesOf(rd)) {
      if (include_diskless || !r->diskless()) out.push_back(r->node_name);
    }
    return out;
  }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Service> service_;
};

}  // namespace tandem::controller::testing
