// Outbox: the agent's store-and-forward buffer for sealed telemetry. A
// record the node handed over is acknowledged to the node only once it is
// durable here; it leaves the outbox only when the gateway has acknowledged
// it. Survives agent restarts (SQLite, WAL, synchronous=FULL).
//
// Appends are group-committed by one writer thread: many records, one fsync.
// Bounded by `max_records`; when full, the oldest record of the device that
// appends is dropped to make room (newest data wins, since the gateway
// aggregates recent behaviour) and `dropped_full` counts it.
//
// Thread-safety: all methods are thread-safe; callbacks run on the writer
// thread and must not block.
#ifndef TINYFLEET_AGENT_OUTBOX_OUTBOX_H_
#define TINYFLEET_AGENT_OUTBOX_OUTBOX_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace tinyfleet::agent {

struct OutboxOptions {
  // Database file; created with its directory.
  std::filesystem::path path;
  // Records kept at most, over all devices. Default 100,000.
  uint64_t max_records = 100'000;
  // Largest accepted record. Default 1 KiB (one link frame).
  size_t max_record_bytes = 1024;
  // Longest an append waits for its batch to commit. Default 5 ms.
  std::chrono::milliseconds max_batch_delay{5};
};

struct OutboxRecord {
  std::string device_id;
  uint64_t counter = 0;  // the node's record counter
  std::string sealed;    // opaque bytes, as the node produced them
};

struct OutboxStats {
  uint64_t records = 0;        // currently held
  uint64_t appended = 0;       // accepted since open
  uint64_t duplicates = 0;     // appends of a (device, counter) already held
  uint64_t dropped_full = 0;   // dropped to stay within max_records
  uint64_t acknowledged = 0;   // deleted after gateway acknowledgement
  uint64_t commits = 0;        // transactions (fsyncs) by the writer
};

class Outbox {
 public:
  static Result<std::unique_ptr<Outbox>> Open(const OutboxOptions& options);
  ~Outbox();

  // Queues a record; `durable` is called with OK once it is committed (or
  // was already held), or with the error. INVALID_ARGUMENT at once for an
  // oversize or empty record.
  void Append(OutboxRecord record, std::function<void(const Status&)> durable);
  // Blocking append (tests and tools).
  Status AppendSync(OutboxRecord record);

  // Up to `max` records of `device_id` in counter order.
  Result<std::vector<OutboxRecord>> Pending(const std::string& device_id,
                                            size_t max);
  // Deletes the device's records with counter <= `up_to`.
  Status Acknowledge(const std::string& device_id, uint64_t up_to);

  OutboxStats stats() const;

 private:
  struct Impl;
  explicit Outbox(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tinyfleet::agent

#endif  // TINYFLEET_AGENT_OUTBOX_OUTBOX_H_
