// The meaning of the statement tree: sections, options, hosts and volumes,
// then resolution (common defaults, implicit volume 0, node ids) and checks.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>

#include "adm/internal/res_options.h"
#include "adm/internal/res_syntax.h"
#include "adm/res_config.h"

namespace tandem::adm {
namespace {

using internal::Node;
using internal::SectionBit;
using internal::Word;

constexpr int kMaxMinor = (1 << 20) - 1;
constexpr int kMaxVolumeNr = 65534;

const char* const kStartupOptions[] = {"become-primary-on",    "wfc-timeout",   "degr-wfc-timeout",
                                       "outdated-wfc-timeout", "wait-after-sb", "stacked-timeouts"};

std::string Q(std::string_view s) { return "'" + std::string(s) + "'"; }

bool ParseDecimal(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 12) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

bool ValidName(std::string_view s) {
  if (s.empty() || s[0] == '-' || s.size() > 255) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != '+')
      return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ValidIpv4(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  while (true) {
    size_t j = i;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    uint64_t v = 0;
    if (j == i || j - i > 3 || !ParseDecimal(s.substr(i, j - i), 255, &v)) return false;
    ++parts;
    if (j == s.size()) return parts == 4;
    if (s[j] != '.' || parts == 4) return false;
    i = j + 1;
  }
}

bool ValidIpv6(std::string_view s) {
  if (s.empty() || s.find(':') == std::string_view::npos) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
  }
  return true;
}

// One volume being built, with the line it came from.
struct VolumeDraft {
  VolumeConfig v;
  int line = 0;
};

struct HostDraft {
  HostConfig h;
  bool address_given = false;
  VolumeDraft direct;  // device/disk/meta-disk outside a volume block
  bool has_direct = false;
  std::vector<VolumeDraft> volumes;
};

// Turns the statement tree of one file into resources. Single use.
class Builder {
 public:
  explicit Builder(std::string_view file) : file_(file) {}

  Result<ResFile> Build(const std::vector<Node>& top) {
    ResFile out;
    const Node* common = nullptr;
    for (const Node& n : top) {
      const std::string& kw = n.keyword.text;
      if (kw == "common") {
        if (!n.is_block || !n.args.empty()) return Fail(n.line(), "expected 'common {'");
        if (common != nullptr) {
          return Fail(n.line(), "duplicate common section (first at line " +
                                    std::to_string(common->line()) + ")");
        }
        common = &n;
      } else if (kw == "global") {
        if (!n.is_block || !n.args.empty()) return Fail(n.line(), "expected 'global {'");
        for (const Node& g : n.children) {
          if (g.is_block)
            return Fail(g.line(), "unexpected section " + Q(g.keyword.text) + " in global");
          out.global.push_back(ToSetting(g));
        }
      } else if (kw == "resource" || kw == "skip") {
        if (!n.is_block) return Fail(n.line(), "expected '" + kw + " ... {'");
      } else if (kw == "include") {
        return Fail(n.line(), "include is not supported; load the resource files or directory");
      } else {
        return Fail(n.line(), "unknown top-level keyword " + Q(kw));
      }
    }
    if (common != nullptr) TANDEM_TRY(CheckCommon(*common));
    std::map<std::string, int> seen;
    for (const Node& n : top) {
      if (n.keyword.text != "resource") continue;
      auto res = BuildResource(n, common);
      if (!res.ok()) return res.error();
      auto [it, fresh] = seen.emplace(res->name, n.line());
      if (!fresh) {
        return Fail(n.line(), "resource " + Q(res->name) + " is already defined at line " +
                                  std::to_string(it->second));
      }
      out.resources.push_back(std::move(*res));
    }
    return out;
  }

 private:
  Error Fail(int line, const std::string& message) const {
    return MakeError(Errc::kInvalidArgument, file_ + ":" + std::to_string(line) + ": " + message);
  }

  static Setting ToSetting(const Node& n) {
    Setting s;
    s.key = n.keyword.text;
    for (const Word& w : n.args) s.values.push_back(w.text);
    return s;
  }

