// TelemetryIngest as a two-stage pipeline:
//
//   Submit --> queue --> writer: take batch k+1, resolve device state, drop
//                        counters the window already holds, hand the rest
//                        to the opener pool, then finish batch k:
//   openers: derive new devices' keys, open (OpenSSL AES-GCM) and decode
//            batch k+1's records, build rows               (in parallel)
//   writer:  batch k in submission order: window check and accept, one
//            transaction for rows and windows, then the acknowledgements;
//            the finished batch is freed on the pool.
//
// Only one batch is with the openers at a time, so a device's key is
// touched by at most one opener task (all of a device's jobs in a batch go
// to the same task); the writer changes only the window and usability
// fields, which openers do not read.
#include "server/telemetry/ingest.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <algorithm>
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
#include "server/telemetry/record_opener.h"
#include "telemetry/tn_telemetry.h"

namespace tinyfleet::telemetry {
namespace {

struct DeviceState {
  // Writer only: set when the state is created; `usable` is cleared when
  // the key derivation failed.
  bool usable = false;  // active, with a telemetry key and a window
  std::string why_not;  // when not usable
  std::string node_public_key;
  // Set by the one opener task that derives the key (the first batch of the
  // device); read by the writer after that task finished.
  bool keyed = false;
  std::string derive_error;  // when the derivation failed
  tn_seal_key key{};
  // Writer only: the committed window plus the accepts of the batch being
  // finished.
  tn_seal_window window{};
};
using StatePtr = std::shared_ptr<DeviceState>;

enum class Verdict : uint8_t {
  kPending,    // to be opened
  kReplayed,   // the window at dispatch already held the counter
  kForged,     // does not open
  kMalformed,  // opens, does not decode
  kOpened,
};

struct RecordResult {
  Verdict verdict = Verdict::kPending;
  uint64_t counter = 0;  // peeked (or claimed, when unreadable)
  uint64_t opened = 0;   // authenticated counter
  std::string reason;    // kForged
  store::TelemetryRow row;
};

}  // namespace

struct TelemetryIngest::Impl {
  struct Job {
    std::string device_id;
    std::vector<SealedInput> records;
    std::function<void(Result<IngestOutcome>)> done;
    bool forget = false;  // drop the device's cached state
  };
  // One job of a batch on its way through the pipeline.
  struct Work {
    Job job;
    StatePtr state;
    IngestOutcome outcome;
    std::vector<RecordResult> results;  // one per record
  };
  // A batch handed to the openers.
  struct Flight {
    std::vector<Work> works;
    size_t records = 0;
    int64_t now_ms = 0;
    std::vector<store::TelemetryRow> rows;  // built by Finish
    std::mutex mu;
    std::condition_variable cv;
    size_t tasks_left = 0;  // guarded by mu
  };
  struct Task {
    Flight* flight = nullptr;
    std::vector<size_t> works;  // indices into flight->works
    // Or: a finished flight to free, so its tens of thousands of buffers
    // are not released on the writer's time.
    std::unique_ptr<Flight> retired;
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

  std::mutex pool_mu;
  std::condition_variable pool_cv;
  std::deque<Task> tasks;                              // guarded by pool_mu
  bool pool_stopping = false;                          // guarded by pool_mu
  std::vector<std::unique_ptr<RecordOpener>> openers;  // one per thread
  std::vector<std::thread> pool;

  mutable std::mutex counters_mu;
  IngestCounters totals;  // guarded by counters_mu

  // Writer thread only.
  std::unordered_map<std::string, StatePtr> devices;
  // Refusal reasons already logged, per device.
  std::unordered_map<std::string, std::set<std::string>> logged;

  // ---- writer: device state ----------------------------------------------

