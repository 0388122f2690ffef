// Fuzz target: arbitrary bytes as a client's half of an NBD session, parsed
// the way the server reads it: client flags, then options (header and data,
// decoded per option), then transmission requests (header, payload, checks).
// Also feeds the same bytes to the client-side reply decoders. Nothing may
// crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "nbd/protocol.h"

namespace {

using namespace tandem;
using namespace tandem::nbd;

void ParseTransmission(ByteSpan in, const Session& session) {
  size_t pos = 0;
  while (in.size() - pos >= kRequestHeaderSize) {
    auto req = DecodeRequest(in.subspan(pos, kRequestHeaderSize));
    pos += kRequestHeaderSize;
    if (!req.ok()) return;  // bad magic: the server disconnects
    if (!CheckPayloadLength(*req).ok()) return;
    if (HasPayload(*req)) {
      if (in.size() - pos < req->length) return;
      pos += req->length;
    }
    if (req->type == kCmdDisc) return;
    RequestCheck check = CheckRequest(*req, session);
    if (check.error == 0) {
      // What reaches the export must be aligned and in bounds.
      TANDEM_CHECK(req->type == kCmdFlush ||
                   (req->offset % kMinBlockSize == 0 && req->length % kMinBlockSize == 0 &&
                    req->offset + req->length <= session.export_size));
    }
  }
}

void ParseOptions(ByteSpan in, size_t* pos) {
  while (in.size() - *pos >= kOptionHeaderSize) {
    auto h = DecodeOptionHeader(in.subspan(*pos, kOptionHeaderSize));
    *pos += kOptionHeaderSize;
    if (!h.ok() || h->length > kMaxOptionDataBytes) return;
    if (in.size() - *pos < h->length) return;
    ByteSpan data = in.subspan(*pos, h->length);
    *pos += h->length;
    if (h->option == kOptGo || h->option == kOptInfo) {
      auto r = DecodeInfoRequest(data);
      if (r.ok()) {
        // Re-encoding a decoded request gives the same bytes.
        Bytes again = EncodeInfoRequest(*r);
        TANDEM_CHECK(again.size() == data.size());
      }
      if (h->option == kOptGo && r.ok()) return;  // transmission starts
    }
    if (h->option == kOptExportName || h->option == kOptAbort) return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteSpan in(data, size);
  if (in.size() < kClientFlagsSize) return 0;
  auto flags = DecodeClientFlags(in.first(kClientFlagsSize), kFlagFixedNewstyle | kFlagNoZeroes);
  size_t pos = kClientFlagsSize;
  if (flags.ok()) ParseOptions(in, &pos);
  // The first byte picks a session shape for the transmission phase.
  Session session;
  session.export_size = static_cast<uint64_t>(1 + (data[0] & 0x0f)) << 20;
  session.transmission_flags =
      static_cast<uint16_t>(kFlagHasFlags | (data[0] & 0x80 ? kFlagReadOnly : 0) |
                            (data[0] & 0x40 ? kFlagSendFlush | kFlagSendFua : 0) |
                            (data[0] & 0x20 ? kFlagSendTrim | kFlagSendWriteZeroes : 0));
  session.structured_replies = (data[0] & 0x10) != 0;
  ParseTransmission(in.subspan(pos), session);

  // Client-side decoders over the same bytes.
  size_t consumed = 0;
  (void)DecodeOptionReply(in, &consumed);
  TANDEM_CHECK(consumed <= in.size());
  (void)DecodeReply(in, &consumed);
  TANDEM_CHECK(consumed <= in.size());
  return 0;
}

// Valid sessions to mutate from.
extern "C" size_t TandemFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  auto append = [](Bytes* b, const Bytes& more) { b->insert(b->end(), more.begin(), more.end()); };
  Bytes s = {0, 0, 0, 3};  // FIXED_NEWSTYLE | NO_ZEROES
  append(&s, EncodeOption(kOptStructuredReply, {}));
  append(&s, EncodeOption(kOptList, {}));
  append(&s, EncodeOption(kOptInfo, EncodeInfoRequest({"r0/0", {kInfoBlockSize}})));
  append(&s, EncodeOption(kOptGo, EncodeInfoRequest({"", {kInfoBlockSize, kInfoName}})));
  append(&s, EncodeRequest({0, kCmdRead, 1, 0, 4096}));
  Request w{kCmdFlagFua, kCmdWrite, 2, 4096, 512};
  append(&s, EncodeRequest(w));
  s.resize(s.size() + 512, 0xab);
  append(&s, EncodeRequest({kCmdFlagNoHole, kCmdWriteZeroes, 3, 8192, 4096}));
  append(&s, EncodeRequest({0, kCmdTrim, 4, 0, 1024}));
  append(&s, EncodeRequest({0, kCmdFlush, 5, 0, 0}));
  append(&s, EncodeRequest({0, kCmdDisc, 6, 0, 0}));
  out->push_back(s);
  s[0] = 0xf0;  // every session shape flag
  out->push_back(s);
  Bytes e = {0, 0, 0, 1};
  append(&e, EncodeOption(kOptExportName, ByteSpan(reinterpret_cast<const uint8_t*>("r0"), 2)));
  append(&e, EncodeRequest({0, kCmdRead, 9, 512, 512}));
  out->push_back(e);
  return out->size();
}
