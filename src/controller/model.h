// The controller's object model (LINSTOR user guide chapters 1-2) and the
// transaction that every change goes through.
//
// Ownership: one Cluster per controller, owned by Controller and touched only
// by the thread that serves REST requests. Objects are plain values kept in
// ordered tables keyed by the case-insensitive identity of their names
// (names.h), so listings are sorted and deterministic.
//
// Every change goes through a Txn: it records the previous value of each row
// it touches, so Abort() restores the cluster exactly, and Changes() lists the
// rows the store has to write in one SQLite transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "controller/props.h"

namespace tandem::controller {

enum class NodeType { kController, kSatellite, kCombined, kAuxiliary };
const char* NodeTypeName(NodeType type);                // "SATELLITE", ...
Result<NodeType> ParseNodeType(std::string_view text);  // any case

enum class ProviderKind { kDiskless, kLvm, kLvmThin, kZfs, kZfsThin, kFile, kFileThin };
const char* ProviderKindName(ProviderKind kind);                // "FILE_THIN", ...
Result<ProviderKind> ParseProviderKind(std::string_view text);  // any case, '-' or '_'
bool IsThin(ProviderKind kind);

// Layers Tandem implements; others are accepted by name and refused at placement.
Result<std::string> ParseLayerName(std::string_view text);  // canonical "DRBD"
bool LayerSupported(std::string_view canonical);

inline constexpr const char kDefaultResourceGroup[] = "DfltRscGrp";
inline constexpr const char kDefaultStoragePool[] = "DfltStorPool";
inline constexpr const char kDefaultDisklessPool[] = "DfltDisklessStorPool";
inline constexpr int kDefaultPlaceCount = 2;

// Resource flags.
inline constexpr const char kFlagDiskless[] = "DISKLESS";
inline constexpr const char kFlagDrbdDiskless[] = "DRBD_DISKLESS";
inline constexpr const char kFlagTieBreaker[] = "TIE_BREAKER";
inline constexpr const char kFlagInactive[] = "INACTIVE";

// Node and resource flag. On a node: no new resources go there. On a
// resource: it is leaving its node (node evacuate) and is deleted once its
// replacement is UpToDate.
inline constexpr const char kFlagEvacuate[] = "EVACUATE";

// Node flags.
inline constexpr const char kFlagEvicted[] = "EVICTED";

struct NetInterface {
  std::string name;
  std::string address;
  int satellite_port = 3366;
  std::string encryption_type = "PLAIN";
  bool is_active = false;
  std::string uuid;
};

struct Node {
  std::string name;
  NodeType type = NodeType::kSatellite;
  Props props;
  std::vector<NetInterface> net_interfaces;
  std::vector<std::string> flags;
  std::string uuid;
};

struct StoragePoolDefinition {
  std::string name;
  Props props;
  std::string uuid;
};

struct StoragePool {
  std::string node_name;
  std::string name;
  ProviderKind provider = ProviderKind::kFile;
  Props props;
  std::string free_space_mgr_name;  // "<node>;<pool>" unless shared
  bool external_locking = false;
  // Capacity in KiB as last reported by the node; unknown until reported.
  std::optional<int64_t> total_capacity_kib;
  std::optional<int64_t> free_capacity_kib;
  std::string uuid;
};

// The select filter of resource groups, autoplace and spawn. Unset fields
// (nullopt, empty) inherit from the next filter in MergeFilters().
struct SelectFilter {
  std::optional<int> place_count;
  std::optional<int> additional_place_count;
  std::vector<std::string> node_name_list;
  std::vector<std::string> storage_pool_list;  // "storage_pool" is merged in here
  std::vector<std::string> storage_pool_diskless_list;
  std::vector<std::string> not_place_with_rsc;
  std::optional<std::string> not_place_with_rsc_regex;
  std::vector<std::string> replicas_on_same;       // "Aux/key" or "Aux/key=value"
  std::vector<std::string> replicas_on_different;  // "Aux/key" or "Aux/key=value"
  std::map<std::string, int> x_replicas_on_different;
  std::vector<std::string> layer_stack;
  std::vector<std::string> provider_list;
  std::optional<bool> diskless_on_remaining;
  std::optional<std::string> diskless_type;
};
// Fields set in `top` win over `base`.
SelectFilter MergeFilters(const SelectFilter& top, const SelectFilter& base);

struct ResourceGroup {
  std::string name;
  std::string description;
  Props props;
  SelectFilter select_filter;
  std::optional<int> peer_slots;
  std::string uuid;
};

struct VolumeGroup {
  std::string rg_name;
  int volume_number = 0;
  Props props;
  std::vector<std::string> flags;
  std::string uuid;
};

struct ResourceDefinition {
  std::string name;
  std::string external_name;
  std::string rg_name = kDefaultResourceGroup;
  Props props;
  std::vector<std::string> flags;
  std::vector<std::string> layer_stack;  // canonical; empty means DRBD,STORAGE
  int port = 0;
  std::string secret;
  int peer_slots = 7;
  std::string uuid;
};

struct VolumeDefinition {
  std::string rd_name;
  int volume_number = 0;
  int64_t size_kib = 0;
  int minor = 0;
  Props props;
  std::vector<std::string> flags;
  std::string uuid;
};

struct Resource {
  std::string rd_name;
  std::string node_name;
  Props props;
  std::vector<std::string> flags;
  int node_id = 0;
  std::string storage_pool;  // the pool the volumes live in (diskless pool if diskless)
  int64_t create_timestamp_ms = 0;
  std::string uuid;

