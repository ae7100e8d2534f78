#include "tests/support/test_env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "common/encoding.h"

namespace tinyfleet::testing {

TempDir::TempDir() {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "tinyfleet-XXXXXX").string();
  char* made = ::mkdtemp(tmpl.data());
  if (!made) std::abort();
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TestGateway::TestGateway(const std::filesystem::path& data_dir,
                         const Clock* clock,
                         std::chrono::milliseconds heartbeat,
                         uint16_t grpc_port) {
  gateway::GatewayOptions opt;
  opt.data_dir = data_dir;
  opt.grpc_port = grpc_port;
  opt.http_port = 0;
  opt.heartbeat_interval = heartbeat;
  opt.sweep_interval = std::chrono::milliseconds(0);
  opt.worker_threads = 2;
  auto gw = gateway::Gateway::Start(opt, clock);
  if (!gw.ok()) {
    ADD_FAILURE() << "gateway did not start: " << gw.status().ToString();
    std::abort();
  }
  gateway_ = std::move(gw).value();
  port_ = gateway_->grpc_port();
  ca_pem_ = gateway_->ca_certificate_pem();
  auto token = ReadFile(gateway_->admin_token_file());
  if (token.ok()) {
    admin_token_ = *token;
    while (!admin_token_.empty() && admin_token_.back() == '\n')
      admin_token_.pop_back();
  }
}

TestGateway::~TestGateway() { Stop(); }

void TestGateway::Stop() {
  if (gateway_) gateway_->Shutdown();
  gateway_.reset();
}

std::string TestGateway::target() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::unique_ptr<v1::FleetService::Stub> TestGateway::FleetStub() {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca_pem_;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return v1::FleetService::NewStub(
      grpc::CreateCustomChannel(target(), grpc::SslCredentials(ssl), args));
}

std::unique_ptr<grpc::ClientContext> TestGateway::Ctx(
    const std::string& token) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(10));
  // A gateway that is restarting is waited for rather than failed fast.
  ctx->set_wait_for_ready(true);
  return ctx;
}

std::vector<std::string> TestGateway::CreateEnrollmentTokens(int n) {
  auto stub = FleetStub();
  v1::CreateEnrollmentTokensRequest req;
  req.set_count(static_cast<uint32_t>(n));
  v1::CreateEnrollmentTokensResponse resp;
  auto ctx = Ctx(admin_token_);
  grpc::Status st = stub->CreateEnrollmentTokens(ctx.get(), req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return {resp.secrets().begin(), resp.secrets().end()};
}

}  // namespace tinyfleet::testing
