#include "tandemd/spec.h"

#include <algorithm>
#include <functional>
#include <set>

namespace tandem::tandemd {
namespace json = boost::json;

namespace {

Error Bad(std::string msg) { return Error{Errc::kInvalidArgument, std::move(msg)}; }

template <class E>
struct EnumName {
  E value;
  const char* name;
};

constexpr EnumName<engine::AfterSb0> kAfterSb0[] = {
    {engine::AfterSb0::kDisconnect, "disconnect"},
    {engine::AfterSb0::kDiscardYoungerPrimary, "discard-younger-primary"},
    {engine::AfterSb0::kDiscardOlderPrimary, "discard-older-primary"},
    {engine::AfterSb0::kDiscardZeroChanges, "discard-zero-changes"},
    {engine::AfterSb0::kDiscardLeastChanges, "discard-least-changes"},
};
constexpr EnumName<engine::AfterSb1> kAfterSb1[] = {
    {engine::AfterSb1::kDisconnect, "disconnect"},
    {engine::AfterSb1::kConsensus, "consensus"},
    {engine::AfterSb1::kDiscardSecondary, "discard-secondary"},
    {engine::AfterSb1::kCallPriLostAfterSb, "call-pri-lost-after-sb"},
    {engine::AfterSb1::kViolentlyAs0p, "violently-as0p"},
};
constexpr EnumName<engine::AfterSb2> kAfterSb2[] = {
    {engine::AfterSb2::kDisconnect, "disconnect"},
    {engine::AfterSb2::kViolentlyAs0p, "violently-as0p"},
    {engine::AfterSb2::kCallPriLostAfterSb, "call-pri-lost-after-sb"},
};
constexpr EnumName<engine::RrConflict> kRrConflict[] = {
    {engine::RrConflict::kDisconnect, "disconnect"},
    {engine::RrConflict::kRetryConnect, "retry-connect"},
};
constexpr EnumName<engine::OnNoQuorum> kOnNoQuorum[] = {
    {engine::OnNoQuorum::kIoError, "io-error"},
    {engine::OnNoQuorum::kSuspendIo, "suspend-io"},
};
constexpr EnumName<engine::WireProtocol> kProtocol[] = {
    {engine::WireProtocol::kA, "A"},
    {engine::WireProtocol::kC, "C"},
};

// One option: how to write it to JSON and read it back.
struct Field {
  const char* name;
  std::function<json::value(const engine::Options&)> get;
  std::function<std::string(engine::Options*, const json::value&)> set;  // error or ""
};

template <class E, size_t N>
Field EnumField(const char* name, E engine::Options::*member, const EnumName<E> (&table)[N]) {
  return Field{name,
               [member, &table](const engine::Options& o) -> json::value {
                 for (const auto& e : table) {
                   if (e.value == o.*member) return json::string(e.name);
                 }
                 return json::string("?");
               },
               [name, member, &table](engine::Options* o, const json::value& v) -> std::string {
                 if (v.is_string()) {
                   for (const auto& e : table) {
                     if (v.as_string() == e.name) {
                       o->*member = e.value;
                       return "";
                     }
                   }
                 }
                 std::string all;
                 for (const auto& e : table) all += std::string(all.empty() ? "" : ", ") + e.name;
                 return std::string("option ") + name + ": expected one of " + all;
               }};
}

Field BoolField(const char* name, bool engine::Options::*member) {
  return Field{name, [member](const engine::Options& o) -> json::value { return o.*member; },
               [name, member](engine::Options* o, const json::value& v) -> std::string {
                 if (!v.is_bool())
                   return std::string("option ") + name + ": expected true or false";
                 o->*member = v.as_bool();
                 return "";
               }};
}

template <class T>
Field IntField(const char* name, T engine::Options::*member, int64_t min, int64_t max) {
  return Field{
      name,
      [member](const engine::Options& o) -> json::value { return static_cast<int64_t>(o.*member); },
      [=](engine::Options* o, const json::value& v) -> std::string {
        if (!v.is_int64() && !v.is_uint64()) {
          return std::string("option ") + name + ": expected an integer";
        }
        int64_t x = v.is_int64() ? v.as_int64() : static_cast<int64_t>(v.as_uint64());
        if (x < min || x > max) {
          return std::string("option ") + name + ": " + std::to_string(x) + " is out of range " +
                 std::to_string(min) + ".." + std::to_string(max);
        }
        o->*member = static_cast<T>(x);
        return "";
      }};
}

// Times are nanoseconds inside, milliseconds on the wire.
Field MsField(const char* name, engine::Time engine::Options::*member) {
  return Field{name,
               [member](const engine::Options& o) -> json::value {
                 return static_cast<int64_t>(o.*member / engine::kMs);
               },
               [name, member](engine::Options* o, const json::value& v) -> std::string {
                 if (!v.is_int64() && !v.is_uint64()) {
                   return std::string("option ") + name + ": expected milliseconds";
                 }
                 int64_t x = v.is_int64() ? v.as_int64() : static_cast<int64_t>(v.as_uint64());
                 if (x < 0 || x > 86'400'000) {
                   return std::string("option ") + name + ": out of range 0..86400000";
                 }
                 o->*member = x * engine::kMs;
                 return "";
               }};
}

// quorum and quorum-minimum-redundancy: "off", "majority", "all" or a count.
Field QuorumField(const char* name, int engine::Options::*member) {
  return Field{name,
               [member](const engine::Options& o) -> json::value {
                 int q = o.*member;
                 if (q == engine::kQuorumOff) return json::string("off");
                 if (q == engine::kQuorumMajority) return json::string("majority");
                 if (q == engine::kQuorumAll) return json::string("all");
                 return static_cast<int64_t>(q);
               },
               [name, member](engine::Options* o, const json::value& v) -> std::string {
                 if (v.is_string()) {
                   const json::string& s = v.as_string();
                   if (s == "off")
                     o->*member = engine::kQuorumOff;
                   else if (s == "majority")
                     o->*member = engine::kQuorumMajority;
                   else if (s == "all")
                     o->*member = engine::kQuorumAll;
                   else
                     return std::string("option ") + name +
                            ": expected off, majority, all or a number";
                   return "";
                 }
                 if (v.is_int64() && v.as_int64() >= 1 && v.as_int64() <= kMaxNodes) {
                   o->*member = static_cast<int>(v.as_int64());
                   return "";
                 }
                 return std::string("option ") + name + ": expected off, majority, all or 1..32";
               }};
}

const std::vector<Field>& Fields() {
  using O = engine::Options;
  static const std::vector<Field> fields = {
      EnumField("protocol", &O::protocol, kProtocol),
      BoolField("allow-two-primaries", &O::allow_two_primaries),
      EnumField("after-sb-0pri", &O::after_sb_0pri, kAfterSb0),
      EnumField("after-sb-1pri", &O::after_sb_1pri, kAfterSb1),
      EnumField("after-sb-2pri", &O::after_sb_2pri, kAfterSb2),
      BoolField("always-asbp", &O::always_asbp),
      EnumField("rr-conflict", &O::rr_conflict, kRrConflict),
      QuorumField("quorum", &O::quorum),
      QuorumField("quorum-minimum-redundancy", &O::quorum_minimum_redundancy),
      EnumField("on-no-quorum", &O::on_no_quorum, kOnNoQuorum),
      BoolField("auto-promote", &O::auto_promote),
      MsField("auto-promote-timeout-ms", &O::auto_promote_timeout),
      IntField("max-epoch-size", &O::max_epoch_size, 1, 20000),
      MsField("timeout-ms", &O::timeout),
      MsField("ping-int-ms", &O::ping_int),
      MsField("ping-timeout-ms", &O::ping_timeout),
      IntField("ko-count", &O::ko_count, 0, 200),
      MsField("connect-int-ms", &O::connect_int),
      MsField("twopc-timeout-ms", &O::twopc_timeout),
      MsField("twopc-retry-timeout-ms", &O::twopc_retry_timeout),
      IntField("al-extents", &O::al_extents, 67, 65534),
      BoolField("verify-alg", &O::verify_alg),
      BoolField("csums", &O::csums),
      BoolField("disk-flushes", &O::disk_flushes),
      MsField("disk-timeout-ms", &O::disk_timeout),
      IntField("resync-rate", &O::resync_rate_kib, 1, 8 * 1024 * 1024),
      IntField("c-plan-ahead", &O::c_plan_ahead, 0, 300),
      IntField("c-fill-target", &O::c_fill_target_sectors, 0, 1 << 20),
      IntField("c-delay-target", &O::c_delay_target, 1, 100),
      IntField("c-max-rate", &O::c_max_rate_kib, 250, 8 * 1024 * 1024),
      IntField("c-min-rate", &O::c_min_rate_kib, 0, 8 * 1024 * 1024),
      IntField("max-buffers", &O::max_buffers, 32, 131072),
  };
  return fields;
}

Result<std::string> GetString(const json::object& o, const char* key, bool required) {
  const json::value* v = o.if_contains(key);
  if (!v) {
    if (required) return Bad(std::string("missing field '") + key + "'");
    return std::string();
  }
  if (!v->is_string()) return Bad(std::string("field '") + key + "' must be a string");
  return std::string(v->as_string());
}

Result<int64_t> GetInt(const json::object& o, const char* key, int64_t min, int64_t max) {
  const json::value* v = o.if_contains(key);
  if (!v) return Bad(std::string("missing field '") + key + "'");
  if (!v->is_int64() && !v->is_uint64())
    return Bad(std::string("field '") + key + "' must be an integer");
  int64_t x = v->is_int64() ? v->as_int64() : static_cast<int64_t>(v->as_uint64());
  if (x < min || x > max) {
    return Bad(std::string("field '") + key + "' out of range " + std::to_string(min) + ".." +
               std::to_string(max));
  }
  return x;
}

std::string CheckKeys(const json::object& o, std::initializer_list<const char*> allowed,
                      const char* what) {
  for (const auto& kv : o) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || kv.key() == a;
    if (!ok) return std::string("unknown field '") + std::string(kv.key()) + "' in " + what;
  }
  return "";
}

}  // namespace

