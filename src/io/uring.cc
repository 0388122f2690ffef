#include "io/uring.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "common/check.h"

namespace tandem::io {

Uring::Uring(boost::asio::io_context& ctx) : ctx_(ctx) {}

Uring::~Uring() {
  if (event_desc_) {
    boost::system::error_code ec;
    event_desc_->cancel(ec);
    event_desc_->close(ec);  // closes event_fd_
  }
  if (started_) io_uring_queue_exit(&ring_);
}

Result<bool> Uring::Start(unsigned entries) {
  int r = io_uring_queue_init(entries, &ring_, 0);
  if (r < 0) return Error{Errc::kUnsupported, std::string("io_uring_queue_init: ") + strerror(-r)};
  started_ = true;
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) return Error{Errc::kIoError, std::string("eventfd: ") + strerror(errno)};
  r = io_uring_register_eventfd(&ring_, event_fd_);
  if (r < 0) {
    return Error{Errc::kUnsupported, std::string("io_uring_register_eventfd: ") + strerror(-r)};
  }
  event_desc_ = std::make_unique<boost::asio::posix::stream_descriptor>(ctx_, event_fd_);
  ArmWait();
  return true;
}

void Uring::Stop() {
  // Completions arrive on the eventfd; drive the ring directly until empty.
  while (in_flight_ > 0) {
    if (submit_pending_) {
      submit_pending_ = false;
      io_uring_submit(&ring_);
    }
    io_uring_cqe* cqe = nullptr;
    if (io_uring_wait_cqe(&ring_, &cqe) < 0) break;
    Reap();
  }
}

io_uring_sqe* Uring::GetSqe() {
  TANDEM_CHECK(started_);
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) {
    // The submission queue is full: hand the batch to the kernel now.
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  TANDEM_CHECK(sqe != nullptr);
  return sqe;
}

void Uring::Queue(io_uring_sqe* sqe, Callback cb) {
  auto* owned = new Callback(std::move(cb));
  io_uring_sqe_set_data(sqe, owned);
  ++in_flight_;
  ScheduleSubmit();
}

void Uring::ScheduleSubmit() {
  ++queued_;
  if (queued_ >= kMaxBatch) return SubmitNow();
  if (submit_pending_) return;
  submit_pending_ = true;
  hops_ = 0;
  queued_seen_ = queued_;
  boost::asio::post(ctx_, [this] { SubmitStep(); });
}

void Uring::SubmitStep() {
  if (!submit_pending_) return;
  // Wait another turn while requests keep arriving.
  if (queued_ > queued_seen_ && ++hops_ < kMaxHops) {
    queued_seen_ = queued_;
    boost::asio::post(ctx_, [this] { SubmitStep(); });
    return;
  }
  SubmitNow();
}

void Uring::SubmitNow() {
  submit_pending_ = false;
  queued_ = queued_seen_ = 0;
  io_uring_submit(&ring_);
}

void Uring::Read(int fd, void* buf, uint32_t len, uint64_t offset, Callback cb) {
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_read(sqe, fd, buf, len, offset);
  Queue(sqe, std::move(cb));
}

void Uring::Write(int fd, const void* buf, uint32_t len, uint64_t offset, bool dsync, Callback cb) {
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_write(sqe, fd, buf, len, offset);
  if (dsync) sqe->rw_flags = RWF_DSYNC;
  Queue(sqe, std::move(cb));
}

void Uring::Fdatasync(int fd, Callback cb) {
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
  Queue(sqe, std::move(cb));
}

void Uring::Fallocate(int fd, int mode, uint64_t offset, uint64_t len, Callback cb) {
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_fallocate(sqe, fd, mode, static_cast<off_t>(offset), static_cast<off_t>(len));
  Queue(sqe, std::move(cb));
}

void Uring::ArmWait() {
  event_desc_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                          [this](const boost::system::error_code& ec) {
                            if (ec) return;  // cancelled at destruction
                            uint64_t n = 0;
                            while (::read(event_fd_, &n, sizeof n) > 0) {
                            }
                            Reap();
                            ArmWait();
                          });
}

void Uring::Reap() {
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    if (io_uring_peek_cqe(&ring_, &cqe) != 0 || !cqe) return;
    auto* cb = static_cast<Callback*>(io_uring_cqe_get_data(cqe));
    int res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    --in_flight_;
    std::unique_ptr<Callback> owned(cb);
    if (*owned) (*owned)(res);
  }
}

}  // namespace tandem::io
