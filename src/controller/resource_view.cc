#include "controller/resource_view.h"

namespace tandem::controller {

const ObservedNode* ObservedOf(const ObservedMap& obs, const std::string& node) {
  auto it = obs.find(node);
  return it == obs.end() ? nullptr : it->second.get();
}

const satproto::ResourceState* LiveState(const ObservedNode* n, const std::string& rd) {
  if (!n || !n->live()) return nullptr;
  auto it = n->resources.find(rd);
  return it == n->resources.end() ? nullptr : &it->second;
}

const satproto::VolumeState* LiveVolume(const satproto::ResourceState* s, int vnr) {
  if (!s) return nullptr;
  for (const satproto::VolumeState& v : s->volumes) {
    if (v.vnr == vnr) return &v;
  }
  return nullptr;
}

namespace {

// DiskStateOf with the resource's reported state already looked up.
std::string DiskStateOf(const ObservedNode* n, const satproto::ResourceState* live,
                        const Resource& r, int vnr) {
  if (!n || !n->live()) return "Unknown";
  if (const satproto::VolumeState* v = LiveVolume(live, vnr)) {
    if (v->disk_state == "Diskless" && r.tiebreaker()) return "TieBreaker";
    return v->disk_state;
  }
  if (n->apply_errors.count(r.rd_name)) return "Error";
  return "Creating";
}

}  // namespace

std::string DiskStateOf(const ObservedNode* n, const Resource& r, int vnr) {
  return DiskStateOf(n, LiveState(n, r.rd_name), r, vnr);
}

std::string DevicePath(const std::string& rd, int vlmnr) {
  return "/dev/tandem/by-res/" + rd + "/" + std::to_string(vlmnr);
}

namespace {

// What the views of one volume say, worked out once for its three places in
// a resource view (the volume itself, the DRBD and the STORAGE layer).
struct VolumeFacts {
  const VolumeDefinition* vd = nullptr;
  const satproto::VolumeState* live = nullptr;
  bool diskless = false;
  int64_t size_kib = 0;  // 0 when diskless
  int64_t allocated_kib = 0;
  std::string disk_state;
  std::string device;
};

VolumeFacts FactsOf(const Resource& r, const VolumeDefinition& vd, const ObservedNode* node,
                    const satproto::ResourceState* live) {
  VolumeFacts f;
  f.vd = &vd;
  f.live = LiveVolume(live, vd.volume_number);
  f.diskless = r.diskless();
  f.size_kib = f.diskless ? 0 : vd.size_kib;
  f.disk_state = DiskStateOf(node, live, r, vd.volume_number);
  f.allocated_kib = f.live ? f.live->allocated_kib : f.size_kib;
  f.device = f.live && !f.live->device_path.empty() ? f.live->device_path
                                                    : DevicePath(r.rd_name, vd.volume_number);
  return f;
}

void WriteDrbdVolumeData(JsonWriter& w, const VolumeFacts& f) {
  w.BeginObject();
  w.Key("drbd_volume_definition").BeginObject();
  w.Key("resource_name_suffix").String("");
  w.Key("volume_number").Int(f.vd->volume_number);
  w.Key("minor_number").Int(f.vd->minor);
  w.EndObject();
  w.Key("device_path").String(f.device);
  w.Key("meta_disk").String("internal");
  w.Key("allocated_size_kib").Int(f.allocated_kib);
  w.Key("usable_size_kib").Int(f.live && f.live->usable_kib ? f.live->usable_kib : f.vd->size_kib);
  w.Key("disk_state").String(f.disk_state);
  w.EndObject();
}

void WriteStorageVolumeData(JsonWriter& w, const VolumeFacts& f) {
  w.BeginObject();
  w.Key("volume_number").Int(f.vd->volume_number);
  w.Key("allocated_size_kib").Int(f.allocated_kib);
  w.Key("usable_size_kib").Int(f.size_kib);
  w.Key("disk_state").String(f.diskless ? "Diskless" : f.disk_state);
  w.EndObject();
}

void WriteVolume(JsonWriter& w, const Resource& r, const StoragePool* pool, const VolumeFacts& f,
                 const satproto::ResourceState* live) {
  w.BeginObject();
  w.Key("volume_number").Int(f.vd->volume_number);
  w.Key("storage_pool_name").String(r.storage_pool);
  w.Key("provider_kind")
      .String(pool ? ProviderKindName(pool->provider) : (f.diskless ? "DISKLESS" : "FILE"));
  w.Key("device_path").String(f.device);
  if (f.live && !f.live->nbd_uri.empty()) w.Key("nbd_uri").String(f.live->nbd_uri);
  w.Key("allocated_size_kib").Int(f.allocated_kib);
  w.Key("usable_size_kib").Int(f.vd->size_kib);
  w.Key("state").BeginObject();
  w.Key("disk_state").String(f.disk_state);
  if (live) {
    w.Key("replication_states").BeginObject();
    for (const satproto::ConnectionState& cs : live->connections) {
      for (const satproto::PeerVolumeState& pv : cs.volumes) {
        if (pv.vnr != f.vd->volume_number) continue;
        w.Key(cs.node).BeginObject();
        w.Key("replication_state").String(pv.replication);
        if (pv.replication.rfind("Sync", 0) == 0 || pv.done > 0)
          w.Key("done_percentage").Double(pv.done);
        w.EndObject();
      }
    }
    w.EndObject();
  }
  w.EndObject();
  w.Key("layer_data_list").BeginArray();
  w.BeginObject().Key("type").String("DRBD").Key("data");
  WriteDrbdVolumeData(w, f);
  w.EndObject();
  w.BeginObject().Key("type").String("STORAGE").Key("data");
  WriteStorageVolumeData(w, f);
  w.EndObject();
  w.EndArray();
  w.EndObject();
}

void WriteProps(JsonWriter& w, const Props& props) {
  w.BeginObject();
  for (const auto& [k, v] : props) w.Key(k).String(v);
  w.EndObject();
}

void WriteStrings(JsonWriter& w, const std::vector<std::string>& items) {
  w.BeginArray();
  for (const auto& s : items) w.String(s);
  w.EndArray();
}

bool HasDrbdLayer(const ResourceDefinition& rd) {
  if (rd.layer_stack.empty()) return true;  // the default DRBD,STORAGE
  for (const auto& l : rd.layer_stack) {
    if (l == "DRBD") return true;
  }
  return false;
}

}  // namespace

void WriteVolumeView(JsonWriter& w, const Cluster& c, const Resource& r, const VolumeDefinition& vd,
                     const ObservedMap& obs) {
  const ObservedNode* node = ObservedOf(obs, r.node_name);
  const satproto::ResourceState* live = LiveState(node, r.rd_name);
  WriteVolume(w, r, c.FindPool(r.node_name, r.storage_pool), FactsOf(r, vd, node, live), live);
}

RdViewContext RdContextOf(const Cluster& c, const std::string& rd_name) {
  return RdViewContext{rd_name, c.FindRd(rd_name), c.VolumeDefinitionsOf(rd_name)};
}

void WriteResourceView(JsonWriter& w, const Cluster& c, const Resource& r, bool with_volumes,
                       const ObservedMap& obs) {
  WriteResourceView(w, c, r, RdContextOf(c, r.rd_name), with_volumes, obs);
}

void WriteResourceView(JsonWriter& w, const Cluster& c, const Resource& r, const RdViewContext& ctx,
                       bool with_volumes, const ObservedMap& obs) {
  const ObservedNode* node = ObservedOf(obs, r.node_name);
  const satproto::ResourceState* live = LiveState(node, r.rd_name);
  const ResourceDefinition* rd = ctx.rd;
  std::vector<VolumeFacts> vols;
  vols.reserve(ctx.vds.size());
  for (const VolumeDefinition* vd : ctx.vds) vols.push_back(FactsOf(r, *vd, node, live));

  w.BeginObject();
  // The fields of ResourceToJson (codec.cc).
  w.Key("name").String(r.rd_name);
  w.Key("node_name").String(r.node_name);
  if (!r.props.empty()) WriteProps(w.Key("props"), r.props);
  if (!r.flags.empty()) WriteStrings(w.Key("flags"), r.flags);
  if (!r.uuid.empty()) w.Key("uuid").String(r.uuid);
  if (r.create_timestamp_ms) w.Key("create_timestamp").Int(r.create_timestamp_ms);

  w.Key("layer_object").BeginObject();
  w.Key("type").String("DRBD");
  w.Key("resource_name_suffix").String("");
  w.Key("children").BeginArray().BeginObject();
  w.Key("type").String("STORAGE");
  w.Key("resource_name_suffix").String("");
  w.Key("storage").BeginObject().Key("storage_volumes").BeginArray();
  for (const VolumeFacts& f : vols) WriteStorageVolumeData(w, f);
  w.EndArray().EndObject();
  w.EndObject().EndArray();

  w.Key("drbd").BeginObject();
  if (rd) {
    if (HasDrbdLayer(*rd)) {
      // The DRBD layer data of RdToJson (codec.cc).
      w.Key("drbd_resource_definition").BeginObject();
      w.Key("resource_name_suffix").String("");
      w.Key("peer_slots").Int(rd->peer_slots);
      w.Key("al_stripes").Int(1);
      w.Key("al_stripe_size_kib").Int(32);
      w.Key("port").Int(rd->port);
      w.Key("transport_type").String("IP");
      w.Key("secret").String(rd->secret);
      w.Key("down").Bool(false);
      w.EndObject();
    }
    w.Key("tcp_ports").BeginArray().Int(rd->port).EndArray();
    w.Key("peer_slots").Int(rd->peer_slots);
  }
  w.Key("node_id").Int(r.node_id);
  w.Key("al_stripes").Int(1);
  w.Key("al_size").Int(32);
  w.Key("flags").BeginArray();
  if (r.diskless()) w.String("DISKLESS");
  w.EndArray();
  w.Key("drbd_volumes").BeginArray();
  for (const VolumeFacts& f : vols) WriteDrbdVolumeData(w, f);
  w.EndArray();
  w.Key("connections").BeginObject();
  if (live) {
    for (const satproto::ConnectionState& cs : live->connections) {
      w.Key(cs.node).BeginObject();
      w.Key("connected").Bool(cs.connection == "Connected");
      w.Key("message").String(cs.split_brain ? "StandAlone" : cs.connection);
      if (cs.split_brain) w.Key("split_brain").Bool(true);
      w.EndObject();
    }
  }
  w.EndObject();
  w.Key("promotion_score").Int(0);
  w.Key("may_promote").Bool(live && live->role == "Secondary");
  w.EndObject();  // drbd
  w.EndObject();  // layer_object

  // Clients read in_use unconditionally; while the node is not connected it
  // is false and the volumes say "Unknown".
  w.Key("state").BeginObject();
  w.Key("in_use").Bool(live && live->in_use);
  if (node && node->live()) {
    auto err = node->apply_errors.find(r.rd_name);
    if (err != node->apply_errors.end()) w.Key("error").String(err->second);
  }
  w.EndObject();
  if (with_volumes) {
    w.Key("volumes").BeginArray();
    const StoragePool* pool = c.FindPool(r.node_name, r.storage_pool);
    for (const VolumeFacts& f : vols) WriteVolume(w, r, pool, f, live);
    w.EndArray();
  }
  w.EndObject();
}

}  // namespace tandem::controller
