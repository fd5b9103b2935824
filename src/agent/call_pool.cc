#include "agent/call_pool.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "speech/vad/silero_vad.h"

namespace chalkbot {
namespace {
// With no wake at all (no media tick: no call has media yet) timers and calls are still looked
// at this often.
constexpr auto kIdleRound = std::chrono::milliseconds(20);
}  // namespace

CallPool::CallPool(int threads)
    : thread_count_(threads > 0 ? static_cast<std::size_t>(threads) : 1) {
  for (std::size_t i = 0; i < thread_count_; ++i) {
    threads_.emplace_back([this, i] {
      pthread_setname_np(pthread_self(), ("calls-" + std::to_string(i)).c_str());
      run(i);
    });
  }
}

CallPool::~CallPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  woken_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void CallPool::add(std::shared_ptr<SteppedCall> call, std::function<void()> over) {
  auto entry = std::make_shared<Entry>();
  entry->call = std::move(call);
  entry->over = std::move(over);
  {
    std::lock_guard lock(mutex_);
    entries_.push_back(std::move(entry));
  }
  wake();
}

void CallPool::wake() {
  {
    std::lock_guard lock(mutex_);
    ++round_;
  }
  woken_.notify_all();
}

void CallPool::after(Millis delay, std::function<void()> job) {
  std::lock_guard lock(mutex_);
  timers_.push_back({SteadyClock::now() + delay, std::move(job)});
}

std::size_t CallPool::calls() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void CallPool::run_due_timers() {
  std::vector<std::function<void()>> due;
  {
    std::lock_guard lock(mutex_);
    const auto now = SteadyClock::now();
    for (auto it = timers_.begin(); it != timers_.end();) {
      if (it->at <= now) {
        due.push_back(std::move(it->job));
        it = timers_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& job : due) job();
}

// Thread `index` of n steps every n-th call of each round. A call still being stepped by another
// thread (its share changed as calls came and went) is left to the next round.
void CallPool::run(std::size_t index) {
  std::uint64_t seen = 0;
  std::vector<std::shared_ptr<Entry>> share;
  std::vector<std::pair<Entry*, std::unique_lock<std::mutex>>> held;
  SileroBatch vad_batch;  // this thread's calls' VAD windows, one model run per round
  for (;;) {
    share.clear();
    {
      std::unique_lock lock(mutex_);
      woken_.wait_for(lock, kIdleRound, [&] { return stopping_ || round_ != seen; });
      if (stopping_) return;
      seen = round_;
      for (std::size_t i = index; i < entries_.size(); i += thread_count_) {
        share.push_back(entries_[i]);
      }
    }
    if (index == 0) run_due_timers();
    // The calls this thread steps this round (one being stepped elsewhere waits for the next).
    held.clear();
    for (const auto& entry : share) {
      std::unique_lock stepping(entry->stepping, std::try_to_lock);
      if (stepping.owns_lock() && !entry->finished) held.emplace_back(entry.get(), std::move(stepping));
    }
    vad_batch.open();
    for (auto& [entry, lock] : held) entry->call->look_ahead();
    vad_batch.run();
    bool any_finished = false;
    for (auto& [entry, lock] : held) {
      if (entry->call->step()) continue;
      entry->finished = true;
      any_finished = true;
      if (entry->over) entry->over();
    }
    vad_batch.close();
    held.clear();
    if (any_finished) {
      std::lock_guard lock(mutex_);
      std::erase_if(entries_, [](const std::shared_ptr<Entry>& e) {
        std::unique_lock stepping(e->stepping, std::try_to_lock);
        return stepping.owns_lock() && e->finished;
      });
    }
  }
}

}  // namespace chalkbot
