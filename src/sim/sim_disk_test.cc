#include "sim/sim_disk.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>

namespace tandem::sim {
namespace {

using engine::DiskIo;

constexpr uint64_t kDataBytes = 64 * 1024;
constexpr uint64_t kMdBytes = 8 * 1024;

Bytes Pattern(uint8_t value, size_t n = 4096) { return Bytes(n, value); }

class SimDiskTest : public ::testing::Test {
 protected:
  explicit SimDiskTest(SimDiskOptions options = {}) { Reset(1, options); }

  void Reset(uint64_t seed, SimDiskOptions options = {}) {
    disk_.reset();
    sim_ = std::make_unique<Simulation>(seed);
    disk_ = std::make_unique<SimDisk>(sim_.get(), kDataBytes, Bytes(kMdBytes, 0xee), options);
  }

  // Submits and runs until the I/O completes; nullopt if it never does.
  std::optional<bool> Run(const DiskIo& io, SharedBytes* data = nullptr) {
    std::optional<bool> result;
    EXPECT_EQ(disk_->Submit(io,
                            [&](bool ok, SharedBytes d) {
                              result = ok;
                              if (data) *data = std::move(d);
                            }),
              "");
    while (!result && sim_->Step()) {
    }
    return result;
  }
  std::optional<bool> Write(uint64_t offset, Bytes bytes, bool fua = false,
                            DiskArea area = DiskArea::kData) {
    DiskIo io;
    io.area = area;
    io.op = DiskOp::kWrite;
    io.offset = offset;
    io.length = static_cast<uint32_t>(bytes.size());
    io.fua = fua;
    io.data = MakeShared(std::move(bytes));
    return Run(io);
  }
  std::optional<bool> Flush(DiskArea area = DiskArea::kData) {
    DiskIo io;
    io.area = area;
    io.op = DiskOp::kFlush;
    return Run(io);
  }
  Bytes Read(uint64_t offset, uint32_t length, DiskArea area = DiskArea::kData) {
    DiskIo io;
    io.area = area;
    io.op = DiskOp::kRead;
    io.offset = offset;
    io.length = length;
    SharedBytes data;
    std::optional<bool> ok = Run(io, &data);
    EXPECT_TRUE(ok.has_value() && *ok);
    return data ? *data : Bytes();
  }
  Bytes Durable(uint64_t offset, size_t n, DiskArea area = DiskArea::kData) const {
    const Bytes& d = disk_->DurableContents(area);
    return Bytes(d.begin() + offset, d.begin() + offset + n);
  }

