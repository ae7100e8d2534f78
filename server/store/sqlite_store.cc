#include "server/store/sqlite_store.h"

#include <mutex>
#include <nlohmann/json.hpp>

#include "common/sqlite_db.h"
#include "server/store/migrations.h"

namespace tinyfleet::store {

using sqlite::Db;
using sqlite::Statement;
using sqlite::Transaction;
namespace {

std::string LabelsToJson(const Labels& labels) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : labels) j[k] = v;
  return j.dump();
}

Labels LabelsFromJson(const std::string& text) {
  Labels out;
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

constexpr char kDeviceColumns[] =
    "device_id, lifecycle, node_info, agent_version, cert_sha256, cert_serial,"
    " enrollment_token_id, enrolled_at_ms, last_seen_at_ms,"
    " decommissioned_at_ms, decommission_reason, telemetry_public_key";

class SqliteStore;

// Shared state of the repositories: the connection and its lock.
struct Shared {
  std::mutex mu;
  std::unique_ptr<Db> db;
};

Result<Labels> LoadLabels(Db& db, const std::string& device_id) {
  TF_ASSIGN_OR_RETURN(
      auto q,
      db.Prepare("SELECT key, value FROM device_labels WHERE device_id=?"
                 " ORDER BY key"));
  q.Bind(1, device_id);
  Labels labels;
  for (;;) {
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    labels[q.Text(0)] = q.Text(1);
  }
  return labels;
}

Status ReadDevice(Db& db, Statement& q, DeviceRecord* d) {
  d->device_id = q.Text(0);
  d->lifecycle = static_cast<Lifecycle>(q.Int(1));
  std::string node = q.Blob(2);
  if (!node.empty() && !d->node.ParseFromString(node)) {
    return DataLossError("stored node info of " + d->device_id +
                         " does not parse");
  }
  d->agent_version = q.Text(3);
  d->cert_sha256 = q.Text(4);
  d->cert_serial = q.Text(5);
  d->enrollment_token_id = q.Text(6);
  d->enrolled_at_ms = q.Int(7);
  d->last_seen_at_ms = q.Int(8);
  d->decommissioned_at_ms = q.Int(9);
  d->decommission_reason = q.Text(10);
  d->telemetry_public_key = q.Blob(11);
  return Status::Ok();
}

Result<DeviceRecord> GetDeviceLocked(Db& db, const std::string& device_id) {
  TF_ASSIGN_OR_RETURN(auto q,
                      db.Prepare(std::string("SELECT ") + kDeviceColumns +
                                 " FROM devices WHERE device_id=?"));
  q.Bind(1, device_id);
  TF_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return NotFoundError("no device " + device_id);
  DeviceRecord d;
  TF_RETURN_IF_ERROR(ReadDevice(db, q, &d));
  q.Reset();
  TF_ASSIGN_OR_RETURN(d.labels, LoadLabels(db, device_id));
  return d;
}

Status WriteLabels(Db& db, const std::string& device_id, const Labels& labels) {
  TF_ASSIGN_OR_RETURN(
      auto del, db.Prepare("DELETE FROM device_labels WHERE device_id=?"));
  del.Bind(1, device_id);
  TF_RETURN_IF_ERROR(del.Run());
  for (const auto& [k, v] : labels) {
    TF_ASSIGN_OR_RETURN(auto ins,
                        db.Prepare("INSERT INTO device_labels VALUES(?,?,?)"));
    ins.Bind(1, device_id).Bind(2, k).Bind(3, v);
    TF_RETURN_IF_ERROR(ins.Run());
  }
  return Status::Ok();
}

class SqliteDevices final : public DeviceRepository {
 public:
  explicit SqliteDevices(Shared* s) : s_(s) {}

  Result<DeviceRecord> Get(const std::string& device_id) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    return GetDeviceLocked(*s_->db, device_id);
  }

  Result<DevicePage> List(const DeviceQuery& query) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    Db& db = *s_->db;
    // The filter is built from fixed fragments; values are bound.
    std::string where = "d.lifecycle=?";
    for (const auto& r : query.selector) {
      switch (r.op) {
        case LabelRequirement::Op::kEquals:
          where +=
              " AND EXISTS (SELECT 1 FROM device_labels l WHERE"
              " l.device_id=d.device_id AND l.key=? AND l.value=?)";
          break;
        case LabelRequirement::Op::kNotEquals:
          where +=
              " AND NOT EXISTS (SELECT 1 FROM device_labels l WHERE"
              " l.device_id=d.device_id AND l.key=? AND l.value=?)";
          break;
        case LabelRequirement::Op::kExists:
          where +=
              " AND EXISTS (SELECT 1 FROM device_labels l WHERE"
              " l.device_id=d.device_id AND l.key=?)";
          break;
      }
    }
    if (query.ids) {
      if (query.ids->empty() && !query.exclude_ids) return DevicePage{};
      where +=
          query.exclude_ids ? " AND d.device_id NOT IN" : " AND d.device_id IN";
      where += " (SELECT value FROM json_each(?))";
    }
    auto bind_filter = [&](Statement& st) {
      int i = 1;
      st.Bind(i++, static_cast<int64_t>(query.lifecycle));
      for (const auto& r : query.selector) {
        st.Bind(i++, r.key);
        if (r.op != LabelRequirement::Op::kExists) st.Bind(i++, r.value);
      }
      if (query.ids) st.Bind(i++, nlohmann::json(*query.ids).dump());
      return i;
    };

    DevicePage page;
    TF_ASSIGN_OR_RETURN(
        auto count,
        db.Prepare("SELECT COUNT(*) FROM devices d WHERE " + where));
    bind_filter(count);
    TF_ASSIGN_OR_RETURN(bool crow, count.Step());
    page.total = crow ? static_cast<uint64_t>(count.Int(0)) : 0;
    count.Reset();

    std::string cols = kDeviceColumns;
    std::string sql = "SELECT ";
    // Prefix every column with d.
    size_t start = 0;
    bool first = true;
    while (start < cols.size()) {
      size_t comma = cols.find(',', start);
      std::string c =
          cols.substr(start, comma == std::string::npos ? std::string::npos
                                                        : comma - start);
      size_t b = c.find_first_not_of(' ');
      c = c.substr(b);
      sql += (first ? "d." : ", d.") + c;
      first = false;
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    sql += " FROM devices d WHERE " + where +
           " AND d.device_id > ? ORDER BY d.device_id LIMIT ?";
    TF_ASSIGN_OR_RETURN(auto q, db.Prepare(sql));
    int i = bind_filter(q);
    q.Bind(i++, query.after_id);
    q.Bind(i++, static_cast<int64_t>(query.limit) + 1);
    for (;;) {
      TF_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      DeviceRecord d;
      TF_RETURN_IF_ERROR(ReadDevice(db, q, &d));
      page.devices.push_back(std::move(d));
    }
    q.Reset();
    if (page.devices.size() > query.limit) {
      page.devices.pop_back();
      page.more = true;
    }
    for (auto& d : page.devices) {
      TF_ASSIGN_OR_RETURN(d.labels, LoadLabels(db, d.device_id));
    }
    return page;
  }

  Result<DeviceRecord> UpdateLabels(const std::string& device_id,
                                    const Labels& set,
                                    const std::vector<std::string>& remove,
                                    bool replace) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    Db& db = *s_->db;
    TF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
    TF_ASSIGN_OR_RETURN(DeviceRecord d, GetDeviceLocked(db, device_id));
    if (replace) {
      d.labels = set;
    } else {
      for (const auto& [k, v] : set) d.labels[k] = v;
      for (const auto& k : remove) d.labels.erase(k);
    }
    TF_RETURN_IF_ERROR(WriteLabels(db, device_id, d.labels));
    TF_RETURN_IF_ERROR(tx.Commit());
    return d;
  }

  Status UpdateNode(const std::string& device_id, const v1::NodeInfo& node,
                    const std::string& agent_version,
                    int64_t seen_at_ms) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q,
        s_->db->Prepare("UPDATE devices SET node_info=?, agent_version=?,"
                        " last_seen_at_ms=MAX(last_seen_at_ms, ?)"
                        " WHERE device_id=?"));
    q.BindBlob(1, node.SerializeAsString())
        .Bind(2, agent_version)
        .Bind(3, seen_at_ms)
        .Bind(4, device_id);
    TF_RETURN_IF_ERROR(q.Run());
    if (s_->db->Changes() == 0) return NotFoundError("no device " + device_id);
    return Status::Ok();
  }

  Status UpdateLastSeen(const std::map<std::string, int64_t>& seen) override {
    if (seen.empty()) return Status::Ok();
    std::lock_guard<std::mutex> lock(s_->mu);
    Db& db = *s_->db;
    TF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
    for (const auto& [id, at] : seen) {
      TF_ASSIGN_OR_RETURN(
          auto q, db.Prepare("UPDATE devices SET last_seen_at_ms=?"
                             " WHERE device_id=? AND last_seen_at_ms<?"));
      q.Bind(1, at).Bind(2, id).Bind(3, at);
      TF_RETURN_IF_ERROR(q.Run());
    }
    return tx.Commit();
  }

  Result<DeviceRecord> Decommission(const std::string& device_id,
                                    const std::string& reason,
                                    int64_t at_ms) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    Db& db = *s_->db;
    TF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
    TF_ASSIGN_OR_RETURN(DeviceRecord d, GetDeviceLocked(db, device_id));
    if (d.lifecycle == Lifecycle::kDecommissioned) return d;
    TF_ASSIGN_OR_RETURN(
        auto q,
        db.Prepare("UPDATE devices SET lifecycle=?, decommissioned_at_ms=?,"
                   " decommission_reason=? WHERE device_id=?"));
    q.Bind(1, static_cast<int64_t>(Lifecycle::kDecommissioned))
        .Bind(2, at_ms)
        .Bind(3, reason)
        .Bind(4, device_id);
    TF_RETURN_IF_ERROR(q.Run());
    TF_RETURN_IF_ERROR(tx.Commit());
    d.lifecycle = Lifecycle::kDecommissioned;
    d.decommissioned_at_ms = at_ms;
    d.decommission_reason = reason;
    return d;
  }

  Result<uint64_t> Count(Lifecycle lifecycle) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q,
        s_->db->Prepare("SELECT COUNT(*) FROM devices WHERE lifecycle=?"));
    q.Bind(1, static_cast<int64_t>(lifecycle));
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    uint64_t n = row ? static_cast<uint64_t>(q.Int(0)) : 0;
    q.Reset();
    return n;
  }

 private:
  Shared* s_;
};