  StatePtr StateFor(const std::string& device_id) {
    auto it = devices.find(device_id);
    if (it != devices.end()) return it->second;
    auto st = std::make_shared<DeviceState>();
    auto rec = store->devices().Get(device_id);
    if (!rec.ok()) {
      st->why_not = "unknown device";
    } else if (rec->lifecycle != store::Lifecycle::kActive) {
      st->why_not = "device decommissioned";
    } else if (rec->telemetry_public_key.size() != TN_P256_PUBLIC_KEY_SIZE) {
      st->why_not = "device enrolled without a telemetry key";
    } else {
      auto w = store->telemetry().Window(device_id);
      if (!w.ok()) {
        st->why_not = "window unavailable: " + w.status().ToString();
      } else {
        st->window.highest = w->highest;
        st->window.seen = w->seen;
        st->node_public_key = std::move(rec->telemetry_public_key);
        st->usable = true;  // the key is derived by an opener
      }
    }
    devices.emplace(device_id, st);
    return st;
  }

  void LogOnce(const std::string& device_id, const std::string& reason) {
    if (logged[device_id].insert(reason).second) {
      TF_LOG(kWarning, "telemetry")
          << "refusing records of " << device_id << ": " << reason
          << " (logged once; see tinyfleet_telemetry_records_total)";
    }
  }

  // ---- writer: the loop ----------------------------------------------------

  void Run() {
    std::unique_ptr<Flight> pending;
    for (;;) {
      std::vector<Job> batch;
      {
        std::unique_lock<std::mutex> lock(mu);
        if (!pending) {
          cv.wait(lock, [&] { return stopping || !queue.empty(); });
          if (queue.empty() && stopping) return;
          cv.wait_for(lock, options.max_batch_delay, [&] {
            return stopping || queued_records >= options.max_batch_records;
          });
        }
        // With a batch pending, take what is queued without waiting: it is
        // opened while the pending batch commits. A Forget travels alone.
        size_t n = 0;
        while (!queue.empty() && n < options.max_batch_records) {
          if (queue.front().forget && !batch.empty()) break;
          n += queue.front().records.size();
          queued_records -= queue.front().records.size();
          bool forget = queue.front().forget;
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
          if (forget) break;
        }
      }
      if (!batch.empty() && batch.front().forget) {
        // Applied in order: after everything submitted before it committed.
        if (pending) {
          WaitOpened(*pending);
          Finish(*pending);
        }
        Retire(std::move(pending));
        devices.erase(batch.front().device_id);
        continue;
      }
      // The openers finish batch k before they get batch k+1, and open
      // k+1 while the writer commits k.
      if (pending) WaitOpened(*pending);
      std::unique_ptr<Flight> next;
      if (!batch.empty()) next = Dispatch(std::move(batch));
      if (pending) Finish(*pending);
      Retire(std::move(pending));
      pending = std::move(next);
    }
  }

  void Retire(std::unique_ptr<Flight> flight) {
    if (!flight) return;
    Task t;
    t.retired = std::move(flight);
    {
      std::lock_guard<std::mutex> lock(pool_mu);
      tasks.push_back(std::move(t));
    }
    pool_cv.notify_one();
  }

  void WaitOpened(Flight& flight) {
    std::unique_lock<std::mutex> lock(flight.mu);
    flight.cv.wait(lock, [&] { return flight.tasks_left == 0; });
  }

