#include "fusedev/request_mapping.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>

#include <cerrno>

namespace tandem::fusedev {
namespace {

constexpr uint64_t kSize = 1 << 20;

TEST(ResourceNameTest, AcceptsOrdinaryNames) {
  EXPECT_TRUE(IsValidResourceName("r0"));
  EXPECT_TRUE(IsValidResourceName("web-db_1.data"));
}

TEST(ResourceNameTest, RefusesNamesThatAreNotOneDirectory) {
  EXPECT_FALSE(IsValidResourceName(""));
  EXPECT_FALSE(IsValidResourceName("."));
  EXPECT_FALSE(IsValidResourceName(".."));
  EXPECT_FALSE(IsValidResourceName("a/b"));
  EXPECT_FALSE(IsValidResourceName(std::string_view("a\0b", 3)));
  EXPECT_FALSE(IsValidResourceName(std::string(256, 'x')));
}

TEST(VolumeFileNameTest, RoundTripsEveryEdge) {
  for (uint16_t v : {0, 1, 9, 10, 65535}) {
    std::optional<VolumeNr> parsed = ParseVolumeFileName(VolumeFileName(VolumeNr(v)));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->value(), v);
  }
}

TEST(VolumeFileNameTest, RefusesNonCanonicalNames) {
  for (const char* name : {"", "00", "01", "-1", "+1", "65536", "1a", " 1", "99999999"}) {
    EXPECT_FALSE(ParseVolumeFileName(name).has_value()) << name;
  }
}

TEST(OpenFlagsTest, ReadOnlyOnlyForOReadOnly) {
  EXPECT_EQ(OpenModeForFlags(O_RDONLY), OpenMode::kReadOnly);
  EXPECT_EQ(OpenModeForFlags(O_RDONLY | O_DIRECT), OpenMode::kReadOnly);
  EXPECT_EQ(OpenModeForFlags(O_WRONLY), OpenMode::kReadWrite);
  EXPECT_EQ(OpenModeForFlags(O_RDWR | O_DIRECT), OpenMode::kReadWrite);
}

TEST(OpenFlagsTest, SyncAndDsyncMeanFua) {
  EXPECT_TRUE(IsSyncOpen(O_RDWR | O_SYNC));
  EXPECT_TRUE(IsSyncOpen(O_RDWR | O_DSYNC));
  EXPECT_FALSE(IsSyncOpen(O_RDWR | O_DIRECT));
}

TEST(ClampTest, ReadsAreShortAtTheEnd) {
  EXPECT_EQ(ClampRead(0, 4096, kSize).length, 4096u);
  EXPECT_EQ(ClampRead(kSize - 100, 4096, kSize).length, 100u);
  EXPECT_EQ(ClampRead(kSize, 4096, kSize).length, 0u);
  EXPECT_EQ(ClampRead(kSize + 5, 4096, kSize).length, 0u);
}

TEST(ClampTest, WritesPastTheEndFail) {
  EXPECT_EQ(ClampWrite(0, 4096, kSize)->length, 4096u);
  EXPECT_EQ(ClampWrite(kSize - 100, 4096, kSize)->length, 100u);
  EXPECT_FALSE(ClampWrite(kSize, 1, kSize).has_value());
}

FallocatePlan Plan(int mode, uint64_t offset, uint64_t length, uint64_t size = kSize) {
  return PlanFallocate(mode, offset, length, size, /*can_trim=*/true, /*can_write_zeroes=*/true);
}

TEST(FallocateTest, PunchHoleIsTrim) {
  FallocatePlan p = Plan(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192);
  ASSERT_EQ(p.kind, FallocatePlan::Kind::kSubmit);
  ASSERT_EQ(p.requests.size(), 1u);
  EXPECT_EQ(p.requests[0].op, BlockOp::kTrim);
  EXPECT_EQ(p.requests[0].offset, 4096u);
  EXPECT_EQ(p.requests[0].length, 8192u);
}

TEST(FallocateTest, PunchHolePastTheEndIsClipped) {
  FallocatePlan p = Plan(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, kSize - 4096, 1 << 30);
  ASSERT_EQ(p.kind, FallocatePlan::Kind::kSubmit);
  EXPECT_EQ(p.requests[0].length, 4096u);
  EXPECT_EQ(Plan(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, kSize, 4096).kind,
            FallocatePlan::Kind::kNoOp);
}

TEST(FallocateTest, ZeroRangeIsWriteZeroesThatAllocates) {
  for (int mode : {FALLOC_FL_ZERO_RANGE, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE}) {
    FallocatePlan p = Plan(mode, 0, 4096);
    ASSERT_EQ(p.kind, FallocatePlan::Kind::kSubmit);
    EXPECT_EQ(p.requests[0].op, BlockOp::kWriteZeroes);
    EXPECT_TRUE(p.requests[0].no_hole);
  }
}

TEST(FallocateTest, ZeroRangeThatWouldGrowIsRefused) {
  FallocatePlan p = Plan(FALLOC_FL_ZERO_RANGE, kSize - 4096, 8192);
  EXPECT_EQ(p.kind, FallocatePlan::Kind::kError);
  EXPECT_EQ(p.error, EOPNOTSUPP);
}

TEST(FallocateTest, AllocateInsideIsNoOpBeyondIsRefused) {
  EXPECT_EQ(Plan(0, 0, kSize).kind, FallocatePlan::Kind::kNoOp);
  FallocatePlan p = Plan(0, 0, kSize + 1);
  EXPECT_EQ(p.kind, FallocatePlan::Kind::kError);
  EXPECT_EQ(p.error, EOPNOTSUPP);
  EXPECT_EQ(Plan(FALLOC_FL_KEEP_SIZE, 0, kSize * 2).kind, FallocatePlan::Kind::kNoOp);
}

TEST(FallocateTest, OtherModesAreRefused) {
  for (int mode : {FALLOC_FL_PUNCH_HOLE, FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE,
                   FALLOC_FL_UNSHARE_RANGE}) {
    FallocatePlan p = Plan(mode, 0, 4096);
    EXPECT_EQ(p.kind, FallocatePlan::Kind::kError) << mode;
    EXPECT_EQ(p.error, EOPNOTSUPP) << mode;
  }
}

TEST(FallocateTest, UnsupportedByTheExportIsRefused) {
  FallocatePlan trim = PlanFallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096, kSize,
                                     /*can_trim=*/false, true);
  EXPECT_EQ(trim.error, EOPNOTSUPP);
  FallocatePlan zero = PlanFallocate(FALLOC_FL_ZERO_RANGE, 0, 4096, kSize, true,
                                     /*can_write_zeroes=*/false);
  EXPECT_EQ(zero.error, EOPNOTSUPP);
}

