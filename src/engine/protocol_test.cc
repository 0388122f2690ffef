// Tests of the replication protocol's encoding: every message round-trips,
// golden frames match docs/replication-protocol.md byte for byte, and every
// malformed input is rejected with the documented error code.
#include "engine/protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "common/bytes.h"

namespace tandem::engine {
namespace {

// --- helpers -------------------------------------------------------------------

// Parses hex digits, ignoring whitespace: golden frames are written as in the doc.
Bytes FromHex(std::string_view hex) {
  Bytes out;
  int nibbles = 0;
  uint8_t cur = 0;
  for (char c : hex) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10;
    cur = static_cast<uint8_t>(cur << 4 | v);
    if (++nibbles % 2 == 0) {
      out.push_back(cur);
      cur = 0;
    }
  }
  EXPECT_EQ(nibbles % 2, 0) << "odd number of hex digits";
  return out;
}

Bytes Sequence(size_t n, uint8_t first = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(first + i);
  return b;
}

// Renders every field of a message as text, independently of the codec under
// test, so that decoded messages can be compared with the originals.
class FieldPrinter {
 public:
  template <class T>
  void operator()(const T& v) {
    if constexpr (std::is_integral_v<T>) {
      out.push_back(std::to_string(+v));
    } else if constexpr (std::is_same_v<T, std::string>) {
      out.push_back("s:" + v);
    } else if constexpr (std::is_same_v<T, Bytes>) {
      out.push_back("b:" + HexDump(v));
    } else if constexpr (std::is_same_v<T, SharedBytes>) {
      out.push_back(v ? "p:" + HexDump(*v) : "p:null");
    } else {
      std::string s = "v:";
      for (uint64_t x : v) s += std::to_string(x) + ",";
      out.push_back(s);
    }
  }
  std::vector<std::string> out;
};

template <class T>
std::vector<std::string> FieldsOf(T msg) {
  FieldPrinter p;
  msg.Fields(p);
  return p.out;
}

std::vector<std::string> FieldsOf(const Message& m) {
  return std::visit([](const auto& msg) { return FieldsOf(msg); }, m);
}

// Gives every field of a message a distinct value that differs from the
// struct's default and exercises every byte of the encoding (high bits set,
// negative int8_t, non-empty strings, byte strings and lists).
class FieldFiller {
 public:
  template <class T>
  void operator()(T& v) {
    ++n_;
    if constexpr (std::is_same_v<T, int8_t>) {
      v = static_cast<int8_t>(-n_);
    } else if constexpr (std::is_integral_v<T>) {
      // 0xA1, 0xA2... for bytes; longer integers get a pattern in every byte.
      uint64_t pattern = 0xA0A1A2A3A4A5A6A0ull + static_cast<uint64_t>(n_);
      v = static_cast<T>(pattern);
    } else if constexpr (std::is_same_v<T, std::string>) {
      v = "field-" + std::to_string(n_);
    } else if constexpr (std::is_same_v<T, Bytes>) {
      v = Sequence(static_cast<size_t>(n_) + 3, static_cast<uint8_t>(0xF0 + n_));
    } else if constexpr (std::is_same_v<T, SharedBytes>) {
      v = MakeShared(Sequence(static_cast<size_t>(n_) + 5, static_cast<uint8_t>(0x80 + n_)));
    } else {
      v = {0x8000000000000001ull + static_cast<uint64_t>(n_), 2, 0xFFFFFFFFFFFFFFFFull};
    }
  }

