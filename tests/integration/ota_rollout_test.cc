// Model rollouts through the whole system on 127.0.0.1: a gateway compiles
// and signs the keyword-spotting fixture, a rollout moves it in waves to
// bridges whose virtual nodes keep their A/B slots on disk, and the nodes
// verify, activate, self-test and confirm, or refuse and roll back.
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "agent/link/transport.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "link/tn_link.h"
#include "runtime/tn_runtime.h"
#include "server/main/gateway.h"
#include "server/models/models.h"
#include "server/ota/artifact_store.h"
#include "tests/support/test_env.h"
#include "tests/support/test_fleet.h"

namespace tinyfleet {
namespace {
namespace asio = boost::asio;

using testing::RunningModel;
using testing::TempDir;
using testing::TestFleet;
using testing::TestGateway;
using testing::UploadModel;
using testing::WaitFor;

std::string Fixture(const std::string& name) {
  std::ifstream f(std::string(TF_SOURCE_DIR) + "/tests/fixtures/kws/" + name,
                  std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

v1::TargetProfile Profile(tn_target t) {
  return t == TN_TARGET_GAP8 ? v1::TARGET_PROFILE_GAP8
                             : v1::TARGET_PROFILE_GAP9;
}

// What a faulty serial line between an agent and its node does, once, at
// the agent's `at_chunk`-th MODEL_CHUNK frame (counted from 1).
enum class LineFault {
  kPullCable,     // the frame is lost and the line drops; the node keeps power
  kPowerCycle,    // the node takes the frame, then loses power and boots again
  kSwapBlob,      // a man in the middle replaces any transfer of a blob of
                  // the size of LineCounters::swapped by it (MODEL_BEGIN's
                  // SHA-256 and every chunk's bytes); `at_chunk` is unused
  kCorruptDelta,  // a byte of the first chunk of every delta transfer
                  // (MODEL_BEGIN_DELTA) flips; `at_chunk` is unused
};

// Seen on the line; read by the test after the agent has stopped.
struct LineCounters {
  std::mutex mu;
  int chunks = 0;            // MODEL_CHUNK frames, re-sends included
  uint64_t chunk_bytes = 0;  // their data bytes
  bool fired = false;
  std::string swapped;  // kSwapBlob: the blob sent in place of the real one
};

// Wraps a virtual node's transport (tests/support/test_fleet.h). Runs on
// the bridge's strand, as transports do.
class FaultyLine final : public agent::ByteTransport {
 public:
  FaultyLine(agent::Strand strand, TestFleet::NodeFactory make_node,
             LineFault fault, int at_chunk,
             std::shared_ptr<LineCounters> counters)
      : strand_(strand),
        make_node_(std::move(make_node)),
        fault_(fault),
        at_chunk_(at_chunk),
        counters_(std::move(counters)) {}

  void Open(std::function<void(const Status&)> on_open, OnBytes on_bytes,
            OnClosed on_closed) override {
    on_closed_ = on_closed;
    if (!node_) node_ = make_node_();
    node_->Open(std::move(on_open), std::move(on_bytes), std::move(on_closed));
  }

  void Write(std::vector<uint8_t> bytes) override {
    if (!node_) return;
    // The agent writes one whole frame per call.
    tn_link_decoder dec;
    tn_link_decoder_init(&dec);
    size_t used = 0;
    const tn_link_frame* f = nullptr;
    (void)tn_link_decoder_feed(&dec, bytes.data(), bytes.size(), &used, &f);
    if (f && fault_ == LineFault::kSwapBlob &&
        f->type == TN_LINK_MSG_MODEL_BEGIN) {
      tn_link_model_begin b;
      {
        std::lock_guard<std::mutex> lock(counters_->mu);
        swapped_ = counters_->swapped;
      }
      swapping_ =
          tn_link_model_begin_decode(f->payload, f->payload_len, &b) == TN_OK &&
          !swapped_.empty() && b.total_size == swapped_.size();
      if (swapping_) bytes = SwapBegin(*f);
    } else if (f && fault_ == LineFault::kCorruptDelta &&
               (f->type == TN_LINK_MSG_MODEL_BEGIN ||
                f->type == TN_LINK_MSG_MODEL_BEGIN_DELTA)) {
      corrupt_next_ = f->type == TN_LINK_MSG_MODEL_BEGIN_DELTA;
    } else if (f && f->type == TN_LINK_MSG_MODEL_CHUNK) {
      tn_link_model_chunk c;
      if (tn_link_model_chunk_decode(f->payload, f->payload_len, &c) == TN_OK) {
        bool fire = false;
        {
          std::lock_guard<std::mutex> lock(counters_->mu);
          counters_->chunk_bytes += c.data_len;
          fire = ++counters_->chunks == at_chunk_ && !counters_->fired;
          if (fault_ == LineFault::kSwapBlob) fire = swapping_;
          if (fault_ == LineFault::kCorruptDelta) fire = corrupt_next_;
          if (fire) counters_->fired = true;
        }
        if (fire && fault_ == LineFault::kPullCable) {
          Drop("cable pulled");
          return;
        }
        if (fire && fault_ == LineFault::kPowerCycle) {
          node_->Write(std::move(bytes));
          Drop("node lost power");
          // Still referenced by callbacks queued on the strand.
          retired_.push_back(std::move(node_));
          return;
        }
        if (swapping_) bytes = SwapChunk(*f, c);
        if (fire && fault_ == LineFault::kCorruptDelta) {
          corrupt_next_ = false;
          bytes = FlipFirstByte(*f, c);
        }
      }
    }
    node_->Write(std::move(bytes));
  }

  void Close() override {
    if (node_) node_->Close();
  }
  const char* kind() const override { return "virtual"; }
  agent::NodeResources resources() const override {
    return node_ ? node_->resources() : agent::NodeResources{};
  }

 private:
  void Drop(const char* why) {
    node_->Close();
    asio::post(strand_, [cb = on_closed_, why] { cb(UnavailableError(why)); });
  }

  std::vector<uint8_t> Reencode(const tn_link_frame& f,
                                const std::vector<uint8_t>& payload) {
    tn_link_frame out = f;
    out.payload = payload.data();
    out.payload_len = static_cast<uint16_t>(payload.size());
    std::vector<uint8_t> wire(tn_link_max_encoded_size(payload.size()));
    size_t n = 0;
    EXPECT_EQ(tn_link_frame_encode(&out, wire.data(), wire.size(), &n), TN_OK);
    wire.resize(n);
    return wire;
  }

  std::vector<uint8_t> SwapBegin(const tn_link_frame& f) {
    std::vector<uint8_t> payload(f.payload, f.payload + f.payload_len);
    // MODEL_BEGIN: artifact id (32), total size (4), SHA-256 (32), ...
    // (docs/formats/link-protocol.md).
    Sha256Digest d = Sha256(swapped_);
    std::memcpy(payload.data() + TN_LINK_ARTIFACT_ID_SIZE + 4, d.data(),
                d.size());
    return Reencode(f, payload);
  }

  std::vector<uint8_t> SwapChunk(const tn_link_frame& f,
                                 const tn_link_model_chunk& c) {
    std::vector<uint8_t> payload(f.payload, f.payload + f.payload_len);
    size_t data_at = f.payload_len - c.data_len;
    std::memcpy(payload.data() + data_at, swapped_.data() + c.offset,
                c.data_len);
    return Reencode(f, payload);
  }

  std::vector<uint8_t> FlipFirstByte(const tn_link_frame& f,
                                     const tn_link_model_chunk& c) {
    std::vector<uint8_t> payload(f.payload, f.payload + f.payload_len);
    payload[f.payload_len - c.data_len] ^= 0x01;
    return Reencode(f, payload);
  }

  agent::Strand strand_;
  TestFleet::NodeFactory make_node_;
  LineFault fault_;
  int at_chunk_;
  std::shared_ptr<LineCounters> counters_;
  std::string swapped_;        // kSwapBlob: the blob of the current transfer
  bool swapping_ = false;      // the current transfer is being swapped
  bool corrupt_next_ = false;  // kCorruptDelta: the next chunk flips
  OnClosed on_closed_;
  std::unique_ptr<agent::ByteTransport> node_;
  std::vector<std::unique_ptr<agent::ByteTransport>> retired_;
};

class OtaRolloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ =
        std::make_unique<FakeClock>(SystemClock::Instance().NowUnixMillis());
    gw_ = std::make_unique<TestGateway>(dir_.path() / "gw", clock_.get());
  }
  void TearDown() override {
    fleet_.reset();
    gw_.reset();
  }

  // Enrolls `n` bridges over virtual nodes of `target` with slot flash in
  // the temp dir; waits until all are online.
  void StartNodes(int n, tn_target target,
                  const TestFleet::TransportWrapFn& wrap = nullptr) {
    fleet_ = std::make_unique<TestFleet>(dir_.path() / "fleet");
    ASSERT_TRUE(fleet_->Start(
        *gw_, n,
        [target](int, agent::VirtualNodeOptions* vo) { vo->target = target; },
        wrap));
  }

  Result<v1::Model> Upload(const std::string& name, v1::ModelFormat format,
                           const std::string& model, tn_target target,
                           uint32_t rollback_counter = 0) {
    v1::UploadModelHeader h;
    h.set_name(name);
    h.set_format(format);
    h.mutable_options()->set_target(Profile(target));
    h.mutable_options()->set_rollback_counter(rollback_counter);
    return UploadModel(
        *gw_, h, model,
        format == v1::MODEL_FORMAT_ONNX ? Fixture("kws_calib.tnfs") : "");
  }

  Result<v1::Model> UploadOnnx(const std::string& name, tn_target target,
                               uint32_t rollback_counter = 0) {
    return Upload(name, v1::MODEL_FORMAT_ONNX, Fixture("ds_cnn_s.onnx"), target,
                  rollback_counter);
  }

  // `timeout` (0: the gateway's default) bounds each wave.
  Result<v1::Rollout> CreateRollout(const std::string& model_ref,
                                    std::vector<double> waves,
                                    std::chrono::seconds timeout = {}) {
    auto stub = gw_->FleetStub();
    auto ctx = TestGateway::Ctx(gw_->admin_token());
    v1::CreateRolloutRequest req;
    req.set_model_ref(model_ref);
    if (timeout.count() > 0)
      req.mutable_gate()->mutable_timeout()->set_seconds(timeout.count());
    for (const auto& id : fleet_->DeviceIds()) req.add_device_ids(id);
    for (double w : waves) req.add_wave_percents(w);
    v1::Rollout r;
    grpc::Status st = stub->CreateRollout(ctx.get(), req, &r);
    if (!st.ok()) return agent::FromGrpc(st);
    return r;
  }

  v1::Rollout GetRollout(const std::string& id) {
    auto stub = gw_->FleetStub();
    auto ctx = TestGateway::Ctx(gw_->admin_token());
    v1::GetRolloutRequest req;
    req.set_rollout_id(id);
    v1::Rollout r;
    grpc::Status st = stub->GetRollout(ctx.get(), req, &r);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return r;
  }

  // Ticks the engine until the rollout is COMPLETED or ABORTED. With
  // `step`, the gateway's clock advances by it before each tick (so that
  // interrupted orders are sent again; the rollout then needs a long wave
  // timeout).
  v1::Rollout WaitFinished(const std::string& id,
                           std::chrono::milliseconds step = {}) {
    v1::Rollout r;
    bool done = WaitFor(
        [&] {
          if (step.count() > 0) clock_->Advance(step);
          gw_->gateway().TickRollouts();
          r = GetRollout(id);
          return r.state() == v1::ROLLOUT_STATE_COMPLETED ||
                 r.state() == v1::ROLLOUT_STATE_ABORTED;
        },
        std::chrono::seconds(120));
    EXPECT_TRUE(done) << r.DebugString();
    return r;
  }

  std::vector<v1::Device> Devices() {
    auto stub = gw_->FleetStub();
    v1::ListDevicesRequest req;
    req.set_page_size(1000);
    v1::ListDevicesResponse resp;
    auto ctx = TestGateway::Ctx(gw_->admin_token());
    grpc::Status st = stub->ListDevices(ctx.get(), req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.devices().begin(), resp.devices().end()};
  }

  // Waits until every device's registry entry shows `running` active.
  bool AllRun(const std::string& running) {
    return WaitFor([&] {
      for (const auto& d : Devices()) {
        if (RunningModel(d) != running) return false;
      }
      return true;
    });
  }

  uint64_t FetchedBytes() const { return fleet_->FetchedBytes(); }
  uint64_t RelayedBytes() const { return fleet_->RelayedBytes(); }

  TempDir dir_;
  std::unique_ptr<FakeClock> clock_;
  std::unique_ptr<TestGateway> gw_;
  std::unique_ptr<TestFleet> fleet_;
};

// The compiled fixture with the canary's expected output changed: a blob
// whose digest and structure are valid (the gateway signs it) but which
// fails the node's self-test, as a miscompiled model would.
std::string WithWrongCanary(std::string blob) {
  tn_blob_parse_options popt{};
  tn_blob parsed;
  EXPECT_EQ(tn_blob_parse(reinterpret_cast<const uint8_t*>(blob.data()),
                          blob.size(), &popt, &parsed),
            TN_OK);
  size_t canary = static_cast<size_t>(
      parsed.canary - reinterpret_cast<const uint8_t*>(blob.data()));
  uint32_t in_size = 0, out_size = 0;
  std::memcpy(&in_size, blob.data() + canary, 4);
  std::memcpy(&out_size, blob.data() + canary + 4, 4);
  size_t out_at = canary + 16 + ((in_size + 3u) & ~3u);
  EXPECT_GT(out_size, 0u);
  blob[out_at] = static_cast<char>(blob[out_at] ^ 0x5a);
  // Digest (model-blob.md § 6): SHA-256 over [0, signed_end) with the
  // digest field read as zero; the signature is made by the gateway.
  // The signature section starts with a 4-byte algorithm word; the digest
  // covers everything before the section.
  size_t signed_end =
      parsed.signature
          ? static_cast<size_t>(parsed.signature -
                                reinterpret_cast<const uint8_t*>(blob.data()))
          : blob.size();
  std::string covered = blob.substr(0, signed_end);
  std::memset(covered.data() + 48, 0, 32);
  Sha256Digest d = Sha256(covered);
  std::memcpy(blob.data() + 48, d.data(), 32);
  return blob;
}

TEST_F(OtaRolloutTest, FiftyNodesTakeAGoodModelInWavesAndAllConfirm) {
  StartNodes(50, TN_TARGET_GAP8);
  auto model = UploadOnnx("kws", TN_TARGET_GAP8);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto created = CreateRollout(model->ref(), {10, 50, 100});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ASSERT_EQ(created->waves_size(), 3);

  v1::Rollout r = WaitFinished(created->rollout_id());
  ASSERT_EQ(r.state(), v1::ROLLOUT_STATE_COMPLETED) << r.DebugString();
  uint32_t targeted = 0;
  for (const auto& w : r.waves()) {
    EXPECT_EQ(w.state(), "passed") << w.DebugString();
    EXPECT_EQ(w.failed(), 0u);
    EXPECT_EQ(w.confirmed(), w.targeted());
    targeted += w.targeted();
  }
  EXPECT_EQ(targeted, 50u);
  // The canary wave is a strict subset, the later waves grow.
  EXPECT_GT(r.waves(0).targeted(), 0u);
  EXPECT_LT(r.waves(0).targeted(), 25u);
  EXPECT_TRUE(AllRun(RunningModel(*model)));
  // Each node fetched and received the artifact once.
  EXPECT_LE(FetchedBytes(), 50 * model->blob_bytes());
  EXPECT_LE(RelayedBytes(), 50 * model->blob_bytes());
  EXPECT_GE(RelayedBytes(), 50 * model->blob_bytes());
}

TEST_F(OtaRolloutTest, FaultyModelFailsTheCanaryGateAndEveryNodeRollsBack) {
  StartNodes(10, TN_TARGET_GAP8);
  auto good = UploadOnnx("kws", TN_TARGET_GAP8);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  auto first = CreateRollout(good->ref(), {100});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(WaitFinished(first->rollout_id()).state(),
            v1::ROLLOUT_STATE_COMPLETED);
  ASSERT_TRUE(AllRun(RunningModel(*good)));

  // The same model compiled again, with a wrong canary.
  models::CompileOptions opt;
  opt.target = models::Target::kGap8;
  auto calib = models::Dataset::FromFeatureFile(Fixture("kws_calib.tnfs"));
  ASSERT_TRUE(calib.ok());
  auto compiled = models::CompileOnnx(Fixture("ds_cnn_s.onnx"), *calib, opt);
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  auto faulty = Upload("kws", v1::MODEL_FORMAT_BLOB,
                       WithWrongCanary(compiled->blob), TN_TARGET_GAP8);
  ASSERT_TRUE(faulty.ok()) << faulty.status().ToString();

  auto second = CreateRollout(faulty->ref(), {30, 100});
  ASSERT_TRUE(second.ok());
  v1::Rollout r = WaitFinished(second->rollout_id());
  ASSERT_EQ(r.state(), v1::ROLLOUT_STATE_ABORTED) << r.DebugString();
  EXPECT_EQ(r.waves(0).state(), "failed");
  EXPECT_GT(r.waves(0).failed(), 0u);
  EXPECT_EQ(r.waves(1).confirmed(), 0u);
  // Why, as operators see it (API; the CLI prints the same field).
  EXPECT_NE(r.reason().find("TN_ERR_SELFTEST"), std::string::npos)
      << r.reason();
  // Every node runs the good version: the canary nodes reverted by
  // themselves after the failed self-test; nothing else was touched.
  EXPECT_TRUE(AllRun(RunningModel(*good)));
}

TEST_F(OtaRolloutTest, NodesRefuseAWrongTargetAndAnOlderVersion) {
  StartNodes(4, TN_TARGET_GAP8);
  auto v5 = UploadOnnx("kws", TN_TARGET_GAP8, /*rollback_counter=*/5);
  ASSERT_TRUE(v5.ok()) << v5.status().ToString();
  auto first = CreateRollout(v5->ref(), {100});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(WaitFinished(first->rollout_id()).state(),
            v1::ROLLOUT_STATE_COMPLETED);

  // Compiled for GAP9: signed and intact, but not for these nodes.
  auto gap9 = UploadOnnx("kws", TN_TARGET_GAP9, 6);
  ASSERT_TRUE(gap9.ok());
  auto wrong = CreateRollout(gap9->ref(), {100});
  ASSERT_TRUE(wrong.ok());
  v1::Rollout r = WaitFinished(wrong->rollout_id());
  EXPECT_EQ(r.state(), v1::ROLLOUT_STATE_ABORTED);
  EXPECT_NE(r.reason().find("TN_ERR_BLOB_TARGET"), std::string::npos)
      << r.reason();

  // Older than what the nodes have confirmed: the anti-rollback floor.
  auto old = UploadOnnx("kws", TN_TARGET_GAP8, 4);
  ASSERT_TRUE(old.ok());
  auto older = CreateRollout(old->ref(), {100});
  ASSERT_TRUE(older.ok());
  r = WaitFinished(older->rollout_id());
  EXPECT_EQ(r.state(), v1::ROLLOUT_STATE_ABORTED);
  EXPECT_NE(r.reason().find("TN_ERR_ROLLBACK"), std::string::npos)
      << r.reason();
  EXPECT_TRUE(AllRun(RunningModel(*v5)));
}

TEST_F(OtaRolloutTest, AGatewayRestartMidRolloutIsResumed) {
  StartNodes(6, TN_TARGET_GAP8);
  auto model = UploadOnnx("kws", TN_TARGET_GAP8);
  ASSERT_TRUE(model.ok());
  auto created = CreateRollout(model->ref(), {50, 100});
  ASSERT_TRUE(created.ok());
  // Let the first wave finish, without ticking it past its gate.
  ASSERT_TRUE(WaitFor([&] {
    auto r = GetRollout(created->rollout_id());
    return r.waves(0).confirmed() == r.waves(0).targeted() &&
           r.waves(0).targeted() > 0;
  }));
  uint16_t port = static_cast<uint16_t>(
      std::stoi(gw_->target().substr(gw_->target().rfind(':') + 1)));
  gw_.reset();  // every committed state is on disk; sessions drop
  gw_ = std::make_unique<TestGateway>(dir_.path() / "gw", clock_.get(),
                                      std::chrono::milliseconds(200), port);
  v1::Rollout r = WaitFinished(created->rollout_id());
  ASSERT_EQ(r.state(), v1::ROLLOUT_STATE_COMPLETED) << r.DebugString();
  EXPECT_TRUE(AllRun(RunningModel(*model)));
  // No node received the artifact twice.
  EXPECT_LE(RelayedBytes(), 6 * model->blob_bytes());
}

// Node 0's cable is pulled mid-transfer and its agent had half of the
// artifact from a fetch a disconnect cut short; node 1 loses power
// mid-write. Both resume where they were: the agent fetches only the
// missing bytes, and the nodes take the rest from their committed offset.
TEST_F(OtaRolloutTest, TransfersResumeAfterACutFetchACablePullAndAPowerCycle) {
  auto lines = std::vector<std::shared_ptr<LineCounters>>{
      std::make_shared<LineCounters>(), std::make_shared<LineCounters>()};
  StartNodes(2, TN_TARGET_GAP8,
             [&](int i, agent::Strand strand, TestFleet::NodeFactory make) {
               return std::make_unique<FaultyLine>(
                   strand, std::move(make),
                   i == 0 ? LineFault::kPullCable : LineFault::kPowerCycle,
                   i == 0 ? 8 : 17, lines[static_cast<size_t>(i)]);
             });
  auto model = UploadOnnx("kws", TN_TARGET_GAP8);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto blob = gw_->gateway().artifacts().ReadAll(model->blob_sha256());
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  ASSERT_GT(blob->size(), 20u * 1018u);  // the faults fall mid-transfer
  // What a fetch cut after 12 kB leaves in node 0's artifact cache.
  const size_t cut = 12 * 1024;
  std::filesystem::create_directories(fleet_->NodeDir(0) / "artifacts");
  std::ofstream(
      fleet_->NodeDir(0) / "artifacts" / (model->blob_sha256() + ".part"),
      std::ios::binary)
      << blob->substr(0, cut);
  uint64_t served_before = gw_->gateway().artifacts().bytes_served();

  auto created = CreateRollout(model->ref(), {100}, std::chrono::hours(24));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  v1::Rollout r =
      WaitFinished(created->rollout_id(), std::chrono::milliseconds(250));
  ASSERT_EQ(r.state(), v1::ROLLOUT_STATE_COMPLETED) << r.DebugString();
  EXPECT_TRUE(AllRun(RunningModel(*model)));

  // The gateway served node 0 only what its cache lacked.
  EXPECT_EQ(gw_->gateway().artifacts().bytes_served() - served_before,
            2 * blob->size() - cut);
  EXPECT_EQ(FetchedBytes(), 2 * blob->size() - cut);
  fleet_->StopAll();
  for (const auto& line : lines) {
    std::lock_guard<std::mutex> lock(line->mu);
    EXPECT_TRUE(line->fired);
    // Every byte reached the node; at most 10 % went twice.
    EXPECT_GE(line->chunk_bytes, blob->size());
    EXPECT_LE(static_cast<double>(line->chunk_bytes), 1.1 * blob->size());
  }
}

// A man in the middle on the node's line swaps in a blob whose digest is
// consistent but which the gateway never signed: the node refuses it, the
// rollout aborts with the node's reason, and the node runs nothing new.
// (A node that runs the model's base gets a delta, which the line does
// not rewrite: this node starts empty so that the full blob travels.)
TEST_F(OtaRolloutTest, ABlobSwappedOnTheLineFailsTheSignatureCheck) {
  auto line = std::make_shared<LineCounters>();
  StartNodes(1, TN_TARGET_GAP8,
             [&](int, agent::Strand strand, TestFleet::NodeFactory make) {
               return std::make_unique<FaultyLine>(
                   strand, std::move(make), LineFault::kSwapBlob, 0, line);
             });
  auto next = UploadOnnx("kws", TN_TARGET_GAP8);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  auto blob = gw_->gateway().artifacts().ReadAll(next->blob_sha256());
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  {
    // Another canary, the digest made to match: only the signature, which
    // covers the digest, tells this blob from the one the gateway signed.
    std::lock_guard<std::mutex> lock(line->mu);
    line->swapped = WithWrongCanary(*blob);
    ASSERT_EQ(line->swapped.size(), blob->size());
  }
  auto second = CreateRollout(next->ref(), {100});
  ASSERT_TRUE(second.ok());
  v1::Rollout r = WaitFinished(second->rollout_id());
  EXPECT_EQ(r.state(), v1::ROLLOUT_STATE_ABORTED) << r.DebugString();
  EXPECT_NE(r.reason().find("TN_ERR_BLOB_SIGNATURE"), std::string::npos)
      << r.reason();
  EXPECT_TRUE(AllRun(""));
  std::lock_guard<std::mutex> lock(line->mu);
  EXPECT_TRUE(line->fired);  // the swap happened
}

// A node that runs the base of a new version gets the delta; when the
// node refuses it (here: the first byte of the delta flipped on the line;
// the node's delta decoder stops at that chunk with TN_ERR_OTA_DELTA), the
// engine sends the full blob at once and the rollout completes.
TEST_F(OtaRolloutTest, ARefusedDeltaIsFollowedByTheFullBlob) {
  auto line = std::make_shared<LineCounters>();
  StartNodes(1, TN_TARGET_GAP8,
             [&](int, agent::Strand strand, TestFleet::NodeFactory make) {
               return std::make_unique<FaultyLine>(
                   strand, std::move(make), LineFault::kCorruptDelta, 0, line);
             });
  auto base = UploadOnnx("kws", TN_TARGET_GAP8, /*rollback_counter=*/1);
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  auto first = CreateRollout(base->ref(), {100});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(WaitFinished(first->rollout_id()).state(),
            v1::ROLLOUT_STATE_COMPLETED);
  ASSERT_TRUE(AllRun(RunningModel(*base)));
  {
    std::lock_guard<std::mutex> lock(line->mu);
    ASSERT_FALSE(line->fired);  // the first install was a full blob
  }

  auto next = UploadOnnx("kws", TN_TARGET_GAP8, /*rollback_counter=*/2);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_GT(next->deltas_size(), 0) << next->DebugString();
  uint64_t served_before = gw_->gateway().artifacts().bytes_served();
  auto second = CreateRollout(next->ref(), {100});
  ASSERT_TRUE(second.ok());
  v1::Rollout r = WaitFinished(second->rollout_id());
  ASSERT_EQ(r.state(), v1::ROLLOUT_STATE_COMPLETED) << r.DebugString();
  EXPECT_TRUE(AllRun(RunningModel(*next)));
  {
    std::lock_guard<std::mutex> lock(line->mu);
    EXPECT_TRUE(line->fired);  // a delta went out and was corrupted
  }
  // The delta, then the blob: each once.
  uint64_t served = gw_->gateway().artifacts().bytes_served() - served_before;
  EXPECT_GT(served, next->blob_bytes());
  EXPECT_LT(served, next->blob_bytes() + next->blob_bytes() / 5);
}

}  // namespace
}  // namespace tinyfleet
