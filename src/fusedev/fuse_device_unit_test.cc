// FuseDevice without a mount: the volume table and option checks. The
// behaviour through the kernel is in fuse_device_test.cc (integration).
#include <gtest/gtest.h>

#include "fusedev/fuse_device.h"

namespace tandem {
namespace {

// Never called: nothing here is mounted, so no request reaches it.
class UnusedExport : public BlockExport {
 public:
  uint64_t SizeBytes() const override { return 0; }
  void Open(OpenMode, std::function<void(OpenResult)>) override { ADD_FAILURE(); }
  void Close(OpenMode) override { ADD_FAILURE(); }
  void Submit(BlockRequest, std::function<void(BlockResult)>) override { ADD_FAILURE(); }
  void Post(std::function<void()>) override { ADD_FAILURE(); }
};

TEST(FuseDeviceTableTest, VolumesCanBeAddedAndRemovedBeforeStart) {
  UnusedExport exp;
  FuseDevice dev;
  EXPECT_TRUE(dev.AddVolume("r0", VolumeNr(0), &exp).ok());
  EXPECT_TRUE(dev.AddVolume("r0", VolumeNr(1), &exp).ok());
  EXPECT_EQ(dev.AddVolume("r0", VolumeNr(1), &exp).code(), Errc::kAlreadyExists);
  EXPECT_TRUE(dev.RemoveVolume("r0", VolumeNr(1)).ok());
  EXPECT_EQ(dev.RemoveVolume("r0", VolumeNr(1)).code(), Errc::kNotFound);
  EXPECT_EQ(dev.RemoveVolume("r7", VolumeNr(0)).code(), Errc::kNotFound);
  EXPECT_TRUE(dev.RemoveVolume("r0", VolumeNr(0)).ok());
}

TEST(FuseDeviceTableTest, BadNamesAndNullExportsAreRefused) {
  UnusedExport exp;
  FuseDevice dev;
  EXPECT_EQ(dev.AddVolume("", VolumeNr(0), &exp).code(), Errc::kInvalidArgument);
  EXPECT_EQ(dev.AddVolume("..", VolumeNr(0), &exp).code(), Errc::kInvalidArgument);
  EXPECT_EQ(dev.AddVolume("a/b", VolumeNr(0), &exp).code(), Errc::kInvalidArgument);
  EXPECT_EQ(dev.AddVolume("r0", VolumeNr(0), nullptr).code(), Errc::kInvalidArgument);
}

TEST(FuseDeviceOptionsTest, InvalidOptionsAreRefusedAtStart) {
  FuseDeviceOptions small_write;
  small_write.max_write = 512;
  FuseDeviceOptions no_background;
  no_background.max_background = 0;
  no_background.congestion_threshold = 0;
  FuseDeviceOptions congestion_above;
  congestion_above.congestion_threshold = congestion_above.max_background + 1;
  for (const FuseDeviceOptions& o : {small_write, no_background, congestion_above}) {
    FuseDevice dev(o);
    EXPECT_EQ(dev.Start("/nonexistent/never/mounted").code(), Errc::kInvalidArgument);
  }
}

TEST(FuseDeviceLifecycleTest, StopWithoutStartIsANoOp) {
  FuseDevice dev;
  dev.Stop();
  dev.Stop();
}

}  // namespace
}  // namespace tandem