  // Replaces an earlier setting with the same key (so a resource overrides common).
  static void Put(std::vector<Setting>* list, Setting s) {
    for (auto& e : *list) {
      if (e.key == s.key) {
        e = std::move(s);
        return;
      }
    }
    list->push_back(std::move(s));
  }

  Status NeedBlock(const Node& n, size_t args) const {
    if (!n.is_block) return Fail(n.line(), "expected '" + n.keyword.text + " {'");
    if (n.args.size() != args) {
      return Fail(n.line(), "unexpected argument " + Q(n.args.empty() ? "" : n.args.back().text) +
                                " for section " + Q(n.keyword.text));
    }
    return {};
  }

  Status NeedStatement(const Node& n) const {
    if (n.is_block) return Fail(n.line(), "unexpected section " + Q(n.keyword.text));
    return {};
  }

  // One statement of net/disk/options/syncer (or `protocol` at resource level).
  Status ApplyOption(ResResource& res, const Node& n, SectionBit section) {
    TANDEM_TRY(NeedStatement(n));
    bool elsewhere = false;
    const auto* def = internal::FindOption(n.keyword.text, section, &elsewhere);
    if (def == nullptr) {
      std::string msg = "unknown option " + Q(n.keyword.text) + " in " +
                        internal::SectionName(section) + " section";
      if (elsewhere) msg += " (it belongs to another section)";
      return Fail(n.line(), msg);
    }
    for (const Word& w : n.args) {
      if (w.text.empty()) return Fail(n.line(), "empty value for " + Q(n.keyword.text));
    }
    if (def->apply == nullptr) {
      Setting s = ToSetting(n);
      s.key = std::string(internal::SectionName(section)) + "." + s.key;
      Put(&res.ignored, std::move(s));
      return {};
    }
    const std::string err = def->apply(res, n.keyword.text, n.args);
    if (!err.empty()) return Fail(n.line(), err);
    return {};
  }

  Status ApplySection(ResResource& res, const Node& n, SectionBit section) {
    TANDEM_TRY(NeedBlock(n, 0));
    for (const Node& c : n.children) TANDEM_TRY(ApplyOption(res, c, section));
    return {};
  }

  Status ApplyStartup(ResResource& res, const Node& n) {
    TANDEM_TRY(NeedBlock(n, 0));
    for (const Node& c : n.children) {
      TANDEM_TRY(NeedStatement(c));
      const auto& known = kStartupOptions;
      if (std::find(std::begin(known), std::end(known), c.keyword.text) == std::end(known)) {
        return Fail(c.line(), "unknown option " + Q(c.keyword.text) + " in startup section");
      }
      Put(&res.startup, ToSetting(c));
    }
    return {};
  }

  Status ApplyHandlers(ResResource& res, const Node& n) {
    TANDEM_TRY(NeedBlock(n, 0));
    for (const Node& c : n.children) {
      TANDEM_TRY(NeedStatement(c));
      if (c.args.size() != 1 || c.args[0].text.empty()) {
        return Fail(c.line(), "handler " + Q(c.keyword.text) + " takes one command string");
      }
      Put(&res.handlers, ToSetting(c));
    }
    return {};
  }

  // Sections shared by `common` and `resource`. Returns true in *handled when
  // `n` was one of them.
  Status ApplyShared(ResResource& res, const Node& n, bool* handled) {
    *handled = true;
    const std::string& kw = n.keyword.text;
    if (kw == "net") return ApplySection(res, n, internal::kNetSection);
    if (kw == "disk" && n.is_block) return ApplySection(res, n, internal::kDiskSection);
    if (kw == "options") return ApplySection(res, n, internal::kOptionsSection);
    if (kw == "syncer") return ApplySection(res, n, internal::kSyncerSection);
    if (kw == "startup") return ApplyStartup(res, n);
    if (kw == "handlers") return ApplyHandlers(res, n);
    if (kw == "protocol") return ApplyOption(res, n, internal::kResourceLevel);
    *handled = false;
    return {};
  }

