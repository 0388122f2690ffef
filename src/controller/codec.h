// JSON encoding of the object model: the shapes of the LINSTOR REST API v1
// (field names from reference/linstor-rest-v1-openapi.yaml), used for REST
// bodies, for database rows (store.h) and for export-db files.
//
// Readers are lenient as LINSTOR clients need (reference/linstor-api.md §0):
// missing and null fields keep their default, unknown fields are ignored,
// enums are case-insensitive; a field of the wrong type is an error that
// names the field. Writers leave out empty fields, as LINSTOR does.
//
// Only codec.cc and rest_api.cc include Boost.JSON; keep it that way.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"
#include "controller/model.h"

namespace tandem::controller {

class Store;
namespace json = boost::json;

Status ReadString(const json::object& o, std::string_view key, std::string* out);
Status ReadOptString(const json::object& o, std::string_view key, std::optional<std::string>* out);
Status ReadInt64(const json::object& o, std::string_view key, int64_t* out);
Status ReadInt(const json::object& o, std::string_view key, int* out);
Status ReadOptInt(const json::object& o, std::string_view key, std::optional<int>* out);
Status ReadBool(const json::object& o, std::string_view key, bool* out);
Status ReadOptBool(const json::object& o, std::string_view key, std::optional<bool>* out);
Status ReadStringList(const json::object& o, std::string_view key, std::vector<std::string>* out);
Status ReadProps(const json::object& o, std::string_view key, Props* out);
Status ReadPropsChange(const json::object& o, PropsChange* out);
// `o[key]` as an object; nullptr when missing or null; error when not an object.
Result<const json::object*> ReadObject(const json::object& o, std::string_view key);

json::object PropsToJson(const Props& props);
json::array StringsToJson(const std::vector<std::string>& items);

json::object NetInterfaceToJson(const NetInterface& nif);
Status NetInterfaceFromJson(const json::object& o, NetInterface* out);
json::object NodeToJson(const Node& node);
Status NodeFromJson(const json::object& o, Node* out);
json::object PoolDefToJson(const StoragePoolDefinition& def);
Status PoolDefFromJson(const json::object& o, StoragePoolDefinition* out);
// Capacity fields carry the reported values (the REST layer adds effective ones).
json::object PoolToJson(const StoragePool& pool);
Status PoolFromJson(const json::object& o, StoragePool* out);
json::object SelectFilterToJson(const SelectFilter& f);
Status SelectFilterFromJson(const json::object& o, SelectFilter* out);
json::object RgToJson(const ResourceGroup& rg);
Status RgFromJson(const json::object& o, ResourceGroup* out);
json::object VgToJson(const VolumeGroup& vg);
Status VgFromJson(const json::object& o, VolumeGroup* out);
json::object RdToJson(const ResourceDefinition& rd);
Status RdFromJson(const json::object& o, ResourceDefinition* out);
json::object VdToJson(const VolumeDefinition& vd);
Status VdFromJson(const json::object& o, VolumeDefinition* out);
// The stored fields of a resource; the REST layer adds layers and volumes.
json::object ResourceToJson(const Resource& rsc);
Status ResourceFromJson(const json::object& o, Resource* out);

// Loads every table of the store into an empty cluster.
Status LoadCluster(Store& store, Cluster* cluster);

// export-db / import-db: a versioned JSON document
//   {"format": "tandem-controller-db", "format_version": 1,
//    "schema_version": N, "cluster_id": "...", "exported_at_ms": T,
//    "tables": {"nodes": [{"key": K, "data": {...}}, ...], ...}}
inline constexpr int kExportFormatVersion = 1;
Result<std::string> ExportDb(Store& store);
// Validates the whole document (every row must decode) before replacing the
// store's content in one transaction.
Status ImportDb(Store& store, std::string_view document);

}  // namespace tandem::controller
