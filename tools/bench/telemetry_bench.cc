// Telemetry throughput on this machine, end to end inside one process:
//   ingest   sealed records from N devices through TelemetryIngest into the
//            SQLite store (durable: a record counts once the transaction
//            holding it committed and its batch was acknowledged), repeated
//            `runs` times on fresh copies of the same enrolled database and
//            reported per run and as the median;
//   query    QueryTelemetry-style aggregations over a day of 1-minute data
//            for N devices (on the last run's data);
//   outbox   the agent outbox's durable append and acknowledge rates.
// Records are sealed beforehand by the node's own code, so the figures
// measure the gateway and agent, not the node.
//
// Usage: tinyfleet-bench-telemetry [devices=1000] [records_per_device=200]
//            [runs=5] [parts=ingest,query,outbox]
#include <openssl/rand.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
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

// CPU time (user + system) of the whole process so far, seconds.
double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// CPU time (user + system) of each thread of this process so far, seconds,
// by thread id (/proc/self/task/<tid>/stat, in clock ticks).
std::map<std::string, double> ThreadCpuSeconds() {
  std::map<std::string, double> out;
  const double tick = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(e.path() / "stat");
    std::string line;
    std::getline(in, line);
    auto paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    // Fields after the name: state (3) ... utime (14), stime (15).
    std::istringstream rest(line.substr(paren + 2));
    std::vector<std::string> f;
    for (std::string w; f.size() < 13 && rest >> w;) f.push_back(w);
    if (f.size() < 13) continue;
    out[e.path().filename().string()] =
        (std::stod(f[11]) + std::stod(f[12])) * tick;
  }
  return out;
}

// The largest per-thread CPU time spent between two snapshots.
double BusiestThread(const std::map<std::string, double>& before,
                     const std::map<std::string, double>& after) {
  double most = 0;
  for (const auto& [tid, cpu] : after) {
    auto it = before.find(tid);
    most = std::max(most, cpu - (it == before.end() ? 0 : it->second));
  }
  return most;
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

// Submits `records` like agent sessions do (batches of 64 per device, at
// most 2,000 batches in flight) and waits until every batch was answered.
// Returns the number of records stored.
uint64_t SubmitAll(telemetry::TelemetryIngest& ingest,
                   const std::vector<std::string>& ids,
                   const std::vector<std::vector<telemetry::SealedInput>>& recs,
                   int from, int to) {
  std::mutex mu;
  std::condition_variable cv;
  size_t outstanding = 0;
  uint64_t stored = 0;
  for (int off = from; off < to; off += 64) {
    for (size_t d = 0; d < ids.size(); ++d) {
      int end = std::min(to, off + 64);
      std::vector<telemetry::SealedInput> batch(recs[d].begin() + off,
                                                recs[d].begin() + end);
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return outstanding < 2000; });
        ++outstanding;
      }
      ingest.Submit(ids[d], std::move(batch),
                    [&](Result<telemetry::IngestOutcome> o) {
                      std::lock_guard<std::mutex> lock(mu);
                      --outstanding;
                      if (o.ok()) stored += o->stored;
                      cv.notify_all();
                    });
    }
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return outstanding == 0; });
  return stored;
}

}  // namespace

