// Load figure: N two-way G.711 calls through one media thread. Reports CPU and checks that every
// call carried audio both ways; CPU itself is printed, not asserted (shared CI machines).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "component/media_test_util.h"
#include "media/media_engine.h"

namespace chalkbot {
namespace {

using namespace std::chrono_literals;

// utime + stime of one thread, in seconds.
double thread_cpu_seconds(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(in, line);
  // Fields after the ")" of the command name: state is field 3, utime 14, stime 15.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

TEST(MediaLoad, HundredTwoWayCallsOnOneMediaThread) {
  constexpr std::size_t kCalls = 100;
  auto bot = MediaEngine::create(testing::media_settings(14000, 14499));
  auto callers = MediaEngine::create(testing::media_settings(14500, 14999));
  ASSERT_TRUE(bot.ok() && callers.ok());
  std::vector<std::shared_ptr<MediaSession>> b, c;
  for (std::size_t i = 0; i < kCalls; ++i) {
    auto x = (*bot)->open_session("127.0.0.1");
    auto y = (*callers)->open_session("127.0.0.1");
    ASSERT_TRUE(x.ok() && y.ok());
    b.push_back(x.value());
    c.push_back(y.value());
  }
  for (std::size_t i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(b[i]->start("127.0.0.1", c[i]->local_port(), 0, 101).ok());
    ASSERT_TRUE(c[i]->start("127.0.0.1", b[i]->local_port(), 0, 101).ok());
  }
  // Both sides talk all the time; a reader thread drains the decoded frames of both sides.
  const auto speech = testing::tone(440, 10.0);
  for (std::size_t i = 0; i < kCalls; ++i) {
    b[i]->enqueue_audio(speech);
    c[i]->enqueue_audio(speech);
  }
  std::atomic<bool> stop{false};
  std::vector<std::uint64_t> frames_b(kCalls), frames_c(kCalls);
  std::thread reader([&] {
    Frame f;
    while (!stop.load()) {
      for (std::size_t i = 0; i < kCalls; ++i) {
        while (b[i]->pop_frame(f)) ++frames_b[i];
        while (c[i]->pop_frame(f)) ++frames_c[i];
      }
      std::this_thread::sleep_for(10ms);
    }
  });
  std::this_thread::sleep_for(1s);  // warm up: jitter buffers filled
  const pid_t tid = (*bot)->media_thread_id();
  const double cpu0 = thread_cpu_seconds(tid);
  const auto t0 = std::chrono::steady_clock::now();
  const auto ticks0 = (*bot)->ticks();
  std::this_thread::sleep_for(5s);
  const double cpu = thread_cpu_seconds(tid) - cpu0;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto ticks = (*bot)->ticks() - ticks0;
  stop = true;
  reader.join();

  std::uint64_t min_frames = UINT64_MAX, overflow = 0, late = 0;
  for (std::size_t i = 0; i < kCalls; ++i) {
    min_frames = std::min({min_frames, frames_b[i], frames_c[i]});
    overflow += b[i]->stats().capture_overflow;
    late += b[i]->stats().late_in;
  }
  std::printf("[figure] %zu two-way calls: media thread CPU %.1f%% of a core (%.3f s in %.2f s), "
              "%llu ticks, missed ticks %llu, min frames per side %llu, late %llu\n",
              kCalls, 100.0 * cpu / wall, cpu, wall, static_cast<unsigned long long>(ticks),
              static_cast<unsigned long long>((*bot)->missed_ticks()),
              static_cast<unsigned long long>(min_frames), static_cast<unsigned long long>(late));
  ::testing::Test::RecordProperty("media_cpu_permille", static_cast<int>(1000 * cpu / wall));
  // Every call carried audio both ways through the whole run (6 s = 300 frames).
  EXPECT_GT(min_frames, 250u);
  EXPECT_EQ(overflow, 0u);
  EXPECT_GT(ticks, 200u);  // the tick kept running (5 s = 250)
}

}  // namespace
}  // namespace chalkbot
