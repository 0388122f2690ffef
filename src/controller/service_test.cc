// Service: transactions, validation, auto-quorum and the tiebreaker.
#include "controller/service.h"

#include <gmock/gmock.h>

#include <algorithm>
#include <filesystem>
#include <initializer_list>

#include "controller/controller.h"
#include "controller/desired.h"
#include "controller/test_fixture.h"

namespace tandem::controller {
namespace {

using testing::Describe;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ServiceTest : public testing::ControllerTest {
 protected:
  // Everything the store holds, table by table, for before/after comparisons.
  std::string Snapshot() {
    auto doc = ExportDb(*store_);
    EXPECT_TRUE(doc.ok());
    std::string s = *doc;
    // exported_at_ms differs between calls; cut it out.
    auto pos = s.find("\"exported_at_ms\"");
    auto end = s.find(',', pos);
    return s.substr(0, pos) + s.substr(end);
  }
  std::string MemorySnapshot() {
    std::string out;
    for (const auto& [k, r] : cluster_->resources.rows()) out += k + EncodeRow(r) + "\n";
    for (const auto& [k, r] : cluster_->rds.rows()) out += k + EncodeRow(r) + "\n";
    for (const auto& [k, r] : cluster_->vds.rows()) out += k + EncodeRow(r) + "\n";
    for (const auto& [k, r] : cluster_->nodes.rows()) out += k + EncodeRow(r) + "\n";
    for (const auto& [k, r] : cluster_->pools.rows()) out += k + EncodeRow(r) + "\n";
    return out;
  }
  uint64_t FirstCode(const rc::ApiCallRcList& list) {
    return list.empty() ? 0 : list.front().code();
  }
  // What the controller's tick does once the replacements are UpToDate.
  void FinishEvacuations() {
    std::vector<std::pair<std::string, std::string>> leaving;
    for (const auto& [k, r] : cluster_->resources.rows()) {
      if (HasFlag(r.flags, kFlagEvacuate)) leaving.emplace_back(r.rd_name, r.node_name);
    }
    for (const auto& [rd, node] : leaving) ExpectOk(service_->FinishEvacuation(rd, node));
  }
  SpawnRequest SpawnOf(const std::string& rd, int64_t kib) {
    SpawnRequest s;
    s.rd_name = rd;
    s.volume_sizes_kib = {kib};
    return s;
  }
  // Nodes with a FILE pool "pool" of 1000000 KiB each.
  void NodesWithPool(std::initializer_list<const char*> names) {
    for (const char* n : names) {
      AddNode(n);
      AddPool(n, "pool", 1000000);
    }
  }
  void ThreeNodes() { NodesWithPool({"a", "b", "c"}); }
};

TEST_F(ServiceTest, CreatedNodeHasDefaultDisklessPool) {
  AddNode("n1");
  ASSERT_NE(cluster_->FindPool("n1", kDefaultDisklessPool), nullptr);
  EXPECT_EQ(cluster_->FindNode("N1")->name, "n1");  // case-insensitive identity
}

TEST_F(ServiceTest, DuplicateNodeFailsWithExistsCode) {
  AddNode("n1");
  Node again;
  again.name = "N1";
  auto r = service_->CreateNode(again);
  ASSERT_TRUE(rc::HasError(r));
  EXPECT_EQ(FirstCode(r), rc::kFailExistsNode);
  EXPECT_EQ(static_cast<uint64_t>(r.front().ret_code) & rc::kMaskObj, rc::kMaskNode);
}

TEST_F(ServiceTest, InvalidNamesAreRefused) {
  Node bad;
  bad.name = "-bad";
  EXPECT_EQ(FirstCode(service_->CreateNode(bad)), rc::kFailInvldNodeName);
  RdCreateRequest rd;
  rd.rd.name = "x";  // too short
  EXPECT_EQ(FirstCode(service_->CreateRd(rd)), rc::kFailInvldRscName);
  rd.rd.name = "has space";
  EXPECT_EQ(FirstCode(service_->CreateRd(rd)), rc::kFailInvldRscName);
}

TEST_F(ServiceTest, FailedSpawnChangesNothing) {
  ThreeNodes();
  ResourceGroup rg;
  rg.name = "rg";
  rg.select_filter.place_count = 4;  // only three nodes
  ExpectOk(service_->CreateRg(rg));
  std::string before_db = Snapshot();
  std::string before_mem = MemorySnapshot();
  auto r = service_->Spawn("rg", SpawnOf("vol", 1024));
  ASSERT_TRUE(rc::HasError(r));
  EXPECT_EQ(FirstCode(r), rc::kFailNotEnoughNodes);
  EXPECT_THAT(r.front().message, HasSubstr("need 4, 3"));
  EXPECT_EQ(cluster_->FindRd("vol"), nullptr);
  EXPECT_EQ(Snapshot(), before_db);
  EXPECT_EQ(MemorySnapshot(), before_mem);
}

TEST_F(ServiceTest, StoreFailureRollsBackMemory) {
  ThreeNodes();
  std::string before_mem = MemorySnapshot();
  std::string before_db = Snapshot();
  store_->TEST_FailNextApply();
  RdCreateRequest rd;
  rd.rd.name = "res";
  auto r = service_->CreateRd(rd);
  ASSERT_TRUE(rc::HasError(r));
  EXPECT_EQ(FirstCode(r), rc::kFailSql);
  EXPECT_EQ(cluster_->FindRd("res"), nullptr);
  EXPECT_EQ(MemorySnapshot(), before_mem);
  EXPECT_EQ(Snapshot(), before_db);
}

TEST_F(ServiceTest, SpawnPlacesReplicasAndAddsTiebreaker) {
  ThreeNodes();
  ResourceGroup rg;
  rg.name = "rg";
  rg.select_filter.place_count = 2;
  ExpectOk(service_->CreateRg(rg));
  auto r = service_->Spawn("rg", SpawnOf("vol", 1024));
  ExpectOk(r);
  EXPECT_EQ(r.front().code(), rc::kCreated);
  EXPECT_THAT(ResourceNodes("vol", false), ElementsAre("a", "b"));
  const Resource* tb = cluster_->FindResource("vol", "c");
  ASSERT_NE(tb, nullptr);
  EXPECT_TRUE(tb->tiebreaker());
  EXPECT_EQ(cluster_->FindRd("vol")->props.at(prop::kQuorum), "majority");
  EXPECT_EQ(cluster_->FindRd("vol")->props.at(prop::kOnNoQuorum), "io-error");
  bool saw_info = false;
  for (const auto& e : r) saw_info = saw_info || e.code() == rc::kInfoTieBreakerCreated;
  EXPECT_TRUE(saw_info) << testing::Describe(r);
}

TEST_F(ServiceTest, TiebreakerRemovedWhenThirdReplicaArrives) {
  ThreeNodes();
  AddNode("d");
  AddPool("d", "pool", 10);
  AddRd("vol");
  Place("vol", "a");
  Place("vol", "b");
  ASSERT_EQ(cluster_->ResourcesOf("vol").size(), 3u);  // with a tiebreaker
  AutoplaceRequest more;
  more.select_filter.additional_place_count = 1;
  auto r = service_->Autoplace("vol", more);
  ExpectOk(r);
  int diskful = 0;
  int tiebreakers = 0;
  for (const Resource* rsc : cluster_->ResourcesOf("vol")) {
    diskful += rsc->diskless() ? 0 : 1;
    tiebreakers += rsc->tiebreaker() ? 1 : 0;
  }
  EXPECT_EQ(diskful, 3);
  EXPECT_EQ(tiebreakers, 0);
  EXPECT_EQ(cluster_->FindRd("vol")->props.at(prop::kQuorum), "majority");
}

TEST_F(ServiceTest, AutoplaceTakesOverTiebreakerNode) {
  ThreeNodes();
  AddRd("vol");
  Place("vol", "a");
  Place("vol", "b");
  ASSERT_TRUE(cluster_->FindResource("vol", "c")->tiebreaker());
  AutoplaceRequest more;
  more.select_filter.additional_place_count = 1;
  ExpectOk(service_->Autoplace("vol", more));
  const Resource* c = cluster_->FindResource("vol", "c");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->diskless());
}

TEST_F(ServiceTest, DeletingAReplicaRemovesQuorumAndTiebreaker) {
  ThreeNodes();
  AddRd("vol");
  Place("vol", "a");
  Place("vol", "b");
  auto r = service_->DeleteResource("vol", "b", false);
  ExpectOk(r);
  EXPECT_THAT(ResourceNodes("vol"), ElementsAre("a"));
  EXPECT_EQ(cluster_->FindRd("vol")->props.count(prop::kQuorum), 0u);
  bool saw_removed = false;
  for (const auto& e : r) {
    saw_removed =
        saw_removed || e.message.find("was removed as there are not enough resources for quorum") !=
                           std::string::npos;
  }
  EXPECT_TRUE(saw_removed) << testing::Describe(r);
}

TEST_F(ServiceTest, UserDisklessReplaceTiebreakerNeed) {
  ThreeNodes();
  AddNode("d");
  AddRd("vol");
  Place("vol", "a");
  Place("vol", "b");
  ASSERT_TRUE(cluster_->FindResource("vol", "c")->tiebreaker());
  Place("vol", "d", "", /*diskless=*/true);
  EXPECT_EQ(cluster_->FindResource("vol", "c"), nullptr);  // no longer needed
  EXPECT_EQ(cluster_->FindRd("vol")->props.at(prop::kQuorum), "majority");
}

TEST_F(ServiceTest, AutoQuorumDisabledLeavesPropsAlone) {
  ThreeNodes();
  PropsChange off;
  off.override_props = {{prop::kAutoQuorum, "disabled"}};
  ExpectOk(service_->SetControllerProps(off));
  AddRd("vol");
  Place("vol", "a");
  Place("vol", "b");
  Place("vol", "c");
  EXPECT_EQ(cluster_->FindRd("vol")->props.count(prop::kQuorum), 0u);
}

TEST_F(ServiceTest, AutoQuorumSuspendIoIsInheritedFromGroup) {
  ThreeNodes();
  ResourceGroup rg;
  rg.name = "rg";
  rg.props = {{prop::kAutoQuorum, "suspend-io"}};
  ExpectOk(service_->CreateRg(rg));
  AddRd("vol", 1024, "rg");
  Place("vol", "a");
  Place("vol", "b");
  Place("vol", "c");
  EXPECT_EQ(cluster_->FindRd("vol")->props.at(prop::kOnNoQuorum), "suspend-io");
}

TEST_F(ServiceTest, KeepTiebreakerConvertsDisklessResource) {
  ThreeNodes();
  AddNode("d");
  AddRd("vol");
  Place("vol", "a");
  Place("vol", "b");
  Place("vol", "d", "", true);
  ExpectOk(service_->DeleteResource("vol", "d", true));
  ASSERT_NE(cluster_->FindResource("vol", "d"), nullptr);
  EXPECT_TRUE(cluster_->FindResource("vol", "d")->tiebreaker());
}

TEST_F(ServiceTest, PortsAndMinorsAreAllocatedFromRanges) {
  PropsChange range;
  range.override_props = {{prop::kTcpPortRange, "7100-7101"}};
  ExpectOk(service_->SetControllerProps(range));
  AddRd("one");
  AddRd("two");
  EXPECT_EQ(cluster_->FindRd("one")->port, 7100);
  EXPECT_EQ(cluster_->FindRd("two")->port, 7101);
  EXPECT_EQ(cluster_->FindVd("one", 0)->minor, 1000);
  EXPECT_EQ(cluster_->FindVd("two", 0)->minor, 1001);
  RdCreateRequest three;
  three.rd.name = "three";
  EXPECT_EQ(FirstCode(service_->CreateRd(three)), rc::kFailPoolExhaustedTcpPort);
  ExpectOk(service_->DeleteRd("one"));
  ExpectOk(service_->CreateRd(three));
  EXPECT_EQ(cluster_->FindRd("three")->port, 7100);
}

TEST_F(ServiceTest, InvalidPortRangeIsRefused) {
  PropsChange range;
  range.override_props = {{prop::kTcpPortRange, "9000-8000"}};
  EXPECT_EQ(FirstCode(service_->SetControllerProps(range)), rc::kFailInvldProp);
}

TEST_F(ServiceTest, VolumeCanShrinkOnlyWithoutResources) {
  ThreeNodes();
  AddRd("vol", 2048);
  VdModifyRequest smaller;
  smaller.size_kib = 1024;
  ExpectOk(service_->ModifyVd("vol", 0, smaller));
  Place("vol", "a");
  VdModifyRequest tiny;
  tiny.size_kib = 512;
  EXPECT_EQ(FirstCode(service_->ModifyVd("vol", 0, tiny)), rc::kFailInvldVlmSize);
  VdModifyRequest bigger;
  bigger.size_kib = 4096;
  ExpectOk(service_->ModifyVd("vol", 0, bigger));
  EXPECT_EQ(cluster_->FindVd("vol", 0)->size_kib, 4096);
}

TEST_F(ServiceTest, ResourceGroupWithDefinitionsCannotBeDeleted) {
  ResourceGroup rg;
  rg.name = "my_rg";
  ExpectOk(service_->CreateRg(rg));
  AddRd("vol", 1024, "my_rg");
  auto r = service_->DeleteRg("my_rg");
  EXPECT_EQ(FirstCode(r), rc::kFailInUse);
  EXPECT_EQ(r.front().message,
            "Cannot delete resource group 'my_rg' because it has existing resource definitions.");
  EXPECT_EQ(FirstCode(service_->DeleteRg(kDefaultResourceGroup)), rc::kFailInUse);
}

TEST_F(ServiceTest, ResourceOnMissingDefinitionGivesLinstorRetCode) {
  AddNode("pve-01");
  ResourceCreateRequest req;
  req.rsc.node_name = "pve-01";
  auto r = service_->CreateResources("vm-1-disk-0", {req});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r.front().ret_code, -4611686018407202515);  // as seen in the wild
  EXPECT_EQ(r.front().message, "Resource definition 'vm-1-disk-0' not found.");
}

