// Little-endian byte encoding with bounds checks, used by every binary format
// (replication protocol, metadata). A ByteReader never reads past its end: a
// short read sets a sticky failure that the decoder reports as kTruncated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

class ByteWriter {
 public:
  explicit ByteWriter(Bytes* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(v); }
  void U16(uint16_t v) { Put(v); }
  void U32(uint32_t v) { Put(v); }
  void U64(uint64_t v) { Put(v); }
  void Raw(ByteSpan b) { out_->insert(out_->end(), b.begin(), b.end()); }
  void Zeros(size_t n) { out_->resize(out_->size() + n, 0); }
  // A string as u16 length + bytes.
  void Str(std::string_view s) {
    U16(static_cast<uint16_t>(s.size()));
    out_->insert(out_->end(), s.begin(), s.end());
  }
  size_t size() const { return out_->size(); }
  // Overwrites a u32 at an earlier position (for lengths and checksums).
  void PatchU32(size_t pos, uint32_t v) { std::memcpy(out_->data() + pos, &v, 4); }
  void PatchU64(size_t pos, uint64_t v) { std::memcpy(out_->data() + pos, &v, 8); }

 private:
  template <class T>
  void Put(T v) {
    static_assert(std::endian::native == std::endian::little);
    size_t n = out_->size();
    out_->resize(n + sizeof v);
    std::memcpy(out_->data() + n, &v, sizeof v);
  }
  Bytes* out_;
};

class ByteReader {
 public:
  explicit ByteReader(ByteSpan in) : in_(in) {}
  uint8_t U8() { return Get<uint8_t>(); }
  uint16_t U16() { return Get<uint16_t>(); }
  uint32_t U32() { return Get<uint32_t>(); }
  uint64_t U64() { return Get<uint64_t>(); }
  ByteSpan Raw(size_t n) {
    if (!Need(n)) return {};
    ByteSpan s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  std::string Str() {
    uint16_t n = U16();
    ByteSpan s = Raw(n);
    return std::string(s.begin(), s.end());
  }
  void Skip(size_t n) { Raw(n); }
  bool ok() const { return ok_; }
  size_t pos() const { return pos_; }
  size_t remaining() const { return ok_ ? in_.size() - pos_ : 0; }
  bool AtEnd() const { return ok_ && pos_ == in_.size(); }
  void Fail() { ok_ = false; }

 private:
  bool Need(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  template <class T>
  T Get() {
    T v{};
    if (!Need(sizeof v)) return v;
    std::memcpy(&v, in_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  ByteSpan in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// 64-bit checksum (XXH3) used by on-disk formats and message trailers.
uint64_t Checksum64(ByteSpan data, uint64_t seed = 0);

// Length-prefixed frames: u32 little-endian length, then the payload.
// Used by the admin and satellite protocols (JSON payloads).
inline constexpr uint32_t kMaxFrameSize = 64u << 20;
void AppendFrame(Bytes* out, ByteSpan payload);
// Tries to cut one frame from the front of buf. Returns the payload length and
// sets *consumed to the bytes used; returns 0 with *consumed = 0 when more input
// is needed; returns -1 when the length is larger than kMaxFrameSize.
long TakeFrame(ByteSpan buf, ByteSpan* payload, size_t* consumed);

std::string HexDump(ByteSpan data);

}  // namespace tandem

namespace tandem {
// Immutable, shared block payload: a write's data travels to the disk and to
// every peer without copies.
using SharedBytes = std::shared_ptr<const Bytes>;
inline SharedBytes MakeShared(Bytes b) { return std::make_shared<const Bytes>(std::move(b)); }
}  // namespace tandem
