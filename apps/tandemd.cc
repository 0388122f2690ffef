// tandemd: the data-plane daemon (docs/tandemd.md). Runs in the foreground;
// start it with setsid and --pid-file to keep it in the background.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/log.h"
#include "tandemd/daemon.h"

int main(int argc, char** argv) {
  using namespace tandem;
  CLI::App app{"tandemd: replicated block volumes over NBD and FUSE (docs/tandemd.md)"};
  tandemd::DaemonOptions o;
  std::string log_level = "info";
  app.add_option("--root", o.root, "prefix for etc/tandem, var/lib/tandem, run/tandem");
  app.add_option("--node", o.node, "this node's name (default: the host name)");
  app.add_flag("--enable-faults", o.enable_faults, "accept the 'fault' admin command (tests)");
  app.add_option("--nbd-listen", o.nbd_listen, "also serve NBD on this TCP ADDR:PORT");
  app.add_flag("--fuse", o.fuse, "export volumes as FUSE files under run/tandem/dev");
  app.add_option("--pid-file", o.pid_file, "write the process id here");
  app.add_option("--log-level", log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);
  SetLogLevel(log_level == "debug"   ? LogLevel::kDebug
              : log_level == "warn"  ? LogLevel::kWarn
              : log_level == "error" ? LogLevel::kError
                                     : LogLevel::kInfo);
  if (o.node.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    o.node = host;
  }
  tandemd::Daemon d(o);
  Result<bool> r = d.Start();
  if (!r.ok()) {
    std::cerr << "tandemd: " << r.error().message << "\n";
    return 1;
  }
  Logf(LogLevel::kInfo, "tandemd: node {} serving root {}", o.node, o.root);
  d.Run();
  return 0;
}