TEST_F(ServiceTest, DisklessResourceUsesDisklessPool) {
  ThreeNodes();
  AddRd("vol");
  Place("vol", "a", "", true);
  const Resource* r = cluster_->FindResource("vol", "a");
  EXPECT_TRUE(HasFlag(r->flags, kFlagDrbdDiskless));
  EXPECT_EQ(r->storage_pool, kDefaultDisklessPool);
}

TEST_F(ServiceTest, MissingDefaultPoolIsReported) {
  AddNode("a");
  AddRd("vol");
  ResourceCreateRequest req;
  req.rsc.node_name = "a";
  EXPECT_EQ(FirstCode(service_->CreateResources("vol", {req})), rc::kFailNotFoundDfltStorPool);
}

TEST_F(ServiceTest, PoolInUseCannotBeDeleted) {
  ThreeNodes();
  AddRd("vol");
  Place("vol", "a");
  EXPECT_EQ(FirstCode(service_->DeletePool("a", "pool")), rc::kFailInUse);
  ExpectOk(service_->DeletePool("b", "pool"));
}

TEST_F(ServiceTest, NodeDeleteRemovesItsResources) {
  ThreeNodes();
  AddRd("vol");
  Place("vol", "a");
  Place("vol", "b");
  ExpectOk(service_->DeleteNode("b"));
  EXPECT_EQ(cluster_->FindNode("b"), nullptr);
  EXPECT_THAT(ResourceNodes("vol"), ElementsAre("a"));
}