bool ValidResourceName(const std::string& n) {
  if (n.empty() || n.size() > 48 || n[0] == '-' || n[0] == '.') return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

json::object OptionsToJson(const engine::Options& o) {
  json::object out;
  for (const Field& f : Fields()) out[f.name] = f.get(o);
  return out;
}

Result<engine::Options> OptionsFromJson(const json::value& v) {
  engine::Options o;
  if (v.is_null()) return o;
  if (!v.is_object()) return Bad("options must be an object");
  for (const auto& kv : v.as_object()) {
    const Field* field = nullptr;
    for (const Field& f : Fields()) {
      if (kv.key() == f.name) field = &f;
    }
    if (!field) return Bad("unknown option '" + std::string(kv.key()) + "'");
    std::string err = field->set(&o, kv.value());
    if (!err.empty()) return Bad(err);
  }
  std::string err = o.Validate();
  if (!err.empty()) return Bad(err);
  return o;
}

const NodeSpec* ResourceSpec::FindNode(uint8_t id) const {
  for (const NodeSpec& n : nodes) {
    if (n.id == id) return &n;
  }
  return nullptr;
}
const NodeSpec* ResourceSpec::FindNodeByName(const std::string& n) const {
  for (const NodeSpec& x : nodes) {
    if (x.name == n) return &x;
  }
  return nullptr;
}
const NodeSpec* ResourceSpec::self() const { return FindNode(node_id); }
const VolumeSpec* ResourceSpec::FindVolume(uint16_t vnr) const {
  for (const VolumeSpec& v : volumes) {
    if (v.vnr == vnr) return &v;
  }
  return nullptr;
}
bool ResourceSpec::diskless() const {
  const NodeSpec* me = self();
  if (me && me->diskless) return true;
  return std::none_of(volumes.begin(), volumes.end(),
                      [](const VolumeSpec& v) { return v.has_disk(); });
}

std::vector<uint8_t> ResourceSpec::DiskfulPeers() const {
  std::vector<uint8_t> out;
  for (const NodeSpec& n : nodes) {
    if (n.id != node_id && !n.diskless) out.push_back(n.id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

uint32_t ResourceSpec::MaxPeers() const {
  return std::max<uint32_t>(1, static_cast<uint32_t>(DiskfulPeers().size()));
}

engine::ResourceConfig ResourceSpec::ToEngineConfig() const {
  engine::ResourceConfig c;
  c.name = name;
  c.self = NodeId(node_id);
  for (const NodeSpec& n : nodes) {
    bool dl = n.diskless || (n.id == node_id && diskless());
    c.nodes.push_back(engine::NodeConfig{NodeId(n.id), n.name, dl});
  }
  std::sort(c.nodes.begin(), c.nodes.end(),
            [](const engine::NodeConfig& a, const engine::NodeConfig& b) { return a.id < b.id; });
  for (const VolumeSpec& v : volumes) c.volumes.push_back(VolumeNr(v.vnr));
  std::sort(c.volumes.begin(), c.volumes.end());
  c.options = options;
  return c;
}

std::string ResourceSpec::Validate() const {
  if (!ValidResourceName(name)) return "invalid resource name '" + name + "'";
  if (nodes.empty()) return "resource " + name + " has no nodes";
  if (nodes.size() > kMaxNodes) return "resource " + name + " has more than 32 nodes";
  std::set<uint8_t> ids;
  std::set<std::string> names;
  for (const NodeSpec& n : nodes) {
    if (n.id >= kMaxNodes) return "node id " + std::to_string(n.id) + " is out of range 0..31";
    if (!ids.insert(n.id).second) return "node id " + std::to_string(n.id) + " appears twice";
    if (n.name.empty()) return "node " + std::to_string(n.id) + " has no name";
    if (!names.insert(n.name).second) return "node name '" + n.name + "' appears twice";
    if (n.address.empty()) return "node '" + n.name + "' has no address";
  }
  if (!self()) return "node id " + std::to_string(node_id) + " (this node) is not among the nodes";
  if (volumes.empty()) return "resource " + name + " has no volumes";
  std::set<uint16_t> vnrs;
  for (const VolumeSpec& v : volumes) {
    if (!vnrs.insert(v.vnr).second) return "volume " + std::to_string(v.vnr) + " appears twice";
    if (v.has_disk() && v.disk[0] != '/') return "disk '" + v.disk + "' is not an absolute path";
    if (!v.internal_md() && v.meta_disk[0] != '/') {
      return "meta-disk '" + v.meta_disk + "' is neither 'internal' nor an absolute path";
    }
  }
  return options.Validate();
}

json::object SpecToJson(const ResourceSpec& s) {
  json::object o;
  o["name"] = s.name;
  o["node_id"] = s.node_id;
  o["shared_secret"] = s.shared_secret;
  json::array nodes;
  for (const NodeSpec& n : s.nodes) {
    nodes.push_back(json::object{
        {"id", n.id}, {"name", n.name}, {"address", n.address}, {"diskless", n.diskless}});
  }
  o["nodes"] = std::move(nodes);
  json::array vols;
  for (const VolumeSpec& v : s.volumes) {
    vols.push_back(json::object{{"vnr", v.vnr}, {"disk", v.disk}, {"meta_disk", v.meta_disk}});
  }
  o["volumes"] = std::move(vols);
  o["options"] = OptionsToJson(s.options);
  return o;
}

Result<ResourceSpec> SpecFromJson(const json::value& v) {
  if (!v.is_object()) return Bad("spec must be an object");
  const json::object& o = v.as_object();
  std::string err =
      CheckKeys(o, {"name", "node_id", "shared_secret", "nodes", "volumes", "options"}, "spec");
  if (!err.empty()) return Bad(err);
  ResourceSpec s;
  auto name = GetString(o, "name", true);
  if (!name.ok()) return name.error();
  s.name = *name;
  auto id = GetInt(o, "node_id", 0, kMaxNodes - 1);
  if (!id.ok()) return id.error();
  s.node_id = static_cast<uint8_t>(*id);
  auto secret = GetString(o, "shared_secret", false);
  if (!secret.ok()) return secret.error();
  s.shared_secret = *secret;
  const json::value* nodes = o.if_contains("nodes");
  if (!nodes || !nodes->is_array()) return Bad("field 'nodes' must be an array");
  for (const json::value& nv : nodes->as_array()) {
    if (!nv.is_object()) return Bad("each node must be an object");
    const json::object& no = nv.as_object();
    err = CheckKeys(no, {"id", "name", "address", "diskless"}, "node");
    if (!err.empty()) return Bad(err);
    NodeSpec n;
    auto nid = GetInt(no, "id", 0, kMaxNodes - 1);
    if (!nid.ok()) return nid.error();
    n.id = static_cast<uint8_t>(*nid);
    auto nn = GetString(no, "name", true);
    if (!nn.ok()) return nn.error();
    n.name = *nn;
    auto addr = GetString(no, "address", true);
    if (!addr.ok()) return addr.error();
    n.address = *addr;
    if (const json::value* d = no.if_contains("diskless")) {
      if (!d->is_bool()) return Bad("field 'diskless' must be true or false");
      n.diskless = d->as_bool();
    }
    s.nodes.push_back(std::move(n));
  }
  const json::value* vols = o.if_contains("volumes");
  if (!vols || !vols->is_array()) return Bad("field 'volumes' must be an array");
  for (const json::value& vv : vols->as_array()) {
    if (!vv.is_object()) return Bad("each volume must be an object");
    const json::object& vo = vv.as_object();
    err = CheckKeys(vo, {"vnr", "disk", "meta_disk"}, "volume");
    if (!err.empty()) return Bad(err);
    VolumeSpec vs;
    auto vnr = GetInt(vo, "vnr", 0, 65534);
    if (!vnr.ok()) return vnr.error();
    vs.vnr = static_cast<uint16_t>(*vnr);
    auto disk = GetString(vo, "disk", false);
    if (!disk.ok()) return disk.error();
    vs.disk = disk->empty() ? "none" : *disk;
    auto md = GetString(vo, "meta_disk", false);
    if (!md.ok()) return md.error();
    if (!md->empty()) vs.meta_disk = *md;
    s.volumes.push_back(std::move(vs));
  }
  const json::value* opts = o.if_contains("options");
  auto options = OptionsFromJson(opts ? *opts : json::value(nullptr));
  if (!options.ok()) return options.error();
  s.options = *options;
  err = s.Validate();
  if (!err.empty()) return Bad(err);
  return s;
}

}  // namespace tandem::tandemd