  Status CheckCommon(const Node& common) {
    ResResource scratch;
    for (const Node& c : common.children) {
      bool handled = false;
      TANDEM_TRY(ApplyShared(scratch, c, &handled));
      if (!handled)
        return Fail(c.line(), Q(c.keyword.text) + " is not allowed in the common section");
    }
    return {};
  }

  // device/disk/meta-disk statements; *handled false for any other keyword.
  Status ApplyVolumeField(VolumeDraft* d, const Node& n, bool* handled) {
    const std::string& kw = n.keyword.text;
    *handled = true;
    if (kw == "device") {
      TANDEM_TRY(NeedStatement(n));
      Device dev;
      size_t i = 0;
      if (i < n.args.size() && n.args[i].text != "minor") {
        dev.path = n.args[i].text;
        if (dev.path.empty() || dev.path[0] != '/') {
          return Fail(n.line(), "device must be an absolute path or 'minor N', got " + Q(dev.path));
        }
        ++i;
      }
      if (i < n.args.size() && n.args[i].text == "minor") {
        uint64_t m = 0;
        if (i + 1 >= n.args.size() || !ParseDecimal(n.args[i + 1].text, kMaxMinor, &m)) {
          return Fail(n.line(), "device minor must be 0.." + std::to_string(kMaxMinor));
        }
        dev.minor = static_cast<int>(m);
        i += 2;
      }
      if (i != n.args.size() || dev.Empty()) {
        return Fail(n.line(), "expected 'device PATH', 'device minor N' or 'device PATH minor N'");
      }
      d->v.device = dev;
    } else if (kw == "disk" && !n.is_block) {
      if (n.args.size() != 1 || (n.args[0].text != "none" && n.args[0].text.substr(0, 1) != "/")) {
        return Fail(n.line(), "disk must be an absolute path or 'none'");
      }
      d->v.disk = n.args[0].text;
    } else if (kw == "meta-disk") {
      TANDEM_TRY(NeedStatement(n));
      if (n.args.size() != 1)
        return Fail(n.line(), "meta-disk takes one value ('internal' or a path)");
      const std::string& v = n.args[0].text;
      if (v == "internal") {
        d->v.meta_disk = MetaDisk{};
      } else if (!v.empty() && v[0] == '/') {
        d->v.meta_disk = MetaDisk{false, v};
      } else {
        return Fail(n.line(), "meta-disk must be 'internal' or an absolute path, got " + Q(v));
      }
      d->v.meta_disk_given = true;
    } else {
      *handled = false;
    }
    return {};
  }

  Status ParseVolume(const Node& n, std::vector<VolumeDraft>* out, const std::string& owner) {
    if (!n.is_block || n.args.size() != 1) return Fail(n.line(), "expected 'volume N {'");
    uint64_t vnr = 0;
    if (!ParseDecimal(n.args[0].text, kMaxVolumeNr, &vnr)) {
      return Fail(n.line(), "volume number must be 0.." + std::to_string(kMaxVolumeNr) + ", got " +
                                Q(n.args[0].text));
    }
    for (const auto& e : *out) {
      if (e.v.vnr.value() == vnr) {
        return Fail(n.line(), "volume " + std::to_string(vnr) + " is defined twice in " + owner +
                                  " (first at line " + std::to_string(e.line) + ")");
      }
    }
    VolumeDraft d;
    d.v.vnr = VolumeNr(static_cast<uint16_t>(vnr));
    d.line = n.line();
    for (const Node& c : n.children) {
      bool handled = false;
      if (c.keyword.text == "disk" && c.is_block) {
        return Fail(c.line(),
                    "per-volume disk options are not supported; put them in the "
                    "resource's disk section");
      }
      TANDEM_TRY(ApplyVolumeField(&d, c, &handled));
      if (!handled)
        return Fail(c.line(), "unknown keyword " + Q(c.keyword.text) + " in volume section");
    }
    out->push_back(std::move(d));
    return {};
  }

