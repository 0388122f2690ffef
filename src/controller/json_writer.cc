#include "controller/json_writer.h"

#include <cassert>
#include <charconv>
#include <cmath>
#include <cstring>

namespace tandem::controller {

void JsonWriter::Reserve(size_t bytes) { buf_.reserve(buf_.size() + bytes); }

std::string JsonWriter::Take() && { return std::move(buf_); }

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (depth_ > 0) {
    uint64_t bit = uint64_t{1} << (depth_ - 1);
    if (has_items_ & bit) Put(',');
    has_items_ |= bit;
  }
}

JsonWriter& JsonWriter::Open(char c) {
  BeforeValue();
  Put(c);
  assert(depth_ < 64);
  ++depth_;
  has_items_ &= ~(uint64_t{1} << (depth_ - 1));
  return *this;
}

JsonWriter& JsonWriter::Close(char c) {
  assert(depth_ > 0 && !after_key_);
  --depth_;
  Put(c);
  return *this;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  assert(!after_key_);
  BeforeValue();
  Escaped(key);
  Put(':');
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view s) {
  BeforeValue();
  Escaped(s);
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t v) {
  BeforeValue();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  Put(std::string_view(buf, static_cast<size_t>(end - buf)));
  return *this;
}

JsonWriter& JsonWriter::Double(double v) {
  BeforeValue();
  if (!std::isfinite(v)) {  // JSON has no NaN or infinity
    Put("null");
    return *this;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string_view text(buf, static_cast<size_t>(end - buf));
  Put(text);
  if (text.find_first_of(".e") == std::string_view::npos) Put(".0");
  return *this;
}

JsonWriter& JsonWriter::Bool(bool v) {
  BeforeValue();
  Put(v ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::Null() {
  BeforeValue();
  Put("null");
  return *this;
}

char* JsonWriter::RawValue(size_t n) {
  BeforeValue();
  size_t at = buf_.size();
  buf_.resize(at + n);
  return buf_.data() + at;
}

void JsonWriter::PrepareValue() {
  assert(!after_key_);
  BeforeValue();
  after_key_ = true;  // the next value follows without a separator
}

JsonWriter& JsonWriter::Raw(std::string_view json) {
  BeforeValue();
  Put(json);
  return *this;
}

namespace {

// Whether `s` has a byte that JSON strings must escape (< 0x20, '"', '\\'),
// eight bytes at a time: the view's strings are mostly short names that need
// nothing, and a byte-wise test was a quarter of the view's time.
bool NeedsEscape(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  auto has_zero = [](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
    if (below_space | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\'))) return true;
  }
  for (; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == '"' || c == '\\') return true;
  }
  return false;
}

}  // namespace

void JsonWriter::Escaped(std::string_view s) {
  Put('"');
  if (!NeedsEscape(s)) {
    Put(s);
    Put('"');
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    Put(s.substr(run, i - run));
    run = i + 1;
    switch (c) {
      case '"':
        Put("\\\"");
        break;
      case '\\':
        Put("\\\\");
        break;
      case '\n':
        Put("\\n");
        break;
      case '\r':
        Put("\\r");
        break;
      case '\t':
        Put("\\t");
        break;
      case '\b':
        Put("\\b");
        break;
      case '\f':
        Put("\\f");
        break;
      default: {
        char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        Put(std::string_view(u, sizeof u));
      }
    }
  }
  Put(s.substr(run));
  Put('"');
}

}  // namespace tandem::controller
