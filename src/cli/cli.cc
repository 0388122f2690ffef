#include "cli/cli.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <tuple>

#include "cli/http_client.h"
#include "common/drbd_options.h"
#include "common/size.h"

namespace tandem::cli {
namespace json = boost::json;

namespace {

constexpr uint64_t kMaskError = 0xC000000000000000ULL;
constexpr uint64_t kMaskWarn = 0x8000000000000000ULL;
constexpr uint64_t kMaskInfo = 0x4000000000000000ULL;

std::string Str(const json::value* v) {
  if (!v || v->is_null()) return "";
  if (v->is_string()) return std::string(v->as_string());
  return json::serialize(*v);
}
std::string Get(const json::object& o, const char* key) { return Str(o.if_contains(key)); }
std::string GetPath(const json::value& v, std::initializer_list<const char*> path) {
  const json::value* cur = &v;
  for (const char* p : path) {
    if (!cur->is_object()) return "";
    cur = cur->as_object().if_contains(p);
    if (!cur) return "";
  }
  return Str(cur);
}
std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}
std::vector<std::string> SplitCsv(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::stringstream ss(item);
    std::string part;
    while (std::getline(ss, part, ',')) {
      if (!part.empty()) out.push_back(part);
    }
  }
  return out;
}
json::array ToArray(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}
std::string Pct(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}
size_t Width(const std::string& s) {  // code points, good enough for our tables
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

struct Context {
  std::ostream& out;
  std::ostream& err;
  std::vector<Endpoint> controllers;
  bool machine = false;

  Result<HttpResult> Call(const std::string& method, const std::string& target,
                          const std::string& body = "") {
    Error last = MakeError(Errc::kIoError, "no controller configured");
    for (const auto& e : controllers) {
      auto r = HttpCall(e, method, target, body);
      if (r.ok()) return r;
      last = r.error();
    }
    return last;
  }

  // Prints an ApiCallRc list the way linstor does; returns the exit code.
  int PrintReplies(const HttpResult& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (machine) {
      out << (ec ? r.body : json::serialize(v)) << "\n";
    }
    if (ec || !v.is_array()) {
      if (!machine)
        err << "ERROR: unexpected answer from the controller (HTTP " << r.status << "): " << r.body
            << "\n";
      return r.status >= 400 ? kExitApiError : kExitOk;
    }
    bool error = false;
    for (const auto& item : v.as_array()) {
      if (!item.is_object()) continue;
      const auto& o = item.as_object();
      int64_t code = 0;
      if (const auto* rc = o.if_contains("ret_code"); rc && rc->is_int64()) code = rc->as_int64();
      uint64_t bits = static_cast<uint64_t>(code);
      const char* kind = "SUCCESS";
      if ((bits & kMaskError) == kMaskError) {
        kind = "ERROR";
        error = true;
      } else if ((bits & kMaskError) == kMaskWarn) {
        kind = "WARNING";
      } else if ((bits & kMaskError) == kMaskInfo) {
        kind = "INFO";
      }
      if (machine) continue;
      std::ostream& s = error && std::string(kind) == "ERROR" ? err : out;
      s << kind << ":\n";
      if (std::string(kind) == "ERROR" || std::string(kind) == "WARNING") {
        s << "Description:\n    " << Get(o, "message") << "\n";
        for (const auto& [label, key] :
             {std::pair{"Cause", "cause"}, {"Correction", "correction"}, {"Details", "details"}}) {
          std::string text = Get(o, key);
          if (!text.empty()) s << label << ":\n    " << text << "\n";
        }
      } else {
        s << "    " << Get(o, "message") << "\n";
      }
    }
    if (r.status >= 400) error = true;
    return error ? kExitApiError : kExitOk;
  }

  int Mutate(const std::string& method, const std::string& target, const json::value& body) {
    auto r = Call(method, target, json::serialize(body));
    if (!r.ok()) {
      err << "ERROR: " << r.error().message << "\n";
      return kExitConnection;
    }
    return PrintReplies(*r);
  }

  // GETs JSON; on failure prints and sets *code.
  std::optional<json::value> Fetch(const std::string& target, int* code) {
    auto r = Call("GET", target);
    if (!r.ok()) {
      err << "ERROR: " << r.error().message << "\n";
      *code = kExitConnection;
      return std::nullopt;
    }
    if (r->status >= 400) {
      *code = PrintReplies(*r);
      return std::nullopt;
    }
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    if (ec) {
      err << "ERROR: the controller answered with invalid JSON\n";
      *code = kExitApiError;
      return std::nullopt;
    }
    return v;
  }

  // GET a list and print it as a table (or JSON with -m).
  int List(const std::string& target, const std::vector<std::string>& header,
           const std::function<void(const json::value&, std::vector<std::vector<std::string>>*)>&
               rows_of) {
    int code = kExitOk;
    auto v = Fetch(target, &code);
    if (!v) return code;
    if (machine) {
      json::array wrapped;
      wrapped.push_back(*v);  // linstor -m wraps lists in an outer array
      out << json::serialize(wrapped) << "\n";
      return kExitOk;
    }
    std::vector<std::vector<std::string>> rows;
    if (v->is_array()) {
      for (const auto& item : v->as_array()) rows_of(item, &rows);
    } else {
      rows_of(*v, &rows);
    }
    out << RenderTable(header, rows);
    return kExitOk;
  }
};

std::string Query(const std::vector<std::pair<std::string, std::vector<std::string>>>& params) {
  std::string q;
  for (const auto& [k, values] : params) {
    for (const auto& v : SplitCsv(values)) q += (q.empty() ? "?" : "&") + k + "=" + Pct(v);
  }
  return q;
}

std::string ResolveAddress(const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* res = nullptr;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &res) != 0 || !res) return "";
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, buf, sizeof buf);
  freeaddrinfo(res);
  return buf;
}

json::object PropsBody(const std::string& key, const std::optional<std::string>& value) {
  json::object body;
  if (value && !value->empty()) {
    json::object o;
    o[key] = *value;
    body["override_props"] = std::move(o);
  } else {
    json::array a;
    a.emplace_back(key);
    body["delete_props"] = std::move(a);
  }
  return body;
}

