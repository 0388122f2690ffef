#include "nbd/protocol.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tandem::nbd {
namespace {

// Big-endian appenders and readers. The callers check sizes first.
// Each grows the vector once and writes into it (byte-wise push_back made
// GCC 12 at -O3 report a false -Wstringop-overflow).
uint8_t* Grow(Bytes* out, size_t n) {
  size_t at = out->size();
  out->resize(at + n);
  return out->data() + at;
}
void PutBe(Bytes* out, uint64_t v, int bytes) {
  uint8_t* p = Grow(out, static_cast<size_t>(bytes));
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
void Put16(Bytes* out, uint16_t v) { PutBe(out, v, 2); }
void Put32(Bytes* out, uint32_t v) { PutBe(out, v, 4); }
void Put64(Bytes* out, uint64_t v) { PutBe(out, v, 8); }
void PutRaw(Bytes* out, std::string_view s) {
  if (!s.empty()) std::memcpy(Grow(out, s.size()), s.data(), s.size());
}
void PutRaw(Bytes* out, ByteSpan s) {
  if (!s.empty()) std::memcpy(Grow(out, s.size()), s.data(), s.size());
}

uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t Get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint64_t Get64(const uint8_t* p) { return (uint64_t{Get32(p)} << 32) | Get32(p + 4); }

std::string_view Cut(std::string_view s) {
  return s.substr(0, std::min(s.size(), kMaxStringBytes));
}

Error Truncated(const char* what, size_t want, size_t got) {
  return MakeError(Errc::kTruncated, std::string(what) + ": need " + std::to_string(want) +
                                         " bytes, have " + std::to_string(got));
}

RequestCheck Fail(uint32_t error, std::string message) { return {error, std::move(message)}; }

std::string Hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

}  // namespace

const char* OptionName(uint32_t option) {
  switch (option) {
    case kOptExportName:
      return "NBD_OPT_EXPORT_NAME";
    case kOptAbort:
      return "NBD_OPT_ABORT";
    case kOptList:
      return "NBD_OPT_LIST";
    case kOptPeekExport:
      return "NBD_OPT_PEEK_EXPORT";
    case kOptStartTls:
      return "NBD_OPT_STARTTLS";
    case kOptInfo:
      return "NBD_OPT_INFO";
    case kOptGo:
      return "NBD_OPT_GO";
    case kOptStructuredReply:
      return "NBD_OPT_STRUCTURED_REPLY";
    case kOptListMetaContext:
      return "NBD_OPT_LIST_META_CONTEXT";
    case kOptSetMetaContext:
      return "NBD_OPT_SET_META_CONTEXT";
    case kOptExtendedHeaders:
      return "NBD_OPT_EXTENDED_HEADERS";
    default:
      return "unknown";
  }
}

const char* CommandName(uint16_t type) {
  switch (type) {
    case kCmdRead:
      return "NBD_CMD_READ";
    case kCmdWrite:
      return "NBD_CMD_WRITE";
    case kCmdDisc:
      return "NBD_CMD_DISC";
    case kCmdFlush:
      return "NBD_CMD_FLUSH";
    case kCmdTrim:
      return "NBD_CMD_TRIM";
    case kCmdCache:
      return "NBD_CMD_CACHE";
    case kCmdWriteZeroes:
      return "NBD_CMD_WRITE_ZEROES";
    case kCmdBlockStatus:
      return "NBD_CMD_BLOCK_STATUS";
    default:
      return "unknown";
  }
}

uint32_t ErrnoToNbdError(int errno_value) {
  switch (errno_value) {
    case 0:
      return 0;
    case EPERM:
    case EACCES:
    case EROFS:
      return kEperm;
    case EIO:
      return kEio;
    case ENOMEM:
      return kEnomem;
    case EINVAL:
      return kEinval;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return kEnospc;
    case EOVERFLOW:
      return kEoverflow;
    case ENOTSUP:
      return kEnotsup;  // == EOPNOTSUPP on Linux
    case ESHUTDOWN:
      return kEshutdown;
    default:
      return kEio;
  }
}

// ---- Handshake ----

Bytes EncodeGreeting(uint16_t handshake_flags) {
  Bytes out;
  Put64(&out, kNbdMagic);
  Put64(&out, kOptionMagic);
  Put16(&out, handshake_flags);
  return out;
}

Result<uint32_t> DecodeClientFlags(ByteSpan in, uint16_t handshake_flags) {
  if (in.size() != kClientFlagsSize) return Truncated("client flags", kClientFlagsSize, in.size());
  uint32_t flags = Get32(in.data());
  uint32_t allowed = kClientFlagFixedNewstyle;
  if (handshake_flags & kFlagNoZeroes) allowed |= kClientFlagNoZeroes;
  if (flags & ~allowed) {
    return MakeError(Errc::kUnsupported,
                     "client flags " + Hex(flags) + " include flags not offered");
  }
  return flags;
}

// ---- Option haggling ----

Result<OptionHeader> DecodeOptionHeader(ByteSpan in) {
  if (in.size() != kOptionHeaderSize)
    return Truncated("option header", kOptionHeaderSize, in.size());
  if (Get64(in.data()) != kOptionMagic) {
    return MakeError(Errc::kCorrupt, "option header: bad magic (want IHAVEOPT)");
  }
  return OptionHeader{Get32(in.data() + 8), Get32(in.data() + 12)};
}

Bytes EncodeOption(uint32_t option, ByteSpan data) {
  Bytes out;
  Put64(&out, kOptionMagic);
  Put32(&out, option);
  Put32(&out, static_cast<uint32_t>(data.size()));
  PutRaw(&out, data);
  return out;
}

Result<InfoRequest> DecodeInfoRequest(ByteSpan data) {
  if (data.size() < 6) {
    return MakeError(Errc::kInvalidArgument,
                     "info request: " + std::to_string(data.size()) + " bytes, need at least 6");
  }
  uint32_t name_len = Get32(data.data());
  if (name_len > data.size() - 6) {
    return MakeError(
        Errc::kInvalidArgument,
        "info request: name length " + std::to_string(name_len) + " exceeds the option data");
  }
  InfoRequest r;
  r.name.assign(reinterpret_cast<const char*>(data.data()) + 4, name_len);
  size_t pos = 4 + size_t{name_len};
  uint16_t count = Get16(data.data() + pos);
  pos += 2;
  if (data.size() - pos != size_t{count} * 2) {
    return MakeError(Errc::kInvalidArgument, "info request: " + std::to_string(count) +
                                                 " information requests do not match the " +
                                                 std::to_string(data.size() - pos) +
                                                 " remaining bytes");
  }
  r.info_types.reserve(count);
  for (uint16_t i = 0; i < count; ++i, pos += 2) r.info_types.push_back(Get16(data.data() + pos));
  return r;
}

Bytes EncodeInfoRequest(const InfoRequest& request) {
  Bytes out;
  Put32(&out, static_cast<uint32_t>(request.name.size()));
  PutRaw(&out, request.name);
  Put16(&out, static_cast<uint16_t>(request.info_types.size()));
  for (uint16_t t : request.info_types) Put16(&out, t);
  return out;
}

Bytes EncodeOptionReply(uint32_t option, uint32_t reply_type, ByteSpan data) {
  Bytes out;
  out.reserve(kOptionReplyHeaderSize + data.size());
  Put64(&out, kOptionReplyMagic);
  Put32(&out, option);
  Put32(&out, reply_type);
  Put32(&out, static_cast<uint32_t>(data.size()));
  PutRaw(&out, data);
  return out;
}

Bytes EncodeOptionError(uint32_t option, uint32_t reply_type, std::string_view message) {
  TANDEM_CHECK(reply_type & kRepErrBit);
  std::string_view m = Cut(message);
  return EncodeOptionReply(option, reply_type,
                           ByteSpan(reinterpret_cast<const uint8_t*>(m.data()), m.size()));
}

Bytes EncodeRepServer(std::string_view name) {
  Bytes data;
  std::string_view n = Cut(name);
  Put32(&data, static_cast<uint32_t>(n.size()));
  PutRaw(&data, n);
  return EncodeOptionReply(kOptList, kRepServer, data);
}

Bytes EncodeInfoExport(uint32_t option, uint64_t size, uint16_t transmission_flags) {
  Bytes data;
  Put16(&data, kInfoExport);
  Put64(&data, size);
  Put16(&data, transmission_flags);
  return EncodeOptionReply(option, kRepInfo, data);
}

Bytes EncodeInfoName(uint32_t option, std::string_view name) {
  Bytes data;
  Put16(&data, kInfoName);
  PutRaw(&data, Cut(name));
  return EncodeOptionReply(option, kRepInfo, data);
}

Bytes EncodeInfoBlockSize(uint32_t option, uint32_t min, uint32_t preferred, uint32_t max) {
  Bytes data;
  Put16(&data, kInfoBlockSize);
  Put32(&data, min);
  Put32(&data, preferred);
  Put32(&data, max);
  return EncodeOptionReply(option, kRepInfo, data);
}

Bytes EncodeExportNameReply(uint64_t size, uint16_t transmission_flags, bool no_zeroes) {
  Bytes out;
  Put64(&out, size);
  Put16(&out, transmission_flags);
  if (!no_zeroes) out.resize(out.size() + 124, 0);
  return out;
}

Result<OptionReply> DecodeOptionReply(ByteSpan in, size_t* consumed) {
  *consumed = 0;
  if (in.size() < kOptionReplyHeaderSize) {
    return Truncated("option reply", kOptionReplyHeaderSize, in.size());
  }
  if (Get64(in.data()) != kOptionReplyMagic) {
    return MakeError(Errc::kCorrupt, "option reply: bad magic");
  }
  OptionReply r;
  r.option = Get32(in.data() + 8);
  r.type = Get32(in.data() + 12);
  uint32_t len = Get32(in.data() + 16);
  if (in.size() - kOptionReplyHeaderSize < len) {
    return Truncated("option reply data", kOptionReplyHeaderSize + size_t{len}, in.size());
  }
  r.data.assign(in.begin() + kOptionReplyHeaderSize, in.begin() + kOptionReplyHeaderSize + len);
  *consumed = kOptionReplyHeaderSize + len;
  return r;
}

// ---- Transmission ----

Result<Request> DecodeRequest(ByteSpan in) {
  if (in.size() != kRequestHeaderSize) return Truncated("request", kRequestHeaderSize, in.size());
  if (Get32(in.data()) != kRequestMagic) {
    return MakeError(Errc::kCorrupt, "request: bad magic");
  }
  Request r;
  r.flags = Get16(in.data() + 4);
  r.type = Get16(in.data() + 6);
  r.cookie = Get64(in.data() + 8);
  r.offset = Get64(in.data() + 16);
  r.length = Get32(in.data() + 24);
  return r;
}

Bytes EncodeRequest(const Request& request) {
  Bytes out;
  Put32(&out, kRequestMagic);
  Put16(&out, request.flags);
  Put16(&out, request.type);
  Put64(&out, request.cookie);
  Put64(&out, request.offset);
  Put32(&out, request.length);
  return out;
}

Status CheckPayloadLength(const Request& request) {
  if (HasPayload(request) && request.length > kMaxPayloadBytes) {
    return MakeError(Errc::kInvalidArgument, "write payload of " + std::to_string(request.length) +
                                                 " bytes exceeds the maximum of " +
                                                 std::to_string(kMaxPayloadBytes));
  }
  return {};
}

uint16_t TransmissionFlags(const BlockExport& block_export, OpenMode mode) {
  bool rw = mode == OpenMode::kReadWrite;
  uint16_t f = kFlagHasFlags;
  if (!rw) f |= kFlagReadOnly;
  if (block_export.CanFlush()) {
    f |= kFlagSendFlush;
    if (rw) f |= kFlagSendFua;
  }
  if (rw && block_export.CanTrim()) f |= kFlagSendTrim;
  if (rw && block_export.CanWriteZeroes()) f |= kFlagSendWriteZeroes;
  if (block_export.CanMultiConn()) f |= kFlagCanMultiConn;
  return f;
}

RequestCheck CheckRequest(const Request& r, const Session& s) {
  const uint16_t tf = s.transmission_flags;
  uint16_t allowed_flags = 0;
  uint16_t needed_flag = 0;  // the transmission flag advertising the command
  bool writes = false;
  switch (r.type) {
    case kCmdRead:
      break;
    case kCmdWrite:
      writes = true;
      break;
    case kCmdDisc:
      return {};
    case kCmdFlush:
      needed_flag = kFlagSendFlush;
      break;
    case kCmdTrim:
      needed_flag = kFlagSendTrim;
      writes = true;
      break;
    case kCmdWriteZeroes:
      needed_flag = kFlagSendWriteZeroes;
      allowed_flags |= kCmdFlagNoHole;
      writes = true;
      break;
    default:
      return Fail(kEinval, std::string("unsupported command ") + std::to_string(r.type) + " (" +
                               CommandName(r.type) + ")");
  }
  if (tf & kFlagSendFua) allowed_flags |= kCmdFlagFua;
  if (r.flags & ~allowed_flags) {
    return Fail(kEinval, "command flags " + Hex(r.flags) + " not valid for " + CommandName(r.type));
  }
  if (writes && (tf & kFlagReadOnly)) {
    return Fail(kEperm, std::string(CommandName(r.type)) + " on a read-only export");
  }
  if (needed_flag && !(tf & needed_flag)) {
    return Fail(kEinval, std::string(CommandName(r.type)) + " is not supported by this export");
  }
  if (r.type == kCmdFlush) {
    if (r.offset != 0 || r.length != 0) {
      return Fail(kEinval, "NBD_CMD_FLUSH with nonzero offset or length");
    }
    return {};
  }
  if (r.offset % kMinBlockSize != 0 || r.length % kMinBlockSize != 0) {
    return Fail(kEinval, std::string(CommandName(r.type)) + " not aligned to " +
                             std::to_string(kMinBlockSize) + " bytes");
  }
  if ((r.type == kCmdRead || r.type == kCmdWrite) && r.length > kMaxPayloadBytes) {
    return Fail(kEinval, std::string(CommandName(r.type)) + " longer than " +
                             std::to_string(kMaxPayloadBytes) + " bytes");
  }
  if (r.offset > s.export_size || r.length > s.export_size - r.offset) {
    bool grows = r.type == kCmdWrite || r.type == kCmdWriteZeroes;
    return Fail(grows ? kEnospc : kEinval,
                std::string(CommandName(r.type)) + " beyond the end of the export");
  }
  return {};
}

Bytes EncodeSimpleReply(uint32_t error, uint64_t cookie) {
  Bytes out;
  out.reserve(kSimpleReplyHeaderSize);
  Put32(&out, kSimpleReplyMagic);
  Put32(&out, error);
  Put64(&out, cookie);
  return out;
}

Bytes EncodeChunkHeader(uint16_t flags, uint16_t type, uint64_t cookie, uint32_t length) {
  Bytes out;
  out.reserve(kStructuredReplyHeaderSize + 8);
  Put32(&out, kStructuredReplyMagic);
  Put16(&out, flags);
  Put16(&out, type);
  Put64(&out, cookie);
  Put32(&out, length);
  return out;
}

Bytes EncodeChunkNone(uint64_t cookie) {
  return EncodeChunkHeader(kReplyFlagDone, kReplyTypeNone, cookie, 0);
}

Bytes EncodeChunkError(uint64_t cookie, uint32_t error, std::string_view message) {
  TANDEM_CHECK(error != 0);
  std::string_view m = Cut(message);
  Bytes out = EncodeChunkHeader(kReplyFlagDone, kReplyTypeError, cookie,
                                static_cast<uint32_t>(6 + m.size()));
  Put32(&out, error);
  Put16(&out, static_cast<uint16_t>(m.size()));
  PutRaw(&out, m);
  return out;
}

Bytes EncodeChunkOffsetDataHeader(uint64_t cookie, uint64_t offset, uint32_t data_length,
                                  bool done) {
  TANDEM_CHECK(data_length <= UINT32_MAX - 8);
  Bytes out =
      EncodeChunkHeader(done ? kReplyFlagDone : 0, kReplyTypeOffsetData, cookie, data_length + 8);
  Put64(&out, offset);
  return out;
}

Result<Reply> DecodeReply(ByteSpan in, size_t* consumed) {
  *consumed = 0;
  if (in.size() < 4) return Truncated("reply", 4, in.size());
  uint32_t magic = Get32(in.data());
  Reply r;
  if (magic == kSimpleReplyMagic) {
    if (in.size() < kSimpleReplyHeaderSize) {
      return Truncated("simple reply", kSimpleReplyHeaderSize, in.size());
    }
    r.error = Get32(in.data() + 4);
    r.cookie = Get64(in.data() + 8);
    *consumed = kSimpleReplyHeaderSize;
    return r;
  }
  if (magic != kStructuredReplyMagic) return MakeError(Errc::kCorrupt, "reply: bad magic");
  if (in.size() < kStructuredReplyHeaderSize) {
    return Truncated("structured reply", kStructuredReplyHeaderSize, in.size());
  }
  r.structured = true;
  r.flags = Get16(in.data() + 4);
  r.type = Get16(in.data() + 6);
  r.cookie = Get64(in.data() + 8);
  uint32_t len = Get32(in.data() + 16);
  if (in.size() - kStructuredReplyHeaderSize < len) {
    return Truncated("structured reply payload", kStructuredReplyHeaderSize + size_t{len},
                     in.size());
  }
  r.data.assign(in.begin() + kStructuredReplyHeaderSize,
                in.begin() + kStructuredReplyHeaderSize + len);
  if (r.type & (1u << 15)) {
    if (len < 6) return MakeError(Errc::kInvalidArgument, "error chunk shorter than 6 bytes");
    r.error = Get32(r.data.data());
    if (Get16(r.data.data() + 4) > len - 6) {
      return MakeError(Errc::kInvalidArgument, "error chunk message longer than the chunk");
    }
  }
  *consumed = kStructuredReplyHeaderSize + len;
  return r;
}

}  // namespace tandem::nbd
