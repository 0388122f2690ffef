#include "controller/service.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <set>

#include "controller/names.h"

namespace tandem::controller {
namespace {

using namespace rc;  // NOLINT: the codes read better unqualified here

std::pair<int, int> Range(const Props& ctrl, const char* key, int lo, int hi) {
  auto it = ctrl.find(key);
  if (it == ctrl.end()) return {lo, hi};
  const std::string& v = it->second;
  auto dash = v.find('-');
  if (dash == std::string::npos) return {lo, hi};
  return {std::atoi(v.substr(0, dash).c_str()), std::atoi(v.substr(dash + 1).c_str())};
}

std::string RandomSecret() {
  static const char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::string s;
  for (int i = 0; i < 20; ++i) s.push_back(kChars[rng() % (sizeof kChars - 1)]);
  return s;
}

bool ValidAddress(const std::string& addr) {
  unsigned char buf[16];
  return inet_pton(AF_INET, addr.c_str(), buf) == 1 || inet_pton(AF_INET6, addr.c_str(), buf) == 1;
}

std::string Q(const std::string& s) { return "'" + s + "'"; }

}  // namespace

// One request: its transaction, its answer entries and the context that every
// entry carries (obj_refs, details).
class Service::Op {
 public:
  Op(Service* service, uint64_t op, uint64_t obj)
      : txn_(service->cluster_),
        store_(service->store_),
        hook_(&service->commit_hook_),
        version_(&service->version_),
        rd_versions_(&service->rd_versions_),
        op_(op),
        obj_(obj) {}

  const Cluster& c() const { return txn_.cluster(); }
  Cluster& m() { return txn_.mut(); }
  Txn& txn() { return txn_; }

  void Ref(const std::string& key, const std::string& value) {
    refs_[key] = value;
    std::string label = key == "Node" ? "Node" : key == "RscDfn" ? "Resource" : key;
    details_ += (details_.empty() ? "" : ", ") + label + ": " + Q(value);
  }
  bool Fail(uint64_t code, std::string message, std::string cause = "", std::string correction = "",
            uint64_t obj = 0) {
    rcs_.push_back(Error(op_, obj ? obj : obj_, code, std::move(message), std::move(cause),
                         std::move(correction)));
    return false;
  }
  bool FailStatus(uint64_t code, const Status& s, uint64_t obj = 0) {
    return Fail(code, s.error().message, "", "", obj);
  }
  void Ok(uint64_t code, std::string message, uint64_t obj = 0) {
    rcs_.push_back(Success(op_, obj ? obj : obj_, code, std::move(message)));
  }
  void Note(uint64_t code, std::string message, uint64_t obj = 0) {
    rcs_.push_back(rc::Info(op_, obj ? obj : obj_, code, std::move(message)));
  }
  void Warning(uint64_t code, std::string message, uint64_t obj = 0) {
    rcs_.push_back(Warn(op_, obj ? obj : obj_, code, std::move(message)));
  }
  bool failed() const { return HasError(rcs_); }

  // Commits (memory + store) or rolls back; returns the answer.
  ApiCallRcList Finish() {
    for (auto& r : rcs_) {
      if (r.obj_refs.empty()) r.obj_refs = refs_;
      if (r.details.empty()) r.details = details_;
    }
    if (failed()) {
      txn_.Abort();
      ApiCallRcList errors;
      for (auto& r : rcs_) {
        if (r.is_error()) errors.push_back(std::move(r));
      }
      return errors;
    }
    std::vector<RowChange> changes = txn_.Changes();
    Status s = store_->Apply(changes);
    if (!s.ok()) {
      txn_.Abort();
      return {Error(op_, obj_, kFailSql, "The database refused the change: " + s.error().message,
                    "Writing to the controller database failed; nothing was changed.",
                    "Check the controller's disk and its log.")};
    }
    txn_.Commit();
    if (!changes.empty()) {
      ++*version_;
      for (const RowChange& ch : changes) {
        if (ch.table == c().rds.name() || ch.table == c().vds.name() ||
            ch.table == c().resources.name())
          (*rd_versions_)[ch.key.substr(0, ch.key.find('\x1f'))] = *version_;
      }
    }
    if (*hook_ && !changes.empty()) (*hook_)(changes);
    return std::move(rcs_);
  }

  // ---- lookups that fail with LINSTOR's messages --------------------------

  const Node* NeedNode(const std::string& name) {
    const Node* n = c().FindNode(name);
    if (!n) {
      Fail(kFailNotFoundNode, "Node " + Q(name) + " not found.",
           "The specified node " + Q(name) + " could not be found in the database",
           "Create a node with the name " + Q(name) + " first.");
    }
    return n;
  }
  // The interface `name` of `node` (a copy being modified), or nullptr after
  // failing the request with "not found".
  NetInterface* NeedNetInterface(Node* node, const std::string& name) {
    for (NetInterface& nif : node->net_interfaces) {
      if (NameEquals(nif.name, name)) return &nif;
    }
    Fail(kFailNotFoundNetIf,
         "Net interface " + Q(name) + " of node " + Q(node->name) + " not found.",
         "The node has no net interface with this name.",
         "List the interfaces with: node interface list " + node->name);
    return nullptr;
  }
  const ResourceDefinition* NeedRd(const std::string& name) {
    const ResourceDefinition* rd = c().FindRd(name);
    if (!rd) {
      Fail(kFailNotFoundRscDfn, "Resource definition " + Q(name) + " not found.",
           "The specified resource definition " + Q(name) + " could not be found in the database",
           "Create a resource definition with the name " + Q(name) + " first.");
    }
    return rd;
  }
  const ResourceGroup* NeedRg(const std::string& name) {
    const ResourceGroup* rg = c().FindRg(name);
    if (!rg) {
      Fail(kFailNotFoundRscGrp, "Resource group " + Q(name) + " not found.",
           "The specified resource group " + Q(name) + " could not be found in the database",
           "Create a resource group with the name " + Q(name) + " first.");
    }
    return rg;
  }
  const StoragePool* NeedPool(const std::string& node, const std::string& pool,
                              bool is_default = false) {
    const StoragePool* p = c().FindPool(node, pool);
    if (!p) {
      Fail(is_default ? kFailNotFoundDfltStorPool : kFailNotFoundStorPool,
           "Storage pool " + Q(pool) + " on node " + Q(node) + " not found.",
           "The specified storage pool " + Q(pool) + " on node " + Q(node) +
               " could not be found in the database",
           "Create a storage pool with the name " + Q(pool) + " on node " + Q(node) + " first.");
    }
    return p;
  }
  bool CheckProps(const PropsChange& change) {
    Status s = ValidatePropsChange(change);
    if (!s.ok()) return Fail(kFailInvldProp, s.error().message, "", "Check the key and the value.");
    return true;
  }
  bool CheckProps(const Props& props) {
    PropsChange change;
    change.override_props = props;
    return CheckProps(change);
  }
  // Address, port and encryption of a net interface, with LINSTOR's codes.
  bool CheckNetInterface(NetInterface* nif) {
    if (!ValidAddress(nif->address)) {
      return Fail(kFailInvldNetAddr,
                  "The address " + Q(nif->address) + " of net interface " + Q(nif->name) +
                      " is not a valid IP address.",
                  "", "Specify a valid IPv4 or IPv6 address.", kMaskNetIf);
    }
    if (nif->satellite_port < 1 || nif->satellite_port > 65535) {
      return Fail(kFailInvldNetPort,
                  "The port " + std::to_string(nif->satellite_port) + " of net interface " +
                      Q(nif->name) + " is invalid.",
                  "", "Specify a port from 1 to 65535.", kMaskNetIf);
    }
    std::string enc = NameKey(nif->encryption_type);  // upper case
    if (enc != "PLAIN" && enc != "SSL") {
      return Fail(kFailInvldNetAddr,
                  "The encryption type " + Q(nif->encryption_type) + " of net interface " +
                      Q(nif->name) + " is invalid.",
                  "", "Use PLAIN or SSL.", kMaskNetIf);
    }
    nif->encryption_type = enc;
    return true;
  }

  bool CheckFilter(const SelectFilter& f) {
    if (f.place_count && *f.place_count == 0) {
      return Fail(kFailInvldPlaceCount, "Place count must be at least 1 (or -1 for all nodes).");
    }
    for (const auto& l : f.layer_stack) {
      auto r = ParseLayerName(l);
      if (!r.ok()) return Fail(kFailInvldLayerStack, r.error().message);
    }
    for (const auto& p : f.provider_list) {
      auto r = ParseProviderKind(p);
      if (!r.ok()) return Fail(kFailInvldProvider, r.error().message);
    }
    return true;
  }

  // ---- allocation ---------------------------------------------------------

  std::optional<int> AllocatePort() {
    auto [lo, hi] =
        Range(c().controller_props(), prop::kTcpPortRange, kDefaultPortLow, kDefaultPortHigh);
    return c().FirstFreePort(lo, hi);
  }
  std::optional<int> AllocateMinor() {
    auto [lo, hi] =
        Range(c().controller_props(), prop::kMinorRange, kDefaultMinorLow, kDefaultMinorHigh);
    return c().FirstFreeMinor(lo, hi);
  }
  std::optional<int> AllocateNodeId(const std::string& rd) {
    std::set<int> used;
    for (const Resource* r : c().ResourcesOf(rd)) used.insert(r->node_id);
    for (int id = 0; id < 32; ++id) {
      if (!used.count(id)) return id;
    }
    return std::nullopt;
  }

  // ---- composite steps ----------------------------------------------------

  void PutResource(Resource r) {
    std::string key = RscKey(r.rd_name, r.node_name);
    txn_.Put(m().resources, key, std::move(r));
  }

