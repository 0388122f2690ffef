// The NBD codec: golden bytes for every message the server sends, and the
// decoders' answers to malformed input.
#include "nbd/protocol.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace tandem::nbd {
namespace {

Bytes Hex(std::string_view hex) {
  Bytes out;
  std::string digits;
  for (char c : hex) {
    if (c != ' ') digits.push_back(c);
  }
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// A read-write session on a 1 MiB export with every feature advertised.
Session FullSession(bool read_only = false) {
  Session s;
  s.export_size = 1 << 20;
  s.transmission_flags = kFlagHasFlags | kFlagSendFlush | kFlagSendTrim | kFlagSendWriteZeroes;
  if (read_only) {
    s.transmission_flags |= kFlagReadOnly;
  } else {
    s.transmission_flags |= kFlagSendFua;
  }
  return s;
}

TEST(ProtocolGolden, Greeting) {
  EXPECT_EQ(EncodeGreeting(kFlagFixedNewstyle | kFlagNoZeroes),
            Hex("4e42444d41474943 49484156454f5054 0003"));
}

TEST(ProtocolGolden, OptionReplyAck) {
  EXPECT_EQ(EncodeOptionReply(kOptStructuredReply, kRepAck),
            Hex("0003e889045565a9 00000008 00000001 00000000"));
}

TEST(ProtocolGolden, OptionErrorCarriesMessage) {
  EXPECT_EQ(EncodeOptionError(kOptGo, kRepErrPolicy, "no"),
            Hex("0003e889045565a9 00000007 80000002 00000002 6e6f"));
}

TEST(ProtocolGolden, RepServer) {
  EXPECT_EQ(EncodeRepServer("r0"),
            Hex("0003e889045565a9 00000003 00000002 00000006 00000002 7230"));
}

TEST(ProtocolGolden, InfoExport) {
  EXPECT_EQ(EncodeInfoExport(kOptGo, 0x100000, 0x016d),
            Hex("0003e889045565a9 00000007 00000003 0000000c 0000 0000000000100000 016d"));
}

TEST(ProtocolGolden, InfoBlockSize) {
  EXPECT_EQ(EncodeInfoBlockSize(kOptInfo, 512, 4096, 32 << 20),
            Hex("0003e889045565a9 00000006 00000003 0000000e 0003 00000200 00001000 02000000"));
}

TEST(ProtocolGolden, InfoName) {
  EXPECT_EQ(EncodeInfoName(kOptGo, "r0/0"),
            Hex("0003e889045565a9 00000007 00000003 00000006 0001 72302f30"));
}

TEST(ProtocolGolden, ExportNameReplyWithAndWithoutZeroes) {
  EXPECT_EQ(EncodeExportNameReply(0x200, 0x0003, true), Hex("0000000000000200 0003"));
  Bytes padded = EncodeExportNameReply(0x200, 0x0003, false);
  ASSERT_EQ(padded.size(), kExportNameReplySize + 124);
  EXPECT_EQ(Bytes(padded.begin() + 10, padded.end()), Bytes(124, 0));
}

TEST(ProtocolGolden, SimpleReply) {
  EXPECT_EQ(EncodeSimpleReply(kEinval, 0x0102030405060708),
            Hex("67446698 00000016 0102030405060708"));
}

TEST(ProtocolGolden, ChunkNone) {
  EXPECT_EQ(EncodeChunkNone(7), Hex("668e33ef 0001 0000 0000000000000007 00000000"));
}

TEST(ProtocolGolden, ChunkError) {
  EXPECT_EQ(EncodeChunkError(7, kEio, "bad"),
            Hex("668e33ef 0001 8001 0000000000000007 00000009 00000005 0003 626164"));
}

TEST(ProtocolGolden, ChunkOffsetDataHeader) {
  EXPECT_EQ(EncodeChunkOffsetDataHeader(7, 0x1000, 512, true),
            Hex("668e33ef 0001 0001 0000000000000007 00000208 0000000000001000"));
}

TEST(ProtocolGolden, RequestRoundTrip) {
  Request r{kCmdFlagFua, kCmdWrite, 0xdeadbeef, 0x2000, 0x1000};
  Bytes b = EncodeRequest(r);
  EXPECT_EQ(b, Hex("25609513 0001 0001 00000000deadbeef 0000000000002000 00001000"));
  auto d = DecodeRequest(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->flags, r.flags);
  EXPECT_EQ(d->type, r.type);
  EXPECT_EQ(d->cookie, r.cookie);
  EXPECT_EQ(d->offset, r.offset);
  EXPECT_EQ(d->length, r.length);
}

TEST(ProtocolGolden, OptionHeaderRoundTrip) {
  Bytes b = EncodeOption(kOptList, {});
  EXPECT_EQ(b, Hex("49484156454f5054 00000003 00000000"));
  auto h = DecodeOptionHeader(b);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->option, kOptList);
  EXPECT_EQ(h->length, 0u);
}

TEST(ProtocolGolden, InfoRequestRoundTrip) {
  InfoRequest r{"r0/0", {kInfoBlockSize, kInfoName}};
  Bytes b = EncodeInfoRequest(r);
  EXPECT_EQ(b, Hex("00000004 72302f30 0002 0003 0001"));
  auto d = DecodeInfoRequest(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->name, "r0/0");
  EXPECT_EQ(d->info_types, (std::vector<uint16_t>{kInfoBlockSize, kInfoName}));
}

TEST(ProtocolDecode, ClientFlags) {
  auto ok = DecodeClientFlags(Hex("00000003"), kFlagFixedNewstyle | kFlagNoZeroes);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3u);
  EXPECT_EQ(DecodeClientFlags(Hex("00000004"), kFlagFixedNewstyle).code(), Errc::kUnsupported);
  // NO_ZEROES is only valid when the server offered it.
  EXPECT_EQ(DecodeClientFlags(Hex("00000002"), kFlagFixedNewstyle).code(), Errc::kUnsupported);
  EXPECT_EQ(DecodeClientFlags(Hex("0000"), kFlagFixedNewstyle).code(), Errc::kTruncated);
}