std::string FormatTime(int64_t ms) {
  if (ms <= 0) return "";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// `r l` columns from a resource view (docs/satellite-protocol.md, reports).
// Volumes say "Unknown" while the resource's node is not connected.
bool StateUnknown(const json::value& rsc) {
  const json::value* vols = rsc.is_object() ? rsc.as_object().if_contains("volumes") : nullptr;
  if (!vols || !vols->is_array() || vols->as_array().empty()) return false;
  return GetPath(vols->as_array()[0], {"state", "disk_state"}) == "Unknown";
}

std::string UsageOf(const json::value& rsc) {
  if (StateUnknown(rsc)) return "Unknown";
  return GetPath(rsc, {"state", "in_use"}) == "true" ? "InUse" : "Unused";
}

std::string ConnsOf(const json::value& rsc) {
  if (StateUnknown(rsc)) return "Unknown";
  const json::value* conns = nullptr;
  if (rsc.is_object()) {
    const json::value* lo = rsc.as_object().if_contains("layer_object");
    const json::value* drbd = lo && lo->is_object() ? lo->as_object().if_contains("drbd") : nullptr;
    conns = drbd && drbd->is_object() ? drbd->as_object().if_contains("connections") : nullptr;
  }
  std::vector<std::string> bad;
  if (conns && conns->is_object()) {
    for (const auto& [peer, c] : conns->as_object()) {
      if (GetPath(c, {"connected"}) == "true") continue;
      std::string what =
          GetPath(c, {"split_brain"}) == "true" ? "SplitBrain" : GetPath(c, {"message"});
      bad.push_back(what + "(" + std::string(peer) + ")");
    }
  }
  return bad.empty() ? "Ok" : Join(bad, ",");
}

std::string ResourceStateOf(const json::value& rsc) {
  const json::value* vols = rsc.is_object() ? rsc.as_object().if_contains("volumes") : nullptr;
  std::vector<std::string> states;
  if (vols && vols->is_array()) {
    for (const json::value& vol : vols->as_array()) {
      std::string disk = GetPath(vol, {"state", "disk_state"});
      const json::value* repl = nullptr;
      if (vol.is_object()) {
        const json::value* st = vol.as_object().if_contains("state");
        repl = st && st->is_object() ? st->as_object().if_contains("replication_states") : nullptr;
      }
      if (repl && repl->is_object()) {
        for (const auto& [peer, r] : repl->as_object()) {
          if (GetPath(r, {"replication_state"}) != "SyncTarget") continue;
          char buf[64];
          std::snprintf(buf, sizeof buf, "SyncTarget(%.2f%%)",
                        std::atof(GetPath(r, {"done_percentage"}).c_str()));
          disk = buf;
          break;
        }
      }
      if (std::find(states.begin(), states.end(), disk) == states.end()) states.push_back(disk);
    }
  }
  if (states.empty()) return "Unknown";
  return Join(states, ",");
}

// Placement options shared by `rg create` and `r create --auto-place`.
struct FilterOptions {
  std::vector<std::string> storage_pools, replicas_on_same, replicas_on_different,
      do_not_place_with, layer_list, providers, x_replicas;
  std::string do_not_place_with_regex;
  bool diskless_on_remaining = false;
  std::optional<bool> diskless_on_remaining_value;  // modify: true or false

  // `modify` takes --diskless-on-remaining with a value, as linstor's modify commands do.
  void Add(CLI::App* cmd, bool modify = false) {
    cmd->add_option("--storage-pool,-s", storage_pools, "Storage pool(s) to place in")
        ->delimiter(',');
    cmd->add_option("--replicas-on-same", replicas_on_same,
                    "Aux property keys (key or key=value) replicas share");
    cmd->add_option("--replicas-on-different", replicas_on_different,
                    "Aux property keys replicas differ in");
    cmd->add_option("--x-replicas-on-different", x_replicas,
                    "KEY=N: at most N replicas per value of KEY");
    cmd->add_option("--do-not-place-with", do_not_place_with,
                    "Avoid nodes holding these resources");
    cmd->add_option("--do-not-place-with-regex", do_not_place_with_regex,
                    "Avoid nodes holding matching resources");
    cmd->add_option("--layer-list,-l", layer_list, "Layer stack, e.g. drbd,storage")
        ->delimiter(',');
    cmd->add_option("--providers", providers, "Allowed storage providers")->delimiter(',');
    if (modify) {
      cmd->add_option("--diskless-on-remaining", diskless_on_remaining_value,
                      "true or false: diskless replicas on every other node");
    } else {
      cmd->add_flag("--diskless-on-remaining", diskless_on_remaining,
                    "Add diskless replicas on every other node");
    }
  }
  static std::vector<std::string> Aux(const std::vector<std::string>& keys) {
    std::vector<std::string> out;
    for (const auto& k : keys) out.push_back(k.rfind("Aux/", 0) == 0 ? k : "Aux/" + k);
    return out;
  }
  Status Fill(json::object* f) const {
    if (!storage_pools.empty()) f->emplace("storage_pool_list", ToArray(storage_pools));
    if (!replicas_on_same.empty()) f->emplace("replicas_on_same", ToArray(Aux(replicas_on_same)));
    if (!replicas_on_different.empty())
      f->emplace("replicas_on_different", ToArray(Aux(replicas_on_different)));
    if (!do_not_place_with.empty()) f->emplace("not_place_with_rsc", ToArray(do_not_place_with));
    if (!do_not_place_with_regex.empty())
      f->emplace("not_place_with_rsc_regex", do_not_place_with_regex);
    if (!layer_list.empty()) f->emplace("layer_stack", ToArray(layer_list));
    if (!providers.empty()) f->emplace("provider_list", ToArray(providers));
    if (diskless_on_remaining) f->emplace("diskless_on_remaining", true);
    if (diskless_on_remaining_value)
      f->emplace("diskless_on_remaining", *diskless_on_remaining_value);
    if (!x_replicas.empty()) {
      json::object m;
      for (const auto& x : x_replicas) {
        auto eq = x.find('=');
        char* end = nullptr;
        long n = eq == std::string::npos ? 0 : std::strtol(x.c_str() + eq + 1, &end, 10);
        if (eq == std::string::npos || *end != '\0' || n < 1) {
          return MakeError(Errc::kInvalidArgument,
                           "--x-replicas-on-different needs KEY=N, not '" + x + "'");
        }
        std::string key = x.substr(0, eq);
        m[key.rfind("Aux/", 0) == 0 ? key : "Aux/" + key] = n;
      }
      f->emplace("x_replicas_on_different_map", std::move(m));
    }
    return {};
  }
};

// The Key/Value rows of an object's `props` (`... list-properties`).
void PropsRows(const json::value& v, std::vector<std::vector<std::string>>* rows) {
  if (!v.is_object()) return;
  if (const auto* p = v.as_object().if_contains("props"); p && p->is_object()) {
    for (const auto& [k, val] : p->as_object()) rows->push_back({std::string(k), Str(&val)});
  }
}

// `rg|rd drbd-options`: one --OPTION VALUE and one --unset-OPTION per DRBD
// option Tandem honours (common/drbd_options.h).
struct DrbdOptionArgs {
  std::map<std::string, std::optional<std::string>> set;
  std::map<std::string, bool> unset;

  void Add(CLI::App* cmd) {
    for (const drbd::OptionSpec& o : drbd::AllOptions()) {
      std::string help = std::string(o.help) + " (" + drbd::Expected(o) + ")";
      cmd->add_option(std::string("--") + o.name, set[o.name], help);
      cmd->add_flag(std::string("--unset-") + o.name, unset[o.name],
                    std::string("Delete ") + drbd::PropertyKey(o));
    }
  }
};

}  // namespace

Result<json::object> DrbdOptionsBody(
    const std::vector<std::pair<std::string, std::string>>& set_options,
    const std::vector<std::string>& unset_options) {
  json::object overrides;
  json::array deletes;
  for (const auto& [name, value] : set_options) {
    const drbd::OptionSpec* o = drbd::FindOption(name);
    if (!o) return MakeError(Errc::kInvalidArgument, "unknown DRBD option '" + name + "'");
    TANDEM_TRY(drbd::ValidateValue(*o, value));
    overrides[drbd::PropertyKey(*o)] = value;
  }
  for (const auto& name : unset_options) {
    const drbd::OptionSpec* o = drbd::FindOption(name);
    if (!o) return MakeError(Errc::kInvalidArgument, "unknown DRBD option '" + name + "'");
    if (overrides.contains(drbd::PropertyKey(*o))) {
      return MakeError(Errc::kInvalidArgument,
                       "--" + name + " and --unset-" + name + " contradict each other");
    }
    deletes.emplace_back(drbd::PropertyKey(*o));
  }
  if (overrides.empty() && deletes.empty()) {
    return MakeError(Errc::kInvalidArgument,
                     "give at least one DRBD option (--OPTION VALUE or --unset-OPTION)");
  }
  json::object body;
  if (!overrides.empty()) body["override_props"] = std::move(overrides);
  if (!deletes.empty()) body["delete_props"] = std::move(deletes);
  return body;
}

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<int64_t> ParseSizeKib(const std::string& text) {
  bool bare = !text.empty() && text.find_first_not_of("0123456789.") == std::string::npos;
  auto bytes = ParseSize(text, bare ? (1ull << 30) : 1);
  if (!bytes.ok())
    return MakeError(Errc::kInvalidArgument, "invalid size '" + text + "' (e.g. 10G, 512MiB)");
  if (*bytes == 0) return MakeError(Errc::kInvalidArgument, "size must not be zero");
  return static_cast<int64_t>((*bytes + 1023) / 1024);
}

std::string FormatKib(int64_t kib) {
  if (kib < 0) return "";
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(kib);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (std::fabs(v - std::round(v)) < 1e-9) {
    std::snprintf(buf, sizeof buf, "%.0f %s", v, kUnits[u]);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[u]);
  }
  return buf;
}

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = Width(header[i]);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < w.size(); ++i) w[i] = std::max(w[i], Width(row[i]));
  }
  size_t inner = 0;
  for (size_t x : w) inner += x + 3;
  inner = inner > 0 ? inner - 1 : 0;
  auto line = [&](const char* left, const char* fill, const char* right) {
    std::string s = left;
    for (size_t i = 0; i < inner; ++i) s += fill;
    return s + right + "\n";
  };
  auto cells = [&](const std::vector<std::string>& row) {
    std::string s = "┊";
    for (size_t i = 0; i < w.size(); ++i) {
      std::string c = i < row.size() ? row[i] : "";
      s += " " + c + std::string(w[i] - Width(c), ' ') + " ┊";
    }
    return s + "\n";
  };
  std::string out = line("╭", "─", "╮") + cells(header) + line("╞", "═", "╡");
  for (const auto& row : rows) out += cells(row);
  return out + line("╰", "─", "╯");
}

