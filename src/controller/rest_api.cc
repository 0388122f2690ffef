#include "controller/rest_api.h"

#include <cstdio>
#include <ctime>
#include <functional>
#include <set>

#include "controller/codec.h"
#include "controller/names.h"
#include "controller/resource_view.h"

namespace tandem::controller {
namespace {

using Query = std::map<std::string, std::vector<std::string>>;

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

void SplitTarget(const std::string& target, std::vector<std::string>* segments, Query* query) {
  auto qpos = target.find('?');
  std::string_view path = std::string_view(target).substr(0, qpos);
  size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) segments->push_back(PercentDecode(path.substr(start, slash - start), false));
    start = slash + 1;
  }
  if (qpos == std::string::npos) return;
  std::string_view q = std::string_view(target).substr(qpos + 1);
  start = 0;
  while (start < q.size()) {
    auto amp = q.find('&', start);
    if (amp == std::string_view::npos) amp = q.size();
    std::string_view pair = q.substr(start, amp - start);
    auto eq = pair.find('=');
    std::string key = PercentDecode(pair.substr(0, eq), true);
    std::string value =
        eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1), true);
    if (!key.empty()) (*query)[key].push_back(value);
    start = amp + 1;
  }
}

std::string NowIso8601() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[80];
  std::snprintf(out, sizeof out, "%s.%03d+00:00", buf, static_cast<int>(ms));
  return out;
}

json::array RcToJson(const ApiCallRcList& list) {
  json::array a;
  std::string now = NowIso8601();
  for (const auto& r : list) {
    json::object o;
    o["ret_code"] = r.ret_code;
    o["message"] = r.message;
    if (!r.cause.empty()) o["cause"] = r.cause;
    if (!r.correction.empty()) o["correction"] = r.correction;
    if (!r.details.empty()) o["details"] = r.details;
    if (!r.obj_refs.empty()) {
      json::object refs;
      for (const auto& [k, v] : r.obj_refs) refs[k] = v;
      o["obj_refs"] = std::move(refs);
    }
    o["created_at"] = now;
    a.push_back(std::move(o));
  }
  return a;
}

HttpResponse JsonResponse(int status, const json::value& v) {
  return HttpResponse{status, "application/json", json::serialize(v)};
}

// An answer written with a JsonWriter (resource_view.h).
HttpResponse JsonTextResponse(int status, std::string body) {
  return HttpResponse{status, "application/json", std::move(body)};
}

HttpResponse RcResponse(const ApiCallRcList& list, int success_status) {
  return JsonResponse(rc::HttpStatusFor(list, success_status), RcToJson(list));
}

HttpResponse ErrorResponse(int status, uint64_t ret_code, const std::string& message,
                           const std::string& cause = "", const std::string& correction = "") {
  rc::ApiCallRc r;
  r.ret_code = static_cast<int64_t>(ret_code);
  r.message = message;
  r.cause = cause;
  r.correction = correction;
  return JsonResponse(status, RcToJson({r}));
}

HttpResponse ParseError(const std::string& why) {
  return ErrorResponse(400, rc::kApiCallParseError, "Unable to parse the request body: " + why, "",
                       "Send a JSON body as described by the LINSTOR REST API v1.");
}

HttpResponse NotFound(uint64_t obj, uint64_t code, const std::string& message) {
  return ErrorResponse(404, static_cast<uint64_t>(rc::Compose(rc::kMaskError, 0, obj, code)),
                       message);
}

// Parses the body as a JSON object; an empty body is {}.
Result<json::object> BodyObject(const std::string& body) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object{};
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return MakeError(Errc::kInvalidArgument, ec.message());
  if (!v.is_object()) return MakeError(Errc::kInvalidArgument, "the body must be a JSON object");
  return std::move(v.as_object());
}

Result<json::value> BodyValue(const std::string& body) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return json::value(json::object{});
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return MakeError(Errc::kInvalidArgument, ec.message());
  return v;
}

bool QueryBool(const Query& q, const std::string& key) {
  auto it = q.find(key);
  if (it == q.end() || it->second.empty()) return false;
  auto b = ParseBool(it->second.front());
  return it->second.front().empty() || (b.ok() && *b);
}

// Name filters of list calls: repeated parameters, also comma-separated.
std::set<std::string> NameFilter(const Query& q, const std::string& key) {
  std::set<std::string> out;
  auto it = q.find(key);
  if (it == q.end()) return out;
  for (const auto& v : it->second) {
    size_t start = 0;
    while (start <= v.size()) {
      auto comma = v.find(',', start);
      if (comma == std::string::npos) comma = v.size();
      if (comma > start) out.insert(NameKey(v.substr(start, comma - start)));
      start = comma + 1;
    }
  }
  return out;
}

bool Selected(const std::set<std::string>& filter, const std::string& name) {
  return filter.empty() || filter.count(NameKey(name)) > 0;
}

std::vector<std::string> PropFilter(const Query& q) {
  auto it = q.find("props");
  return it == q.end() ? std::vector<std::string>{} : it->second;
}

// offset/limit: limit 0 (golinstor's default) means no limit. The half-open
// range of `count` items to answer.
std::pair<size_t, size_t> PageRange(size_t count, const Query& q) {
  auto get = [&](const char* key) -> size_t {
    auto it = q.find(key);
    if (it == q.end() || it->second.empty()) return 0;
    long v = std::strtol(it->second.front().c_str(), nullptr, 10);
    return v > 0 ? static_cast<size_t>(v) : 0;
  };
  size_t offset = std::min(get("offset"), count);
  size_t limit = get("limit");
  size_t last = limit == 0 ? count : std::min(count, offset + limit);
  return {offset, last};
}