constexpr char kTokenColumns[] =
    "token_id, secret_hash, created_at_ms, expires_at_ms, used_at_ms,"
    " used_by_device_id, revoked, labels_json, description, created_by";

EnrollmentTokenRecord ReadToken(const Statement& q) {
  EnrollmentTokenRecord t;
  t.token_id = q.Text(0);
  t.secret_hash = q.Text(1);
  t.created_at_ms = q.Int(2);
  t.expires_at_ms = q.Int(3);
  t.used_at_ms = q.Int(4);
  t.used_by_device_id = q.Text(5);
  t.revoked = q.Int(6) != 0;
  t.labels = LabelsFromJson(q.Text(7));
  t.description = q.Text(8);
  t.created_by = q.Text(9);
  return t;
}

Result<EnrollmentTokenRecord> FindTokenLocked(Db& db, const char* column,
                                              const std::string& value) {
  TF_ASSIGN_OR_RETURN(
      auto q, db.Prepare(std::string("SELECT ") + kTokenColumns +
                         " FROM enrollment_tokens WHERE " + column + "=?"));
  q.Bind(1, value);
  TF_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return NotFoundError("no such enrollment token");
  EnrollmentTokenRecord t = ReadToken(q);
  q.Reset();
  return t;
}

class SqliteEnrollmentTokens final : public EnrollmentTokenRepository {
 public:
  explicit SqliteEnrollmentTokens(Shared* s) : s_(s) {}

