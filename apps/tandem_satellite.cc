// tandem-satellite: applies the controller's desired state on this node
// through the local tandemd and reports what it sees
// (docs/satellite-protocol.md). Runs in the foreground; start it with setsid
// and --pid-file to keep it in the background.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <thread>

#include "common/log.h"
#include "satellite/satellite.h"

namespace {
tandem::satellite::Satellite* g_satellite = nullptr;
}

int main(int argc, char** argv) {
  using namespace tandem;
  CLI::App app{"tandem-satellite: the node agent of a Tandem cluster"};
  satellite::SatelliteOptions o;
  std::string listen = "0.0.0.0:3366";
  app.add_option("--root", o.root, "prefix for etc/tandem, var/lib/tandem, run/tandem");
  app.add_option("--node", o.node, "this node's name (default: the host name)");
  app.add_option("--listen", listen, "ADDR:PORT the controller dials (default 0.0.0.0:3366)");
  app.add_option("--workers", o.workers, "resources applied in parallel (default 8)")
      ->check(CLI::Range(1, 256));
  app.add_option("--pid-file", o.pid_file, "write the process id here");
  CLI11_PARSE(app, argc, argv);
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "tandem-satellite: --listen needs ADDR:PORT, got '" << listen << "'\n";
    return 2;
  }
  o.listen_address = listen.substr(0, colon);
  if (o.listen_address.size() > 2 && o.listen_address.front() == '[')
    o.listen_address = o.listen_address.substr(1, o.listen_address.size() - 2);
  try {
    int port = std::stoi(listen.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    o.listen_port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    std::cerr << "tandem-satellite: bad port in --listen '" << listen << "'\n";
    return 2;
  }
  satellite::Satellite s(o);
  Status st = s.Start();
  if (!st.ok()) {
    std::cerr << "tandem-satellite: " << st.error().message << "\n";
    return 1;
  }
  if (!o.pid_file.empty()) {
    std::ofstream(o.pid_file) << getpid() << "\n";
  }
  // SIGTERM/SIGINT stop the accept loop from a helper thread.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  g_satellite = &s;
  std::thread([set] {
    int sig = 0;
    sigwait(&set, &sig);
    g_satellite->Stop();
  }).detach();
  s.Run();
  if (!o.pid_file.empty()) ::unlink(o.pid_file.c_str());
  return 0;
}