TEST_F(ServiceTest, SpawnChecksVolumeGroups) {
  ThreeNodes();
  ResourceGroup rg;
  rg.name = "rg";
  ExpectOk(service_->CreateRg(rg));
  ExpectOk(service_->CreateVg("rg", VolumeGroup{}, std::nullopt));
  ExpectOk(service_->CreateVg("rg", VolumeGroup{}, std::nullopt));
  auto r = service_->Spawn("rg", SpawnOf("vol", 1024));
  EXPECT_EQ(FirstCode(r), rc::kFailInvldVlmCount);
  SpawnRequest partial = SpawnOf("vol", 1024);
  partial.partial = true;
  ExpectOk(service_->Spawn("rg", partial));
  SpawnRequest two = SpawnOf("vol2", 1024);
  two.volume_sizes_kib.push_back(2048);
  two.definitions_only = true;
  ExpectOk(service_->Spawn("rg", two));
  EXPECT_EQ(cluster_->VolumeDefinitionsOf("vol2").size(), 2u);
  EXPECT_TRUE(cluster_->ResourcesOf("vol2").empty());
}

TEST_F(ServiceTest, StateSurvivesReopen) {
  auto path =
      std::filesystem::temp_directory_path() / ("tandem-svc-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  Reopen(path.string());
  ThreeNodes();
  ResourceGroup rg;
  rg.name = "rg";
  rg.select_filter.place_count = 3;
  ExpectOk(service_->CreateRg(rg));
  ExpectOk(service_->Spawn("rg", SpawnOf("vol", 1024)));
  std::string before = MemorySnapshot();
  Reopen(path.string());
  EXPECT_EQ(MemorySnapshot(), before);
  EXPECT_EQ(cluster_->FindRg("rg")->select_filter.place_count, 3);
  store_.reset();
  std::filesystem::remove(path);
  std::filesystem::remove(path.string() + "-wal");
  std::filesystem::remove(path.string() + "-shm");
}

// ---- Definition and group modify ----------------------------------------------

TEST_F(ServiceTest, ModifyRdChangesGroupAndProps) {
  ResourceGroup rg;
  rg.name = "other";
  ExpectOk(service_->CreateRg(rg));
  AddRd("res");
  RdModifyRequest m;
  m.resource_group = "OTHER";
  m.props.override_props = {{"Aux/owner", "ops"}};
  ExpectOk(service_->ModifyRd("res", m));
  EXPECT_EQ(cluster_->FindRd("res")->rg_name, "other");
  EXPECT_EQ(cluster_->FindRd("res")->props.at("Aux/owner"), "ops");
  RdModifyRequest del;
  del.props.delete_props = {"Aux/owner"};
  ExpectOk(service_->ModifyRd("res", del));
  EXPECT_EQ(cluster_->FindRd("res")->props.count("Aux/owner"), 0u);
}

TEST_F(ServiceTest, RefusedRdModifyChangesNothing) {
  AddRd("res");
  std::string before = Snapshot();
  RdModifyRequest bad_rg;
  bad_rg.resource_group = "missing";
  bad_rg.props.override_props = {{"Aux/owner", "ops"}};
  auto r = service_->ModifyRd("res", bad_rg);
  ASSERT_TRUE(rc::HasError(r));
  EXPECT_EQ(FirstCode(r), rc::kFailNotFoundRscGrp);
  RdModifyRequest bad_prop;
  bad_prop.props.override_props = {{"DrbdOptions/auto-quorum", "sometimes"}};
  EXPECT_EQ(FirstCode(service_->ModifyRd("res", bad_prop)), rc::kFailInvldProp);
  EXPECT_EQ(FirstCode(service_->ModifyRd("nores", RdModifyRequest{})), rc::kFailNotFoundRscDfn);
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(cluster_->FindRd("res")->rg_name, kDefaultResourceGroup);
}

TEST_F(ServiceTest, ModifyRgReplacesFilterFieldsAndKeepsOthers) {
  ResourceGroup rg;
  rg.name = "rg";
  rg.select_filter.place_count = 2;
  rg.select_filter.replicas_on_different = {"Aux/zone"};
  ExpectOk(service_->CreateRg(rg));
  RgModifyRequest m;
  m.description = "three copies";
  SelectFilter f;
  f.place_count = 3;
  f.storage_pool_list = {"ssd"};
  f.diskless_on_remaining = true;
  m.select_filter = f;
  m.props.override_props = {{"Aux/tier", "gold"}};
  ExpectOk(service_->ModifyRg("RG", m));
  const ResourceGroup* g = cluster_->FindRg("rg");
  EXPECT_EQ(g->select_filter.place_count, 3);
  EXPECT_THAT(g->select_filter.storage_pool_list, ElementsAre("ssd"));
  EXPECT_THAT(g->select_filter.replicas_on_different, ElementsAre("Aux/zone"));
  EXPECT_EQ(g->select_filter.diskless_on_remaining, true);
  EXPECT_EQ(g->description, "three copies");
  EXPECT_EQ(g->props.at("Aux/tier"), "gold");
}

TEST_F(ServiceTest, RefusedRgModifyChangesNothing) {
  ResourceGroup rg;
  rg.name = "rg";
  rg.select_filter.place_count = 2;
  ExpectOk(service_->CreateRg(rg));
  std::string before = Snapshot();
  RgModifyRequest zero;
  zero.description = "changed";
  zero.select_filter = SelectFilter{};
  zero.select_filter->place_count = 0;
  EXPECT_EQ(FirstCode(service_->ModifyRg("rg", zero)), rc::kFailInvldPlaceCount);
  RgModifyRequest plus;
  plus.select_filter = SelectFilter{};
  plus.select_filter->additional_place_count = 1;
  EXPECT_EQ(FirstCode(service_->ModifyRg("rg", plus)), rc::kFailInvldPlaceCount);
  RgModifyRequest layer;
  layer.select_filter = SelectFilter{};
  layer.select_filter->layer_stack = {"nonsense"};
  EXPECT_EQ(FirstCode(service_->ModifyRg("rg", layer)), rc::kFailInvldLayerStack);
  RgModifyRequest prop;
  prop.props.override_props = {{"", "x"}};
  EXPECT_EQ(FirstCode(service_->ModifyRg("rg", prop)), rc::kFailInvldProp);
  EXPECT_EQ(FirstCode(service_->ModifyRg("nogroup", RgModifyRequest{})), rc::kFailNotFoundRscGrp);
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(cluster_->FindRg("rg")->select_filter.place_count, 2);
}

// ---- Node evacuate, restore, lost ---------------------------------------------

TEST_F(ServiceTest, EvacuateMovesDiskfulReplicasAndExcludesTheNode) {
  NodesWithPool({"a", "b", "c", "d"});
  AddRd("r1");
  Place("r1", "a");
  Place("r1", "b");
  ASSERT_EQ(ResourceNodes("r1").size(), 3u);  // + tiebreaker
  auto r = service_->EvacuateNode("A");
  ExpectOk(r);
  EXPECT_TRUE(HasFlag(cluster_->FindNode("a")->flags, kFlagEvacuate));
  // The old replica stays, flagged, until the new one is UpToDate: the data
  // keeps two copies while it syncs.
  const Resource* leaving = cluster_->FindResource("r1", "a");
  ASSERT_NE(leaving, nullptr) << Describe(r);
  EXPECT_TRUE(HasFlag(leaving->flags, kFlagEvacuate));
  auto diskful = ResourceNodes("r1", false);
  ASSERT_EQ(diskful.size(), 3u) << Describe(r);
  EXPECT_EQ(std::count(diskful.begin(), diskful.end(), "b"), 1);
  bool kept = false;
  for (const auto& c : r)
    kept = kept || c.message.find("is kept until its new replica") != std::string::npos;
  EXPECT_TRUE(kept) << Describe(r);
  // The leaving replica does not count for quorum: the tiebreaker stays.
  EXPECT_EQ(ResourceNodes("r1").size(), 4u) << Describe(r);
  EXPECT_EQ(cluster_->FindRd("r1")->props.at(prop::kQuorum), "majority");
  // Evacuating again does not move it twice.
  ExpectOk(service_->EvacuateNode("a"));
  EXPECT_EQ(ResourceNodes("r1", false).size(), 3u);

  auto f = service_->FinishEvacuation("r1", "A");
  ExpectOk(f);
  EXPECT_THAT(Describe(f), HasSubstr("deleted: its new replica is UpToDate"));
  EXPECT_TRUE(cluster_->ResourcesOnNode("a").empty());
  diskful = ResourceNodes("r1", false);
  ASSERT_EQ(diskful.size(), 2u);
  EXPECT_EQ(std::count(diskful.begin(), diskful.end(), "a"), 0);
  // Quorum still holds: 2 diskful + a tiebreaker, not on the evacuated node.
  EXPECT_EQ(ResourceNodes("r1").size(), 3u);
  EXPECT_EQ(cluster_->FindRd("r1")->props.at(prop::kQuorum), "majority");
  std::string before = Snapshot();
  ExpectOk(service_->FinishEvacuation("r1", "a"));  // no longer evacuating: nothing
  EXPECT_EQ(Snapshot(), before);
  // Autoplacement does not use the node.
  AddRd("r2");
  AutoplaceRequest ap;
  ap.select_filter.place_count = 3;
  ExpectOk(service_->Autoplace("r2", ap));
  auto r2 = ResourceNodes("r2");
  EXPECT_EQ(std::count(r2.begin(), r2.end(), "a"), 0);
  AutoplaceRequest all;
  all.select_filter.place_count = 4;
  EXPECT_EQ(FirstCode(service_->Autoplace("r2", all)), rc::kFailNotEnoughNodes);
}

TEST_F(ServiceTest, EvacuateWithoutTargetChangesNothing) {
  ThreeNodes();
  ResourceGroup rg;
  rg.name = "rg";
  rg.select_filter.place_count = 3;
  ExpectOk(service_->CreateRg(rg));
  ExpectOk(service_->Spawn("rg", SpawnOf("vol", 1024)));
  std::string before_db = Snapshot();
  std::string before_mem = MemorySnapshot();
  auto r = service_->EvacuateNode("a");
  ASSERT_TRUE(rc::HasError(r));
  EXPECT_EQ(FirstCode(r), rc::kFailNotEnoughNodes);
  EXPECT_THAT(r.front().message, HasSubstr("Cannot evacuate node 'a'"));
  EXPECT_THAT(r.front().message, HasSubstr("'vol'"));
  EXPECT_THAT(r.front().cause, HasSubstr("'rg'"));
  EXPECT_EQ(Snapshot(), before_db);
  EXPECT_EQ(MemorySnapshot(), before_mem);
  EXPECT_TRUE(cluster_->FindNode("a")->flags.empty());
  EXPECT_EQ(FirstCode(service_->EvacuateNode("nonode")), rc::kFailNotFoundNode);
}

TEST_F(ServiceTest, EvacuateRespectsTheGroupFilter) {
  for (const char* n : {"a", "b", "c"}) {
    AddNode(n, {{"Aux/zone", n[0] == 'c' ? "z2" : "z1"}});
    AddPool(n, "pool", 1000000);
  }
  AddNode("d", {{"Aux/zone", "z2"}});
  AddPool("d", "other", 1000000);  // not the group's pool
  ResourceGroup rg;
  rg.name = "rg";
  rg.select_filter.place_count = 2;
  rg.select_filter.storage_pool_list = {"pool"};
  rg.select_filter.replicas_on_different = {"Aux/zone"};
  ExpectOk(service_->CreateRg(rg));
  AddRd("vol", 1024, "rg");
  Place("vol", "a");
  Place("vol", "c");
  // c's replacement must be in z2 (b is z1 like a) with pool 'pool': only c has it.
  std::string before = Snapshot();
  EXPECT_EQ(FirstCode(service_->EvacuateNode("c")), rc::kFailNotEnoughNodes);
  EXPECT_EQ(Snapshot(), before);
  // a's replacement may be in z1 again (the leaving replica does not count): b.
  ExpectOk(service_->EvacuateNode("a"));
  FinishEvacuations();
  EXPECT_THAT(ResourceNodes("vol", false), ElementsAre("b", "c"));
}

TEST_F(ServiceTest, EvacuateHonoursTargetAndDoNotTarget) {
  NodesWithPool({"a", "b", "c", "d", "e"});
  AddRd("r1");
  Place("r1", "a");
  Place("r1", "b");  // tiebreaker on c
  std::string before = Snapshot();
  EXPECT_EQ(FirstCode(service_->EvacuateNode("a", {"nonode"})), rc::kFailNotFoundNode);
  EXPECT_EQ(FirstCode(service_->EvacuateNode("a", {"b"})), rc::kFailNotEnoughNodes);
  EXPECT_EQ(FirstCode(service_->EvacuateNode("a", {}, {"b", "c", "d", "e"})),
            rc::kFailNotEnoughNodes);
  EXPECT_EQ(Snapshot(), before);
  ExpectOk(service_->EvacuateNode("a", {}, {"c", "d"}));
  FinishEvacuations();
  EXPECT_THAT(ResourceNodes("r1", false), ElementsAre("b", "e"));
  ExpectOk(service_->RestoreNode("a"));
  ExpectOk(service_->EvacuateNode("b", {"d"}));
  FinishEvacuations();
  EXPECT_THAT(ResourceNodes("r1", false), ElementsAre("d", "e"));
}

TEST_F(ServiceTest, RestoreClearsEvacuate) {
  ThreeNodes();
  ExpectOk(service_->EvacuateNode("a"));
  EXPECT_TRUE(HasFlag(cluster_->FindNode("a")->flags, kFlagEvacuate));
  ExpectOk(service_->RestoreNode("A"));
  EXPECT_TRUE(cluster_->FindNode("a")->flags.empty());
  ExpectOk(service_->RestoreNode("a"));  // idempotent
  EXPECT_EQ(FirstCode(service_->RestoreNode("nonode")), rc::kFailNotFoundNode);
  // The node is a placement target again.
  AddRd("r1");
  AutoplaceRequest ap;
  ap.select_filter.place_count = 3;
  ExpectOk(service_->Autoplace("r1", ap));
  EXPECT_EQ(ResourceNodes("r1").size(), 3u);
}

// The tick's decision: an evacuated replica goes when every other diskful
// replica reports all volumes UpToDate from a live satellite, and not while
// it is in use.
TEST_F(ServiceTest, EvacuationsAreDoneWhenTheReplacementsAreUpToDate) {
  NodesWithPool({"a", "b", "c", "d"});
  AddRd("r1");
  Place("r1", "a");
  Place("r1", "b");
  ExpectOk(service_->EvacuateNode("a"));
  std::string target;
  for (const std::string& n : ResourceNodes("r1", false))
    if (n != "a" && n != "b") target = n;
  ASSERT_FALSE(target.empty());
  auto node_with = [](const std::string& disk, bool in_use, bool live = true) {
    auto o = std::make_shared<ObservedNode>();
    o->status = live ? kOnline : kOffline;
    satproto::ResourceState st;
    st.name = "r1";
    st.in_use = in_use;
    satproto::VolumeState v;
    v.disk_state = disk;
    st.volumes.push_back(v);
    o->resources["r1"] = st;
    return std::shared_ptr<const ObservedNode>(o);
  };
  ObservedMap obs;
  obs["a"] = node_with("UpToDate", false);
  obs["b"] = node_with("UpToDate", false);
  obs[target] = node_with("Inconsistent", false);
  EXPECT_TRUE(EvacuationsDone(*cluster_, obs).empty()) << "the new replica is still syncing";
  obs[target] = node_with("UpToDate", false, /*live=*/false);
  EXPECT_TRUE(EvacuationsDone(*cluster_, obs).empty()) << "its satellite is not connected";
  obs[target] = node_with("UpToDate", false);
  obs["a"] = node_with("UpToDate", true);
  EXPECT_TRUE(EvacuationsDone(*cluster_, obs).empty()) << "the leaving replica is in use";
  obs["a"] = node_with("UpToDate", false);
  auto done = EvacuationsDone(*cluster_, obs);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0], std::make_pair(std::string("r1"), std::string("a")));
  obs.erase("a");  // the leaving node died: it need not be asked
  EXPECT_EQ(EvacuationsDone(*cluster_, obs).size(), 1u);
}

