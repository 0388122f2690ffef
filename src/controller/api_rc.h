// ApiCallRc: the answer entries of every LINSTOR REST call and their ret_code
// bit layout (reference/linstor-api.md §1.4, LINBIT linstor-common consts).
//
//   bits 62-63 type (ERROR, WARN, INFO, success), bits 24-25 operation
//   (CRT, MOD, DEL), bits 18-22 object, bits 0-14 code.
//
// An ApiCallRc carries only what a client reads; the REST layer turns a list
// of them into a JSON array and picks the HTTP status with HttpStatusFor().
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tandem::controller::rc {

// Types.
inline constexpr uint64_t kMaskError = 0xC000000000000000ULL;
inline constexpr uint64_t kMaskWarn = 0x8000000000000000ULL;
inline constexpr uint64_t kMaskInfo = 0x4000000000000000ULL;
inline constexpr uint64_t kMaskType = 0xC000000000000000ULL;
// Operations.
inline constexpr uint64_t kMaskCrt = 0x01000000;
inline constexpr uint64_t kMaskMod = 0x02000000;
inline constexpr uint64_t kMaskDel = 0x03000000;
inline constexpr uint64_t kMaskOp = 0x03000000;
// Objects.
inline constexpr uint64_t kMaskNode = 0x3C0000;
inline constexpr uint64_t kMaskRscDfn = 0x380000;
inline constexpr uint64_t kMaskRsc = 0x340000;
inline constexpr uint64_t kMaskVlmDfn = 0x300000;
inline constexpr uint64_t kMaskVlm = 0x2C0000;
inline constexpr uint64_t kMaskNetIf = 0x1C0000;
inline constexpr uint64_t kMaskStorPoolDfn = 0x180000;
inline constexpr uint64_t kMaskStorPool = 0x140000;
inline constexpr uint64_t kMaskCtrlConf = 0x100000;
inline constexpr uint64_t kMaskRscGrp = 0x440000;
inline constexpr uint64_t kMaskVlmGrp = 0x480000;
inline constexpr uint64_t kMaskObj = 0x7C0000;
inline constexpr uint64_t kMaskCode = 0x7FFF;

// Success codes.
inline constexpr uint64_t kCreated = 1;
inline constexpr uint64_t kDeleted = 2;
inline constexpr uint64_t kModified = 3;
// SQL.
inline constexpr uint64_t kFailSql = 100;
// Invalid input.
inline constexpr uint64_t kFailInvldNodeName = 200;
inline constexpr uint64_t kFailInvldNodeType = 201;
inline constexpr uint64_t kFailInvldRscName = 202;
inline constexpr uint64_t kFailInvldRscPort = 203;
inline constexpr uint64_t kFailInvldNodeId = 204;
inline constexpr uint64_t kFailInvldVlmNr = 205;
inline constexpr uint64_t kFailInvldVlmSize = 206;
inline constexpr uint64_t kFailInvldMinorNr = 207;
inline constexpr uint64_t kFailInvldStorPoolName = 208;
inline constexpr uint64_t kFailInvldNetName = 209;
inline constexpr uint64_t kFailInvldNetAddr = 210;
inline constexpr uint64_t kFailInvldNetPort = 211;
inline constexpr uint64_t kFailInvldProp = 213;
inline constexpr uint64_t kFailInvldPlaceCount = 219;
inline constexpr uint64_t kFailInvldLayerStack = 225;
inline constexpr uint64_t kFailInvldProvider = 227;
inline constexpr uint64_t kFailInvldVlmCount = 229;
inline constexpr uint64_t kFailInvldConf = 230;
inline constexpr uint64_t kFailInvldRscGrpName = 234;
// Not found.
inline constexpr uint64_t kFailNotFoundNode = 300;
inline constexpr uint64_t kFailNotFoundRscDfn = 301;
inline constexpr uint64_t kFailNotFoundRsc = 302;
inline constexpr uint64_t kFailNotFoundVlmDfn = 303;
inline constexpr uint64_t kFailNotFoundVlm = 304;
inline constexpr uint64_t kFailNotFoundNetIf = 305;
inline constexpr uint64_t kFailNotFoundStorPoolDfn = 309;
inline constexpr uint64_t kFailNotFoundStorPool = 310;
inline constexpr uint64_t kFailNotFoundDfltStorPool = 311;
inline constexpr uint64_t kFailNotFoundRscGrp = 317;
inline constexpr uint64_t kFailNotFoundVlmGrp = 318;
// Already exists.
inline constexpr uint64_t kFailExistsNode = 500;
inline constexpr uint64_t kFailExistsRscDfn = 501;
inline constexpr uint64_t kFailExistsRsc = 502;
inline constexpr uint64_t kFailExistsVlmDfn = 503;
inline constexpr uint64_t kFailExistsNetIf = 505;
inline constexpr uint64_t kFailExistsStorPool = 510;
inline constexpr uint64_t kFailExistsRscGrp = 522;
inline constexpr uint64_t kFailExistsVlmGrp = 523;
// Missing data, pool exhausted, other.
inline constexpr uint64_t kFailMissingProps = 600;
inline constexpr uint64_t kFailPoolExhaustedMinorNr = 801;
inline constexpr uint64_t kFailPoolExhaustedTcpPort = 802;
inline constexpr uint64_t kFailPoolExhaustedNodeId = 803;
inline constexpr uint64_t kFailStorPoolConfigurationError = 990;
inline constexpr uint64_t kFailNotEnoughFreeSpace = 980;
inline constexpr uint64_t kFailInsufficientReplicaCount = 991;
inline constexpr uint64_t kFailNotEnoughNodes = 996;
inline constexpr uint64_t kFailInUse = 997;
inline constexpr uint64_t kFailUnknownError = 998;
inline constexpr uint64_t kFailImplError = 999;
// Warnings and info.
inline constexpr uint64_t kWarnNotConnected = 1002;
inline constexpr uint64_t kWarnNotFound = 3000;
inline constexpr uint64_t kWarnNotEnoughNodesForTieBreaker = 1013;
inline constexpr uint64_t kWarnRscAlreadyDeployed = 1006;
inline constexpr uint64_t kInfoNoRscSpawned = 10000;
inline constexpr uint64_t kInfoPropSet = 10002;
inline constexpr uint64_t kInfoTieBreakerCreated = 10003;
inline constexpr uint64_t kInfoTieBreakerDeleting = 10004;
inline constexpr uint64_t kInfoPropRemoved = 10005;
inline constexpr uint64_t kInfoTieBreakerTakeover = 10006;
// Special codes.
inline constexpr uint64_t kApiCallParseError = kMaskError | 0x0FFFFFFFFFFFFFFDULL;
inline constexpr uint64_t kUnknownApiCall = kMaskError | 0x0FFFFFFFFFFFFFFEULL;

struct ApiCallRc {
  int64_t ret_code = 0;  // signed, as clients expect (golinstor uses int64)
  std::string message;
  std::string cause;
  std::string correction;
  std::string details;
  std::map<std::string, std::string> obj_refs;

  bool is_error() const { return (static_cast<uint64_t>(ret_code) & kMaskType) == kMaskError; }
  uint64_t code() const { return static_cast<uint64_t>(ret_code) & kMaskCode; }
};
using ApiCallRcList = std::vector<ApiCallRc>;

// Composes a ret_code from a type mask, an operation, an object and a code.
int64_t Compose(uint64_t type_mask, uint64_t op, uint64_t obj, uint64_t code);
ApiCallRc Success(uint64_t op, uint64_t obj, uint64_t code, std::string message);
ApiCallRc Error(uint64_t op, uint64_t obj, uint64_t code, std::string message,
                std::string cause = "", std::string correction = "");
ApiCallRc Warn(uint64_t op, uint64_t obj, uint64_t code, std::string message);
ApiCallRc Info(uint64_t op, uint64_t obj, uint64_t code, std::string message);

bool HasError(const ApiCallRcList& list);
// The HTTP status of an answer: the first error decides (300-399 -> 404,
// 400-499 -> 403, parse error -> 400, other errors -> 500); without errors,
// `success_status` (201 for creating calls, 200 otherwise).
int HttpStatusFor(const ApiCallRcList& list, int success_status);

}  // namespace tandem::controller::rc
