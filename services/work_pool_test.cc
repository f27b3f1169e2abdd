#include "services/work_pool.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace tokens {
namespace {

TEST(WorkPoolTest, RunsEverythingScheduledBeforeDestruction) {
  std::atomic<int> done{0};
  {
    WorkPool pool(4, 1000);
    for (int i = 0; i < 500; ++i) {
      ASSERT_TRUE(pool.Schedule([&] { done.fetch_add(1); }).ok());
    }
  }
  EXPECT_EQ(done.load(), 500);
}

TEST(WorkPoolTest, BlockedWorkersDoNotStopOthers) {
  absl::Notification release;
  absl::Notification ran;
  WorkPool pool(3, 100);  // Declared last: destroyed (workers joined) first.
  ASSERT_TRUE(pool.Schedule([&] { release.WaitForNotification(); }).ok());
  ASSERT_TRUE(pool.Schedule([&] { release.WaitForNotification(); }).ok());
  ASSERT_TRUE(pool.Schedule([&] { ran.Notify(); }).ok());
  EXPECT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
  release.Notify();
}

TEST(WorkPoolTest, FullQueueIsUnavailable) {
  absl::Notification release;
  absl::Notification started;
  WorkPool pool(1, 2);  // Declared last: destroyed (workers joined) first.
  ASSERT_TRUE(pool.Schedule([&] {
                    started.Notify();
                    release.WaitForNotification();
                  })
                  .ok());
  started.WaitForNotification();
  ASSERT_TRUE(pool.Schedule([] {}).ok());
  ASSERT_TRUE(pool.Schedule([] {}).ok());
  EXPECT_EQ(pool.Schedule([] {}).code(), absl::StatusCode::kUnavailable);
  release.Notify();
}

}  // namespace
}  // namespace tokens
