// The autoplacer's constraints and strategies, one behaviour per test.
#include "controller/placement.h"

#include <gmock/gmock.h>

#include "controller/test_fixture.h"

namespace tandem::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

class PlacementTest : public testing::ControllerTest {
 protected:
  Result<PlacementResult> Run(const std::string& rd, SelectFilter f) {
    return Autoplace(*cluster_, PlacementRequest{rd, std::move(f)});
  }
  SelectFilter Count(int n) {
    SelectFilter f;
    f.place_count = n;
    return f;
  }
};

TEST_F(PlacementTest, MaxFreeSpacePicksTheEmptiestPools) {
  AddNode("a");
  AddNode("b");
  AddNode("c");
  AddPool("a", "pool", 100000);
  AddPool("b", "pool", 300000);
  AddPool("c", "pool", 200000);
  AddRd("rsc");
  auto r = Run("rsc", Count(2));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(NodesOf(*r), ElementsAre("b", "c"));
}

TEST_F(PlacementTest, TiesAreBrokenByNameAndRepeatable) {
  for (const char* n : {"delta", "alpha", "charlie", "bravo"}) {
    AddNode(n);
    AddPool(n, "pool", 100000);
  }
  AddRd("rsc");
  auto first = Run("rsc", Count(3));
  auto second = Run("rsc", Count(3));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_THAT(NodesOf(*first), ElementsAre("alpha", "bravo", "charlie"));
  EXPECT_EQ(NodesOf(*first), NodesOf(*second));
}

TEST_F(PlacementTest, StoragePoolFilterExplainsShortfall) {
  AddNode("a");
  AddNode("b");
  AddNode("c");
  AddPool("a", "ssd", 100000);
  AddPool("b", "ssd", 100000);
  AddPool("c", "hdd", 100000);
  AddRd("rsc");
  SelectFilter f = Count(3);
  f.storage_pool_list = {"ssd"};
  auto r = Run("rsc", f);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kRefused);
  EXPECT_EQ(r.error().message, "Not enough available nodes: need 3, 2 match storage pool 'ssd'");
}

TEST_F(PlacementTest, StoragePoolListAcceptsAnyListedPool) {
  AddNode("a");
  AddNode("b");
  AddPool("a", "ssd", 100000);
  AddPool("b", "nvme", 100000);
  AddRd("rsc");
  SelectFilter f = Count(2);
  f.storage_pool_list = {"ssd", "nvme"};
  auto r = Run("rsc", f);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->diskful[0].pool, "ssd");
  EXPECT_EQ(r->diskful[1].pool, "nvme");
}

TEST_F(PlacementTest, ReplicasOnSameWithValueFiltersNodes) {
  // The user guide's example: node-1 has testProperty=0 and is skipped.
  AddNode("node-0", {{"Aux/testProperty", "1"}});
  AddNode("node-1", {{"Aux/testProperty", "0"}});
  AddNode("node-2", {{"Aux/testProperty", "1"}});
  for (const char* n : {"node-0", "node-1", "node-2"}) AddPool(n, "pool", 100000);
  AddPool("node-1", "big", 900000);  // would win on free space
  AddRd("rsc");
  SelectFilter f = Count(2);
  f.replicas_on_same = {"testProperty=1"};
  auto r = Run("rsc", f);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(NodesOf(*r), UnorderedElementsAre("node-0", "node-2"));
}

TEST_F(PlacementTest, ReplicasOnSameWithoutValueKeepsOneGroup) {
  AddNode("a1", {{"Aux/rack", "a"}});
  AddNode("b1", {{"Aux/rack", "b"}});
  AddNode("b2", {{"Aux/rack", "b"}});
  AddPool("a1", "pool", 900000);  // best single node, but alone in rack a
  AddPool("b1", "pool", 100000);
  AddPool("b2", "pool", 100000);
  AddRd("rsc");
  SelectFilter f = Count(2);
  f.replicas_on_same = {"Aux/rack"};
  auto r = Run("rsc", f);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(NodesOf(*r), UnorderedElementsAre("b1", "b2"));
}

