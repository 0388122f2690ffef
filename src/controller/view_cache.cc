#include "controller/view_cache.h"

#include <lz4.h>

#include <algorithm>

namespace tandem::controller {

struct ViewCache::Stream {
  LZ4_stream_t lz4;
};

namespace {
// The dictionary is the start of the first view stored; LZ4 hashes it again
// before every compression, so it stays small.
constexpr size_t kMaxDictBytes = 4096;
}  // namespace

ViewCache::ViewCache() : stream_(std::make_unique<Stream>()) {
  LZ4_initStream(&stream_->lz4, sizeof stream_->lz4);
}

ViewCache::~ViewCache() = default;

void ViewCache::Clear() {
  entries_.clear();
  dict_.clear();
  stored_bytes_ = 0;
}

bool ViewCache::WriteTo(const std::string& key, const ViewVersion& version, JsonWriter& w) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || !(it->second.version == version)) return false;
  const Entry& e = it->second;
  char* out = w.RawValue(e.raw_size);
  int n = LZ4_decompress_safe_usingDict(e.data.data(), out, static_cast<int>(e.data.size()),
                                        static_cast<int>(e.raw_size), dict_.data(),
                                        static_cast<int>(dict_.size()));
  // A block that does not decompress to its size cannot happen short of memory
  // corruption; a view with holes must never go out.
  if (n != static_cast<int>(e.raw_size)) std::abort();
  return true;
}

void ViewCache::Put(const std::string& key, const ViewVersion& version, std::string_view json) {
  if (json.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) return;
  if (dict_.empty()) dict_.assign(json.substr(0, std::min(json.size(), kMaxDictBytes)));
  scratch_.resize(static_cast<size_t>(LZ4_compressBound(static_cast<int>(json.size()))));
  LZ4_resetStream_fast(&stream_->lz4);
  LZ4_loadDict(&stream_->lz4, dict_.data(), static_cast<int>(dict_.size()));
  int n = LZ4_compress_fast_continue(&stream_->lz4, json.data(), scratch_.data(),
                                     static_cast<int>(json.size()),
                                     static_cast<int>(scratch_.size()), 1);
  if (n <= 0) return;  // not kept: written anew next time
  Entry& e = entries_[key];
  stored_bytes_ -= e.data.size();
  e.version = version;
  e.raw_size = static_cast<uint32_t>(json.size());
  e.data.assign(scratch_.data(), static_cast<size_t>(n));
  stored_bytes_ += e.data.size();
}

}  // namespace tandem::controller
