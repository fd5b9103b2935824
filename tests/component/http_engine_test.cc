// The HttpEngine against the local stand-in: many streams on one thread, cancel, timers, faults.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "core/clock.h"
#include "net/http_engine.h"
#include "support/standin.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

using testing::Standin;
using testing::threads_in_process;

HttpRequest chat_request(const Standin& standin, int turn = 0) {
  std::string messages = R"([{"role":"user","content":"hello"})";
  for (int i = 0; i < turn; ++i) messages += R"(,{"role":"user","content":"again"})";
  return json_post(standin.base_url() + "/chat/completions",
                   R"({"model":"m","stream":true,"messages":)" + messages + "]}", "");
}

// The words of an SSE chat stream's body.
std::string text_of(const std::string& sse) {
  std::string text;
  std::size_t at = 0;
  while ((at = sse.find("data: {", at)) != std::string::npos) {
    const std::size_t end = sse.find('\n', at);
    const auto event = nlohmann::json::parse(sse.substr(at + 6, end - at - 6), nullptr, false);
    at = end;
    if (event.is_discarded()) continue;
    text += event["choices"][0]["delta"].value("content", "");
  }
  return text;
}

// Waits (bounded) until `done` says so; the engine's callbacks run on its own thread.
struct Latch {
  std::mutex mutex;
  std::condition_variable changed;
  int count = 0;
  void add() {
    const std::lock_guard lock(mutex);
    ++count;
    changed.notify_all();
  }
  bool wait_for(int wanted, Millis limit = Millis(20'000)) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, limit, [&] { return count >= wanted; });
  }
};

// One request, whole: the body arrives in pieces, on_done gets the status.
TEST(HttpEngine, StreamsABodyAndEnds) {
  Standin standin;
  HttpEngine engine;
  std::string body;
  std::optional<HttpResponse> ended;
  Latch latch;
  auto task = engine.start(
      chat_request(standin), [&](std::string_view chunk) { body.append(chunk); return true; },
      [&](HttpResponse response) {
        ended = std::move(response);
        latch.add();
      });
  ASSERT_TRUE(latch.wait_for(1));
  EXPECT_TRUE(ended->success()) << ended->error;
  EXPECT_NE(body.find("data: [DONE]"), std::string::npos) << body;
  EXPECT_EQ(text_of(body), "I heard you. You have told me 0 things before this.");
}

// The point of the engine: 100 streams at once, none of them a thread.
TEST(HttpEngine, ManyStreamsAtOnceAddNoThreads) {
  Standin standin({"--tokens-per-sec", "40"});  // each stream lasts ~0.3 s
  HttpEngine engine;
  constexpr int kStreams = 100;
  Latch latch;
  std::atomic<int> good{0};
  std::vector<std::string> bodies(static_cast<std::size_t>(kStreams));
  std::atomic<int> streaming{0};  // streams whose body has begun
  std::vector<std::shared_ptr<HttpTask>> tasks;
  const std::size_t threads_before = threads_in_process();
  for (int i = 0; i < kStreams; ++i) {
    tasks.push_back(engine.start(
        chat_request(standin, i % 3),
        [&bodies, &streaming, slot = static_cast<std::size_t>(i)](std::string_view chunk) {
          if (bodies[slot].empty()) ++streaming;
          bodies[slot].append(chunk);
          return true;
        },
        [&, i](HttpResponse response) {
          const std::string want = "I heard you. You have told me " + std::to_string(i % 3) +
                                   " things before this.";
          const auto& body = bodies[static_cast<std::size_t>(i)];
          if (response.success() && text_of(body) == want) ++good;
          latch.add();
        }));
  }
  const auto deadline = SteadyClock::now() + Millis(10'000);
  while (streaming.load() < kStreams / 2 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(Millis(2));
  }
  const std::size_t threads_during = threads_in_process();
  EXPECT_GE(engine.tasks(), 1U);  // still streaming: 40 tokens/s
  ASSERT_TRUE(latch.wait_for(kStreams));
  EXPECT_EQ(good.load(), kStreams);
  // libcurl's resolver may use a short-lived thread per name lookup; loopback IPs need none.
  EXPECT_EQ(threads_during, threads_before);
  EXPECT_EQ(threads_in_process(), threads_before);
}

// Once cancel() returns, no callback of the task runs, and the transfer is gone soon after.
TEST(HttpEngine, CancelStopsEveryCallback) {
  Standin standin({"--tokens-per-sec", "20"});
  HttpEngine engine;
  std::atomic<int> chunks{0};
  std::atomic<bool> cancelled{false};
  std::atomic<int> after_cancel{0};
  std::atomic<int> done{0};
  auto task = engine.start(
      chat_request(standin),
      [&](std::string_view) {
        if (cancelled) ++after_cancel;
        ++chunks;
        return true;
      },
      [&](HttpResponse) { ++done; });
  const auto deadline = SteadyClock::now() + Millis(10'000);
  while (chunks.load() < 2 && SteadyClock::now() < deadline) std::this_thread::sleep_for(Millis(5));
  ASSERT_GE(chunks.load(), 2);
  task->cancel();
  cancelled = true;
  // The stream would go on for another ~0.4 s.
  for (int i = 0; i < 100 && engine.tasks() > 0; ++i) std::this_thread::sleep_for(Millis(10));
  std::this_thread::sleep_for(Millis(500));
  EXPECT_EQ(after_cancel.load(), 0);
  EXPECT_EQ(done.load(), 0);
  EXPECT_EQ(engine.tasks(), 0U);
}

TEST(HttpEngine, ATaskMayCancelItselfFromItsOwnCallback) {
  Standin standin({"--tokens-per-sec", "50"});
  HttpEngine engine;
  std::shared_ptr<HttpTask> task;
  std::mutex started;
  std::atomic<int> chunks{0};
  std::atomic<int> done{0};
  {
    const std::lock_guard lock(started);  // the callback sees `task` assigned
    task = engine.start(
        chat_request(standin),
        [&](std::string_view) {
          { const std::lock_guard wait(started); }
          ++chunks;
          task->cancel();
          return true;
        },
        [&](HttpResponse) { ++done; });
  }
  for (int i = 0; i < 200 && engine.tasks() > 0; ++i) std::this_thread::sleep_for(Millis(10));
  EXPECT_EQ(engine.tasks(), 0U);
  EXPECT_EQ(chunks.load(), 1);
  EXPECT_EQ(done.load(), 0);
}

TEST(HttpEngine, TimersRunInOrderAndACancelledOneNever) {
  HttpEngine engine;
  std::mutex mutex;
  std::vector<int> order;
  Latch latch;
  const auto note = [&](int n) {
    return [&, n] {
      {
        const std::lock_guard lock(mutex);
        order.push_back(n);
      }
      latch.add();
    };
  };
  auto late = engine.after(Millis(120), note(3));
  auto never = engine.after(Millis(60), note(99));
  auto soon = engine.after(Millis(30), note(2));
  auto now = engine.after(Millis(0), note(1));
  never->cancel();
  ASSERT_TRUE(latch.wait_for(3));
  std::this_thread::sleep_for(Millis(100));
  const std::lock_guard lock(mutex);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(engine.tasks(), 0U);
}

// A server that stops sending: the stall timeout ends the transfer, and on_done says so.
TEST(HttpEngine, AStalledServerTimesOut) {
  Standin standin;
  standin.push_faults({"hang_after_first_token"});
  HttpEngine engine;
  HttpRequest request = chat_request(standin);
  request.stall_timeout_ms = 300;
  std::optional<HttpResponse> ended;
  Latch latch;
  auto task = engine.start(std::move(request), [](std::string_view) { return true; },
                           [&](HttpResponse response) {
                             ended = std::move(response);
                             latch.add();
                           });
  ASSERT_TRUE(latch.wait_for(1));
  EXPECT_EQ(ended->outcome, HttpOutcome::kTimedOut);
  EXPECT_EQ(failure_kind(*ended), ErrorKind::kTimeout);
}

TEST(HttpEngine, ConnectionRefusedEndsAsAConnectFailure) {
  HttpEngine engine;
  HttpRequest request;
  request.url = "http://127.0.0.1:1/";
  std::optional<HttpResponse> ended;
  Latch latch;
  auto task = engine.start(std::move(request), {}, [&](HttpResponse response) {
    ended = std::move(response);
    latch.add();
  });
  ASSERT_TRUE(latch.wait_for(1));
  EXPECT_EQ(ended->outcome, HttpOutcome::kConnectFailed);
}

// Dropping the engine with work in flight ends it without callbacks and without a hang.
TEST(HttpEngine, DestroyedWithStreamsInFlight) {
  Standin standin({"--tokens-per-sec", "5"});
  std::atomic<int> done{0};
  std::shared_ptr<HttpTask> task;
  {
    HttpEngine engine;
    task = engine.start(chat_request(standin), [](std::string_view) { return true; },
                        [&](HttpResponse) { ++done; });
    engine.after(Millis(10'000), [&] { ++done; });
    std::this_thread::sleep_for(Millis(100));
  }
  task->cancel();  // the handle outlives the engine
  EXPECT_EQ(done.load(), 0);
}

}  // namespace
}  // namespace chalkbot
