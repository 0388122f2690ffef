#include "controller/codec.h"

#include <cstdlib>

#include "controller/names.h"
#include "controller/store.h"

namespace tandem::controller {
namespace {

Error TypeError(std::string_view key, const char* want) {
  return MakeError(Errc::kInvalidArgument, "Field '" + std::string(key) + "' must be " + want);
}

const json::value* Field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return nullptr;
  return v;
}

void PutString(json::object& o, std::string_view key, const std::string& s) {
  if (!s.empty()) o[key] = s;
}
void PutList(json::object& o, std::string_view key, const std::vector<std::string>& v) {
  if (!v.empty()) o[key] = StringsToJson(v);
}
void PutProps(json::object& o, std::string_view key, const Props& p) {
  if (!p.empty()) o[key] = PropsToJson(p);
}

Status ReadFlagsAndProps(const json::object& o, Props* props, std::vector<std::string>* flags) {
  TANDEM_TRY(ReadProps(o, "props", props));
  if (flags) TANDEM_TRY(ReadStringList(o, "flags", flags));
  return {};
}

}  // namespace

Status ReadString(const json::object& o, std::string_view key, std::string* out) {
  const json::value* v = Field(o, key);
  if (!v) return {};
  if (!v->is_string()) return TypeError(key, "a string");
  *out = std::string(v->as_string());
  return {};
}

Status ReadOptString(const json::object& o, std::string_view key, std::optional<std::string>* out) {
  const json::value* v = Field(o, key);
  if (!v) return {};
  if (!v->is_string()) return TypeError(key, "a string");
  *out = std::string(v->as_string());
  return {};
}

Status ReadInt64(const json::object& o, std::string_view key, int64_t* out) {
  const json::value* v = Field(o, key);
  if (!v) return {};
  if (v->is_int64()) {
    *out = v->as_int64();
  } else if (v->is_uint64()) {
    if (v->as_uint64() > static_cast<uint64_t>(INT64_MAX))
      return TypeError(key, "a 64-bit integer");
    *out = static_cast<int64_t>(v->as_uint64());
  } else if (v->is_double()) {
    double d = v->as_double();
    if (d != static_cast<double>(static_cast<int64_t>(d))) return TypeError(key, "an integer");
    *out = static_cast<int64_t>(d);
  } else if (v->is_string()) {
    std::string s(v->as_string());
    char* end = nullptr;
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0') return TypeError(key, "an integer");
    *out = n;
  } else {
    return TypeError(key, "an integer");
  }
  return {};
}

Status ReadInt(const json::object& o, std::string_view key, int* out) {
  int64_t v = *out;
  TANDEM_TRY(ReadInt64(o, key, &v));
  if (v < INT32_MIN || v > INT32_MAX) return TypeError(key, "a 32-bit integer");
  *out = static_cast<int>(v);
  return {};
}

Status ReadOptInt(const json::object& o, std::string_view key, std::optional<int>* out) {
  if (!Field(o, key)) return {};
  int v = 0;
  TANDEM_TRY(ReadInt(o, key, &v));
  *out = v;
  return {};
}

Status ReadBool(const json::object& o, std::string_view key, bool* out) {
  const json::value* v = Field(o, key);
  if (!v) return {};
  if (v->is_bool()) {
    *out = v->as_bool();
  } else if (v->is_string()) {
    auto b = ParseBool(std::string(v->as_string()));
    if (!b.ok()) return TypeError(key, "a boolean");
    *out = *b;
  } else {
    return TypeError(key, "a boolean");
  }
  return {};
}

Status ReadOptBool(const json::object& o, std::string_view key, std::optional<bool>* out) {
  if (!Field(o, key)) return {};
  bool b = false;
  TANDEM_TRY(ReadBool(o, key, &b));
  *out = b;
  return {};
}

Status ReadStringList(const json::object& o, std::string_view key, std::vector<std::string>* out) {
  const json::value* v = Field(o, key);
  if (!v) return {};
  if (!v->is_array()) return TypeError(key, "a list of strings");
  out->clear();
  for (const auto& item : v->as_array()) {
    if (item.is_null()) continue;
    if (!item.is_string()) return TypeError(key, "a list of strings");
    out->emplace_back(item.as_string());
  }
  return {};
}