json::array Page(json::array items, const Query& q) {
  auto [first, last] = PageRange(items.size(), q);
  if (first == 0 && last == items.size()) return items;
  json::array out;
  for (size_t i = first; i < last; ++i) out.push_back(std::move(items[i]));
  return out;
}

// ---- Output shapes --------------------------------------------------------

json::object NodeView(const Node& node, const ObservedMap& obs) {
  json::object o = NodeToJson(node);
  const ObservedNode* n = ObservedOf(obs, node.name);
  o["connection_status"] = n ? n->status : kOffline;
  if (n && !n->live() && !n->message.empty()) o["connection_message"] = n->message;
  json::array providers;
  for (const char* p : {"DISKLESS", "FILE", "FILE_THIN"}) providers.emplace_back(p);
  o["storage_providers"] = std::move(providers);
  json::array layers;
  for (const char* l : {"DRBD", "STORAGE"}) layers.emplace_back(l);
  o["resource_layers"] = std::move(layers);
  return o;
}

json::object PoolView(const StoragePool& pool) {
  json::object o = PoolToJson(pool);
  o.erase("total_capacity");
  o.erase("free_capacity");
  if (pool.provider != ProviderKind::kDiskless) {
    PoolCapacity cap = CapacityOf(pool);
    if (cap.total_kib) o["total_capacity"] = *cap.total_kib;
    if (cap.free_kib) o["free_capacity"] = *cap.free_kib;
  } else {
    o["total_capacity"] = INT64_MAX;
    o["free_capacity"] = INT64_MAX;
  }
  json::object traits;
  traits["Provisioning"] = IsThin(pool.provider) ? "Thin" : "Fat";
  bool snaps = IsThin(pool.provider) || pool.provider == ProviderKind::kZfs;
  traits["SupportsSnapshots"] = snaps ? "true" : "false";
  o["static_traits"] = std::move(traits);
  o["supports_snapshots"] = snaps;
  return o;
}

json::object VgView(const VolumeGroup& vg) { return VgToJson(vg); }

json::object RdView(const Cluster& c, const ResourceDefinition& rd, bool with_vds) {
  json::object o = RdToJson(rd);
  if (with_vds) {
    json::array vds;
    for (const VolumeDefinition* vd : c.VolumeDefinitionsOf(rd.name)) vds.push_back(VdToJson(*vd));
    o["volume_definitions"] = std::move(vds);
  }
  return o;
}

// QuerySizeInfoResponse. Tandem has one oversubscription ratio per pool, so
// the free- and total-capacity ratios equal it.
json::object SizeInfoToJson(const SizeInfo& info, const ApiCallRcList& reports) {
  json::object space;
  space["max_vlm_size_in_kib"] = info.max_vlm_size_kib.value_or(0);
  if (info.available_kib) space["available_size_in_kib"] = *info.available_kib;
  if (info.capacity_kib) space["capacity_in_kib"] = *info.capacity_kib;
  space["default_max_oversubscription_ratio"] = info.default_max_oversubscription_ratio;
  space["max_oversubscription_ratio"] = info.max_oversubscription_ratio;
  space["max_free_capacity_oversubscription_ratio"] = info.max_oversubscription_ratio;
  space["max_total_capacity_oversubscription_ratio"] = info.max_oversubscription_ratio;
  json::array spawn;
  for (const SizeInfoPool& p : info.next_spawn) {
    json::object one{{"node_name", p.node}, {"stor_pool_name", p.pool}};
    if (p.oversubscription_ratio) {
      one["stor_pool_oversubscription_ratio"] = *p.oversubscription_ratio;
      one["stor_pool_free_capacity_oversubscription_ratio"] = *p.oversubscription_ratio;
      one["stor_pool_total_capacity_oversubscription_ratio"] = *p.oversubscription_ratio;
    }
    spawn.push_back(std::move(one));
  }
  space["next_spawn_result"] = std::move(spawn);
  json::object o;
  o["space_info"] = std::move(space);
  o["reports"] = RcToJson(reports);
  return o;
}

// MaxVolumeSizes (the deprecated query-max-volume-size): one candidate, the
// group a spawn would choose.
json::object MaxVolumeSizesToJson(const SizeInfo& info) {
  json::array candidates;
  if (!info.next_spawn.empty()) {
    json::array nodes;
    bool all_thin = true;
    for (const SizeInfoPool& p : info.next_spawn) {
      nodes.emplace_back(p.node);
      all_thin = all_thin && p.thin;
    }
    candidates.push_back(json::object{{"storage_pool", info.next_spawn.front().pool},
                                      {"max_volume_size_kib", info.max_vlm_size_kib.value_or(0)},
                                      {"node_names", std::move(nodes)},
                                      {"all_thin", all_thin}});
  }
  return json::object{
      {"candidates", std::move(candidates)},
      {"default_max_oversubscription_ratio", info.default_max_oversubscription_ratio}};
}

// ---- Request bodies -------------------------------------------------------

Status ReadRgModify(const json::object& o, RgModifyRequest* req) {
  TANDEM_TRY(ReadOptString(o, "description", &req->description));
  TANDEM_TRY(ReadPropsChange(o, &req->props));
  auto f = ReadObject(o, "select_filter");
  if (!f.ok()) return f.error();
  if (*f) {
    SelectFilter filter;
    TANDEM_TRY(SelectFilterFromJson(**f, &filter));
    req->select_filter = filter;
  }
  return ReadOptInt(o, "peer_slots", &req->peer_slots);
}