  Result<Address> ParseAddress(const Node& n, size_t first) const {
    const size_t left = n.args.size() - std::min(first, n.args.size());
    if (left != 1 && left != 2) return Fail(n.line(), "expected 'address [ipv4|ipv6] HOST:PORT'");
    Address a;
    std::string text = n.args[first].text;
    if (left == 2) {
      a.family = n.args[first].text;
      text = n.args[first + 1].text;
      if (a.family != "ipv4" && a.family != "ipv6") {
        return Fail(n.line(), "address family " + Q(a.family) + " is not supported (ipv4 or ipv6)");
      }
    } else if (!text.empty() && text[0] == '[') {
      a.family = "ipv6";
    }
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return Fail(n.line(), "address " + Q(text) + " has no port");
    std::string host = text.substr(0, colon);
    uint64_t port = 0;
    if (!ParseDecimal(text.substr(colon + 1), 65535, &port) || port == 0) {
      return Fail(n.line(), "invalid port in address " + Q(text) + " (1..65535)");
    }
    if (a.family == "ipv6") {
      if (host.size() < 2 || host.front() != '[' || host.back() != ']' ||
          !ValidIpv6(host.substr(1, host.size() - 2))) {
        return Fail(n.line(), "invalid IPv6 address " + Q(text) + " (expected [ADDR]:PORT)");
      }
      host = host.substr(1, host.size() - 2);
    } else if (!ValidIpv4(host)) {
      return Fail(n.line(), "invalid IPv4 address " + Q(text));
    }
    a.host = host;
    a.port = static_cast<uint16_t>(port);
    return a;
  }

  Status ParseOn(const Node& n, std::vector<HostDraft>* hosts) {
    if (!n.is_block || n.args.size() != 1) return Fail(n.line(), "expected 'on HOSTNAME {'");
    HostDraft d;
    d.h.name = n.args[0].text;
    d.h.where = {file_, n.line()};
    if (!ValidName(d.h.name)) return Fail(n.line(), "invalid host name " + Q(d.h.name));
    for (const auto& e : *hosts) {
      if (Lower(e.h.name) == Lower(d.h.name)) {
        return Fail(n.line(), "host " + Q(d.h.name) + " is defined twice (first at line " +
                                  std::to_string(e.h.where.line) + ")");
      }
    }
    d.direct.v.vnr = VolumeNr(0);
    const std::string owner = "host " + Q(d.h.name);
    for (const Node& c : n.children) {
      const std::string& kw = c.keyword.text;
      bool handled = false;
      if (kw == "node-id") {
        TANDEM_TRY(NeedStatement(c));
        uint64_t id = 0;
        if (c.args.size() != 1 || !ParseDecimal(c.args[0].text, kMaxNodes - 1, &id)) {
          return Fail(c.line(), "node-id must be 0.." + std::to_string(kMaxNodes - 1) + ", got " +
                                    Q(c.args.empty() ? "" : c.args[0].text));
        }
        d.h.node_id = NodeId(static_cast<uint8_t>(id));
        d.h.node_id_given = true;
      } else if (kw == "address") {
        TANDEM_TRY(NeedStatement(c));
        auto a = ParseAddress(c, 0);
        if (!a.ok()) return a.error();
        d.h.address = *a;
        d.address_given = true;
      } else if (kw == "volume") {
        TANDEM_TRY(ParseVolume(c, &d.volumes, owner));
      } else {
        TANDEM_TRY(ApplyVolumeField(&d.direct, c, &handled));
        if (!handled) return Fail(c.line(), "unknown keyword " + Q(kw) + " in 'on' section");
        if (!d.has_direct) d.direct.line = c.line();
        d.has_direct = true;
      }
    }
    if (!d.address_given) return Fail(n.line(), "host " + Q(d.h.name) + " has no address");
    hosts->push_back(std::move(d));
    return {};
  }