  bool diskless() const;
  bool tiebreaker() const;
};

bool HasFlag(const std::vector<std::string>& flags, std::string_view flag);
void SetFlag(std::vector<std::string>* flags, std::string_view flag, bool on);

// Row keys. Composite keys join identities with '\x1f' (never part of a valid
// name) and zero-pad numbers so that rows sort naturally.
std::string NodeKey(std::string_view node);
std::string PoolKey(std::string_view node, std::string_view pool);
std::string VgKey(std::string_view rg, int vlmnr);
std::string VdKey(std::string_view rd, int vlmnr);
std::string RscKey(std::string_view rd, std::string_view node);
// All keys of a composite table that start with this parent's identity.
std::string ChildPrefix(std::string_view parent);

// An ordered table of rows; mutate only through Txn.
template <class T>
class Table {
 public:
  explicit Table(const char* name) : name_(name) {}
  const char* name() const { return name_; }
  const T* Find(const std::string& key) const {
    auto it = rows_.find(key);
    return it == rows_.end() ? nullptr : &it->second;
  }
  const std::map<std::string, T>& rows() const { return rows_; }
  size_t size() const { return rows_.size(); }
  // Rows whose key starts with `prefix`, in key order.
  template <class F>
  void ForPrefix(const std::string& prefix, F&& f) const {
    for (auto it = rows_.lower_bound(prefix);
         it != rows_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      f(it->second);
    }
  }
  // For loading from the store and for in-memory observations. Marks every
  // index derived from this table stale (Cluster rebuilds it on next use).
  std::map<std::string, T>& mutable_rows() {
    ++raw_mutations_;
    return rows_;
  }
  // Row writes that keep derived indexes valid; for Txn only (it updates them).
  void Set(const std::string& key, T value) { rows_[key] = std::move(value); }
  void Remove(const std::string& key) { rows_.erase(key); }
  // Bumps on every mutable_rows() call.
  uint64_t raw_mutations() const { return raw_mutations_; }

 private:
  const char* name_;
  std::map<std::string, T> rows_;
  uint64_t raw_mutations_ = 0;
};

// A multiset of integers (ports, minors) that finds the lowest unused one in
// [lo, hi] in O(log n), however many are used.
// Invariant: runs_ are the maximal runs of consecutive values of count_.
class UsedNumbers {
 public:
  void Add(int v);
  void Remove(int v);  // one occurrence; no-op if absent
  std::optional<int> FirstFree(int lo, int hi) const;

