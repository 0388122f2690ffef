// The engine's CPU cost per replicated 4 KiB write, protocol C, two peers.
//
// A minimal host wires three engines together in one thread: messages are
// delivered directly (no encoding), disk I/O completes at once without
// storing data, metadata writes are discarded. What is measured is therefore
// the engines' own work for one application write: the Primary's submit,
// local completion and two acks, and each Secondary's receive, disk
// completion and ack, plus barriers. Reported as time per write (all three
// engines, harness included), engine_ns_per_write (time spent inside the
// three engines, timer overhead included) and the Primary's share.
#include <benchmark/benchmark.h>

#include <chrono>
#include <deque>
#include <memory>
#include <random>
#include <vector>

#include "engine/metadata.h"
#include "engine/resource.h"

namespace tandem::engine {
namespace {

constexpr uint64_t kVolBytes = 256ull << 20;

class Rng : public Env {
 public:
  uint64_t Random64() override { return rng_(); }
  std::mt19937_64 rng_{42};
};

struct MiniCluster {
  struct Node {
    std::unique_ptr<Resource> r;
    std::vector<Action> actions;
  };
  std::vector<Node> nodes;
  Rng env;
  std::deque<std::pair<int, std::function<void()>>> work;  // (node, call)
  uint64_t completed = 0;
  std::chrono::nanoseconds primary_time{0};
  std::chrono::nanoseconds engine_time{0};  // inside all three engines

  explicit MiniCluster(int n) {
    ResourceConfig cfg;
    cfg.name = "r0";
    cfg.volumes = {VolumeNr(0)};
    for (int i = 0; i < n; ++i)
      cfg.nodes.push_back(
          NodeConfig{NodeId(static_cast<uint8_t>(i)), "n" + std::to_string(i), false});
    for (int i = 0; i < n; ++i) {
      cfg.self = NodeId(static_cast<uint8_t>(i));
      nodes.push_back(Node{std::make_unique<Resource>(cfg, &env), {}});
    }
    for (int i = 0; i < n; ++i) {
      CreateMdParams p;
      p.backing_bytes = kVolBytes;
      p.internal = false;
      p.node_id = static_cast<uint8_t>(i);
      p.max_peers = static_cast<uint32_t>(n - 1);
      for (int j = 0; j < n; ++j) {
        p.all_nodes.push_back(static_cast<uint8_t>(j));
        if (j != i) p.peers_with_bitmap.push_back(static_cast<uint8_t>(j));
      }
      auto md = CreateMetadata(p);
      nodes[i].r->Attach(1, VolumeNr(0), *md, kVolBytes, false);
      Drain();
    }
    for (int i = 0; i < n; ++i) nodes[i].r->ConnectAll(2);
    Drain();
    nodes[0].r->NewCurrentUuid(3, VolumeNr(0), true);
    Drain();
    nodes[0].r->Primary(4, false);
    Drain();
  }

  void Run(int node, std::function<void(Resource&)> fn) {
    auto t0 = std::chrono::steady_clock::now();
    fn(*nodes[node].r);
    nodes[node].r->TakeActions(&nodes[node].actions);
    auto spent = std::chrono::steady_clock::now() - t0;
    if (node == 0) primary_time += spent;
    engine_time += spent;
    std::vector<Action> acts;
    acts.swap(nodes[node].actions);
    for (Action& a : acts) Carry(node, std::move(a));
  }

  void Carry(int node, Action&& a) {
    if (auto* s = std::get_if<SendMsg>(&a)) {
      int to = s->peer.value();
      NodeId from(static_cast<uint8_t>(node));
      work.emplace_back(to, [this, to, from, m = std::move(s->msg)]() mutable {
        Run(to, [&](Resource& r) { r.OnMessage(from, std::move(m)); });
      });
    } else if (auto* d = std::get_if<DiskIo>(&a)) {
      uint64_t id = d->io_id;
      SharedBytes data;
      if (d->op == DiskOp::kRead) data = MakeShared(Bytes(d->length));
      work.emplace_back(node, [this, node, id, data] {
        Run(node, [&](Resource& r) { r.OnDiskComplete(id, true, data); });
      });
    } else if (auto* w = std::get_if<WantConnection>(&a)) {
      int to = w->peer.value();
      if (w->want && node < to) {
        work.emplace_back(node, [this, node, to] {
          Run(node, [&](Resource& r) { r.OnTransportUp(NodeId(static_cast<uint8_t>(to))); });
          Run(to, [&](Resource& r) { r.OnTransportUp(NodeId(static_cast<uint8_t>(node))); });
        });
      }
    } else if (std::get_if<Complete>(&a)) {
      ++completed;
    }
  }

  void Drain() {
    for (size_t i = 0; i < nodes.size(); ++i) {
      std::vector<Action> acts;
      nodes[i].r->TakeActions(&acts);
      for (Action& a : acts) Carry(static_cast<int>(i), std::move(a));
    }
    while (!work.empty()) {
      auto w = std::move(work.front());
      work.pop_front();
      w.second();
    }
  }
};

void BM_ReplicatedWrite4k(benchmark::State& state) {
  MiniCluster c(3);
  auto status = c.nodes[0].r->GetStatus();
  if (status.role != Role::kPrimary || status.volumes[0].disk != DiskState::kUpToDate) {
    state.SkipWithError("cluster did not come up");
    return;
  }
  SharedBytes block = MakeShared(Bytes(4096, 0xab));
  uint64_t id = 0;
  std::mt19937_64 rng(1);
  const uint64_t blocks = 16 << 20 >> 12;  // 16 MiB hot set: 4 AL extents
  c.primary_time = {};
  c.engine_time = {};
  for (auto _ : state) {
    AppRequest rq;
    rq.id = ++id;
    rq.op = AppOp::kWrite;
    rq.offset = (rng() % blocks) * 4096;
    rq.length = 4096;
    rq.data = block;
    c.Run(0, [&](Resource& r) { r.Submit(rq); });
    c.Drain();
  }
  if (c.completed < static_cast<uint64_t>(state.iterations()))
    state.SkipWithError("writes did not complete");
  double n = static_cast<double>(state.iterations());
  state.counters["engine_ns_per_write"] =
      benchmark::Counter(static_cast<double>(c.engine_time.count()) / n);
  state.counters["primary_ns_per_write"] =
      benchmark::Counter(static_cast<double>(c.primary_time.count()) / n);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReplicatedWrite4k);

}  // namespace
}  // namespace tandem::engine

BENCHMARK_MAIN();
