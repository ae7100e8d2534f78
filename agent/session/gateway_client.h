// How an agent reaches the gateway: TLS channels (server-authenticated for
// enrollment, mutual TLS afterwards) and enrollment itself.
#ifndef TINYFLEET_AGENT_SESSION_GATEWAY_CLIENT_H_
#define TINYFLEET_AGENT_SESSION_GATEWAY_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "agent/session/credentials.h"
#include "common/status.h"
#include "tinyfleet/v1/common.pb.h"

namespace tinyfleet::agent {

struct GatewayEndpoint {
  // host:port of the gateway's gRPC listener.
  std::string target;
  // PEM of the CA that signed the gateway's server certificate (its own CA,
  // ca.crt in the gateway's PKI directory). Required unless insecure.
  std::string ca_pem;
  // The gateway runs with --insecure-dev: plain text, identity by metadata.
  bool insecure = false;
};

// A channel to the gateway. With `credentials` the channel presents the
// device certificate (mutual TLS); without, it only verifies the server.
// Each device gets its own channel and connection.
std::shared_ptr<grpc::Channel> MakeChannel(const GatewayEndpoint& endpoint,
                                           const Credentials* credentials);

// Generates a key and CSR, trades `bootstrap_token` for a certificate, and
// returns the complete credentials (not yet saved). Blocking; gives up after
// `timeout`.
// `node_public_key` is the node's telemetry key (65 bytes) or empty.
Result<Credentials> Enroll(const GatewayEndpoint& endpoint,
                           const std::string& bootstrap_token,
                           const v1::NodeInfo& node,
                           const std::string& agent_version,
                           std::chrono::milliseconds timeout,
                           const std::string& node_public_key = "");

// The agent's version string.
const char* AgentVersion();

// Maps a grpc::Status to the project's Status.
Status FromGrpc(const grpc::Status& status);

}  // namespace tinyfleet::agent

#endif  // TINYFLEET_AGENT_SESSION_GATEWAY_CLIENT_H_
