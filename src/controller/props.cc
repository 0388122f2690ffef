#include "controller/props.h"

#include <cctype>
#include <cstdlib>

#include "common/drbd_options.h"

namespace tandem::controller {
namespace {

Status Invalid(std::string message) {
  return MakeError(Errc::kInvalidArgument, std::move(message));
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

Status CheckPortRange(std::string_view key, std::string_view value, long lo_limit, long hi_limit) {
  auto dash = value.find('-');
  std::string text(value);
  char* end = nullptr;
  long lo = 0;
  long hi = 0;
  if (dash != std::string_view::npos) {
    lo = std::strtol(text.c_str(), &end, 10);
    if (end != text.c_str() + dash) return Invalid("'" + text + "' is not a range 'LOW-HIGH'");
    hi = std::strtol(text.c_str() + dash + 1, &end, 10);
    if (*end != '\0' || dash + 1 == text.size()) {
      return Invalid("'" + text + "' is not a range 'LOW-HIGH'");
    }
  } else {
    return Invalid("'" + text + "' is not a range 'LOW-HIGH' for " + std::string(key));
  }
  if (lo < lo_limit || hi > hi_limit || lo > hi) {
    return Invalid("range '" + text + "' for " + std::string(key) + " must lie within " +
                   std::to_string(lo_limit) + "-" + std::to_string(hi_limit));
  }
  return {};
}

}  // namespace

Result<bool> ParseBool(std::string_view text) {
  std::string lower;
  for (char c : text)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower == "true" || lower == "yes" || lower == "1" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "0" || lower == "off") return false;
  return MakeError(Errc::kInvalidArgument, "'" + std::string(text) + "' is not a boolean");
}

Status ValidatePropKey(std::string_view key) {
  if (key.empty() || key.size() > 256) return Invalid("Property key must have 1 to 256 characters");
  if (key.front() == '/' || key.back() == '/' || key.find("//") != std::string_view::npos) {
    return Invalid("Property key '" + std::string(key) + "' has an empty path segment");
  }
  for (char c : key) {
    if (c <= ' ' || c > '~' || c == '=') {
      return Invalid("Property key '" + std::string(key) +
                     "' may contain only printable ASCII characters without spaces or '='");
    }
  }
  return {};
}

Status ValidateProp(std::string_view key, std::string_view value) {
  TANDEM_TRY(ValidatePropKey(key));
  if (value.size() > 4096)
    return Invalid("Value of property '" + std::string(key) + "' is too long");
  std::string v(value);
  if (value.empty()) return {};  // deletes
  if (key == prop::kAutoplaceTarget) {
    if (!ParseBool(value).ok())
      return Invalid("AutoplaceTarget must be 'true' or 'false', not '" + v + "'");
  } else if (StartsWith(key, prop::kWeightsPrefix) || key == prop::kMaxThroughput ||
             key == prop::kThrottleRead || key == prop::kThrottleWrite ||
             key == prop::kMaxOversubscription) {
    char* end = nullptr;
    std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0') {
      return Invalid("Property '" + std::string(key) + "' must be a number, not '" + v + "'");
    }
  } else if (key == prop::kCapacityTotal || key == prop::kCapacityFree) {
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (end == v.c_str() || *end != '\0' || n < 0) {
      return Invalid("Property '" + std::string(key) + "' must be a size in KiB, not '" + v + "'");
    }
  } else if (key == prop::kTcpPortRange) {
    return CheckPortRange(key, value, 1, 65535);
  } else if (key == prop::kMinorRange) {
    return CheckPortRange(key, value, 0, 1048575);
  } else if (key == prop::kAutoQuorum) {
    if (v != "disabled" && v != "io-error" && v != "suspend-io") {
      return Invalid("DrbdOptions/auto-quorum must be disabled, io-error or suspend-io, not '" + v +
                     "'");
    }
  } else if (key == prop::kAutoTiebreaker) {
    if (!ParseBool(value).ok()) return Invalid("auto-add-quorum-tiebreaker must be a boolean");
  } else if (key == prop::kOnNoQuorum) {
    if (v != "io-error" && v != "suspend-io") {
      return Invalid("on-no-quorum must be io-error or suspend-io, not '" + v + "'");
    }
  } else if (key == prop::kQuorum) {
    if (v != "off" && v != "majority" && v != "all") {
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n < 1 || n > 32) {
        return Invalid("quorum must be off, majority, all or 1-32, not '" + v + "'");
      }
    }
  } else if (const drbd::OptionSpec* o = drbd::FindByProperty(key)) {
    // The satellite's .res parser would refuse the value (common/drbd_options.h).
    return drbd::ValidateValue(*o, value);
  }
  return {};
}

Status ValidatePropsChange(const PropsChange& change) {
  for (const auto& [k, v] : change.override_props) TANDEM_TRY(ValidateProp(k, v));
  for (const auto& k : change.delete_props) TANDEM_TRY(ValidatePropKey(k));
  for (const auto& ns : change.delete_namespaces) TANDEM_TRY(ValidatePropKey(ns));
  return {};
}

void ApplyPropsChange(const PropsChange& change, Props* props) {
  for (const auto& k : change.delete_props) props->erase(k);
  for (const auto& ns : change.delete_namespaces) {
    std::string prefix = ns + "/";
    for (auto it = props->lower_bound(prefix);
         it != props->end() && StartsWith(it->first, prefix);) {
      it = props->erase(it);
    }
  }
  for (const auto& [k, v] : change.override_props) {
    if (v.empty()) {
      props->erase(k);
    } else {
      (*props)[k] = v;
    }
  }
}

std::map<std::string, EffectiveProp> EffectiveProps(const std::vector<PropsLevel>& chain) {
  std::map<std::string, EffectiveProp> out;
  for (const auto& level : chain) {
    if (level.props == nullptr) continue;
    for (const auto& [k, v] : *level.props) {
      auto it = out.find(k);
      if (it == out.end()) {
        out.emplace(k, EffectiveProp{v, level.source, {}});
      } else {
        it->second.overridden.push_back(level.source + ": " + v);
      }
    }
  }
  return out;
}

std::optional<std::string> LookupProp(const std::vector<PropsLevel>& chain, std::string_view key) {
  for (const auto& level : chain) {
    if (level.props == nullptr) continue;
    auto it = level.props->find(std::string(key));
    if (it != level.props->end()) return it->second;
  }
  return std::nullopt;
}

double PropNumber(const std::vector<PropsLevel>& chain, std::string_view key, double fallback) {
  std::optional<std::string> v = LookupProp(chain, key);
  if (!v) return fallback;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  return end && *end == '\0' && d >= 0 ? d : fallback;
}

bool PropsMatch(const Props& props, const std::vector<std::string>& filters) {
  for (const auto& f : filters) {
    auto eq = f.find('=');
    if (eq == std::string::npos) {
      if (props.count(f) == 0) return false;
    } else {
      auto it = props.find(f.substr(0, eq));
      if (it == props.end() || it->second != f.substr(eq + 1)) return false;
    }
  }
  return true;
}

}  // namespace tandem::controller
