// JsonWriter: appends JSON text to a string as it is written, without building
// a document first. For large answers (GET /v1/view/resources with tens of
// thousands of resources) a Boost.JSON DOM costs an allocation per value and
// keeps the whole answer twice in memory; this writes each value once.
//
//   JsonWriter w;
//   w.BeginObject();
//   w.Key("name").String("r0");
//   w.Key("ports").BeginArray().Int(7000).EndArray();
//   w.EndObject();
//   std::string json = std::move(w).Take();
//
// Commas are placed by the writer. Nesting is at most 64 levels (checked in
// debug builds). Strings are escaped as RFC 8259 requires; bytes >= 0x80 pass
// through (names are validated UTF-8 elsewhere). Doubles always carry a
// fraction or an exponent, so that parsers read them back as doubles.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::controller {

class JsonWriter {
 public:
  JsonWriter() = default;
  // Room for `bytes` more output, allocated at once.
  void Reserve(size_t bytes);
  // The text written so far; the writer is empty afterwards.
  std::string Take() &&;
  size_t size() const { return buf_.size(); }

  JsonWriter& BeginObject() { return Open('{'); }
  JsonWriter& EndObject() { return Close('}'); }
  JsonWriter& BeginArray() { return Open('['); }
  JsonWriter& EndArray() { return Close(']'); }
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view s);
  JsonWriter& Int(int64_t v);
  JsonWriter& Double(double v);
  JsonWriter& Bool(bool v);
  JsonWriter& Null();
  // Text that is already one JSON value (for example a cached serialization).
  JsonWriter& Raw(std::string_view json);
  // Room for one value of exactly `n` bytes, which the caller writes at the
  // returned pointer (valid until the next call).
  char* RawValue(size_t n);
  // Places the separator for the next value now, so that the text from size()
  // on is that value alone (what a cache of serialized values keeps).
  void PrepareValue();
  // The text from `offset` to the end.
  std::string_view Since(size_t offset) const { return std::string_view(buf_).substr(offset); }

 private:
  JsonWriter& Open(char c);
  JsonWriter& Close(char c);
  void BeforeValue();
  void Escaped(std::string_view s);
  void Put(char c) { buf_.push_back(c); }
  void Put(std::string_view s) { buf_.append(s); }

  std::string buf_;
  uint64_t has_items_ = 0;  // bit d: the container at depth d has an item
  int depth_ = 0;
  bool after_key_ = false;
};

}  // namespace tandem::controller
