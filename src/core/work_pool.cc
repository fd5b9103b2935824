#include "core/work_pool.h"

#include <pthread.h>

#include <utility>

namespace chalkbot {

int core_count() {
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 2;
}

WorkPool::WorkPool(int threads, const std::string& name) {
  const int count = threads > 0 ? threads : 1;
  threads_.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    threads_.emplace_back([this, label = (name + "-" + std::to_string(i)).substr(0, 15)] {
      pthread_setname_np(pthread_self(), label.c_str());
      work();
    });
  }
}

WorkPool::~WorkPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void WorkPool::post(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void WorkPool::work() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and nothing left to run
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

struct SerialQueue::State {
  explicit State(Executor& e) : executor(e) {}
  Executor& executor;
  std::mutex mutex;
  std::deque<std::function<void()>> jobs;
  bool scheduled = false;  // a drain is posted or running: it will take what is queued
};

SerialQueue::SerialQueue(Executor& executor) : state_(std::make_shared<State>(executor)) {}

void SerialQueue::post(std::function<void()> job) {
  {
    std::lock_guard lock(state_->mutex);
    state_->jobs.push_back(std::move(job));
    if (std::exchange(state_->scheduled, true)) return;
  }
  state_->executor.post([state = state_] { drain(state); });
}

void SerialQueue::drain(const std::shared_ptr<State>& state) {
  for (;;) {
    std::function<void()> job;
    {
      std::lock_guard lock(state->mutex);
      if (state->jobs.empty()) {
        state->scheduled = false;
        return;
      }
      job = std::move(state->jobs.front());
      state->jobs.pop_front();
    }
    job();
  }
}

}  // namespace chalkbot
