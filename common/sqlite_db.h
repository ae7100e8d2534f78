// A thin RAII layer over the SQLite C API, shared by the gateway store and
// the agent outbox: a connection, prepared statements with typed binding and
// reading, and transactions. Errors become Status values with SQLite's
// message.
//
// Thread-safety: a Db is not thread-safe; its owner serializes access.
#ifndef TINYFLEET_COMMON_SQLITE_DB_H_
#define TINYFLEET_COMMON_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"

namespace tinyfleet::sqlite {

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&&) = default;

  // Binding is 1-based like SQLite's.
  Statement& Bind(int index, int64_t v);
  Statement& Bind(int index, std::string_view v);
  Statement& BindBlob(int index, std::string_view v);
  Statement& BindNull(int index);
  Statement& BindDouble(int index, double v);

  // Steps once: true when a row is available, false when done.
  Result<bool> Step();
  // Steps to completion (for statements without rows).
  Status Run();

  int64_t Int(int col) const;
  double Double(int col) const;
  std::string Text(int col) const;
  std::string Blob(int col) const;
  bool IsNull(int col) const;

  // Clears bindings and rewinds for reuse.
  void Reset();

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;  // owned by the Db's statement cache
};

class Db {
 public:
  // Opens (creating) the database file; WAL mode, synchronous=FULL,
  // foreign keys on, a 5 s busy timeout.
  static Result<std::unique_ptr<Db>> Open(const std::filesystem::path& path);
  // An in-memory database (tests).
  static Result<std::unique_ptr<Db>> OpenInMemory();
  ~Db();

  // Runs one or more statements without parameters.
  Status Exec(std::string_view sql);
  // A cached prepared statement, reset and ready to bind.
  Result<Statement> Prepare(const std::string& sql);

  Status Begin();  // BEGIN IMMEDIATE
  Status Commit();
  void Rollback();  // best effort, for error paths

  int64_t Changes() const;
  sqlite3* raw() { return db_; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  static Result<std::unique_ptr<Db>> Configure(sqlite3* db, bool wal);
  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// Commits on Commit(), rolls back on destruction otherwise.
class Transaction {
 public:
  static Result<Transaction> Begin(Db& db);
  Transaction(Transaction&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  ~Transaction();
  Status Commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;
};

}  // namespace tinyfleet::sqlite

#endif  // TINYFLEET_COMMON_SQLITE_DB_H_
