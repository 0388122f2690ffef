// The engine under the simulator: the host loop, the harness helpers and the
// runner, on short scripted runs (label `sim`).
#include <gtest/gtest.h>

#include "sim/harness.h"
#include "sim/scenarios.h"

namespace tandem::sim {
namespace {

using engine::DiskState;
using engine::IoStatus;
using engine::Role;

ClusterOptions ThreeNodes() {
  ClusterOptions o;
  o.nodes = 3;
  o.options.quorum = engine::kQuorumMajority;
  o.options.on_no_quorum = engine::OnNoQuorum::kIoError;
  return o;
}

class ClusterTest : public ::testing::Test {
 protected:
  ClusterTest() : h_(1, ThreeNodes()) {}
  void TearDown() override {
    EXPECT_FALSE(h_.cluster.failed()) << h_.cluster.failure() << "\n" << h_.cluster.TraceText();
  }
  SimHarness h_;
  NodeId alpha_ = NodeId(0), bravo_ = NodeId(1), charlie_ = NodeId(2);
};

TEST_F(ClusterTest, NodesComeUpAndSkipTheInitialSync) {
  ASSERT_TRUE(h_.UpSkipSync());
  for (NodeId n : h_.cluster.all()) {
    auto st = h_.cluster.Status(n);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->volumes[0].disk, DiskState::kUpToDate) << h_.cluster.StatusLine(n);
  }
}

TEST_F(ClusterTest, WritesReachEveryReplica) {
  ASSERT_TRUE(h_.UpSkipSync());
  ASSERT_TRUE(h_.cluster.Primary(alpha_).ok());
  for (uint64_t b = 0; b < 10; ++b) ASSERT_TRUE(h_.Write(alpha_, b, 1, b % 3 == 0).ok());
  ASSERT_TRUE(h_.Flush(alpha_).ok());
  ASSERT_TRUE(h_.WaitHealthy());
  h_.FinalChecks();
}

TEST_F(ClusterTest, ReadsReturnTheLatestWrite) {
  ASSERT_TRUE(h_.UpSkipSync());
  ASSERT_TRUE(h_.cluster.Primary(alpha_).ok());
  ASSERT_TRUE(h_.Write(alpha_, 5).ok());
  ASSERT_TRUE(h_.Write(alpha_, 5, 2).ok());
  EXPECT_TRUE(h_.Read(alpha_, 4, 4).ok());
  ASSERT_TRUE(h_.Zero(alpha_, 6).ok());
  EXPECT_TRUE(h_.Read(alpha_, 5, 2).ok());
}

TEST_F(ClusterTest, SecondaryRefusesWrites) {
  ASSERT_TRUE(h_.UpSkipSync());
  ASSERT_TRUE(h_.cluster.Primary(alpha_).ok());
  AppResult r = h_.Write(bravo_, 1);
  EXPECT_EQ(r.status, IoStatus::kNotPrimary);
}

TEST_F(ClusterTest, SecondPrimaryIsRefused) {
  ASSERT_TRUE(h_.UpSkipSync());
  ASSERT_TRUE(h_.cluster.Primary(alpha_).ok());
  EXPECT_FALSE(h_.cluster.Primary(bravo_).ok());
  h_.checkers.CheckRoles();
}

TEST_F(ClusterTest, CrashedSecondaryCatchesUpAfterRestart) {
  ASSERT_TRUE(h_.UpSkipSync());
  ASSERT_TRUE(h_.cluster.Primary(alpha_).ok());
  h_.Crash(charlie_);
  for (uint64_t b = 0; b < 8; ++b) ASSERT_TRUE(h_.Write(alpha_, b * 7).ok());
  ASSERT_TRUE(h_.cluster.Restart(charlie_).ok());
  ASSERT_TRUE(h_.WaitHealthy());
  h_.FinalChecks();
}

TEST(Runner, ASeedReproducesItsRun) {
  const Scenario* s = FindScenario("random-nofaults");
  ASSERT_NE(s, nullptr);
  RunConfig c;
  c.seed = 3;
  RunResult a = s->run(c), b = s->run(c);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.trace, b.trace);
  EXPECT_EQ(a.summary, b.summary);
}

TEST(Runner, BrokenFlushIsCaught) {
  RunConfig c;
  c.seed = 1;
  c.broken_flush = true;
  RunResult r = FindScenario("flush-durability")->run(c);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.violation.find("invariant"), std::string::npos) << r.violation;
}

}  // namespace
}  // namespace tandem::sim
