// Helpers shared by host tests: temporary directories, waiting for a
// condition with a deadline, and an in-process gateway on 127.0.0.1 port 0.
#ifndef TINYFLEET_TESTS_SUPPORT_TEST_ENV_H_
#define TINYFLEET_TESTS_SUPPORT_TEST_ENV_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "server/main/gateway.h"
#include "tinyfleet/v1/fleet.grpc.pb.h"

namespace tinyfleet::testing {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Polls `condition` until it holds or `timeout` passes; returns whether it
// held. For conditions that depend on other threads or processes; the
// deadline is generous and the poll interval short, so passing tests do
// not wait for it.
bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A gateway started in-process on ephemeral ports, with helpers for the
// operator API.
class TestGateway {
 public:
  // `clock` must outlive the gateway. Heartbeats every `heartbeat`;
  // the background sweep is off (tests call Sweep()).
  TestGateway(
      const std::filesystem::path& data_dir, const Clock* clock,
      std::chrono::milliseconds heartbeat = std::chrono::milliseconds(200),
      uint16_t grpc_port = 0);
  ~TestGateway();

  gateway::Gateway& gateway() { return *gateway_; }
  std::string target() const;
  const std::string& ca_pem() const { return ca_pem_; }
  const std::string& admin_token() const { return admin_token_; }
  void Stop();

  // A FleetService stub over TLS trusting the gateway's CA.
  std::unique_ptr<v1::FleetService::Stub> FleetStub();
  // A context carrying `token` as bearer.
  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token);
  // Creates `n` enrollment tokens with the admin token; returns the secrets.
  std::vector<std::string> CreateEnrollmentTokens(int n);

 private:
  std::unique_ptr<gateway::Gateway> gateway_;
  std::string ca_pem_;
  std::string admin_token_;
  uint16_t port_ = 0;
};

}  // namespace tinyfleet::testing

#endif  // TINYFLEET_TESTS_SUPPORT_TEST_ENV_H_