int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app{"tandem: manage a Tandem cluster (linstor client grammar)", "tandem"};
  Context ctx{out, err, {}, false};
  std::string controllers;
  app.add_option("--controllers", controllers,
                 "Comma-separated controllers, host[:port] (default localhost:3370)");
  app.add_flag("-m,--machine-readable", ctx.machine, "Print the controller's JSON");
  app.require_subcommand(1);
  std::function<int()> action;
  auto leaf = [&](CLI::App* cmd, std::function<int()> fn) {
    cmd->callback([&action, fn] { action = fn; });
  };
  auto group = [&](const char* name, const char* help, std::initializer_list<const char*> aliases) {
    CLI::App* g = app.add_subcommand(name, help);
    for (const char* a : aliases) g->alias(a);
    g->require_subcommand(1);
    return g;
  };
  auto sub = [](CLI::App* parent, const char* name, const char* help,
                std::initializer_list<const char*> aliases) {
    CLI::App* c = parent->add_subcommand(name, help);
    for (const char* a : aliases) c->alias(a);
    return c;
  };

  // ---- controller ----
  CLI::App* ctrl = group("controller", "Controller information and properties", {"c"});
  leaf(sub(ctrl, "version", "Controller version", {"v"}), [&] {
    int code = kExitOk;
    auto v = ctx.Fetch("/v1/controller/version", &code);
    if (!v) return code;
    if (ctx.machine) {
      out << json::serialize(*v) << "\n";
    } else {
      out << "tandem controller " << GetPath(*v, {"version"})
          << "; GIT-hash: " << GetPath(*v, {"git_hash"}) << " (REST API "
          << GetPath(*v, {"rest_api_version"}) << ")\n";
    }
    return kExitOk;
  });
  leaf(sub(ctrl, "list-properties", "List controller properties", {"lp"}), [&] {
    return ctx.List("/v1/controller/properties", {"Key", "Value"},
                    [](const json::value& v, auto* rows) {
                      if (!v.is_object()) return;
                      for (const auto& [k, val] : v.as_object())
                        rows->push_back({std::string(k), Str(&val)});
                    });
  });
  std::string c_key;
  std::optional<std::string> c_value;
  auto* c_sp =
      sub(ctrl, "set-property", "Set (or, without a value, delete) a controller property", {"sp"});
  c_sp->add_option("KEY", c_key)->required();
  c_sp->add_option("VALUE", c_value);
  leaf(c_sp,
       [&] { return ctx.Mutate("POST", "/v1/controller/properties", PropsBody(c_key, c_value)); });

  // ---- node ----
  CLI::App* node = group("node", "Nodes", {"n"});
  std::string n_name, n_ip, n_type = "satellite", n_comm = "plain", n_nif = "default";
  int n_port = 0;
  auto* n_create = sub(node, "create", "Register a node", {"c", "crt"});
  n_create->add_option("NAME", n_name)->required();
  n_create->add_option("IP", n_ip, "IP address (resolved from NAME when omitted)");
  n_create->add_option("--node-type", n_type, "satellite, combined, controller or auxiliary")
      ->capture_default_str();
  n_create->add_option("--communication-type", n_comm, "plain or ssl")->capture_default_str();
  n_create->add_option("--port,-p", n_port, "Satellite port (3366 plain, 3367 ssl)");
  n_create->add_option("--interface-name", n_nif, "Net interface name")->capture_default_str();
  leaf(n_create, [&] {
    std::string ip = n_ip.empty() ? ResolveAddress(n_name) : n_ip;
    if (ip.empty()) {
      err << "ERROR: Unable to resolve ip address for '" << n_name
          << "'; give the address: node create NAME IP\n";
      return kExitBadValue;
    }
    std::string comm = Lower(n_comm);
    int port = n_port ? n_port : (comm == "ssl" ? 3367 : 3366);
    if (Lower(n_type) == "controller" && !n_port) port = comm == "ssl" ? 3371 : 3370;
    json::object nif{{"name", n_nif},
                     {"address", ip},
                     {"satellite_port", port},
                     {"satellite_encryption_type", comm},
                     {"is_active", true}};
    json::array nifs;
    nifs.push_back(std::move(nif));
    json::object body{
        {"name", n_name}, {"type", Lower(n_type)}, {"net_interfaces", std::move(nifs)}};
    return ctx.Mutate("POST", "/v1/nodes", body);
  });
  std::vector<std::string> n_filter;
  std::vector<std::string> n_props;
  auto* n_list = sub(node, "list", "List nodes", {"l", "ls"});
  n_list->add_option("--nodes,-n", n_filter, "Only these nodes");
  n_list->add_option("--props", n_props, "Only nodes with these properties (KEY or KEY=VALUE)");
  leaf(n_list, [&] {
    return ctx.List(
        "/v1/nodes" + Query({{"nodes", n_filter}, {"props", n_props}}),
        {"Node", "NodeType", "Addresses", "State"}, [](const json::value& v, auto* rows) {
          std::string addr;
          if (const auto* nifs = v.as_object().if_contains("net_interfaces");
              nifs && nifs->is_array()) {
            for (const auto& nif : nifs->as_array()) {
              if (GetPath(nif, {"is_active"}) != "true" && !addr.empty()) continue;
              addr = GetPath(nif, {"address"}) + ":" + GetPath(nif, {"satellite_port"}) + " (" +
                     GetPath(nif, {"satellite_encryption_type"}) + ")";
            }
          }
          std::string state = GetPath(v, {"connection_status"});
          if (state == "OFFLINE") state = "OFFLINE";
          // As linstor: an evacuating node shows EVACUATE instead of its connection state.
          if (const auto* fl = v.as_object().if_contains("flags"); fl && fl->is_array()) {
            for (const auto& f : fl->as_array()) {
              if (f.is_string() && f.as_string() == "EVACUATE") state = "EVACUATE";
            }
          }
          rows->push_back({GetPath(v, {"name"}), GetPath(v, {"type"}), addr, state});
        });
  });
  auto* n_delete = sub(node, "delete", "Delete a node", {"d", "del"});
  n_delete->add_option("NAME", n_name)->required();
  leaf(n_delete, [&] { return ctx.Mutate("DELETE", "/v1/nodes/" + Pct(n_name), json::object{}); });
  bool n_aux = false;
  std::string n_key;
  std::optional<std::string> n_value;
  auto* n_sp = sub(node, "set-property", "Set (or delete) a node property", {"sp"});
  n_sp->add_flag("--aux", n_aux, "Prefix the key with Aux/");
  n_sp->add_option("NAME", n_name)->required();
  n_sp->add_option("KEY", n_key)->required();
  n_sp->add_option("VALUE", n_value);
  leaf(n_sp, [&] {
    return ctx.Mutate("PUT", "/v1/nodes/" + Pct(n_name),
                      PropsBody(n_aux ? "Aux/" + n_key : n_key, n_value));
  });
  for (const auto& [verb, method, suffix, help] :
       {std::tuple{"restore", "PUT", "/restore", "Clear the EVACUATE state of a node"},
        std::tuple{"lost", "DELETE", "/lost", "Remove a node that is gone, with its resources"}}) {
    auto* cmd = sub(node, verb, help, {});
    cmd->add_option("NAME", n_name)->required();
    std::string m = method, path_suffix = suffix;
    leaf(cmd, [&, m, path_suffix] {
      return ctx.Mutate(m, "/v1/nodes/" + Pct(n_name) + path_suffix, json::object{});
    });
  }
  std::vector<std::string> n_targets, n_no_targets;
  auto* n_evac = sub(node, "evacuate", "Move the node's resources to other nodes", {});
  n_evac->add_option("NAME", n_name)->required();
  n_evac->add_option("--target", n_targets, "Only move to these nodes");
  n_evac->add_option("--do-not-target", n_no_targets, "Never move to these nodes");
  leaf(n_evac, [&] {
    json::object body;
    if (!n_targets.empty()) body["target"] = ToArray(n_targets);
    if (!n_no_targets.empty()) body["do_not_target"] = ToArray(n_no_targets);
    return ctx.Mutate("PUT", "/v1/nodes/" + Pct(n_name) + "/evacuate", body);
  });
  auto* n_lp = sub(node, "list-properties", "List the properties of a node", {"lp"});
  n_lp->add_option("NAME", n_name)->required();
  leaf(n_lp, [&] {
    return ctx.List("/v1/nodes/" + Pct(n_name), {"Key", "Value"},
                    [](const json::value& v, auto* rows) {
                      if (const auto* p = v.as_object().if_contains("props"); p && p->is_object()) {
                        for (const auto& [k, val] : p->as_object())
                          rows->push_back({std::string(k), Str(&val)});
                      }
                    });
  });

  // node interface: net interfaces (guide "Managing Network Interface Cards").
  CLI::App* nif = node->add_subcommand("interface", "Net interfaces of a node");
  nif->alias("i");
  nif->require_subcommand(1);
  std::string nif_node, nif_name, nif_ip;
  std::optional<std::string> nif_new_ip, nif_new_comm;
  std::optional<int> nif_port;
  bool nif_active = false;
  auto* nif_create = sub(nif, "create", "Add a net interface to a node", {"c"});
  nif_create->add_option("NODE", nif_node)->required();
  nif_create->add_option("NAME", nif_name)->required();
  nif_create->add_option("IP", nif_ip, "IP address")->required();
  nif_create->add_option("--port,-p", nif_port, "Satellite port (3366 plain, 3367 ssl)");
  nif_create->add_option("--communication-type", nif_new_comm, "plain or ssl");
  nif_create->add_flag("--active", nif_active, "Use it for the controller-satellite connection");
  leaf(nif_create, [&] {
    json::object body{{"name", nif_name}, {"address", nif_ip}};
    if (nif_port) body["satellite_port"] = *nif_port;
    if (nif_new_comm) body["satellite_encryption_type"] = Lower(*nif_new_comm);
    if (nif_active) body["is_active"] = true;
    return ctx.Mutate("POST", "/v1/nodes/" + Pct(nif_node) + "/net-interfaces", body);
  });
  auto* nif_list = sub(nif, "list", "List the net interfaces of a node", {"l", "ls"});
  nif_list->add_option("NODE", nif_node)->required();
  leaf(nif_list, [&] {
    // As linstor: the first column is headed by the node, "+ StltCon" marks
    // the interface the controller connects through.
    return ctx.List("/v1/nodes/" + Pct(nif_node) + "/net-interfaces",
                    {nif_node, "NetInterface", "IP", "Port", "EncryptionType"},
                    [](const json::value& v, auto* rows) {
                      rows->push_back({GetPath(v, {"is_active"}) == "true" ? "+ StltCon" : "+",
                                       GetPath(v, {"name"}), GetPath(v, {"address"}),
                                       GetPath(v, {"satellite_port"}),
                                       GetPath(v, {"satellite_encryption_type"})});
                    });
  });
  auto* nif_modify = sub(nif, "modify", "Change a net interface", {"m"});
  nif_modify->add_option("NODE", nif_node)->required();
  nif_modify->add_option("NAME", nif_name)->required();
  nif_modify->add_option("--ip", nif_new_ip, "New IP address");
  nif_modify->add_option("--port,-p", nif_port, "New satellite port");
  nif_modify->add_option("--communication-type", nif_new_comm, "plain or ssl");
  nif_modify->add_flag("--active", nif_active, "Use it for the controller-satellite connection");
  leaf(nif_modify, [&] {
    json::object body{{"name", nif_name}};
    if (nif_new_ip) body["address"] = *nif_new_ip;
    if (nif_port) body["satellite_port"] = *nif_port;
    if (nif_new_comm) body["satellite_encryption_type"] = Lower(*nif_new_comm);
    if (nif_active) body["is_active"] = true;
    if (body.size() == 1) {
      err << "ERROR: nothing to change; give --ip, --port, --communication-type or --active\n";
      return kExitUsage;
    }
    return ctx.Mutate("PUT", "/v1/nodes/" + Pct(nif_node) + "/net-interfaces/" + Pct(nif_name),
                      body);
  });
  auto* nif_delete = sub(nif, "delete", "Delete a net interface", {"d", "del"});
  nif_delete->add_option("NODE", nif_node)->required();
  nif_delete->add_option("NAME", nif_name)->required();
  leaf(nif_delete, [&] {
    return ctx.Mutate("DELETE", "/v1/nodes/" + Pct(nif_node) + "/net-interfaces/" + Pct(nif_name),
                      json::object{});
  });

  // ---- storage-pool ----
  CLI::App* sp = group("storage-pool", "Storage pools", {"sp"});
  auto* sp_create = sub(sp, "create", "Create a storage pool", {"c"});
  sp_create->require_subcommand(1);
  std::string sp_node, sp_name, sp_backing, sp_shared;
  bool sp_locking = false;
  const std::pair<const char*, const char*> kinds[] = {
      {"file", "FILE"}, {"filethin", "FILE_THIN"}, {"lvm", "LVM"},          {"lvmthin", "LVM_THIN"},
      {"zfs", "ZFS"},   {"zfsthin", "ZFS_THIN"},   {"diskless", "DISKLESS"}};
  for (const auto& [kind_name, provider] : kinds) {
    std::string kind = provider;
    auto* k =
        sp_create->add_subcommand(kind_name, std::string("Create a ") + provider + " storage pool");
    k->add_option("NODE", sp_node)->required();
    k->add_option("NAME", sp_name)->required();
    if (kind != "DISKLESS") {
      k->add_option("POOL", sp_backing, "Backing directory, volume group, thin pool or zpool")
          ->required();
      k->add_option("--shared-space", sp_shared, "Shared space identifier");
      k->add_flag("--external-locking", sp_locking, "Skip LVM locking (shared pools)");
    }
    leaf(k, [&, kind] {
      json::object body{{"storage_pool_name", sp_name}, {"provider_kind", kind}};
      if (kind != "DISKLESS") body["props"] = json::object{{"StorDriver/StorPoolName", sp_backing}};
      if (!sp_shared.empty()) body["free_space_mgr_name"] = sp_shared;
      if (sp_locking) body["external_locking"] = true;
      return ctx.Mutate("POST", "/v1/nodes/" + Pct(sp_node) + "/storage-pools", body);
    });
  }
  std::vector<std::string> sp_nodes, sp_pools;
  auto* sp_list = sub(sp, "list", "List storage pools", {"l", "ls"});
  sp_list->add_option("--nodes,-n", sp_nodes, "Only these nodes");
  sp_list->add_option("--storage-pools,-s", sp_pools, "Only these pools");
  leaf(sp_list, [&] {
    return ctx.List(
        "/v1/view/storage-pools" + Query({{"nodes", sp_nodes}, {"storage_pools", sp_pools}}),
        {"StoragePool", "Node", "Driver", "PoolName", "FreeCapacity", "TotalCapacity",
         "CanSnapshots", "SharedName"},
        [](const json::value& v, auto* rows) {
          bool diskless = GetPath(v, {"provider_kind"}) == "DISKLESS";
          auto cap = [&](const char* key) {
            std::string s = GetPath(v, {key});
            return diskless || s.empty() ? std::string() : FormatKib(std::atoll(s.c_str()));
          };
          rows->push_back({GetPath(v, {"storage_pool_name"}), GetPath(v, {"node_name"}),
                           GetPath(v, {"provider_kind"}),
                           GetPath(v, {"props", "StorDriver/StorPoolName"}), cap("free_capacity"),
                           cap("total_capacity"),
                           GetPath(v, {"supports_snapshots"}) == "true" ? "True" : "False",
                           GetPath(v, {"free_space_mgr_name"})});
        });
  });
  auto* sp_delete = sub(sp, "delete", "Delete a storage pool", {"d", "del"});
  sp_delete->add_option("NODE", sp_node)->required();
  sp_delete->add_option("NAME", sp_name)->required();
  leaf(sp_delete, [&] {
    return ctx.Mutate("DELETE", "/v1/nodes/" + Pct(sp_node) + "/storage-pools/" + Pct(sp_name),
                      json::object{});
  });
  std::string sp_key;
  std::optional<std::string> sp_value;
  auto* sp_sp = sub(sp, "set-property", "Set (or delete) a storage pool property", {"sp"});
  sp_sp->add_option("NODE", sp_node)->required();
  sp_sp->add_option("NAME", sp_name)->required();
  sp_sp->add_option("KEY", sp_key)->required();
  sp_sp->add_option("VALUE", sp_value);
  leaf(sp_sp, [&] {
    return ctx.Mutate("PUT", "/v1/nodes/" + Pct(sp_node) + "/storage-pools/" + Pct(sp_name),
                      PropsBody(sp_key, sp_value));
  });

  // ---- resource-group ----
  CLI::App* rg = group("resource-group", "Resource groups", {"rg"});
  std::string rg_name, rg_descr;
  std::optional<int> rg_place;
  FilterOptions rg_filter;
  auto* rg_create = sub(rg, "create", "Create a resource group", {"c"});
  rg_create->add_option("NAME", rg_name)->required();
  rg_create->add_option("--place-count", rg_place, "Number of diskful replicas");
  rg_create->add_option("--description", rg_descr, "Description");
  rg_filter.Add(rg_create);
  leaf(rg_create, [&] {
    json::object f;
    if (rg_place) f["place_count"] = *rg_place;
    Status s = rg_filter.Fill(&f);
    if (!s.ok()) {
      err << "ERROR: " << s.error().message << "\n";
      return kExitBadValue;
    }
    json::object body{{"name", rg_name}, {"select_filter", std::move(f)}};
    if (!rg_descr.empty()) body["description"] = rg_descr;
    return ctx.Mutate("POST", "/v1/resource-groups", body);
  });
  leaf(sub(rg, "list", "List resource groups", {"l", "ls"}), [&] {
    return ctx.List(
        "/v1/resource-groups", {"ResourceGroup", "SelectFilter", "VlmNrs", "Description"},
        [&](const json::value& v, auto* rows) {
          std::vector<std::string> parts;
          const auto* f = v.as_object().if_contains("select_filter");
          if (f && f->is_object()) {
            for (const auto& [k, val] : f->as_object()) {
              if (k == "storage_pool") continue;
              parts.push_back(std::string(k) + ": " + Str(&val));
            }
          }
          std::string vlms;
          int code = kExitOk;
          auto vgs = ctx.Fetch(
              "/v1/resource-groups/" + Pct(GetPath(v, {"name"})) + "/volume-groups", &code);
          if (vgs && vgs->is_array()) {
            std::vector<std::string> nrs;
            for (const auto& vg : vgs->as_array()) nrs.push_back(GetPath(vg, {"volume_number"}));
            vlms = Join(nrs, ",");
          }
          rows->push_back({GetPath(v, {"name"}),
                           parts.empty() ? "PlaceCount: 2" : Join(parts, ", "), vlms,
                           GetPath(v, {"description"})});
        });
  });
  auto* rg_delete = sub(rg, "delete", "Delete a resource group", {"d", "del"});
  rg_delete->add_option("NAME", rg_name)->required();
  leaf(rg_delete,
       [&] { return ctx.Mutate("DELETE", "/v1/resource-groups/" + Pct(rg_name), json::object{}); });
  std::string spawn_rd;
  std::vector<std::string> spawn_sizes;
  bool spawn_defs_only = false, spawn_partial = false;
  auto* rg_spawn = sub(rg, "spawn-resources",
                       "Create a resource definition from the group and place it", {"spawn"});
  rg_spawn->add_option("GROUP", rg_name)->required();
  rg_spawn->add_option("RESOURCE", spawn_rd)->required();
  rg_spawn->add_option("SIZES", spawn_sizes, "Volume sizes (a bare number is GiB)");
  rg_spawn->add_flag("--definition-only,--definitions-only", spawn_defs_only,
                     "Only create the definitions");
  rg_spawn->add_flag("--partial", spawn_partial, "Allow fewer sizes than volume groups");
  leaf(rg_spawn, [&] {
    json::array sizes;
    for (const auto& s : spawn_sizes) {
      auto kib = ParseSizeKib(s);
      if (!kib.ok()) {
        err << "ERROR: " << kib.error().message << "\n";
        return kExitBadValue;
      }
      sizes.emplace_back(*kib);
    }
    json::object body{{"resource_definition_name", spawn_rd},
                      {"volume_sizes", std::move(sizes)},
                      {"partial", spawn_partial},
                      {"definitions_only", spawn_defs_only},
                      {"select_filter", json::object{}}};
    return ctx.Mutate("POST", "/v1/resource-groups/" + Pct(rg_name) + "/spawn", body);
  });
  std::optional<int> rgm_place;
  std::optional<std::string> rgm_descr;
  FilterOptions rgm_filter;
  auto* rg_modify =
      sub(rg, "modify", "Change the placement filter or description of a group", {"m"});
  rg_modify->add_option("NAME", rg_name)->required();
  rg_modify->add_option("--place-count", rgm_place, "Number of diskful replicas");
  rg_modify->add_option("--description", rgm_descr, "Description");
  rgm_filter.Add(rg_modify, /*modify=*/true);
  leaf(rg_modify, [&] {
    json::object f;
    if (rgm_place) f["place_count"] = *rgm_place;
    Status s = rgm_filter.Fill(&f);
    if (!s.ok()) {
      err << "ERROR: " << s.error().message << "\n";
      return kExitBadValue;
    }
    json::object body;
    if (!f.empty()) body["select_filter"] = std::move(f);
    if (rgm_descr) body["description"] = *rgm_descr;
    return ctx.Mutate("PUT", "/v1/resource-groups/" + Pct(rg_name), body);
  });
  std::optional<int> qsi_place;
  FilterOptions qsi_filter;
  auto* rg_qsi =
      sub(rg, "query-size-info",
          "Largest volume a spawn from the group could have now, and where it goes", {"qsi"});
  rg_qsi->add_option("NAME", rg_name)->required();
  rg_qsi->add_option("--place-count", qsi_place, "Replicas, instead of the group's");
  qsi_filter.Add(rg_qsi);
  leaf(rg_qsi, [&] {
    json::object f;
    if (qsi_place) f["place_count"] = *qsi_place;
    Status st = qsi_filter.Fill(&f);
    if (!st.ok()) {
      err << "ERROR: " << st.error().message << "\n";
      return kExitBadValue;
    }
    json::object body;
    if (!f.empty()) body["select_filter"] = std::move(f);
    auto r = ctx.Call("POST", "/v1/resource-groups/" + Pct(rg_name) + "/query-size-info",
                      json::serialize(body));
    if (!r.ok()) {
      err << "ERROR: " << r.error().message << "\n";
      return kExitConnection;
    }
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    if (r->status >= 400 || ec || !v.is_object()) return ctx.PrintReplies(*r);
    const json::value* reports = v.as_object().if_contains("reports");
    std::string reports_json = reports ? json::serialize(*reports) : "[]";
    if (ctx.machine) {
      out << json::serialize(v) << "\n";
      bool error = false;
      if (reports && reports->is_array()) {
        for (const auto& rep : reports->as_array()) {
          const json::value* rc =
              rep.is_object() ? rep.as_object().if_contains("ret_code") : nullptr;
          error = error || (rc && rc->is_int64() &&
                            (static_cast<uint64_t>(rc->as_int64()) & kMaskError) == kMaskError);
        }
      }
      return error ? kExitApiError : kExitOk;
    }
    // Errors and warnings first (the placement's reason when nothing fits).
    int code = ctx.PrintReplies(HttpResult{200, reports_json});
    if (code != kExitOk) return code;
    const json::value& space = v.at("space_info");
    auto size = [&](const char* key) {
      std::string text = GetPath(space, {key});
      return text.empty() ? std::string() : FormatKib(std::atoll(text.c_str()));
    };
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> first = {size("max_vlm_size_in_kib"), size("available_size_in_kib"),
                                      size("capacity_in_kib"), ""};
    if (const auto* spawn = space.as_object().if_contains("next_spawn_result");
        spawn && spawn->is_array()) {
      for (const auto& one : spawn->as_array()) {
        std::string where = GetPath(one, {"stor_pool_name"}) + " on " + GetPath(one, {"node_name"});
        if (rows.empty()) {
          first[3] = where;
          rows.push_back(first);
        } else {
          rows.push_back({"", "", "", where});
        }
      }
    }
    if (rows.empty()) rows.push_back(first);
    out << RenderTable({"MaxVolumeSize", "AvailableSize", "Capacity", "Next Spawn Result"}, rows);
    return kExitOk;
  });
  std::string rg_key;
  std::optional<std::string> rg_value;
  auto* rg_sp = sub(rg, "set-property", "Set (or delete) a resource group property", {"sp"});
  rg_sp->add_option("NAME", rg_name)->required();
  rg_sp->add_option("KEY", rg_key)->required();
  rg_sp->add_option("VALUE", rg_value);
  leaf(rg_sp, [&] {
    return ctx.Mutate("PUT", "/v1/resource-groups/" + Pct(rg_name), PropsBody(rg_key, rg_value));
  });
  auto* rg_lp = sub(rg, "list-properties", "List the properties of a resource group", {"lp"});
  rg_lp->add_option("NAME", rg_name)->required();
  leaf(rg_lp, [&] {
    return ctx.List("/v1/resource-groups/" + Pct(rg_name), {"Key", "Value"}, PropsRows);
  });
  // Both drbd-options commands: the options given, as one PUT modify.
  auto drbd_options_leaf = [&](CLI::App* cmd, DrbdOptionArgs* given, std::string* name,
                               const std::string& collection) {
    given->Add(cmd);
    leaf(cmd, [&ctx, &err, given, name, collection] {
      std::vector<std::pair<std::string, std::string>> set;
      std::vector<std::string> unset;
      for (const auto& [option, value] : given->set) {
        if (value) set.emplace_back(option, *value);
      }
      for (const auto& [option, on] : given->unset) {
        if (on) unset.push_back(option);
      }
      auto body = DrbdOptionsBody(set, unset);
      if (!body.ok()) {
        err << "ERROR: " << body.error().message << "\n";
        return kExitBadValue;
      }
      return ctx.Mutate("PUT", "/v1/" + collection + "/" + Pct(*name), *body);
    });
  };
  DrbdOptionArgs rg_drbd;
  auto* rg_opt = sub(rg, "drbd-options", "Set or unset DRBD options of a resource group", {"opt"});
  rg_opt->add_option("NAME", rg_name)->required();
  drbd_options_leaf(rg_opt, &rg_drbd, &rg_name, "resource-groups");

  // ---- volume-group ----
  CLI::App* vg = group("volume-group", "Volume groups", {"vg"});
  std::string vg_rg;
  std::optional<int> vg_nr;
  bool vg_gross = false;
  auto* vg_create = sub(vg, "create", "Create a volume group", {"c"});
  vg_create->add_option("GROUP", vg_rg)->required();
  vg_create->add_option("--vlmnr", vg_nr, "Volume number");
  vg_create->add_flag("--gross", vg_gross, "Sizes are gross sizes");
  leaf(vg_create, [&] {
    json::object body;
    if (vg_nr) body["volume_number"] = *vg_nr;
    if (vg_gross) body["flags"] = json::array{"GROSS_SIZE"};
    return ctx.Mutate("POST", "/v1/resource-groups/" + Pct(vg_rg) + "/volume-groups", body);
  });
  auto* vg_list = sub(vg, "list", "List the volume groups of a resource group", {"l", "ls"});
  vg_list->add_option("GROUP", vg_rg)->required();
  leaf(vg_list, [&] {
    return ctx.List("/v1/resource-groups/" + Pct(vg_rg) + "/volume-groups", {"VolumeNr", "Flags"},
                    [](const json::value& v, auto* rows) {
                      rows->push_back({GetPath(v, {"volume_number"}), GetPath(v, {"flags"})});
                    });
  });
  int vg_del_nr = 0;
  auto* vg_delete = sub(vg, "delete", "Delete a volume group", {"d", "del"});
  vg_delete->add_option("GROUP", vg_rg)->required();
  vg_delete->add_option("VOLUME_NR", vg_del_nr)->required();
  leaf(vg_delete, [&] {
    return ctx.Mutate(
        "DELETE",
        "/v1/resource-groups/" + Pct(vg_rg) + "/volume-groups/" + std::to_string(vg_del_nr),
        json::object{});
  });
  std::string vg_key;
  std::optional<std::string> vg_value;
  auto* vg_sp = sub(vg, "set-property", "Set (or delete) a volume group property", {"sp"});
  vg_sp->add_option("GROUP", vg_rg)->required();
  vg_sp->add_option("VOLUME_NR", vg_del_nr)->required();
  vg_sp->add_option("KEY", vg_key)->required();
  vg_sp->add_option("VALUE", vg_value);
  leaf(vg_sp, [&] {
    return ctx.Mutate(
        "PUT", "/v1/resource-groups/" + Pct(vg_rg) + "/volume-groups/" + std::to_string(vg_del_nr),
        PropsBody(vg_key, vg_value));
  });
  auto* vg_lp = sub(vg, "list-properties", "List the properties of a volume group", {"lp"});
  vg_lp->add_option("GROUP", vg_rg)->required();
  vg_lp->add_option("VOLUME_NR", vg_del_nr)->required();
  leaf(vg_lp, [&] {
    return ctx.List(
        "/v1/resource-groups/" + Pct(vg_rg) + "/volume-groups/" + std::to_string(vg_del_nr),
        {"Key", "Value"}, PropsRows);
  });

  // ---- resource-definition ----
  CLI::App* rd = group("resource-definition", "Resource definitions", {"rd"});
  std::string rd_name, rd_rg;
  std::optional<int> rd_port, rd_peer_slots;
  std::vector<std::string> rd_layers;
  auto* rd_create = sub(rd, "create", "Create a resource definition", {"c"});
  rd_create->add_option("NAME", rd_name)->required();
  rd_create->add_option("--port", rd_port, "TCP port (allocated when omitted)");
  rd_create->add_option("--resource-group", rd_rg, "Resource group (DfltRscGrp)");
  rd_create->add_option("--layer-list,-l", rd_layers, "Layer stack, e.g. drbd,storage")
      ->delimiter(',');
  rd_create->add_option("--peer-slots", rd_peer_slots, "DRBD peer slots");
  leaf(rd_create, [&] {
    json::object def{{"name", rd_name}};
    if (!rd_rg.empty()) def["resource_group_name"] = rd_rg;
    if (!rd_layers.empty()) {
      json::array layers;
      for (const auto& l : rd_layers) layers.push_back(json::object{{"type", l}});
      def["layer_data"] = std::move(layers);
    }
    json::object body{{"resource_definition", std::move(def)}};
    if (rd_port) body["drbd_port"] = *rd_port;
    if (rd_peer_slots) body["drbd_peer_slots"] = *rd_peer_slots;
    return ctx.Mutate("POST", "/v1/resource-definitions", body);
  });
  std::vector<std::string> rd_filter;
  auto* rd_list = sub(rd, "list", "List resource definitions", {"l", "ls"});
  rd_list->add_option("--resource-definitions,-r", rd_filter, "Only these");
  leaf(rd_list, [&] {
    return ctx.List(
        "/v1/resource-definitions" + Query({{"resource_definitions", rd_filter}}),
        {"ResourceName", "Port", "ResourceGroup", "Layers", "State"},
        [](const json::value& v, auto* rows) {
          std::vector<std::string> layers;
          std::string port;
          if (const auto* ld = v.as_object().if_contains("layer_data"); ld && ld->is_array()) {
            for (const auto& l : ld->as_array()) {
              layers.push_back(GetPath(l, {"type"}));
              if (GetPath(l, {"type"}) == "DRBD") port = GetPath(l, {"data", "port"});
            }
          }
          rows->push_back({GetPath(v, {"name"}), port, GetPath(v, {"resource_group_name"}),
                           Join(layers, ","), "ok"});
        });
  });
  auto* rd_delete =
      sub(rd, "delete", "Delete a resource definition and its resources", {"d", "del"});
  rd_delete->add_option("NAME", rd_name)->required();
  leaf(rd_delete, [&] {
    return ctx.Mutate("DELETE", "/v1/resource-definitions/" + Pct(rd_name), json::object{});
  });
  std::optional<std::string> rdm_rg;
  std::optional<int> rdm_peer_slots;
  auto* rd_modify = sub(rd, "modify", "Change the group or peer slots of a definition", {"m"});
  rd_modify->add_option("NAME", rd_name)->required();
  rd_modify->add_option("--resource-group", rdm_rg, "Move to this resource group");
  rd_modify->add_option("--peer-slots", rdm_peer_slots, "DRBD peer slots");
  leaf(rd_modify, [&] {
    json::object body;
    if (rdm_rg) body["resource_group"] = *rdm_rg;
    if (rdm_peer_slots) body["drbd_peer_slots"] = *rdm_peer_slots;
    return ctx.Mutate("PUT", "/v1/resource-definitions/" + Pct(rd_name), body);
  });
  std::string rd_key;
  std::optional<std::string> rd_value;
  auto* rd_sp = sub(rd, "set-property", "Set (or delete) a resource definition property", {"sp"});
  rd_sp->add_option("NAME", rd_name)->required();
  rd_sp->add_option("KEY", rd_key)->required();
  rd_sp->add_option("VALUE", rd_value);
  leaf(rd_sp, [&] {
    return ctx.Mutate("PUT", "/v1/resource-definitions/" + Pct(rd_name),
                      PropsBody(rd_key, rd_value));
  });
  auto* rd_lp = sub(rd, "list-properties", "List the properties of a resource definition", {"lp"});
  rd_lp->add_option("NAME", rd_name)->required();
  leaf(rd_lp, [&] {
    return ctx.List("/v1/resource-definitions/" + Pct(rd_name), {"Key", "Value"}, PropsRows);
  });
  DrbdOptionArgs rd_drbd;
  auto* rd_opt =
      sub(rd, "drbd-options", "Set or unset DRBD options of a resource definition", {"opt"});
  rd_opt->add_option("NAME", rd_name)->required();
  drbd_options_leaf(rd_opt, &rd_drbd, &rd_name, "resource-definitions");

  // ---- volume-definition ----
  CLI::App* vd = group("volume-definition", "Volume definitions", {"vd"});
  std::string vd_rd, vd_size, vd_pool;
  std::optional<int> vd_nr, vd_minor;
  auto* vd_create = sub(vd, "create", "Create a volume definition", {"c"});
  vd_create->add_option("RESOURCE", vd_rd)->required();
  vd_create->add_option("SIZE", vd_size, "Size (a bare number is GiB)")->required();
  vd_create->add_option("--vlmnr", vd_nr, "Volume number");
  vd_create->add_option("--minor", vd_minor, "DRBD minor number");
  vd_create->add_option("--storage-pool,-s", vd_pool, "Storage pool for this volume");
  leaf(vd_create, [&] {
    auto kib = ParseSizeKib(vd_size);
    if (!kib.ok()) {
      err << "ERROR: " << kib.error().message << "\n";
      return kExitBadValue;
    }
    json::object def{{"size_kib", *kib}, {"flags", json::array{}}};
    if (vd_nr) def["volume_number"] = *vd_nr;
    if (!vd_pool.empty()) def["props"] = json::object{{"StorPoolName", vd_pool}};
    json::object body{{"volume_definition", std::move(def)}};
    if (vd_minor) body["drbd_minor_number"] = *vd_minor;
    return ctx.Mutate("POST", "/v1/resource-definitions/" + Pct(vd_rd) + "/volume-definitions",
                      body);
  });
  leaf(sub(vd, "list", "List volume definitions", {"l", "ls"}), [&] {
    return ctx.List(
        "/v1/resource-definitions?with_volume_definitions=true",
        {"ResourceName", "VolumeNr", "VolumeMinor", "Size", "Gross", "State"},
        [](const json::value& v, auto* rows) {
          const auto* vds = v.as_object().if_contains("volume_definitions");
          if (!vds || !vds->is_array()) return;
          for (const auto& d : vds->as_array()) {
            std::string flags = GetPath(d, {"flags"});
            rows->push_back({GetPath(v, {"name"}), GetPath(d, {"volume_number"}),
                             GetPath(d, {"layer_data"}).empty()
                                 ? ""
                                 : Str(d.as_object()
                                           .at("layer_data")
                                           .as_array()[0]
                                           .as_object()
                                           .at("data")
                                           .as_object()
                                           .if_contains("minor_number")),
                             FormatKib(std::atoll(GetPath(d, {"size_kib"}).c_str())),
                             flags.find("GROSS_SIZE") != std::string::npos ? "yes" : "", "ok"});
          }
        });
  });
  int vd_set_nr = 0;
  auto* vd_size_cmd = sub(vd, "set-size", "Change the size of a volume definition", {"size"});
  vd_size_cmd->add_option("RESOURCE", vd_rd)->required();
  vd_size_cmd->add_option("VOLUME_NR", vd_set_nr)->required();
  vd_size_cmd->add_option("SIZE", vd_size)->required();
  leaf(vd_size_cmd, [&] {
    auto kib = ParseSizeKib(vd_size);
    if (!kib.ok()) {
      err << "ERROR: " << kib.error().message << "\n";
      return kExitBadValue;
    }
    return ctx.Mutate("PUT",
                      "/v1/resource-definitions/" + Pct(vd_rd) + "/volume-definitions/" +
                          std::to_string(vd_set_nr),
                      json::object{{"size_kib", *kib}});
  });
  auto* vd_delete = sub(vd, "delete", "Delete a volume definition", {"d", "del"});
  vd_delete->add_option("RESOURCE", vd_rd)->required();
  vd_delete->add_option("VOLUME_NR", vd_set_nr)->required();
  leaf(vd_delete, [&] {
    return ctx.Mutate("DELETE",
                      "/v1/resource-definitions/" + Pct(vd_rd) + "/volume-definitions/" +
                          std::to_string(vd_set_nr),
                      json::object{});
  });
  std::string vd_key;
  std::optional<std::string> vd_value;
  auto* vd_sp = sub(vd, "set-property", "Set (or delete) a volume definition property", {"sp"});
  vd_sp->add_option("RESOURCE", vd_rd)->required();
  vd_sp->add_option("VOLUME_NR", vd_set_nr)->required();
  vd_sp->add_option("KEY", vd_key)->required();
  vd_sp->add_option("VALUE", vd_value);
  leaf(vd_sp, [&] {
    return ctx.Mutate("PUT",
                      "/v1/resource-definitions/" + Pct(vd_rd) + "/volume-definitions/" +
                          std::to_string(vd_set_nr),
                      PropsBody(vd_key, vd_value));
  });
  auto* vd_lp = sub(vd, "list-properties", "List the properties of a volume definition", {"lp"});
  vd_lp->add_option("RESOURCE", vd_rd)->required();
  vd_lp->add_option("VOLUME_NR", vd_set_nr)->required();
  leaf(vd_lp, [&] {
    return ctx.List("/v1/resource-definitions/" + Pct(vd_rd) + "/volume-definitions/" +
                        std::to_string(vd_set_nr),
                    {"Key", "Value"}, PropsRows);
  });

  // ---- resource ----
  CLI::App* r = group("resource", "Resources (replicas)", {"r"});
  std::vector<std::string> r_args;
  std::string r_pool, r_auto;
  bool r_diskless = false, r_drbd_diskless = false, r_keep_tb = false;
  FilterOptions r_filter;
  auto* r_create = sub(r, "create", "Create a resource on named nodes, or --auto-place N", {"c"});
  r_create
      ->add_option("NODE_AND_RESOURCE", r_args, "NODE... RESOURCE, or RESOURCE with --auto-place")
      ->required();
  r_create->add_option("--auto-place", r_auto, "Number of replicas, +N for N more, or 'max'");
  r_create->add_flag("--diskless,-d", r_diskless, "Diskless");
  r_create->add_flag("--drbd-diskless", r_drbd_diskless, "DRBD diskless client");
  r_filter.Add(r_create);
  leaf(r_create, [&] {
    std::string res = r_args.back();
    std::vector<std::string> nodes(r_args.begin(), r_args.end() - 1);
    if (!r_auto.empty()) {
      if (!nodes.empty()) {
        err << "ERROR: with --auto-place give only the resource name\n";
        return kExitUsage;
      }
      json::object f;
      std::string n = r_auto;
      bool plus = !n.empty() && n[0] == '+';
      if (plus) n = n.substr(1);
      if (Lower(n) == "max" || Lower(n) == "all") {
        f["place_count"] = -1;
        f["additional_place_count"] = 0;
      } else {
        char* end = nullptr;
        long count = std::strtol(n.c_str(), &end, 10);
        if (n.empty() || *end != '\0' || count < 1 || count > 32) {
          err << "ERROR: --auto-place needs a count 1-32, +N or max, not '" << r_auto << "'\n";
          return kExitBadValue;
        }
        f[plus ? "additional_place_count" : "place_count"] = count;
      }
      Status s = r_filter.Fill(&f);
      if (!s.ok()) {
        err << "ERROR: " << s.error().message << "\n";
        return kExitBadValue;
      }
      if (r_drbd_diskless || r_diskless) f["diskless_type"] = "DRBD_DISKLESS";
      json::object body{{"diskless_on_remaining",
                         r_filter.diskless_on_remaining ? json::value(true) : json::value(nullptr)},
                        {"select_filter", std::move(f)}};
      return ctx.Mutate("POST", "/v1/resource-definitions/" + Pct(res) + "/autoplace", body);
    }
    if (nodes.empty()) {
      err << "ERROR: give the nodes and the resource (resource create NODE... RESOURCE), or "
             "--auto-place N\n";
      return kExitUsage;
    }
    json::array items;
    for (const auto& n : nodes) {
      json::object rsc{{"node_name", n}};
      if (!r_filter.storage_pools.empty())
        rsc["props"] = json::object{{"StorPoolName", r_filter.storage_pools.front()}};
      if (r_diskless) rsc["flags"] = json::array{"DISKLESS"};
      if (r_drbd_diskless) rsc["flags"] = json::array{"DRBD_DISKLESS"};
      json::object item{{"resource", std::move(rsc)}};
      if (!r_filter.layer_list.empty()) item["layer_list"] = ToArray(r_filter.layer_list);
      items.push_back(std::move(item));
    }
    return ctx.Mutate("POST", "/v1/resource-definitions/" + Pct(res) + "/resources", items);
  });
  std::string ma_node, ma_res;
  bool ma_diskful = false, ma_block = false;
  auto* r_ma = sub(r, "make-available",
                   "Make a resource available on a node (diskless unless --diskful), "
                   "keeping what is there",
                   {"ma"});
  r_ma->add_option("NODE", ma_node)->required();
  r_ma->add_option("RESOURCE", ma_res)->required();
  r_ma->add_flag("--diskful", ma_diskful, "Put a replica with a disk there");
  r_ma->add_flag(
      "--block-device", ma_block,
      "Also a loop device there (/dev/tandem/by-res/RESOURCE/VNR; needs tandemd --fuse)");
  leaf(r_ma, [&] {
    json::object body{{"diskful", ma_diskful}};
    if (ma_block) body["block_device"] = true;
    return ctx.Mutate("POST",
                      "/v1/resource-definitions/" + Pct(ma_res) + "/resources/" + Pct(ma_node) +
                          "/make-available",
                      body);
  });
  std::vector<std::string> r_nodes, r_res;
  auto rsc_rows = [](const json::value& v, auto* rows) {
    std::string port = GetPath(v, {"layer_object", "drbd", "drbd_resource_definition", "port"});
    rows->push_back({GetPath(v, {"name"}), GetPath(v, {"node_name"}), port, UsageOf(v), ConnsOf(v),
                     ResourceStateOf(v),
                     FormatTime(std::atoll(GetPath(v, {"create_timestamp"}).c_str()))});
  };
  auto* r_list = sub(r, "list", "List resources", {"l", "ls"});
  r_list->add_option("--nodes,-n", r_nodes, "Only these nodes");
  r_list->add_option("--resources,-r", r_res, "Only these resources");
  leaf(r_list, [&] {
    return ctx.List("/v1/view/resources" + Query({{"nodes", r_nodes}, {"resources", r_res}}),
                    {"ResourceName", "Node", "Port", "Usage", "Conns", "State", "CreatedOn"},
                    rsc_rows);
  });
  auto volume_rows = [](const json::value& v, auto* rows) {
    const auto* vols = v.as_object().if_contains("volumes");
    if (!vols || !vols->is_array()) return;
    for (const auto& vol : vols->as_array()) {
      std::string minor;
      if (const auto* l = vol.as_object().if_contains("layer_data_list");
          l && l->is_array() && !l->as_array().empty()) {
        minor = GetPath(l->as_array()[0], {"data", "drbd_volume_definition", "minor_number"});
      }
      rows->push_back({GetPath(v, {"node_name"}), GetPath(v, {"name"}),
                       GetPath(vol, {"storage_pool_name"}), GetPath(vol, {"volume_number"}), minor,
                       GetPath(vol, {"device_path"}),
                       FormatKib(std::atoll(GetPath(vol, {"allocated_size_kib"}).c_str())),
                       GetPath(v, {"state", "in_use"}) == "true" ? "InUse" : "Unused",
                       GetPath(vol, {"state", "disk_state"})});
    }
  };
  const std::vector<std::string> volume_header = {"Node",      "Resource", "StoragePool",
                                                  "VolNr",     "MinorNr",  "DeviceName",
                                                  "Allocated", "InUse",    "State"};
  auto* r_lv = sub(r, "list-volumes", "List volumes", {"lv"});
  r_lv->add_option("--nodes,-n", r_nodes, "Only these nodes");
  r_lv->add_option("--resources,-r", r_res, "Only these resources");
  leaf(r_lv, [&] {
    return ctx.List("/v1/view/resources" + Query({{"nodes", r_nodes}, {"resources", r_res}}),
                    volume_header, volume_rows);
  });
  auto* r_delete = sub(r, "delete", "Delete resources from nodes", {"d", "del"});
  r_delete->add_option("NODE_AND_RESOURCE", r_args, "NODE... RESOURCE")
      ->required()
      ->expected(2, -1);
  r_delete->add_flag("--keep-tiebreaker", r_keep_tb,
                     "Keep a needed diskless resource as tiebreaker");
  leaf(r_delete, [&] {
    std::string res = r_args.back();
    int code = kExitOk;
    for (size_t i = 0; i + 1 < r_args.size(); ++i) {
      std::string target = "/v1/resource-definitions/" + Pct(res) + "/resources/" + Pct(r_args[i]);
      if (r_keep_tb) target += "?keep_tiebreaker=True";
      code = std::max(code, ctx.Mutate("DELETE", target, json::object{}));
    }
    return code;
  });
  std::string rsp_node, rsp_res, rsp_key;
  std::optional<std::string> rsp_value;
  auto* r_sp = sub(r, "set-property", "Set (or delete) a resource property", {"sp"});
  r_sp->add_option("NODE", rsp_node)->required();
  r_sp->add_option("RESOURCE", rsp_res)->required();
  r_sp->add_option("KEY", rsp_key)->required();
  r_sp->add_option("VALUE", rsp_value);
  leaf(r_sp, [&] {
    return ctx.Mutate("PUT",
                      "/v1/resource-definitions/" + Pct(rsp_res) + "/resources/" + Pct(rsp_node),
                      PropsBody(rsp_key, rsp_value));
  });
  CLI::App* v = group("volume", "Volumes", {"v"});
  auto* v_list = sub(v, "list", "List volumes", {"l", "ls"});
  v_list->add_option("--nodes,-n", r_nodes, "Only these nodes");
  v_list->add_option("--resources,-r", r_res, "Only these resources");
  leaf(v_list, [&] {
    return ctx.List("/v1/view/resources" + Query({{"nodes", r_nodes}, {"resources", r_res}}),
                    volume_header, volume_rows);
  });

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    // --help: CLI11 prints the help of the subcommand it was given to.
    if (e.get_exit_code() == 0) return app.exit(e, out, err);
    app.exit(e, out, err);
    return kExitUsage;
  }
  if (!action) {
    err << "ERROR: incomplete command; see tandem --help\n";
    return kExitUsage;
  }

  // Controllers: --controllers first, then the environment.
  std::vector<std::string> entries;
  auto add_list = [&](const std::string& list) {
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (!item.empty()) entries.push_back(item);
    }
  };
  add_list(controllers);
  if (const char* env = std::getenv("TANDEM_CONTROLLERS")) add_list(env);
  if (const char* env = std::getenv("LS_CONTROLLERS")) add_list(env);
  if (entries.empty()) entries.push_back("localhost:3370");
  for (const auto& e : entries) {
    auto ep = ParseEndpoint(e);
    if (!ep.ok()) {
      err << "ERROR: " << ep.error().message << "\n";
      return kExitUsage;
    }
    ctx.controllers.push_back(*ep);
  }
  return action();
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return Run(args, std::cout, std::cerr);
}

}  // namespace tandem::cli