TEST(ProtocolDecode, OptionHeaderBadMagic) {
  auto h = DecodeOptionHeader(Hex("49484156454f5055 00000003 00000000"));
  EXPECT_EQ(h.code(), Errc::kCorrupt);
  EXPECT_NE(h.error().message.find("magic"), std::string::npos);
}

TEST(ProtocolDecode, OptionHeaderTruncated) {
  EXPECT_EQ(DecodeOptionHeader(Hex("49484156454f5054 0000")).code(), Errc::kTruncated);
}

TEST(ProtocolDecode, OptionHeaderReportsOversizedLengthAsSent) {
  auto h = DecodeOptionHeader(Hex("49484156454f5054 00000007 ffffffff"));
  ASSERT_TRUE(h.ok());
  EXPECT_GT(h->length, kMaxOptionDataBytes);
}

TEST(ProtocolDecode, InfoRequestMalformed) {
  EXPECT_EQ(DecodeInfoRequest(Hex("0000")).code(), Errc::kInvalidArgument);
  // Name longer than the data.
  EXPECT_EQ(DecodeInfoRequest(Hex("00000010 7230 0000")).code(), Errc::kInvalidArgument);
  // Name length near 2^32 must not overflow.
  EXPECT_EQ(DecodeInfoRequest(Hex("fffffffe 7230 0000")).code(), Errc::kInvalidArgument);
  // Request count disagrees with the remaining bytes.
  EXPECT_EQ(DecodeInfoRequest(Hex("00000000 0002 0003")).code(), Errc::kInvalidArgument);
  EXPECT_EQ(DecodeInfoRequest(Hex("00000000 0000 00")).code(), Errc::kInvalidArgument);
  EXPECT_TRUE(DecodeInfoRequest(Hex("00000000 0000")).ok());  // default export, no requests
}

TEST(ProtocolDecode, RequestBadMagicAndTruncated) {
  Bytes b = EncodeRequest({0, kCmdRead, 1, 0, 512});
  b[0] ^= 1;
  EXPECT_EQ(DecodeRequest(b).code(), Errc::kCorrupt);
  b.pop_back();
  EXPECT_EQ(DecodeRequest(b).code(), Errc::kTruncated);
}

TEST(ProtocolDecode, OversizedWritePayloadIsAViolation) {
  EXPECT_TRUE(CheckPayloadLength({0, kCmdWrite, 1, 0, kMaxPayloadBytes}).ok());
  EXPECT_EQ(CheckPayloadLength({0, kCmdWrite, 1, 0, kMaxPayloadBytes + 1}).code(),
            Errc::kInvalidArgument);
  // Only WRITE carries a payload.
  EXPECT_TRUE(CheckPayloadLength({0, kCmdRead, 1, 0, 0xffffffff}).ok());
}

