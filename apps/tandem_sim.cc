// tandem-sim: runs simulator scenarios over one seed or a range of seeds.
//
//   tandem-sim [--scenario NAME] [--seed N | --seeds A..B] [--verbose]
//              [--broken-flush] [--trace-lines N] [--trace-messages] [--list]
//              [--known-failures FILE]
//
// A broken invariant prints "VIOLATION seed=N: <what>" and the end of the
// trace; the exit code is then 1. `tandem-sim --seed N` reproduces a run.
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sim/scenarios.h"

namespace {

using tandem::sim::FindScenario;
using tandem::sim::RunConfig;
using tandem::sim::RunResult;
using tandem::sim::Scenario;
using tandem::sim::Scenarios;
using tandem::sim::SimCluster;

uint64_t g_seed = 0;
const char* g_scenario = "random";

// A TANDEM_CHECK (in the engine or the simulator) aborts: say which seed.
void OnAbort(int) {
  std::fprintf(stdout, "VIOLATION seed=%llu: aborted (a TANDEM_CHECK failed, see stderr)\n",
               static_cast<unsigned long long>(g_seed));
  if (const SimCluster* c = SimCluster::Current()) {
    std::fprintf(stdout, "--- trace (scenario %s) ---\n%s", g_scenario, c->TraceText().c_str());
  }
  std::fflush(stdout);
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

int Usage(const char* error) {
  if (error) std::fprintf(stderr, "tandem-sim: %s\n", error);
  std::fprintf(
      stderr,
      "usage: tandem-sim [--scenario NAME] [--seed N | --seeds A..B] [--verbose]\n"
      "                  [--broken-flush] [--trace-lines N] [--trace-messages] [--list]\n");
  return 2;
}

bool ParseU64(const char* s, uint64_t* out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || s[0] == '-') return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t first = 1, last = 1;
  std::string known_file;
  RunConfig config;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--seed") {
      if (!ParseU64(value, &first)) return Usage("--seed needs a number");
      last = first;
      ++i;
    } else if (arg == "--seeds") {
      std::string v = value ? value : "";
      size_t dots = v.find("..");
      if (dots == std::string::npos || !ParseU64(v.substr(0, dots).c_str(), &first) ||
          !ParseU64(v.substr(dots + 2).c_str(), &last) || last < first) {
        return Usage("--seeds needs A..B with A <= B");
      }
      ++i;
    } else if (arg == "--scenario") {
      if (!value || !FindScenario(value)) return Usage("unknown scenario (see --list)");
      g_scenario = value;
      ++i;
    } else if (arg == "--trace-lines") {
      uint64_t n;
      if (!ParseU64(value, &n) || n == 0) return Usage("--trace-lines needs a positive number");
      config.trace_lines = n;
      ++i;
    } else if (arg == "--verbose") {
      config.verbose = true;
    } else if (arg == "--trace-messages") {
      config.trace_messages = true;
    } else if (arg == "--broken-flush") {
      config.broken_flush = true;
    } else if (arg == "--list") {
      for (const Scenario& s : Scenarios()) {
        std::printf("%-20s %s\n", s.name.c_str(), s.help.c_str());
      }
      return 0;
    } else if (arg == "--known-failures") {
      if (!value) return Usage("--known-failures needs a file");
      known_file = value;
      ++i;
    } else if (arg == "--help" || arg == "-h") {
      Usage(nullptr);
      return 0;
    } else {
      return Usage(("unknown argument " + arg).c_str());
    }
  }
  const Scenario* scenario = FindScenario(g_scenario);
  std::signal(SIGABRT, OnAbort);
  // Known failures: "<scenario> <seed>  # why" per line. A listed seed that
  // fails is expected; an unlisted failure or a listed seed that now passes
  // fails the run, so the list only ever shrinks through real fixes.
  std::set<uint64_t> known;
  if (!known_file.empty()) {
    std::ifstream in(known_file);
    if (!in) return Usage(("cannot read " + known_file).c_str());
    std::string line;
    while (std::getline(in, line)) {
      line = line.substr(0, line.find('#'));
      std::istringstream ls(line);
      std::string name;
      uint64_t seed = 0;
      if (ls >> name >> seed && name == scenario->name) known.insert(seed);
    }
  }
  std::vector<uint64_t> unexpected, fixed;

  uint64_t passed = 0, failed = 0, events = 0;
  double sim_seconds = 0;
  auto start = std::chrono::steady_clock::now();
  for (uint64_t seed = first; seed <= last; ++seed) {
    g_seed = seed;
    config.seed = seed;
    RunResult r = scenario->run(config);
    events += r.events;
    sim_seconds += static_cast<double>(r.sim_time) / 1e9;
    if (known.count(seed) && r.ok) fixed.push_back(seed);
    if (!r.ok && !known.count(seed)) unexpected.push_back(seed);
    if (r.ok) {
      ++passed;
      if (first == last)
        std::printf("seed=%llu ok: %s\n", static_cast<unsigned long long>(seed), r.summary.c_str());
    } else {
      ++failed;
      std::printf("VIOLATION seed=%llu: %s\n", static_cast<unsigned long long>(seed),
                  r.violation.c_str());
      std::printf("  config: %s\n", r.summary.c_str());
      if (!config.verbose) {
        std::printf("--- last trace lines of seed %llu ---\n%s---\n",
                    static_cast<unsigned long long>(seed), r.trace.c_str());
      }
      std::printf("reproduce: tandem-sim --scenario %s --seed %llu%s\n", scenario->name.c_str(),
                  static_cast<unsigned long long>(seed),
                  config.broken_flush ? " --broken-flush" : "");
    }
    std::fflush(stdout);
    if (seed == UINT64_MAX) break;
  }
  double wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  uint64_t runs = passed + failed;
  std::printf(
      "tandem-sim scenario=%s seeds=%llu..%llu: %llu passed, %llu failed, %llu events, "
      "%.1f s simulated, %.0f ms wall (%.1f ms/seed)\n",
      scenario->name.c_str(), static_cast<unsigned long long>(first),
      static_cast<unsigned long long>(last), static_cast<unsigned long long>(passed),
      static_cast<unsigned long long>(failed), static_cast<unsigned long long>(events), sim_seconds,
      wall_ms, runs ? wall_ms / runs : 0.0);
  if (known_file.empty()) return failed ? 1 : 0;
  std::printf("known failures: %zu listed, %llu failed; unexpected failures: %zu; fixed: %zu\n",
              known.size(), static_cast<unsigned long long>(failed), unexpected.size(),
              fixed.size());
  for (uint64_t f : unexpected)
    std::printf("UNEXPECTED failure: seed %llu (not in %s)\n", static_cast<unsigned long long>(f),
                known_file.c_str());
  for (uint64_t f : fixed)
    std::printf("FIXED: seed %llu passes now; remove it from %s\n",
                static_cast<unsigned long long>(f), known_file.c_str());
  return unexpected.empty() && fixed.empty() ? 0 : 1;
}
