// ReadBuffer over a real local socket pair: exact pieces in order, one read
// for a burst of small messages, large payloads read straight through, and
// the end of the stream reported as an error.
#include "common/read_buffer.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <numeric>
#include <vector>

namespace tandem {
namespace {

namespace asio = boost::asio;
using Socket = asio::local::stream_protocol::socket;

struct Pair {
  asio::io_context ctx;
  Socket reader{ctx};
  Socket writer{ctx};
  int reads = 0;  // read system calls the buffer asked for
  Pair() { asio::local::connect_pair(reader, writer); }
  auto ReadSome() {
    return [this](asio::mutable_buffer b) {
      ++reads;
      return reader.async_read_some(b, asio::as_tuple(asio::use_awaitable));
    };
  }
  void Send(const std::vector<uint8_t>& bytes) { asio::write(writer, asio::buffer(bytes)); }
};

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  std::iota(v.begin(), v.end(), seed);
  return v;
}

TEST(ReadBuffer, HandsOutExactPiecesOfABurstWithOneRead) {
  Pair p;
  // 20 messages of a 28-byte header and a 100-byte body, sent at once.
  std::vector<uint8_t> burst;
  for (int i = 0; i < 20; ++i) {
    std::vector<uint8_t> m = Pattern(128, static_cast<uint8_t>(i));
    burst.insert(burst.end(), m.begin(), m.end());
  }
  p.Send(burst);
  ReadBuffer in(64 * 1024);
  std::vector<uint8_t> got;
  bool failed = false;
  asio::co_spawn(
      p.ctx,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 20; ++i) {
          uint8_t header[28];
          uint8_t body[100];
          if (co_await in.ReadExact(header, sizeof header, p.ReadSome())) failed = true;
          if (co_await in.ReadExact(body, sizeof body, p.ReadSome())) failed = true;
          got.insert(got.end(), header, header + sizeof header);
          got.insert(got.end(), body, body + sizeof body);
        }
      },
      asio::detached);
  p.ctx.run();
  EXPECT_FALSE(failed);
  EXPECT_EQ(got, burst);
  EXPECT_EQ(p.reads, 1);
  EXPECT_EQ(in.buffered(), 0u);
}

TEST(ReadBuffer, ReadsALargePayloadStraightThroughAfterTheBufferedPart) {
  Pair p;
  std::vector<uint8_t> header = Pattern(16, 7);
  std::vector<uint8_t> payload = Pattern(1 << 20, 3);
  std::vector<uint8_t> tail = Pattern(10, 9);
  ReadBuffer in(4096);
  std::vector<uint8_t> got_header(16), got_payload(payload.size()), got_tail(10);
  bool failed = false;
  asio::co_spawn(
      p.ctx,
      [&]() -> asio::awaitable<void> {
        if (co_await in.ReadExact(got_header.data(), 16, p.ReadSome())) failed = true;
        if (co_await in.ReadExact(got_payload.data(), got_payload.size(), p.ReadSome())) {
          failed = true;
        }
        if (co_await in.ReadExact(got_tail.data(), 10, p.ReadSome())) failed = true;
      },
      asio::detached);
  // The writer feeds the socket from a second coroutine: 1 MiB exceeds the
  // socket buffer, so reads and writes interleave.
  asio::co_spawn(
      p.ctx,
      [&]() -> asio::awaitable<void> {
        std::vector<uint8_t> all = header;
        all.insert(all.end(), payload.begin(), payload.end());
        all.insert(all.end(), tail.begin(), tail.end());
        co_await asio::async_write(p.writer, asio::buffer(all), asio::use_awaitable);
      },
      asio::detached);
  p.ctx.run();
  EXPECT_FALSE(failed);
  EXPECT_EQ(got_header, header);
  EXPECT_EQ(got_payload, payload);
  EXPECT_EQ(got_tail, tail);
  // Straight through: far fewer reads than 1 MiB in 4 KiB buffer refills.
  EXPECT_LT(p.reads, 1 + (1 << 20) / 4096 / 2);
}

TEST(ReadBuffer, TheEndOfTheStreamInsideAPieceIsAnError) {
  Pair p;
  p.Send(Pattern(10, 1));
  p.writer.close();
  ReadBuffer in(1024);
  boost::system::error_code first, second;
  asio::co_spawn(
      p.ctx,
      [&]() -> asio::awaitable<void> {
        uint8_t b[8];
        first = co_await in.ReadExact(b, sizeof b, p.ReadSome());
        second = co_await in.ReadExact(b, sizeof b, p.ReadSome());  // only 2 bytes left
      },
      asio::detached);
  p.ctx.run();
  EXPECT_FALSE(first);
  EXPECT_EQ(second, asio::error::eof);
}

}  // namespace
}  // namespace tandem
