#include "server/events/event_bus.h"

#include <gtest/gtest.h>

namespace tinyfleet::events {
namespace {

v1::Event DeviceEvent(const std::string& id, const std::string& change) {
  v1::Event e;
  e.mutable_device()->set_device_id(id);
  e.mutable_device()->set_change(change);
  return e;
}

TEST(EventBusTest, SequencesReplayAndLiveDeliveryInOrder) {
  FakeClock clock;
  EventBus bus(&clock, 4);
  EXPECT_EQ(bus.Publish(DeviceEvent("a", "online")), 1u);
  EXPECT_EQ(bus.Publish(DeviceEvent("b", "online")), 2u);
  EXPECT_EQ(bus.Publish(DeviceEvent("a", "offline")), 3u);

  std::vector<uint64_t> seen;
  auto sub = bus.Subscribe(1, [&](const v1::Event& e) { seen.push_back(e.sequence()); });
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{2, 3}));  // backlog first
  bus.Publish(DeviceEvent("c", "enrolled"));
  EXPECT_EQ(seen, (std::vector<uint64_t>{2, 3, 4}));
  bus.Unsubscribe(*sub);
  bus.Publish(DeviceEvent("c", "online"));
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(bus.last_sequence(), 5u);

  // Only new events for after_sequence 0.
  std::vector<uint64_t> fresh;
  auto sub2 = bus.Subscribe(0, [&](const v1::Event& e) { fresh.push_back(e.sequence()); });
  EXPECT_TRUE(fresh.empty());
  bus.Publish(DeviceEvent("d", "online"));
  EXPECT_EQ(fresh, (std::vector<uint64_t>{6}));
  bus.Unsubscribe(*sub2);
}

TEST(EventBusTest, TooOldOrFutureSequencesAreRefused) {
  FakeClock clock;
  EventBus bus(&clock, 2);
  for (int i = 0; i < 5; ++i) bus.Publish(DeviceEvent("a", "online"));
  // The ring holds 4 and 5; resuming after 3 is still complete.
  EXPECT_TRUE(bus.Subscribe(3, [](const v1::Event&) {}).ok());
  EXPECT_EQ(bus.Subscribe(1, [](const v1::Event&) {}).status().code(),
            StatusCode::kOutOfRange);
  EXPECT_EQ(bus.Subscribe(9, [](const v1::Event&) {}).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tinyfleet::events
