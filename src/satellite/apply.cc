#include "satellite/apply.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "adm/res_config.h"
#include "adm/tandemadm.h"
#include "satellite/storage.h"
#include "tandemd/daemon.h"
#include "tandemd/loop_device.h"
#include "tandemd/resource_host.h"

namespace tandem::satellite {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// Where the disk of another node is: this node never opens it.
constexpr const char kRemoteDisk[] = "/dev/tandem/remote-disk";

std::string Quote(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The .res section a DrbdOptions section goes to.
const char* ResSection(const std::string& section) {
  if (section == "net") return "net";
  if (section == "disk" || section == "peer-device") return "disk";
  if (section == "resource") return "options";
  return nullptr;
}

Result<std::string> LocalDisk(const satproto::ResourceDesired& r,
                              const satproto::VolumeDesired& v, const PoolMap& pools) {
  auto it = pools.find(v.pool);
  if (it == pools.end()) {
    return Error{Errc::kNotFound, r.name + "/" + std::to_string(v.vnr) + ": storage pool '" +
                                      v.pool + "' is not defined on this node"};
  }
  Result<Provider> p = ParseProvider(it->second.provider);
  if (!p.ok()) return p.error();
  if (*p == Provider::kDiskless) return std::string("none");
  std::string dir = it->second.Directory();
  if (dir.empty()) {
    return Error{Errc::kInvalidArgument,
                 "storage pool '" + v.pool + "' has no directory (StorDriver/FileDir)"};
  }
  return VolumeFile(dir, r.name, v.vnr);
}

Result<json::object> Call(const std::string& sock, json::object req) {
  Result<json::object> r = tandemd::AdminCall(sock, req);
  if (!r.ok()) return r.error();
  const json::value* ok = r->if_contains("ok");
  if (!ok || !ok->is_bool() || !ok->as_bool()) {
    const json::value* m = r->if_contains("message");
    return Error{Errc::kRefused, m && m->is_string() ? std::string(m->as_string()) : "refused"};
  }
  return r;
}

Status WriteAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return Error{Errc::kIoError, "cannot write " + tmp};
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Error{Errc::kIoError, "cannot rename " + tmp + ": " + ec.message()};
  return {};
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<std::string> RenderResText(const satproto::ResourceDesired& r, const PoolMap& pools,
                                  const std::string& self) {
  if (!r.FindNode(self)) {
    return Error{Errc::kInvalidArgument, r.name + " does not list this node (" + self + ")"};
  }
  std::ostringstream o;
  o << kManagedMarker << "; changes here are overwritten\n";
  o << "resource " << Quote(r.name) << " {\n";
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> sections;
  for (const auto& [section, opts] : r.options) {
    const char* s = ResSection(section);
    if (!s) {
      return Error{Errc::kInvalidArgument,
                   r.name + ": unknown DRBD option section '" + section + "'"};
    }
    for (const auto& [k, v] : opts) sections[s].emplace_back(k, v);
  }
  if (!r.secret.empty()) {
    sections["net"].emplace_back("cram-hmac-alg", "sha256");
    sections["net"].emplace_back("shared-secret", r.secret);
  }
  for (const auto& [s, opts] : sections) {
    o << "  " << s << " {";
    for (const auto& [k, v] : opts) o << " " << k << " " << Quote(v) << ";";
    o << " }\n";
  }
  for (const satproto::NodeRef& n : r.nodes) {
    o << "  on " << Quote(n.name) << " {\n";
    o << "    node-id " << n.node_id << ";\n";
    o << "    address " << n.address << ":" << r.port << ";\n";
    for (const satproto::VolumeDesired& v : r.volumes) {
      std::string disk;
      if (n.name == self) {
        if (r.diskless) {
          disk = "none";
        } else {
          Result<std::string> d = LocalDisk(r, v, pools);
          if (!d.ok()) return d.error();
          disk = *d;
        }
      } else {
        disk = n.diskless ? "none" : kRemoteDisk;
      }
      o << "    volume " << v.vnr << " { device minor " << v.minor << "; disk "
        << (disk == "none" ? disk : Quote(disk)) << "; meta-disk internal; }\n";
    }
    o << "  }\n";
  }
  o << "}\n";
  return o.str();
}

Applier::Applier(std::string root, std::string node)
    : root_(std::move(root)), node_(std::move(node)) {
  tandemd::Paths paths(root_);
  res_dir_ = paths.res_dir();
  admin_socket_ = paths.admin_socket();
}

std::string Applier::ResPath(const std::string& name) const {
  return res_dir_ + "/" + name + ".res";
}

std::vector<std::string> Applier::Managed() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(res_dir_, ec)) {
    if (e.path().extension() != ".res") continue;
    std::ifstream in(e.path());
    std::string first;
    std::getline(in, first);
    if (first.rfind(kManagedMarker, 0) == 0) out.push_back(e.path().stem().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status Applier::Apply(const satproto::ResourceDesired& r, const PoolMap& pools) {
  if (!tandemd::ValidResourceName(r.name)) {
    return Error{Errc::kInvalidArgument, "invalid resource name '" + r.name + "'"};
  }
  std::string path = ResPath(r.name);
  // The administrator's own file wins: never overwrite it.
  if (fs::exists(path) && ReadFile(path).rfind(kManagedMarker, 0) != 0) {
    return Error{Errc::kAlreadyExists,
                 path + " exists and was not written by tandem-satellite; not touching it"};
  }
  Result<std::string> text = RenderResText(r, pools, node_);
  if (!text.ok()) return text.error();
  Result<adm::ResFile> parsed = adm::ParseResString(*text, path);
  if (!parsed.ok()) return parsed.error();  // e.g. an unknown DRBD option
  Result<tandemd::ResourceSpec> spec = adm::SpecFor(parsed->resources.at(0), node_);
  if (!spec.ok()) return spec.error();

  // Backing files: created at their full size; an existing file is never
  // shrunk or recreated. One that is too small grows through tandemd after
  // the adjust (its internal metadata has to move with the end of the file).
  for (const satproto::VolumeDesired& v : r.volumes) {
    const tandemd::VolumeSpec* vs = spec->FindVolume(static_cast<uint16_t>(v.vnr));
    if (!vs || !vs->has_disk()) continue;
    const satproto::PoolDesired& pool = pools.at(v.pool);
    Result<uint64_t> gross =
        GrossBytes(static_cast<uint64_t>(v.size_kib) * 1024, static_cast<uint32_t>(r.peer_slots));
    if (!gross.ok()) return gross.error();
    // Never enlarge a file behind tandemd's back: its internal metadata
    // sits at the old end, and a restart would not find it.
    std::error_code size_ec;
    uint64_t have = fs::file_size(vs->disk, size_ec);
    if (!size_ec && have < *gross) continue;
    Result<EnsureResult> made = EnsureVolumeFile(*ParseProvider(pool.provider), pool.Directory(),
                                                 vs->disk, *gross);
    if (!made.ok()) return made.error();
    // New files get metadata; an existing file keeps its own (create-md
    // refuses to overwrite valid metadata).
    Result<std::string> md = tandemd::CreateMetadataOn(*spec, static_cast<uint16_t>(v.vnr), false,
                                                       static_cast<uint32_t>(r.peer_slots));
    if (!md.ok() && md.code() != Errc::kAlreadyExists) return md.error();
  }

  std::error_code ec;
  fs::create_directories(res_dir_, ec);
  if (ReadFile(path) != *text) TANDEM_TRY(WriteAtomically(path, *text));

  json::object req{{"cmd", "adjust"}, {"resource", r.name}, {"spec", tandemd::SpecToJson(*spec)}};
  Result<json::object> adj = Call(admin_socket_, req);
  if (adj.ok()) {
    TANDEM_TRY(Grow(r, pools, *spec));
    return SyncBlockDevices(r);
  }
  if (adj.error().message.find("needs down and up") == std::string::npos) return adj.error();
  // Peers joining or leaving are applied online by adjust. What tandemd cannot
  // change online (this node's own address or disk, the volumes): a Secondary
  // goes down and up again; a Primary keeps running until it is not.
  Result<json::object> st =
      Call(admin_socket_, json::object{{"cmd", "status"}, {"resource", r.name}});
  if (st.ok()) {
    const json::array& arr = st->at("resources").as_array();
    if (!arr.empty() && arr[0].as_object().at("role").as_string() == "Primary") {
      return Error{Errc::kBusy, r.name + " is Primary here; " + adj.error().message +
                                    " (applied when it is Secondary again)"};
    }
  }
  TANDEM_TRY(Call(admin_socket_, json::object{{"cmd", "down"}, {"resource", r.name}}));
  TANDEM_TRY(Call(admin_socket_, req));
  TANDEM_TRY(Grow(r, pools, *spec));
  return SyncBlockDevices(r);
}

// A volume whose size grew (vd set-size): tandemd extends this node's file and
// moves the metadata (grow), then the nodes agree on the size (resize). The
// resize succeeds on the last node to grow; until then it is refused and the
// apply is retried. What counts is the size tandemd reports, not the file's:
// a node whose file has grown may still wait for its resize (two nodes'
// resizes can collide and both retry). docs/architecture.md "Online grow".
Status Applier::Grow(const satproto::ResourceDesired& r, const PoolMap& pools,
                     const tandemd::ResourceSpec& spec) {
  Result<json::object> st = Call(admin_socket_, json::object{{"cmd", "status"}, {"resource", r.name}});
  if (!st.ok()) return st.error();
  const json::array& arr = st->at("resources").as_array();
  if (arr.empty()) return {};
  for (const satproto::VolumeDesired& v : r.volumes) {
    const tandemd::VolumeSpec* vs = spec.FindVolume(static_cast<uint16_t>(v.vnr));
    if (!vs || !vs->has_disk()) continue;
    const uint64_t bytes = static_cast<uint64_t>(v.size_kib) * 1024;
    uint64_t size = bytes;
    for (const json::value& vol : arr[0].as_object().at("volumes").as_array()) {
      if (vol.at("volume").to_number<int64_t>() == v.vnr) {
        size = vol.at("size").to_number<uint64_t>();
      }
    }
    if (size >= bytes) continue;
    bool prealloc = *ParseProvider(pools.at(v.pool).provider) == Provider::kFile;
    json::object grow{{"cmd", "grow"},   {"resource", r.name},        {"volume", v.vnr},
                      {"size", bytes}, {"preallocate", prealloc}};
    TANDEM_TRY(Call(admin_socket_, grow));
    json::object resize{
        {"cmd", "resize"}, {"resource", r.name}, {"volume", v.vnr}, {"size", bytes}};
    Result<json::object> done = Call(admin_socket_, resize);
    if (!done.ok()) {
      return Error{Errc::kBusy, r.name + "/" + std::to_string(v.vnr) +
                                    ": grown here; the resize waits for every replica (" +
                                    done.error().message + ")"};
    }
  }
  return {};
}

// A loop device on each volume where the resource asks for one (it holds the
// volume open, so this node becomes Primary), none elsewhere.
Status Applier::SyncBlockDevices(const satproto::ResourceDesired& r) {
  tandemd::Paths paths(root_);
  for (const satproto::VolumeDesired& v : r.volumes) {
    uint16_t vnr = static_cast<uint16_t>(v.vnr);
    if (r.block_device) {
      Result<std::string> dev = tandemd::AttachLoopDevice(paths, r.name, vnr);
      if (!dev.ok()) return dev.error();
    } else {
      TANDEM_TRY(tandemd::DetachLoopDevice(paths, r.name, vnr));
    }
  }
  return {};
}

Status Applier::Remove(const std::string& name) {
  std::string path = ResPath(name);
  std::vector<std::string> disks;
  if (fs::exists(path)) {
    if (ReadFile(path).rfind(kManagedMarker, 0) != 0) {
      return Error{Errc::kAlreadyExists, path + " was not written by tandem-satellite"};
    }
    Result<adm::ResFile> f = adm::ParseResFile(path);
    if (f.ok() && !f->resources.empty()) {
      Result<const adm::HostConfig*> me = adm::FindHost(f->resources[0], node_);
      if (me.ok()) {
        for (const adm::VolumeConfig& v : (*me)->volumes) {
          if (!v.disk.empty() && v.disk != "none") disks.push_back(v.disk);
        }
      }
    }
  }
  // A loop device holds the volume open: it goes first.
  tandemd::Paths paths(root_);
  std::error_code lec;
  for (const auto& e : fs::directory_iterator(paths.by_res_dir() + "/" + name, lec)) {
    char* end = nullptr;
    long vnr = std::strtol(e.path().filename().c_str(), &end, 10);
    if (end && *end == '\0' && vnr >= 0 && vnr <= 65535) {
      TANDEM_TRY(tandemd::DetachLoopDevice(paths, name, static_cast<uint16_t>(vnr)));
    }
  }
  Result<json::object> down = Call(admin_socket_, json::object{{"cmd", "down"}, {"resource", name}});
  if (!down.ok() && down.error().message.find("unknown resource") == std::string::npos) {
    return down.error();
  }
  for (const std::string& d : disks) TANDEM_TRY(DeleteVolumeFile(d));
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) return Error{Errc::kIoError, "cannot remove " + path + ": " + ec.message()};
  return {};
}

}  // namespace tandem::satellite
