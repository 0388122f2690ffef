// The table of options Tandem understands in net, disk, options and syncer
// sections, shared by the parser (to apply them) and the renderer (to name
// enum values). Private to src/adm.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "adm/internal/res_syntax.h"
#include "adm/res_config.h"

namespace tandem::adm::internal {

enum SectionBit : unsigned {
  kNetSection = 1,
  kDiskSection = 2,
  kOptionsSection = 4,
  kSyncerSection = 8,
  kResourceLevel = 16,  // directly inside `resource` or `common` (only `protocol`)
};
const char* SectionName(SectionBit s);

// Applies one option statement to `res`. Returns "" on success, else a
// message without location. Errors name the option and the offending value.
using Applier = std::string (*)(ResResource& res, std::string_view name,
                                const std::vector<Word>& args);

struct OptionDef {
  const char* name;
  unsigned sections;  // SectionBit mask
  Applier apply;      // nullptr: accepted, kept in ResResource::ignored
};

// nullptr when `name` is not allowed in `section`; *known_elsewhere tells
// whether it exists in another section (for a better message).
const OptionDef* FindOption(std::string_view name, SectionBit section, bool* known_elsewhere);
const std::vector<OptionDef>& AllOptions();

const char* AfterSb0Name(engine::AfterSb0 v);
const char* AfterSb1Name(engine::AfterSb1 v);
const char* AfterSb2Name(engine::AfterSb2 v);
const char* RrConflictName(engine::RrConflict v);
std::string QuorumName(int quorum);  // "off", "majority", "all" or the count
const char* OnNoQuorumName(engine::OnNoQuorum v);

// Field-by-field comparison (engine::Options has no operator==).
bool SameOptions(const engine::Options& a, const engine::Options& b);

}  // namespace tandem::adm::internal
