#include "fusedev/fuse_device.h"

#define FUSE_USE_VERSION 314
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/check.h"
#include "common/log.h"
#include "fusedev/request_mapping.h"

extern char** environ;

namespace tandem {

namespace {

constexpr char kFsType[] = "fuse.tandem";
// Requests on a handle whose volume was removed fail with this.
constexpr int kRemovedErrno = ENODEV;

// One exported volume. The export pointer is valid while the volume is in
// the table and until RemoveVolume has drained it.
struct Volume {
  std::string resource;
  VolumeNr vnr;
  BlockExport* exp = nullptr;
  fuse_ino_t ino = 0;
  // Guarded by FuseDevice::Impl::mu_.
  bool removed = false;
  int inflight = 0;  // requests handed to exp and not yet answered
};

// One successful open. fi->fh carries its id, never a pointer, so a stale or
// forged handle cannot reach freed memory.
struct Handle {
  std::shared_ptr<Volume> vol;
  OpenMode mode = OpenMode::kReadOnly;
  bool sync = false;    // O_SYNC/O_DSYNC: writes are fua
  bool closed = false;  // Close was already sent (by RemoveVolume or Stop)
};

struct ResourceDir {
  fuse_ino_t ino = 0;
  std::map<uint16_t, std::shared_ptr<Volume>> volumes;
};

}  // namespace

class FuseDevice::Impl {
 public:
  explicit Impl(FuseDeviceOptions options) : options_(options) {
    uid_ = getuid();
    gid_ = getgid();
    clock_gettime(CLOCK_REALTIME, &start_time_);
  }

  Status Start(const std::string& mountpoint);
  void Stop();
  Status AddVolume(const std::string& resource, VolumeNr vnr, BlockExport* exp);
  Status RemoveVolume(const std::string& resource, VolumeNr vnr);

  const std::string& mountpoint() const { return mountpoint_; }

  // libfuse callbacks, all on the session thread.
  void Init(fuse_conn_info* conn);
  void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void GetAttr(fuse_req_t req, fuse_ino_t ino);
  void SetAttr(fuse_req_t req, fuse_ino_t ino, const struct stat* attr, int to_set);
  void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Release(fuse_req_t req, fuse_file_info* fi);
  void Read(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi);
  void Write(fuse_req_t req, const char* buf, size_t size, off_t off, fuse_file_info* fi);
  void Flush(fuse_req_t req, fuse_file_info* fi, bool on_close);
  void Fallocate(fuse_req_t req, int mode, off_t offset, off_t length, fuse_file_info* fi);
  void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off);

 private:
  // What a request on an open handle needs, copied out under mu_.
  struct HandleRef {
    std::shared_ptr<Volume> vol;
    OpenMode mode = OpenMode::kReadOnly;
    bool sync = false;
  };

  void Loop();
  void DetachStaleMounts();

  // Counts a request to vol's export as in flight. REQUIRES: mu_ held.
  void BeginLocked(Volume* vol) {
    ++vol->inflight;
    ++inflight_;
  }
  // Finds the volume of inode `ino` and begins a request on it; 0 or errno.
  int BeginIno(fuse_ino_t ino, std::shared_ptr<Volume>* vol);
  // Finds open handle `fh` and begins a request on its volume; 0 or errno.
  int BeginHandle(uint64_t fh, HandleRef* ref);
  // Ends a request begun above, after its reply was sent. Any thread.
  void Done(const std::shared_ptr<Volume>& vol);
  // Runs fn(exp) on the export's thread.
  static void OnExport(const std::shared_ptr<Volume>& vol, std::function<void(BlockExport*)> fn) {
    BlockExport* exp = vol->exp;
    exp->Post([exp, fn = std::move(fn)] { fn(exp); });
  }

  void FillFileAttr(struct stat* st, fuse_ino_t ino, uint64_t size) const;
  void FillDirAttr(struct stat* st, fuse_ino_t ino) const;
  // Fills a directory's attributes if `ino` is the root or a resource; false otherwise.
  bool DirAttrLocked(fuse_ino_t ino, struct stat* st) const;

  const FuseDeviceOptions options_;
  uid_t uid_;
  gid_t gid_;
  timespec start_time_{};
  std::string mountpoint_;

