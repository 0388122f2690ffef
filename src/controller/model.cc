#include "controller/model.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <random>

#include "controller/names.h"

namespace tandem::controller {
namespace {

std::string Canon(std::string_view text) {
  std::string out;
  for (char c : text) {
    out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

std::string Pad(int n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08d", n);
  return buf;
}

constexpr char kSep = '\x1f';

}  // namespace

const char* NodeTypeName(NodeType type) {
  switch (type) {
    case NodeType::kController:
      return "CONTROLLER";
    case NodeType::kSatellite:
      return "SATELLITE";
    case NodeType::kCombined:
      return "COMBINED";
    case NodeType::kAuxiliary:
      return "AUXILIARY";
  }
  return "SATELLITE";
}

Result<NodeType> ParseNodeType(std::string_view text) {
  std::string c = Canon(text);
  if (c == "CONTROLLER") return NodeType::kController;
  if (c == "SATELLITE") return NodeType::kSatellite;
  if (c == "COMBINED") return NodeType::kCombined;
  if (c == "AUXILIARY") return NodeType::kAuxiliary;
  return MakeError(Errc::kInvalidArgument,
                   "Unknown node type '" + std::string(text) +
                       "' (expected Controller, Satellite, Combined or Auxiliary)");
}

const char* ProviderKindName(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::kDiskless:
      return "DISKLESS";
    case ProviderKind::kLvm:
      return "LVM";
    case ProviderKind::kLvmThin:
      return "LVM_THIN";
    case ProviderKind::kZfs:
      return "ZFS";
    case ProviderKind::kZfsThin:
      return "ZFS_THIN";
    case ProviderKind::kFile:
      return "FILE";
    case ProviderKind::kFileThin:
      return "FILE_THIN";
  }
  return "FILE";
}

Result<ProviderKind> ParseProviderKind(std::string_view text) {
  std::string c = Canon(text);
  if (c == "DISKLESS") return ProviderKind::kDiskless;
  if (c == "LVM") return ProviderKind::kLvm;
  if (c == "LVM_THIN" || c == "LVMTHIN") return ProviderKind::kLvmThin;
  if (c == "ZFS") return ProviderKind::kZfs;
  if (c == "ZFS_THIN" || c == "ZFSTHIN") return ProviderKind::kZfsThin;
  if (c == "FILE") return ProviderKind::kFile;
  if (c == "FILE_THIN" || c == "FILETHIN") return ProviderKind::kFileThin;
  return MakeError(Errc::kInvalidArgument,
                   "Unknown storage provider '" + std::string(text) +
                       "' (expected DISKLESS, FILE, FILE_THIN, LVM, LVM_THIN, ZFS or ZFS_THIN)");
}

bool IsThin(ProviderKind kind) {
  return kind == ProviderKind::kLvmThin || kind == ProviderKind::kZfsThin ||
         kind == ProviderKind::kFileThin;
}

Result<std::string> ParseLayerName(std::string_view text) {
  std::string c = Canon(text);
  static const char* kKnown[] = {"DRBD",       "LUKS",  "STORAGE", "NVME",
                                 "WRITECACHE", "CACHE", "BCACHE"};
  for (const char* k : kKnown) {
    if (c == k) return std::string(k);
  }
  return MakeError(Errc::kInvalidArgument, "Unknown layer '" + std::string(text) + "'");
}

bool LayerSupported(std::string_view canonical) {
  return canonical == "DRBD" || canonical == "STORAGE";
}

SelectFilter MergeFilters(const SelectFilter& top, const SelectFilter& base) {
  SelectFilter out = base;
  if (top.place_count) out.place_count = top.place_count;
  if (top.additional_place_count) out.additional_place_count = top.additional_place_count;
  if (!top.node_name_list.empty()) out.node_name_list = top.node_name_list;
  if (!top.storage_pool_list.empty()) out.storage_pool_list = top.storage_pool_list;
  if (!top.storage_pool_diskless_list.empty()) {
    out.storage_pool_diskless_list = top.storage_pool_diskless_list;
  }
  if (!top.not_place_with_rsc.empty()) out.not_place_with_rsc = top.not_place_with_rsc;
  if (top.not_place_with_rsc_regex) out.not_place_with_rsc_regex = top.not_place_with_rsc_regex;
  if (!top.replicas_on_same.empty()) out.replicas_on_same = top.replicas_on_same;
  if (!top.replicas_on_different.empty()) out.replicas_on_different = top.replicas_on_different;
  if (!top.x_replicas_on_different.empty()) {
    out.x_replicas_on_different = top.x_replicas_on_different;
  }
  if (!top.layer_stack.empty()) out.layer_stack = top.layer_stack;
  if (!top.provider_list.empty()) out.provider_list = top.provider_list;
  if (top.diskless_on_remaining) out.diskless_on_remaining = top.diskless_on_remaining;
  if (top.diskless_type) out.diskless_type = top.diskless_type;
  return out;
}

bool HasFlag(const std::vector<std::string>& flags, std::string_view flag) {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

void SetFlag(std::vector<std::string>* flags, std::string_view flag, bool on) {
  auto it = std::find(flags->begin(), flags->end(), flag);
  if (on && it == flags->end()) flags->emplace_back(flag);
  if (!on && it != flags->end()) flags->erase(it);
}

bool Resource::diskless() const {
  return HasFlag(flags, kFlagDiskless) || HasFlag(flags, kFlagDrbdDiskless) ||
         HasFlag(flags, kFlagTieBreaker);
}
bool Resource::tiebreaker() const { return HasFlag(flags, kFlagTieBreaker); }

std::string NodeKey(std::string_view node) { return NameKey(node); }
std::string PoolKey(std::string_view node, std::string_view pool) {
  return NameKey(node) + kSep + NameKey(pool);
}
std::string VgKey(std::string_view rg, int vlmnr) { return NameKey(rg) + kSep + Pad(vlmnr); }
std::string VdKey(std::string_view rd, int vlmnr) { return NameKey(rd) + kSep + Pad(vlmnr); }
std::string RscKey(std::string_view rd, std::string_view node) {
  return NameKey(rd) + kSep + NameKey(node);
}
std::string ChildPrefix(std::string_view parent) { return NameKey(parent) + kSep; }

const Props& Cluster::controller_props() const {
  static const Props kEmpty;
  const ControllerProps* row = controller.Find("controller");
  return row ? row->props : kEmpty;
}

std::vector<const VolumeDefinition*> Cluster::VolumeDefinitionsOf(std::string_view rd) const {
  std::vector<const VolumeDefinition*> out;
  vds.ForPrefix(ChildPrefix(rd), [&](const VolumeDefinition& vd) { out.push_back(&vd); });
  return out;
}

std::vector<const Resource*> Cluster::ResourcesOf(std::string_view rd) const {
  std::vector<const Resource*> out;
  resources.ForPrefix(ChildPrefix(rd), [&](const Resource& r) { out.push_back(&r); });
  return out;
}

std::vector<const Resource*> Cluster::ResourcesOnNode(std::string_view node) const {
  std::vector<const Resource*> out;
  const ClusterIndex& ix = Index();
  auto it = ix.rscs_by_node.find(NameKey(node));
  if (it == ix.rscs_by_node.end()) return out;
  out.reserve(it->second.size());
  for (const std::string& key : it->second) out.push_back(resources.Find(key));
  return out;
}

size_t Cluster::ResourceCountOnNode(std::string_view node) const {
  const ClusterIndex& ix = Index();
  auto it = ix.rscs_by_node.find(NameKey(node));
  return it == ix.rscs_by_node.end() ? 0 : it->second.size();
}

namespace {

bool Throttled(const VolumeDefinition& vd) {
  return vd.props.count(prop::kThrottleRead) > 0 || vd.props.count(prop::kThrottleWrite) > 0;
}

// The resource definition key of a volume definition row key.
std::string RdKeyOfVd(const std::string& vd_key) { return vd_key.substr(0, vd_key.find(kSep)); }

void Count(UsedNumbers& used, int value, int sign) {
  if (sign > 0) {
    used.Add(value);
  } else {
    used.Remove(value);
  }
}

}  // namespace

void UsedNumbers::Add(int v) {
  if (++count_[v] > 1) return;
  auto next = runs_.find(v + 1);
  auto it = runs_.upper_bound(v);
  if (it != runs_.begin() && std::prev(it)->second == v - 1) {
    it = std::prev(it);
    it->second = v;
  } else {
    it = runs_.emplace(v, v).first;
  }
  if (next != runs_.end()) {
    it->second = next->second;
    runs_.erase(next);
  }
}

void UsedNumbers::Remove(int v) {
  auto c = count_.find(v);
  if (c == count_.end() || --c->second > 0) return;
  count_.erase(c);
  auto run = std::prev(runs_.upper_bound(v));  // the run holding v
  int first = run->first;
  int last = run->second;
  runs_.erase(run);
  if (first < v) runs_.emplace(first, v - 1);
  if (v < last) runs_.emplace(v + 1, last);
}

std::optional<int> UsedNumbers::FirstFree(int lo, int hi) const {
  int v = lo;
  auto it = runs_.upper_bound(lo);
  if (it != runs_.begin() && std::prev(it)->second >= lo) v = std::prev(it)->second + 1;
  if (v > hi) return std::nullopt;
  return v;
}

std::optional<int> Cluster::FirstFreePort(int lo, int hi) const {
  return Index().ports.FirstFree(lo, hi);
}

std::optional<int> Cluster::FirstFreeMinor(int lo, int hi) const {
  return Index().minors.FirstFree(lo, hi);
}

PoolUsage Cluster::UsageOfPool(std::string_view node, std::string_view pool) const {
  const ClusterIndex& ix = Index();
  auto it = ix.pools.find(PoolKey(node, pool));
  return it == ix.pools.end() ? PoolUsage{} : it->second;
}

bool Cluster::HasThrottledVolumes() const { return Index().throttled_vds > 0; }

void Cluster::IndexResource(const Resource& r, const std::string& key, int sign) const {
  std::string node = NameKey(r.node_name);
  if (sign > 0) {
    index_.rscs_by_node[node].insert(key);
  } else if (auto it = index_.rscs_by_node.find(node); it != index_.rscs_by_node.end()) {
    it->second.erase(key);
    if (it->second.empty()) index_.rscs_by_node.erase(it);
  }
  if (r.diskless()) return;
  PoolUsage& u = index_.pools[PoolKey(r.node_name, r.storage_pool)];
  auto size = index_.rd_size_kib.find(NameKey(r.rd_name));
  u.reserved_kib += sign * (size == index_.rd_size_kib.end() ? 0 : size->second);
  u.rsc_count += sign;
}

void Cluster::IndexVd(const VolumeDefinition& vd, const std::string& key, int sign) const {
  Count(index_.minors, vd.minor, sign);
  if (Throttled(vd)) index_.throttled_vds += sign;
  std::string rd = RdKeyOfVd(key);
  index_.rd_size_kib[rd] += sign * vd.size_kib;
  // Every diskful resource of the definition reserves its size.
  resources.ForPrefix(rd + kSep, [&](const Resource& r) {
    if (r.diskless()) return;
    index_.pools[PoolKey(r.node_name, r.storage_pool)].reserved_kib += sign * vd.size_kib;
  });
}

const ClusterIndex& Cluster::Index() const {
  if (IndexCurrent()) return index_;
  index_ = ClusterIndex{};
  for (const auto& [key, rd] : rds.rows()) Count(index_.ports, rd.port, +1);
  for (const auto& [key, vd] : vds.rows()) {
    Count(index_.minors, vd.minor, +1);
    if (Throttled(vd)) ++index_.throttled_vds;
    index_.rd_size_kib[RdKeyOfVd(key)] += vd.size_kib;
  }
  for (const auto& [key, r] : resources.rows()) IndexResource(r, key, +1);
  index_.built = true;
  index_.stamp = IndexStamp();
  return index_;
}

void Cluster::Unindex(const Table<Resource>& t, const std::string& key) {
  if (&t != &resources || !IndexCurrent()) return;
  if (const Resource* r = t.Find(key)) IndexResource(*r, key, -1);
}
void Cluster::Reindex(const Table<Resource>& t, const std::string& key) {
  if (&t != &resources || !IndexCurrent()) return;
  if (const Resource* r = t.Find(key)) IndexResource(*r, key, +1);
}
void Cluster::Unindex(const Table<ResourceDefinition>& t, const std::string& key) {
  if (&t != &rds || !IndexCurrent()) return;
  if (const ResourceDefinition* rd = t.Find(key)) Count(index_.ports, rd->port, -1);
}
void Cluster::Reindex(const Table<ResourceDefinition>& t, const std::string& key) {
  if (&t != &rds || !IndexCurrent()) return;
  if (const ResourceDefinition* rd = t.Find(key)) Count(index_.ports, rd->port, +1);
}
void Cluster::Unindex(const Table<VolumeDefinition>& t, const std::string& key) {
  if (&t != &vds || !IndexCurrent()) return;
  if (const VolumeDefinition* vd = t.Find(key)) IndexVd(*vd, key, -1);
}
void Cluster::Reindex(const Table<VolumeDefinition>& t, const std::string& key) {
  if (&t != &vds || !IndexCurrent()) return;
  if (const VolumeDefinition* vd = t.Find(key)) IndexVd(*vd, key, +1);
}

std::vector<const VolumeGroup*> Cluster::VolumeGroupsOf(std::string_view rg) const {
  std::vector<const VolumeGroup*> out;
  vgs.ForPrefix(ChildPrefix(rg), [&](const VolumeGroup& vg) { out.push_back(&vg); });
  return out;
}

std::vector<PropsLevel> Cluster::RdChain(const ResourceDefinition& rd) const {
  std::vector<PropsLevel> chain;
  chain.push_back({"resource definition", &rd.props});
  if (const ResourceGroup* rg = FindRg(rd.rg_name)) chain.push_back({"resource group", &rg->props});
  chain.push_back({"controller", &controller_props()});
  return chain;
}

std::vector<PropsLevel> Cluster::ResourceChain(const Resource& rsc) const {
  std::vector<PropsLevel> chain;
  chain.push_back({"resource", &rsc.props});
  if (const ResourceDefinition* rd = FindRd(rsc.rd_name)) {
    auto rest = RdChain(*rd);
    // The node sits between the resource definition's groups and the
    // controller: node-level settings apply to every resource on the node
    // unless a definition or group sets them.
    rest.insert(rest.end() - 1, PropsLevel{"node", nullptr});
    if (const Node* node = FindNode(rsc.node_name)) rest[rest.size() - 2].props = &node->props;
    chain.insert(chain.end(), rest.begin(), rest.end());
  } else {
    chain.push_back({"controller", &controller_props()});
  }
  return chain;
}

Txn::~Txn() {
  if (!undo_.empty()) Abort();
}

std::vector<RowChange> Txn::Changes() const {
  std::vector<RowChange> out;
  out.reserve(encode_.size());
  for (const auto& f : encode_) out.push_back(f());
  return out;
}

void Txn::Abort() {
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) (*it)();
  undo_.clear();
  encode_.clear();
  touched_.clear();
}

void Txn::Commit() {
  undo_.clear();
  encode_.clear();
  touched_.clear();
}

std::string NewUuid() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng();
  uint64_t b = rng();
  a = (a & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;
  b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xFFFF), static_cast<unsigned>(a & 0xFFFF),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFULL));
  return buf;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace tandem::controller
