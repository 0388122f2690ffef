// tandem-controller: the cluster controller (REST API v1 on :3370).
//
//   tandem-controller [--root DIR] [--listen ADDR:PORT] [--pid-file F] [--port-file F]
//   tandem-controller [--root DIR] export-db FILE
//   tandem-controller [--root DIR] import-db FILE
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>

#include "controller/controller.h"

namespace {

int Fail(const std::string& message, int code = 1) {
  std::cerr << "tandem-controller: " << message << "\n";
  return code;
}

bool WriteFile(const std::string& path, const std::string& text) {
  if (path.empty()) return true;
  std::ofstream out(path, std::ios::trunc);
  out << text << "\n";
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tandem::controller;
  CLI::App app{"tandem-controller: the Tandem cluster controller (LINSTOR REST API v1)"};
  std::string root = "/";
  std::string listen = "0.0.0.0:3370";
  std::string pid_file;
  std::string port_file;
  app.add_option("--root", root, "Root directory; state lives in ROOT/var/lib/tandem")
      ->capture_default_str();
  app.add_option("--listen,--rest-listen", listen, "REST address ADDR:PORT (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--pid-file", pid_file, "Write the process id to this file");
  app.add_option("--port-file", port_file, "Write the bound REST port to this file once listening");
  std::string db_file;
  auto* export_cmd =
      app.add_subcommand("export-db", "Write the database as versioned JSON to FILE");
  export_cmd->add_option("FILE", db_file, "Output file")->required();
  auto* import_cmd =
      app.add_subcommand("import-db", "Replace the database with the JSON export in FILE");
  import_cmd->add_option("FILE", db_file, "Input file")->required();
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);

  if (export_cmd->parsed()) {
    auto s = ExportDatabase(root, db_file);
    if (!s.ok()) return Fail(s.error().message);
    std::cout << "Exported " << DatabasePath(root) << " to " << db_file << "\n";
    return 0;
  }
  if (import_cmd->parsed()) {
    auto s = ImportDatabase(root, db_file);
    if (!s.ok()) return Fail(s.error().message);
    std::cout << "Imported " << db_file << " into " << DatabasePath(root) << "\n";
    return 0;
  }

  auto addr = ParseListenAddress(listen, 3370);
  if (!addr.ok()) return Fail(addr.error().message, 2);
  Controller controller({root, addr->first, addr->second});
  auto s = controller.Start();
  if (!s.ok()) return Fail(s.error().message);
  if (!WriteFile(pid_file, std::to_string(::getpid()))) return Fail("cannot write " + pid_file);
  if (!WriteFile(port_file, std::to_string(controller.port())))
    return Fail("cannot write " + port_file);
  std::cout << "tandem-controller: listening on " << addr->first << ":" << controller.port()
            << ", database " << DatabasePath(root) << std::endl;
  controller.Run();
  return 0;
}