Status ReadNetInterfaceRequest(const json::object& o, NetInterfaceRequest* req) {
  TANDEM_TRY(ReadOptString(o, "name", &req->name));
  TANDEM_TRY(ReadOptString(o, "address", &req->address));
  TANDEM_TRY(ReadOptInt(o, "satellite_port", &req->satellite_port));
  TANDEM_TRY(ReadOptString(o, "satellite_encryption_type", &req->encryption_type));
  return ReadOptBool(o, "is_active", &req->is_active);
}

Status ReadSpawn(const json::object& o, SpawnRequest* req) {
  TANDEM_TRY(ReadString(o, "resource_definition_name", &req->rd_name));
  TANDEM_TRY(ReadString(o, "resource_definition_external_name", &req->external_name));
  if (const json::value* v = o.if_contains("volume_sizes"); v && !v->is_null()) {
    if (!v->is_array())
      return MakeError(Errc::kInvalidArgument, "Field 'volume_sizes' must be a list");
    for (const auto& item : v->as_array()) {
      json::object one;
      one["v"] = item;
      int64_t kib = 0;
      TANDEM_TRY(ReadInt64(one, "v", &kib));
      req->volume_sizes_kib.push_back(kib);
    }
  }
  auto f = ReadObject(o, "select_filter");
  if (!f.ok()) return f.error();
  if (*f) TANDEM_TRY(SelectFilterFromJson(**f, &req->select_filter));
  TANDEM_TRY(ReadBool(o, "partial", &req->partial));
  TANDEM_TRY(ReadBool(o, "definitions_only", &req->definitions_only));
  TANDEM_TRY(ReadProps(o, "resource_definition_props", &req->rd_props));
  return ReadOptInt(o, "peer_slots", &req->peer_slots);
}

Status ReadResourceCreate(const json::object& o, ResourceCreateRequest* req) {
  auto rsc = ReadObject(o, "resource");
  if (!rsc.ok()) return rsc.error();
  if (*rsc) TANDEM_TRY(ResourceFromJson(**rsc, &req->rsc));
  TANDEM_TRY(ReadStringList(o, "layer_list", &req->layer_list));
  return ReadOptInt(o, "drbd_node_id", &req->node_id);
}

bool IsCreatePath(const std::vector<std::string>& s) {
  // POSTs that create something answer 201.
  if (s.size() < 2) return false;
  const std::string& last = s.back();
  return last == "nodes" || last == "storage-pools" || last == "storage-pool-definitions" ||
         last == "resource-groups" || last == "volume-groups" || last == "resource-definitions" ||
         last == "volume-definitions" || last == "resources" || last == "autoplace" ||
         last == "spawn" || last == "properties" || last == "net-interfaces" ||
         (s.size() == 6 && s[4] == "resources");
}

}  // namespace

HttpResponse RestApi::Handle(const HttpRequest& request) {
  auto start = std::chrono::steady_clock::now();
  HttpResponse response;
  if (request.body.size() > kMaxBodyBytes) {
    response = ErrorResponse(
        413, rc::kApiCallParseError,
        "The request body is larger than " + std::to_string(kMaxBodyBytes) + " bytes.");
  } else {
    observed_ = hub_ ? hub_->Observed() : ObservedMap{};
    response = Route(request);
    observed_.clear();
  }
  auto& stat = stats_[request.method];
  stat.count += 1;
  stat.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return response;
}

std::string RestApi::Metrics() const {
  const Cluster& c = service_->cluster();
  std::string out;
  auto gauge = [&](const char* name, const char* help, size_t value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name +
           " " + std::to_string(value) + "\n";
  };
  gauge("tandem_nodes", "Registered nodes.", c.nodes.size());
  gauge("tandem_storage_pools", "Storage pools on all nodes.", c.pools.size());
  gauge("tandem_resource_groups", "Resource groups.", c.rgs.size());
  gauge("tandem_resource_definitions", "Resource definitions.", c.rds.size());
  gauge("tandem_resources", "Resources (replicas) on all nodes.", c.resources.size());
  out +=
      "# HELP tandem_http_requests_total REST requests served.\n# TYPE tandem_http_requests_total "
      "counter\n";
  for (const auto& [method, s] : stats_) {
    out +=
        "tandem_http_requests_total{method=\"" + method + "\"} " + std::to_string(s.count) + "\n";
  }
  out +=
      "# HELP tandem_http_request_seconds_sum Time spent serving REST requests.\n"
      "# TYPE tandem_http_request_seconds_sum counter\n";
  for (const auto& [method, s] : stats_) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6f", s.seconds);
    out += "tandem_http_request_seconds_sum{method=\"" + method + "\"} " + buf + "\n";
  }
  return out;
}

