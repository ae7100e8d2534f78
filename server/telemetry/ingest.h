// TelemetryIngest: opens and verifies sealed records relayed by agents and
// stores each exactly once, through one writer thread that batches many
// sessions' records into one transaction. A small pool of opener threads
// authenticates, decrypts and decodes the next batch while the writer
// commits the current one; every decision that depends on order (the
// replay window) is taken by the writer, in submission order.
//
// Per record, in order: the device must be active and have a telemetry key;
// the counter must pass the device's replay window (a counter already
// stored, or one too old to judge, is refused as "replayed"); the AES-GCM
// tag must verify ("forged" otherwise, and the window does not move); the
// record must decode ("malformed"). Refusals are counted by reason in
// tinyfleet_telemetry_records_total and logged once per device and reason.
// Every examined record, stored or refused, is acknowledged so the agent
// drops it; `done` gets the outcome only after the transaction holding the
// batch committed (synchronous=FULL). When the transaction fails, `done`
// gets the error instead, no record counts as seen, and the agent resends.
//
// Thread-safety: thread-safe; `done` callbacks run on the writer thread.
#ifndef TINYFLEET_SERVER_TELEMETRY_INGEST_H_
#define TINYFLEET_SERVER_TELEMETRY_INGEST_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "server/store/store.h"
#include "server/telemetry/telemetry_key.h"

namespace prometheus {
class Registry;
}

namespace tinyfleet::telemetry {

struct IngestOptions {
  // A batch closes after this many records or this delay. Defaults 20,000
  // and 5 ms.
  size_t max_batch_records = 20'000;
  std::chrono::milliseconds max_batch_delay{5};
  // Records queued at most before Submit refuses with RESOURCE_EXHAUSTED
  // (back-pressure: the agent keeps them and retries). Default 200,000.
  size_t max_queued_records = 200'000;
  // Threads that open and decode records (AES-GCM through OpenSSL) while
  // the writer commits. At least 1; default 2, the gateway's core count.
  size_t open_threads = 2;
};

struct SealedInput {
  uint64_t counter = 0;  // as claimed by the agent; the sealed one counts
  std::string sealed;
};

struct IngestOutcome {
  // Highest counter examined; the agent may drop everything up to it.
  uint64_t ack_up_to = 0;
  uint64_t stored = 0;
  uint64_t refused = 0;
};

struct IngestCounters {
  uint64_t stored = 0, replayed = 0, forged = 0, malformed = 0,
           refused_device = 0;
};

class TelemetryIngest {
 public:
  // `store`, `key`, `clock` and `metrics` (may be null) outlive the ingest.
  static Result<std::unique_ptr<TelemetryIngest>> Create(
      store::Store* store, const GatewayTelemetryKey* key, const Clock* clock,
      prometheus::Registry* metrics, IngestOptions options = {});
  ~TelemetryIngest();  // drains the queue, then stops the writer

  // `device_id` is the authenticated session's device.
  void Submit(std::string device_id, std::vector<SealedInput> records,
              std::function<void(Result<IngestOutcome>)> done);
  // Blocking Submit (tests and benchmarks).
  Result<IngestOutcome> SubmitSync(std::string device_id,
                                   std::vector<SealedInput> records);

  // The stored counters' high-water mark of a device (its replay window).
  Result<uint64_t> HighestCounter(const std::string& device_id);
  // Drops cached state of a device (decommissioned, re-enrolled).
  void Forget(const std::string& device_id);

  IngestCounters counters() const;

 private:
  struct Impl;
  explicit TelemetryIngest(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tinyfleet::telemetry

#endif  // TINYFLEET_SERVER_TELEMETRY_INGEST_H_
