#include "tests/support/test_fleet.h"

#include <future>

#include "agent/session/gateway_client.h"

namespace tinyfleet::testing {

TestFleet::TestFleet(std::filesystem::path dir, int io_threads)
    : dir_(std::move(dir)) {
  for (int i = 0; i < io_threads; ++i) {
    io_threads_.emplace_back([this] { io_.run(); });
  }
}

TestFleet::~TestFleet() {
  StopAll();
  // Jobs still on the blocking pool finish against closed links while the
  // io threads run; then the io threads go.
  blocking_.join();
  work_.reset();
  io_.stop();
  for (auto& t : io_threads_) t.join();
}

bool TestFleet::Start(TestGateway& gw, int n, const NodeOptionsFn& node_options,
                      const TransportWrapFn& wrap) {
  auto tokens = gw.CreateEnrollmentTokens(n);
  if (tokens.size() != static_cast<size_t>(n)) return false;
  for (int k = 0; k < n; ++k) {
    int i = static_cast<int>(bridges_.size());
    agent::BridgeOptions bo;
    bo.name = "node" + std::to_string(i);
    bo.credentials_dir = dir_ / bo.name / "credentials";
    bo.endpoint = {gw.target(), gw.ca_pem(), false};
    bo.bootstrap_token = tokens[k];
    bo.initial_backoff = std::chrono::milliseconds(50);
    bo.max_backoff = std::chrono::milliseconds(500);
    agent::VirtualNodeOptions vo;
    vo.state_dir = dir_ / bo.name / "node";
    vo.telemetry_interval = std::chrono::milliseconds(0);
    if (node_options) node_options(i, &vo);
    auto b = agent::Bridge::Create(
        io_, bo,
        [vo, wrap, i](agent::Strand strand) {
          NodeFactory make_node = [vo, strand] {
            return std::move(agent::MakeVirtualNodeTransport(strand, vo))
                .value();
          };
          return wrap ? wrap(i, strand, make_node) : make_node();
        },
        &blocking_);
    b->Start();
    bridges_.push_back(std::move(b));
  }
  return WaitFor(
      [&] {
        for (size_t i = 0; i < bridges_.size(); ++i) {
          if (stopped_.count(i)) continue;
          if (bridges_[i]->state() != agent::BridgeState::kOnline) return false;
        }
        return true;
      },
      std::chrono::seconds(60));
}

void TestFleet::Stop(size_t i) {
  if (i >= bridges_.size() || !stopped_.insert(i).second) return;
  std::promise<void> done;
  bridges_[i]->Stop([&] { done.set_value(); });
  done.get_future().wait();
}

void TestFleet::StopAll() {
  for (size_t i = 0; i < bridges_.size(); ++i) Stop(i);
}

std::vector<std::string> TestFleet::DeviceIds() const {
  std::vector<std::string> ids;
  for (const auto& b : bridges_) ids.push_back(b->device_id());
  return ids;
}

uint64_t TestFleet::FetchedBytes() const {
  uint64_t n = 0;
  for (const auto& b : bridges_) {
    if (auto u = b->updater()) n += u->stats().fetched_bytes;
  }
  return n;
}

uint64_t TestFleet::RelayedBytes() const {
  uint64_t n = 0;
  for (const auto& b : bridges_) {
    if (auto u = b->updater()) n += u->stats().relayed_bytes;
  }
  return n;
}

Result<v1::Model> UploadModel(TestGateway& gw,
                              const v1::UploadModelHeader& header,
                              const std::string& model,
                              const std::string& calibration) {
  auto stub = gw.FleetStub();
  auto ctx = TestGateway::Ctx(gw.admin_token());
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(3));
  v1::Model resp;
  auto writer = stub->UploadModel(ctx.get(), &resp);
  v1::UploadModelRequest req;
  *req.mutable_header() = header;
  req.mutable_header()->set_model_bytes(model.size());
  req.mutable_header()->set_calibration_bytes(calibration.size());
  bool ok = writer->Write(req);
  for (size_t at = 0; ok && at < model.size(); at += 256 * 1024) {
    v1::UploadModelRequest c;
    c.set_model_chunk(model.substr(at, 256 * 1024));
    ok = writer->Write(c);
  }
  if (ok && !calibration.empty()) {
    v1::UploadModelRequest c;
    c.set_calibration_chunk(calibration);
    ok = writer->Write(c);
  }
  writer->WritesDone();
  grpc::Status st = writer->Finish();
  if (!st.ok()) return agent::FromGrpc(st);
  return resp;
}

std::string RunningModel(const v1::Device& device) {
  for (const auto& s : device.node().slots()) {
    if (s.state() == v1::SLOT_STATE_ACTIVE) {
      return s.model_id() + "/" + std::to_string(s.model_version());
    }
  }
  return "";
}

std::string RunningModel(const v1::Model& model) {
  return model.model_id() + "/" + std::to_string(model.blob_version());
}

}  // namespace tinyfleet::testing
