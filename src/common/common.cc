#include "common/check.h"
#include "common/result.h"

namespace tandem {

void CheckFailed(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "TANDEM_CHECK failed: %s at %s:%d%s%s\n", expr, file, line, msg ? ": " : "",
               msg ? msg : "");
  std::fflush(stderr);
  std::abort();
}

const char* ErrcName(Errc code) {
  switch (code) {
    case Errc::kOk:
      return "ok";
    case Errc::kInvalidArgument:
      return "invalid-argument";
    case Errc::kTruncated:
      return "truncated";
    case Errc::kCorrupt:
      return "corrupt";
    case Errc::kUnsupported:
      return "unsupported";
    case Errc::kNotFound:
      return "not-found";
    case Errc::kAlreadyExists:
      return "already-exists";
    case Errc::kBusy:
      return "busy";
    case Errc::kIoError:
      return "io-error";
    case Errc::kOutcomeUnknown:
      return "outcome-unknown";
    case Errc::kRefused:
      return "refused";
    case Errc::kAuthFailed:
      return "auth-failed";
  }
  return "unknown";
}

}  // namespace tandem
