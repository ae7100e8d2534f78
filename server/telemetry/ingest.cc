#include "server/telemetry/ingest.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "common/log.h"
#include "secure/tn_secure.h"
#include "telemetry/tn_telemetry.h"

namespace tinyfleet::telemetry {
namespace {

struct DeviceState {
  bool usable = false;  // active, with a telemetry key
  std::string why_not;  // when not usable
  tn_seal_key key{};
  tn_seal_window window{};
};

}  // namespace

struct TelemetryIngest::Impl {
  struct Job {
    std::string device_id;
    std::vector<SealedInput> records;
    std::function<void(Result<IngestOutcome>)> done;
    bool forget = false;  // drop the device's cached state
  };

  store::Store* store;
  const GatewayTelemetryKey* key;
  const Clock* clock;
  IngestOptions options;

  prometheus::Counter* c_stored = nullptr;
  prometheus::Counter* c_replayed = nullptr;
  prometheus::Counter* c_forged = nullptr;
  prometheus::Counter* c_malformed = nullptr;
  prometheus::Counter* c_device = nullptr;
  prometheus::Counter* c_duplicate = nullptr;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> queue;      // guarded by mu
  size_t queued_records = 0;  // guarded by mu
  bool stopping = false;      // guarded by mu
  std::thread writer;

  mutable std::mutex counters_mu;
  IngestCounters totals;  // guarded by counters_mu

  // Writer thread only.
  std::unordered_map<std::string, DeviceState> devices;
  // Refusal reasons already logged, per device.
  std::unordered_map<std::string, std::set<std::string>> logged;

  DeviceState& StateFor(const std::string& device_id) {
    auto it = devices.find(device_id);
    if (it != devices.end()) return it->second;
    DeviceState st;
    auto rec = store->devices().Get(device_id);
    if (!rec.ok()) {
      st.why_not = "unknown device";
    } else if (rec->lifecycle != store::Lifecycle::kActive) {
      st.why_not = "device decommissioned";
    } else if (rec->telemetry_public_key.size() != TN_P256_PUBLIC_KEY_SIZE) {
      st.why_not = "device enrolled without a telemetry key";
    } else {
      tn_status s = tn_seal_derive_gateway_side(
          key->private_key.data(),
          reinterpret_cast<const uint8_t*>(rec->telemetry_public_key.data()),
          reinterpret_cast<const uint8_t*>(device_id.data()), device_id.size(),
          &st.key);
      if (s != TN_OK) {
        st.why_not = std::string("key derivation failed: ") + tn_status_str(s);
      } else {
        auto w = store->telemetry().Window(device_id);
        if (!w.ok()) {
          st.why_not = "window unavailable: " + w.status().ToString();
        } else {
          st.window.highest = w->highest;
          st.window.seen = w->seen;
          st.usable = true;
        }
      }
    }
    return devices.emplace(device_id, std::move(st)).first->second;
  }

  void LogOnce(DeviceState& st, const std::string& device_id,
               const std::string& reason) {
    (void)st;
    if (logged[device_id].insert(reason).second) {
      TF_LOG(kWarning, "telemetry")
          << "refusing records of " << device_id << ": " << reason
          << " (logged once; see tinyfleet_telemetry_records_total)";
    }
  }

  void Run() {
    for (;;) {
      std::vector<Job> batch;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty() && stopping) return;
        cv.wait_for(lock, options.max_batch_delay, [&] {
          return stopping || queued_records >= options.max_batch_records;
        });
        size_t n = 0;
        while (!queue.empty() && n < options.max_batch_records) {
          n += queue.front().records.size();
          queued_records -= queue.front().records.size();
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      Process(batch);
    }
  }

