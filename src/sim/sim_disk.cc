#include "sim/sim_disk.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"

namespace tandem::sim {

namespace {
constexpr uint64_t kSector = kSectorSize;
}  // namespace

SimDisk::SimDisk(Simulation* sim, uint64_t data_bytes, Bytes md_initial, SimDiskOptions options)
    : sim_(sim), options_(options) {
  area_[0].visible.assign(data_bytes, 0);
  area_[0].durable = area_[0].visible;
  area_[1].visible = std::move(md_initial);
  area_[1].durable = area_[1].visible;
}

std::string SimDisk::Submit(const engine::DiskIo& io, Callback done) {
  Area& a = area_[Index(io.area)];
  std::string error;
  if (io.op != DiskOp::kFlush) {
    if (io.offset % kSector != 0 || io.length % kSector != 0) {
      error = "disk I/O not 512-aligned";
    } else if (io.offset > a.visible.size() || io.length > a.visible.size() - io.offset) {
      error = "disk I/O beyond the end of the area";
    } else if (io.op == DiskOp::kWrite && (!io.data || io.data->size() != io.length)) {
      error = "disk write payload does not match its length";
    }
  }
  uint64_t id = next_op_++;
  Op& op = ops_[id];
  op.io = io;
  op.area = Index(io.area);
  op.done = std::move(done);
  if (!error.empty()) {
    op.fail = true;
  } else if (IsWrite(io.op) && a.fail_writes != 0) {
    op.fail = true;
    if (a.fail_writes > 0) --a.fail_writes;
  } else if (!IsWrite(io.op) && a.fail_reads != 0) {
    op.fail = true;
    if (a.fail_reads > 0) --a.fail_reads;
  }
  if (io.op == DiskOp::kFlush) op.flush_mark = next_order_;
  ScheduleCompletion(id);
  return error;
}

void SimDisk::ScheduleCompletion(uint64_t op_id) {
  uint64_t inc = incarnation_;
  sim_->After(sim_->UniformTime(options_.min_latency, options_.max_latency), [this, op_id, inc] {
    if (inc == incarnation_) CompleteOp(op_id);
  });
}

void SimDisk::CompleteOp(uint64_t op_id) {
  auto it = ops_.find(op_id);
  if (it == ops_.end()) return;
  Area& a = area_[it->second.area];
  if (a.frozen) {
    a.held.push_back(op_id);
    return;
  }
  Op op = std::move(it->second);
  ops_.erase(it);
  const engine::DiskIo& io = op.io;
  SharedBytes result;
  if (!op.fail) {
    switch (io.op) {
      case DiskOp::kRead:
        result = MakeShared(
            Bytes(a.visible.begin() + io.offset, a.visible.begin() + io.offset + io.length));
        break;
      case DiskOp::kWrite:
        ApplyWrite(a, io.offset, *io.data, io.fua);
        break;
      case DiskOp::kTrim:
      case DiskOp::kZeroes: {
        Bytes zeroes(io.length, 0);
        ApplyWrite(a, io.offset, zeroes, io.fua);
        break;
      }
      case DiskOp::kFlush:
        while (!a.unflushed.empty() && a.unflushed.front().order < op.flush_mark) {
          Unflushed& u = a.unflushed.front();
          ApplySectors(a.durable, u.offset, u.data, u.live);
          a.unflushed.pop_front();
        }
        break;
    }
  }
  op.done(!op.fail, std::move(result));
}

void SimDisk::ApplyWrite(Area& a, uint64_t offset, ByteSpan data, bool fua) {
  std::memcpy(a.visible.data() + offset, data.data(), data.size());
  if (!fua) {
    Unflushed u;
    u.order = next_order_++;
    u.offset = offset;
    u.data.assign(data.begin(), data.end());
    u.live.assign(data.size() / kSector, true);
    a.unflushed.push_back(std::move(u));
    return;
  }
  std::memcpy(a.durable.data() + offset, data.data(), data.size());
  // An older cached write can no longer reach the medium over this data.
  uint64_t end = offset + data.size();
  for (Unflushed& u : a.unflushed) {
    uint64_t u_end = u.offset + u.data.size();
    uint64_t lo = std::max(offset, u.offset), hi = std::min(end, u_end);
    for (uint64_t s = lo; s < hi; s += kSector) u.live[(s - u.offset) / kSector] = false;
  }
}

void SimDisk::ApplySectors(Bytes& image, uint64_t offset, ByteSpan data,
                           const std::vector<bool>& live) {
  for (size_t i = 0; i < live.size(); ++i) {
    if (live[i])
      std::memcpy(image.data() + offset + i * kSector, data.data() + i * kSector, kSector);
  }
}

void SimDisk::ApplyCrashOutcome(Bytes& image, uint64_t offset, ByteSpan data,
                                std::vector<bool> live) {
  uint64_t total = uint64_t{options_.crash_keep_weight} + options_.crash_lose_weight +
                   options_.crash_tear_weight;
  if (total == 0) return;
  uint64_t r = sim_->Uniform(0, total - 1);
  if (r < options_.crash_keep_weight) {
    ApplySectors(image, offset, data, live);
  } else if (r < uint64_t{options_.crash_keep_weight} + options_.crash_lose_weight) {
    // lost
  } else {
    for (size_t i = 0; i < live.size(); ++i) live[i] = live[i] && sim_->Chance(0.5);
    ApplySectors(image, offset, data, live);
  }
}

void SimDisk::Crash() {
  ++incarnation_;
  for (Area& a : area_) {
    for (Unflushed& u : a.unflushed) ApplyCrashOutcome(a.durable, u.offset, u.data, u.live);
    a.unflushed.clear();
    a.held.clear();
  }
  // Writes still in flight may have reached the medium, wholly or in part.
  for (auto& [id, op] : ops_) {
    const engine::DiskIo& io = op.io;
    if (op.fail || !IsWrite(io.op) || io.op == DiskOp::kFlush) continue;
    Area& a = area_[op.area];
    std::vector<bool> live(io.length / kSector, true);
    if (io.op == DiskOp::kWrite) {
      ApplyCrashOutcome(a.durable, io.offset, *io.data, std::move(live));
    } else {
      Bytes zeroes(io.length, 0);
      ApplyCrashOutcome(a.durable, io.offset, zeroes, std::move(live));
    }
  }
  ops_.clear();
  for (Area& a : area_) a.visible = a.durable;
}

void SimDisk::BeginGrow(uint64_t data_bytes, uint64_t next_md_bytes) {
  TANDEM_CHECK(!growing_ && data_bytes >= area_[0].visible.size());
  growing_ = true;
  grow_old_data_bytes_ = area_[0].visible.size();
  area_[0].visible.resize(data_bytes, 0);
  area_[0].durable.resize(data_bytes, 0);
  area_[2] = Area{};
  area_[2].visible.assign(next_md_bytes, 0);
  area_[2].durable = area_[2].visible;
}

void SimDisk::CommitGrow() {
  TANDEM_CHECK(growing_);
  growing_ = false;
  area_[kRetired] = std::move(area_[1]);
  for (auto& [id, op] : ops_)
    if (op.area == 1) op.area = kRetired;
  area_[1] = std::move(area_[2]);
  area_[2] = Area{};
}

void SimDisk::AbandonGrow() {
  TANDEM_CHECK(growing_);
  growing_ = false;
  for (auto it = ops_.begin(); it != ops_.end();)
    it = it->second.area == 2 ? ops_.erase(it) : std::next(it);
  area_[2] = Area{};
  area_[0].visible.resize(grow_old_data_bytes_);
  area_[0].durable.resize(grow_old_data_bytes_);
  for (Unflushed& u : area_[0].unflushed)
    if (u.offset + u.data.size() > grow_old_data_bytes_) {
      // A write to the area that goes away: only its part below the end stays.
      uint64_t keep = u.offset >= grow_old_data_bytes_ ? 0 : grow_old_data_bytes_ - u.offset;
      u.data.resize(keep);
      u.live.resize(keep / kSector);
    }
}

void SimDisk::FailWrites(DiskArea area, int n) { area_[Index(area)].fail_writes = n; }
void SimDisk::FailReads(DiskArea area, int n) { area_[Index(area)].fail_reads = n; }

void SimDisk::Freeze(DiskArea area) { area_[Index(area)].frozen = true; }

void SimDisk::Unfreeze(DiskArea area) {
  Area& a = area_[Index(area)];
  a.frozen = false;
  std::vector<uint64_t> held;
  held.swap(a.held);
  for (uint64_t id : held) ScheduleCompletion(id);
}

void SimDisk::ClearFaults() {
  for (DiskArea area : {DiskArea::kData, DiskArea::kMeta}) {
    FailWrites(area, 0);
    FailReads(area, 0);
    Unfreeze(area);
  }
}

bool SimDisk::has_faults() const {
  for (const Area& a : area_) {
    if (a.fail_reads || a.fail_writes || a.frozen) return true;
  }
  return false;
}

void SimDisk::Poke(DiskArea area, uint64_t offset, ByteSpan bytes) {
  Area& a = area_[Index(area)];
  TANDEM_CHECK(offset <= a.visible.size() && bytes.size() <= a.visible.size() - offset);
  ApplyWrite(a, offset, bytes, /*fua=*/true);
}

}  // namespace tandem::sim