HttpResponse RestApi::Route(const HttpRequest& req) {
  std::vector<std::string> s;
  Query q;
  SplitTarget(req.target, &s, &q);
  const std::string& m = req.method;
  const Cluster& c = service_->cluster();
  auto is = [&](std::initializer_list<const char*> parts) {
    if (s.size() != parts.size()) return false;
    size_t i = 0;
    for (const char* p : parts) {
      if (p[0] != '*' && s[i] != p) return false;
      ++i;
    }
    return true;
  };
  auto body_obj = [&]() { return BodyObject(req.body); };
  auto status_for_post = [&]() { return IsCreatePath(s) ? 201 : 200; };
  auto method_not_allowed = [&]() {
    return ErrorResponse(405, rc::kUnknownApiCall,
                         "Method " + m + " is not allowed on " + req.target);
  };

  // ---- outside /v1 ----
  if (is({"health"})) {
    Status ok = store_->Ping();
    if (!ok.ok())
      return ErrorResponse(500, rc::Compose(rc::kMaskError, 0, 0, rc::kFailSql),
                           ok.error().message);
    json::object o;
    o["status"] = "ok";
    return JsonResponse(200, o);
  }
  if (is({"metrics"})) return HttpResponse{200, "text/plain; version=0.0.4", Metrics()};
  if (s.empty() || s[0] != "v1") {
    return ErrorResponse(404, rc::kUnknownApiCall, "Unknown API call " + m + " " + req.target);
  }

  // ---- controller ----
  if (is({"v1", "controller", "version"})) {
    json::object o;
    o["version"] = version_.version;
    o["git_hash"] = version_.git_hash;
    o["build_time"] = version_.build_time;
    o["rest_api_version"] = version_.rest_api_version;
    return JsonResponse(200, o);
  }
  if (is({"v1", "controller", "properties"})) {
    if (m == "GET") return JsonResponse(200, PropsToJson(c.controller_props()));
    if (m != "POST" && m != "PUT") return method_not_allowed();
    auto o = body_obj();
    if (!o.ok()) return ParseError(o.error().message);
    PropsChange change;
    Status st = ReadPropsChange(*o, &change);
    if (!st.ok()) return ParseError(st.error().message);
    return RcResponse(service_->SetControllerProps(change), 201);
  }
  if (s.size() >= 4 && s[1] == "controller" && s[2] == "properties" && m == "DELETE") {
    std::string key;
    for (size_t i = 3; i < s.size(); ++i) key += (i > 3 ? "/" : "") + s[i];
    PropsChange change;
    change.delete_props = {key};
    return RcResponse(service_->SetControllerProps(change), 200);
  }

  // ---- nodes ----
  if (is({"v1", "nodes"})) {
    if (m == "GET") {
      auto names = NameFilter(q, "nodes");
      auto props = PropFilter(q);
      json::array a;
      for (const auto& [k, n] : c.nodes.rows()) {
        if (Selected(names, n.name) && PropsMatch(n.props, props))
          a.push_back(NodeView(n, observed_));
      }
      return JsonResponse(200, Page(std::move(a), q));
    }
    if (m != "POST") return method_not_allowed();
    auto o = body_obj();
    if (!o.ok()) return ParseError(o.error().message);
    Node node;
    Status st = NodeFromJson(*o, &node);
    if (!st.ok()) return ParseError(st.error().message);
    return RcResponse(service_->CreateNode(std::move(node)), 201);
  }
  if (s.size() >= 3 && s[1] == "nodes" && s[2] != "properties") {
    const std::string& node = s[2];
    if (s.size() == 3) {
      if (m == "GET") {
        const Node* n = c.FindNode(node);
        if (!n)
          return NotFound(rc::kMaskNode, rc::kFailNotFoundNode, "Node '" + node + "' not found.");
        return JsonResponse(200, NodeView(*n, observed_));
      }
      if (m == "DELETE") return RcResponse(service_->DeleteNode(node), 200);
      if (m == "PUT") {
        auto o = body_obj();
        if (!o.ok()) return ParseError(o.error().message);
        NodeModifyRequest mod;
        std::string type;
        Status st = ReadString(*o, "node_type", &type);
        if (st.ok()) st = ReadPropsChange(*o, &mod.props);
        if (!st.ok()) return ParseError(st.error().message);
        if (!type.empty()) {
          auto t = ParseNodeType(type);
          if (!t.ok()) return ParseError(t.error().message);
          mod.type = *t;
        }
        return RcResponse(service_->ModifyNode(node, mod), 200);
      }
      return method_not_allowed();
    }
    if (s.size() == 4 && (s[3] == "evacuate" || s[3] == "restore")) {
      if (m != "PUT") return method_not_allowed();
      if (s[3] == "restore") return RcResponse(service_->RestoreNode(node), 200);
      auto o = body_obj();
      if (!o.ok()) return ParseError(o.error().message);
      std::vector<std::string> target, do_not_target;
      Status st = ReadStringList(*o, "target", &target);
      if (st.ok()) st = ReadStringList(*o, "do_not_target", &do_not_target);
      if (!st.ok()) return ParseError(st.error().message);
      return RcResponse(service_->EvacuateNode(node, target, do_not_target), 200);
    }
    if (s.size() == 4 && s[3] == "lost") {
      if (m != "DELETE") return method_not_allowed();
      return RcResponse(service_->LostNode(node), 200);
    }
    if (s[3] == "net-interfaces" && (s.size() == 4 || s.size() == 5) && m != "GET") {
      bool collection = s.size() == 4;
      if (collection ? m != "POST" : m != "PUT" && m != "DELETE") return method_not_allowed();
      if (m == "DELETE") return RcResponse(service_->DeleteNetInterface(node, s[4]), 200);
      auto o = body_obj();
      if (!o.ok()) return ParseError(o.error().message);
      NetInterfaceRequest nif;
      Status st = ReadNetInterfaceRequest(*o, &nif);
      if (!st.ok()) return ParseError(st.error().message);
      if (collection) {
        if (!nif.name || !nif.address)
          return ParseError("Fields 'name' and 'address' are required");
        return RcResponse(service_->CreateNetInterface(node, nif), 201);
      }
      return RcResponse(service_->ModifyNetInterface(node, s[4], nif), 200);
    }
    if (s[3] == "net-interfaces" && m == "GET") {
      const Node* n = c.FindNode(node);
      if (!n)
        return NotFound(rc::kMaskNode, rc::kFailNotFoundNode, "Node '" + node + "' not found.");
      if (s.size() == 4) {
        json::array a;
        for (const auto& nif : n->net_interfaces) a.push_back(NetInterfaceToJson(nif));
        return JsonResponse(200, a);
      }
      if (s.size() == 5) {
        for (const auto& nif : n->net_interfaces) {
          if (NameEquals(nif.name, s[4])) return JsonResponse(200, NetInterfaceToJson(nif));
        }
        return NotFound(rc::kMaskNetIf, rc::kFailNotFoundNetIf,
                        "Net interface '" + s[4] + "' of node '" + node + "' not found.");
      }
    }
    if (s[3] == "storage-pools") {
      if (s.size() == 4) {
        if (m == "GET") {
          if (!c.FindNode(node))
            return NotFound(rc::kMaskNode, rc::kFailNotFoundNode, "Node '" + node + "' not found.");
          auto pools = NameFilter(q, "storage_pools");
          json::array a;
          c.pools.ForPrefix(ChildPrefix(node), [&](const StoragePool& p) {
            if (Selected(pools, p.name)) a.push_back(PoolView(p));
          });
          return JsonResponse(200, Page(std::move(a), q));
        }
        if (m != "POST") return method_not_allowed();
        auto o = body_obj();
        if (!o.ok()) return ParseError(o.error().message);
        StoragePool pool;
        Status st = PoolFromJson(*o, &pool);
        if (!st.ok()) return ParseError(st.error().message);
        pool.total_capacity_kib.reset();  // capacity is reported, not set
        pool.free_capacity_kib.reset();
        return RcResponse(service_->CreatePool(node, std::move(pool)), 201);
      }
      if (s.size() == 5) {
        const std::string& pool = s[4];
        if (m == "GET") {
          const StoragePool* p = c.FindPool(node, pool);
          if (!p) {
            return NotFound(rc::kMaskStorPool, rc::kFailNotFoundStorPool,
                            "Storage pool '" + pool + "' on node '" + node + "' not found.");
          }
          return JsonResponse(200, PoolView(*p));
        }
        if (m == "DELETE") return RcResponse(service_->DeletePool(node, pool), 200);
        if (m == "PUT") {
          auto o = body_obj();
          if (!o.ok()) return ParseError(o.error().message);
          PropsChange change;
          Status st = ReadPropsChange(*o, &change);
          if (!st.ok()) return ParseError(st.error().message);
          return RcResponse(service_->ModifyPool(node, pool, change), 200);
        }
        return method_not_allowed();
      }
    }
  }
  if (is({"v1", "view", "storage-pools"}) && m == "GET") {
    auto nodes = NameFilter(q, "nodes");
    auto pools = NameFilter(q, "storage_pools");
    auto props = PropFilter(q);
    json::array a;
    for (const auto& [k, p] : c.pools.rows()) {
      if (Selected(nodes, p.node_name) && Selected(pools, p.name) && PropsMatch(p.props, props)) {
        a.push_back(PoolView(p));
      }
    }
    return JsonResponse(200, Page(std::move(a), q));
  }

  // ---- storage pool definitions ----
  if (is({"v1", "storage-pool-definitions"})) {
    if (m == "GET") {
      json::array a;
      for (const auto& [k, d] : c.pool_defs.rows()) a.push_back(PoolDefToJson(d));
      return JsonResponse(200, Page(std::move(a), q));
    }
    if (m != "POST") return method_not_allowed();
    auto o = body_obj();
    if (!o.ok()) return ParseError(o.error().message);
    StoragePoolDefinition def;
    Status st = PoolDefFromJson(*o, &def);
    if (!st.ok()) return ParseError(st.error().message);
    return RcResponse(service_->CreatePoolDef(std::move(def)), 201);
  }
  if (is({"v1", "storage-pool-definitions", "*"})) {
    if (m == "GET") {
      const StoragePoolDefinition* d = c.pool_defs.Find(NameKey(s[2]));
      if (!d) {
        return NotFound(rc::kMaskStorPoolDfn, rc::kFailNotFoundStorPoolDfn,
                        "Storage pool definition '" + s[2] + "' not found.");
      }
      return JsonResponse(200, PoolDefToJson(*d));
    }
    if (m == "DELETE") return RcResponse(service_->DeletePoolDef(s[2]), 200);
    if (m == "PUT") {
      auto o = body_obj();
      if (!o.ok()) return ParseError(o.error().message);
      PropsChange change;
      Status st = ReadPropsChange(*o, &change);
      if (!st.ok()) return ParseError(st.error().message);
      return RcResponse(service_->ModifyPoolDef(s[2], change), 200);
    }
    return method_not_allowed();
  }

  // ---- resource groups and volume groups ----
  if (is({"v1", "resource-groups"})) {
    if (m == "GET") {
      auto names = NameFilter(q, "resource_groups");
      auto props = PropFilter(q);
      json::array a;
      for (const auto& [k, rg] : c.rgs.rows()) {
        if (Selected(names, rg.name) && PropsMatch(rg.props, props)) a.push_back(RgToJson(rg));
      }
      return JsonResponse(200, Page(std::move(a), q));
    }
    if (m != "POST") return method_not_allowed();
    auto o = body_obj();
    if (!o.ok()) return ParseError(o.error().message);
    ResourceGroup rg;
    Status st = RgFromJson(*o, &rg);
    if (!st.ok()) return ParseError(st.error().message);
    return RcResponse(service_->CreateRg(std::move(rg)), 201);
  }
  if (s.size() >= 3 && s[1] == "resource-groups") {
    const std::string& rg = s[2];
    if (s.size() == 3) {
      if (m == "GET") {
        const ResourceGroup* g = c.FindRg(rg);
        if (!g)
          return NotFound(rc::kMaskRscGrp, rc::kFailNotFoundRscGrp,
                          "Resource group '" + rg + "' not found.");
        return JsonResponse(200, RgToJson(*g));
      }
      if (m == "DELETE") return RcResponse(service_->DeleteRg(rg), 200);
      if (m == "PUT") {
        auto o = body_obj();
        if (!o.ok()) return ParseError(o.error().message);
        RgModifyRequest mod;
        Status st = ReadRgModify(*o, &mod);
        if (!st.ok()) return ParseError(st.error().message);
        return RcResponse(service_->ModifyRg(rg, mod), 200);
      }
      return method_not_allowed();
    }
    if (s.size() == 4 && (s[3] == "query-size-info" || s[3] == "query-max-volume-size")) {
      bool max_sizes = s[3] == "query-max-volume-size";
      if (max_sizes ? m != "GET" : m != "POST") return method_not_allowed();
      SelectFilter overrides;
      if (!max_sizes) {
        auto o = body_obj();
        if (!o.ok()) return ParseError(o.error().message);
        auto f = ReadObject(*o, "select_filter");
        if (!f.ok()) return ParseError(f.error().message);
        if (*f) {
          Status st = SelectFilterFromJson(**f, &overrides);
          if (!st.ok()) return ParseError(st.error().message);
        }
      }
      Service::SizeInfoAnswer answer = service_->QuerySizeInfo(rg, overrides);
      if (!answer.info) return RcResponse(answer.reports, 200);
      return JsonResponse(200, max_sizes ? MaxVolumeSizesToJson(*answer.info)
                                         : SizeInfoToJson(*answer.info, answer.reports));
    }
    if (s.size() == 4 && s[3] == "spawn") {
      if (m != "POST") return method_not_allowed();
      auto o = body_obj();
      if (!o.ok()) return ParseError(o.error().message);
      SpawnRequest spawn;
      Status st = ReadSpawn(*o, &spawn);
      if (!st.ok()) return ParseError(st.error().message);
      return RcResponse(service_->Spawn(rg, spawn), 201);
    }
    if (s[3] == "volume-groups") {
      if (s.size() == 4) {
        if (m == "GET") {
          if (!c.FindRg(rg))
            return NotFound(rc::kMaskRscGrp, rc::kFailNotFoundRscGrp,
                            "Resource group '" + rg + "' not found.");
          json::array a;
          for (const VolumeGroup* vg : c.VolumeGroupsOf(rg)) a.push_back(VgView(*vg));
          return JsonResponse(200, a);
        }
        if (m != "POST") return method_not_allowed();
        auto o = body_obj();
        if (!o.ok()) return ParseError(o.error().message);
        VolumeGroup vg;
        std::optional<int> nr;
        Status st = VgFromJson(*o, &vg);
        if (st.ok()) st = ReadOptInt(*o, "volume_number", &nr);
        if (!st.ok()) return ParseError(st.error().message);
        return RcResponse(service_->CreateVg(rg, std::move(vg), nr), 201);
      }
      if (s.size() == 5) {
        char* end = nullptr;
        long nr = std::strtol(s[4].c_str(), &end, 10);
        if (*end != '\0') return ParseError("volume number '" + s[4] + "' is not a number");
        if (m == "GET") {
          const VolumeGroup* vg = c.FindVg(rg, static_cast<int>(nr));
          if (!vg)
            return NotFound(rc::kMaskVlmGrp, rc::kFailNotFoundVlmGrp,
                            "Volume group " + s[4] + " of '" + rg + "' not found.");
          return JsonResponse(200, VgView(*vg));
        }
        if (m == "DELETE") return RcResponse(service_->DeleteVg(rg, static_cast<int>(nr)), 200);
        if (m == "PUT") {
          auto o = body_obj();
          if (!o.ok()) return ParseError(o.error().message);
          PropsChange change;
          std::vector<std::string> flags;
          Status st = ReadPropsChange(*o, &change);
          if (st.ok()) st = ReadStringList(*o, "flags", &flags);
          if (!st.ok()) return ParseError(st.error().message);
          return RcResponse(service_->ModifyVg(rg, static_cast<int>(nr), change, flags), 200);
        }
        return method_not_allowed();
      }
    }
  }

  // ---- resource definitions, volume definitions, resources ----
  if (is({"v1", "resource-definitions"})) {
    if (m == "GET") {
      auto names = NameFilter(q, "resource_definitions");
      auto props = PropFilter(q);
      bool with_vds = QueryBool(q, "with_volume_definitions");
      json::array a;
      for (const auto& [k, rd] : c.rds.rows()) {
        if (Selected(names, rd.name) && PropsMatch(rd.props, props))
          a.push_back(RdView(c, rd, with_vds));
      }
      return JsonResponse(200, Page(std::move(a), q));
    }
    if (m != "POST") return method_not_allowed();
    auto o = body_obj();
    if (!o.ok()) return ParseError(o.error().message);
    RdCreateRequest create;
    auto rd_obj = ReadObject(*o, "resource_definition");
    if (!rd_obj.ok()) return ParseError(rd_obj.error().message);
    Status st;
    if (*rd_obj) st = RdFromJson(**rd_obj, &create.rd);
    if (st.ok()) st = ReadOptInt(*o, "drbd_port", &create.port);
    if (st.ok()) st = ReadOptString(*o, "drbd_secret", &create.secret);
    if (st.ok()) st = ReadOptInt(*o, "drbd_peer_slots", &create.peer_slots);
    if (!st.ok()) return ParseError(st.error().message);
    return RcResponse(service_->CreateRd(create), 201);
  }
  if (s.size() >= 3 && s[1] == "resource-definitions") {
    const std::string& rd = s[2];
    if (s.size() == 3) {
      if (m == "GET") {
        const ResourceDefinition* d = c.FindRd(rd);
        if (!d)
          return NotFound(rc::kMaskRscDfn, rc::kFailNotFoundRscDfn,
                          "Resource definition '" + rd + "' not found.");
        return JsonResponse(200, RdView(c, *d, QueryBool(q, "with_volume_definitions")));
      }
      if (m == "DELETE") return RcResponse(service_->DeleteRd(rd), 200);
      if (m == "PUT") {
        auto o = body_obj();
        if (!o.ok()) return ParseError(o.error().message);
        RdModifyRequest mod;
        Status st = ReadPropsChange(*o, &mod.props);
        if (st.ok()) st = ReadOptInt(*o, "drbd_port", &mod.port);
        if (st.ok()) st = ReadOptInt(*o, "drbd_peer_slots", &mod.peer_slots);
        if (st.ok()) st = ReadStringList(*o, "layer_stack", &mod.layer_stack);
        if (st.ok()) st = ReadOptString(*o, "resource_group", &mod.resource_group);
        if (!st.ok()) return ParseError(st.error().message);
        return RcResponse(service_->ModifyRd(rd, mod), 200);
      }
      return method_not_allowed();
    }
    const std::string& sub = s[3];
    if (sub == "volume-definitions") {
      if (s.size() == 4) {
        if (m == "GET") {
          if (!c.FindRd(rd))
            return NotFound(rc::kMaskRscDfn, rc::kFailNotFoundRscDfn,
                            "Resource definition '" + rd + "' not found.");
          json::array a;
          for (const VolumeDefinition* vd : c.VolumeDefinitionsOf(rd)) a.push_back(VdToJson(*vd));
          return JsonResponse(200, a);
        }
        if (m != "POST") return method_not_allowed();
        auto o = body_obj();
        if (!o.ok()) return ParseError(o.error().message);
        VdCreateRequest create;
        auto vd_obj = ReadObject(*o, "volume_definition");
        if (!vd_obj.ok()) return ParseError(vd_obj.error().message);
        if (!*vd_obj) return ParseError("Field 'volume_definition' is required");
        Status st = VdFromJson(**vd_obj, &create.vd);
        if (st.ok()) st = ReadOptInt(**vd_obj, "volume_number", &create.volume_number);
        if (st.ok()) st = ReadOptInt(*o, "drbd_minor_number", &create.minor);
        if (!st.ok()) return ParseError(st.error().message);
        return RcResponse(service_->CreateVd(rd, create), 201);
      }
      if (s.size() == 5) {
        char* end = nullptr;
        long nr = std::strtol(s[4].c_str(), &end, 10);
        if (*end != '\0') return ParseError("volume number '" + s[4] + "' is not a number");
        if (m == "GET") {
          const VolumeDefinition* vd = c.FindVd(rd, static_cast<int>(nr));
          if (!vd)
            return NotFound(rc::kMaskVlmDfn, rc::kFailNotFoundVlmDfn,
                            "Volume definition " + s[4] + " of '" + rd + "' not found.");
          return JsonResponse(200, VdToJson(*vd));
        }
        if (m == "DELETE") return RcResponse(service_->DeleteVd(rd, static_cast<int>(nr)), 200);
        if (m == "PUT") {
          auto o = body_obj();
          if (!o.ok()) return ParseError(o.error().message);
          VdModifyRequest mod;
          std::optional<int> dummy;
          Status st = ReadPropsChange(*o, &mod.props);
          if (st.ok()) st = ReadStringList(*o, "flags", &mod.flags);
          if (st.ok() && o->if_contains("size_kib") && !o->at("size_kib").is_null()) {
            int64_t size = 0;
            st = ReadInt64(*o, "size_kib", &size);
            mod.size_kib = size;
          }
          if (!st.ok()) return ParseError(st.error().message);
          return RcResponse(service_->ModifyVd(rd, static_cast<int>(nr), mod), 200);
        }
        return method_not_allowed();
      }
    }
    if (sub == "autoplace" && s.size() == 4) {
      if (m != "POST") return method_not_allowed();
      auto o = body_obj();
      if (!o.ok()) return ParseError(o.error().message);
      AutoplaceRequest ap;
      auto f = ReadObject(*o, "select_filter");
      if (!f.ok()) return ParseError(f.error().message);
      Status st;
      if (*f) st = SelectFilterFromJson(**f, &ap.select_filter);
      if (st.ok()) st = ReadOptBool(*o, "diskless_on_remaining", &ap.diskless_on_remaining);
      if (st.ok()) st = ReadStringList(*o, "layer_list", &ap.layer_list);
      if (!st.ok()) return ParseError(st.error().message);
      return RcResponse(service_->Autoplace(rd, ap), 201);
    }
    if (sub == "resources") {
      if (s.size() == 4) {
        if (m == "GET") {
          if (!c.FindRd(rd))
            return NotFound(rc::kMaskRscDfn, rc::kFailNotFoundRscDfn,
                            "Resource definition '" + rd + "' not found.");
          auto nodes = NameFilter(q, "nodes");
          JsonWriter w;
          w.BeginArray();
          for (const Resource* r : c.ResourcesOf(rd)) {
            if (Selected(nodes, r->node_name)) WriteResourceView(w, c, *r, false, observed_);
          }
          w.EndArray();
          return JsonTextResponse(200, std::move(w).Take());
        }
        if (m != "POST") return method_not_allowed();
        auto v = BodyValue(req.body);
        if (!v.ok()) return ParseError(v.error().message);
        std::vector<ResourceCreateRequest> creates;
        auto read_one = [&](const json::value& item) -> Status {
          if (!item.is_object())
            return MakeError(Errc::kInvalidArgument, "each resource must be an object");
          ResourceCreateRequest one;
          TANDEM_TRY(ReadResourceCreate(item.as_object(), &one));
          creates.push_back(std::move(one));
          return {};
        };
        Status st;
        if (v->is_array()) {
          for (const auto& item : v->as_array()) {
            st = read_one(item);
            if (!st.ok()) break;
          }
        } else {
          st = read_one(*v);  // lenient: a single object
        }
        if (!st.ok()) return ParseError(st.error().message);
        return RcResponse(service_->CreateResources(rd, creates), 201);
      }
      const std::string& node = s[4];
      if (s.size() == 5) {
        if (m == "GET") {
          const Resource* r = c.FindResource(rd, node);
          if (!r) {
            if (!c.FindRd(rd))
              return NotFound(rc::kMaskRscDfn, rc::kFailNotFoundRscDfn,
                              "Resource definition '" + rd + "' not found.");
            return NotFound(rc::kMaskRsc, rc::kFailNotFoundRsc,
                            "Resource '" + rd + "' on node '" + node + "' not found.");
          }
          JsonWriter w;
          WriteResourceView(w, c, *r, false, observed_);
          return JsonTextResponse(200, std::move(w).Take());
        }
        if (m == "POST") {
          auto o = body_obj();
          if (!o.ok()) return ParseError(o.error().message);
          ResourceCreateRequest one;
          Status st = ReadResourceCreate(*o, &one);
          if (!st.ok()) return ParseError(st.error().message);
          one.rsc.node_name = node;
          return RcResponse(service_->CreateResources(rd, {one}), 201);
        }
        if (m == "DELETE")
          return RcResponse(service_->DeleteResource(rd, node, QueryBool(q, "keep_tiebreaker")),
                            200);
        if (m == "PUT") {
          auto o = body_obj();
          if (!o.ok()) return ParseError(o.error().message);
          PropsChange change;
          Status st = ReadPropsChange(*o, &change);
          if (!st.ok()) return ParseError(st.error().message);
          return RcResponse(service_->ModifyResource(rd, node, change), 200);
        }
        return method_not_allowed();
      }
      if (s.size() == 6 && s[5] == "make-available") {
        if (m != "POST") return method_not_allowed();
        auto o = body_obj();
        if (!o.ok()) return ParseError(o.error().message);
        bool diskful = false, block_device = false;
        Status st = ReadBool(*o, "diskful", &diskful);
        if (st.ok()) st = ReadBool(*o, "block_device", &block_device);
        if (!st.ok()) return ParseError(st.error().message);
        return RcResponse(service_->MakeAvailable(rd, node, diskful, block_device), 200);
      }
      if (s.size() >= 6 && s[5] == "volumes" && m == "GET") {
        const Resource* r = c.FindResource(rd, node);
        if (!r)
          return NotFound(rc::kMaskRsc, rc::kFailNotFoundRsc,
                          "Resource '" + rd + "' on node '" + node + "' not found.");
        if (s.size() == 6) {
          JsonWriter w;
          w.BeginArray();
          for (const VolumeDefinition* vd : c.VolumeDefinitionsOf(rd))
            WriteVolumeView(w, c, *r, *vd, observed_);
          w.EndArray();
          return JsonTextResponse(200, std::move(w).Take());
        }
        if (s.size() == 7) {
          char* end = nullptr;
          long nr = std::strtol(s[6].c_str(), &end, 10);
          const VolumeDefinition* vd = *end == '\0' ? c.FindVd(rd, static_cast<int>(nr)) : nullptr;
          if (!vd)
            return NotFound(
                rc::kMaskVlm, rc::kFailNotFoundVlm,
                "Volume " + s[6] + " of '" + rd + "' on node '" + node + "' not found.");
          JsonWriter w;
          WriteVolumeView(w, c, *r, *vd, observed_);
          return JsonTextResponse(200, std::move(w).Take());
        }
      }
    }
  }
  if (is({"v1", "view", "resources"}) && m == "GET") {
    auto nodes = NameFilter(q, "nodes");
    auto rds = NameFilter(q, "resources");
    auto pools = NameFilter(q, "storage_pools");
    auto props = PropFilter(q);
    // Entries of resources deleted since stay until the cache is cleared.
    if (view_cache_.size() > c.resources.size() + 1024) view_cache_.Clear();
    std::vector<std::pair<const std::string*, const Resource*>> selected;
    for (const auto& [k, r] : c.resources.rows()) {
      if (Selected(nodes, r.node_name) && Selected(rds, r.rd_name) &&
          Selected(pools, r.storage_pool) && PropsMatch(r.props, props)) {
        selected.emplace_back(&k, &r);
      }
    }
    auto [first, last] = PageRange(selected.size(), q);
    JsonWriter w;
    w.Reserve((last - first) * view_bytes_per_resource_ + 2);
    w.BeginArray();
    RdViewContext rd;
    for (size_t i = first; i < last; ++i) {
      const auto& [key, r] = selected[i];
      const ObservedNode* on = ObservedOf(observed_, r->node_name);
      ViewVersion version{service_->RdVersion(key->substr(0, key->find('\x1f'))),
                          on ? on->version : 0};
      if (view_cache_.WriteTo(*key, version, w)) continue;
      if (r->rd_name != rd.rd_name) rd = RdContextOf(c, r->rd_name);
      w.PrepareValue();
      size_t start = w.size();
      WriteResourceView(w, c, *r, rd, true, observed_);
      view_cache_.Put(*key, version, w.Since(start));
    }
    w.EndArray();
    if (last > first) view_bytes_per_resource_ = w.size() / (last - first) + 64;
    return JsonTextResponse(200, std::move(w).Take());
  }
  (void)status_for_post;
  return ErrorResponse(404, rc::kUnknownApiCall, "Unknown API call " + m + " " + req.target);
}

}  // namespace tandem::controller