TEST_F(PlacementTest, ReplicasOnSameFollowsExistingReplicas) {
  AddNode("a1", {{"Aux/rack", "a"}});
  AddNode("a2", {{"Aux/rack", "a"}});
  AddNode("b1", {{"Aux/rack", "b"}});
  AddPool("a1", "pool", 100000);
  AddPool("a2", "pool", 100000);
  AddPool("b1", "pool", 900000);
  AddRd("rsc");
  Place("rsc", "a1");
  SelectFilter f = Count(2);
  f.replicas_on_same = {"rack"};
  auto r = Run("rsc", f);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(NodesOf(*r), ElementsAre("a2"));
}

TEST_F(PlacementTest, ReplicasOnDifferentSpreadsOverValues) {
  AddNode("z1a", {{"Aux/zone", "1"}});
  AddNode("z1b", {{"Aux/zone", "1"}});
  AddNode("z2a", {{"Aux/zone", "2"}});
  AddPool("z1a", "pool", 900000);
  AddPool("z1b", "pool", 800000);
  AddPool("z2a", "pool", 100000);
  AddRd("rsc");
  SelectFilter f = Count(2);
  f.replicas_on_different = {"zone"};
  auto r = Run("rsc", f);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(NodesOf(*r), ElementsAre("z1a", "z2a"));
}

TEST_F(PlacementTest, ReplicasOnDifferentImpossibleSaysWhy) {
  AddNode("z1a", {{"Aux/zone", "1"}});
  AddNode("z1b", {{"Aux/zone", "1"}});
  AddPool("z1a", "pool", 100000);
  AddPool("z1b", "pool", 100000);
  AddRd("rsc");
  SelectFilter f = Count(2);
  f.replicas_on_different = {"Aux/zone"};
  auto r = Run("rsc", f);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("Not enough available nodes: need 2"));
  EXPECT_THAT(r.error().message, HasSubstr("replicas-on-different 'Aux/zone'"));
}

TEST_F(PlacementTest, XReplicasOnDifferentLimitsPerValue) {
  for (const char* n : {"a1", "a2", "a3"}) AddNode(n, {{"Aux/dc", "a"}});
  AddNode("b1", {{"Aux/dc", "b"}});
  AddPool("a1", "pool", 900000);
  AddPool("a2", "pool", 800000);
  AddPool("a3", "pool", 700000);
  AddPool("b1", "pool", 100000);
  AddRd("rsc");
  SelectFilter f = Count(3);
  f.x_replicas_on_different = {{"dc", 2}};
  auto r = Run("rsc", f);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(NodesOf(*r), ElementsAre("a1", "a2", "b1"));
}

TEST_F(PlacementTest, DoNotPlaceWithAvoidsNodesOfThatResource) {
  for (const char* n : {"a", "b", "c"}) AddNode(n);
  AddPool("a", "pool", 900000);
  AddPool("b", "pool", 500000);
  AddPool("c", "pool", 100000);
  AddRd("other");
  Place("other", "a");
  AddRd("rsc");
  SelectFilter f = Count(2);
  f.not_place_with_rsc = {"other"};
  auto r = Run("rsc", f);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(NodesOf(*r), ElementsAre("b", "c"));
}

TEST_F(PlacementTest, DoNotPlaceWithRegexAvoidsMatchingResources) {
  for (const char* n : {"a", "b", "c"}) AddNode(n);
  AddPool("a", "pool", 900000);
  AddPool("b", "pool", 500000);
  AddPool("c", "pool", 100000);
  AddRd("db-1");
  Place("db-1", "a");
  AddRd("rsc");
  SelectFilter f = Count(2);
  f.not_place_with_rsc_regex = "db-.*";
  auto r = Run("rsc", f);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(NodesOf(*r), ElementsAre("b", "c"));
  f.not_place_with_rsc_regex = "db-(";
  auto bad = Run("rsc", f);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
}

TEST_F(PlacementTest, AutoplaceTargetFalseExcludesNode) {
  AddNode("a", {{"AutoplaceTarget", "false"}});
  AddNode("b");
  AddNode("c");
  AddPool("a", "pool", 900000);
  AddPool("b", "pool", 100000);
  AddPool("c", "pool", 100000);
  AddRd("rsc");
  auto r = Run("rsc", Count(2));
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(NodesOf(*r), ElementsAre("b", "c"));
  auto three = Run("rsc", Count(3));
  ASSERT_FALSE(three.ok());
  EXPECT_THAT(three.error().message, HasSubstr("need 3, 2 are available for placement"));
}

