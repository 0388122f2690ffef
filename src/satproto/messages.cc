#include "satproto/messages.h"

#include <cstring>

namespace tandem::satproto {

namespace json = boost::json;

std::string PoolDesired::Directory() const {
  for (const char* key : {"StorDriver/FileDir", "StorDriver/StorPoolName"}) {
    auto it = props.find(key);
    if (it != props.end() && !it->second.empty()) return it->second;
  }
  return "";
}

const NodeRef* ResourceDesired::FindNode(std::string_view n) const {
  for (const NodeRef& r : nodes)
    if (r.name == n) return &r;
  return nullptr;
}

namespace {

// --- reading helpers: a missing field keeps the default, a wrong type is an error.

Error TypeError(std::string_view field, std::string_view want) {
  return Error{Errc::kInvalidArgument,
               "field '" + std::string(field) + "' must be " + std::string(want)};
}

Status Get(const json::object& o, std::string_view k, std::string* out) {
  const json::value* v = o.if_contains(k);
  if (!v || v->is_null()) return {};
  if (!v->is_string()) return TypeError(k, "a string");
  *out = std::string(v->as_string());
  return {};
}

Status Get(const json::object& o, std::string_view k, bool* out) {
  const json::value* v = o.if_contains(k);
  if (!v || v->is_null()) return {};
  if (!v->is_bool()) return TypeError(k, "true or false");
  *out = v->as_bool();
  return {};
}

Status Get(const json::object& o, std::string_view k, int64_t* out) {
  const json::value* v = o.if_contains(k);
  if (!v || v->is_null()) return {};
  if (v->is_int64()) {
    *out = v->as_int64();
  } else if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    *out = static_cast<int64_t>(v->as_uint64());
  } else {
    return TypeError(k, "an integer");
  }
  return {};
}

Status Get(const json::object& o, std::string_view k, uint64_t* out) {
  int64_t x = 0;
  TANDEM_TRY(Get(o, k, &x));
  if (x < 0) return TypeError(k, "a non-negative integer");
  if (o.contains(k)) *out = static_cast<uint64_t>(x);
  return {};
}

Status Get(const json::object& o, std::string_view k, int* out) {
  int64_t x = *out;
  TANDEM_TRY(Get(o, k, &x));
  if (x < INT32_MIN || x > INT32_MAX) return TypeError(k, "a 32-bit integer");
  *out = static_cast<int>(x);
  return {};
}

Status Get(const json::object& o, std::string_view k, std::optional<int64_t>* out) {
  const json::value* v = o.if_contains(k);
  if (!v || v->is_null()) return {};
  int64_t x = 0;
  TANDEM_TRY(Get(o, k, &x));
  *out = x;
  return {};
}

Status Get(const json::object& o, std::string_view k, double* out) {
  const json::value* v = o.if_contains(k);
  if (!v || v->is_null()) return {};
  if (v->is_double()) {
    *out = v->as_double();
  } else if (v->is_int64()) {
    *out = static_cast<double>(v->as_int64());
  } else if (v->is_uint64()) {
    *out = static_cast<double>(v->as_uint64());
  } else {
    return TypeError(k, "a number");
  }
  return {};
}

Status Get(const json::object& o, std::string_view k, std::map<std::string, std::string>* out) {
  const json::value* v = o.if_contains(k);
  if (!v || v->is_null()) return {};
  if (!v->is_object()) return TypeError(k, "an object of strings");
  for (const auto& [key, val] : v->as_object()) {
    if (!val.is_string()) return TypeError(std::string(k) + "/" + std::string(key), "a string");
    (*out)[std::string(key)] = std::string(val.as_string());
  }
  return {};
}

Status Get(const json::object& o, std::string_view k, std::vector<std::string>* out) {
  const json::value* v = o.if_contains(k);
  if (!v || v->is_null()) return {};
  if (!v->is_array()) return TypeError(k, "a list of strings");
  for (const json::value& e : v->as_array()) {
    if (!e.is_string()) return TypeError(k, "a list of strings");
    out->emplace_back(e.as_string());
  }
  return {};
}

// A list of objects, each decoded by `f`.
template <class T, class F>
Status GetList(const json::object& o, std::string_view k, std::vector<T>* out, F&& f) {
  const json::value* v = o.if_contains(k);
  if (!v || v->is_null()) return {};
  if (!v->is_array()) return TypeError(k, "a list");
  for (const json::value& e : v->as_array()) {
    if (!e.is_object()) return TypeError(k, "a list of objects");
    T item;
    Status s = f(e.as_object(), &item);
    if (!s.ok()) return Error{s.code(), std::string(k) + ": " + s.error().message};
    out->push_back(std::move(item));
  }
  return {};
}

json::object MapToJson(const std::map<std::string, std::string>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

template <class T, class F>
json::array ListToJson(const std::vector<T>& items, F&& f) {
  json::array a;
  for (const T& t : items) a.push_back(f(t));
  return a;
}

json::array StringsToJson(const std::vector<std::string>& v) {
  json::array a;
  for (const std::string& s : v) a.push_back(json::string(s));
  return a;
}

// --- desired state

json::object PoolToJson(const PoolDesired& p) {
  return {{"name", p.name}, {"provider", p.provider}, {"props", MapToJson(p.props)}};
}

Status PoolFromJson(const json::object& o, PoolDesired* p) {
  TANDEM_TRY(Get(o, "name", &p->name));
  TANDEM_TRY(Get(o, "provider", &p->provider));
  TANDEM_TRY(Get(o, "props", &p->props));
  if (p->name.empty()) return Error{Errc::kInvalidArgument, "a pool needs a name"};
  return {};
}

Status NodeRefFromJson(const json::object& o, NodeRef* n) {
  TANDEM_TRY(Get(o, "name", &n->name));
  TANDEM_TRY(Get(o, "node_id", &n->node_id));
  TANDEM_TRY(Get(o, "address", &n->address));
  TANDEM_TRY(Get(o, "diskless", &n->diskless));
  TANDEM_TRY(Get(o, "tiebreaker", &n->tiebreaker));
  return {};
}

Status VolumeFromJson(const json::object& o, VolumeDesired* v) {
  TANDEM_TRY(Get(o, "vnr", &v->vnr));
  TANDEM_TRY(Get(o, "size_kib", &v->size_kib));
  TANDEM_TRY(Get(o, "minor", &v->minor));
  TANDEM_TRY(Get(o, "pool", &v->pool));
  return {};
}

Status ResourceFromObject(const json::object& o, ResourceDesired* r) {
  TANDEM_TRY(Get(o, "name", &r->name));
  if (r->name.empty()) return Error{Errc::kInvalidArgument, "a resource needs a name"};
  TANDEM_TRY(Get(o, "port", &r->port));
  TANDEM_TRY(Get(o, "secret", &r->secret));
  TANDEM_TRY(Get(o, "peer_slots", &r->peer_slots));
  TANDEM_TRY(Get(o, "node_id", &r->node_id));
  TANDEM_TRY(GetList(o, "nodes", &r->nodes, NodeRefFromJson));
  TANDEM_TRY(GetList(o, "volumes", &r->volumes, VolumeFromJson));
  if (const json::value* opts = o.if_contains("options"); opts && !opts->is_null()) {
    if (!opts->is_object()) return TypeError("options", "an object of sections");
    for (const auto& [section, body] : opts->as_object()) {
      if (!body.is_object()) return TypeError("options/" + std::string(section), "an object");
      TANDEM_TRY(Get(opts->as_object(), section, &r->options[std::string(section)]));
    }
  }
  TANDEM_TRY(Get(o, "diskless", &r->diskless));
  TANDEM_TRY(Get(o, "tiebreaker", &r->tiebreaker));
  TANDEM_TRY(Get(o, "block_device", &r->block_device));
  return {};
}

// --- observed state

json::object PoolStateToJson(const PoolState& p) {
  json::object o{{"name", p.name},
                 {"provider", p.provider},
                 {"supports_reflink", p.supports_reflink},
                 {"error", p.error}};
  if (p.total_kib) o["total_kib"] = *p.total_kib;
  if (p.free_kib) o["free_kib"] = *p.free_kib;
  return o;
}

Status PoolStateFromJson(const json::object& o, PoolState* p) {
  TANDEM_TRY(Get(o, "name", &p->name));
  TANDEM_TRY(Get(o, "provider", &p->provider));
  TANDEM_TRY(Get(o, "total_kib", &p->total_kib));
  TANDEM_TRY(Get(o, "free_kib", &p->free_kib));
  TANDEM_TRY(Get(o, "supports_reflink", &p->supports_reflink));
  TANDEM_TRY(Get(o, "error", &p->error));
  return {};
}

Status PeerVolumeFromJson(const json::object& o, PeerVolumeState* v) {
  TANDEM_TRY(Get(o, "vnr", &v->vnr));
  TANDEM_TRY(Get(o, "replication", &v->replication));
  TANDEM_TRY(Get(o, "peer_disk", &v->peer_disk));
  TANDEM_TRY(Get(o, "done", &v->done));
  return {};
}

Status ConnectionFromJson(const json::object& o, ConnectionState* c) {
  TANDEM_TRY(Get(o, "node", &c->node));
  TANDEM_TRY(Get(o, "connection", &c->connection));
  TANDEM_TRY(Get(o, "peer_role", &c->peer_role));
  TANDEM_TRY(Get(o, "split_brain", &c->split_brain));
  TANDEM_TRY(GetList(o, "volumes", &c->volumes, PeerVolumeFromJson));
  return {};
}

Status VolumeStateFromJson(const json::object& o, VolumeState* v) {
  TANDEM_TRY(Get(o, "vnr", &v->vnr));
  TANDEM_TRY(Get(o, "disk_state", &v->disk_state));
  TANDEM_TRY(Get(o, "usable_kib", &v->usable_kib));
  TANDEM_TRY(Get(o, "allocated_kib", &v->allocated_kib));
  TANDEM_TRY(Get(o, "nbd_uri", &v->nbd_uri));
  TANDEM_TRY(Get(o, "device_path", &v->device_path));
  return {};
}

Status ResourceStateFromObject(const json::object& o, ResourceState* r) {
  TANDEM_TRY(Get(o, "name", &r->name));
  if (r->name.empty()) return Error{Errc::kInvalidArgument, "a resource state needs a name"};
  TANDEM_TRY(Get(o, "role", &r->role));
  TANDEM_TRY(Get(o, "in_use", &r->in_use));
  TANDEM_TRY(GetList(o, "volumes", &r->volumes, VolumeStateFromJson));
  TANDEM_TRY(GetList(o, "connections", &r->connections, ConnectionFromJson));
  TANDEM_TRY(Get(o, "error", &r->error));
  return {};
}

Status ApplyErrorFromJson(const json::object& o, ApplyError* e) {
  TANDEM_TRY(Get(o, "resource", &e->resource));
  TANDEM_TRY(Get(o, "message", &e->message));
  return {};
}

}  // namespace

json::object ResourceToJson(const ResourceDesired& r) {
  json::object opts;
  for (const auto& [section, body] : r.options) opts[section] = MapToJson(body);
  return {{"name", r.name},
          {"port", r.port},
          {"secret", r.secret},
          {"peer_slots", r.peer_slots},
          {"node_id", r.node_id},
          {"nodes", ListToJson(r.nodes,
                               [](const NodeRef& n) {
                                 return json::object{{"name", n.name},
                                                     {"node_id", n.node_id},
                                                     {"address", n.address},
                                                     {"diskless", n.diskless},
                                                     {"tiebreaker", n.tiebreaker}};
                               })},
          {"volumes", ListToJson(r.volumes,
                                 [](const VolumeDesired& v) {
                                   return json::object{{"vnr", v.vnr},
                                                       {"size_kib", v.size_kib},
                                                       {"minor", v.minor},
                                                       {"pool", v.pool}};
                                 })},
          {"options", std::move(opts)},
          {"diskless", r.diskless},
          {"tiebreaker", r.tiebreaker},
          {"block_device", r.block_device}};
}

Result<ResourceDesired> ResourceFromJson(const json::value& v) {
  if (!v.is_object()) return TypeError("resource", "an object");
  ResourceDesired r;
  TANDEM_TRY(ResourceFromObject(v.as_object(), &r));
  return r;
}

json::object ResourceStateToJson(const ResourceState& r) {
  return {
      {"name", r.name},
      {"role", r.role},
      {"in_use", r.in_use},
      {"volumes", ListToJson(r.volumes,
                             [](const VolumeState& v) {
                               return json::object{{"vnr", v.vnr},
                                                   {"disk_state", v.disk_state},
                                                   {"usable_kib", v.usable_kib},
                                                   {"allocated_kib", v.allocated_kib},
                                                   {"nbd_uri", v.nbd_uri},
                                                   {"device_path", v.device_path}};
                             })},
      {"connections",
       ListToJson(r.connections,
                  [](const ConnectionState& c) {
                    return json::object{
                        {"node", c.node},
                        {"connection", c.connection},
                        {"peer_role", c.peer_role},
                        {"split_brain", c.split_brain},
                        {"volumes", ListToJson(c.volumes, [](const PeerVolumeState& p) {
                           return json::object{{"vnr", p.vnr},
                                               {"replication", p.replication},
                                               {"peer_disk", p.peer_disk},
                                               {"done", p.done}};
                         })}};
                  })},
      {"error", r.error}};
}

Result<ResourceState> ResourceStateFromJson(const json::value& v) {
  if (!v.is_object()) return TypeError("resource state", "an object");
  ResourceState r;
  TANDEM_TRY(ResourceStateFromObject(v.as_object(), &r));
  return r;
}

json::object ToJson(const FullSync& m) {
  return {{"type", "full_sync"},
          {"generation", m.generation},
          {"cluster_id", m.cluster_id},
          {"pools", ListToJson(m.pools, PoolToJson)},
          {"resources", ListToJson(m.resources, ResourceToJson)}};
}

Result<FullSync> FullSyncFromJson(const json::object& o) {
  FullSync m;
  TANDEM_TRY(Get(o, "generation", &m.generation));
  TANDEM_TRY(Get(o, "cluster_id", &m.cluster_id));
  TANDEM_TRY(GetList(o, "pools", &m.pools, PoolFromJson));
  TANDEM_TRY(GetList(o, "resources", &m.resources, ResourceFromObject));
  return m;
}

json::object ToJson(const Update& m) {
  json::object o{{"type", "update"},
                 {"generation", m.generation},
                 {"upsert", ListToJson(m.upsert, ResourceToJson)},
                 {"delete", StringsToJson(m.remove)}};
  if (m.has_pools) o["pools"] = ListToJson(m.pools, PoolToJson);
  return o;
}

Result<Update> UpdateFromJson(const json::object& o) {
  Update m;
  TANDEM_TRY(Get(o, "generation", &m.generation));
  if (const json::value* p = o.if_contains("pools"); p && !p->is_null()) {
    m.has_pools = true;
    TANDEM_TRY(GetList(o, "pools", &m.pools, PoolFromJson));
  }
  TANDEM_TRY(GetList(o, "upsert", &m.upsert, ResourceFromObject));
  TANDEM_TRY(Get(o, "delete", &m.remove));
  return m;
}

json::object ToJson(const Hello& m) {
  json::object o{{"type", "hello"}, {"protocol", m.protocol}, {"node", m.node}};
  if (!m.cluster_id.empty()) o["cluster_id"] = m.cluster_id;
  if (!m.version.empty()) o["version"] = m.version;
  return o;
}

Result<Hello> HelloFromJson(const json::object& o) {
  Hello m;
  m.protocol = 0;
  TANDEM_TRY(Get(o, "protocol", &m.protocol));
  TANDEM_TRY(Get(o, "node", &m.node));
  TANDEM_TRY(Get(o, "cluster_id", &m.cluster_id));
  TANDEM_TRY(Get(o, "version", &m.version));
  return m;
}

json::object ToJson(const Applied& m) {
  return {{"type", "applied"},
          {"generation", m.generation},
          {"errors", ListToJson(m.errors, [](const ApplyError& e) {
             return json::object{{"resource", e.resource}, {"message", e.message}};
           })}};
}

Result<Applied> AppliedFromJson(const json::object& o) {
  Applied m;
  TANDEM_TRY(Get(o, "generation", &m.generation));
  TANDEM_TRY(GetList(o, "errors", &m.errors, ApplyErrorFromJson));
  return m;
}

json::object ToJson(const Report& m) {
  return {{"type", "report"},
          {"full", m.full},
          {"pools", ListToJson(m.pools, PoolStateToJson)},
          {"resources", ListToJson(m.resources, ResourceStateToJson)},
          {"deleted", StringsToJson(m.deleted)}};
}

Result<Report> ReportFromJson(const json::object& o) {
  Report m;
  TANDEM_TRY(Get(o, "full", &m.full));
  TANDEM_TRY(GetList(o, "pools", &m.pools, PoolStateFromJson));
  TANDEM_TRY(GetList(o, "resources", &m.resources, ResourceStateFromObject));
  TANDEM_TRY(Get(o, "deleted", &m.deleted));
  return m;
}

json::object Ping(uint64_t seq) { return {{"type", "ping"}, {"seq", seq}}; }
json::object Pong(uint64_t seq) { return {{"type", "pong"}, {"seq", seq}}; }
json::object ErrorMessage(std::string_view code, std::string_view message) {
  return {{"type", "error"}, {"code", code}, {"message", message}};
}

std::string TypeOf(const json::object& o) {
  const json::value* t = o.if_contains("type");
  return t && t->is_string() ? std::string(t->as_string()) : "";
}

std::string EncodeFrame(const json::object& o) {
  std::string body = json::serialize(o);
  uint32_t n = static_cast<uint32_t>(body.size());
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += body;
  return out;
}

Result<json::object> FrameDecoder::Next() {
  if (buf_.size() - pos_ < 4) return Error{Errc::kNotFound, "need more bytes"};
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<uint32_t>(static_cast<uint8_t>(buf_[pos_ + i])) << (8 * i);
  if (n > kMaxFrameBytes) {
    return Error{Errc::kInvalidArgument,
                 "frame of " + std::to_string(n) + " bytes exceeds the 64 MiB limit"};
  }
  if (buf_.size() - pos_ - 4 < n) return Error{Errc::kNotFound, "need more bytes"};
  std::string_view body(buf_.data() + pos_ + 4, n);
  pos_ += 4 + n;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (1u << 20)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return Error{Errc::kInvalidArgument, "frame is not JSON: " + ec.message()};
  if (!v.is_object()) return Error{Errc::kInvalidArgument, "frame is not a JSON object"};
  if (TypeOf(v.as_object()).empty())
    return Error{Errc::kInvalidArgument, "message without a string 'type'"};
  return std::move(v.as_object());
}

}  // namespace tandem::satproto