// Auto-Evict (user guide): no replacement while AutoEvictMinReplicaCount
// replicas remain elsewhere; the evicted replica is simply deleted.
TEST_F(ServiceTest, EvictWithEnoughReplicasLeftPlacesNoReplacement) {
  NodesWithPool({"a", "b", "c", "d"});
  AddRd("r1");
  Place("r1", "a");
  Place("r1", "b");
  Place("r1", "c");
  RdModifyRequest mod;
  mod.props.override_props[prop::kAutoEvictMinReplicaCount] = "2";
  ExpectOk(service_->ModifyRd("r1", mod));
  auto r = service_->EvictNode("a");
  ExpectOk(r);
  EXPECT_THAT(Describe(r), HasSubstr("AutoEvictMinReplicaCount 2"));
  EXPECT_THAT(ResourceNodes("r1", false), ElementsAre("b", "c"));  // none on d
  EXPECT_TRUE(HasFlag(cluster_->FindNode("a")->flags, kFlagEvicted));

  // Without the property the group's place count (2) is the minimum: with one
  // replica left, a replacement is placed.
  AddRd("r2");
  Place("r2", "b");
  Place("r2", "d");
  ExpectOk(service_->EvictNode("b"));
  auto r2 = ResourceNodes("r2", false);
  EXPECT_EQ(r2.size(), 2u);
  EXPECT_EQ(std::count(r2.begin(), r2.end(), "b"), 0);
  EXPECT_EQ(std::count(r2.begin(), r2.end(), "d"), 1);
}

