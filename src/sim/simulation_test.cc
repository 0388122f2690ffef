#include "sim/simulation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tandem::sim {
namespace {

TEST(Simulation, RunsEventsInTimeOrder) {
  Simulation sim(1);
  std::vector<int> order;
  sim.At(30, [&] { order.push_back(3); });
  sim.At(10, [&] { order.push_back(1); });
  sim.At(20, [&] { order.push_back(2); });
  while (sim.Step()) {
  }
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(sim.now(), 30);
}

TEST(Simulation, BreaksTiesBySchedulingOrder) {
  Simulation sim(1);
  std::vector<int> order;
  for (int i = 0; i < 10; ++i) sim.At(5, [&order, i] { order.push_back(i); });
  while (sim.Step()) {
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(Simulation, EventsScheduledByEventsRunLater) {
  Simulation sim(1);
  std::vector<Time> times;
  sim.At(10, [&] {
    times.push_back(sim.now());
    sim.After(0, [&] { times.push_back(sim.now()); });
    sim.After(5, [&] { times.push_back(sim.now()); });
  });
  while (sim.Step()) {
  }
  EXPECT_EQ(times, (std::vector<Time>{10, 10, 15}));
}

TEST(Simulation, CancelledEventDoesNotRun) {
  Simulation sim(1);
  bool ran = false;
  Simulation::EventId id = sim.At(10, [&] { ran = true; });
  sim.Cancel(id);
  EXPECT_EQ(sim.pending(), 0u);
  while (sim.Step()) {
  }
  EXPECT_FALSE(ran);
}

TEST(Simulation, CancellingARunEventIsHarmless) {
  Simulation sim(1);
  int runs = 0;
  Simulation::EventId id = sim.At(1, [&] { ++runs; });
  sim.Step();
  sim.Cancel(id);
  sim.At(2, [&] { ++runs; });
  while (sim.Step()) {
  }
  EXPECT_EQ(runs, 2);
}

TEST(Simulation, RunUntilStopsAtTheGivenTime) {
  Simulation sim(1);
  int runs = 0;
  sim.At(10, [&] { ++runs; });
  sim.At(11, [&] { ++runs; });
  sim.RunUntil(10);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(sim.now(), 10);
  sim.RunUntil(100);
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(sim.now(), 100);
}

TEST(Simulation, SameSeedGivesTheSameRandomStream) {
  Simulation a(42), b(42), c(43);
  std::vector<uint64_t> va, vb, vc;
  for (int i = 0; i < 16; ++i) {
    va.push_back(a.Uniform(0, 1000));
    vb.push_back(b.Uniform(0, 1000));
    vc.push_back(c.Uniform(0, 1000));
  }
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
}

TEST(Simulation, UniformStaysInBounds) {
  Simulation sim(7);
  for (int i = 0; i < 1000; ++i) {
    uint64_t v = sim.Uniform(5, 9);
    EXPECT_GE(v, 5u);
    EXPECT_LE(v, 9u);
    Time t = sim.UniformTime(-3, 3);
    EXPECT_GE(t, -3);
    EXPECT_LE(t, 3);
  }
  EXPECT_EQ(sim.Uniform(4, 4), 4u);
}

TEST(Simulation, ChanceHonoursItsExtremes) {
  Simulation sim(7);
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(sim.Chance(0));
    EXPECT_TRUE(sim.Chance(1));
  }
}

TEST(Simulation, EngineEnvDrawsFromTheSimulation) {
  Simulation a(9), b(9);
  SimEnv env(&a);
  EXPECT_EQ(env.Random64(), b.Random64());
}

TEST(Simulation, FormatsTimeInMilliseconds) {
  EXPECT_EQ(FormatTime(12 * kMs + 345 * kUs), "t=12.345");
  EXPECT_EQ(FormatTime(0), "t=0.000");
}

}  // namespace
}  // namespace tandem::sim