 private:
  int n_ = 0;
};

template <class T>
T Filled() {
  T msg;
  FieldFiller f;
  msg.Fields(f);
  return msg;
}

Result<Message> RoundTrip(const Message& m) { return Decode(Encode(m)); }

// The message summary table of docs/replication-protocol.md §7: type number,
// name, and body size with every variable-length field empty.
struct SpecType {
  uint16_t number;
  std::string name;
  size_t empty_body;
};
const std::vector<SpecType> kSpecTypes = {
    {1, "Hello", 21},          {2, "AuthResponse", 4},  {10, "Params", 6},
    {11, "Sizes", 18},         {12, "Uuids", 35},       {13, "State", 33},
    {20, "TwopcPrepare", 15},  {21, "TwopcReply", 38},  {22, "TwopcCommit", 28},
    {23, "TwopcAbort", 4},     {30, "Data", 50},        {31, "Barrier", 4},
    {32, "BarrierAck", 8},     {33, "WriteAck", 23},    {34, "OutOfSync", 14},
    {35, "ReadRequest", 22},   {36, "ReadReply", 15},   {40, "Bitmap", 15},
    {41, "ResyncRequest", 32}, {42, "ResyncReply", 19}, {43, "ResyncAck", 15},
    {44, "VerifyRequest", 14}, {45, "VerifyReply", 22}, {46, "VerifyResult", 15},
    {47, "CurrentUuid", 10},   {48, "PeerAck", 20},     {50, "Ping", 0},
    {51, "PingAck", 0},
};

template <size_t... I>
std::set<uint16_t> VariantTypes(std::index_sequence<I...>) {
  return {static_cast<uint16_t>(std::variant_alternative_t<I, Message>::kType)...};
}

// --- every message type ---------------------------------------------------------

template <class>
struct TypesOf;
template <class... T>
struct TypesOf<std::variant<T...>> {
  using type = ::testing::Types<T...>;
};

// Instantiated for every alternative of Message, so a new message is covered
// without touching this file.
template <class T>
class EveryMessage : public ::testing::Test {};
TYPED_TEST_SUITE(EveryMessage, TypesOf<Message>::type);

TYPED_TEST(EveryMessage, SampleSetsEveryFieldToANonDefaultValue) {
  std::vector<std::string> defaults = FieldsOf(TypeParam{});
  std::vector<std::string> sample = FieldsOf(Filled<TypeParam>());
  ASSERT_EQ(defaults.size(), sample.size());
  for (size_t i = 0; i < sample.size(); ++i) EXPECT_NE(defaults[i], sample[i]) << "field " << i;
}

TYPED_TEST(EveryMessage, RoundTripsWithEveryFieldSet) {
  Message m = Filled<TypeParam>();
  Bytes frame = Encode(m);
  Result<Message> back = Decode(frame);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_TRUE(std::holds_alternative<TypeParam>(*back));
  EXPECT_EQ(TypeOf(*back), TypeParam::kType);
  EXPECT_EQ(FieldsOf(*back), FieldsOf(m));
  EXPECT_EQ(Encode(*back), frame);
}

TYPED_TEST(EveryMessage, RoundTripsWithDefaults) {
  Message m = TypeParam{};
  Result<Message> back = RoundTrip(m);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(FieldsOf(*back), FieldsOf(m));
}

TYPED_TEST(EveryMessage, EveryShorterBodyIsTruncated) {
  Bytes frame = Encode(Filled<TypeParam>());
  Result<FrameHeader> h = DecodeHeader(frame);
  ASSERT_TRUE(h.ok());
  ByteSpan body = ByteSpan(frame).subspan(kHeaderSize);
  for (size_t n = 0; n < body.size(); ++n) {
    FrameHeader shorter = *h;
    shorter.length = static_cast<uint32_t>(n);
    EXPECT_EQ(DecodeBody(shorter, body.first(n)).code(), Errc::kTruncated) << "body length " << n;
    EXPECT_EQ(Decode(ByteSpan(frame).first(kHeaderSize + n)).code(), Errc::kTruncated) << n;
  }
}

TYPED_TEST(EveryMessage, TrailingBytesAreCorrupt) {
  Bytes frame = Encode(Filled<TypeParam>());
  // One byte more in the body, and the header's length saying so.
  Bytes longer = frame;
  longer.push_back(0);
  uint32_t len = 0;
  std::memcpy(&len, longer.data() + 8, 4);
  ++len;
  std::memcpy(longer.data() + 8, &len, 4);
  Result<Message> r = Decode(longer);
  EXPECT_EQ(r.code(), Errc::kCorrupt);
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("trailing bytes"));
  // One byte more in the buffer than the header announces.
  Bytes extra = frame;
  extra.push_back(0);
  EXPECT_EQ(Decode(extra).code(), Errc::kCorrupt);
}

