// The model's derived indexes (ClusterIndex, UsedNumbers) agree with a scan
// of the tables after any sequence of Txn writes, commits and aborts.
#include "controller/model.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "controller/names.h"

namespace tandem::controller {
namespace {

std::optional<int> ScanFirstFree(const std::multiset<int>& used, int lo, int hi) {
  for (int v = lo; v <= hi; ++v) {
    if (!used.count(v)) return v;
  }
  return std::nullopt;
}

TEST(UsedNumbersTest, FirstFreeMatchesAScanAfterRandomAddsAndRemoves) {
  std::mt19937 rng(7);
  UsedNumbers used;
  std::multiset<int> mirror;
  for (int step = 0; step < 20000; ++step) {
    int v = static_cast<int>(rng() % 64);
    if (rng() % 3 == 0) {
      used.Remove(v);
      if (auto it = mirror.find(v); it != mirror.end()) mirror.erase(it);
    } else {
      used.Add(v);
      mirror.insert(v);
    }
    int lo = static_cast<int>(rng() % 70);
    int hi = lo + static_cast<int>(rng() % 10) - 2;
    ASSERT_EQ(used.FirstFree(lo, hi), ScanFirstFree(mirror, lo, hi)) << "step " << step;
  }
}

// What the queries answer, computed by scanning the tables.
struct Scan {
  std::map<std::string, size_t> per_node;
  std::multiset<int> ports, minors;
  std::map<std::string, std::pair<int64_t, int>> pools;  // reserved, count
};

Scan ScanOf(const Cluster& c) {
  Scan s;
  for (const auto& [k, rd] : c.rds.rows()) s.ports.insert(rd.port);
  for (const auto& [k, vd] : c.vds.rows()) s.minors.insert(vd.minor);
  for (const auto& [k, r] : c.resources.rows()) {
    ++s.per_node[NameKey(r.node_name)];
    if (r.diskless()) continue;
    auto& p = s.pools[PoolKey(r.node_name, r.storage_pool)];
    for (const VolumeDefinition* vd : c.VolumeDefinitionsOf(r.rd_name)) p.first += vd->size_kib;
    p.second += 1;
  }
  return s;
}

void ExpectIndexMatchesScan(const Cluster& c, const std::vector<std::string>& nodes) {
  Scan s = ScanOf(c);
  for (const std::string& n : nodes) {
    EXPECT_EQ(c.ResourceCountOnNode(n), s.per_node[NameKey(n)]) << n;
    std::vector<const Resource*> on = c.ResourcesOnNode(n);
    EXPECT_EQ(on.size(), s.per_node[NameKey(n)]) << n;
    for (const Resource* r : on) EXPECT_TRUE(NameEquals(r->node_name, n));
    for (const char* pool : {"pool1", "pool2"}) {
      PoolUsage u = c.UsageOfPool(n, pool);
      auto want = s.pools[PoolKey(n, pool)];
      EXPECT_EQ(u.reserved_kib, want.first) << n << " " << pool;
      EXPECT_EQ(u.rsc_count, want.second) << n << " " << pool;
    }
  }
  for (int lo : {1, 5, 9}) {
    EXPECT_EQ(c.FirstFreePort(lo, 20), ScanFirstFree(s.ports, lo, 20));
    EXPECT_EQ(c.FirstFreeMinor(lo, 20), ScanFirstFree(s.minors, lo, 20));
  }
}

TEST(ClusterIndexTest, AgreesWithAScanThroughWritesCommitsAndAborts) {
  std::mt19937 rng(11);
  Cluster c;
  const std::vector<std::string> nodes = {"alpha", "Beta", "gamma"};
  const std::vector<std::string> rds = {"r1", "R2", "r3", "r4"};
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  for (int round = 0; round < 300; ++round) {
    Txn txn(&c);
    for (int i = 0; i < 4; ++i) {
      std::string rd = pick(rds);
      switch (rng() % 6) {
        case 0: {
          ResourceDefinition d;
          d.name = rd;
          d.port = static_cast<int>(rng() % 12);
          txn.Put(txn.mut().rds, NodeKey(rd), d);
          break;
        }
        case 1: {
          VolumeDefinition vd;
          vd.rd_name = rd;
          vd.volume_number = static_cast<int>(rng() % 2);
          vd.size_kib = 1 + static_cast<int64_t>(rng() % 1000);
          vd.minor = static_cast<int>(rng() % 12);
          txn.Put(txn.mut().vds, VdKey(rd, vd.volume_number), vd);
          break;
        }
        case 2:
        case 3: {
          Resource r;
          r.rd_name = rd;
          r.node_name = pick(nodes);
          r.storage_pool = rng() % 2 ? "pool1" : "pool2";
          if (rng() % 3 == 0) r.flags = {kFlagDiskless, kFlagDrbdDiskless, kFlagTieBreaker};
          txn.Put(txn.mut().resources, RscKey(rd, r.node_name), r);
          break;
        }
        case 4:
          txn.Erase(txn.mut().resources, RscKey(rd, pick(nodes)));
          break;
        default:
          txn.Erase(txn.mut().vds, VdKey(rd, static_cast<int>(rng() % 2)));
          break;
      }
    }
    ExpectIndexMatchesScan(c, nodes);
    if (rng() % 2) {
      txn.Commit();
    } else {
      txn.Abort();
    }
    ExpectIndexMatchesScan(c, nodes);
    if (round % 50 == 0) c.resources.mutable_rows();  // as loading does: rebuilt on next use
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace tandem::controller
