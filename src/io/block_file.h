// BlockFile: a backing file or block device, read and written asynchronously
// through Uring, with O_DIRECT when the file system supports it.
//
// Buffers handed to the kernel are 4 KiB-aligned copies, so callers pass and
// receive plain Bytes. Offsets and lengths must be multiples of 512 (the
// engine's granularity); with O_DIRECT the device's logical block size must
// divide them too (512 on every device this runs on; 4K-native devices need
// 4 KiB-aligned I/O, which the engine issues for everything but odd tails).
//
// Thread-safety: none; use on the Uring's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/bytes.h"
#include "common/result.h"
#include "io/uring.h"

namespace tandem::io {

class BlockFile {
 public:
  // ok: the operation completed; err: errno when not ok.
  using Done = std::function<void(int err, SharedBytes data)>;

  explicit BlockFile(Uring* uring) : uring_(uring) {}
  ~BlockFile();
  BlockFile(const BlockFile&) = delete;
  BlockFile& operator=(const BlockFile&) = delete;

  // Opens an existing file or block device read-write.
  [[nodiscard]] Result<bool> Open(const std::string& path, bool direct = true);
  void Close();

  uint64_t size() const { return size_; }
  bool direct() const { return direct_; }
  bool is_block_device() const { return is_blkdev_; }
  const std::string& path() const { return path_; }

  void Read(uint64_t offset, uint32_t len, Done done);
  void Write(uint64_t offset, SharedBytes data, bool fua, Done done);
  void Flush(Done done);
  void Trim(uint64_t offset, uint64_t len, Done done);    // reads back zeroes
  void Zeroes(uint64_t offset, uint64_t len, Done done);  // allocated zeroes

  // Synchronous helpers for create-md and start-up (before the loop runs).
  [[nodiscard]] Result<Bytes> ReadSync(uint64_t offset, uint64_t len);
  [[nodiscard]] Result<bool> WriteSync(uint64_t offset, ByteSpan data);
  // Makes a regular file `new_size` bytes long, durably: the new part
  // allocated when `preallocate`, sparse otherwise. A block device cannot.
  [[nodiscard]] Result<bool> Resize(uint64_t new_size, bool preallocate);

 private:
  void Fallocate(int mode, uint64_t offset, uint64_t len, bool fallback_zero_write, Done done);

  Uring* uring_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool direct_ = false;
  bool is_blkdev_ = false;
  std::string path_;
};

// Size of a file or block device at `path`.
Result<uint64_t> FileSize(const std::string& path);

// Writes `content` to `path` through a temporary file and a rename, durably
// (file and directory synced).
Result<bool> WriteFileAtomic(const std::string& path, const std::string& content);
// Removes `path` and syncs its directory; a missing file is no error.
Result<bool> RemoveFileDurably(const std::string& path);

}  // namespace tandem::io
