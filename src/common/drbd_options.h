// The DRBD options a Tandem resource honours, as LINSTOR names them: the
// property `DrbdOptions/<Section>/<option>` (Section: Resource, Net, Disk,
// PeerDevice) that `linstor ... drbd-options --<option> VALUE` sets.
//
// The table follows what tandemd's .res parser accepts (docs/res-format.md):
// the satellite writes Net options into the `net` section, Disk and
// PeerDevice options into `disk`, Resource options into `options`. Values are
// checked here with the parser's rules, so a property the controller accepts
// is one the satellite can apply. `cram-hmac-alg` and `shared-secret` are not
// here: the controller sets them from the resource definition's secret.
//
// Shared by the controller (it refuses bad values of these properties) and
// the CLI (`rg|rd drbd-options`). Pure data and functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tandem::drbd {

enum class ValueKind {
  kFlag,        // yes | no
  kEnum,        // one of `values`
  kInteger,     // decimal in [min, max]
  kRate,        // KiB/s, plain or with a K/M/G suffix, in [min, max] KiB/s
  kFillTarget,  // 512-byte sectors, or a size with K/M/G suffix, up to 512 MiB
  kQuorum,      // off | majority | all | 1..32
  kAlgorithm,   // an algorithm name (letters, digits, '-', '_')
};

struct OptionSpec {
  const char* name;     // the DRBD option, the CLI's --name
  const char* section;  // LINSTOR property section
  ValueKind kind;
  int64_t min = 0;
  int64_t max = 0;
  std::vector<const char*> values;  // kEnum
  const char* help = "";
  bool applied = true;  // false: accepted and kept, but Tandem does not act on it
};

// Every option, in a fixed order (sections Resource, Net, Disk, PeerDevice).
const std::vector<OptionSpec>& AllOptions();
// nullptr when Tandem does not know the option.
const OptionSpec* FindOption(std::string_view name);
// By property key, e.g. "DrbdOptions/Net/protocol"; nullptr when unknown.
const OptionSpec* FindByProperty(std::string_view key);
// "DrbdOptions/<Section>/<name>".
std::string PropertyKey(const OptionSpec& spec);
// What the value may be, for help texts and errors: "yes or no", "1..300".
std::string Expected(const OptionSpec& spec);
// kInvalidArgument naming the option and what it expects.
Status ValidateValue(const OptionSpec& spec, std::string_view value);

}  // namespace tandem::drbd