  Status Create(const std::vector<EnrollmentTokenRecord>& tokens) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    Db& db = *s_->db;
    TF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
    for (const auto& t : tokens) {
      TF_ASSIGN_OR_RETURN(
          auto q,
          db.Prepare("INSERT INTO enrollment_tokens (token_id, secret_hash,"
                     " created_at_ms, expires_at_ms, labels_json,"
                     " description, created_by) VALUES (?,?,?,?,?,?,?)"));
      q.Bind(1, t.token_id)
          .Bind(2, t.secret_hash)
          .Bind(3, t.created_at_ms)
          .Bind(4, t.expires_at_ms)
          .Bind(5, LabelsToJson(t.labels))
          .Bind(6, t.description)
          .Bind(7, t.created_by);
      TF_RETURN_IF_ERROR(q.Run());
    }
    return tx.Commit();
  }

  Result<EnrollmentTokenRecord> FindBySecretHash(
      const std::string& secret_hash) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    return FindTokenLocked(*s_->db, "secret_hash", secret_hash);
  }

  Result<std::vector<EnrollmentTokenRecord>> List(bool include_inactive,
                                                  int64_t now_ms,
                                                  const std::string& after_id,
                                                  uint32_t limit) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    std::string sql = std::string("SELECT ") + kTokenColumns +
                      " FROM enrollment_tokens WHERE token_id > ?";
    if (!include_inactive) {
      sql += " AND used_at_ms=0 AND revoked=0 AND expires_at_ms>?";
    }
    sql += " ORDER BY token_id LIMIT ?";
    TF_ASSIGN_OR_RETURN(auto q, s_->db->Prepare(sql));
    int i = 1;
    q.Bind(i++, after_id);
    if (!include_inactive) q.Bind(i++, now_ms);
    q.Bind(i++, static_cast<int64_t>(limit));
    std::vector<EnrollmentTokenRecord> out;
    for (;;) {
      TF_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back(ReadToken(q));
    }
    return out;
  }

  Result<EnrollmentTokenRecord> Revoke(const std::string& token_id) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    Db& db = *s_->db;
    TF_ASSIGN_OR_RETURN(
        auto q,
        db.Prepare("UPDATE enrollment_tokens SET revoked=1 WHERE token_id=?"));
    q.Bind(1, token_id);
    TF_RETURN_IF_ERROR(q.Run());
    return FindTokenLocked(db, "token_id", token_id);
  }

  Result<DeviceRecord> ConsumeAndEnroll(const std::string& secret_hash,
                                        int64_t now_ms,
                                        DeviceRecord device) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    Db& db = *s_->db;
    TF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
    auto token = FindTokenLocked(db, "secret_hash", secret_hash);
    if (!token.ok() || token->used_at_ms != 0 || token->revoked ||
        token->expires_at_ms <= now_ms) {
      return UnauthenticatedError(
          "enrollment token is unknown, used, revoked or expired");
    }
    TF_ASSIGN_OR_RETURN(
        auto use,
        db.Prepare("UPDATE enrollment_tokens SET used_at_ms=?,"
                   " used_by_device_id=? WHERE token_id=? AND used_at_ms=0"));
    use.Bind(1, now_ms).Bind(2, device.device_id).Bind(3, token->token_id);
    TF_RETURN_IF_ERROR(use.Run());
    if (db.Changes() != 1) {
      return UnauthenticatedError("enrollment token already used");
    }
    Labels labels = token->labels;
    for (const auto& [k, v] : device.labels) labels[k] = v;
    device.labels = labels;
    device.enrollment_token_id = token->token_id;
    device.enrolled_at_ms = now_ms;
    device.lifecycle = Lifecycle::kActive;
    TF_ASSIGN_OR_RETURN(
        auto ins,
        db.Prepare(std::string("INSERT INTO devices (") + kDeviceColumns +
                   ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"));
    ins.Bind(1, device.device_id)
        .Bind(2, static_cast<int64_t>(device.lifecycle))
        .BindBlob(3, device.node.SerializeAsString())
        .Bind(4, device.agent_version)
        .Bind(5, device.cert_sha256)
        .Bind(6, device.cert_serial)
        .Bind(7, device.enrollment_token_id)
        .Bind(8, device.enrolled_at_ms)
        .Bind(9, device.last_seen_at_ms)
        .Bind(10, int64_t{0})
        .Bind(11, "")
        .BindBlob(12, device.telemetry_public_key);
    TF_RETURN_IF_ERROR(ins.Run());
    TF_RETURN_IF_ERROR(WriteLabels(db, device.device_id, device.labels));
    TF_RETURN_IF_ERROR(tx.Commit());
    return device;
  }

 private:
  Shared* s_;
};

constexpr char kOperatorColumns[] =
    "token_id, name, role, secret_hash, created_at_ms, revoked, "
    "last_used_at_ms";

OperatorTokenRecord ReadOperator(const Statement& q) {
  OperatorTokenRecord t;
  t.token_id = q.Text(0);
  t.name = q.Text(1);
  t.role = static_cast<Role>(q.Int(2));
  t.secret_hash = q.Text(3);
  t.created_at_ms = q.Int(4);
  t.revoked = q.Int(5) != 0;
  t.last_used_at_ms = q.Int(6);
  return t;
}

class SqliteOperatorTokens final : public OperatorTokenRepository {
 public:
  explicit SqliteOperatorTokens(Shared* s) : s_(s) {}

  Status Create(const OperatorTokenRecord& t) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q, s_->db->Prepare(std::string("INSERT INTO operator_tokens (") +
                                kOperatorColumns + ") VALUES (?,?,?,?,?,?,?)"));
    q.Bind(1, t.token_id)
        .Bind(2, t.name)
        .Bind(3, static_cast<int64_t>(t.role))
        .Bind(4, t.secret_hash)
        .Bind(5, t.created_at_ms)
        .Bind(6, int64_t{t.revoked ? 1 : 0})
        .Bind(7, t.last_used_at_ms);
    return q.Run();
  }

  Result<OperatorTokenRecord> FindBySecretHash(
      const std::string& secret_hash) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    return FindLocked("secret_hash", secret_hash);
  }

  Result<std::vector<OperatorTokenRecord>> List() override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q, s_->db->Prepare(std::string("SELECT ") + kOperatorColumns +
                                " FROM operator_tokens ORDER BY"
                                " created_at_ms, token_id"));
    std::vector<OperatorTokenRecord> out;
    for (;;) {
      TF_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back(ReadOperator(q));
    }
    return out;
  }

  Result<OperatorTokenRecord> Revoke(const std::string& token_id) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q, s_->db->Prepare(
                    "UPDATE operator_tokens SET revoked=1 WHERE token_id=?"));
    q.Bind(1, token_id);
    TF_RETURN_IF_ERROR(q.Run());
    return FindLocked("token_id", token_id);
  }

  Status Touch(const std::string& token_id, int64_t at_ms) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q, s_->db->Prepare("UPDATE operator_tokens SET last_used_at_ms=?"
                                " WHERE token_id=?"));
    q.Bind(1, at_ms).Bind(2, token_id);
    return q.Run();
  }

  Result<uint64_t> CountActive(Role role) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(auto q,
                        s_->db->Prepare("SELECT COUNT(*) FROM operator_tokens"
                                        " WHERE role=? AND revoked=0"));
    q.Bind(1, static_cast<int64_t>(role));
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    uint64_t n = row ? static_cast<uint64_t>(q.Int(0)) : 0;
    q.Reset();
    return n;
  }

 private:
  Result<OperatorTokenRecord> FindLocked(const char* column,
                                         const std::string& value) {
    TF_ASSIGN_OR_RETURN(
        auto q,
        s_->db->Prepare(std::string("SELECT ") + kOperatorColumns +
                        " FROM operator_tokens WHERE " + column + "=?"));
    q.Bind(1, value);
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return NotFoundError("no such operator token");
    OperatorTokenRecord t = ReadOperator(q);
    q.Reset();
    return t;
  }

  Shared* s_;
};

// Per-metric SQL: numerator and denominator for raw rows and for rollups,
// and the per-record min/max expressions.
struct MetricSql {
  const char* raw_num;
  const char* raw_den;
  const char* roll_num;
  const char* roll_den;
  const char* roll_min;
  const char* roll_max;
};