Status ReadProps(const json::object& o, std::string_view key, Props* out) {
  const json::value* v = Field(o, key);
  if (!v) return {};
  if (!v->is_object()) return TypeError(key, "an object of string values");
  for (const auto& [k, val] : v->as_object()) {
    if (val.is_string()) {
      (*out)[std::string(k)] = std::string(val.as_string());
    } else if (val.is_int64() || val.is_uint64() || val.is_double() || val.is_bool()) {
      (*out)[std::string(k)] = json::serialize(val);  // lenient: numbers as text
    } else if (!val.is_null()) {
      return TypeError(key, "an object of string values");
    }
  }
  return {};
}

Status ReadPropsChange(const json::object& o, PropsChange* out) {
  TANDEM_TRY(ReadProps(o, "override_props", &out->override_props));
  TANDEM_TRY(ReadStringList(o, "delete_props", &out->delete_props));
  TANDEM_TRY(ReadStringList(o, "delete_namespaces", &out->delete_namespaces));
  return {};
}

Result<const json::object*> ReadObject(const json::object& o, std::string_view key) {
  const json::value* v = Field(o, key);
  if (!v) return static_cast<const json::object*>(nullptr);
  if (!v->is_object()) return TypeError(key, "an object");
  return &v->as_object();
}

json::object PropsToJson(const Props& props) {
  json::object o;
  for (const auto& [k, v] : props) o[k] = v;
  return o;
}

json::array StringsToJson(const std::vector<std::string>& items) {
  json::array a;
  for (const auto& s : items) a.emplace_back(s);
  return a;
}

json::object NetInterfaceToJson(const NetInterface& nif) {
  json::object o;
  o["name"] = nif.name;
  o["address"] = nif.address;
  o["satellite_port"] = nif.satellite_port;
  o["satellite_encryption_type"] = nif.encryption_type;
  o["is_active"] = nif.is_active;
  PutString(o, "uuid", nif.uuid);
  return o;
}

Status NetInterfaceFromJson(const json::object& o, NetInterface* out) {
  TANDEM_TRY(ReadString(o, "name", &out->name));
  TANDEM_TRY(ReadString(o, "address", &out->address));
  TANDEM_TRY(ReadInt(o, "satellite_port", &out->satellite_port));
  std::string enc = out->encryption_type;
  TANDEM_TRY(ReadString(o, "satellite_encryption_type", &enc));
  for (char& c : enc) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (enc != "PLAIN" && enc != "SSL") {
    return MakeError(Errc::kInvalidArgument, "satellite_encryption_type must be PLAIN or SSL");
  }
  out->encryption_type = enc;
  TANDEM_TRY(ReadBool(o, "is_active", &out->is_active));
  TANDEM_TRY(ReadString(o, "uuid", &out->uuid));
  return {};
}

json::object NodeToJson(const Node& node) {
  json::object o;
  o["name"] = node.name;
  o["type"] = NodeTypeName(node.type);
  PutList(o, "flags", node.flags);
  PutProps(o, "props", node.props);
  json::array nifs;
  for (const auto& n : node.net_interfaces) nifs.push_back(NetInterfaceToJson(n));
  if (!nifs.empty()) o["net_interfaces"] = std::move(nifs);
  PutString(o, "uuid", node.uuid);
  return o;
}

Status NodeFromJson(const json::object& o, Node* out) {
  TANDEM_TRY(ReadString(o, "name", &out->name));
  std::string type;
  TANDEM_TRY(ReadString(o, "type", &type));
  if (!type.empty()) {
    auto t = ParseNodeType(type);
    if (!t.ok()) return t.error();
    out->type = *t;
  }
  TANDEM_TRY(ReadFlagsAndProps(o, &out->props, &out->flags));
  if (const json::value* v = Field(o, "net_interfaces")) {
    if (!v->is_array()) return TypeError("net_interfaces", "a list");
    for (const auto& item : v->as_array()) {
      if (!item.is_object()) return TypeError("net_interfaces", "a list of objects");
      NetInterface nif;
      TANDEM_TRY(NetInterfaceFromJson(item.as_object(), &nif));
      out->net_interfaces.push_back(std::move(nif));
    }
  }
  TANDEM_TRY(ReadString(o, "uuid", &out->uuid));
  return {};
}

