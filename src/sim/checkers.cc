#include "sim/checkers.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <vector>

#include "sim/stamp.h"

namespace tandem::sim {

using engine::ConnState;
using engine::DiskArea;
using engine::DiskState;
using engine::ResourceStatus;
using engine::Role;

Checkers::Checkers(SimCluster* cluster, History* history) : cluster_(cluster), history_(history) {
  cluster_->SetAppObserver([this](NodeId n, const engine::AppRequest& req, const AppResult& r) {
    OnAppComplete(n, req, r);
  });
}

void Checkers::CheckRoles() {
  ++role_checks_;
  int n = cluster_->size();
  std::vector<std::optional<ResourceStatus>> st(n);
  for (int i = 0; i < n; ++i) st[i] = cluster_->Status(cluster_->node(i));
  auto sees_connected = [&](int a, int b) {
    if (!st[a]) return false;
    for (const auto& c : st[a]->connections) {
      if (c.peer.value() == b) return c.conn == ConnState::kConnected;
    }
    return false;
  };
  // Groups of nodes that see each other Connected (both ways).
  std::vector<int> group(n, -1);
  for (int i = 0; i < n; ++i) {
    if (group[i] >= 0 || !st[i]) continue;
    std::vector<int> stack{i};
    group[i] = i;
    while (!stack.empty()) {
      int a = stack.back();
      stack.pop_back();
      for (int b = 0; b < n; ++b) {
        if (group[b] < 0 && sees_connected(a, b) && sees_connected(b, a)) {
          group[b] = i;
          stack.push_back(b);
        }
      }
    }
  }
  for (int a = 0; a < n; ++a) {
    if (!st[a] || st[a]->role != Role::kPrimary) continue;
    if (cluster_->config(cluster_->node(a)).options.allow_two_primaries) continue;
    for (int b = a + 1; b < n; ++b) {
      if (!st[b] || st[b]->role != Role::kPrimary || group[a] != group[b]) continue;
      cluster_->Fail("invariant 1: " + cluster_->name(cluster_->node(a)) + " and " +
                     cluster_->name(cluster_->node(b)) +
                     " are both Primary and connected: " + cluster_->StatusLine(cluster_->node(a)) +
                     " | " + cluster_->StatusLine(cluster_->node(b)));
      return;
    }
  }
}

void Checkers::OnAppComplete(NodeId node, const engine::AppRequest& req, const AppResult& r) {
  // Quorum guards promotion and writes; a Primary without quorum may still
  // serve reads (drbd-semantics.md §7.1), so reads are not checked.
  if (!r.ok() || req.op == engine::AppOp::kRead) return;
  if (cluster_->config(node).options.quorum == engine::kQuorumOff) return;
  std::optional<ResourceStatus> st = cluster_->Status(node);
  if (!st) return;
  bool quorum = st->quorum;
  for (const auto& v : st->volumes) {
    if (v.vnr == req.vnr) quorum = quorum && v.quorum;
  }
  if (quorum) return;
  static const char* const kOps[] = {"read", "write", "flush", "trim", "write-zeroes"};
  cluster_->Fail("invariant 2: " + std::string(kOps[static_cast<int>(req.op)]) + " at offset " +
                 std::to_string(req.offset) + " completed ok on " + cluster_->name(node) +
                 " while it reports quorum:no (" + cluster_->StatusLine(node) + ")");
}

void Checkers::CheckConverged() {
  const int volumes = cluster_->options().volumes;
  for (int v = 0; v < volumes; ++v) {
    VolumeNr vnr(static_cast<uint16_t>(v));
    NodeId ref{};
    const Bytes* ref_data = nullptr;
    // Only the agreed size is replicated: a node whose backing grew has more
    // (see the grow scenarios).
    uint64_t agreed = UINT64_MAX;
    for (NodeId n : cluster_->all()) {
      if (cluster_->diskless(n)) continue;
      std::optional<ResourceStatus> st = cluster_->Status(n);
      if (!st) {
        cluster_->Fail("invariant 4: " + cluster_->name(n) + " is down at the end");
        return;
      }
      for (const auto& vs : st->volumes) {
        if (vs.vnr == vnr) agreed = std::min(agreed, vs.size_bytes);
        if (vs.vnr == vnr && vs.disk != DiskState::kUpToDate) {
          cluster_->Fail("invariant 4: " + cluster_->name(n) + " volume " + std::to_string(v) +
                         " is " + engine::DiskStateName(vs.disk) + " at the end");
          return;
        }
      }
      const Bytes& data = cluster_->disk(n, vnr)->Contents(DiskArea::kData);
      if (!ref_data) {
        ref = n;
        ref_data = &data;
        continue;
      }
      const uint64_t len = std::min({agreed, data.size(), ref_data->size()});
      if (std::memcmp(data.data(), ref_data->data(), len) == 0) continue;
      size_t first = 0;
      while (data[first] == (*ref_data)[first]) ++first;
      uint64_t block = first / kAppBlock;
      uint64_t differing = 0;
      for (uint64_t b = 0; (b + 1) * kAppBlock <= len; ++b) {
        if (std::memcmp(data.data() + b * kAppBlock, ref_data->data() + b * kAppBlock, kAppBlock) !=
            0) {
          ++differing;
        }
      }
      auto blk = [&](const Bytes& d) {
        return history_->DescribeBlock(ByteSpan(d.data() + block * kAppBlock, kAppBlock));
      };
      cluster_->Fail("invariant 4: data of " + cluster_->name(ref) + " and " + cluster_->name(n) +
                     " differ on volume " + std::to_string(v) + " from offset " +
                     std::to_string(first) + " (block " + std::to_string(block) + ", " +
                     std::to_string(differing) + " blocks differ): " + cluster_->name(ref) +
                     " has " + blk(*ref_data) + ", " + cluster_->name(n) + " has " + blk(data));
      return;
    }
  }
}

void Checkers::CheckDurable() {
  const int volumes = cluster_->options().volumes;
  for (int v = 0; v < volumes; ++v) {
    VolumeNr vnr(static_cast<uint16_t>(v));
    for (NodeId n : cluster_->all()) {
      if (cluster_->diskless(n) || !cluster_->running(n)) continue;
      std::optional<ResourceStatus> st = cluster_->Status(n);
      bool up_to_date = false;
      for (const auto& vs : st->volumes) {
        if (vs.vnr == vnr) up_to_date = vs.disk == DiskState::kUpToDate;
      }
      if (!up_to_date) continue;
      std::string err = history_->CheckArea(vnr, cluster_->disk(n, vnr)->Contents(DiskArea::kData));
      if (!err.empty()) {
        cluster_->Fail("invariant 5 on " + cluster_->name(n) + ": " + err);
        return;
      }
    }
  }
}

}  // namespace tandem::sim
