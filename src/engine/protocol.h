// The replication protocol between tandemd peers: every message as a struct,
// and their byte encoding. The prose specification with each message's fields
// and the golden bytes is docs/replication-protocol.md; this header and
// protocol.cc are its only implementation.
//
// Frame: a 16-byte header (magic u32, version u16, type u16, length u32,
// reserved u32; little-endian), then `length` bytes of body. The body is the
// message's fields in declaration order, encoded by FieldCodec below. Unknown
// types, bad magic, trailing or missing bytes are errors.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace tandem::engine {

inline constexpr uint32_t kProtoMagic = 0x544e4431;  // "1DNT" on the wire
inline constexpr uint16_t kProtoVersion = 1;
inline constexpr size_t kHeaderSize = 16;
inline constexpr uint32_t kMaxBodySize = 64u << 20;

// Feature bits negotiated in Hello (the AND of both sides is in effect).
enum Feature : uint64_t {
  kFeatureTrim = 1u << 0,
  kFeatureZeroes = 1u << 1,
  kFeatureCsums = 1u << 2,
  kFeatureVerify = 1u << 3,
  kFeatureCompactBitmap = 1u << 4,
};
inline constexpr uint64_t kAllFeatures =
    kFeatureTrim | kFeatureZeroes | kFeatureCsums | kFeatureVerify | kFeatureCompactBitmap;

enum class MsgType : uint16_t {
  kHello = 1,
  kAuthResponse = 2,
  kParams = 10,
  kSizes = 11,
  kUuids = 12,
  kState = 13,
  kTwopcPrepare = 20,
  kTwopcReply = 21,
  kTwopcCommit = 22,
  kTwopcAbort = 23,
  kData = 30,
  kBarrier = 31,
  kBarrierAck = 32,
  kWriteAck = 33,
  kOutOfSync = 34,
  kReadRequest = 35,
  kReadReply = 36,
  kBitmap = 40,
  kResyncRequest = 41,
  kResyncReply = 42,
  kResyncAck = 43,
  kVerifyRequest = 44,
  kVerifyReply = 45,
  kVerifyResult = 46,
  kCurrentUuid = 47,
  kPeerAck = 48,
  kPing = 50,
  kPingAck = 51,
};

enum class StreamKind : uint8_t { kData = 0, kControl = 1 };

// --- transport handshake (each stream, before anything else) -------------

// Sent first by both ends of each stream. challenge: 32 random bytes.
struct Hello {
  static constexpr MsgType kType = MsgType::kHello;
  uint16_t version_min = kProtoVersion;
  uint16_t version_max = kProtoVersion;
  uint64_t features = kAllFeatures;
  uint8_t node_id = 0;
  uint8_t peer_node_id = 0;  // who the sender expects to talk to
  uint8_t stream = 0;        // StreamKind
  std::string resource;
  Bytes challenge;
  template <class V>
  void Fields(V& v) {
    v(version_min), v(version_max), v(features), v(node_id), v(peer_node_id), v(stream),
        v(resource), v(challenge);
  }
};

// HMAC-SHA256(shared secret, peer's challenge || sender node id || stream).
struct AuthResponse {
  static constexpr MsgType kType = MsgType::kAuthResponse;
  Bytes hmac;
  template <class V>
  void Fields(V& v) {
    v(hmac);
  }
};

// --- connection setup (engine) -------------------------------------------

// Net options that must match on both ends (P_PROTOCOL).
struct Params {
  static constexpr MsgType kType = MsgType::kParams;
  uint8_t protocol = 3;  // WireProtocol
  uint8_t after_sb_0pri = 0, after_sb_1pri = 0, after_sb_2pri = 0;
  uint8_t allow_two_primaries = 0;
  uint8_t discard_my_data = 0;
  template <class V>
  void Fields(V& v) {
    v(protocol), v(after_sb_0pri), v(after_sb_1pri), v(after_sb_2pri), v(allow_two_primaries),
        v(discard_my_data);
  }
};

struct Sizes {
  static constexpr MsgType kType = MsgType::kSizes;
  uint16_t vnr = 0;
  uint64_t max_bytes = 0;      // largest usable size this node's backing allows (0: diskless)
  uint64_t current_bytes = 0;  // the size this node currently exposes
  template <class V>
  void Fields(V& v) {
    v(vnr), v(max_bytes), v(current_bytes);
  }
};