TEST_F(PlacementTest, ProviderListRestrictsPools) {
  for (const char* n : {"a", "b", "c"}) AddNode(n);
  AddPool("a", "pool", 900000, ProviderKind::kFile);
  AddPool("b", "pool", 100000, ProviderKind::kFileThin);
  AddPool("c", "pool", 100000, ProviderKind::kLvmThin);
  AddRd("rsc");
  SelectFilter f = Count(2);
  f.provider_list = {"file_thin", "LVM_THIN"};
  auto r = Run("rsc", f);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(NodesOf(*r), ElementsAre("b", "c"));
}

TEST_F(PlacementTest, UnsupportedLayerIsRefused) {
  AddNode("a");
  AddPool("a", "pool", 100000);
  AddRd("rsc");
  SelectFilter f = Count(1);
  f.layer_stack = {"drbd", "luks", "storage"};
  auto r = Run("rsc", f);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("support the layer LUKS"));
  f.layer_stack = {"drbd", "storage"};
  EXPECT_TRUE(Run("rsc", f).ok());
}

TEST_F(PlacementTest, NotEnoughFreeSpaceSaysHowMuchWasNeeded) {
  AddNode("a");
  AddNode("b");
  AddPool("a", "pool", 10000);
  AddPool("b", "pool", 1000);
  AddRd("rsc", 5000);
  auto r = Run("rsc", Count(2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "Not enough available nodes: need 2, 1 have 5000 KiB free in a matching pool");
}

TEST_F(PlacementTest, FatPoolsCountPlacedVolumesAgainstFreeSpace) {
  AddNode("a");
  AddNode("b");
  AddPool("a", "pool", 10000);
  AddPool("b", "pool", 8000);
  AddRd("first", 5000);
  Place("first", "a");  // a: 5000 left, b: 8000
  AddRd("rsc", 1000);
  auto r = Run("rsc", Count(1));
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(NodesOf(*r), ElementsAre("b"));
}

TEST_F(PlacementTest, ThinPoolsAllowOversubscription) {
  AddNode("a");
  AddPool("a", "pool", 1000, ProviderKind::kFileThin);
  AddRd("rsc", 5000);  // 5x the pool: fine with the default ratio of 20
  EXPECT_TRUE(Run("rsc", Count(1)).ok());
  AddRd("huge", 50000);
  EXPECT_FALSE(Run("huge", Count(1)).ok());
}

TEST_F(PlacementTest, AdditionalPlaceCountAddsToExisting) {
  for (const char* n : {"a", "b", "c", "d"}) {
    AddNode(n);
    AddPool(n, "pool", 100000);
  }
  AddRd("rsc");
  Place("rsc", "c");
  Place("rsc", "d");
  SelectFilter f;
  f.additional_place_count = 1;
  auto r = Run("rsc", f);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->existing_diskful, 2);
  EXPECT_EQ(r->target, 3);
  EXPECT_THAT(NodesOf(*r), ElementsAre("a"));
}

TEST_F(PlacementTest, PlaceCountAlreadyMetPlacesNothing) {
  for (const char* n : {"a", "b", "c"}) {
    AddNode(n);
    AddPool(n, "pool", 100000);
  }
  AddRd("rsc");
  Place("rsc", "a");
  Place("rsc", "b");
  auto r = Run("rsc", Count(2));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->diskful.empty());
}

TEST_F(PlacementTest, NodeNameListRestrictsCandidates) {
  for (const char* n : {"a", "b", "c"}) {
    AddNode(n);
    AddPool(n, "pool", 100000);
  }
  AddRd("rsc");
  SelectFilter f = Count(2);
  f.node_name_list = {"C", "b"};  // names are case-insensitive
  auto r = Run("rsc", f);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(NodesOf(*r), ElementsAre("b", "c"));
}

TEST_F(PlacementTest, DisklessOnRemainingCoversOtherNodes) {
  for (const char* n : {"a", "b", "c", "d"}) AddNode(n);
  AddPool("a", "pool", 100000);
  AddPool("b", "pool", 100000);
  AddRd("rsc");
  SelectFilter f = Count(2);
  f.diskless_on_remaining = true;
  auto r = Run("rsc", f);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->diskless.size(), 2u);
  EXPECT_EQ(r->diskless[0].node, "c");
  EXPECT_EQ(r->diskless[0].pool, kDefaultDisklessPool);
}

