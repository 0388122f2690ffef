// Store: migrations, atomic writes, export and import.
#include "controller/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "controller/codec.h"

namespace tandem::controller {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("tandem-store-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db"))
                .string();
    Remove();
  }
  void TearDown() override { Remove(); }
  void Remove() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }
  int UserVersion() {
    sqlite3* db = nullptr;
    sqlite3_open(path_.c_str(), &db);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
    sqlite3_step(st);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
  }
  void SetUserVersion(int v) {
    sqlite3* db = nullptr;
    sqlite3_open(path_.c_str(), &db);
    sqlite3_exec(db, ("PRAGMA user_version=" + std::to_string(v)).c_str(), nullptr, nullptr,
                 nullptr);
    sqlite3_close(db);
  }
  std::string path_;
};

TEST_F(StoreTest, NewDatabaseIsMigratedToLatest) {
  auto s = Store::Open(path_);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ((*s)->schema_version(), Store::LatestSchemaVersion());
  EXPECT_TRUE((*s)->Ping().ok());
  EXPECT_TRUE((*s)->Meta("cluster_id").ok());
  s->reset();
  EXPECT_EQ(UserVersion(), Store::LatestSchemaVersion());
}

TEST_F(StoreTest, OlderDatabaseIsMigratedKeepingRows) {
  {
    auto s = Store::Open(path_);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(
        (*s)->Apply({{"nodes", "N1", std::string(R"({"name":"n1","type":"SATELLITE"})")}}).ok());
  }
  // Pretend the database stopped at version 1: undo migration 2.
  {
    sqlite3* db = nullptr;
    sqlite3_open(path_.c_str(), &db);
    sqlite3_exec(db, "DROP TABLE meta; PRAGMA user_version=1;", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  auto s = Store::Open(path_);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(UserVersion(), Store::LatestSchemaVersion());
  auto rows = (*s)->ReadTable("nodes");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_TRUE((*s)->Meta("cluster_id").ok());
}

TEST_F(StoreTest, NewerDatabaseIsRefused) {
  { ASSERT_TRUE(Store::Open(path_).ok()); }
  SetUserVersion(Store::LatestSchemaVersion() + 1);
  auto s = Store::Open(path_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kUnsupported);
}

TEST_F(StoreTest, ApplyIsAtomic) {
  auto s = Store::Open(path_);
  ASSERT_TRUE(s.ok());
  Store& store = **s;
  ASSERT_TRUE(store.Apply({{"nodes", "A", std::string("{}")}}).ok());
  store.TEST_FailNextApply();
  EXPECT_FALSE(store.Apply({{"nodes", "B", std::string("{}")}, {"nodes", "A", std::nullopt}}).ok());
  auto rows = store.ReadTable("nodes");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().first, "A");
  EXPECT_FALSE(store.Apply({{"no_such_table", "x", std::string("{}")}}).ok());
}

TEST_F(StoreTest, ExportImportRoundTrip) {
  std::string exported;
  {
    auto s = Store::Open(path_);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Apply({{"nodes", "N1", std::string(R"({"name":"n1","type":"SATELLITE"})")},
                             {"controller", "controller", std::string(R"({"props":{"k":"v"}})")}})
                    .ok());
    auto doc = ExportDb(**s);
    ASSERT_TRUE(doc.ok());
    exported = *doc;
  }
  Remove();
  auto s = Store::Open(path_);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(ImportDb(**s, exported).ok());
  Cluster c;
  ASSERT_TRUE(LoadCluster(**s, &c).ok());
  ASSERT_NE(c.FindNode("n1"), nullptr);
  EXPECT_EQ(c.controller_props().at("k"), "v");
}

TEST_F(StoreTest, ImportRejectsBadDocumentsWithoutChanges) {
  auto s = Store::Open(path_);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Apply({{"nodes", "KEEP", std::string(R"({"name":"keep"})")}}).ok());
  EXPECT_FALSE(ImportDb(**s, "not json").ok());
  EXPECT_FALSE(ImportDb(**s, R"({"format":"other"})").ok());
  EXPECT_EQ(
      ImportDb(**s, R"({"format":"tandem-controller-db","format_version":99,"tables":{}})").code(),
      Errc::kUnsupported);
  // A row that does not decode (bad provider kind) rejects the whole import.
  EXPECT_FALSE(ImportDb(**s, R"({"format":"tandem-controller-db","format_version":1,"tables":{
      "storage_pools":[{"key":"K","data":{"storage_pool_name":"p","provider_kind":"TAPE"}}]}})")
                   .ok());
  auto rows = (*s)->ReadTable("nodes");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 1u);
}

}  // namespace
}  // namespace tandem::controller