// An evicted replica that no node can replace is kept (deleted only once its
// auto-place succeeded), and a later retry moves it.
TEST_F(ServiceTest, EvictWithoutATargetKeepsTheReplicaUntilARetrySucceeds) {
  NodesWithPool({"a", "b"});
  AddRd("r1");
  Place("r1", "a");
  Place("r1", "b");
  auto r = service_->EvictNode("a");
  ExpectOk(r);  // a warning, not an error: the node is evicted either way
  EXPECT_THAT(Describe(r), HasSubstr("stays until another node can take it"));
  EXPECT_TRUE(HasFlag(cluster_->FindNode("a")->flags, kFlagEvicted));
  EXPECT_THAT(ResourceNodes("r1", false), ElementsAre("a", "b"));
  AddNode("c");
  AddPool("c", "pool", 1000000);
  ExpectOk(service_->EvictNode("a"));
  EXPECT_THAT(ResourceNodes("r1", false), ElementsAre("b", "c"));
  EXPECT_TRUE(cluster_->ResourcesOnNode("a").empty());
}

// make-available --block-device: the resource property the satellite turns
// into a loop device, on a new resource and on one already there.
TEST_F(ServiceTest, MakeAvailableAsABlockDeviceSetsTheProperty) {
  NodesWithPool({"a", "b", "c"});
  AddRd("r1");
  Place("r1", "a");
  Place("r1", "b");
  ExpectOk(service_->MakeAvailable("r1", "c", false, true));
  const Resource* c = cluster_->FindResource("r1", "c");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->diskless());
  EXPECT_FALSE(c->tiebreaker());
  EXPECT_EQ(c->props.at(prop::kBlockDevice), "true");
  auto desired = DesiredResource(*cluster_, *cluster_->FindRd("r1"));
  ASSERT_EQ(desired.count("c"), 1u);
  EXPECT_TRUE(desired.at("c").block_device);
  EXPECT_FALSE(desired.at("a").block_device);
  ExpectOk(service_->MakeAvailable("r1", "a", false, true));  // already there: gets one
  EXPECT_EQ(cluster_->FindResource("r1", "a")->props.at(prop::kBlockDevice), "true");
  EXPECT_FALSE(cluster_->FindResource("r1", "a")->diskless());
}