  // Written by Start/Stop only (not concurrently with the session thread).
  fuse_session* se_ = nullptr;
  std::thread loop_;
  int wake_fd_ = -1;
  bool started_ = false;
  bool stopped_ = false;

  mutable std::mutex mu_;
  std::condition_variable drained_;  // signalled whenever an inflight count drops
  // Invariant: every volume in resources_ is in vol_inos_ under its ino and
  // is not removed; every directory in resources_ has at least one volume.
  std::map<std::string, ResourceDir> resources_;
  std::unordered_map<fuse_ino_t, std::string> dir_inos_;
  std::unordered_map<fuse_ino_t, std::shared_ptr<Volume>> vol_inos_;
  std::unordered_map<uint64_t, Handle> handles_;
  uint64_t next_handle_ = 1;
  // Inode numbers are never reused, so an inode the kernel still caches for
  // a removed volume can never name a newer one.
  fuse_ino_t next_ino_ = FUSE_ROOT_ID + 1;
  int inflight_ = 0;  // sum of Volume::inflight, including removed volumes
};

namespace {

FuseDevice::Impl* Self(fuse_req_t req) {
  return static_cast<FuseDevice::Impl*>(fuse_req_userdata(req));
}

void ReplyEntry(fuse_req_t req, const struct stat& st) {
  fuse_entry_param e{};
  e.ino = st.st_ino;
  e.generation = 1;
  e.attr = st;
  // No caching of names or attributes: removals and resizes show at once.
  e.attr_timeout = 0;
  e.entry_timeout = 0;
  fuse_reply_entry(req, &e);
}

// The operations that would change the namespace are refused.
void RefuseMknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) {
  fuse_reply_err(req, EPERM);
}
void RefuseMkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { fuse_reply_err(req, EPERM); }
void RefuseName(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void RefuseSymlink(fuse_req_t req, const char*, fuse_ino_t, const char*) {
  fuse_reply_err(req, EPERM);
}
void RefuseRename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) {
  fuse_reply_err(req, EPERM);
}
void RefuseLink(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void RefuseCreate(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) {
  fuse_reply_err(req, EPERM);
}

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops ops{};
  ops.init = [](void* userdata, fuse_conn_info* conn) {
    static_cast<FuseDevice::Impl*>(userdata)->Init(conn);
  };
  ops.lookup = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    Self(req)->Lookup(req, parent, name);
  };
  ops.getattr = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    Self(req)->GetAttr(req, ino);
  };
  ops.setattr = [](fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
    Self(req)->SetAttr(req, ino, attr, to_set);
  };
  ops.open = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Self(req)->Open(req, ino, fi);
  };
  ops.release = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) { Self(req)->Release(req, fi); };
  ops.read = [](fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    Self(req)->Read(req, size, off, fi);
  };
  ops.write = [](fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
                 fuse_file_info* fi) { Self(req)->Write(req, buf, size, off, fi); };
  ops.flush = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    Self(req)->Flush(req, fi, /*on_close=*/true);
  };
  ops.fsync = [](fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
    Self(req)->Flush(req, fi, /*on_close=*/false);
  };
  ops.fallocate = [](fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length,
                     fuse_file_info* fi) { Self(req)->Fallocate(req, mode, offset, length, fi); };
  ops.opendir = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Self(req)->OpenDir(req, ino, fi);
  };
  ops.readdir = [](fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    Self(req)->ReadDir(req, ino, size, off);
  };
  ops.releasedir = [](fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); };
  ops.mknod = RefuseMknod;
  ops.mkdir = RefuseMkdir;
  ops.unlink = RefuseName;
  ops.rmdir = RefuseName;
  ops.symlink = RefuseSymlink;
  ops.rename = RefuseRename;
  ops.link = RefuseLink;
  ops.create = RefuseCreate;
  return ops;
}();