  // Resolves device state, sorts out counters the window already holds, and
  // hands the rest of `batch` to the openers.
  std::unique_ptr<Flight> Dispatch(std::vector<Job> batch) {
    auto flight = std::make_unique<Flight>();
    flight->now_ms = clock->NowUnixMillis();
    flight->works.reserve(batch.size());
    // Jobs of one device go to one task; tasks are balanced by records.
    std::unordered_map<DeviceState*, size_t> task_of;
    std::vector<Task> out(options.open_threads);
    std::vector<size_t> load(options.open_threads, 0);
    for (auto& job : batch) {
      Work w;
      w.state = StateFor(job.device_id);
      w.results.resize(job.records.size());
      for (size_t i = 0; i < job.records.size(); ++i) {
        const SealedInput& in = job.records[i];
        RecordResult& r = w.results[i];
        r.counter = in.counter;
        uint64_t peeked = 0;
        if (tn_seal_peek_counter(
                reinterpret_cast<const uint8_t*>(in.sealed.data()),
                in.sealed.size(), &peeked) == TN_OK) {
          r.counter = peeked;
        }
        w.outcome.ack_up_to =
            std::max(w.outcome.ack_up_to, std::max(r.counter, in.counter));
        // The window holds only committed counters here (the batch before
        // is not finished yet, and a failed one restores its windows), so
        // a counter it refuses is stored already or too old to judge.
        if (w.state->usable &&
            tn_seal_window_check(&w.state->window, r.counter) != TN_OK) {
          r.verdict = Verdict::kReplayed;
        }
      }
      w.job = std::move(job);
      size_t index = flight->works.size();
      size_t records = w.job.records.size();
      flight->records += records;
      bool usable = w.state->usable;
      DeviceState* dev = w.state.get();
      flight->works.push_back(std::move(w));
      if (!usable) {
        // Looked up again for the next job (e.g. a key that arrives with a
        // re-enrollment).
        devices.erase(flight->works.back().job.device_id);
        continue;
      }
      auto [it, added] = task_of.try_emplace(dev, 0);
      if (added) {
        it->second = static_cast<size_t>(
            std::min_element(load.begin(), load.end()) - load.begin());
      }
      out[it->second].works.push_back(index);
      load[it->second] += records;
    }
    size_t n = 0;
    for (const auto& t : out) n += t.works.empty() ? 0 : 1;
    flight->tasks_left = n;
    if (n > 0) {
      {
        std::lock_guard<std::mutex> lock(pool_mu);
        for (auto& t : out) {
          if (t.works.empty()) continue;
          t.flight = flight.get();
          tasks.push_back(std::move(t));
        }
      }
      pool_cv.notify_all();
    }
    return flight;
  }

  // Applies a flight's results (each device's in submission order), commits,
  // then acknowledges. REQUIRES: WaitOpened(flight) returned.
  void Finish(Flight& flight) {
    std::vector<store::TelemetryRow>& rows = flight.rows;
    std::map<std::string, store::TelemetryWindow> windows;
    // Window state to restore if the commit fails.
    std::unordered_map<DeviceState*, tn_seal_window> before;
    IngestCounters delta;
    // Windows are per device, so devices may be taken in any order as long
    // as each device's jobs keep theirs: grouping by device hands SQLite the
    // rows in key order, which keeps its B-tree pages hot.
    std::vector<size_t> order(flight.works.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return flight.works[a].job.device_id < flight.works[b].job.device_id;
    });
    rows.reserve(flight.records);
    for (size_t index : order) {
      Work& w = flight.works[index];
      DeviceState& st = *w.state;
      const std::string& id = w.job.device_id;
      if (st.usable && !st.keyed) {
        st.usable = false;
        st.why_not = "key derivation failed: " + st.derive_error;
      }
      if (st.usable) before.try_emplace(&st, st.window);
      IngestOutcome& out = w.outcome;
      for (RecordResult& r : w.results) {
        if (!st.usable) {
          ++delta.refused_device;
          ++out.refused;
          LogOnce(id, st.why_not);
          continue;
        }
        if (r.verdict == Verdict::kReplayed ||
            tn_seal_window_check(&st.window, r.counter) != TN_OK) {
          ++delta.replayed;
          ++out.refused;
          continue;  // duplicates from agent retries land here too
        }
        if (r.verdict == Verdict::kForged) {
          ++delta.forged;
          ++out.refused;
          LogOnce(id, "record does not open: " + r.reason);
          continue;
        }
        // Authentic: the window moves, also for an undecodable record so it
        // is not retried forever.
        tn_seal_window_accept(&st.window, r.opened);
        windows[id] = {st.window.highest, st.window.seen};
        if (r.verdict == Verdict::kMalformed) {
          ++delta.malformed;
          ++out.refused;
          LogOnce(id, "record does not decode");
          continue;
        }
        rows.push_back(std::move(r.row));
        ++out.stored;
      }
      // A state whose key could not be derived is looked up again.
      if (!st.usable) {
        auto it = devices.find(id);
        if (it != devices.end() && it->second == w.state) devices.erase(it);
      }
    }
    auto added = store->telemetry().Append(rows, windows);
    if (!added.ok()) {
      // Nothing was stored: put the windows back so the agent's retry is
      // accepted.
      for (const auto& [st, w] : before) st->window = w;
      TF_LOG(kError, "telemetry")
          << "ingest batch failed: " << added.status().ToString();
      for (auto& w : flight.works) {
        if (w.job.done) w.job.done(added.status());
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
    for (auto& w : flight.works) {
      if (w.job.done) w.job.done(w.outcome);
    }
  }

  // ---- openers -----------------------------------------------------------

  void OpenerLoop(RecordOpener* opener) {
    std::vector<uint8_t> plain(TN_SEAL_MAX_PLAINTEXT);
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(pool_mu);
        pool_cv.wait(lock, [&] { return pool_stopping || !tasks.empty(); });
        if (tasks.empty()) return;
        task = std::move(tasks.front());
        tasks.pop_front();
      }
      if (task.retired) continue;  // freed here, off the writer
      for (size_t i : task.works) {
        OpenWork(task.flight->works[i], task.flight->now_ms, *opener,
                 plain.data());
      }
      Flight* f = task.flight;
      std::lock_guard<std::mutex> lock(f->mu);
      if (--f->tasks_left == 0) f->cv.notify_one();
    }
  }