TEST_F(ServiceTest, LostNodeRemovesItsResourcesAndReevaluatesQuorum) {
  NodesWithPool({"a", "b", "c", "d"});
  AddRd("r1");
  Place("r1", "a");
  Place("r1", "b");
  Place("r1", "c");
  EXPECT_EQ(ResourceNodes("r1").size(), 3u);  // 3 diskful: no tiebreaker
  auto r = service_->LostNode("c");
  ExpectOk(r);
  EXPECT_EQ(cluster_->FindNode("c"), nullptr);
  EXPECT_EQ(cluster_->FindPool("c", "pool"), nullptr);
  EXPECT_TRUE(cluster_->ResourcesOnNode("c").empty());
  // 2 diskful left: a tiebreaker on d keeps quorum.
  const Resource* tb = cluster_->FindResource("r1", "d");
  ASSERT_NE(tb, nullptr) << Describe(r);
  EXPECT_TRUE(tb->tiebreaker());
  EXPECT_EQ(cluster_->FindRd("r1")->props.at(prop::kQuorum), "majority");
  std::string before = Snapshot();
  EXPECT_EQ(FirstCode(service_->LostNode("c")), rc::kFailNotFoundNode);
  EXPECT_EQ(Snapshot(), before);
}

// ---- net interfaces ---------------------------------------------------------

