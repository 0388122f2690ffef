#include "controller/controller.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "controller/codec.h"
#include "controller/desired.h"
#include "controller/names.h"
#include "common/log.h"

namespace tandem::controller {

std::string DatabasePath(const std::string& root) {
  return (std::filesystem::path(root) / "var/lib/tandem/controller.db").string();
}

namespace {

Result<std::unique_ptr<Store>> OpenStore(const std::string& root) {
  std::error_code ec;
  std::filesystem::path db = DatabasePath(root);
  std::filesystem::create_directories(db.parent_path(), ec);
  if (ec)
    return MakeError(Errc::kIoError,
                     "cannot create " + db.parent_path().string() + ": " + ec.message());
  return Store::Open(db.string());
}

}  // namespace

Status Controller::Start() {
  auto store = OpenStore(options_.root);
  if (!store.ok()) return store.error();
  store_ = std::move(*store);
  TANDEM_TRY(LoadCluster(*store_, &cluster_));
  service_ = std::make_unique<Service>(&cluster_, store_.get());
  TANDEM_TRY(service_->Bootstrap());
  if (!cluster_.controller_props().count(kClusterIdProp)) {
    PropsChange id;
    id.override_props[kClusterIdProp] = NewUuid();
    rc::ApiCallRcList rcs = service_->SetControllerProps(id);
    if (rc::HasError(rcs)) return MakeError(Errc::kIoError, "cannot store the cluster id");
  }
  service_->set_commit_hook([this](const std::vector<RowChange>& changes) {
    for (const RowChange& c : changes) {
      std::string_view t = c.table;
      if (t == cluster_.rds.name() || t == cluster_.vds.name() || t == cluster_.resources.name()) {
        dirty_rds_.insert(c.key.substr(0, c.key.find('\x1f')));
      } else {
        dirty_all_ = true;  // nodes, pools, groups, controller properties
      }
    }
  });
  api_ = std::make_unique<RestApi>(service_.get(), store_.get());
  hub_ = std::make_unique<SatelliteHub>(HubOptions{cluster_.controller_props().at(kClusterIdProp)});
  api_->set_hub(hub_.get());
  PushDesired();
  hub_->Start();
  server_ = std::make_unique<HttpServer>([this](const HttpRequest& r) { return Serve(r); });
  server_->Every(std::chrono::seconds(1), [this] { Tick(); });
  auto port = server_->Start(options_.listen_address, options_.listen_port);
  if (!port.ok()) return port.error();
  port_ = *port;
  return {};
}

void Controller::Run() {
  server_->Run();
  hub_->Stop();
}
void Controller::Stop() { server_->Stop(); }

HttpResponse Controller::Serve(const HttpRequest& request) {
  TakeCapacities();
  HttpResponse response = api_->Handle(request);
  PushDesired();
  return response;
}

void Controller::PushDesired() {
  if (!dirty_all_ && dirty_rds_.empty()) return;
  if (dirty_all_) {
    auto all = DesiredAll(cluster_);
    std::set<std::string> names;
    for (const auto& [key, node] : cluster_.nodes.rows()) {
      names.insert(node.name);
      auto it = all.find(node.name);
      hub_->SetNode(node.name, EndpointOf(node), DesiredPools(cluster_, node.name),
                    it == all.end() ? std::map<std::string, satproto::ResourceDesired>{}
                                    : std::move(it->second));
    }
    hub_->RetainNodes(names);
  } else {
    std::map<std::string, std::map<std::string, satproto::ResourceDesired>> now;
    for (const std::string& key : dirty_rds_) {
      const ResourceDefinition* rd = cluster_.rds.Find(key);
      if (!rd) continue;  // deleted: gone from every node
      for (auto& [node, d] : DesiredResource(cluster_, *rd)) now[node].emplace(key, std::move(d));
    }
    hub_->SetResources(dirty_rds_, now);
  }
  dirty_all_ = false;
  dirty_rds_.clear();
}

void Controller::Tick() {
  TakeCapacities();
  CheckAutoEvict();
  CheckEvacuations();
  PushDesired();
}

std::vector<std::pair<std::string, std::string>> EvacuationsDone(const Cluster& cluster,
                                                                 const ObservedMap& observed) {
  auto report = [&](const std::string& node,
                    const std::string& rd) -> const satproto::ResourceState* {
    auto o = observed.find(node);
    if (o == observed.end() || !o->second->live()) return nullptr;
    auto r = o->second->resources.find(rd);
    return r == o->second->resources.end() ? nullptr : &r->second;
  };
  std::vector<std::pair<std::string, std::string>> done;
  for (const auto& [key, leaving] : cluster.resources.rows()) {
    if (!HasFlag(leaving.flags, kFlagEvacuate)) continue;
    if (const satproto::ResourceState* own = report(leaving.node_name, leaving.rd_name)) {
      if (own->in_use) continue;
    }
    int replacements = 0;
    bool ready = true;
    for (const Resource* r : cluster.ResourcesOf(leaving.rd_name)) {
      if (r->diskless() || HasFlag(r->flags, kFlagEvacuate)) continue;
      ++replacements;
      const satproto::ResourceState* st = report(r->node_name, r->rd_name);
      ready = ready && st && !st->volumes.empty() &&
              std::all_of(st->volumes.begin(), st->volumes.end(),
                          [](const satproto::VolumeState& v) { return v.disk_state == "UpToDate"; });
    }
    if (ready && replacements > 0) done.emplace_back(leaving.rd_name, leaving.node_name);
  }
  return done;
}

void Controller::CheckEvacuations() {
  for (const auto& [rd, node] : EvacuationsDone(cluster_, hub_->Observed())) {
    rc::ApiCallRcList rcs = service_->FinishEvacuation(rd, node);
    for (const rc::ApiCallRc& r : rcs) Logf(LogLevel::kInfo, "evacuation: {}", r.message);
  }
}


void Controller::CheckAutoEvict() {
  using Clock = std::chrono::steady_clock;
  Clock::time_point now = Clock::now();
  ObservedMap obs = hub_->Observed();
  int dialed = 0;
  int offline = 0;
  for (const auto& [key, node] : cluster_.nodes.rows()) {
    if (!EndpointOf(node)) continue;
    ++dialed;
    auto o = obs.find(node.name);
    if (o != obs.end() && o->second->live()) {
      offline_since_.erase(node.name);
    } else {
      offline_since_.try_emplace(node.name, now);
      ++offline;
    }
  }
  for (auto it = offline_since_.begin(); it != offline_since_.end();) {
    const Node* node = cluster_.FindNode(it->first);
    if (!node) {
      it = offline_since_.erase(it);
      continue;
    }
    const std::string name = node->name;
    Clock::time_point since = it->second;
    ++it;
    if (!node->flags.empty()) continue;  // EVICTED, EVACUATE, ... already
    std::vector<PropsLevel> chain{{"node", &node->props}, {"controller", &cluster_.controller_props()}};
    Result<bool> allow =
        ParseBool(LookupProp(chain, "DrbdOptions/AutoEvictAllowEviction").value_or("true"));
    if (allow.ok() && !*allow) continue;
    double after_min = PropNumber(chain, "DrbdOptions/AutoEvictAfterTime", 60);
    if (now - since < std::chrono::duration<double>(after_min * 60)) continue;
    double max_pct = PropNumber(chain, "DrbdOptions/AutoEvictMaxDisconnectedNodes", 34);
    if (offline * 100.0 > max_pct * dialed) {
      if (!too_many_offline_logged_) {
        Logf(LogLevel::kWarn,
             "auto-evict: {} of {} nodes are offline, more than {}%: evicting none", offline,
             dialed, max_pct);
        too_many_offline_logged_ = true;
      }
      continue;
    }
    too_many_offline_logged_ = false;
    rc::ApiCallRcList rcs = service_->EvictNode(name);
    for (const rc::ApiCallRc& r : rcs) Logf(LogLevel::kInfo, "auto-evict: {}", r.message);
  }
  // An evicted node keeps the resources no other node could take; try again
  // now and then, a new node or pool may allow it now (user guide).
  if (now < next_evict_retry_) return;
  next_evict_retry_ = now + std::chrono::seconds(30);
  for (const auto& [key, node] : cluster_.nodes.rows()) {
    if (!HasFlag(node.flags, kFlagEvicted)) continue;
    bool diskful = false;
    for (const Resource* r : cluster_.ResourcesOnNode(node.name)) diskful = diskful || !r->diskless();
    if (!diskful) continue;
    std::string name = node.name;
    rc::ApiCallRcList rcs = service_->EvictNode(name);
    for (const rc::ApiCallRc& r : rcs) {
      if (r.message.find("Resource ") == 0) Logf(LogLevel::kInfo, "auto-evict retry: {}", r.message);
    }
    break;  // the model changed under the loop
  }
}

void Controller::TakeCapacities() {
  uint64_t v = hub_->observed_version();
  if (v == capacity_version_) return;
  capacity_version_ = v;
  for (const auto& [node, obs] : hub_->Observed()) {
    for (const auto& [pool, st] : obs->pools) {
      const StoragePool* p = cluster_.FindPool(node, pool);
      if (!p || p->provider == ProviderKind::kDiskless) continue;
      if (p->total_capacity_kib == st.total_kib && p->free_capacity_kib == st.free_kib) continue;
      // Observations, not configuration: kept in memory, not in the database.
      StoragePool& mut = cluster_.pools.mutable_rows()[PoolKey(node, pool)];
      mut.total_capacity_kib = st.total_kib;
      mut.free_capacity_kib = st.free_kib;
    }
  }
}

Status ExportDatabase(const std::string& root, const std::string& file) {
  auto store = OpenStore(root);
  if (!store.ok()) return store.error();
  auto doc = ExportDb(**store);
  if (!doc.ok()) return doc.error();
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << *doc << "\n";
  out.close();
  if (!out) return MakeError(Errc::kIoError, "cannot write " + file);
  return {};
}

Status ImportDatabase(const std::string& root, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return MakeError(Errc::kNotFound, "cannot read " + file);
  std::stringstream text;
  text << in.rdbuf();
  auto store = OpenStore(root);
  if (!store.ok()) return store.error();
  return ImportDb(**store, text.str());
}

}  // namespace tandem::controller
