// Controller: the tandem-controller process - store, model, REST server.
//
// Start() opens <root>/var/lib/tandem/controller.db (creating directories),
// loads the model, creates the default objects and binds the REST port;
// Run() serves until Stop() or SIGINT/SIGTERM.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "common/result.h"
#include "controller/http_server.h"
#include "controller/rest_api.h"
#include "controller/satellite_link.h"
#include "controller/service.h"
#include "controller/store.h"

namespace tandem::controller {

struct ControllerOptions {
  std::string root = "/";                  // state lives under <root>/var/lib/tandem
  std::string listen_address = "0.0.0.0";  // --listen / --rest-listen
  uint16_t listen_port = 3370;             // 0: any free port
};

std::string DatabasePath(const std::string& root);

// The EVACUATE-flagged resources (rd, node) whose removal is due: every other
// diskful replica of the resource definition (at least one) is on a live
// satellite that reports each of its volumes UpToDate, and the leaving
// replica is not in use (when its own satellite is live to say so).
std::vector<std::pair<std::string, std::string>> EvacuationsDone(const Cluster& cluster,
                                                                 const ObservedMap& observed);

class Controller {
 public:
  explicit Controller(ControllerOptions options) : options_(std::move(options)) {}
  Status Start();
  uint16_t port() const { return port_; }
  void Run();
  void Stop();

 private:
  HttpResponse Serve(const HttpRequest& request);
  // Pushes what the last requests changed to the satellites.
  void PushDesired();
  // Copies reported pool capacities into the model (in memory only).
  void TakeCapacities();
  // Once a second on the REST thread: capacities, Auto-Evict, pushes.
  void Tick();
  // Auto-Evict (user guide): evicts nodes offline for longer than
  // DrbdOptions/AutoEvictAfterTime minutes.
  void CheckAutoEvict();
  // Deletes evacuated replicas whose replacement is UpToDate (EvacuationsDone).
  void CheckEvacuations();

  ControllerOptions options_;
  std::unique_ptr<Store> store_;
  Cluster cluster_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<RestApi> api_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<SatelliteHub> hub_;
  // Changes since the last push: resource definitions by key, or everything.
  bool dirty_all_ = true;
  std::set<std::string> dirty_rds_;
  uint64_t capacity_version_ = 0;
  // Nodes not connected, since when (steady clock).
  std::map<std::string, std::chrono::steady_clock::time_point> offline_since_;
  bool too_many_offline_logged_ = false;
  // Evicted nodes whose resources found no replacement are retried this often.
  std::chrono::steady_clock::time_point next_evict_retry_{};
  uint16_t port_ = 0;
};

// export-db / import-db on the database under `root` (controller stopped).
Status ExportDatabase(const std::string& root, const std::string& file);
Status ImportDatabase(const std::string& root, const std::string& file);

}  // namespace tandem::controller
