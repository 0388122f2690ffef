// History: what the simulated application did and what it was told, and from
// that what any read (and the final disks) may legally show.
//
// The workload never has two writes in flight to the same block (BeginWrite's
// precondition), so the writes to one block are totally ordered by their
// sequence number. For every block the history keeps a floor: the write a read
// must show, or a newer one.
// - When a write is acknowledged (kOk) it becomes the floor of its blocks
//   (not with protocol A, see HistoryOptions).
// - When a write becomes durable-acknowledged (acked with FUA, or acked on a
//   node before a flush was submitted there and that flush completed ok), it
//   raises the floor (it must survive anything).
// - When any node crashes, acknowledged writes that were not durable may be
//   lost, so every floor falls back to the block's latest durable write.
// A block may show its floor write, or any later write to it that was not
// rejected (acknowledged, failed with unknown outcome, lost with a crashed
// node, or still in flight); a block whose floor is "never written" may also
// be zero. Zero writes (trim, write-zeroes) show as zeroes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/ids.h"
#include "engine/types.h"

namespace tandem::sim {

using engine::Time;

enum class WriteOutcome : uint8_t {
  kInFlight,
  kAcked,     // completed kOk
  kUnknown,   // failed with an error that may leave it applied, or lost in a crash
  kRejected,  // refused before anything was written (not Primary, invalid)
};

struct WriteRecord {
  uint64_t seq = 0;
  NodeId node;
  VolumeNr vnr;
  uint64_t first_block = 0;
  uint32_t blocks = 0;
  bool zero = false;  // trim / write-zeroes
  bool fua = false;
  Time submitted = 0;
  Time done = -1;
  WriteOutcome outcome = WriteOutcome::kInFlight;
  bool durable = false;
};

struct HistoryOptions {
  int volumes = 1;
  uint64_t blocks_per_volume = 0;
  // Protocol A acknowledges before peers have the data: an acknowledged write
  // may be lost in a failover, so only flushes make writes durable and only
  // durable writes raise the floor.
  bool fua_is_durable = true;
  bool ack_raises_floor = true;
  std::vector<std::string> node_names;  // for messages; "node <id>" otherwise
};

class History {
 public:
  explicit History(HistoryOptions options);

  // --- writes: kWrite, kTrim, kWriteZeroes over whole 4 KiB blocks.
  // REQUIRES: !Busy() for each block. Returns the write's sequence number
  // (the stamp's seq; never 0).
  uint64_t BeginWrite(NodeId node, VolumeNr vnr, uint64_t first_block, uint32_t blocks, bool zero,
                      bool fua, Time now);
  void EndWrite(uint64_t seq, WriteOutcome outcome, Time now);
  bool Busy(VolumeNr vnr, uint64_t block) const { return Blk(vnr, block).busy; }

  // --- flushes
  uint64_t BeginFlush(NodeId node, Time now);
  void EndFlush(uint64_t flush_id, bool ok, Time now);

  // Any node crashed: non-durable acknowledged writes may be gone, and no
  // later flush on that node makes its earlier writes durable.
  void NodeCrashed(NodeId node, Time now);

  // --- reads
  struct ReadToken {
    VolumeNr vnr;
    uint64_t first_block = 0;
    uint32_t blocks = 0;
    Time submitted = 0;
    std::vector<uint64_t> floors;  // per block, at submission
  };
  ReadToken BeginRead(VolumeNr vnr, uint64_t first_block, uint32_t blocks, Time now) const;
  // Empty when every block of `data` is allowed, else what is wrong.
  std::string CheckRead(const ReadToken& token, ByteSpan data) const;

  // Checks a whole data area (the end-of-run state of an UpToDate replica)
  // against the current floors. Empty, or the first problems found.
  std::string CheckArea(VolumeNr vnr, ByteSpan area) const;
  // One block against a floor.
  std::string CheckBlock(VolumeNr vnr, uint64_t block, uint64_t floor, ByteSpan content) const;

  uint64_t floor(VolumeNr vnr, uint64_t block) const { return Blk(vnr, block).floor; }
  uint64_t durable_floor(VolumeNr vnr, uint64_t block) const { return Blk(vnr, block).durable; }
  const WriteRecord* Find(uint64_t seq) const;
  // A short description of a block's content for messages.
  std::string DescribeBlock(ByteSpan content) const;
  std::string DescribeWrite(uint64_t seq) const;
  std::optional<NodeId> last_ack_node() const { return last_ack_node_; }
  uint64_t blocks_per_volume() const { return options_.blocks_per_volume; }

  struct Stats {
    uint64_t writes = 0, acked = 0, durable = 0, rejected = 0, unknown = 0;
    uint64_t flushes = 0, flushes_ok = 0, crashes = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Block {
    uint64_t floor = 0;    // 0: the initial zeroes
    uint64_t durable = 0;  // latest durable-acknowledged write, 0: none
    bool busy = false;
    std::vector<uint64_t> writes;  // every write to the block, in order
  };
  struct Flush {
    NodeId node;
    std::vector<uint64_t> covers;  // acked, not yet durable writes at submission
    bool open = true;
  };
  Block& Blk(VolumeNr vnr, uint64_t block);
  const Block& Blk(VolumeNr vnr, uint64_t block) const;
  void MarkDurable(uint64_t seq);
  std::string NodeName(NodeId n) const;

  HistoryOptions options_;
  std::vector<std::vector<Block>> blocks_;             // [vnr][block]
  std::vector<WriteRecord> writes_;                    // index seq - 1
  std::vector<std::vector<uint64_t>> volatile_acked_;  // [node]: acked, not durable
  std::vector<Flush> flushes_;                         // index id - 1
  std::optional<NodeId> last_ack_node_;
  Stats stats_;
};

}  // namespace tandem::sim