TEST_F(PlacementTest, MinRscCountPrefersEmptierPools) {
  for (const char* n : {"a", "b", "c"}) AddNode(n);
  AddPool("a", "pool", 900000);
  AddPool("b", "pool", 500000);
  AddPool("c", "pool", 500000);
  for (const char* rd : {"x1", "x2"}) {
    AddRd(rd, 1);
    Place(rd, "a");
  }
  AddRd("rsc");
  PropsChange weights;
  weights.override_props = {{"Autoplacer/Weights/MaxFreeSpace", "0"},
                            {"Autoplacer/Weights/MinRscCount", "1"}};
  ExpectOk(service_->SetControllerProps(weights));
  auto r = Run("rsc", Count(2));
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(NodesOf(*r), ElementsAre("b", "c"));
}

TEST_F(PlacementTest, MinReservedSpaceLooksAtThinReservations) {
  for (const char* n : {"a", "b"}) AddNode(n);
  // a reports more free space, but has more reserved (thin) volumes.
  AddPool("a", "pool", 100000, ProviderKind::kFileThin, 90000);
  AddPool("b", "pool", 100000, ProviderKind::kFileThin, 50000);
  AddRd("big", 80000);
  Place("big", "a");
  AddRd("rsc");
  EXPECT_THAT(NodesOf(*Run("rsc", Count(1))), ElementsAre("a"));  // MaxFreeSpace default
  PropsChange weights;
  weights.override_props = {{"Autoplacer/Weights/MaxFreeSpace", "0"},
                            {"Autoplacer/Weights/MinReservedSpace", "1"}};
  ExpectOk(service_->SetControllerProps(weights));
  EXPECT_THAT(NodesOf(*Run("rsc", Count(1))), ElementsAre("b"));
}

TEST_F(PlacementTest, MaxThroughputSubtractsThrottledVolumes) {
  for (const char* n : {"a", "b"}) AddNode(n);
  AddPool("a", "pool", 100000, ProviderKind::kFile, {}, {{"Autoplacer/MaxThroughput", "1000"}});
  AddPool("b", "pool", 100000, ProviderKind::kFile, {}, {{"Autoplacer/MaxThroughput", "800"}});
  RdCreateRequest rd;
  rd.rd.name = "busy";
  ExpectOk(service_->CreateRd(rd));
  VdCreateRequest vd;
  vd.vd.size_kib = 1;
  vd.vd.props = {{"sys/fs/blkio_throttle_read", "300"}};
  ExpectOk(service_->CreateVd("busy", vd));
  Place("busy", "a");  // a: 1000 - 300 = 700 < 800
  AddRd("rsc");
  PropsChange weights;
  weights.override_props = {{"Autoplacer/Weights/MaxFreeSpace", "0"},
                            {"Autoplacer/Weights/MaxThroughput", "1"}};
  ExpectOk(service_->SetControllerProps(weights));
  EXPECT_THAT(NodesOf(*Run("rsc", Count(1))), ElementsAre("b"));
}

TEST_F(PlacementTest, WeightsCombineStrategies) {
  for (const char* n : {"a", "b"}) AddNode(n);
  AddPool("a", "pool", 200000);
  AddPool("b", "pool", 100000);
  AddRd("xx", 1);
  Place("xx", "a");
  AddRd("rsc");
  // Free space favours a slightly; resource count favours b, with more weight.
  PropsChange weights;
  weights.override_props = {{"Autoplacer/Weights/MaxFreeSpace", "1"},
                            {"Autoplacer/Weights/MinRscCount", "2"}};
  ExpectOk(service_->SetControllerProps(weights));
  EXPECT_THAT(NodesOf(*Run("rsc", Count(1))), ElementsAre("b"));
}

TEST_F(PlacementTest, RatePoolsNormalizesEachStrategy) {
  std::vector<PoolRating> in(2);
  in[0].free_kib = 100;
  in[1].free_kib = 300;
  auto out = RatePools(*cluster_, in);
  EXPECT_DOUBLE_EQ(out[0].score, 0.0);
  EXPECT_DOUBLE_EQ(out[1].score, 1.0);
}

TEST_F(PlacementTest, ControllerAndAuxiliaryNodesAreNotCandidates) {
  Node ctrl;
  ctrl.name = "ctrl";
  ctrl.type = NodeType::kController;
  ExpectOk(service_->CreateNode(ctrl));
  AddNode("a");
  AddPool("a", "pool", 1000);
  AddRd("rsc");
  auto r = Run("rsc", Count(2));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("need 2, 1 are available"));
}