struct Uuids {
  static constexpr MsgType kType = MsgType::kUuids;
  uint16_t vnr = 0;
  uint64_t current = 0;
  std::vector<uint64_t> bitmap_uuids;  // indexed by node id, 32 entries
  std::vector<uint64_t> history;       // newest first
  uint64_t dirty_bits = 0;             // bits set in my slot for the receiver
  uint32_t flags = 0;                  // UuidFlag
  uint8_t disk = 0;                    // DiskState
  // How far the sender got in each node's write stream: the highest dagtag of
  // that node's Data its disk took, indexed by node id (32 entries; 0 = none
  // since its connection came up). Tells which of two Secondaries got further
  // in a lost Primary's writes (drbd-semantics.md §3.6).
  std::vector<uint64_t> dagtags;
  template <class V>
  void Fields(V& v) {
    v(vnr), v(current), v(bitmap_uuids), v(history), v(dirty_bits), v(flags), v(disk), v(dagtags);
  }
};

enum StateFlag : uint32_t {
  kStateQuorum = 1u << 0,
  kStateSuspended = 1u << 1,
  kStateDiskless = 1u << 2,  // intentionally diskless node
};

struct State {
  static constexpr MsgType kType = MsgType::kState;
  uint8_t role = 0;             // Role
  uint32_t flags = 0;           // StateFlag
  std::vector<uint8_t> disks;   // DiskState per volume, in volume order
  uint64_t connected_mask = 0;  // peers this node is connected to
  uint64_t primary_mask = 0;    // Primaries among itself and its connected peers
  uint64_t dagtag = 0;          // the sender's dagtag: every earlier Data was sent before this
  template <class V>
  void Fields(V& v) {
    v(role), v(flags), v(disks), v(connected_mask), v(primary_mask), v(dagtag);
  }
};

// --- cluster-wide two-phase commit ---------------------------------------

enum class TwopcKind : uint8_t {
  kPromote = 1,
  kConnect = 2,
  kDisconnect = 3,
  kResize = 4,
  kLostPeer = 5
};
enum class TwopcVote : uint8_t { kYes = 1, kNo = 2, kRetry = 3 };

struct TwopcPrepare {
  static constexpr MsgType kType = MsgType::kTwopcPrepare;
  uint32_t tid = 0;
  uint8_t initiator = 0;
  uint8_t kind = 0;       // TwopcKind
  uint8_t target = 0xff;  // node the change is about (connect/disconnect peer), 0xff none
  uint64_t param = 0;     // new size for resize
  template <class V>
  void Fields(V& v) {
    v(tid), v(initiator), v(kind), v(target), v(param);
  }
};

struct TwopcReply {
  static constexpr MsgType kType = MsgType::kTwopcReply;
  uint32_t tid = 0;
  uint8_t vote = 0;        // TwopcVote
  int8_t code = 0;         // SsCode when vote == kNo
  uint64_t reachable = 0;  // node mask reachable through the replier
  uint64_t primary = 0;    // Primaries among them
  uint64_t weak = 0;       // nodes not directly connected to a Primary
  uint64_t max_size = 0;   // resize: smallest backing among them (0 = no limit)
  template <class V>
  void Fields(V& v) {
    v(tid), v(vote), v(code), v(reachable), v(primary), v(weak), v(max_size);
  }
};

struct TwopcCommit {
  static constexpr MsgType kType = MsgType::kTwopcCommit;
  uint32_t tid = 0;
  uint64_t primary = 0;  // Primaries after the change
  uint64_t reachable = 0;
  uint64_t param = 0;
  template <class V>
  void Fields(V& v) {
    v(tid), v(primary), v(reachable), v(param);
  }
};

struct TwopcAbort {
  static constexpr MsgType kType = MsgType::kTwopcAbort;
  uint32_t tid = 0;
  template <class V>
  void Fields(V& v) {
    v(tid);
  }
};

// --- the write path --------------------------------------------------------

enum DataFlag : uint32_t {
  kDpFua = 1u << 0,
  kDpFlush = 1u << 1,
  kDpTrim = 1u << 2,     // discard; no payload
  kDpZeroes = 1u << 3,   // write zeroes; no payload
  kDpWantAck = 1u << 4,  // send WriteAck when written (protocol C, or resync running)
  kDpMaySetInSync = 1u << 5,
};

