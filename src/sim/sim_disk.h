// SimDisk: the backing device of one volume on one simulated node, with a data
// area and a metadata area (external metadata, metadata.h), modelled the way
// real disks lose data (STYLE.md §10).
//
// Durability model, per area:
// - A write becomes visible to reads when it completes.
// - A completed write without FUA sits in a volatile write cache: it is durable
//   only once a Flush submitted after its completion has completed. A FUA
//   write is durable when it completes.
// - Crash() decides, by the simulation's RNG, for every write that was not yet
//   durable (cached, or still in flight) whether it is kept, lost, or torn
//   (some of its 512-byte sectors kept, the others lost). The result is what a
//   restarted node reads. I/Os in flight at a crash never complete.
// - kTrim and kZeroes write zeroes, with the same durability as a write.
//
// Faults, per area: fail the next N (or all) reads or writes (the I/O completes
// with ok = false and changes nothing; a failed flush makes nothing durable),
// and freeze (I/Os are held and complete only after Unfreeze).
//
// Completion callbacks always run from a simulation event, never inside
// Submit(). Thread-safety: none.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "engine/resource.h"
#include "sim/simulation.h"

namespace tandem::sim {

using engine::DiskArea;
using engine::DiskOp;

struct SimDiskOptions {
  Time min_latency = 20 * kUs;  // per I/O, uniform in [min, max]
  Time max_latency = 400 * kUs;
  // Crash outcome weights for each non-durable write.
  uint32_t crash_keep_weight = 1;
  uint32_t crash_lose_weight = 1;
  uint32_t crash_tear_weight = 1;
};

class SimDisk {
 public:
  using Callback = std::function<void(bool ok, SharedBytes data)>;

  // md_initial: the metadata area as create-md left it (durable).
  SimDisk(Simulation* sim, uint64_t data_bytes, Bytes md_initial, SimDiskOptions options = {});
  SimDisk(const SimDisk&) = delete;
  SimDisk& operator=(const SimDisk&) = delete;

  // Submits one I/O; `done` runs later from an event. Returns an empty string,
  // or what is wrong with a malformed request (out of range, not 512-aligned,
  // write payload of the wrong length); a malformed I/O completes with
  // ok = false.
  std::string Submit(const engine::DiskIo& io, Callback done);

  // The node crashed: apply the crash outcome of every non-durable write, drop
  // in-flight and held I/Os (their callbacks never run). Faults stay armed.
  void Crash();

  // --- online grow (metadata-format.md §9): the data area grows to
  // `data_bytes` (zeroes, durable) and an empty next metadata area of
  // `next_md_bytes` appears (DiskArea::kMetaNext).
  void BeginGrow(uint64_t data_bytes, uint64_t next_md_bytes);
  bool growing() const { return growing_; }
  // The next area becomes the metadata area. I/Os still in flight to the old
  // one complete against it, as on a real device where it lies elsewhere.
  void CommitGrow();
  // The grow did not finish: the next area goes, the data area is cut back.
  void AbandonGrow();

  // --- faults
  // n < 0: every I/O of the class until cleared; n > 0: the next n.
  void FailWrites(DiskArea area, int n);  // writes, trims, zeroes and flushes
  void FailReads(DiskArea area, int n);
  void Freeze(DiskArea area);
  void Unfreeze(DiskArea area);
  void ClearFaults();  // clears error injection and unfreezes both areas
  bool frozen(DiskArea area) const { return area_[Index(area)].frozen; }
  bool has_faults() const;

  // --- inspection (the host's direct view, not through the queue)
  // What a read returns now.
  const Bytes& Contents(DiskArea area) const { return area_[Index(area)].visible; }
  // What would survive if every non-durable write were lost.
  const Bytes& DurableContents(DiskArea area) const { return area_[Index(area)].durable; }
  uint64_t size(DiskArea area) const { return area_[Index(area)].visible.size(); }
  // Changes bytes behind the engine's back, durably (tests: "blocks altered
  // directly on a backing disk").
  void Poke(DiskArea area, uint64_t offset, ByteSpan bytes);
  size_t inflight() const { return ops_.size(); }
  size_t unflushed_writes(DiskArea area) const { return area_[Index(area)].unflushed.size(); }

 private:
  // A completed write not yet durable. live[i]: sector i still carries this
  // write's data in the cache (a later durable write to the sector clears it).
  struct Unflushed {
    uint64_t order = 0;
    uint64_t offset = 0;
    Bytes data;
    std::vector<bool> live;
  };
  struct Area {
    Bytes visible;
    Bytes durable;
    std::deque<Unflushed> unflushed;  // in completion order
    int fail_writes = 0;              // < 0: all
    int fail_reads = 0;
    bool frozen = false;
    std::vector<uint64_t> held;  // ops whose completion waits for Unfreeze
  };
  struct Op {
    engine::DiskIo io;
    Callback done;
    bool fail = false;
    uint64_t flush_mark = 0;  // kFlush: unflushed writes with order < mark become durable
    int area = 0;             // index into area_, fixed at submission
  };

  // kRetired: the metadata area a grow replaced, for I/Os still in flight.
  static constexpr int kRetired = 3;
  static int Index(DiskArea area) {
    return area == DiskArea::kData ? 0 : area == DiskArea::kMeta ? 1 : 2;
  }
  static bool IsWrite(DiskOp op) { return op != DiskOp::kRead; }
  void ScheduleCompletion(uint64_t op_id);
  void CompleteOp(uint64_t op_id);
  void ApplyWrite(Area& a, uint64_t offset, ByteSpan data, bool fua);
  // Writes the sectors of `data` selected by `live` into `image`.
  static void ApplySectors(Bytes& image, uint64_t offset, ByteSpan data,
                           const std::vector<bool>& live);
  void ApplyCrashOutcome(Bytes& image, uint64_t offset, ByteSpan data, std::vector<bool> live);

  Simulation* sim_;
  SimDiskOptions options_;
  Area area_[4];
  bool growing_ = false;
  uint64_t grow_old_data_bytes_ = 0;
  std::map<uint64_t, Op> ops_;  // submitted, not yet completed
  uint64_t next_op_ = 1;
  uint64_t next_order_ = 1;
  uint64_t incarnation_ = 0;  // bumps at Crash(): stale completion events do nothing
};

}  // namespace tandem::sim