json::object PoolDefToJson(const StoragePoolDefinition& def) {
  json::object o;
  o["storage_pool_name"] = def.name;
  PutProps(o, "props", def.props);
  PutString(o, "uuid", def.uuid);
  return o;
}

Status PoolDefFromJson(const json::object& o, StoragePoolDefinition* out) {
  TANDEM_TRY(ReadString(o, "storage_pool_name", &out->name));
  TANDEM_TRY(ReadProps(o, "props", &out->props));
  TANDEM_TRY(ReadString(o, "uuid", &out->uuid));
  return {};
}

json::object PoolToJson(const StoragePool& pool) {
  json::object o;
  o["storage_pool_name"] = pool.name;
  o["node_name"] = pool.node_name;
  o["provider_kind"] = ProviderKindName(pool.provider);
  PutProps(o, "props", pool.props);
  o["free_space_mgr_name"] = pool.free_space_mgr_name;
  if (pool.external_locking) o["external_locking"] = true;
  if (pool.total_capacity_kib) o["total_capacity"] = *pool.total_capacity_kib;
  if (pool.free_capacity_kib) o["free_capacity"] = *pool.free_capacity_kib;
  PutString(o, "uuid", pool.uuid);
  return o;
}

Status PoolFromJson(const json::object& o, StoragePool* out) {
  TANDEM_TRY(ReadString(o, "storage_pool_name", &out->name));
  TANDEM_TRY(ReadString(o, "node_name", &out->node_name));
  std::string kind;
  TANDEM_TRY(ReadString(o, "provider_kind", &kind));
  if (kind.empty()) return MakeError(Errc::kInvalidArgument, "Field 'provider_kind' is required");
  auto k = ParseProviderKind(kind);
  if (!k.ok()) return k.error();
  out->provider = *k;
  TANDEM_TRY(ReadProps(o, "props", &out->props));
  TANDEM_TRY(ReadString(o, "free_space_mgr_name", &out->free_space_mgr_name));
  TANDEM_TRY(ReadBool(o, "external_locking", &out->external_locking));
  if (Field(o, "total_capacity")) {
    int64_t v = 0;
    TANDEM_TRY(ReadInt64(o, "total_capacity", &v));
    out->total_capacity_kib = v;
  }
  if (Field(o, "free_capacity")) {
    int64_t v = 0;
    TANDEM_TRY(ReadInt64(o, "free_capacity", &v));
    out->free_capacity_kib = v;
  }
  TANDEM_TRY(ReadString(o, "uuid", &out->uuid));
  return {};
}

json::object SelectFilterToJson(const SelectFilter& f) {
  json::object o;
  if (f.place_count) o["place_count"] = *f.place_count;
  if (f.additional_place_count) o["additional_place_count"] = *f.additional_place_count;
  PutList(o, "node_name_list", f.node_name_list);
  if (!f.storage_pool_list.empty()) {
    o["storage_pool"] = f.storage_pool_list.front();
    o["storage_pool_list"] = StringsToJson(f.storage_pool_list);
  }
  PutList(o, "storage_pool_diskless_list", f.storage_pool_diskless_list);
  PutList(o, "not_place_with_rsc", f.not_place_with_rsc);
  if (f.not_place_with_rsc_regex) o["not_place_with_rsc_regex"] = *f.not_place_with_rsc_regex;
  PutList(o, "replicas_on_same", f.replicas_on_same);
  PutList(o, "replicas_on_different", f.replicas_on_different);
  if (!f.x_replicas_on_different.empty()) {
    json::object m;
    for (const auto& [k, v] : f.x_replicas_on_different) m[k] = v;
    o["x_replicas_on_different_map"] = std::move(m);
  }
  PutList(o, "layer_stack", f.layer_stack);
  PutList(o, "provider_list", f.provider_list);
  if (f.diskless_on_remaining) o["diskless_on_remaining"] = *f.diskless_on_remaining;
  if (f.diskless_type) o["diskless_type"] = *f.diskless_type;
  return o;
}

