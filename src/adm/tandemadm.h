// tandemadm: the drbdadm of Tandem. Reads DRBD-style .res files
// (docs/res-format.md), turns one resource into this node's ResourceSpec and
// drives the local tandemd over its admin socket (docs/tandemd.md).
#pragma once

#include <string>

#include "adm/res_config.h"
#include "common/result.h"
#include "tandemd/spec.h"

namespace tandem::adm {

// This node's view of `res`: `host_name` selects the `on` section.
Result<tandemd::ResourceSpec> SpecFor(const ResResource& res, const std::string& host_name);

// The whole command line; returns the process exit code (0 ok, 1 refused or
// failed, 2 usage errors, 3 daemon not reachable).
int RunTandemadm(int argc, char** argv);

}  // namespace tandem::adm