// Runs argv (argv[0] looked up in PATH) and waits for it; its exit status or -1.
int RunProgram(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

// ---------------------------------------------------------------------------
// Start / Stop

void FuseDevice::Impl::DetachStaleMounts() {
  // A crashed daemon leaves its mount behind: every access gives ENOTCONN.
  // Only mounts of our own kind are detached; anything else is left alone.
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::ifstream in("/proc/self/mountinfo");
    std::stringstream text;
    text << in.rdbuf();
    if (fusedev::CountMountsAt(text.str(), mountpoint_, kFsType) == 0) return;
    Log(LogLevel::kWarn, "fusedev: detaching a stale mount at " + mountpoint_);
    if (umount2(mountpoint_.c_str(), MNT_DETACH) == 0) continue;
    if (errno == EPERM && RunProgram({"fusermount3", "-u", "-z", mountpoint_}) == 0) continue;
    Log(LogLevel::kWarn, "fusedev: could not detach " + mountpoint_ + ": " + strerror(errno));
    return;
  }
}

Status FuseDevice::Impl::Start(const std::string& mountpoint) {
  if (started_) return MakeError(Errc::kInvalidArgument, "fusedev: already started");
  if (options_.max_write < 4096 || options_.max_background == 0 ||
      options_.congestion_threshold > options_.max_background) {
    return MakeError(Errc::kInvalidArgument,
                     "fusedev: options need max_write >= 4096, max_background > 0 and "
                     "congestion_threshold <= max_background");
  }
  std::error_code ec;
  std::filesystem::path path = std::filesystem::absolute(mountpoint, ec).lexically_normal();
  if (ec || mountpoint.empty()) {
    return MakeError(Errc::kInvalidArgument, "fusedev: bad mountpoint '" + mountpoint + "'");
  }
  mountpoint_ = path.string();
  if (mountpoint_.size() > 1 && mountpoint_.back() == '/') mountpoint_.pop_back();
  if (options_.detach_stale_mounts) DetachStaleMounts();
  std::filesystem::create_directories(mountpoint_, ec);
  if (ec) {
    return MakeError(Errc::kIoError, "fusedev: cannot create " + mountpoint_ + ": " + ec.message());
  }

  std::string mount_opts = "fsname=tandem,subtype=tandem,default_permissions";
  if (options_.allow_other) mount_opts += ",allow_other";
  fuse_args args = FUSE_ARGS_INIT(0, nullptr);
  const char* argv[] = {"tandem", "-o", mount_opts.c_str()};
  for (const char* a : argv) {
    if (fuse_opt_add_arg(&args, a) != 0) {
      fuse_opt_free_args(&args);
      return MakeError(Errc::kIoError, "fusedev: out of memory");
    }
  }
  se_ = fuse_session_new(&args, &kOps, sizeof kOps, this);
  fuse_opt_free_args(&args);
  if (se_ == nullptr) return MakeError(Errc::kIoError, "fusedev: fuse_session_new failed");
  if (fuse_session_mount(se_, mountpoint_.c_str()) != 0) {
    fuse_session_destroy(se_);
    se_ = nullptr;
    return MakeError(Errc::kIoError, "fusedev: cannot mount at " + mountpoint_ +
                                         " (is /dev/fuse there, and are we root?)");
  }
  // Non-blocking, so a request that vanishes between poll() and read() (an
  // interrupted one) cannot park the session thread in read().
  int fd = fuse_session_fd(se_);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  TANDEM_CHECK(wake_fd_ >= 0);
  started_ = true;
  loop_ = std::thread([this] { Loop(); });
  return Status();
}

