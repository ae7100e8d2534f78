// The agent outbox: durability across reopen, exactly-once per counter,
// bounded size with drop-oldest, acknowledgement, group commit.
#include "agent/outbox/outbox.h"

#include <gtest/gtest.h>

#include <atomic>

#include "tests/support/test_env.h"

namespace tinyfleet::agent {
namespace {

OutboxRecord Rec(const std::string& dev, uint64_t counter) {
  return {dev, counter, "sealed-" + dev + "-" + std::to_string(counter)};
}

TEST(OutboxTest, RecordsSurviveReopenUntilAcknowledged) {
  testing::TempDir dir;
  OutboxOptions opt;
  opt.path = dir.path() / "outbox.db";
  {
    auto box = Outbox::Open(opt);
    ASSERT_TRUE(box.ok()) << box.status().ToString();
    for (uint64_t c = 1; c <= 5; ++c) ASSERT_TRUE((*box)->AppendSync(Rec("d1", c)).ok());
    ASSERT_TRUE((*box)->AppendSync(Rec("d2", 7)).ok());
    ASSERT_TRUE((*box)->AppendSync(Rec("d1", 3)).ok());  // a node retry
    EXPECT_EQ((*box)->stats().duplicates, 1u);
    EXPECT_EQ((*box)->stats().records, 6u);
  }
  auto box = Outbox::Open(opt);  // the agent restarted
  ASSERT_TRUE(box.ok());
  EXPECT_EQ((*box)->stats().records, 6u);
  auto pending = (*box)->Pending("d1", 3);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_EQ((*pending)[0].counter, 1u);
  EXPECT_EQ((*pending)[2].sealed, "sealed-d1-3");
  ASSERT_TRUE((*box)->Acknowledge("d1", 3).ok());
  pending = (*box)->Pending("d1", 10);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].counter, 4u);
  EXPECT_EQ((*box)->Pending("d2", 10)->size(), 1u);  // other devices untouched
  EXPECT_EQ((*box)->stats().acknowledged, 3u);
  EXPECT_EQ((*box)->stats().records, 3u);
}

TEST(OutboxTest, FullOutboxDropsTheOldestAndCountsIt) {
  testing::TempDir dir;
  OutboxOptions opt;
  opt.path = dir.path() / "outbox.db";
  opt.max_records = 4;
  auto box = Outbox::Open(opt);
  ASSERT_TRUE(box.ok());
  ASSERT_TRUE((*box)->AppendSync(Rec("other", 1)).ok());
  for (uint64_t c = 1; c <= 5; ++c) ASSERT_TRUE((*box)->AppendSync(Rec("d1", c)).ok());
  auto s = (*box)->stats();
  EXPECT_EQ(s.records, 4u);
  EXPECT_EQ(s.dropped_full, 2u);
  // d1's oldest went first: "other" kept its only record.
  auto d1 = (*box)->Pending("d1", 10);
  ASSERT_EQ(d1->size(), 3u);
  EXPECT_EQ((*d1)[0].counter, 3u);
  EXPECT_EQ((*box)->Pending("other", 10)->size(), 1u);
}

TEST(OutboxTest, BadRecordsAreRefusedAtOnce) {
  testing::TempDir dir;
  auto box = Outbox::Open({dir.path() / "o.db"});
  ASSERT_TRUE(box.ok());
  EXPECT_EQ((*box)->AppendSync({"d", 1, ""}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*box)->AppendSync({"d", 1, std::string(2000, 'x')}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ((*box)->AppendSync({"", 1, "x"}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*box)->stats().records, 0u);
  EXPECT_EQ(Outbox::Open({}).status().code(), StatusCode::kInvalidArgument);
}

TEST(OutboxTest, ConcurrentAppendsAreGroupCommitted) {
  testing::TempDir dir;
  auto box = Outbox::Open({dir.path() / "o.db"});
  ASSERT_TRUE(box.ok());
  constexpr int kRecords = 2000;
  std::atomic<int> durable{0};
  for (int i = 0; i < kRecords; ++i) {
    (*box)->Append(Rec("d" + std::to_string(i % 50), static_cast<uint64_t>(i)),
                   [&](const Status& s) {
                     EXPECT_TRUE(s.ok());
                     durable++;
                   });
  }
  ASSERT_TRUE(testing::WaitFor([&] { return durable.load() == kRecords; }));
  auto s = (*box)->stats();
  EXPECT_EQ(s.records, static_cast<uint64_t>(kRecords));
  EXPECT_LT(s.commits, static_cast<uint64_t>(kRecords / 10));
}

}  // namespace
}  // namespace tinyfleet::agent
