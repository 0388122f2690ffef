// Object names: validation by LINSTOR's rules and case-insensitive identity.
//
// LINSTOR compares names case-insensitively (it stores the upper-case form as
// the identity and shows the original spelling). Tandem does the same: every
// table is keyed by NameKey(name), every object keeps the spelling it was
// created with.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace tandem::controller {

// The identity of a name: its ASCII upper-case form.
std::string NameKey(std::string_view name);
bool NameEquals(std::string_view a, std::string_view b);

// Resource, resource-group and storage-pool names: 2-48 characters of ASCII
// letters, digits and '_'; '-' is allowed inside the name but not at either end.
Status ValidateResourceName(std::string_view name);
Status ValidateResourceGroupName(std::string_view name);
Status ValidateStoragePoolName(std::string_view name);
// Node names are host names: dot-separated labels of letters, digits and '-'.
Status ValidateNodeName(std::string_view name);
// Net interface names: 2-32 characters of letters, digits, '_' and '-'.
Status ValidateNetInterfaceName(std::string_view name);

}  // namespace tandem::controller
