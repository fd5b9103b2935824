#pragma once
// The threads every call's turn-taking runs on: a fixed set (one per core), whatever the number
// of calls. A call is stepped once per media tick (its new frames and digits wait in its media
// session) and whenever something is posted to it (a recogniser's result, the far end hanging
// up): it never blocks, so a thread steps hundreds of calls per tick. A call is stepped by one
// thread at a time. Each round a thread first lets its calls look ahead, runs their VAD windows as
// one batch, then steps them.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"

namespace chalkbot {

class SteppedCall {
 public:
  virtual ~SteppedCall() = default;
  // Does what is due and returns at once; false when the call is over (it is dropped then).
  virtual bool step() = 0;
  // Just before step(), in a round where every call of the thread looks ahead first: the call
  // hands its VAD the frame step() will most likely hear, so that a batch computes all of them
  // in one model run (SileroBatch) between the two.
  virtual void look_ahead() {}
};

class CallPool {
 public:
  explicit CallPool(int threads);
  ~CallPool();  // stops stepping; calls still in the pool are dropped unfinished
  CallPool(const CallPool&) = delete;
  CallPool& operator=(const CallPool&) = delete;

  // Any thread. `call` is stepped from the next round on until its step() returns false;
  // then `over` runs (on a pool thread) and the pool lets go of it.
  void add(std::shared_ptr<SteppedCall> call, std::function<void()> over = {});
  // Any thread, cheap, never blocks: step every call now (a media tick, a posted event).
  void wake();
  // Any thread: runs `job` on a pool thread once `delay` has passed (a ringing delay).
  void after(Millis delay, std::function<void()> job);

  std::size_t calls() const;
  std::size_t threads() const { return thread_count_; }

 private:
  struct Entry {
    std::shared_ptr<SteppedCall> call;
    std::function<void()> over;
    std::mutex stepping;  // held while a thread steps it
    bool finished = false;
  };
  struct Timer {
    SteadyClock::time_point at;
    std::function<void()> job;
  };
  void run(std::size_t index);
  void run_due_timers();

  const std::size_t thread_count_;
  mutable std::mutex mutex_;
  std::condition_variable woken_;
  std::uint64_t round_ = 0;  // bumped by wake(); a thread steps its share once per new round
  bool stopping_ = false;
  std::vector<std::shared_ptr<Entry>> entries_;
  std::vector<Timer> timers_;
  std::vector<std::thread> threads_;
};

}  // namespace chalkbot
