#include "server/api/auth.h"

#include "common/encoding.h"
#include "common/log.h"

namespace tinyfleet::api {

std::string_view RoleName(store::Role role) {
  switch (role) {
    case store::Role::kViewer:
      return "viewer";
    case store::Role::kOperator:
      return "operator";
    case store::Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

Authenticator::Authenticator(store::OperatorTokenRepository* tokens,
                             const Clock* clock)
    : tokens_(tokens), clock_(clock) {}

Result<Principal> Authenticator::Authenticate(std::string_view authorization) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (authorization.empty()) {
    return UnauthenticatedError(
        "missing bearer token (authorization metadata)");
  }
  if (authorization.substr(0, kPrefix.size()) != kPrefix ||
      authorization.size() > 256) {
    return UnauthenticatedError("authorization must be \"Bearer <token>\"");
  }
  std::string secret(authorization.substr(kPrefix.size()));
  auto rec = tokens_->FindBySecretHash(Sha256Hex(secret));
  if (!rec.ok()) {
    if (rec.status().code() == StatusCode::kNotFound) {
      return UnauthenticatedError("unknown operator token");
    }
    return rec.status();
  }
  if (rec->revoked) return UnauthenticatedError("operator token revoked");
  int64_t now = clock_->NowUnixMillis();
  bool touch = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t& last = touched_[rec->token_id];
    if (now - last >= 60'000) {
      last = now;
      touch = true;
    }
  }
  if (touch) {
    Status s = tokens_->Touch(rec->token_id, now);
    if (!s.ok()) {
      TF_LOG(kWarning, "auth") << "cannot record token use: " << s.ToString();
    }
  }
  return Principal{rec->token_id, rec->name, rec->role};
}

Status Authenticator::Authorize(std::string_view authorization,
                                store::Role least, Principal* principal) {
  TF_ASSIGN_OR_RETURN(*principal, Authenticate(authorization));
  if (static_cast<int>(principal->role) < static_cast<int>(least)) {
    return PermissionDeniedError(
        "this call needs the " + std::string(RoleName(least)) +
        " role; token \"" + principal->name + "\" has " +
        std::string(RoleName(principal->role)));
  }
  return Status::Ok();
}

Result<std::pair<store::OperatorTokenRecord, std::string>>
Authenticator::CreateToken(const std::string& name, store::Role role) {
  if (name.empty() || name.size() > 64) {
    return InvalidArgumentError("token name must be 1..64 characters");
  }
  if (role != store::Role::kViewer && role != store::Role::kOperator &&
      role != store::Role::kAdmin) {
    return InvalidArgumentError("role must be viewer, operator or admin");
  }
  store::OperatorTokenRecord rec;
  TF_ASSIGN_OR_RETURN(std::string id_raw, RandomBytes(8));
  rec.token_id = "ot-" + HexEncode(id_raw);
  rec.name = name;
  rec.role = role;
  TF_ASSIGN_OR_RETURN(std::string secret, RandomToken("tfo_"));
  rec.secret_hash = Sha256Hex(secret);
  rec.created_at_ms = clock_->NowUnixMillis();
  TF_RETURN_IF_ERROR(tokens_->Create(rec));
  return std::make_pair(rec, secret);
}

Result<bool> Authenticator::EnsureAdmin(
    const std::filesystem::path& secret_file) {
  TF_ASSIGN_OR_RETURN(uint64_t admins,
                      tokens_->CountActive(store::Role::kAdmin));
  if (admins > 0) return false;
  TF_ASSIGN_OR_RETURN(auto created,
                      CreateToken("bootstrap-admin", store::Role::kAdmin));
  if (secret_file.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(secret_file.parent_path(), ec);
  }
  Status s = WriteFileAtomic(secret_file, created.second + "\n", 0600);
  if (!s.ok()) {
    // Do not leave an admin token nobody can read.
    (void)tokens_->Revoke(created.first.token_id);
    return s;
  }
  TF_LOG(kInfo, "auth") << "created the first admin token; secret in "
                        << secret_file.string();
  return true;
}

}  // namespace tinyfleet::api
