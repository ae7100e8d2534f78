// The SQLite store: migrations, atomic enrollment, labels, listing and
// durability across reopen.
#include "server/store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "common/sqlite_db.h"
#include "server/store/migrations.h"
#include "tests/support/test_env.h"

namespace tinyfleet::store {
namespace {

using sqlite::Db;

EnrollmentTokenRecord Token(const std::string& id, int64_t expires) {
  EnrollmentTokenRecord t;
  t.token_id = id;
  t.secret_hash = "hash-" + id;
  t.created_at_ms = 1;
  t.expires_at_ms = expires;
  t.labels = {{"site", "lab"}};
  return t;
}

DeviceRecord Device(const std::string& id) {
  DeviceRecord d;
  d.device_id = id;
  d.cert_sha256 = "sha-" + id;
  d.cert_serial = "serial-" + id;
  d.node.set_hardware_id("hw-" + id);
  return d;
}

class StoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open() {
    auto s = OpenSqliteStore({dir_.path() / "db" / "gateway.db"}, clock_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }
  testing::TempDir dir_;
  FakeClock clock_;
};

TEST_F(StoreTest, EnrollConsumesTokenOnceAndSurvivesReopen) {
  {
    auto s = Open();
    EXPECT_EQ(s->schema_version(), 4);
    ASSERT_TRUE(s->enrollment_tokens().Create({Token("et-1", 1000)}).ok());
    auto d = s->enrollment_tokens().ConsumeAndEnroll("hash-et-1", 10,
                                                     Device("dev-1"));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->labels.at("site"), "lab");  // token labels carried over
    EXPECT_EQ(d->enrollment_token_id, "et-1");
    auto again = s->enrollment_tokens().ConsumeAndEnroll("hash-et-1", 11,
                                                         Device("dev-2"));
    EXPECT_EQ(again.status().code(), StatusCode::kUnauthenticated);
    // Refused enrollment changed nothing.
    EXPECT_EQ(s->devices().Get("dev-2").status().code(), StatusCode::kNotFound);
  }
  auto s = Open();  // a restarted gateway keeps everything
  auto d = s->devices().Get("dev-1");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->node.hardware_id(), "hw-dev-1");
  EXPECT_EQ(d->cert_sha256, "sha-dev-1");
  auto t = s->enrollment_tokens().FindBySecretHash("hash-et-1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->used_by_device_id, "dev-1");
}

TEST_F(StoreTest, ExpiredAndRevokedTokensDoNotEnroll) {
  auto s = Open();
  ASSERT_TRUE(s->enrollment_tokens()
                  .Create({Token("et-a", 100), Token("et-b", 1000)})
                  .ok());
  EXPECT_EQ(s->enrollment_tokens()
                .ConsumeAndEnroll("hash-et-a", 100, Device("d1"))
                .status()
                .code(),
            StatusCode::kUnauthenticated);
  ASSERT_TRUE(s->enrollment_tokens().Revoke("et-b").ok());
  EXPECT_EQ(s->enrollment_tokens()
                .ConsumeAndEnroll("hash-et-b", 10, Device("d2"))
                .status()
                .code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(s->enrollment_tokens()
                .ConsumeAndEnroll("hash-none", 10, Device("d3"))
                .status()
                .code(),
            StatusCode::kUnauthenticated);
  auto active = s->enrollment_tokens().List(false, 150, "", 10);
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->size(), 0u);
  auto all = s->enrollment_tokens().List(true, 50, "", 10);
  EXPECT_EQ(all->size(), 2u);
}

TEST_F(StoreTest, LabelsSelectorsAndKeysetPaging) {
  auto s = Open();
  std::vector<EnrollmentTokenRecord> tokens;
  for (int i = 0; i < 7; ++i)
    tokens.push_back(Token("et-" + std::to_string(i), 1000));
  ASSERT_TRUE(s->enrollment_tokens().Create(tokens).ok());
  for (int i = 0; i < 7; ++i) {
    auto d = Device("dev-" + std::to_string(i));
    ASSERT_TRUE(s->enrollment_tokens()
                    .ConsumeAndEnroll("hash-et-" + std::to_string(i), 5, d)
                    .ok());
    Labels set{{"ring", i < 3 ? "canary" : "main"}};
    if (i % 2) set["gpu"] = "no";
    ASSERT_TRUE(s->devices().UpdateLabels(d.device_id, set, {}, false).ok());
  }
  DeviceQuery q;
  q.selector = {{"ring", LabelRequirement::Op::kEquals, "canary"}};
  auto page = s->devices().List(q);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total, 3u);
  q.selector = {{"ring", LabelRequirement::Op::kNotEquals, "canary"},
                {"gpu", LabelRequirement::Op::kExists, ""}};
  page = s->devices().List(q);
  EXPECT_EQ(page->total, 2u);  // dev-3, dev-5

  DeviceQuery all;
  all.limit = 3;
  std::vector<std::string> seen;
  for (int guard = 0; guard < 5; ++guard) {
    auto p = s->devices().List(all);
    ASSERT_TRUE(p.ok());
    for (auto& d : p->devices) seen.push_back(d.device_id);
    if (!p->more) break;
    all.after_id = p->devices.back().device_id;
  }
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));

  DeviceQuery by_ids;
  by_ids.ids = std::vector<std::string>{"dev-1", "dev-4"};
  EXPECT_EQ(s->devices().List(by_ids)->total, 2u);
  by_ids.exclude_ids = true;
  EXPECT_EQ(s->devices().List(by_ids)->total, 5u);

  // Remove and replace.
  auto d = s->devices().UpdateLabels("dev-1", {}, {"gpu"}, false);
  EXPECT_EQ(d->labels.count("gpu"), 0u);
  d = s->devices().UpdateLabels("dev-1", {{"only", "this"}}, {}, true);
  EXPECT_EQ(d->labels.size(), 1u);
  EXPECT_EQ(s->devices().UpdateLabels("nope", {}, {}, false).status().code(),
            StatusCode::kNotFound);
}

