#include "agent/session/gateway_client.h"

#include "common/pki.h"
#include "tinyfleet/v1/agent.grpc.pb.h"

namespace tinyfleet::agent {

const char* AgentVersion() { return "tinyfleet-agent/0.1.0"; }

Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return Status::Ok();
  return Status(static_cast<StatusCode>(status.error_code()),
                status.error_message());
}

std::shared_ptr<grpc::Channel> MakeChannel(const GatewayEndpoint& endpoint,
                                           const Credentials* credentials) {
  grpc::ChannelArguments args;
  // Channels with different client certificates must never share a
  // connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 10'000);
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (endpoint.insecure) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = endpoint.ca_pem;
    if (credentials) {
      ssl.pem_private_key = credentials->key_pem;
      ssl.pem_cert_chain = credentials->certificate_pem;
    }
    creds = grpc::SslCredentials(ssl);
  }
  return grpc::CreateCustomChannel(endpoint.target, creds, args);
}

Result<Credentials> Enroll(const GatewayEndpoint& endpoint,
                           const std::string& bootstrap_token,
                           const v1::NodeInfo& node,
                           const std::string& agent_version,
                           std::chrono::milliseconds timeout,
                           const std::string& node_public_key) {
  Credentials c;
  TF_ASSIGN_OR_RETURN(c.key_pem, pki::GenerateEcPrivateKey());
  std::string cn =
      node.hardware_id().empty() ? "tinyfleet-node" : node.hardware_id();
  TF_ASSIGN_OR_RETURN(std::string csr, pki::CreateCsr(c.key_pem, cn));
  auto stub = v1::AgentService::NewStub(MakeChannel(endpoint, nullptr));
  v1::EnrollRequest req;
  req.set_bootstrap_token(bootstrap_token);
  req.set_csr_pem(csr);
  *req.mutable_node() = node;
  req.set_agent_version(agent_version);
  req.set_node_public_key(node_public_key);
  v1::EnrollResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  grpc::Status st = stub->Enroll(&ctx, req, &resp);
  if (!st.ok()) return FromGrpc(st).WithContext("enroll");
  auto info = pki::InspectCertificate(resp.certificate_pem());
  if (!info.ok() || info->common_name != resp.device_id()) {
    return DataLossError("gateway returned a certificate for another device");
  }
  c.device_id = resp.device_id();
  c.certificate_pem = resp.certificate_pem();
  c.ca_pem = resp.ca_certificate_pem();
  c.gateway_telemetry_public_key = resp.gateway_telemetry_public_key();
  c.model_signing_public_key = resp.model_signing_public_key();
  return c;
}

}  // namespace tinyfleet::agent
