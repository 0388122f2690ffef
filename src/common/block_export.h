// BlockExport: one exported block volume as the frontends (NBD, FUSE) see it.
//
// The frontends (src/nbd, src/fusedev) serve consumers; tandemd implements
// BlockExport on top of the replication engine, tests implement it on a file
// or in memory. The interface is asynchronous: every call returns at once and
// its callback runs later.
//
// Threading: an export belongs to one thread (tandemd: the event-loop thread
// of its resource). Open, Close, Submit and SizeBytes must be called on that
// thread, and callbacks run on it. A frontend running its own threads (FUSE)
// hops onto it with Post(), which is the one thread-safe method.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/bytes.h"

namespace tandem {

enum class BlockOp : uint8_t { kRead, kWrite, kFlush, kTrim, kWriteZeroes };

struct BlockRequest {
  BlockOp op = BlockOp::kRead;
  uint64_t offset = 0;   // bytes
  uint32_t length = 0;   // bytes; 0 for kFlush
  bool fua = false;      // kWrite, kWriteZeroes: durable on all replicas when complete
  bool no_hole = false;  // kWriteZeroes: allocate, do not punch
  SharedBytes data;      // kWrite: exactly `length` bytes
};

struct BlockResult {
  int error = 0;     // 0 or a positive errno (EIO, EROFS, ENOSPC, EINVAL, ...)
  SharedBytes data;  // kRead: exactly `length` bytes when error == 0
};

enum class OpenMode : uint8_t { kReadOnly, kReadWrite };

struct OpenResult {
  int error = 0;        // 0 or a positive errno
  std::string message;  // why it was refused, for the consumer ("r0 is Primary on bravo")
};

class BlockExport {
 public:
  virtual ~BlockExport() = default;

  // Size in bytes; can grow while open (online resize).
  virtual uint64_t SizeBytes() const = 0;
  // Whether kTrim / kWriteZeroes / kFlush are supported by this export.
  virtual bool CanTrim() const { return true; }
  virtual bool CanWriteZeroes() const { return true; }
  virtual bool CanFlush() const { return true; }
  // Safe for several connections at once (NBD_FLAG_CAN_MULTI_CONN).
  virtual bool CanMultiConn() const { return true; }

  // A consumer opens the volume. kReadWrite auto-promotes the resource; on
  // refusal cb gets an error and a message saying why. Every successful Open
  // is paired with exactly one Close of the same mode.
  virtual void Open(OpenMode mode, std::function<void(OpenResult)> cb) = 0;
  // The consumer is gone. The last kReadWrite Close demotes the resource
  // (when the promotion was automatic) after flushing.
  virtual void Close(OpenMode mode) = 0;

  // One request. Offsets and lengths are bytes; requests beyond SizeBytes()
  // fail with EINVAL. kWrite on a read-only open fails with EROFS.
  virtual void Submit(BlockRequest req, std::function<void(BlockResult)> cb) = 0;

  // Runs fn on the export's thread. Thread-safe.
  virtual void Post(std::function<void()> fn) = 0;
};

}  // namespace tandem
