// The resync rate controller (drbd-semantics.md §8.2): decides, every 100 ms
// step, how many sectors the SyncTarget requests. Fixed rate when
// c_plan_ahead == 0, otherwise DRBD's plan-ahead controller in fill or delay
// mode, capped by c-max-rate and by max-buffers. c-min-rate throttling is a
// separate check the caller makes before each step.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/types.h"

namespace tandem::engine {

class RateController {
 public:
  explicit RateController(const Options& opts);
  void Reset();
  // One 100 ms step. sectors_in: sectors whose resync replies arrived since
  // the last step; in_flight: sectors requested and not yet answered.
  // Returns sectors to request now (a multiple of 8, i.e. whole 4 KiB blocks).
  uint64_t Step(uint64_t sectors_in, uint64_t in_flight);
  // c-min-rate: true when application I/O is active (app_sectors since the
  // last check > 64, or al_in_use) and the current resync rate in KiB/s
  // exceeds c_min_rate; the caller then skips this step's requests.
  bool ShouldThrottle(uint64_t app_sectors_since_last, bool al_in_use,
                      uint64_t current_rate_kib) const;

 private:
  Options opts_;
  std::vector<int64_t> plan_;  // FIFO of planned sectors per step
  size_t head_ = 0;
  int64_t plan_total_ = 0;
  bool started_ = false;
  // Fixed mode only: requests are whole 4 KiB blocks, so the part of the
  // per-step budget that did not fill a block is carried over (in 0.1 sector
  // units) to keep the long-run rate exact.
  int64_t carry_tenths_ = 0;
};

}  // namespace tandem::engine