  std::unique_ptr<Simulation> sim_;
  std::unique_ptr<SimDisk> disk_;
};

SimDiskOptions CrashOutcome(uint32_t keep, uint32_t lose, uint32_t tear) {
  SimDiskOptions o;
  o.crash_keep_weight = keep;
  o.crash_lose_weight = lose;
  o.crash_tear_weight = tear;
  return o;
}

TEST_F(SimDiskTest, ReadsSeeCompletedUnflushedWrites) {
  ASSERT_EQ(Write(4096, Pattern(0xab)), true);
  EXPECT_EQ(Read(4096, 4096), Pattern(0xab));
  EXPECT_EQ(Durable(4096, 4096), Pattern(0));
  EXPECT_EQ(disk_->unflushed_writes(DiskArea::kData), 1u);
}

TEST_F(SimDiskTest, FuaWriteSurvivesACrash) {
  Reset(1, CrashOutcome(0, 1, 0));
  ASSERT_EQ(Write(0, Pattern(0x11), /*fua=*/true), true);
  disk_->Crash();
  EXPECT_EQ(Read(0, 4096), Pattern(0x11));
}

TEST_F(SimDiskTest, FlushedWriteSurvivesACrash) {
  Reset(1, CrashOutcome(0, 1, 0));
  ASSERT_EQ(Write(0, Pattern(0x22)), true);
  ASSERT_EQ(Flush(), true);
  disk_->Crash();
  EXPECT_EQ(Read(0, 4096), Pattern(0x22));
}

TEST_F(SimDiskTest, UnflushedWriteIsLostWhenTheCrashLosesIt) {
  Reset(1, CrashOutcome(0, 1, 0));
  ASSERT_EQ(Write(0, Pattern(0x33)), true);
  disk_->Crash();
  EXPECT_EQ(Read(0, 4096), Pattern(0));
}

TEST_F(SimDiskTest, UnflushedWriteIsKeptWhenTheCrashKeepsIt) {
  Reset(1, CrashOutcome(1, 0, 0));
  ASSERT_EQ(Write(0, Pattern(0x44)), true);
  disk_->Crash();
  EXPECT_EQ(Read(0, 4096), Pattern(0x44));
}

TEST_F(SimDiskTest, TornWriteKeepsWholeSectorsOfOldAndNewData) {
  bool saw_mixed = false;
  for (uint64_t seed = 1; seed <= 40 && !saw_mixed; ++seed) {
    Reset(seed, CrashOutcome(0, 0, 1));
    ASSERT_EQ(Write(0, Pattern(0x55), /*fua=*/true), true);
    ASSERT_EQ(Write(0, Pattern(0x66)), true);
    disk_->Crash();
    Bytes after = Read(0, 4096);
    int old_sectors = 0, new_sectors = 0;
    for (size_t s = 0; s < 8; ++s) {
      Bytes sector(after.begin() + s * 512, after.begin() + (s + 1) * 512);
      if (sector == Pattern(0x55, 512)) ++old_sectors;
      if (sector == Pattern(0x66, 512)) ++new_sectors;
    }
    ASSERT_EQ(old_sectors + new_sectors, 8) << "a sector mixes old and new bytes";
    saw_mixed = old_sectors > 0 && new_sectors > 0;
  }
  EXPECT_TRUE(saw_mixed);
}

TEST_F(SimDiskTest, CrashOutcomesVaryWithTheSeed) {
  bool kept = false, lost = false;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Reset(seed);
    ASSERT_EQ(Write(0, Pattern(0x77)), true);
    disk_->Crash();
    Bytes after = Read(0, 4096);
    kept = kept || after == Pattern(0x77);
    lost = lost || after == Pattern(0);
  }
  EXPECT_TRUE(kept);
  EXPECT_TRUE(lost);
}

TEST_F(SimDiskTest, FlushDoesNotCoverWritesCompletedAfterItWasSubmitted) {
  Reset(1, CrashOutcome(0, 1, 0));
  ASSERT_EQ(Write(0, Pattern(0x01)), true);
  // The flush is submitted before the second write; whichever of the two
  // completes first, that write completed after the flush was submitted.
  DiskIo flush;
  flush.op = DiskOp::kFlush;
  std::optional<bool> flushed;
  EXPECT_EQ(disk_->Submit(flush, [&](bool ok, SharedBytes) { flushed = ok; }), "");
  ASSERT_EQ(Write(4096, Pattern(0x02)), true);
  while (!flushed && sim_->Step()) {
  }
  ASSERT_EQ(flushed, true);
  disk_->Crash();
  EXPECT_EQ(Read(0, 4096), Pattern(0x01));
  EXPECT_EQ(Read(4096, 4096), Pattern(0));
}

TEST_F(SimDiskTest, FuaWriteIsNotUndoneByAnOlderCachedWrite) {
  Reset(1, CrashOutcome(1, 0, 0));
  ASSERT_EQ(Write(0, Pattern(0x0a)), true);
  ASSERT_EQ(Write(0, Pattern(0x0b), /*fua=*/true), true);
  disk_->Crash();
  EXPECT_EQ(Read(0, 4096), Pattern(0x0b));
}

TEST_F(SimDiskTest, InFlightIoNeverCompletesAfterACrash) {
  DiskIo io;
  io.op = DiskOp::kRead;
  io.length = 4096;
  bool called = false;
  EXPECT_EQ(disk_->Submit(io, [&](bool, SharedBytes) { called = true; }), "");
  disk_->Crash();
  while (sim_->Step()) {
  }
  EXPECT_FALSE(called);
  EXPECT_EQ(disk_->inflight(), 0u);
}

TEST_F(SimDiskTest, InFlightWriteMayReachTheMediumAtACrash) {
  Reset(1, CrashOutcome(1, 0, 0));
  DiskIo io;
  io.op = DiskOp::kWrite;
  io.length = 4096;
  io.data = MakeShared(Pattern(0x5a));
  EXPECT_EQ(disk_->Submit(io, [](bool, SharedBytes) {}), "");
  disk_->Crash();
  EXPECT_EQ(Read(0, 4096), Pattern(0x5a));
}

TEST_F(SimDiskTest, FrozenAreaHoldsIoUntilUnfreeze) {
  disk_->Freeze(DiskArea::kData);
  DiskIo io;
  io.op = DiskOp::kWrite;
  io.length = 4096;
  io.data = MakeShared(Pattern(0x99));
  std::optional<bool> done;
  EXPECT_EQ(disk_->Submit(io, [&](bool ok, SharedBytes) { done = ok; }), "");
  sim_->RunUntil(sim_->now() + 10 * kSec);
  EXPECT_FALSE(done.has_value());
  EXPECT_EQ(disk_->Contents(DiskArea::kData)[0], 0);
  disk_->Unfreeze(DiskArea::kData);
  while (!done && sim_->Step()) {
  }
  EXPECT_EQ(done, true);
  EXPECT_EQ(Read(0, 4096), Pattern(0x99));
}

TEST_F(SimDiskTest, FreezeIsPerArea) {
  disk_->Freeze(DiskArea::kData);
  EXPECT_EQ(Write(0, Pattern(0x12, 4096), false, DiskArea::kMeta), true);
}

TEST_F(SimDiskTest, FailNextWritesFailsExactlyThatManyAndChangesNothing) {
  disk_->FailWrites(DiskArea::kData, 2);
  EXPECT_EQ(Write(0, Pattern(0x31)), false);
  EXPECT_EQ(Write(0, Pattern(0x32)), false);
  EXPECT_EQ(Read(0, 4096), Pattern(0));
  EXPECT_EQ(Write(0, Pattern(0x33)), true);
  EXPECT_EQ(Read(0, 4096), Pattern(0x33));
}

TEST_F(SimDiskTest, FailAllReadsUntilCleared) {
  disk_->FailReads(DiskArea::kData, -1);
  DiskIo io;
  io.op = DiskOp::kRead;
  io.length = 4096;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Run(io), false);
  EXPECT_EQ(Write(0, Pattern(0x01)), true);  // writes are not affected
  disk_->ClearFaults();
  EXPECT_EQ(Run(io), true);
}

