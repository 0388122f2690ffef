// The tandem CLI: the linstor client's command grammar and abbreviations
// (`n l`, `sp c`, `rg spawn`, `r l`, ...) over the REST API v1.
//
// Exit codes: 0 success; 1 invalid value (size, property); 2 usage error;
// 10 the controller refused the request (an ERROR entry, as linstor);
// 20 no controller could be reached.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "common/result.h"

namespace tandem::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitBadValue = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitApiError = 10;
inline constexpr int kExitConnection = 20;

int Main(int argc, char** argv);
// `args` excludes the program name. Controllers come from --controllers, then
// TANDEM_CONTROLLERS, then LS_CONTROLLERS, then localhost:3370.
int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Sizes as the linstor client reads them: a bare number is GiB; units K, M,
// G, T (binary) with or without "iB", KB/MB/... decimal. Result in KiB.
Result<int64_t> ParseSizeKib(const std::string& text);
std::string FormatKib(int64_t kib);

// The PUT modify body of `rg|rd drbd-options`: each (option, value) becomes
// override_props["DrbdOptions/<Section>/<option>"], each unset option a
// delete_props entry. Errors: an unknown option, a value the engine would
// refuse, an option both set and unset, or nothing given.
Result<boost::json::object> DrbdOptionsBody(
    const std::vector<std::pair<std::string, std::string>>& set_options,
    const std::vector<std::string>& unset_options);

// A table in the linstor client's style (box-drawing borders).
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

}  // namespace tandem::cli
