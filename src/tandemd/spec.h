// ResourceSpec: one node's view of a resource, as tandemadm sends it with
// `up` / `adjust` and as tandemd persists it (docs/tandemd.md, "The resource
// spec"). JSON codec with strict validation: unknown fields are errors.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "engine/resource.h"
#include "engine/types.h"

namespace tandem::tandemd {

struct NodeSpec {
  uint8_t id = 0;
  std::string name;
  std::string address;  // ip:port this node listens on for the resource
  bool diskless = false;
  bool operator==(const NodeSpec&) const = default;
};

struct VolumeSpec {
  uint16_t vnr = 0;
  std::string disk;                    // backing file or device; "none" = diskless
  std::string meta_disk = "internal";  // or an external metadata file
  bool has_disk() const { return !disk.empty() && disk != "none"; }
  bool internal_md() const { return meta_disk == "internal"; }
  bool operator==(const VolumeSpec&) const = default;
};

struct ResourceSpec {
  std::string name;
  uint8_t node_id = 0;
  std::string shared_secret;
  std::vector<NodeSpec> nodes;
  std::vector<VolumeSpec> volumes;
  engine::Options options;

  const NodeSpec* self() const;
  const NodeSpec* FindNode(uint8_t id) const;
  const NodeSpec* FindNodeByName(const std::string& name) const;
  const VolumeSpec* FindVolume(uint16_t vnr) const;
  bool diskless() const;  // this node has no disk for any volume
  // Bitmap slots at create-md: the other diskful nodes (at least 1).
  uint32_t MaxPeers() const;
  std::vector<uint8_t> DiskfulPeers() const;
  // Everything the engine needs.
  engine::ResourceConfig ToEngineConfig() const;
  // Empty when valid, else what is wrong.
  std::string Validate() const;
};

boost::json::object OptionsToJson(const engine::Options& o);
Result<engine::Options> OptionsFromJson(const boost::json::value& v);

boost::json::object SpecToJson(const ResourceSpec& s);
Result<ResourceSpec> SpecFromJson(const boost::json::value& v);

// Resource names: letters, digits, '_', '-', '.', 1..48 chars, not starting with '-' or '.'.
bool ValidResourceName(const std::string& name);

}  // namespace tandem::tandemd
