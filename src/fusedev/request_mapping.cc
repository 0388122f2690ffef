#include "fusedev/request_mapping.h"

#include <fcntl.h>
#include <linux/falloc.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

namespace tandem::fusedev {

bool IsValidResourceName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

std::string VolumeFileName(VolumeNr vnr) { return std::to_string(vnr.value()); }

std::optional<VolumeNr> ParseVolumeFileName(std::string_view name) {
  if (name.empty() || name.size() > 5) return std::nullopt;
  if (name.size() > 1 && name[0] == '0') return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), value);
  if (ec != std::errc() || end != name.data() + name.size() || value > 0xffff) {
    return std::nullopt;
  }
  return VolumeNr(static_cast<uint16_t>(value));
}

OpenMode OpenModeForFlags(int flags) {
  int access = flags & O_ACCMODE;
  return access == O_RDONLY ? OpenMode::kReadOnly : OpenMode::kReadWrite;
}

bool IsSyncOpen(int flags) {
  // O_SYNC includes the O_DSYNC bit.
  return (flags & O_DSYNC) != 0;
}

Range ClampRead(uint64_t offset, uint64_t length, uint64_t size) {
  if (offset >= size) return Range{offset, 0};
  uint64_t n = std::min<uint64_t>({length, size - offset, UINT32_MAX});
  return Range{offset, static_cast<uint32_t>(n)};
}

std::optional<Range> ClampWrite(uint64_t offset, uint64_t length, uint64_t size) {
  if (offset >= size) return std::nullopt;
  uint64_t n = std::min<uint64_t>({length, size - offset, UINT32_MAX});
  return Range{offset, static_cast<uint32_t>(n)};
}

namespace {

FallocatePlan Fail(int error) {
  FallocatePlan plan;
  plan.kind = FallocatePlan::Kind::kError;
  plan.error = error;
  return plan;
}

// Splits [offset, offset + length) clipped to size into requests of `op`.
FallocatePlan Pieces(BlockOp op, bool no_hole, uint64_t offset, uint64_t length, uint64_t size) {
  FallocatePlan plan;
  if (offset >= size || length == 0) return plan;  // kNoOp
  uint64_t end = offset + std::min(length, size - offset);
  plan.kind = FallocatePlan::Kind::kSubmit;
  for (uint64_t pos = offset; pos < end;) {
    uint64_t n = std::min<uint64_t>(end - pos, kMaxRangePiece);
    BlockRequest req;
    req.op = op;
    req.offset = pos;
    req.length = static_cast<uint32_t>(n);
    req.no_hole = no_hole;
    plan.requests.push_back(std::move(req));
    pos += n;
  }
  return plan;
}

}  // namespace

FallocatePlan PlanFallocate(int mode, uint64_t offset, uint64_t length, uint64_t size,
                            bool can_trim, bool can_write_zeroes) {
  // The kernel rejects these already; an overflowing range is refused anyway.
  if (length == 0 || offset + length < offset) return Fail(EINVAL);
  bool beyond = offset + length > size;
  switch (mode) {
    case 0:
      return beyond ? Fail(EOPNOTSUPP) : FallocatePlan{};
    case FALLOC_FL_KEEP_SIZE:
      return FallocatePlan{};
    case FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
      if (!can_trim) return Fail(EOPNOTSUPP);
      return Pieces(BlockOp::kTrim, false, offset, length, size);
    case FALLOC_FL_ZERO_RANGE:
      if (beyond) return Fail(EOPNOTSUPP);
      [[fallthrough]];
    case FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE:
      if (!can_write_zeroes) return Fail(EOPNOTSUPP);
      return Pieces(BlockOp::kWriteZeroes, true, offset, length, size);
    default:
      return Fail(EOPNOTSUPP);
  }
}

namespace {

// Undoes the \ooo escapes of a mountinfo field.
std::string Unescape(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      auto octal = [](char c) { return c >= '0' && c <= '7'; };
      if (octal(field[i + 1]) && octal(field[i + 2]) && octal(field[i + 3])) {
        out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                        (field[i + 3] - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < line.size()) {
    size_t start = line.find_first_not_of(' ', pos);
    if (start == std::string_view::npos) break;
    size_t end = line.find(' ', start);
    if (end == std::string_view::npos) end = line.size();
    out.push_back(line.substr(start, end - start));
    pos = end;
  }
  return out;
}

}  // namespace

int CountMountsAt(std::string_view mountinfo_text, std::string_view path, std::string_view fstype) {
  // Line format: id parent major:minor root mount-point options [optional...] - fstype source
  // superoptions.
  int count = 0;
  size_t pos = 0;
  while (pos < mountinfo_text.size()) {
    size_t nl = mountinfo_text.find('\n', pos);
    if (nl == std::string_view::npos) nl = mountinfo_text.size();
    std::vector<std::string_view> f = Fields(mountinfo_text.substr(pos, nl - pos));
    pos = nl + 1;
    if (f.size() < 7) continue;
    auto dash = std::find(f.begin() + 6, f.end(), std::string_view("-"));
    if (dash == f.end() || dash + 1 == f.end()) continue;
    if (Unescape(f[4]) == path && *(dash + 1) == fstype) ++count;
  }
  return count;
}

}  // namespace tandem::fusedev
