#include "io/block_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace tandem::io {
namespace {

constexpr size_t kAlign = 4096;

struct AlignedBuf {
  explicit AlignedBuf(size_t n) : size(n) {
    void* p = nullptr;
    if (posix_memalign(&p, kAlign, n == 0 ? kAlign : n) != 0) p = nullptr;
    TANDEM_CHECK(p != nullptr);
    data = static_cast<uint8_t*>(p);
  }
  ~AlignedBuf() { free(data); }
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  uint8_t* data = nullptr;
  size_t size = 0;
};

std::string Errno(const std::string& what, int err) { return what + ": " + strerror(err); }

}  // namespace

Result<uint64_t> FileSize(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Error{Errc::kNotFound, Errno(path, errno)};
  if (S_ISBLK(st.st_mode)) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error{Errc::kIoError, Errno(path, errno)};
    uint64_t bytes = 0;
    int r = ioctl(fd, BLKGETSIZE64, &bytes);
    int err = errno;
    close(fd);
    if (r != 0) return Error{Errc::kIoError, Errno(path + ": BLKGETSIZE64", err)};
    return bytes;
  }
  if (!S_ISREG(st.st_mode)) {
    return Error{Errc::kInvalidArgument, path + ": not a regular file or block device"};
  }
  return static_cast<uint64_t>(st.st_size);
}

BlockFile::~BlockFile() { Close(); }

Result<bool> BlockFile::Open(const std::string& path, bool direct) {
  Close();
  Result<uint64_t> size = FileSize(path);
  if (!size.ok()) return size.error();
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) is_blkdev_ = S_ISBLK(st.st_mode);
  int flags = O_RDWR | O_CLOEXEC;
  int fd = -1;
  if (direct) fd = open(path.c_str(), flags | O_DIRECT);
  direct_ = fd >= 0;
  if (fd < 0) fd = open(path.c_str(), flags);  // tmpfs and friends: no O_DIRECT
  if (fd < 0) return Error{Errc::kIoError, Errno(path, errno)};
  fd_ = fd;
  size_ = *size;
  path_ = path;
  return true;
}

void BlockFile::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void BlockFile::Read(uint64_t offset, uint32_t len, Done done) {
  auto buf = std::make_shared<AlignedBuf>(len);
  uring_->Read(fd_, buf->data, len, offset, [buf, len, done = std::move(done)](int res) {
    if (res < 0) return done(-res, nullptr);
    // Short reads happen only at the end of the file; the rest reads as zeroes.
    if (static_cast<uint32_t>(res) < len) memset(buf->data + res, 0, len - res);
    done(0, MakeShared(Bytes(buf->data, buf->data + len)));
  });
}

void BlockFile::Write(uint64_t offset, SharedBytes data, bool fua, Done done) {
  uint32_t len = static_cast<uint32_t>(data->size());
  auto buf = std::make_shared<AlignedBuf>(len);
  memcpy(buf->data, data->data(), len);
  uring_->Write(fd_, buf->data, len, offset, fua, [buf, len, done = std::move(done)](int res) {
    if (res < 0) return done(-res, nullptr);
    if (static_cast<uint32_t>(res) != len) return done(EIO, nullptr);
    done(0, nullptr);
  });
}

void BlockFile::Flush(Done done) {
  uring_->Fdatasync(fd_, [done = std::move(done)](int res) { done(res < 0 ? -res : 0, nullptr); });
}

void BlockFile::Trim(uint64_t offset, uint64_t len, Done done) {
  Fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len, true, std::move(done));
}

void BlockFile::Zeroes(uint64_t offset, uint64_t len, Done done) {
  Fallocate(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, len, true, std::move(done));
}

void BlockFile::Fallocate(int mode, uint64_t offset, uint64_t len, bool fallback_zero_write,
                          Done done) {
  uring_->Fallocate(fd_, mode, offset, len,
                    [this, offset, len, fallback_zero_write, done = std::move(done)](int res) {
                      if (res >= 0) return done(0, nullptr);
                      if (!fallback_zero_write || (res != -EOPNOTSUPP && res != -EINVAL)) {
                        return done(-res, nullptr);
                      }
                      // Block devices and file systems without hole punching:
                      // write zeroes instead (both read back as zeroes).
                      if (len > (64u << 20)) return done(EOPNOTSUPP, nullptr);
                      Write(offset, MakeShared(Bytes(len, 0)), false, done);
                    });
}

Result<Bytes> BlockFile::ReadSync(uint64_t offset, uint64_t len) {
  AlignedBuf buf((len + kAlign - 1) / kAlign * kAlign);
  uint64_t done = 0;
  while (done < len) {
    ssize_t r = pread(fd_, buf.data + done, buf.size - done, static_cast<off_t>(offset + done));
    if (r < 0) return Error{Errc::kIoError, Errno(path_ + ": read", errno)};
    if (r == 0) break;
    done += static_cast<uint64_t>(r);
  }
  if (done < len) memset(buf.data + done, 0, len - done);
  return Bytes(buf.data, buf.data + len);
}

Result<bool> BlockFile::WriteSync(uint64_t offset, ByteSpan data) {
  AlignedBuf buf((data.size() + kAlign - 1) / kAlign * kAlign);
  memcpy(buf.data, data.data(), data.size());
  uint64_t done = 0;
  while (done < data.size()) {
    ssize_t r = pwrite(fd_, buf.data + done, data.size() - done, static_cast<off_t>(offset + done));
    if (r < 0) return Error{Errc::kIoError, Errno(path_ + ": write", errno)};
    done += static_cast<uint64_t>(r);
  }
  if (fdatasync(fd_) != 0) return Error{Errc::kIoError, Errno(path_ + ": fdatasync", errno)};
  return true;
}

Result<bool> BlockFile::Resize(uint64_t new_size, bool preallocate) {
  if (is_blkdev_) {
    return Error{Errc::kUnsupported, path_ + " is a block device: its size is not ours to change"};
  }
  if (preallocate && new_size > size_) {
    int err = posix_fallocate(fd_, static_cast<off_t>(size_), static_cast<off_t>(new_size - size_));
    if (err != 0) return Error{Errc::kIoError, Errno(path_ + ": fallocate", err)};
  }
  if (ftruncate(fd_, static_cast<off_t>(new_size)) != 0) {
    return Error{Errc::kIoError, Errno(path_ + ": ftruncate", errno)};
  }
  if (fsync(fd_) != 0) return Error{Errc::kIoError, Errno(path_ + ": fsync", errno)};
  size_ = new_size;
  return true;
}

namespace {
void SyncDirOf(const std::string& path) {
  std::string dir = path.substr(0, path.find_last_of('/') + 1);
  int dfd = open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
}
}  // namespace

Result<bool> WriteFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error{Errc::kIoError, Errno(tmp, errno)};
  ssize_t n = write(fd, content.data(), content.size());
  bool ok = n == static_cast<ssize_t>(content.size()) && fsync(fd) == 0;
  int err = errno;
  close(fd);
  if (!ok) return Error{Errc::kIoError, Errno(tmp, err)};
  if (rename(tmp.c_str(), path.c_str()) != 0) return Error{Errc::kIoError, Errno(path, errno)};
  SyncDirOf(path);
  return true;
}

Result<bool> RemoveFileDurably(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Error{Errc::kIoError, Errno(path, errno)};
  }
  SyncDirOf(path);
  return true;
}

}  // namespace tandem::io
