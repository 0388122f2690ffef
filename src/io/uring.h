// Uring: one io_uring instance serving one Boost.Asio io_context thread.
//
// Completions are reaped on the io_context's thread: the ring signals an
// eventfd that an Asio descriptor waits on, and each completion's callback
// runs there. Submissions are batched: Read/Write/... queue an entry, and the
// batch goes to the kernel a few handler turns later, once it stopped growing
// (at most kMaxHops turns or kMaxBatch entries). Every io_uring_enter of a
// direct write rings the virtual disk's doorbell, which costs a VM exit here;
// requests arriving one by one from an NBD socket would otherwise each pay it.
//
// Thread-safety: none; every method runs on the io_context's thread.
#pragma once

#include <liburing.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <memory>

#include "common/result.h"

namespace tandem::io {

class Uring {
 public:
  // res: the operation's result (bytes transferred, or -errno).
  using Callback = std::function<void(int res)>;

  explicit Uring(boost::asio::io_context& ctx);
  ~Uring();
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  // Sets up the ring (queue depth `entries`). Fails if io_uring is unavailable.
  [[nodiscard]] Result<bool> Start(unsigned entries = 256);
  // Waits for every submitted operation to complete (their callbacks run).
  void Stop();

  // REQUIRES: buf stays valid until the callback runs.
  void Read(int fd, void* buf, uint32_t len, uint64_t offset, Callback cb);
  // dsync: the write is durable when it completes (RWF_DSYNC, our FUA).
  void Write(int fd, const void* buf, uint32_t len, uint64_t offset, bool dsync, Callback cb);
  void Fdatasync(int fd, Callback cb);
  void Fallocate(int fd, int mode, uint64_t offset, uint64_t len, Callback cb);

  uint64_t in_flight() const { return in_flight_; }

 private:
  io_uring_sqe* GetSqe();
  void Queue(io_uring_sqe* sqe, Callback cb);
  void ScheduleSubmit();
  void SubmitStep();
  void SubmitNow();
  void ArmWait();
  void Reap();

  boost::asio::io_context& ctx_;
  io_uring ring_{};
  bool started_ = false;
  int event_fd_ = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> event_desc_;
  bool submit_pending_ = false;
  unsigned queued_ = 0;       // entries queued since the last submit
  unsigned queued_seen_ = 0;  // ... at the previous handler turn
  int hops_ = 0;
  static constexpr int kMaxHops = 4;
  static constexpr unsigned kMaxBatch = 64;
  uint64_t in_flight_ = 0;
};

}  // namespace tandem::io
