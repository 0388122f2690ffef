// The table of named simulator scenarios run by tandem-sim (--scenario NAME)
// and by the tests: randomized runs (a configuration and fault schedule drawn
// from the seed) and scripted ones that assert a specific outcome.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/harness.h"
#include "sim/workload.h"

namespace tandem::sim {

struct RunConfig {
  uint64_t seed = 1;
  bool verbose = false;         // print the trace as it happens
  bool trace_messages = false;  // a trace line per message sent
  bool broken_flush = false;    // ResourceConfig::TEST_broken_flush
  size_t trace_lines = 400;     // kept for the report of a failed run
};

struct Scenario {
  std::string name;
  std::string help;
  std::function<RunResult(const RunConfig&)> run;
};

// Every scenario, in a stable order; "random" first (the default).
const std::vector<Scenario>& Scenarios();
const Scenario* FindScenario(std::string_view name);

// The building block of the randomized scenarios: draws the configuration
// with `configure` from the run's own Simulation (the first random choices of
// the run), then runs a Workload to completion.
struct RandomSetup {
  ClusterOptions cluster;
  WorkloadOptions workload;
  std::string label;  // for the summary line
};
RunResult RunRandom(const RunConfig& config,
                    const std::function<void(Simulation&, RandomSetup*)>& configure);

}  // namespace tandem::sim
