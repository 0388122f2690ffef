// Resync rate controller; the equations and their units are described in
// docs/bitmap-encoding.md ("Resync rate controller").
//
// Units: sectors of 512 bytes, steps of 100 ms. A rate of R KiB/s is 2R
// sectors per second, i.e. 2R/10 sectors per step.
#include "engine/rate_controller.h"

#include <algorithm>

namespace tandem::engine {
namespace {

constexpr int64_t kSectorsPerBlock = 8;  // requests are whole 4 KiB blocks
constexpr int64_t kStepsPerSecond = 10;

// Sectors per step for a rate in KiB/s, rounded down.
int64_t SectorsPerStep(uint32_t rate_kib) { return int64_t{rate_kib} * 2 / kStepsPerSecond; }

}  // namespace

RateController::RateController(const Options& opts) : opts_(opts) { Reset(); }

void RateController::Reset() {
  plan_.assign(opts_.c_plan_ahead, 0);
  head_ = 0;
  plan_total_ = 0;
  started_ = false;
  carry_tenths_ = 0;
}

uint64_t RateController::Step(uint64_t sectors_in, uint64_t in_flight) {
  const int64_t in = static_cast<int64_t>(sectors_in);
  const int64_t flight = static_cast<int64_t>(in_flight);
  const bool fixed = plan_.empty();
  int64_t req = 0;

  if (fixed) {
    // resync_rate_kib * 2 sectors per second == that many tenths of a sector
    // per step; the remainder that does not fill a block carries over.
    carry_tenths_ += int64_t{opts_.resync_rate_kib} * 2;
    req = carry_tenths_ / 10;
  } else {
    const int64_t steps = static_cast<int64_t>(plan_.size());
    int64_t want;
    if (!started_ || in + flight == 0) {
      // Start (or restart after the pipeline drained): plan to reach
      // resync-rate over the whole plan-ahead window. Restarting on an empty
      // pipeline also keeps delay mode, whose target is proportional to
      // sectors_in, from settling at zero for ever.
      want = int64_t{opts_.resync_rate_kib} * 2 * steps / kStepsPerSecond;
    } else if (opts_.c_fill_target_sectors != 0) {
      want = opts_.c_fill_target_sectors;  // fill mode: a fixed amount in flight
    } else {
      // Delay mode: keep c_delay_target (0.1 s units) worth of the observed
      // throughput in flight. Throughput is sectors_in per 0.1 s step, so
      // want = sectors_in / 0.1 s * c_delay_target * 0.1 s.
      want = in * int64_t{opts_.c_delay_target};
    }
    // Spread the distance to the target evenly over the plan window; the
    // sectors already planned count as if they were in flight. The division
    // remainder goes one sector each to the earliest slots, so the plan
    // absorbs the whole correction and small errors do not persist.
    const int64_t correction = want - flight - plan_total_;
    const int64_t per_step = correction / steps;
    const int64_t sign = correction < 0 ? -1 : 1;
    const int64_t extra_slots = (correction % steps) * sign;
    for (int64_t i = 0; i < steps; ++i) {
      plan_[(head_ + static_cast<size_t>(i)) % plan_.size()] +=
          per_step + (i < extra_slots ? sign : 0);
    }
    plan_total_ += correction;

    const int64_t now = plan_[head_];
    plan_[head_] = 0;  // the popped slot becomes the newest, still empty
    head_ = (head_ + 1) % plan_.size();
    plan_total_ -= now;

    // Replace what came back, plus this step's share of the correction.
    req = std::max<int64_t>(in + now, 0);
    if (opts_.c_max_rate_kib != 0) req = std::min(req, SectorsPerStep(opts_.c_max_rate_kib));
  }

  // Never have more than max-buffers/2 pages of resync requests in flight, so
  // the peer's receive buffers cannot fill up with resync traffic alone.
  const int64_t buffer_cap = int64_t{opts_.max_buffers} / 2 * kSectorsPerBlock;
  req = std::min(req, std::max<int64_t>(buffer_cap - flight, 0));
  const int64_t partial = req % kSectorsPerBlock;
  req -= partial;
  if (!fixed && partial != 0) {
    // The sectors that did not fill a block are requested next step instead
    // of being lost, so rounding does not leave a standing error.
    plan_[head_] += partial;
    plan_total_ += partial;
  }

  if (fixed) {
    // Keep at most the sub-block remainder; budget lost to the buffer cap is
    // dropped rather than paid out later as a burst.
    carry_tenths_ = std::min<int64_t>(carry_tenths_ - req * 10, kSectorsPerBlock * 10 - 1);
  }
  started_ = true;
  return static_cast<uint64_t>(req);
}

bool RateController::ShouldThrottle(uint64_t app_sectors_since_last, bool al_in_use,
                                    uint64_t current_rate_kib) const {
  if (opts_.c_min_rate_kib == 0) return false;
  const bool app_active = al_in_use || app_sectors_since_last > 64;
  return app_active && current_rate_kib > opts_.c_min_rate_kib;
}

}  // namespace tandem::engine