TEST(MessageTypes, MatchTheSpecification) {
  std::set<uint16_t> spec;
  for (const SpecType& t : kSpecTypes) {
    spec.insert(t.number);
    EXPECT_STREQ(MsgTypeName(static_cast<MsgType>(t.number)), t.name.c_str());
  }
  EXPECT_EQ(VariantTypes(std::make_index_sequence<std::variant_size_v<Message>>()), spec);
  EXPECT_EQ(std::variant_size_v<Message>, kSpecTypes.size());
  EXPECT_STREQ(MsgTypeName(static_cast<MsgType>(99)), "Unknown");
}

TEST(MessageTypes, TypeOfNamesTheAlternative) {
  EXPECT_EQ(TypeOf(Message(Data{})), MsgType::kData);
  EXPECT_EQ(TypeOf(Message(BitmapMsg{})), MsgType::kBitmap);
  EXPECT_EQ(TypeOf(Message(PingAck{})), MsgType::kPingAck);
}

TEST(MessageTypes, AcksPingsAndRepliesTravelOnTheControlStream) {
  const std::set<MsgType> control = {MsgType::kTwopcReply, MsgType::kBarrierAck, MsgType::kWriteAck,
                                     MsgType::kResyncAck,  MsgType::kPing,       MsgType::kPingAck};
  for (const SpecType& spec : kSpecTypes) {
    MsgType t = static_cast<MsgType>(spec.number);
    EXPECT_EQ(StreamFor(t), control.count(t) ? StreamKind::kControl : StreamKind::kData)
        << spec.name;
  }
}

// Encodes the default-constructed alternative I if its type is `t`.
template <size_t... I>
Bytes EncodeDefault(MsgType t, std::index_sequence<I...>) {
  Bytes out;
  ((std::variant_alternative_t<I, Message>::kType == t
        ? (void)(out = Encode(std::variant_alternative_t<I, Message>{}))
        : (void)0),
   ...);
  return out;
}

TEST(MessageTypes, EmptyBodySizesMatchTheSpecification) {
  for (const SpecType& spec : kSpecTypes) {
    Bytes frame = EncodeDefault(static_cast<MsgType>(spec.number),
                                std::make_index_sequence<std::variant_size_v<Message>>());
    ASSERT_GE(frame.size(), kHeaderSize) << spec.name;
    EXPECT_EQ(frame.size() - kHeaderSize, spec.empty_body) << spec.name;
  }
}

// --- golden frames (docs/replication-protocol.md, "Golden bytes") ---------------

TEST(GoldenBytes, Ping) {
  EXPECT_EQ(Encode(Ping{}), FromHex("31444e54 0100 3200 00000000 00000000"));
}

TEST(GoldenBytes, Barrier) {
  EXPECT_EQ(Encode(Barrier{.epoch = 7}), FromHex("31444e54 0100 1f00 04000000 00000000"
                                                 "07000000"));
}

Data GoldenData() {
  Data d;
  d.vnr = 1;
  d.id = 0x1122334455667788;
  d.offset = 4096;
  d.length = 8;
  d.dagtag = 16;
  d.flags = kDpFua | kDpWantAck;
  d.epoch = 7;
  d.receivers = 0x6;
  d.payload = MakeShared(Bytes{'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'});
  return d;
}

TEST(GoldenBytes, Data) {
  EXPECT_EQ(Encode(GoldenData()),
            FromHex("31444e54 0100 1e00 3a000000 00000000"
                    "0100"                          // vnr
                    "8877665544332211"              // id
                    "0010000000000000"              // offset 4096
                    "08000000"                      // length
                    "1000000000000000"              // dagtag
                    "11000000"                      // flags FUA | WANT_ACK
                    "07000000"                      // epoch
                    "0600000000000000"              // receivers: nodes 1 and 2
                    "08000000 4142434445464748"));  // payload
}

