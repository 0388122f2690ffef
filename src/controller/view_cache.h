// ViewCache: serialized views kept LZ4-compressed, each valid for one version
// of what it shows.
//
// GET /v1/view/resources over 30,000 resources is 55 MB of JSON. Writing it
// from the model and the observed state costs about 8 us per resource (the
// lookups touch memory all over the heap); dashboards and the CSI/Proxmox
// plugins poll it while little changes. Kept as plain text, the views would
// cost 55 MB of memory; compressed against a dictionary (the first view
// stored, which has the same shape as the others) each is about an eighth of
// that, and decompressing is a few GB/s (docs/benchmarks.md, "Control plane").
//
// Not thread-safe: owned by the REST thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "controller/json_writer.h"

namespace tandem::controller {

// What a resource's view depends on: its definition's rows (Service::RdVersion)
// and what its node reported (ObservedNode::version).
struct ViewVersion {
  uint64_t model = 0;
  uint64_t node = 0;
  bool operator==(const ViewVersion&) const = default;
};

class ViewCache {
 public:
  ViewCache();
  ~ViewCache();
  ViewCache(const ViewCache&) = delete;
  ViewCache& operator=(const ViewCache&) = delete;

  // Forgets every view and the dictionary.
  void Clear();
  // Writes the view of `key` as one value if it is cached for `version`.
  bool WriteTo(const std::string& key, const ViewVersion& version, JsonWriter& w) const;
  // Keeps `json` as the view of `key` for `version`.
  void Put(const std::string& key, const ViewVersion& version, std::string_view json);

  size_t size() const { return entries_.size(); }
  size_t stored_bytes() const { return stored_bytes_; }  // compressed, without keys

 private:
  struct Entry {
    ViewVersion version;
    uint32_t raw_size = 0;
    std::string data;  // LZ4 block against dict_
  };
  struct Stream;  // LZ4_stream_t, reused between compressions

  std::unordered_map<std::string, Entry> entries_;
  std::string dict_;
  std::unique_ptr<Stream> stream_;
  std::string scratch_;
  size_t stored_bytes_ = 0;
};

}  // namespace tandem::controller
