#include "tandemd/frontends.h"

#include "tandemd/daemon.h"

namespace tandem::tandemd {

struct Frontends::Impl {
  std::map<std::string, ResourceHost*> hosts;
};

Frontends::Frontends(boost::asio::io_context&, const Paths&, const DaemonOptions&)
    : impl_(std::make_unique<Impl>()) {}
Frontends::~Frontends() = default;
Result<bool> Frontends::Start() { return true; }
void Frontends::Stop() {}
void Frontends::AddResource(ResourceHost* host) { impl_->hosts[host->name()] = host; }
void Frontends::RemoveResource(const std::string& name) { impl_->hosts.erase(name); }

}  // namespace tandem::tandemd