TEST(GoldenBytes, TwopcPrepare) {
  TwopcPrepare p{.tid = 0x01020304,
                 .initiator = 2,
                 .kind = static_cast<uint8_t>(TwopcKind::kResize),
                 .target = 0xff,
                 .param = 1ull << 30};
  EXPECT_EQ(Encode(p), FromHex("31444e54 0100 1400 0f000000 00000000"
                               "04030201 02 04 ff 0000004000000000"));
}

TEST(GoldenBytes, Hello) {
  Hello h;
  h.node_id = 1;
  h.peer_node_id = 2;
  h.stream = static_cast<uint8_t>(StreamKind::kData);
  h.resource = "r0";
  h.challenge = Sequence(32);
  EXPECT_EQ(Encode(h), FromHex("31444e54 0100 0100 37000000 00000000"
                               "0100 0100 1f00000000000000 01 02 00"
                               "0200 7230"
                               "20000000 000102030405060708090a0b0c0d0e0f"
                               "101112131415161718191a1b1c1d1e1f"));
}

TEST(GoldenBytes, State) {
  State s;
  s.role = 1;  // Primary
  s.flags = kStateQuorum;
  s.disks = {9, 9};  // UpToDate, UpToDate
  s.connected_mask = 0x6;
  s.primary_mask = 0x2;
  s.dagtag = 0x10;
  EXPECT_EQ(Encode(s), FromHex("31444e54 0100 0d00 23000000 00000000"
                               "01 01000000 02000000 0909 0600000000000000"
                               "0200000000000000 1000000000000000"));
}

TEST(GoldenBytes, DecodeGivesBackTheMessage) {
  Result<Message> m = Decode(Encode(GoldenData()));
  ASSERT_TRUE(m.ok());
  const Data& d = std::get<Data>(*m);
  EXPECT_EQ(d.id, 0x1122334455667788u);
  EXPECT_EQ(d.flags, uint32_t{kDpFua | kDpWantAck});
  ASSERT_TRUE(d.payload);
  EXPECT_EQ(*d.payload, (Bytes{'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'}));
}

// --- field encodings -------------------------------------------------------------

TEST(Fields, NullAndEmptyPayloadBothDecodeToNull) {
  Data d;
  d.payload = nullptr;
  Bytes null_frame = Encode(d);
  d.payload = MakeShared({});
  EXPECT_EQ(Encode(d), null_frame);
  Result<Message> m = Decode(null_frame);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<Data>(*m).payload, nullptr);
}

TEST(Fields, NegativeInt8RoundTrips) {
  TwopcReply r;
  r.code = -9;
  Result<Message> m = RoundTrip(r);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<TwopcReply>(*m).code, -9);
}

TEST(Fields, StringOfMaximumLengthRoundTrips) {
  Hello h;
  h.resource = std::string(4096, 'x');
  Result<Message> m = RoundTrip(h);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<Hello>(*m).resource, h.resource);
}

TEST(Fields, LongerStringIsCorruptOnDecode) {
  // Hello{} with the resource length patched to 4097 and the bytes present.
  Bytes frame = Encode(Hello{});
  const size_t str_pos = kHeaderSize + 2 + 2 + 8 + 3;
  ASSERT_EQ(frame[str_pos], 0);
  frame[str_pos] = 0x01;
  frame[str_pos + 1] = 0x10;  // 0x1001 = 4097
  frame.insert(frame.begin() + str_pos + 2, 4097, 'x');
  uint32_t len = static_cast<uint32_t>(frame.size() - kHeaderSize);
  std::memcpy(frame.data() + 8, &len, 4);
  EXPECT_EQ(Decode(frame).code(), Errc::kCorrupt);
}

TEST(FieldsDeathTest, LongerStringIsACheckFailureOnEncode) {
  Hello h;
  h.resource = std::string(4097, 'x');
  EXPECT_DEATH(Encode(h), "string field too long");
}

