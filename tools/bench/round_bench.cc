// round_bench: the gateway's overhead for one federated round with many
// simulated clients, excluding training: selection and dispatch of train
// orders (StartRound), receiving and committing every client's update
// (RoundEngine::ReceiveChunk, one chunk per update), then aggregation and
// the final commit (Tick). The store is SQLite on disk in a temporary
// directory, as in a gateway; the nodes are simulated by precomputed TNUP
// updates, and orders go to an in-memory dispatcher (no network). The model
// is the keyword-spotting DS-CNN fixture with a one-layer trainable tail.
//
//   tinyfleet-bench-rounds [--clients N] [--runs N] [--strategy fedavg|
//                          fedadam|median|trimmed_mean] [--fixtures DIR]
//
// Prints each run's phase times and the medians (milliseconds).
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "server/adapt/adapt.h"
#include "server/models/models.h"
#include "server/store/sqlite_store.h"

namespace tinyfleet {
namespace {

using Clock_ = std::chrono::steady_clock;

double Ms(Clock_::time_point a, Clock_::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Every device is online; orders are kept in memory.
class MemoryDispatcher final : public adapt::Dispatcher {
 public:
  explicit MemoryDispatcher(std::vector<std::string> ids)
      : ids_(std::move(ids)) {}
  std::vector<std::string> OnlineDevices() override { return ids_; }
  Status Send(const std::string& id, const v1::GatewayMessage& m) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (m.has_train_order()) orders_[id] = m.train_order();
    return Status::Ok();
  }
  std::map<std::string, v1::TrainOrder> orders() {
    std::lock_guard<std::mutex> lock(mu_);
    return orders_;
  }

 private:
  std::vector<std::string> ids_;
  std::mutex mu_;
  std::map<std::string, v1::TrainOrder> orders_;
};

struct RunTimes {
  double start_ms = 0;      // validation, selection, orders, commit
  double receive_ms = 0;    // every update received, validated, committed
  double aggregate_ms = 0;  // aggregation and final commit
  double total_ms = 0;
};

int Fail(const Status& s, const char* what) {
  std::fprintf(stderr, "round_bench: %s: %s\n", what, s.ToString().c_str());
  return 1;
}

int Run(int argc, char** argv) {
  uint32_t clients = 1000;
  int runs = 5;
  std::string fixtures = "tests/fixtures/kws";
  v1::AggregationStrategy strategy = v1::AGGREGATION_STRATEGY_FEDAVG;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "round_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--clients") {
      clients = static_cast<uint32_t>(std::stoul(next()));
    } else if (a == "--runs") {
      runs = std::stoi(next());
    } else if (a == "--fixtures") {
      fixtures = next();
    } else if (a == "--strategy") {
      std::string v = next();
      for (char& c : v) c = static_cast<char>(std::toupper(c));
      if (!v1::AggregationStrategy_Parse("AGGREGATION_STRATEGY_" + v,
                                         &strategy)) {
        std::fprintf(stderr, "round_bench: unknown strategy %s\n", v.c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr,
                   "usage: tinyfleet-bench-rounds [--clients N] [--runs N] "
                   "[--strategy S] [--fixtures DIR]\n");
      return 2;
    }
  }
  if (clients == 0 || runs <= 0) return 2;

  auto onnx = ReadFile(std::filesystem::path(fixtures) / "ds_cnn_s.onnx");
  auto calib_bytes =
      ReadFile(std::filesystem::path(fixtures) / "kws_calib.tnfs");
  if (!onnx.ok()) return Fail(onnx.status(), "model fixture");
  if (!calib_bytes.ok()) return Fail(calib_bytes.status(), "calibration set");
  auto calib = models::Dataset::FromFeatureFile(*calib_bytes);
  if (!calib.ok()) return Fail(calib.status(), "calibration set");
  models::CompileOptions copt;
  copt.trainable_tail_layers = 1;
  copt.model_id[0] = 0x42;
  auto compiled = models::CompileOnnx(*onnx, *calib, copt);
  if (!compiled.ok()) return Fail(compiled.status(), "compile");
  auto layout = adapt::ReadBlobTail(compiled->blob);
  if (!layout.ok()) return Fail(layout.status(), "tail");
  std::printf(
      "model: DS-CNN fixture, tail of %zu parameters in %zu tensors; "
      "%u clients, %s, %d runs\n",
      layout->params.size(), layout->tensor_sizes.size(), clients,
      v1::AggregationStrategy_Name(strategy).c_str(), runs);