 private:
  std::map<int, int> count_;  // value -> occurrences
  std::map<int, int> runs_;   // first -> last value of a run
};

// Diskful resources in one storage pool (placement ratings).
struct PoolUsage {
  int64_t reserved_kib = 0;  // sum of the sizes of their resource definitions
  int rsc_count = 0;
};

// Secondary indexes over resources, resource definitions and volume
// definitions, so that a request does not scan every row. Derived data only:
// Txn keeps it current row by row; after any mutable_rows() of those tables
// the next query rebuilds it from the tables.
struct ClusterIndex {
  bool built = false;
  uint64_t stamp = 0;  // sum of the tables' raw_mutations() when built
  std::map<std::string, std::set<std::string>> rscs_by_node;  // NameKey(node) -> resource keys
  UsedNumbers ports;                                          // of resource definitions
  UsedNumbers minors;                                         // of volume definitions
  std::map<std::string, int64_t> rd_size_kib;                 // rd key -> sum of its vd sizes
  std::map<std::string, PoolUsage> pools;                     // PoolKey -> diskful usage
  int throttled_vds = 0;                                      // vds with a blkio throttle property
};

// The controller properties are one row of this type.
struct ControllerProps {
  Props props;
};

struct Cluster {
  Table<ControllerProps> controller{"controller"};
  Table<Node> nodes{"nodes"};
  Table<StoragePoolDefinition> pool_defs{"storage_pool_definitions"};
  Table<StoragePool> pools{"storage_pools"};
  Table<ResourceGroup> rgs{"resource_groups"};
  Table<VolumeGroup> vgs{"volume_groups"};
  Table<ResourceDefinition> rds{"resource_definitions"};
  Table<VolumeDefinition> vds{"volume_definitions"};
  Table<Resource> resources{"resources"};

  const Props& controller_props() const;
  const Node* FindNode(std::string_view name) const { return nodes.Find(NodeKey(name)); }
  const StoragePool* FindPool(std::string_view node, std::string_view pool) const {
    return pools.Find(PoolKey(node, pool));
  }
  const ResourceGroup* FindRg(std::string_view name) const { return rgs.Find(NodeKey(name)); }
  const ResourceDefinition* FindRd(std::string_view name) const { return rds.Find(NodeKey(name)); }
  const VolumeDefinition* FindVd(std::string_view rd, int vlmnr) const {
    return vds.Find(VdKey(rd, vlmnr));
  }
  const VolumeGroup* FindVg(std::string_view rg, int vlmnr) const {
    return vgs.Find(VgKey(rg, vlmnr));
  }
  const Resource* FindResource(std::string_view rd, std::string_view node) const {
    return resources.Find(RscKey(rd, node));
  }
  std::vector<const VolumeDefinition*> VolumeDefinitionsOf(std::string_view rd) const;
  std::vector<const Resource*> ResourcesOf(std::string_view rd) const;
  std::vector<const Resource*> ResourcesOnNode(std::string_view node) const;
  std::vector<const VolumeGroup*> VolumeGroupsOf(std::string_view rg) const;
  size_t ResourceCountOnNode(std::string_view node) const;
  // The lowest port (of resource definitions) / minor (of volume
  // definitions) in [lo, hi] that none uses.
  std::optional<int> FirstFreePort(int lo, int hi) const;
  std::optional<int> FirstFreeMinor(int lo, int hi) const;
  PoolUsage UsageOfPool(std::string_view node, std::string_view pool) const;
  // Whether any volume definition has a blkio throttle property.
  bool HasThrottledVolumes() const;

  // Inheritance chains (props.h), strongest first.
  std::vector<PropsLevel> RdChain(const ResourceDefinition& rd) const;
  std::vector<PropsLevel> ResourceChain(const Resource& rsc) const;