Status SelectFilterFromJson(const json::object& o, SelectFilter* out) {
  TANDEM_TRY(ReadOptInt(o, "place_count", &out->place_count));
  TANDEM_TRY(ReadOptInt(o, "additional_place_count", &out->additional_place_count));
  TANDEM_TRY(ReadStringList(o, "node_name_list", &out->node_name_list));
  TANDEM_TRY(ReadStringList(o, "storage_pool_list", &out->storage_pool_list));
  std::string single;
  TANDEM_TRY(ReadString(o, "storage_pool", &single));
  if (!single.empty() && out->storage_pool_list.empty()) out->storage_pool_list.push_back(single);
  TANDEM_TRY(ReadStringList(o, "storage_pool_diskless_list", &out->storage_pool_diskless_list));
  TANDEM_TRY(ReadStringList(o, "not_place_with_rsc", &out->not_place_with_rsc));
  TANDEM_TRY(ReadOptString(o, "not_place_with_rsc_regex", &out->not_place_with_rsc_regex));
  TANDEM_TRY(ReadStringList(o, "replicas_on_same", &out->replicas_on_same));
  TANDEM_TRY(ReadStringList(o, "replicas_on_different", &out->replicas_on_different));
  if (const json::value* v = Field(o, "x_replicas_on_different_map")) {
    if (!v->is_object()) return TypeError("x_replicas_on_different_map", "an object of integers");
    for (const auto& [k, n] : v->as_object()) {
      json::object one;
      one["n"] = n;
      int count = 0;
      if (!ReadInt(one, "n", &count).ok()) {
        return TypeError("x_replicas_on_different_map", "an object of integers");
      }
      out->x_replicas_on_different[std::string(k)] = count;
    }
  }
  TANDEM_TRY(ReadStringList(o, "layer_stack", &out->layer_stack));
  TANDEM_TRY(ReadStringList(o, "provider_list", &out->provider_list));
  TANDEM_TRY(ReadOptBool(o, "diskless_on_remaining", &out->diskless_on_remaining));
  TANDEM_TRY(ReadOptString(o, "diskless_type", &out->diskless_type));
  return {};
}

json::object RgToJson(const ResourceGroup& rg) {
  json::object o;
  o["name"] = rg.name;
  o["description"] = rg.description;
  PutProps(o, "props", rg.props);
  o["select_filter"] = SelectFilterToJson(rg.select_filter);
  if (rg.peer_slots) o["peer_slots"] = *rg.peer_slots;
  PutString(o, "uuid", rg.uuid);
  return o;
}

Status RgFromJson(const json::object& o, ResourceGroup* out) {
  TANDEM_TRY(ReadString(o, "name", &out->name));
  TANDEM_TRY(ReadString(o, "description", &out->description));
  TANDEM_TRY(ReadProps(o, "props", &out->props));
  auto filter = ReadObject(o, "select_filter");
  if (!filter.ok()) return filter.error();
  if (*filter) TANDEM_TRY(SelectFilterFromJson(**filter, &out->select_filter));
  TANDEM_TRY(ReadOptInt(o, "peer_slots", &out->peer_slots));
  TANDEM_TRY(ReadString(o, "uuid", &out->uuid));
  return {};
}

json::object VgToJson(const VolumeGroup& vg) {
  json::object o;
  o["volume_number"] = vg.volume_number;
  PutProps(o, "props", vg.props);
  PutList(o, "flags", vg.flags);
  PutString(o, "uuid", vg.uuid);
  return o;
}

Status VgFromJson(const json::object& o, VolumeGroup* out) {
  TANDEM_TRY(ReadInt(o, "volume_number", &out->volume_number));
  TANDEM_TRY(ReadFlagsAndProps(o, &out->props, &out->flags));
  TANDEM_TRY(ReadString(o, "uuid", &out->uuid));
  return {};
}

