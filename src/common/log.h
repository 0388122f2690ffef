// Logging for processes (tandemd, tools). The engine does not log: it emits
// events, which its host may log. Backed by spdlog.
#pragma once

#include <string_view>

namespace tandem {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void SetLogLevel(LogLevel level);
void Log(LogLevel level, std::string_view message);

}  // namespace tandem
