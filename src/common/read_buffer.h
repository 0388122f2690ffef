// ReadBuffer: reads a byte stream in large chunks and hands it out in exact
// lengths, so that a burst of small messages (NBD requests, replication
// frames) costs one read system call instead of two per message (header,
// then payload).
//
// A read larger than half the buffer goes straight into the caller's memory
// (after what is already buffered), so large payloads are not copied twice.
//
// Usage, from a coroutine:
//   boost::system::error_code ec = co_await in.ReadExact(p, n, [&](auto buf) {
//     return sock.async_read_some(buf, asio::as_tuple(asio::use_awaitable));
//   });
// `read_some(mutable_buffer)` must return an awaitable of
// std::tuple<error_code, size_t>, as async_read_some with as_tuple does.
//
// Thread-safety: none; one reader at a time (one coroutine per stream).
#pragma once

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <cstring>
#include <vector>

namespace tandem {

class ReadBuffer {
 public:
  explicit ReadBuffer(size_t capacity = 256 * 1024) : buf_(capacity) {}

  // Bytes read from the stream and not yet handed out.
  size_t buffered() const { return end_ - pos_; }

  // Fills [p, p + n) from the buffer and then from the stream. On an error
  // (end of stream included) the bytes read so far are lost to the caller.
  template <class ReadSome>
  boost::asio::awaitable<boost::system::error_code> ReadExact(void* p, size_t n,
                                                              ReadSome read_some) {
    auto* out = static_cast<uint8_t*>(p);
    n -= Take(out, n, &out);
    while (n > 0) {
      // Here the buffer is empty: every buffered byte went to the caller.
      if (n >= buf_.size() / 2) {
        auto [ec, got] = co_await read_some(boost::asio::buffer(out, n));
        if (ec) co_return ec;
        out += got;
        n -= got;
        continue;
      }
      auto [ec, got] = co_await read_some(boost::asio::buffer(buf_.data(), buf_.size()));
      if (ec) co_return ec;
      pos_ = 0;
      end_ = got;
      n -= Take(out, n, &out);
    }
    co_return boost::system::error_code{};
  }

 private:
  // Copies up to n buffered bytes to out; returns how many, advances *next.
  size_t Take(uint8_t* out, size_t n, uint8_t** next) {
    size_t k = std::min(n, end_ - pos_);
    if (k > 0) std::memcpy(out, buf_.data() + pos_, k);
    pos_ += k;
    if (pos_ == end_) pos_ = end_ = 0;
    *next = out + k;
    return k;
  }

  std::vector<uint8_t> buf_;
  size_t pos_ = 0;
  size_t end_ = 0;
};

}  // namespace tandem