json::object RdToJson(const ResourceDefinition& rd) {
  json::object o;
  o["name"] = rd.name;
  PutString(o, "external_name", rd.external_name);
  PutProps(o, "props", rd.props);
  PutList(o, "flags", rd.flags);
  json::array layers;
  std::vector<std::string> stack = rd.layer_stack;
  if (stack.empty()) stack = {"DRBD", "STORAGE"};
  for (const auto& l : stack) {
    json::object layer;
    layer["type"] = l;
    if (l == "DRBD") {
      json::object d;
      d["resource_name_suffix"] = "";
      d["peer_slots"] = rd.peer_slots;
      d["al_stripes"] = 1;
      d["al_stripe_size_kib"] = 32;
      d["port"] = rd.port;
      d["transport_type"] = "IP";
      d["secret"] = rd.secret;
      d["down"] = false;
      layer["data"] = std::move(d);
    }
    layers.push_back(std::move(layer));
  }
  o["layer_data"] = std::move(layers);
  PutString(o, "uuid", rd.uuid);
  o["resource_group_name"] = rd.rg_name;
  return o;
}

Status RdFromJson(const json::object& o, ResourceDefinition* out) {
  TANDEM_TRY(ReadString(o, "name", &out->name));
  TANDEM_TRY(ReadString(o, "external_name", &out->external_name));
  TANDEM_TRY(ReadFlagsAndProps(o, &out->props, &out->flags));
  TANDEM_TRY(ReadString(o, "resource_group_name", &out->rg_name));
  TANDEM_TRY(ReadString(o, "uuid", &out->uuid));
  if (const json::value* v = Field(o, "layer_data")) {
    if (!v->is_array()) return TypeError("layer_data", "a list");
    out->layer_stack.clear();
    for (const auto& item : v->as_array()) {
      if (!item.is_object()) return TypeError("layer_data", "a list of objects");
      std::string type;
      TANDEM_TRY(ReadString(item.as_object(), "type", &type));
      auto canon = ParseLayerName(type);
      if (!canon.ok()) return canon.error();
      out->layer_stack.push_back(*canon);
      auto data = ReadObject(item.as_object(), "data");
      if (!data.ok()) return data.error();
      if (*canon == "DRBD" && *data) {
        TANDEM_TRY(ReadInt(**data, "port", &out->port));
        TANDEM_TRY(ReadString(**data, "secret", &out->secret));
        TANDEM_TRY(ReadInt(**data, "peer_slots", &out->peer_slots));
      }
    }
  }
  return {};
}

json::object VdToJson(const VolumeDefinition& vd) {
  json::object o;
  o["volume_number"] = vd.volume_number;
  o["size_kib"] = vd.size_kib;
  PutProps(o, "props", vd.props);
  PutList(o, "flags", vd.flags);
  json::object drbd;
  drbd["resource_name_suffix"] = "";
  drbd["volume_number"] = vd.volume_number;
  drbd["minor_number"] = vd.minor;
  json::object layer;
  layer["type"] = "DRBD";
  layer["data"] = std::move(drbd);
  json::array layers;
  layers.push_back(std::move(layer));
  o["layer_data"] = std::move(layers);
  PutString(o, "uuid", vd.uuid);
  return o;
}

Status VdFromJson(const json::object& o, VolumeDefinition* out) {
  TANDEM_TRY(ReadInt(o, "volume_number", &out->volume_number));
  TANDEM_TRY(ReadInt64(o, "size_kib", &out->size_kib));
  TANDEM_TRY(ReadFlagsAndProps(o, &out->props, &out->flags));
  TANDEM_TRY(ReadString(o, "uuid", &out->uuid));
  if (const json::value* v = Field(o, "layer_data")) {
    if (!v->is_array()) return TypeError("layer_data", "a list");
    for (const auto& item : v->as_array()) {
      if (!item.is_object()) continue;
      auto data = ReadObject(item.as_object(), "data");
      if (!data.ok()) return data.error();
      if (*data) TANDEM_TRY(ReadInt(**data, "minor_number", &out->minor));
    }
  }
  return {};
}

json::object ResourceToJson(const Resource& rsc) {
  json::object o;
  o["name"] = rsc.rd_name;
  o["node_name"] = rsc.node_name;
  PutProps(o, "props", rsc.props);
  PutList(o, "flags", rsc.flags);
  PutString(o, "uuid", rsc.uuid);
  if (rsc.create_timestamp_ms) o["create_timestamp"] = rsc.create_timestamp_ms;
  return o;
}

