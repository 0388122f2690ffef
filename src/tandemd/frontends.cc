#include "tandemd/frontends.h"

#include <boost/asio/post.hpp>
#include <thread>

#include "common/log.h"
#include "fusedev/fuse_device.h"
#include "tandemd/daemon.h"

namespace tandem::tandemd {

namespace asio = boost::asio;

struct Frontends::Impl {
  Impl(asio::io_context& c, const Paths& p, const DaemonOptions& o)
      : ctx(c), paths(p), options(o) {}
  asio::io_context& ctx;
  const Paths& paths;
  const DaemonOptions& options;
  std::unique_ptr<FuseDevice> fuse;
  std::map<std::string, ResourceHost*> hosts;
  std::vector<std::thread> waiters;

  // Runs `blocking` on a helper thread, then `done` on the loop.
  void OffLoop(std::function<void()> blocking, std::function<void()> done) {
    waiters.emplace_back([this, blocking = std::move(blocking), done = std::move(done)] {
      blocking();
      asio::post(ctx, done);
    });
  }
};

Frontends::Frontends(asio::io_context& ctx, const Paths& paths, const DaemonOptions& options)
    : impl_(std::make_unique<Impl>(ctx, paths, options)) {}

Frontends::~Frontends() {
  for (std::thread& t : impl_->waiters) {
    if (t.joinable()) t.join();
  }
}

Result<bool> Frontends::Start() {
  if (impl_->options.fuse) {
    impl_->fuse = std::make_unique<FuseDevice>();
    Status s = impl_->fuse->Start(impl_->paths.fuse_dir());
    if (!s.ok()) return Error{s.code(), "FUSE export: " + s.error().message};
  }
  return true;
}

void Frontends::Stop(std::function<void()> done) {
  impl_->hosts.clear();
  if (!impl_->fuse) return done();
  FuseDevice* fuse = impl_->fuse.get();
  impl_->OffLoop([fuse] { fuse->Stop(); }, std::move(done));
}

void Frontends::AddResource(ResourceHost* host) {
  impl_->hosts[host->name()] = host;
  if (impl_->fuse) {
    for (const VolumeSpec& v : host->spec().volumes) {
      Status s = impl_->fuse->AddVolume(host->name(), VolumeNr(v.vnr), host->Export(v.vnr));
      if (!s.ok()) {
        Logf(LogLevel::kError, "tandemd: FUSE export of {}/{}: {}", host->name(), v.vnr,
             s.error().message);
      }
    }
  }
}

void Frontends::RemoveResource(const std::string& name, std::function<void()> done) {
  auto it = impl_->hosts.find(name);
  if (it == impl_->hosts.end()) return done();
  ResourceHost* host = it->second;
  impl_->hosts.erase(it);
  if (!impl_->fuse) return done();
  std::vector<uint16_t> vnrs;
  for (const VolumeSpec& v : host->spec().volumes) vnrs.push_back(v.vnr);
  FuseDevice* fuse = impl_->fuse.get();
  impl_->OffLoop(
      [fuse, name, vnrs] {
        for (uint16_t v : vnrs) (void)fuse->RemoveVolume(name, VolumeNr(v));
      },
      std::move(done));
}

}  // namespace tandem::tandemd
