#include "sim/history.h"

#include <algorithm>
#include <cstdio>

#include "common/check.h"
#include "sim/stamp.h"

namespace tandem::sim {

namespace {

const char* OutcomeName(WriteOutcome o) {
  switch (o) {
    case WriteOutcome::kInFlight:
      return "in flight";
    case WriteOutcome::kAcked:
      return "acked";
    case WriteOutcome::kUnknown:
      return "failed/lost";
    case WriteOutcome::kRejected:
      return "rejected";
  }
  return "?";
}

std::string Ms(Time t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fms", static_cast<double>(t) / 1e6);
  return buf;
}

}  // namespace

History::History(HistoryOptions options) : options_(std::move(options)) {
  blocks_.resize(options_.volumes);
  for (auto& v : blocks_) v.resize(options_.blocks_per_volume);
  volatile_acked_.resize(kMaxNodes);
}

History::Block& History::Blk(VolumeNr vnr, uint64_t block) {
  TANDEM_CHECK(vnr.value() < blocks_.size() && block < options_.blocks_per_volume);
  return blocks_[vnr.value()][block];
}

const History::Block& History::Blk(VolumeNr vnr, uint64_t block) const {
  return const_cast<History*>(this)->Blk(vnr, block);
}

std::string History::NodeName(NodeId n) const {
  if (n.value() < options_.node_names.size()) return options_.node_names[n.value()];
  return "node " + std::to_string(n.value());
}

const WriteRecord* History::Find(uint64_t seq) const {
  if (seq == 0 || seq > writes_.size()) return nullptr;
  return &writes_[seq - 1];
}

uint64_t History::BeginWrite(NodeId node, VolumeNr vnr, uint64_t first_block, uint32_t blocks,
                             bool zero, bool fua, Time now) {
  TANDEM_CHECK(blocks > 0);
  WriteRecord r;
  r.seq = writes_.size() + 1;
  r.node = node;
  r.vnr = vnr;
  r.first_block = first_block;
  r.blocks = blocks;
  r.zero = zero;
  r.fua = fua;
  r.submitted = now;
  for (uint64_t b = first_block; b < first_block + blocks; ++b) {
    Block& blk = Blk(vnr, b);
    TANDEM_CHECK_MSG(!blk.busy, "two writes in flight to one block");
    blk.busy = true;
    blk.writes.push_back(r.seq);
  }
  writes_.push_back(r);
  ++stats_.writes;
  return r.seq;
}

void History::EndWrite(uint64_t seq, WriteOutcome outcome, Time now) {
  TANDEM_CHECK(seq >= 1 && seq <= writes_.size());
  WriteRecord& r = writes_[seq - 1];
  TANDEM_CHECK(r.outcome == WriteOutcome::kInFlight && outcome != WriteOutcome::kInFlight);
  r.outcome = outcome;
  r.done = now;
  for (uint64_t b = r.first_block; b < r.first_block + r.blocks; ++b) Blk(r.vnr, b).busy = false;
  switch (outcome) {
    case WriteOutcome::kAcked:
      ++stats_.acked;
      last_ack_node_ = r.node;
      for (uint64_t b = r.first_block; b < r.first_block + r.blocks && options_.ack_raises_floor;
           ++b) {
        Block& blk = Blk(r.vnr, b);
        blk.floor = std::max(blk.floor, seq);
      }
      if (r.fua && options_.fua_is_durable) {
        MarkDurable(seq);
      } else {
        volatile_acked_[r.node.value()].push_back(seq);
      }
      break;
    case WriteOutcome::kRejected:
      ++stats_.rejected;
      break;
    case WriteOutcome::kUnknown:
      ++stats_.unknown;
      break;
    case WriteOutcome::kInFlight:
      break;
  }
}

void History::MarkDurable(uint64_t seq) {
  WriteRecord& r = writes_[seq - 1];
  if (r.durable) return;
  r.durable = true;
  ++stats_.durable;
  for (uint64_t b = r.first_block; b < r.first_block + r.blocks; ++b) {
    Block& blk = Blk(r.vnr, b);
    blk.durable = std::max(blk.durable, seq);
    blk.floor = std::max(blk.floor, seq);
  }
}

uint64_t History::BeginFlush(NodeId node, Time) {
  Flush f;
  f.node = node;
  auto& pending = volatile_acked_[node.value()];
  std::erase_if(pending, [&](uint64_t s) { return writes_[s - 1].durable; });
  f.covers = pending;
  flushes_.push_back(std::move(f));
  ++stats_.flushes;
  return flushes_.size();
}

void History::EndFlush(uint64_t flush_id, bool ok, Time) {
  TANDEM_CHECK(flush_id >= 1 && flush_id <= flushes_.size());
  Flush& f = flushes_[flush_id - 1];
  TANDEM_CHECK(f.open);
  f.open = false;
  if (!ok) return;
  ++stats_.flushes_ok;
  for (uint64_t s : f.covers) MarkDurable(s);
  f.covers.clear();
}

void History::NodeCrashed(NodeId node, Time) {
  ++stats_.crashes;
  // What the node acknowledged from its volatile cache is gone or not: a
  // flush on it after the restart makes none of it durable (found by random
  // seed 164: a write lost in bravo's crash was counted durable by a flush
  // bravo completed much later).
  volatile_acked_[node.value()].clear();
  for (Flush& f : flushes_)
    if (f.open && f.node == node) f.covers.clear();
  for (auto& vol : blocks_) {
    for (Block& blk : vol) blk.floor = blk.durable;
  }
}

History::ReadToken History::BeginRead(VolumeNr vnr, uint64_t first_block, uint32_t blocks,
                                      Time now) const {
  ReadToken t;
  t.vnr = vnr;
  t.first_block = first_block;
  t.blocks = blocks;
  t.submitted = now;
  for (uint64_t b = first_block; b < first_block + blocks; ++b) t.floors.push_back(floor(vnr, b));
  return t;
}

std::string History::DescribeWrite(uint64_t seq) const {
  const WriteRecord* r = Find(seq);
  if (!r) return seq == 0 ? "never written" : "unknown write #" + std::to_string(seq);
  std::string s = "write #" + std::to_string(seq) + " (" + (r->zero ? "zeroes" : "data") +
                  " from " + NodeName(r->node) + (r->fua ? ", fua" : "") + ", submitted " +
                  Ms(r->submitted) + ", " + OutcomeName(r->outcome);
  if (r->done >= 0) s += " " + Ms(r->done);
  if (r->durable) s += ", durable";
  return s + ")";
}

std::string History::DescribeBlock(ByteSpan content) const {
  Stamp st;
  switch (ParseBlock(content, &st)) {
    case BlockKind::kZero:
      return "zeroes";
    case BlockKind::kGarbage:
      return "garbage (torn or corrupt)";
    case BlockKind::kStamped:
      return "block " + std::to_string(st.block) + " of " + DescribeWrite(st.seq);
  }
  return "?";
}

std::string History::CheckBlock(VolumeNr vnr, uint64_t block, uint64_t floor_seq,
                                ByteSpan content) const {
  const Block& blk = Blk(vnr, block);
  std::string where = "vnr " + std::to_string(vnr.value()) + " block " + std::to_string(block);
  Stamp st;
  BlockKind kind = ParseBlock(content, &st);
  if (kind == BlockKind::kGarbage) return where + " is garbage (torn or corrupt)";
  if (kind == BlockKind::kStamped) {
    if (st.block != block || st.vnr != vnr.value()) {
      return where + " holds the data of vnr " + std::to_string(st.vnr) + " block " +
             std::to_string(st.block) + " (" + DescribeWrite(st.seq) + ")";
    }
    if (std::find(blk.writes.begin(), blk.writes.end(), st.seq) == blk.writes.end() ||
        Find(st.seq)->zero) {
      return where + " shows a write never issued to it: " + DescribeWrite(st.seq);
    }
    if (st.seq == floor_seq) return "";
    if (st.seq < floor_seq) {
      return where + " shows the older " + DescribeWrite(st.seq) + " instead of " +
             DescribeWrite(floor_seq) + " or newer";
    }
    if (Find(st.seq)->outcome == WriteOutcome::kRejected) {
      return where + " shows a rejected " + DescribeWrite(st.seq);
    }
    return "";
  }
  // Zeroes.
  if (floor_seq == 0 || Find(floor_seq)->zero) return "";
  for (auto it = blk.writes.rbegin(); it != blk.writes.rend() && *it > floor_seq; ++it) {
    const WriteRecord* w = Find(*it);
    if (w->zero && w->outcome != WriteOutcome::kRejected) return "";
  }
  return where + " is zero instead of " + DescribeWrite(floor_seq) + " or newer";
}

std::string History::CheckRead(const ReadToken& token, ByteSpan data) const {
  if (data.size() != uint64_t{token.blocks} * kAppBlock) {
    return "read of " + std::to_string(token.blocks) + " blocks returned " +
           std::to_string(data.size()) + " bytes";
  }
  for (uint32_t i = 0; i < token.blocks; ++i) {
    std::string err = CheckBlock(token.vnr, token.first_block + i, token.floors[i],
                                 data.subspan(uint64_t{i} * kAppBlock, kAppBlock));
    if (!err.empty()) return "read submitted at " + Ms(token.submitted) + ": " + err;
  }
  return "";
}

std::string History::CheckArea(VolumeNr vnr, ByteSpan area) const {
  std::string out;
  int problems = 0;
  for (uint64_t b = 0; b < options_.blocks_per_volume; ++b) {
    if ((b + 1) * kAppBlock > area.size()) break;
    const Block& blk = Blk(vnr, b);
    std::string err = CheckBlock(vnr, b, blk.floor, area.subspan(b * kAppBlock, kAppBlock));
    if (err.empty()) continue;
    if (blk.floor == blk.durable && blk.durable != 0) {
      err = "lost durable-acknowledged data: " + err;
    } else if (blk.floor != 0) {
      err = "lost acknowledged data (no crash since): " + err;
    }
    if (problems++ < 3) out += (out.empty() ? "" : "; ") + err;
  }
  if (problems > 3) out += "; and " + std::to_string(problems - 3) + " more blocks";
  return out;
}

}  // namespace tandem::sim