// ---- query-size-info ----------------------------------------------------------

TEST_F(PlacementTest, SizeInfoOfFatPoolsIsTheSmallestFreeSpaceOfTheChosenPools) {
  AddNode("a");
  AddNode("b");
  AddNode("c");
  AddPool("a", "pool", 100000, ProviderKind::kFile, 40000);
  AddPool("b", "pool", 300000, ProviderKind::kFile, 250000);
  AddPool("c", "pool", 200000, ProviderKind::kFile, 150000);
  auto info = QuerySizeInfo(*cluster_, Count(2));
  ASSERT_TRUE(info.ok()) << info.error().message;
  ASSERT_EQ(info->next_spawn.size(), 2u);  // MaxFreeSpace: b and c, as a spawn would
  EXPECT_EQ(info->next_spawn[0].node, "b");
  EXPECT_EQ(info->next_spawn[1].node, "c");
  EXPECT_EQ(info->max_vlm_size_kib, 150000);
  EXPECT_EQ(info->available_kib, 150000);
  EXPECT_EQ(info->capacity_kib, 200000);
  EXPECT_FALSE(info->next_spawn[0].oversubscription_ratio);
}

TEST_F(PlacementTest, SizeInfoCountsVolumesAlreadyPlacedInFatPools) {
  AddNode("a");
  AddNode("b");
  AddPool("a", "pool", 100000);
  AddPool("b", "pool", 100000);
  AddRd("old", 30000);
  Place("old", "a");
  // The report still says 100000 free on a; placed volumes count anyway.
  auto info = QuerySizeInfo(*cluster_, Count(2));
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->max_vlm_size_kib, 70000);
}

TEST_F(PlacementTest, SizeInfoOfThinPoolsUsesTheOversubscriptionRatio) {
  AddNode("a");
  AddNode("b");
  AddPool("a", "pool", 100000, ProviderKind::kFileThin, 50000);
  AddPool("b", "pool", 100000, ProviderKind::kFileThin, 80000,
          {{std::string(prop::kMaxOversubscription), "2"}});
  auto info = QuerySizeInfo(*cluster_, Count(2));
  ASSERT_TRUE(info.ok()) << info.error().message;
  // a: min(100000 x 20, 50000 x 20) = 1000000; b: min(100000 x 2, 80000 x 2) = 160000.
  EXPECT_EQ(info->max_vlm_size_kib, 160000);
  EXPECT_EQ(info->max_oversubscription_ratio, 2);
  EXPECT_EQ(info->default_max_oversubscription_ratio, 20);
  EXPECT_EQ(info->available_kib, 50000);
}

TEST_F(PlacementTest, SizeInfoAgreesWithAutoplaceAtTheLimit) {
  AddNode("a");
  AddNode("b");
  AddPool("a", "pool", 100000, ProviderKind::kFile, 60000);
  AddPool("b", "pool", 100000, ProviderKind::kFile, 90000);
  auto info = QuerySizeInfo(*cluster_, Count(2));
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->max_vlm_size_kib, 60000);
  AddRd("fits", 60000);
  EXPECT_TRUE(Run("fits", Count(2)).ok());
  AddRd("too_big", 60001);
  EXPECT_FALSE(Run("too_big", Count(2)).ok());
}

TEST_F(PlacementTest, SizeInfoFailsWithThePlacementReason) {
  AddNode("a");
  AddPool("a", "pool", 100000);
  auto info = QuerySizeInfo(*cluster_, Count(2));
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, Errc::kRefused);
  EXPECT_THAT(info.error().message, HasSubstr("Not enough available nodes: need 2, 1"));
}

TEST_F(PlacementTest, SizeInfoChangesNothing) {
  AddNode("a");
  AddNode("b");
  AddPool("a", "pool", 100000);
  AddPool("b", "pool", 100000);
  size_t rds = cluster_->rds.size(), rscs = cluster_->resources.size();
  ASSERT_TRUE(QuerySizeInfo(*cluster_, Count(2)).ok());
  EXPECT_EQ(cluster_->rds.size(), rds);
  EXPECT_EQ(cluster_->resources.size(), rscs);
}

}  // namespace
}  // namespace tandem::controller