  std::vector<RunTimes> all;
  std::vector<double> commit_ms;
  for (int run = 0; run < runs; ++run) {
    std::error_code ec;
    auto dir = std::filesystem::temp_directory_path() /
               ("tinyfleet-round-bench-" + std::to_string(::getpid()) + "-" +
                std::to_string(run));
    std::filesystem::remove_all(dir, ec);
    std::filesystem::create_directories(dir);
    FakeClock clock;
    auto store = store::OpenSqliteStore({dir / "gateway.db"}, clock);
    if (!store.ok()) return Fail(store.status(), "store");
    auto artifacts = ota::ArtifactStore::Open(dir / "artifacts",
                                              &(*store)->artifacts(), &clock);
    if (!artifacts.ok()) return Fail(artifacts.status(), "artifacts");
    auto key = catalog::SigningKey::LoadOrCreate(dir / "pki");
    if (!key.ok()) return Fail(key.status(), "key");
    auto cat = catalog::ModelCatalog::Create(store->get(), artifacts->get(),
                                             &*key, nullptr, &clock);
    if (!cat.ok()) return Fail(cat.status(), "catalog");
    v1::UploadModelHeader h;
    h.set_name("kws");
    h.set_format(v1::MODEL_FORMAT_BLOB);
    auto model = (*cat)->AddBlob(h, compiled->blob);
    if (!model.ok()) return Fail(model.status(), "model");

    // Devices running the model (setup, not timed).
    std::vector<std::string> ids;
    for (uint32_t i = 0; i < clients; ++i) {
      char id[32];
      std::snprintf(id, sizeof(id), "node-%05u", i);
      store::EnrollmentTokenRecord t;
      t.token_id = std::string("tok-") + id;
      t.secret_hash = std::string("h-") + id;
      t.expires_at_ms = clock.NowUnixMillis() + 3'600'000;
      Status s = (*store)->enrollment_tokens().Create({t});
      if (!s.ok()) return Fail(s, "token");
      store::DeviceRecord d;
      d.device_id = id;
      d.cert_sha256 = "c";
      d.cert_serial = "1";
      auto* slot = d.node.add_slots();
      slot->set_state(v1::SLOT_STATE_ACTIVE);
      slot->set_model_id(model->model_id());
      slot->set_model_version(model->blob_version());
      auto e = (*store)->enrollment_tokens().ConsumeAndEnroll(
          t.secret_hash, clock.NowUnixMillis(), d);
      if (!e.ok()) return Fail(e.status(), "device");
      ids.push_back(id);
    }
    // The disk's cost of one durable commit (SQLite, WAL, synchronous=FULL):
    // receiving an update costs one.
    {
      store::RoundRecord probe;
      probe.round.set_round_id("probe");
      auto c0 = Clock_::now();
      for (int i = 0; i < 200; ++i) {
        Status s = (*store)->rounds().Put(probe);
        if (!s.ok()) return Fail(s, "probe");
      }
      commit_ms.push_back(Ms(c0, Clock_::now()) / 200);
    }
    MemoryDispatcher dispatcher(ids);
    adapt::RoundEngineOptions eo;
    eo.datasets_dir = dir / "datasets";  // none: evaluation is skipped
    auto engine =
        adapt::RoundEngine::Create(store->get(), &dispatcher, artifacts->get(),
                                   cat->get(), nullptr, &clock, eo);
    if (!engine.ok()) return Fail(engine.status(), "engine");

    v1::StartRoundRequest spec;
    spec.set_kind(v1::ROUND_KIND_FEDERATED);
    spec.set_model_ref("kws:1");
    spec.set_strategy(strategy);
    spec.set_target_clients(clients);
    RunTimes t;
    auto t0 = Clock_::now();
    auto round = (*engine)->StartRound(spec);
    auto t1 = Clock_::now();
    if (!round.ok()) return Fail(round.status(), "start");
    if (round->state() != v1::ROUND_STATE_TRAINING) {
      std::fprintf(stderr, "round_bench: round is %s: %s\n",
                   v1::RoundState_Name(round->state()).c_str(),
                   round->reason().c_str());
      return 1;
    }

    // The nodes' answers (their work, not timed).
    auto tail_bytes = (*artifacts)->ReadAll(round->start_tail_artifact_id());
    if (!tail_bytes.ok()) return Fail(tail_bytes.status(), "tail");
    Sha256Digest start = Sha256(*tail_bytes);
    std::vector<std::pair<std::string, v1::UpdateChunk>> uploads;
    for (const auto& [id, order] : dispatcher.orders()) {
      adapt::UpdateFile u;
      u.round_binding = adapt::RoundBinding(order.round_id());
      std::memcpy(u.frozen_sha256.data(), order.frozen_sha256().data(), 32);
      std::memcpy(u.start_sha256.data(), start.data(), 32);
      u.samples = 20 + static_cast<uint32_t>(uploads.size() % 7);
      u.attempt = order.attempt();
      u.loss_after = 0.5f;
      u.tensor_sizes = layout->tensor_sizes;
      u.delta.resize(layout->params.size());
      for (size_t k = 0; k < u.delta.size(); ++k)
        u.delta[k] =
            1e-3f * static_cast<float>((k * 31 + uploads.size()) % 17) - 8e-3f;
      std::string bytes = adapt::EncodeUpdate(u);
      v1::UpdateChunk c;
      c.set_round_id(order.round_id());
      c.set_attempt(order.attempt());
      c.set_total_bytes(bytes.size());
      Sha256Digest d = Sha256(bytes);
      c.set_sha256(std::string(reinterpret_cast<const char*>(d.data()), 32));
      c.set_data(std::move(bytes));
      uploads.emplace_back(id, std::move(c));
    }
    auto t2 = Clock_::now();
    for (const auto& [id, chunk] : uploads) {
      auto st = (*engine)->ReceiveChunk(id, chunk);
      if (!st.ok()) return Fail(st.status(), "upload");
      if (!st->accepted) {
        std::fprintf(stderr, "round_bench: refused: %s\n", st->reason.c_str());
        return 1;
      }
    }
    auto t3 = Clock_::now();
    (*engine)->Tick();
    auto t4 = Clock_::now();
    auto done = (*engine)->Get(round->round_id());
    if (!done.ok() || done->state() != v1::ROUND_STATE_COMPLETED) {
      std::fprintf(stderr, "round_bench: round did not complete: %s\n",
                   done.ok() ? done->reason().c_str()
                             : done.status().ToString().c_str());
      return 1;
    }
    t.start_ms = Ms(t0, t1);
    t.receive_ms = Ms(t2, t3);
    t.aggregate_ms = Ms(t3, t4);
    t.total_ms = t.start_ms + t.receive_ms + t.aggregate_ms;
    std::printf(
        "run %d: start %.1f ms, receive %.1f ms (%llu bytes), "
        "aggregate+commit %.1f ms, total %.1f ms; one commit %.2f ms\n",
        run + 1, t.start_ms, t.receive_ms,
        static_cast<unsigned long long>(done->metrics().bytes_up()),
        t.aggregate_ms, t.total_ms, commit_ms.back());
    all.push_back(t);
    engine->reset();
    cat->reset();
    artifacts->reset();
    store->reset();
    std::filesystem::remove_all(dir, ec);
  }
  auto median = [&](double RunTimes::*f) {
    std::vector<double> v;
    for (const auto& r : all) v.push_back(r.*f);
    return Median(v);
  };
  std::printf(
      "median of %d: start %.1f ms, receive %.1f ms, aggregate+commit %.1f "
      "ms, total %.1f ms; one durable commit %.2f ms\n",
      runs, median(&RunTimes::start_ms), median(&RunTimes::receive_ms),
      median(&RunTimes::aggregate_ms), median(&RunTimes::total_ms),
      Median(commit_ms));
  return 0;
}

}  // namespace
}  // namespace tinyfleet

int main(int argc, char** argv) { return tinyfleet::Run(argc, argv); }
