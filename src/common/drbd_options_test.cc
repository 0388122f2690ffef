#include "common/drbd_options.h"

#include <gtest/gtest.h>

#include <set>

namespace tandem::drbd {
namespace {

std::string KeyOf(const char* option) {
  const OptionSpec* o = FindOption(option);
  return o ? PropertyKey(*o) : "";
}

TEST(DrbdOptions, MapToLinstorPropertySections) {
  EXPECT_EQ(KeyOf("protocol"), "DrbdOptions/Net/protocol");
  EXPECT_EQ(KeyOf("quorum"), "DrbdOptions/Resource/quorum");
  EXPECT_EQ(KeyOf("on-no-quorum"), "DrbdOptions/Resource/on-no-quorum");
  EXPECT_EQ(KeyOf("c-max-rate"), "DrbdOptions/PeerDevice/c-max-rate");
  EXPECT_EQ(KeyOf("resync-rate"), "DrbdOptions/PeerDevice/resync-rate");
  EXPECT_EQ(KeyOf("max-buffers"), "DrbdOptions/Net/max-buffers");
  EXPECT_EQ(KeyOf("after-sb-0pri"), "DrbdOptions/Net/after-sb-0pri");
  EXPECT_EQ(KeyOf("al-extents"), "DrbdOptions/Disk/al-extents");
  EXPECT_EQ(KeyOf("disk-flushes"), "DrbdOptions/Disk/disk-flushes");
  EXPECT_EQ(KeyOf("on-io-error"), "DrbdOptions/Disk/on-io-error");
  EXPECT_EQ(KeyOf("verify-alg"), "DrbdOptions/Net/verify-alg");
  EXPECT_EQ(KeyOf("csums-alg"), "DrbdOptions/Net/csums-alg");
}

TEST(DrbdOptions, UnknownAndControllerManagedOptionsAreNotInTheTable) {
  EXPECT_EQ(FindOption("allow-too-primaries"), nullptr);
  EXPECT_EQ(FindOption("shared-secret"), nullptr);  // from the definition's secret
  EXPECT_EQ(FindOption("cram-hmac-alg"), nullptr);
  EXPECT_EQ(FindByProperty("DrbdOptions/Disk/protocol"), nullptr);  // wrong section
  EXPECT_EQ(FindByProperty("DrbdOptions/Net/protocol"), FindOption("protocol"));
}

TEST(DrbdOptions, NamesAndKeysAreUnique) {
  std::set<std::string> names, keys;
  for (const OptionSpec& o : AllOptions()) {
    EXPECT_TRUE(names.insert(o.name).second) << o.name;
    EXPECT_TRUE(keys.insert(PropertyKey(o)).second) << o.name;
  }
}

bool Valid(const char* option, const char* value) {
  return ValidateValue(*FindOption(option), value).ok();
}

TEST(DrbdOptions, EnumsAcceptOnlyTheEngineValues) {
  EXPECT_TRUE(Valid("protocol", "C"));
  EXPECT_TRUE(Valid("protocol", "A"));
  EXPECT_FALSE(Valid("protocol", "B"));  // tandemd has no protocol B
  EXPECT_FALSE(Valid("protocol", "c"));
  EXPECT_TRUE(Valid("on-no-quorum", "io-error"));
  EXPECT_FALSE(Valid("on-no-quorum", "freeze"));
  EXPECT_TRUE(Valid("after-sb-0pri", "discard-zero-changes"));
  EXPECT_FALSE(Valid("after-sb-2pri", "discard-secondary"));
  EXPECT_TRUE(Valid("on-io-error", "detach"));
}

TEST(DrbdOptions, FlagsAreYesOrNo) {
  EXPECT_TRUE(Valid("allow-two-primaries", "yes"));
  EXPECT_TRUE(Valid("disk-flushes", "no"));
  EXPECT_FALSE(Valid("disk-flushes", "true"));
  EXPECT_FALSE(Valid("disk-flushes", ""));
}

TEST(DrbdOptions, NumbersStayInTheParserRange) {
  EXPECT_TRUE(Valid("ping-timeout", "1"));
  EXPECT_TRUE(Valid("ping-timeout", "300"));
  EXPECT_FALSE(Valid("ping-timeout", "0"));
  EXPECT_FALSE(Valid("ping-timeout", "301"));
  EXPECT_FALSE(Valid("ko-count", "-1"));
  EXPECT_FALSE(Valid("ko-count", "7.5"));
  EXPECT_TRUE(Valid("max-buffers", "8000"));
  EXPECT_FALSE(Valid("max-buffers", "31"));
  EXPECT_TRUE(Valid("al-extents", "6007"));
  EXPECT_FALSE(Valid("al-extents", "6"));
}

TEST(DrbdOptions, RatesTakeSuffixesUpTo4G) {
  EXPECT_TRUE(Valid("c-max-rate", "102400"));
  EXPECT_TRUE(Valid("c-max-rate", "100M"));
  EXPECT_TRUE(Valid("c-max-rate", "4G"));
  EXPECT_FALSE(Valid("c-max-rate", "5G"));
  EXPECT_FALSE(Valid("c-max-rate", "100MB"));
  EXPECT_TRUE(Valid("c-min-rate", "0"));
  EXPECT_FALSE(Valid("resync-rate", "0"));  // at least 1 KiB/s
  EXPECT_TRUE(Valid("c-fill-target", "20480"));
  EXPECT_TRUE(Valid("c-fill-target", "512M"));
  EXPECT_FALSE(Valid("c-fill-target", "513M"));
}

TEST(DrbdOptions, QuorumAndAlgorithms) {
  EXPECT_TRUE(Valid("quorum", "majority"));
  EXPECT_TRUE(Valid("quorum", "2"));
  EXPECT_FALSE(Valid("quorum", "33"));
  EXPECT_FALSE(Valid("quorum", "most"));
  EXPECT_TRUE(Valid("verify-alg", "crc32c"));
  EXPECT_FALSE(Valid("verify-alg", "sha 256"));
  EXPECT_FALSE(Valid("csums-alg", "\"md5\""));
}

TEST(DrbdOptions, ErrorsNameTheOptionAndTheExpectedValues) {
  Status s = ValidateValue(*FindOption("on-no-quorum"), "freeze");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "Invalid value 'freeze' for DRBD option 'on-no-quorum': expected io-error or "
            "suspend-io");
  EXPECT_EQ(Expected(*FindOption("ping-timeout")), "1..300");
}

}  // namespace
}  // namespace tandem::drbd
