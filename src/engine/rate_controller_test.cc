#include "engine/rate_controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>

namespace tandem::engine {
namespace {

Options PlanAhead(uint32_t fill_target_sectors) {
  Options o;
  o.c_plan_ahead = 20;
  o.c_fill_target_sectors = fill_target_sectors;
  return o;
}

// A resync peer seen from the SyncTarget, with prompt replies: during each
// 100 ms step it answers half of the sectors outstanding (a mean latency of
// about two steps, so replies from different steps mix), at most `bandwidth`
// sectors per step (0 = unlimited).
class Link {
 public:
  explicit Link(uint64_t bandwidth = 0) : bandwidth_(bandwidth) {}

  // Runs one controller step, then lets 100 ms pass; returns the request.
  uint64_t Step(RateController* rc) {
    const uint64_t req = rc->Step(returned_, in_flight_);
    in_flight_ += req;
    returned_ = in_flight_ / 2;
    if (bandwidth_ != 0) returned_ = std::min(returned_, bandwidth_);
    in_flight_ -= returned_;
    return req;
  }
  uint64_t in_flight() const { return in_flight_; }
  uint64_t returned() const { return returned_; }

 private:
  uint64_t bandwidth_;
  uint64_t returned_ = 0;
  uint64_t in_flight_ = 0;
};

// --- fixed rate -----------------------------------------------------------

TEST(RateController, FixedModeRequestsResyncRatePerSecond) {
  Options o;
  o.c_plan_ahead = 0;
  o.resync_rate_kib = 250;  // 500 sectors/s, 50 per step: not a block multiple
  RateController rc(o);
  uint64_t first_second = 0;
  uint64_t total = 0;
  for (int step = 0; step < 100; ++step) {
    const uint64_t req = rc.Step(0, 0);
    EXPECT_EQ(req % 8, 0u);
    if (step < 10) first_second += req;
    total += req;
  }
  EXPECT_NEAR(static_cast<double>(first_second), 500.0, 8.0);
  EXPECT_EQ(total, 5000u);  // 10 s at 250 KiB/s, exactly
}

TEST(RateController, FixedModeWholeBlockRate) {
  Options o;
  o.c_plan_ahead = 0;
  o.resync_rate_kib = 10240;  // 2048 sectors per step
  RateController rc(o);
  for (int step = 0; step < 5; ++step) EXPECT_EQ(rc.Step(0, 0), 2048u);
}

TEST(RateController, FixedModeRespectsMaxBuffersWithoutLaterBurst) {
  Options o;
  o.c_plan_ahead = 0;
  o.resync_rate_kib = 10240;
  o.max_buffers = 64;  // 32 pages = 256 sectors in flight
  RateController rc(o);
  EXPECT_EQ(rc.Step(0, 0), 256u);
  EXPECT_EQ(rc.Step(0, 256), 0u);
  EXPECT_EQ(rc.Step(0, 200), 56u);
  // The budget withheld above is not paid out later as a burst.
  EXPECT_EQ(rc.Step(0, 0), 256u);
}

// --- plan-ahead -------------------------------------------------------------

TEST(RateController, PlanAheadStartsAtResyncRate) {
  // want = 250 KiB/s * 2 * 0.1 s * 20 steps = 1000 sectors, spread over 20
  // steps: 50 per step, rounded down to 48.
  RateController rc(PlanAhead(100));
  EXPECT_EQ(rc.Step(0, 0), 48u);
}

// The plan-ahead controller closes the gap to the target like a first-order
// system with a time constant of about c_plan_ahead steps.
TEST(RateController, FillModeConvergesToFillTargetWithinPlanAhead) {
  for (uint32_t fill : {800u, 4000u}) {
    RateController rc(PlanAhead(fill));
    Link link;
    for (int step = 0; step < 20; ++step) link.Step(&rc);
    EXPECT_GE(link.in_flight(), fill / 2) << "fill " << fill;
    for (int step = 0; step < 40; ++step) link.Step(&rc);
    EXPECT_NEAR(static_cast<double>(link.in_flight()), fill, 0.05 * fill) << "fill " << fill;
    // It settles within a block of the target and stays there, without
    // overshooting on the way.
    for (int step = 0; step < 200; ++step) {
      link.Step(&rc);
      EXPECT_LE(link.in_flight(), fill + 8) << "fill " << fill;
    }
    EXPECT_NEAR(static_cast<double>(link.in_flight()), fill, 8.0) << "fill " << fill;
  }
}

TEST(RateController, FillModeBacksOffWhenAboveTarget) {
  RateController rc(PlanAhead(800));
  Link link;
  for (int step = 0; step < 100; ++step) link.Step(&rc);
  // Suddenly far more is in flight than the target: stop requesting.
  EXPECT_EQ(rc.Step(0, 5000), 0u);
}

TEST(RateController, DelayModeKeepsDelayTargetOfThroughputInFlight) {
  Options o = PlanAhead(0);
  o.c_delay_target = 10;  // 1 s
  RateController rc(o);
  Link link(/*bandwidth=*/400);  // 400 sectors per step
  for (int step = 0; step < 200; ++step) link.Step(&rc);
  EXPECT_EQ(link.returned(), 400u);
  // 1 s of 400 sectors per 100 ms.
  EXPECT_NEAR(static_cast<double>(link.in_flight()), 4000.0, 400.0);
}

TEST(RateController, DelayModeRestartsAfterThePipelineDrains) {
  Options o = PlanAhead(0);
  RateController rc(o);
  for (int step = 0; step < 30; ++step) EXPECT_GT(rc.Step(0, 0), 0u) << step;
}

TEST(RateController, MaxRateCaps) {
  Options o = PlanAhead(100000);
  o.c_max_rate_kib = 1000;  // 200 sectors per step
  RateController rc(o);
  Link link;
  uint64_t last = 0;
  for (int step = 0; step < 100; ++step) {
    last = link.Step(&rc);
    EXPECT_LE(last, 200u);
  }
  EXPECT_EQ(last, 200u);
}

TEST(RateController, ZeroMaxRateMeansNoCap) {
  Options o = PlanAhead(1000000);
  o.c_max_rate_kib = 0;
  o.max_buffers = 1 << 20;
  RateController rc(o);
  Link link;
  uint64_t peak = 0;
  for (int step = 0; step < 200; ++step) peak = std::max(peak, link.Step(&rc));
  EXPECT_GT(peak, 102400u * 2 / 10);  // above the default cap
}

TEST(RateController, MaxBuffersCapsInFlight) {
  Options o = PlanAhead(100000);
  o.max_buffers = 64;  // 32 pages = 256 sectors
  RateController rc(o);
  Link link;
  for (int step = 0; step < 100; ++step) {
    const uint64_t before = link.in_flight();
    const uint64_t req = link.Step(&rc);
    EXPECT_LE(before + req, 256u);
  }
  EXPECT_EQ(rc.Step(0, 250), 0u);  // 6 sectors of room: less than a block
}

TEST(RateController, RequestsAreWholeBlocks) {
  Options o = PlanAhead(100);
  RateController rc(o);
  Link link(37);
  for (int step = 0; step < 200; ++step) EXPECT_EQ(link.Step(&rc) % 8, 0u);
}

TEST(RateController, ResetForgetsThePlan) {
  RateController rc(PlanAhead(100000));
  Link link;
  for (int step = 0; step < 30; ++step) link.Step(&rc);
  rc.Reset();
  EXPECT_EQ(rc.Step(0, 0), 48u);
}

// --- c-min-rate throttling -------------------------------------------------

TEST(RateController, ThrottlesOnlyWithAppIoAboveMinRate) {
  Options o;
  o.c_min_rate_kib = 250;
  RateController rc(o);
  EXPECT_TRUE(rc.ShouldThrottle(65, false, 251));
  EXPECT_TRUE(rc.ShouldThrottle(0, true, 251));
  EXPECT_FALSE(rc.ShouldThrottle(64, false, 10000));  // app I/O too small
  EXPECT_FALSE(rc.ShouldThrottle(1000, true, 250));   // not above min rate
  EXPECT_FALSE(rc.ShouldThrottle(0, false, 10000));   // no app I/O
}

TEST(RateController, ZeroMinRateDisablesThrottling) {
  Options o;
  o.c_min_rate_kib = 0;
  RateController rc(o);
  EXPECT_FALSE(rc.ShouldThrottle(100000, true, 100000));
}

}  // namespace
}  // namespace tandem::engine
