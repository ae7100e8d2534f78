#include "agent/session/credentials.h"

#include "common/encoding.h"
#include "common/pki.h"

namespace tinyfleet::agent {

Result<Credentials> LoadCredentials(const std::filesystem::path& dir) {
  auto id = ReadFile(dir / "device.id");
  if (!id.ok()) {
    if (id.status().code() == StatusCode::kNotFound) {
      return NotFoundError("not enrolled: no credentials in " + dir.string());
    }
    return id.status();
  }
  Credentials c;
  c.device_id = *id;
  while (!c.device_id.empty() &&
         (c.device_id.back() == '\n' || c.device_id.back() == '\r')) {
    c.device_id.pop_back();
  }
  auto key = ReadFile(dir / "device.key");
  auto cert = ReadFile(dir / "device.crt");
  auto ca = ReadFile(dir / "ca.crt");
  if (!key.ok() || !cert.ok() || !ca.ok()) {
    return DataLossError("incomplete credentials in " + dir.string());
  }
  c.key_pem = *key;
  c.certificate_pem = *cert;
  c.ca_pem = *ca;
  auto gw = ReadFile(dir / "gateway_telemetry.pub");
  if (gw.ok()) {
    std::string hex = *gw;
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r'))
      hex.pop_back();
    auto raw = HexDecode(hex);
    if (!raw.ok() || raw->size() != 65) {
      return DataLossError("gateway_telemetry.pub in " + dir.string() +
                           " is corrupt");
    }
    c.gateway_telemetry_public_key = *raw;
  }
  auto msk = ReadFile(dir / "model_signing.pub");
  if (msk.ok()) {
    std::string hex = *msk;
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r'))
      hex.pop_back();
    auto raw = HexDecode(hex);
    if (!raw.ok() || raw->size() != 65) {
      return DataLossError("model_signing.pub in " + dir.string() +
                           " is corrupt");
    }
    c.model_signing_public_key = *raw;
  }
  auto info = pki::InspectCertificate(c.certificate_pem);
  if (!info.ok() || info->common_name != c.device_id) {
    return DataLossError("device.crt in " + dir.string() +
                         " does not belong to " + c.device_id);
  }
  return c;
}

Status SaveCredentials(const std::filesystem::path& dir, const Credentials& c) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return UnavailableError("cannot create " + dir.string() + ": " +
                            ec.message());
  }
  TF_RETURN_IF_ERROR(WriteFileAtomic(dir / "device.key", c.key_pem, 0600));
  TF_RETURN_IF_ERROR(
      WriteFileAtomic(dir / "device.crt", c.certificate_pem, 0644));
  TF_RETURN_IF_ERROR(WriteFileAtomic(dir / "ca.crt", c.ca_pem, 0644));
  if (!c.gateway_telemetry_public_key.empty()) {
    TF_RETURN_IF_ERROR(WriteFileAtomic(
        dir / "gateway_telemetry.pub",
        HexEncode(c.gateway_telemetry_public_key) + "\n", 0644));
  }
  if (!c.model_signing_public_key.empty()) {
    TF_RETURN_IF_ERROR(
        WriteFileAtomic(dir / "model_signing.pub",
                        HexEncode(c.model_signing_public_key) + "\n", 0644));
  }
  return WriteFileAtomic(dir / "device.id", c.device_id + "\n", 0644);
}

}  // namespace tinyfleet::agent
