// Simulation: the clock, the event queue and the one random number generator of
// a simulated run (TESTING.md, "The simulator").
//
// Everything that happens in a run is an event scheduled on this queue, and
// every random choice (delays, faults, the workload, the engine's own
// Env::Random64) is drawn from one std::mt19937_64 seeded from the seed, so one
// seed reproduces a run exactly. Events run in (time, sequence number) order:
// two events at the same simulated time run in the order they were scheduled.
//
// Thread-safety: none; a run is single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <unordered_set>
#include <vector>

#include "engine/resource.h"
#include "engine/types.h"

namespace tandem::sim {

using engine::kMs;
using engine::kSec;
using engine::Time;
inline constexpr Time kUs = 1'000;

class Simulation {
 public:
  using EventId = uint64_t;

  explicit Simulation(uint64_t seed);
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  uint64_t seed() const { return seed_; }
  Time now() const { return now_; }

  // --- randomness: all of it comes from here.
  uint64_t Random64() { return rng_(); }
  // Uniform in [lo, hi] (inclusive). Computed without std distributions so a
  // seed gives the same run with any standard library.
  uint64_t Uniform(uint64_t lo, uint64_t hi);
  Time UniformTime(Time lo, Time hi);
  // True with probability p.
  bool Chance(double p);
  // One element index of a non-empty range of `n`.
  size_t Pick(size_t n) { return static_cast<size_t>(Uniform(0, n - 1)); }

  // --- events
  // REQUIRES: at >= now().
  EventId At(Time at, std::function<void()> fn);
  EventId After(Time delay, std::function<void()> fn) { return At(now_ + delay, std::move(fn)); }
  // Cancelling an event that already ran (or an unknown id) does nothing.
  void Cancel(EventId id);

  // Runs the next event, advancing the clock to its time. False when the
  // queue is empty.
  bool Step();
  // Runs every event due at or before `t`, then sets the clock to `t`.
  void RunUntil(Time t);
  std::optional<Time> NextEventTime();

  size_t pending() const { return heap_.size() - cancelled_.size(); }
  uint64_t events_run() const { return events_run_; }

 private:
  struct Item {
    Time at;
    uint64_t seq;
    std::function<void()> fn;
  };
  // Min-heap order on (at, seq).
  static bool Later(const Item& a, const Item& b) {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  }
  void DropCancelledTop();

  uint64_t seed_;
  Time now_ = 0;
  std::mt19937_64 rng_;
  uint64_t next_seq_ = 1;
  uint64_t events_run_ = 0;
  std::vector<Item> heap_;
  std::unordered_set<EventId> queued_;     // ids in heap_
  std::unordered_set<EventId> cancelled_;  // ids in heap_ that must not run
};

// The engine's environment on one simulated node: its randomness is the
// simulation's. Must outlive the Resource it is given to.
class SimEnv : public engine::Env {
 public:
  explicit SimEnv(Simulation* sim) : sim_(sim) {}
  uint64_t Random64() override { return sim_->Random64(); }

 private:
  Simulation* sim_;
};

// "t=12.345" (milliseconds, three decimals) for traces.
std::string FormatTime(Time t);

}  // namespace tandem::sim
