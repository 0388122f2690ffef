// The REST API's views of resources and volumes (GET /v1/view/resources,
// /v1/resource-definitions/{rd}/resources[/{node}[/volumes[/{vnr}]]]): the
// model's rows joined with what the node's satellite reported.
//
// They are written with a JsonWriter straight into the answer: the view of
// 30,000 resources is 55 MB of JSON, and building it as a Boost.JSON document
// first cost about 18 us per resource and twice the answer's size in memory
// (docs/benchmarks.md, "Control plane"). The fields and their order are those
// of the LINSTOR REST API (docs/rest-api.md); resource_view_test.cc checks the
// fields shared with the object codecs against codec.h.
#pragma once

#include <string>

#include "controller/json_writer.h"
#include "controller/model.h"
#include "controller/satellite_link.h"

namespace tandem::controller {

// What the node's satellite reported; nullptr when it never connected.
const ObservedNode* ObservedOf(const ObservedMap& obs, const std::string& node);
// The state of one resource as its node reported it; nullptr when the node
// is not connected or has not reported it (yet).
const satproto::ResourceState* LiveState(const ObservedNode* n, const std::string& rd);
const satproto::VolumeState* LiveVolume(const satproto::ResourceState* s, int vnr);
// disk_state of a volume: what tandemd says while the node is connected,
// "Unknown" when it is not (never a stale "UpToDate").
std::string DiskStateOf(const ObservedNode* n, const Resource& r, int vnr);
std::string DevicePath(const std::string& rd, int vlmnr);

// One Resource object (with its "volumes" list when `with_volumes`).
void WriteResourceView(JsonWriter& w, const Cluster& c, const Resource& r, bool with_volumes,
                       const ObservedMap& obs);

// What the views of one definition's resources share, looked up once for
// all of them (the resource table is ordered by definition).
struct RdViewContext {
  std::string rd_name;
  const ResourceDefinition* rd = nullptr;
  std::vector<const VolumeDefinition*> vds;
};
RdViewContext RdContextOf(const Cluster& c, const std::string& rd_name);
void WriteResourceView(JsonWriter& w, const Cluster& c, const Resource& r, const RdViewContext& rd,
                       bool with_volumes, const ObservedMap& obs);
// One Volume object of resource `r`.
void WriteVolumeView(JsonWriter& w, const Cluster& c, const Resource& r, const VolumeDefinition& vd,
                     const ObservedMap& obs);

}  // namespace tandem::controller
