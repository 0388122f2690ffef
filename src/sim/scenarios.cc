#include "sim/scenarios.h"

#include <cstdio>
#include <memory>

#include "sim/workload.h"

namespace tandem::sim {

using engine::DiskArea;
using engine::Options;
using engine::WireProtocol;

namespace {

// Knobs that may take any value in their legal range without changing what
// the invariants promise (STYLE.md §15).
void RandomizeOptions(Simulation& sim, Options* o) {
  o->max_epoch_size =
      static_cast<uint32_t>(sim.Chance(0.3) ? sim.Uniform(1, 16) : sim.Uniform(16, 2048));
  o->ping_int = sim.UniformTime(1, 10) * kSec;
  o->ping_timeout = sim.UniformTime(1, 10) * 100 * kMs;
  o->timeout = sim.UniformTime(10, 60) * 100 * kMs;
  o->connect_int = sim.UniformTime(1, 10) * kSec;
  o->ko_count = static_cast<uint32_t>(sim.Uniform(0, 7));
  o->csums = sim.Chance(0.3);
  o->c_plan_ahead = sim.Chance(0.2) ? 0 : static_cast<uint32_t>(sim.Uniform(5, 50));
  o->resync_rate_kib = static_cast<uint32_t>(sim.Uniform(250, 100000));
  o->max_buffers = static_cast<uint32_t>(sim.Uniform(32, 2048));
  o->al_extents = static_cast<uint32_t>(sim.Uniform(7, 1237));
}

std::string Describe(const ClusterOptions& c) {
  std::string s = std::to_string(c.nodes) + "n";
  if (!c.diskless.empty()) s += "/" + std::to_string(c.diskless.size()) + "dl";
  s += c.options.protocol == WireProtocol::kA ? " protoA" : " protoC";
  s += c.options.quorum == engine::kQuorumOff ? " quorum:off" : " quorum:majority";
  if (c.options.quorum != engine::kQuorumOff) {
    s += c.options.on_no_quorum == engine::OnNoQuorum::kIoError ? "/io-error" : "/suspend-io";
  }
  s += " " + std::to_string(c.volumes) + "x" + std::to_string(c.volume_bytes >> 20) + "MiB";
  return s;
}

void ThreeNodes(Simulation& sim, RandomSetup* s) {
  s->cluster.nodes = 3;
  s->cluster.options.quorum = engine::kQuorumMajority;
  s->cluster.options.on_no_quorum =
      sim.Chance(0.7) ? engine::OnNoQuorum::kIoError : engine::OnNoQuorum::kSuspendIo;
}

void Tiebreaker(Simulation& sim, RandomSetup* s) {
  ThreeNodes(sim, s);
  s->cluster.diskless = {2};
}

// Two nodes without quorum cannot tell a dead peer from a partition, so only
// faults that cannot cause split brain are injected.
void TwoNodes(Simulation&, RandomSetup* s) {
  s->cluster.nodes = 2;
  s->cluster.options.quorum = engine::kQuorumOff;
  s->workload.faults.partitions = false;
  s->workload.faults.message_faults = false;
}

void FourNodes(Simulation& sim, RandomSetup* s) {
  ThreeNodes(sim, s);
  s->cluster.nodes = 4;
  if (sim.Chance(0.5)) s->cluster.diskless = {3};
}

void ProtocolA(Simulation& sim, RandomSetup* s) {
  ThreeNodes(sim, s);
  s->cluster.options.protocol = WireProtocol::kA;
}

void Common(Simulation& sim, RandomSetup* s) {
  s->cluster.volumes = sim.Chance(0.8) ? 1 : 2;
  s->cluster.volume_bytes = (sim.Chance(0.7) ? 4ull : 8ull) << 20;
  RandomizeOptions(sim, &s->cluster.options);
}

RunResult RandomOf(const RunConfig& config, void (*shape)(Simulation&, RandomSetup*), bool faults) {
  return RunRandom(config, [shape, faults](Simulation& sim, RandomSetup* s) {
    shape(sim, s);
    Common(sim, s);
    if (!faults) s->workload.faults.per_step = 0;
  });
}

RunResult AnyRandom(const RunConfig& config) {
  return RunRandom(config, [](Simulation& sim, RandomSetup* s) {
    uint64_t r = sim.Uniform(0, 99);
    if (r < 50) {
      ThreeNodes(sim, s);
    } else if (r < 65) {
      Tiebreaker(sim, s);
    } else if (r < 75) {
      TwoNodes(sim, s);
    } else if (r < 85) {
      FourNodes(sim, s);
    } else {
      ProtocolA(sim, s);
    }
    Common(sim, s);
  });
}

// A flushed write must survive the crash of every node, as long as the nodes
// that come back had it: alpha writes and flushes, then bravo and charlie
// crash (losing every unflushed write), then alpha crashes; bravo and charlie
// come back and go on without alpha; alpha comes back and resyncs. With
// --broken-flush the flush does not wait for the peers' barrier acks, the
// write is lost, and invariant 5 must fire. Protocol A and frozen Secondary
// disks make the race certain: the write completes on alpha while bravo and
// charlie still hold it, and only the barrier acks can tell alpha's flush that
// it is stable there (receivers flush as soon as their writes land, so with
// fast disks a broken flush would mostly get away with it).
RunResult FlushDurability(const RunConfig& config) {
  ClusterOptions o;
  o.nodes = 3;
  o.options.protocol = WireProtocol::kA;
  o.options.quorum = engine::kQuorumMajority;
  o.options.on_no_quorum = engine::OnNoQuorum::kIoError;
  o.broken_flush = config.broken_flush;
  o.verbose = config.verbose;
  o.trace_messages = config.trace_messages;
  o.trace_capacity = config.trace_lines;
  o.disk.crash_keep_weight = 0;  // every unflushed write is lost
  o.disk.crash_tear_weight = 0;
  SimHarness h(config.seed, o);
  NodeId alpha = h.node(0), bravo = h.node(1), charlie = h.node(2);
  auto run = [&]() {
    if (!h.UpSkipSync()) return;
    if (!h.Expect(h.cluster.Primary(alpha).ok(), "alpha becomes Primary")) return;
    for (NodeId n : {bravo, charlie}) h.cluster.disk(n, VolumeNr(0))->Freeze(DiskArea::kData);
    if (!h.Expect(h.Write(alpha, 7).ok(), "write on alpha")) return;
    h.sim.After(20 * kMs, [&] {
      for (NodeId n : {bravo, charlie}) h.cluster.disk(n, VolumeNr(0))->Unfreeze(DiskArea::kData);
    });
    if (!h.Expect(h.Flush(alpha).ok(), "flush on alpha")) return;
    h.Crash(bravo);
    h.Crash(charlie);
    h.cluster.RunFor(10 * kMs);
    h.Crash(alpha);
    h.cluster.Restart(bravo);
    h.cluster.Restart(charlie);
    h.cluster.RunUntil(
        [&] {
          auto st = h.cluster.Status(bravo);
          return st && st->may_promote;
        },
        60 * kSec, 10 * kMs);
    engine::AdminDone d = h.cluster.Primary(bravo);
    if (!d.ok()) d = h.cluster.Primary(bravo, /*force=*/true);
    if (!h.Expect(d.ok(), "bravo becomes Primary: " + d.message)) return;
    h.Expect(h.Write(bravo, 8).ok(), "write on bravo");
    h.Read(bravo, 7);
    h.cluster.Restart(alpha);
    if (!h.WaitHealthy()) {
      std::string why;
      h.cluster.Healthy(&why);
      h.cluster.Fail("did not heal: " + why);
      return;
    }
    h.FinalChecks();
  };
  run();
  return h.Result("flush-durability");
}

// The README's demo: three nodes replicate a volume; the Primary crashes in
// the middle of a stream of writes; bravo is promoted and writes on; alpha
// comes back, is resynced from bravo, and every replica ends identical. The
// event stream is printed as it happens (--verbose is implied).
RunResult Demo(const RunConfig& config) {
  ClusterOptions o;
  o.nodes = 3;
  o.volume_bytes = 16ull << 20;
  o.options.quorum = engine::kQuorumMajority;
  o.options.on_no_quorum = engine::OnNoQuorum::kIoError;
  o.options.resync_rate_kib = 40960;
  o.verbose = true;
  o.trace_capacity = config.trace_lines;
  SimHarness h(config.seed, o);
  NodeId alpha = h.node(0), bravo = h.node(1);
  auto say = [&](const std::string& what) {
    std::printf("\n=== %s (t=%.1f ms)\n", what.c_str(),
                static_cast<double>(h.sim.now()) / static_cast<double>(kMs));
    std::fflush(stdout);
  };
  auto run = [&]() {
    say("three nodes come up and skip the initial sync");
    if (!h.UpSkipSync()) return;
    say("alpha becomes Primary and writes 64 blocks, flushing every 16");
    if (!h.Expect(h.cluster.Primary(alpha).ok(), "alpha becomes Primary")) return;
    for (uint64_t b = 0; b < 64; ++b) {
      if (!h.Expect(h.Write(alpha, b, 1, b % 16 == 15).ok(), "write on alpha")) return;
      if (b % 16 == 15 && !h.Expect(h.Flush(alpha).ok(), "flush on alpha")) return;
    }
    say("alpha crashes (kill -9: its unflushed cache is lost)");
    h.Crash(alpha);
    h.cluster.RunUntil(
        [&] {
          auto st = h.cluster.Status(bravo);
          return st && st->may_promote;
        },
        60 * kSec, 10 * kMs);
    say("bravo is promoted and writes 128 more blocks while alpha is down");
    if (!h.Expect(h.cluster.Primary(bravo).ok(), "bravo becomes Primary")) return;
    for (uint64_t b = 32; b < 160; ++b)
      if (!h.Expect(h.Write(bravo, b).ok(), "write on bravo")) return;
    if (!h.Expect(h.Flush(bravo).ok(), "flush on bravo")) return;
    say("alpha comes back: apply-al, handshake, bitmap-based resync from bravo");
    h.cluster.Restart(alpha);
    if (!h.WaitHealthy()) {
      std::string why;
      h.cluster.Healthy(&why);
      h.cluster.Fail("did not heal: " + why);
      return;
    }
    say("reads on bravo return the latest data; every replica is checked");
    for (uint64_t b = 0; b < 160; b += 16) h.Read(bravo, b);
    h.FinalChecks();
    say("final states");
    for (NodeId n : h.cluster.all()) std::printf("  %s\n", h.cluster.StatusLine(n).c_str());
  };
  run();
  return h.Result("demo");
}

std::vector<Scenario> MakeScenarios() {
  std::vector<Scenario> s;
  s.push_back(
      {"random", "a configuration drawn from the seed, random workload and faults", AnyRandom});
  s.push_back({"random-3n", "3 diskful nodes, quorum majority, random faults",
               [](const RunConfig& c) { return RandomOf(c, ThreeNodes, true); }});
  s.push_back({"random-tiebreaker", "2 diskful + 1 diskless tiebreaker, quorum majority",
               [](const RunConfig& c) { return RandomOf(c, Tiebreaker, true); }});
  s.push_back({"random-2n", "2 diskful nodes, quorum off, crashes and disk faults",
               [](const RunConfig& c) { return RandomOf(c, TwoNodes, true); }});
  s.push_back({"random-4n", "4 nodes (maybe one diskless), quorum majority",
               [](const RunConfig& c) { return RandomOf(c, FourNodes, true); }});
  s.push_back({"random-protoA", "3 diskful nodes with protocol A",
               [](const RunConfig& c) { return RandomOf(c, ProtocolA, true); }});
  s.push_back({"random-nofaults", "3 diskful nodes, random workload without faults",
               [](const RunConfig& c) { return RandomOf(c, ThreeNodes, false); }});
  s.push_back({"demo", "the README's demo: Primary crash, failover, resync (verbose)", Demo});
  s.push_back({"flush-durability",
               "a flushed write survives the crash of every node (fails with --broken-flush)",
               FlushDurability});
  return s;
}

}  // namespace

RunResult RunRandom(const RunConfig& config,
                    const std::function<void(Simulation&, RandomSetup*)>& configure) {
  RandomSetup setup;
  SimHarness h(config.seed, [&](Simulation& sim) {
    configure(sim, &setup);
    setup.cluster.broken_flush = config.broken_flush;
    setup.cluster.verbose = config.verbose;
    setup.cluster.trace_messages = config.trace_messages;
    setup.cluster.trace_capacity = config.trace_lines;
    return setup.cluster;
  });
  Workload w(&h.cluster, &h.history, &h.checkers, setup.workload);
  w.RunAll();
  const WorkloadStats& ws = w.stats();
  const History::Stats& hs = h.history.stats();
  std::string summary =
      Describe(setup.cluster) + " ops=" + std::to_string(ws.ops) +
      " writes=" + std::to_string(hs.writes) + " acked=" + std::to_string(hs.acked) +
      " durable=" + std::to_string(hs.durable) + " reads=" + std::to_string(ws.reads) +
      " faults=" + std::to_string(ws.faults) + " failovers=" + std::to_string(ws.failovers);
  return h.Result(summary);
}

const std::vector<Scenario>& Scenarios() {
  static const std::vector<Scenario> scenarios = MakeScenarios();
  return scenarios;
}

const Scenario* FindScenario(std::string_view name) {
  for (const Scenario& s : Scenarios()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace tandem::sim
