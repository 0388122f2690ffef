// Service: every operation of the REST API on the object model, as typed
// calls that return ApiCallRc lists.
//
// Each mutating call is one transaction: it runs on the in-memory Cluster
// through a Txn, and only if it produced no error entry are its row changes
// written to the Store (one SQLite transaction) and kept. A call that fails at
// any point - validation, placement, or the database write - leaves both the
// memory and the database exactly as they were.
//
// Thread-compatible: the REST server calls it from one thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "controller/api_rc.h"
#include "controller/model.h"
#include "controller/placement.h"
#include "controller/store.h"

namespace tandem::controller {

using rc::ApiCallRcList;

struct NodeModifyRequest {
  std::optional<NodeType> type;
  PropsChange props;
};

// A net interface as POST and PUT give it (NetInterface, all fields
// optional here): create needs name and address; modify changes only the
// fields given and keeps the name.
struct NetInterfaceRequest {
  std::optional<std::string> name;
  std::optional<std::string> address;
  std::optional<int> satellite_port;           // create: 3366, 3367 for SSL
  std::optional<std::string> encryption_type;  // PLAIN or SSL, any case
  std::optional<bool> is_active;               // true: the satellite connection
};

struct RgModifyRequest {
  std::optional<std::string> description;
  PropsChange props;
  std::optional<SelectFilter> select_filter;  // fields set here replace the group's
  std::optional<int> peer_slots;
};

struct SpawnRequest {
  std::string rd_name;
  std::string external_name;
  std::vector<int64_t> volume_sizes_kib;
  SelectFilter select_filter;
  bool partial = false;
  bool definitions_only = false;
  Props rd_props;
  std::optional<int> peer_slots;
};

struct RdCreateRequest {
  ResourceDefinition rd;  // name, external_name, rg_name, props, layer_stack
  std::optional<int> port;
  std::optional<std::string> secret;
  std::optional<int> peer_slots;
};

struct RdModifyRequest {
  PropsChange props;
  std::optional<int> port;
  std::optional<int> peer_slots;
  std::vector<std::string> layer_stack;
  std::optional<std::string> resource_group;
};

struct VdCreateRequest {
  VolumeDefinition vd;               // size_kib, props, flags
  std::optional<int> volume_number;  // next free when unset
  std::optional<int> minor;          // allocated from MinorNrAutoRange when unset
};

struct VdModifyRequest {
  std::optional<int64_t> size_kib;
  PropsChange props;
  std::vector<std::string> flags;  // "FLAG" sets, "-FLAG" clears
};

struct ResourceCreateRequest {
  Resource rsc;  // node_name, props, flags
  std::vector<std::string> layer_list;
  std::optional<int> node_id;
};

struct AutoplaceRequest {
  SelectFilter select_filter;
  std::optional<bool> diskless_on_remaining;
  std::vector<std::string> layer_list;
};

// Ranges used when nothing else is configured (controller properties
// TcpPortAutoRange and MinorNrAutoRange override them).
inline constexpr int kDefaultPortLow = 7000;
inline constexpr int kDefaultPortHigh = 7999;
inline constexpr int kDefaultMinorLow = 1000;
inline constexpr int kDefaultMinorHigh = 49999;

class Service {
 public:
  // REQUIRES: cluster and store outlive the service; the cluster holds what
  // the store holds.
  Service(Cluster* cluster, Store* store) : cluster_(cluster), store_(store) {}

  // Creates the default objects (DfltRscGrp) if missing. Run once at start-up.
  Status Bootstrap();

  const Cluster& cluster() const { return *cluster_; }

  // Called after every committed change with the rows it wrote (the
  // controller pushes the new desired state to satellites from here).
  using CommitHook = std::function<void(const std::vector<RowChange>&)>;
  void set_commit_hook(CommitHook hook) { commit_hook_ = std::move(hook); }
  // The version of the last change to a resource definition, its volume
  // definitions or its resources (`rd_key` is NameKey of its name; 0: none since
  // start-up). What a resource's view shows of the model changes only then
  // (the cached views key on it).
  uint64_t RdVersion(const std::string& rd_key) const {
    auto it = rd_versions_.find(rd_key);
    return it == rd_versions_.end() ? 0 : it->second;
  }

  ApiCallRcList SetControllerProps(const PropsChange& change);

  ApiCallRcList CreateNode(Node node);
  ApiCallRcList ModifyNode(const std::string& name, const NodeModifyRequest& req);
  ApiCallRcList DeleteNode(const std::string& name);
  // Marks the node EVACUATE (no autoplacement onto it) and moves its diskful
  // resources to other nodes that satisfy their group's filter: the new
  // replicas are created, and each old one is flagged EVACUATE and stays (the
  // data keeps its redundancy) until FinishEvacuation deletes it; diskless
  // resources of the node are deleted at once. If any diskful resource finds
  // no target, nothing changes.
  // `targets` limits the new nodes to these; `do_not_target` excludes nodes
  // (NodeEvacuate, REST 1.27).
  ApiCallRcList EvacuateNode(const std::string& name, const std::vector<std::string>& targets = {},
                             const std::vector<std::string>& do_not_target = {});
  // Auto-Evict: the node was offline too long. Marks it EVICTED and moves its
  // diskful replicas like an evacuation, except that a resource finding no
  // target is left degraded (a warning) instead of refusing the whole call.
  ApiCallRcList EvictNode(const std::string& name);
  // The controller's tick saw the replacement of `rd`'s replica on `node`
  // UpToDate (and the old replica unused): deletes the EVACUATE-flagged
  // resource. Nothing happens when it is no longer flagged.
  ApiCallRcList FinishEvacuation(const std::string& rd, const std::string& node);
  // Clears EVACUATE or EVICTED; resources already moved stay where they are,
  // and evacuations in progress go on.
  ApiCallRcList RestoreNode(const std::string& name);
  // The node is gone for good: removes it, its pools and all its resources.
  ApiCallRcList LostNode(const std::string& name);