  // Creates one resource; handles diskless flags, pool choice and tiebreaker
  // takeover.
  bool CreateResource(const ResourceDefinition& rd, const ResourceCreateRequest& req) {
    const std::string& node_name = req.rsc.node_name;
    if (node_name.empty()) return Fail(kFailInvldNodeName, "The resource needs a node_name.");
    const Node* node = NeedNode(node_name);
    if (!node) return false;
    if (!CheckProps(req.rsc.props)) return false;
    for (const auto& l : req.layer_list) {
      auto r = ParseLayerName(l);
      if (!r.ok()) return Fail(kFailInvldLayerStack, r.error().message);
      if (!LayerSupported(*r)) {
        return Fail(kFailInvldLayerStack, "Layer " + *r + " is not supported by Tandem", "",
                    "Use the layers DRBD and STORAGE.");
      }
    }
    Resource r;
    r.rd_name = rd.name;
    r.node_name = node->name;
    r.props = req.rsc.props;
    r.create_timestamp_ms = NowMs();
    r.uuid = NewUuid();
    bool diskless = HasFlag(req.rsc.flags, kFlagDiskless) ||
                    HasFlag(req.rsc.flags, kFlagDrbdDiskless) ||
                    HasFlag(req.rsc.flags, "NVME_INITIATOR");
    if (HasFlag(req.rsc.flags, kFlagInactive)) SetFlag(&r.flags, kFlagInactive, true);

    const Resource* existing = c().FindResource(rd.name, node->name);
    std::optional<int> keep_node_id;
    if (existing) {
      if (!existing->tiebreaker()) {
        return Fail(kFailExistsRsc,
                    "Resource " + Q(rd.name) + " already exists on node " + Q(node->name) + ".",
                    "A resource with this name is already deployed on the node.",
                    "Delete the existing resource first, or choose another node.");
      }
      keep_node_id = existing->node_id;
      r.create_timestamp_ms = existing->create_timestamp_ms;
      Note(kInfoTieBreakerTakeover, "Tie breaker resource " + Q(rd.name) + " on node " +
                                        Q(node->name) + " taken over as a " +
                                        (diskless ? "diskless" : "diskful") + " resource.");
    }

    // Pool: the resource's StorPoolName, else the inherited one, else the default.
    std::vector<PropsLevel> chain = {{"resource", &r.props}};
    auto rd_chain = c().RdChain(rd);
    chain.insert(chain.end(), rd_chain.begin(), rd_chain.end());
    chain.insert(chain.end() - 1, PropsLevel{"node", &node->props});
    auto named = LookupProp(chain, prop::kStorPoolName);
    std::string pool_name;
    bool is_default = false;
    if (diskless) {
      const StoragePool* p = named ? c().FindPool(node->name, *named) : nullptr;
      if (p && p->provider == ProviderKind::kDiskless) {
        pool_name = p->name;
      } else {
        pool_name = kDefaultDisklessPool;
        is_default = true;
      }
    } else if (named) {
      pool_name = *named;
    } else {
      pool_name = kDefaultStoragePool;
      is_default = true;
    }
    const StoragePool* pool = NeedPool(node->name, pool_name, is_default);
    if (!pool) return false;
    if (pool->provider == ProviderKind::kDiskless) diskless = true;
    r.storage_pool = pool->name;
    if (diskless) {
      SetFlag(&r.flags, kFlagDiskless, true);
      SetFlag(&r.flags, kFlagDrbdDiskless, true);
    }

    if (req.node_id) {
      if (*req.node_id < 0 || *req.node_id > 31) {
        return Fail(kFailInvldNodeId,
                    "DRBD node id " + std::to_string(*req.node_id) + " is out of range 0-31.");
      }
      for (const Resource* other : c().ResourcesOf(rd.name)) {
        if (other->node_id == *req.node_id && !NameEquals(other->node_name, node->name)) {
          return Fail(kFailInvldNodeId, "DRBD node id " + std::to_string(*req.node_id) +
                                            " is already used by node " + Q(other->node_name) +
                                            ".");
        }
      }
      r.node_id = *req.node_id;
    } else if (keep_node_id) {
      r.node_id = *keep_node_id;
    } else {
      auto id = AllocateNodeId(rd.name);
      if (!id)
        return Fail(kFailPoolExhaustedNodeId,
                    "All 32 DRBD node ids of " + Q(rd.name) + " are in use.");
      r.node_id = *id;
    }
    std::string node_display = r.node_name;
    PutResource(std::move(r));
    Ok(kCreated, "New resource " + Q(rd.name) + " on node " + Q(node_display) + " registered.",
       kMaskRsc);
    return true;
  }

  bool PlaceAutomatically(const ResourceDefinition& rd, SelectFilter filter) {
    if (!CheckFilter(filter)) return false;
    auto placed = tandem::controller::Autoplace(c(), PlacementRequest{rd.name, filter});
    if (!placed.ok()) {
      const tandem::Error& e = placed.error();
      if (e.code == Errc::kRefused) {
        return Fail(kFailNotEnoughNodes, e.message,
                    "The select filter of " + Q(rd.name) +
                        " cannot be met by the nodes and storage pools of the cluster.",
                    "Add nodes or storage pools, free space, or relax the placement constraints.",
                    kMaskRsc);
      }
      return Fail(kFailInvldConf, e.message, "", "Correct the select filter.");
    }
    if (placed->diskful.empty() && placed->diskless.empty()) {
      Note(kInfoNoRscSpawned,
           "Resource " + Q(rd.name) + " already has " + std::to_string(placed->existing_diskful) +
               " diskful replicas; nothing to place.",
           kMaskRsc);
      return true;
    }
    for (const auto& choice : placed->diskful) {
      ResourceCreateRequest req;
      req.rsc.node_name = choice.node;
      req.rsc.props[prop::kStorPoolName] = choice.pool;
      if (!CreateResource(rd, req)) return false;
    }
    for (const auto& choice : placed->diskless) {
      ResourceCreateRequest req;
      req.rsc.node_name = choice.node;
      req.rsc.props[prop::kStorPoolName] = choice.pool;
      req.rsc.flags = {kFlagDrbdDiskless};
      if (!CreateResource(rd, req)) return false;
    }
    return true;
  }

  // Auto-quorum and the automatic tiebreaker (user guide "Auto-Quorum
  // Policies" and §2.12.2). `exclude` are nodes a tiebreaker must not go to
  // (the node a resource was just removed from).
  void ReconcileQuorum(const std::string& rd_name, const std::set<std::string>& exclude = {}) {
    const ResourceDefinition* rd_ptr = c().FindRd(rd_name);
    if (!rd_ptr) return;
    ResourceDefinition rd = *rd_ptr;
    auto chain = c().RdChain(rd);
    std::string policy = LookupProp(chain, prop::kAutoQuorum).value_or("io-error");
    if (policy == "disabled") return;
    bool tb_enabled = true;
    if (auto v = LookupProp(chain, prop::kAutoTiebreaker)) {
      auto b = ParseBool(*v);
      tb_enabled = !b.ok() || *b;
    }

    int diskful = 0;
    int diskless_user = 0;
    std::vector<Resource> tiebreakers;
    std::set<std::string> hosting;
    for (const Resource* r : c().ResourcesOf(rd.name)) {
      hosting.insert(NameKey(r->node_name));
      if (r->tiebreaker()) {
        tiebreakers.push_back(*r);
      } else if (HasFlag(r->flags, kFlagEvacuate)) {
        // Leaving: its replacement is counted instead.
      } else if (r->diskless()) {
        ++diskless_user;
      } else {
        ++diskful;
      }
    }
    bool want_tb = tb_enabled && diskful == 2 && diskless_user == 0;
    if (want_tb && tiebreakers.empty()) {
      // A node that can hold a diskless replica: a satellite with a diskless
      // pool, not hosting the resource; fewest resources first, then by name.
      const Node* best = nullptr;
      const StoragePool* best_pool = nullptr;
      size_t best_count = 0;
      for (const auto& [key, node] : c().nodes.rows()) {
        if (hosting.count(key) || exclude.count(key)) continue;
        if (node.type != NodeType::kSatellite && node.type != NodeType::kCombined) continue;
        if (!node.flags.empty()) continue;
        if (auto it = node.props.find(prop::kAutoplaceTarget); it != node.props.end()) {
          auto b = ParseBool(it->second);
          if (b.ok() && !*b) continue;
        }
        const StoragePool* pool = nullptr;
        c().pools.ForPrefix(ChildPrefix(node.name), [&](const StoragePool& p) {
          if (!pool && p.provider == ProviderKind::kDiskless) pool = &p;
        });
        if (!pool) continue;
        size_t count = c().ResourceCountOnNode(node.name);
        if (!best || count < best_count) {
          best = &node;
          best_pool = pool;
          best_count = count;
        }
      }
      if (best) {
        Resource tb;
        tb.rd_name = rd.name;
        tb.node_name = best->name;
        tb.flags = {kFlagDiskless, kFlagDrbdDiskless, kFlagTieBreaker};
        tb.storage_pool = best_pool->name;
        tb.node_id = AllocateNodeId(rd.name).value_or(31);
        tb.create_timestamp_ms = NowMs();
        tb.uuid = NewUuid();
        PutResource(tb);
        tiebreakers.push_back(tb);
        Note(kInfoTieBreakerCreated,
             "Tie breaker resource " + Q(rd.name) + " created on " + best->name, kMaskRsc);
      } else {
        Warning(kWarnNotEnoughNodesForTieBreaker,
                "Could not find a node for a tie breaker of resource " + Q(rd.name) +
                    "; it has 2 replicas and no quorum.",
                kMaskRsc);
      }
    } else if (!want_tb && !tiebreakers.empty()) {
      for (const Resource& tb : tiebreakers) {
        txn_.Erase(m().resources, RscKey(tb.rd_name, tb.node_name));
        Note(kInfoTieBreakerDeleting,
             "Tie breaker resource " + Q(rd.name) + " on node " + Q(tb.node_name) +
                 " deleted: no longer needed.",
             kMaskRsc);
      }
      tiebreakers.clear();
    }

    int diskless_total = diskless_user + static_cast<int>(tiebreakers.size());
    bool quorum = diskful >= 3 || (diskful == 2 && diskless_total >= 1);
    Props props = rd.props;
    if (quorum) {
      if (props[prop::kQuorum] != "majority") {
        props[prop::kQuorum] = "majority";
        Note(kInfoPropSet,
             "Resource-definition property " + Q(prop::kQuorum) + " was set to 'majority'.",
             kMaskRscDfn);
      }
      if (props[prop::kOnNoQuorum] != policy) {
        props[prop::kOnNoQuorum] = policy;
        Note(kInfoPropSet,
             "Resource-definition property " + Q(prop::kOnNoQuorum) + " was set to " + Q(policy) +
                 ".",
             kMaskRscDfn);
      }
    } else {
      for (const char* key : {prop::kQuorum, prop::kOnNoQuorum}) {
        if (props.erase(key)) {
          Note(kInfoPropRemoved,
               "Resource-definition property " + Q(key) +
                   " was removed as there are not enough resources for quorum",
               kMaskRscDfn);
        }
      }
    }
    if (props != rd.props) {
      rd.props = std::move(props);
      txn_.Put(m().rds, NameKey(rd.name), rd);
    }
  }