struct Data {
  static constexpr MsgType kType = MsgType::kData;
  uint16_t vnr = 0;
  uint64_t id = 0;      // sender's request id, echoed in WriteAck
  uint64_t offset = 0;  // bytes
  uint32_t length = 0;  // bytes (payload size unless trim/zeroes)
  uint64_t dagtag = 0;
  uint32_t flags = 0;  // DataFlag
  uint32_t epoch = 0;
  // Node mask of every node the writer sends this payload to. A receiver
  // marks the blocks out of sync towards diskful nodes outside the mask: they
  // miss this write (a light form of DRBD's peer-acks, §3.6).
  uint64_t receivers = 0;
  SharedBytes payload;
  template <class V>
  void Fields(V& v) {
    v(vnr), v(id), v(offset), v(length), v(dagtag), v(flags), v(epoch), v(receivers), v(payload);
  }
};

struct Barrier {
  static constexpr MsgType kType = MsgType::kBarrier;
  uint32_t epoch = 0;
  template <class V>
  void Fields(V& v) {
    v(epoch);
  }
};

struct BarrierAck {
  static constexpr MsgType kType = MsgType::kBarrierAck;
  uint32_t epoch = 0;
  uint32_t set_size = 0;  // writes in the epoch
  template <class V>
  void Fields(V& v) {
    v(epoch), v(set_size);
  }
};

enum class AckKind : uint8_t { kWritten = 1, kWrittenInSync = 2, kNeg = 3 };

struct WriteAck {
  static constexpr MsgType kType = MsgType::kWriteAck;
  uint16_t vnr = 0;
  uint64_t id = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  uint8_t kind = 0;  // AckKind
  template <class V>
  void Fields(V& v) {
    v(vnr), v(id), v(offset), v(length), v(kind);
  }
};

struct OutOfSync {
  static constexpr MsgType kType = MsgType::kOutOfSync;
  uint16_t vnr = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  template <class V>
  void Fields(V& v) {
    v(vnr), v(offset), v(length);
  }
};

struct ReadRequest {
  static constexpr MsgType kType = MsgType::kReadRequest;
  uint16_t vnr = 0;
  uint64_t id = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  template <class V>
  void Fields(V& v) {
    v(vnr), v(id), v(offset), v(length);
  }
};

struct ReadReply {
  static constexpr MsgType kType = MsgType::kReadReply;
  uint16_t vnr = 0;
  uint64_t id = 0;
  uint8_t ok = 0;
  SharedBytes payload;
  template <class V>
  void Fields(V& v) {
    v(vnr), v(id), v(ok), v(payload);
  }
};

// --- resync and verify -------------------------------------------------------

// The whole bitmap of the sender's slot for the receiver, compact-encoded.
// phase: 0 = sent by the future SyncSource, opening the exchange; 1 = the
// SyncTarget's merged answer; 2 = sent by a node that wants to become
// SyncTarget (invalidate), asking the receiver to be the source.
struct BitmapMsg {
  static constexpr MsgType kType = MsgType::kBitmap;
  uint16_t vnr = 0;
  uint8_t phase = 0;
  uint64_t bits = 0;
  Bytes encoded;
  template <class V>
  void Fields(V& v) {
    v(vnr), v(phase), v(bits), v(encoded);
  }
};

enum class ResyncKind : uint8_t { kData = 1, kChecksum = 2 };

struct ResyncRequest {
  static constexpr MsgType kType = MsgType::kResyncRequest;
  uint16_t vnr = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  uint8_t kind = 1;     // ResyncKind
  uint64_t digest = 0;  // kChecksum: the target's digest of the block
  // The source answers only after it has received the writes of Primary
  // `dagtag_node` up to `dagtag` (0xff: no Primary), so resync data is never
  // older than application data the target already has (drbd-semantics.md §8.3).
  uint8_t dagtag_node = 0xff;
  uint64_t dagtag = 0;
  template <class V>
  void Fields(V& v) {
    v(vnr), v(offset), v(length), v(kind), v(digest), v(dagtag_node), v(dagtag);
  }
};

enum class ResyncResult : uint8_t { kData = 1, kInSync = 2, kError = 3 };

