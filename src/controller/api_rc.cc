#include "controller/api_rc.h"

namespace tandem::controller::rc {

int64_t Compose(uint64_t type_mask, uint64_t op, uint64_t obj, uint64_t code) {
  return static_cast<int64_t>(type_mask | op | obj | code);
}

ApiCallRc Success(uint64_t op, uint64_t obj, uint64_t code, std::string message) {
  ApiCallRc r;
  r.ret_code = Compose(0, op, obj, code);
  r.message = std::move(message);
  return r;
}

ApiCallRc Error(uint64_t op, uint64_t obj, uint64_t code, std::string message, std::string cause,
                std::string correction) {
  ApiCallRc r;
  r.ret_code = Compose(kMaskError, op, obj, code);
  r.message = std::move(message);
  r.cause = std::move(cause);
  r.correction = std::move(correction);
  return r;
}

ApiCallRc Warn(uint64_t op, uint64_t obj, uint64_t code, std::string message) {
  ApiCallRc r;
  r.ret_code = Compose(kMaskWarn, op, obj, code);
  r.message = std::move(message);
  return r;
}

ApiCallRc Info(uint64_t op, uint64_t obj, uint64_t code, std::string message) {
  ApiCallRc r;
  r.ret_code = Compose(kMaskInfo, op, obj, code);
  r.message = std::move(message);
  return r;
}

bool HasError(const ApiCallRcList& list) {
  for (const auto& r : list) {
    if (r.is_error()) return true;
  }
  return false;
}

int HttpStatusFor(const ApiCallRcList& list, int success_status) {
  for (const auto& r : list) {
    if (!r.is_error()) continue;
    if (static_cast<uint64_t>(r.ret_code) == kApiCallParseError) return 400;
    uint64_t code = r.code();
    if (code >= 300 && code <= 399) return 404;
    if (code >= 400 && code <= 499) return 403;
    return 500;
  }
  return success_status;
}

}  // namespace tandem::controller::rc
