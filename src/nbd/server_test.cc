// NbdServer against a raw-socket client: negotiation, transmission, error
// replies, malformed input, pipelining, Open/Close pairing and Stop().
#include "nbd/server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <random>

#include "nbd/protocol.h"
#include "nbd/testing/test_support.h"

namespace tandem::nbd {
namespace {

using testing::MemoryExport;
using testing::ServerHarness;
using testing::TempDir;

constexpr uint64_t kDiskSize = 1 << 20;

// A blocking client speaking raw bytes, with timeouts so a test never hangs.
class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }

  void Send(const Bytes& b) {
    size_t off = 0;
    while (off < b.size()) {
      ssize_t n = ::send(fd_, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;  // the server closed; the test notices on read
      off += static_cast<size_t>(n);
    }
  }

  // Reads exactly n bytes; false on EOF, error or timeout.
  bool Recv(size_t n, Bytes* out, int timeout_ms = 5000) {
    out->resize(n);
    size_t off = 0;
    while (off < n) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      ssize_t r = ::recv(fd_, out->data() + off, n - off, 0);
      if (r <= 0) return false;
      off += static_cast<size_t>(r);
    }
    return true;
  }
  Bytes Recv(size_t n) {
    Bytes b;
    EXPECT_TRUE(Recv(n, &b)) << "short read of " << n << " bytes";
    return b;
  }

  // True when the server closed the connection (EOF or reset) in time.
  bool WaitClosed(int timeout_ms = 5000) {
    uint8_t buf[4096];
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
      if (r <= 0) return true;
    }
  }

  // Reads the greeting and answers with client flags.
  void Handshake(uint32_t client_flags = kClientFlagFixedNewstyle | kClientFlagNoZeroes) {
    Bytes g = Recv(kGreetingSize);
    ASSERT_EQ(g, EncodeGreeting(kFlagFixedNewstyle | kFlagNoZeroes));
    Send({static_cast<uint8_t>(client_flags >> 24), static_cast<uint8_t>(client_flags >> 16),
          static_cast<uint8_t>(client_flags >> 8), static_cast<uint8_t>(client_flags)});
  }

  OptionReply ReadOptionReply() {
    Bytes h = Recv(kOptionReplyHeaderSize);
    if (h.size() != kOptionReplyHeaderSize) return {};
    uint32_t len =
        (uint32_t{h[16]} << 24) | (uint32_t{h[17]} << 16) | (uint32_t{h[18]} << 8) | h[19];
    Bytes d = Recv(len);
    h.insert(h.end(), d.begin(), d.end());
    size_t used = 0;
    auto r = DecodeOptionReply(h, &used);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : OptionReply{};
  }

  // Sends an option and reads replies up to the final ACK or error.
  std::vector<OptionReply> Option(uint32_t option, const Bytes& data) {
    Send(EncodeOption(option, data));
    std::vector<OptionReply> out;
    for (;;) {
      OptionReply r = ReadOptionReply();
      out.push_back(r);
      if (r.type == kRepAck || (r.type & kRepErrBit) || r.type == 0) return out;
    }
  }

  // Negotiates structured replies (optionally) and NBD_OPT_GO on `name`.
  // Returns the transmission flags, or 0 on refusal.
  uint16_t Go(const std::string& name, bool structured = false) {
    Handshake();
    if (structured) {
      auto sr = Option(kOptStructuredReply, {});
      EXPECT_EQ(sr.back().type, kRepAck);
    }
    auto replies = Option(kOptGo, EncodeInfoRequest({name, {kInfoBlockSize}}));
    if (replies.back().type != kRepAck) return 0;
    for (const OptionReply& r : replies) {
      if (r.type == kRepInfo && r.data.size() == 12 && r.data[1] == kInfoExport) {
        return static_cast<uint16_t>((r.data[10] << 8) | r.data[11]);
      }
    }
    ADD_FAILURE() << "no NBD_INFO_EXPORT";
    return 0;
  }

  void Request(uint16_t type, uint64_t cookie, uint64_t offset, uint32_t length, uint16_t flags = 0,
               const Bytes& payload = {}) {
    Bytes b = EncodeRequest({flags, type, cookie, offset, length});
    b.insert(b.end(), payload.begin(), payload.end());
    Send(b);
  }

  // Reads one simple reply (plus `read_length` data bytes on success).
  nbd::Reply SimpleReply(uint32_t read_length = 0) {
    Bytes h = Recv(kSimpleReplyHeaderSize);
    size_t used = 0;
    auto r = DecodeReply(h, &used);
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return {};
    if (r->error == 0 && read_length > 0) r->data = Recv(read_length);
    return *r;
  }

  // Reads one structured chunk.
  nbd::Reply Chunk() {
    Bytes h = Recv(kStructuredReplyHeaderSize);
    if (h.size() != kStructuredReplyHeaderSize) return {};
    uint32_t len =
        (uint32_t{h[16]} << 24) | (uint32_t{h[17]} << 16) | (uint32_t{h[18]} << 8) | h[19];
    Bytes d = Recv(len);
    h.insert(h.end(), d.begin(), d.end());
    size_t used = 0;
    auto r = DecodeReply(h, &used);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : nbd::Reply{};
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

Bytes Pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    disk_ = harness_.AddExport("disk", kDiskSize);
    refused_ = harness_.AddExport("refused", kDiskSize);
    refused_->refuse_error = EPERM;
    refused_->refuse_message = "r0 is Primary on bravo";
    socket_ = dir_.path() + "/nbd.sock";
    harness_.StartServer({{socket_, "disk"}});
  }

  template <class F>
  auto OnIo(F fn) {
    return harness_.RunOnIo(fn);
  }
  int Closes(MemoryExport* e, OpenMode m) {
    return OnIo([&] { return e->close_count[static_cast<int>(m)]; });
  }
  int Opens(MemoryExport* e, OpenMode m) {
    return OnIo([&] { return e->open_count[static_cast<int>(m)]; });
  }
  int Submitted(MemoryExport* e) {
    return OnIo([&] { return e->submitted; });
  }

  TempDir dir_;
  ServerHarness harness_;
  MemoryExport* disk_ = nullptr;
  MemoryExport* refused_ = nullptr;
  std::string socket_;
};