  // Txn's hooks around one row write: drop the row from the indexes, then
  // add it back once written. No-ops for tables without an index.
  template <class T>
  void Unindex(const Table<T>&, const std::string&) {}
  template <class T>
  void Reindex(const Table<T>&, const std::string&) {}
  void Unindex(const Table<Resource>& t, const std::string& key);
  void Reindex(const Table<Resource>& t, const std::string& key);
  void Unindex(const Table<ResourceDefinition>& t, const std::string& key);
  void Reindex(const Table<ResourceDefinition>& t, const std::string& key);
  void Unindex(const Table<VolumeDefinition>& t, const std::string& key);
  void Reindex(const Table<VolumeDefinition>& t, const std::string& key);

 private:
  uint64_t IndexStamp() const {
    return resources.raw_mutations() + rds.raw_mutations() + vds.raw_mutations();
  }
  bool IndexCurrent() const { return index_.built && index_.stamp == IndexStamp(); }
  const ClusterIndex& Index() const;
  void IndexResource(const Resource& r, const std::string& key, int sign) const;
  void IndexVd(const VolumeDefinition& vd, const std::string& key, int sign) const;

  // Rebuilt lazily by const queries; the Cluster is single-threaded.
  mutable ClusterIndex index_;
};

// One row written or deleted by a transaction; data is the encoded row, or
// nullopt for a deletion.
struct RowChange {
  std::string table;
  std::string key;
  std::optional<std::string> data;
};

// Encodes a row for the store (codec.cc).
std::string EncodeRow(const ControllerProps& row);
std::string EncodeRow(const Node& row);
std::string EncodeRow(const StoragePoolDefinition& row);
std::string EncodeRow(const StoragePool& row);
std::string EncodeRow(const ResourceGroup& row);
std::string EncodeRow(const VolumeGroup& row);
std::string EncodeRow(const ResourceDefinition& row);
std::string EncodeRow(const VolumeDefinition& row);
std::string EncodeRow(const Resource& row);

// A change set over a Cluster. Not thread-safe; at most one open at a time.
class Txn {
 public:
  explicit Txn(Cluster* cluster) : cluster_(cluster) {}
  ~Txn();  // aborts if neither committed nor aborted
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  const Cluster& cluster() const { return *cluster_; }

  template <class T>
  void Put(Table<T>& table, const std::string& key, T value) {
    Remember(table, key);
    Write(cluster_, table, key, std::optional<T>(std::move(value)));
  }
  template <class T>
  void Erase(Table<T>& table, const std::string& key) {
    Remember(table, key);
    Write(cluster_, table, key, std::optional<T>());
  }
  Cluster& mut() { return *cluster_; }

  // The rows to persist, each once, with their current encoding.
  std::vector<RowChange> Changes() const;
  bool empty() const { return undo_.empty(); }
  void Abort();   // restores every touched row
  void Commit();  // forgets the undo log

 private:
  template <class T>
  void Remember(Table<T>& table, const std::string& key) {
    auto id = std::make_pair(std::string(table.name()), key);
    if (!touched_.insert(id).second) return;
    std::optional<T> old;
    if (const T* row = table.Find(key)) old = *row;
    Table<T>* t = &table;
    undo_.push_back([c = cluster_, t, key, old = std::move(old)]() { Write(c, *t, key, old); });
    encode_.push_back([t, key]() {
      RowChange c{t->name(), key, std::nullopt};
      if (const T* row = t->Find(key)) c.data = EncodeRow(*row);
      return c;
    });
  }

  // Sets (value) or erases (nullopt) one row, keeping the indexes current.
  template <class T>
  static void Write(Cluster* c, Table<T>& table, const std::string& key, std::optional<T> value) {
    c->Unindex(table, key);
    if (value) {
      table.Set(key, std::move(*value));
    } else {
      table.Remove(key);
    }
    c->Reindex(table, key);
  }

  Cluster* cluster_;
  std::set<std::pair<std::string, std::string>> touched_;
  std::vector<std::function<void()>> undo_;
  std::vector<std::function<RowChange()>> encode_;
};

// A random RFC 4122 version 4 UUID string.
std::string NewUuid();
int64_t NowMs();

}  // namespace tandem::controller
