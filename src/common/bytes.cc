#include "common/bytes.h"

#include <xxhash.h>

#include <cstdio>

namespace tandem {

uint64_t Checksum64(ByteSpan data, uint64_t seed) {
  return XXH3_64bits_withSeed(data.data(), data.size(), seed);
}

void AppendFrame(Bytes* out, ByteSpan payload) {
  ByteWriter w(out);
  w.U32(static_cast<uint32_t>(payload.size()));
  w.Raw(payload);
}

long TakeFrame(ByteSpan buf, ByteSpan* payload, size_t* consumed) {
  *consumed = 0;
  if (buf.size() < 4) return 0;
  ByteReader r(buf);
  uint32_t n = r.U32();
  if (n > kMaxFrameSize) return -1;
  if (buf.size() - 4 < n) return 0;
  *payload = buf.subspan(4, n);
  *consumed = 4 + n;
  return static_cast<long>(n);
}

std::string HexDump(ByteSpan data) {
  std::string out;
  char buf[4];
  for (size_t i = 0; i < data.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%02x", data[i]);
    out += buf;
    if (i + 1 < data.size()) out += (i % 16 == 15) ? '\n' : ' ';
  }
  return out;
}

}  // namespace tandem
