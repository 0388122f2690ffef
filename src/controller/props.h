// Properties: string maps on every object, their validation, and inheritance.
//
// Precedence (user guide §1.5: the value closest to the physical storage wins):
//   volume definition > volume group > resource > resource definition >
//   resource group > node/storage pool (where they apply) > controller.
// EffectiveProps() walks a chain given from the lowest (strongest) object to
// the highest and reports, per key, the winning value and where it came from.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tandem::controller {

using Props = std::map<std::string, std::string>;

// Keys with a meaning to the controller.
namespace prop {
inline constexpr const char kStorPoolName[] = "StorPoolName";
inline constexpr const char kStorDriverPoolName[] = "StorDriver/StorPoolName";
inline constexpr const char kAutoplaceTarget[] = "AutoplaceTarget";
inline constexpr const char kWeightsPrefix[] = "Autoplacer/Weights/";
inline constexpr const char kMaxThroughput[] = "Autoplacer/MaxThroughput";
inline constexpr const char kThrottleRead[] = "sys/fs/blkio_throttle_read";
inline constexpr const char kThrottleWrite[] = "sys/fs/blkio_throttle_write";
inline constexpr const char kTcpPortRange[] = "TcpPortAutoRange";
inline constexpr const char kMinorRange[] = "MinorNrAutoRange";
inline constexpr const char kAutoQuorum[] = "DrbdOptions/auto-quorum";
inline constexpr const char kAutoTiebreaker[] = "DrbdOptions/auto-add-quorum-tiebreaker";
// Resource property: the satellite puts a loop device on the volumes there.
inline constexpr const char kBlockDevice[] = "Tandem/BlockDevice";
inline constexpr const char kAutoEvictMinReplicaCount[] = "DrbdOptions/AutoEvictMinReplicaCount";
inline constexpr const char kQuorum[] = "DrbdOptions/Resource/quorum";
inline constexpr const char kOnNoQuorum[] = "DrbdOptions/Resource/on-no-quorum";
inline constexpr const char kMaxOversubscription[] = "MaxOversubscriptionRatio";
// Capacity of a storage pool as last reported (KiB). Until satellites report
// capacity (next issue), these pool properties stand in for the report.
inline constexpr const char kCapacityTotal[] = "Tandem/Capacity/TotalKib";
inline constexpr const char kCapacityFree[] = "Tandem/Capacity/FreeKib";
}  // namespace prop

// A key is 1-256 printable ASCII characters without spaces, made of
// '/'-separated non-empty segments. Values are at most 4096 bytes and, for the
// keys the controller interprets, must parse (e.g. AutoplaceTarget is a bool).
Status ValidatePropKey(std::string_view key);
Status ValidateProp(std::string_view key, std::string_view value);

// The override/delete triple of every *Modify request.
struct PropsChange {
  Props override_props;
  std::vector<std::string> delete_props;
  std::vector<std::string> delete_namespaces;
  bool empty() const {
    return override_props.empty() && delete_props.empty() && delete_namespaces.empty();
  }
};
Status ValidatePropsChange(const PropsChange& change);
// Applies deletions first, then overrides. An empty override value deletes the
// key, as `linstor ... set-property KEY` with no value does.
void ApplyPropsChange(const PropsChange& change, Props* props);

// One level of an inheritance chain.
struct PropsLevel {
  std::string source;  // "controller", "resource group", ...
  const Props* props = nullptr;
};
struct EffectiveProp {
  std::string value;
  std::string source;
  std::vector<std::string> overridden;  // lower-priority values that lost
};
// REQUIRES: chain ordered from the strongest level to the weakest.
std::map<std::string, EffectiveProp> EffectiveProps(const std::vector<PropsLevel>& chain);
std::optional<std::string> LookupProp(const std::vector<PropsLevel>& chain, std::string_view key);
// The effective value as a number >= 0, else `fallback` (unset or not a number).
double PropNumber(const std::vector<PropsLevel>& chain, std::string_view key, double fallback);

// Filter `props=` of list requests: "KEY" means the key exists, "KEY=VALUE"
// means equal; several filters are ANDed.
bool PropsMatch(const Props& props, const std::vector<std::string>& filters);

Result<bool> ParseBool(std::string_view text);

}  // namespace tandem::controller
