// Integration tests: a FuseDevice mounted in this process, serving a
// memory-backed BlockExport, driven through the kernel with ordinary system
// calls and, at the end, with a loop device carrying ext4.
//
// Needs root and /dev/fuse; skips itself otherwise. Anything here may hang if
// the device misbehaves, so a watchdog ends the process after a deadline
// (closing /dev/fuse aborts the connection and frees every blocked caller),
// and external commands run under timeout(1).
#include "fusedev/fuse_device.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace tandem {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kVolumeSize = 64ull << 20;

// A BlockExport on a byte vector, with its own "export thread": a worker
// that runs what Post() hands it, in order. Counts what reaches it.
class MemoryExport : public BlockExport {
 public:
  explicit MemoryExport(uint64_t size) : data_(size), size_(size) {
    thread_ = std::thread([this] { Run(); });
  }
  ~MemoryExport() override {
    {
      std::lock_guard lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  uint64_t SizeBytes() const override {
    CheckThread();
    return size_;
  }

  void Open(OpenMode mode, std::function<void(OpenResult)> cb) override {
    CheckThread();
    if (mode == OpenMode::kReadWrite && refuse_read_write_ != 0) {
      cb(OpenResult{refuse_read_write_, "refused by the test"});
      return;
    }
    (mode == OpenMode::kReadWrite ? opens_rw : opens_ro)++;
    cb(OpenResult{});
  }

  void Close(OpenMode mode) override {
    CheckThread();
    (mode == OpenMode::kReadWrite ? closes_rw : closes_ro)++;
  }

  void Submit(BlockRequest req, std::function<void(BlockResult)> cb) override {
    CheckThread();
    ops[static_cast<int>(req.op)]++;
    if (req.op != BlockOp::kFlush && req.offset + req.length > size_) {
      cb(BlockResult{EINVAL, nullptr});
      return;
    }
    if (req.op == BlockOp::kRead && hold_reads_ > 0) {
      held_.emplace_back(std::move(req), std::move(cb));
      max_held = std::max<int>(max_held, static_cast<int>(held_.size()));
      if (static_cast<int>(held_.size()) >= hold_reads_) ReleaseHeld();
      return;
    }
    BlockResult res;
    switch (req.op) {
      case BlockOp::kRead:
        res.data =
            MakeShared(Bytes(data_.begin() + req.offset, data_.begin() + req.offset + req.length));
        break;
      case BlockOp::kWrite:
        if (!req.data || req.data->size() != req.length) {
          res.error = EINVAL;
          break;
        }
        std::copy(req.data->begin(), req.data->end(), data_.begin() + req.offset);
        last_write_fua = req.fua;
        max_write_length = std::max<uint32_t>(max_write_length, req.length);
        break;
      case BlockOp::kTrim:
      case BlockOp::kWriteZeroes:
        std::fill(data_.begin() + req.offset, data_.begin() + req.offset + req.length, 0);
        break;
      case BlockOp::kFlush:
        break;
    }
    cb(std::move(res));
  }

  void Post(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }

  // Runs fn on the export's thread and waits for it.
  void RunSync(std::function<void()> fn) {
    std::promise<void> done;
    Post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  // Test controls, used through RunSync.
  void SetSize(uint64_t size) {
    CheckThread();
    size_ = size;
    if (data_.size() < size) data_.resize(size);
  }
  void RefuseReadWrite(int error) { refuse_read_write_ = error; }
  // Holds reads back until n of them wait at once, then completes them all:
  // proof that n requests were in flight together.
  void HoldReads(int n) { hold_reads_ = n; }
  void ReleaseHeld() {
    CheckThread();
    hold_reads_ = 0;
    auto held = std::move(held_);
    held_.clear();
    for (auto& [req, cb] : held) Submit(std::move(req), std::move(cb));
  }
  Bytes DataAt(uint64_t offset, size_t length) const {
    CheckThread();
    return Bytes(data_.begin() + offset, data_.begin() + offset + length);
  }

  std::atomic<int> opens_rw{0}, opens_ro{0}, closes_rw{0}, closes_ro{0};
  std::array<std::atomic<int>, 5> ops{};
  std::atomic<bool> last_write_fua{false};
  std::atomic<uint32_t> max_write_length{0};
  std::atomic<int> max_held{0};

  int Ops(BlockOp op) const { return ops[static_cast<int>(op)]; }

 private:
  void CheckThread() const { ASSERT_EQ(std::this_thread::get_id(), thread_.get_id()); }

  void Run() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return quit_ || !queue_.empty(); });
      if (queue_.empty()) return;  // quit_ and drained
      std::function<void()> fn = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  // Touched on the export thread only.
  Bytes data_;
  uint64_t size_;
  int refuse_read_write_ = 0;
  int hold_reads_ = 0;
  std::vector<std::pair<BlockRequest, std::function<void(BlockResult)>>> held_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool quit_ = false;
  std::thread thread_;
};

// Ends the process if a test does not finish in time; a hung FUSE request
// cannot be cancelled from inside, but closing /dev/fuse (process exit)
// aborts it. Before exiting it detaches what the test mounted.
class Watchdog {
 public:
  Watchdog(std::chrono::seconds limit, std::function<void()> emergency)
      : emergency_(std::move(emergency)) {
    thread_ = std::thread([this, limit] {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
        fprintf(stderr, "watchdog: test exceeded %llds; cleaning up and exiting\n",
                static_cast<long long>(limit.count()));
        emergency_();
        _exit(3);
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::function<void()> emergency_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Runs a shell command under timeout(1); returns its exit status, output in *out.
int RunCommand(const std::string& cmd, std::string* out = nullptr) {
  std::string full = "timeout -k 5 60 " + cmd + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (p == nullptr) return -1;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  int status = pclose(p);
  if (out != nullptr) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Trim(const std::string& s) {
  size_t begin = s.find_first_not_of(" \n");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \n") - begin + 1);
}

// An aligned buffer for O_DIRECT.
struct AlignedBuffer {
  explicit AlignedBuffer(size_t n) : size(n) {
    TANDEM_CHECK(posix_memalign(&ptr, 4096, n) == 0);
    memset(ptr, 0, n);
  }
  ~AlignedBuffer() { free(ptr); }
  uint8_t* bytes() { return static_cast<uint8_t*>(ptr); }
  void* ptr = nullptr;
  size_t size;
};

void FillPattern(uint8_t* p, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>((i * 2654435761u + seed) >> 7);
}

bool AnyMountUnder(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" " + dir + "/") != std::string::npos) return true;
  }
  return false;
}

class FuseDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (getuid() != 0) GTEST_SKIP() << "needs root";
    if (access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "needs /dev/fuse";
    char tmpl[] = "/tmp/tandem-fuse-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    mnt_ = tmp_ + "/run/tandem/dev";
    watchdog_ = std::make_unique<Watchdog>(150s, [this] { Emergency(); });
    exp_ = std::make_unique<MemoryExport>(kVolumeSize);
    ASSERT_TRUE(dev_.AddVolume("r0", VolumeNr(0), exp_.get()).ok());
    Status s = dev_.Start(mnt_);
    ASSERT_TRUE(s.ok()) << s.error().message;
    started_ = true;
    path_ = dev_.VolumePath("r0", VolumeNr(0));
  }

  void TearDown() override {
    for (auto it = cleanups_.rbegin(); it != cleanups_.rend(); ++it) (*it)();
    cleanups_.clear();
    dev_.Stop();
    extra_exports_.clear();
    exp_.reset();
    watchdog_.reset();
    if (!tmp_.empty()) {
      if (AnyMountUnder(tmp_)) {
        ADD_FAILURE() << "mounts left under " << tmp_ << "; not removing it";
      } else {
        std::error_code ec;
        std::filesystem::remove_all(tmp_, ec);
      }
    }
  }

  // Detaches whatever this test mounted; used by the watchdog.
  void Emergency() {
    for (const std::string& m : emergency_mounts_) umount2(m.c_str(), MNT_DETACH);
    umount2(mnt_.c_str(), MNT_DETACH);
    for (const std::string& l : emergency_loops_) RunCommand("losetup -d " + l);
  }

  // A loop device on the volume file, detached at TearDown if still there.
  std::string AttachLoop() {
    std::string out;
    int rc = RunCommand("losetup -f --show --direct-io=on " + path_, &out);
    EXPECT_EQ(rc, 0) << out;
    if (rc != 0) return "";
    std::string loop = Trim(out);
    emergency_loops_.push_back(loop);
    cleanups_.push_back([this, loop] { DetachLoop(loop); });
    return loop;
  }
  void DetachLoop(const std::string& loop) {
    auto it = std::find(emergency_loops_.begin(), emergency_loops_.end(), loop);
    if (it == emergency_loops_.end()) return;  // already detached
    std::string out;
    EXPECT_EQ(RunCommand("losetup -d " + loop, &out), 0) << out;
    emergency_loops_.erase(it);
  }

  void MountFs(const std::string& dev, const std::string& dir) {
    std::filesystem::create_directories(dir);
    std::string out;
    ASSERT_EQ(RunCommand("mount " + dev + " " + dir, &out), 0) << out;
    emergency_mounts_.push_back(dir);
    cleanups_.push_back([this, dir] { UnmountFs(dir); });
  }
  void UnmountFs(const std::string& dir) {
    auto it = std::find(emergency_mounts_.begin(), emergency_mounts_.end(), dir);
    if (it == emergency_mounts_.end()) return;
    std::string out;
    EXPECT_EQ(RunCommand("umount " + dir, &out), 0) << out;
    emergency_mounts_.erase(it);
  }

  // Another volume, refusing kReadWrite opens with `refuse` when nonzero.
  MemoryExport* AddExport(const std::string& resource, int refuse) {
    extra_exports_.push_back(std::make_unique<MemoryExport>(1 << 20));
    MemoryExport* e = extra_exports_.back().get();
    e->RunSync([e, refuse] { e->RefuseReadWrite(refuse); });
    EXPECT_TRUE(dev_.AddVolume(resource, VolumeNr(0), e).ok());
    return e;
  }

  // Release reaches the export asynchronously: wait for the Close counts.
  static bool WaitForCloses(MemoryExport* e) {
    for (int i = 0; i < 500; ++i) {
      if (e->closes_rw == e->opens_rw && e->closes_ro == e->opens_ro) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  std::string tmp_, mnt_, path_;
  std::unique_ptr<Watchdog> watchdog_;
  std::unique_ptr<MemoryExport> exp_;
  std::vector<std::unique_ptr<MemoryExport>> extra_exports_;
  FuseDevice dev_;
  bool started_ = false;
  std::vector<std::function<void()>> cleanups_;
  std::vector<std::string> emergency_mounts_, emergency_loops_;
};

TEST_F(FuseDeviceTest, VolumeIsARegularFileOfTheExportSize) {
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0) << strerror(errno);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kVolumeSize);
  EXPECT_EQ(st.st_blksize, 4096);
  ASSERT_EQ(stat((mnt_ + "/r0").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST_F(FuseDeviceTest, DirectoriesListResourcesAndVolumes) {
  AddExport("r1", 0);
  std::vector<std::string> root, r0;
  for (const auto& e : std::filesystem::directory_iterator(mnt_)) {
    root.push_back(e.path().filename());
  }
  for (const auto& e : std::filesystem::directory_iterator(mnt_ + "/r0")) {
    r0.push_back(e.path().filename());
  }
  std::sort(root.begin(), root.end());
  EXPECT_EQ(root, (std::vector<std::string>{"r0", "r1"}));
  EXPECT_EQ(r0, (std::vector<std::string>{"0"}));
}

TEST_F(FuseDeviceTest, DirectWriteThenReadRoundTrips) {
  int fd = open(path_.c_str(), O_RDWR | O_DIRECT);
  ASSERT_GE(fd, 0) << strerror(errno);
  AlignedBuffer out(1 << 20), in(1 << 20);
  FillPattern(out.bytes(), out.size, 7);
  ASSERT_EQ(pwrite(fd, out.ptr, out.size, 3 << 20), static_cast<ssize_t>(out.size));
  ASSERT_EQ(pread(fd, in.ptr, in.size, 3 << 20), static_cast<ssize_t>(in.size));
  EXPECT_EQ(memcmp(in.ptr, out.ptr, in.size), 0);
  Bytes stored;
  exp_->RunSync([&] { stored = exp_->DataAt(3 << 20, out.size); });
  EXPECT_EQ(memcmp(stored.data(), out.ptr, out.size), 0);
  // max_write of 1 MiB took effect: one request carried the whole buffer.
  EXPECT_EQ(exp_->max_write_length.load(), 1u << 20);
  EXPECT_FALSE(exp_->last_write_fua);
  close(fd);
}

TEST_F(FuseDeviceTest, ReadsStopAtTheEndAndWritesPastItFail) {
  int fd = open(path_.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char buf[8192];
  EXPECT_EQ(pread(fd, buf, sizeof buf, kVolumeSize - 4096), 4096);
  EXPECT_EQ(pread(fd, buf, sizeof buf, kVolumeSize), 0);
  EXPECT_EQ(pwrite(fd, buf, 4096, kVolumeSize), -1);
  EXPECT_EQ(errno, ENOSPC);
  close(fd);
}

TEST_F(FuseDeviceTest, SyncOpenWritesAreFua) {
  int fd = open(path_.c_str(), O_RDWR | O_DIRECT | O_DSYNC);
  ASSERT_GE(fd, 0);
  AlignedBuffer buf(4096);
  ASSERT_EQ(pwrite(fd, buf.ptr, 4096, 0), 4096);
  EXPECT_TRUE(exp_->last_write_fua);
  close(fd);
}

TEST_F(FuseDeviceTest, FsyncReachesFlush) {
  int fd = open(path_.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  int before = exp_->Ops(BlockOp::kFlush);
  ASSERT_EQ(fsync(fd), 0);
  EXPECT_EQ(exp_->Ops(BlockOp::kFlush), before + 1);
  ASSERT_EQ(fdatasync(fd), 0);
  EXPECT_EQ(exp_->Ops(BlockOp::kFlush), before + 2);
  // Closing a writable handle flushes too.
  close(fd);
  EXPECT_EQ(exp_->Ops(BlockOp::kFlush), before + 3);
}

TEST_F(FuseDeviceTest, PunchHoleReachesTrimAndZeroRangeReachesWriteZeroes) {
  int fd = open(path_.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> ones(65536, 0xff);
  ASSERT_EQ(pwrite(fd, ones.data(), ones.size(), 0), static_cast<ssize_t>(ones.size()));
  ASSERT_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 8192), 0)
      << strerror(errno);
  EXPECT_EQ(exp_->Ops(BlockOp::kTrim), 1);
  ASSERT_EQ(fallocate(fd, FALLOC_FL_ZERO_RANGE, 8192, 8192), 0) << strerror(errno);
  EXPECT_EQ(exp_->Ops(BlockOp::kWriteZeroes), 1);
  std::vector<uint8_t> back(65536);
  ASSERT_EQ(pread(fd, back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
  for (size_t i = 0; i < back.size(); ++i) {
    ASSERT_EQ(back[i], i < 16384 ? 0 : 0xff) << "at " << i;
  }
  close(fd);
}

TEST_F(FuseDeviceTest, AllocateInsideSucceedsBeyondIsRefused) {
  int fd = open(path_.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(fallocate(fd, 0, 0, 4096), 0);
  EXPECT_EQ(fallocate(fd, 0, kVolumeSize - 4096, 8192), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  close(fd);
}

TEST_F(FuseDeviceTest, SizeChangesAreRefused) {
  int fd = open(path_.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ftruncate(fd, 4096), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(ftruncate(fd, kVolumeSize), 0);  // not a change
  close(fd);
  EXPECT_EQ(open(path_.c_str(), O_RDWR | O_TRUNC), -1);
  EXPECT_EQ(errno, EPERM);
  // Times and modes are accepted and ignored.
  EXPECT_EQ(utimes(path_.c_str(), nullptr), 0) << strerror(errno);
}

TEST_F(FuseDeviceTest, NamespaceChangesAreRefused) {
  EXPECT_EQ(open((mnt_ + "/r0/1").c_str(), O_RDWR | O_CREAT, 0600), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(unlink(path_.c_str()), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(mkdir((mnt_ + "/r9").c_str(), 0755), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(rename(path_.c_str(), (mnt_ + "/r0/5").c_str()), -1);
  EXPECT_EQ(errno, EPERM);
}

TEST_F(FuseDeviceTest, RefusedReadWriteOpenFailsWithTheExportsErrno) {
  MemoryExport* rofs = AddExport("secondary", EROFS);
  MemoryExport* busy = AddExport("busy", EBUSY);
  std::string rofs_path = dev_.VolumePath("secondary", VolumeNr(0));
  EXPECT_EQ(open(rofs_path.c_str(), O_RDWR), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(open(rofs_path.c_str(), O_WRONLY), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(open(dev_.VolumePath("busy", VolumeNr(0)).c_str(), O_RDWR), -1);
  EXPECT_EQ(errno, EBUSY);
  int fd = open(rofs_path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  char buf[512];
  EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 512);
  close(fd);
  EXPECT_TRUE(WaitForCloses(rofs));
  EXPECT_EQ(rofs->opens_ro, 1);
  EXPECT_EQ(rofs->opens_rw, 0);
  EXPECT_EQ(busy->opens_rw, 0);
}

TEST_F(FuseDeviceTest, EveryOpenIsClosedOnceWithItsMode) {
  std::vector<int> fds;
  for (int flags : {O_RDONLY, O_RDWR, O_WRONLY, O_RDONLY | O_DIRECT}) {
    fds.push_back(open(path_.c_str(), flags));
    ASSERT_GE(fds.back(), 0);
  }
  EXPECT_EQ(exp_->opens_ro, 2);
  EXPECT_EQ(exp_->opens_rw, 2);
  EXPECT_EQ(exp_->closes_ro + exp_->closes_rw, 0);
  for (int fd : fds) close(fd);
  EXPECT_TRUE(WaitForCloses(exp_.get()));
  EXPECT_EQ(exp_->closes_ro, 2);
  EXPECT_EQ(exp_->closes_rw, 2);
}

TEST_F(FuseDeviceTest, OnlineGrowShowsInStat) {
  exp_->RunSync([&] { exp_->SetSize(2 * kVolumeSize); });
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 2 * kVolumeSize);
  int fd = open(path_.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char buf[4096] = {1};
  EXPECT_EQ(pwrite(fd, buf, sizeof buf, kVolumeSize + 4096), 4096);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 2 * kVolumeSize);
  close(fd);
}

TEST_F(FuseDeviceTest, RemoveVolumeClosesOpenHandlesAndHidesTheFile) {
  int fd = open(path_.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(dev_.RemoveVolume("r0", VolumeNr(0)).ok());
  EXPECT_EQ(exp_->closes_rw, 1);  // before RemoveVolume returned
  char buf[512];
  EXPECT_EQ(pread(fd, buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, ENODEV);
  struct stat st;
  EXPECT_EQ(stat(path_.c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(stat((mnt_ + "/r0").c_str(), &st), -1);  // the last volume took the directory
  EXPECT_EQ(close(fd), 0);
  std::this_thread::sleep_for(50ms);  // a late release must not Close again
  EXPECT_EQ(exp_->closes_rw, 1);
  EXPECT_EQ(dev_.RemoveVolume("r0", VolumeNr(0)).code(), Errc::kNotFound);
  // Re-adding brings the file back.
  ASSERT_TRUE(dev_.AddVolume("r0", VolumeNr(0), exp_.get()).ok());
  EXPECT_EQ(stat(path_.c_str(), &st), 0);
}

TEST_F(FuseDeviceTest, RemoveVolumeDuringIoEndsItCleanly) {
  constexpr int kThreads = 4;
  std::atomic<int> wrong_errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int fd = open(path_.c_str(), O_RDWR | O_DIRECT);
      if (fd < 0) {
        if (errno != ENOENT && errno != ENODEV) ++wrong_errors;
        return;
      }
      AlignedBuffer buf(65536);
      for (int i = 0;; ++i) {
        off_t off = static_cast<off_t>((i * kThreads + t) % 1024) * 65536;
        ssize_t n = i % 2 ? pread(fd, buf.ptr, buf.size, off) : pwrite(fd, buf.ptr, buf.size, off);
        if (n < 0) {
          if (errno != ENODEV) ++wrong_errors;
          break;
        }
      }
      close(fd);
    });
  }
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(dev_.RemoveVolume("r0", VolumeNr(0)).ok());
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(wrong_errors, 0);
  EXPECT_EQ(exp_->closes_rw, exp_->opens_rw);
  EXPECT_GT(exp_->Ops(BlockOp::kRead), 0);
}

TEST_F(FuseDeviceTest, AddVolumeRefusesDuplicatesAndBadNames) {
  EXPECT_EQ(dev_.AddVolume("r0", VolumeNr(0), exp_.get()).code(), Errc::kAlreadyExists);
  EXPECT_EQ(dev_.AddVolume("a/b", VolumeNr(0), exp_.get()).code(), Errc::kInvalidArgument);
  EXPECT_EQ(dev_.AddVolume("r2", VolumeNr(0), nullptr).code(), Errc::kInvalidArgument);
}

TEST_F(FuseDeviceTest, ManyConcurrentDirectRequestsStayConsistent) {
  constexpr int kThreads = 8;
  constexpr int kOps = 200;
  constexpr size_t kChunk = 64 << 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int fd = open(path_.c_str(), O_RDWR | O_DIRECT);
      if (fd < 0) {
        ++failures;
        return;
      }
      AlignedBuffer out(kChunk), in(kChunk);
      for (int i = 0; i < kOps; ++i) {
        int chunk = (t * kOps + i) % 512;     // a 32 MiB area
        if (chunk % kThreads != t) continue;  // each thread its own chunks
        off_t off = static_cast<off_t>(chunk) * static_cast<off_t>(kChunk);
        FillPattern(out.bytes(), kChunk, t * 1000 + i);
        if (pwrite(fd, out.ptr, kChunk, off) != static_cast<ssize_t>(kChunk) ||
            pread(fd, in.ptr, kChunk, off) != static_cast<ssize_t>(kChunk) ||
            memcmp(in.ptr, out.ptr, kChunk) != 0) {
          ++failures;
        }
      }
      close(fd);
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures, 0);
}

TEST_F(FuseDeviceTest, RequestsFromManyThreadsAreInFlightTogether) {
  constexpr int kThreads = 8;
  exp_->RunSync([&] { exp_->HoldReads(kThreads); });
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int fd = open(path_.c_str(), O_RDONLY | O_DIRECT);
      if (fd < 0) return;
      AlignedBuffer buf(4096);
      if (pread(fd, buf.ptr, 4096, static_cast<off_t>(t) * 4096) == 4096) ++ok;
      close(fd);
    });
  }
  // Were the session thread to wait for each answer, only one read would
  // ever reach the export; give up after a while rather than hang.
  for (int i = 0; i < 500 && exp_->max_held < kThreads; ++i) std::this_thread::sleep_for(10ms);
  exp_->RunSync([&] { exp_->ReleaseHeld(); });
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(exp_->max_held, kThreads);
  EXPECT_EQ(ok, kThreads);
}

TEST_F(FuseDeviceTest, StopClosesHandlesStillOpen) {
  int fd = open(path_.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  dev_.Stop();
  EXPECT_EQ(exp_->closes_rw, 1);
  char buf[512];
  EXPECT_EQ(pread(fd, buf, sizeof buf, 0), -1);  // the connection is gone
  close(fd);
  EXPECT_EQ(exp_->closes_rw, 1);
}

TEST(FuseDeviceStaleMountTest, StartDetachesAMountLeftByACrashedRun) {
  if (getuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "needs root";
  char tmpl[] = "/tmp/tandem-fuse-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string mnt = std::string(tmpl) + "/dev";
  std::filesystem::create_directories(mnt);
  // A dead mount: mounted, then the daemon side closed without unmounting.
  int fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  ASSERT_GE(fuse_fd, 0);
  std::string opts = "fd=" + std::to_string(fuse_fd) + ",rootmode=40000,user_id=0,group_id=0";
  ASSERT_EQ(mount("tandem", mnt.c_str(), "fuse.tandem", MS_NOSUID | MS_NODEV, opts.c_str()), 0)
      << strerror(errno);
  close(fuse_fd);
  struct stat st;
  EXPECT_EQ(stat(mnt.c_str(), &st), -1);
  EXPECT_EQ(errno, ENOTCONN);

  MemoryExport exp(1 << 20);
  FuseDevice dev;
  ASSERT_TRUE(dev.AddVolume("r0", VolumeNr(0), &exp).ok());
  Status s = dev.Start(mnt);
  if (!s.ok()) umount2(mnt.c_str(), MNT_DETACH);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(stat(dev.VolumePath("r0", VolumeNr(0)).c_str(), &st), 0) << strerror(errno);
  dev.Stop();
  EXPECT_FALSE(AnyMountUnder(tmpl));
  std::error_code ec;
  if (!AnyMountUnder(tmpl)) std::filesystem::remove_all(tmpl, ec);
}

// The real consumer: ext4 on a direct-I/O loop device on the volume file.
TEST_F(FuseDeviceTest, LoopDeviceWithDirectIoCarriesExt4AcrossRemounts) {
  std::string loop = AttachLoop();
  ASSERT_FALSE(loop.empty());
  std::string out;
  EXPECT_EQ(RunCommand("losetup -n -O DIO " + loop, &out), 0);
  EXPECT_EQ(Trim(out), "1") << "direct I/O is not on for " << loop;
  ASSERT_EQ(RunCommand("mkfs.ext4 -q -F " + loop, &out), 0) << out;
  std::string fs = tmp_ + "/fs";
  MountFs(loop, fs);

  std::vector<uint8_t> big(4 << 20);
  FillPattern(big.data(), big.size(), 42);
  {
    std::ofstream f(fs + "/big.bin", std::ios::binary);
    f.write(reinterpret_cast<const char*>(big.data()), static_cast<std::streamsize>(big.size()));
    std::ofstream g(fs + "/hello.txt");
    g << "tandem over fuse\n";
  }
  ASSERT_EQ(RunCommand("sync -f " + fs + "/big.bin"), 0);
  UnmountFs(fs);
  DetachLoop(loop);
  EXPECT_GT(exp_->Ops(BlockOp::kFlush), 0);

  std::string loop2 = AttachLoop();
  ASSERT_FALSE(loop2.empty());
  MountFs(loop2, fs);
  {
    std::ifstream f(fs + "/big.bin", std::ios::binary);
    std::vector<uint8_t> back(big.size());
    f.read(reinterpret_cast<char*>(back.data()), static_cast<std::streamsize>(back.size()));
    EXPECT_EQ(f.gcount(), static_cast<std::streamsize>(big.size()));
    EXPECT_TRUE(back == big);
    std::ifstream g(fs + "/hello.txt");
    std::string line;
    std::getline(g, line);
    EXPECT_EQ(line, "tandem over fuse");
  }
  UnmountFs(fs);
  DetachLoop(loop2);
}

}  // namespace
}  // namespace tandem