MetricSql SqlFor(TelemetryMetric m) {
  switch (m) {
    case TelemetryMetric::kInferences:
      return {"inferences",
              "1",
              "inferences",
              "records",
              "inferences*1.0/records",
              "inferences*1.0/records"};
    case TelemetryMetric::kConfidence:
      return {"confidence", "1", "conf_sum", "records", "conf_min", "conf_max"};
    case TelemetryMetric::kAccuracy:
      return {"fb_correct",
              "fb_total",
              "fb_correct",
              "fb_total",
              "fb_correct*1.0/NULLIF(fb_total,0)",
              "fb_correct*1.0/NULLIF(fb_total,0)"};
    case TelemetryMetric::kEnergy:
      return {"energy_uj",
              "1",
              "energy_uj",
              "records",
              "energy_uj*1.0/records",
              "energy_uj*1.0/records"};
    case TelemetryMetric::kCycles:
      return {"cycles",
              "1",
              "cycles",
              "records",
              "cycles*1.0/records",
              "cycles*1.0/records"};
    case TelemetryMetric::kErrors:
      return {"errors",
              "1",
              "errors",
              "records",
              "errors*1.0/records",
              "errors*1.0/records"};
    case TelemetryMetric::kRecords:
      return {"1", "1", "records", "records", "1", "1"};
  }
  return {"1", "1", "records", "records", "1", "1"};
}

class SqliteTelemetry final : public TelemetryRepository {
 public:
  explicit SqliteTelemetry(Shared* s) : s_(s) {}

  Result<uint64_t> Append(
      const std::vector<TelemetryRow>& rows,
      const std::map<std::string, TelemetryWindow>& windows) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    Db& db = *s_->db;
    TF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
    uint64_t added = 0;
    TF_ASSIGN_OR_RETURN(auto insert,
                        db.Prepare("INSERT OR IGNORE INTO telemetry VALUES "
                                   "(?,?,?,?,?,?,?,?,?,?,?,?)"));
    for (const auto& r : rows) {
      insert.Reset();
      insert.Bind(1, r.device_id)
          .Bind(2, static_cast<int64_t>(r.counter))
          .Bind(3, r.time_ms)
          .Bind(4, static_cast<int64_t>(r.inferences))
          .BindDouble(5, r.confidence_mean)
          .Bind(6, static_cast<int64_t>(r.feedback_correct))
          .Bind(7, static_cast<int64_t>(r.feedback_total))
          .Bind(8, static_cast<int64_t>(r.energy_uj))
          .Bind(9, static_cast<int64_t>(r.cycles))
          .Bind(10, static_cast<int64_t>(r.errors))
          .Bind(11, static_cast<int64_t>(r.model_version))
          .BindBlob(12, r.record);
      TF_RETURN_IF_ERROR(insert.Run());
      added += static_cast<uint64_t>(db.Changes());
    }
    for (const auto& [id, w] : windows) {
      TF_ASSIGN_OR_RETURN(auto q,
                          db.Prepare("INSERT INTO telemetry_windows VALUES "
                                     "(?,?,?) ON CONFLICT(device_id) DO "
                                     "UPDATE SET highest=excluded.highest, "
                                     "seen=excluded.seen"));
      q.Bind(1, id)
          .Bind(2, static_cast<int64_t>(w.highest))
          .Bind(3, static_cast<int64_t>(w.seen));
      TF_RETURN_IF_ERROR(q.Run());
    }
    TF_RETURN_IF_ERROR(tx.Commit());
    return added;
  }

  Result<TelemetryWindow> Window(const std::string& device_id) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(auto q,
                        s_->db->Prepare("SELECT highest, seen FROM "
                                        "telemetry_windows WHERE device_id=?"));
    q.Bind(1, device_id);
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    TelemetryWindow w;
    if (row) {
      w.highest = static_cast<uint64_t>(q.Int(0));
      w.seen = static_cast<uint64_t>(q.Int(1));
    }
    q.Reset();
    return w;
  }

  Result<std::vector<TelemetryPoint>> Query(const TelemetryQuery& tq) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    Db& db = *s_->db;
    MetricSql m = SqlFor(tq.metric);
    std::string dev = tq.device_id.empty() ? "" : " AND device_id=?";
    std::vector<TelemetryPoint> out;
    if (tq.aggregation == TelemetryAggregation::kRaw) {
      std::string sql =
          std::string("SELECT time_ms, device_id, ") + m.raw_num +
          "*1.0/NULLIF(" + m.raw_den +
          ",0) FROM telemetry WHERE time_ms>=? AND time_ms<?" + dev +
          " UNION ALL SELECT minute_ms, device_id, " + m.roll_num +
          "*1.0/NULLIF(" + m.roll_den + ",0) FROM telemetry_1m WHERE " +
          "minute_ms>?-60000 AND minute_ms<?" + dev + " ORDER BY 1, 2 LIMIT ?";
      TF_ASSIGN_OR_RETURN(auto q, db.Prepare(sql));
      int i = 1;
      for (int part = 0; part < 2; ++part) {
        q.Bind(i++, tq.start_ms);
        q.Bind(i++, tq.end_ms);
        if (!tq.device_id.empty()) q.Bind(i++, tq.device_id);
      }
      q.Bind(i++, static_cast<int64_t>(tq.limit));
      for (;;) {
        TF_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        if (q.IsNull(2)) continue;  // e.g. accuracy without feedback
        out.push_back({q.Int(0), q.Double(2), q.Text(1)});
      }
      return out;
    }
    // Per bucket: sum of numerators, of denominators, record count, and
    // per-record min and max, from both tables; combined below.
    std::string sql =
        "SELECT b, SUM(num), SUM(den), SUM(n), MIN(mn), MAX(mx) FROM ("
        " SELECT " +
        std::string(tq.step_ms > 0 ? "((time_ms - ?) / ?)" : "0") + " AS b, " +
        m.raw_num + " AS num, " + m.raw_den + " AS den, 1 AS n, " + m.raw_num +
        "*1.0/NULLIF(" + m.raw_den + ",0) AS mn, " + m.raw_num +
        "*1.0/NULLIF(" + m.raw_den +
        ",0) AS mx FROM telemetry"
        " WHERE time_ms>=? AND time_ms<?" +
        dev + " UNION ALL SELECT " +
        std::string(tq.step_ms > 0 ? "((minute_ms - ?) / ?)" : "0") + ", " +
        m.roll_num + ", " + m.roll_den + ", records, " + m.roll_min + ", " +
        m.roll_max +
        " FROM telemetry_1m WHERE minute_ms>?-60000 AND minute_ms<?" + dev +
        ") GROUP BY b ORDER BY b LIMIT ?";
    TF_ASSIGN_OR_RETURN(auto q, db.Prepare(sql));
    int i = 1;
    for (int part = 0; part < 2; ++part) {
      if (tq.step_ms > 0) {
        q.Bind(i++, tq.start_ms);
        q.Bind(i++, tq.step_ms);
      }
      q.Bind(i++, tq.start_ms);
      q.Bind(i++, tq.end_ms);
      if (!tq.device_id.empty()) q.Bind(i++, tq.device_id);
    }
    q.Bind(i++, static_cast<int64_t>(tq.limit));
    for (;;) {
      TF_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      TelemetryPoint p;
      p.time_ms = tq.start_ms + q.Int(0) * (tq.step_ms > 0 ? tq.step_ms : 0);
      double num = q.Double(1), den = q.Double(2);
      switch (tq.aggregation) {
        case TelemetryAggregation::kMean:
          if (den == 0) continue;
          p.value = num / den;
          break;
        case TelemetryAggregation::kSum:
          p.value = num;
          break;
        case TelemetryAggregation::kCount:
          p.value = static_cast<double>(q.Int(3));
          break;
        case TelemetryAggregation::kMin:
          if (q.IsNull(4)) continue;
          p.value = q.Double(4);
          break;
        case TelemetryAggregation::kMax:
          if (q.IsNull(5)) continue;
          p.value = q.Double(5);
          break;
        case TelemetryAggregation::kRaw:
          break;
      }
      out.push_back(std::move(p));
    }
    return out;
  }

  Result<uint64_t> Downsample(int64_t before_ms) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    Db& db = *s_->db;
    TF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
    // Merge into existing minutes (a minute may be folded in two passes).
    TF_ASSIGN_OR_RETURN(
        auto fold,
        db.Prepare(
            "INSERT INTO telemetry_1m SELECT device_id, (time_ms/60000)*60000,"
            " COUNT(*), SUM(inferences), SUM(confidence), MIN(confidence),"
            " MAX(confidence), SUM(fb_correct), SUM(fb_total), SUM(energy_uj),"
            " SUM(cycles), SUM(errors) FROM telemetry WHERE time_ms<?"
            " GROUP BY 1, 2 ON CONFLICT(device_id, minute_ms) DO UPDATE SET"
            " records=records+excluded.records,"
            " inferences=inferences+excluded.inferences,"
            " conf_sum=conf_sum+excluded.conf_sum,"
            " conf_min=MIN(conf_min, excluded.conf_min),"
            " conf_max=MAX(conf_max, excluded.conf_max),"
            " fb_correct=fb_correct+excluded.fb_correct,"
            " fb_total=fb_total+excluded.fb_total,"
            " energy_uj=energy_uj+excluded.energy_uj,"
            " cycles=cycles+excluded.cycles, errors=errors+excluded.errors"));
    fold.Bind(1, before_ms);
    TF_RETURN_IF_ERROR(fold.Run());
    TF_ASSIGN_OR_RETURN(auto del,
                        db.Prepare("DELETE FROM telemetry WHERE time_ms<?"));
    del.Bind(1, before_ms);
    TF_RETURN_IF_ERROR(del.Run());
    uint64_t n = static_cast<uint64_t>(db.Changes());
    TF_RETURN_IF_ERROR(tx.Commit());
    return n;
  }

  Result<std::pair<uint64_t, uint64_t>> FeedbackByModel(
      const std::vector<std::string>& device_ids, uint32_t model_version,
      int64_t since_ms) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q,
        s_->db->Prepare("SELECT COALESCE(SUM(fb_correct),0), "
                        "COALESCE(SUM(fb_total),0) FROM telemetry WHERE "
                        "model_version=? AND time_ms>=? AND device_id IN "
                        "(SELECT value FROM json_each(?))"));
    q.Bind(1, static_cast<int64_t>(model_version));
    q.Bind(2, since_ms);
    q.Bind(3, nlohmann::json(device_ids).dump());
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    std::pair<uint64_t, uint64_t> out{0, 0};
    if (row)
      out = {static_cast<uint64_t>(q.Int(0)), static_cast<uint64_t>(q.Int(1))};
    q.Reset();
    return out;
  }

  Result<uint64_t> CountRaw() override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(auto q,
                        s_->db->Prepare("SELECT COUNT(*) FROM telemetry"));
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    uint64_t n = row ? static_cast<uint64_t>(q.Int(0)) : 0;
    q.Reset();
    return n;
  }

 private:
  Shared* s_;
};