  // Net interfaces (guide "Managing Network Interface Cards"). At most one
  // is active: the address the controller dials (desired.h EndpointOf), so
  // activating one or changing the active one's address or port redials the
  // satellite there. Refused: invalid name, address or port, a duplicate
  // name, deleting the node's last or its active interface, deactivating
  // the active one.
  ApiCallRcList CreateNetInterface(const std::string& node, const NetInterfaceRequest& req);
  ApiCallRcList ModifyNetInterface(const std::string& node, const std::string& name,
                                   const NetInterfaceRequest& req);
  ApiCallRcList DeleteNetInterface(const std::string& node, const std::string& name);

  ApiCallRcList CreatePoolDef(StoragePoolDefinition def);
  ApiCallRcList ModifyPoolDef(const std::string& name, const PropsChange& change);
  ApiCallRcList DeletePoolDef(const std::string& name);
  ApiCallRcList CreatePool(const std::string& node, StoragePool pool);
  ApiCallRcList ModifyPool(const std::string& node, const std::string& pool,
                           const PropsChange& change);
  ApiCallRcList DeletePool(const std::string& node, const std::string& pool);

  ApiCallRcList CreateRg(ResourceGroup rg);
  ApiCallRcList ModifyRg(const std::string& name, const RgModifyRequest& req);
  ApiCallRcList DeleteRg(const std::string& name);
  ApiCallRcList Spawn(const std::string& rg, const SpawnRequest& req);
  // query-size-info of a group: SizeInfo for the group's select filter with
  // the fields set in `overrides` replacing the group's. Changes nothing.
  // `reports` holds an error when the group is missing (no info) or when no
  // placement is possible (info with size 0 and no spawn result), and a
  // warning for chosen pools whose capacity is unknown.
  struct SizeInfoAnswer {
    std::optional<SizeInfo> info;
    ApiCallRcList reports;
  };
  SizeInfoAnswer QuerySizeInfo(const std::string& rg, const SelectFilter& overrides) const;
  ApiCallRcList CreateVg(const std::string& rg, VolumeGroup vg, std::optional<int> volume_number);
  ApiCallRcList ModifyVg(const std::string& rg, int vlmnr, const PropsChange& change,
                         const std::vector<std::string>& flags);
  ApiCallRcList DeleteVg(const std::string& rg, int vlmnr);

  ApiCallRcList CreateRd(const RdCreateRequest& req);
  ApiCallRcList ModifyRd(const std::string& name, const RdModifyRequest& req);
  ApiCallRcList DeleteRd(const std::string& name);
  ApiCallRcList CreateVd(const std::string& rd, const VdCreateRequest& req);
  ApiCallRcList ModifyVd(const std::string& rd, int vlmnr, const VdModifyRequest& req);
  ApiCallRcList DeleteVd(const std::string& rd, int vlmnr);

  ApiCallRcList CreateResources(const std::string& rd,
                                const std::vector<ResourceCreateRequest>& reqs);
  ApiCallRcList ModifyResource(const std::string& rd, const std::string& node,
                               const PropsChange& change);
  ApiCallRcList DeleteResource(const std::string& rd, const std::string& node,
                               bool keep_tiebreaker);
  ApiCallRcList Autoplace(const std::string& rd, const AutoplaceRequest& req);
  // `block_device` (a Tandem extension) also sets the resource's
  // Tandem/BlockDevice property: the satellite puts a loop device on it.
  ApiCallRcList MakeAvailable(const std::string& rd, const std::string& node, bool diskful,
                              bool block_device = false);

  // Sets reported capacity of a pool (the satellite report; a test hook now).
  ApiCallRcList ReportCapacity(const std::string& node, const std::string& pool,
                               std::optional<int64_t> total_kib, std::optional<int64_t> free_kib);

 private:
  class Op;  // one request's transaction and answer (service.cc)
  ApiCallRcList RemoveNode(const std::string& name, bool lost);
  ApiCallRcList MoveOffNode(const std::string& name, const std::vector<std::string>& targets,
                            const std::vector<std::string>& do_not_target, bool evict);

  Cluster* cluster_;
  Store* store_;
  CommitHook commit_hook_;
  uint64_t version_ = 0;  // bumps with every committed change
  std::unordered_map<std::string, uint64_t> rd_versions_;
};

}  // namespace tandem::controller
