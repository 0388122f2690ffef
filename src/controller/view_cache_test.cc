// ViewCache: what comes out is byte for byte what went in, for its version only.
#include "controller/view_cache.h"

#include <gtest/gtest.h>

#include <random>

namespace tandem::controller {
namespace {

std::string ViewLike(int i, std::mt19937& rng) {
  std::string uuid;
  for (int k = 0; k < 32; ++k) uuid.push_back("0123456789abcdef"[rng() % 16]);
  return R"({"name":"res)" + std::to_string(i) + R"(","node_name":"node)" + std::to_string(i % 7) +
         R"(","uuid":")" + uuid + R"(","layer_object":{"type":"DRBD","drbd":{"port":)" +
         std::to_string(7000 + i) + R"(,"connections":{}}},"state":{"in_use":false}})";
}

TEST(ViewCacheTest, ReturnsExactlyWhatWasPutForItsVersion) {
  std::mt19937 rng(1);
  ViewCache cache;
  std::vector<std::string> views;
  size_t raw = 0;
  for (int i = 0; i < 500; ++i) {
    views.push_back(ViewLike(i, rng));
    raw += views.back().size();
    cache.Put("k" + std::to_string(i), ViewVersion{static_cast<uint64_t>(10 + i % 3), 7},
              views.back());
  }
  EXPECT_EQ(cache.size(), 500u);
  EXPECT_LT(cache.stored_bytes() * 2, raw) << "compressed against the first view";
  JsonWriter w;
  w.BeginArray();
  for (int i = 0; i < 500; ++i)
    ASSERT_TRUE(cache.WriteTo("k" + std::to_string(i),
                              ViewVersion{static_cast<uint64_t>(10 + i % 3), 7}, w))
        << i;
  w.EndArray();
  std::string expect = "[";
  for (int i = 0; i < 500; ++i) expect += (i ? "," : "") + views[i];
  expect += "]";
  EXPECT_EQ(std::move(w).Take(), expect);
}

TEST(ViewCacheTest, OtherVersionsUnknownKeysAndClearMiss) {
  std::mt19937 rng(2);
  ViewCache cache;
  cache.Put("a", ViewVersion{1, 7}, ViewLike(1, rng));
  JsonWriter w;
  EXPECT_FALSE(cache.WriteTo("a", ViewVersion{2, 7}, w));
  EXPECT_FALSE(cache.WriteTo("b", ViewVersion{1, 7}, w));
  EXPECT_FALSE(cache.WriteTo("a", ViewVersion{1, 8}, w)) << "the node reported since";
  EXPECT_EQ(w.size(), 0u) << "a miss writes nothing";
  std::string newer = ViewLike(2, rng);
  cache.Put("a", ViewVersion{2, 7}, newer);  // replaces
  EXPECT_FALSE(cache.WriteTo("a", ViewVersion{1, 7}, w));
  ASSERT_TRUE(cache.WriteTo("a", ViewVersion{2, 7}, w));
  EXPECT_EQ(std::move(w).Take(), newer);
  cache.Clear();
  JsonWriter w2;
  EXPECT_FALSE(cache.WriteTo("a", ViewVersion{2, 7}, w2));
  EXPECT_EQ(cache.stored_bytes(), 0u);
  // After a Clear the next view becomes the dictionary; old text never leaks.
  std::string other = R"({"something":"else entirely"})";
  cache.Put("z", ViewVersion{5, 7}, other);
  ASSERT_TRUE(cache.WriteTo("z", ViewVersion{5, 7}, w2));
  EXPECT_EQ(std::move(w2).Take(), other);
}

}  // namespace
}  // namespace tandem::controller