class SqliteArtifacts final : public ArtifactRepository {
 public:
  explicit SqliteArtifacts(Shared* s) : s_(s) {}
  Status Put(const ArtifactRecord& a) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q,
        s_->db->Prepare("INSERT OR IGNORE INTO artifacts VALUES (?,?,?,?)"));
    q.Bind(1, a.artifact_id)
        .Bind(2, static_cast<int64_t>(a.size))
        .Bind(3, a.kind)
        .Bind(4, a.created_at_ms);
    return q.Run();
  }
  Result<ArtifactRecord> Get(const std::string& id) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q, s_->db->Prepare("SELECT artifact_id, size, kind, created_at_ms "
                                "FROM artifacts WHERE artifact_id=?"));
    q.Bind(1, id);
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return NotFoundError("no artifact " + id);
    ArtifactRecord a{q.Text(0), static_cast<uint64_t>(q.Int(1)), q.Text(2),
                     q.Int(3)};
    q.Reset();
    return a;
  }

 private:
  Shared* s_;
};

class SqliteModels final : public ModelRepository {
 public:
  explicit SqliteModels(Shared* s) : s_(s) {}
  Result<ModelRecord> Create(ModelRecord r) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    Db& db = *s_->db;
    TF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
    TF_ASSIGN_OR_RETURN(
        auto q, db.Prepare("SELECT COALESCE(MAX(version),0) FROM models "
                           "WHERE name=?"));
    q.Bind(1, r.model.name());
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    uint32_t version = static_cast<uint32_t>(row ? q.Int(0) : 0) + 1;
    q.Reset();
    r.model.set_version(version);
    r.model.set_ref(r.model.name() + ":" + std::to_string(version));
    TF_ASSIGN_OR_RETURN(auto ins,
                        db.Prepare("INSERT INTO models VALUES (?,?,?,?)"));
    ins.Bind(1, r.model.name())
        .Bind(2, static_cast<int64_t>(version))
        .Bind(3, r.artifact_id)
        .BindBlob(4, r.model.SerializeAsString());
    TF_RETURN_IF_ERROR(ins.Run());
    TF_RETURN_IF_ERROR(tx.Commit());
    return r;
  }
  Result<ModelRecord> Get(const std::string& name, uint32_t version) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    std::string sql = version == 0 ? "SELECT artifact_id, model FROM models "
                                     "WHERE name=? ORDER BY version "
                                     "DESC LIMIT 1"
                                   : "SELECT artifact_id, model FROM models "
                                     "WHERE name=? AND version=?";
    TF_ASSIGN_OR_RETURN(auto q, s_->db->Prepare(sql));
    q.Bind(1, name);
    if (version) q.Bind(2, static_cast<int64_t>(version));
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) {
      return NotFoundError("no model " + name +
                           (version ? ":" + std::to_string(version) : ""));
    }
    ModelRecord r;
    r.artifact_id = q.Text(0);
    if (!r.model.ParseFromString(q.Blob(1))) {
      return DataLossError("stored model " + name + " does not parse");
    }
    q.Reset();
    return r;
  }
  Result<std::vector<ModelRecord>> List(const std::string& name,
                                        const std::string& after_ref,
                                        uint32_t limit) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    // after_ref is "name:version" of the last row of the previous page.
    std::string after_name;
    int64_t after_version = 0;
    size_t colon = after_ref.rfind(':');
    if (colon != std::string::npos) {
      after_name = after_ref.substr(0, colon);
      after_version = std::atoll(after_ref.c_str() + colon + 1);
    }
    std::string sql =
        "SELECT artifact_id, model FROM models WHERE (name > ? OR (name = ? "
        "AND "
        "version > ?))";
    if (!name.empty()) sql += " AND name = ?";
    sql += " ORDER BY name, version LIMIT ?";
    TF_ASSIGN_OR_RETURN(auto q, s_->db->Prepare(sql));
    int i = 1;
    q.Bind(i++, after_name);
    q.Bind(i++, after_name);
    q.Bind(i++, after_version);
    if (!name.empty()) q.Bind(i++, name);
    q.Bind(i++, static_cast<int64_t>(limit));
    std::vector<ModelRecord> out;
    for (;;) {
      TF_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      ModelRecord r;
      r.artifact_id = q.Text(0);
      if (!r.model.ParseFromString(q.Blob(1))) {
        return DataLossError("stored model does not parse");
      }
      out.push_back(std::move(r));
    }
    return out;
  }

 private:
  Shared* s_;
};

