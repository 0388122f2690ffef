// Applying one resource's desired state on this node (docs/satellite-protocol.md,
// "What the satellite does with it"): backing files, the `.res` file written for
// tandemadm, metadata, and `adjust` against the local tandemd; and removing it.
//
// Thread-safe for different resources; the caller serializes work on one
// resource (Satellite does, per resource).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "satproto/messages.h"
#include "tandemd/spec.h"

namespace tandem::satellite {

using PoolMap = std::map<std::string, satproto::PoolDesired>;

// First line of every .res file the satellite writes; files without it are the
// administrator's and never touched.
inline constexpr const char kManagedMarker[] = "# managed by tandem-satellite";

// The .res text of `r` as `self` sees it. Local disks come from the pools;
// other nodes' disks are not known here and are written as a placeholder.
Result<std::string> RenderResText(const satproto::ResourceDesired& r, const PoolMap& pools,
                                  const std::string& self);

class Applier {
 public:
  Applier(std::string root, std::string node);

  // Creates what is missing and brings the resource to the desired state.
  Status Apply(const satproto::ResourceDesired& r, const PoolMap& pools);
  // tandemd down, then the .res file and the local backing files go.
  Status Remove(const std::string& name);
  // Names of the resources whose .res file this satellite wrote.
  std::vector<std::string> Managed() const;

  std::string ResPath(const std::string& name) const;
  const std::string& admin_socket() const { return admin_socket_; }

 private:
  Status SyncBlockDevices(const satproto::ResourceDesired& r);
  Status Grow(const satproto::ResourceDesired& r, const PoolMap& pools,
              const tandemd::ResourceSpec& spec);

  std::string root_;
  std::string node_;
  std::string res_dir_;
  std::string admin_socket_;
};

}  // namespace tandem::satellite
