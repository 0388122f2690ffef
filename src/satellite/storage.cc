#include "satellite/storage.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "engine/metadata.h"

namespace tandem::satellite {

namespace {

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// Whether `dir` can clone file ranges: clone a one-block file into another.
bool ProbeReflink(const std::string& dir) {
  std::string a = dir + "/.tandem-reflink-probe-a";
  std::string b = dir + "/.tandem-reflink-probe-b";
  bool ok = false;
  int fa = open(a.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  int fb = open(b.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fa >= 0 && fb >= 0) {
    char block[4096] = {1};
    if (pwrite(fa, block, sizeof block, 0) == static_cast<ssize_t>(sizeof block)) {
      ok = ioctl(fb, FICLONE, fa) == 0;
    }
  }
  if (fa >= 0) close(fa);
  if (fb >= 0) close(fb);
  unlink(a.c_str());
  unlink(b.c_str());
  return ok;
}

}  // namespace

Result<Provider> ParseProvider(const std::string& name) {
  if (name == "FILE") return Provider::kFile;
  if (name == "FILE_THIN") return Provider::kFileThin;
  if (name == "DISKLESS") return Provider::kDiskless;
  return Error{Errc::kUnsupported, "storage provider " + name +
                                       " is not supported by this satellite (FILE, FILE_THIN, "
                                       "DISKLESS are)"};
}

std::string VolumeFile(const std::string& dir, const std::string& resource, int vnr) {
  char num[16];
  std::snprintf(num, sizeof num, "%05d", vnr);
  return dir + "/" + resource + "_" + num + ".img";
}

Result<uint64_t> GrossBytes(uint64_t net_bytes, uint32_t max_peers) {
  return engine::BackingBytesFor(net_bytes, max_peers, engine::kAlDefaultRingSlots, true);
}

Result<EnsureResult> EnsureVolumeFile(Provider provider, const std::string& dir,
                                      const std::string& path, uint64_t gross_bytes) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Error{Errc::kNotFound, "pool directory " + dir + " does not exist"};
  }
  EnsureResult r;
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    r.created = true;
  } else if (errno == EEXIST) {
    fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (fd < 0) return Error{Errc::kIoError, Errno("cannot open", path)};
  if (fstat(fd, &st) != 0) {
    close(fd);
    return Error{Errc::kIoError, Errno("cannot stat", path)};
  }
  uint64_t have = static_cast<uint64_t>(st.st_size);
  r.bytes = have;
  if (have < gross_bytes) {
    int rc = 0;
    if (provider == Provider::kFile) {
      rc = posix_fallocate(fd, 0, static_cast<off_t>(gross_bytes));
      if (rc != 0) errno = rc;
    } else {
      rc = ftruncate(fd, static_cast<off_t>(gross_bytes));
    }
    if (rc != 0) {
      std::string msg = Errno("cannot size", path) + " to " + std::to_string(gross_bytes);
      if (r.created) unlink(path.c_str());
      close(fd);
      return Error{Errc::kIoError, msg};
    }
    r.grown = !r.created;
    r.bytes = gross_bytes;
  }
  close(fd);
  return r;
}

Status DeleteVolumeFile(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Error{Errc::kIoError, Errno("cannot remove", path)};
  }
  return {};
}

satproto::PoolState PoolStateOf(const satproto::PoolDesired& pool) {
  satproto::PoolState s;
  s.name = pool.name;
  s.provider = pool.provider;
  Result<Provider> p = ParseProvider(pool.provider);
  if (!p.ok()) {
    s.error = p.error().message;
    return s;
  }
  if (*p == Provider::kDiskless) return s;
  std::string dir = pool.Directory();
  if (dir.empty()) {
    s.error = "pool " + pool.name + " has no directory (property StorDriver/FileDir)";
    return s;
  }
  struct statvfs vfs;
  if (statvfs(dir.c_str(), &vfs) != 0) {
    s.error = Errno("cannot use pool directory", dir);
    return s;
  }
  s.total_kib = static_cast<int64_t>(vfs.f_blocks * vfs.f_frsize / 1024);
  s.free_kib = static_cast<int64_t>(vfs.f_bavail * vfs.f_frsize / 1024);
  if (*p == Provider::kFileThin) s.supports_reflink = ProbeReflink(dir);
  return s;
}

int64_t AllocatedKib(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_blocks) * 512 / 1024;
}

}  // namespace tandem::satellite