int main(int argc, char** argv) {
  int devices = argc > 1 ? std::atoi(argv[1]) : 1000;
  int per_device = argc > 2 ? std::atoi(argv[2]) : 200;
  int runs = argc > 3 ? std::atoi(argv[3]) : 5;
  std::string parts = argc > 4 ? argv[4] : "ingest,query,outbox";
  if (devices < 1 || per_device < 2 || runs < 1) {
    std::fprintf(stderr,
                 "usage: %s [devices] [records_per_device >= 2] [runs] "
                 "[parts=ingest,query,outbox]\n",
                 argv[0]);
    return 2;
  }
  auto wants = [&](const char* part) {
    return parts.find(part) != std::string::npos;
  };
  SetMinLogLevel(LogLevel::kWarning);
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "tinyfleet-bench-XXXXXX")
          .string();
  std::filesystem::path dir = mkdtemp(tmpl.data());
  const Clock& clock = SystemClock::Instance();
  auto gw_key =
      std::move(telemetry::GatewayTelemetryKey::LoadOrCreate(dir)).value();

  // Enroll the devices, each with its own node key, and seal their records
  // with the node-side derivation. The enrolled database is kept as a
  // template that every ingest run starts from.
  std::printf("preparing %d devices x %d records...\n", devices, per_device);
  std::fflush(stdout);
  std::vector<std::string> ids;
  std::vector<std::vector<telemetry::SealedInput>> records(devices);
  int64_t day_start = clock.NowUnixMillis() - 86'400'000;
  const std::filesystem::path template_db = dir / "enrolled.db";
  {
    auto store =
        std::move(store::OpenSqliteStore({template_db}, clock)).value();
    auto ca =
        std::move(pki::CertificateAuthority::Create("bench", clock)).value();
    auto registry = std::move(fleet::Registry::Create(store.get(), ca.get(),
                                                      &clock, nullptr, {}))
                        .value();
    auto tokens = registry->CreateEnrollmentTokens(
        static_cast<uint32_t>(devices), std::nullopt, {}, "", "bench");
    auto csr_key = pki::GenerateEcPrivateKey();
    auto csr = pki::CreateCsr(*csr_key, "bench");
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
          reinterpret_cast<const uint8_t*>(ids.back().data()),
          ids.back().size(), &key);
      for (int r = 0; r < per_device; ++r) {
        // Spread over the last day so the query has a day of data.
        int64_t t =
            day_start + static_cast<int64_t>(r) * 86'400'000 / per_device;
        records[d].push_back(
            {static_cast<uint64_t>(r + 1),
             SealRecord(key, static_cast<uint64_t>(r + 1), t)});
      }
    }
  }  // closes the database (checkpointing its WAL into the file)

  // ---- ingest: agents send batches of 64 records, as GatewaySession does.
  std::unique_ptr<store::Store> store;
  if (wants("ingest") || wants("query")) {
    std::vector<double> rates, cpu_us, busiest_us;
    uint64_t expected = static_cast<uint64_t>(devices) * (per_device - 1);
    for (int run = 0; run < runs; ++run) {
      store.reset();
      const std::filesystem::path run_db =
          dir / ("run" + std::to_string(run) + ".db");
      std::filesystem::copy_file(template_db, run_db);
      store = std::move(store::OpenSqliteStore({run_db}, clock)).value();
      auto ingest = std::move(telemetry::TelemetryIngest::Create(
                                  store.get(), &gw_key, &clock, nullptr))
                        .value();
      // Warm the per-device key cache (one ECDH per device) outside the
      // timing, as a running gateway has it.
      SubmitAll(*ingest, ids, records, 0, 1);
      std::printf("run %d: ingesting...\n", run + 1);
      std::fflush(stdout);
      auto t0 = Clk::now();
      double cpu0 = ProcessCpuSeconds();
      auto threads0 = ThreadCpuSeconds();
      uint64_t stored = SubmitAll(*ingest, ids, records, 1, per_device);
      double s = Seconds(t0, Clk::now());
      double cpu = ProcessCpuSeconds() - cpu0;
      double busiest = BusiestThread(threads0, ThreadCpuSeconds());
      rates.push_back(static_cast<double>(stored) / s);
      cpu_us.push_back(cpu * 1e6 / static_cast<double>(stored));
      busiest_us.push_back(busiest * 1e6 / static_cast<double>(stored));
      std::printf(
          "run %d: %llu records (%llu expected) in %.2f s = %.0f records/s "
          "durable; CPU per record %.2f us in all threads (%.2f cores "
          "used), %.2f us in the busiest\n",
          run + 1, static_cast<unsigned long long>(stored),
          static_cast<unsigned long long>(expected), s, rates.back(),
          cpu_us.back(), cpu / s, busiest_us.back());
      std::fflush(stdout);
      if (stored != expected) {
        std::fprintf(stderr, "ingest stored the wrong number of records\n");
        return 1;
      }
      if (run + 1 < runs) std::filesystem::remove(run_db);
    }
    // What the CPU time allows when the process has the machine's 2 cores
    // to itself: the busiest thread (the writer) on one core, and all
    // threads together on two.
    // Thread times come in clock ticks (10 ms): too short a run has none.
    double ceiling =
        Median(busiest_us) > 0 && Median(cpu_us) > 0
            ? std::min(1e6 / Median(busiest_us), 2e6 / Median(cpu_us))
            : 0;
    if (ceiling == 0) std::printf("(runs too short to time threads)\n");
    std::printf(
        "ingest: median %.0f records/s durable over %d runs (min %.0f, max "
        "%.0f); median CPU per record %.2f us in all threads, %.2f us in the "
        "busiest (CPU-bound ceiling on 2 idle cores: %.0f records/s); %d "
        "devices x %d records, batches of 64\n",
        Median(rates), runs, *std::min_element(rates.begin(), rates.end()),
        *std::max_element(rates.begin(), rates.end()), Median(cpu_us),
        Median(busiest_us), ceiling, devices, per_device - 1);
  }

  // ---- query over the day.
  if (wants("query")) {
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
  }
  store.reset();

  // ---- agent outbox.
  if (wants("outbox")) {
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
        "outbox: %d durable appends in %.2f s = %.0f records/s (%llu "
        "commits); acknowledged all in %.2f s\n",
        kOutbox, append_s, kOutbox / append_s,
        static_cast<unsigned long long>(outbox->stats().commits), ack_s);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