NetInterfaceRequest Nif(const std::string& name, const std::string& address) {
  NetInterfaceRequest r;
  r.name = name;
  r.address = address;
  return r;
}

TEST_F(ServiceTest, NetInterfaceCreateModifyDelete) {
  AddNode("a");
  ExpectOk(service_->CreateNetInterface("a", Nif("nic1", "10.0.0.2")));
  const Node* n = cluster_->FindNode("a");
  ASSERT_EQ(n->net_interfaces.size(), 2u);
  EXPECT_EQ(n->net_interfaces[1].satellite_port, 3366);
  EXPECT_FALSE(n->net_interfaces[1].is_active);
  NetInterfaceRequest activate;
  activate.is_active = true;
  activate.address = "10.0.0.3";
  ExpectOk(service_->ModifyNetInterface("a", "NIC1", activate));
  n = cluster_->FindNode("a");
  EXPECT_FALSE(n->net_interfaces[0].is_active);
  EXPECT_TRUE(n->net_interfaces[1].is_active);
  EXPECT_EQ(n->net_interfaces[1].address, "10.0.0.3");
  EXPECT_EQ(n->props.at("CurStltConnName"), "nic1");
  // The controller dials the active interface (the hub redials when it changes).
  EXPECT_EQ(EndpointOf(*n), (SatelliteEndpoint{"10.0.0.3", 3366}));
  ExpectOk(service_->DeleteNetInterface("a", "default"));
  EXPECT_EQ(cluster_->FindNode("a")->net_interfaces.size(), 1u);
}

