#include "common/sqlite_db.h"

namespace tinyfleet::sqlite {
namespace {
Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  int primary = rc & 0xff;
  if (primary == SQLITE_CONSTRAINT) {
    return AlreadyExistsError(msg);
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return UnavailableError(msg);
  }
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) {
    return DataLossError(msg);
  }
  if (primary == SQLITE_FULL || primary == SQLITE_IOERR ||
      primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY) {
    return UnavailableError(msg);
  }
  return InternalError(msg);
}
}  // namespace

Statement& Statement::Bind(int index, int64_t v) {
  sqlite3_bind_int64(stmt_, index, v);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view v) {
  sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view v) {
  sqlite3_bind_blob(stmt_, index, v.data(), static_cast<int>(v.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindDouble(int index, double v) {
  sqlite3_bind_double(stmt_, index, v);
  return *this;
}

double Statement::Double(int col) const {
  return sqlite3_column_double(stmt_, col);
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, rc, "sqlite step");
}

Status Statement::Run() {
  for (;;) {
    TF_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

int64_t Statement::Int(int col) const {
  return sqlite3_column_int64(stmt_, col);
}

std::string Statement::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}

std::string Statement::Blob(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(static_cast<const char*>(p), n) : std::string();
}

bool Statement::IsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Result<std::unique_ptr<Db>> Db::Configure(sqlite3* raw, bool wal) {
  std::unique_ptr<Db> db(new Db(raw));
  sqlite3_busy_timeout(raw, 5000);
  if (wal) TF_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  TF_RETURN_IF_ERROR(
      db->Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
               "PRAGMA temp_store=MEMORY"));
  return db;
}

Result<std::unique_ptr<Db>> Db::Open(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &raw,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteError(raw, rc, "open " + path.string());
    sqlite3_close(raw);
    return s;
  }
  return Configure(raw, true);
}

Result<std::unique_ptr<Db>> Db::OpenInMemory() {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(":memory:", &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteError(raw, rc, "open :memory:");
    sqlite3_close(raw);
    return s;
  }
  return Configure(raw, false);
}

Db::~Db() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Status Db::Exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return SqliteError(nullptr, rc, "sqlite exec: " + msg);
  }
  return Status::Ok();
}

Result<Statement> Db::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteError(db_, rc, "prepare");
    it = cache_.emplace(sql, stmt).first;
  }
  Statement st(db_, it->second);
  st.Reset();
  return st;
}

Status Db::Begin() { return Exec("BEGIN IMMEDIATE"); }
Status Db::Commit() { return Exec("COMMIT"); }
void Db::Rollback() {
  if (!sqlite3_get_autocommit(db_)) (void)Exec("ROLLBACK");
}
int64_t Db::Changes() const { return sqlite3_changes64(db_); }

Result<Transaction> Transaction::Begin(Db& db) {
  TF_RETURN_IF_ERROR(db.Begin());
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_) db_->Rollback();
}

Status Transaction::Commit() {
  Db* db = db_;
  db_ = nullptr;
  Status s = db->Commit();
  if (!s.ok()) db->Rollback();
  return s;
}

}  // namespace tinyfleet::sqlite
