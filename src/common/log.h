// Logging for processes (tandemd, tools). The engine does not log: it emits
// events, which its host may log. Backed by spdlog.
#pragma once

#include <fmt/format.h>

#include <string_view>
#include <utility>

namespace tandem {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void SetLogLevel(LogLevel level);
void Log(LogLevel level, std::string_view message);

template <class... Args>
void Logf(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  Log(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tandem