// ---- Negotiation ----

TEST_F(ServerTest, GoReportsSizeFlagsAndBlockSizes) {
  RawClient c(socket_);
  c.Handshake();
  auto replies = c.Option(kOptGo, EncodeInfoRequest({"disk", {kInfoBlockSize}}));
  ASSERT_EQ(replies.back().type, kRepAck);
  bool saw_export = false, saw_block_size = false;
  for (const OptionReply& r : replies) {
    if (r.type != kRepInfo) continue;
    if (r.data[1] == kInfoExport) {
      saw_export = true;
      EXPECT_EQ(r.data, (Bytes{0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0x01, 0x6d}));
    }
    if (r.data[1] == kInfoBlockSize) {
      saw_block_size = true;
      EXPECT_EQ(r.data, (Bytes{0, 3, 0, 0, 2, 0, 0, 0, 0x10, 0, 2, 0, 0, 0}));
    }
  }
  EXPECT_TRUE(saw_export);
  EXPECT_TRUE(saw_block_size);
  EXPECT_EQ(Opens(disk_, OpenMode::kReadWrite), 1);
}

TEST_F(ServerTest, InfoDoesNotOpen) {
  RawClient c(socket_);
  c.Handshake();
  auto replies = c.Option(kOptInfo, EncodeInfoRequest({"disk:ro", {}}));
  ASSERT_EQ(replies.back().type, kRepAck);
  EXPECT_EQ(Opens(disk_, OpenMode::kReadOnly) + Opens(disk_, OpenMode::kReadWrite), 0);
  // Negotiation continues after INFO.
  EXPECT_EQ(c.Option(kOptList, {}).back().type, kRepAck);
}

TEST_F(ServerTest, InfoNameIsSentWhenCanonicalDiffers) {
  RawClient c(socket_);
  c.Handshake();
  auto replies = c.Option(kOptInfo, EncodeInfoRequest({"", {}}));
  ASSERT_EQ(replies.back().type, kRepAck);
  bool saw_name = false;
  for (const OptionReply& r : replies) {
    if (r.type == kRepInfo && r.data[1] == kInfoName) {
      saw_name = true;
      EXPECT_EQ(std::string(r.data.begin() + 2, r.data.end()), "disk");
    }
  }
  EXPECT_TRUE(saw_name);
}

