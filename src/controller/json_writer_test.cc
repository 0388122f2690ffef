// JsonWriter: what it writes must parse back (Boost.JSON) to the values given.
#include "controller/json_writer.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

namespace tandem::controller {
namespace {

namespace json = boost::json;

json::value Parse(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return v;
}

TEST(JsonWriterTest, PlacesCommasInNestedContainers) {
  JsonWriter w;
  w.BeginObject();
  w.Key("a").Int(1);
  w.Key("b")
      .BeginArray()
      .Int(2)
      .BeginObject()
      .EndObject()
      .BeginArray()
      .EndArray()
      .Int(3)
      .EndArray();
  w.Key("c").BeginObject().Key("d").Bool(true).Key("e").Null().EndObject();
  w.EndObject();
  EXPECT_EQ(std::move(w).Take(), R"({"a":1,"b":[2,{},[],3],"c":{"d":true,"e":null}})");
}

TEST(JsonWriterTest, NumbersKeepTheirType) {
  JsonWriter w;
  w.BeginArray();
  w.Int(0)
      .Int(-1)
      .Int(std::numeric_limits<int64_t>::min())
      .Int(std::numeric_limits<int64_t>::max());
  w.Double(100).Double(42.5).Double(-0.125).Double(1e300).Double(std::nan(""));
  w.EndArray();
  std::string text = std::move(w).Take();
  auto a = Parse(text).as_array();
  ASSERT_EQ(a.size(), 9u) << text;
  EXPECT_EQ(a[2].as_int64(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(a[3].as_int64(), std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(a[4].is_double()) << text;  // "100.0", not the integer 100
  EXPECT_EQ(a[4].as_double(), 100.0);
  EXPECT_EQ(a[5].as_double(), 42.5);
  EXPECT_EQ(a[6].as_double(), -0.125);
  EXPECT_EQ(a[7].as_double(), 1e300);
  EXPECT_TRUE(a[8].is_null()) << "JSON has no NaN";
}

TEST(JsonWriterTest, EscapesWhatJsonRequires) {
  std::string all_controls;
  for (int c = 0; c < 0x20; ++c) all_controls.push_back(static_cast<char>(c));
  const std::string cases[] = {
      "",         "plain",     "quote\"inside", "back\\slash", all_controls,
      "\x7f del", "tab\tnl\n", "ümlaut and €",  "ends with \\"};
  for (const std::string& s : cases) {
    JsonWriter w;
    w.BeginObject().Key(s).String(s).EndObject();
    std::string text = std::move(w).Take();
    auto o = Parse(text).as_object();
    ASSERT_EQ(o.size(), 1u) << text;
    EXPECT_EQ(o.begin()->key(), s) << text;
    EXPECT_EQ(o.begin()->value().as_string(), s) << text;
  }
  JsonWriter w;
  w.String("a\x01\"");
  EXPECT_EQ(std::move(w).Take(), "\"a\\u0001\\\"\"");
}

// Random ASCII strings (control characters, quotes and backslashes at every
// offset against the 8-byte scan) survive a round trip.
TEST(JsonWriterTest, RandomStringsRoundTrip) {
  std::mt19937 rng(7);
  const char alphabet[] = "ab\"\\\n\x01\x1f ~";
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 40, ' ');
    for (char& c : s) c = alphabet[rng() % (sizeof alphabet - 1)];
    JsonWriter w;
    w.BeginArray().String(s).EndArray();
    std::string text = std::move(w).Take();
    EXPECT_EQ(Parse(text).as_array()[0].as_string(), s) << text;
  }
}

TEST(JsonWriterTest, RawValuesAndPreparedValues) {
  JsonWriter w;
  w.BeginArray();
  w.Raw(R"({"x":1})");
  std::memcpy(w.RawValue(4), "true", 4);
  w.PrepareValue();
  size_t start = w.size();
  w.BeginObject().Key("y").Int(2).EndObject();
  EXPECT_EQ(w.Since(start), R"({"y":2})") << "the separator went out before the mark";
  w.EndArray();
  EXPECT_EQ(std::move(w).Take(), R"([{"x":1},true,{"y":2}])");
}

}  // namespace
}  // namespace tandem::controller