TEST(ProtocolDecode, ReplyDecoderHandlesBoth) {
  size_t used = 0;
  auto simple = DecodeReply(EncodeSimpleReply(kEio, 3), &used);
  ASSERT_TRUE(simple.ok());
  EXPECT_FALSE(simple->structured);
  EXPECT_EQ(simple->error, kEio);
  EXPECT_EQ(used, kSimpleReplyHeaderSize);
  auto err = DecodeReply(EncodeChunkError(4, kEinval, "x"), &used);
  ASSERT_TRUE(err.ok());
  EXPECT_TRUE(err->structured);
  EXPECT_EQ(err->error, kEinval);
  EXPECT_EQ(DecodeReply(Hex("668e33ef 0001"), &used).code(), Errc::kTruncated);
  EXPECT_EQ(DecodeReply(Hex("11223344"), &used).code(), Errc::kCorrupt);
}

TEST(ProtocolCheck, ValidRequestsPass) {
  Session s = FullSession();
  EXPECT_EQ(CheckRequest({0, kCmdRead, 1, 0, 4096}, s).error, 0u);
  EXPECT_EQ(CheckRequest({kCmdFlagFua, kCmdWrite, 1, 512, 512}, s).error, 0u);
  EXPECT_EQ(CheckRequest({0, kCmdFlush, 1, 0, 0}, s).error, 0u);
  EXPECT_EQ(CheckRequest({0, kCmdTrim, 1, 0, 1 << 20}, s).error, 0u);
  EXPECT_EQ(CheckRequest({kCmdFlagNoHole | kCmdFlagFua, kCmdWriteZeroes, 1, 0, 4096}, s).error, 0u);
  EXPECT_EQ(CheckRequest({0, kCmdRead, 1, (1 << 20) - 512, 512}, s).error, 0u);
}

TEST(ProtocolCheck, UnknownCommandIsEinval) {
  RequestCheck c = CheckRequest({0, 42, 1, 0, 512}, FullSession());
  EXPECT_EQ(c.error, kEinval);
  EXPECT_NE(c.message.find("unsupported command 42"), std::string::npos);
  EXPECT_EQ(CheckRequest({0, kCmdBlockStatus, 1, 0, 512}, FullSession()).error, kEinval);
  EXPECT_EQ(CheckRequest({0, kCmdCache, 1, 0, 512}, FullSession()).error, kEinval);
}

TEST(ProtocolCheck, BeyondTheEnd) {
  Session s = FullSession();
  EXPECT_EQ(CheckRequest({0, kCmdRead, 1, 1 << 20, 512}, s).error, kEinval);
  EXPECT_EQ(CheckRequest({0, kCmdTrim, 1, (1 << 20) - 512, 1024}, s).error, kEinval);
  EXPECT_EQ(CheckRequest({0, kCmdWrite, 1, 1 << 20, 512}, s).error, kEnospc);
  EXPECT_EQ(CheckRequest({0, kCmdWriteZeroes, 1, 1 << 20, 512}, s).error, kEnospc);
  // offset + length overflowing 64 bits is still "beyond the end".
  EXPECT_EQ(CheckRequest({0, kCmdRead, 1, 0xfffffffffffffe00, 1024}, s).error, kEinval);
}

TEST(ProtocolCheck, Misaligned) {
  Session s = FullSession();
  EXPECT_EQ(CheckRequest({0, kCmdRead, 1, 1, 512}, s).error, kEinval);
  EXPECT_EQ(CheckRequest({0, kCmdWrite, 1, 0, 100}, s).error, kEinval);
  EXPECT_EQ(CheckRequest({0, kCmdTrim, 1, 256, 512}, s).error, kEinval);
}

TEST(ProtocolCheck, FlagsMustBeValidForTheCommand) {
  Session s = FullSession();
  EXPECT_EQ(CheckRequest({kCmdFlagNoHole, kCmdWrite, 1, 0, 512}, s).error, kEinval);
  EXPECT_EQ(CheckRequest({kCmdFlagDf, kCmdRead, 1, 0, 512}, s).error, kEinval);
  EXPECT_EQ(CheckRequest({kCmdFlagFastZero, kCmdWriteZeroes, 1, 0, 512}, s).error, kEinval);
  EXPECT_EQ(CheckRequest({0x8000, kCmdRead, 1, 0, 512}, s).error, kEinval);
  // FUA is accepted on any command once SEND_FUA is advertised...
  EXPECT_EQ(CheckRequest({kCmdFlagFua, kCmdRead, 1, 0, 512}, s).error, 0u);
  // ...and refused without it.
  s.transmission_flags &= ~kFlagSendFua;
  EXPECT_EQ(CheckRequest({kCmdFlagFua, kCmdWrite, 1, 0, 512}, s).error, kEinval);
}