TEST(Fields, U64ListLongerThan4096IsCorrupt) {
  Uuids u;
  u.history.assign(4096, 5);
  Bytes frame = Encode(u);
  ASSERT_TRUE(Decode(frame).ok());
  // The history count sits after vnr, current and the empty bitmap_uuids list.
  const size_t count_pos = kHeaderSize + 2 + 8 + 4;
  uint32_t count = 4097;
  std::memcpy(frame.data() + count_pos, &count, 4);
  frame.insert(frame.begin() + count_pos + 4, 8, 0);
  uint32_t len = static_cast<uint32_t>(frame.size() - kHeaderSize);
  std::memcpy(frame.data() + 8, &len, 4);
  EXPECT_EQ(Decode(frame).code(), Errc::kCorrupt);
}

TEST(Fields, HugeBlobLengthIsTruncatedNotAnAllocation) {
  Bytes frame = Encode(AuthResponse{});
  frame[kHeaderSize + 3] = 0xff;  // hmac length 0xff000000
  EXPECT_EQ(Decode(frame).code(), Errc::kTruncated);
}

TEST(Fields, EncodeToAppends) {
  Bytes out = {0xaa};
  EncodeTo(Ping{}, &out);
  EncodeTo(Barrier{.epoch = 1}, &out);
  ASSERT_EQ(out.size(), 1 + kHeaderSize + kHeaderSize + 4);
  EXPECT_EQ(out[0], 0xaa);
  EXPECT_TRUE(Decode(ByteSpan(out).subspan(1, kHeaderSize)).ok());
  EXPECT_TRUE(Decode(ByteSpan(out).subspan(1 + kHeaderSize)).ok());
}

// --- header validation -----------------------------------------------------------

class Header : public ::testing::Test {
 protected:
  Bytes frame_ = Encode(Barrier{.epoch = 7});
  void PutU16(size_t pos, uint16_t v) { std::memcpy(frame_.data() + pos, &v, 2); }
  void PutU32(size_t pos, uint32_t v) { std::memcpy(frame_.data() + pos, &v, 4); }
};

TEST_F(Header, ValidHeaderParses) {
  Result<FrameHeader> h = DecodeHeader(frame_);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->version, kProtoVersion);
  EXPECT_EQ(h->type, MsgType::kBarrier);
  EXPECT_EQ(h->length, 4u);
}

TEST_F(Header, ShortHeaderIsTruncated) {
  for (size_t n = 0; n < kHeaderSize; ++n) {
    EXPECT_EQ(DecodeHeader(ByteSpan(frame_).first(n)).code(), Errc::kTruncated) << n;
    EXPECT_EQ(Decode(ByteSpan(frame_).first(n)).code(), Errc::kTruncated) << n;
  }
}

TEST_F(Header, BadMagicIsCorrupt) {
  frame_[0] ^= 0x01;
  EXPECT_EQ(DecodeHeader(frame_).code(), Errc::kCorrupt);
  EXPECT_EQ(Decode(frame_).code(), Errc::kCorrupt);
}

TEST_F(Header, OtherVersionIsUnsupported) {
  for (uint16_t v : {0, 2, 0xffff}) {
    PutU16(4, v);
    EXPECT_EQ(DecodeHeader(frame_).code(), Errc::kUnsupported) << v;
    EXPECT_EQ(Decode(frame_).code(), Errc::kUnsupported) << v;
  }
}

TEST_F(Header, OversizeBodyIsCorrupt) {
  PutU32(8, kMaxBodySize);
  EXPECT_TRUE(DecodeHeader(frame_).ok());
  PutU32(8, kMaxBodySize + 1);
  Result<FrameHeader> h = DecodeHeader(frame_);
  EXPECT_EQ(h.code(), Errc::kCorrupt);
  EXPECT_THAT(h.error().message, ::testing::HasSubstr("frame too large"));
}