TEST_F(SimDiskTest, ErrorsArePerArea) {
  disk_->FailWrites(DiskArea::kMeta, -1);
  EXPECT_EQ(Write(0, Pattern(0x01)), true);
  EXPECT_EQ(Write(0, Pattern(0x01), false, DiskArea::kMeta), false);
}

TEST_F(SimDiskTest, FailedFlushMakesNothingDurable) {
  Reset(1, CrashOutcome(0, 1, 0));
  ASSERT_EQ(Write(0, Pattern(0x41)), true);
  disk_->FailWrites(DiskArea::kData, 1);
  EXPECT_EQ(Flush(), false);
  disk_->Crash();
  EXPECT_EQ(Read(0, 4096), Pattern(0));
}

TEST_F(SimDiskTest, TrimAndZeroesWriteZeroes) {
  ASSERT_EQ(Write(0, Pattern(0x7f, 8192), true), true);
  DiskIo trim;
  trim.op = DiskOp::kTrim;
  trim.offset = 0;
  trim.length = 4096;
  trim.fua = true;
  EXPECT_EQ(Run(trim), true);
  DiskIo zeroes = trim;
  zeroes.op = DiskOp::kZeroes;
  zeroes.offset = 4096;
  EXPECT_EQ(Run(zeroes), true);
  EXPECT_EQ(Read(0, 8192), Pattern(0, 8192));
  EXPECT_EQ(Durable(0, 8192), Pattern(0, 8192));
}

TEST_F(SimDiskTest, MetadataAreaStartsWithTheCreatedContents) {
  EXPECT_EQ(disk_->size(DiskArea::kMeta), kMdBytes);
  EXPECT_EQ(Read(0, 512, DiskArea::kMeta), Pattern(0xee, 512));
}

TEST_F(SimDiskTest, MalformedIoIsReportedAndFails) {
  DiskIo io;
  io.op = DiskOp::kRead;
  io.offset = kDataBytes;
  io.length = 4096;
  std::optional<bool> done;
  EXPECT_NE(disk_->Submit(io, [&](bool ok, SharedBytes) { done = ok; }), "");
  io.offset = 100;
  EXPECT_NE(disk_->Submit(io, [](bool, SharedBytes) {}), "");
  io.offset = 0;
  io.op = DiskOp::kWrite;
  io.data = MakeShared(Pattern(1, 512));
  EXPECT_NE(disk_->Submit(io, [](bool, SharedBytes) {}), "");
  while (sim_->Step()) {
  }
  EXPECT_EQ(done, false);
}

TEST_F(SimDiskTest, LatencyStaysInTheConfiguredRange) {
  SimDiskOptions o;
  o.min_latency = 100 * kUs;
  o.max_latency = 200 * kUs;
  Reset(3, o);
  for (int i = 0; i < 50; ++i) {
    Time start = sim_->now();
    ASSERT_EQ(Write(0, Pattern(1)), true);
    EXPECT_GE(sim_->now() - start, 100 * kUs);
    EXPECT_LE(sim_->now() - start, 200 * kUs);
  }
}

TEST_F(SimDiskTest, PokeChangesDataDurably) {
  disk_->Poke(DiskArea::kData, 512, Pattern(0xcd, 512));
  disk_->Crash();
  EXPECT_EQ(Read(512, 512), Pattern(0xcd, 512));
}

}  // namespace
}  // namespace tandem::sim
