// The replication protocol's byte encoding. Every message is encoded by one
// generic field codec driven by the struct's Fields(): adding a message means
// adding a struct to protocol.h and a line to MsgTypeName/StreamFor, nothing
// here. The prose specification is docs/replication-protocol.md.
#include "engine/protocol.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "common/check.h"

namespace tandem::engine {
namespace {

// Longest std::string field (resource names and the like).
constexpr size_t kMaxStringSize = 4096;
// Most entries a std::vector<uint64_t> field may hold (UUID history, bitmap
// UUIDs). Bounds what a hostile peer can make us allocate per field.
constexpr size_t kMaxU64Count = 4096;
constexpr size_t kHmacSize = 32;  // SHA-256

constexpr size_t kNumTypes = std::variant_size_v<Message>;

// False for every T; makes the static_assert below depend on the field type.
template <class>
struct UnsupportedField : std::false_type {};

// Appends fields to a body. Only reads the message, although Fields() hands
// it non-const references (see EncodeTo).
class FieldEncoder {
 public:
  explicit FieldEncoder(ByteWriter* w) : w_(w) {}

  template <class T>
  void operator()(const T& v) {
    if constexpr (std::is_same_v<T, uint8_t>) {
      w_->U8(v);
    } else if constexpr (std::is_same_v<T, int8_t>) {
      w_->U8(static_cast<uint8_t>(v));
    } else if constexpr (std::is_same_v<T, uint16_t>) {
      w_->U16(v);
    } else if constexpr (std::is_same_v<T, uint32_t>) {
      w_->U32(v);
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      w_->U64(v);
    } else if constexpr (std::is_same_v<T, std::string>) {
      TANDEM_CHECK_MSG(v.size() <= kMaxStringSize, "protocol string field too long");
      w_->Str(v);
    } else if constexpr (std::is_same_v<T, Bytes>) {  // also std::vector<uint8_t>
      Blob(v);
    } else if constexpr (std::is_same_v<T, SharedBytes>) {
      if (v) {
        Blob(*v);
      } else {
        w_->U32(0);
      }
    } else if constexpr (std::is_same_v<T, std::vector<uint64_t>>) {
      TANDEM_CHECK_MSG(v.size() <= kMaxU64Count, "protocol u64 list too long");
      w_->U32(static_cast<uint32_t>(v.size()));
      for (uint64_t x : v) w_->U64(x);
    } else {
      static_assert(UnsupportedField<T>::value, "field type has no wire encoding");
    }
  }

 private:
  void Blob(const Bytes& b) {
    // The frame limit (checked after the body is built) is far below 4 GiB,
    // so this only guards the cast.
    TANDEM_CHECK(b.size() <= std::numeric_limits<uint32_t>::max());
    w_->U32(static_cast<uint32_t>(b.size()));
    w_->Raw(b);
  }

  ByteWriter* w_;
};

// Reads fields from a body. A short body shows as the reader's sticky failure
// (kTruncated); a structurally invalid field is remembered in corrupt_ and
// stops further decoding. Fields after the first failure are left default.
class FieldDecoder {
 public:
  explicit FieldDecoder(ByteSpan body) : r_(body) {}

  template <class T>
  void operator()(T& v) {
    if (failed()) return;
    if constexpr (std::is_same_v<T, uint8_t>) {
      v = r_.U8();
    } else if constexpr (std::is_same_v<T, int8_t>) {
      v = static_cast<int8_t>(r_.U8());
    } else if constexpr (std::is_same_v<T, uint16_t>) {
      v = r_.U16();
    } else if constexpr (std::is_same_v<T, uint32_t>) {
      v = r_.U32();
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      v = r_.U64();
    } else if constexpr (std::is_same_v<T, std::string>) {
      uint16_t n = r_.U16();
      if (!r_.ok()) return;
      if (n > kMaxStringSize) return Corrupt("string field longer than 4096 bytes");
      ByteSpan s = r_.Raw(n);
      v.assign(s.begin(), s.end());
    } else if constexpr (std::is_same_v<T, Bytes>) {
      ByteSpan s = Blob();
      v.assign(s.begin(), s.end());
    } else if constexpr (std::is_same_v<T, SharedBytes>) {
      ByteSpan s = Blob();
      v = s.empty() ? nullptr : MakeShared(Bytes(s.begin(), s.end()));
    } else if constexpr (std::is_same_v<T, std::vector<uint64_t>>) {
      uint32_t n = r_.U32();
      if (!r_.ok()) return;
      if (n > kMaxU64Count) return Corrupt("u64 list longer than 4096 entries");
      v.clear();
      v.reserve(n);
      for (uint32_t i = 0; i < n && r_.ok(); ++i) v.push_back(r_.U64());
    } else {
      static_assert(UnsupportedField<T>::value, "field type has no wire encoding");
    }
  }

