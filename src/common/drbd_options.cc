#include "common/drbd_options.h"

#include <cctype>

namespace tandem::drbd {
namespace {

constexpr int64_t kMaxRateKib = int64_t{4} * 1024 * 1024;  // 4G, DRBD's upper bound
constexpr int64_t kMaxFillSectors = 1'048'576;             // 512 MiB

// Strict decimal, at most 18 digits.
bool ParseDecimal(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// "1000M" -> KiB: a plain number is KiB, K/M/G (any case) KiB/MiB/GiB.
bool ParseKib(std::string_view s, int64_t* out) {
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  if (digits == 0 || digits > 12) return false;
  int64_t v = 0;
  if (!ParseDecimal(s.substr(0, digits), &v)) return false;
  std::string_view unit = s.substr(digits);
  if (unit.empty() || unit == "k" || unit == "K") {
    *out = v;
  } else if (unit == "m" || unit == "M") {
    *out = v * 1024;
  } else if (unit == "g" || unit == "G") {
    *out = v * 1024 * 1024;
  } else {
    return false;
  }
  return true;
}

using K = ValueKind;

}  // namespace

const std::vector<OptionSpec>& AllOptions() {
  static const std::vector<OptionSpec> kOptions = {
      // Resource (.res `options`)
      {"auto-promote", "Resource", K::kFlag, 0, 0, {}, "Promote on open for writing"},
      {"auto-promote-timeout", "Resource", K::kInteger, 0, 600, {}, "Unit 0.1 s"},
      {"quorum", "Resource", K::kQuorum, 0, 0, {}, "Votes needed for writes"},
      {"quorum-minimum-redundancy", "Resource", K::kQuorum, 0, 0, {}, "UpToDate copies needed"},
      {"on-no-quorum", "Resource", K::kEnum, 0, 0, {"io-error", "suspend-io"}, "Without quorum"},
      {"twopc-timeout", "Resource", K::kInteger, 50, 600, {}, "Unit 0.1 s"},
      {"twopc-retry-timeout", "Resource", K::kInteger, 1, 50, {}, "Unit 0.1 s"},
      // Net
      {"protocol", "Net", K::kEnum, 0, 0, {"A", "C"}, "Replication protocol (B is not supported)"},
      {"allow-two-primaries", "Net", K::kFlag, 0, 0, {}, "Two primaries (needs protocol C)"},
      {"after-sb-0pri",
       "Net",
       K::kEnum,
       0,
       0,
       {"disconnect", "discard-younger-primary", "discard-older-primary", "discard-zero-changes",
        "discard-least-changes"},
       "Split brain, no primary"},
      {"after-sb-1pri",
       "Net",
       K::kEnum,
       0,
       0,
       {"disconnect", "consensus", "discard-secondary", "call-pri-lost-after-sb", "violently-as0p"},
       "Split brain, one primary"},
      {"after-sb-2pri",
       "Net",
       K::kEnum,
       0,
       0,
       {"disconnect", "violently-as0p", "call-pri-lost-after-sb"},
       "Split brain, two primaries"},
      {"always-asbp", "Net", K::kFlag, 0, 0, {}, "Apply after-sb policies always"},
      {"rr-conflict", "Net", K::kEnum, 0, 0, {"disconnect", "retry-connect"}, "Resync conflict"},
      {"max-epoch-size", "Net", K::kInteger, 1, 20000, {}, "Writes between barriers"},
      {"timeout", "Net", K::kInteger, 1, 600, {}, "Unit 0.1 s"},
      {"ping-int", "Net", K::kInteger, 1, 120, {}, "Unit 1 s"},
      {"ping-timeout", "Net", K::kInteger, 1, 300, {}, "Unit 0.1 s"},
      {"ko-count", "Net", K::kInteger, 0, 200, {}, "Timeouts before a peer is dropped"},
      {"connect-int", "Net", K::kInteger, 1, 120, {}, "Unit 1 s"},
      {"max-buffers", "Net", K::kInteger, 32, 131072, {}, "Pages of 4 KiB"},
      {"verify-alg", "Net", K::kAlgorithm, 0, 0, {}, "Online verify algorithm"},
      {"csums-alg", "Net", K::kAlgorithm, 0, 0, {}, "Checksum-based resync algorithm"},
      // Disk
      {"al-extents", "Disk", K::kInteger, 7, 65536, {}, "Activity log extents"},
      {"disk-flushes", "Disk", K::kFlag, 0, 0, {}, "Flush the backing disk"},
      {"md-flushes", "Disk", K::kFlag, 0, 0, {}, "Flush the metadata"},
      {"disk-timeout", "Disk", K::kInteger, 0, 6000, {}, "Unit 0.1 s; 0 = off"},
      {"on-io-error",
       "Disk",
       K::kEnum,
       0,
       0,
       {"pass_on", "call-local-io-error", "detach"},
       "Accepted; Tandem does not act on it",
       /*applied=*/false},
      // PeerDevice (.res `disk`)
      {"resync-rate", "PeerDevice", K::kRate, 1, kMaxRateKib, {}, "KiB/s (K, M, G)"},
      {"c-plan-ahead", "PeerDevice", K::kInteger, 0, 300, {}, "Unit 0.1 s; 0 = fixed rate"},
      {"c-fill-target", "PeerDevice", K::kFillTarget, 0, kMaxFillSectors, {}, "Sectors (or K, M)"},
      {"c-delay-target", "PeerDevice", K::kInteger, 1, 100, {}, "Unit 0.1 s"},
      {"c-max-rate", "PeerDevice", K::kRate, 0, kMaxRateKib, {}, "KiB/s (K, M, G)"},
      {"c-min-rate", "PeerDevice", K::kRate, 0, kMaxRateKib, {}, "KiB/s (K, M, G); 0 = off"},
  };
  return kOptions;
}

const OptionSpec* FindOption(std::string_view name) {
  for (const OptionSpec& o : AllOptions()) {
    if (name == o.name) return &o;
  }
  return nullptr;
}

const OptionSpec* FindByProperty(std::string_view key) {
  for (const OptionSpec& o : AllOptions()) {
    if (key == PropertyKey(o)) return &o;
  }
  return nullptr;
}

std::string PropertyKey(const OptionSpec& spec) {
  return std::string("DrbdOptions/") + spec.section + "/" + spec.name;
}

std::string Expected(const OptionSpec& spec) {
  switch (spec.kind) {
    case K::kFlag:
      return "yes or no";
    case K::kEnum: {
      std::string out;
      for (size_t i = 0; i < spec.values.size(); ++i) {
        out += i == 0 ? "" : (i + 1 == spec.values.size() ? " or " : ", ");
        out += spec.values[i];
      }
      return out;
    }
    case K::kInteger:
      return std::to_string(spec.min) + ".." + std::to_string(spec.max);
    case K::kRate:
      return std::to_string(spec.min) + "..4G KiB/s (suffixes K, M, G)";
    case K::kFillTarget:
      return "0..1048576 sectors, or a size up to 512M";
    case K::kQuorum:
      return "off, majority, all or 1..32";
    case K::kAlgorithm:
      return "an algorithm name such as crc32c or sha256";
  }
  return "";
}

Status ValidateValue(const OptionSpec& spec, std::string_view value) {
  bool ok = false;
  int64_t n = 0;
  switch (spec.kind) {
    case K::kFlag:
      ok = value == "yes" || value == "no";
      break;
    case K::kEnum:
      for (const char* v : spec.values) ok = ok || value == v;
      break;
    case K::kInteger:
      ok = ParseDecimal(value, &n) && n >= spec.min && n <= spec.max;
      break;
    case K::kRate:
      ok = ParseKib(value, &n) && n >= spec.min && n <= spec.max;
      break;
    case K::kFillTarget:
      if (!value.empty() && std::isdigit(static_cast<unsigned char>(value.back()))) {
        ok = ParseDecimal(value, &n) && n <= spec.max;
      } else {
        ok = ParseKib(value, &n) && n * 2 <= spec.max;
      }
      break;
    case K::kQuorum:
      ok = value == "off" || value == "majority" || value == "all" ||
           (ParseDecimal(value, &n) && n >= 1 && n <= 32);
      break;
    case K::kAlgorithm:
      ok = !value.empty() && value.size() <= 64;
      for (char c : value) {
        ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
      }
      break;
  }
  if (ok) return {};
  return MakeError(Errc::kInvalidArgument, "Invalid value '" + std::string(value) +
                                               "' for DRBD option '" + spec.name + "': expected " +
                                               Expected(spec));
}

}  // namespace tandem::drbd
