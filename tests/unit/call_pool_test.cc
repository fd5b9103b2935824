// The fixed pools calls run on: the compute pool and its serial queues (a recogniser stream's
// jobs in order, one at a time), and the call pool (each call stepped by one thread at a time,
// on wake-ups, whatever the number of calls).
#include "agent/call_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/work_pool.h"
#include "support/test_support.h"
#include "speech/vad/silero_vad.h"

namespace chalkbot {
namespace {

using namespace std::chrono_literals;

// Waits (bounded) for `done`; false if it never came.
template <class Done>
bool eventually(Done done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

TEST(WorkPool, RunsEveryJobOnItsOwnThreads) {
  std::atomic<int> ran{0};
  std::mutex mutex;
  std::vector<std::thread::id> ids;
  {
    WorkPool pool(2, "test");
    EXPECT_EQ(pool.threads(), 2u);
    for (int i = 0; i < 100; ++i) {
      pool.post([&] {
        ++ran;
        std::lock_guard lock(mutex);
        ids.push_back(std::this_thread::get_id());
      });
    }
  }  // the destructor runs what is queued
  EXPECT_EQ(ran, 100);
  for (const auto& id : ids) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(SerialQueue, RunsOneOwnersJobsInOrderNeverTwoAtOnce) {
  WorkPool pool(4, "test");
  SerialQueue queue(pool);
  std::atomic<int> running{0};
  std::atomic<bool> overlapped{false};
  std::vector<int> order;  // written by one job at a time
  std::atomic<int> done{0};
  for (int i = 0; i < 200; ++i) {
    queue.post([&, i] {
      if (++running > 1) overlapped = true;
      order.push_back(i);
      if (i % 20 == 0) std::this_thread::sleep_for(1ms);
      --running;
      ++done;
    });
  }
  ASSERT_TRUE(eventually([&] { return done == 200; }));
  EXPECT_FALSE(overlapped);
  ASSERT_EQ(order.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
}

// A call that counts its steps and notices two threads stepping it at once.
class CountingCall final : public SteppedCall {
 public:
  explicit CountingCall(int steps_to_live) : steps_to_live_(steps_to_live) {}
  bool step() override {
    if (++inside_ > 1) overlapped = true;
    std::this_thread::sleep_for(100us);
    const int n = ++steps;
    --inside_;
    return n < steps_to_live_;
  }
  std::atomic<int> steps{0};
  std::atomic<bool> overlapped{false};

 private:
  const int steps_to_live_;
  std::atomic<int> inside_{0};
};

TEST(CallPool, StepsEachCallOnWakeUpsOneThreadAtATime) {
  CallPool pool(2);
  std::vector<std::shared_ptr<CountingCall>> calls;
  std::atomic<int> over{0};
  for (int i = 0; i < 50; ++i) {
    calls.push_back(std::make_shared<CountingCall>(1'000'000));
    pool.add(calls.back(), [&] { ++over; });
  }
  for (int i = 0; i < 200; ++i) {
    pool.wake();
    std::this_thread::sleep_for(200us);
  }
  ASSERT_TRUE(eventually([&] {
    for (const auto& call : calls) {
      if (call->steps < 20) return false;
    }
    return true;
  }));
  for (const auto& call : calls) EXPECT_FALSE(call->overlapped);
  EXPECT_EQ(over, 0);
  EXPECT_EQ(pool.calls(), 50u);
}

// Every round a call looks ahead (with its thread's VAD batch open) just before its step, on the
// same thread, and no batch is open while it steps.
class LookingCall final : public SteppedCall {
 public:
  void look_ahead() override {
    std::lock_guard lock(mutex);
    if (SileroBatch::open_here() == nullptr) wrong = "no batch open while looking ahead";
    if (looked) wrong = "looked ahead twice without a step";
    looked = true;
    looker = std::this_thread::get_id();
  }
  bool step() override {
    std::lock_guard lock(mutex);
    if (SileroBatch::open_here() == nullptr) wrong = "the batch closed before the step";
    if (looked && looker != std::this_thread::get_id()) wrong = "stepped on another thread";
    if (looked) ++looked_then_stepped;
    looked = false;
    return true;
  }
  std::mutex mutex;
  std::string wrong;
  bool looked = false;
  std::thread::id looker;
  int looked_then_stepped = 0;
};

TEST(CallPool, EachRoundLooksAheadThenSteps) {
  CallPool pool(2);
  std::vector<std::shared_ptr<LookingCall>> calls;
  for (int i = 0; i < 20; ++i) {
    calls.push_back(std::make_shared<LookingCall>());
    pool.add(calls.back());
  }
  ASSERT_TRUE(eventually([&] {
    pool.wake();
    for (auto& call : calls) {
      std::lock_guard lock(call->mutex);
      if (call->looked_then_stepped < 10) return false;
    }
    return true;
  }));
  for (auto& call : calls) {
    std::lock_guard lock(call->mutex);
    EXPECT_EQ(call->wrong, "");
  }
}

TEST(CallPool, ACallThatIsOverIsDroppedAndToldSo) {
  CallPool pool(2);
  auto call = std::make_shared<CountingCall>(3);
  std::atomic<int> over{0};
  pool.add(call, [&] { ++over; });
  ASSERT_TRUE(eventually([&] {
    pool.wake();
    return over == 1;
  }));
  EXPECT_EQ(call->steps, 3);
  ASSERT_TRUE(eventually([&] { return pool.calls() == 0; }));
  pool.wake();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(call->steps, 3);  // never stepped again
  EXPECT_EQ(over, 1);
}

TEST(CallPool, RunsATimerJobAfterItsDelay) {
  CallPool pool(1);
  std::atomic<bool> ran{false};
  const auto asked = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point ran_at;
  pool.after(60ms, [&] {
    ran_at = std::chrono::steady_clock::now();
    ran = true;
  });
  ASSERT_TRUE(eventually([&] { return ran.load(); }));
  EXPECT_GE(ran_at - asked, 60ms);
}

TEST(CallPool, ThreadCountDoesNotGrowWithCalls) {
  CallPool pool(2);
  const auto before = testing::threads_in_process();
  std::vector<std::shared_ptr<CountingCall>> calls;
  for (int i = 0; i < 1000; ++i) {
    calls.push_back(std::make_shared<CountingCall>(1'000'000));
    pool.add(calls.back());
  }
  pool.wake();
  ASSERT_TRUE(eventually([&] { return calls.back()->steps > 0; }));
  EXPECT_EQ(testing::threads_in_process(), before);
}

}  // namespace
}  // namespace chalkbot