  Status ParseMesh(ResResource& res, const Node& n) {
    TANDEM_TRY(NeedBlock(n, 0));
    if (!res.mesh_hosts.empty()) return Fail(n.line(), "duplicate connection-mesh section");
    bool any = false;
    for (const Node& c : n.children) {
      if (c.keyword.text == "hosts" && !c.is_block) {
        if (c.args.size() < 2) return Fail(c.line(), "connection-mesh needs at least two hosts");
        for (const Word& w : c.args) {
          for (const auto& h : res.mesh_hosts) {
            if (Lower(h) == Lower(w.text)) {
              return Fail(c.line(), "host " + Q(w.text) + " is listed twice in connection-mesh");
            }
          }
          res.mesh_hosts.push_back(w.text);
        }
        any = true;
      } else if (c.keyword.text == "net") {
        TANDEM_TRY(ApplySection(res, c, internal::kNetSection));
      } else {
        return Fail(c.line(),
                    "unknown keyword " + Q(c.keyword.text) + " in connection-mesh section");
      }
    }
    if (!any) return Fail(n.line(), "connection-mesh has no 'hosts' statement");
    mesh_line_ = n.line();
    return {};
  }

  Status ParseConnection(ResResource& res, const Node& n) {
    TANDEM_TRY(NeedBlock(n, 0));
    ConnectionConfig conn;
    for (const Node& c : n.children) {
      const std::string& kw = c.keyword.text;
      if (kw == "host" && !c.is_block) {
        if (c.args.empty()) return Fail(c.line(), "expected 'host NAME [address ...] [port N]'");
        ConnectionHost h;
        h.name = c.args[0].text;
        size_t i = 1;
        if (i < c.args.size() && c.args[i].text == "address") {
          size_t end = i + 1;
          while (end < c.args.size() && c.args[end].text != "port") ++end;
          Node sub;
          sub.keyword = c.keyword;
          sub.args.assign(c.args.begin() + static_cast<long>(i) + 1,
                          c.args.begin() + static_cast<long>(end));
          auto a = ParseAddress(sub, 0);
          if (!a.ok()) return a.error();
          h.address = *a;
          i = end;
        }
        if (i < c.args.size() && c.args[i].text == "port") {
          uint64_t port = 0;
          if (i + 2 != c.args.size() || !ParseDecimal(c.args[i + 1].text, 65535, &port) ||
              port == 0) {
            return Fail(c.line(), "expected 'host NAME [address ADDR:PORT] [port N]'");
          }
          h.address.port = static_cast<uint16_t>(port);
          i += 2;
        }
        if (i != c.args.size()) {
          return Fail(c.line(), "unexpected " + Q(c.args[i].text) + " in host statement");
        }
        conn.hosts.push_back(h);
      } else if (kw == "net") {
        TANDEM_TRY(NeedBlock(c, 0));
        ResResource scratch;
        for (const Node& o : c.children) {
          TANDEM_TRY(ApplyOption(scratch, o, internal::kNetSection));
          conn.net.push_back(ToSetting(o));
        }
      } else {
        return Fail(c.line(), "unknown keyword " + Q(kw) + " in connection section");
      }
    }
    if (conn.hosts.size() != 2)
      return Fail(n.line(), "a connection needs exactly two 'host' lines");
    if (Lower(conn.hosts[0].name) == Lower(conn.hosts[1].name)) {
      return Fail(n.line(), "a connection needs two different hosts");
    }
    res.connections.push_back(std::move(conn));
    connection_lines_.push_back(n.line());
    return {};
  }