void FuseDevice::Impl::Loop() {
  fuse_buf buf{};
  pollfd fds[2] = {{fuse_session_fd(se_), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (!fuse_session_exited(se_)) {
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;  // Stop()
    int res = fuse_session_receive_buf(se_, &buf);
    if (res == -EINTR || res == -EAGAIN) continue;
    if (res <= 0) break;  // unmounted (0) or a hard error
    fuse_session_process_buf(se_, &buf);
  }
  free(buf.mem);
}

void FuseDevice::Impl::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  // 1. No new requests: the session thread leaves its loop. The kernel queues
  //    whatever arrives from now on; it is aborted when the device closes.
  uint64_t one = 1;
  TANDEM_CHECK(write(wake_fd_, &one, sizeof one) == sizeof one);
  loop_.join();
  // 2. Let every request already handed to an export complete; the replies
  //    still reach the kernel.
  std::vector<std::pair<std::shared_ptr<Volume>, OpenMode>> to_close;
  {
    std::unique_lock lock(mu_);
    drained_.wait(lock, [this] { return inflight_ == 0; });
    // 3. No release will come for handles still open: Close them here.
    for (auto& [id, h] : handles_) {
      if (h.closed) continue;
      h.closed = true;
      BeginLocked(h.vol.get());
      to_close.emplace_back(h.vol, h.mode);
    }
    handles_.clear();
  }
  for (auto& [vol, mode] : to_close) {
    std::shared_ptr<Volume> v = vol;
    OpenMode m = mode;
    OnExport(v, [this, v, m](BlockExport* exp) {
      exp->Close(m);
      Done(v);
    });
  }
  {
    std::unique_lock lock(mu_);
    drained_.wait(lock, [this] { return inflight_ == 0; });
  }
  // 4. Close the device (aborting what the kernel still queues) and detach
  //    the mount; libfuse does both.
  fuse_session_unmount(se_);
  fuse_session_destroy(se_);
  se_ = nullptr;
  close(wake_fd_);
  wake_fd_ = -1;
}

// ---------------------------------------------------------------------------
// The volume table

Status FuseDevice::Impl::AddVolume(const std::string& resource, VolumeNr vnr, BlockExport* exp) {
  if (!fusedev::IsValidResourceName(resource)) {
    return MakeError(Errc::kInvalidArgument, "fusedev: bad resource name '" + resource + "'");
  }
  if (exp == nullptr) return MakeError(Errc::kInvalidArgument, "fusedev: null export");
  std::lock_guard lock(mu_);
  ResourceDir& dir = resources_[resource];
  if (dir.ino == 0) {
    dir.ino = next_ino_++;
    dir_inos_[dir.ino] = resource;
  }
  if (dir.volumes.count(vnr.value()) != 0) {
    return MakeError(Errc::kAlreadyExists,
                     "fusedev: " + resource + "/" + fusedev::VolumeFileName(vnr) + " exists");
  }
  auto vol = std::make_shared<Volume>();
  vol->resource = resource;
  vol->vnr = vnr;
  vol->exp = exp;
  vol->ino = next_ino_++;
  dir.volumes[vnr.value()] = vol;
  vol_inos_[vol->ino] = vol;
  return Status();
}

Status FuseDevice::Impl::RemoveVolume(const std::string& resource, VolumeNr vnr) {
  std::shared_ptr<Volume> vol;
  std::vector<OpenMode> to_close;
  {
    std::lock_guard lock(mu_);
    auto dir = resources_.find(resource);
    if (dir == resources_.end() || dir->second.volumes.count(vnr.value()) == 0) {
      return MakeError(Errc::kNotFound,
                       "fusedev: no volume " + resource + "/" + fusedev::VolumeFileName(vnr));
    }
    vol = dir->second.volumes[vnr.value()];
    dir->second.volumes.erase(vnr.value());
    if (dir->second.volumes.empty()) {
      dir_inos_.erase(dir->second.ino);
      resources_.erase(dir);
    }
    vol_inos_.erase(vol->ino);
    vol->removed = true;
    for (auto& [id, h] : handles_) {
      if (h.vol != vol || h.closed) continue;
      h.closed = true;
      BeginLocked(vol.get());
      to_close.push_back(h.mode);
    }
  }
  for (OpenMode mode : to_close) {
    OnExport(vol, [this, vol, mode](BlockExport* exp) {
      exp->Close(mode);
      Done(vol);
    });
  }
  std::unique_lock lock(mu_);
  drained_.wait(lock, [&] { return vol->inflight == 0; });
  return Status();
}

int FuseDevice::Impl::BeginIno(fuse_ino_t ino, std::shared_ptr<Volume>* vol) {
  std::lock_guard lock(mu_);
  auto it = vol_inos_.find(ino);
  if (it == vol_inos_.end()) return ENOENT;
  *vol = it->second;
  BeginLocked(vol->get());
  return 0;
}

int FuseDevice::Impl::BeginHandle(uint64_t fh, HandleRef* ref) {
  std::lock_guard lock(mu_);
  auto it = handles_.find(fh);
  if (it == handles_.end()) return EBADF;
  const Handle& h = it->second;
  if (h.closed || h.vol->removed) return kRemovedErrno;
  ref->vol = h.vol;
  ref->mode = h.mode;
  ref->sync = h.sync;
  BeginLocked(h.vol.get());
  return 0;
}

void FuseDevice::Impl::Done(const std::shared_ptr<Volume>& vol) {
  std::lock_guard lock(mu_);
  TANDEM_CHECK(vol->inflight > 0 && inflight_ > 0);
  --vol->inflight;
  --inflight_;
  drained_.notify_all();
}

// ---------------------------------------------------------------------------
// Attributes and names

void FuseDevice::Impl::FillFileAttr(struct stat* st, fuse_ino_t ino, uint64_t size) const {
  *st = {};
  st->st_ino = ino;
  st->st_mode = S_IFREG | 0660;
  st->st_nlink = 1;
  st->st_uid = uid_;
  st->st_gid = gid_;
  st->st_size = static_cast<off_t>(size);
  st->st_blksize = 4096;
  st->st_blocks = static_cast<blkcnt_t>((size + 511) / 512);
  st->st_atim = st->st_mtim = st->st_ctim = start_time_;
}

void FuseDevice::Impl::FillDirAttr(struct stat* st, fuse_ino_t ino) const {
  *st = {};
  st->st_ino = ino;
  st->st_mode = S_IFDIR | 0755;
  st->st_nlink = 2;
  st->st_uid = uid_;
  st->st_gid = gid_;
  st->st_blksize = 4096;
  st->st_atim = st->st_mtim = st->st_ctim = start_time_;
}

bool FuseDevice::Impl::DirAttrLocked(fuse_ino_t ino, struct stat* st) const {
  if (ino != FUSE_ROOT_ID && dir_inos_.count(ino) == 0) return false;
  FillDirAttr(st, ino);
  return true;
}

void FuseDevice::Impl::Init(fuse_conn_info* conn) {
  conn->max_write = options_.max_write;
  conn->max_background = options_.max_background;
  conn->congestion_threshold = options_.congestion_threshold;
  // Asynchronous direct I/O lets a loop device (or io_uring) keep many
  // requests in flight on one file instead of one at a time.
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  // No page cache at all (every open is direct_io), and the request buffer
  // is plain memory (no splice), which the handlers copy before returning.
  conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_SPLICE_READ |
                  FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  Log(LogLevel::kInfo, "fusedev: mounted " + mountpoint_ +
                           " max_write=" + std::to_string(conn->max_write) +
                           " max_background=" + std::to_string(conn->max_background) +
                           " async_dio=" + ((conn->want & FUSE_CAP_ASYNC_DIO) ? "yes" : "no"));
}

void FuseDevice::Impl::Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  std::shared_ptr<Volume> vol;
  {
    std::lock_guard lock(mu_);
    struct stat st;
    if (parent == FUSE_ROOT_ID) {
      auto dir = resources_.find(name);
      if (dir == resources_.end()) {
        fuse_reply_err(req, ENOENT);
        return;
      }
      FillDirAttr(&st, dir->second.ino);
      ReplyEntry(req, st);
      return;
    }
    auto dir_name = dir_inos_.find(parent);
    std::optional<VolumeNr> vnr = fusedev::ParseVolumeFileName(name);
    if (dir_name == dir_inos_.end() || !vnr) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    const ResourceDir& dir = resources_.at(dir_name->second);
    auto it = dir.volumes.find(vnr->value());
    if (it == dir.volumes.end()) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    vol = it->second;
    BeginLocked(vol.get());
  }
  OnExport(vol, [this, req, vol](BlockExport* exp) {
    struct stat st;
    FillFileAttr(&st, vol->ino, exp->SizeBytes());
    ReplyEntry(req, st);
    Done(vol);
  });
}