TEST_F(StoreTest, DecommissionAndLastSeen) {
  auto s = Open();
  ASSERT_TRUE(s->enrollment_tokens().Create({Token("et-1", 1000)}).ok());
  ASSERT_TRUE(s->enrollment_tokens()
                  .ConsumeAndEnroll("hash-et-1", 5, Device("dev-1"))
                  .ok());
  ASSERT_TRUE(s->devices().UpdateLastSeen({{"dev-1", 500}}).ok());
  ASSERT_TRUE(
      s->devices().UpdateLastSeen({{"dev-1", 400}}).ok());  // never goes back
  EXPECT_EQ(s->devices().Get("dev-1")->last_seen_at_ms, 500);
  auto d = s->devices().Decommission("dev-1", "lost", 600);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->lifecycle, Lifecycle::kDecommissioned);
  auto again = s->devices().Decommission("dev-1", "other", 700);  // idempotent
  EXPECT_EQ(again->decommission_reason, "lost");
  EXPECT_EQ(*s->devices().Count(Lifecycle::kActive), 0u);
  DeviceQuery q;
  q.lifecycle = Lifecycle::kDecommissioned;
  EXPECT_EQ(s->devices().List(q)->total, 1u);
}

TEST_F(StoreTest, OperatorTokens) {
  auto s = Open();
  OperatorTokenRecord t{"ot-1", "ci", Role::kOperator, "h1", 1, false, 0};
  ASSERT_TRUE(s->operator_tokens().Create(t).ok());
  EXPECT_EQ(s->operator_tokens().Create(t).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(s->operator_tokens().FindBySecretHash("h1")->role, Role::kOperator);
  EXPECT_EQ(*s->operator_tokens().CountActive(Role::kOperator), 1u);
  ASSERT_TRUE(s->operator_tokens().Revoke("ot-1").ok());
  EXPECT_EQ(*s->operator_tokens().CountActive(Role::kOperator), 0u);
  EXPECT_TRUE(s->operator_tokens().FindBySecretHash("h1")->revoked);
}

TEST_F(StoreTest, NewerSchemaIsRefusedAndMigrationsApplyOnce) {
  auto path = dir_.path() / "m.db";
  {
    auto db = Db::Open(path);
    ASSERT_TRUE(db.ok());
    static const Migration kTwo[] = {
        {1, "one", "CREATE TABLE a (x INTEGER)"},
        {2, "two", "CREATE TABLE b (y INTEGER)"},
        {100, "far future", "CREATE TABLE z (y INTEGER)"},
    };
    EXPECT_EQ(*Migrate(**db, std::span(kTwo, 2), 0), 2);
    EXPECT_EQ(*Migrate(**db, std::span(kTwo, 2), 0), 2);  // idempotent
    // A failing migration leaves the version where it was.
    static const Migration kBad[] = {
        {1, "one", "CREATE TABLE a (x INTEGER)"},
        {2, "two", "CREATE TABLE b (y INTEGER)"},
        {3, "bad", "CREATE TABLE c (; nonsense"},
    };
    EXPECT_FALSE(Migrate(**db, kBad, 0).ok());
    EXPECT_EQ(*Migrate(**db, std::span(kTwo, 2), 0), 2);
    EXPECT_EQ(*Migrate(**db, kTwo, 0), 100);
  }
  // The project's store refuses a database from a newer gateway.
  auto s = OpenSqliteStore({path}, clock_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("newer"), std::string::npos);
}

TEST_F(StoreTest, RolloutTargetsOneOrAllAndReplaced) {
  auto store = Open();
  auto& repo = store->rollouts();
  RolloutTarget a{"ro-1", "dev-a", 0, "ordered", "", "3", "m", 10, 0};
  RolloutTarget b{"ro-1", "dev-b", 1, "pending", "", "", "", 11, 0};
  RolloutTarget other{"ro-2", "dev-a", 0, "pending", "", "", "", 12, 0};
  ASSERT_TRUE(repo.PutTarget(a).ok());
  ASSERT_TRUE(repo.PutTarget(b).ok());
  ASSERT_TRUE(repo.PutTarget(other).ok());
  a.state = "confirmed";
  a.bytes_sent = 4096;
  ASSERT_TRUE(repo.PutTarget(a).ok());  // replaces

  auto one = repo.Target("ro-1", "dev-a");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->state, "confirmed");
  EXPECT_EQ(one->bytes_sent, 4096u);
  EXPECT_EQ(one->previous_model_ref, "3");
  EXPECT_EQ(one->updated_at_ms, 10);
  EXPECT_EQ(repo.Target("ro-1", "dev-c").status().code(),
            StatusCode::kNotFound);
  auto all = repo.Targets("ro-1");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].device_id, "dev-b");
  EXPECT_EQ((*all)[1].wave, 1u);
}

}  // namespace
}  // namespace tinyfleet::store