  Result<ResResource> BuildResource(const Node& n, const Node* common) {
    if (n.args.size() != 1) return Fail(n.line(), "expected 'resource NAME {'");
    ResResource res;
    res.name = n.args[0].text;
    res.where = {file_, n.line()};
    if (!ValidName(res.name)) return Fail(n.line(), "invalid resource name " + Q(res.name));
    mesh_line_ = 0;
    connection_lines_.clear();
    if (common != nullptr) {
      for (const Node& c : common->children) {
        bool handled = false;
        TANDEM_TRY(ApplyShared(res, c, &handled));
      }
    }
    std::vector<HostDraft> hosts;
    std::vector<VolumeDraft> volumes;
    VolumeDraft direct;
    bool has_direct = false;
    const std::string owner = "resource " + Q(res.name);
    for (const Node& c : n.children) {
      const std::string& kw = c.keyword.text;
      bool handled = false;
      TANDEM_TRY(ApplyShared(res, c, &handled));
      if (handled) continue;
      if (kw == "on") {
        TANDEM_TRY(ParseOn(c, &hosts));
      } else if (kw == "volume") {
        TANDEM_TRY(ParseVolume(c, &volumes, owner));
      } else if (kw == "connection-mesh") {
        TANDEM_TRY(ParseMesh(res, c));
      } else if (kw == "connection") {
        TANDEM_TRY(ParseConnection(res, c));
      } else if (kw == "skip") {
        if (!c.is_block) return Fail(c.line(), "expected 'skip {'");
      } else if (kw == "floating" || kw == "stacked-on-top-of") {
        return Fail(c.line(), Q(kw) + " sections are not supported");
      } else {
        TANDEM_TRY(ApplyVolumeField(&direct, c, &handled));
        if (!handled) return Fail(c.line(), "unknown keyword " + Q(kw) + " in resource section");
        if (!has_direct) direct.line = c.line();
        has_direct = true;
      }
    }
    TANDEM_TRY(Resolve(res, n.line(), hosts, volumes, direct, has_direct));
    return res;
  }