TEST_F(ServerTest, UnknownOptionIsUnsupAndNegotiationContinues) {
  RawClient c(socket_);
  c.Handshake();
  auto r = c.Option(99, Bytes{1, 2, 3});
  EXPECT_EQ(r.back().type, kRepErrUnsup);
  EXPECT_NE(std::string(r.back().data.begin(), r.back().data.end()).find("not supported"),
            std::string::npos);
  EXPECT_EQ(c.Option(kOptStartTls, {}).back().type, kRepErrUnsup);
  EXPECT_EQ(c.Option(kOptGo, EncodeInfoRequest({"disk", {}})).back().type, kRepAck);
}

TEST_F(ServerTest, OversizedOptionIsTooBigAndNegotiationContinues) {
  RawClient c(socket_);
  c.Handshake();
  auto r = c.Option(kOptInfo, Bytes(kMaxOptionDataBytes + 1, 0));
  EXPECT_EQ(r.back().type, kRepErrTooBig);
  EXPECT_EQ(c.Option(kOptList, {}).back().type, kRepAck);
}

TEST_F(ServerTest, HugeOptionLengthDisconnects) {
  RawClient c(socket_);
  c.Handshake();
  c.Send({0x49, 0x48, 0x41, 0x56, 0x45, 0x4f, 0x50, 0x54, 0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff});
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(ServerTest, OversizedExportNameDisconnects) {
  RawClient c(socket_);
  c.Handshake();
  c.Send(EncodeOption(kOptExportName, Bytes(kMaxOptionDataBytes + 1, 'a')));
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(ServerTest, MalformedInfoRequestIsInvalid) {
  RawClient c(socket_);
  c.Handshake();
  EXPECT_EQ(c.Option(kOptGo, Bytes{0, 0, 0, 9, 'x'}).back().type, kRepErrInvalid);
  EXPECT_EQ(c.Option(kOptList, Bytes{1}).back().type, kRepErrInvalid);
  EXPECT_EQ(c.Option(kOptStructuredReply, Bytes{1}).back().type, kRepErrInvalid);
}

TEST_F(ServerTest, BadOptionMagicClosesOnlyThatConnection) {
  RawClient good(socket_);
  ASSERT_NE(good.Go("disk"), 0);
  RawClient bad(socket_);
  bad.Handshake();
  Bytes opt = EncodeOption(kOptList, {});
  opt[0] ^= 0xff;
  bad.Send(opt);
  EXPECT_TRUE(bad.WaitClosed());
  good.Request(kCmdRead, 1, 0, 512);
  EXPECT_EQ(good.SimpleReply(512).error, 0u);
}

TEST_F(ServerTest, UnknownClientFlagsDisconnect) {
  RawClient c(socket_);
  c.Handshake(0x80);
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(ServerTest, TruncatedHandshakeClosesQuietly) {
  {
    RawClient c(socket_);
    Bytes g = c.Recv(kGreetingSize);
    c.Send({0, 0});
  }
  RawClient next(socket_);
  EXPECT_NE(next.Go("disk"), 0);
}

TEST_F(ServerTest, UnknownExportIsErrUnknownWithMessage) {
  RawClient c(socket_);
  c.Handshake();
  auto r = c.Option(kOptGo, EncodeInfoRequest({"nope", {}}));
  EXPECT_EQ(r.back().type, kRepErrUnknown);
  EXPECT_EQ(std::string(r.back().data.begin(), r.back().data.end()), "no export named 'nope'");
}

TEST_F(ServerTest, RefusedOpenIsPolicyErrorWithTheExportsMessage) {
  RawClient c(socket_);
  c.Handshake();
  auto r = c.Option(kOptGo, EncodeInfoRequest({"refused", {}}));
  EXPECT_EQ(r.back().type, kRepErrPolicy);
  EXPECT_EQ(std::string(r.back().data.begin(), r.back().data.end()), "r0 is Primary on bravo");
  // The client may try another export on the same connection.
  EXPECT_EQ(c.Option(kOptGo, EncodeInfoRequest({"disk", {}})).back().type, kRepAck);
}

TEST_F(ServerTest, ListNamesEveryExport) {
  RawClient c(socket_);
  c.Handshake();
  auto r = c.Option(kOptList, {});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].type, kRepServer);
  EXPECT_EQ(std::string(r[0].data.begin() + 4, r[0].data.end()), "disk");
  EXPECT_EQ(std::string(r[1].data.begin() + 4, r[1].data.end()), "refused");
  EXPECT_EQ(r[2].type, kRepAck);
}

TEST_F(ServerTest, AbortIsAcked) {
  RawClient c(socket_);
  c.Handshake();
  EXPECT_EQ(c.Option(kOptAbort, {}).back().type, kRepAck);
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(ServerTest, ExportNameEntersTransmissionWithZeroes) {
  RawClient c(socket_);
  c.Handshake(kClientFlagFixedNewstyle);  // no NO_ZEROES: 124 bytes of padding
  c.Send(EncodeOption(kOptExportName, Bytes{'d', 'i', 's', 'k'}));
  Bytes reply = c.Recv(kExportNameReplySize + 124);
  EXPECT_EQ(Bytes(reply.begin(), reply.begin() + 10),
            EncodeExportNameReply(kDiskSize, 0x16d, true));
  c.Request(kCmdRead, 5, 0, 512);
  EXPECT_EQ(c.SimpleReply(512).cookie, 5u);
}

TEST_F(ServerTest, ExportNameForUnknownExportDisconnects) {
  RawClient c(socket_);
  c.Handshake();
  c.Send(EncodeOption(kOptExportName, Bytes{'x'}));
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(ServerTest, EmptyNameUsesTheListenerDefault) {
  RawClient c(socket_);
  EXPECT_NE(c.Go(""), 0);
  EXPECT_EQ(Opens(disk_, OpenMode::kReadWrite), 1);
}

TEST_F(ServerTest, ReadOnlyNameOpensReadOnly) {
  RawClient c(socket_);
  uint16_t flags = c.Go("disk:ro");
  EXPECT_TRUE(flags & kFlagReadOnly);
  EXPECT_FALSE(flags & kFlagSendTrim);
  EXPECT_EQ(Opens(disk_, OpenMode::kReadOnly), 1);
  c.Request(kCmdWrite, 1, 0, 512, 0, Bytes(512, 1));
  EXPECT_EQ(c.SimpleReply().error, kEperm);
  EXPECT_EQ(Submitted(disk_), 0);
}

// ---- Transmission ----

TEST_F(ServerTest, WriteThenReadSimpleReplies) {
  RawClient c(socket_);
  ASSERT_NE(c.Go("disk"), 0);
  Bytes data = Pattern(4096, 3);
  c.Request(kCmdWrite, 1, 8192, 4096, kCmdFlagFua, data);
  auto w = c.SimpleReply();
  EXPECT_EQ(w.error, 0u);
  EXPECT_EQ(w.cookie, 1u);
  EXPECT_TRUE(OnIo([&] { return disk_->last_request.fua; }));
  c.Request(kCmdRead, 2, 8192, 4096);
  auto r = c.SimpleReply(4096);
  EXPECT_EQ(r.error, 0u);
  EXPECT_EQ(r.data, data);
  c.Request(kCmdFlush, 3, 0, 0);
  EXPECT_EQ(c.SimpleReply().error, 0u);
  EXPECT_EQ(OnIo([&] { return disk_->flushes; }), 1);
}

TEST_F(ServerTest, StructuredReadIsOneOffsetDataChunk) {
  RawClient c(socket_);
  ASSERT_NE(c.Go("disk", /*structured=*/true), 0);
  Bytes data = Pattern(1024, 9);
  c.Request(kCmdWrite, 1, 512, 1024, 0, data);
  auto w = c.Chunk();
  EXPECT_EQ(w.type, kReplyTypeNone);
  EXPECT_EQ(w.flags, kReplyFlagDone);
  c.Request(kCmdRead, 2, 512, 1024);
  auto r = c.Chunk();
  EXPECT_EQ(r.type, kReplyTypeOffsetData);
  EXPECT_EQ(r.flags, kReplyFlagDone);
  EXPECT_EQ(r.cookie, 2u);
  ASSERT_EQ(r.data.size(), 8u + 1024);
  EXPECT_EQ(Bytes(r.data.begin(), r.data.begin() + 8), (Bytes{0, 0, 0, 0, 0, 0, 2, 0}));
  EXPECT_EQ(Bytes(r.data.begin() + 8, r.data.end()), data);
}

TEST_F(ServerTest, StructuredErrorsCarryAMessage) {
  RawClient c(socket_);
  ASSERT_NE(c.Go("disk", /*structured=*/true), 0);
  c.Request(kCmdRead, 7, kDiskSize, 512);
  auto r = c.Chunk();
  EXPECT_EQ(r.type, kReplyTypeError);
  EXPECT_EQ(r.error, kEinval);
  EXPECT_NE(std::string(r.data.begin() + 6, r.data.end()).find("beyond the end"),
            std::string::npos);
}

TEST_F(ServerTest, InvalidRequestsNeverReachTheExport) {
  RawClient c(socket_);
  ASSERT_NE(c.Go("disk"), 0);
  c.Request(kCmdRead, 1, kDiskSize, 512);  // beyond the end
  EXPECT_EQ(c.SimpleReply().error, kEinval);
  c.Request(kCmdRead, 2, 100, 512);  // misaligned
  EXPECT_EQ(c.SimpleReply().error, kEinval);
  c.Request(kCmdWrite, 3, kDiskSize - 512, 1024, 0, Bytes(1024, 0));
  EXPECT_EQ(c.SimpleReply().error, kEnospc);
  c.Request(kCmdTrim, 4, 0, kDiskSize + 512);
  EXPECT_EQ(c.SimpleReply().error, kEinval);
  c.Request(77, 5, 0, 512);  // unknown command
  EXPECT_EQ(c.SimpleReply().error, kEinval);
  c.Request(kCmdRead, 6, 0, 512, kCmdFlagNoHole);  // flag not valid for READ
  EXPECT_EQ(c.SimpleReply().error, kEinval);
  EXPECT_EQ(Submitted(disk_), 0);
  // The connection still serves.
  c.Request(kCmdRead, 7, 0, 512);
  EXPECT_EQ(c.SimpleReply(512).error, 0u);
}

TEST_F(ServerTest, WriteZeroesHonoursNoHole) {
  RawClient c(socket_);
  ASSERT_NE(c.Go("disk"), 0);
  c.Request(kCmdWriteZeroes, 1, 0, 4096, kCmdFlagNoHole);
  EXPECT_EQ(c.SimpleReply().error, 0u);
  EXPECT_TRUE(OnIo([&] { return disk_->last_request.no_hole; }));
  EXPECT_EQ(OnIo([&] { return disk_->last_request.op; }), BlockOp::kWriteZeroes);
  c.Request(kCmdTrim, 2, 0, 4096);
  EXPECT_EQ(c.SimpleReply().error, 0u);
  EXPECT_EQ(OnIo([&] { return disk_->last_request.op; }), BlockOp::kTrim);
}

TEST_F(ServerTest, UnsupportedFeaturesAreNotAdvertisedAndRefused) {
  OnIo([&] {
    disk_->can_trim = false;
    disk_->can_flush = false;
    disk_->can_multi_conn = false;
    return 0;
  });
  RawClient c(socket_);
  uint16_t flags = c.Go("disk");
  EXPECT_EQ(flags, kFlagHasFlags | kFlagSendWriteZeroes);
  c.Request(kCmdTrim, 1, 0, 512);
  EXPECT_EQ(c.SimpleReply().error, kEinval);
  c.Request(kCmdFlush, 2, 0, 0);
  EXPECT_EQ(c.SimpleReply().error, kEinval);
  c.Request(kCmdWrite, 3, 0, 512, kCmdFlagFua, Bytes(512, 0));
  EXPECT_EQ(c.SimpleReply().error, kEinval);
}

TEST_F(ServerTest, ExportErrorsAreMapped) {
  RawClient c(socket_);
  ASSERT_NE(c.Go("disk"), 0);
  // The export itself rejects what it cannot do; simulate with a shrunken disk.
  OnIo([&] {
    disk_->bytes().resize(512);
    return 0;
  });
  c.Request(kCmdRead, 1, 4096, 512);
  EXPECT_EQ(c.SimpleReply().error, kEinval);
}

TEST_F(ServerTest, PipelinedRepliesMayComeOutOfOrder) {
  OnIo([&] {
    disk_->hold_requests = true;
    return 0;
  });
  RawClient c(socket_);
  ASSERT_NE(c.Go("disk"), 0);
  for (uint64_t i = 0; i < 8; ++i) c.Request(kCmdRead, 100 + i, i * 512, 512);
  for (int tries = 0; tries < 500 && OnIo([&] { return disk_->held_count(); }) < 8; ++tries) {
    ::usleep(2000);
  }
  ASSERT_EQ(OnIo([&] { return disk_->held_count(); }), 8u);
  OnIo([&] {
    disk_->ReleaseHeldReversed();
    return 0;
  });
  for (uint64_t i = 0; i < 8; ++i) {
    auto r = c.SimpleReply(512);
    EXPECT_EQ(r.cookie, 107 - i);
  }
}

TEST_F(ServerTest, DiscWaitsForInFlightThenClosesOnce) {
  OnIo([&] {
    disk_->hold_requests = true;
    return 0;
  });
  RawClient c(socket_);
  ASSERT_NE(c.Go("disk"), 0);
  c.Request(kCmdWrite, 1, 0, 512, 0, Bytes(512, 0xee));
  c.Request(kCmdDisc, 2, 0, 0);
  for (int tries = 0; tries < 500 && OnIo([&] { return disk_->held_count(); }) < 1; ++tries) {
    ::usleep(2000);
  }
  ::usleep(20000);
  EXPECT_EQ(Closes(disk_, OpenMode::kReadWrite), 0);  // still in flight
  OnIo([&] {
    disk_->ReleaseHeldReversed();
    return 0;
  });
  EXPECT_EQ(c.SimpleReply().error, 0u);  // the in-flight write is answered
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(Closes(disk_, OpenMode::kReadWrite), 1);
  EXPECT_EQ(OnIo([&] { return disk_->bytes()[0]; }), 0xee);
}

TEST_F(ServerTest, BadRequestMagicDisconnectsAndClosesTheExport) {
  RawClient other(socket_);
  ASSERT_NE(other.Go("disk:ro"), 0);
  RawClient c(socket_);
  ASSERT_NE(c.Go("disk"), 0);
  Bytes req = EncodeRequest({0, kCmdRead, 1, 0, 512});
  req[3] ^= 1;
  c.Send(req);
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(Closes(disk_, OpenMode::kReadWrite), 1);
  other.Request(kCmdRead, 1, 0, 512);
  EXPECT_EQ(other.SimpleReply(512).error, 0u);
}

TEST_F(ServerTest, OversizedWritePayloadDisconnects) {
  RawClient c(socket_);
  ASSERT_NE(c.Go("disk"), 0);
  c.Request(kCmdWrite, 1, 0, kMaxPayloadBytes + 512);
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(Closes(disk_, OpenMode::kReadWrite), 1);
}

TEST_F(ServerTest, EofMidRequestClosesTheExportOnce) {
  {
    RawClient c(socket_);
    ASSERT_NE(c.Go("disk"), 0);
    Bytes req = EncodeRequest({0, kCmdWrite, 1, 0, 4096});
    req.resize(req.size() + 100, 0);  // payload cut short
    c.Send(req);
  }
  for (int tries = 0; tries < 500 && Closes(disk_, OpenMode::kReadWrite) == 0; ++tries) {
    ::usleep(2000);
  }
  EXPECT_EQ(Closes(disk_, OpenMode::kReadWrite), 1);
  EXPECT_EQ(Opens(disk_, OpenMode::kReadWrite), 1);
}

TEST_F(ServerTest, ManyConnectionsAtOnce) {
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(std::make_unique<RawClient>(socket_));
    ASSERT_NE(clients.back()->Go("disk"), 0);
  }
  for (int i = 0; i < 20; ++i) {
    clients[i]->Request(kCmdWrite, i, i * 512, 512, 0, Bytes(512, static_cast<uint8_t>(i)));
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(clients[i]->SimpleReply().error, 0u);
  EXPECT_EQ(Opens(disk_, OpenMode::kReadWrite), 20);
  clients.clear();
  for (int tries = 0; tries < 500 && Closes(disk_, OpenMode::kReadWrite) < 20; ++tries) {
    ::usleep(2000);
  }
  EXPECT_EQ(Closes(disk_, OpenMode::kReadWrite), 20);
}

TEST(ServerLimits, ReadingPausesAtTheRequestLimit) {
  TempDir dir;
  ServerHarness h;
  MemoryExport* disk = h.AddExport("disk", kDiskSize);
  disk->hold_requests = true;
  std::string path = dir.path() + "/s.sock";
  h.StartServer({{path, ""}}, /*max_in_flight=*/2);
  RawClient c(path);
  ASSERT_NE(c.Go("disk"), 0);
  for (uint64_t i = 0; i < 4; ++i) c.Request(kCmdRead, i, 0, 512);
  for (int tries = 0; tries < 500 && h.RunOnIo([&] { return disk->held_count(); }) < 2; ++tries) {
    ::usleep(2000);
  }
  ::usleep(20000);
  EXPECT_EQ(h.RunOnIo([&] { return disk->held_count(); }), 2u);
  h.RunOnIo([&] {
    disk->hold_requests = false;
    disk->ReleaseHeldReversed();
    return 0;
  });
  for (int i = 0; i < 4; ++i) EXPECT_EQ(c.SimpleReply(512).error, 0u);
  EXPECT_EQ(h.RunOnIo([&] { return disk->submitted; }), 4);
}

TEST(ServerLimits, ReadingPausesAtTheByteLimit) {
  TempDir dir;
  ServerHarness h;
  MemoryExport* disk = h.AddExport("disk", 64ull << 20);
  disk->hold_requests = true;
  std::string path = dir.path() + "/s.sock";
  h.StartServer({{path, ""}}, /*max_in_flight=*/64, /*max_bytes_in_flight=*/kMaxPayloadBytes);
  RawClient c(path);
  ASSERT_NE(c.Go("disk"), 0);
  c.Request(kCmdWrite, 1, 0, kMaxPayloadBytes, 0, Bytes(kMaxPayloadBytes, 1));
  c.Request(kCmdWrite, 2, kMaxPayloadBytes, 512, 0, Bytes(512, 2));
  for (int tries = 0; tries < 500 && h.RunOnIo([&] { return disk->held_count(); }) < 1; ++tries) {
    ::usleep(2000);
  }
  ::usleep(20000);
  EXPECT_EQ(h.RunOnIo([&] { return disk->submitted; }), 1);  // the second waits
  h.RunOnIo([&] {
    disk->hold_requests = false;
    disk->ReleaseHeldReversed();
    return 0;
  });
  EXPECT_EQ(c.SimpleReply().cookie, 1u);
  EXPECT_EQ(c.SimpleReply().cookie, 2u);
}

TEST_F(ServerTest, GarbageFromManyClientsNeverStopsTheServer) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 40; ++i) {
    RawClient c(socket_);
    if (i % 2 == 1) {
      ASSERT_NE(c.Go(i % 4 == 1 ? "disk" : "disk:ro", i % 3 == 0), 0);
    }
    Bytes junk(rng() % 2048);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    if (i % 4 == 3 && junk.size() >= 4) {
      // A valid request magic, so the junk gets past the first check.
      junk[0] = 0x25, junk[1] = 0x60, junk[2] = 0x95, junk[3] = 0x13;
    }
    c.Send(junk);
  }
  RawClient good(socket_);
  ASSERT_NE(good.Go("disk"), 0);
  good.Request(kCmdRead, 1, 0, 512);
  EXPECT_EQ(good.SimpleReply(512).error, 0u);
  for (int tries = 0; tries < 1000 && harness_.ConnectionCount() > 1; ++tries) ::usleep(2000);
  EXPECT_EQ(harness_.ConnectionCount(), 1u);
  EXPECT_EQ(OnIo([&] { return disk_->open_now; }), 1);
}

TEST(ServerLimits, IdleNegotiationTimesOut) {
  TempDir dir;
  ServerHarness h;
  h.AddExport("disk", kDiskSize);
  std::string path = dir.path() + "/s.sock";
  h.StartServer({{path, ""}}, 64, 128u << 20, /*handshake_timeout_ms=*/100);
  RawClient idle(path);
  idle.Handshake();
  RawClient quick(path);
  ASSERT_NE(quick.Go("disk"), 0);
  EXPECT_TRUE(idle.WaitClosed(5000));
  ::usleep(200000);  // past the timeout: the connection in transmission stays
  quick.Request(kCmdRead, 1, 0, 512);
  EXPECT_EQ(quick.SimpleReply(512).error, 0u);
}

// ---- Start / Stop ----

TEST_F(ServerTest, StopClosesConnectionsAndUnlinksTheSocket) {
  RawClient idle(socket_);
  ASSERT_NE(idle.Go("disk"), 0);
  RawClient negotiating(socket_);
  negotiating.Handshake();
  for (int tries = 0; tries < 500 && harness_.ConnectionCount() < 2; ++tries) ::usleep(2000);
  harness_.StopServer();
  EXPECT_TRUE(idle.WaitClosed());
  EXPECT_TRUE(negotiating.WaitClosed());
  EXPECT_EQ(Closes(disk_, OpenMode::kReadWrite), 1);
  EXPECT_FALSE(std::filesystem::exists(socket_));
}

TEST_F(ServerTest, StopWaitsForInFlightRequests) {
  OnIo([&] {
    disk_->hold_requests = true;
    return 0;
  });
  RawClient c(socket_);
  ASSERT_NE(c.Go("disk"), 0);
  c.Request(kCmdRead, 1, 0, 512);
  for (int tries = 0; tries < 500 && OnIo([&] { return disk_->held_count(); }) < 1; ++tries) {
    ::usleep(2000);
  }
  std::thread releaser([&] {
    ::usleep(50000);
    OnIo([&] {
      EXPECT_EQ(disk_->close_count[1], 0);
      disk_->ReleaseHeldReversed();
      return 0;
    });
  });
  harness_.StopServer();
  releaser.join();
  EXPECT_EQ(Closes(disk_, OpenMode::kReadWrite), 1);
}

TEST(ServerStart, RemovesAStaleSocketButNotOtherFiles) {
  TempDir dir;
  std::string path = dir.path() + "/stale.sock";
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ::close(fd);  // leaves the file behind, nobody listening
  }
  ServerHarness h;
  h.AddExport("disk", kDiskSize);
  h.StartServer({{path, ""}});
  RawClient c(path);
  EXPECT_TRUE(c.connected());
  h.StopServer();

  std::string regular = dir.path() + "/file";
  std::ofstream(regular) << "keep me";
  boost::asio::io_context io;
  NbdServer s(
      io, ServerOptions{{{regular, ""}}},
      [](std::string_view, bool) -> Result<ExportRef> { return MakeError(Errc::kNotFound, "x"); },
      nullptr);
  Status st = s.Start();
  EXPECT_EQ(st.code(), Errc::kAlreadyExists);
  EXPECT_TRUE(std::filesystem::exists(regular));
}

