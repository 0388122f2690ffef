#include <gtest/gtest.h>

#include "common/bytes.h"
#include "common/ids.h"
#include "common/result.h"
#include "common/size.h"

namespace tandem {
namespace {

TEST(Size, ParsesBinaryUnits) {
  EXPECT_EQ(*ParseSize("100G"), 100ull << 30);
  EXPECT_EQ(*ParseSize("512MiB"), 512ull << 20);
  EXPECT_EQ(*ParseSize("4k"), 4096u);
  EXPECT_EQ(*ParseSize("1.5T"), 3ull << 39);
  EXPECT_EQ(*ParseSize("1 GiB"), 1ull << 30);
}

TEST(Size, ParsesDecimalUnitsAndDefaults) {
  EXPECT_EQ(*ParseSize("1GB"), 1000000000ull);
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("10", 1024), 10240u);
  EXPECT_EQ(*ParseSize("7B", 1024), 7u);
}

TEST(Size, RejectsBadInput) {
  for (const char* bad : {"", "G", "12X", "1.1B", "99999999999999999999", "20000P", "1..2", "-1"}) {
    auto r = ParseSize(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.code(), Errc::kInvalidArgument);
    }
  }
}

TEST(Size, Formats) {
  EXPECT_EQ(FormatSize(1ull << 30), "1GiB");
  EXPECT_EQ(FormatSize(1536), "1.50KiB");
  EXPECT_EQ(FormatSize(17), "17B");
}

TEST(Bytes, RoundTripsLittleEndian) {
  Bytes b;
  ByteWriter w(&b);
  w.U8(1);
  w.U16(0x0203);
  w.U32(0x04050607);
  w.U64(0x08090a0b0c0d0e0full);
  w.Str("r0");
  EXPECT_EQ(HexDump(ByteSpan(b.data(), 7)), "01 03 02 07 06 05 04");
  ByteReader r(b);
  EXPECT_EQ(r.U8(), 1);
  EXPECT_EQ(r.U16(), 0x0203);
  EXPECT_EQ(r.U32(), 0x04050607u);
  EXPECT_EQ(r.U64(), 0x08090a0b0c0d0e0full);
  EXPECT_EQ(r.Str(), "r0");
  EXPECT_TRUE(r.AtEnd());
  r.U8();
  EXPECT_FALSE(r.ok());
}

TEST(Bytes, FramesNeedWholeInput) {
  Bytes b;
  const uint8_t payload[] = {'h', 'i'};
  AppendFrame(&b, payload);
  ByteSpan p;
  size_t used = 0;
  EXPECT_EQ(TakeFrame(ByteSpan(b.data(), 5), &p, &used), 0);
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(TakeFrame(b, &p, &used), 2);
  EXPECT_EQ(used, 6u);
  Bytes huge;
  ByteWriter(&huge).U32(kMaxFrameSize + 1);
  EXPECT_EQ(TakeFrame(huge, &p, &used), -1);
}

TEST(Result, CarriesErrors) {
  Result<int> ok = 3;
  Result<int> bad = MakeError(Errc::kCorrupt, "bad magic");
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), Errc::kCorrupt);
  EXPECT_EQ(bad.error().message, "bad magic");
}

TEST(Ids, SectorsConvertExplicitly) {
  Sector s = Sector::FromBytes(8192);
  EXPECT_EQ(s.value(), 16u);
  EXPECT_EQ(s.bytes(), 8192u);
  EXPECT_LT(NodeId(1), NodeId(2));
}

}  // namespace
}  // namespace tandem
