#include "server/store/migrations.h"

#include <string>

namespace tinyfleet::store {

using sqlite::Db;
using sqlite::Statement;
using sqlite::Transaction;
namespace {

constexpr Migration kMigrations[] = {
    {1, "devices, enrollment and operator tokens", R"sql(
CREATE TABLE devices (
  device_id            TEXT PRIMARY KEY,
  lifecycle            INTEGER NOT NULL,
  node_info            BLOB NOT NULL DEFAULT x'',
  agent_version        TEXT NOT NULL DEFAULT '',
  cert_sha256          TEXT NOT NULL,
  cert_serial          TEXT NOT NULL,
  enrollment_token_id  TEXT NOT NULL DEFAULT '',
  enrolled_at_ms       INTEGER NOT NULL,
  last_seen_at_ms      INTEGER NOT NULL DEFAULT 0,
  decommissioned_at_ms INTEGER NOT NULL DEFAULT 0,
  decommission_reason  TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX devices_by_lifecycle ON devices(lifecycle, device_id);

CREATE TABLE device_labels (
  device_id TEXT NOT NULL REFERENCES devices(device_id) ON DELETE CASCADE,
  key       TEXT NOT NULL,
  value     TEXT NOT NULL,
  PRIMARY KEY (device_id, key)
) WITHOUT ROWID;
CREATE INDEX device_labels_by_key ON device_labels(key, value, device_id);

CREATE TABLE enrollment_tokens (
  token_id          TEXT PRIMARY KEY,
  secret_hash       TEXT NOT NULL UNIQUE,
  created_at_ms     INTEGER NOT NULL,
  expires_at_ms     INTEGER NOT NULL,
  used_at_ms        INTEGER NOT NULL DEFAULT 0,
  used_by_device_id TEXT NOT NULL DEFAULT '',
  revoked           INTEGER NOT NULL DEFAULT 0,
  labels_json       TEXT NOT NULL DEFAULT '{}',
  description       TEXT NOT NULL DEFAULT '',
  created_by        TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE operator_tokens (
  token_id        TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  role            INTEGER NOT NULL,
  secret_hash     TEXT NOT NULL UNIQUE,
  created_at_ms   INTEGER NOT NULL,
  revoked         INTEGER NOT NULL DEFAULT 0,
  last_used_at_ms INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
)sql"},
    {2, "telemetry: node keys, replay windows, records, 1-minute rollups",
     R"sql(
ALTER TABLE devices ADD COLUMN telemetry_public_key BLOB NOT NULL DEFAULT x'';

CREATE TABLE telemetry_windows (
  device_id TEXT PRIMARY KEY,
  highest   INTEGER NOT NULL,
  seen      INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE telemetry (
  device_id     TEXT NOT NULL,
  counter       INTEGER NOT NULL,
  time_ms       INTEGER NOT NULL,
  inferences    INTEGER NOT NULL,
  confidence    REAL NOT NULL,
  fb_correct    INTEGER NOT NULL,
  fb_total      INTEGER NOT NULL,
  energy_uj     INTEGER NOT NULL,
  cycles        INTEGER NOT NULL,
  errors        INTEGER NOT NULL,
  model_version INTEGER NOT NULL,
  record        BLOB NOT NULL,
  PRIMARY KEY (device_id, counter)
) WITHOUT ROWID;
CREATE INDEX telemetry_by_time ON telemetry(time_ms, device_id);

CREATE TABLE telemetry_1m (
  device_id  TEXT NOT NULL,
  minute_ms  INTEGER NOT NULL,
  records    INTEGER NOT NULL,
  inferences INTEGER NOT NULL,
  conf_sum   REAL NOT NULL,
  conf_min   REAL NOT NULL,
  conf_max   REAL NOT NULL,
  fb_correct INTEGER NOT NULL,
  fb_total   INTEGER NOT NULL,
  energy_uj  INTEGER NOT NULL,
  cycles     INTEGER NOT NULL,
  errors     INTEGER NOT NULL,
  PRIMARY KEY (device_id, minute_ms)
) WITHOUT ROWID;
CREATE INDEX telemetry_1m_by_time ON telemetry_1m(minute_ms, device_id);
)sql"},
    {3, "artifacts, model versions, rollouts and their targets", R"sql(
CREATE TABLE artifacts (
  artifact_id   TEXT PRIMARY KEY,
  size          INTEGER NOT NULL,
  kind          TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE models (
  name        TEXT NOT NULL,
  version     INTEGER NOT NULL,
  artifact_id TEXT NOT NULL REFERENCES artifacts(artifact_id),
  model       BLOB NOT NULL,
  PRIMARY KEY (name, version)
) WITHOUT ROWID;

CREATE TABLE rollouts (
  rollout_id    TEXT PRIMARY KEY,
  state         INTEGER NOT NULL,
  rollout       BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX rollouts_by_state ON rollouts(state, rollout_id);

CREATE TABLE rollout_targets (
  rollout_id          TEXT NOT NULL,
  device_id           TEXT NOT NULL,
  wave                INTEGER NOT NULL,
  state               TEXT NOT NULL,
  error               TEXT NOT NULL,
  previous_model_ref  TEXT NOT NULL,
  previous_model_id   TEXT NOT NULL,
  updated_at_ms       INTEGER NOT NULL,
  bytes_sent          INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, device_id)
) WITHOUT ROWID;
)sql"},
    {4, "adaptation rounds and their clients", R"sql(
CREATE TABLE rounds (
  round_id        TEXT PRIMARY KEY,
  state           INTEGER NOT NULL,
  lineage         TEXT NOT NULL,
  completed_seq   INTEGER NOT NULL,
  round           BLOB NOT NULL,
  frozen_sha256   BLOB NOT NULL,
  tensor_sizes    BLOB NOT NULL,
  start_tail_id   TEXT NOT NULL,
  start_round_id  TEXT NOT NULL,
  result_tail_id  TEXT NOT NULL,
  optimizer_state BLOB NOT NULL,
  seed            INTEGER NOT NULL,
  deadline_ms     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rounds_by_state ON rounds(state, round_id);
CREATE INDEX rounds_by_lineage ON rounds(lineage, completed_seq);

CREATE TABLE round_clients (
  round_id        TEXT NOT NULL,
  device_id       TEXT NOT NULL,
  rank            INTEGER NOT NULL,
  state           TEXT NOT NULL,
  attempt         INTEGER NOT NULL,
  ordered_at_ms   INTEGER NOT NULL,
  updated_at_ms   INTEGER NOT NULL,
  samples         INTEGER NOT NULL,
  loss_before     REAL NOT NULL,
  loss_after      REAL NOT NULL,
  accuracy_before REAL NOT NULL,
  accuracy_after  REAL NOT NULL,
  error           TEXT NOT NULL,
  total_bytes     INTEGER NOT NULL,
  committed_bytes INTEGER NOT NULL,
  upload          BLOB NOT NULL,
  PRIMARY KEY (round_id, device_id)
) WITHOUT ROWID;
)sql"},
};

}  // namespace

std::span<const Migration> SchemaMigrations() { return kMigrations; }

Result<int> Migrate(Db& db, std::span<const Migration> migrations,
                    int64_t now_ms) {
  TF_RETURN_IF_ERROR(
      db.Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
              " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
              " applied_at_ms INTEGER NOT NULL)"));
  TF_ASSIGN_OR_RETURN(
      auto q,
      db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  TF_ASSIGN_OR_RETURN(bool row, q.Step());
  int current = row ? static_cast<int>(q.Int(0)) : 0;
  q.Reset();
  int latest = migrations.empty() ? 0 : migrations.back().version;
  if (current > latest) {
    return FailedPreconditionError(
        "database schema version " + std::to_string(current) +
        " is newer than this gateway supports (" + std::to_string(latest) +
        "); upgrade the gateway");
  }
  for (const Migration& m : migrations) {
    if (m.version <= current) continue;
    TF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
    Status s = db.Exec(m.sql);
    if (!s.ok()) {
      return s.WithContext("migration " + std::to_string(m.version));
    }
    TF_ASSIGN_OR_RETURN(
        auto ins, db.Prepare("INSERT INTO schema_migrations VALUES(?,?,?)"));
    ins.Bind(1, static_cast<int64_t>(m.version))
        .Bind(2, m.description)
        .Bind(3, now_ms);
    TF_RETURN_IF_ERROR(ins.Run());
    TF_RETURN_IF_ERROR(tx.Commit());
    current = m.version;
  }
  return current;
}

}  // namespace tinyfleet::store
