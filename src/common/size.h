// Human-readable sizes: "100G", "512MiB", "4k", "1.5T".
//
// Units K, M, G, T, P (with or without a trailing "iB") are binary (1024^n), as
// in DRBD and LINSTOR; KB, MB, GB, TB, PB are decimal (1000^n); "B" or no unit
// means default_unit bytes per count (1 unless the caller says otherwise).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tandem {

Result<uint64_t> ParseSize(std::string_view text, uint64_t default_unit = 1);
// Shortest exact binary form, e.g. 1073741824 -> "1GiB", 1536 -> "1.5KiB" (rounded to 2 digits).
std::string FormatSize(uint64_t bytes);

}  // namespace tandem