  void Process(std::vector<Job>& batch) {
    int64_t now = clock->NowUnixMillis();
    std::vector<store::TelemetryRow> rows;
    std::map<std::string, store::TelemetryWindow> windows;
    std::vector<IngestOutcome> outcomes(batch.size());
    // Window state to restore if the commit fails.
    std::map<std::string, tn_seal_window> before;
    IngestCounters delta;
    std::vector<uint8_t> plain(TN_SEAL_MAX_SEALED);
    for (size_t j = 0; j < batch.size(); ++j) {
      Job& job = batch[j];
      IngestOutcome& out = outcomes[j];
      if (job.forget) {
        devices.erase(job.device_id);
        before.erase(job.device_id);
        continue;
      }
      DeviceState& st = StateFor(job.device_id);
      if (st.usable && !before.count(job.device_id)) {
        before[job.device_id] = st.window;
      }
      for (const auto& in : job.records) {
        uint64_t counter = in.counter;
        const auto* sealed = reinterpret_cast<const uint8_t*>(in.sealed.data());
        uint64_t peeked = 0;
        if (tn_seal_peek_counter(sealed, in.sealed.size(), &peeked) == TN_OK) {
          counter = peeked;
        }
        out.ack_up_to = std::max(out.ack_up_to, std::max(counter, in.counter));
        if (!st.usable) {
          ++delta.refused_device;
          ++out.refused;
          LogOnce(st, job.device_id, st.why_not);
          continue;
        }
        if (tn_seal_window_check(&st.window, counter) != TN_OK) {
          ++delta.replayed;
          ++out.refused;
          continue;  // duplicates from agent retries land here too
        }
        size_t plain_len = 0;
        uint64_t opened = 0;
        tn_status s =
            tn_seal_open(&st.key, sealed, in.sealed.size(), plain.data(),
                         plain.size(), &plain_len, &opened);
        if (s != TN_OK) {
          ++delta.forged;
          ++out.refused;
          LogOnce(st, job.device_id,
                  std::string("record does not open: ") + tn_status_str(s));
          continue;
        }
        tn_telemetry_record rec;
        if (tn_telemetry_record_decode(plain.data(), plain_len, &rec) !=
            TN_OK) {
          ++delta.malformed;
          ++out.refused;
          // Authentic but undecodable: accept the counter so it is not
          // retried forever.
          tn_seal_window_accept(&st.window, opened);
          windows[job.device_id] = {st.window.highest, st.window.seen};
          LogOnce(st, job.device_id, "record does not decode");
          continue;
        }
        tn_seal_window_accept(&st.window, opened);
        windows[job.device_id] = {st.window.highest, st.window.seen};
        store::TelemetryRow row;
        row.device_id = job.device_id;
        row.counter = opened;
        row.time_ms = (rec.flags & TN_TELEMETRY_FLAG_TIME_VALID)
                          ? static_cast<int64_t>(rec.unix_ms)
                          : now;
        row.inferences = rec.inference_count;
        row.confidence_mean = rec.confidence_mean_q16 / 65536.0;
        row.feedback_correct = rec.feedback_correct;
        row.feedback_total = rec.feedback_total;
        row.energy_uj = rec.energy_uj;
        row.cycles = rec.cycles;
        uint64_t errors = rec.errors_other;
        for (uint8_t e = 0; e < rec.error_kinds; ++e)
          errors += rec.errors[e].count;
        row.errors = errors;
        row.model_version = rec.model_version;
        row.record.assign(reinterpret_cast<char*>(plain.data()), plain_len);
        rows.push_back(std::move(row));
        ++out.stored;
      }
      // Unusable states are looked up again next time (e.g. a key that
      // arrives with a re-enrollment).
      if (!st.usable) devices.erase(job.device_id);
    }
    auto added = store->telemetry().Append(rows, windows);
    if (!added.ok()) {
      // Nothing was stored: put the windows back so the agent's retry is
      // accepted.
      for (const auto& [id, w] : before) devices[id].window = w;
      TF_LOG(kError, "telemetry")
          << "ingest batch failed: " << added.status().ToString();
      for (auto& job : batch) {
        if (job.done) job.done(added.status());
      }
      return;
    }
    delta.stored = *added;
    uint64_t dup = rows.size() - *added;
    if (c_stored) {
      c_stored->Increment(static_cast<double>(delta.stored));
      c_replayed->Increment(static_cast<double>(delta.replayed));
      c_forged->Increment(static_cast<double>(delta.forged));
      c_malformed->Increment(static_cast<double>(delta.malformed));
      c_device->Increment(static_cast<double>(delta.refused_device));
      c_duplicate->Increment(static_cast<double>(dup));
    }
    {
      std::lock_guard<std::mutex> lock(counters_mu);
      totals.stored += delta.stored;
      totals.replayed += delta.replayed + dup;
      totals.forged += delta.forged;
      totals.malformed += delta.malformed;
      totals.refused_device += delta.refused_device;
    }
    for (size_t j = 0; j < batch.size(); ++j) {
      if (batch[j].done) batch[j].done(outcomes[j]);
    }
  }
};

TelemetryIngest::TelemetryIngest(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

TelemetryIngest::~TelemetryIngest() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->writer.joinable()) impl_->writer.join();
}

