#include "controller/desired.h"

namespace tandem::controller {

std::optional<SatelliteEndpoint> EndpointOf(const Node& node) {
  if (node.type == NodeType::kController || node.type == NodeType::kAuxiliary) return std::nullopt;
  const NetInterface* pick = nullptr;
  for (const NetInterface& nif : node.net_interfaces) {
    if (nif.is_active) {
      pick = &nif;
      break;
    }
  }
  if (!pick && !node.net_interfaces.empty()) pick = &node.net_interfaces.front();
  if (!pick || pick->address.empty()) return std::nullopt;
  return SatelliteEndpoint{pick->address, pick->satellite_port > 0 ? pick->satellite_port
                                                                   : satproto::kDefaultSatellitePort};
}

std::vector<satproto::PoolDesired> DesiredPools(const Cluster& c, std::string_view node) {
  std::vector<satproto::PoolDesired> out;
  c.pools.ForPrefix(ChildPrefix(node), [&](const StoragePool& p) {
    satproto::PoolDesired d;
    d.name = p.name;
    d.provider = ProviderKindName(p.provider);
    for (const auto& [k, v] : p.props) d.props[k] = v;
    out.push_back(std::move(d));
  });
  return out;
}

satproto::DrbdOptions DrbdOptionsOf(const std::vector<PropsLevel>& chain) {
  static const std::map<std::string, std::string, std::less<>> kSections = {
      {"Net", "net"}, {"Disk", "disk"}, {"PeerDevice", "peer-device"}, {"Resource", "resource"}};
  satproto::DrbdOptions out;
  constexpr std::string_view kPrefix = "DrbdOptions/";
  for (const auto& [key, eff] : EffectiveProps(chain)) {
    std::string_view k = key;
    if (k.substr(0, kPrefix.size()) != kPrefix) continue;
    k.remove_prefix(kPrefix.size());
    size_t slash = k.find('/');
    if (slash == std::string_view::npos) continue;
    auto sec = kSections.find(k.substr(0, slash));
    if (sec == kSections.end()) continue;  // Handlers, ... : not .res options we run
    std::string option(k.substr(slash + 1));
    if (option.empty() || option.find('/') != std::string::npos) continue;
    out[sec->second][option] = eff.value;
  }
  // Rebuild speed (bench/rebuild.sh): DRBD's default of 100 sectors in flight
  // holds a resync to a few MiB/s; managed resources keep 10 MiB in flight
  // unless a property says otherwise (c-min-rate still yields to application I/O).
  auto sets = [&](const char* section, const char* option) {
    auto it = out.find(section);
    return it != out.end() && it->second.count(option) > 0;
  };
  if (!sets("peer-device", "c-fill-target") && !sets("disk", "c-fill-target"))
    out["peer-device"]["c-fill-target"] = kManagedFillTargetSectors;
  if (!sets("net", "max-buffers")) out["net"]["max-buffers"] = kManagedMaxBuffers;
  return out;
}

namespace {

std::string AddressOf(const Cluster& c, const std::string& node) {
  const Node* n = c.FindNode(node);
  if (!n) return "";
  std::optional<SatelliteEndpoint> ep = EndpointOf(*n);
  if (ep) return ep->address;
  return n->net_interfaces.empty() ? "" : n->net_interfaces.front().address;
}

}  // namespace

std::map<std::string, satproto::ResourceDesired> DesiredResource(const Cluster& c,
                                                                 const ResourceDefinition& rd) {
  std::map<std::string, satproto::ResourceDesired> out;
  std::vector<const Resource*> rscs = c.ResourcesOf(rd.name);
  if (rscs.empty()) return out;
  std::vector<satproto::NodeRef> nodes;
  for (const Resource* r : rscs) {
    nodes.push_back({r->node_name, r->node_id, AddressOf(c, r->node_name), r->diskless(),
                     r->tiebreaker()});
  }
  std::vector<const VolumeDefinition*> vds = c.VolumeDefinitionsOf(rd.name);
  for (const Resource* r : rscs) {
    satproto::ResourceDesired d;
    d.name = rd.name;
    d.port = rd.port;
    d.secret = rd.secret;
    d.peer_slots = rd.peer_slots;
    d.node_id = r->node_id;
    d.nodes = nodes;
    for (const VolumeDefinition* vd : vds) {
      d.volumes.push_back({vd->volume_number, vd->size_kib, vd->minor, r->storage_pool});
    }
    d.options = DrbdOptionsOf(c.ResourceChain(*r));
    d.diskless = r->diskless();
    d.tiebreaker = r->tiebreaker();
    if (auto it = r->props.find(prop::kBlockDevice); it != r->props.end()) {
      Result<bool> b = ParseBool(it->second);
      d.block_device = b.ok() && *b;
    }
    out.emplace(r->node_name, std::move(d));
  }
  return out;
}

std::map<std::string, std::map<std::string, satproto::ResourceDesired>> DesiredAll(
    const Cluster& c) {
  std::map<std::string, std::map<std::string, satproto::ResourceDesired>> out;
  for (const auto& [key, node] : c.nodes.rows()) out[node.name];
  for (const auto& [key, rd] : c.rds.rows()) {
    for (auto& [node, d] : DesiredResource(c, rd)) out[node].emplace(rd.name, std::move(d));
  }
  return out;
}

}  // namespace tandem::controller
