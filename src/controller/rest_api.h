// RestApi: the LINSTOR REST API v1 over the Service, independent of the HTTP
// transport (http_server.h carries requests to Handle()).
//
// Compatibility rules (reference/linstor-api.md §0): every answer has a JSON
// body; errors are ApiCallRc arrays with the HTTP status of the first error;
// 201 for creating POSTs; single-object GETs answer one object or 404; bodies
// are read leniently (codec.h); malformed JSON gives 400 with
// API_CALL_PARSE_ERROR and changes nothing.
//
// Thread-compatible: called from the server's single thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "controller/satellite_link.h"
#include "controller/service.h"
#include "controller/view_cache.h"

namespace tandem::controller {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, percent-encoded
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

struct VersionInfo {
  std::string version = "0.1.0";
  std::string git_hash = "unknown";
  std::string build_time = "unknown";
  std::string rest_api_version = "1.28.0";  // the spec version we follow
};

class RestApi {
 public:
  static constexpr size_t kMaxBodyBytes = 4 << 20;

  RestApi(Service* service, Store* store, VersionInfo version = {})
      : service_(service), store_(store), version_(std::move(version)) {}

  HttpResponse Handle(const HttpRequest& request);
  // Where the views read observed state from (none: every node OFFLINE).
  void set_hub(const SatelliteHub* hub) { hub_ = hub; }

 private:
  HttpResponse Route(const HttpRequest& request);
  std::string Metrics() const;

  Service* service_;
  Store* store_;
  VersionInfo version_;
  const SatelliteHub* hub_ = nullptr;
  ObservedMap observed_;  // the snapshot the current request sees
  // GET /v1/view/resources answers from serialized resources, each valid for
  // one version of its definition's rows and one of its node's observed state.
  ViewCache view_cache_;
  // Bytes per resource of the last GET /v1/view/resources answer (and a little
  // more): the next one reserves its size at once instead of growing step by step.
  size_t view_bytes_per_resource_ = 2048;
  // Request statistics for /metrics, per method.
  struct Stat {
    uint64_t count = 0;
    double seconds = 0;
  };
  std::map<std::string, Stat> stats_;
};

}  // namespace tandem::controller