  // REQUIRES: the state is usable; no other task holds this device.
  void OpenWork(Work& w, int64_t now_ms, RecordOpener& opener, uint8_t* plain) {
    DeviceState& st = *w.state;
    if (!st.keyed) {
      if (!st.derive_error.empty()) return;
      tn_status s = tn_seal_derive_gateway_side(
          key->private_key.data(),
          reinterpret_cast<const uint8_t*>(st.node_public_key.data()),
          reinterpret_cast<const uint8_t*>(w.job.device_id.data()),
          w.job.device_id.size(), &st.key);
      if (s != TN_OK) {
        st.derive_error = tn_status_str(s);
        return;
      }
      st.keyed = true;
    }
    for (size_t i = 0; i < w.results.size(); ++i) {
      RecordResult& r = w.results[i];
      if (r.verdict != Verdict::kPending) continue;
      auto opened = opener.Open(st.key, w.job.records[i].sealed, plain);
      if (!opened.ok()) {
        r.verdict = Verdict::kForged;
        r.reason = opened.status().message();
        continue;
      }
      r.opened = *opened;
      size_t plain_len = w.job.records[i].sealed.size() - TN_SEAL_OVERHEAD;
      tn_telemetry_record rec;
      if (tn_telemetry_record_decode(plain, plain_len, &rec) != TN_OK) {
        r.verdict = Verdict::kMalformed;
        continue;
      }
      store::TelemetryRow& row = r.row;
      row.device_id = w.job.device_id;
      row.counter = r.opened;
      row.time_ms = (rec.flags & TN_TELEMETRY_FLAG_TIME_VALID)
                        ? static_cast<int64_t>(rec.unix_ms)
                        : now_ms;
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
      row.record.assign(reinterpret_cast<const char*>(plain), plain_len);
      r.verdict = Verdict::kOpened;
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
  {
    std::lock_guard<std::mutex> lock(impl_->pool_mu);
    impl_->pool_stopping = true;
  }
  impl_->pool_cv.notify_all();
  for (auto& t : impl_->pool) t.join();
}

Result<std::unique_ptr<TelemetryIngest>> TelemetryIngest::Create(
    store::Store* store, const GatewayTelemetryKey* key, const Clock* clock,
    prometheus::Registry* metrics, IngestOptions options) {
  if (!store || !key || !clock) {
    return InvalidArgumentError(
        "telemetry ingest needs a store, a key and a clock");
  }
  if (options.max_batch_records == 0 || options.max_queued_records == 0 ||
      options.open_threads == 0) {
    return InvalidArgumentError(
        "telemetry ingest batch and queue sizes and open threads must be "
        "positive");
  }
  auto impl = std::make_unique<Impl>();
  impl->store = store;
  impl->key = key;
  impl->clock = clock;
  impl->options = options;
  for (size_t i = 0; i < options.open_threads; ++i) {
    TF_ASSIGN_OR_RETURN(auto opener, RecordOpener::Create());
    impl->openers.push_back(std::move(opener));
  }
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
  for (auto& opener : raw->openers) {
    RecordOpener* o = opener.get();
    raw->pool.emplace_back([raw, o] { raw->OpenerLoop(o); });
  }
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
