// CLI helpers: sizes, endpoints, tables and argument errors.
#include "cli/cli.h"

#include <gtest/gtest.h>

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

TEST(CliTest, BadValuesExitOne) {
  std::ostringstream out, err;
  EXPECT_EQ(cli::Run({"vd", "c", "res", "lots"}, out, err), kExitBadValue);
  EXPECT_NE(err.str().find("invalid size 'lots'"), std::string::npos);
  EXPECT_EQ(cli::Run({"r", "c", "res", "--auto-place", "+x"}, out, err), kExitBadValue);
}

}  // namespace
}  // namespace tandem::cli
