// Reading .res files and resources.d directories from the file system.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "adm/res_config.h"

namespace tandem::adm {

Result<ResFile> ParseResFile(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    return MakeError(Errc::kNotFound, path + ": no such file");
  }
  if (status.type() != std::filesystem::file_type::regular) {
    return MakeError(Errc::kIoError, path + ": not a readable regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(Errc::kIoError, path + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return MakeError(Errc::kIoError, path + ": read error");
  return ParseResString(text.str(), path);
}

Result<ResFile> ParseResDir(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> paths;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return MakeError(Errc::kNotFound, dir + ": cannot list directory: " + ec.message());
  // increment(ec) rather than a range-for: std::filesystem must not throw out of here.
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return MakeError(Errc::kIoError, dir + ": cannot list directory: " + ec.message());
    const auto& p = it->path();
    std::error_code type_ec;
    if (p.extension() == ".res" && it->is_regular_file(type_ec)) paths.push_back(p.string());
  }
  if (ec) return MakeError(Errc::kIoError, dir + ": cannot list directory: " + ec.message());
  std::sort(paths.begin(), paths.end());
  ResFile all;
  std::map<std::string, SourceLocation> seen;
  for (const auto& path : paths) {
    auto file = ParseResFile(path);
    if (!file.ok()) return file.error();
    for (auto& g : file->global) all.global.push_back(std::move(g));
    for (auto& r : file->resources) {
      auto [pos, fresh] = seen.emplace(r.name, r.where);
      if (!fresh) {
        return MakeError(Errc::kInvalidArgument, r.where.file + ":" + std::to_string(r.where.line) +
                                                     ": resource '" + r.name +
                                                     "' is already defined at " + pos->second.file +
                                                     ":" + std::to_string(pos->second.line));
      }
      all.resources.push_back(std::move(r));
    }
  }
  return all;
}

}  // namespace tandem::adm