Status ResourceFromJson(const json::object& o, Resource* out) {
  TANDEM_TRY(ReadString(o, "name", &out->rd_name));
  TANDEM_TRY(ReadString(o, "node_name", &out->node_name));
  TANDEM_TRY(ReadFlagsAndProps(o, &out->props, &out->flags));
  TANDEM_TRY(ReadString(o, "uuid", &out->uuid));
  TANDEM_TRY(ReadInt64(o, "create_timestamp", &out->create_timestamp_ms));
  return {};
}

// ---- Database rows -------------------------------------------------------
// Rows use the API shapes plus the fields the API does not carry.

std::string EncodeRow(const ControllerProps& row) {
  json::object o;
  o["props"] = PropsToJson(row.props);
  return json::serialize(o);
}
std::string EncodeRow(const Node& row) { return json::serialize(NodeToJson(row)); }
std::string EncodeRow(const StoragePoolDefinition& row) {
  return json::serialize(PoolDefToJson(row));
}
std::string EncodeRow(const StoragePool& row) { return json::serialize(PoolToJson(row)); }
std::string EncodeRow(const ResourceGroup& row) { return json::serialize(RgToJson(row)); }
std::string EncodeRow(const VolumeGroup& row) {
  json::object o = VgToJson(row);
  o["resource_group_name"] = row.rg_name;
  return json::serialize(o);
}
std::string EncodeRow(const ResourceDefinition& row) { return json::serialize(RdToJson(row)); }
std::string EncodeRow(const VolumeDefinition& row) {
  json::object o = VdToJson(row);
  o["resource_name"] = row.rd_name;
  return json::serialize(o);
}
std::string EncodeRow(const Resource& row) {
  json::object o = ResourceToJson(row);
  o["drbd_node_id"] = row.node_id;
  o["storage_pool_name"] = row.storage_pool;
  return json::serialize(o);
}

namespace {

Result<json::object> ParseObject(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return MakeError(Errc::kCorrupt, "invalid JSON: " + ec.message());
  if (!v.is_object()) return MakeError(Errc::kCorrupt, "row is not a JSON object");
  return std::move(v.as_object());
}

Status DecodeRow(const json::object& o, ControllerProps* out) {
  return ReadProps(o, "props", &out->props);
}
Status DecodeRow(const json::object& o, Node* out) { return NodeFromJson(o, out); }
Status DecodeRow(const json::object& o, StoragePoolDefinition* out) {
  return PoolDefFromJson(o, out);
}
Status DecodeRow(const json::object& o, StoragePool* out) { return PoolFromJson(o, out); }
Status DecodeRow(const json::object& o, ResourceGroup* out) { return RgFromJson(o, out); }
Status DecodeRow(const json::object& o, VolumeGroup* out) {
  TANDEM_TRY(VgFromJson(o, out));
  return ReadString(o, "resource_group_name", &out->rg_name);
}
Status DecodeRow(const json::object& o, ResourceDefinition* out) { return RdFromJson(o, out); }
Status DecodeRow(const json::object& o, VolumeDefinition* out) {
  TANDEM_TRY(VdFromJson(o, out));
  return ReadString(o, "resource_name", &out->rd_name);
}
Status DecodeRow(const json::object& o, Resource* out) {
  TANDEM_TRY(ResourceFromJson(o, out));
  TANDEM_TRY(ReadInt(o, "drbd_node_id", &out->node_id));
  return ReadString(o, "storage_pool_name", &out->storage_pool);
}

template <class T>
Status LoadRows(const TableRows& rows, Table<T>* table) {
  for (const auto& [key, data] : rows) {
    auto o = ParseObject(data);
    if (!o.ok())
      return MakeError(Errc::kCorrupt,
                       std::string(table->name()) + " row '" + key + "': " + o.error().message);
    T row;
    Status s = DecodeRow(*o, &row);
    if (!s.ok())
      return MakeError(Errc::kCorrupt,
                       std::string(table->name()) + " row '" + key + "': " + s.error().message);
    table->mutable_rows()[key] = std::move(row);
  }
  return {};
}

Status LoadTable(const std::string& name, const TableRows& rows, Cluster* c) {
  if (name == c->controller.name()) return LoadRows(rows, &c->controller);
  if (name == c->nodes.name()) return LoadRows(rows, &c->nodes);
  if (name == c->pool_defs.name()) return LoadRows(rows, &c->pool_defs);
  if (name == c->pools.name()) return LoadRows(rows, &c->pools);
  if (name == c->rgs.name()) return LoadRows(rows, &c->rgs);
  if (name == c->vgs.name()) return LoadRows(rows, &c->vgs);
  if (name == c->rds.name()) return LoadRows(rows, &c->rds);
  if (name == c->vds.name()) return LoadRows(rows, &c->vds);
  if (name == c->resources.name()) return LoadRows(rows, &c->resources);
  return MakeError(Errc::kCorrupt, "unknown table " + name);
}

}  // namespace