TEST_F(Header, NonzeroReservedIsCorrupt) {
  PutU32(12, 1);
  EXPECT_EQ(DecodeHeader(frame_).code(), Errc::kCorrupt);
  EXPECT_EQ(Decode(frame_).code(), Errc::kCorrupt);
}

TEST_F(Header, UnknownTypeIsCorrupt) {
  for (uint16_t t : {0, 3, 24, 37, 52, 0xffff}) {
    PutU16(6, t);
    EXPECT_EQ(DecodeHeader(frame_).code(), Errc::kCorrupt) << t;
  }
}

TEST_F(Header, BodyForAnUnknownTypeIsCorrupt) {
  FrameHeader h{.version = kProtoVersion, .type = static_cast<MsgType>(99), .length = 0};
  EXPECT_EQ(DecodeBody(h, {}).code(), Errc::kCorrupt);
}

TEST_F(Header, BodyOfAnotherLengthThanTheHeaderSaysIsRejected) {
  FrameHeader h{.version = kProtoVersion, .type = MsgType::kBarrier, .length = 4};
  Bytes body = {7, 0, 0, 0, 0};
  EXPECT_EQ(DecodeBody(h, body).code(), Errc::kInvalidArgument);
  EXPECT_TRUE(DecodeBody(h, ByteSpan(body).first(4)).ok());
}

TEST_F(Header, HeaderIsCheckedBeforeTheBody) {
  frame_.resize(kHeaderSize + 2);  // short body and a bad magic: the magic wins
  frame_[0] = 0;
  EXPECT_EQ(Decode(frame_).code(), Errc::kCorrupt);
}

// --- handshake authentication -----------------------------------------------------

TEST(Auth, MatchesKnownAnswer) {
  // printf '\x00\x01...\x1f\x02\x01' | openssl dgst -sha256 -mac HMAC -macopt key:secret
  // (challenge 00..1f, node id 2, stream 1).
  Bytes mac = ComputeAuth("secret", Sequence(32), 2, 1);
  EXPECT_EQ(mac, FromHex("8a4c3382a39766a62866888dbf3e8d4e68d8bab75f59964bfd44d53693be253c"));
}

TEST(Auth, VerifyAcceptsTheRightAnswer) {
  Bytes challenge = Sequence(32, 0x40);
  Bytes mac = ComputeAuth("s3cr3t", challenge, 3, 0);
  EXPECT_TRUE(VerifyAuth("s3cr3t", challenge, 3, 0, mac));
}

TEST(Auth, VerifyRejectsWrongSecretNodeStreamChallengeOrLength) {
  Bytes challenge = Sequence(32, 0x40);
  Bytes mac = ComputeAuth("s3cr3t", challenge, 3, 0);
  EXPECT_FALSE(VerifyAuth("s3cr3T", challenge, 3, 0, mac));
  EXPECT_FALSE(VerifyAuth("s3cr3t", challenge, 4, 0, mac));
  EXPECT_FALSE(VerifyAuth("s3cr3t", challenge, 3, 1, mac));
  EXPECT_FALSE(VerifyAuth("s3cr3t", Sequence(32, 0x41), 3, 0, mac));
  EXPECT_FALSE(VerifyAuth("s3cr3t", challenge, 3, 0, ByteSpan(mac).first(31)));
  EXPECT_FALSE(VerifyAuth("s3cr3t", challenge, 3, 0, {}));
  Bytes flipped = mac;
  flipped[31] ^= 1;
  EXPECT_FALSE(VerifyAuth("s3cr3t", challenge, 3, 0, flipped));
}

TEST(Auth, EmptySecretStillAuthenticates) {
  Bytes mac = ComputeAuth("", Sequence(32), 0, 0);
  EXPECT_EQ(mac.size(), 32u);
  EXPECT_TRUE(VerifyAuth("", Sequence(32), 0, 0, mac));
  EXPECT_FALSE(VerifyAuth("x", Sequence(32), 0, 0, mac));
}

}  // namespace
}  // namespace tandem::engine
