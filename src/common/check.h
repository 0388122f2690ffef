// TANDEM_CHECK: crash loudly on a broken invariant. Always on, in every build.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace tandem {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line, const char* msg);
}  // namespace tandem

#define TANDEM_CHECK(cond)                                                                       \
  do {                                                                                           \
    if (__builtin_expect(!(cond), 0)) ::tandem::CheckFailed(#cond, __FILE__, __LINE__, nullptr); \
  } while (0)

#define TANDEM_CHECK_MSG(cond, msg)                                                            \
  do {                                                                                         \
    if (__builtin_expect(!(cond), 0)) ::tandem::CheckFailed(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)
