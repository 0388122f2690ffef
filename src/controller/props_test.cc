// Properties: validation, modification and inheritance (user guide §1.5).
#include "controller/props.h"

#include <gtest/gtest.h>

#include "controller/test_fixture.h"

namespace tandem::controller {
namespace {

TEST(PropsTest, KeysMustBeWellFormed) {
  EXPECT_TRUE(ValidatePropKey("DrbdOptions/Net/protocol").ok());
  EXPECT_FALSE(ValidatePropKey("").ok());
  EXPECT_FALSE(ValidatePropKey("/leading").ok());
  EXPECT_FALSE(ValidatePropKey("a//b").ok());
  EXPECT_FALSE(ValidatePropKey("has space").ok());
  EXPECT_FALSE(ValidatePropKey(std::string(300, 'k')).ok());
}

TEST(PropsTest, KnownKeysCheckTheirValues) {
  EXPECT_TRUE(ValidateProp("AutoplaceTarget", "false").ok());
  EXPECT_FALSE(ValidateProp("AutoplaceTarget", "maybe").ok());
  EXPECT_TRUE(ValidateProp("Autoplacer/Weights/MinRscCount", "2.5").ok());
  EXPECT_FALSE(ValidateProp("Autoplacer/Weights/MinRscCount", "lots").ok());
  EXPECT_TRUE(ValidateProp("TcpPortAutoRange", "7000-7999").ok());
  EXPECT_FALSE(ValidateProp("TcpPortAutoRange", "7000").ok());
  EXPECT_FALSE(ValidateProp("DrbdOptions/auto-quorum", "sometimes").ok());
  EXPECT_TRUE(ValidateProp("DrbdOptions/Resource/quorum", "2").ok());
  EXPECT_FALSE(ValidateProp("DrbdOptions/Resource/on-no-quorum", "panic").ok());
  EXPECT_TRUE(ValidateProp("Aux/anything", "goes here").ok());
}

TEST(PropsTest, DrbdOptionsTheEngineKnowsCheckTheirValues) {
  EXPECT_TRUE(ValidateProp("DrbdOptions/Net/protocol", "C").ok());
  EXPECT_FALSE(ValidateProp("DrbdOptions/Net/protocol", "B").ok());
  EXPECT_FALSE(ValidateProp("DrbdOptions/Net/ping-timeout", "301").ok());
  EXPECT_TRUE(ValidateProp("DrbdOptions/PeerDevice/c-max-rate", "100M").ok());
  EXPECT_FALSE(ValidateProp("DrbdOptions/Disk/disk-flushes", "maybe").ok());
  EXPECT_TRUE(ValidateProp("DrbdOptions/Disk/disk-flushes", "").ok());  // deletes
  // Options Tandem does not know are kept as given (LINSTOR has many more).
  EXPECT_TRUE(ValidateProp("DrbdOptions/Handlers/split-brain", "/bin/true").ok());
}

TEST(PropsTest, ChangeDeletesThenOverrides) {
  Props p = {{"A/x", "1"}, {"A/y", "2"}, {"B", "3"}, {"C", "4"}};
  PropsChange c;
  c.delete_namespaces = {"A"};
  c.delete_props = {"B"};
  c.override_props = {{"A/x", "9"}, {"C", ""}};
  ApplyPropsChange(c, &p);
  EXPECT_EQ(p, (Props{{"A/x", "9"}}));
}

TEST(PropsTest, LowerLevelsWin) {
  Props ctrl = {{"k", "ctrl"}, {"only-ctrl", "c"}};
  Props rg = {{"k", "rg"}};
  Props rd = {{"k", "rd"}};
  auto eff = EffectiveProps(
      {{"resource definition", &rd}, {"resource group", &rg}, {"controller", &ctrl}});
  EXPECT_EQ(eff["k"].value, "rd");
  EXPECT_EQ(eff["k"].source, "resource definition");
  EXPECT_EQ(eff["k"].overridden.size(), 2u);
  EXPECT_EQ(eff["only-ctrl"].source, "controller");
}

TEST(PropsTest, FilterMatchesKeyAndKeyValue) {
  Props p = {{"Aux/zone", "a"}};
  EXPECT_TRUE(PropsMatch(p, {"Aux/zone"}));
  EXPECT_TRUE(PropsMatch(p, {"Aux/zone=a"}));
  EXPECT_FALSE(PropsMatch(p, {"Aux/zone=b"}));
  EXPECT_FALSE(PropsMatch(p, {"Aux/zone", "Aux/rack"}));
}

class InheritanceTest : public testing::ControllerTest {};

TEST_F(InheritanceTest, ResourceChainFollowsGuideOrder) {
  PropsChange ctrl;
  ctrl.override_props = {{"DrbdOptions/Net/max-buffers", "1000"},
                         {"DrbdOptions/Disk/al-extents", "100"}};
  ExpectOk(service_->SetControllerProps(ctrl));
  ResourceGroup rg;
  rg.name = "rg";
  rg.props = {{"DrbdOptions/Net/max-buffers", "2000"}, {"DrbdOptions/Net/verify-alg", "crc32c"}};
  ExpectOk(service_->CreateRg(rg));
  AddNode("a", {{"DrbdOptions/Disk/al-extents", "200"}});
  StoragePool p;
  p.name = "pool";
  p.props[prop::kStorDriverPoolName] = "/srv";
  ExpectOk(service_->CreatePool("a", p));
  AddRd("res", 1024, "rg");
  RdModifyRequest m;
  m.props.override_props = {{"DrbdOptions/Net/verify-alg", "sha256"}};
  ExpectOk(service_->ModifyRd("res", m));
  Place("res", "a");
  auto eff = EffectiveProps(cluster_->ResourceChain(*cluster_->FindResource("res", "a")));
  EXPECT_EQ(eff["DrbdOptions/Net/verify-alg"].value, "sha256");  // rd beats rg
  EXPECT_EQ(eff["DrbdOptions/Net/max-buffers"].value, "2000");   // rg beats controller
  EXPECT_EQ(eff["DrbdOptions/Disk/al-extents"].value, "200");    // node beats controller
  EXPECT_EQ(eff["StorPoolName"].source, "resource");
}

}  // namespace
}  // namespace tandem::controller
