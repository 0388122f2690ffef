#include "sim/simulation.h"

#include <algorithm>
#include <cstdio>

#include "common/check.h"

namespace tandem::sim {

Simulation::Simulation(uint64_t seed) : seed_(seed), rng_(seed) {}

uint64_t Simulation::Uniform(uint64_t lo, uint64_t hi) {
  TANDEM_CHECK(lo <= hi);
  uint64_t span = hi - lo;
  if (span == UINT64_MAX) return rng_();
  return lo + rng_() % (span + 1);
}

Time Simulation::UniformTime(Time lo, Time hi) {
  TANDEM_CHECK(lo <= hi);
  return lo + static_cast<Time>(Uniform(0, static_cast<uint64_t>(hi - lo)));
}

bool Simulation::Chance(double p) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  double u = static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);  // [0, 1)
  return u < p;
}

Simulation::EventId Simulation::At(Time at, std::function<void()> fn) {
  TANDEM_CHECK(at >= now_);
  uint64_t seq = next_seq_++;
  heap_.push_back(Item{at, seq, std::move(fn)});
  queued_.insert(seq);
  std::push_heap(heap_.begin(), heap_.end(), Later);
  return seq;
}

void Simulation::Cancel(EventId id) {
  if (id == 0 || id >= next_seq_) return;
  // Only remember ids still queued; otherwise the set would grow forever.
  if (queued_.count(id)) cancelled_.insert(id);
}

void Simulation::DropCancelledTop() {
  while (!heap_.empty() && !cancelled_.empty() && cancelled_.count(heap_.front().seq)) {
    cancelled_.erase(heap_.front().seq);
    queued_.erase(heap_.front().seq);
    std::pop_heap(heap_.begin(), heap_.end(), Later);
    heap_.pop_back();
  }
}

bool Simulation::Step() {
  DropCancelledTop();
  if (heap_.empty()) return false;
  std::pop_heap(heap_.begin(), heap_.end(), Later);
  Item item = std::move(heap_.back());
  heap_.pop_back();
  queued_.erase(item.seq);
  now_ = item.at;
  ++events_run_;
  item.fn();
  return true;
}

std::optional<Time> Simulation::NextEventTime() {
  DropCancelledTop();
  if (heap_.empty()) return std::nullopt;
  return heap_.front().at;
}

void Simulation::RunUntil(Time t) {
  for (;;) {
    std::optional<Time> next = NextEventTime();
    if (!next || *next > t) break;
    Step();
  }
  if (t > now_) now_ = t;
}

std::string FormatTime(Time t) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "t=%lld.%03lld", static_cast<long long>(t / kMs),
                static_cast<long long>((t % kMs) / kUs));
  return buf;
}

}  // namespace tandem::sim
