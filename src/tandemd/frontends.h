// Frontends: the NBD sockets and the FUSE files through which consumers reach
// the volumes of every resource that is up (docs/tandemd.md, "Frontends").
//
// Thread-safety: none; runs on the daemon's io_context thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <string>

#include "common/result.h"

namespace tandem::tandemd {

struct DaemonOptions;
struct Paths;
class ResourceHost;

class Frontends {
 public:
  Frontends(boost::asio::io_context& ctx, const Paths& paths, const DaemonOptions& options);
  ~Frontends();
  [[nodiscard]] Result<bool> Start();
  void Stop();
  // Serves every volume of `host` until RemoveResource.
  void AddResource(ResourceHost* host);
  void RemoveResource(const std::string& name);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::tandemd