  bool RemoveResource(const std::string& rd, const std::string& node) {
    txn_.Erase(m().resources, RscKey(rd, node));
    return true;
  }

  ApiCallRcList* answer() { return &rcs_; }

 private:
  Txn txn_;
  Store* store_;
  const CommitHook* hook_;
  uint64_t* version_;
  std::unordered_map<std::string, uint64_t>* rd_versions_;
  uint64_t op_;
  uint64_t obj_;
  ApiCallRcList rcs_;
  std::map<std::string, std::string> refs_;
  std::string details_;
};

Status Service::Bootstrap() {
  Op op(this, kMaskCrt, kMaskRscGrp);
  if (!cluster_->FindRg(kDefaultResourceGroup)) {
    ResourceGroup rg;
    rg.name = kDefaultResourceGroup;
    rg.uuid = NewUuid();
    op.txn().Put(op.m().rgs, NodeKey(rg.name), rg);
  }
  if (!cluster_->controller.Find("controller")) {
    op.txn().Put(op.m().controller, "controller", ControllerProps{});
  }
  auto result = op.Finish();
  if (HasError(result)) return MakeError(Errc::kIoError, result.front().message);
  return {};
}

ApiCallRcList Service::SetControllerProps(const PropsChange& change) {
  Op op(this, kMaskMod, kMaskCtrlConf);
  if (op.CheckProps(change)) {
    ControllerProps row;
    if (const ControllerProps* cur = cluster_->controller.Find("controller")) row = *cur;
    ApplyPropsChange(change, &row.props);
    op.txn().Put(op.m().controller, "controller", row);
    for (const auto& [k, v] : change.override_props) {
      op.Ok(kModified, "Successfully set property " + Q(k) + " to value " + Q(v));
    }
    for (const auto& k : change.delete_props)
      op.Ok(kModified, "Successfully deleted property " + Q(k));
    for (const auto& ns : change.delete_namespaces)
      op.Ok(kModified, "Successfully deleted namespace " + Q(ns));
    if (change.empty()) op.Ok(kModified, "Controller properties unchanged.");
  }
  return op.Finish();
}

// ---- Nodes ------------------------------------------------------------------

ApiCallRcList Service::CreateNode(Node node) {
  Op op(this, kMaskCrt, kMaskNode);
  op.Ref("Node", node.name);
  auto run = [&]() -> bool {
    Status s = ValidateNodeName(node.name);
    if (!s.ok()) return op.FailStatus(kFailInvldNodeName, s);
    if (cluster_->FindNode(node.name)) {
      return op.Fail(kFailExistsNode, "Node " + Q(node.name) + " already exists.",
                     "A node with this name is already registered.", "Choose another name.");
    }
    if (!op.CheckProps(node.props)) return false;
    std::set<std::string> nif_names;
    bool any_active = false;
    for (auto& nif : node.net_interfaces) {
      if (nif.name.empty()) nif.name = "default";
      Status ns = ValidateNetInterfaceName(nif.name);
      if (!ns.ok()) return op.FailStatus(kFailInvldNetName, ns, kMaskNetIf);
      if (!nif_names.insert(NameKey(nif.name)).second) {
        return op.Fail(kFailExistsNetIf, "Net interface " + Q(nif.name) + " is given twice.", "",
                       "", kMaskNetIf);
      }
      if (!ValidAddress(nif.address)) {
        return op.Fail(kFailInvldNetAddr,
                       "The address " + Q(nif.address) + " of net interface " + Q(nif.name) +
                           " is not a valid IP address.",
                       "", "Specify a valid IPv4 or IPv6 address.", kMaskNetIf);
      }
      if (nif.satellite_port < 1 || nif.satellite_port > 65535) {
        return op.Fail(kFailInvldNetPort,
                       "The port " + std::to_string(nif.satellite_port) + " of net interface " +
                           Q(nif.name) + " is invalid.",
                       "", "", kMaskNetIf);
      }
      if (nif.is_active) {
        if (any_active) nif.is_active = false;  // at most one active interface
        any_active = true;
      }
      nif.uuid = NewUuid();
    }
    if (!any_active && !node.net_interfaces.empty()) node.net_interfaces.front().is_active = true;
    for (const auto& nif : node.net_interfaces) {
      if (nif.is_active) node.props["CurStltConnName"] = nif.name;
    }
    node.flags.clear();
    node.uuid = NewUuid();
    op.txn().Put(op.m().nodes, NodeKey(node.name), node);
    if (node.type == NodeType::kSatellite || node.type == NodeType::kCombined) {
      if (!cluster_->pool_defs.Find(NameKey(kDefaultDisklessPool))) {
        op.txn().Put(op.m().pool_defs, NameKey(kDefaultDisklessPool),
                     StoragePoolDefinition{kDefaultDisklessPool, {}, NewUuid()});
      }
      StoragePool p;
      p.node_name = node.name;
      p.name = kDefaultDisklessPool;
      p.provider = ProviderKind::kDiskless;
      p.free_space_mgr_name = node.name + ";" + kDefaultDisklessPool;
      p.uuid = NewUuid();
      op.txn().Put(op.m().pools, PoolKey(node.name, p.name), p);
    }
    op.Ok(kCreated, "New node " + Q(node.name) + " registered.");
    return true;
  };
  run();
  return op.Finish();
}

ApiCallRcList Service::ModifyNode(const std::string& name, const NodeModifyRequest& req) {
  Op op(this, kMaskMod, kMaskNode);
  op.Ref("Node", name);
  if (const Node* cur = op.NeedNode(name); cur && op.CheckProps(req.props)) {
    Node node = *cur;
    if (req.type) node.type = *req.type;
    ApplyPropsChange(req.props, &node.props);
    op.txn().Put(op.m().nodes, NodeKey(name), node);
    op.Ok(kModified, "Node " + Q(node.name) + " modified.");
  }
  return op.Finish();
}

namespace {

NetInterface* FindNetInterface(Node* node, const std::string& name) {
  for (NetInterface& nif : node->net_interfaces) {
    if (NameEquals(nif.name, name)) return &nif;
  }
  return nullptr;
}

// Makes `active` the node's only active interface (the satellite connection).
void Activate(Node* node, const std::string& active) {
  for (NetInterface& nif : node->net_interfaces) nif.is_active = NameEquals(nif.name, active);
  node->props["CurStltConnName"] = FindNetInterface(node, active)->name;
}

}  // namespace

ApiCallRcList Service::CreateNetInterface(const std::string& node_name,
                                          const NetInterfaceRequest& req) {
  Op op(this, kMaskCrt, kMaskNetIf);
  op.Ref("Node", node_name);
  auto run = [&]() -> bool {
    const Node* cur = op.NeedNode(node_name);
    if (!cur) return false;
    Node node = *cur;
    NetInterface nif;
    nif.name = req.name.value_or("");
    op.Ref("NetIf", nif.name);
    Status ns = ValidateNetInterfaceName(nif.name);
    if (!ns.ok()) return op.FailStatus(kFailInvldNetName, ns);
    if (FindNetInterface(&node, nif.name)) {
      return op.Fail(
          kFailExistsNetIf,
          "Net interface " + Q(nif.name) + " of node " + Q(node.name) + " already exists.",
          "The node already has a net interface with this name.",
          "Choose another name, or modify the existing interface.");
    }
    nif.address = req.address.value_or("");
    nif.encryption_type = NameKey(req.encryption_type.value_or("PLAIN"));
    nif.satellite_port = req.satellite_port.value_or(nif.encryption_type == "SSL" ? 3367 : 3366);
    if (!op.CheckNetInterface(&nif)) return false;
    nif.uuid = NewUuid();
    bool first = node.net_interfaces.empty();
    node.net_interfaces.push_back(nif);
    if (req.is_active.value_or(false) || first) Activate(&node, nif.name);
    op.txn().Put(op.m().nodes, NodeKey(node.name), node);
    op.Ok(kCreated, "New net interface " + Q(nif.name) + " on node " + Q(node.name) + " created.");
    return true;
  };
  run();
  return op.Finish();
}

ApiCallRcList Service::ModifyNetInterface(const std::string& node_name, const std::string& name,
                                          const NetInterfaceRequest& req) {
  Op op(this, kMaskMod, kMaskNetIf);
  op.Ref("Node", node_name);
  op.Ref("NetIf", name);
  auto run = [&]() -> bool {
    const Node* cur = op.NeedNode(node_name);
    if (!cur) return false;
    Node node = *cur;
    NetInterface* nif = op.NeedNetInterface(&node, name);
    if (!nif) return false;
    if (req.name && !NameEquals(*req.name, nif->name)) {
      return op.Fail(
          kFailInvldNetName,
          "Net interface " + Q(nif->name) + " cannot be renamed to " + Q(*req.name) + ".", "",
          "Create a new interface and delete the old one.");
    }
    if (req.address) nif->address = *req.address;
    if (req.satellite_port) nif->satellite_port = *req.satellite_port;
    if (req.encryption_type) nif->encryption_type = *req.encryption_type;
    if (!op.CheckNetInterface(nif)) return false;
    std::string display = nif->name;
    if (req.is_active && !*req.is_active && nif->is_active) {
      return op.Fail(kFailInvldConf,
                     "Net interface " + Q(display) + " is the active satellite connection of " +
                         "node " + Q(node.name) + " and cannot be deactivated.",
                     "",
                     "Activate another interface instead: node interface modify " + node.name +
                         " OTHER --active");
    }
    if (req.is_active.value_or(false)) Activate(&node, display);
    op.txn().Put(op.m().nodes, NodeKey(node.name), node);
    op.Ok(kModified, "Net interface " + Q(display) + " on node " + Q(node.name) + " modified.");
    return true;
  };
  run();
  return op.Finish();
}

ApiCallRcList Service::DeleteNetInterface(const std::string& node_name, const std::string& name) {
  Op op(this, kMaskDel, kMaskNetIf);
  op.Ref("Node", node_name);
  op.Ref("NetIf", name);
  auto run = [&]() -> bool {
    const Node* cur = op.NeedNode(node_name);
    if (!cur) return false;
    Node node = *cur;
    NetInterface* nif = op.NeedNetInterface(&node, name);
    if (!nif) return false;
    std::string display = nif->name;
    if (node.net_interfaces.size() == 1) {
      return op.Fail(kFailInUse,
                     "Net interface " + Q(display) + " is the last one of node " + Q(node.name) +
                         " and cannot be deleted.",
                     "A node needs at least one net interface.",
                     "Create another interface first, or delete the node.");
    }
    if (nif->is_active) {
      return op.Fail(kFailInUse,
                     "Net interface " + Q(display) + " is the active satellite connection of " +
                         "node " + Q(node.name) + " and cannot be deleted.",
                     "The controller reaches the satellite through this interface.",
                     "Activate another interface first: node interface modify " + node.name +
                         " OTHER --active");
    }
    node.net_interfaces.erase(node.net_interfaces.begin() + (nif - node.net_interfaces.data()));
    op.txn().Put(op.m().nodes, NodeKey(node.name), node);
    op.Ok(kDeleted, "Net interface " + Q(display) + " on node " + Q(node.name) + " deleted.");
    return true;
  };
  run();
  return op.Finish();
}

ApiCallRcList Service::DeleteNode(const std::string& name) { return RemoveNode(name, false); }

ApiCallRcList Service::LostNode(const std::string& name) { return RemoveNode(name, true); }

ApiCallRcList Service::RemoveNode(const std::string& name, bool lost) {
  Op op(this, kMaskDel, kMaskNode);
  op.Ref("Node", name);
  if (const Node* node = op.NeedNode(name)) {
    std::string display = node->name;
    std::set<std::string> affected;
    for (const Resource* r : cluster_->ResourcesOnNode(display)) affected.insert(r->rd_name);
    for (const auto& rd : affected) {
      op.RemoveResource(rd, display);
      op.Ok(kDeleted, "Resource " + Q(rd) + " on node " + Q(display) + " deleted.", kMaskRsc);
    }
    std::vector<std::string> pools;
    cluster_->pools.ForPrefix(ChildPrefix(display),
                              [&](const StoragePool& p) { pools.push_back(p.name); });
    for (const auto& p : pools) op.txn().Erase(op.m().pools, PoolKey(display, p));
    op.txn().Erase(op.m().nodes, NodeKey(display));
    for (const auto& rd : affected) op.ReconcileQuorum(rd, {NodeKey(display)});
    op.Ok(kDeleted, lost ? "Node " + Q(display) + " lost: removed with all its resources."
                         : "Node " + Q(display) + " deleted.");
  }
  return op.Finish();
}

ApiCallRcList Service::EvacuateNode(const std::string& name,
                                    const std::vector<std::string>& targets,
                                    const std::vector<std::string>& do_not_target) {
  return MoveOffNode(name, targets, do_not_target, /*evict=*/false);
}

ApiCallRcList Service::EvictNode(const std::string& name) {
  return MoveOffNode(name, {}, {}, /*evict=*/true);
}

ApiCallRcList Service::MoveOffNode(const std::string& name, const std::vector<std::string>& targets,
                                   const std::vector<std::string>& do_not_target, bool evict) {
  Op op(this, kMaskMod, kMaskNode);
  op.Ref("Node", name);
  auto run = [&]() -> bool {
    const Node* cur = op.NeedNode(name);
    if (!cur) return false;
    for (const auto& t : targets) {
      if (!op.NeedNode(t)) return false;
    }
    for (const auto& t : do_not_target) {
      if (!op.NeedNode(t)) return false;
    }
    // Restricts a filter's node list to `targets` minus `do_not_target`.
    auto restrict_nodes = [&](SelectFilter* f) {
      if (targets.empty() && do_not_target.empty()) return true;
      std::set<std::string> allowed_by_group;
      for (const auto& n : f->node_name_list) allowed_by_group.insert(NameKey(n));
      std::set<std::string> excluded;
      for (const auto& n : do_not_target) excluded.insert(NameKey(n));
      std::vector<std::string> list;
      for (const auto& [key, n] : cluster_->nodes.rows()) {
        if (!allowed_by_group.empty() && !allowed_by_group.count(key)) continue;
        if (excluded.count(key)) continue;
        bool in_targets = targets.empty();
        for (const auto& t : targets) in_targets = in_targets || NameEquals(t, n.name);
        if (in_targets) list.push_back(n.name);
      }
      f->node_name_list = list;
      return !list.empty();
    };
    Node node = *cur;
    const std::string display = node.name;
    SetFlag(&node.flags, evict ? kFlagEvicted : kFlagEvacuate, true);
    op.txn().Put(op.m().nodes, NodeKey(display), node);
    op.Ok(kModified, evict ? "Node " + Q(display) + " was offline too long and is EVICTED."
                           : "Node " + Q(display) + " is marked EVACUATE.");

    std::vector<Resource> on_node;
    for (const Resource* r : cluster_->ResourcesOnNode(display)) on_node.push_back(*r);
    // Evicted resources that could not be replaced stay (retried later).
    std::set<std::string> keep;
    // New diskful replicas first, each where the group's filter allows.
    for (const Resource& old : on_node) {
      if (old.diskless() || HasFlag(old.flags, kFlagEvacuate)) continue;
      const ResourceDefinition* rd_ptr = cluster_->FindRd(old.rd_name);
      if (!rd_ptr) continue;
      const ResourceDefinition rd = *rd_ptr;
      SelectFilter filter;
      if (const ResourceGroup* rg = cluster_->FindRg(rd.rg_name)) filter = rg->select_filter;
      if (evict) {
        // Auto-Evict: a replacement only when fewer than
        // AutoEvictMinReplicaCount (default: the group's place count)
        // replicas remain elsewhere.
        int remaining = 0;
        for (const Resource* r : cluster_->ResourcesOf(rd.name)) {
          if (!NameEquals(r->node_name, display) && !r->diskless() &&
              !HasFlag(r->flags, kFlagEvacuate))
            ++remaining;
        }
        int min_count =
            static_cast<int>(PropNumber(cluster_->RdChain(rd), prop::kAutoEvictMinReplicaCount,
                                        filter.place_count.value_or(kDefaultPlaceCount)));
        if (remaining >= min_count) {
          op.Ok(kModified,
                "Resource " + Q(rd.name) + " keeps " + std::to_string(remaining) +
                    " replica(s) without evicted node " + Q(display) +
                    " (AutoEvictMinReplicaCount " + std::to_string(min_count) +
                    "): no replacement.",
                kMaskRsc);
          continue;
        }
      }
      filter.place_count.reset();
      filter.additional_place_count = 1;
      filter.diskless_on_remaining = false;
      if (!restrict_nodes(&filter)) {
        return op.Fail(kFailNotEnoughNodes,
                       "Cannot evacuate node " + Q(display) + ": no node is left for resource " +
                           Q(rd.name) + " after target and do_not_target.",
                       "", "Name other target nodes.");
      }
      if (!op.CheckFilter(filter)) return false;
      // Constraints such as replicas-on-different must not count the replica
      // that leaves, so the choice is made without it; it stays in place
      // (and keeps its DRBD node id) until the new replica exists.
      op.RemoveResource(rd.name, display);
      auto placed = tandem::controller::Autoplace(op.c(), PlacementRequest{rd.name, filter});
      op.PutResource(old);
      if (!placed.ok() || placed->diskful.empty()) {
        std::string why = placed.ok() ? "no target was chosen" : placed.error().message;
        if (evict) {
          // Kept until a replacement can be placed (user guide: the
          // resource is deleted only once its auto-place succeeded).
          op.Warning(kFailNotEnoughNodes,
                     "Resource " + Q(rd.name) + " on evicted node " + Q(display) +
                         " stays until another node can take it (retried): " + why);
          keep.insert(NameKey(rd.name));
          continue;
        }
        return op.Fail(kFailNotEnoughNodes,
                       "Cannot evacuate node " + Q(display) + ": no other node can take the " +
                           "diskful replica of resource " + Q(rd.name) + ". " + why,
                       "The select filter of resource group " + Q(rd.rg_name) +
                           " cannot be met without node " + Q(display) + ".",
                       "Add nodes or storage pools, or relax the group's placement constraints, "
                       "then evacuate again.");
      }
      for (const auto& choice : placed->diskful) {
        ResourceCreateRequest req;
        req.rsc.node_name = choice.node;
        req.rsc.props[prop::kStorPoolName] = choice.pool;
        if (!op.CreateResource(rd, req)) return false;
      }
    }
    // Then the node's resources go. An evacuated diskful replica stays,
    // flagged, until its replacement is UpToDate (FinishEvacuation); an
    // evicted node is gone, so everything of it goes now. A tiebreaker is
    // re-created elsewhere by the quorum logic if still needed.
    std::set<std::string> affected;
    for (const Resource& r : on_node) {
      if (keep.count(NameKey(r.rd_name))) continue;
      if (!evict && !r.diskless()) {
        if (HasFlag(r.flags, kFlagEvacuate)) continue;
        Resource leaving = r;
        SetFlag(&leaving.flags, kFlagEvacuate, true);
        op.PutResource(leaving);
        op.Ok(kModified,
              "Resource " + Q(r.rd_name) + " on evacuated node " + Q(display) +
                  " is kept until its new replica is UpToDate.",
              kMaskRsc);
      } else {
        op.RemoveResource(r.rd_name, display);
        op.Ok(kDeleted,
              "Resource " + Q(r.rd_name) + " on " + (evict ? "evicted" : "evacuated") + " node " +
                  Q(display) + " deleted.",
              kMaskRsc);
      }
      affected.insert(r.rd_name);
    }
    for (const auto& rd : affected) op.ReconcileQuorum(rd, {NodeKey(display)});
    return true;
  };
  run();
  return op.Finish();
}

ApiCallRcList Service::FinishEvacuation(const std::string& rd, const std::string& node) {
  Op op(this, kMaskDel, kMaskRsc);
  op.Ref("RscDfn", rd);
  op.Ref("Node", node);
  const Resource* r = cluster_->FindResource(rd, node);
  if (!r || !HasFlag(r->flags, kFlagEvacuate)) {
    op.Ok(kModified, "Resource " + Q(rd) + " on node " + Q(node) + " is not evacuating.");
    return op.Finish();
  }
  std::string display = r->node_name;
  op.RemoveResource(rd, display);
  op.Ok(kDeleted,
        "Resource " + Q(rd) + " on evacuated node " + Q(display) +
            " deleted: its new replica is UpToDate.",
        kMaskRsc);
  op.ReconcileQuorum(rd, {NodeKey(display)});
  return op.Finish();
}

ApiCallRcList Service::RestoreNode(const std::string& name) {
  Op op(this, kMaskMod, kMaskNode);
  op.Ref("Node", name);
  if (const Node* cur = op.NeedNode(name)) {
    Node node = *cur;
    const char* flag = HasFlag(node.flags, kFlagEvicted) ? kFlagEvicted : kFlagEvacuate;
    if (!HasFlag(node.flags, flag)) {
      op.Ok(kModified, "Node " + Q(node.name) + " is not evacuating; nothing to restore.");
    } else {
      SetFlag(&node.flags, flag, false);
      std::string msg = "Node " + Q(node.name) + " restored: " + flag + " cleared.";
      std::string key = NodeKey(node.name);
      op.txn().Put(op.m().nodes, key, std::move(node));
      op.Ok(kModified, msg);
    }
  }
  return op.Finish();
}

// ---- Storage pools ----------------------------------------------------------

ApiCallRcList Service::CreatePoolDef(StoragePoolDefinition def) {
  Op op(this, kMaskCrt, kMaskStorPoolDfn);
  op.Ref("StorPoolDfn", def.name);
  Status s = ValidateStoragePoolName(def.name);
  if (!s.ok()) {
    op.FailStatus(kFailInvldStorPoolName, s);
  } else if (cluster_->pool_defs.Find(NameKey(def.name))) {
    op.Fail(kFailExistsStorPool, "Storage pool definition " + Q(def.name) + " already exists.");
  } else if (op.CheckProps(def.props)) {
    def.uuid = NewUuid();
    op.txn().Put(op.m().pool_defs, NameKey(def.name), def);
    op.Ok(kCreated, "New storage pool definition " + Q(def.name) + " created.");
  }
  return op.Finish();
}

ApiCallRcList Service::ModifyPoolDef(const std::string& name, const PropsChange& change) {
  Op op(this, kMaskMod, kMaskStorPoolDfn);
  op.Ref("StorPoolDfn", name);
  const StoragePoolDefinition* cur = cluster_->pool_defs.Find(NameKey(name));
  if (!cur) {
    op.Fail(kFailNotFoundStorPoolDfn, "Storage pool definition " + Q(name) + " not found.");
  } else if (op.CheckProps(change)) {
    StoragePoolDefinition def = *cur;
    ApplyPropsChange(change, &def.props);
    op.txn().Put(op.m().pool_defs, NameKey(name), def);
    op.Ok(kModified, "Storage pool definition " + Q(def.name) + " modified.");
  }
  return op.Finish();
}

ApiCallRcList Service::DeletePoolDef(const std::string& name) {
  Op op(this, kMaskDel, kMaskStorPoolDfn);
  op.Ref("StorPoolDfn", name);
  const StoragePoolDefinition* cur = cluster_->pool_defs.Find(NameKey(name));
  if (!cur) {
    op.Fail(kFailNotFoundStorPoolDfn, "Storage pool definition " + Q(name) + " not found.");
  } else {
    bool used = false;
    for (const auto& [k, p] : cluster_->pools.rows()) used = used || NameEquals(p.name, name);
    if (used) {
      op.Fail(kFailInUse, "Storage pool definition " + Q(name) + " still has storage pools.", "",
              "Delete the storage pools of this definition first.");
    } else {
      std::string display = cur->name;
      op.txn().Erase(op.m().pool_defs, NameKey(name));
      op.Ok(kDeleted, "Storage pool definition " + Q(display) + " deleted.");
    }
  }
  return op.Finish();
}

ApiCallRcList Service::CreatePool(const std::string& node_name, StoragePool pool) {
  Op op(this, kMaskCrt, kMaskStorPool);
  op.Ref("Node", node_name);
  op.Ref("StorPool", pool.name);
  auto run = [&]() -> bool {
    const Node* node = op.NeedNode(node_name);
    if (!node) return false;
    Status s = ValidateStoragePoolName(pool.name);
    if (!s.ok()) return op.FailStatus(kFailInvldStorPoolName, s);
    if (cluster_->FindPool(node->name, pool.name)) {
      return op.Fail(kFailExistsStorPool, "Storage pool " + Q(pool.name) +
                                              " already exists on node " + Q(node->name) + ".");
    }
    if (!op.CheckProps(pool.props)) return false;
    if (pool.provider != ProviderKind::kDiskless && !pool.props.count(prop::kStorDriverPoolName)) {
      return op.Fail(
          kFailInvldProp,
          std::string("A storage pool of kind ") + ProviderKindName(pool.provider) +
              " needs the property StorDriver/StorPoolName (its backing directory, "
              "volume group, thin pool or zpool).",
          "", "Pass the backing storage, e.g. 'storage-pool create file NODE POOL /srv/pool'.");
    }
    pool.node_name = node->name;
    if (pool.free_space_mgr_name.empty()) pool.free_space_mgr_name = node->name + ";" + pool.name;
    pool.uuid = NewUuid();
    if (!cluster_->pool_defs.Find(NameKey(pool.name))) {
      op.txn().Put(op.m().pool_defs, NameKey(pool.name),
                   StoragePoolDefinition{pool.name, {}, NewUuid()});
    }
    std::string msg =
        "New storage pool " + Q(pool.name) + " on node " + Q(node->name) + " registered.";
    std::string key = PoolKey(node->name, pool.name);
    op.txn().Put(op.m().pools, key, std::move(pool));
    op.Ok(kCreated, msg);
    return true;
  };
  run();
  return op.Finish();
}

ApiCallRcList Service::ModifyPool(const std::string& node, const std::string& pool,
                                  const PropsChange& change) {
  Op op(this, kMaskMod, kMaskStorPool);
  op.Ref("Node", node);
  op.Ref("StorPool", pool);
  if (const StoragePool* cur = op.NeedPool(node, pool); cur && op.CheckProps(change)) {
    StoragePool p = *cur;
    ApplyPropsChange(change, &p.props);
    op.txn().Put(op.m().pools, PoolKey(node, pool), p);
    op.Ok(kModified, "Storage pool " + Q(p.name) + " on node " + Q(p.node_name) + " modified.");
  }
  return op.Finish();
}

ApiCallRcList Service::DeletePool(const std::string& node, const std::string& pool) {
  Op op(this, kMaskDel, kMaskStorPool);
  op.Ref("Node", node);
  op.Ref("StorPool", pool);
  if (const StoragePool* cur = op.NeedPool(node, pool)) {
    std::vector<std::string> users;
    for (const Resource* r : cluster_->ResourcesOnNode(node)) {
      if (NameEquals(r->storage_pool, pool)) users.push_back(r->rd_name);
    }
    if (!users.empty()) {
      std::string list;
      for (const auto& u : users) list += (list.empty() ? "" : ", ") + Q(u);
      op.Fail(kFailInUse,
              "Storage pool " + Q(cur->name) + " on node " + Q(cur->node_name) +
                  " is still used by resources " + list + ".",
              "", "Delete or move the resources first.");
    } else {
      std::string msg =
          "Storage pool " + Q(cur->name) + " on node " + Q(cur->node_name) + " deleted.";
      op.txn().Erase(op.m().pools, PoolKey(node, pool));
      op.Ok(kDeleted, msg);
    }
  }
  return op.Finish();
}

ApiCallRcList Service::ReportCapacity(const std::string& node, const std::string& pool,
                                      std::optional<int64_t> total_kib,
                                      std::optional<int64_t> free_kib) {
  Op op(this, kMaskMod, kMaskStorPool);
  op.Ref("Node", node);
  op.Ref("StorPool", pool);
  if (const StoragePool* cur = op.NeedPool(node, pool)) {
    StoragePool p = *cur;
    p.total_capacity_kib = total_kib;
    p.free_capacity_kib = free_kib;
    op.txn().Put(op.m().pools, PoolKey(node, pool), p);
    op.Ok(kModified,
          "Capacity of storage pool " + Q(p.name) + " on node " + Q(p.node_name) + " updated.");
  }
  return op.Finish();
}

// ---- Resource groups and volume groups --------------------------------------

ApiCallRcList Service::CreateRg(ResourceGroup rg) {
  Op op(this, kMaskCrt, kMaskRscGrp);
  op.Ref("RscGrp", rg.name);
  Status s = ValidateResourceGroupName(rg.name);
  if (!s.ok()) {
    op.FailStatus(kFailInvldRscGrpName, s);
  } else if (cluster_->FindRg(rg.name)) {
    op.Fail(kFailExistsRscGrp, "Resource group " + Q(rg.name) + " already exists.");
  } else if (op.CheckProps(rg.props) && op.CheckFilter(rg.select_filter)) {
    if (rg.select_filter.additional_place_count) {
      op.Fail(kFailInvldPlaceCount, "A resource group cannot have an additional place count (+N).",
              "", "Use --place-count N on the group and --auto-place +N on resources.");
    } else {
      rg.uuid = NewUuid();
      std::string msg = "New resource group " + Q(rg.name) + " created.";
      std::string key = NameKey(rg.name);
      op.txn().Put(op.m().rgs, key, std::move(rg));
      op.Ok(kCreated, msg);
    }
  }
  return op.Finish();
}

ApiCallRcList Service::ModifyRg(const std::string& name, const RgModifyRequest& req) {
  Op op(this, kMaskMod, kMaskRscGrp);
  op.Ref("RscGrp", name);
  if (const ResourceGroup* cur = op.NeedRg(name); cur && op.CheckProps(req.props)) {
    ResourceGroup rg = *cur;
    if (req.description) rg.description = *req.description;
    ApplyPropsChange(req.props, &rg.props);
    if (req.select_filter) rg.select_filter = MergeFilters(*req.select_filter, rg.select_filter);
    if (req.peer_slots) rg.peer_slots = req.peer_slots;
    if (rg.select_filter.additional_place_count) {
      op.Fail(kFailInvldPlaceCount, "A resource group cannot have an additional place count (+N).",
              "", "Use --place-count N on the group and --auto-place +N on resources.");
    } else if (req.peer_slots && (*req.peer_slots < 1 || *req.peer_slots > 31)) {
      op.Fail(kFailInvldConf,
              "peer slots must be 1-31, not " + std::to_string(*req.peer_slots) + ".");
    } else if (op.CheckFilter(rg.select_filter)) {
      std::string msg = "Resource group " + Q(rg.name) + " modified.";
      op.txn().Put(op.m().rgs, NameKey(name), std::move(rg));
      op.Ok(kModified, msg);
    }
  }
  return op.Finish();
}

ApiCallRcList Service::DeleteRg(const std::string& name) {
  Op op(this, kMaskDel, kMaskRscGrp);
  op.Ref("RscGrp", name);
  if (const ResourceGroup* rg = op.NeedRg(name)) {
    bool used = false;
    for (const auto& [k, rd] : cluster_->rds.rows()) used = used || NameEquals(rd.rg_name, name);
    if (NameEquals(name, kDefaultResourceGroup)) {
      op.Fail(kFailInUse, "The default resource group " + Q(rg->name) + " cannot be deleted.");
    } else if (used) {
      op.Fail(kFailInUse,
              "Cannot delete resource group " + Q(rg->name) +
                  " because it has existing resource definitions.",
              "", "Delete the resource definitions or move them to another resource group first.");
    } else {
      std::string display = rg->name;
      for (const VolumeGroup* vg : cluster_->VolumeGroupsOf(display)) {
        op.txn().Erase(op.m().vgs, VgKey(display, vg->volume_number));
      }
      op.txn().Erase(op.m().rgs, NameKey(display));
      op.Ok(kDeleted, "Resource group " + Q(display) + " deleted.");
    }
  }
  return op.Finish();
}

Service::SizeInfoAnswer Service::QuerySizeInfo(const std::string& rg_name,
                                               const SelectFilter& overrides) const {
  SizeInfoAnswer answer;
  const ResourceGroup* rg = cluster_->FindRg(rg_name);
  auto fail = [&](uint64_t code, std::string message, std::string cause, std::string correction) {
    ApiCallRc e =
        Error(0, kMaskRscGrp, code, std::move(message), std::move(cause), std::move(correction));
    e.obj_refs["RscGrp"] = rg_name;
    answer.reports.push_back(std::move(e));
  };
  if (!rg) {
    fail(kFailNotFoundRscGrp, "Resource group " + Q(rg_name) + " not found.",
         "The specified resource group " + Q(rg_name) + " could not be found in the database",
         "Create a resource group with the name " + Q(rg_name) + " first.");
    return answer;
  }
  SelectFilter filter = MergeFilters(overrides, rg->select_filter);
  auto info = tandem::controller::QuerySizeInfo(*cluster_, filter);
  if (!info.ok()) {
    answer.info = SizeInfo{};
    answer.info->max_vlm_size_kib = 0;
    const tandem::Error& e = info.error();
    if (e.code == Errc::kRefused) {
      fail(kFailNotEnoughNodes, e.message,
           "The select filter of resource group " + Q(rg->name) +
               " cannot be met by the nodes and storage pools of the cluster.",
           "Add nodes or storage pools, free space, or relax the placement constraints.");
    } else {
      fail(kFailInvldConf, e.message, "", "Correct the select filter.");
    }
    return answer;
  }
  answer.info = std::move(*info);
  for (const PlacementChoice& c : answer.info->unknown_capacity) {
    ApiCallRc w = Warn(0, kMaskStorPool, kWarnNotFound,
                       "The capacity of storage pool " + Q(c.pool) + " on node " + Q(c.node) +
                           " is unknown; it does not limit the sizes.");
    answer.reports.push_back(std::move(w));
  }
  return answer;
}

ApiCallRcList Service::CreateVg(const std::string& rg_name, VolumeGroup vg,
                                std::optional<int> volume_number) {
  Op op(this, kMaskCrt, kMaskVlmGrp);
  op.Ref("RscGrp", rg_name);
  if (const ResourceGroup* rg = op.NeedRg(rg_name); rg && op.CheckProps(vg.props)) {
    if (!volume_number) {
      int n = 0;
      while (cluster_->FindVg(rg->name, n)) ++n;
      volume_number = n;
    }
    if (*volume_number < 0 || *volume_number > 31) {
      op.Fail(kFailInvldVlmNr,
              "Volume number " + std::to_string(*volume_number) + " is out of range 0-31.");
    } else if (cluster_->FindVg(rg->name, *volume_number)) {
      op.Fail(kFailExistsVlmGrp, "Volume group " + std::to_string(*volume_number) +
                                     " of resource group " + Q(rg->name) + " already exists.");
    } else {
      vg.rg_name = rg->name;
      vg.volume_number = *volume_number;
      vg.uuid = NewUuid();
      op.txn().Put(op.m().vgs, VgKey(rg->name, *volume_number), vg);
      op.Ok(kCreated, "New volume group " + std::to_string(*volume_number) + " of resource group " +
                          Q(rg->name) + " created.");
    }
  }
  return op.Finish();
}

ApiCallRcList Service::ModifyVg(const std::string& rg, int vlmnr, const PropsChange& change,
                                const std::vector<std::string>& flags) {
  Op op(this, kMaskMod, kMaskVlmGrp);
  op.Ref("RscGrp", rg);
  const VolumeGroup* cur = cluster_->FindVg(rg, vlmnr);
  if (op.NeedRg(rg) && !cur) {
    op.Fail(kFailNotFoundVlmGrp, "Volume group " + std::to_string(vlmnr) + " of resource group " +
                                     Q(rg) + " not found.");
  } else if (cur && op.CheckProps(change)) {
    VolumeGroup vg = *cur;
    ApplyPropsChange(change, &vg.props);
    for (const auto& f : flags) {
      if (!f.empty() && f[0] == '-') {
        SetFlag(&vg.flags, f.substr(1), false);
      } else {
        SetFlag(&vg.flags, f, true);
      }
    }
    op.txn().Put(op.m().vgs, VgKey(rg, vlmnr), vg);
    op.Ok(kModified, "Volume group " + std::to_string(vlmnr) + " of resource group " +
                         Q(vg.rg_name) + " modified.");
  }
  return op.Finish();
}

ApiCallRcList Service::DeleteVg(const std::string& rg, int vlmnr) {
  Op op(this, kMaskDel, kMaskVlmGrp);
  op.Ref("RscGrp", rg);
  const VolumeGroup* cur = cluster_->FindVg(rg, vlmnr);
  if (op.NeedRg(rg) && !cur) {
    op.Fail(kFailNotFoundVlmGrp, "Volume group " + std::to_string(vlmnr) + " of resource group " +
                                     Q(rg) + " not found.");
  } else if (cur) {
    op.txn().Erase(op.m().vgs, VgKey(rg, vlmnr));
    op.Ok(kDeleted,
          "Volume group " + std::to_string(vlmnr) + " of resource group " + Q(rg) + " deleted.");
  }
  return op.Finish();
}

// ---- Resource definitions and volume definitions ----------------------------

namespace {

// Shared by CreateRd and Spawn; runs inside the caller's Op.
template <class OpT>
bool DoCreateRd(OpT& op, const Cluster& cluster, const RdCreateRequest& req) {
  ResourceDefinition rd = req.rd;
  Status s = ValidateResourceName(rd.name);
  if (!s.ok()) return op.FailStatus(kFailInvldRscName, s);
  if (cluster.FindRd(rd.name)) {
    return op.Fail(kFailExistsRscDfn, "Resource definition " + Q(rd.name) + " already exists.",
                   "A resource definition with this name is already registered.",
                   "Choose another name.");
  }
  if (rd.rg_name.empty()) rd.rg_name = kDefaultResourceGroup;
  const ResourceGroup* rg = op.NeedRg(rd.rg_name);
  if (!rg) return false;
  rd.rg_name = rg->name;
  if (!op.CheckProps(rd.props)) return false;
  std::vector<std::string> layers;
  for (const auto& l : rd.layer_stack) {
    auto canon = ParseLayerName(l);
    if (!canon.ok()) return op.Fail(kFailInvldLayerStack, canon.error().message);
    if (!LayerSupported(*canon)) {
      return op.Fail(kFailInvldLayerStack, "Layer " + *canon + " is not supported by Tandem", "",
                     "Use the layers DRBD and STORAGE.");
    }
    layers.push_back(*canon);
  }
  if (!layers.empty() && layers.back() != "STORAGE") layers.push_back("STORAGE");
  rd.layer_stack = layers;
  if (req.port) {
    if (*req.port < 1 || *req.port > 65535) {
      return op.Fail(kFailInvldRscPort, "TCP port " + std::to_string(*req.port) + " is invalid.");
    }
    for (const auto& [k, other] : cluster.rds.rows()) {
      if (other.port == *req.port) {
        return op.Fail(kFailInvldRscPort, "TCP port " + std::to_string(*req.port) +
                                              " is already used by resource definition " +
                                              Q(other.name) + ".");
      }
    }
    rd.port = *req.port;
  } else {
    auto port = op.AllocatePort();
    if (!port) {
      return op.Fail(kFailPoolExhaustedTcpPort, "No free TCP port in the range TcpPortAutoRange.",
                     "", "Widen the controller property TcpPortAutoRange.");
    }
    rd.port = *port;
  }
  rd.secret = req.secret.value_or(RandomSecret());
  rd.peer_slots = req.peer_slots.value_or(rg->peer_slots.value_or(7));
  if (rd.peer_slots < 1 || rd.peer_slots > 31) {
    return op.Fail(kFailInvldConf, "peer slots must be 1-31, not " + std::to_string(rd.peer_slots));
  }
  rd.flags.clear();
  rd.uuid = NewUuid();
  std::string msg = "New resource definition " + Q(rd.name) + " created.";
  std::string key = NameKey(rd.name);
  op.txn().Put(op.m().rds, key, std::move(rd));
  op.Ok(kCreated, msg, kMaskRscDfn);
  return true;
}

template <class OpT>
bool DoCreateVd(OpT& op, const Cluster& cluster, const ResourceDefinition& rd,
                const VdCreateRequest& req) {
  VolumeDefinition vd = req.vd;
  int nr = 0;
  if (req.volume_number) {
    nr = *req.volume_number;
  } else {
    while (cluster.FindVd(rd.name, nr)) ++nr;
  }
  if (nr < 0 || nr > 31) {
    return op.Fail(kFailInvldVlmNr,
                   "Volume number " + std::to_string(nr) + " is out of range 0-31.", "", "",
                   kMaskVlmDfn);
  }
  if (cluster.FindVd(rd.name, nr)) {
    return op.Fail(
        kFailExistsVlmDfn,
        "Volume definition " + std::to_string(nr) + " of " + Q(rd.name) + " already exists.", "",
        "", kMaskVlmDfn);
  }
  if (vd.size_kib <= 0) {
    return op.Fail(kFailInvldVlmSize,
                   "Volume size " + std::to_string(vd.size_kib) + " KiB is invalid.", "",
                   "Give a positive size.", kMaskVlmDfn);
  }
  if (!op.CheckProps(vd.props)) return false;
  if (req.minor) {
    if (*req.minor < 0 || *req.minor > 1048575) {
      return op.Fail(kFailInvldMinorNr,
                     "Minor number " + std::to_string(*req.minor) + " is out of range.", "", "",
                     kMaskVlmDfn);
    }
    for (const auto& [k, other] : cluster.vds.rows()) {
      if (other.minor == *req.minor) {
        return op.Fail(kFailInvldMinorNr,
                       "Minor number " + std::to_string(*req.minor) +
                           " is already used by resource " + Q(other.rd_name) + ".",
                       "", "", kMaskVlmDfn);
      }
    }
    vd.minor = *req.minor;
  } else {
    auto minor = op.AllocateMinor();
    if (!minor) {
      return op.Fail(kFailPoolExhaustedMinorNr, "No free minor number in MinorNrAutoRange.", "", "",
                     kMaskVlmDfn);
    }
    vd.minor = *minor;
  }
  vd.rd_name = rd.name;
  vd.volume_number = nr;
  vd.uuid = NewUuid();
  op.txn().Put(op.m().vds, VdKey(rd.name, nr), vd);
  op.Ok(kCreated,
        "New volume definition " + std::to_string(nr) + " of " + Q(rd.name) + " created (" +
            std::to_string(vd.size_kib) + " KiB, minor " + std::to_string(vd.minor) + ").",
        kMaskVlmDfn);
  return true;
}

}  // namespace

ApiCallRcList Service::CreateRd(const RdCreateRequest& req) {
  Op op(this, kMaskCrt, kMaskRscDfn);
  op.Ref("RscDfn", req.rd.name);
  DoCreateRd(op, *cluster_, req);
  return op.Finish();
}

ApiCallRcList Service::ModifyRd(const std::string& name, const RdModifyRequest& req) {
  Op op(this, kMaskMod, kMaskRscDfn);
  op.Ref("RscDfn", name);
  auto run = [&]() -> bool {
    const ResourceDefinition* cur = op.NeedRd(name);
    if (!cur || !op.CheckProps(req.props)) return false;
    ResourceDefinition rd = *cur;
    ApplyPropsChange(req.props, &rd.props);
    if (req.resource_group) {
      const ResourceGroup* rg = op.NeedRg(*req.resource_group);
      if (!rg) return false;
      rd.rg_name = rg->name;
    }
    if (req.port) {
      for (const auto& [k, other] : cluster_->rds.rows()) {
        if (other.port == *req.port && !NameEquals(other.name, rd.name)) {
          return op.Fail(kFailInvldRscPort, "TCP port " + std::to_string(*req.port) +
                                                " is already used by resource definition " +
                                                Q(other.name) + ".");
        }
      }
      if (*req.port < 1 || *req.port > 65535)
        return op.Fail(kFailInvldRscPort, "Invalid TCP port.");
      rd.port = *req.port;
    }
    if (req.peer_slots) rd.peer_slots = *req.peer_slots;
    if (!req.layer_stack.empty()) {
      if (!cluster_->ResourcesOf(rd.name).empty()) {
        return op.Fail(kFailInvldLayerStack, "The layer stack of " + Q(rd.name) +
                                                 " cannot change while it has resources.");
      }
      std::vector<std::string> layers;
      for (const auto& l : req.layer_stack) {
        auto canon = ParseLayerName(l);
        if (!canon.ok()) return op.Fail(kFailInvldLayerStack, canon.error().message);
        layers.push_back(*canon);
      }
      rd.layer_stack = layers;
    }
    std::string display = rd.name;
    op.txn().Put(op.m().rds, NameKey(name), std::move(rd));
    op.Ok(kModified, "Resource definition " + Q(display) + " modified.");
    // Quorum settings depend on inherited properties such as auto-quorum.
    op.ReconcileQuorum(display);
    return true;
  };
  run();
  return op.Finish();
}

ApiCallRcList Service::DeleteRd(const std::string& name) {
  Op op(this, kMaskDel, kMaskRscDfn);
  op.Ref("RscDfn", name);
  if (const ResourceDefinition* rd = op.NeedRd(name)) {
    std::string display = rd->name;
    for (const Resource* r : cluster_->ResourcesOf(display)) {
      std::string node = r->node_name;
      op.RemoveResource(display, node);
    }
    for (const VolumeDefinition* vd : cluster_->VolumeDefinitionsOf(display)) {
      int nr = vd->volume_number;
      op.txn().Erase(op.m().vds, VdKey(display, nr));
    }
    op.txn().Erase(op.m().rds, NameKey(display));
    op.Ok(kDeleted, "Resource definition " + Q(display) + " deleted.");
  }
  return op.Finish();
}

ApiCallRcList Service::CreateVd(const std::string& rd_name, const VdCreateRequest& req) {
  Op op(this, kMaskCrt, kMaskVlmDfn);
  op.Ref("RscDfn", rd_name);
  if (const ResourceDefinition* rd = op.NeedRd(rd_name)) {
    ResourceDefinition copy = *rd;
    DoCreateVd(op, *cluster_, copy, req);
  }
  return op.Finish();
}

ApiCallRcList Service::ModifyVd(const std::string& rd_name, int vlmnr, const VdModifyRequest& req) {
  Op op(this, kMaskMod, kMaskVlmDfn);
  op.Ref("RscDfn", rd_name);
  op.Ref("VlmNr", std::to_string(vlmnr));
  auto run = [&]() -> bool {
    const ResourceDefinition* rd = op.NeedRd(rd_name);
    if (!rd) return false;
    const VolumeDefinition* cur = cluster_->FindVd(rd_name, vlmnr);
    if (!cur) {
      return op.Fail(kFailNotFoundVlmDfn, "Volume definition " + std::to_string(vlmnr) + " of " +
                                              Q(rd->name) + " not found.");
    }
    if (!op.CheckProps(req.props)) return false;
    VolumeDefinition vd = *cur;
    if (req.size_kib) {
      if (*req.size_kib <= 0) return op.Fail(kFailInvldVlmSize, "Volume size must be positive.");
      if (*req.size_kib < vd.size_kib && !cluster_->ResourcesOf(rd->name).empty()) {
        return op.Fail(kFailInvldVlmSize,
                       "The size of volume definition " + std::to_string(vlmnr) + " of " +
                           Q(rd->name) + " cannot shrink from " + std::to_string(vd.size_kib) +
                           " KiB to " + std::to_string(*req.size_kib) +
                           " KiB while it has resources.",
                       "A volume definition can only be made smaller while no resource uses it.",
                       "Delete the resources first, or grow instead.");
      }
      vd.size_kib = *req.size_kib;
    }
    ApplyPropsChange(req.props, &vd.props);
    for (const auto& f : req.flags) {
      if (!f.empty() && f[0] == '-') {
        SetFlag(&vd.flags, f.substr(1), false);
      } else {
        SetFlag(&vd.flags, f, true);
      }
    }
    op.txn().Put(op.m().vds, VdKey(rd_name, vlmnr), vd);
    op.Ok(kModified,
          "Volume definition " + std::to_string(vlmnr) + " of " + Q(rd->name) + " modified.");
    return true;
  };
  run();
  return op.Finish();
}

ApiCallRcList Service::DeleteVd(const std::string& rd_name, int vlmnr) {
  Op op(this, kMaskDel, kMaskVlmDfn);
  op.Ref("RscDfn", rd_name);
  op.Ref("VlmNr", std::to_string(vlmnr));
  if (const ResourceDefinition* rd = op.NeedRd(rd_name)) {
    if (!cluster_->FindVd(rd_name, vlmnr)) {
      op.Fail(kFailNotFoundVlmDfn,
              "Volume definition " + std::to_string(vlmnr) + " of " + Q(rd->name) + " not found.");
    } else {
      op.txn().Erase(op.m().vds, VdKey(rd_name, vlmnr));
      op.Ok(kDeleted,
            "Volume definition " + std::to_string(vlmnr) + " of " + Q(rd->name) + " deleted.");
    }
  }
  return op.Finish();
}

// ---- Resources ----------------------------------------------------------------

ApiCallRcList Service::CreateResources(const std::string& rd_name,
                                       const std::vector<ResourceCreateRequest>& reqs) {
  Op op(this, kMaskCrt, kMaskRsc);
  op.Ref("RscDfn", rd_name);
  if (reqs.size() == 1) op.Ref("Node", reqs.front().rsc.node_name);
  if (const ResourceDefinition* rd = op.NeedRd(rd_name)) {
    ResourceDefinition copy = *rd;
    bool ok = true;
    for (const auto& req : reqs) {
      ok = ok && op.CreateResource(copy, req);
    }
    if (ok) op.ReconcileQuorum(copy.name);
  }
  return op.Finish();
}

ApiCallRcList Service::ModifyResource(const std::string& rd, const std::string& node,
                                      const PropsChange& change) {
  Op op(this, kMaskMod, kMaskRsc);
  op.Ref("Node", node);
  op.Ref("RscDfn", rd);
  if (op.NeedRd(rd) && op.CheckProps(change)) {
    const Resource* cur = cluster_->FindResource(rd, node);
    if (!cur) {
      op.Fail(kFailNotFoundRsc, "Resource " + Q(rd) + " on node " + Q(node) + " not found.");
    } else {
      Resource r = *cur;
      ApplyPropsChange(change, &r.props);
      op.PutResource(r);
      op.Ok(kModified, "Resource " + Q(r.rd_name) + " on node " + Q(r.node_name) + " modified.");
    }
  }
  return op.Finish();
}

ApiCallRcList Service::DeleteResource(const std::string& rd, const std::string& node,
                                      bool keep_tiebreaker) {
  Op op(this, kMaskDel, kMaskRsc);
  op.Ref("Node", node);
  op.Ref("RscDfn", rd);
  if (const ResourceDefinition* def = op.NeedRd(rd)) {
    std::string rd_display = def->name;
    const Resource* cur = cluster_->FindResource(rd, node);
    if (!cur) {
      op.Fail(kFailNotFoundRsc, "Resource " + Q(rd_display) + " on node " + Q(node) + " not found.",
              "The specified resource could not be found in the database", "");
    } else {
      Resource r = *cur;
      int diskful = 0;
      int diskless = 0;
      for (const Resource* other : cluster_->ResourcesOf(rd)) {
        if (NameEquals(other->node_name, node)) continue;
        if (!other->diskless()) ++diskful;
        if (other->diskless()) ++diskless;
      }
      if (keep_tiebreaker && r.diskless() && !r.tiebreaker() && diskful == 2 && diskless == 0) {
        SetFlag(&r.flags, kFlagTieBreaker, true);
        op.PutResource(r);
        op.Note(kInfoTieBreakerTakeover, "Resource " + Q(rd_display) + " on node " +
                                             Q(r.node_name) + " is kept as a tie breaker.");
        op.Ok(kDeleted, "Resource " + Q(rd_display) + " on node " + Q(r.node_name) +
                            " deleted (kept as tie breaker).");
      } else {
        op.RemoveResource(rd, node);
        op.Ok(kDeleted, "Resource " + Q(rd_display) + " on node " + Q(r.node_name) + " deleted.");
        op.ReconcileQuorum(rd_display, {NodeKey(node)});
      }
    }
  }
  return op.Finish();
}

ApiCallRcList Service::Autoplace(const std::string& rd_name, const AutoplaceRequest& req) {
  Op op(this, kMaskCrt, kMaskRsc);
  op.Ref("RscDfn", rd_name);
  if (const ResourceDefinition* rd = op.NeedRd(rd_name)) {
    ResourceDefinition copy = *rd;
    SelectFilter filter = req.select_filter;
    if (filter.layer_stack.empty()) filter.layer_stack = req.layer_list;
    if (req.diskless_on_remaining) filter.diskless_on_remaining = req.diskless_on_remaining;
    // --auto-place +N replaces the group's place count.
    if (filter.additional_place_count) filter.place_count.reset();
    SelectFilter base;
    if (const ResourceGroup* rg = cluster_->FindRg(copy.rg_name)) base = rg->select_filter;
    if (filter.additional_place_count) base.place_count.reset();
    if (op.PlaceAutomatically(copy, MergeFilters(filter, base))) op.ReconcileQuorum(copy.name);
  }
  return op.Finish();
}

ApiCallRcList Service::MakeAvailable(const std::string& rd_name, const std::string& node,
                                     bool diskful, bool block_device) {
  Op op(this, kMaskCrt, kMaskRsc);
  op.Ref("Node", node);
  op.Ref("RscDfn", rd_name);
  if (const ResourceDefinition* rd = op.NeedRd(rd_name)) {
    ResourceDefinition copy = *rd;
    const Resource* cur = cluster_->FindResource(rd_name, node);
    if (cur && !cur->tiebreaker()) {
      if (diskful && cur->diskless()) {
        op.Fail(kFailInvldConf,
                "Resource " + Q(copy.name) + " on node " + Q(node) +
                    " is diskless; making it diskful (toggle-disk) is not implemented yet.");
      } else if (block_device && cur->props.count(prop::kBlockDevice) == 0) {
        Resource r = *cur;
        r.props[prop::kBlockDevice] = "true";
        op.PutResource(r);
        op.Ok(kModified, "Resource " + Q(copy.name) + " on node " + Q(cur->node_name) +
                             " gets a block device.");
      } else {
        op.Ok(kModified, "Resource " + Q(copy.name) + " is already available on node " +
                             Q(cur->node_name) + ".");
      }
    } else {
      ResourceCreateRequest req;
      req.rsc.node_name = node;
      if (block_device) req.rsc.props[prop::kBlockDevice] = "true";
      if (!diskful) req.rsc.flags = {kFlagDrbdDiskless};
      if (diskful) {
        if (const ResourceGroup* rg = cluster_->FindRg(copy.rg_name);
            rg && !rg->select_filter.storage_pool_list.empty()) {
          req.rsc.props[prop::kStorPoolName] = rg->select_filter.storage_pool_list.front();
        }
      }
      if (op.CreateResource(copy, req)) op.ReconcileQuorum(copy.name);
    }
  }
  return op.Finish();
}

ApiCallRcList Service::Spawn(const std::string& rg_name, const SpawnRequest& req) {
  Op op(this, kMaskCrt, kMaskRscDfn);
  op.Ref("RscGrp", rg_name);
  op.Ref("RscDfn", req.rd_name);
  auto run = [&]() -> bool {
    const ResourceGroup* rg_ptr = op.NeedRg(rg_name);
    if (!rg_ptr) return false;
    ResourceGroup rg = *rg_ptr;
    RdCreateRequest create;
    create.rd.name = req.rd_name;
    create.rd.external_name = req.external_name;
    create.rd.rg_name = rg.name;
    create.rd.props = req.rd_props;
    create.rd.layer_stack = req.select_filter.layer_stack.empty() ? rg.select_filter.layer_stack
                                                                  : req.select_filter.layer_stack;
    create.peer_slots = req.peer_slots;
    if (!DoCreateRd(op, *cluster_, create)) return false;
    const ResourceDefinition rd = *op.c().FindRd(req.rd_name);

    std::vector<const VolumeGroup*> vgs = cluster_->VolumeGroupsOf(rg.name);
    if (!vgs.empty() && req.volume_sizes_kib.size() > vgs.size()) {
      return op.Fail(kFailInvldVlmCount,
                     "Resource group " + Q(rg.name) + " has " + std::to_string(vgs.size()) +
                         " volume groups, but " + std::to_string(req.volume_sizes_kib.size()) +
                         " sizes were given.",
                     "", "Create more volume groups or give fewer sizes.");
    }
    if (!vgs.empty() && req.volume_sizes_kib.size() < vgs.size() && !req.partial) {
      return op.Fail(kFailInvldVlmCount,
                     "Resource group " + Q(rg.name) + " has " + std::to_string(vgs.size()) +
                         " volume groups, but only " + std::to_string(req.volume_sizes_kib.size()) +
                         " sizes were given.",
                     "", "Give a size for every volume group, or spawn with partial.");
    }
    for (size_t i = 0; i < req.volume_sizes_kib.size(); ++i) {
      VdCreateRequest vd;
      vd.vd.size_kib = req.volume_sizes_kib[i];
      vd.volume_number = vgs.empty() ? static_cast<int>(i) : vgs[i]->volume_number;
      if (!vgs.empty() && HasFlag(vgs[i]->flags, "GROSS_SIZE")) vd.vd.flags.push_back("GROSS_SIZE");
      if (!DoCreateVd(op, *cluster_, rd, vd)) return false;
    }
    if (req.definitions_only) return true;
    SelectFilter filter = MergeFilters(req.select_filter, rg.select_filter);
    if (!op.PlaceAutomatically(rd, filter)) return false;
    op.ReconcileQuorum(rd.name);
    return true;
  };
  run();
  return op.Finish();
}

}  // namespace tandem::controller
