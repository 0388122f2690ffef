#include "controller/store.h"

#include <sqlite3.h>

#include <algorithm>

namespace tandem::controller {
namespace {

// The schema, one entry per version. Never edit an entry that has shipped;
// append a new one.
const std::vector<std::string>& Migrations() {
  static const std::vector<std::string> kMigrations = {
      // 1: object tables.
      "CREATE TABLE controller (key TEXT PRIMARY KEY, data TEXT NOT NULL);"
      "CREATE TABLE nodes (key TEXT PRIMARY KEY, data TEXT NOT NULL);"
      "CREATE TABLE storage_pool_definitions (key TEXT PRIMARY KEY, data TEXT NOT NULL);"
      "CREATE TABLE storage_pools (key TEXT PRIMARY KEY, data TEXT NOT NULL);"
      "CREATE TABLE resource_groups (key TEXT PRIMARY KEY, data TEXT NOT NULL);"
      "CREATE TABLE volume_groups (key TEXT PRIMARY KEY, data TEXT NOT NULL);"
      "CREATE TABLE resource_definitions (key TEXT PRIMARY KEY, data TEXT NOT NULL);"
      "CREATE TABLE volume_definitions (key TEXT PRIMARY KEY, data TEXT NOT NULL);"
      "CREATE TABLE resources (key TEXT PRIMARY KEY, data TEXT NOT NULL);",
      // 2: metadata of the database itself: a cluster id that identifies this
      // controller's database (exported with it, checked by satellites later).
      "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "INSERT INTO meta (key, value) VALUES ('cluster_id', lower(hex(randomblob(16))));",
  };
  return kMigrations;
}

Error SqlError(sqlite3* db, const std::string& what) {
  return MakeError(Errc::kIoError, what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  void BindText(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

bool KnownTable(const std::string& table) {
  const auto& t = Store::ObjectTables();
  return std::find(t.begin(), t.end(), table) != t.end();
}

}  // namespace

int Store::LatestSchemaVersion() { return static_cast<int>(Migrations().size()); }

const std::vector<std::string>& Store::ObjectTables() {
  static const std::vector<std::string> kTables = {
      "controller",      "nodes",         "storage_pool_definitions", "storage_pools",
      "resource_groups", "volume_groups", "resource_definitions",     "volume_definitions",
      "resources"};
  return kTables;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    Error e = SqlError(db, "cannot open database " + path);
    sqlite3_close(db);
    return e;
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<Store> store(new Store(db));
  TANDEM_TRY(
      store->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"));
  TANDEM_TRY(store->Migrate());
  return store;
}

Store::~Store() { sqlite3_close(db_); }

Status Store::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return MakeError(Errc::kIoError, "SQL error: " + msg);
  }
  return {};
}

Status Store::Migrate() {
  Stmt q(db_, "PRAGMA user_version");
  if (!q.ok() || sqlite3_step(q.get()) != SQLITE_ROW) return SqlError(db_, "reading user_version");
  int version = sqlite3_column_int(q.get(), 0);
  const auto& migrations = Migrations();
  if (version > static_cast<int>(migrations.size())) {
    return MakeError(Errc::kUnsupported, "database schema version " + std::to_string(version) +
                                             " is newer than this controller supports (" +
                                             std::to_string(migrations.size()) + ")");
  }
  for (size_t i = static_cast<size_t>(version); i < migrations.size(); ++i) {
    TANDEM_TRY(Exec("BEGIN IMMEDIATE"));
    Status s = Exec(migrations[i]);
    if (s.ok()) s = Exec("PRAGMA user_version=" + std::to_string(i + 1));
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return MakeError(Errc::kIoError,
                       "migration " + std::to_string(i + 1) + " failed: " + s.error().message);
    }
    TANDEM_TRY(Exec("COMMIT"));
  }
  schema_version_ = static_cast<int>(migrations.size());
  return {};
}

Result<TableRows> Store::ReadTable(const std::string& table) {
  if (!KnownTable(table)) return MakeError(Errc::kInvalidArgument, "unknown table " + table);
  Stmt q(db_, ("SELECT key, data FROM " + table + " ORDER BY key").c_str());
  if (!q.ok()) return SqlError(db_, "reading " + table);
  TableRows rows;
  int rc;
  while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
    rows.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0)),
                      reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 1)));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "reading " + table);
  return rows;
}

Status Store::Apply(const std::vector<RowChange>& changes) {
  if (changes.empty()) return {};
  TANDEM_TRY(Exec("BEGIN IMMEDIATE"));
  auto fail = [&](Error e) -> Status {
    (void)Exec("ROLLBACK");
    return e;
  };
  int written = 0;
  for (const auto& c : changes) {
    if (!KnownTable(c.table))
      return fail(MakeError(Errc::kInvalidArgument, "unknown table " + c.table));
    if (fail_next_apply_ && written == 1) {
      fail_next_apply_ = false;
      return fail(MakeError(Errc::kIoError, "injected store failure (TEST_FailNextApply)"));
    }
    std::string sql = c.data ? "INSERT OR REPLACE INTO " + c.table + " (key, data) VALUES (?1, ?2)"
                             : "DELETE FROM " + c.table + " WHERE key = ?1";
    Stmt st(db_, sql.c_str());
    if (!st.ok()) return fail(SqlError(db_, "preparing write to " + c.table));
    st.BindText(1, c.key);
    if (c.data) st.BindText(2, *c.data);
    if (sqlite3_step(st.get()) != SQLITE_DONE) return fail(SqlError(db_, "writing " + c.table));
    ++written;
  }
  if (fail_next_apply_ && written >= 1) {
    fail_next_apply_ = false;
    return fail(MakeError(Errc::kIoError, "injected store failure (TEST_FailNextApply)"));
  }
  return Exec("COMMIT");
}

Status Store::ReplaceAll(const std::vector<std::pair<std::string, TableRows>>& tables) {
  TANDEM_TRY(Exec("BEGIN IMMEDIATE"));
  auto fail = [&](Error e) -> Status {
    (void)Exec("ROLLBACK");
    return e;
  };
  for (const auto& t : ObjectTables()) {
    Status s = Exec("DELETE FROM " + t);
    if (!s.ok()) return fail(s.error());
  }
  for (const auto& [table, rows] : tables) {
    if (!KnownTable(table))
      return fail(MakeError(Errc::kInvalidArgument, "unknown table " + table));
    std::string sql = "INSERT INTO " + table + " (key, data) VALUES (?1, ?2)";
    for (const auto& [key, data] : rows) {
      Stmt st(db_, sql.c_str());
      if (!st.ok()) return fail(SqlError(db_, "preparing import into " + table));
      st.BindText(1, key);
      st.BindText(2, data);
      if (sqlite3_step(st.get()) != SQLITE_DONE)
        return fail(SqlError(db_, "importing into " + table));
    }
  }
  return Exec("COMMIT");
}

Status Store::Ping() {
  Stmt q(db_, "SELECT count(*) FROM meta");
  if (!q.ok() || sqlite3_step(q.get()) != SQLITE_ROW) return SqlError(db_, "health query");
  return {};
}

Result<std::string> Store::Meta(const std::string& key) {
  Stmt q(db_, "SELECT value FROM meta WHERE key = ?1");
  if (!q.ok()) return SqlError(db_, "reading meta");
  q.BindText(1, key);
  if (sqlite3_step(q.get()) != SQLITE_ROW) return MakeError(Errc::kNotFound, "no meta key " + key);
  return std::string(reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0)));
}

}  // namespace tandem::controller