struct ResyncReply {
  static constexpr MsgType kType = MsgType::kResyncReply;
  uint16_t vnr = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  uint8_t result = 1;  // ResyncResult
  SharedBytes payload;
  template <class V>
  void Fields(V& v) {
    v(vnr), v(offset), v(length), v(result), v(payload);
  }
};

struct ResyncAck {
  static constexpr MsgType kType = MsgType::kResyncAck;
  uint16_t vnr = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  uint8_t ok = 1;
  template <class V>
  void Fields(V& v) {
    v(vnr), v(offset), v(length), v(ok);
  }
};

struct VerifyRequest {
  static constexpr MsgType kType = MsgType::kVerifyRequest;
  uint16_t vnr = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  template <class V>
  void Fields(V& v) {
    v(vnr), v(offset), v(length);
  }
};

struct VerifyReply {
  static constexpr MsgType kType = MsgType::kVerifyReply;
  uint16_t vnr = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  uint64_t digest = 0;
  template <class V>
  void Fields(V& v) {
    v(vnr), v(offset), v(length), v(digest);
  }
};

struct VerifyResult {
  static constexpr MsgType kType = MsgType::kVerifyResult;
  uint16_t vnr = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  uint8_t in_sync = 1;
  template <class V>
  void Fields(V& v) {
    v(vnr), v(offset), v(length), v(in_sync);
  }
};

// A diskless Primary's new current UUID, persisted by diskful peers.
struct CurrentUuid {
  static constexpr MsgType kType = MsgType::kCurrentUuid;
  uint16_t vnr = 0;
  uint64_t uuid = 0;
  template <class V>
  void Fields(V& v) {
    v(vnr), v(uuid);
  }
};

// Peer-ack (drbd-semantics.md §3.6): the Primary tells the nodes that hold
// epoch `epoch` which of the nodes it sent that epoch to acknowledged it; a
// receiver marks the epoch's blocks out of sync towards sent_to & ~acked.
struct PeerAck {
  static constexpr MsgType kType = MsgType::kPeerAck;
  uint32_t epoch = 0;
  uint64_t sent_to = 0;
  uint64_t acked = 0;
  template <class V>
  void Fields(V& v) {
    v(epoch), v(sent_to), v(acked);
  }
};

struct Ping {
  static constexpr MsgType kType = MsgType::kPing;
  template <class V>
  void Fields(V&) {}
};

struct PingAck {
  static constexpr MsgType kType = MsgType::kPingAck;
  template <class V>
  void Fields(V&) {}
};

using Message =
    std::variant<Hello, AuthResponse, Params, Sizes, Uuids, State, TwopcPrepare, TwopcReply,
                 TwopcCommit, TwopcAbort, Data, Barrier, BarrierAck, WriteAck, OutOfSync,
                 ReadRequest, ReadReply, BitmapMsg, ResyncRequest, ResyncReply, ResyncAck,
                 VerifyRequest, VerifyReply, VerifyResult, CurrentUuid, PeerAck, Ping, PingAck>;

MsgType TypeOf(const Message& m);
const char* MsgTypeName(MsgType t);

// Which stream a message travels on: acks, pings, 2PC replies and barrier acks
// go on the control stream so they never wait behind bulk data.
StreamKind StreamFor(MsgType t);

// Whole frame (header + body).
Bytes Encode(const Message& m);
void EncodeTo(const Message& m, Bytes* out);

struct FrameHeader {
  uint16_t version = 0;
  MsgType type{};
  uint32_t length = 0;  // body bytes
};
// Parses and validates the 16-byte header (magic, length limit).
Result<FrameHeader> DecodeHeader(ByteSpan header);
// Decodes one body of the given type; the body must be consumed exactly.
Result<Message> DecodeBody(const FrameHeader& h, ByteSpan body);
// Header + body in one buffer, which must hold exactly one frame.
Result<Message> Decode(ByteSpan frame);

// The handshake's HMAC (OpenSSL HMAC-SHA256): what the sender of node_id on
// `stream` must answer to the challenge it received.
Bytes ComputeAuth(std::string_view secret, ByteSpan peer_challenge, uint8_t node_id,
                  uint8_t stream);
bool VerifyAuth(std::string_view secret, ByteSpan my_challenge, uint8_t peer_node_id,
                uint8_t stream, ByteSpan hmac);

}  // namespace tandem::engine
