#include "tandemd/loop_device.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace tandem::tandemd {

namespace fs = std::filesystem;

Result<std::string> RunCommand(const std::vector<std::string>& argv) {
  if (argv.empty()) return Error{Errc::kInvalidArgument, "no command"};
  int fds[2];
  if (pipe(fds) != 0) return Error{Errc::kIoError, std::string("pipe: ") + strerror(errno)};
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return Error{Errc::kIoError, std::string("fork: ") + strerror(errno)};
  }
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    std::string why = WIFEXITED(st) && WEXITSTATUS(st) == 127 ? "not found" : out;
    return Error{Errc::kIoError, argv[0] + ": " + why};
  }
  return out;
}

std::string LoopLink(const Paths& paths, const std::string& res, uint16_t vnr) {
  return paths.by_res_dir() + "/" + res + "/" + std::to_string(vnr);
}

std::string LoopDeviceOf(const Paths& paths, const std::string& res, uint16_t vnr) {
  std::error_code ec;
  std::string link = LoopLink(paths, res, vnr);
  if (!fs::is_symlink(link, ec)) return "";
  return fs::read_symlink(link, ec).string();
}

Result<std::string> AttachLoopDevice(const Paths& paths, const std::string& res, uint16_t vnr) {
  std::string existing = LoopDeviceOf(paths, res, vnr);
  if (!existing.empty()) return existing;
  std::string file = paths.fuse_dir() + "/" + res + "/" + std::to_string(vnr);
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    return Error{Errc::kNotFound, file + " does not exist (is tandemd running with --fuse?)"};
  }
  Result<std::string> dev = RunCommand({"losetup", "--find", "--show", "--direct-io=on", file});
  if (!dev.ok()) return Error{dev.code(), "attaching " + file + ": " + dev.error().message};
  std::string link = LoopLink(paths, res, vnr);
  fs::create_directories(fs::path(link).parent_path(), ec);
  fs::create_symlink(*dev, link, ec);
  if (ec) {
    (void)RunCommand({"losetup", "-d", *dev});
    return Error{Errc::kIoError, "symlink " + link + ": " + ec.message()};
  }
  return *dev;
}

Status DetachLoopDevice(const Paths& paths, const std::string& res, uint16_t vnr) {
  std::string dev = LoopDeviceOf(paths, res, vnr);
  if (dev.empty()) return {};
  Result<std::string> r = RunCommand({"losetup", "-d", dev});
  if (!r.ok()) return Error{r.code(), "detaching " + dev + ": " + r.error().message};
  std::error_code ec;
  fs::remove(LoopLink(paths, res, vnr), ec);
  return {};
}

}  // namespace tandem::tandemd
