#include "controller/names.h"

#include <cctype>

namespace tandem::controller {
namespace {

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

Status CheckName(std::string_view what, std::string_view name, size_t min_len, size_t max_len) {
  if (name.size() < min_len || name.size() > max_len) {
    return MakeError(Errc::kInvalidArgument, std::string(what) + " name '" + std::string(name) +
                                                 "' must have " + std::to_string(min_len) + " to " +
                                                 std::to_string(max_len) + " characters");
  }
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool inner = i > 0 && i + 1 < name.size();
    if (IsAlnum(c) || c == '_' || (c == '-' && inner)) continue;
    return MakeError(Errc::kInvalidArgument,
                     std::string(what) + " name '" + std::string(name) +
                         "' may contain only letters, digits and '_' ('-' only inside)");
  }
  return {};
}

}  // namespace

std::string NameKey(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool NameEquals(std::string_view a, std::string_view b) { return NameKey(a) == NameKey(b); }

Status ValidateResourceName(std::string_view name) { return CheckName("Resource", name, 2, 48); }
Status ValidateResourceGroupName(std::string_view name) {
  return CheckName("Resource group", name, 2, 48);
}
Status ValidateStoragePoolName(std::string_view name) {
  return CheckName("Storage pool", name, 2, 48);
}
Status ValidateNetInterfaceName(std::string_view name) {
  return CheckName("Net interface", name, 2, 32);
}

Status ValidateNodeName(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return MakeError(Errc::kInvalidArgument, "Node name '" + std::string(name) + "' " + why);
  };
  if (name.empty() || name.size() > 253) return bad("must have 1 to 253 characters");
  size_t label_start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      std::string_view label = name.substr(label_start, i - label_start);
      if (label.empty() || label.size() > 63) return bad("has an empty or too long label");
      if (label.front() == '-' || label.back() == '-') {
        return bad("has a label that starts or ends with '-'");
      }
      label_start = i + 1;
      continue;
    }
    char c = name[i];
    if (!IsAlnum(c) && c != '-' && c != '_') {
      return bad("is not a valid host name (letters, digits, '-' and '.')");
    }
  }
  return {};
}

}  // namespace tandem::controller
