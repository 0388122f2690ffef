// CLI helpers: sizes, endpoints, tables and argument errors.
#include "cli/cli.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "cli/http_client.h"

namespace tandem::cli {
namespace {

TEST(CliTest, SizesAreKibAndBareNumbersAreGib) {
  EXPECT_EQ(*ParseSizeKib("10"), 10 * 1024 * 1024);
  EXPECT_EQ(*ParseSizeKib("100G"), 100LL * 1024 * 1024);
  EXPECT_EQ(*ParseSizeKib("512MiB"), 512 * 1024);
  EXPECT_EQ(*ParseSizeKib("1T"), 1024LL * 1024 * 1024);
  EXPECT_FALSE(ParseSizeKib("12Q").ok());
  EXPECT_FALSE(ParseSizeKib("0").ok());
  EXPECT_EQ(FormatKib(1048576), "1 GiB");
  EXPECT_EQ(FormatKib(1536), "1.50 MiB");
}

TEST(CliTest, EndpointsAcceptLinstorForms) {
  EXPECT_EQ(ParseEndpoint("alice")->port, 3370);
  EXPECT_EQ(ParseEndpoint("linstor://10.0.0.1:4000")->port, 4000);
  EXPECT_EQ(ParseEndpoint("linstor://10.0.0.1:4000")->host, "10.0.0.1");
  EXPECT_EQ(ParseEndpoint("[::1]:3371")->host, "::1");
  EXPECT_FALSE(ParseEndpoint("linstor+ssl://alice").ok());
  EXPECT_FALSE(ParseEndpoint("host:99999").ok());
}

TEST(CliTest, TableAlignsColumns) {
  std::string t = RenderTable({"Node", "State"}, {{"alpha", "Online"}, {"b", "x"}});
  EXPECT_NE(t.find("┊ alpha ┊ Online ┊"), std::string::npos);
  EXPECT_NE(t.find("┊ b     ┊ x      ┊"), std::string::npos);
}

TEST(CliTest, UsageErrorsExitTwo) {
  std::ostringstream out, err;
  EXPECT_EQ(cli::Run({"node"}, out, err), kExitUsage);
  EXPECT_EQ(cli::Run({"frobnicate"}, out, err), kExitUsage);
  EXPECT_EQ(cli::Run({"r", "c", "res"}, out, err), kExitUsage);  // neither nodes nor --auto-place
  EXPECT_EQ(cli::Run({"--controllers", "host:0", "n", "l"}, out, err), kExitUsage);
}

// --help prints the help of the command it follows, once, and exits 0.
TEST(CliTest, HelpOfASubcommandOnce) {
  std::ostringstream out, err;
  EXPECT_EQ(cli::Run({"rg", "drbd-options", "--help"}, out, err), 0);
  std::string text = out.str();
  EXPECT_NE(text.find("Usage: tandem resource-group drbd-options"), std::string::npos) << text;
  EXPECT_EQ(text.find("Usage:"), text.rfind("Usage:")) << "printed twice:\n" << text;
}

TEST(CliTest, BadValuesExitOne) {
  std::ostringstream out, err;
  EXPECT_EQ(cli::Run({"vd", "c", "res", "lots"}, out, err), kExitBadValue);
  EXPECT_NE(err.str().find("invalid size 'lots'"), std::string::npos);
  EXPECT_EQ(cli::Run({"r", "c", "res", "--auto-place", "+x"}, out, err), kExitBadValue);
}

TEST(CliTest, DrbdOptionsBecomeOneModifyBody) {
  auto body = DrbdOptionsBody({{"protocol", "C"},
                               {"quorum", "majority"},
                               {"on-no-quorum", "io-error"},
                               {"c-max-rate", "100M"},
                               {"max-buffers", "8000"},
                               {"al-extents", "6007"}},
                              {"verify-alg"});
  ASSERT_TRUE(body.ok()) << body.error().message;
  const auto& o = body->at("override_props").as_object();
  EXPECT_EQ(o.at("DrbdOptions/Net/protocol"), "C");
  EXPECT_EQ(o.at("DrbdOptions/Resource/quorum"), "majority");
  EXPECT_EQ(o.at("DrbdOptions/Resource/on-no-quorum"), "io-error");
  EXPECT_EQ(o.at("DrbdOptions/PeerDevice/c-max-rate"), "100M");
  EXPECT_EQ(o.at("DrbdOptions/Net/max-buffers"), "8000");
  EXPECT_EQ(o.at("DrbdOptions/Disk/al-extents"), "6007");
  EXPECT_EQ(o.size(), 6u);
  EXPECT_EQ(boost::json::serialize(body->at("delete_props")), R"(["DrbdOptions/Net/verify-alg"])");
}

TEST(CliTest, DrbdOptionsRefuseBadValuesAndContradictions) {
  EXPECT_FALSE(DrbdOptionsBody({{"protocol", "B"}}, {}).ok());
  EXPECT_FALSE(DrbdOptionsBody({{"ping-timeout", "0"}}, {}).ok());
  EXPECT_FALSE(DrbdOptionsBody({{"allow-two-primaries", "true"}}, {}).ok());
  EXPECT_FALSE(DrbdOptionsBody({{"protocol", "C"}}, {"protocol"}).ok());
  EXPECT_FALSE(DrbdOptionsBody({}, {}).ok());
  auto only_unset = DrbdOptionsBody({}, {"protocol"});
  ASSERT_TRUE(only_unset.ok());
  EXPECT_FALSE(only_unset->contains("override_props"));
}

TEST(CliTest, DrbdOptionsCommandChecksBeforeCalling) {
  std::ostringstream out, err;
  // Nothing listens on port 1: a value error must come first, without a call.
  EXPECT_EQ(cli::Run({"--controllers", "127.0.0.1:1", "rg", "drbd-options", "grp", "--on-no-quorum",
                      "freeze"},
                     out, err),
            kExitBadValue);
  EXPECT_NE(err.str().find("Invalid value 'freeze' for DRBD option 'on-no-quorum'"),
            std::string::npos)
      << err.str();
  // An option Tandem does not support is a usage error from the parser.
  EXPECT_EQ(cli::Run({"rd", "opt", "res", "--allow-too-primaries", "yes"}, out, err), kExitUsage);
}

}  // namespace
}  // namespace tandem::cli
