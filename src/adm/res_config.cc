// Model helpers: equality, lookup and unit conversion.
#include "adm/res_config.h"

#include <cctype>

#include "adm/internal/res_options.h"

namespace tandem::adm {
namespace {

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view ShortName(std::string_view name) { return name.substr(0, name.find('.')); }

}  // namespace

std::string Device::EffectivePath() const {
  if (!path.empty()) return path;
  if (minor >= 0) return "/dev/drbd" + std::to_string(minor);
  return "";
}

int Device::EffectiveMinor() const {
  if (minor >= 0) return minor;
  constexpr std::string_view kPrefix = "/dev/drbd";
  if (path.size() <= kPrefix.size() || path.size() > kPrefix.size() + 7 ||
      path.compare(0, kPrefix.size(), kPrefix) != 0)
    return -1;
  int v = 0;
  for (size_t i = kPrefix.size(); i < path.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(path[i]))) return -1;
    v = v * 10 + (path[i] - '0');
  }
  return v;
}

std::string Address::ToString() const {
  const std::string hp = family == "ipv6" ? "[" + host + "]" : host;
  const std::string prefix = family == "ipv4" ? "" : family + " ";
  return prefix + hp + ":" + std::to_string(port);
}

bool HostConfig::operator==(const HostConfig& o) const {
  return name == o.name && node_id == o.node_id && node_id_given == o.node_id_given &&
         address == o.address && volumes == o.volumes;
}

bool ResResource::operator==(const ResResource& o) const {
  return name == o.name && hosts == o.hosts && volumes == o.volumes &&
         internal::SameOptions(options, o.options) && md_flushes == o.md_flushes &&
         verify_alg == o.verify_alg && csums_alg == o.csums_alg &&
         cram_hmac_alg == o.cram_hmac_alg && shared_secret == o.shared_secret &&
         startup == o.startup && handlers == o.handlers && ignored == o.ignored &&
         mesh_hosts == o.mesh_hosts && connections == o.connections;
}

Result<const HostConfig*> FindHost(const ResResource& res, std::string_view host_name) {
  const std::string at =
      res.where.file.empty() ? "" : res.where.file + ":" + std::to_string(res.where.line) + ": ";
  for (const auto& h : res.hosts) {
    if (IEquals(h.name, host_name)) return &h;
  }
  const HostConfig* found = nullptr;
  std::string names;
  for (const auto& h : res.hosts) {
    names += names.empty() ? "" : ", ";
    names += h.name;
    if (!host_name.empty() && IEquals(ShortName(h.name), ShortName(host_name))) {
      if (found != nullptr) {
        return MakeError(Errc::kInvalidArgument, at + "resource '" + res.name + "': host name '" +
                                                     std::string(host_name) + "' matches both '" +
                                                     found->name + "' and '" + h.name +
                                                     "'; use --node with the full name");
      }
      found = &h;
    }
  }
  if (found != nullptr) return found;
  return MakeError(Errc::kNotFound, at + "resource '" + res.name +
                                        "' has no 'on' section for host '" +
                                        std::string(host_name) + "' (hosts: " + names + ")");
}

Result<const ResResource*> FindResource(const ResFile& file, std::string_view name) {
  std::string names;
  for (const auto& r : file.resources) {
    if (r.name == name) return &r;
    names += names.empty() ? "" : ", ";
    names += r.name;
  }
  return MakeError(Errc::kNotFound, "no resource '" + std::string(name) + "' (resources: " +
                                        (names.empty() ? std::string("none") : names) + ")");
}

Result<uint32_t> ParseKib(std::string_view text) {
  auto bad = [&] {
    return MakeError(Errc::kInvalidArgument, "invalid size '" + std::string(text) +
                                                 "' (a number of KiB, suffixes K, M, G)");
  };
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 12) return bad();
  uint64_t v = 0;
  for (size_t i = 0; i < digits; ++i) v = v * 10 + static_cast<uint64_t>(text[i] - '0');
  const std::string_view unit = text.substr(digits);
  uint64_t mult = 1;
  if (unit.empty() || unit == "k" || unit == "K") {
    mult = 1;
  } else if (unit == "m" || unit == "M") {
    mult = 1024;
  } else if (unit == "g" || unit == "G") {
    mult = uint64_t{1024} * 1024;
  } else {
    return bad();
  }
  v *= mult;  // at most 10^12 * 2^20 < 2^63
  if (v > UINT32_MAX) return bad();
  return static_cast<uint32_t>(v);
}

std::string FormatKib(uint32_t kib) {
  if (kib != 0 && kib % (1024 * 1024) == 0) return std::to_string(kib / (1024 * 1024)) + "G";
  if (kib != 0 && kib % 1024 == 0) return std::to_string(kib / 1024) + "M";
  return std::to_string(kib);
}

}  // namespace tandem::adm
