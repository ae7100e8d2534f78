// The operator CLI against an in-process gateway on 127.0.0.1.
#include "server/cli/cli.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/session/gateway_client.h"
#include "common/encoding.h"
#include "tests/support/test_env.h"

namespace tinyfleet::cli {
namespace {

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gw_ = std::make_unique<testing::TestGateway>(dir_.path() / "gw", &clock_);
    ca_file_ = dir_.path() / "ca.crt";
    ASSERT_TRUE(WriteFileAtomic(ca_file_, gw_->ca_pem()).ok());
    env_ = {{"TINYFLEET_ADDRESS", gw_->target()},
            {"TINYFLEET_CA", ca_file_.string()},
            {"TINYFLEET_TOKEN", gw_->admin_token()}};
  }
  int Run(std::vector<std::string> args, Env env = {}) {
    out_.str("");
    err_.str("");
    if (env.empty()) env = env_;
    return RunCli(args, env, out_, err_);
  }
  testing::TempDir dir_;
  FakeClock clock_{SystemClock::Instance().NowUnixMillis()};
  std::unique_ptr<testing::TestGateway> gw_;
  std::filesystem::path ca_file_;
  Env env_;
  std::ostringstream out_, err_;
};

TEST_F(CliTest, TokensCreateEnrollAndDevicesCommands) {
  auto tokens_file = dir_.path() / "tokens.txt";
  ASSERT_EQ(Run({"tokens", "create", "--count", "2", "--ttl", "30m", "--label",
                 "site=lab", "--out", tokens_file.string()}),
            0)
      << err_.str();
  EXPECT_NE(out_.str().find("et-"), std::string::npos);
  auto secrets = ReadFile(tokens_file);
  ASSERT_TRUE(secrets.ok());
  std::string first = secrets->substr(0, secrets->find('\n'));
  EXPECT_EQ(first.rfind("tfe_", 0), 0u);

  v1::NodeInfo node;
  node.set_hardware_id("aa");
  auto creds = agent::Enroll({gw_->target(), gw_->ca_pem(), false}, first, node,
                             agent::AgentVersion(), std::chrono::seconds(10));
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();

  ASSERT_EQ(Run({"devices", "list"}), 0) << err_.str();
  EXPECT_NE(out_.str().find(creds->device_id), std::string::npos);
  EXPECT_NE(out_.str().find("site=lab"), std::string::npos);
  EXPECT_NE(out_.str().find("1 device(s)"), std::string::npos);

  ASSERT_EQ(Run({"--json", "devices", "list"}), 0);
  EXPECT_NE(out_.str().find("\"device_id\": \"" + creds->device_id + "\""),
            std::string::npos);

  ASSERT_EQ(Run({"devices", "label", creds->device_id, "ring=canary", "site-"}),
            0)
      << err_.str();
  EXPECT_NE(out_.str().find("ring=canary"), std::string::npos);
  EXPECT_EQ(out_.str().find("site=lab"), std::string::npos);
  ASSERT_EQ(Run({"devices", "list", "--selector", "ring=canary"}), 0);
  EXPECT_NE(out_.str().find("1 device(s)"), std::string::npos);

  ASSERT_EQ(Run({"devices", "show", creds->device_id}), 0);
  EXPECT_NE(out_.str().find("hardware id   aa"), std::string::npos);

  ASSERT_EQ(Run({"tokens", "list", "--all"}), 0);
  EXPECT_NE(out_.str().find("used by " + creds->device_id), std::string::npos);

  ASSERT_EQ(
      Run({"devices", "decommission", creds->device_id, "--reason", "test"}),
      0);
  ASSERT_EQ(Run({"devices", "list", "--decommissioned"}), 0);
  EXPECT_NE(out_.str().find(creds->device_id), std::string::npos);
}

TEST_F(CliTest, ErrorsAreClearAndExitCodesDistinguishUsageFromFailure) {
  EXPECT_EQ(Run({}), 2);
  EXPECT_EQ(Run({"devices", "frobnicate"}), 2);
  EXPECT_NE(err_.str().find("unknown command"), std::string::npos);
  EXPECT_EQ(Run({"tokens", "create", "--ttl", "soon"}), 2);
  EXPECT_NE(err_.str().find("bad duration"), std::string::npos);
  EXPECT_EQ(Run({"devices", "show", "dev-nope"}), 1);
  EXPECT_NE(err_.str().find("NOT_FOUND"), std::string::npos);
  Env no_ca = env_;
  no_ca.erase("TINYFLEET_CA");
  EXPECT_EQ(Run({"devices", "list"}, no_ca), 2);
  EXPECT_NE(err_.str().find("--ca"), std::string::npos);

  // A viewer may list but not create tokens.
  ASSERT_EQ(
      Run({"--json", "operators", "create", "viewer1", "--role", "viewer"}), 0);
  std::string json = out_.str();
  size_t at = json.find("\"secret\": \"");
  ASSERT_NE(at, std::string::npos);
  std::string secret = json.substr(at + 11, json.find('"', at + 11) - at - 11);
  Env viewer = env_;
  viewer["TINYFLEET_TOKEN"] = secret;
  EXPECT_EQ(Run({"whoami"}, viewer), 0);
  EXPECT_NE(out_.str().find("viewer1 (viewer"), std::string::npos);
  EXPECT_EQ(Run({"tokens", "create"}, viewer), 1);
  EXPECT_NE(err_.str().find("PERMISSION_DENIED"), std::string::npos);
}

TEST_F(CliTest, ModelsPushShowAndEvaluateOnTheNodeKernels) {
  std::string fixtures = std::string(TF_SOURCE_DIR) + "/tests/fixtures/kws/";
  ASSERT_EQ(Run({"--timeout", "300", "models", "push",
                 fixtures + "ds_cnn_s.onnx", "--name", "kws", "--calib",
                 fixtures + "kws_calib.tnfs", "--target", "gap9"}),
            0)
      << err_.str();
  EXPECT_NE(out_.str().find("kws:1"), std::string::npos) << out_.str();
  ASSERT_EQ(Run({"models", "show", "kws:1"}), 0) << err_.str();
  EXPECT_NE(out_.str().find("kws:1"), std::string::npos);

  // Data sets are files the gateway holds; names, never paths.
  auto datasets = dir_.path() / "gw" / "datasets";
  std::filesystem::create_directories(datasets);
  std::filesystem::copy_file(fixtures + "kws_test.tnfs",
                             datasets / "kws_test.tnfs");
  ASSERT_EQ(Run({"--timeout", "300", "--json", "models", "evaluate", "kws:1",
                 "--dataset", "kws_test"}),
            0)
      << err_.str();
  auto json = nlohmann::json::parse(out_.str(), nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << out_.str();
  EXPECT_EQ(json.value("samples", 0u), 984u);
  // The fixture's published int8 accuracy on the test voices is 92.28 %
  // (tests/fixtures/kws/ds_cnn_s.metrics.json); the gateway runs the same
  // kernels, so it must land there, and agree with the float path.
  EXPECT_NEAR(json.value("int8_accuracy", 0.0), 0.9228, 0.02);
  EXPECT_GT(json.value("agreement", 0.0), 0.9);

  EXPECT_EQ(Run({"models", "evaluate", "kws:1", "--dataset", "../etc"}), 1);
  EXPECT_NE(err_.str().find("INVALID_ARGUMENT"), std::string::npos)
      << err_.str();
  EXPECT_EQ(Run({"models", "evaluate", "kws:1", "--bogus"}), 2);
}

}  // namespace
}  // namespace tinyfleet::cli
