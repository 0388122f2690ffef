// Fuzz target for the controller-satellite frames and messages. Properties,
// for arbitrary bytes fed in arbitrary chunks:
//  - the frame decoder never crashes and either yields objects with a type or
//    reports a protocol error;
//  - every decodable message re-encodes to a message that decodes the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/check.h"
#include "satproto/messages.h"

namespace json = boost::json;
using namespace tandem::satproto;

namespace {

template <class T, class Dec>
void CheckStable(const json::object& o, Dec dec) {
  auto a = dec(o);
  if (!a.ok()) return;
  json::object again = ToJson(*a);
  auto b = dec(again);
  TANDEM_CHECK(b.ok());
  TANDEM_CHECK(json::serialize(ToJson(*b)) == json::serialize(again));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FrameDecoder d;
  size_t chunk = size ? 1 + data[0] % 17 : 1;
  for (size_t i = 0; i < size; i += chunk) {
    d.Feed(reinterpret_cast<const char*>(data) + i, std::min(chunk, size - i));
    for (;;) {
      auto m = d.Next();
      if (!m.ok()) {
        if (m.code() != tandem::Errc::kNotFound) return 0;  // protocol error: connection closed
        break;
      }
      TANDEM_CHECK(!TypeOf(*m).empty());
      CheckStable<FullSync>(*m, FullSyncFromJson);
      CheckStable<Update>(*m, UpdateFromJson);
      CheckStable<Report>(*m, ReportFromJson);
      CheckStable<Applied>(*m, AppliedFromJson);
      CheckStable<Hello>(*m, HelloFromJson);
    }
  }
  return 0;
}

extern "C" size_t TandemFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  FullSync s;
  s.generation = 3;
  ResourceDesired r;
  r.name = "r";
  r.nodes = {{"a", 0, "127.0.0.1", false, false}};
  r.volumes = {{0, 1024, 1000, "p"}};
  r.options["net"]["protocol"] = "C";
  s.resources = {r};
  s.pools = {{"p", "FILE", {{"StorDriver/FileDir", "/x"}}}};
  Report rep;
  rep.resources = {{"r", "Primary", true, {{0, "UpToDate", 1, 1, "u", ""}}, {}, ""}};
  std::vector<std::string> frames = {EncodeFrame(ToJson(s)), EncodeFrame(ToJson(rep)),
                                     EncodeFrame(Ping(1)) + EncodeFrame(ToJson(Applied{1, {}}))};
  for (const std::string& f : frames) out->emplace_back(f.begin(), f.end());
  return out->size();
}
