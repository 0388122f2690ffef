// Result<T>: the return type of every fallible call (STYLE.md §5).
//
// An Error carries a code a caller can react to and a message for a human.
// Add a code only when some caller branches on it (STYLE.md §6).
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "common/check.h"

namespace tandem {

enum class Errc {
  kOk = 0,
  kInvalidArgument,  // the caller's input is malformed or out of range
  kTruncated,        // input ended before a complete object was read
  kCorrupt,          // checksum, magic or structural check failed
  kUnsupported,      // a version or feature this build does not know
  kNotFound,
  kAlreadyExists,
  kBusy,            // try again later (in transient state, locked)
  kIoError,         // the operation definitely failed
  kOutcomeUnknown,  // the operation may or may not have taken effect
  kRefused,         // a state change was refused; see the message
  kAuthFailed,
};

const char* ErrcName(Errc code);

struct Error {
  Errc code = Errc::kOk;
  std::string message;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) { TANDEM_CHECK(std::get<1>(v_).code != Errc::kOk); }

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    TANDEM_CHECK_MSG(ok(), error().message.c_str());
    return std::get<0>(v_);
  }
  const T& value() const& {
    TANDEM_CHECK_MSG(ok(), error().message.c_str());
    return std::get<0>(v_);
  }
  T&& value() && {
    TANDEM_CHECK_MSG(ok(), error().message.c_str());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    TANDEM_CHECK(!ok());
    return std::get<1>(v_);
  }
  Errc code() const { return ok() ? Errc::kOk : error().code; }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT
  bool ok() const { return error_.code == Errc::kOk; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }
  Errc code() const { return error_.code; }

 private:
  Error error_;
};

using Status = Result<void>;

inline Error MakeError(Errc code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace tandem

// Propagates an error from an expression returning Result<...>.
#define TANDEM_TRY(expr)                              \
  do {                                                \
    auto&& _r = (expr);                               \
    if (!_r.ok()) return ::tandem::Error(_r.error()); \
  } while (0)
