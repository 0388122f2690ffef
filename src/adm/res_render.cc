// Canonical .res output (`tandemadm dump`). Only options that differ from
// engine::Options' defaults are printed; per-host volumes are printed
// resolved, so the output does not depend on how the input was factored.
#include <string>

#include "adm/internal/res_options.h"
#include "adm/internal/res_syntax.h"
#include "adm/res_config.h"

namespace tandem::adm {
namespace {

using engine::kMs;
using engine::kSec;
using internal::QuoteIfNeeded;

// Collects `key value;` lines of one section; prints nothing when empty.
class Section {
 public:
  void Add(const std::string& key, const std::string& value = "") {
    body_ += "    " + key + (value.empty() ? "" : " " + value) + ";\n";
  }
  void AddSetting(const Setting& s, const std::string& key) {
    std::string values;
    for (const auto& v : s.values) values += (values.empty() ? "" : " ") + QuoteIfNeeded(v);
    Add(key, values);
  }
  void PrintTo(std::string* out, const std::string& header) const {
    if (!body_.empty()) *out += "  " + header + " {\n" + body_ + "  }\n";
  }

 private:
  std::string body_;
};

std::string Tenths(engine::Time t) { return std::to_string(t / (100 * kMs)); }
std::string Seconds(engine::Time t) { return std::to_string(t / kSec); }
std::string YesNo(bool b) { return b ? "yes" : "no"; }

void PrintVolume(const VolumeConfig& v, const std::string& indent, std::string* out) {
  *out += indent + "volume " + std::to_string(v.vnr.value()) + " {\n";
  const std::string in = indent + "  ";
  if (!v.device.Empty()) {
    *out += in + "device";
    if (!v.device.path.empty()) *out += " " + QuoteIfNeeded(v.device.path);
    if (v.device.minor >= 0) *out += " minor " + std::to_string(v.device.minor);
    *out += ";\n";
  }
  if (!v.disk.empty()) *out += in + "disk " + QuoteIfNeeded(v.disk) + ";\n";
  if (v.meta_disk_given) {
    *out += in + "meta-disk " +
            (v.meta_disk.internal ? std::string("internal") : QuoteIfNeeded(v.meta_disk.path)) +
            ";\n";
  }
  *out += indent + "}\n";
}

}  // namespace

std::string RenderResource(const ResResource& r) {
  const engine::Options d;  // defaults
  const engine::Options& o = r.options;
  Section options, net, disk, syncer, startup, handlers;
  std::string out = "resource " + QuoteIfNeeded(r.name) + " {\n";

  if (o.auto_promote != d.auto_promote) options.Add("auto-promote", YesNo(o.auto_promote));
  if (o.auto_promote_timeout != d.auto_promote_timeout)
    options.Add("auto-promote-timeout", Tenths(o.auto_promote_timeout));
  if (o.quorum != d.quorum) options.Add("quorum", internal::QuorumName(o.quorum));
  if (o.quorum_minimum_redundancy != d.quorum_minimum_redundancy)
    options.Add("quorum-minimum-redundancy", internal::QuorumName(o.quorum_minimum_redundancy));
  if (o.on_no_quorum != d.on_no_quorum)
    options.Add("on-no-quorum", internal::OnNoQuorumName(o.on_no_quorum));
  if (o.twopc_timeout != d.twopc_timeout) options.Add("twopc-timeout", Tenths(o.twopc_timeout));
  if (o.twopc_retry_timeout != d.twopc_retry_timeout)
    options.Add("twopc-retry-timeout", Tenths(o.twopc_retry_timeout));

  if (o.protocol != d.protocol)
    net.Add("protocol", o.protocol == engine::WireProtocol::kA ? "A" : "C");
  if (o.allow_two_primaries != d.allow_two_primaries)
    net.Add("allow-two-primaries", YesNo(o.allow_two_primaries));
  if (o.after_sb_0pri != d.after_sb_0pri)
    net.Add("after-sb-0pri", internal::AfterSb0Name(o.after_sb_0pri));
  if (o.after_sb_1pri != d.after_sb_1pri)
    net.Add("after-sb-1pri", internal::AfterSb1Name(o.after_sb_1pri));
  if (o.after_sb_2pri != d.after_sb_2pri)
    net.Add("after-sb-2pri", internal::AfterSb2Name(o.after_sb_2pri));
  if (o.always_asbp != d.always_asbp) net.Add("always-asbp", YesNo(o.always_asbp));
  if (o.rr_conflict != d.rr_conflict)
    net.Add("rr-conflict", internal::RrConflictName(o.rr_conflict));
  if (o.max_epoch_size != d.max_epoch_size)
    net.Add("max-epoch-size", std::to_string(o.max_epoch_size));
  if (o.timeout != d.timeout) net.Add("timeout", Tenths(o.timeout));
  if (o.ping_int != d.ping_int) net.Add("ping-int", Seconds(o.ping_int));
  if (o.ping_timeout != d.ping_timeout) net.Add("ping-timeout", Tenths(o.ping_timeout));
  if (o.ko_count != d.ko_count) net.Add("ko-count", std::to_string(o.ko_count));
  if (o.connect_int != d.connect_int) net.Add("connect-int", Seconds(o.connect_int));
  if (o.max_buffers != d.max_buffers) net.Add("max-buffers", std::to_string(o.max_buffers));
  if (!r.cram_hmac_alg.empty()) net.Add("cram-hmac-alg", QuoteIfNeeded(r.cram_hmac_alg));
  if (!r.shared_secret.empty()) net.Add("shared-secret", internal::Quote(r.shared_secret));
  if (!r.verify_alg.empty()) net.Add("verify-alg", QuoteIfNeeded(r.verify_alg));
  if (!r.csums_alg.empty()) net.Add("csums-alg", QuoteIfNeeded(r.csums_alg));

  if (o.al_extents != d.al_extents) disk.Add("al-extents", std::to_string(o.al_extents));
  if (o.disk_flushes != d.disk_flushes) disk.Add("disk-flushes", YesNo(o.disk_flushes));
  if (!r.md_flushes) disk.Add("md-flushes", "no");
  if (o.disk_timeout != d.disk_timeout) disk.Add("disk-timeout", Tenths(o.disk_timeout));
  if (o.resync_rate_kib != d.resync_rate_kib) disk.Add("resync-rate", FormatKib(o.resync_rate_kib));
  if (o.c_plan_ahead != d.c_plan_ahead) disk.Add("c-plan-ahead", std::to_string(o.c_plan_ahead));
  if (o.c_fill_target_sectors != d.c_fill_target_sectors)
    disk.Add("c-fill-target", std::to_string(o.c_fill_target_sectors));
  if (o.c_delay_target != d.c_delay_target)
    disk.Add("c-delay-target", std::to_string(o.c_delay_target));
  if (o.c_max_rate_kib != d.c_max_rate_kib) disk.Add("c-max-rate", FormatKib(o.c_max_rate_kib));
  if (o.c_min_rate_kib != d.c_min_rate_kib) disk.Add("c-min-rate", FormatKib(o.c_min_rate_kib));

  for (const auto& s : r.ignored) {
    const size_t dot = s.key.find('.');
    const std::string section = s.key.substr(0, dot);
    const std::string key = s.key.substr(dot + 1);
    Section* target = section == "net"       ? &net
                      : section == "disk"    ? &disk
                      : section == "options" ? &options
                                             : &syncer;
    target->AddSetting(s, key);
  }
  for (const auto& s : r.startup) startup.AddSetting(s, s.key);
  for (const auto& s : r.handlers) {
    std::string values;
    for (const auto& v : s.values) values += (values.empty() ? "" : " ") + internal::Quote(v);
    handlers.Add(s.key, values);
  }

  options.PrintTo(&out, "options");
  net.PrintTo(&out, "net");
  disk.PrintTo(&out, "disk");
  syncer.PrintTo(&out, "syncer");
  startup.PrintTo(&out, "startup");
  handlers.PrintTo(&out, "handlers");

  for (const auto& v : r.volumes) PrintVolume(v, "  ", &out);
  for (const auto& h : r.hosts) {
    out += "  on " + QuoteIfNeeded(h.name) + " {\n";
    if (h.node_id_given) out += "    node-id " + std::to_string(h.node_id.value()) + ";\n";
    out += "    address " + h.address.ToString() + ";\n";
    for (const auto& v : h.volumes) PrintVolume(v, "    ", &out);
    out += "  }\n";
  }
  if (!r.mesh_hosts.empty()) {
    out += "  connection-mesh {\n    hosts";
    for (const auto& h : r.mesh_hosts) out += " " + QuoteIfNeeded(h);
    out += ";\n  }\n";
  }
  for (const auto& c : r.connections) {
    out += "  connection {\n";
    for (const auto& h : c.hosts) {
      out += "    host " + QuoteIfNeeded(h.name);
      if (!h.address.Empty()) {
        out += " address " + h.address.ToString();
      } else if (h.address.port != 0) {
        out += " port " + std::to_string(h.address.port);  // the `on` section's host
      }
      out += ";\n";
    }
    if (!c.net.empty()) {
      out += "    net {\n";
      for (const auto& s : c.net) {
        out += "      " + s.key;
        for (const auto& v : s.values) out += " " + QuoteIfNeeded(v);
        out += ";\n";
      }
      out += "    }\n";
    }
    out += "  }\n";
  }
  out += "}\n";
  return out;
}

std::string RenderResFile(const ResFile& file) {
  std::string out;
  if (!file.global.empty()) {
    out += "global {\n";
    for (const auto& s : file.global) {
      out += "  " + s.key;
      for (const auto& v : s.values) out += " " + QuoteIfNeeded(v);
      out += ";\n";
    }
    out += "}\n";
  }
  for (const auto& r : file.resources) out += RenderResource(r);
  return out;
}

}  // namespace tandem::adm
