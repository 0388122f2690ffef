#include "adm/tandemadm.h"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/size.h"
#include "tandemd/daemon.h"
#include "tandemd/loop_device.h"
#include "tandemd/resource_host.h"

namespace tandem::adm {

namespace json = boost::json;
namespace fs = std::filesystem;

Result<tandemd::ResourceSpec> SpecFor(const ResResource& res, const std::string& host_name) {
  Result<const HostConfig*> me = FindHost(res, host_name);
  if (!me.ok()) return me.error();
  tandemd::ResourceSpec s;
  s.name = res.name;
  s.node_id = (*me)->node_id.value();
  s.shared_secret = res.shared_secret;
  s.options = res.options;
  for (const HostConfig& h : res.hosts) {
    tandemd::NodeSpec n;
    n.id = h.node_id.value();
    n.name = h.name;
    bool v6 = h.address.family == "ipv6" || h.address.host.find(':') != std::string::npos;
    n.address =
        (v6 ? "[" + h.address.host + "]" : h.address.host) + ":" + std::to_string(h.address.port);
    n.diskless = !h.volumes.empty();
    for (const VolumeConfig& v : h.volumes) n.diskless = n.diskless && v.disk == "none";
    s.nodes.push_back(std::move(n));
  }
  for (const VolumeConfig& v : (*me)->volumes) {
    tandemd::VolumeSpec vs;
    vs.vnr = v.vnr.value();
    vs.disk = v.disk.empty() ? "none" : v.disk;
    vs.meta_disk = v.meta_disk.internal ? "internal" : v.meta_disk.path;
    s.volumes.push_back(std::move(vs));
  }
  std::string err = s.Validate();
  if (!err.empty()) return Error{Errc::kInvalidArgument, res.name + ": " + err};
  return s;
}

namespace {

struct Globals {
  std::string root = "/";
  std::string node;
  std::string config_dir;
  bool json = false;
};

std::string HostName() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

int Fail(const std::string& msg, int code = 1) {
  std::cerr << "tandemadm: " << msg << "\n";
  return code;
}

Result<tandemd::ResourceSpec> LoadSpec(const Globals& g, const std::string& name) {
  Result<ResFile> file = ParseResDir(g.config_dir);
  if (!file.ok()) return file.error();
  Result<const ResResource*> res = FindResource(*file, name);
  if (!res.ok()) return res.error();
  return SpecFor(**res, g.node);
}

// Sends a request; prints the daemon's refusal. Returns the exit code.
int Call(const Globals& g, json::object req, json::object* out = nullptr) {
  tandemd::Paths paths(g.root);
  Result<json::object> r = tandemd::AdminCall(paths.admin_socket(), req);
  if (!r.ok()) return Fail(r.error().message, 3);
  if (out) *out = *r;
  const json::value* ok = r->if_contains("ok");
  if (!ok || !ok->is_bool() || !ok->as_bool()) {
    const json::value* m = r->if_contains("message");
    std::string msg = m && m->is_string() ? std::string(m->as_string()) : "refused";
    std::string res =
        req.contains("resource") ? std::string(req["resource"].as_string()) + ": " : "";
    return Fail(res + msg);
  }
  // Success is silent, as with drbdadm; "nothing to do" says so.
  const json::value* code = r->if_contains("code");
  const json::value* m = r->if_contains("message");
  if (code && code->is_int64() && code->as_int64() == 2 && m && m->is_string() && !g.json) {
    std::cout << std::string(m->as_string()) << "\n";
  }
  return 0;
}

std::string S(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : json::serialize(v);
}

// drbdadm status style.
void PrintStatus(const json::object& r) {
  std::cout << S(r.at("name")) << " role:" << S(r.at("role"));
  if (r.at("suspended").as_bool()) std::cout << " suspended:yes";
  std::cout << "\n";
  const json::array& vols = r.at("volumes").as_array();
  bool many = vols.size() > 1;
  for (const json::value& v : vols) {
    const json::object& vo = v.as_object();
    std::cout << "  ";
    if (many) std::cout << "volume:" << S(vo.at("volume")) << " ";
    std::cout << "disk:" << S(vo.at("disk"));
    if (!vo.at("quorum").as_bool()) std::cout << " quorum:no";
    std::cout << "\n";
  }
  for (const json::value& c : r.at("connections").as_array()) {
    const json::object& co = c.as_object();
    std::string conn = S(co.at("connection"));
    std::cout << "  " << S(co.at("name"));
    if (conn != "Connected") {
      std::cout << " connection:" << conn << "\n";
      continue;
    }
    std::cout << " role:" << S(co.at("role")) << "\n";
    for (const json::value& pd : co.at("volumes").as_array()) {
      const json::object& p = pd.as_object();
      std::cout << "    ";
      if (many) std::cout << "volume:" << S(p.at("volume")) << " ";
      std::string repl = S(p.at("replication"));
      if (repl != "Established") std::cout << "replication:" << repl << " ";
      std::cout << "peer-disk:" << S(p.at("peer_disk"));
      if (repl.find("Sync") != std::string::npos || repl.find("Verify") != std::string::npos) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.2f", p.at("done").to_number<double>());
        std::cout << " done:" << buf;
      }
      std::cout << "\n";
    }
  }
}

Result<json::object> StatusOf(const Globals& g, const std::string& name) {
  tandemd::Paths paths(g.root);
  Result<json::object> r =
      tandemd::AdminCall(paths.admin_socket(), json::object{{"cmd", "status"}, {"resource", name}});
  if (!r.ok()) return r.error();
  const json::value* ok = r->if_contains("ok");
  if (!ok || !ok->as_bool()) {
    return Error{Errc::kNotFound, S(r->at("message"))};
  }
  return r->at("resources").as_array().at(0).as_object();
}

// wait-connect / wait-sync: poll the status until `done` holds.
int Wait(const Globals& g, const std::string& name, double timeout_s,
         const std::function<bool(const json::object&)>& done, const char* what) {
  auto end = std::chrono::steady_clock::now() +
             std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  for (;;) {
    Result<json::object> st = StatusOf(g, name);
    if (!st.ok()) return Fail(st.error().message, 3);
    if (done(*st)) return 0;
    if (std::chrono::steady_clock::now() > end) {
      std::cerr << "tandemadm: " << name << ": timed out waiting for " << what << "\n";
      PrintStatus(*st);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool AllConnected(const json::object& st) {
  for (const json::value& c : st.at("connections").as_array()) {
    if (S(c.at("connection")) != "Connected") return false;
  }
  return true;
}

bool Synced(const json::object& st) {
  if (!AllConnected(st)) return false;
  for (const json::value& v : st.at("volumes").as_array()) {
    std::string d = S(v.at("disk"));
    if (d != "UpToDate" && d != "Diskless") return false;
  }
  for (const json::value& c : st.at("connections").as_array()) {
    for (const json::value& pd : c.at("volumes").as_array()) {
      std::string r = S(pd.at("replication"));
      std::string pdk = S(pd.at("peer_disk"));
      if (r != "Established") return false;
      if (pdk != "UpToDate" && pdk != "Diskless") return false;
      // Blocks still marked out of sync for an established peer wait for a
      // deferred resync (the source was not consistent at the handshake).
      const json::object& o = pd.as_object();
      if (o.contains("out_of_sync") && o.at("out_of_sync").to_number<uint64_t>() != 0) return false;
    }
  }
  return true;
}


}  // namespace

int RunTandemadm(int argc, char** argv) {
  CLI::App app{"tandemadm: administer Tandem resources like drbdadm (docs/tandemd.md)"};
  app.require_subcommand(1);
  Globals g;
  app.add_option("--root", g.root, "prefix for etc/tandem, var/lib/tandem, run/tandem");
  app.add_option("--node", g.node, "the host name whose 'on' section is this node");
  app.add_option("-c,--config-dir", g.config_dir,
                 "directory of .res files (default ROOT/etc/tandem/resources.d)");
  app.add_flag("--json", g.json, "machine-readable output (status, events2)");

  std::string res;
  int volume = -1;
  int max_peers = 0;
  std::string peer;
  bool force = false, discard = false, clear_bitmap = false, now = false, preallocate = false;
  double timeout = 60;
  std::string size;
  std::string fkind, fmsg, fop;
  int fcount = -1, fdelay = 0;

  auto with_res = [&](CLI::App* sub, bool required = true) {
    auto* o = sub->add_option("resource", res, "resource name");
    if (required) o->required();
    return sub;
  };
  auto* create_md = with_res(app.add_subcommand("create-md", "initialize the metadata"));
  create_md->add_flag("--force", force, "overwrite valid metadata");
  create_md->add_option("--volume", volume, "only this volume");
  create_md->add_option("--max-peers", max_peers,
                        "bitmap slots for peers (default: the other diskful nodes); spare "
                        "slots let nodes join later")
      ->check(CLI::Range(1, kMaxNodes - 1));
  with_res(app.add_subcommand("up", "attach and connect"));
  with_res(app.add_subcommand("down", "disconnect, detach and forget"));
  with_res(app.add_subcommand("adjust", "apply the changed .res file"));
  auto* attach = with_res(app.add_subcommand("attach", "attach the backing devices"));
  attach->add_option("--volume", volume);
  auto* detach = with_res(app.add_subcommand("detach", "detach the backing devices"));
  detach->add_option("--volume", volume);
  auto* primary = with_res(app.add_subcommand("primary", "promote"));
  primary->add_flag("--force", force, "promote without up-to-date data");
  auto* secondary = with_res(app.add_subcommand("secondary", "demote"));
  secondary->add_flag("--force", force, "demote even with openers (their I/O fails)");
  auto* connect = with_res(app.add_subcommand("connect", "connect to the peers"));
  connect->add_flag("--discard-my-data", discard, "this node is the split-brain victim");
  connect->add_option("--peer", peer, "only this peer (name or node id)");
  auto* disconnect = with_res(app.add_subcommand("disconnect", "disconnect from the peers"));
  disconnect->add_option("--peer", peer);
  auto* verify = with_res(app.add_subcommand("verify", "online verify against a peer"));
  verify->add_option("--peer", peer);
  verify->add_option("--volume", volume);
  auto* invalidate = with_res(app.add_subcommand("invalidate", "full resync to this node"));
  invalidate->add_option("--volume", volume);
  auto* invalidate_remote =
      with_res(app.add_subcommand("invalidate-remote", "full resync to a peer"));
  invalidate_remote->add_option("--peer", peer);
  invalidate_remote->add_option("--volume", volume);
  auto* grow = with_res(app.add_subcommand(
      "grow", "extend this node's backing file online and move the metadata to its end"));
  grow->add_option("--size", size, "the usable size wanted (e.g. 2G)")->required();
  grow->add_option("--volume", volume);
  grow->add_flag("--preallocate", preallocate, "allocate the new part (default: sparse)");
  auto* resize = with_res(app.add_subcommand(
      "resize", "agree on a larger size with every node (after grow on each)"));
  resize->add_option("--size", size, "new size (e.g. 2G); default: the largest possible");
  resize->add_option("--volume", volume);
  auto* ncu = with_res(app.add_subcommand("new-current-uuid", "start a new data generation"));
  ncu->add_flag("--clear-bitmap", clear_bitmap, "skip the initial sync (all replicas are equal)");
  ncu->add_option("--volume", volume);
  with_res(app.add_subcommand("status", "show the state"), false);
  auto* events2 = app.add_subcommand("events2", "stream state changes");
  events2->add_flag("--now", now, "start with the current state");
  with_res(app.add_subcommand("dump", "print the parsed resource"));
  auto* wait_connect = with_res(app.add_subcommand("wait-connect", "wait until connected"));
  wait_connect->add_option("--timeout", timeout, "seconds");
  auto* wait_sync =
      with_res(app.add_subcommand("wait-sync", "wait until every replica is UpToDate"));
  wait_sync->add_option("--timeout", timeout, "seconds");
  auto* attach_device =
      with_res(app.add_subcommand("attach-device", "put a loop device on the FUSE file"));
  attach_device->add_option("--volume", volume);
  auto* detach_device = with_res(app.add_subcommand("detach-device", "remove the loop device"));
  detach_device->add_option("--volume", volume);
  with_res(app.add_subcommand("stats", "transport and disk counters"), false);
  auto* fault = with_res(app.add_subcommand("fault", "fault hooks (tandemd --enable-faults)"));
  fault->add_option("--kind", fkind, "drop-msg|delay-msg|fail-io|freeze-disk|thaw-disk|clear")
      ->required();
  fault->add_option("--msg", fmsg, "message type, e.g. Data");
  fault->add_option("--peer", peer);
  fault->add_option("--delay-ms", fdelay);
  fault->add_option("--op", fop, "read|write|flush");
  fault->add_option("--count", fcount, "-1: until cleared");
  fault->add_option("--volume", volume);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (g.node.empty()) g.node = HostName();
  tandemd::Paths paths(g.root);
  if (g.config_dir.empty()) g.config_dir = paths.res_dir();
  CLI::App* sub = app.get_subcommands().front();
  std::string cmd = sub->get_name();

  json::object req{{"cmd", cmd}, {"resource", res}};
  if (volume >= 0) req["volume"] = volume;
  if (!peer.empty()) {
    bool numeric = std::all_of(peer.begin(), peer.end(), ::isdigit);
    if (numeric) {
      req["peer"] = std::stoi(peer);
    } else {
      req["peer"] = peer;
    }
  }
  if (force) req["force"] = true;

  if (cmd == "create-md") {
    Result<tandemd::ResourceSpec> spec = LoadSpec(g, res);
    if (!spec.ok()) return Fail(spec.error().message);
    // A resource that is up is in use: its metadata belongs to tandemd.
    Result<json::object> st = tandemd::AdminCall(
        paths.admin_socket(), json::object{{"cmd", "status"}, {"resource", res}});
    if (st.ok() && st->at("ok").as_bool()) return Fail(res + " is up; run down first");
    int rc = 0;
    for (const tandemd::VolumeSpec& v : spec->volumes) {
      if (volume >= 0 && v.vnr != volume) continue;
      if (!v.has_disk()) continue;
      Result<std::string> r =
          tandemd::CreateMetadataOn(*spec, v.vnr, force, static_cast<uint32_t>(max_peers));
      if (!r.ok()) {
        rc = Fail(r.error().message);
        continue;
      }
      std::cout << *r << "\n";
    }
    return rc;
  }
  if (cmd == "up" || cmd == "adjust") {
    Result<tandemd::ResourceSpec> spec = LoadSpec(g, res);
    if (!spec.ok()) return Fail(spec.error().message);
    req["spec"] = tandemd::SpecToJson(*spec);
    return Call(g, req);
  }
  if (cmd == "dump") {
    Result<ResFile> file = ParseResDir(g.config_dir);
    if (!file.ok()) return Fail(file.error().message);
    Result<const ResResource*> r = FindResource(*file, res);
    if (!r.ok()) return Fail(r.error().message);
    std::cout << RenderResource(**r);
    return 0;
  }
  if (cmd == "status") {
    json::object out;
    json::object sreq{{"cmd", "status"}};
    if (!res.empty()) sreq["resource"] = res;
    int rc = Call(g, sreq, &out);
    if (rc != 0) return rc;
    if (g.json) {
      std::cout << json::serialize(out.at("resources")) << "\n";
      return 0;
    }
    for (const json::value& r : out.at("resources").as_array()) PrintStatus(r.as_object());
    return 0;
  }
  if (cmd == "stats") {
    json::object out;
    json::object sreq{{"cmd", "stats"}};
    if (!res.empty()) sreq["resource"] = res;
    int rc = Call(g, sreq, &out);
    if (rc == 0) std::cout << json::serialize(out.at("resources")) << "\n";
    return rc;
  }
  if (cmd == "events2") {
    Result<bool> r = tandemd::AdminEvents(paths.admin_socket(), now, [](const std::string& l) {
      std::cout << l << std::endl;
      return true;
    });
    return r.ok() ? 0 : Fail(r.error().message, 3);
  }
  if (cmd == "wait-connect") return Wait(g, res, timeout, AllConnected, "the connections");
  if (cmd == "wait-sync") return Wait(g, res, timeout, Synced, "the resync");
  if (cmd == "connect" && discard) req["discard_my_data"] = true;
  if (cmd == "new-current-uuid" && clear_bitmap) req["clear_bitmap"] = true;
  if (cmd == "grow" && preallocate) req["preallocate"] = true;
  if (cmd == "resize" || cmd == "grow") {
    if (!size.empty()) {
      Result<uint64_t> bytes = ParseSize(size);
      if (!bytes.ok()) return Fail(bytes.error().message, 2);
      req["size"] = *bytes;
    }
  }
  if (cmd == "fault") {
    req["kind"] = fkind;
    if (!fmsg.empty()) req["msg"] = fmsg;
    if (!fop.empty()) req["op"] = fop;
    req["count"] = fcount;
    req["delay_ms"] = fdelay;
  }
  if (cmd == "attach-device" || cmd == "detach-device") {
    Result<json::object> st = StatusOf(g, res);
    if (!st.ok()) return Fail(st.error().message, 3);
    int rc = 0;
    for (const json::value& v : st->at("volumes").as_array()) {
      int vnr = static_cast<int>(v.at("volume").to_number<int64_t>());
      if (volume >= 0 && vnr != volume) continue;
      uint16_t n = static_cast<uint16_t>(vnr);
      if (cmd == "attach-device") {
        Result<std::string> dev = tandemd::AttachLoopDevice(paths, res, n);
        if (!dev.ok()) {
          rc = Fail(dev.error().message);
          continue;
        }
        std::cout << tandemd::LoopLink(paths, res, n) << " -> " << *dev << "\n";
      } else if (Status d = tandemd::DetachLoopDevice(paths, res, n); !d.ok()) {
        rc = Fail(d.error().message);
      }
    }
    return rc;
  }
  return Call(g, req);
}

}  // namespace tandem::adm
