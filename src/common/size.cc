#include "common/size.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

namespace tandem {

namespace {
bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}
}  // namespace

Result<uint64_t> ParseSize(std::string_view text, uint64_t default_unit) {
  auto bad = [&](const char* why) {
    return MakeError(Errc::kInvalidArgument, "invalid size '" + std::string(text) + "': " + why);
  };
  size_t i = 0;
  while (i < text.size() && text[i] == ' ') ++i;
  size_t start = i;
  bool seen_dot = false;
  while (i < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[i])) || (text[i] == '.' && !seen_dot))) {
    if (text[i] == '.') seen_dot = true;
    ++i;
  }
  std::string_view number = text.substr(start, i - start);
  if (number.empty() || number == ".") return bad("expected a number");
  std::string_view unit = text.substr(i);
  while (!unit.empty() && unit.back() == ' ') unit.remove_suffix(1);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);

  uint64_t mult = 0;
  static constexpr std::string_view kLetters = "KMGTP";
  if (unit.empty()) {
    mult = default_unit;
  } else if (IEquals(unit, "B")) {
    mult = 1;
  } else {
    char u = static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0])));
    size_t pos = kLetters.find(u);
    if (pos == std::string_view::npos) return bad("unknown unit");
    std::string_view rest = unit.substr(1);
    bool decimal = false;
    if (rest.empty() || IEquals(rest, "iB") || IEquals(rest, "i")) {
      decimal = false;
    } else if (IEquals(rest, "B")) {
      decimal = true;
    } else {
      return bad("unknown unit");
    }
    mult = 1;
    for (size_t k = 0; k <= pos; ++k) mult *= decimal ? 1000 : 1024;
  }

  // Integer part exactly; a fractional part must give whole bytes.
  size_t dot = number.find('.');
  std::string_view ip = number.substr(0, dot);
  std::string_view fp = dot == std::string_view::npos ? "" : number.substr(dot + 1);
  unsigned __int128 whole = 0;
  for (char c : ip) {
    whole = whole * 10 + static_cast<unsigned>(c - '0');
    if (whole > std::numeric_limits<uint64_t>::max()) return bad("too large");
  }
  unsigned __int128 total = whole * mult;
  if (!fp.empty()) {
    unsigned __int128 num = 0, den = 1;
    for (char c : fp) {
      if (den > (static_cast<unsigned __int128>(1) << 80)) return bad("too many digits");
      num = num * 10 + static_cast<unsigned>(c - '0');
      den *= 10;
    }
    unsigned __int128 frac = num * mult;
    if (frac % den != 0) return bad("not a whole number of bytes");
    total += frac / den;
  }
  if (total > std::numeric_limits<uint64_t>::max()) return bad("too large");
  return static_cast<uint64_t>(total);
}

std::string FormatSize(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  double v = static_cast<double>(bytes);
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    ++u;
  }
  char buf[64];
  if (u == 0 || std::floor(v) == v) {
    std::snprintf(buf, sizeof buf, "%.0f%s", v, kUnits[u]);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f%s", v, kUnits[u]);
  }
  return buf;
}

}  // namespace tandem
