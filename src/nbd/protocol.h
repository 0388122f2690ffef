// The NBD wire format, sans I/O: constants, encoders and validating decoders
// for the fixed-newstyle handshake, option haggling and the transmission
// phase (simple and structured replies). Nothing here touches a socket; the
// server (server.h) reads exact byte counts and hands them to these functions.
//
// Everything on the wire is big-endian. Decoders never read past the span
// they are given and report malformed input as an Error (kCorrupt for a bad
// magic, kTruncated for a short buffer, kInvalidArgument for inconsistent
// lengths); they never crash on any input.
//
// The prose spec of what Tandem implements is docs/nbd.md; names and values
// follow the upstream NBD protocol document (doc/proto.md of the NBD project).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_export.h"
#include "common/bytes.h"
#include "common/result.h"

namespace tandem::nbd {

// ---- Magics ----
inline constexpr uint64_t kNbdMagic = 0x4e42444d41474943;          // "NBDMAGIC"
inline constexpr uint64_t kOptionMagic = 0x49484156454f5054;       // "IHAVEOPT"
inline constexpr uint64_t kOptionReplyMagic = 0x0003e889045565a9;  // option replies
inline constexpr uint32_t kRequestMagic = 0x25609513;
inline constexpr uint32_t kSimpleReplyMagic = 0x67446698;
inline constexpr uint32_t kStructuredReplyMagic = 0x668e33ef;

// ---- Handshake flags (server, 16 bits) and client flags (32 bits) ----
inline constexpr uint16_t kFlagFixedNewstyle = 1u << 0;
inline constexpr uint16_t kFlagNoZeroes = 1u << 1;
inline constexpr uint32_t kClientFlagFixedNewstyle = 1u << 0;
inline constexpr uint32_t kClientFlagNoZeroes = 1u << 1;

// ---- Transmission flags (16 bits) ----
inline constexpr uint16_t kFlagHasFlags = 1u << 0;
inline constexpr uint16_t kFlagReadOnly = 1u << 1;
inline constexpr uint16_t kFlagSendFlush = 1u << 2;
inline constexpr uint16_t kFlagSendFua = 1u << 3;
inline constexpr uint16_t kFlagRotational = 1u << 4;
inline constexpr uint16_t kFlagSendTrim = 1u << 5;
inline constexpr uint16_t kFlagSendWriteZeroes = 1u << 6;
inline constexpr uint16_t kFlagSendDf = 1u << 7;
inline constexpr uint16_t kFlagCanMultiConn = 1u << 8;
inline constexpr uint16_t kFlagSendResize = 1u << 9;
inline constexpr uint16_t kFlagSendCache = 1u << 10;
inline constexpr uint16_t kFlagSendFastZero = 1u << 11;

// ---- Options ----
inline constexpr uint32_t kOptExportName = 1;
inline constexpr uint32_t kOptAbort = 2;
inline constexpr uint32_t kOptList = 3;
inline constexpr uint32_t kOptPeekExport = 4;
inline constexpr uint32_t kOptStartTls = 5;
inline constexpr uint32_t kOptInfo = 6;
inline constexpr uint32_t kOptGo = 7;
inline constexpr uint32_t kOptStructuredReply = 8;
inline constexpr uint32_t kOptListMetaContext = 9;
inline constexpr uint32_t kOptSetMetaContext = 10;
inline constexpr uint32_t kOptExtendedHeaders = 11;

// ---- Option reply types ----
inline constexpr uint32_t kRepAck = 1;
inline constexpr uint32_t kRepServer = 2;
inline constexpr uint32_t kRepInfo = 3;
inline constexpr uint32_t kRepMetaContext = 4;
inline constexpr uint32_t kRepErrBit = 1u << 31;
inline constexpr uint32_t kRepErrUnsup = kRepErrBit + 1;
inline constexpr uint32_t kRepErrPolicy = kRepErrBit + 2;
inline constexpr uint32_t kRepErrInvalid = kRepErrBit + 3;
inline constexpr uint32_t kRepErrPlatform = kRepErrBit + 4;
inline constexpr uint32_t kRepErrTlsReqd = kRepErrBit + 5;
inline constexpr uint32_t kRepErrUnknown = kRepErrBit + 6;
inline constexpr uint32_t kRepErrShutdown = kRepErrBit + 7;
inline constexpr uint32_t kRepErrBlockSizeReqd = kRepErrBit + 8;
inline constexpr uint32_t kRepErrTooBig = kRepErrBit + 9;

// ---- NBD_INFO types (inside NBD_REP_INFO) ----
inline constexpr uint16_t kInfoExport = 0;
inline constexpr uint16_t kInfoName = 1;
inline constexpr uint16_t kInfoDescription = 2;
inline constexpr uint16_t kInfoBlockSize = 3;

// ---- Commands and command flags ----
inline constexpr uint16_t kCmdRead = 0;
inline constexpr uint16_t kCmdWrite = 1;
inline constexpr uint16_t kCmdDisc = 2;
inline constexpr uint16_t kCmdFlush = 3;
inline constexpr uint16_t kCmdTrim = 4;
inline constexpr uint16_t kCmdCache = 5;
inline constexpr uint16_t kCmdWriteZeroes = 6;
inline constexpr uint16_t kCmdBlockStatus = 7;

inline constexpr uint16_t kCmdFlagFua = 1u << 0;
inline constexpr uint16_t kCmdFlagNoHole = 1u << 1;
inline constexpr uint16_t kCmdFlagDf = 1u << 2;
inline constexpr uint16_t kCmdFlagReqOne = 1u << 3;
inline constexpr uint16_t kCmdFlagFastZero = 1u << 4;

// ---- Structured replies ----
inline constexpr uint16_t kReplyFlagDone = 1u << 0;
inline constexpr uint16_t kReplyTypeNone = 0;
inline constexpr uint16_t kReplyTypeOffsetData = 1;
inline constexpr uint16_t kReplyTypeOffsetHole = 2;
inline constexpr uint16_t kReplyTypeBlockStatus = 5;
inline constexpr uint16_t kReplyTypeError = (1u << 15) + 1;
inline constexpr uint16_t kReplyTypeErrorOffset = (1u << 15) + 2;

// ---- Error values (the only ones a reply may carry) ----
inline constexpr uint32_t kEperm = 1;
inline constexpr uint32_t kEio = 5;
inline constexpr uint32_t kEnomem = 12;
inline constexpr uint32_t kEinval = 22;
inline constexpr uint32_t kEnospc = 28;
inline constexpr uint32_t kEoverflow = 75;
inline constexpr uint32_t kEnotsup = 95;
inline constexpr uint32_t kEshutdown = 108;

// ---- Fixed message sizes ----
inline constexpr size_t kGreetingSize = 18;      // NBDMAGIC, IHAVEOPT, u16 flags
inline constexpr size_t kClientFlagsSize = 4;    // u32
inline constexpr size_t kOptionHeaderSize = 16;  // IHAVEOPT, u32 option, u32 length
inline constexpr size_t kOptionReplyHeaderSize = 20;
inline constexpr size_t kRequestHeaderSize = 28;
inline constexpr size_t kSimpleReplyHeaderSize = 16;
inline constexpr size_t kStructuredReplyHeaderSize = 20;
inline constexpr size_t kExportNameReplySize = 10;  // u64 size, u16 flags (+124 zeroes)

// ---- Limits Tandem enforces ----
// Option data larger than this is refused (NBD_REP_ERR_TOO_BIG, or a hard
// disconnect for NBD_OPT_EXPORT_NAME, which cannot carry an error).
inline constexpr uint32_t kMaxOptionDataBytes = 4096;
// Strings in replies (error messages, names) are cut to this many bytes.
inline constexpr size_t kMaxStringBytes = 4096;
// Advertised block sizes (NBD_INFO_BLOCK_SIZE). Offsets and lengths of
// READ, WRITE, TRIM and WRITE_ZEROES must be multiples of kMinBlockSize.
inline constexpr uint32_t kMinBlockSize = 512;
inline constexpr uint32_t kPreferredBlockSize = 4096;
// The largest READ or WRITE payload; a WRITE announcing more is a protocol
// violation (the server cannot skip it safely and disconnects).
inline constexpr uint32_t kMaxPayloadBytes = 32u << 20;

// Readable names for logs and messages ("NBD_OPT_GO", "NBD_CMD_READ");
// unknown values give "unknown".
const char* OptionName(uint32_t option);
const char* CommandName(uint16_t type);

// Maps a positive errno from a BlockExport to one of the NBD error values
// above (EROFS -> EPERM, EDQUOT/EFBIG -> ENOSPC, unknown -> EIO). 0 stays 0.
uint32_t ErrnoToNbdError(int errno_value);

// ---- Handshake ----

// Server greeting: NBDMAGIC, IHAVEOPT, handshake flags.
Bytes EncodeGreeting(uint16_t handshake_flags);
// Decodes the 4-byte client flags. Flags the server did not offer (or unknown
// bits) are kUnsupported: the spec requires the server to disconnect.
Result<uint32_t> DecodeClientFlags(ByteSpan in, uint16_t handshake_flags);

// ---- Option haggling ----

struct OptionHeader {
  uint32_t option = 0;
  uint32_t length = 0;  // bytes of option data that follow
};
// Decodes a 16-byte option header. A bad magic is kCorrupt. The length is
// returned as sent; the caller compares it with kMaxOptionDataBytes.
Result<OptionHeader> DecodeOptionHeader(ByteSpan in);
// Client side (tests, fuzz seeds): header plus data.
Bytes EncodeOption(uint32_t option, ByteSpan data);

// The data of NBD_OPT_INFO and NBD_OPT_GO.
struct InfoRequest {
  std::string name;                  // empty: the default export
  std::vector<uint16_t> info_types;  // NBD_INFO_* the client asks for
};
// kInvalidArgument when the name length or the request count does not match
// the option length exactly.
Result<InfoRequest> DecodeInfoRequest(ByteSpan data);
Bytes EncodeInfoRequest(const InfoRequest& request);

// One option reply: magic, option, type, length, data.
Bytes EncodeOptionReply(uint32_t option, uint32_t reply_type, ByteSpan data = {});
// An error reply (reply_type has kRepErrBit) carrying a human-readable
// message, cut to kMaxStringBytes.
Bytes EncodeOptionError(uint32_t option, uint32_t reply_type, std::string_view message);
// NBD_REP_SERVER for NBD_OPT_LIST.
Bytes EncodeRepServer(std::string_view name);
// NBD_REP_INFO replies for NBD_OPT_INFO / NBD_OPT_GO.
Bytes EncodeInfoExport(uint32_t option, uint64_t size, uint16_t transmission_flags);
Bytes EncodeInfoName(uint32_t option, std::string_view name);
Bytes EncodeInfoBlockSize(uint32_t option, uint32_t min, uint32_t preferred, uint32_t max);
// The reply that ends NBD_OPT_EXPORT_NAME: size, flags and, unless the client
// negotiated NBD_FLAG_C_NO_ZEROES, 124 zero bytes.
Bytes EncodeExportNameReply(uint64_t size, uint16_t transmission_flags, bool no_zeroes);

// A decoded option reply (client side; tests and fuzzing of our encoders).
struct OptionReply {
  uint32_t option = 0;
  uint32_t type = 0;
  Bytes data;
};
// Decodes one reply from the front of `in`, setting *consumed.
Result<OptionReply> DecodeOptionReply(ByteSpan in, size_t* consumed);

// ---- Transmission ----

struct Request {
  uint16_t flags = 0;
  uint16_t type = 0;
  uint64_t cookie = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
};
// Decodes a 28-byte request header. A bad magic is kCorrupt (the server
// disconnects). Any type and flags are accepted here; see CheckRequest.
Result<Request> DecodeRequest(ByteSpan in);
Bytes EncodeRequest(const Request& request);

// Whether `length` payload bytes follow the header (NBD_CMD_WRITE only).
inline bool HasPayload(const Request& r) { return r.type == kCmdWrite; }
// A WRITE whose payload exceeds kMaxPayloadBytes is a protocol violation:
// kInvalidArgument, and the server must disconnect rather than read it.
Status CheckPayloadLength(const Request& request);

// What the session negotiated; the input of CheckRequest.
struct Session {
  uint64_t export_size = 0;
  uint16_t transmission_flags = 0;
  bool structured_replies = false;
};
// The transmission flags for an export opened in `mode`: HAS_FLAGS, plus
// READ_ONLY for kReadOnly, SEND_FLUSH and SEND_FUA when CanFlush (FUA only for
// read-write), SEND_TRIM and SEND_WRITE_ZEROES when supported and read-write,
// CAN_MULTI_CONN when CanMultiConn.
uint16_t TransmissionFlags(const BlockExport& block_export, OpenMode mode);

// The result of validating a request before it reaches the export.
struct RequestCheck {
  uint32_t error = 0;   // 0: pass to the export; else reply with this NBD error
  std::string message;  // why, for structured error replies
};
// Validates type, flags, alignment (kMinBlockSize), bounds and payload size
// against the session. NBD_CMD_DISC passes (error 0); the caller handles it.
// Errors follow the spec: EINVAL for unknown commands or flags, unadvertised
// commands, misalignment, reads and trims past the end and oversized reads;
// ENOSPC for writes and write-zeroes past the end; EPERM for writes, trims and
// write-zeroes on a read-only export.
RequestCheck CheckRequest(const Request& request, const Session& session);

// Simple reply header (data, for a successful READ, follows separately).
Bytes EncodeSimpleReply(uint32_t error, uint64_t cookie);
// Structured reply chunk header.
Bytes EncodeChunkHeader(uint16_t flags, uint16_t type, uint64_t cookie, uint32_t length);
// NBD_REPLY_TYPE_NONE with NBD_REPLY_FLAG_DONE: success without data.
Bytes EncodeChunkNone(uint64_t cookie);
// NBD_REPLY_TYPE_ERROR with NBD_REPLY_FLAG_DONE; message cut to kMaxStringBytes.
Bytes EncodeChunkError(uint64_t cookie, uint32_t error, std::string_view message);
// Chunk header plus the 8-byte offset of NBD_REPLY_TYPE_OFFSET_DATA;
// data_length bytes of data follow separately.
Bytes EncodeChunkOffsetDataHeader(uint64_t cookie, uint64_t offset, uint32_t data_length,
                                  bool done);

// A decoded reply (client side; tests). For structured chunks `data` is the
// whole payload; for simple replies the caller reads READ data itself.
struct Reply {
  bool structured = false;
  uint32_t error = 0;  // simple: the error field; structured error: the error
  uint64_t cookie = 0;
  uint16_t flags = 0;  // structured only
  uint16_t type = 0;   // structured only
  Bytes data;          // structured: payload
};
// Decodes a simple reply header (16 bytes) or a complete structured chunk
// from the front of `in`; sets *consumed. kTruncated when more input is needed.
Result<Reply> DecodeReply(ByteSpan in, size_t* consumed);

}  // namespace tandem::nbd
