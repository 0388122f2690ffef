// Fuzz target for the .res parser. Properties, for arbitrary bytes:
//  - parsing never crashes; a failure always has a "file:line: message" text;
//  - every parsed resource survives a render/parse round trip unchanged, and
//    rendering is idempotent.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "adm/res_config.h"
#include "common/check.h"

namespace {

constexpr std::string_view kFile = "fuzz.res";

const char* const kSeeds[] = {
    R"(resource r0 {
    meta-disk internal;
    device /dev/drbd0;
    disk /dev/sdb;
    syncer { rate 1000M; }
    net { allow-two-primaries; after-sb-0pri discard-zero-changes;
          after-sb-1pri discard-secondary; after-sb-2pri disconnect; }
    startup { become-primary-on both; }
    on node1.example.net { address 10.0.128.1:7789; }
    on node2.example.net { address 10.0.128.2:7789; }
})",
    R"(global { usage-count no; }
common { options { quorum majority; on-no-quorum io-error; } net { protocol C; } }
resource "web" {
  volume 0 { device minor 1; disk /dev/vg/web; meta-disk /dev/vg/md[0]; }
  volume 1 { device /dev/drbd2 minor 2; disk none; }
  on a { node-id 0; address ipv4 10.0.0.1:7000; }
  on b { node-id 1; address ipv6 [fd00::2]:7000; volume 1 { disk /dev/sdc; } }
  on c { node-id 2; address 10.0.0.3:7000; }
  connection-mesh { hosts a b c; net { timeout 50; } }
  connection { host a address 10.0.0.1:7001; host b port 7002; net { ko-count 3; } }
  disk { resync-rate 100M; c-max-rate 1G; c-fill-target 1M; disk-timeout 0; }
  handlers { split-brain "/bin/notify \"x\""; }
})",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = tandem::adm::ParseResString(text, kFile);
  if (!parsed.ok()) {
    TANDEM_CHECK(parsed.error().message.rfind(std::string(kFile) + ":", 0) == 0);
    return 0;
  }
  for (const auto& res : parsed->resources) {
    const std::string rendered = tandem::adm::RenderResource(res);
    auto again = tandem::adm::ParseResString(rendered, kFile);
    TANDEM_CHECK_MSG(again.ok(), again.ok() ? "" : again.error().message.c_str());
    TANDEM_CHECK(again->resources.size() == 1);
    TANDEM_CHECK(again->resources[0] == res);
    TANDEM_CHECK(tandem::adm::RenderResource(again->resources[0]) == rendered);
  }
  return 0;
}

extern "C" size_t TandemFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  for (const char* s : kSeeds) {
    const std::string_view v(s);
    // The seeds must be valid, or the mutations would mostly test the lexer.
    auto parsed = tandem::adm::ParseResString(v, kFile);
    TANDEM_CHECK_MSG(parsed.ok(), parsed.ok() ? "" : parsed.error().message.c_str());
    out->emplace_back(v.begin(), v.end());
  }
  return std::size(kSeeds);
}
