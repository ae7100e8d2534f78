// Operator authentication and authorization for FleetService: bearer tokens
// (`authorization: Bearer tfo_…`) looked up by their SHA-256, each with a
// role; and the creation of the first admin token when none exists.
//
// Thread-safety: thread-safe.
#ifndef TINYFLEET_SERVER_API_AUTH_H_
#define TINYFLEET_SERVER_API_AUTH_H_

#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"
#include "common/status.h"
#include "server/store/store.h"

namespace tinyfleet::api {

std::string_view RoleName(store::Role role);

struct Principal {
  std::string token_id;
  std::string name;
  store::Role role = store::Role::kViewer;
};

class Authenticator {
 public:
  // `store` and `clock` must outlive the authenticator.
  Authenticator(store::OperatorTokenRepository* tokens, const Clock* clock);

  // Resolves the `authorization` metadata value. UNAUTHENTICATED when it is
  // missing, malformed, unknown or revoked.
  Result<Principal> Authenticate(std::string_view authorization);

  // UNAUTHENTICATED / PERMISSION_DENIED unless the caller has at least
  // `least`. On success fills `principal`.
  Status Authorize(std::string_view authorization, store::Role least,
                   Principal* principal);

  // Creates a token; returns the secret (shown once).
  Result<std::pair<store::OperatorTokenRecord, std::string>> CreateToken(
      const std::string& name, store::Role role);

  Result<std::vector<store::OperatorTokenRecord>> List() {
    return tokens_->List();
  }
  Result<store::OperatorTokenRecord> Revoke(const std::string& token_id) {
    return tokens_->Revoke(token_id);
  }

  // When no unrevoked admin token exists, creates one named "bootstrap-admin"
  // and writes its secret to `secret_file` (mode 0600). Returns true when a
  // token was created.
  Result<bool> EnsureAdmin(const std::filesystem::path& secret_file);

 private:
  store::OperatorTokenRepository* tokens_;
  const Clock* clock_;
  std::mutex mu_;
  // Last time each token's last_used_at was written; writes are throttled to
  // one per minute per token.
  std::unordered_map<std::string, int64_t> touched_;  // guarded by mu_
};

}  // namespace tinyfleet::api

#endif  // TINYFLEET_SERVER_API_AUTH_H_