TEST(ProtocolCheck, UnadvertisedCommandsAreEinval) {
  Session s = FullSession();
  s.transmission_flags = kFlagHasFlags;
  EXPECT_EQ(CheckRequest({0, kCmdFlush, 1, 0, 0}, s).error, kEinval);
  EXPECT_EQ(CheckRequest({0, kCmdTrim, 1, 0, 512}, s).error, kEinval);
  EXPECT_EQ(CheckRequest({0, kCmdWriteZeroes, 1, 0, 512}, s).error, kEinval);
}

TEST(ProtocolCheck, FlushWithOffsetIsEinval) {
  EXPECT_EQ(CheckRequest({0, kCmdFlush, 1, 512, 0}, FullSession()).error, kEinval);
}

TEST(ProtocolCheck, OversizedReadIsEinval) {
  Session s = FullSession();
  s.export_size = uint64_t{1} << 30;
  EXPECT_EQ(CheckRequest({0, kCmdRead, 1, 0, kMaxPayloadBytes}, s).error, 0u);
  EXPECT_EQ(CheckRequest({0, kCmdRead, 1, 0, kMaxPayloadBytes + 512}, s).error, kEinval);
  // Commands without payload may be larger.
  EXPECT_EQ(CheckRequest({0, kCmdTrim, 1, 0, kMaxPayloadBytes + 512}, s).error, 0u);
}

TEST(ProtocolCheck, WritesOnReadOnlyAreEperm) {
  Session s = FullSession(/*read_only=*/true);
  EXPECT_EQ(CheckRequest({0, kCmdWrite, 1, 0, 512}, s).error, kEperm);
  EXPECT_EQ(CheckRequest({0, kCmdTrim, 1, 0, 512}, s).error, kEperm);
  EXPECT_EQ(CheckRequest({0, kCmdWriteZeroes, 1, 0, 512}, s).error, kEperm);
  EXPECT_EQ(CheckRequest({0, kCmdRead, 1, 0, 512}, s).error, 0u);
}

class FakeExport : public BlockExport {
 public:
  uint64_t SizeBytes() const override { return 1 << 20; }
  bool CanTrim() const override { return trim; }
  bool CanFlush() const override { return flush; }
  bool CanMultiConn() const override { return multi; }
  void Open(OpenMode, std::function<void(OpenResult)>) override {}
  void Close(OpenMode) override {}
  void Submit(BlockRequest, std::function<void(BlockResult)>) override {}
  void Post(std::function<void()>) override {}
  bool trim = true, flush = true, multi = true;
};

TEST(ProtocolFlags, ReadWrite) {
  FakeExport e;
  EXPECT_EQ(TransmissionFlags(e, OpenMode::kReadWrite),
            kFlagHasFlags | kFlagSendFlush | kFlagSendFua | kFlagSendTrim | kFlagSendWriteZeroes |
                kFlagCanMultiConn);
}

TEST(ProtocolFlags, ReadOnlyAdvertisesNoWriteFeatures) {
  FakeExport e;
  EXPECT_EQ(TransmissionFlags(e, OpenMode::kReadOnly),
            kFlagHasFlags | kFlagReadOnly | kFlagSendFlush | kFlagCanMultiConn);
}

TEST(ProtocolFlags, FollowTheExport) {
  FakeExport e;
  e.trim = false;
  e.flush = false;
  e.multi = false;
  EXPECT_EQ(TransmissionFlags(e, OpenMode::kReadWrite), kFlagHasFlags | kFlagSendWriteZeroes);
}

TEST(ProtocolErrors, ErrnoMapping) {
  EXPECT_EQ(ErrnoToNbdError(0), 0u);
  EXPECT_EQ(ErrnoToNbdError(EROFS), kEperm);
  EXPECT_EQ(ErrnoToNbdError(EIO), kEio);
  EXPECT_EQ(ErrnoToNbdError(EDQUOT), kEnospc);
  EXPECT_EQ(ErrnoToNbdError(EFBIG), kEnospc);
  EXPECT_EQ(ErrnoToNbdError(EOPNOTSUPP), kEnotsup);
  EXPECT_EQ(ErrnoToNbdError(ESHUTDOWN), kEshutdown);
  EXPECT_EQ(ErrnoToNbdError(ETIMEDOUT), kEio);
}

TEST(ProtocolStrings, MessagesAreCut) {
  std::string long_message(10000, 'x');
  Bytes b = EncodeOptionError(kOptGo, kRepErrPolicy, long_message);
  EXPECT_EQ(b.size(), kOptionReplyHeaderSize + kMaxStringBytes);
  Bytes c = EncodeChunkError(1, kEio, long_message);
  EXPECT_EQ(c.size(), kStructuredReplyHeaderSize + 6 + kMaxStringBytes);
}

}  // namespace
}  // namespace tandem::nbd