void FuseDevice::Impl::GetAttr(fuse_req_t req, fuse_ino_t ino) {
  {
    std::lock_guard lock(mu_);
    struct stat st;
    if (DirAttrLocked(ino, &st)) {
      fuse_reply_attr(req, &st, 0);
      return;
    }
  }
  std::shared_ptr<Volume> vol;
  if (int err = BeginIno(ino, &vol); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  // SizeBytes() is read on every stat, never cached: an online grow shows.
  OnExport(vol, [this, req, vol](BlockExport* exp) {
    struct stat st;
    FillFileAttr(&st, vol->ino, exp->SizeBytes());
    fuse_reply_attr(req, &st, 0);
    Done(vol);
  });
}

void FuseDevice::Impl::SetAttr(fuse_req_t req, fuse_ino_t ino, const struct stat* attr,
                               int to_set) {
  {
    std::lock_guard lock(mu_);
    struct stat st;
    if (DirAttrLocked(ino, &st)) {
      fuse_reply_attr(req, &st, 0);  // times and modes: accepted, not kept
      return;
    }
  }
  std::shared_ptr<Volume> vol;
  if (int err = BeginIno(ino, &vol); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  bool sets_size = (to_set & FUSE_SET_ATTR_SIZE) != 0;
  uint64_t new_size = sets_size ? static_cast<uint64_t>(attr->st_size) : 0;
  OnExport(vol, [this, req, vol, sets_size, new_size](BlockExport* exp) {
    uint64_t size = exp->SizeBytes();
    if (sets_size && new_size != size) {
      fuse_reply_err(req, EPERM);  // only a resize of the volume changes its size
    } else {
      struct stat st;
      FillFileAttr(&st, vol->ino, size);
      fuse_reply_attr(req, &st, 0);
    }
    Done(vol);
  });
}

void FuseDevice::Impl::OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  std::lock_guard lock(mu_);
  struct stat st;
  if (DirAttrLocked(ino, &st)) {
    fuse_reply_open(req, fi);
  } else {
    fuse_reply_err(req, vol_inos_.count(ino) != 0 ? ENOTDIR : ENOENT);
  }
}

void FuseDevice::Impl::ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off) {
  // The listing is rebuilt on every call; `off` is the index of the next
  // entry, which stays meaningful because entries are kept sorted.
  struct Entry {
    std::string name;
    fuse_ino_t ino;
    mode_t mode;
  };
  std::vector<Entry> entries;
  {
    std::lock_guard lock(mu_);
    if (ino == FUSE_ROOT_ID) {
      entries.push_back({".", FUSE_ROOT_ID, S_IFDIR});
      entries.push_back({"..", FUSE_ROOT_ID, S_IFDIR});
      for (const auto& [name, dir] : resources_) entries.push_back({name, dir.ino, S_IFDIR});
    } else if (auto it = dir_inos_.find(ino); it != dir_inos_.end()) {
      entries.push_back({".", ino, S_IFDIR});
      entries.push_back({"..", FUSE_ROOT_ID, S_IFDIR});
      for (const auto& [vnr, vol] : resources_.at(it->second).volumes) {
        entries.push_back({fusedev::VolumeFileName(VolumeNr(vnr)), vol->ino, S_IFREG});
      }
    } else {
      fuse_reply_err(req, vol_inos_.count(ino) != 0 ? ENOTDIR : ENOENT);
      return;
    }
  }
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(std::max<off_t>(off, 0)); i < entries.size(); ++i) {
    struct stat st {};
    st.st_ino = entries[i].ino;
    st.st_mode = entries[i].mode;
    size_t need = fuse_add_direntry(req, buf.data() + used, size - used, entries[i].name.c_str(),
                                    &st, static_cast<off_t>(i + 1));
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

// ---------------------------------------------------------------------------
// Open and close

void FuseDevice::Impl::Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  {
    std::lock_guard lock(mu_);
    struct stat st;
    if (DirAttrLocked(ino, &st)) {
      fuse_reply_err(req, EISDIR);
      return;
    }
  }
  OpenMode mode = fusedev::OpenModeForFlags(fi->flags);
  // O_TRUNC would change the size; refuse it before the export promotes.
  if ((fi->flags & O_TRUNC) != 0 && mode == OpenMode::kReadWrite) {
    fuse_reply_err(req, EPERM);
    return;
  }
  bool sync = fusedev::IsSyncOpen(fi->flags);
  std::shared_ptr<Volume> vol;
  if (int err = BeginIno(ino, &vol); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  // libfuse's fi lives on the session thread's stack: reply with a copy.
  fuse_file_info reply = *fi;
  OnExport(vol, [this, req, vol, mode, sync, reply](BlockExport* exp) mutable {
    exp->Open(mode, [this, req, vol, mode, sync, reply, exp](OpenResult r) mutable {
      // On the export's thread again.
      if (r.error != 0) {
        fuse_reply_err(req, r.error);
        Done(vol);
        return;
      }
      uint64_t id = 0;
      {
        std::lock_guard lock(mu_);
        if (!vol->removed) {
          id = next_handle_++;
          handles_[id] = Handle{vol, mode, sync, false};
        }
      }
      if (id == 0) {  // removed while opening
        exp->Close(mode);
        fuse_reply_err(req, kRemovedErrno);
        Done(vol);
        return;
      }
      reply.fh = id;
      reply.direct_io = 1;   // FOPEN_DIRECT_IO: no page cache, O_DIRECT works
      reply.keep_cache = 0;  // nothing is cached, nothing to keep
      if (fuse_reply_open(req, &reply) == -ENOENT) {
        // The open was interrupted: the kernel forgot it and sends no release.
        bool close = false;
        {
          std::lock_guard lock(mu_);
          auto it = handles_.find(id);
          if (it != handles_.end()) {
            close = !it->second.closed;
            handles_.erase(it);
          }
        }
        if (close) exp->Close(mode);
      }
      Done(vol);
    });
  });
}

void FuseDevice::Impl::Release(fuse_req_t req, fuse_file_info* fi) {
  std::shared_ptr<Volume> vol;
  OpenMode mode = OpenMode::kReadOnly;
  bool close = false;
  {
    std::lock_guard lock(mu_);
    auto it = handles_.find(fi->fh);
    if (it != handles_.end()) {
      close = !it->second.closed;
      vol = it->second.vol;
      mode = it->second.mode;
      if (close) BeginLocked(vol.get());
      handles_.erase(it);
    }
  }
  fuse_reply_err(req, 0);
  if (close) {
    OnExport(vol, [this, vol, mode](BlockExport* exp) {
      exp->Close(mode);
      Done(vol);
    });
  }
}

// ---------------------------------------------------------------------------
// I/O

void FuseDevice::Impl::Read(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi) {
  HandleRef h;
  if (int err = BeginHandle(fi->fh, &h); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    Done(h.vol);
    return;
  }
  OnExport(h.vol, [this, req, vol = h.vol, size, off](BlockExport* exp) {
    fusedev::Range r = fusedev::ClampRead(static_cast<uint64_t>(off), size, exp->SizeBytes());
    if (r.length == 0) {
      fuse_reply_buf(req, nullptr, 0);  // at or past the end
      Done(vol);
      return;
    }
    BlockRequest breq;
    breq.op = BlockOp::kRead;
    breq.offset = r.offset;
    breq.length = r.length;
    exp->Submit(std::move(breq), [this, req, vol, r](BlockResult res) {
      if (res.error != 0) {
        fuse_reply_err(req, res.error);
      } else if (!res.data || res.data->size() < r.length) {
        fuse_reply_err(req, EIO);  // a broken export; do not hand out garbage
      } else {
        fuse_reply_buf(req, reinterpret_cast<const char*>(res.data->data()), r.length);
      }
      Done(vol);
    });
  });
}

void FuseDevice::Impl::Write(fuse_req_t req, const char* buf, size_t size, off_t off,
                             fuse_file_info* fi) {
  HandleRef h;
  if (int err = BeginHandle(fi->fh, &h); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    Done(h.vol);
    return;
  }
  // buf is libfuse's receive buffer, reused once we return: copy it now.
  auto data = std::make_shared<Bytes>(reinterpret_cast<const uint8_t*>(buf),
                                      reinterpret_cast<const uint8_t*>(buf) + size);
  OnExport(h.vol, [this, req, vol = h.vol, sync = h.sync, data, off](BlockExport* exp) {
    std::optional<fusedev::Range> r =
        fusedev::ClampWrite(static_cast<uint64_t>(off), data->size(), exp->SizeBytes());
    if (!r) {
      fuse_reply_err(req, ENOSPC);  // like a block device: no room past the end
      Done(vol);
      return;
    }
    data->resize(r->length);
    BlockRequest breq;
    breq.op = BlockOp::kWrite;
    breq.offset = r->offset;
    breq.length = r->length;
    breq.fua = sync;
    breq.data = data;
    uint32_t length = r->length;
    exp->Submit(std::move(breq), [this, req, vol, length](BlockResult res) {
      if (res.error != 0) {
        fuse_reply_err(req, res.error);
      } else {
        fuse_reply_write(req, length);
      }
      Done(vol);
    });
  });
}

void FuseDevice::Impl::Flush(fuse_req_t req, fuse_file_info* fi, bool on_close) {
  HandleRef h;
  if (int err = BeginHandle(fi->fh, &h); err != 0) {
    // A close after RemoveVolume must not fail: the data went nowhere new.
    fuse_reply_err(req, on_close && err == kRemovedErrno ? 0 : err);
    return;
  }
  if (on_close && h.mode == OpenMode::kReadOnly) {
    fuse_reply_err(req, 0);  // nothing was written through this handle
    Done(h.vol);
    return;
  }
  OnExport(h.vol, [this, req, vol = h.vol](BlockExport* exp) {
    if (!exp->CanFlush()) {  // nothing volatile to flush
      fuse_reply_err(req, 0);
      Done(vol);
      return;
    }
    BlockRequest breq;
    breq.op = BlockOp::kFlush;
    exp->Submit(std::move(breq), [this, req, vol](BlockResult res) {
      fuse_reply_err(req, res.error);
      Done(vol);
    });
  });
}

void FuseDevice::Impl::Fallocate(fuse_req_t req, int mode, off_t offset, off_t length,
                                 fuse_file_info* fi) {
  HandleRef h;
  if (int err = BeginHandle(fi->fh, &h); err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  if (offset < 0 || length <= 0) {
    fuse_reply_err(req, EINVAL);
    Done(h.vol);
    return;
  }
  OnExport(h.vol, [this, req, vol = h.vol, sync = h.sync, mode, offset, length](BlockExport* exp) {
    fusedev::FallocatePlan plan =
        fusedev::PlanFallocate(mode, static_cast<uint64_t>(offset), static_cast<uint64_t>(length),
                               exp->SizeBytes(), exp->CanTrim(), exp->CanWriteZeroes());
    if (plan.kind != fusedev::FallocatePlan::Kind::kSubmit) {
      fuse_reply_err(req, plan.error);
      Done(vol);
      return;
    }
    // Several pieces: answer once the last completes, with the first error.
    struct Join {
      size_t pending;
      int error = 0;
    };
    auto join = std::make_shared<Join>(Join{plan.requests.size()});
    for (BlockRequest& breq : plan.requests) {
      breq.fua = sync && breq.op == BlockOp::kWriteZeroes;
      exp->Submit(std::move(breq), [this, req, vol, join](BlockResult res) {
        if (join->error == 0) join->error = res.error;
        if (--join->pending == 0) {
          fuse_reply_err(req, join->error);
          Done(vol);
        }
      });
    }
  });
}

// ---------------------------------------------------------------------------
// FuseDevice

FuseDevice::FuseDevice(FuseDeviceOptions options) : impl_(std::make_unique<Impl>(options)) {}
FuseDevice::~FuseDevice() { Stop(); }
Status FuseDevice::Start(const std::string& mountpoint) { return impl_->Start(mountpoint); }
void FuseDevice::Stop() { impl_->Stop(); }
Status FuseDevice::AddVolume(const std::string& resource, VolumeNr vnr, BlockExport* exp) {
  return impl_->AddVolume(resource, vnr, exp);
}
Status FuseDevice::RemoveVolume(const std::string& resource, VolumeNr vnr) {
  return impl_->RemoveVolume(resource, vnr);
}
const std::string& FuseDevice::mountpoint() const { return impl_->mountpoint(); }
std::string FuseDevice::VolumePath(const std::string& resource, VolumeNr vnr) const {
  return impl_->mountpoint() + "/" + resource + "/" + fusedev::VolumeFileName(vnr);
}

}  // namespace tandem
