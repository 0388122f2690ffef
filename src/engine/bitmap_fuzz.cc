// Fuzz target for the compact bitmap encoding. Input: a little-endian u16
// choosing the bitmap size (mod 5000), then the encoding. Properties:
//  - DecodeCompact either fails cleanly or yields a bitmap that survives an
//    encode/decode round trip;
//  - any bitmap round-trips: the same bytes, read as a bit pattern, make a
//    bitmap whose encoding must decode to it (most mutated inputs are not
//    valid encodings, so this keeps the encoder under test too).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/check.h"
#include "engine/bitmap.h"

namespace {

using tandem::Bytes;
using tandem::ByteSpan;
using tandem::engine::Bitmap;

constexpr uint64_t kMaxBits = 5000;

std::vector<uint8_t> WithSize(uint16_t bits, const Bytes& encoding) {
  std::vector<uint8_t> in(2 + encoding.size());
  in[0] = static_cast<uint8_t>(bits);
  in[1] = static_cast<uint8_t>(bits >> 8);
  std::copy(encoding.begin(), encoding.end(), in.begin() + 2);
  return in;
}

void CheckRoundTrip(const Bitmap& bm) {
  TANDEM_CHECK(bm.Count() == bm.CountRange(0, bm.size()));
  const Bytes encoded = bm.EncodeCompact();
  TANDEM_CHECK(encoded.size() <= 1 + 8 * bm.words().size());  // never worse than plain
  auto decoded = Bitmap::DecodeCompact(encoded, bm.size());
  TANDEM_CHECK(decoded.ok());
  TANDEM_CHECK(*decoded == bm);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint64_t bits = (data[0] | (uint64_t{data[1]} << 8)) % kMaxBits;
  const ByteSpan payload(data + 2, size - 2);

  auto decoded = Bitmap::DecodeCompact(payload, bits);
  if (decoded.ok()) {
    TANDEM_CHECK(decoded->size() == bits);
    CheckRoundTrip(*decoded);
  } else {
    TANDEM_CHECK(!decoded.error().message.empty());
  }

  // The payload as a bit pattern, repeated to fill the bitmap; runs of equal
  // bytes give long runs, varied bytes short ones.
  if (!payload.empty()) {
    Bitmap pattern(bits);
    for (uint64_t i = 0; i < bits; ++i) {
      if ((payload[(i / 8) % payload.size()] >> (i % 8)) & 1) pattern.Set(i);
    }
    CheckRoundTrip(pattern);
  }
  return 0;
}

extern "C" size_t TandemFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  const size_t before = out->size();
  // The worked example of docs/bitmap-encoding.md.
  Bitmap example(100);
  example.SetRange(10, 10);
  example.Set(64);
  out->push_back(WithSize(100, example.EncodeCompact()));
  // Empty, full, sparse (run-length) and dense alternating (plain) bitmaps.
  out->push_back(WithSize(0, Bitmap(0).EncodeCompact()));
  Bitmap full(4097);
  full.SetAll();
  out->push_back(WithSize(4097, full.EncodeCompact()));
  Bitmap sparse(3000);
  for (uint64_t i = 7; i < 3000; i += 401) sparse.SetRange(i, 1 + i % 90);
  out->push_back(WithSize(3000, sparse.EncodeCompact()));
  Bitmap alternating(130);
  for (uint64_t i = 0; i < 130; i += 2) alternating.Set(i);
  out->push_back(WithSize(130, alternating.EncodeCompact()));
  return out->size() - before;
}