Status LoadCluster(Store& store, Cluster* cluster) {
  for (const auto& table : Store::ObjectTables()) {
    auto rows = store.ReadTable(table);
    if (!rows.ok()) return rows.error();
    TANDEM_TRY(LoadTable(table, *rows, cluster));
  }
  return {};
}

Result<std::string> ExportDb(Store& store) {
  json::object doc;
  doc["format"] = "tandem-controller-db";
  doc["format_version"] = kExportFormatVersion;
  doc["schema_version"] = store.schema_version();
  auto id = store.Meta("cluster_id");
  if (id.ok()) doc["cluster_id"] = *id;
  doc["exported_at_ms"] = NowMs();
  json::object tables;
  for (const auto& table : Store::ObjectTables()) {
    auto rows = store.ReadTable(table);
    if (!rows.ok()) return rows.error();
    json::array arr;
    for (const auto& [key, data] : *rows) {
      auto o = ParseObject(data);
      if (!o.ok()) return o.error();
      json::object row;
      row["key"] = key;
      row["data"] = std::move(*o);
      arr.push_back(std::move(row));
    }
    tables[table] = std::move(arr);
  }
  doc["tables"] = std::move(tables);
  return json::serialize(doc);
}

Status ImportDb(Store& store, std::string_view document) {
  auto doc = ParseObject(document);
  if (!doc.ok()) return doc.error();
  std::string format;
  TANDEM_TRY(ReadString(*doc, "format", &format));
  if (format != "tandem-controller-db") {
    return MakeError(Errc::kInvalidArgument,
                     "not a tandem-controller-db export (format '" + format + "')");
  }
  int version = 0;
  TANDEM_TRY(ReadInt(*doc, "format_version", &version));
  if (version < 1 || version > kExportFormatVersion) {
    return MakeError(Errc::kUnsupported, "export format version " + std::to_string(version) +
                                             " is not supported (this build reads 1-" +
                                             std::to_string(kExportFormatVersion) + ")");
  }
  auto tables = ReadObject(*doc, "tables");
  if (!tables.ok()) return tables.error();
  if (!*tables) return MakeError(Errc::kInvalidArgument, "export has no 'tables'");
  std::vector<std::pair<std::string, TableRows>> content;
  Cluster check;  // every row must decode before anything is replaced
  for (const auto& [name, rows] : **tables) {
    const auto& known = Store::ObjectTables();
    if (std::find(known.begin(), known.end(), std::string(name)) == known.end()) {
      return MakeError(Errc::kInvalidArgument,
                       "unknown table '" + std::string(name) + "' in export");
    }
    if (!rows.is_array())
      return MakeError(Errc::kInvalidArgument, "table '" + std::string(name) + "' is not a list");
    TableRows out;
    for (const auto& row : rows.as_array()) {
      if (!row.is_object())
        return MakeError(Errc::kInvalidArgument,
                         "row of '" + std::string(name) + "' is not an object");
      std::string key;
      TANDEM_TRY(ReadString(row.as_object(), "key", &key));
      auto data = ReadObject(row.as_object(), "data");
      if (!data.ok()) return data.error();
      if (key.empty() || !*data)
        return MakeError(Errc::kInvalidArgument,
                         "row of '" + std::string(name) + "' lacks key or data");
      out.emplace_back(key, json::serialize(**data));
    }
    TANDEM_TRY(LoadTable(std::string(name), out, &check));
    content.emplace_back(std::string(name), std::move(out));
  }
  return store.ReplaceAll(content);
}

}  // namespace tandem::controller
