#include "tandemd/frontends.h"

#include <boost/asio/post.hpp>
#include <thread>

#include "common/log.h"
#include "fusedev/fuse_device.h"
#include "nbd/server.h"
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
  std::unique_ptr<nbd::NbdServer> nbd_tcp;
  // One NBD server per volume: its unix socket, the volume as default export.
  std::map<std::string, std::vector<std::unique_ptr<nbd::NbdServer>>> nbd_unix;

  // "r0/0" opens read-write, "r0/0:ro" read-only (docs/tandemd.md).
  Result<nbd::ExportRef> Resolve(std::string_view name) {
    std::string n(name);
    OpenMode mode = OpenMode::kReadWrite;
    if (n.size() > 3 && n.compare(n.size() - 3, 3, ":ro") == 0) {
      mode = OpenMode::kReadOnly;
      n.resize(n.size() - 3);
    }
    size_t slash = n.rfind('/');
    auto unknown = [&] {
      return Error{Errc::kNotFound, "no export '" + std::string(name) +
                                        "' (names are RESOURCE/VOLUME or RESOURCE/VOLUME:ro)"};
    };
    if (slash == std::string::npos || slash == 0 || slash + 1 == n.size()) return unknown();
    auto it = hosts.find(n.substr(0, slash));
    if (it == hosts.end()) return unknown();
    std::string v = n.substr(slash + 1);
    if (v.find_first_not_of("0123456789") != std::string::npos || v.size() > 5) return unknown();
    unsigned long vnr = std::stoul(v);
    BlockExport* exp = vnr <= 65534 ? it->second->Export(static_cast<uint16_t>(vnr)) : nullptr;
    if (!exp) return unknown();
    return nbd::ExportRef{exp, mode, n + (mode == OpenMode::kReadOnly ? ":ro" : "")};
  }
  std::vector<std::string> List() {
    std::vector<std::string> out;
    for (auto& [name, h] : hosts) {
      for (const VolumeSpec& v : h->spec().volumes) out.push_back(name + "/" + std::to_string(v.vnr));
    }
    return out;
  }
  std::unique_ptr<nbd::NbdServer> MakeServer(std::string address, std::string default_export) {
    nbd::ServerOptions so;
    so.listeners.push_back(nbd::ListenerOptions{std::move(address), std::move(default_export)});
    return std::make_unique<nbd::NbdServer>(
        ctx, std::move(so),
        [this](std::string_view name, bool) { return Resolve(name); },
        [this] { return List(); });
  }

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
  if (!impl_->options.nbd_listen.empty()) {
    impl_->nbd_tcp = impl_->MakeServer(impl_->options.nbd_listen, "");
    Status s = impl_->nbd_tcp->Start();
    if (!s.ok()) return Error{s.code(), "NBD on " + impl_->options.nbd_listen + ": " + s.error().message};
  }
  if (impl_->options.fuse) {
    impl_->fuse = std::make_unique<FuseDevice>();
    Status s = impl_->fuse->Start(impl_->paths.fuse_dir());
    if (!s.ok()) return Error{s.code(), "FUSE export: " + s.error().message};
  }
  return true;
}

void Frontends::Stop(std::function<void()> done) {
  // NBD servers first (on the loop), then FUSE (off the loop), then done.
  std::vector<nbd::NbdServer*> servers;
  if (impl_->nbd_tcp) servers.push_back(impl_->nbd_tcp.get());
  for (auto& [name, list] : impl_->nbd_unix) {
    for (auto& s : list) servers.push_back(s.get());
  }
  auto after_nbd = [this, done = std::move(done)] {
    impl_->hosts.clear();
    if (!impl_->fuse) return done();
    FuseDevice* fuse = impl_->fuse.get();
    impl_->OffLoop([fuse] { fuse->Stop(); }, done);
  };
  if (servers.empty()) return after_nbd();
  auto remaining = std::make_shared<size_t>(servers.size());
  for (nbd::NbdServer* s : servers) {
    s->Stop([remaining, after_nbd] {
      if (--*remaining == 0) after_nbd();
    });
  }
}

void Frontends::AddResource(ResourceHost* host) {
  impl_->hosts[host->name()] = host;
  auto& servers = impl_->nbd_unix[host->name()];
  for (const VolumeSpec& v : host->spec().volumes) {
    std::string name = host->name() + "/" + std::to_string(v.vnr);
    auto server = impl_->MakeServer("unix:" + impl_->paths.nbd_socket(host->name(), v.vnr), name);
    Status s = server->Start();
    if (!s.ok()) {
      Logf(LogLevel::kError, "tandemd: NBD socket of {}: {}", name, s.error().message);
      continue;
    }
    servers.push_back(std::move(server));
  }
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
  std::vector<uint16_t> vnrs;
  for (const VolumeSpec& v : host->spec().volumes) vnrs.push_back(v.vnr);
  // The TCP server resolves names through `hosts`: from here on the
  // resource is unknown to new clients. Its connections close with the
  // per-volume servers below only if they came through the unix sockets;
  // TCP clients of this resource see EIO once the host is closed.
  impl_->hosts.erase(it);
  auto after_nbd = [this, name, vnrs, done = std::move(done)] {
    impl_->nbd_unix.erase(name);
    if (!impl_->fuse) return done();
    FuseDevice* fuse = impl_->fuse.get();
    impl_->OffLoop(
        [fuse, name, vnrs] {
          for (uint16_t v : vnrs) (void)fuse->RemoveVolume(name, VolumeNr(v));
        },
        done);
  };
  auto sit = impl_->nbd_unix.find(name);
  if (sit == impl_->nbd_unix.end() || sit->second.empty()) return after_nbd();
  auto remaining = std::make_shared<size_t>(sit->second.size());
  for (auto& s : sit->second) {
    s->Stop([remaining, after_nbd] {
      if (--*remaining == 0) after_nbd();
    });
  }
}

}  // namespace tandem::tandemd