constexpr std::string_view kTargetColumns =
    "SELECT rollout_id, device_id, wave, state, error, previous_model_ref,"
    " previous_model_id, updated_at_ms, bytes_sent FROM rollout_targets";

// A row selected with kTargetColumns.
RolloutTarget ReadTarget(sqlite::Statement& q) {
  RolloutTarget t;
  t.rollout_id = q.Text(0);
  t.device_id = q.Text(1);
  t.wave = static_cast<uint32_t>(q.Int(2));
  t.state = q.Text(3);
  t.error = q.Text(4);
  t.previous_model_ref = q.Text(5);
  t.previous_model_id = q.Text(6);
  t.updated_at_ms = q.Int(7);
  t.bytes_sent = static_cast<uint64_t>(q.Int(8));
  return t;
}

class SqliteRollouts final : public RolloutRepository {
 public:
  explicit SqliteRollouts(Shared* s) : s_(s) {}
  Status Put(const v1::Rollout& r) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q,
        s_->db->Prepare("INSERT OR REPLACE INTO rollouts VALUES (?,?,?)"));
    q.Bind(1, r.rollout_id())
        .Bind(2, static_cast<int64_t>(r.state()))
        .BindBlob(3, r.SerializeAsString());
    return q.Run();
  }
  Result<v1::Rollout> Get(const std::string& id) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q,
        s_->db->Prepare("SELECT rollout FROM rollouts WHERE rollout_id=?"));
    q.Bind(1, id);
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return NotFoundError("no rollout " + id);
    v1::Rollout r;
    if (!r.ParseFromString(q.Blob(0)))
      return DataLossError("stored rollout does not parse");
    q.Reset();
    return r;
  }
  Result<std::vector<v1::Rollout>> List(const std::string& after_id,
                                        uint32_t limit) override {
    return Select(
        "SELECT rollout FROM rollouts WHERE rollout_id > ? ORDER BY "
        "rollout_id LIMIT ?",
        after_id, limit);
  }
  Result<std::vector<v1::Rollout>> ListUnfinished() override {
    return Select(
        "SELECT rollout FROM rollouts WHERE rollout_id > ? AND state IN "
        "(1,2,3) "
        "ORDER BY rollout_id LIMIT ?",
        "", 100000);
  }
  Status PutTarget(const RolloutTarget& t) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q, s_->db->Prepare("INSERT OR REPLACE INTO rollout_targets VALUES "
                                "(?,?,?,?,?,?,?,?,?)"));
    q.Bind(1, t.rollout_id)
        .Bind(2, t.device_id)
        .Bind(3, static_cast<int64_t>(t.wave))
        .Bind(4, t.state)
        .Bind(5, t.error)
        .Bind(6, t.previous_model_ref)
        .Bind(7, t.previous_model_id)
        .Bind(8, t.updated_at_ms)
        .Bind(9, static_cast<int64_t>(t.bytes_sent));
    return q.Run();
  }
  Result<std::vector<RolloutTarget>> Targets(const std::string& id) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q, s_->db->Prepare(std::string(kTargetColumns) +
                                " WHERE rollout_id=? ORDER BY device_id"));
    q.Bind(1, id);
    std::vector<RolloutTarget> out;
    for (;;) {
      TF_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back(ReadTarget(q));
    }
    return out;
  }
  Result<RolloutTarget> Target(const std::string& id,
                               const std::string& device_id) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(auto q,
                        s_->db->Prepare(std::string(kTargetColumns) +
                                        " WHERE rollout_id=? AND device_id=?"));
    q.Bind(1, id).Bind(2, device_id);
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) {
      return NotFoundError(device_id + " is not a target of rollout " + id);
    }
    return ReadTarget(q);
  }

 private:
  Result<std::vector<v1::Rollout>> Select(const std::string& sql,
                                          const std::string& after,
                                          uint32_t limit) {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(auto q, s_->db->Prepare(sql));
    q.Bind(1, after);
    q.Bind(2, static_cast<int64_t>(limit));
    std::vector<v1::Rollout> out;
    for (;;) {
      TF_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      v1::Rollout r;
      if (!r.ParseFromString(q.Blob(0)))
        return DataLossError("stored rollout does not parse");
      out.push_back(std::move(r));
    }
    return out;
  }
  Shared* s_;
};

// Rounds: the message and engine state in `rounds`, one row per selected
// device in `round_clients` (with the update bytes received so far).
class SqliteRounds final : public RoundRepository {
 public:
  explicit SqliteRounds(Shared* s) : s_(s) {}

  Status Put(const RoundRecord& r,
             const std::vector<RoundClient>& clients) override {
    return PutRound(r, clients, nullptr);
  }

  Status PutWithUpload(const RoundRecord& r, const RoundClient& c) override {
    return PutRound(r, {c}, &c);
  }

