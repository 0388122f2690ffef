// Frontends: the NBD sockets and the FUSE files through which consumers reach
// the volumes of every resource that is up (docs/tandemd.md, "Frontends").
//
// Thread-safety: call on the daemon's io_context thread. Removing a resource
// and stopping are asynchronous because the FUSE side must wait for requests
// that complete on this very thread: that wait runs on a helper thread while
// the loop goes on, and `done` is posted back to the loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
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
  // Closes every frontend; `done` runs on the loop when nothing touches a
  // ResourceHost any more.
  void Stop(std::function<void()> done);
  // Serves every volume of `host` until RemoveResource.
  void AddResource(ResourceHost* host);
  // Stops serving; `done` runs on the loop once no frontend touches the host.
  void RemoveResource(const std::string& name, std::function<void()> done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::tandemd
