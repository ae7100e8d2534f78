#include "agent/outbox/outbox.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "common/sqlite_db.h"

namespace tinyfleet::agent {

struct Outbox::Impl {
  struct Pending {
    OutboxRecord record;
    std::function<void(const Status&)> done;
  };

  OutboxOptions options;
  std::unique_ptr<sqlite::Db> db;
  mutable std::mutex db_mu;  // guards db and stats
  OutboxStats stats;

  std::mutex q_mu;
  std::condition_variable q_cv;
  std::deque<Pending> queue;  // guarded by q_mu
  bool stopping = false;      // guarded by q_mu
  std::thread writer;

  void Run() {
    for (;;) {
      std::vector<Pending> batch;
      {
        std::unique_lock<std::mutex> lock(q_mu);
        q_cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty() && stopping) return;
        // Let a batch build up briefly: many appends, one fsync.
        q_cv.wait_for(lock, options.max_batch_delay,
                      [&] { return stopping || queue.size() >= 512; });
        while (!queue.empty() && batch.size() < 4096) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      Status s = Commit(batch);
      for (auto& p : batch) {
        if (p.done) p.done(s);
      }
    }
  }

  Status Commit(std::vector<Pending>& batch) {
    std::lock_guard<std::mutex> lock(db_mu);
    auto tx = sqlite::Transaction::Begin(*db);
    if (!tx.ok()) return tx.status();
    uint64_t appended = 0, dups = 0, dropped = 0;
    for (auto& p : batch) {
      const auto& r = p.record;
      auto ins = db->Prepare(
          "INSERT OR IGNORE INTO records (device_id, counter, sealed) "
          "VALUES (?, ?, ?)");
      if (!ins.ok()) return ins.status();
      ins->Bind(1, r.device_id)
          .Bind(2, static_cast<int64_t>(r.counter))
          .BindBlob(3, r.sealed);
      TF_RETURN_IF_ERROR(ins->Run());
      if (db->Changes() != 1) {
        ++dups;
        continue;
      }
      ++appended;
      if (stats.records + appended - dropped > options.max_records) {
        // Make room: the device's oldest record, else the oldest overall;
        // never the record just added.
        auto del = db->Prepare(
            "DELETE FROM records WHERE seq = (SELECT seq FROM records "
            "WHERE seq != last_insert_rowid() "
            "ORDER BY (device_id = ?) DESC, seq ASC LIMIT 1)");
        if (!del.ok()) return del.status();
        del->Bind(1, r.device_id);
        TF_RETURN_IF_ERROR(del->Run());
        dropped += static_cast<uint64_t>(db->Changes());
      }
    }
    TF_RETURN_IF_ERROR(tx->Commit());
    stats.records = stats.records + appended - dropped;
    stats.appended += appended;
    stats.duplicates += dups;
    if (dropped) {
      stats.dropped_full += dropped;
      TF_LOG(kWarning, "outbox") << "full (" << options.max_records
                                 << " records): dropped " << dropped
                                 << " oldest; " << stats.dropped_full
                                 << " dropped since start";
    }
    ++stats.commits;
    return Status::Ok();
  }
};

Outbox::Outbox(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Outbox::~Outbox() {
  {
    std::lock_guard<std::mutex> lock(impl_->q_mu);
    impl_->stopping = true;
  }
  impl_->q_cv.notify_all();
  if (impl_->writer.joinable()) impl_->writer.join();
}

Result<std::unique_ptr<Outbox>> Outbox::Open(const OutboxOptions& options) {
  if (options.path.empty()) return InvalidArgumentError("outbox path required");
  if (options.max_records == 0) {
    return InvalidArgumentError("outbox max_records must be positive");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  std::error_code ec;
  if (options.path.has_parent_path()) {
    std::filesystem::create_directories(options.path.parent_path(), ec);
  }
  TF_ASSIGN_OR_RETURN(impl->db, sqlite::Db::Open(options.path));
  // seq orders records by arrival across devices (for dropping the oldest).
  TF_RETURN_IF_ERROR(impl->db->Exec(
      "CREATE TABLE IF NOT EXISTS records ("
      " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
      " device_id TEXT NOT NULL, counter INTEGER NOT NULL, sealed BLOB NOT NULL,"
      " UNIQUE (device_id, counter))"));
  TF_ASSIGN_OR_RETURN(auto count, impl->db->Prepare("SELECT COUNT(*) FROM records"));
  TF_ASSIGN_OR_RETURN(bool row, count.Step());
  impl->stats.records = row ? static_cast<uint64_t>(count.Int(0)) : 0;
  count.Reset();
  Impl* raw = impl.get();
  raw->writer = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<Outbox>(new Outbox(std::move(impl)));
}

void Outbox::Append(OutboxRecord record, std::function<void(const Status&)> durable) {
  if (record.sealed.empty() || record.sealed.size() > impl_->options.max_record_bytes ||
      record.device_id.empty()) {
    if (durable) {
      durable(InvalidArgumentError("outbox record must be 1.." +
                                   std::to_string(impl_->options.max_record_bytes) +
                                   " bytes with a device id"));
    }
    return;
  }
  {
    std::lock_guard<std::mutex> lock(impl_->q_mu);
    impl_->queue.push_back({std::move(record), std::move(durable)});
  }
  impl_->q_cv.notify_one();
}

Status Outbox::AppendSync(OutboxRecord record) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Status result;
  Append(std::move(record), [&](const Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    result = s;
    done = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  return result;
}

Result<std::vector<OutboxRecord>> Outbox::Pending(const std::string& device_id,
                                                  size_t max) {
  std::lock_guard<std::mutex> lock(impl_->db_mu);
  TF_ASSIGN_OR_RETURN(auto q, impl_->db->Prepare(
                                  "SELECT counter, sealed FROM records WHERE "
                                  "device_id = ? ORDER BY counter LIMIT ?"));
  q.Bind(1, device_id).Bind(2, static_cast<int64_t>(max));
  std::vector<OutboxRecord> out;
  for (;;) {
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back({device_id, static_cast<uint64_t>(q.Int(0)), q.Blob(1)});
  }
  return out;
}

Status Outbox::Acknowledge(const std::string& device_id, uint64_t up_to) {
  std::lock_guard<std::mutex> lock(impl_->db_mu);
  TF_ASSIGN_OR_RETURN(auto del, impl_->db->Prepare(
                                    "DELETE FROM records WHERE device_id = ? "
                                    "AND counter <= ?"));
  del.Bind(1, device_id).Bind(2, static_cast<int64_t>(up_to));
  TF_RETURN_IF_ERROR(del.Run());
  uint64_t n = static_cast<uint64_t>(impl_->db->Changes());
  impl_->stats.records -= std::min(n, impl_->stats.records);
  impl_->stats.acknowledged += n;
  return Status::Ok();
}

OutboxStats Outbox::stats() const {
  std::lock_guard<std::mutex> lock(impl_->db_mu);
  return impl_->stats;
}

}  // namespace tinyfleet::agent