  Status Resolve(ResResource& res, int line, std::vector<HostDraft>& hosts,
                 std::vector<VolumeDraft>& volumes, VolumeDraft& direct, bool has_direct) {
    const std::string rname = "resource " + Q(res.name);
    if (hosts.empty()) return Fail(line, rname + " has no 'on' sections");
    // Direct values are volume 0.
    if (has_direct) {
      for (const auto& v : volumes) {
        if (v.v.vnr.value() == 0) {
          return Fail(direct.line, rname +
                                       " sets volume 0 values both outside and inside "
                                       "'volume 0' (line " +
                                       std::to_string(v.line) + ")");
        }
      }
      direct.v.vnr = VolumeNr(0);
      volumes.push_back(direct);
    }
    for (auto& h : hosts) {
      if (!h.has_direct) continue;
      for (const auto& v : h.volumes) {
        if (v.v.vnr.value() == 0) {
          return Fail(h.direct.line, "host " + Q(h.h.name) +
                                         " sets volume 0 values both outside "
                                         "and inside 'volume 0' (line " +
                                         std::to_string(v.line) + ")");
        }
      }
      h.volumes.push_back(h.direct);
    }
    std::set<uint16_t> vnrs;
    for (const auto& v : volumes) vnrs.insert(v.v.vnr.value());
    for (const auto& h : hosts) {
      for (const auto& v : h.volumes) vnrs.insert(v.v.vnr.value());
    }
    if (vnrs.empty()) return Fail(line, rname + " defines no volume (no device and disk)");
    for (uint16_t vnr : vnrs) {
      VolumeConfig base;
      base.vnr = VolumeNr(vnr);
      for (const auto& v : volumes) {
        if (v.v.vnr.value() == vnr) base = v.v;
      }
      res.volumes.push_back(base);
    }
    // Node ids: all or none.
    const HostDraft* with_id = nullptr;
    const HostDraft* without_id = nullptr;
    for (const auto& h : hosts) (h.h.node_id_given ? with_id : without_id) = &h;
    if (with_id != nullptr && without_id != nullptr) {
      return Fail(without_id->h.where.line, "host " + Q(without_id->h.name) +
                                                " has no node-id but host " + Q(with_id->h.name) +
                                                " has one (give every host a node-id, or none)");
    }
    if (hosts.size() > static_cast<size_t>(kMaxNodes)) {
      return Fail(hosts[kMaxNodes].h.where.line, rname + " has more than 32 hosts");
    }
    for (size_t i = 0; i < hosts.size(); ++i) {
      HostDraft& h = hosts[i];
      if (!h.h.node_id_given) h.h.node_id = NodeId(static_cast<uint8_t>(i));
      for (size_t j = 0; j < i; ++j) {
        if (hosts[j].h.node_id == h.h.node_id) {
          return Fail(h.h.where.line, "node-id " + std::to_string(h.h.node_id.value()) +
                                          " of host " + Q(h.h.name) + " is already used by host " +
                                          Q(hosts[j].h.name));
        }
        if (hosts[j].h.address == h.h.address) {
          return Fail(h.h.where.line, "address " + h.h.address.ToString() + " of host " +
                                          Q(h.h.name) + " is already used by host " +
                                          Q(hosts[j].h.name));
        }
      }
      // Merge: host values over resource values, per volume.
      for (const auto& base : res.volumes) {
        VolumeConfig v = base;
        for (const auto& hv : h.volumes) {
          if (hv.v.vnr != base.vnr) continue;
          if (!hv.v.device.Empty()) v.device = hv.v.device;
          if (!hv.v.disk.empty()) v.disk = hv.v.disk;
          if (hv.v.meta_disk_given) {
            v.meta_disk = hv.v.meta_disk;
            v.meta_disk_given = true;
          }
        }
        const std::string what = "host " + Q(h.h.name) + " volume " + std::to_string(v.vnr.value());
        if (v.device.Empty()) return Fail(h.h.where.line, what + " has no device");
        if (v.disk.empty()) {
          return Fail(h.h.where.line, what + " has no disk (write 'disk none;' for diskless)");
        }
        for (const auto& other : h.h.volumes) {
          const bool same_minor = v.device.EffectiveMinor() >= 0 &&
                                  v.device.EffectiveMinor() == other.device.EffectiveMinor();
          if (same_minor || v.device.EffectivePath() == other.device.EffectivePath()) {
            return Fail(h.h.where.line, "host " + Q(h.h.name) + " volumes " +
                                            std::to_string(other.vnr.value()) + " and " +
                                            std::to_string(v.vnr.value()) +
                                            " use the same device " + v.device.EffectivePath());
          }
        }
        h.h.volumes.push_back(v);
      }
      res.hosts.push_back(h.h);
    }
    auto known = [&](const std::string& name) {
      for (const auto& h : res.hosts) {
        if (Lower(h.name) == Lower(name)) return true;
      }
      return false;
    };
    for (const auto& m : res.mesh_hosts) {
      if (!known(m)) {
        return Fail(mesh_line_,
                    "connection-mesh host " + Q(m) + " has no 'on' section in " + rname);
      }
    }
    for (size_t i = 0; i < res.connections.size(); ++i) {
      const auto& c = res.connections[i];
      for (const auto& h : c.hosts) {
        if (!known(h.name)) {
          return Fail(connection_lines_[i],
                      "connection host " + Q(h.name) + " has no 'on' section in " + rname);
        }
      }
      for (size_t j = 0; j < i; ++j) {
        const auto& o = res.connections[j];
        auto same = [](const std::string& a, const std::string& b) { return Lower(a) == Lower(b); };
        if ((same(c.hosts[0].name, o.hosts[0].name) && same(c.hosts[1].name, o.hosts[1].name)) ||
            (same(c.hosts[0].name, o.hosts[1].name) && same(c.hosts[1].name, o.hosts[0].name))) {
          return Fail(connection_lines_[i], "connection between " + Q(c.hosts[0].name) + " and " +
                                                Q(c.hosts[1].name) + " is defined twice");
        }
      }
    }
    // Canonical order, so that the order of sections in the input does not matter.
    std::stable_sort(res.ignored.begin(), res.ignored.end(),
                     [](const Setting& a, const Setting& b) { return a.key < b.key; });
    if (const std::string err = res.options.Validate(); !err.empty()) {
      return Fail(line, rname + ": " + err);
    }
    return {};
  }

  std::string file_;
  int mesh_line_ = 0;
  std::vector<int> connection_lines_;
};

}  // namespace

Result<ResFile> ParseResString(std::string_view text, std::string_view file_name) {
  auto tree = internal::ParseSyntax(text, file_name);
  if (!tree.ok()) return tree.error();
  Builder b(file_name);
  return b.Build(*tree);
}

}  // namespace tandem::adm