TEST(FallocateTest, HugeRangesAreSplitIntoPieces) {
  uint64_t size = 5ull << 30;
  FallocatePlan p = Plan(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, size, size);
  ASSERT_EQ(p.kind, FallocatePlan::Kind::kSubmit);
  ASSERT_EQ(p.requests.size(), 5u);
  uint64_t next = 0;
  for (const BlockRequest& r : p.requests) {
    EXPECT_EQ(r.offset, next);
    EXPECT_LE(r.length, kMaxRangePiece);
    next += r.length;
  }
  EXPECT_EQ(next, size);
}

TEST(FallocateTest, OverflowingRangeIsInvalid) {
  EXPECT_EQ(Plan(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, UINT64_MAX - 10, 100).error, EINVAL);
}

constexpr char kMountinfo[] =
    "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
    "40 22 0:35 / /run/tandem/dev rw,nosuid,nodev shared:5 - fuse.tandem tandem rw,user_id=0\n"
    "41 40 0:36 / /run/tandem/dev rw,nosuid,nodev - fuse.tandem tandem rw,user_id=0\n"
    "42 22 0:37 / /run/tandem/dev rw - fuse.other other rw\n"
    "43 22 0:38 / /mnt/with\\040space rw - fuse.tandem tandem rw\n"
    "44 22 0:39 / /run/tandem/dev2 rw - fuse.tandem tandem rw\n";

TEST(MountinfoTest, CountsStackedMountsOfOurTypeOnly) {
  EXPECT_EQ(CountMountsAt(kMountinfo, "/run/tandem/dev", "fuse.tandem"), 2);
  EXPECT_EQ(CountMountsAt(kMountinfo, "/run/tandem", "fuse.tandem"), 0);
  EXPECT_EQ(CountMountsAt(kMountinfo, "/proc", "fuse.tandem"), 0);
}

TEST(MountinfoTest, UnescapesMountPoints) {
  EXPECT_EQ(CountMountsAt(kMountinfo, "/mnt/with space", "fuse.tandem"), 1);
}

TEST(MountinfoTest, IgnoresMalformedLines) {
  EXPECT_EQ(CountMountsAt("garbage\n1 2 3\n\n", "/x", "fuse.tandem"), 0);
}

}  // namespace
}  // namespace tandem::fusedev