 private:
  // The round, its clients and, when `upload` is set, that client's whole
  // upload, in one transaction.
  Status PutRound(const RoundRecord& r, const std::vector<RoundClient>& clients,
                  const RoundClient* upload) {
    std::lock_guard<std::mutex> lock(s_->mu);
    Db& db = *s_->db;
    TF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
    TF_ASSIGN_OR_RETURN(auto q,
                        db.Prepare("INSERT OR REPLACE INTO rounds VALUES "
                                   "(?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    std::string sizes;
    for (uint32_t n : r.tensor_sizes) {
      for (int i = 0; i < 4; ++i)
        sizes.push_back(static_cast<char>(n >> (8 * i)));
    }
    q.Bind(1, r.round.round_id())
        .Bind(2, static_cast<int64_t>(r.round.state()))
        .Bind(3, r.lineage)
        .Bind(4, static_cast<int64_t>(r.completed_seq))
        .BindBlob(5, r.round.SerializeAsString())
        .BindBlob(6, r.frozen_sha256)
        .BindBlob(7, sizes)
        .Bind(8, r.start_tail_id)
        .Bind(9, r.start_round_id)
        .Bind(10, r.result_tail_id)
        .BindBlob(11, r.optimizer_state)
        .Bind(12, static_cast<int64_t>(r.seed))
        .Bind(13, r.deadline_ms);
    TF_RETURN_IF_ERROR(q.Run());
    for (const auto& c : clients) TF_RETURN_IF_ERROR(PutClientLocked(db, c));
    if (upload) {
      TF_ASSIGN_OR_RETURN(auto u,
                          db.Prepare("UPDATE round_clients SET upload=?,"
                                     " committed_bytes=?, total_bytes=? WHERE"
                                     " round_id=? AND device_id=?"));
      u.BindBlob(1, upload->upload)
          .Bind(2, static_cast<int64_t>(upload->upload.size()))
          .Bind(3, static_cast<int64_t>(upload->total_bytes))
          .Bind(4, upload->round_id)
          .Bind(5, upload->device_id);
      TF_RETURN_IF_ERROR(u.Run());
    }
    return tx.Commit();
  }

 public:
  Result<RoundRecord> Get(const std::string& id) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto list,
        Select(std::string(kRoundSelect) + " WHERE round_id=?", {id}, 1));
    if (list.empty()) return NotFoundError("no round " + id);
    return std::move(list.front());
  }