TEST(ServerStart, RejectsBadOptions) {
  boost::asio::io_context io;
  auto resolver = [](std::string_view, bool) -> Result<ExportRef> {
    return MakeError(Errc::kNotFound, "x");
  };
  EXPECT_EQ(NbdServer(io, ServerOptions{}, resolver, nullptr).Start().code(),
            Errc::kInvalidArgument);
  EXPECT_EQ(NbdServer(io, ServerOptions{{{"nonsense", ""}}}, resolver, nullptr).Start().code(),
            Errc::kInvalidArgument);
}

TEST(ServerTcp, ServesOnLoopbackWithAnEphemeralPort) {
  ServerHarness h;
  h.AddExport("disk", kDiskSize);
  auto bound = h.StartServer({{"127.0.0.1:0", "disk"}});
  ASSERT_EQ(bound.size(), 1u);
  ASSERT_TRUE(bound[0].starts_with("127.0.0.1:"));
  int port = std::stoi(bound[0].substr(10));
  EXPECT_GT(port, 0);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  uint8_t greeting[kGreetingSize];
  ASSERT_EQ(::recv(fd, greeting, sizeof greeting, MSG_WAITALL), ssize_t{kGreetingSize});
  EXPECT_EQ(Bytes(greeting, greeting + kGreetingSize),
            EncodeGreeting(kFlagFixedNewstyle | kFlagNoZeroes));
  ::close(fd);
  h.StopServer();
}

TEST(ListenAddress, Parses) {
  auto u = ParseListenAddress("unix:/run/tandem/nbd.sock");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->is_unix);
  EXPECT_EQ(u->path, "/run/tandem/nbd.sock");
  EXPECT_TRUE(ParseListenAddress("/tmp/x.sock")->is_unix);
  auto t = ParseListenAddress("127.0.0.1:10809");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 10809);
  auto v6 = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_FALSE(ParseListenAddress("127.0.0.1").ok());
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:99999").ok());
  EXPECT_FALSE(ParseListenAddress("host.example:80").ok());
  EXPECT_FALSE(ParseListenAddress("unix:").ok());
  EXPECT_FALSE(ParseListenAddress("unix:/" + std::string(200, 'a')).ok());
}

}  // namespace
}  // namespace tandem::nbd
