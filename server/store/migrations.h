// Versioned schema migrations of the SQLite store. Each migration runs once,
// in its own transaction, in version order; the applied versions are kept
// in `schema_migrations`. Migrations are append-only: a released migration
// is never edited, a change is a new migration.
#ifndef TINYFLEET_SERVER_STORE_MIGRATIONS_H_
#define TINYFLEET_SERVER_STORE_MIGRATIONS_H_

#include <span>

#include "common/sqlite_db.h"
#include "common/status.h"

namespace tinyfleet::store {

using sqlite::Db;
using sqlite::Statement;
using sqlite::Transaction;

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// The project's migrations, in order.
std::span<const Migration> SchemaMigrations();

// Applies every migration above the database's version. Fails with
// FAILED_PRECONDITION when the database is newer than this gateway.
// Returns the resulting version.
Result<int> Migrate(Db& db, std::span<const Migration> migrations,
                    int64_t now_ms);

}  // namespace tinyfleet::store

#endif  // TINYFLEET_SERVER_STORE_MIGRATIONS_H_