  // The outcome once every field was visited.
  Status Finish() {
    if (corrupt_) return MakeError(Errc::kCorrupt, *corrupt_);
    if (!r_.ok()) return MakeError(Errc::kTruncated, "message body truncated");
    if (!r_.AtEnd()) return MakeError(Errc::kCorrupt, "trailing bytes after message body");
    return {};
  }

 private:
  bool failed() const { return corrupt_.has_value() || !r_.ok(); }
  void Corrupt(std::string why) { corrupt_ = std::move(why); }
  // u32 length + bytes; empty span on failure.
  ByteSpan Blob() {
    uint32_t n = r_.U32();
    if (!r_.ok()) return {};
    return r_.Raw(n);
  }

  ByteReader r_;
  std::optional<std::string> corrupt_;
};

// --- MsgType <-> variant alternative, derived from each struct's kType -------

template <size_t... I>
constexpr std::array<MsgType, sizeof...(I)> MakeTypeTable(std::index_sequence<I...>) {
  return {std::variant_alternative_t<I, Message>::kType...};
}
// kTypeTable[i] is the MsgType of the variant's alternative i.
constexpr auto kTypeTable = MakeTypeTable(std::make_index_sequence<kNumTypes>());

constexpr bool TypesAreUnique() {
  for (size_t i = 0; i < kNumTypes; ++i)
    for (size_t j = i + 1; j < kNumTypes; ++j)
      if (kTypeTable[i] == kTypeTable[j]) return false;
  return true;
}
static_assert(TypesAreUnique(), "two message structs share a MsgType");

// The variant index for a wire type number, or nullopt for an unknown one.
std::optional<size_t> IndexOf(MsgType t) {
  for (size_t i = 0; i < kNumTypes; ++i)
    if (kTypeTable[i] == t) return i;
  return std::nullopt;
}

template <size_t I>
Result<Message> DecodeAlternative(ByteSpan body) {
  std::variant_alternative_t<I, Message> msg;
  FieldDecoder d(body);
  msg.Fields(d);
  Status s = d.Finish();
  if (!s.ok()) return s.error();
  return Message(std::in_place_index<I>, std::move(msg));
}

using DecodeFn = Result<Message> (*)(ByteSpan);
template <size_t... I>
constexpr std::array<DecodeFn, sizeof...(I)> MakeDecoderTable(std::index_sequence<I...>) {
  return {&DecodeAlternative<I>...};
}
constexpr auto kDecoders = MakeDecoderTable(std::make_index_sequence<kNumTypes>());

}  // namespace

MsgType TypeOf(const Message& m) {
  return std::visit([](const auto& msg) { return std::decay_t<decltype(msg)>::kType; }, m);
}

const char* MsgTypeName(MsgType t) {
  switch (t) {
    case MsgType::kHello:
      return "Hello";
    case MsgType::kAuthResponse:
      return "AuthResponse";
    case MsgType::kParams:
      return "Params";
    case MsgType::kSizes:
      return "Sizes";
    case MsgType::kUuids:
      return "Uuids";
    case MsgType::kState:
      return "State";
    case MsgType::kTwopcPrepare:
      return "TwopcPrepare";
    case MsgType::kTwopcReply:
      return "TwopcReply";
    case MsgType::kTwopcCommit:
      return "TwopcCommit";
    case MsgType::kTwopcAbort:
      return "TwopcAbort";
    case MsgType::kData:
      return "Data";
    case MsgType::kBarrier:
      return "Barrier";
    case MsgType::kBarrierAck:
      return "BarrierAck";
    case MsgType::kWriteAck:
      return "WriteAck";
    case MsgType::kOutOfSync:
      return "OutOfSync";
    case MsgType::kReadRequest:
      return "ReadRequest";
    case MsgType::kReadReply:
      return "ReadReply";
    case MsgType::kBitmap:
      return "Bitmap";
    case MsgType::kResyncRequest:
      return "ResyncRequest";
    case MsgType::kResyncReply:
      return "ResyncReply";
    case MsgType::kResyncAck:
      return "ResyncAck";
    case MsgType::kVerifyRequest:
      return "VerifyRequest";
    case MsgType::kVerifyReply:
      return "VerifyReply";
    case MsgType::kVerifyResult:
      return "VerifyResult";
    case MsgType::kCurrentUuid:
      return "CurrentUuid";
    case MsgType::kPeerAck:
      return "PeerAck";
    case MsgType::kPing:
      return "Ping";
    case MsgType::kPingAck:
      return "PingAck";
  }
  return "Unknown";
}

StreamKind StreamFor(MsgType t) {
  switch (t) {
    // Small replies whose latency gates the sender (write completion, epoch
    // retirement, 2PC progress, keep-alive): they must not queue behind bulk
    // data, and the receiver must be able to read them while it is blocked
    // writing data to us.
    case MsgType::kTwopcReply:
    case MsgType::kBarrierAck:
    case MsgType::kWriteAck:
    case MsgType::kResyncAck:
    case MsgType::kPing:
    case MsgType::kPingAck:
      return StreamKind::kControl;
    // Hello and AuthResponse are sent on both streams during the handshake;
    // kData is only a placeholder for them.
    default:
      return StreamKind::kData;
  }
}

void EncodeTo(const Message& m, Bytes* out) {
  ByteWriter w(out);
  const size_t start = w.size();
  w.U32(kProtoMagic);
  w.U16(kProtoVersion);
  w.U16(static_cast<uint16_t>(TypeOf(m)));
  w.U32(0);  // body length, patched below
  w.U32(0);  // reserved
  // Fields() takes non-const references because the same list drives the
  // decoder; FieldEncoder only reads, so casting constness away is safe.
  std::visit(
      [&w](const auto& msg) {
        FieldEncoder e(&w);
        const_cast<std::decay_t<decltype(msg)>&>(msg).Fields(e);
      },
      m);
  const size_t body = w.size() - start - kHeaderSize;
  TANDEM_CHECK_MSG(body <= kMaxBodySize, "protocol message larger than kMaxBodySize");
  w.PatchU32(start + 8, static_cast<uint32_t>(body));
}

Bytes Encode(const Message& m) {
  Bytes out;
  if (const auto* d = std::get_if<Data>(&m); d && d->payload) {
    out.reserve(kHeaderSize + 64 + d->payload->size());
  }
  EncodeTo(m, &out);
  return out;
}

Result<FrameHeader> DecodeHeader(ByteSpan header) {
  if (header.size() < kHeaderSize) return MakeError(Errc::kTruncated, "frame header truncated");
  ByteReader r(header.first(kHeaderSize));
  const uint32_t magic = r.U32();
  FrameHeader h;
  h.version = r.U16();
  const uint16_t type = r.U16();
  h.length = r.U32();
  const uint32_t reserved = r.U32();
  if (magic != kProtoMagic) return MakeError(Errc::kCorrupt, "bad frame magic");
  if (h.version != kProtoVersion) {
    return MakeError(Errc::kUnsupported,
                     "unsupported protocol version " + std::to_string(h.version));
  }
  if (h.length > kMaxBodySize) {
    return MakeError(Errc::kCorrupt, "frame too large: " + std::to_string(h.length) + " bytes");
  }
  if (reserved != 0) return MakeError(Errc::kCorrupt, "reserved header field is not zero");
  h.type = static_cast<MsgType>(type);
  if (!IndexOf(h.type)) {
    return MakeError(Errc::kCorrupt, "unknown message type " + std::to_string(type));
  }
  return h;
}

Result<Message> DecodeBody(const FrameHeader& h, ByteSpan body) {
  if (body.size() != h.length) {
    return MakeError(Errc::kInvalidArgument, "body size does not match the frame header");
  }
  std::optional<size_t> index = IndexOf(h.type);
  if (!index) {
    return MakeError(Errc::kCorrupt,
                     "unknown message type " + std::to_string(static_cast<uint16_t>(h.type)));
  }
  return kDecoders[*index](body);
}

Result<Message> Decode(ByteSpan frame) {
  Result<FrameHeader> h = DecodeHeader(frame);
  if (!h.ok()) return h.error();
  ByteSpan rest = frame.subspan(kHeaderSize);
  if (rest.size() < h->length) return MakeError(Errc::kTruncated, "frame body truncated");
  if (rest.size() > h->length) return MakeError(Errc::kCorrupt, "trailing bytes after frame");
  return DecodeBody(*h, rest);
}

Bytes ComputeAuth(std::string_view secret, ByteSpan peer_challenge, uint8_t node_id,
                  uint8_t stream) {
  Bytes input(peer_challenge.begin(), peer_challenge.end());
  input.push_back(node_id);
  input.push_back(stream);
  // OpenSSL wants a non-null key pointer even for an empty key.
  static const unsigned char kEmptyKey = 0;
  const void* key = secret.empty() ? &kEmptyKey : static_cast<const void*>(secret.data());
  Bytes mac(EVP_MAX_MD_SIZE);
  unsigned int mac_len = 0;
  unsigned char* ok = HMAC(EVP_sha256(), key, static_cast<int>(secret.size()), input.data(),
                           input.size(), mac.data(), &mac_len);
  TANDEM_CHECK_MSG(ok != nullptr && mac_len == kHmacSize, "HMAC-SHA256 failed");
  mac.resize(mac_len);
  return mac;
}

bool VerifyAuth(std::string_view secret, ByteSpan my_challenge, uint8_t peer_node_id,
                uint8_t stream, ByteSpan hmac) {
  Bytes expected = ComputeAuth(secret, my_challenge, peer_node_id, stream);
  if (hmac.size() != expected.size()) return false;
  // Constant time, so a peer cannot learn the answer byte by byte.
  return CRYPTO_memcmp(expected.data(), hmac.data(), expected.size()) == 0;
}

}  // namespace tandem::engine
