// Store: the controller's SQLite database (WAL mode).
//
// The schema lives in one place, the numbered migration list in store.cc;
// PRAGMA user_version records how many have been applied. Each object table
// has rows (key TEXT PRIMARY KEY, data TEXT) where key is the object's
// identity (model.h row keys) and data the row encoded as JSON (codec.cc).
// The controller keeps the whole model in memory, loads it at start-up and
// writes each request's changes with Apply(), in one SQLite transaction.
//
// Thread-compatible: one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "controller/model.h"

struct sqlite3;

namespace tandem::controller {

using TableRows = std::vector<std::pair<std::string, std::string>>;  // key, data

class Store {
 public:
  // Opens (creating if needed) the database at `path` and migrates it to the
  // newest schema. Refuses a database whose schema is newer than this build.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The schema version this build creates, and the one of the open database.
  static int LatestSchemaVersion();
  int schema_version() const { return schema_version_; }
  // The object tables, in load order (parents before children).
  static const std::vector<std::string>& ObjectTables();

  Result<TableRows> ReadTable(const std::string& table);
  // Writes all changes atomically: either every row or none.
  Status Apply(const std::vector<RowChange>& changes);
  // Replaces the content of every object table (import-db), atomically.
  Status ReplaceAll(const std::vector<std::pair<std::string, TableRows>>& tables);
  // A trivial query; fails when the database is unusable (health check).
  Status Ping();
  Result<std::string> Meta(const std::string& key);

  // Makes the next Apply() fail after writing its first row, as a disk error
  // would; the transaction must then leave the database unchanged.
  void TEST_FailNextApply() { fail_next_apply_ = true; }

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Status Exec(const std::string& sql);
  Status Migrate();

  sqlite3* db_;
  int schema_version_ = 0;
  bool fail_next_apply_ = false;
};

}  // namespace tandem::controller
