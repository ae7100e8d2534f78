// Telemetry throughput on this machine, end to end inside one process:
//   ingest   sealed records from N devices through TelemetryIngest into the
//            SQLite store (durable: every batch committed before it counts);
//   query    QueryTelemetry-style aggregations over a day of 1-minute data
//            for N devices;
//   outbox   the agent outbox's durable append and acknowledge rates.
// Records are sealed beforehand by the node's own code, so the figures
// measure the gateway and agent, not the node.
//
// Usage: tinyfleet-bench-telemetry [devices=1000] [records_per_device=200]
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/outbox/outbox.h"
#include "common/log.h"
#include "common/pki.h"
#include "secure/tn_secure.h"
#include "server/fleet/registry.h"
#include "server/store/sqlite_store.h"
#include "server/telemetry/ingest.h"
#include "telemetry/tn_telemetry.h"

using namespace tinyfleet;
using Clk = std::chrono::steady_clock;

namespace {

double Seconds(Clk::time_point a, Clk::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

tn_status Entropy(void*, uint8_t* out, size_t len) {
  return RAND_bytes(out, static_cast<int>(len)) == 1 ? TN_OK : TN_ERR_CRYPTO;
}

std::string SealRecord(const tn_seal_key& key, uint64_t counter,
                       int64_t unix_ms) {
  tn_telemetry_record rec{};
  rec.flags = TN_TELEMETRY_FLAG_TIME_VALID;
  rec.unix_ms = static_cast<uint64_t>(unix_ms);
  rec.active_slot = TN_TELEMETRY_NO_SLOT;
  rec.inference_count = 50;
  rec.class_count = 12;
  for (int c = 0; c < 12; ++c) rec.class_counts[c] = 4;
  rec.confidence_hist[6] = 20;
  rec.confidence_hist[7] = 30;
  rec.confidence_mean_q16 = 58000;
  rec.feedback_total = 10;
  rec.feedback_correct = 9;
  rec.energy_uj = 1234;
  rec.cycles = 5'000'000;
  uint8_t plain[TN_TELEMETRY_RECORD_MAX];
  size_t plen = 0;
  tn_telemetry_record_encode(&rec, plain, sizeof(plain), &plen);
  uint8_t out[TN_SEAL_MAX_SEALED];
  size_t olen = 0;
  tn_seal_record_with_counter(&key, counter, plain, plen, out, sizeof(out),
                              &olen);
  return std::string(reinterpret_cast<char*>(out), olen);
}

}  // namespace

int main(int argc, char** argv) {
  int devices = argc > 1 ? std::atoi(argv[1]) : 1000;
  int per_device = argc > 2 ? std::atoi(argv[2]) : 200;
  if (devices < 1 || per_device < 1) {
    std::fprintf(stderr, "usage: %s [devices] [records_per_device]\n", argv[0]);
    return 2;
  }
  SetMinLogLevel(LogLevel::kWarning);
  char tmpl[] = "/tmp/tinyfleet-bench-XXXXXX";
  std::filesystem::path dir = mkdtemp(tmpl);
  const Clock& clock = SystemClock::Instance();
  auto store =
      std::move(store::OpenSqliteStore({dir / "gateway.db"}, clock)).value();
  auto ca =
      std::move(pki::CertificateAuthority::Create("bench", clock)).value();
  auto registry = std::move(fleet::Registry::Create(store.get(), ca.get(),
                                                    &clock, nullptr, {}))
                      .value();
  auto gw_key =
      std::move(telemetry::GatewayTelemetryKey::LoadOrCreate(dir)).value();

  // Enroll the devices, each with its own node key, and seal their records
  // with the node-side derivation.
  std::printf("preparing %d devices x %d records...\n", devices, per_device);
  std::vector<std::string> ids;
  std::vector<std::vector<telemetry::SealedInput>> records(devices);
  auto tokens = registry->CreateEnrollmentTokens(static_cast<uint32_t>(devices),
                                                 std::nullopt, {}, "", "bench");
  auto csr_key = pki::GenerateEcPrivateKey();
  auto csr = pki::CreateCsr(*csr_key, "bench");
  int64_t day_start = clock.NowUnixMillis() - 86'400'000;
  for (int d = 0; d < devices; ++d) {
    tn_p256_keypair node;
    tn_p256_keypair_generate(Entropy, nullptr, &node);
    auto e = registry->Enroll(
        tokens->secrets[d], *csr, {}, "",
        std::string(reinterpret_cast<char*>(node.public_key), 65));
    if (!e.ok()) {
      std::fprintf(stderr, "enroll: %s\n", e.status().ToString().c_str());
      return 1;
    }
    ids.push_back(e->device.device_id);
    tn_seal_key key;
    tn_seal_derive_node_side(
        node.private_key,
        reinterpret_cast<const uint8_t*>(gw_key.public_key.data()),
        reinterpret_cast<const uint8_t*>(ids.back().data()), ids.back().size(),
        &key);
    for (int r = 0; r < per_device; ++r) {
      // Spread over the last day so the query has a day of data.
      int64_t t = day_start + static_cast<int64_t>(r) * 86'400'000 / per_device;
      records[d].push_back({static_cast<uint64_t>(r + 1),
                            SealRecord(key, static_cast<uint64_t>(r + 1), t)});
    }
  }

  // ---- ingest: agents send batches of 64 records, as GatewaySession does.
  auto ingest = std::move(telemetry::TelemetryIngest::Create(
                              store.get(), &gw_key, &clock, nullptr))
                    .value();
  // Warm the per-device key cache (one ECDH per device) outside the timing,
  // as a running gateway has it.
  for (int d = 0; d < devices; ++d) {
    (void)ingest->SubmitSync(ids[d], {records[d][0]});
  }
  std::mutex mu;
  std::condition_variable cv;
  size_t outstanding = 0;
  uint64_t stored = 0;
  auto t0 = Clk::now();
  for (int off = 1; off < per_device; off += 64) {
    for (int d = 0; d < devices; ++d) {
      int end = std::min(per_device, off + 64);
      std::vector<telemetry::SealedInput> batch(records[d].begin() + off,
                                                records[d].begin() + end);
      {
        std::unique_lock<std::mutex> lock(mu);
        // Back-pressure like real sessions: at most 2,000 batches in flight.
        cv.wait(lock, [&] { return outstanding < 2000; });
        ++outstanding;
      }
      ingest->Submit(ids[d], std::move(batch),
                     [&](Result<telemetry::IngestOutcome> o) {
                       std::lock_guard<std::mutex> lock(mu);
                       --outstanding;
                       if (o.ok()) stored += o->stored;
                       cv.notify_all();
                     });
    }
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return outstanding == 0; });
  }
  double ingest_s = Seconds(t0, Clk::now());
  uint64_t expected = static_cast<uint64_t>(devices) * (per_device - 1);
  std::printf(
      "ingest: %llu records (%llu expected) in %.2f s = %.0f records/s "
      "durable\n",
      static_cast<unsigned long long>(stored),
      static_cast<unsigned long long>(expected), ingest_s, stored / ingest_s);

  // ---- query over the day.
  std::vector<double> one, fleet;
  for (int rep = 0; rep < 21; ++rep) {
    store::TelemetryQuery q;
    q.device_id = ids[static_cast<size_t>(rep * 7919) % ids.size()];
    q.metric = store::TelemetryMetric::kAccuracy;
    q.aggregation = store::TelemetryAggregation::kMean;
    q.start_ms = day_start;
    q.end_ms = day_start + 86'400'000;
    q.step_ms = 300'000;
    auto a = Clk::now();
    auto r1 = store->telemetry().Query(q);
    one.push_back(Seconds(a, Clk::now()) * 1000);
    q.device_id.clear();
    q.metric = store::TelemetryMetric::kInferences;
    q.aggregation = store::TelemetryAggregation::kSum;
    q.step_ms = 3'600'000;
    a = Clk::now();
    auto r2 = store->telemetry().Query(q);
    fleet.push_back(Seconds(a, Clk::now()) * 1000);
    if (!r1.ok() || !r2.ok() || r2->empty()) {
      std::fprintf(stderr, "query failed\n");
      return 1;
    }
  }
  std::printf(
      "query: one device, a day in 5-min buckets: median %.2f ms; "
      "whole fleet, a day in 1-h buckets: median %.1f ms (21 runs, %llu "
      "rows)\n",
      Median(one), Median(fleet),
      static_cast<unsigned long long>(*store->telemetry().CountRaw()));

  // ---- agent outbox.
  agent::OutboxOptions oo;
  oo.path = dir / "outbox.db";
  auto outbox = std::move(agent::Outbox::Open(oo)).value();
  const int kOutbox = 100'000;
  std::atomic<int> durable{0};
  auto o0 = Clk::now();
  for (int i = 0; i < kOutbox; ++i) {
    outbox->Append({ids[static_cast<size_t>(i) % ids.size()],
                    static_cast<uint64_t>(i + 1), records[0][0].sealed},
                   [&](const Status&) { durable.fetch_add(1); });
  }
  while (durable.load() < kOutbox) std::this_thread::yield();
  double append_s = Seconds(o0, Clk::now());
  auto a0 = Clk::now();
  for (const auto& id : ids)
    (void)outbox->Acknowledge(id, static_cast<uint64_t>(kOutbox));
  double ack_s = Seconds(a0, Clk::now());
  std::printf(
      "outbox: %d durable appends in %.2f s = %.0f records/s (%llu commits); "
      "acknowledged all in %.2f s\n",
      kOutbox, append_s, kOutbox / append_s,
      static_cast<unsigned long long>(outbox->stats().commits), ack_s);
  std::filesystem::remove_all(dir);
  return 0;
}