Result<std::unique_ptr<TelemetryIngest>> TelemetryIngest::Create(
    store::Store* store, const GatewayTelemetryKey* key, const Clock* clock,
    prometheus::Registry* metrics, IngestOptions options) {
  if (!store || !key || !clock) {
    return InvalidArgumentError(
        "telemetry ingest needs a store, a key and a clock");
  }
  if (options.max_batch_records == 0 || options.max_queued_records == 0) {
    return InvalidArgumentError(
        "telemetry ingest batch and queue sizes must be positive");
  }
  auto impl = std::make_unique<Impl>();
  impl->store = store;
  impl->key = key;
  impl->clock = clock;
  impl->options = options;
  if (metrics) {
    auto& f = prometheus::BuildCounter()
                  .Name("tinyfleet_telemetry_records_total")
                  .Help("Sealed telemetry records received, by result")
                  .Register(*metrics);
    impl->c_stored = &f.Add({{"result", "stored"}});
    impl->c_replayed = &f.Add({{"result", "replayed"}});
    impl->c_forged = &f.Add({{"result", "forged"}});
    impl->c_malformed = &f.Add({{"result", "malformed"}});
    impl->c_device = &f.Add({{"result", "refused_device"}});
    impl->c_duplicate = &f.Add({{"result", "duplicate"}});
  }
  Impl* raw = impl.get();
  raw->writer = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<TelemetryIngest>(new TelemetryIngest(std::move(impl)));
}

void TelemetryIngest::Submit(std::string device_id,
                             std::vector<SealedInput> records,
                             std::function<void(Result<IngestOutcome>)> done) {
  if (records.empty()) {
    if (done) done(IngestOutcome{});
    return;
  }
  for (const auto& r : records) {
    if (r.sealed.empty() || r.sealed.size() > TN_SEAL_MAX_SEALED) {
      if (done) {
        done(InvalidArgumentError(
            "sealed telemetry record of " + std::to_string(r.sealed.size()) +
            " bytes; must be 1.." + std::to_string(TN_SEAL_MAX_SEALED)));
      }
      return;
    }
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->queued_records + records.size() >
        impl_->options.max_queued_records) {
      if (done)
        done(ResourceExhaustedError(
            "telemetry ingest is saturated; retry later"));
      return;
    }
    impl_->queued_records += records.size();
    impl_->queue.push_back(
        {std::move(device_id), std::move(records), std::move(done)});
  }
  impl_->cv.notify_one();
}

Result<IngestOutcome> TelemetryIngest::SubmitSync(
    std::string device_id, std::vector<SealedInput> records) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<IngestOutcome>> result;
  Submit(std::move(device_id), std::move(records),
         [&](Result<IngestOutcome> r) {
           std::lock_guard<std::mutex> lock(mu);
           result.emplace(std::move(r));
           cv.notify_one();
         });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return result.has_value(); });
  return std::move(*result);
}

Result<uint64_t> TelemetryIngest::HighestCounter(const std::string& device_id) {
  TF_ASSIGN_OR_RETURN(auto w, impl_->store->telemetry().Window(device_id));
  return w.highest;
}

void TelemetryIngest::Forget(const std::string& device_id) {
  // Applied by the writer, in order with the records, so it never races
  // with a batch in progress.
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->queue.push_back({device_id, {}, nullptr, true});
  }
  impl_->cv.notify_one();
}

IngestCounters TelemetryIngest::counters() const {
  std::lock_guard<std::mutex> lock(impl_->counters_mu);
  return impl_->totals;
}

}  // namespace tinyfleet::telemetry