  Result<std::vector<v1::Round>> List(const std::string& after_id,
                                      uint32_t limit) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q, s_->db->Prepare("SELECT round FROM rounds WHERE round_id > "
                                "? ORDER BY round_id LIMIT ?"));
    q.Bind(1, after_id).Bind(2, static_cast<int64_t>(limit));
    std::vector<v1::Round> out;
    for (;;) {
      TF_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      v1::Round r;
      if (!r.ParseFromString(q.Blob(0)))
        return DataLossError("stored round does not parse");
      out.push_back(std::move(r));
    }
    return out;
  }

  Result<std::vector<RoundRecord>> ListUnfinished() override {
    std::lock_guard<std::mutex> lock(s_->mu);
    return Select(std::string(kRoundSelect) +
                      " WHERE state NOT IN (6,7,8) ORDER BY round_id",
                  {}, 0);
  }

  Result<RoundRecord> LatestCompleted(const std::string& lineage) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(auto list,
                        Select(std::string(kRoundSelect) +
                                   " WHERE lineage=? AND completed_seq > 0"
                                   " ORDER BY completed_seq DESC LIMIT 1",
                               {lineage}, 0));
    if (list.empty()) return NotFoundError("no completed round in " + lineage);
    return std::move(list.front());
  }

  Result<uint64_t> MaxCompletedSeq() override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(auto q, s_->db->Prepare("SELECT COALESCE(MAX("
                                                "completed_seq), 0) FROM "
                                                "rounds"));
    TF_ASSIGN_OR_RETURN(bool row, q.Step());
    uint64_t v = row ? static_cast<uint64_t>(q.Int(0)) : 0;
    q.Reset();
    return v;
  }

  Status PutClient(const RoundClient& c) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    return PutClientLocked(*s_->db, c);
  }

  Result<RoundClient> Client(const std::string& round_id,
                             const std::string& device_id,
                             bool with_upload) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto list, SelectClients(" WHERE round_id=? AND device_id=?", round_id,
                                 device_id, with_upload));
    if (list.empty()) {
      return NotFoundError("device " + device_id + " is not in round " +
                           round_id);
    }
    return std::move(list.front());
  }

  Result<std::vector<RoundClient>> Clients(const std::string& round_id,
                                           bool with_uploads) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    return SelectClients(" WHERE round_id=? ORDER BY device_id", round_id, "",
                         with_uploads);
  }

  Result<uint64_t> AppendUpload(const std::string& round_id,
                                const std::string& device_id, uint32_t attempt,
                                uint64_t offset, std::string_view data,
                                uint64_t total_bytes) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(
        auto q,
        s_->db->Prepare("UPDATE round_clients SET upload = upload || ?,"
                        " committed_bytes = committed_bytes + ?,"
                        " total_bytes = ? WHERE round_id=? AND device_id=?"
                        " AND attempt=? AND committed_bytes=?"));
    q.BindBlob(1, data)
        .Bind(2, static_cast<int64_t>(data.size()))
        .Bind(3, static_cast<int64_t>(total_bytes))
        .Bind(4, round_id)
        .Bind(5, device_id)
        .Bind(6, static_cast<int64_t>(attempt))
        .Bind(7, static_cast<int64_t>(offset));
    TF_RETURN_IF_ERROR(q.Run());
    if (s_->db->Changes() != 1) {
      return FailedPreconditionError(
          "upload of " + device_id + " is not at attempt " +
          std::to_string(attempt) + " and offset " + std::to_string(offset));
    }
    return offset + data.size();
  }

  Result<std::map<int, uint64_t>> CountByState() override {
    std::lock_guard<std::mutex> lock(s_->mu);
    TF_ASSIGN_OR_RETURN(auto q, s_->db->Prepare("SELECT state, COUNT(*) FROM "
                                                "rounds GROUP BY state"));
    std::map<int, uint64_t> out;
    for (;;) {
      TF_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out[static_cast<int>(q.Int(0))] = static_cast<uint64_t>(q.Int(1));
    }
    return out;
  }

 private:
  static constexpr char kRoundSelect[] =
      "SELECT round, lineage, completed_seq, frozen_sha256, tensor_sizes,"
      " start_tail_id, start_round_id, result_tail_id, optimizer_state, seed,"
      " deadline_ms FROM rounds";

  // REQUIRES: s_->mu held.
  Result<std::vector<RoundRecord>> Select(const std::string& sql,
                                          const std::vector<std::string>& args,
                                          int) {
    TF_ASSIGN_OR_RETURN(auto q, s_->db->Prepare(sql));
    for (size_t i = 0; i < args.size(); ++i)
      q.Bind(static_cast<int>(i + 1), args[i]);
    std::vector<RoundRecord> out;
    for (;;) {
      TF_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      RoundRecord r;
      if (!r.round.ParseFromString(q.Blob(0)))
        return DataLossError("stored round does not parse");
      r.lineage = q.Text(1);
      r.completed_seq = static_cast<uint64_t>(q.Int(2));
      r.frozen_sha256 = q.Blob(3);
      std::string sizes = q.Blob(4);
      for (size_t i = 0; i + 4 <= sizes.size(); i += 4) {
        uint32_t n = 0;
        for (int k = 0; k < 4; ++k)
          n |= static_cast<uint32_t>(static_cast<uint8_t>(sizes[i + k]))
               << (8 * k);
        r.tensor_sizes.push_back(n);
      }
      r.start_tail_id = q.Text(5);
      r.start_round_id = q.Text(6);
      r.result_tail_id = q.Text(7);
      r.optimizer_state = q.Blob(8);
      r.seed = static_cast<uint64_t>(q.Int(9));
      r.deadline_ms = q.Int(10);
      out.push_back(std::move(r));
    }
    return out;
  }

  // REQUIRES: s_->mu held.
  Result<std::vector<RoundClient>> SelectClients(const std::string& where,
                                                 const std::string& round_id,
                                                 const std::string& device_id,
                                                 bool with_upload) {
    std::string sql =
        "SELECT round_id, device_id, rank, state, attempt, ordered_at_ms,"
        " updated_at_ms, samples, loss_before, loss_after, accuracy_before,"
        " accuracy_after, error, total_bytes, committed_bytes, ";
    sql += with_upload ? "upload" : "x''";
    sql += " FROM round_clients" + where;
    TF_ASSIGN_OR_RETURN(auto q, s_->db->Prepare(sql));
    q.Bind(1, round_id);
    if (!device_id.empty()) q.Bind(2, device_id);
    std::vector<RoundClient> out;
    for (;;) {
      TF_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      RoundClient c;
      c.round_id = q.Text(0);
      c.device_id = q.Text(1);
      c.rank = static_cast<uint64_t>(q.Int(2));
      c.state = q.Text(3);
      c.attempt = static_cast<uint32_t>(q.Int(4));
      c.ordered_at_ms = q.Int(5);
      c.updated_at_ms = q.Int(6);
      c.samples = static_cast<uint32_t>(q.Int(7));
      c.loss_before = q.Double(8);
      c.loss_after = q.Double(9);
      c.accuracy_before = q.Double(10);
      c.accuracy_after = q.Double(11);
      c.error = q.Text(12);
      c.total_bytes = static_cast<uint64_t>(q.Int(13));
      c.committed_bytes = static_cast<uint64_t>(q.Int(14));
      c.upload = q.Blob(15);
      out.push_back(std::move(c));
    }
    return out;
  }

  static Status PutClientLocked(Db& db, const RoundClient& c) {
    TF_ASSIGN_OR_RETURN(
        auto q,
        db.Prepare(
            "INSERT INTO round_clients VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,x'') ON CONFLICT(round_id, "
            "device_id) DO UPDATE SET rank=excluded.rank,"
            " state=excluded.state, ordered_at_ms=excluded.ordered_at_ms,"
            " updated_at_ms=excluded.updated_at_ms,"
            " samples=excluded.samples, loss_before=excluded.loss_before,"
            " loss_after=excluded.loss_after,"
            " accuracy_before=excluded.accuracy_before,"
            " accuracy_after=excluded.accuracy_after, error=excluded.error,"
            " total_bytes=CASE WHEN attempt=excluded.attempt THEN total_bytes"
            " ELSE excluded.total_bytes END,"
            " committed_bytes=CASE WHEN attempt=excluded.attempt THEN"
            " committed_bytes ELSE 0 END,"
            " upload=CASE WHEN attempt=excluded.attempt THEN upload ELSE x''"
            " END, attempt=excluded.attempt"));
    q.Bind(1, c.round_id)
        .Bind(2, c.device_id)
        .Bind(3, static_cast<int64_t>(c.rank))
        .Bind(4, c.state)
        .Bind(5, static_cast<int64_t>(c.attempt))
        .Bind(6, c.ordered_at_ms)
        .Bind(7, c.updated_at_ms)
        .Bind(8, static_cast<int64_t>(c.samples))
        .BindDouble(9, c.loss_before)
        .BindDouble(10, c.loss_after)
        .BindDouble(11, c.accuracy_before)
        .BindDouble(12, c.accuracy_after)
        .Bind(13, c.error)
        .Bind(14, static_cast<int64_t>(c.total_bytes));
    return q.Run();
  }

  Shared* s_;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(std::unique_ptr<Db> db, int version)
      : version_(version),
        devices_(&shared_),
        tokens_(&shared_),
        operators_(&shared_),
        telemetry_(&shared_),
        artifacts_(&shared_),
        models_(&shared_),
        rollouts_(&shared_),
        rounds_(&shared_) {
    shared_.db = std::move(db);
  }
  DeviceRepository& devices() override { return devices_; }
  EnrollmentTokenRepository& enrollment_tokens() override { return tokens_; }
  OperatorTokenRepository& operator_tokens() override { return operators_; }
  TelemetryRepository& telemetry() override { return telemetry_; }
  ArtifactRepository& artifacts() override { return artifacts_; }
  ModelRepository& models() override { return models_; }
  RolloutRepository& rollouts() override { return rollouts_; }
  RoundRepository& rounds() override { return rounds_; }
  int schema_version() const override { return version_; }

 private:
  Shared shared_;
  int version_;
  SqliteDevices devices_;
  SqliteEnrollmentTokens tokens_;
  SqliteOperatorTokens operators_;
  SqliteTelemetry telemetry_;
  SqliteArtifacts artifacts_;
  SqliteModels models_;
  SqliteRollouts rollouts_;
  SqliteRounds rounds_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(
    const SqliteStoreOptions& options, const Clock& clock) {
  std::unique_ptr<Db> db;
  if (options.path.empty()) {
    TF_ASSIGN_OR_RETURN(db, Db::OpenInMemory());
  } else {
    std::error_code ec;
    if (options.path.has_parent_path()) {
      std::filesystem::create_directories(options.path.parent_path(), ec);
      if (ec) {
        return UnavailableError("cannot create " +
                                options.path.parent_path().string() + ": " +
                                ec.message());
      }
    }
    TF_ASSIGN_OR_RETURN(db, Db::Open(options.path));
    // A page cache of up to 32 MiB (SQLite's default is 2 MiB): a telemetry
    // ingest transaction (up to 20,000 rows) dirties thousands of pages,
    // which a small cache spills to the WAL mid-transaction and reads back.
    TF_RETURN_IF_ERROR(db->Exec("PRAGMA cache_size=-32768"));
  }
  TF_ASSIGN_OR_RETURN(int version,
                      Migrate(*db, SchemaMigrations(), clock.NowUnixMillis()));
  return std::unique_ptr<Store>(new SqliteStore(std::move(db), version));
}

}  // namespace tinyfleet::store