TEST_F(ServiceTest, SslNetInterfaceDefaultsToPort3367) {
  AddNode("a");
  NetInterfaceRequest r = Nif("secure", "10.0.0.2");
  r.encryption_type = "ssl";
  ExpectOk(service_->CreateNetInterface("a", r));
  EXPECT_EQ(cluster_->FindNode("a")->net_interfaces[1].satellite_port, 3367);
  EXPECT_EQ(cluster_->FindNode("a")->net_interfaces[1].encryption_type, "SSL");
}

TEST_F(ServiceTest, RefusedNetInterfaceRequestsChangeNothing) {
  AddNode("a");
  std::string before = Snapshot();
  auto code = [](const rc::ApiCallRcList& l) { return l.empty() ? 0 : l.front().code(); };
  EXPECT_EQ(code(service_->CreateNetInterface("a", Nif("default", "10.0.0.9"))),
            rc::kFailExistsNetIf);
  EXPECT_EQ(code(service_->CreateNetInterface("a", Nif("nic1", "10.0.0.256"))),
            rc::kFailInvldNetAddr);
  EXPECT_EQ(code(service_->CreateNetInterface("a", Nif("x", "10.0.0.2"))), rc::kFailInvldNetName);
  NetInterfaceRequest port = Nif("nic1", "10.0.0.2");
  port.satellite_port = 70000;
  EXPECT_EQ(code(service_->CreateNetInterface("a", port)), rc::kFailInvldNetPort);
  EXPECT_EQ(code(service_->CreateNetInterface("nonode", Nif("nic1", "10.0.0.2"))),
            rc::kFailNotFoundNode);
  EXPECT_EQ(code(service_->DeleteNetInterface("a", "default")), rc::kFailInUse);  // the last
  EXPECT_EQ(code(service_->DeleteNetInterface("a", "nic9")), rc::kFailNotFoundNetIf);
  NetInterfaceRequest bad_ip;
  bad_ip.address = "not-an-ip";
  EXPECT_EQ(code(service_->ModifyNetInterface("a", "default", bad_ip)), rc::kFailInvldNetAddr);
  NetInterfaceRequest off;
  off.is_active = false;
  EXPECT_EQ(code(service_->ModifyNetInterface("a", "default", off)), rc::kFailInvldConf);
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ServiceTest, ActiveNetInterfaceCannotBeDeleted) {
  AddNode("a");
  ExpectOk(service_->CreateNetInterface("a", Nif("nic1", "10.0.0.2")));
  std::string before = Snapshot();
  auto r = service_->DeleteNetInterface("a", "default");
  ASSERT_TRUE(rc::HasError(r));
  EXPECT_EQ(r.front().code(), rc::kFailInUse);
  EXPECT_EQ(Snapshot(), before);
}

// ---- query-size-info ----------------------------------------------------------

TEST_F(ServiceTest, SizeInfoUsesTheGroupFilterWithOverrides) {
  for (const char* n : {"a", "b", "c"}) {
    AddNode(n);
    AddPool(n, "pool", 100000);
  }
  ResourceGroup rg;
  rg.name = "grp";
  rg.select_filter.place_count = 3;
  ExpectOk(service_->CreateRg(rg));
  auto answer = service_->QuerySizeInfo("grp", {});
  ASSERT_TRUE(answer.info);
  EXPECT_FALSE(rc::HasError(answer.reports)) << testing::Describe(answer.reports);
  EXPECT_EQ(answer.info->next_spawn.size(), 3u);
  SelectFilter two;
  two.place_count = 2;
  EXPECT_EQ(service_->QuerySizeInfo("grp", two).info->next_spawn.size(), 2u);
  SelectFilter four;
  four.place_count = 4;
  auto none = service_->QuerySizeInfo("grp", four);
  ASSERT_TRUE(none.info);
  EXPECT_EQ(none.info->max_vlm_size_kib, 0);
  ASSERT_TRUE(rc::HasError(none.reports));
  EXPECT_EQ(none.reports.front().code(), rc::kFailNotEnoughNodes);
  auto missing = service_->QuerySizeInfo("nogrp", {});
  EXPECT_FALSE(missing.info);
  EXPECT_EQ(rc::HttpStatusFor(missing.reports, 200), 404);
}

}  // namespace
}  // namespace tandem::controller
