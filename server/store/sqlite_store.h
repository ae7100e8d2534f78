// The embedded store: every repository on one SQLite database in WAL mode.
// One connection serialized by a mutex; each repository call is one
// transaction (or one statement), committed before it returns.
#ifndef TINYFLEET_SERVER_STORE_SQLITE_STORE_H_
#define TINYFLEET_SERVER_STORE_SQLITE_STORE_H_

#include <filesystem>
#include <memory>

#include "common/clock.h"
#include "server/store/store.h"

namespace tinyfleet::store {

struct SqliteStoreOptions {
  // Database file; created with its directory when missing. Empty: an
  // in-memory database (tests only; nothing survives the process).
  std::filesystem::path path;
};

// Opens the database and applies pending migrations.
Result<std::unique_ptr<Store>> OpenSqliteStore(
    const SqliteStoreOptions& options, const Clock& clock);

}  // namespace tinyfleet::store

#endif  // TINYFLEET_SERVER_STORE_SQLITE_STORE_H_
